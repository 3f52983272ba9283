"""Who may import whom around deciding (issue 22): ``decisions/`` decides and reads or writes no
report; ``reports/`` assembles and renders and decides nothing; the statistics under
``evaluation/`` know nothing of reports. The flows (cycle, rescore, compare) join them, and all
three end through ``closing.close``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "harness"
FORBIDDEN = {
    "decisions": ("harness.reports", "harness.rescore", "harness.compare", "harness.closing"),
    "reports": ("harness.decisions", "harness.rescore", "harness.compare", "harness.closing"),
    "evaluation": ("harness.reports", "harness.decisions"),
}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(folder):
    for path in sorted((PACKAGE / folder).glob("*.py")):
        for name in _imports(path):
            assert not name.startswith(FORBIDDEN[folder]), f"{path.name} imports {name}"


def test_every_flow_ends_through_close_and_nothing_else_concludes():
    for flow in ("cycle.py", "rescore.py", "compare.py"):
        source = (PACKAGE / flow).read_text(encoding="utf-8")
        assert "close(" in source and "conclude(" not in source and "write_reports(" not in source, flow
    users = [p.name for p in PACKAGE.rglob("*.py") if "conclude(" in p.read_text(encoding="utf-8")]
    assert sorted(users) == ["closing.py", "conclude.py"]
