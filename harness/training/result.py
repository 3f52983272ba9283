"""What training did, for results.json: :class:`TrainResult`, filled from the Trainer's state."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.training.dev import SCORE_KEY, SELECTION_KEY, DevSet, scores_in, weights


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
    best_step: int | None = None  # the kept checkpoint's step and dev score (None: the last weights kept)
    best_score: float | None = None
    stopped_early: bool = False
    stop_reason: str = ""  # when and why training stopped, one sentence
    kept: str = ""  # which weights were kept and by how much they beat the last evaluation, one sentence
    last_step: int | None = None  # the last dev evaluation's step and selection score
    last_score: float | None = None
    noise_margin: float | None = None  # dev-score differences below this are noise (dev.noise_margin)
    dev_weights: dict[str, float] = field(default_factory=dict)  # task -> share of the selection score
    warnings: list[str] = field(default_factory=list)  # for the terminal and the report
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
    """The dev evaluations: step, epoch, each task's score, the aggregate and the selection score."""
    rows = []
    for entry in log_history:
        if f"eval_{SCORE_KEY}" in entry:
            row = {"step": entry["step"], "epoch": round(entry.get("epoch") or 0, 3)}
            row.update({t.name: entry[f"eval_{t.name}"] for t in dev.tasks if f"eval_{t.name}" in entry})
            row["aggregate"] = entry[f"eval_{SCORE_KEY}"]
            row["selection"] = entry.get(f"eval_{SELECTION_KEY}", row["aggregate"])
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


def stop_reason(steps: int, max_steps: int, patience: int, margin: float, select: bool, dev) -> str:
    """When and why training stopped, one sentence."""
    if steps < max_steps:
        return (
            f"stopped early at step {steps} of {max_steps}: the last {patience} dev evaluations all "
            f"scored more than the noise margin ({margin:.4f}) below the best"
        )
    if dev is None:
        why = "no dev split, no early stopping"
    elif not select:
        why = "select_by = last: no early stopping"
    elif patience <= 0:
        why = "train.patience = 0: no early stopping"
    else:
        why = f"never {patience} dev evaluations in a row more than {margin:.4f} below the best"
    return f"ran all {max_steps} steps ({why})"


def kept_weights(steps: int, evaluations: list[tuple[int, float]], best_step, kept_step, margin) -> str:
    """Which weights were kept and why, against the last dev evaluation and the best, one sentence.

    :param best_step: the best checkpoint's step (by selection score); ``kept_step``: the kept one
        (:func:`harness.training.dev.kept_step`), None when the last weights were kept unselected.
    """
    if kept_step is None or not evaluations:
        return f"kept the last weights (step {steps})"
    scores = dict(evaluations)
    last_step, last_score = evaluations[-1]
    if kept_step == last_step and best_step in (None, last_step):
        return f"kept the last checkpoint (step {last_step}), the best on dev ({last_score:.4f})"
    gain = scores[best_step] - last_score
    if kept_step == last_step:
        kept = f"kept the last checkpoint (step {last_step}, dev {last_score:.4f})"
        best = f"the best, step {best_step} (dev {scores[best_step]:.4f})"
        if gain <= 0:  # ranked first by its selection score, but no higher on dev than the last
            return f"{kept}: {best}, is not above it"
        return f"{kept}: {best}, is {gain:.4f} above it, within the noise margin ({margin:.4f})"
    return (
        f"kept the checkpoint of step {best_step} (dev {scores[best_step]:.4f}): {gain:.4f} above the "
        f"last evaluation (step {last_step}, {last_score:.4f}), more than the noise margin ({margin:.4f})"
    )


def selection_warnings(evaluations: list[tuple[int, float]], margin: float, select: bool) -> list[str]:
    """A warning when the dev scores of all checkpoints lie within the noise margin of each other."""
    scores = [score for _, score in evaluations]
    if not select or len(scores) < 2 or max(scores) - min(scores) > margin:
        return []
    return [
        f"all {len(scores)} dev evaluations lie within the noise margin ({margin:.4f}) of each other: "
        "the dev split cannot tell the checkpoints apart (use a larger train.dev_size)"
    ]


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
    kept_step: int | None = None,
    patience: int = 0,
    margin: float = 0.0,
    trainable_parameters: int,
    output_dir: str,
    duration: float,
    resumed_from: str | None,
) -> TrainResult:
    """Fill a :class:`TrainResult` from the Trainer's final ``state`` (a ``TrainerState``).

    :param select: whether the kept model was chosen by dev score (else: the last weights), and
        ``kept_step`` the step it was chosen at (:func:`harness.training.dev.kept_step`).
    :param patience: the early-stopping patience used (0: none); ``margin``: the noise margin.
    """
    losses = loss_history(state.log_history)
    evaluations = scores_in(state.log_history)
    best_step = kept_step if select else None
    best_score = dict(evaluations).get(best_step) if select else None  # dev score, not selection score
    select_by = train_cfg.select_by if dev else "last"
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
        select_by=select_by,
        best_step=best_step,
        best_score=best_score,
        stopped_early=state.global_step < state.max_steps,
        stop_reason=stop_reason(state.global_step, state.max_steps, patience, margin, select, dev),
        kept=kept_weights(state.global_step, evaluations, state.best_global_step, best_step, margin),
        last_step=evaluations[-1][0] if evaluations else None,
        last_score=evaluations[-1][1] if evaluations else None,
        noise_margin=margin if select else None,
        dev_weights={name: round(w, 4) for name, w in weights(dev, select_by).items()} if dev else {},
        warnings=selection_warnings(evaluations, margin, select),
        max_steps=state.max_steps,
        tokens=token_counts(counter, batching),
        lora_modules=lora_modules,
        resumed_from=resumed_from,
    )
