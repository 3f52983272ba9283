"""bench/gpu.sh's script in its CPU smoke mode: every section runs and writes its numbers, so that a
rare GPU slot is not spent on a broken script. Needs the ``bench`` extra (trl, lm-eval)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_check_cpu_smoke_runs_every_section(tmp_path):
    pytest.importorskip("trl")
    pytest.importorskip("lm_eval")
    output = tmp_path / "gpu.json"
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))  # as gpu.sh keeps it
    env = dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    # the cycle section is left out: in the suite's fresh cache it would first build the tiny preset
    script = str(ROOT / "bench" / "gpu_bench.py")
    command = [sys.executable, script, "--cpu-smoke", "--skip", "cycle", "--output", str(output)]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(output.read_text())
    assert result["mode"] == "cpu-smoke" and set(result["sections"]) == {"model", "training", "evaluation"}
    assert result["sections"]["model"]["parameters"] > 0
    training = result["sections"]["training"]
    assert set(training["runs"]) == {"harness", "trl", "trl-padding-free"}
    for variant, run in training["runs"].items():
        assert run["real_tokens_per_s"] > 0 and run["steps"] == 6, variant
        assert run["train_set_loss"] > 0 and run["mfu"] is None  # no GPU peak on the CPU
    assert training["runs"]["harness"]["padding_fraction"] == 0
    assert training["mfu_denominator"].startswith("none: no GPU")  # what MFU divides by, named
    evaluation = result["sections"]["evaluation"]
    assert evaluation["examples"] == 24 and evaluation["harness_examples_per_s"] > 0
    assert evaluation["identical_predictions"].endswith("/24")
    assert evaluation["joins_identical_predictions"] == "24/24" and evaluation["joins_speedup"] > 0
    summary = json.loads(done.stdout)
    assert summary["errors"] == {} and summary["training_harness_vs_trl"] > 0
