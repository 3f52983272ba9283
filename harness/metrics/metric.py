"""The metric contract: a named scoring function, what it returns, and what the harness must
know to compare and aggregate its scores (direction, scale, 0/1 per-example scores)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError


@dataclass(frozen=True)
class MetricResult:
    """What a metric computes over a set of predictions.

    :param score: the corpus-level score (for BLEU, the corpus BLEU; for ROUGE, the mean F1).
    :param per_example: one score per example where the metric has them (``None`` for
        corpus-only metrics such as BLEU).
    :param settings: anything that changes the numbers (tokenizer, stemmer, signature).
    :param stats: optional per-example *sufficient statistics* (one row per example, same
        width for every row) that add up over examples, so that the corpus score of any
        subset or resample is ``Metric.from_stats(sum of its rows)``; for BLEU, n-gram
        matches/totals and lengths. Used by :mod:`harness.evaluation.stats` for bootstrap resampling of
        metrics that are not a mean of per-example scores (BLEU, chrF, macro F1).
    """

    score: float
    per_example: list[float] | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    stats: list[list[float]] | None = None


@dataclass(frozen=True)
class Metric:
    """A metric: ``compute(predictions, references) -> MetricResult``.

    ``predictions`` is a list of strings; ``references[i]`` is the *tuple* of acceptable
    references for ``predictions[i]`` (one element for most data).

    :param higher_is_better: the direction of improvement (verdicts, checkpoint selection).
    :param scale: the score of a perfect prediction set: 1.0 for scores in [0, 1] (ROUGE,
        accuracy), 100.0 for sacrebleu's BLEU and chrF. Scores are divided by it wherever
        tasks are averaged (dev-based checkpoint selection).
    :param from_stats: for metrics whose results carry ``stats``: vectorised
        ``(n_resamples, n_stats)`` array of *summed* statistics -> ``(n_resamples,)`` array of
        corpus scores. ``from_stats(sum of all rows)`` equals ``MetricResult.score``.
    :param binary: the per-example scores are 0/1 correctness (accuracy-type), so a
        before/after comparison uses McNemar's exact test instead of the paired bootstrap.
    """

    name: str
    compute: Callable[[Sequence[str], Sequence[Sequence[str]]], MetricResult]
    higher_is_better: bool = True
    description: str = ""
    from_stats: Callable[[Any], Any] | None = None
    binary: bool = False
    scale: float = 1.0

    def normalised(self, value: float) -> float:
        """``value`` on a 0-1, higher-is-better scale: divided by :attr:`scale`, negated when
        lower is better."""
        value = value / self.scale
        return value if self.higher_is_better else -value

    def checked(self, source: str = "") -> Metric:
        """This metric with a ``compute`` that checks what it returns (a :class:`MetricResult`
        with a numeric score and, where given, one per-example score and stats row per
        prediction) and turns a crash into one line naming the metric and ``source`` (its
        plugin); the original traceback stays attached for ``--debug``."""
        compute, name = self.compute, self.name
        where = f"metric {name!r}" + (f" (from {source})" if source else "")

        def checked_compute(predictions, references):
            try:
                result = compute(predictions, references)
            except HarnessError:
                raise
            except Exception as exc:
                text = str(exc).strip().splitlines()
                raise HarnessError(
                    f"{where} failed: {type(exc).__name__}: {text[0] if text else '(no message)'}"
                ) from exc
            _check_result(result, len(predictions), where)
            return result

        functools.update_wrapper(checked_compute, compute)  # keeps the function's own name (cache keys)
        for attribute in ("func", "args"):  # a functools.partial's, which the baseline cache reads
            if hasattr(compute, attribute):
                setattr(checked_compute, attribute, getattr(compute, attribute))
        return dataclasses.replace(self, compute=checked_compute)


def _check_result(result, n: int, where: str) -> None:
    if not isinstance(result, MetricResult):
        raise HarnessError(f"{where} returned {type(result).__name__}, not a MetricResult")
    if isinstance(result.score, bool) or not isinstance(result.score, (int, float)):
        raise HarnessError(f"{where}: MetricResult.score is {result.score!r}, not a number")
    for field_name in ("per_example", "stats"):
        values = getattr(result, field_name)
        if values is not None and len(values) != n:
            raise HarnessError(
                f"{where}: MetricResult.{field_name} has {len(values)} entries for {n} predictions"
            )
