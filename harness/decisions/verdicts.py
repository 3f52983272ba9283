"""Per-task verdicts: did tuning improve, regress or not significantly change each task?

A task's verdict rests on its primary metric alone. It is "improved" or "regressed" only when
the paired test of after vs before is significant at ``alpha`` after a correction for testing
several tasks at once (Holm-Bonferroni over the tasks' primary-metric p-values), *and* the
change is at least ``min_effect`` on the metric's 0-1 scale (``|delta| / scale``); otherwise it
is "no significant change", with the side the point estimate leans to. Everything here reads
``results.json`` content only (metric entries with ``before``, ``after``, ``delta``,
``delta_ci``, ``p_value``, ``higher_is_better`` and ``scale``), so any saved run can be decided
again; terminal, reports and gates all show these same objects.
"""

from __future__ import annotations

import math
from typing import Any

IMPROVED, REGRESSED, UNCHANGED = "improved", "regressed", "no significant change"
OUTCOMES = (IMPROVED, REGRESSED, UNCHANGED)
CORRECTIONS = ("holm", "none")


def holm(p_values: dict[str, float]) -> dict[str, float]:
    """Holm-Bonferroni adjusted p-values (Holm 1979): with the ``m`` p-values sorted ascending,
    the i-th (from 0) becomes ``(m - i) * p``, made non-decreasing in that order and capped at 1.
    A hypothesis is rejected at family-wise level ``alpha`` when its adjusted p-value is below it."""
    m = len(p_values)
    adjusted: dict[str, float] = {}
    running = 0.0
    for rank, (name, p) in enumerate(sorted(p_values.items(), key=lambda item: item[1])):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[name] = running
    return adjusted


def decide(
    tasks: dict[str, dict], *, alpha: float, min_effect: float, correction: str
) -> tuple[dict[str, dict], dict]:
    """The verdict of every task that has a before/after pair, and the overall decision.

    :param tasks: ``results["tasks"]`` of a run: ``{name: {"primary_metric", "metrics": {...}}}``.
    :param alpha: significance level, applied to the corrected p-values.
    :param min_effect: the smallest ``|delta| / scale`` that counts as a change.
    :param correction: ``"holm"`` (Holm-Bonferroni over the tasks' primary metrics) or ``"none"``.
    :returns: ``({task: verdict}, decision)`` as described in docs/results-schema.md. Tasks
        without an "after" score (an evaluation) get no verdict.
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, got {correction!r}")
    entries = {name: _primary(task) for name, task in tasks.items()}
    entries = {name: entry for name, entry in entries.items() if _num(entry.get("after"))}
    raw = {name: float(e["p_value"]) for name, e in entries.items() if _num(e.get("p_value"))}
    adjusted = holm(raw) if correction == "holm" else dict(raw)
    family = len(raw)
    verdicts = {
        name: _verdict(
            tasks[name]["primary_metric"],
            entry,
            adjusted.get(name),
            alpha=alpha,
            min_effect=min_effect,
            correction=correction,
            family=family,
        )
        for name, entry in entries.items()
    }
    counts = {outcome: sum(v["outcome"] == outcome for v in verdicts.values()) for outcome in OUTCOMES}
    n = len(verdicts)
    decision = {
        "alpha": alpha,
        "min_effect": min_effect,
        "correction": correction,
        "improved": counts[IMPROVED],
        "regressed": counts[REGRESSED],
        "unchanged": counts[UNCHANGED],
        "summary": (
            f"{counts[IMPROVED]} of {n} task{'' if n == 1 else 's'} improved, {counts[REGRESSED]} regressed, "
            f"{counts[UNCHANGED]} no significant change"
        ),
    }
    return verdicts, decision


def _primary(task: dict) -> dict:
    return (task.get("metrics") or {}).get(task.get("primary_metric")) or {}


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _verdict(
    metric: str,
    entry: dict,
    p_adjusted: float | None,
    *,
    alpha: float,
    min_effect: float,
    correction: str,
    family: int,
) -> dict:
    before, after = entry.get("before"), entry["after"]
    delta = entry.get("delta")
    if not _num(delta):
        delta = after - before
    scale = entry.get("scale") or 1.0
    higher_is_better = entry.get("higher_is_better", True)
    if abs(delta) <= 1e-12 * scale:
        leaning = "none"
    else:
        leaning = "up" if (delta > 0) == bool(higher_is_better) else "down"
    p_value = entry.get("p_value") if _num(entry.get("p_value")) else None
    significant = p_adjusted is not None and p_adjusted < alpha
    large_enough = abs(delta) / scale >= min_effect - 1e-12
    outcome = UNCHANGED
    if significant and large_enough and leaning != "none":
        outcome = IMPROVED if leaning == "up" else REGRESSED
    reason = _reason(
        delta, p_value, p_adjusted, significant, large_enough, alpha, min_effect, scale, correction, family
    )
    return {
        "metric": metric,
        "outcome": outcome,
        "leaning": leaning,
        "before": before,
        "after": after,
        "delta": delta,
        "delta_ci": entry.get("delta_ci"),
        "p_value": p_value,
        "p_adjusted": p_adjusted,
        "significant": significant,
        "large_enough": large_enough,
        "reason": reason,
    }


def _reason(
    delta: float,
    p_value: float | None,
    p_adjusted: float | None,
    significant: bool,
    large_enough: bool,
    alpha: float,
    min_effect: float,
    scale: float,
    correction: str,
    family: int,
) -> str:
    """One sentence: why the verdict is what it is."""
    if p_value is None or p_adjusted is None:
        return "no paired test: the metric has no per-example scores or statistics to compare"
    where = ""
    if family > 1:
        where = (
            f" after Holm over {family} tasks" if correction == "holm" else f" (uncorrected, {family} tasks)"
        )
    test = f"{_p(p_adjusted, alpha)} {'<' if significant else '≥'} {alpha:g}{where}"
    if not significant:
        if p_value < alpha:
            test += f" (raw {_p(p_value, alpha)} < {alpha:g}: significant only without the correction)"
        return test
    size = f"|delta| = {abs(delta):.{2 if scale > 1.5 else 4}f}"
    threshold = f"{min_effect * scale:g}" + (f" ({min_effect:g} × scale {scale:g})" if scale != 1 else "")
    if large_enough:
        return f"{test}, and {size} ≥ the minimum effect {threshold}"
    return f"{test}, but {size} is below the minimum effect {threshold}"


def _p(p: float, alpha: float) -> str:
    """``p = 0.151``: 4 decimals without trailing zeros (as the reports show them), more where
    rounding would cross ``alpha``; ``p < 0.0001`` below that."""
    if p < 0.0001:
        return "p < 0.0001"
    text = f"{p:.4f}".rstrip("0").rstrip(".")
    if (float(text) < alpha) != (p < alpha):
        text = f"{p:.6g}"
    return f"p = {text}"
