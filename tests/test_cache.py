"""The baseline evaluation cache: key material, predictions stored and loaded without the model, bypass,
corruption."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

import harness
from harness import evaluation
from harness.config import Config
from harness.evaluation import cache, generation, hf_backend
from harness.evaluation.hf_backend import HFBackend
from harness.metrics import Metric, MetricResult
from harness.metrics.builtin import builtin_metrics
from harness.tasks import DataSource, Example, Task


@pytest.fixture(scope="module")
def model_dirs(tiny_model_dir, tmp_path_factory):
    """The suite's small model, and a copy that differs from it in exactly one weight value."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        model.model.norm.weight[0] += 1.0
    changed = tmp_path_factory.mktemp("model-b")
    model.save_pretrained(changed)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(changed)
    return tiny_model_dir, changed


@pytest.fixture(scope="module")
def loaded(model_dirs):
    from harness.models import load_model

    return load_model(str(model_dirs[0]), {}, "cpu")


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(directory))
    return directory


TASK = Task(
    name="echo",
    instruction="Repeat the input.",
    test=DataSource("unused.jsonl"),
    metrics=("exact_match", "chrf"),
    max_new_tokens=4,
)
EXAMPLES = [
    Example(id=f"echo-{i}", instruction="Repeat the input.", input=text, output=text)
    for i, text in enumerate(["the cat", "a dog", "the park"])
]
METRICS = {metric.name: metric for metric in builtin_metrics()}


def key(loaded, task=TASK, examples=EXAMPLES, config=None):
    return cache.evaluation_key(loaded, task, examples, METRICS, config or Config())


# --- the key ---------------------------------------------------------------------------------


def test_key_is_stable(loaded, model_dirs):
    from harness.models import load_model

    first = key(loaded)
    assert first == key(loaded)
    assert len(first) == 64
    assert key(load_model(str(model_dirs[0]), {}, "cpu")) == first  # a fresh load, same files


def test_key_changes_with_one_weight_value(loaded, model_dirs):
    from harness.models import load_model

    assert key(load_model(str(model_dirs[1]), {}, "cpu")) != key(loaded)


@pytest.mark.parametrize(
    "change",
    [
        {"version": "2"},
        {"max_new_tokens": 5},
        {"stop": ("\n", ".")},
        {"metrics": ("exact_match",)},
        {"metrics": ("exact_match", "chrf", "bleu")},
        {"instruction": "Say it again."},
    ],
)
def test_key_changes_with_the_task(loaded, change):
    assert key(loaded, task=dataclasses.replace(TASK, **change)) != key(loaded)


def test_key_ignores_task_description_and_data_path(loaded):
    same = dataclasses.replace(TASK, description="other words", test=DataSource("elsewhere.jsonl"))
    assert key(loaded, task=same) == key(loaded)


def test_key_changes_with_the_test_data(loaded):
    edited = [*EXAMPLES[:-1], dataclasses.replace(EXAMPLES[-1], input="the parks")]
    assert key(loaded, examples=edited) != key(loaded)
    relabelled = [*EXAMPLES[:-1], dataclasses.replace(EXAMPLES[-1], output="x", references=("x",))]
    assert key(loaded, examples=relabelled) != key(loaded)
    assert key(loaded, examples=EXAMPLES[:2]) != key(loaded)


def test_key_changes_with_the_config(loaded):
    base = key(loaded)
    assert key(loaded, config=Config(prompt_template="alpaca")) != base
    assert key(loaded, config=Config(prompt_template="Q: {input}\nA:")) != base
    limited = Config()
    limited.eval.limit = 2
    assert key(loaded, config=limited) != base
    batched = Config()
    batched.eval.batch_size = 4
    assert key(loaded, config=batched) != base


def test_key_changes_with_device_dtype(loaded):
    assert key(dataclasses.replace(loaded, dtype="bfloat16")) != key(loaded)


def test_large_files_are_sampled(tmp_path, monkeypatch):
    from harness.models import fingerprint

    monkeypatch.setattr(fingerprint, "FULL_HASH_LIMIT", 10)
    monkeypatch.setattr(fingerprint, "CHUNK", 4)
    path = tmp_path / "weights.bin"
    path.write_bytes(bytes(range(200)))
    first = fingerprint.file_digest(path)
    assert first.startswith("sampled-sha256:")
    path.write_bytes(bytes(range(199)) + b"\xff")  # the last chunk is always sampled
    assert fingerprint.file_digest(path) != first


# --- the code in the key ---------------------------------------------------------------------


def test_key_changes_with_the_prediction_code(loaded, monkeypatch):
    before = key(loaded)
    monkeypatch.setattr(cache, "PREDICTION_MODULES", cache.PREDICTION_MODULES[:-1])
    assert key(loaded) != before


