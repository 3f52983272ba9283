"""docs/architecture.md is the map of the code: it must name every module of the package, name
no module that does not exist, and no module may outgrow what a reader can hold in their head."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_LINES = 400


def _modules() -> set[str]:
    return {path.relative_to(REPO).as_posix() for path in (REPO / "harness").rglob("*.py")}


def test_architecture_lists_every_module_and_only_existing_ones():
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"harness/[\w/]+\.py", text))
    modules = _modules()
    assert sorted(modules - named) == [], "modules missing from docs/architecture.md"
    assert sorted(named - modules) == [], "docs/architecture.md names modules that do not exist"


def test_no_module_is_over_the_size_a_reader_can_hold():
    sizes = {name: len((REPO / name).read_text(encoding="utf-8").splitlines()) for name in _modules()}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_every_package_ships_in_the_wheel():
    """pyproject lists the packages explicitly (the built-in tasks are mapped into the package):
    a new subpackage missing there would be absent from the wheel."""
    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"]
    )
    packages = {
        init.parent.relative_to(REPO).as_posix().replace("/", ".")
        for init in (REPO / "harness").rglob("__init__.py")
    }
    assert sorted(packages - listed) == []


def test_every_dependency_is_pinned_in_the_lock_and_harness_is_not():
    """requirements.lock (``bash .ci/lock``) pins every dependency of every extra, so a fresh
    install gets the versions the suite passed on; a self-referencing extra would pin harness
    itself (a local path), which breaks every install from another folder."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted += extra
    pinned = {
        re.split(r"[=<>@ ]", line, maxsplit=1)[0].lower().replace("_", "-")
        for line in (REPO / "requirements.lock").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith((" ", "#"))
    }
    names = {re.split(r"[\[<>=!~; ]", spec, maxsplit=1)[0].lower().replace("_", "-") for spec in wanted}
    assert "harness" not in names and "harness" not in pinned
    assert sorted(names - pinned) == []


def test_no_test_imports_the_tests_folder_as_a_package():
    """``pytest -q`` (the README's command) does not put the checkout on sys.path, so ``from
    tests.conftest import ...`` works under ``python -m pytest`` only: fixtures are the way."""
    offenders = [
        f"{path.name}:{number}"
        for path in sorted((REPO / "tests").glob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.match(r"\s*(from tests\b|import tests\b)", line)
    ]
    assert offenders == []


# ------------------------------------------------------------------ import direction and circles


def _layers() -> list[list[str]]:
    """docs/architecture.md's layer table, lowest first: each row's paths (a module, or a folder
    ending in ``/`` for every module under it)."""
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if re.match(r"\|\s*\d+\s*\|", line)]
    return [re.findall(r"`(harness/[\w/.]*)`", row) for row in rows]


def _layer_of() -> dict[str, int]:
    layer_of: dict[str, int] = {}
    for number, paths in enumerate(_layers()):
        for module in _modules():
            if any(module == p or (p.endswith("/") and module.startswith(p)) for p in paths):
                layer_of.setdefault(module, number)
    return layer_of


def _module_path(dotted: str, modules: set[str]) -> str | None:
    """The module file an import names (``harness.x.y`` -> harness/x/y.py or harness/x/y/__init__.py),
    the longest importable prefix for a name inside a module."""
    parts = dotted.split(".")
    while parts:
        for candidate in ("/".join(parts) + ".py", "/".join(parts) + "/__init__.py"):
            if candidate in modules:
                return candidate
        parts.pop()
    return None


def _imports(module: str, modules: set[str]) -> set[str]:
    """The harness modules ``module`` imports, at its top or inside functions; imports under
    ``if TYPE_CHECKING:`` (annotations only) are not followed."""
    import ast

    tree = ast.parse((REPO / module).read_text(encoding="utf-8"))
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for statement in block.body
        for node in ast.walk(statement)
    }
    found: set[str | None] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {
                _module_path(alias.name, modules) for alias in node.names if alias.name.startswith("harness")
            }
        elif (
            isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("harness")
        ):
            for alias in node.names:  # `from harness import distributed` names a module
                found.add(_module_path(f"{node.module}.{alias.name}", modules))
    return {name for name in found if name and name != module}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {module: _imports(module, modules) for module in sorted(modules)}


def test_every_module_has_one_layer():
    layer_of = _layer_of()
    assert sorted(_modules() - set(layer_of)) == [], "modules in no layer of docs/architecture.md"


def test_no_module_imports_from_a_higher_layer():
    layer_of = _layer_of()
    upward = [
        f"{module} (layer {layer_of[module]}) imports {target} (layer {layer_of[target]})"
        for module, targets in _graph().items()
        for target in sorted(targets)
        if layer_of.get(target, -1) > layer_of.get(module, -1)
    ]
    assert upward == []


def test_no_import_circles():
    """No two modules import each other, directly or through others (strongly connected
    components of the import graph, by Tarjan's algorithm)."""
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert circles == []


def test_the_import_checks_see_what_they_should():
    """The graph follows `from harness import <module>`, imports inside functions and skips
    TYPE_CHECKING blocks: checked on this package's own modules, whose imports are known."""
    graph = _graph()
    assert "harness/distributed.py" in graph["harness/cycle.py"]  # from harness import distributed
    assert "harness/validation.py" in graph["harness/config_loader.py"]
    assert "harness/tasks/__init__.py" not in graph["harness/hookspecs.py"]  # TYPE_CHECKING only
