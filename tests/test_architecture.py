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
