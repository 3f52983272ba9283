"""What training did, for results.json: :class:`TrainResult`, filled from the Trainer's state."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.training.dev import SCORE_KEY, DevSet


@dataclass
class TrainResult:
    """What training did, for results.json."""

    method: str
    steps: int
    epochs: float
    train_examples: int
    final_loss: float | None
    trainable_parameters: int
    output_dir: str
    duration: float
    loss_history: list[dict] = field(default_factory=list)
    dev_history: list[dict] = field(default_factory=list)
    dev_metrics: dict[str, str] = field(default_factory=dict)  # task -> primary metric on the dev split
    dev_examples: dict[str, int] = field(default_factory=dict)
    select_by: str = "mean"
    best_step: int | None = None
    best_score: float | None = None
    stopped_early: bool = False
    max_steps: int = 0
    tokens: dict = field(default_factory=dict)  # real / padded token counts and throughput
    lora_modules: list[str] | None = None  # module names that got adapters (LoRA only)
    resumed_from: str | None = None


def loss_history(log_history: list[dict]) -> list[dict]:
    """The logged training losses: step, epoch (3 decimals) and loss."""
    return [
        {"step": e["step"], "epoch": round(e.get("epoch") or 0, 3), "loss": float(e["loss"])}
        for e in log_history
        if "loss" in e
    ]


def dev_history(log_history: list[dict], dev: DevSet | None) -> list[dict]:
    """The dev evaluations: step, epoch, each task's score and the aggregate."""
    rows = []
    for entry in log_history:
        if f"eval_{SCORE_KEY}" in entry:
            row = {"step": entry["step"], "epoch": round(entry.get("epoch") or 0, 3)}
            row.update({t.name: entry[f"eval_{t.name}"] for t in dev.tasks if f"eval_{t.name}" in entry})
            row["aggregate"] = entry[f"eval_{SCORE_KEY}"]
            rows.append(row)
    return rows


def token_counts(counter, batching) -> dict:
    """Real and padded tokens trained on, throughput, and how batches were built.

    :param counter: the run's :class:`harness.training.trainer.TokenCounter`.
    :param batching: the run's :class:`harness.training.batching.Batching`.
    """
    return {
        "real": counter.real,
        "total": counter.total,
        "padding_fraction": round(1 - counter.real / counter.total, 4) if counter.total else None,
        "real_per_second": round(counter.real / counter.seconds, 1) if counter.seconds else None,
        "train_step_seconds": round(counter.seconds, 3),
        "batching": batching.name,
        # why padding-free batching was not used although train.padding_free is true
        "padding_free_fallback": batching.fallback,
    }


def train_result(
    state,
    counter,
    batching,
    *,
    method: str,
    lora_modules: list[str] | None,
    train_cfg,
    train_examples: int,
    dev: DevSet | None,
    select: bool,
    trainable_parameters: int,
    output_dir: str,
    duration: float,
    resumed_from: str | None,
) -> TrainResult:
    """Fill a :class:`TrainResult` from the Trainer's final ``state`` (a ``TrainerState``).

    :param select: whether the kept model was chosen by dev score (else: the last weights).
    """
    losses = loss_history(state.log_history)
    return TrainResult(
        method=method,
        steps=state.global_step,
        epochs=train_cfg.epochs,
        train_examples=train_examples,
        final_loss=losses[-1]["loss"] if losses else None,
        trainable_parameters=trainable_parameters,
        output_dir=output_dir,
        duration=duration,
        loss_history=losses,
        dev_history=dev_history(state.log_history, dev),
        dev_metrics={t.name: t.primary_metric for t in dev.tasks} if dev else {},
        dev_examples={t.name: len(dev.examples.get(t.name, [])) for t in dev.tasks} if dev else {},
        select_by=train_cfg.select_by if dev else "last",
        best_step=state.best_global_step if select else None,
        best_score=state.best_metric if select else None,
        stopped_early=state.global_step < state.max_steps,
        max_steps=state.max_steps,
        tokens=token_counts(counter, batching),
        lora_modules=lora_modules,
        resumed_from=resumed_from,
    )
