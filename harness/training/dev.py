"""The dev evaluation during training: each trained task's primary metric on its dev split, the
one number checkpoints are chosen by, and when those numbers say to stop.

Dev-score aggregation (``select_by = "mean"``): the mean over trained tasks of each task's primary
metric, normalised to 0-1 first (:meth:`harness.metrics.Metric.normalised`: divided by the
metric's ``scale``, negated when lower is better).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.tasks import Example, Task

SCORE_KEY = "dev_score"  # the aggregate, as stored by the Trainer (eval_dev_score) in log_history


@dataclass
class DevSet:
    """What the dev evaluation during training needs."""

    tasks: list[Task]
    examples: dict[str, list[Example]]
    metrics: dict  # metric name -> Metric
    batch_size: int = 32

    def has_examples(self) -> bool:
        """True when at least one task has dev examples to evaluate on."""
        return any(self.examples.get(task.name) for task in self.tasks)


def dev_scores(model, tokenizer, dev: DevSet, template: str) -> dict[str, float]:
    """The primary metric of each dev task (greedy generation, as in the final evaluation).

    With several ranks the examples are sharded (:func:`harness.evaluation.predict_sharded`)
    and every rank gets rank 0's scores; all ranks must call this together.
    """
    from harness import distributed
    from harness.evaluation import predict_sharded

    scores = {}
    for task in dev.tasks:
        examples = dev.examples[task.name]
        predictions = predict_sharded(model, tokenizer, task, examples, template, dev.batch_size)
        if predictions is not None:
            metric = dev.metrics[task.primary_metric]
            result = metric.compute(predictions.predictions, [e.references for e in examples])
            scores[task.name] = float(result.score)
    return distributed.broadcast_object(scores)


def aggregate(scores: dict[str, float], dev: DevSet, select_by: str) -> float:
    """The number the best checkpoint is chosen by: one task's or the mean normalised score."""
    by_task = {task.name: task for task in dev.tasks}
    names = list(scores) if select_by in ("mean", "last") else [select_by]
    values = [dev.metrics[by_task[n].primary_metric].normalised(scores[n]) for n in names]
    return sum(values) / len(values)


def patience_exhausted(log_history: list[dict], patience: int) -> bool:
    """True when the last ``patience`` dev evaluations did not beat the best before them."""
    scores = [entry[f"eval_{SCORE_KEY}"] for entry in log_history if f"eval_{SCORE_KEY}" in entry]
    if patience <= 0 or not scores:
        return False
    best_index = len(scores) - 1 - scores[::-1].index(max(scores))  # a tie counts as the newer best
    return len(scores) - 1 - best_index >= patience
