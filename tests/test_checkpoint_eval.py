"""``harness eval --checkpoints RUN`` (harness/checkpoints.py, harness/reports/checkpoints.py):
a real short ``harness run`` that keeps its checkpoints, then every checkpoint evaluated. LoRA
adapters are swapped on one base load, full fine-tuning checkpoints are loaded whole; the kept
checkpoint scores exactly the run's own "after", another checkpoint exactly what ``harness eval
--model`` gives on its folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main

STEPS = [2, 4, 6]  # train.max_steps = 6, a dev evaluation and a checkpoint every 2 steps


@pytest.fixture
def copy_task(tmp_path, write_jsonl, write_plugin) -> Path:
    """A plugin with one "copy" task scored by chrF (it moves with any change of an answer) and
    exact match, 8 test and 16 training rows."""
    rows = [{"input": f"word {i}", "output": f"word {i}"} for i in range(24)]
    task = {
        "name": "copy",
        "instruction": "Repeat the input.",
        "test": write_jsonl(tmp_path / "test.jsonl", rows[:8]),
        "train": write_jsonl(tmp_path / "train.jsonl", rows[8:]),
        "metrics": ("chrf", "exact_match"),
        "max_new_tokens": 4,
    }
    return write_plugin(tmp_path / "copy_task.py", tasks=[task])


def refuse_model_loading(monkeypatch) -> None:
    """Bad input must be refused before any model is loaded."""
    from harness import models

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the input was checked")

    monkeypatch.setattr(models, "load_model", refuse)


def options(tmp_path: Path, plugin: Path, model: Path) -> list[str]:
    """The options of every command here: the task, the model, the folders, the CPU."""
    sets = ["device=cpu", "threads=1", "cache=false", f"models_dir={json.dumps(str(tmp_path / 'runs'))}"]
    args = ["--tasks", "copy", "--plugin", str(plugin), "-q", "--output-dir", str(tmp_path / "reports")]
    return args + ["--model", str(model), *(item for s in sets for item in ("--set", s))]


def tune(tmp_path, plugin, model, capsys, method: str, keep: bool = True) -> dict:
    """A real ``harness run``; its results.json."""
    sets = [f"method={method}", "train.max_steps=6", "train.eval_every=2", "train.batch_size=4"]
    sets += ["train.learning_rate=3e-2", "lora.dropout=0.0", f"train.keep_checkpoints={str(keep).lower()}"]
    args = ["run", *options(tmp_path, plugin, model), *(item for s in sets for item in ("--set", s))]
    assert main([*args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    return json.loads(Path(summary["paths"]["results"]).read_text(encoding="utf-8"))


def evaluate_checkpoints(tmp_path, run: str, capsys, *extra: str) -> tuple[int, dict | None, str]:
    """``harness eval --checkpoints RUN --json``: the exit code, the JSON summary, stderr."""
    models_dir = f"models_dir={json.dumps(str(tmp_path / 'runs'))}"
    code = main(["eval", "--checkpoints", run, "--set", models_dir, "--json", *extra])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out.strip() else None), captured.err


@pytest.mark.parametrize("method", ["lora", "full"])
def test_every_checkpoint_is_evaluated_and_the_kept_one_reproduces_the_run(
    method, tmp_path, copy_task, tiny_model_dir, capsys, monkeypatch
):
    from harness import models

    results = tune(tmp_path, copy_task, tiny_model_dir, capsys, method)
    run_id, training = results["run_id"], results["training"]
    checkpoints = tmp_path / "runs" / run_id / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == [
        f"checkpoint-{s}" for s in STEPS
    ]  # every one kept

    loads, load_model = [], models.load_model
    monkeypatch.setattr(
        models, "load_model", lambda name, *a, **k: loads.append(name) or load_model(name, *a, **k)
    )
    code, out, err = evaluate_checkpoints(tmp_path, run_id, capsys)
    monkeypatch.undo()
    assert code == 0, err
    summary = out["checkpoints"]

    # LoRA: the base once, every adapter attached to it; full: every checkpoint a whole model
    if method == "lora":
        assert loads == [str(tiny_model_dir)] and summary["model_loads"] == 1
        assert summary["loading"] == "one base model load, 3 adapters attached to it in turn"
    else:
        assert loads == [str(checkpoints / f"checkpoint-{s}") for s in STEPS] and summary["model_loads"] == 3
    rows = summary["checkpoints"]
    assert [row["step"] for row in rows] == STEPS and summary["method"] == method
    assert {row["kind"] for row in rows} == {"adapter" if method == "lora" else "model"}

    # the kept checkpoint is the run's, for the run's reason, and scores exactly the run's "after"
    kept_step = training["best_step"] if training["best_step"] is not None else training["steps"]
    assert summary["kept"] == {"step": kept_step, "reason": training["kept"]}
    (kept,) = [row for row in rows if row["kept"]]
    after = {name: m["after"] for name, m in results["tasks"]["copy"]["metrics"].items()}
    assert kept["step"] == kept_step and kept["tasks"]["copy"]["metrics"] == after
    assert summary["reproduced"] == {"step": kept_step, "metrics": 2, "matches": True, "differences": []}
    assert summary["tasks"]["copy"]["before"] == {
        n: m["before"] for n, m in results["tasks"]["copy"]["metrics"].items()
    }
    assert summary["warnings"] == []  # the --set models_dir only located the run

    # the checkpoints differ, and each is its own weights: step 2 scores what eval --model gives
    assert len({row["tasks"]["copy"]["primary"] for row in rows}) > 1, rows
    step2 = checkpoints / "checkpoint-2"
    assert main(["eval", *options(tmp_path, copy_task, step2)[:-2], "--model", str(step2), "--json"]) == 0
    direct = json.loads(
        Path(json.loads(capsys.readouterr().out)["paths"]["results"]).read_text(encoding="utf-8")
    )
    assert rows[0]["tasks"]["copy"]["metrics"] == {
        n: m["before"] for n, m in direct["tasks"]["copy"]["metrics"].items()
    }

    # the run's dev scores at each step, and the primary metric's interval
    dev = {h["step"]: h for h in training["dev_history"]}
    for row in rows:
        assert row["dev"] == {
            "score": dev[row["step"]]["aggregate"],
            "tasks": {"copy": dev[row["step"]]["copy"]},
        }
        low, high = row["tasks"]["copy"]["ci"]
        assert low <= row["tasks"]["copy"]["primary"] <= high

    # the files: the JSON as returned, the trajectory in Markdown and HTML with the kept row marked
    folder = tmp_path / "reports" / f"checkpoints-{run_id}"
    assert out["paths"] == {
        k: str(folder / f"checkpoints.{e}")
        for k, e in (("html", "html"), ("markdown", "md"), ("results", "json"))
    }
    assert json.loads((folder / "checkpoints.json").read_text(encoding="utf-8")) == summary
    markdown = (folder / "checkpoints.md").read_text(encoding="utf-8")
    chrf = f"{kept['tasks']['copy']['primary']:.2f}"
    assert f"| {kept_step} | kept | " in markdown and f" | {chrf} |" in markdown
    assert "| 0 (base) |" in markdown and "![each task's test score by step](checkpoints.svg)" in markdown
    assert training["kept"] in markdown
    page = (folder / "checkpoints.html").read_text(encoding="utf-8")
    assert (
        "<tr class=kept><td>" + str(kept_step) in page
        and "<svg" in page
        and f"kept: step {kept_step}" in page
    )
    assert (folder / "checkpoints.svg").read_text(encoding="utf-8").startswith("<?xml")
    # the terminal: the trajectory table (on stderr with --json) and the kept line
    assert "Kept by the run: step" in err and "reproduces the run's own after-tuning scores" in err
    assert all(f"│ {s:>8} │" in err for s in STEPS), err

    # a run that did not finish: its checkpoints all the same, no kept step, no run scores
    state_file = tmp_path / "runs" / run_id / "run_state.json"
    state = json.loads(state_file.read_text(encoding="utf-8"))
    state_file.write_text(json.dumps({**state, "phase": "interrupted", "results": None}), encoding="utf-8")
    code, out, err = evaluate_checkpoints(tmp_path, str(tmp_path / "runs" / run_id), capsys)
    unfinished = out["checkpoints"]
    assert code == 0 and unfinished["kept"] is None and unfinished["reproduced"] is None
    assert [row["tasks"] for row in unfinished["checkpoints"]] == [row["tasks"] for row in rows]
    assert "The run did not finish (interrupted)" in err and "0 (base)" not in err


def test_a_run_that_kept_no_checkpoint_is_one_line(tmp_path, copy_task, tiny_model_dir, capsys, monkeypatch):
    results = tune(tmp_path, copy_task, tiny_model_dir, capsys, "full", keep=False)
    refuse_model_loading(monkeypatch)
    code, out, err = evaluate_checkpoints(tmp_path, results["run_id"], capsys)
    assert code == 2 and out == {"error": err.strip().removeprefix("error: "), "exit_code": 2}
    assert (
        err.count("\n") == 1 and "no checkpoint to evaluate" in err and "train.keep_checkpoints=true" in err
    )
    assert not list((tmp_path / "reports").glob("checkpoints-*"))  # nothing written


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ((), "--checkpoints no-such-run: no run_state.json in"),
        (("--model", "tiny"), "--model cannot be combined with it"),
    ],
)
def test_bad_checkpoint_requests_are_one_line(extra, expected, tmp_path, capsys, monkeypatch):
    refuse_model_loading(monkeypatch)
    code, _, err = evaluate_checkpoints(tmp_path, "no-such-run", capsys, *extra)
    assert code == 2 and expected in err and err.count("\n") == 1


def test_the_reports_escape_data_text():
    from harness.reports.checkpoints import render_checkpoint_html, render_checkpoint_markdown

    row = {
        "step": 3,
        "kept": True,
        "dev": None,
        "tasks": {"t": {"primary": 0.5, "ci": [0.4, 0.6], "metrics": {"m": 0.5}}},
    }
    summary = {
        "run_id": "r<1>",
        "method": "lora",
        "phase": "done",
        "loading": "one base model load",
        "kept": {"step": 3, "reason": "kept <b>this</b> one"},
        "reproduced": None,
        "warnings": [],
        "tasks": {
            "t": {
                "primary_metric": "m",
                "scale": 1.0,
                "metrics": ["m"],
                "before": {"m": None},
                "after": {"m": 0.5},
            }
        },
        "checkpoints": [row],
    }
    page = render_checkpoint_html(summary, None)
    assert "kept &lt;b&gt;this&lt;/b&gt; one" in page and "<b>this" not in page and "r&lt;1&gt;" in page
    markdown = render_checkpoint_markdown(summary, None)
    assert "kept &lt;b&gt;this&lt;/b&gt; one" in markdown and "| 3 | kept |  | 0.5000 |" in markdown
    assert "0 (base)" not in markdown  # no base score known
