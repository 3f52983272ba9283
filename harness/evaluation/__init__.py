"""Evaluation: predictions (:mod:`.predictions`: greedy generation in :mod:`.generation`, or the
likeliest of a task's choices in :mod:`.loglik`), then scores (:mod:`.scoring`), the cached baseline
(:mod:`.cache`) and the before/after statistics (:mod:`.stats`)."""

from harness.evaluation.generation import generate
from harness.evaluation.loglik import best_choice, choice_logprobs
from harness.evaluation.predictions import Predictions, predict, predict_sharded
from harness.evaluation.scoring import TaskEvaluation, evaluate_task, score, scored

__all__ = [
    "Predictions",
    "TaskEvaluation",
    "best_choice",
    "choice_logprobs",
    "evaluate_task",
    "generate",
    "predict",
    "predict_sharded",
    "score",
    "scored",
]
