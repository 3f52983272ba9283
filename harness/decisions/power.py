"""How small a change can a test set see? Power, minimum detectable effect, equivalence, mid-p.

Pure statistics for the verdicts (:mod:`harness.decisions.verdicts`); no model or file here.

* **Minimum detectable effect (MDE)**: the smallest true change of a task's primary metric that
  the verdict's paired test detects with probability ``POWER`` (0.8), two-sided at level
  ``alpha`` (the verdicts pass the corrected level: ``alpha / m`` over ``m`` tasks under Holm,
  the threshold Holm applies to the smallest p-value, so the figure is never optimistic).

  - 0/1 metrics (McNemar's test on the discordant pairs): exact power of the test actually used
    (:func:`mcnemar_power`, the binomial mixture over the number of discordant pairs), solved for
    the change with :func:`scipy.optimize.brentq`. The discordance ``ψ`` (share of examples whose
    right/wrong flips) is the one measured after tuning; before tuning it is unknown, and the
    plan assumes the tuned model is right or wrong independently of the base model
    (``ψ = 2p(1 − p) + δ·|1 − 2p|`` for base accuracy ``p``), a planning value a fine-tune that
    mostly agrees with its base beats.
  - other metrics (paired bootstrap): ``MDE = (z_{1−α/2} + z_{power}) · se``, the normal
    approximation, with ``se`` the bootstrap standard deviation of the delta (before tuning:
    ``√2 ×`` the standard error of the base score, again assuming independence).

* **Examples needed**: the smallest test set whose MDE is at most the equivalence margin (for
  the bootstrap: ``n · (MDE / margin)²``; for McNemar: the exact power, searched over ``n``).
* **Equivalence** (:func:`equivalent`): "no change" when the whole confidence interval of the
  delta lies within ± the margin (two one-sided tests at level ``alpha / 2`` each, TOST); for 0/1
  scores also the Agresti-Min interval (:func:`paired_proportion_ci`), since the bootstrap's
  interval collapses to ``[0, 0]`` when no example flipped and is narrow on small 0/1 test sets.
* **mid-p McNemar** (the test: :func:`harness.evaluation.stats.mcnemar_mid_p`; its power here):
  the exact p-value minus half the probability of the observed table; Fagerland, Lydersen &
  Laake (2013) find it keeps the nominal level in all cases they studied while the exact test is
  conservative. bench/stats_simulation.py checks both.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.optimize import brentq
from scipy.stats import binom, norm

POWER = 0.8
"""The power the minimum detectable effect is defined at."""
MCNEMAR_TESTS = ("exact", "mid-p")
MAX_N = 10_000_000  # beyond this many examples, "examples needed" is reported as unknown
EXACT_BELOW = 100  # expected discordant pairs under which examples needed come from the exact power


def z_mde(se: float, alpha: float, power: float = POWER) -> float:
    """``(z_{1−α/2} + z_{power}) · se``: the MDE of a normal (bootstrap) paired test."""
    return float((norm.ppf(1 - alpha / 2) + norm.ppf(power)) * se)


def se_from_ci(ci: list[float], alpha: float) -> float:
    """The standard error a normal interval ``ci`` at level ``1 − alpha`` implies (for saved runs
    without ``delta_se``)."""
    return float((ci[1] - ci[0]) / (2 * norm.ppf(1 - alpha / 2)))


def _lower_critical(d: np.ndarray, alpha: float, test: str) -> np.ndarray:
    """For each number ``d`` of discordant pairs, the largest count ``k`` of one kind that the
    test rejects at (the rejection region is ``c ≤ k`` or ``c ≥ d − k``; −1: none)."""
    half = alpha / 2
    k = binom.ppf(half, d, 0.5) - 1  # largest k with P(X ≤ k) < α/2, up to rounding
    k = np.where(binom.cdf(k + 1, d, 0.5) < half, k + 1, k)
    k = np.where((k >= 0) & (binom.cdf(k, d, 0.5) >= half), k - 1, k)
    if test == "mid-p":  # the mid-p region is the exact one or one count wider
        wider = k + 1
        mid = binom.cdf(wider, d, 0.5) - 0.5 * binom.pmf(wider, d, 0.5)
        k = np.where((wider < d / 2) & (mid < half), wider, k)
    return k


def mcnemar_power(n: int, delta: float, discordance: float, alpha: float, test: str = "exact") -> float:
    """Probability that McNemar's test (``"exact"`` or ``"mid-p"``) at level ``alpha`` finds a
    change of ``delta`` (> 0) in the direction of the change, on ``n`` paired examples of which a
    share ``discordance`` (≥ delta) flip: ``P(wrong→right) = (ψ + δ)/2``, ``P(right→wrong) = (ψ − δ)/2``."""
    psi = min(1.0, max(discordance, delta))
    if n < 1 or psi <= 0:
        return 0.0
    lo, hi = binom.ppf(1e-12, n, psi), binom.isf(1e-12, n, psi)  # where the mass is
    d = np.arange(max(0, int(lo) - 1), min(n, int(hi) + 1) + 1)
    weights = binom.pmf(d, n, psi)
    k = _lower_critical(d, alpha, test)
    toward = (psi + delta) / (2 * psi)  # share of discordant pairs in the direction of the change
    return float(np.sum(weights * binom.sf(d - k - 1, d, toward)))


@functools.lru_cache(maxsize=4096)
def mcnemar_mde(
    n: int, alpha: float, *, discordance: float | None = None, base: float | None = None, test: str = "exact"
) -> float | None:
    """The MDE of McNemar's test on ``n`` examples, for a measured ``discordance`` (the share
    kept fixed; a change larger than it makes every discordant pair go one way) or, before tuning,
    a ``base`` accuracy (independence plan, see the module docstring). ``None`` when no change
    the scale allows reaches ``POWER``."""

    def psi(delta: float) -> float:
        if discordance is not None:
            return max(discordance, delta)
        return 2 * base * (1 - base) + delta * abs(1 - 2 * base)

    top = 1.0 if discordance is not None else max(base, 1 - base)
    gap = lambda delta: mcnemar_power(n, delta, psi(delta), alpha, test) - POWER  # noqa: E731
    if gap(top) < 0:
        return None
    return float(brentq(gap, 1e-9, top, xtol=1e-5))


@functools.lru_cache(maxsize=4096)
def mcnemar_n_needed(
    margin: float, alpha: float, *, discordance: float | None = None, base: float | None = None, test="exact"
) -> int | None:
    """The smallest number of examples whose McNemar MDE is at most ``margin``: Connor (1987)'s
    normal approximation where it expects at least ``EXACT_BELOW`` discordant pairs, else by
    bisection on the exact power (which rises with ``n`` up to small saw-teeth); ``None`` beyond
    ``MAX_N``."""
    if margin <= 0:
        return None
    if discordance is not None:
        psi = max(discordance, margin)
    else:
        psi = 2 * base * (1 - base) + margin * abs(1 - 2 * base)
    if psi <= 0 or margin > 1:
        return None
    # Connor (1987)'s normal approximation, then the exact power around it
    z_alpha, z_power = norm.ppf(1 - alpha / 2), norm.ppf(POWER)
    guess = (z_alpha * math.sqrt(psi) + z_power * math.sqrt(max(psi - margin**2, 0))) ** 2 / margin**2
    if guess > MAX_N:
        return None
    if guess * psi >= EXACT_BELOW:
        return math.ceil(guess)
    lo, hi = 1, max(2, int(2 * guess) + 10)
    while mcnemar_power(hi, margin, psi, alpha, test) < POWER:
        hi *= 2
        if hi > MAX_N:
            return None
    while lo < hi:
        mid = (lo + hi) // 2
        if mcnemar_power(mid, margin, psi, alpha, test) >= POWER:
            hi = mid
        else:
            lo = mid + 1
    return lo


def z_n_needed(n: int, mde: float, margin: float) -> int | None:
    """``⌈n · (mde / margin)²⌉``: the examples a normal paired test needs to detect ``margin``."""
    if margin <= 0 or not math.isfinite(mde):
        return None
    needed = math.ceil(n * (mde / margin) ** 2 - 1e-9)
    return needed if needed <= MAX_N else None


def equivalent(ci: list[float] | None, margin: float) -> bool:
    """Whether the interval ``ci`` of the delta lies within ``[−margin, margin]``."""
    return ci is not None and margin > 0 and -margin <= ci[0] and ci[1] <= margin


def paired_proportion_ci(b: int, c: int, n: int, alpha: float) -> list[float]:
    """Agresti & Min (2005)'s adjusted Wald interval at level ``1 − alpha`` for the change of a
    0/1 score, ``(c − b) / n`` (``b`` right→wrong, ``c`` wrong→right): half an example added to
    each of the four cells. Unlike the bootstrap it does not collapse to ``[0, 0]`` when nothing
    flipped: 0 changes in 16 examples still leave ±0.11."""
    size = n + 2
    p10, p01 = (b + 0.5) / size, (c + 0.5) / size
    delta = p01 - p10
    half = norm.ppf(1 - alpha / 2) * math.sqrt(max(p10 + p01 - delta**2, 0.0) / size)
    return [float(delta - half), float(delta + half)]


def plan(tasks, metrics: dict, before: dict, *, alpha: float, min_effect: float, correction: str) -> dict:
    """Before tuning: what each task's test set can detect, from the base model's scores alone.

    :param tasks: the run's :class:`~harness.tasks.Task` objects; ``metrics``: ``{name: Metric}``.
    :param before: ``{task name: TaskEvaluation}`` of the base model.
    :returns: ``{task: {"metric", "n", "mde", "n_needed", "alpha", "text"}}`` for the tasks whose
        primary metric can be resampled (``mde`` ``None`` where no change is detectable), in task
        order; ``n_needed``: examples that would detect ``min_effect``, ``alpha``: the MDE's level.
    """
    from harness.evaluation.stats import is_binary, resample_counts, resampled_scores

    found = {}
    for task in tasks:
        if task.name not in before:
            continue
        metric, result = metrics[task.primary_metric], before[task.name].scores[task.primary_metric]
        rows = result.stats if result.stats is not None else result.per_example
        if not rows:
            continue
        n = len(rows)
        found[task.name] = (metric, result, n)
    level = alpha / max(len(found), 1) if correction == "holm" else alpha
    plans = {}
    for name, (metric, result, n) in found.items():
        margin = min_effect * metric.scale
        if metric.binary and result.per_example is not None and is_binary(result.per_example):
            base = float(np.mean(result.per_example))
            mde = mcnemar_mde(n, level, base=base)
            mde = None if mde is None else mde * metric.scale
            needed = mcnemar_n_needed(min_effect, level, base=base)
        else:
            if result.stats is not None and metric.from_stats is not None:
                se = float(np.std(resampled_scores(metric, result, resample_counts(n, 200, 0))))
            else:
                se = float(np.std(result.per_example)) / math.sqrt(n)
            mde = z_mde(math.sqrt(2) * se, level) if se > 0 else None
            needed = None if mde is None else z_n_needed(n, mde, margin)
        text = f"{name}: {n} test examples "  # a progress line
        if mde is None:
            text += f"cannot detect any change of {metric.name} (too few, or scores that do not vary)"
        else:
            text += f"can detect a change of {mde:.3g} {metric.name} or more"
        plans[name] = {"metric": metric.name, "n": n, "mde": mde, "n_needed": needed, "alpha": level}
        plans[name]["text"] = text
    return plans


def plan_from(workload, before: dict, stats) -> dict:
    """:func:`plan` for a run's :class:`~harness.workload.Workload` under its ``config.stats``."""
    return plan(
        workload.tasks,
        workload.metrics,
        before,
        alpha=stats.alpha,
        min_effect=stats.min_effect,
        correction=stats.correction,
    )
