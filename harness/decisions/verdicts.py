"""Per-task verdicts: did tuning improve, regress, not change each task, or can the test set not tell?

A task's verdict rests on its primary metric alone, in four outcomes:

* **improved** / **regressed**: the paired test of after vs before is significant at ``alpha``
  after a correction for testing several tasks at once (Holm-Bonferroni over the tasks'
  primary-metric p-values), *and* the change is at least ``min_effect`` on the metric's 0-1
  scale (``|delta| / scale``);
* **no change**: otherwise, when the whole confidence interval of the delta lies within
  ± ``min_effect × scale`` (the equivalence margin; an equivalence test, TOST);
* **inconclusive**: neither; the interval is too wide to tell. The verdict gives the minimum
  detectable effect of this test set (:mod:`harness.decisions.power`) and the number of test
  examples that would detect the margin.

Each verdict also carries the side the point estimate leans to, and warnings (a model that
predicts one value for nearly every example). Everything here reads ``results.json`` content only
(metric entries with ``before``, ``after``, ``delta``, ``delta_ci``, ``p_value``,
``higher_is_better``, ``scale``, and where recorded ``delta_se``, ``discordant``, ``n_examples``;
the task's ``flips``), so any saved run, old ones included, can be decided again; terminal,
reports and gates all show these same objects.
"""

from __future__ import annotations

import math
from typing import Any

from harness.decisions import power

IMPROVED, REGRESSED, NO_CHANGE, INCONCLUSIVE = "improved", "regressed", "no change", "inconclusive"
UNCHANGED = "no significant change"  # results.json written before the four outcomes; slices, seed sets
OUTCOMES = (IMPROVED, REGRESSED, NO_CHANGE, INCONCLUSIVE, UNCHANGED)  # decide gives the first four
CORRECTIONS = ("holm", "none")
CONSTANT_SHARE = 0.9  # a model that gives one prediction for this share of the examples is flagged


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


def mde_alpha(alpha: float, correction: str, family: int) -> float:
    """The level the minimum detectable effect is computed at: ``alpha / family`` under Holm (the
    threshold of its first, strictest step), ``alpha`` without a correction."""
    return alpha / max(family, 1) if correction == "holm" else alpha


def decide(
    tasks: dict[str, dict], *, alpha: float, min_effect: float, correction: str
) -> tuple[dict[str, dict], dict]:
    """The verdict of every task that has a before/after pair, and the overall decision.

    :param tasks: ``results["tasks"]`` of a run: ``{name: {"primary_metric", "metrics": {...}}}``.
    :param alpha: significance level, applied to the corrected p-values.
    :param min_effect: the smallest ``|delta| / scale`` that counts as a change, and the
        equivalence margin of "no change".
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
    rule = Rule(alpha, min_effect, correction, family)
    verdicts = {
        name: _verdict(tasks[name], entry, adjusted.get(name), rule) for name, entry in entries.items()
    }
    counts = {outcome: sum(v["outcome"] == outcome for v in verdicts.values()) for outcome in OUTCOMES}
    n = len(verdicts)
    warnings = [f"{name}: {w}" for name, v in verdicts.items() for w in v["warnings"]]
    decision = {
        "alpha": alpha,
        "min_effect": min_effect,
        "correction": correction,
        "power": power.POWER,
        "mde_alpha": mde_alpha(alpha, correction, family),
        "improved": counts[IMPROVED],
        "regressed": counts[REGRESSED],
        "no_change": counts[NO_CHANGE],
        "inconclusive": counts[INCONCLUSIVE],
        "unchanged": counts[NO_CHANGE] + counts[INCONCLUSIVE],  # the count before the four outcomes
        "summary": (
            f"{counts[IMPROVED]} of {n} task{'' if n == 1 else 's'} improved, {counts[REGRESSED]} regressed, "
            f"{counts[NO_CHANGE]} no change, {counts[INCONCLUSIVE]} inconclusive"
        ),
        "warnings": warnings,
    }
    return verdicts, decision


class Rule:
    """The decision rule's settings, for one family of tasks."""

    def __init__(self, alpha: float, min_effect: float, correction: str, family: int):
        self.alpha, self.min_effect, self.correction, self.family = alpha, min_effect, correction, family
        self.mde_alpha = mde_alpha(alpha, correction, family)


