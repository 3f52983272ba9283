"""Slices: a task's ``slice_field`` cuts its test set; each slice gets before/after/delta and a
paired test, and the slices' verdicts control the false-discovery rate across all tasks
(harness/evaluation/slices.py, harness/decisions/slices.py)."""

from __future__ import annotations

import pytest
from scipy.stats import false_discovery_control

from harness.decisions.slices import add_slice_verdicts
from harness.errors import DataError
from harness.evaluation.slices import slice_entries, subset
from harness.evaluation.stats import compare
from harness.metrics.builtin import builtin_metrics
from harness.tasks import DataSource, Task
from harness.tasks.data import load_examples

METRICS = {m.name: m for m in builtin_metrics()}
PREDICTIONS = [
    "le chat est noir",
    "un chien",
    "la maison bleue",
    "il pleut",
    "bonjour tout le monde",
    "merci",
]
REFERENCES = [
    ("le chat est noir",),
    ("le chien",),
    ("la maison est bleue",),
    ("il pleut",),
    ("bonjour",),
    ("merci",),
]


def test_a_subset_of_a_corpus_metric_is_the_metric_on_that_subset():
    """BLEU of a slice comes from the slice's summed n-gram statistics: equal to sacrebleu run
    on the slice alone, not a mean of sentence scores."""
    bleu = METRICS["bleu"]
    whole = bleu.compute(PREDICTIONS, REFERENCES)
    rows = [0, 2, 4]
    alone = bleu.compute([PREDICTIONS[i] for i in rows], [REFERENCES[i] for i in rows])
    assert subset(bleu, whole, rows).score == pytest.approx(alone.score)
    accuracy = METRICS["accuracy"]
    result = accuracy.compute(["a", "b", "a", "a"], [("a",), ("a",), ("a",), ("b",)])
    assert subset(accuracy, result, [0, 1]).score == 0.5


def test_slice_entries_are_the_task_statistics_on_each_slice():
    accuracy = METRICS["accuracy"]
    refs = [("Positive",)] * 6 + [("Negative",)] * 6
    before = accuracy.compute(["Negative"] * 12, refs)
    after = accuracy.compute(["Positive"] * 5 + ["Negative"] + ["Negative"] * 4 + ["Positive"] * 2, refs)
    slices = ["imdb", "yelp"] * 6
    entries = slice_entries(accuracy, slices, before, after, seed=0, n_resamples=200)
    assert list(entries) == ["imdb", "yelp"]
    for value, rows in (("imdb", range(0, 12, 2)), ("yelp", range(1, 12, 2))):
        b, a = subset(accuracy, before, list(rows)), subset(accuracy, after, list(rows))
        expected = compare(accuracy, None, b, a, seed=0, n_resamples=200)
        entry = entries[value]
        assert (entry["n"], entry["before"], entry["after"]) == (6, b.score, a.score)
        assert entry["p_value"] == expected["p_value"] and entry["test"] == "mcnemar-exact"
        moves = [y - x for x, y in zip(b.per_example, a.per_example, strict=True)]
        assert (entry["fixed"], entry["broken"]) == (sum(m > 0 for m in moves), sum(m < 0 for m in moves))


def _tasks(p_values: dict[str, dict[str, tuple[float, float]]]) -> dict:
    """results["tasks"] stand-in: per task, per slice (delta, p)."""
    return {
        name: {
            "primary_metric": "accuracy",
            "metrics": {"accuracy": {"scale": 1.0, "higher_is_better": True}},
            "slices": {
                "field": "domain",
                "metric": "accuracy",
                "values": {value: {"delta": d, "p_value": p} for value, (d, p) in slices.items()},
            },
        }
        for name, slices in p_values.items()
    }


def test_benjamini_hochberg_across_every_task_and_slice():
    tasks = _tasks({"a": {"x": (0.2, 0.001), "y": (-0.2, 0.02)}, "b": {"z": (0.005, 0.001), "w": (0.1, 0.6)}})
    summary = add_slice_verdicts(tasks, alpha=0.05, min_effect=0.01)
    q = false_discovery_control([0.001, 0.02, 0.001, 0.6], method="bh")
    values = [tasks[t]["slices"]["values"][s] for t, s in (("a", "x"), ("a", "y"), ("b", "z"), ("b", "w"))]
    assert [v["q_value"] for v in values] == pytest.approx(list(q))
    # x: q < alpha, large enough; y: significant decline; z: significant but below the minimum effect
    assert [v["outcome"] for v in values] == [
        "improved",
        "regressed",
        "no significant change",
        "no significant change",
    ]
    assert summary["n_slices"] == 4 and (summary["improved"], summary["regressed"]) == (1, 1)
    assert add_slice_verdicts(_tasks({}), alpha=0.05, min_effect=0.01) is None


def test_the_slice_field_is_read_from_the_data(tmp_path, write_jsonl):
    rows = [{"input": "a", "output": "A", "domain": "imdb"}, {"input": "b", "output": "B", "domain": 3}]
    task = Task(
        name="t",
        instruction="x",
        test=DataSource(write_jsonl(tmp_path / "t.jsonl", rows)),
        metrics=("exact_match",),
        slice_field="domain",
    )
    assert [e.slice for e in load_examples(task.test, task, "test")] == ["imdb", "3"]
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"input": "a", "output": "A"}])
    with pytest.raises(DataError, match=r"bad\.jsonl:1: field 'domain': missing \(the task's slice_field"):
        load_examples(DataSource(bad), task, "test")
    assert load_examples(DataSource(bad), task, "train")[0].slice == ""  # optional outside test


def test_a_task_file_names_its_slice_field(tmp_path, write_jsonl):
    from harness.tasks.declarative import load_task_file

    write_jsonl(tmp_path / "test.jsonl", [{"input": "a", "output": "A", "domain": "news"}])
    path = tmp_path / "topic.toml"
    path.write_text(
        'instruction = "x"\ntest = "test.jsonl"\nmetrics = ["exact_match"]\nslice_field = "domain"\n'
    )
    task, _ = load_task_file(path)
    assert task.slice_field == "domain"
    assert load_examples(task.test, task, "test")[0].slice == "news"
