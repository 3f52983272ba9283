"""The Hugging Face ``evaluate`` bridge: ``evaluate:NAME`` and ``evaluate-file:PATH`` metrics, offline."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.config import Config
from harness.errors import HarnessError
from harness.metrics import hf_evaluate

OVERLAP_MODULE = textwrap.dedent('''
    """Mean word overlap: the fraction of reference words found in the prediction."""
    import datasets
    import evaluate


    class {cls}(evaluate.Metric):
        def _info(self):
            return evaluate.MetricInfo(
                description="mean word overlap",
                citation="",
                inputs_description="predictions and references: strings",
                features=datasets.Features(
                    {{"predictions": datasets.Value("string"), "references": datasets.Value("string")}}
                ),
            )

        def _compute(self, predictions, references):
            scores = []
            for prediction, reference in zip(predictions, references):
                words = set(reference.split())
                scores.append(len(words & set(prediction.split())) / len(words))
            return {{"overlap": sum(scores) / len(scores), "count": float(len(scores))}}
''')


# The Hub, datasets and evaluate are offline and HF_HOME is a session folder (conftest.py).


def write_module(directory: Path, name: str = "overlap") -> Path:
    """``directory/<name>/<name>.py``: a metric returning ``overlap`` and ``count``."""
    folder = directory / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(OVERLAP_MODULE.format(cls=name.title().replace("_", "")), encoding="utf-8")
    return path


PREDICTIONS = ["the cat sat", "a dog"]
REFERENCES = [("the cat sat down",), ("the bird", "a dog")]  # only the first reference is used


def test_file_metric_picks_the_module_named_key(tmp_path):
    path = write_module(tmp_path)
    metric = hf_evaluate.evaluate_metric(f"evaluate-file:{path}")
    assert metric.name == f"evaluate-file:{path}"
    assert metric.higher_is_better is True
    result = metric.compute(PREDICTIONS, REFERENCES)
    assert result.score == pytest.approx((3 / 4 + 0 / 2) / 2)  # first references only
    assert result.per_example is None
    assert result.settings["key"] == "overlap"
    assert result.settings["references"] == "first"


def test_directory_form_and_key_selection(tmp_path, monkeypatch):
    write_module(tmp_path)
    monkeypatch.chdir(tmp_path)  # a relative directory resolves against the working directory
    metric = hf_evaluate.evaluate_metric("evaluate-file:overlap#count")
    result = metric.compute(PREDICTIONS, REFERENCES)
    assert result.score == 2.0
    assert result.settings["module"] == str((tmp_path / "overlap" / "overlap.py").resolve())


def test_unknown_key_lists_the_keys(tmp_path):
    path = write_module(tmp_path)
    metric = hf_evaluate.evaluate_metric(f"evaluate-file:{path}#f1")
    with pytest.raises(HarnessError, match="no key 'f1'; keys: overlap, count"):
        metric.compute(PREDICTIONS, REFERENCES)


def test_several_keys_without_a_match_is_an_error(tmp_path):
    path = write_module(tmp_path, "other")  # keys overlap, count: neither is named "other"
    metric = hf_evaluate.evaluate_metric(f"evaluate-file:{path}")
    with pytest.raises(HarnessError, match=r"several keys \(overlap, count\).*#KEY"):
        metric.compute(PREDICTIONS, REFERENCES)


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope" / "nope.py"
    with pytest.raises(HarnessError, match="not found") as info:
        hf_evaluate.evaluate_metric(f"evaluate-file:{missing}")
    assert str(missing) in str(info.value)
    assert "\n" not in str(info.value)


def test_directory_without_module_names_the_file(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="empty.py"):
        hf_evaluate.evaluate_metric(f"evaluate-file:{tmp_path / 'empty'}")


def test_broken_module_is_one_line(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("raise RuntimeError('boom')\n", encoding="utf-8")
    metric = hf_evaluate.evaluate_metric(f"evaluate-file:{path}")
    with pytest.raises(HarnessError, match="cannot load") as info:
        metric.compute(["a"], [("a",)])
    assert "\n" not in str(info.value)


def test_hub_form_offline_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    metric = hf_evaluate.evaluate_metric("evaluate:harness_no_such_metric_xyz")
    with pytest.raises(HarnessError) as info:
        metric.compute(["a"], [("a",)])
    message = str(info.value)
    assert "\n" not in message
    assert "evaluate:harness_no_such_metric_xyz" in message
    assert "offline" in message and "HF_HUB_OFFLINE=1" in message
    assert "evaluate-file:PATH" in message


@pytest.mark.parametrize("name", ["./overlap", "/abs/overlap", "a/b/c", "overlap.py", "~/m"])
def test_hub_form_refuses_paths(name):
    with pytest.raises(HarnessError, match="looks like a path"):
        hf_evaluate.evaluate_metric(f"evaluate:{name}")


def test_hub_form_refuses_a_shadowing_local_folder(tmp_path, monkeypatch):
    write_module(tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(HarnessError, match="evaluate-file:overlap"):
        hf_evaluate.evaluate_metric("evaluate:overlap")


@pytest.mark.parametrize("name", ["evaluate:", "evaluate-file:", "evaluate:x#"])
def test_malformed_names(name):
    with pytest.raises(HarnessError):
        hf_evaluate.evaluate_metric(name)


def test_resolve_metrics_adds_only_evaluate_names():
    registry = {}
    resolved = hf_evaluate.resolve_metrics(["bleu_typo", "evaluate:exact_match"], registry)
    assert set(resolved) == {"evaluate:exact_match"}
    assert registry == {}


def test_task_with_evaluate_file_metric_resolves_in_prepare(tmp_path, write_jsonl, write_plugin):
    from harness.workload import prepare

    module = write_module(tmp_path)
    data = write_jsonl(
        tmp_path / "test.jsonl", [{"input": "x y", "output": "x y"}, {"input": "z", "output": "q"}]
    )
    task = {"name": "overlap_task", "test": data, "metrics": (f"evaluate-file:{module}", "exact_match")}
    plugin = write_plugin(tmp_path / "overlap_task.py", tasks=[task])
    workload = prepare(Config(tasks=["overlap_task"], plugins=[str(plugin)]), train=False)
    metric = workload.metrics[f"evaluate-file:{module}"]
    examples = workload.test["overlap_task"]
    result = metric.compute(["x y", "nothing"], [e.references for e in examples])
    assert result.score == pytest.approx(0.5)


def test_prepare_fails_fast_on_a_missing_module(tmp_path, write_jsonl, write_plugin):
    from harness.workload import prepare

    data = write_jsonl(tmp_path / "test.jsonl", [{"input": "a", "output": "a"}])
    task = {"name": "missing_task", "test": data, "metrics": ("evaluate-file:metrics/gone.py",)}
    plugin = write_plugin(tmp_path / "missing_task.py", tasks=[task])
    with pytest.raises(HarnessError, match="gone.py"):
        prepare(Config(tasks=["missing_task"], plugins=[str(plugin)]), train=False)