def _primary(task: dict) -> dict:
    return (task.get("metrics") or {}).get(task.get("primary_metric")) or {}


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _verdict(task: dict, entry: dict, p_adjusted: float | None, rule: Rule) -> dict:
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
    significant = p_adjusted is not None and p_adjusted < rule.alpha
    large_enough = abs(delta) / scale >= rule.min_effect - 1e-12
    margin = rule.min_effect * scale
    ci = entry.get("delta_ci")
    ci = ci if isinstance(ci, list) and len(ci) == 2 and all(_num(x) for x in ci) else None
    n = entry.get("n_examples") or task.get("n_test")
    mde = _mde(entry, ci, n, rule) if p_value is not None else None
    adjusted = _adjusted_ci(entry, n, rule) if ci is not None else None
    if significant and large_enough and leaning != "none":
        outcome = IMPROVED if leaning == "up" else REGRESSED
    elif (
        p_value is not None
        and power.equivalent(ci, margin)
        and (adjusted is None or power.equivalent(adjusted, margin))
    ):
        outcome = NO_CHANGE
    else:
        outcome = INCONCLUSIVE
    band = (task.get("seed_spread") or {}).get("band")  # two single-seed runs compared: the seeds' spread
    within_spread = abs(delta) <= band * (1 + 1e-9) if _num(band) else None
    seed_bound = bool(within_spread) and outcome in (IMPROVED, REGRESSED)  # not beyond training's noise
    if seed_bound:
        outcome = INCONCLUSIVE
    n_needed = _n_needed(entry, n, mde, margin, rule) if outcome == INCONCLUSIVE and not seed_bound else None
    warnings = constant_warnings(task)
    reason = _reason(delta, p_value, p_adjusted, significant, large_enough, scale, rule)
    if seed_bound:
        reason += (
            f", but |delta| {_fmt(abs(delta))} is within the spread of training itself (±{_fmt(band)}, "
            f"from {task['seed_spread'].get('n_seeds')} seeds of {task['seed_spread'].get('set_id')}): "
            "another training seed could give it; more seeds, not more test examples, would tell"
        )
    if outcome == NO_CHANGE:
        reason += f"; the {_level(rule)} CI {_ci(ci, scale)} lies within ± the minimum effect {_fmt(margin)}"
    elif outcome == INCONCLUSIVE and not seed_bound and p_value is not None and power.equivalent(ci, margin):
        reason += f"; the {_level(rule)} CI {_ci(ci, scale)} lies within ± {_fmt(margin)}, but the "
        reason += f"Agresti-Min interval of the 0/1 scores {_ci(adjusted, scale)} does not"
        reason += _detectable(n, mde, n_needed, margin)
    elif outcome == INCONCLUSIVE and not seed_bound and p_value is not None:
        reason += f"; the {_level(rule)} CI {_ci(ci, scale)} reaches beyond ± {_fmt(margin)}"
        reason += _detectable(n, mde, n_needed, margin)
    if warnings:
        reason += "; warning: " + "; ".join(warnings)
    return {
        "metric": task["primary_metric"],
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
        "margin": margin,
        "mde": mde,
        "n": n,
        "n_needed": n_needed,
        **({} if within_spread is None else {"within_seed_spread": within_spread}),
        "reason": reason,
        "warnings": warnings,
    }


def _mde(entry: dict, ci: list[float] | None, n: int | None, rule: Rule) -> float | None:
    """The change of the metric (on its own scale) this test set detects with 80% power."""
    discordant = entry.get("discordant")
    test = "mid-p" if entry.get("test") == "mcnemar-mid-p" else "exact"
    if isinstance(discordant, dict) and n:
        share = (discordant["right_to_wrong"] + discordant["wrong_to_right"]) / n
        mde = power.mcnemar_mde(n, rule.mde_alpha, discordance=share, test=test)
        return None if mde is None else mde * (entry.get("scale") or 1.0)
    se = entry.get("delta_se")
    if not _num(se):
        if ci is None:
            return None
        se = power.se_from_ci(ci, rule.alpha)  # a run saved before delta_se was recorded
    return power.z_mde(se, rule.mde_alpha)


