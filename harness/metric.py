"""The metric model: a named scoring function and what it returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MetricResult:
    """What a metric computes over a set of predictions.

    :param score: the corpus-level score (for BLEU, the corpus BLEU; for ROUGE, the mean F1).
    :param per_example: one score per example where the metric has them (``None`` for
        corpus-only metrics such as BLEU).
    :param settings: anything that changes the numbers (tokenizer, stemmer, signature).
    """

    score: float
    per_example: list[float] | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Metric:
    """A metric: ``compute(predictions, references) -> MetricResult``.

    ``references[i]`` is the tuple of acceptable references for ``predictions[i]``.
    """

    name: str
    compute: Callable[[Sequence[str], Sequence[Sequence[str]]], MetricResult]
    higher_is_better: bool = True
    description: str = ""
