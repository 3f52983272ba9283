"""docs/plugins.md: its examples work as written (a task file and a plugins/ module, each to a
report), and its hook reference matches harness/hookspecs.py."""

from __future__ import annotations

import csv
import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest

from harness import hookspecs, plugins
from harness.cli import main

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def block(marker: str) -> str:
    """The fenced code block right after ``<!-- checked by tests/test_plugin_guide.py: MARKER -->``."""
    text = GUIDE.read_text(encoding="utf-8")
    marker = re.escape(f"<!-- checked by tests/test_plugin_guide.py: {marker} -->")
    match = re.search(rf"{marker}\n```\w+\n(.*?)```", text, re.S)
    assert match, f"docs/plugins.md has no checked block {marker}"
    return match.group(1)


def eval_report(task: str, model_dir: Path, out: Path, capsys) -> dict:
    code = main([
        "eval", "--model", str(model_dir), "--tasks", task, "-q", "-o", str(out), "--set", "device=\"cpu\"",
        "--set", "threads=1", "--set", "cache=false", "--json",
    ])  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert code == 0, summary
    assert task in Path(summary["paths"]["markdown"]).read_text(encoding="utf-8")
    return json.loads(Path(summary["paths"]["results"]).read_text(encoding="utf-8"))


def test_hook_reference_matches_hookspecs():
    documented = dict(
        re.findall(r"^### `(harness_\w+)\(\) -> (.+)`$", GUIDE.read_text(encoding="utf-8"), re.M)
    )
    specs = {name: fn for name, fn in vars(hookspecs).items() if name.startswith("harness_")}
    assert set(documented) == set(specs)
    for name, fn in specs.items():
        assert not inspect.signature(fn).parameters, f"{name}: the guide shows no arguments"
        assert documented[name] == fn.__annotations__["return"], name
        assert "Added in" in fn.__doc__ and "Example::" in fn.__doc__, f"{name}: docstring incomplete"
    assert "Hooks only ever gain *optional* arguments" in GUIDE.read_text(encoding="utf-8")


def test_way_1_task_file_to_a_report(tmp_path, monkeypatch, tiny_model_dir, write_jsonl, capsys):
    labels = ["World", "Sports", "Business", "Sci/Tech"]
    rows = [{"headline": f"headline number {i}", "label": labels[i % 4]} for i in range(16)]
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "topic.toml").write_text(block("tasks/topic.toml"), encoding="utf-8")
    write_jsonl(tmp_path / "tasks" / "topic" / "test.jsonl", rows[:8])
    with (tmp_path / "tasks" / "topic" / "train.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["headline", "label"])
        writer.writeheader()
        writer.writerows(rows[8:])
    monkeypatch.chdir(tmp_path)
    assert main(["tasks", "list"]) == 0
    assert "tasks/topic.toml" in capsys.readouterr().out
    results = eval_report("topic", tiny_model_dir, tmp_path / "reports", capsys)
    assert set(results["tasks"]["topic"]["metrics"]) == {"accuracy", "macro_f1"}


@pytest.fixture
def spelling(tmp_path, monkeypatch, write_jsonl):
    words = [("recieve", "receive"), ("teh", "the"), ("wierd", "weird"), ("adress", "address")] * 3
    rows = [{"input": wrong, "output": right} for wrong, right in words]
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "spelling.py").write_text(block("plugins/spelling.py"), encoding="utf-8")
    write_jsonl(tmp_path / "plugins" / "spelling" / "test.jsonl", rows[:6])
    write_jsonl(tmp_path / "plugins" / "spelling" / "train.jsonl", rows[6:])
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_way_2_plugins_module_metric_follows_the_contract(spelling):
    pm = plugins.make_plugin_manager()
    cer = plugins.metrics(pm)["cer"].item
    assert (cer.higher_is_better, cer.binary, cer.scale) == (False, False, 1.0)
    result = cer.compute(["receive", "teh", "weird x"], [("receive",), ("the",), ("weird", "wired")])
    assert result.per_example == [0.0, 2 / 3, 2 / 5]
    assert result.score == pytest.approx(4 / 15)  # (0 + 2 + 2) / (7 + 3 + 5)
    assert cer.from_stats(np.sum(result.stats, axis=0, keepdims=True))[0] == pytest.approx(result.score)
    assert plugins.tasks(pm)["spelling"].source == str(Path("plugins") / "spelling.py")


def test_way_2_plugins_module_to_a_report(spelling, tiny_model_dir, capsys):
    results = eval_report("spelling", tiny_model_dir, spelling / "reports", capsys)
    scores = results["tasks"]["spelling"]["metrics"]
    assert set(scores) == {"exact_match", "cer"} and scores["cer"]["before"] >= 0
