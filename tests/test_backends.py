"""The prediction-backend seam: a second backend (tests/echo_backend.py, one file, registered by
the ``harness_backends`` hook) drives evaluation, the baseline cache and the reports without the
Hugging Face model answering anything; an unknown backend is one line before any model work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import api
from harness.cli import main
from harness.errors import HarnessError
from harness.evaluation.hf_backend import HFBackend

ECHO = Path(__file__).parent / "echo_backend.py"


@pytest.fixture
def echo_run(tmp_path, echo_plugin, run_config, write_jsonl, write_plugin):
    """``echo_run(backend, **changes) -> (results, samples)``: ``harness eval`` of the echo task
    (``word i`` -> ``word i``), a choice task (``yes``/``no`` said in the input) and a task
    whose one input is longer than the echo backend's context."""
    tasks = write_plugin(
        tmp_path / "more_tasks.py",
        tasks=[
            {
                "name": "said",
                "test": write_jsonl(
                    tmp_path / "said.jsonl",
                    [{"input": f"the answer is {a}", "output": a} for a in ("yes", "no", "no", "yes")],
                ),
                "choices": ("yes", "no"),
                "metrics": ("accuracy",),
            },
            {
                "name": "long",
                "test": write_jsonl(tmp_path / "long.jsonl", [{"input": "w " * 200, "output": "w"}]),
                "max_new_tokens": 2,
            },
        ],
    )
    plugins = [str(echo_plugin(tmp_path)), str(tasks), str(ECHO)]

    def run(backend: str, **changes):
        config = run_config(tmp_path, plugins[0], tasks=("echo", "said", "long"), backend=backend, **changes)
        config.plugins = plugins
        outcome = api.evaluate(config)
        lines = outcome.paths["samples"].read_text(encoding="utf-8").splitlines()
        return outcome.results, [json.loads(line) for line in lines]

    return run


def test_a_second_backend_answers_every_prompt(echo_run):
    results, samples = echo_run("echo")
    echo = [s for s in samples if s["task"] == "echo"]
    assert [s["prediction_before"] for s in echo] == [s["input"] for s in echo]  # the echo backend's
    assert results["tasks"]["echo"]["metrics"]["exact_match"]["before"] == 1.0
    said = [s for s in samples if s["task"] == "said"]
    assert [s["choice_logprobs_before"] for s in said[:2]] == [
        {"yes": 0.0, "no": -2.0},
        {"yes": -3.0, "no": 0.0},
    ]
    assert results["tasks"]["said"]["metrics"]["accuracy"]["before"] == 1.0
    # its context (64 tokens) bounds the prompts: the long input is cut to fit, and counted
    (long,) = [s for s in samples if s["task"] == "long"]
    assert long["prediction_before"] == long["prompt"].split("### Input:\n")[1].split("\n\n###")[0].strip()
    assert long["prediction_before"].count("w") < 64 < 200
    assert results["tasks"]["long"]["truncation"]["test"] == 1
    assert results["tasks"]["long"]["truncation"]["context"] == 64


def test_the_hf_backend_gives_other_answers_and_its_own_cache_entries(echo_run, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))  # entries of this test's own
    results, _ = echo_run("hf")
    assert results["tasks"]["echo"]["metrics"]["exact_match"]["before"] < 1.0  # a random tiny Llama
    first, _ = echo_run("echo", cache=True)
    again, _ = echo_run("echo", cache=True)
    hf, _ = echo_run("hf", cache=True)
    assert [first["tasks"][t]["baseline_cached"] for t in first["tasks"]] == [False] * 3
    assert [again["tasks"][t]["baseline_cached"] for t in again["tasks"]] == [True] * 3
    assert [hf["tasks"][t]["baseline_cached"] for t in hf["tasks"]] == [False] * 3  # keyed apart
    assert again["tasks"]["echo"]["metrics"] == first["tasks"]["echo"]["metrics"]


def test_the_hf_backend_fingerprint_is_the_cache_key_it_always_was(load_tiny):
    from harness.evaluation import cache
    from harness.models.fingerprint import model_fingerprint

    loaded = load_tiny()
    assert HFBackend.of(loaded).fingerprint() == {
        "model": model_fingerprint(loaded),
        "device": "cpu",
        "dtype": str(loaded.dtype),
    }
    through_backend = cache.key_material(None, *_key_args(), fingerprint=HFBackend.of(loaded).fingerprint())
    assert through_backend == cache.key_material(loaded, *_key_args())  # the key material main had


def _key_args():
    from harness.config import Config
    from harness.metrics.builtin import builtin_metrics
    from harness.tasks import DataSource, Example, Task

    task = Task("t", "Say.", DataSource("t.jsonl"), ("exact_match",))
    return task, [Example("t-0", "Say.", "a", "a")], builtin_metrics(), Config()


def test_an_unknown_backend_is_one_line_before_any_model_work(tmp_path, capsys):
    code = main(["eval", "--model", str(tmp_path / "no-model"), "--set", 'backend="vllm"'])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "unknown backend 'vllm'" in err and "known: hf" in err


def test_backend_spec_lists_the_plugins_backends(echo_plugin, run_config, tmp_path):
    from harness.cycle import backend_spec
    from harness.workload import prepare

    config = run_config(tmp_path, echo_plugin(tmp_path), backend="nope")
    config.plugins = [*config.plugins, str(ECHO)]
    with pytest.raises(HarnessError, match=r"unknown backend 'nope'; known: echo, hf"):
        backend_spec(config, prepare(config, train=False))
