"""How verdicts, the overall decision, slices and the gates are shown (results.json ``verdict``,
``decision``, ``slices``, ``gates``): labels that do not rely on colour, the rule, what a test set
can detect. The report view (:mod:`harness.reports.view`) and the terminal use these."""

from __future__ import annotations

from harness.reports.formatting import DASH, _fmt_value, fmt_delta_ci, fmt_num, fmt_p

VERDICT_LABELS = {
    "improved": "▲ improved",
    "regressed": "▼ REGRESSED",
    "no change": "no change",
    "inconclusive": "inconclusive",
    "no significant change": "no significant change",  # results.json written before the four outcomes
}
VERDICT_CLASSES = {
    "improved": "improved",
    "regressed": "regressed",
    "no change": "unchanged",
    "inconclusive": "inconclusive",
    "no significant change": "unchanged",
}
LEANINGS = {"up": "leaning better", "down": "leaning worse"}
LEANS = ("inconclusive", "no significant change")  # the outcomes that show the point estimate's side


def verdict_view(task: dict) -> dict | None:
    """A task's verdict (results.json ``verdict``) as shown: a label that does not rely on colour
    (``▼ REGRESSED``), the leaning, the primary metric's values, delta with CI, p-values, the reason.
    ``None`` when the task has no verdict (an evaluation, or a run recorded before verdicts)."""
    v = task.get("verdict")
    if not isinstance(v, dict) or v.get("outcome") not in VERDICT_LABELS:
        return None
    entry = (task.get("metrics") or {}).get(v.get("metric")) or {}
    scale = entry.get("scale")
    leaning = LEANINGS.get(v.get("leaning"), "") if v["outcome"] in LEANS else ""
    label = VERDICT_LABELS[v["outcome"]]
    p, p_raw = fmt_p(v.get("p_adjusted")), fmt_p(v.get("p_value"))
    return {
        "outcome": v["outcome"],
        "css": VERDICT_CLASSES[v["outcome"]],
        "label": label,
        "leaning": leaning,
        "text": f"{label}, {leaning}" if leaning else label,
        "metric": str(v.get("metric")),
        "higher_is_better": entry.get("higher_is_better", True),
        "before": fmt_num(v.get("before"), scale),
        "after": fmt_num(v.get("after"), scale),
        "delta": fmt_delta_ci(v.get("delta"), v.get("delta_ci"), scale),
        "p": p,
        "p_text": f"p < {p[1:]}" if p.startswith("<") else f"p = {p}",
        "p_raw": p_raw if p_raw != p else None,
        "reason": str(v.get("reason") or ""),
        "mde": fmt_num(v["mde"], scale) if isinstance(v.get("mde"), (int, float)) else None,
        "margin": fmt_num(v["margin"], scale) if isinstance(v.get("margin"), (int, float)) else None,
        "n": v.get("n"),
        "n_needed": v.get("n_needed"),
        "detectable": _detectable(v, scale),
        "warnings": [str(w) for w in v.get("warnings") or []],
    }


def _detectable(v: dict, scale: float | None) -> str:
    """``100 test examples detect a change of 0.15 or more (80% power); about 23740 would detect
    0.01``: what the test set can see, or ``""`` for a verdict without an MDE (an old run)."""
    if not isinstance(v.get("mde"), (int, float)):
        return ""
    text = f"{v['n']} test examples detect" if v.get("n") else "the test set detects"
    text += f" a change of {fmt_num(v['mde'], scale)} or more (80% power)"
    if v.get("n_needed"):
        text += f"; about {v['n_needed']} would detect {fmt_num(v.get('margin'), scale)}"
    return text


def decision_view(results: dict, tasks: list[dict]) -> dict | None:
    """The overall line and the rule behind the verdicts, from results.json ``decision``."""
    d = results.get("decision")
    if not isinstance(d, dict):
        return None
    decided = [t for t in tasks if t["verdict"]]
    correction = d.get("correction")
    holm = correction == "holm" and sum(t["verdict"]["p"] != DASH for t in decided) > 1
    rule = f"a significant paired test of the primary metric at α = {_fmt_value(d.get('alpha'))}"
    rule += " (p Holm-adjusted over the tasks)" if holm else ""
    rule += f" and |delta| ≥ {_fmt_value(d.get('min_effect'))} × the metric's scale"
    four = "inconclusive" in d  # a run decided with the four outcomes (else: "no significant change")
    otherwise = "otherwise no significant change."
    if four:
        otherwise = (
            f"no change needs the whole {_level(results)} CI of the delta within ± the same minimum effect "
            "(an equivalence test); otherwise inconclusive: the test set is too small to tell, and the "
            "verdict gives the smallest change it detects with 80% power (the MDE, at α / number of tasks "
            "under Holm) and the test examples that would detect the minimum effect."
        )
    return {
        "summary": str(d.get("summary", "")),
        "rule": rule,
        "otherwise": otherwise,
        "four": four,
        "warnings": [str(w) for w in d.get("warnings") or []],
        "holm": holm,
        "min_effect": _fmt_value(d.get("min_effect")),
        "p_header": "p (Holm)" if holm else "p",
        "regressed": [t["name"] for t in decided if t["verdict"]["outcome"] == "regressed"],
        "improved": [t["name"] for t in decided if t["verdict"]["outcome"] == "improved"],
        "inconclusive": [t["name"] for t in decided if t["verdict"]["outcome"] == "inconclusive"],
    }