def _adjusted_ci(entry: dict, n: int | None, rule: Rule) -> list[float] | None:
    """For McNemar entries, the Agresti-Min interval of the delta (on the metric's scale), which
    "no change" must also fit; ``None`` for other metrics."""
    discordant = entry.get("discordant")
    if not isinstance(discordant, dict) or not n:
        return None
    scale = entry.get("scale") or 1.0
    lo, hi = power.paired_proportion_ci(
        discordant["right_to_wrong"], discordant["wrong_to_right"], n, rule.alpha
    )
    return [lo * scale, hi * scale]


def _n_needed(entry: dict, n: int | None, mde: float | None, margin: float, rule: Rule) -> int | None:
    """Test examples that would detect the equivalence margin (its MDE at most the margin)."""
    discordant = entry.get("discordant")
    if isinstance(discordant, dict) and n:
        share = (discordant["right_to_wrong"] + discordant["wrong_to_right"]) / n
        test = "mid-p" if entry.get("test") == "mcnemar-mid-p" else "exact"
        scale = entry.get("scale") or 1.0
        return power.mcnemar_n_needed(margin / scale, rule.mde_alpha, discordance=share, test=test)
    if mde is None or not n:
        return None
    return power.z_n_needed(n, mde, margin)


def constant_warnings(task: dict) -> list[str]:
    """Warnings about a model that gives (nearly) one prediction for every example while the
    references differ, from the task's ``flips["predictions"]`` (see
    :func:`harness.evaluation.flips.prediction_spread`); ``[]`` for runs that lack it."""
    spread = (task.get("flips") or {}).get("predictions") or {}
    references = spread.get("references") or {}
    if not references or references.get("share", 1.0) >= CONSTANT_SHARE or references.get("distinct", 0) < 2:
        return []
    warnings = []
    for side, model in (("before", "the base model"), ("after", "the tuned model")):
        top = spread.get(side) or {}
        if top.get("share", 0.0) >= CONSTANT_SHARE:
            warnings.append(
                f"{model} predicts {top['value']!r} for {top['share']:.0%} of the examples "
                f"(the most common reference is {references['share']:.0%})"
            )
    return warnings


def _reason(
    delta: float,
    p_value: float | None,
    p_adjusted: float | None,
    significant: bool,
    large_enough: bool,
    scale: float,
    rule: Rule,
) -> str:
    """Why the paired test does or does not call a change (the verdict adds the interval)."""
    alpha, min_effect, family = rule.alpha, rule.min_effect, rule.family
    if p_value is None or p_adjusted is None:
        return "no paired test: the metric has no per-example scores or statistics to compare"
    where = ""
    if family > 1:
        where = (
            f" after Holm over {family} tasks"
            if rule.correction == "holm"
            else f" (uncorrected, {family} tasks)"
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


def _detectable(n: int | None, mde: float | None, n_needed: int | None, margin: float) -> str:
    if mde is None:
        return ""
    text = f": {n} test examples detect a change of {_fmt(mde)} or more" if n else f": MDE {_fmt(mde)}"
    if n_needed is not None:
        text += f"; about {n_needed} would detect {_fmt(margin)}"
    return text


def _level(rule: Rule) -> str:
    return f"{1 - rule.alpha:.0%}"


def _ci(ci: list[float] | None, scale: float) -> str:
    if ci is None:
        return "(none)"
    digits = 2 if scale > 1.5 else 4
    return f"[{ci[0]:+.{digits}f}, {ci[1]:+.{digits}f}]"


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _p(p: float, alpha: float) -> str:
    """``p = 0.151``: 4 decimals without trailing zeros (as the reports show them), more where
    rounding would cross ``alpha``; ``p < 0.0001`` below that."""
    if p < 0.0001:
        return "p < 0.0001"
    text = f"{p:.4f}".rstrip("0").rstrip(".")
    if (float(text) < alpha) != (p < alpha):
        text = f"{p:.6g}"
    return f"p = {text}"