def test_every_harness_module_a_prediction_depends_on_is_hashed():
    """A module the prediction code imports either is hashed or cannot change a prediction."""
    import ast
    import importlib

    # What these decide is keyed by value: the task's fields, the device and dtype, the model files.
    keyed = {"harness.tasks", "harness.tasks.task", "harness.models.device", "harness.models.presets"}
    keyed |= {"harness.models.fingerprint"}  # the HF backend's fingerprint: the model files, by value
    # the backend Protocol has no code; progress.py only silences transformers' loading bar
    unshaping = {
        "harness.distributed",
        "harness.errors",
        "harness.models.backend",
        "harness.progress",
        *keyed,
    }
    for name in cache.PREDICTION_MODULES:
        tree = ast.parse(Path(importlib.import_module(name).__file__).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("harness"):
                imported = (
                    [node.module] if node.module != "harness" else [f"harness.{a.name}" for a in node.names]
                )
            elif isinstance(node, ast.Import):
                imported = [a.name for a in node.names if a.name.startswith("harness")]
            else:
                continue
            for module in imported:
                assert module in cache.PREDICTION_MODULES or module in unshaping, f"{name} imports {module}"


def test_key_changes_with_a_metric_implementation(loaded):
    """Which function computes a metric is keyed: another one under the same metric name misses."""
    swapped = dataclasses.replace(METRICS["exact_match"], compute=METRICS["chrf"].compute)
    other = dict(METRICS, exact_match=swapped)
    assert cache.evaluation_key(loaded, TASK, EXAMPLES, other, Config()) != key(loaded)


# --- store and load --------------------------------------------------------------------------


def _predict(loaded, examples=EXAMPLES):
    return evaluation.predict(HFBackend(loaded.model, loaded.tokenizer), TASK, examples, Config().prompt(), 8)


def test_hit_returns_the_predictions_without_the_model(loaded, cache_dir, monkeypatch):
    fresh = _predict(loaded)
    k = key(loaded)
    assert cache.load(k, EXAMPLES) is None
    path = cache.store(k, TASK.name, fresh)
    assert path == cache_dir / "evals" / f"{k}.json"
    entry = json.loads(path.read_text(encoding="utf-8"))
    assert (entry["cache_version"], entry["key"], entry["task"]) == (2, k, "echo")
    assert "scores" not in entry["evaluation"]

    def boom(*args, **kwargs):
        raise AssertionError("the model must not be called on a cache hit")

    monkeypatch.setattr(hf_backend, "generate", boom)
    monkeypatch.setattr(generation, "_generate_hf", boom)
    hit = cache.load(k, EXAMPLES, Config().prompt())
    assert isinstance(hit, evaluation.Predictions)
    assert hit == fresh


def test_a_hit_is_scored_from_its_predictions_with_the_current_metrics(loaded, cache_dir):
    k = key(loaded)
    cache.store(k, TASK.name, _predict(loaded))
    entry = json.loads(cache.cache_path(k).read_text(encoding="utf-8"))
    perfect = [e.output for e in EXAMPLES]
    entry["evaluation"]["predictions"] = perfect  # as if the model were perfect
    cache.cache_path(k).write_text(json.dumps(entry), encoding="utf-8")
    hit = cache.load(k, EXAMPLES)
    assert hit.predictions == perfect
    scored = evaluation.scored(TASK, METRICS, EXAMPLES, hit)
    assert scored.scores["exact_match"].score == 1.0
    assert scored.scores["chrf"].score == 100.0
    # The entry holds no scores: the metrics given at scoring time are the ones computed.
    halved = dict(
        METRICS, exact_match=Metric("exact_match", lambda preds, refs: MetricResult(0.5, [0.5] * len(preds)))
    )
    assert evaluation.scored(TASK, halved, EXAMPLES, hit).scores["exact_match"].score == 0.5


def _old_entry(k):
    """A well-formed entry, but of cache version 1."""
    fields = {
        "prompts": [],
        "predictions": ["x"] * len(EXAMPLES),
        "scoring": "generate",
        "choice_logprobs": None,
    }
    return json.dumps({"cache_version": 1, "key": k, "evaluation": fields})


@pytest.mark.parametrize(
    "content",
    ["{not json", "", "[]", '{"cache_version": 2}', '{"cache_version": 999, "key": "K"}', "OLD"],
)
def test_corrupt_or_old_cache_file_is_a_miss_and_is_overwritten(loaded, cache_dir, content):
    k = key(loaded)
    path = cache.cache_path(k)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_old_entry(k) if content == "OLD" else content.replace("K", k), encoding="utf-8")
    assert cache.load(k, EXAMPLES) is None
    fresh = _predict(loaded)
    cache.store(k, TASK.name, fresh)
    assert cache.load(k, EXAMPLES) == fresh


