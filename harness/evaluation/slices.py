"""Per-slice comparisons: a task whose data names a ``slice_field`` (e.g. ``domain``) gets, for
each value of it, the primary metric before and after on that slice's examples, the delta with
its confidence interval and paired p-value (the same statistics as the whole task,
:func:`harness.evaluation.stats.compare`, on the slice's examples), and how many of them tuning
fixed or broke. The slices' verdicts, with the false-discovery rate controlled across every task's
slices, are :mod:`harness.decisions.slices`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.config import Config
from harness.evaluation.stats import compare
from harness.metrics import Metric, MetricResult


def subset(metric: Metric, result: MetricResult, indices: Sequence[int]) -> MetricResult | None:
    """``result`` restricted to the examples at ``indices``: the score recomputed from their
    sufficient statistics (BLEU, chrF) or the mean of their per-example scores; ``None`` for a
    result that has neither."""
    rows = list(indices)
    stats = [result.stats[i] for i in rows] if result.stats is not None else None
    per_example = [result.per_example[i] for i in rows] if result.per_example is not None else None
    if stats is not None and metric.from_stats is not None:
        summed = np.asarray(stats, dtype=np.float64).sum(axis=0, keepdims=True)
        score = float(np.asarray(metric.from_stats(summed)).reshape(-1)[0])
    elif per_example is not None:
        score = float(np.mean(per_example))
    else:
        return None
    return MetricResult(score=score, per_example=per_example, settings=result.settings, stats=stats)


def slice_entries(
    metric: Metric,
    slices: Sequence[str],
    before: MetricResult,
    after: MetricResult | None = None,
    *,
    seed: int = 0,
    n_resamples: int = 1000,
    alpha: float = 0.05,
) -> dict[str, dict] | None:
    """``{slice value: entry}`` in sorted order, for the examples' ``slices`` (one value per
    example, aligned with the results); ``None`` when the metric's results cannot be cut. An
    entry holds ``n``, ``before``, ``after``, ``delta`` and, with an ``after``, the paired
    statistics (``delta_ci``, ``p_value``, ``test``) and ``fixed`` / ``broken``: examples whose
    per-example score got better / worse (where the metric has per-example scores)."""
    groups: dict[str, list[int]] = {}
    for index, value in enumerate(slices):
        groups.setdefault(value, []).append(index)
    entries = {}
    for value in sorted(groups):
        rows = groups[value]
        b = subset(metric, before, rows)
        a = subset(metric, after, rows) if after is not None else None
        if b is None or (after is not None and a is None):
            return None
        entry = {"n": len(rows), "before": b.score, "after": None if a is None else a.score}
        entry["delta"] = None if a is None else a.score - b.score
        if a is not None:
            paired = compare(metric, None, b, a, seed=seed, n_resamples=n_resamples, alpha=alpha)
            entry.update({k: paired[k] for k in ("delta_ci", "p_value", "test") if k in paired})
            if b.per_example is not None and a.per_example is not None:
                sign = 1.0 if metric.higher_is_better else -1.0
                moves = [sign * (y - x) for x, y in zip(b.per_example, a.per_example, strict=True)]
                entry["fixed"] = sum(m > 0 for m in moves)
                entry["broken"] = sum(m < 0 for m in moves)
        entries[value] = entry
    return entries


def slices_entry(
    field: str,
    name: str,
    metric: Metric,
    slices: Sequence[str],
    before: MetricResult,
    after: MetricResult | None,
    config: Config,
) -> dict:
    """A task's results.json ``slices`` entry: its slice ``field``, the metric ``name`` (the
    task's primary) and :func:`slice_entries` under ``config.stats`` and ``config.seed`` as
    ``values``. The cycle and ``harness rescore`` both build it here, so a rescore reproduces it.
    ``values`` is ``None`` when the metric's results cannot be cut (neither per-example scores nor
    sufficient statistics)."""
    values = slice_entries(
        metric,
        slices,
        before,
        after,
        seed=config.seed,
        n_resamples=config.stats.n_resamples,
        alpha=config.stats.alpha,
    )
    return {"field": field, "metric": name, "values": values}
