"""The guard suite: lm-evaluation-harness tasks (here a local YAML task over local data, offline)
evaluated before and after tuning in the same run, with harness's statistics and verdicts."""

from __future__ import annotations

import json
import os
import sys

import pytest

import harness
from harness.config import Config
from harness.errors import HarnessError

try:
    import lm_eval  # noqa: F401  (the guard extra, part of dev: missing on CI is a failure)
except ImportError:
    if os.environ.get("CI"):
        raise
    pytest.skip(
        "lm-evaluation-harness is not installed (pip install 'harness[guard]')", allow_module_level=True
    )

TASK_YAML = """\
task: parity
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: is {{{{n}}}} even?\\nAnswer:"
doc_to_choice: ["yes", "no"]
doc_to_target: label
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory, run_config, write_jsonl, echo_plugin):
    root = tmp_path_factory.mktemp("guard")
    docs = [{"n": i, "label": i % 2} for i in range(16)]
    data = write_jsonl(root / "parity.jsonl", docs)
    yaml_path = root / "guards" / "parity.yaml"
    yaml_path.parent.mkdir()
    yaml_path.write_text(TASK_YAML.format(data=data), encoding="utf-8")
    plugin = echo_plugin(root)

    def make(**changes) -> Config:
        config = run_config(root, plugin, epochs=2, **changes)
        config.train.learning_rate = 3e-3
        return config

    return {"make": make, "yaml": yaml_path, "root": root}


@pytest.fixture(scope="module")
def guarded(setup):
    config = setup["make"]()
    config.guard.tasks = [str(setup["yaml"])]
    return harness.run(config, gates=["parity.acc>=0", "no-regression"])


def _lm_eval_accuracy(model, tokenizer, yaml_path) -> tuple[float, list[float]]:
    """lm-eval's own accuracy and per-document scores of the model on the YAML task."""
    from lm_eval.evaluator import evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    tasks = TaskManager(include_path=str(yaml_path.parent), include_defaults=False).load(["parity"])
    out = evaluate(HFLM(pretrained=model, tokenizer=tokenizer, batch_size=4), tasks, bootstrap_iters=0)
    samples = sorted(out["samples"]["parity"], key=lambda s: int(s["doc_id"]))
    return out["results"]["parity"]["acc,none"], [float(s["acc"]) for s in samples]


def test_guard_task_is_scored_before_and_after_by_lm_eval(guarded, setup, tiny_model_dir):
    import transformers

    results, paths = guarded
    entry = results["tasks"]["parity"]
    assert entry["kind"] == "guard" and entry["n_test"] == 16 and entry["primary_metric"] == "acc"
    acc = entry["metrics"]["acc"]
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_model_dir)
    base = transformers.AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tuned = transformers.AutoModelForCausalLM.from_pretrained(results["model"]["output_dir"])
    before, before_docs = _lm_eval_accuracy(base, tokenizer, setup["yaml"])
    after, after_docs = _lm_eval_accuracy(tuned, tokenizer, setup["yaml"])
    assert acc["before"] == before and acc["after"] == after
    rows = [json.loads(line) for line in paths["samples"].read_text(encoding="utf-8").splitlines()]
    parity = [row for row in rows if row["task"] == "parity"]
    assert [row["scores_before"]["acc"] for row in parity] == before_docs
    assert [row["scores_after"]["acc"] for row in parity] == after_docs
    assert all(row["prediction_before"] in ("yes", "no") for row in parity)
    assert [row["reference"] for row in parity] == ["yes", "no"] * 8
    assert acc["test"] == "mcnemar-exact" and "delta_ci" in acc  # 0/1 scores: McNemar
    from harness.decisions import OUTCOMES

    assert entry["verdict"]["outcome"] in OUTCOMES
    assert (
        results["decision"]["summary"].endswith(f"{results['decision']['inconclusive']} inconclusive")
        and " of 2 tasks " in results["decision"]["summary"]
    )
    assert [gate["expression"] for gate in results["gates"]] == ["parity.acc>=0", "no-regression"]
    assert "guard_before" in results["durations"] and "guard_after" in results["durations"]
    assert "parity" in paths["markdown"].read_text(encoding="utf-8")


def test_guards_do_not_change_the_runs_own_results(guarded, setup):
    plain, _ = harness.run(setup["make"]())
    results, _ = guarded
    assert results["tasks"]["echo"]["metrics"] == plain["tasks"]["echo"]["metrics"]
    assert results["training"]["loss_history"] == plain["training"]["loss_history"]


def test_rescore_keeps_guard_tasks(guarded, tmp_path, capsys):
    import shutil

    from harness.cli import main

    _, paths = guarded
    folder = tmp_path / "run"
    shutil.copytree(paths["results"].parent, folder)
    saved = (folder / "results.json").read_bytes()
    assert main(["rescore", str(folder)]) == 4  # its gates pass on tasks 16 examples cannot decide
    assert (folder / "results.json").read_bytes() == saved


def test_missing_lm_eval_is_one_line_before_any_model_work(setup, monkeypatch):
    monkeypatch.setitem(sys.modules, "lm_eval", None)  # import lm_eval -> ImportError
    config = setup["make"]()
    config.guard.tasks = [str(setup["yaml"])]
    runs = sorted((setup["root"] / "runs").glob("*")) if (setup["root"] / "runs").exists() else []
    with pytest.raises(HarnessError, match=r"guard.tasks needs lm-evaluation-harness.*harness\[guard\]"):
        harness.run(config)
    after = sorted((setup["root"] / "runs").glob("*")) if (setup["root"] / "runs").exists() else []
    assert after == runs  # nothing started


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("missing/parity.yaml", "task YAML file not found"),
        ("echo", "echo in both tasks and guard.tasks"),
    ],
)
def test_bad_guard_entries_are_one_line(setup, entry, message):
    config = setup["make"]()
    config.guard.tasks = [entry]
    with pytest.raises(HarnessError, match=message):
        harness.run(config)


def test_compare_pairs_guard_tasks_from_their_saved_scores(guarded, setup, tmp_path):
    from harness.compare import compare

    config = setup["make"]()
    config.guard.tasks = [str(setup["yaml"])]
    _, base_paths = harness.evaluate(config)
    results, paths = guarded
    compared, _ = compare(base_paths["results"].parent, paths["results"].parent, tmp_path)
    assert compared["tasks"]["parity"]["metrics"] == results["tasks"]["parity"]["metrics"]
    assert compared["tasks"]["parity"]["verdict"] == results["tasks"]["parity"]["verdict"]
