"""Scoring: a task's metrics on predictions already made (no model needed), and the evaluation
record that pairs the two."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.evaluation.predictions import Predictions, predict
from harness.metrics import Metric, MetricResult
from harness.tasks import Example, Task


@dataclass
class TaskEvaluation:
    """Predictions and scores of one model on one task's test split.

    ``choice_logprobs`` (log-likelihood scoring only) holds, per example, the summed
    log-probability of each choice's tokens (EOS included) after the prompt, keyed by choice.
    """

    task: Task
    prompts: list[str]
    predictions: list[str]
    scores: dict[str, MetricResult]
    scoring: str = "generate"  # "generate" | "loglik": how the predictions were made
    choice_logprobs: list[dict[str, float]] | None = None


def score(task: Task, metrics: dict[str, Metric], examples: Sequence[Example], predictions: Sequence[str]):
    """Every metric of ``task`` on the predictions, keyed by metric name."""
    references = [example.references for example in examples]
    return {name: metrics[name].compute(list(predictions), references) for name in task.metrics}


def scored(
    task: Task, metrics: dict[str, Metric], examples: Sequence[Example], predictions: Predictions
) -> TaskEvaluation:
    """``predictions`` of ``task`` with every metric of the task computed on them."""
    scores = score(task, metrics, examples, predictions.predictions)
    return TaskEvaluation(
        task,
        predictions.prompts,
        predictions.predictions,
        scores,
        predictions.scoring,
        predictions.choice_logprobs,
    )


def evaluate_task(
    model,
    tokenizer,
    task: Task,
    examples: Sequence[Example],
    metrics: dict[str, Metric],
    template: str,
    batch_size: int,
    on_batch: Callable[[int], None] | None = None,
) -> TaskEvaluation:
    """Predict an answer for each example of ``task`` with ``model`` (the Hugging Face backend,
    :func:`~.predictions.predict`) and score it."""
    from harness.evaluation.hf_backend import HFBackend

    predictions = predict(HFBackend(model, tokenizer), task, examples, template, batch_size, on_batch)
    return scored(task, metrics, examples, predictions)
