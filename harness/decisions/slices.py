"""Slice verdicts: every task's slices (:mod:`harness.evaluation.slices`) judged together, with
the false-discovery rate controlled by the Benjamini-Hochberg procedure across all tasks × slices
(``scipy.stats.false_discovery_control``). With many slices, some come out "significant" by
chance; BH keeps the expected share of wrongly flagged slices among those flagged at most
``alpha``. A slice improved (regressed) when its BH-adjusted q-value is below ``alpha`` and its
delta reaches the minimum effect, in the better (worse) direction, as a task's verdict does;
otherwise it is "no change" when its delta's interval lies within ± the minimum effect (on 0/1
scores the Agresti-Min interval of its flips too, as for a task), else "inconclusive": the slice
has too few examples to tell."""

from __future__ import annotations

import math

from harness.decisions import power
from harness.decisions.verdicts import IMPROVED, INCONCLUSIVE, NO_CHANGE, REGRESSED


def add_slice_verdicts(tasks: dict[str, dict], *, alpha: float, min_effect: float) -> dict | None:
    """Set ``q_value`` and ``outcome`` on every compared slice of ``tasks`` (results.json's, in
    place) and return the run's slice summary (``None`` when no task has compared slices)."""
    p_values = {
        (name, value): entry["p_value"]
        for name, task in tasks.items()
        for value, entry in ((task.get("slices") or {}).get("values") or {}).items()
        if isinstance(entry.get("p_value"), int | float) and math.isfinite(entry["p_value"])
    }
    if not p_values:
        return None
    from scipy.stats import false_discovery_control

    keys = list(p_values)
    q_values = false_discovery_control([p_values[k] for k in keys], method="bh")
    counts = {IMPROVED: 0, REGRESSED: 0, NO_CHANGE: 0, INCONCLUSIVE: 0}
    for (name, value), q in zip(keys, q_values, strict=True):
        task = tasks[name]["slices"]
        entry = task["values"][value]
        metric = tasks[name]["metrics"][task["metric"]]
        scale = metric.get("scale") or 1.0
        up = (entry["delta"] > 0) == bool(metric.get("higher_is_better", True))
        flagged = q < alpha and abs(entry["delta"]) / scale >= min_effect - 1e-12 and entry["delta"] != 0
        entry["q_value"] = float(q)
        if flagged:
            entry["outcome"] = IMPROVED if up else REGRESSED
        else:
            entry["outcome"] = NO_CHANGE if _equivalent(entry, min_effect * scale, alpha) else INCONCLUSIVE
        counts[entry["outcome"]] += 1
    return {
        "correction": "benjamini-hochberg",
        "alpha": alpha,
        "n_slices": len(keys),
        "improved": counts[IMPROVED],
        "regressed": counts[REGRESSED],
        "no_change": counts[NO_CHANGE],
        "inconclusive": counts[INCONCLUSIVE],
        "unchanged": counts[NO_CHANGE] + counts[INCONCLUSIVE],  # the count before the four outcomes
        "summary": (
            f"{len(keys)} slices: {counts[IMPROVED]} improved, {counts[REGRESSED]} regressed, "
            f"{counts[NO_CHANGE]} no change, {counts[INCONCLUSIVE]} inconclusive "
            f"(Benjamini-Hochberg at {alpha:g})"
        ),
    }


def _equivalent(entry: dict, margin: float, alpha: float) -> bool:
    """Whether the slice's delta is shown to lie within ± ``margin``: its interval, and on 0/1
    scores (a McNemar test) also the Agresti-Min interval of its flips, which does not collapse
    to [0, 0] when nothing flipped."""
    ci = entry.get("delta_ci")
    if not (isinstance(ci, list) and len(ci) == 2 and power.equivalent(ci, margin)):
        return False
    if str(entry.get("test", "")).startswith("mcnemar") and "fixed" in entry:
        scale = 1.0 if entry.get("scale") is None else entry["scale"]
        lo, hi = power.paired_proportion_ci(entry["broken"], entry["fixed"], entry["n"], alpha)
        return power.equivalent([lo * scale, hi * scale], margin)
    return True


def slice_names(tasks: dict[str, dict]) -> dict[str, dict]:
    """The slices of results.json ``tasks`` as :func:`harness.decisions.gates.check_names` reads
    them: ``{task name: {"field", "metric", "values": [value, ...] or None}}``."""
    return {
        name: {
            **task["slices"],
            "values": None if task["slices"].get("values") is None else list(task["slices"]["values"]),
        }
        for name, task in tasks.items()
        if isinstance(task.get("slices"), dict)
    }
