"""Trackers and live progress: ``train.report_to`` reaches the Trainer (TensorBoard event files
hold the training loss, the dev scores and the final before/after table), a tracker that is
unknown or not installed is a one-line error before any model work, and the progress a run
reports carries the loss and learning rate and keeps moving during dev evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest

import harness
from harness.errors import HarnessError
from harness.trackers import check_trackers


class Recorder:
    """A :class:`harness.Progress` that records every ``advance``."""

    def __init__(self):
        self.advances: list[tuple[str, int, dict]] = []

    def start(self, key: str, description: str, total: int | None = None) -> None:
        pass

    def advance(self, key: str, amount: int = 1, **fields: object) -> None:
        self.advances.append((key, amount, fields))

    def finish(self, key: str) -> None:
        pass


@pytest.fixture(scope="module")
def tensorboard_run(tmp_path_factory, run_config, echo_plugin):
    """One run reporting to TensorBoard: 2 epochs of 4 steps, the loss logged every step, a dev
    evaluation every 2 steps; returns (results, logs folder, recorded progress)."""
    pytest.importorskip("tensorboard")
    root = tmp_path_factory.mktemp("trackers")
    plugin = echo_plugin(root, n_test=8, n_train=40)
    config = run_config(root, plugin, epochs=2, method="auto")
    config.eval.batch_size = 4
    config.train.logging_steps, config.train.eval_every, config.train.dev_size = 1, 2, 8
    config.train.report_to = ["tensorboard"]
    recorder = Recorder()
    results, _ = harness.run(config, progress=recorder)
    return results, root / "runs" / results["run_id"] / "logs", recorder


def _scalars(logs: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    found: dict[str, list[tuple[int, float]]] = {}
    for events in logs.rglob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            found.setdefault(tag, []).extend((e.step, e.value) for e in accumulator.Scalars(tag))
    return found


def test_tensorboard_gets_loss_dev_scores_and_the_final_table(tensorboard_run):
    results, logs, _ = tensorboard_run
    scalars = _scalars(logs)
    training = results["training"]
    loss = sorted(scalars["train/loss"])
    assert [step for step, _ in loss] == list(range(1, training["steps"] + 1))
    assert loss[-1][1] == pytest.approx(training["loss_history"][-1]["loss"], rel=1e-5)
    assert "train/learning_rate" in scalars
    dev = sorted(scalars["eval/echo"])
    assert [step for step, _ in dev] == [h["step"] for h in training["dev_history"]]
    assert [v for _, v in dev] == pytest.approx([h["echo"] for h in training["dev_history"]], rel=1e-6)
    metric = results["tasks"]["echo"]["metrics"]["exact_match"]
    for key in ("before", "after", "delta"):
        ((step, value),) = scalars[f"final/echo/exact_match/{key}"]
        assert step == training["steps"] and value == pytest.approx(metric[key], abs=1e-6)


def test_progress_has_loss_and_lr_and_moves_during_dev_evaluation(tensorboard_run):
    results, _, recorder = tensorboard_run
    train = [(amount, fields) for key, amount, fields in recorder.advances if key == "train"]
    assert sum(amount for amount, _ in train) == results["training"]["steps"]
    assert all("learning_rate" in fields for _, fields in train)
    assert all("loss" in fields for _, fields in train[1:])  # logged after the first step's report
    dev = [fields["dev_eval"] for amount, fields in train if "dev_eval" in fields]
    per_evaluation = [f"{n}/8" for n in (4, 8)]  # 8 dev examples in batches of 4
    assert dev == per_evaluation * len(results["training"]["dev_history"])
    assert all(amount == 0 for amount, fields in train if "dev_eval" in fields)


def test_unknown_or_missing_tracker_is_one_clear_line(monkeypatch):
    with pytest.raises(HarnessError, match=r"unknown tracker 'tensorbord'.*did you mean 'tensorboard'"):
        check_trackers(["tensorbord"])
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "wandb" else real(name))
    with pytest.raises(HarnessError, match=r"'wandb' is not installed \(pip install wandb\)"):
        check_trackers(["wandb"])
