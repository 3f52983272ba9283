"""The dev evaluation during training: each trained task's primary metric on its dev split, the
numbers checkpoints are chosen by, and when those numbers say to stop.

Dev score (``select_by = "mean"``): the pooled per-example mean. Each task's primary metric is
normalised to 0-1 (:meth:`harness.metrics.Metric.normalised`: divided by the metric's ``scale``,
negated when lower is better) and weighted by its number of dev examples,
``sum(n_t * s_t) / sum(n_t)``; for accuracy this is exactly the accuracy over all dev examples
pooled. A task's dev score is a mean over its ``n_t`` examples, so its variance falls as
``1 / n_t``: weighting by ``n_t`` is inverse-variance weighting when the tasks' per-example
spreads are alike, and a 6-example task no longer counts as much as a 300-example one. Tasks with
equal dev splits (the built-in ones) get equal weights: the plain mean. ``select_by = "<task>"``
uses that task's score alone.

Noise margin: two evaluations on the same ``N`` dev examples differ by the mean of ``N``
per-example differences, each in [-1, 1] (scores normalised to 0-1), so the standard error of
their difference is at most ``1 / sqrt(N)`` (a variance of at most 1 per example); with the
weights above the same bound holds for the pooled score over all ``N`` dev examples. Differences
smaller than that are treated as noise: 0.13 for the built-in tasks' 3 x 20 dev examples.

Early stopping (``train.patience``): training stops when the last ``patience`` evaluations all
scored more than the noise margin below the best dev score. A lucky evaluation (a small dev
set's spike) therefore cannot stop training while later scores stay within noise of it; a steady
decline or a clear plateau below an earlier best does.

The best checkpoint: the one with the best *selection score* (a tie goes to the newer one): its
dev score, or the mean of its dev score and the previous evaluation's when that is lower
(:func:`selection_score`). A rise counts in full once the next evaluation confirms it, a lone
spike (one lucky evaluation of any task) only by half; steadily rising scores keep the last
checkpoint, and a checkpoint whose own score fell is never credited with its predecessor's.

The kept checkpoint (:func:`kept_step`): the last one, unless the best one's dev score beats the
last evaluation's by more than the noise margin. Training ends on a decayed learning rate, so the
last weights are the ones to beat, and a dev split that cannot tell two checkpoints apart is no
reason to throw the last epochs of training away: the arg-max of scores that differ by noise
alone is chosen by luck (a small task's lucky evaluation, a few epochs before the end, decided
the kept weights for every task). A real fall (a divergence, overfitting) is beyond the margin
and keeps the best.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.tasks import Example, Task

SCORE_KEY = "dev_score"  # the aggregate, as stored by the Trainer (eval_dev_score) in log_history
SELECTION_KEY = "dev_selection"  # the selection score (eval_dev_selection) checkpoints are ranked by


@dataclass
class DevSet:
    """What the dev evaluation during training needs."""

    tasks: list[Task]
    examples: dict[str, list[Example]]
    metrics: dict  # metric name -> Metric
    batch_size: int = 32
    shots: dict = field(default_factory=dict)  # task name -> few-shot Shots, as in the final evaluation

    def has_examples(self) -> bool:
        """True when at least one task has dev examples to evaluate on."""
        return any(self.examples.get(task.name) for task in self.tasks)

    def sizes(self, select_by: str = "mean") -> dict[str, int]:
        """Dev examples of each task the selection score uses (one task for ``select_by = <task>``)."""
        names = [t.name for t in self.tasks] if select_by in ("mean", "last") else [select_by]
        return {name: len(self.examples.get(name, [])) for name in names if self.examples.get(name)}


def dev_scores(model, tokenizer, dev: DevSet, template: str, on_batch=None) -> dict[str, float]:
    """The primary metric of each dev task (greedy generation, as in the final evaluation);
    ``on_batch(n)`` after each batch of ``n`` examples this rank predicted.

    With several ranks the examples are sharded (:func:`harness.evaluation.predict_sharded`)
    and every rank gets rank 0's scores; all ranks must call this together.
    """
    from harness import distributed
    from harness.evaluation import predict_sharded
    from harness.evaluation.hf_backend import HFBackend

    backend = HFBackend(model, tokenizer)  # the model being trained is a transformers model
    scores = {}
    for task in dev.tasks:
        examples = dev.examples[task.name]
        shots = dev.shots.get(task.name)
        predictions = predict_sharded(backend, task, examples, template, dev.batch_size, on_batch, shots)
        if predictions is not None:
            metric = dev.metrics[task.primary_metric]
            result = metric.compute(predictions.predictions, [e.references for e in examples])
            scores[task.name] = float(result.score)
    return distributed.broadcast_object(scores)


def weights(dev: DevSet, select_by: str) -> dict[str, float]:
    """Each task's share of the selection score: its dev examples over all (see the module doc)."""
    sizes = dev.sizes(select_by)
    total = sum(sizes.values())
    return {name: n / total for name, n in sizes.items()} if total else {}


def aggregate(scores: dict[str, float], dev: DevSet, select_by: str) -> float:
    """The number the best checkpoint is chosen by: the dev-size weighted mean of the tasks'
    normalised scores, or one task's normalised score."""
    by_task = {task.name: task for task in dev.tasks}
    shares = {name: w for name, w in weights(dev, select_by).items() if name in scores}
    if not shares:  # no sizes known (scores given without examples): a plain mean
        shares = {name: 1.0 for name in (scores if select_by in ("mean", "last") else [select_by])}
    normalised = {n: dev.metrics[by_task[n].primary_metric].normalised(scores[n]) for n in shares}
    return sum(w * normalised[n] for n, w in shares.items()) / sum(shares.values())


def selection_score(score: float, previous: float | None) -> float:
    """``score``, or the mean of ``score`` and the ``previous`` evaluation's when that is lower."""
    return score if previous is None else min(score, (score + previous) / 2)


def noise_margin(dev: DevSet | None, select_by: str) -> float:
    """``1 / sqrt(N)`` for the ``N`` dev examples the selection score uses: an upper bound on the
    standard error of the difference between two evaluations; 0 without dev examples."""
    total = sum(dev.sizes(select_by).values()) if dev is not None else 0
    return 1 / math.sqrt(total) if total else 0.0


def kept_step(evaluations: list[tuple[int, float]], best_step: int | None, margin: float) -> int | None:
    """The step whose weights are kept, from the ``(step, dev score)`` of every evaluation: the
    best checkpoint's (``best_step``) when its dev score is more than ``margin`` above the last
    evaluation's, else the last evaluation's; None without evaluations."""
    if not evaluations:
        return None
    last_step, last_score = evaluations[-1]
    best_score = dict(evaluations).get(best_step)
    if best_score is not None and best_score - last_score > margin:
        return best_step
    return last_step


def scores_in(log_history: list[dict]) -> list[tuple[int, float]]:
    """The (step, dev score: the aggregate) of every dev evaluation in a Trainer's ``log_history``."""
    key = f"eval_{SCORE_KEY}"
    return [(entry.get("step", 0), entry[key]) for entry in log_history if key in entry]


def patience_exhausted(log_history: list[dict], patience: int, margin: float = 0.0) -> bool:
    """True when the last ``patience`` dev evaluations all scored more than ``margin`` below the best."""
    scores = [score for _, score in scores_in(log_history)]
    if patience <= 0 or len(scores) <= patience:
        return False
    floor = max(scores) - margin
    return all(score < floor for score in scores[-patience:])
