"""Scale-out for real: ``torchrun --nproc_per_node 2`` (gloo on CPU) against one process.

Runs, on the suite's small random Llama with a loglik task (sentiment) and a generation task
(translation):

1. ``harness run`` under torchrun with 2 processes and ``train.batch_size = B`` (per process);
2. ``harness run`` in one process with ``train.batch_size = 2B``: the same global batch, the same
   ``max_steps``, seed and learning-rate schedule;
3. ``harness eval`` under torchrun with 2 processes.

What is asserted, and why:

* one run directory with every report file, written once (rank 0), a finished run_state.json,
  the model saved once and the checkpoints cleaned up; ``results.json`` records
  ``distributed = {world_size: 2, backend: "gloo", ...}``;
* **before**: the predictions and metrics are identical to the single process's. Evaluation is
  sharded (rank r predicts ``examples[r::2]``), gathered in the original order and scored once on
  rank 0 over the whole set; greedy decoding and log-likelihoods do not depend on the other
  prompts of a batch beyond fp32 rounding (harness/evaluation/ measures <= ~1e-6), so the
  choice log-likelihoods (sums of ~-40) are compared to 1e-6 relative (a few float32 ulps;
  measured: equal, or 1 ulp apart) and everything else exactly. The eval-only run must give
  the same numbers.
* **after**: DDP with 2 x B is the single process with 2B up to floating-point reduction order.
  The Trainer's seeded sampler draws the same permutation in both, accelerate deals its batches
  of B alternately to the two ranks (so a global step sees the same 2B examples), and the loss
  is normalised by the token count of the whole global batch (``average_tokens_across_devices``)
  before DDP averages the gradients. What differs is the order of the sums (per-rank partial
  sums, then an all-reduce): the logged losses must agree to 5e-7 relative (measured: 0 to 2
  float32 ulps, <= 1.5e-7 relative, at losses of ~7), the token counts (summed over ranks)
  exactly, and the dev scores, after-predictions and after-metrics must be identical. (Greedy
  predictions could flip only where two tokens tie within that rounding; 20 varied prompts of
  a random model do not come near one.)

Marked slow (runs by default); ~35 s on 2 cores with one torch thread per process.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
B = 4  # per-process train batch under torchrun; the single process gets 2 * B


def write_run_config(write_config, model: Path, root: Path, name: str, batch_size: int) -> Path:
    tasks = REPO / "tasks"
    settings = {
        "model": str(model),
        "method": "full",
        "tasks": ["sentiment", "translation"],
        "threads": 1,
        "cache": False,
        "output_dir": str(root / name / "reports"),
        "models_dir": str(root / name / "runs"),
        "train": {
            "max_steps": 6,
            "batch_size": batch_size,
            "eval_every": 3,
            "logging_steps": 1,
            "patience": 0,
        },
        "eval": {"limit": 10, "batch_size": 4},
        "data": {
            "sentiment": {"train": {"path": str(tasks / "sentiment" / "train.jsonl"), "limit": 80}},
            "translation": {"train": {"path": str(tasks / "translation" / "train.jsonl"), "limit": 40}},
        },
    }
    return write_config(root / f"{name}.toml", settings)


def only_run(root: Path) -> tuple[Path, dict, list[dict]]:
    runs = [p for p in (root / "reports").iterdir() if p.is_dir()]  # beside them: the run index
    assert len(runs) == 1, runs
    run_dir = runs[0]
    names = {p.name for p in run_dir.iterdir()}
    assert {"results.json", "samples.jsonl", "report.md", "report.html"} <= names, names
    assert not [n for n in names if n.startswith(".")], names  # no temporary files left behind
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    samples = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    return run_dir, results, samples


def metrics(results: dict, phase: str) -> dict:
    return {
        (task, name): entry[phase]
        for task, data in results["tasks"].items()
        for name, entry in data["metrics"].items()
    }


@pytest.mark.slow
def test_torchrun_two_processes_matches_one(tmp_path, tiny_model_dir, write_config, run_harness):
    def config(name: str, batch_size: int) -> str:
        return str(write_run_config(write_config, tiny_model_dir, tmp_path, name, batch_size))

    out = run_harness("run", "-q", "-c", config("ddp", B), processes=2)
    assert out.count("results:") == 1, out  # the console summary is printed by rank 0 only
    run_harness("run", "-q", "-c", config("single", 2 * B))
    run_harness("eval", "-q", "-c", config("ddp_eval", B), processes=2)

    run_dir, got, got_samples = only_run(tmp_path / "ddp")
    _, expected, expected_samples = only_run(tmp_path / "single")
    _, evaluated, evaluated_samples = only_run(tmp_path / "ddp_eval")

    # one run, written once, by rank 0, under the id every rank agreed on
    (models,) = (tmp_path / "ddp" / "runs").iterdir()
    assert models.name == run_dir.name == got["run_id"]
    assert sorted(p.name for p in models.iterdir()) == ["model", "run_state.json"]  # checkpoints removed
    assert (models / "model" / "model.safetensors").is_file()
    state = json.loads((models / "run_state.json").read_text(encoding="utf-8"))
    assert state["phase"] == "done"
    assert got["distributed"]["world_size"] == 2 and got["distributed"]["backend"] == "gloo"
    assert got["distributed"]["global_train_batch_size"] == 2 * B
    assert expected["distributed"]["world_size"] == 1
    assert evaluated["distributed"]["world_size"] == 2 and evaluated["mode"] == "eval"

    # before: sharded + gathered evaluation == one process, example by example
    assert len(got_samples) == len(expected_samples) == 20
    for ours, theirs, evals in zip(got_samples, expected_samples, evaluated_samples, strict=True):
        assert ours["id"] == theirs["id"] == evals["id"]
        assert ours["prompt"] == theirs["prompt"]
        assert ours["prediction_before"] == theirs["prediction_before"] == evals["prediction_before"]
        for choice, value in (theirs.get("choice_logprobs_before") or {}).items():
            assert ours["choice_logprobs_before"][choice] == pytest.approx(value, rel=1e-6, abs=0)
            assert evals["choice_logprobs_before"][choice] == pytest.approx(value, rel=1e-6, abs=0)
    assert metrics(got, "before") == metrics(expected, "before") == metrics(evaluated, "before")
    assert len({s["prediction_before"] for s in expected_samples if s["task"] == "translation"}) > 5  # varied

    # training: the same global batches, so the same trajectory up to fp reduction order
    train, single = got["training"], expected["training"]
    assert train["steps"] == single["steps"] == 6
    assert [e["step"] for e in train["loss_history"]] == [e["step"] for e in single["loss_history"]]
    for ours, theirs in zip(train["loss_history"], single["loss_history"], strict=True):
        assert ours["loss"] == pytest.approx(theirs["loss"], rel=5e-7, abs=0)
        assert ours["epoch"] == theirs["epoch"]  # an epoch is len / (B x 2) steps under DDP
    assert train["tokens"]["real"] == single["tokens"]["real"]  # counted on every rank, summed
    assert train["dev_history"] == single["dev_history"] and len(single["dev_history"]) == 2

    # after: greedy predictions of weights equal up to that rounding
    assert [s["prediction_after"] for s in got_samples] == [s["prediction_after"] for s in expected_samples]
    assert metrics(got, "after") == metrics(expected, "after")


def test_single_process_helpers_are_trivial():
    from harness import distributed

    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    assert distributed.gather_object({"a": 1}) == [{"a": 1}]
    assert distributed.broadcast_object("run-id") == "run-id"
    assert distributed.sum_ints([3, 4]) == [3, 4]
    distributed.barrier()
    assert distributed.init_if_launched("cpu") is False
    assert distributed.info()["world_size"] == 1


def test_default_threads_share_the_cores_between_the_local_ranks(monkeypatch):
    from harness import distributed
    from harness.models import device

    monkeypatch.setattr(device, "available_cores", lambda: 16)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert device.default_threads() == 16
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "3")
    assert distributed.local_world_size() == 3 and device.default_threads() == 5
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "32")
    assert device.default_threads() == 1
    assert not hasattr(distributed, "default_threads")


def test_engine_keys_pass_through_only_when_set():
    from harness.config import Config, TrainConfig
    from harness.config_loader import load_config
    from harness.training import engine_arguments

    default = load_config(REPO / "configs" / "default.toml")
    assert engine_arguments(default.train) == {}
    # passed through as set (validation rejects fsdp with deepspeed, and deepspeed when it is not
    # installed: tests/test_bad_inputs.py)
    config = Config(
        train=TrainConfig(
            fsdp="full_shard auto_wrap",
            fsdp_config={"transformer_layer_cls_to_wrap": ["LlamaDecoderLayer"]},
            deepspeed="ds.json",
        )
    )
    assert engine_arguments(config.train) == {
        "fsdp": "full_shard auto_wrap",
        "fsdp_config": {"transformer_layer_cls_to_wrap": ["LlamaDecoderLayer"]},
        "deepspeed": "ds.json",
    }