def test_wrong_prediction_count_or_prompts_is_a_miss(loaded, cache_dir):
    k = key(loaded)
    cache.store(k, TASK.name, _predict(loaded))
    assert cache.load(k, EXAMPLES[:2]) is None
    assert cache.load(k, EXAMPLES, "Q: {input}\nA:") is None
    assert cache.load(k, EXAMPLES, Config().prompt()) is not None


def test_store_is_atomic_and_leaves_no_temporary_files(loaded, cache_dir):
    k = key(loaded)
    cache.store(k, TASK.name, _predict(loaded))
    cache.store(k, TASK.name, _predict(loaded))
    assert [p.name for p in (cache_dir / "evals").iterdir()] == [f"{k}.json"]


def test_store_writes_nothing_it_cannot_store(loaded, tmp_path):
    unstorable = dataclasses.replace(_predict(loaded), choice_logprobs=[{"a": object()}] * len(EXAMPLES))
    assert cache.store("k" * 64, TASK.name, unstorable, cache_dir=tmp_path) is None
    assert not (tmp_path / "evals").exists()
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")
    assert cache.store("k" * 64, TASK.name, _predict(loaded), cache_dir=blocked) is None


def test_choice_logprobs_and_scoring_round_trip(loaded, cache_dir):
    logprobs = [{"a": -0.5, "b": -1.5}, {"a": -2.0, "b": -0.25}, {"a": -1.0, "b": -3.0}]
    fresh = evaluation.Predictions(["p"] * 3, ["a", "b", "a"], "loglik", logprobs)
    k = key(loaded)
    cache.store(k, TASK.name, fresh)
    assert cache.load(k, EXAMPLES) == fresh


def test_lookup_misses_then_hits_after_store_all(loaded, tmp_path):
    workload = SimpleNamespace(tasks=[TASK], test={TASK.name: EXAMPLES}, metrics=METRICS)
    hits, keys = cache.lookup(HFBackend.of(loaded), workload, Config(), tmp_path)
    assert hits == {} and list(keys) == ["echo"]
    k, material = keys["echo"]
    assert k == key(loaded)
    fresh = _predict(loaded)
    cache.store_all(keys, {"echo": fresh, "not-looked-up": fresh}, tmp_path)
    assert [p.name for p in (tmp_path / "evals").iterdir()] == [f"{k}.json"]
    stored = json.loads(cache.cache_path(k, tmp_path).read_text(encoding="utf-8"))["material"]
    assert hashlib.sha256(cache._canonical(stored).encode()).hexdigest() == k  # the material as hashed
    assert cache.lookup(HFBackend.of(loaded), workload, Config(), tmp_path) == ({"echo": fresh}, keys)


# --- through harness.evaluate -----------------------------------------------------------------


@pytest.fixture
def echo_config(tmp_path, model_dirs, write_jsonl, write_plugin):
    data = write_jsonl(tmp_path / "test.jsonl", [{"input": e.input, "output": e.output} for e in EXAMPLES])
    task = {"name": "echo_cached", "instruction": "Repeat the input.", "test": data, "max_new_tokens": 4}
    plugin = write_plugin(tmp_path / "echo_task.py", tasks=[task])

    def make(**changes):
        config = Config(
            model=str(model_dirs[0]),
            tasks=["echo_cached"],
            plugins=[str(plugin)],
            device="cpu",
            threads=1,
            output_dir=str(tmp_path / "reports"),
            **changes,
        )
        config.eval.batch_size = 8
        return config

    return make


def _counting_generate(monkeypatch):
    calls = []
    real = evaluation.generate

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hf_backend, "generate", counting)
    return calls


def test_second_eval_uses_the_cache(echo_config, cache_dir, monkeypatch):
    calls = _counting_generate(monkeypatch)
    first, _ = harness.evaluate(echo_config())
    assert calls and first["tasks"]["echo_cached"]["baseline_cached"] is False
    assert len(list((cache_dir / "evals").glob("*.json"))) == 1

    calls.clear()
    second, _ = harness.evaluate(echo_config())
    assert calls == []
    assert second["tasks"]["echo_cached"]["baseline_cached"] is True
    assert second["tasks"]["echo_cached"]["metrics"] == first["tasks"]["echo_cached"]["metrics"]


def test_cache_false_bypasses(echo_config, cache_dir, monkeypatch):
    harness.evaluate(echo_config())
    calls = _counting_generate(monkeypatch)
    results, _ = harness.evaluate(echo_config(cache=False))
    assert calls
    assert results["tasks"]["echo_cached"]["baseline_cached"] is False
    assert cache.lookup(None, None, echo_config(cache=False)) == ({}, {})


def test_no_cache_flag_sets_cache_false():
    from harness.cli import build_parser

    args = build_parser().parse_args(["eval", "--no-cache"])
    assert args.no_cache is True
    from harness.config_loader import load_config

    assert load_config(None, ["cache=false"]).cache is False
    assert load_config(None, []).cache is True
