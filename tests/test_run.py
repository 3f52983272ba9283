"""The cycle through the Python API (harness.run / harness.evaluate): the progress it reports,
the run state it records, the files it writes and the order of results.json's keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import harness
from harness.config import Config, to_dict
from harness.config_loader import config_from_dict
from harness.errors import HarnessError
from harness.rundir import RUN_STATE, RunDir, resumed_config

N_TEST, N_TRAIN = 8, 16

TOP_KEYS = [
    "schema_version", "run_id", "mode", "created", "harness_version", "git_commit", "seed", "config",
    "model", "device", "versions", "distributed", "durations", "cost", "provenance", "training", "forecast",
    "statistics", "generation", "tasks", "warnings", "decision", "reports",
]  # fmt: skip


class Recorder:
    """A :class:`harness.Progress` that records every call."""

    def __init__(self):
        self.events: list[tuple] = []

    def start(self, key: str, description: str, total: int | None = None) -> None:
        self.events.append(("start", key, description, total))

    def advance(self, key: str, amount: int = 1, **fields: object) -> None:
        self.events.append(("advance", key, amount, fields))

    def finish(self, key: str) -> None:
        self.events.append(("finish", key))

    def steps(self) -> list[str]:
        return [event[1] for event in self.events if event[0] == "start"]

    def advanced(self, key: str) -> int:
        return sum(event[2] for event in self.events if event[0] == "advance" and event[1] == key)


@pytest.fixture(scope="module")
def make_config(tmp_path_factory, echo_plugin, run_config):
    """``make_config(**changes)``: the suite's small Llama, fully tuned for one epoch on an
    "echo" task (16 training examples, 8 test examples), everything written under one folder."""
    root = tmp_path_factory.mktemp("cycle")
    plugin = echo_plugin(root, N_TEST, N_TRAIN)

    def make(**changes) -> Config:
        return run_config(root, plugin, **changes)

    return make


@pytest.fixture(scope="module")
def finished(make_config):
    """One run, with its progress events and the phases written to its run state."""
    recorder, phases = Recorder(), []
    write_state = RunDir.write_state

    def recording(self, config, phase, **extra):
        phases.append(phase)
        write_state(self, config, phase, **extra)

    config = make_config()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RunDir, "write_state", recording)
        outcome = harness.run(config, progress=recorder)
    return config, outcome, recorder, phases


def test_run_returns_what_it_wrote(finished):
    config, (results, paths), _, _ = finished
    assert set(paths) == {"results", "samples", "markdown", "html"}
    assert all(path.parent.name == results["run_id"] for path in paths.values())
    on_disk = json.loads(paths["results"].read_text(encoding="utf-8"))
    assert on_disk == results
    assert list(on_disk) == TOP_KEYS
    assert list(on_disk["durations"]) == ["model_load", "eval_before", "train", "eval_after", "total"]
    assert results["mode"] == "run" and results["training"]["method"] == "full"
    echo = results["tasks"]["echo"]
    assert echo["n_test"] == N_TEST and echo["baseline_cached"] is False and "flips" in echo
    metric = echo["metrics"]["exact_match"]
    assert metric["delta"] == metric["after"] - metric["before"]
    samples = [json.loads(line) for line in paths["samples"].read_text(encoding="utf-8").splitlines()]
    assert [row["input"] for row in samples] == [f"word {i}" for i in range(N_TEST)]
    assert results["model"]["output_dir"] == str(RunDir.open(config, results["run_id"]).model_dir)


def test_progress_reports_each_step_in_order(finished):
    _, (results, _), recorder, _ = finished
    forecast = ["forecast:memory:expected", "forecast:eval:echo", "forecast:cycle"]  # after the baseline
    assert recorder.steps() == [
        "forecast:parameters",  # before the model is loaded (harness/training/forecast.py)
        "forecast:memory",
        "forecast:memory:bound",
        "load",
        "eval:echo:before",
        *forecast,
        "power:echo",
        "train",
        "eval:echo:after",
    ]
    finished_keys = [event[1] for event in recorder.events if event[0] == "finish"]
    assert finished_keys == recorder.steps()  # each step ends before the next starts
    starts = {event[1]: event[2:] for event in recorder.events if event[0] == "start"}
    assert starts["load"] == ("Loading model", None)
    assert starts["eval:echo:before"] == ("Evaluating echo (before)", N_TEST)
    assert starts["train"] == ("Fine-tuning", results["training"]["max_steps"])
    # before tuning: what the test set can detect (harness/decisions/power.py)
    assert starts["power:echo"][0].startswith(f"echo: {N_TEST} test examples can")
    assert recorder.advanced("eval:echo:before") == recorder.advanced("eval:echo:after") == N_TEST
    assert recorder.advanced("train") == results["training"]["steps"]


def test_the_forecast_is_made_before_training_and_recorded(finished):
    """results.json's "forecast": parameters equal the model's, the peak memory bound is above the
    peak expected for the data, the evaluation seconds are the baseline pass's, and the lines
    shown say what they are."""
    _, (results, _), recorder, _ = finished
    forecast = results["forecast"]
    assert forecast["parameters"]["total"] == results["model"]["parameters"]
    assert forecast["parameters"]["trainable"] == results["model"]["trainable_parameters"]
    assert forecast["method"] == "full" and forecast["device"] == "cpu" and forecast["dtype"] == "float32"
    memory = forecast["memory"]
    assert memory["peak_bytes"] == sum(memory["bytes"].values())
    assert 0 < memory["expected_peak_bytes"] < memory["peak_bytes"]  # short examples, few labels
    assert memory["expected_tokens"] <= 8 * results["config"]["train"]["max_length"]
    echo = forecast["evaluation"]["tasks"]["echo"]
    assert echo["examples"] == N_TEST and echo["generated_tokens"] <= echo["generated_bound"] == N_TEST * 4
    assert 0 < echo["before_seconds"] <= results["durations"]["eval_before"]
    cycle = forecast["cycle"]
    assert cycle["estimate"] is True and 0 < cycle["eval_share"] < 1
    assert cycle["train_tokens"] == results["training"]["tokens"]["real"]  # one epoch, every example
    starts = {event[1]: event[2] for event in recorder.events if event[0] == "start"}
    assert starts["forecast:parameters"].startswith(
        f"forecast: {results['model']['parameters']:,} parameters"
    )
    assert "(estimated upper bound:" in starts["forecast:memory:bound"]
    assert starts["forecast:cycle"].endswith("(estimated)")


def test_run_state_goes_through_every_phase(finished):
    config, (results, paths), _, phases = finished
    assert phases == ["started", "training", "evaluating", "done"]
    run_dir = RunDir.open(config, results["run_id"])
    state = json.loads(run_dir.state_file.read_text(encoding="utf-8"))
    assert state["phase"] == "done" and state["results"] == str(paths["results"])
    assert state["checkpoints"] == str(run_dir.checkpoints)
    assert config_from_dict(state["config"]) == config
    with pytest.raises(HarnessError, match="already finished"):
        resumed_config(results["run_id"], config.models_dir)


def test_evaluate_writes_no_run_state_and_reuses_the_cache(make_config, tiny_model_dir):
    config = make_config(cache=True, models_dir="never")
    first, _ = harness.evaluate(config, tasks=["echo"])
    recorder = Recorder()
    second, paths = harness.evaluate(config, model=str(tiny_model_dir), progress=recorder)
    assert first["mode"] == second["mode"] == "eval" and second["training"] is None
    assert list(second["durations"]) == ["model_load", "eval_before", "total"]
    assert first["tasks"]["echo"]["baseline_cached"] is False
    assert second["tasks"]["echo"]["baseline_cached"] is True
    assert second["tasks"]["echo"]["metrics"] == first["tasks"]["echo"]["metrics"]
    assert recorder.steps() == ["load"]  # nothing left to predict
    assert paths["results"].is_file() and not Path("never").exists()  # the test's own cwd


@pytest.mark.parametrize(
    ("error", "phase"),
    [(HarnessError("model 'x': cannot load (test)"), "failed"), (KeyboardInterrupt(), "interrupted")],
)
def test_run_state_records_why_a_run_stopped(make_config, monkeypatch, tmp_path, error, phase):
    """An error after the run started (here: while loading the model) leaves run_state.json at
    "failed" with the reason, or at "interrupted", and no reports; the run can be resumed."""
    import harness.models

    def refuse(*args, **kwargs):
        raise error

    monkeypatch.setattr(harness.models, "load_model", refuse)
    config = make_config(output_dir=str(tmp_path / "reports"), models_dir=str(tmp_path / "runs"))
    with pytest.raises(type(error)):
        harness.run(config)
    (state_file,) = (tmp_path / "runs").glob(f"*/{RUN_STATE}")
    state = json.loads(state_file.read_text(encoding="utf-8"))
    assert state["phase"] == phase
    assert state.get("error") == ("model 'x': cannot load (test)" if phase == "failed" else None)
    assert not (tmp_path / "reports").exists()
    resumed, run_id = resumed_config(state_file.parent.name, str(tmp_path / "runs"))
    assert run_id == state_file.parent.name and to_dict(resumed) == to_dict(config)


def test_resume_of_an_unknown_run_is_a_clear_error(tmp_path):
    with pytest.raises(HarnessError, match=f"no {RUN_STATE} in"):
        harness.resume("20260101-000000-abcdef", models_dir=str(tmp_path))