def slices_view(task: dict, results: dict) -> dict | None:
    """A task's slices (results.json ``slices``) as shown: per slice its n, before, after, delta
    with CI, q-value (Benjamini-Hochberg), outcome and fixed / broken examples; ``None`` for a
    task without slices."""
    s = task.get("slices")
    if not isinstance(s, dict):
        return None
    metric = (task.get("metrics") or {}).get(s.get("metric")) or {}
    scale, values = metric.get("scale"), s.get("values")
    rows = []
    for value, e in (values or {}).items():
        outcome = e.get("outcome")
        rows.append(
            {
                "value": str(value),
                "n": _fmt_value(e.get("n")),
                "before": fmt_num(e.get("before"), scale),
                "after": fmt_num(e.get("after"), scale),
                "delta": fmt_delta_ci(e.get("delta"), e.get("delta_ci"), scale),
                "q": fmt_p(e.get("q_value")),
                "outcome": VERDICT_LABELS.get(outcome, DASH),
                "css": VERDICT_CLASSES.get(outcome, ""),
                "flips": f"{e['fixed']} fixed / {e['broken']} broken" if "fixed" in e else DASH,
            }
        )
    decided = results.get("slice_decision") or {}
    rule = ""
    if decided:
        rule = (
            f"q: the paired test's p-value adjusted by Benjamini-Hochberg over the run's "
            f"{_fmt_value(decided.get('n_slices'))} slices; improved or regressed needs q < "
            f"{_fmt_value(decided.get('alpha'))} and |delta| ≥ "
            f"{_fmt_value((results.get('decision') or {}).get('min_effect'))} × the metric's scale; "
            "otherwise no change when the interval lies within ± that, else inconclusive"
        )
    note = f"{s.get('metric')} cannot be cut into slices (no per-example scores or statistics)"
    return {
        "field": str(s.get("field")),
        "metric": str(s.get("metric")),
        "higher_is_better": metric.get("higher_is_better", True),
        "rows": rows,
        "note": note if values is None else "",
        "title": f"Slices by {s.get('field')} ({s.get('metric')})",
        "rule": rule,
    }


def _level(results: dict) -> str:
    level = (results.get("statistics") or {}).get("confidence")
    return f"{level * 100:g}%" if isinstance(level, (int, float)) else "confidence"


def gates_view(results: dict) -> dict | None:
    """The gates a run was checked against (results.json ``gates``): each with PASS / FAIL, what
    was measured and why; ``None`` when no gates were given."""
    gates = results.get("gates")
    if not isinstance(gates, list) or not gates:
        return None
    rows = [
        {
            "expression": str(g.get("expression", "")),
            "passed": bool(g.get("passed")),
            "inconclusive": [str(name) for name in g.get("inconclusive") or []],
            "label": _gate_label(g),
            "actual": _fmt_value(g["actual"])
            if isinstance(g.get("actual"), int)
            else fmt_num(g.get("actual")),
            "detail": str(g.get("detail") or ""),
        }
        for g in gates
        if isinstance(g, dict)
    ]
    passed = sum(row["passed"] for row in rows)
    summary = f"{passed} of {len(rows)} gate{'' if len(rows) == 1 else 's'} passed"
    unsure = sum(bool(row["inconclusive"]) for row in rows if row["passed"])
    note = ""
    if unsure:
        note = f"{unsure} passed on a task whose verdict is inconclusive (too few test examples to tell)"
        note += "; exit code 4" if passed == len(rows) else ""
    return {"rows": rows, "summary": summary, "note": note}


def policy_view(results: dict) -> dict | None:
    """A release policy's decision (results.json ``policy``): its line, and per task the tier,
    metric, outcome and why (each rule's check); ``None`` when the run had no policy."""
    policy = results.get("policy")
    if not isinstance(policy, dict):
        return None
    rows = [
        {
            "outcome": str(task.get("outcome", "")),
            "task": f"{name} ({task.get('tier')}, {task.get('metric')})",
            "why": str(task.get("why") or ""),
        }
        for name, task in (policy.get("tasks") or {}).items()
    ]
    return {"decision": str(policy.get("decision", "")), "line": str(policy.get("line", "")), "rows": rows}


def _gate_label(gate: dict) -> str:
    """``PASS``, ``✖ FAIL``, or ``PASS (inconclusive)`` for a gate that passed on a task the test
    set cannot decide (a gate that failed stays failed)."""
    if not gate.get("passed"):
        return "✖ FAIL"
    return "PASS (inconclusive)" if gate.get("inconclusive") else "PASS"
