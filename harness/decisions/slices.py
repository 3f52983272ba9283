"""Slice verdicts: every task's slices (:mod:`harness.evaluation.slices`) judged together, with
the false-discovery rate controlled by the Benjamini-Hochberg procedure across all tasks × slices
(``scipy.stats.false_discovery_control``). With many slices, some come out "significant" by
chance; BH keeps the expected share of wrongly flagged slices among those flagged at most
``alpha``. A slice improved (regressed) when its BH-adjusted q-value is below ``alpha`` and its
delta reaches the minimum effect, in the better (worse) direction, as a task's verdict does."""

from __future__ import annotations

import math

from harness.decisions.verdicts import IMPROVED, REGRESSED, UNCHANGED


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
    counts = {IMPROVED: 0, REGRESSED: 0, UNCHANGED: 0}
    for (name, value), q in zip(keys, q_values, strict=True):
        task = tasks[name]["slices"]
        entry = task["values"][value]
        metric = tasks[name]["metrics"][task["metric"]]
        scale = metric.get("scale") or 1.0
        up = (entry["delta"] > 0) == bool(metric.get("higher_is_better", True))
        flagged = q < alpha and abs(entry["delta"]) / scale >= min_effect - 1e-12 and entry["delta"] != 0
        entry["q_value"] = float(q)
        entry["outcome"] = (IMPROVED if up else REGRESSED) if flagged else UNCHANGED
        counts[entry["outcome"]] += 1
    return {
        "correction": "benjamini-hochberg",
        "alpha": alpha,
        "n_slices": len(keys),
        "improved": counts[IMPROVED],
        "regressed": counts[REGRESSED],
        "unchanged": counts[UNCHANGED],
        "summary": (
            f"{len(keys)} slices: {counts[IMPROVED]} improved, {counts[REGRESSED]} regressed, "
            f"{counts[UNCHANGED]} no significant change (Benjamini-Hochberg at {alpha:g})"
        ),
    }


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
