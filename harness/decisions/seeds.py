"""The noise floor of training: the verdict of a recipe tuned with several seeds on one baseline.

Each seed's run has its own paired test, which only sees the test set's sampling noise: a second
tuning with another seed can land elsewhere. Over ``N`` seeds, per task (primary metric):

* ``mean_delta`` and ``seed_sd``, the seed-to-seed standard deviation of the delta (the spread of
  training itself, on this test set);
* the standard error of the mean delta, ``sqrt(se_test² + seed_sd² / N)``: ``se_test`` from the
  runs' own confidence intervals (the test set is shared, so its noise does not average out),
  ``seed_sd² / N`` from the seeds;
* a two-sided normal test of ``mean_delta = 0`` on that error, Holm-adjusted over the tasks as a
  single run is.

A task improved (or regressed) only when that test is significant, ``|mean_delta|`` reaches the
minimum effect, and ``|mean_delta|`` exceeds ``seed_sd``: a gain smaller than the spread of
training itself is not called a gain. Otherwise it is **no change** when the mean's whole
confidence interval lies within ± the minimum effect (an equivalence test, as for one run), else
**inconclusive**. With fewer than two seeds there is no spread to measure (inconclusive).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from harness.decisions.verdicts import IMPROVED, INCONCLUSIVE, NO_CHANGE, OUTCOMES, REGRESSED, holm


def seed_verdicts(runs: Sequence[dict], seeds: Sequence[int]) -> tuple[dict[str, dict], dict]:
    """``({task: seed verdict}, decision)`` over the results.json contents of ``runs`` (one per
    seed, in ``seeds`` order, all run mode with the same tasks), under the first run's
    ``decision`` settings (alpha, minimum effect, correction)."""
    if len(runs) != len(seeds) or not runs:
        raise ValueError(f"{len(runs)} runs for {len(seeds)} seeds")
    settings = runs[0].get("decision") or {}
    alpha = float(settings.get("alpha", 0.05))
    min_effect = float(settings.get("min_effect", 0.0))
    correction = settings.get("correction", "holm")
    z = statistics.NormalDist().inv_cdf(1 - alpha / 2)  # the runs' CIs are at level 1 - alpha
    tasks = {name: _task(name, runs, z) for name in runs[0]["tasks"]}
    tasks = {name: task for name, task in tasks.items() if task is not None}
    raw = {name: t["p_value"] for name, t in tasks.items() if t["p_value"] is not None}
    adjusted = holm(raw) if correction == "holm" else dict(raw)
    for name, task in tasks.items():
        task["p_adjusted"] = adjusted.get(name)
        task.update(_outcome(task, alpha, min_effect, len(seeds)))
    counts = {outcome: sum(t["outcome"] == outcome for t in tasks.values()) for outcome in OUTCOMES}
    n = len(tasks)
    decision = {
        "seeds": list(seeds),
        "alpha": alpha,
        "min_effect": min_effect,
        "correction": correction,
        **{key: counts[outcome] for key, outcome in (("improved", IMPROVED), ("regressed", REGRESSED))},
        "no_change": counts[NO_CHANGE],
        "inconclusive": counts[INCONCLUSIVE],
        "unchanged": counts[NO_CHANGE] + counts[INCONCLUSIVE],  # the count before the four outcomes
        "summary": (
            f"over {len(seeds)} seeds: {counts[IMPROVED]} of {n} task{'' if n == 1 else 's'} improved, "
            f"{counts[REGRESSED]} regressed, {counts[NO_CHANGE]} no change, "
            f"{counts[INCONCLUSIVE]} inconclusive"
        ),
    }
    return tasks, decision


def _task(name: str, runs: Sequence[dict], z: float) -> dict | None:
    task = runs[0]["tasks"][name]
    metric = task.get("primary_metric")
    entries = [(run["tasks"].get(name, {}).get("metrics") or {}).get(metric) or {} for run in runs]
    deltas = [e.get("delta") for e in entries]
    if not all(_num(d) for d in deltas):
        return None
    first = entries[0]
    before = [e.get("before") for e in entries]
    half_widths = [
        (e["delta_ci"][1] - e["delta_ci"][0]) / 2
        for e in entries
        if isinstance(e.get("delta_ci"), list) and len(e["delta_ci"]) == 2 and all(map(_num, e["delta_ci"]))
    ]
    n = len(deltas)
    mean = statistics.fmean(deltas)
    sd = statistics.stdev(deltas) if n > 1 else None
    se_test = statistics.fmean(half_widths) / z if len(half_widths) == n else None
    se = math.sqrt(se_test**2 + (sd or 0.0) ** 2 / n) if se_test is not None else None
    p_value = None
    if se is not None:
        p_value = 1.0 if se == 0 and mean == 0 else (0.0 if se == 0 else 2 * (1 - _cdf(abs(mean) / se)))
    return {
        "metric": metric,
        "higher_is_better": first.get("higher_is_better", True),
        "scale": first.get("scale") or 1.0,
        "before": before[0],
        "baseline_shared": all(b == before[0] for b in before),
        "after_by_seed": [e.get("after") for e in entries],
        "delta_by_seed": deltas,
        "outcome_by_seed": [(run["tasks"][name].get("verdict") or {}).get("outcome") for run in runs],
        "mean_delta": mean,
        "seed_sd": sd,
        "seed_range": [min(deltas), max(deltas)],
        "se_test": se_test,
        "se": se,
        "ci": None if se is None else [mean - z * se, mean + z * se],
        "p_value": p_value,
    }


def _outcome(task: dict, alpha: float, min_effect: float, n_seeds: int) -> dict:
    mean, sd, scale = task["mean_delta"], task["seed_sd"], task["scale"]
    p = task["p_adjusted"]
    significant = p is not None and p < alpha
    large_enough = abs(mean) / scale >= min_effect - 1e-12
    beyond_spread = sd is not None and abs(mean) > sd
    up = (mean > 0) == bool(task["higher_is_better"])
    margin, ci = min_effect * scale, task["ci"]
    within = ci is not None and sd is not None and -margin <= ci[0] and ci[1] <= margin
    outcome = NO_CHANGE if within else INCONCLUSIVE  # no change: the mean's whole CI within ± margin
    if significant and large_enough and beyond_spread and mean != 0:
        outcome = IMPROVED if up else REGRESSED
    digits = 2 if scale > 1.5 else 4
    if sd is None:
        reason = f"{n_seeds} seed: no seed-to-seed spread to measure"
    elif p is None:
        reason = "no paired confidence intervals in the runs to test the mean against"
    else:
        test = f"p = {p:.4g} {'<' if significant else '≥'} {alpha:g} on the mean over {n_seeds} seeds"
        spread = (
            f"|mean delta| {abs(mean):.{digits}f} {'>' if beyond_spread else '≤'} seed spread {sd:.{digits}f}"
        )
        reason = f"{test}; {spread}"
        if significant and not large_enough:
            reason += f"; below the minimum effect {min_effect * scale:g}"
        if outcome in (NO_CHANGE, INCONCLUSIVE) and ci is not None:
            inside = "within" if within else "reaches beyond"
            reason += f"; the mean's CI [{ci[0]:+.{digits}f}, {ci[1]:+.{digits}f}] {inside} ± {margin:g}"
    return {
        "outcome": outcome,
        "significant": significant,
        "large_enough": large_enough,
        "beyond_spread": beyond_spread,
        "reason": reason,
    }


def _cdf(x: float) -> float:
    return statistics.NormalDist().cdf(x)


def _num(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
