"""The baseline evaluation cache: key material, hits without the model, bypass, corruption."""

from __future__ import annotations

import dataclasses
import json

import pytest

from harness import evaluation
from harness.config import Config
from harness.evaluation import cache, predictions
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
    monkeypatch.setattr(cache, "FULL_HASH_LIMIT", 10)
    monkeypatch.setattr(cache, "CHUNK", 4)
    path = tmp_path / "weights.bin"
    path.write_bytes(bytes(range(200)))
    first = cache.file_digest(path)
    assert first.startswith("sampled-sha256:")
    path.write_bytes(bytes(range(199)) + b"\xff")  # the last chunk is always sampled
    assert cache.file_digest(path) != first


# --- store and load --------------------------------------------------------------------------


def _evaluate(loaded, examples=EXAMPLES):
    return evaluation.evaluate_task(
        loaded.model, loaded.tokenizer, TASK, examples, METRICS, Config().prompt(), 8
    )


def test_hit_returns_the_predictions_without_the_model(loaded, cache_dir, monkeypatch):
    fresh = _evaluate(loaded)
    k = key(loaded)
    assert cache.load(k, TASK, EXAMPLES, METRICS) is None
    path = cache.store(k, fresh)
    assert path == cache_dir / "evals" / f"{k}.json"

    def boom(*args, **kwargs):
        raise AssertionError("the model must not be called on a cache hit")

    monkeypatch.setattr(evaluation, "generate", boom)
    hit = cache.load(k, TASK, EXAMPLES, METRICS, Config().prompt())
    assert hit.predictions == fresh.predictions
    assert hit.prompts == fresh.prompts
    assert hit.task is TASK
    assert {n: r.score for n, r in hit.scores.items()} == {n: r.score for n, r in fresh.scores.items()}


def test_scores_are_recomputed_on_a_hit(loaded, cache_dir):
    k = key(loaded)
    cache.store(k, _evaluate(loaded))
    entry = json.loads(cache.cache_path(k).read_text(encoding="utf-8"))
    entry["evaluation"]["predictions"] = [e.output for e in EXAMPLES]  # as if the model were perfect
    cache.cache_path(k).write_text(json.dumps(entry), encoding="utf-8")
    hit = cache.load(k, TASK, EXAMPLES, METRICS)
    assert hit.scores["exact_match"].score == 1.0


@pytest.mark.parametrize(
    "content", ["{not json", "", "[]", '{"cache_version": 1}', '{"cache_version": 999, "key": "K"}']
)
def test_corrupt_cache_file_is_a_miss_and_is_overwritten(loaded, cache_dir, content):
    k = key(loaded)
    path = cache.cache_path(k)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content.replace("K", k), encoding="utf-8")
    assert cache.load(k, TASK, EXAMPLES, METRICS) is None
    fresh = _evaluate(loaded)
    cache.store(k, fresh)
    assert cache.load(k, TASK, EXAMPLES, METRICS).predictions == fresh.predictions


def test_wrong_prediction_count_or_prompts_is_a_miss(loaded, cache_dir):
    k = key(loaded)
    cache.store(k, _evaluate(loaded))
    assert cache.load(k, TASK, EXAMPLES[:2], METRICS) is None
    assert cache.load(k, TASK, EXAMPLES, METRICS, "Q: {input}\nA:") is None
    assert cache.load(k, TASK, EXAMPLES, METRICS, Config().prompt()) is not None


def test_store_is_atomic_and_leaves_no_temporary_files(loaded, cache_dir):
    k = key(loaded)
    cache.store(k, _evaluate(loaded))
    cache.store(k, _evaluate(loaded))
    assert [p.name for p in (cache_dir / "evals").iterdir()] == [f"{k}.json"]


# --- through the runner ----------------------------------------------------------------------


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

    monkeypatch.setattr(predictions, "generate", counting)
    return calls


def test_second_eval_uses_the_cache(echo_config, cache_dir, monkeypatch):
    from harness import runner

    calls = _counting_generate(monkeypatch)
    first, _ = runner.run(echo_config(), mode="eval")
    assert calls and first["tasks"]["echo_cached"]["baseline_cached"] is False
    assert len(list((cache_dir / "evals").glob("*.json"))) == 1

    calls.clear()
    second, _ = runner.run(echo_config(), mode="eval")
    assert calls == []
    assert second["tasks"]["echo_cached"]["baseline_cached"] is True
    assert second["tasks"]["echo_cached"]["metrics"] == first["tasks"]["echo_cached"]["metrics"]


def test_cache_false_bypasses(echo_config, cache_dir, monkeypatch):
    from harness import runner

    runner.run(echo_config(), mode="eval")
    calls = _counting_generate(monkeypatch)
    results, _ = runner.run(echo_config(cache=False), mode="eval")
    assert calls
    assert results["tasks"]["echo_cached"]["baseline_cached"] is False
    assert cache.lookup(None, None, echo_config(cache=False)) == ({}, {})


def test_no_cache_flag_sets_cache_false():
    from harness.cli import build_parser

    args = build_parser().parse_args(["eval", "--no-cache"])
    assert args.no_cache is True
    from harness.config import load_config

    assert load_config(None, ["cache=false"]).cache is False
    assert load_config(None, []).cache is True


def test_extra_evaluation_fields_round_trip(loaded, cache_dir):
    """Whatever else a TaskEvaluation holds (e.g. choice log-probabilities) is stored too."""
    names = {f.name for f in dataclasses.fields(evaluation.TaskEvaluation)}
    if "choice_logprobs" not in names:
        pytest.skip("TaskEvaluation has no choice_logprobs")
    fresh = dataclasses.replace(_evaluate(loaded), choice_logprobs=[{"a": -0.5, "b": -1.5} for _ in EXAMPLES])
    k = key(loaded)
    cache.store(k, fresh)
    hit = cache.load(k, TASK, EXAMPLES, METRICS)
    assert hit.choice_logprobs == fresh.choice_logprobs
    assert getattr(hit, "scoring", None) == getattr(fresh, "scoring", None)
