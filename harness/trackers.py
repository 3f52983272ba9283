"""Trackers (``train.report_to``): which names transformers integrates, checked before any model
work. The Trainer's own integrations log while training; the final before/after table is written
with the reports (:func:`harness.reports.tracking.log_final_results`). Importing this module
imports no tracker and no torch."""

from __future__ import annotations

from harness.errors import HarnessError, did_you_mean

# the trackers transformers integrates, and the module each needs installed
TRACKERS = {
    "tensorboard": ("tensorboard", "tensorboardX"),
    "mlflow": ("mlflow",),
    "wandb": ("wandb",),
    "comet_ml": ("comet_ml",),
    "clearml": ("clearml",),
    "dvclive": ("dvclive",),
    "neptune": ("neptune",),
    "trackio": ("trackio",),
    "swanlab": ("swanlab",),
    "codecarbon": ("codecarbon",),
}


def check_trackers(names: list[str]) -> None:
    """Each ``train.report_to`` name is a tracker transformers knows, and installed (checked
    without importing it, before any model work)."""
    import importlib.util

    for name in names:
        if name not in TRACKERS:
            raise HarnessError(
                f"config: train.report_to: unknown tracker {name!r} (one of {', '.join(TRACKERS)})"
                f"{did_you_mean(name, list(TRACKERS))}"
            )
        if not any(importlib.util.find_spec(module) for module in TRACKERS[name]):
            raise HarnessError(
                f"config: train.report_to: {name!r} is not installed (pip install {TRACKERS[name][0]})"
            )
