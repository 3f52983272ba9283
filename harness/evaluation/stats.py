"""Did tuning really help? Bootstrap confidence intervals and paired significance tests.

Everything here works on the per-example data a :class:`~harness.metrics.MetricResult`
carries, so no model output is ever re-scored with the metric's library:

* metrics with per-example scores whose corpus score is their mean (ROUGE, accuracy,
  exact_match) are resampled as the mean of the resampled per-example scores;
* metrics whose corpus score is not a mean (BLEU, chrF, macro F1) carry per-example
  sufficient statistics (``MetricResult.stats``) that add up over examples; a resample's
  score is ``Metric.from_stats(sum of the resampled rows)``. This is how sacrebleu's own
  significance module resamples BLEU and chrF.

Resampling: ``np.random.default_rng(seed).choice(n, size=(n_resamples, n), replace=True)``
(the same draw as ``sacrebleu.significance``), turned into a matrix of multiplicities
``counts[b, i]`` (how often example ``i`` occurs in resample ``b``), so that every resampled
score is one matrix product. The *same* matrix is used for "before" and "after": the
bootstrap is paired (each resample scores the same examples for both models).

Estimators (``B`` = number of resamples, ``δ*_b`` = after − before on resample ``b``):

* confidence intervals: percentile bootstrap, ``np.percentile`` (linear interpolation) at
  ``(1 − level)/2`` and ``(1 + level)/2``;
* paired bootstrap p-value (default, ``estimator="two-sided"``)::

      p = min(1, 2 · (min(#{δ*_b ≤ 0}, #{δ*_b ≥ 0}) + 1) / (B + 1))

  i.e. the share of resampled deltas on the other side of zero (ties count for both
  sides), doubled, with the usual +1 Monte-Carlo correction so that p is never 0. It is
  the p-value that inverts the percentile CI of the delta (Efron & Tibshirani 1993,
  ch. 15-16; Koehn 2004 counts the same "other side" share). Identical systems give
  p = 1. It is calibrated: under a true null it rejects about ``alpha`` of the time
  (~6 % at alpha = 0.05 with n = 100 in a simulation).
* ``estimator="sacrebleu"`` reproduces ``sacrebleu.significance._paired_bs_test`` exactly
  (sacrebleu 2.x, "replicates Moses' bootstrap-hypothesis-difference-significance.pl")::

      d_b = |score*_after,b − score*_before,b|;  s_b = d_b − mean(d)
      p = (#{s_b > |score_after − score_before|} + 1) / (B + 1)

  It is not the default: it behaves like a one-sided test (in the simulation above it
  rejected a true null 13 % of the time at alpha = 0.05), and it gives p = 1/(B+1) when a
  system is compared with itself.
* accuracy-type metrics (0/1 per-example scores): McNemar's exact test on the discordant
  pairs, see :func:`mcnemar_exact` (or its mid-p version, ``compare(..., mcnemar="mid-p")``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.config import Config, StatsConfig
from harness.metrics import Metric, MetricResult

ESTIMATORS = ("two-sided", "sacrebleu")
MCNEMAR_TESTS = ("exact", "mid-p")
N_RESAMPLES = StatsConfig.n_resamples
"""Default number of bootstrap resamples (``[stats] n_resamples``)."""
ALPHA = StatsConfig.alpha
"""Default significance level (``[stats] alpha``); intervals are at level ``1 - alpha``."""


# --- resampling ------------------------------------------------------------------------------


RESAMPLE_ROWS = 64  # resamples drawn at once by resample_counts


def resample_counts(n: int, n_resamples: int = N_RESAMPLES, seed: int = 0) -> np.ndarray:
    """``(n_resamples, n)`` float matrix: how often each example occurs in each resample.

    The draw is ``default_rng(seed).choice(n, size=(n_resamples, n), replace=True)``, the
    one sacrebleu's paired bootstrap makes, so the resamples are the same for the same seed.
    """
    if n < 1:
        raise ValueError("bootstrap: no examples to resample")
    if n_resamples < 1:
        raise ValueError("bootstrap: n_resamples must be at least 1")
    rng = np.random.default_rng(seed)
    counts = np.empty((n_resamples, n), dtype=np.float64)
    # drawn RESAMPLE_ROWS resamples at a time: the same numbers as one (n_resamples, n) draw (the
    # generator fills row by row), without that draw's index matrices (4x the memory of counts)
    for start in range(0, n_resamples, RESAMPLE_ROWS):
        rows = min(RESAMPLE_ROWS, n_resamples - start)
        for offset, drawn in enumerate(rng.choice(n, size=(rows, n), replace=True)):
            counts[start + offset] = np.bincount(drawn, minlength=n)
    return counts


def _n_examples(result: MetricResult) -> int | None:
    if result.stats is not None:
        return len(result.stats)
    if result.per_example is not None:
        return len(result.per_example)
    return None


def resampled_scores(metric: Metric, result: MetricResult, counts: np.ndarray) -> np.ndarray | None:
    """The metric's corpus score on every resample described by ``counts``.

    Uses ``result.stats`` with ``metric.from_stats`` when both exist, else the mean of
    ``result.per_example``; ``None`` when the result has neither (nothing to resample).
    """
    if result.stats is not None and metric.from_stats is not None:
        stats = np.asarray(result.stats, dtype=np.float64)
        if stats.ndim != 2 or stats.shape[0] != counts.shape[1]:
            raise ValueError(f"metric {metric.name}: stats shape {stats.shape} does not fit {counts.shape}")
        return np.asarray(metric.from_stats(counts @ stats), dtype=np.float64).reshape(-1)
    if result.per_example is not None:
        scores = np.asarray(result.per_example, dtype=np.float64)
        if scores.shape != (counts.shape[1],):
            raise ValueError(f"metric {metric.name}: {scores.size} per-example scores for {counts.shape[1]}")
        return counts @ scores / counts.shape[1]
    return None


def percentile_ci(values: np.ndarray, level: float = 1.0 - ALPHA) -> list[float]:
    """``[lo, hi]``: the percentile interval of ``values`` at ``level`` (linear interpolation)."""
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(np.asarray(values, dtype=np.float64), [tail, 100.0 - tail])
    return [float(lo), float(hi)]


def confidence_interval(
    metric: Metric,
    result: MetricResult,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    level: float = 1.0 - ALPHA,
) -> list[float] | None:
    """Percentile bootstrap CI ``[lo, hi]`` at ``level`` of the metric over examples.

    ``None`` when the result has neither per-example scores nor sufficient statistics.
    """
    n = _n_examples(result)
    if n is None:
        return None
    scores = resampled_scores(metric, result, resample_counts(n, n_resamples, seed))
    return None if scores is None else percentile_ci(scores, level)


# --- p-values ----------------------------------------------------------------------------------


def bootstrap_p_value(deltas: np.ndarray) -> float:
    """Two-sided p-value from resampled deltas: the share on the other side of zero, doubled.

    ``p = min(1, 2 * (min(#{δ ≤ 0}, #{δ ≥ 0}) + 1) / (B + 1))``; see the module docstring.
    """
    deltas = np.asarray(deltas, dtype=np.float64)
    below = int(np.count_nonzero(deltas <= 0))
    above = int(np.count_nonzero(deltas >= 0))
    return min(1.0, 2.0 * (min(below, above) + 1) / (deltas.size + 1))


def sacrebleu_p_value(before_scores: np.ndarray, after_scores: np.ndarray, observed_delta: float) -> float:
    """The p-value of ``sacrebleu.significance._paired_bs_test`` (its ``_compute_p_value``).

    ``d = |after* − before*|``; ``p = (#{d − mean(d) > |observed_delta|} + 1) / (B + 1)``.
    """
    diffs = np.abs(np.asarray(after_scores, np.float64) - np.asarray(before_scores, np.float64))
    centred = diffs - diffs.mean()
    return (int(np.count_nonzero(centred > abs(observed_delta))) + 1) / (diffs.size + 1)


def mcnemar_exact(before_correct: Sequence[float], after_correct: Sequence[float]) -> float:
    """Exact McNemar test: two-sided binomial p-value of the discordant pairs.

    ``b`` = right→wrong, ``c`` = wrong→right; under "no change" each discordant pair goes
    either way with probability 1/2, so ``p = scipy.stats.binomtest(c, b + c, 0.5).pvalue``
    (= ``min(1, 2 * P(X ≤ min(b, c)))``, X ~ Binomial(b + c, 1/2)). ``p = 1`` with no
    discordant pairs.
    """
    from scipy.stats import binomtest

    b, c = discordant_pairs(before_correct, after_correct)
    if b + c == 0:
        return 1.0
    return float(binomtest(c, b + c, 0.5, alternative="two-sided").pvalue)


def mcnemar_mid_p(b: int, c: int) -> float:
    """Mid-p McNemar test of ``b`` right→wrong and ``c`` wrong→right pairs: ``min(1, 2·(P(X ≤ k) −
    P(X = k)/2))``, ``k = min(b, c)``, ``X ~ Bin(b + c, 1/2)``; at most the exact p-value."""
    from scipy.stats import binom

    total, k = b + c, min(b, c)
    if total == 0:
        return 1.0
    return float(min(1.0, 2 * (binom.cdf(k, total, 0.5) - 0.5 * binom.pmf(k, total, 0.5))))


def discordant_pairs(before_correct: Sequence[float], after_correct: Sequence[float]) -> tuple[int, int]:
    """``(b, c)``: the examples right before and wrong after, and wrong before and right after."""
    before = np.asarray(before_correct, dtype=np.float64) > 0.5
    after = np.asarray(after_correct, dtype=np.float64) > 0.5
    if before.shape != after.shape:
        raise ValueError(f"mcnemar: {before.size} before but {after.size} after")
    return int(np.count_nonzero(before & ~after)), int(np.count_nonzero(~before & after))


def paired_bootstrap(
    metric: Metric,
    before: MetricResult,
    after: MetricResult,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    level: float = 1.0 - ALPHA,
    estimator: str = "two-sided",
) -> dict[str, Any] | None:
    """Paired bootstrap of after − before: CIs of both scores and of the delta, and a p-value.

    One resample matrix is shared by ``before`` and ``after``. ``estimator`` picks the
    p-value definition (``"two-sided"`` or ``"sacrebleu"``, see the module docstring).

    :returns: ``{"before_ci", "after_ci", "delta_ci", "delta_se", "p_value"}`` (``delta_se``:
        the standard deviation of the resampled deltas), or ``None`` when the metric has neither
        per-example scores nor sufficient statistics.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"bootstrap: unknown estimator {estimator!r}; expected one of {ESTIMATORS}")
    n, n_after = _n_examples(before), _n_examples(after)
    if n is None or n_after is None:
        return None
    if n != n_after:
        raise ValueError(f"metric {metric.name}: {n} examples before but {n_after} after")
    counts = resample_counts(n, n_resamples, seed)
    scores_before = resampled_scores(metric, before, counts)
    scores_after = resampled_scores(metric, after, counts)
    if scores_before is None or scores_after is None:
        return None
    deltas = scores_after - scores_before
    if estimator == "sacrebleu":
        p = sacrebleu_p_value(scores_before, scores_after, after.score - before.score)
    else:
        p = bootstrap_p_value(deltas)
    return {
        "before_ci": percentile_ci(scores_before, level),
        "after_ci": percentile_ci(scores_after, level),
        "delta_ci": percentile_ci(deltas, level),
        "delta_se": float(np.std(deltas)),
        "p_value": float(p),
    }


def is_binary(values: Sequence[float] | None) -> bool:
    """All values are 0 or 1 (accuracy-type per-example scores)."""
    return values is not None and all(v in (0.0, 1.0) for v in values)


def compare(
    metric: Metric,
    references: Sequence[Sequence[str]] | None,
    before: MetricResult,
    after: MetricResult | None = None,
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
    alpha: float = ALPHA,
    estimator: str = "two-sided",
    mcnemar: str = "exact",
) -> dict[str, Any]:
    """The statistics to merge into one metric entry of ``results.json``.

    Run mode: ``before_ci``, ``after_ci``, ``delta_ci`` (``[lo, hi]``, at level ``1 − alpha``),
    ``p_value``, ``test`` (``"mcnemar-exact"`` for accuracy-type metrics whose per-example
    scores are all 0/1, ``"mcnemar-mid-p"`` with ``mcnemar="mid-p"``, else ``"paired-bootstrap"``),
    ``significant`` (``p_value < alpha``), ``n_resamples``, ``n_examples``, ``delta_se`` (the
    bootstrap standard deviation of the delta) and, for McNemar, ``discordant``
    (``{"right_to_wrong": b, "wrong_to_right": c}``): what :mod:`harness.decisions.power` needs.
    Eval mode (``after is None``): ``before_ci`` only. ``{}`` when the metric has neither
    per-example scores nor sufficient statistics.

    :param references: the examples' references; only used to check the number of examples
        (the statistics need nothing but the two results).
    :param mcnemar: ``"exact"`` or ``"mid-p"`` (:func:`mcnemar_mid_p`).
    """
    if mcnemar not in MCNEMAR_TESTS:
        raise ValueError(f"mcnemar must be one of {', '.join(MCNEMAR_TESTS)}, got {mcnemar!r}")
    level = 1.0 - alpha
    n = _n_examples(before)
    if n is None:
        return {}
    if references is not None and len(references) != n:
        raise ValueError(f"metric {metric.name}: {len(references)} references but {n} examples")
    if after is None:
        ci = confidence_interval(metric, before, n_resamples, seed, level)
        return {} if ci is None else {"before_ci": ci}
    paired = paired_bootstrap(metric, before, after, n_resamples, seed, level, estimator)
    if paired is None:
        return {}
    binary = metric.binary and (is_binary(before.per_example) and is_binary(after.per_example))
    extra: dict[str, Any] = {}
    if binary:
        b, c = discordant_pairs(before.per_example, after.per_example)
        paired["p_value"] = mcnemar_exact(before.per_example, after.per_example)
        if mcnemar == "mid-p":
            paired["p_value"] = mcnemar_mid_p(b, c)
        extra["discordant"] = {"right_to_wrong": b, "wrong_to_right": c}
    return {
        **paired,
        "test": f"mcnemar-{mcnemar}" if binary else "paired-bootstrap",
        "significant": bool(paired["p_value"] < alpha),
        "n_resamples": int(n_resamples),
        "n_examples": n,
        **extra,
    }


def metric_entry(
    metric: Metric, references, before: MetricResult, after: MetricResult | None, config: Config
) -> dict[str, Any]:
    """One metric's entry in ``results["tasks"][task]["metrics"]``: before, after and delta, its
    settings, and the before/after comparison (:func:`compare`) under ``config.stats`` and
    ``config.seed``. The cycle, ``rescore``, ``compare`` and the guard suite all build it here.

    :param before: the :class:`~harness.metrics.MetricResult` of the base (or first) model;
        ``after``: of the tuned (or second) one, ``None`` in an evaluation.
    """
    return {
        "higher_is_better": metric.higher_is_better,
        "scale": metric.scale,
        "before": before.score,
        "after": after.score if after else None,
        "delta": (after.score - before.score) if after else None,
        "settings": dict(before.settings),
        **compare(
            metric,
            references,
            before,
            after,
            seed=config.seed,
            n_resamples=config.stats.n_resamples,
            alpha=config.stats.alpha,
        ),
    }
