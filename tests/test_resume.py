"""Resume for real: ``harness run`` is killed with SIGKILL after its first checkpoint, then
``harness run --resume RUN_ID`` finishes it; everything must equal an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def write_run_config(write_config, model: Path, root: Path, name: str) -> Path:
    sentiment = REPO / "tasks" / "sentiment"
    settings = {
        "model": str(model),
        "method": "full",
        "tasks": ["sentiment"],
        "threads": 1,
        "output_dir": str(root / name / "reports"),
        "models_dir": str(root / name / "runs"),
        "train": {
            "epochs": 5,
            "batch_size": 8,
            "eval_every": 3,  # dev evaluation + checkpoint every 3 steps (9 steps per epoch)
            "logging_steps": 3,  # aligned with the checkpoints, so the logged losses match exactly
            "patience": 0,
        },
        "data": {
            "sentiment": {
                "train": {"path": str(sentiment / "train.jsonl"), "limit": 80},
                "test": {"path": str(sentiment / "test.jsonl"), "limit": 16},
            }
        },
    }
    return write_config(root / f"{name}.toml", settings)


def first_complete_checkpoint(runs: Path, process: subprocess.Popen, timeout: float = 240) -> Path:
    from harness.training import latest_checkpoint

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in runs.glob("*"):
            found = latest_checkpoint(run / "checkpoints")
            if found is not None:
                return found
        if process.poll() is not None:
            pytest.fail(f"the run ended before its first checkpoint:\n{process.stdout.read()}")
        time.sleep(0.02)
    pytest.fail("no checkpoint appeared")


def results_of(root: Path) -> tuple[dict, list[dict]]:
    (run_dir,) = [p for p in (root / "reports").iterdir() if p.is_dir()]
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    samples = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    return results, samples


def test_killed_run_resumes_to_identical_results(tmp_path, tiny_model_dir, write_config, start_harness):
    from safetensors.torch import load_file

    def run(*args: str):
        return start_harness("run", "-q", *args)

    reference = run("-c", str(write_run_config(write_config, tiny_model_dir, tmp_path, "reference")))
    victim = run("-c", str(write_run_config(write_config, tiny_model_dir, tmp_path, "victim")))
    checkpoint = first_complete_checkpoint(tmp_path / "victim" / "runs", victim)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=60)
    run_id = checkpoint.parent.parent.name
    assert not (tmp_path / "victim" / "reports").exists(), "killed too late: the run had finished"
    state = json.loads((checkpoint.parent.parent / "run_state.json").read_text(encoding="utf-8"))
    assert state["run_id"] == run_id and state["phase"] == "training"

    resumed = run("--resume", run_id, "--set", f'models_dir="{tmp_path / "victim" / "runs"}"')
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    out_ref, _ = reference.communicate(timeout=300)
    assert reference.returncode == 0, out_ref

    expected, expected_samples = results_of(tmp_path / "reference")
    got, got_samples = results_of(tmp_path / "victim")
    assert got["run_id"] == run_id
    assert got["training"]["resumed_from"] == str(checkpoint)
    assert expected["training"]["resumed_from"] is None
    assert got["tasks"]["sentiment"]["metrics"] == expected["tasks"]["sentiment"]["metrics"]
    for key in ("steps", "dev_history", "best_step", "best_score", "stopped_early", "loss_history"):
        assert got["training"][key] == expected["training"][key], key
    for key in ("real", "total", "padding_fraction"):
        assert got["training"]["tokens"][key] == expected["training"]["tokens"][key], key
    predictions = [(s["prediction_before"], s["prediction_after"]) for s in got_samples]
    assert predictions == [(s["prediction_before"], s["prediction_after"]) for s in expected_samples]

    weights = load_file(Path(got["model"]["output_dir"]) / "model.safetensors")
    reference_weights = load_file(Path(expected["model"]["output_dir"]) / "model.safetensors")
    assert weights.keys() == reference_weights.keys()
    for name, tensor in weights.items():
        assert (tensor == reference_weights[name]).all(), name  # bit-identical, not just close
    final_state = json.loads((checkpoint.parent.parent / "run_state.json").read_text(encoding="utf-8"))
    assert final_state["phase"] == "done"
    assert not checkpoint.parent.exists()  # checkpoints removed after success

    again = run("--resume", run_id, "--set", f'models_dir="{tmp_path / "victim" / "runs"}"')
    out, _ = again.communicate(timeout=120)
    assert again.returncode == 2 and "already finished" in out
