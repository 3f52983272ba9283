"""The guard suite: an lm-evaluation-harness task (a local YAML over local data, offline) before
and after tuning, in results.json, with a verdict per metric."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from harness import guard
from harness.cli import main
from harness.errors import HarnessError

QUESTIONS = [
    ("Is fire hot?", 0), ("Is ice hot?", 1), ("Is the sky green?", 1), ("Is water wet?", 0),
    ("Is snow cold?", 0), ("Is a stone soft?", 1),
]  # fmt: skip


def write_guard_task(folder: Path, write_jsonl) -> Path:
    data = write_jsonl(folder / "yesno.jsonl", [{"question": q, "answer": a} for q, a in QUESTIONS])
    path = folder / "yesno.yaml"
    path.write_text(
        textwrap.dedent(f"""\
            task: yesno_local
            dataset_path: json
            dataset_kwargs:
              data_files:
                test: {data}
            test_split: test
            output_type: multiple_choice
            doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
            doc_to_choice: ["yes", "no"]
            doc_to_target: answer
            metric_list:
              - metric: acc
                aggregation: mean
                higher_is_better: true
        """),
        encoding="utf-8",
    )
    return path


def test_resolve_names_and_folders(tmp_path, write_jsonl):
    path = write_guard_task(tmp_path / "g", write_jsonl)
    assert guard.resolve(["arc_easy", str(path)]) == (["arc_easy", "yesno_local"], [str(path.parent)])
    with pytest.raises(HarnessError, match="guard: task file not found"):
        guard.resolve([str(tmp_path / "missing.yaml")])
    (tmp_path / "nameless.yaml").write_text("dataset_path: json\n", encoding="utf-8")
    with pytest.raises(HarnessError, match="has no 'task:' line"):
        guard.resolve([str(tmp_path / "nameless.yaml")])


def test_compare_outcomes_and_warnings():
    def score(value, stderr, higher=True):
        return {"value": value, "stderr": stderr, "higher_is_better": higher}

    before = {
        "t": {"n": 100, "acc": score(0.80, 0.04), "f1": score(0.50, 0.05), "ppl": score(10.0, 0.5, False)}
    }
    after = {
        "t": {"n": 100, "acc": score(0.60, 0.05), "f1": score(0.52, 0.05), "ppl": score(8.0, 0.5, False)}
    }
    table = guard.compare(before, after)
    outcomes = {metric: row["outcome"] for metric, row in table["t"]["metrics"].items()}
    assert outcomes == {"acc": "regressed", "f1": "no clear change", "ppl": "improved"}
    assert table["t"]["metrics"]["acc"]["delta"] == pytest.approx(-0.2) and table["t"]["n"] == 100
    assert guard.warnings(table) == [
        "guard t: acc went from 0.8 to 0.6 after tuning, worse beyond 1.96 standard errors: "
        "tuning may have cost general ability"
    ]
    assert "after" not in guard.compare(before, None)["t"]["metrics"]["acc"]  # eval mode


def test_missing_guard_file_fails_before_model_work(tmp_path, capsys):
    code = main(
        ["eval", "--tasks", "sentiment", "--set", "guard.tasks=['nope/yesno.yaml']", "-o", str(tmp_path)]
    )
    assert code == 2
    assert "guard: task file not found: nope/yesno.yaml" in capsys.readouterr().err


def test_guard_suite_in_a_run(tmp_path, tiny_model_dir, write_jsonl, write_plugin, monkeypatch, capsys):
    pytest.importorskip("lm_eval")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    task_file = write_guard_task(tmp_path / "guard", write_jsonl)
    rows = [{"input": f"word {i}", "output": f"word {i}"} for i in range(14)]
    task = {
        "name": "echo", "instruction": "Repeat the input.", "max_new_tokens": 3,
        "test": write_jsonl(tmp_path / "test.jsonl", rows[:4]),
        "train": write_jsonl(tmp_path / "train.jsonl", rows[4:]),
    }  # fmt: skip
    plugin = write_plugin(tmp_path / "echo.py", tasks=[task])
    code = main([
        "run", "--model", str(tiny_model_dir), "--tasks", "echo", "--plugin", str(plugin), "-q", "--json",
        "-o", str(tmp_path / "reports"), "--set", f"models_dir={json.dumps(str(tmp_path / 'runs'))}",
        "--set", "method=\"full\"", "--set", "device=\"cpu\"", "--set", "threads=1", "--set", "cache=false",
        "--set", "train.epochs=1", "--set", "train.dev_size=0",
        "--set", f"guard.tasks=[{json.dumps(str(task_file))}]",
    ])  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    results = json.loads(Path(summary["paths"]["results"]).read_text(encoding="utf-8"))
    entry = results["guard"]["yesno_local"]
    assert entry["n"] == len(QUESTIONS)
    acc = entry["metrics"]["acc"]
    assert acc["higher_is_better"] is True
    for value in (acc["before"], acc["after"]):
        assert (value * len(QUESTIONS)).is_integer()  # a share of six questions
    assert acc["delta"] == pytest.approx(acc["after"] - acc["before"])
    assert acc["outcome"] in ("improved", "regressed", "no clear change")
