"""The report view model: every value a report shows, validated and formatted once, so the
Markdown, HTML and terminal renderings show the same content. Nothing here imports torch."""

from __future__ import annotations

from typing import Any

from harness.errors import HarnessError
from harness.reports.details import (
    cost_rows,
    flips_rows,
    instruction_text,
    provenance_rows,
    settings_text,
    shown_input,
)
from harness.reports.formatting import (  # noqa: F401  (fmt_*: this module's names since the start)
    DASH,
    _fmt_value,
    _is_ci,
    _is_num,
    fmt_ci,
    fmt_delta,
    fmt_delta_ci,
    fmt_num,
    fmt_p,
)
from harness.reports.verdict_view import decision_view, gates_view, policy_view, slices_view, verdict_view
from harness.tasks.overlap import describe as describe_overlap


def _flatten(d: Any, prefix: str = "") -> list[tuple[str, str]]:
    if not isinstance(d, dict):
        return [(prefix or "value", _fmt_value(d))]
    rows: list[tuple[str, str]] = []
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            rows.extend(_flatten(v, key))
        else:
            rows.append((key, _fmt_value(v)))
    return rows


def _truncate(s: Any, limit: int = 400) -> str:
    s = "" if s is None else str(s)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _matches(pred: Any, refs: list[str]) -> bool:
    return isinstance(pred, str) and pred.strip() != "" and pred.strip() in {r.strip() for r in refs}


# ---------------------------------------------------------------------------------------------- view model


def metric_rows(task: dict) -> list[dict]:
    """One row per metric of a task: values, delta with its CI, p-value. The primary metric's
    p-value is the verdict's (corrected for multiple tasks) when the task has a verdict."""
    verdict = task.get("verdict") if isinstance(task.get("verdict"), dict) else None
    rows = []
    for name, m in task["metrics"].items():
        m = m or {}
        before, after, scale = m.get("before"), m.get("after"), m.get("scale")
        delta = m.get("delta")
        if delta is None and _is_num(before) and _is_num(after):
            delta = after - before
        primary = name == task.get("primary_metric")
        p_value, p_raw, significant = m.get("p_value"), None, m.get("significant")
        if primary and verdict and _is_num(verdict.get("p_adjusted")):
            p_value, significant = verdict["p_adjusted"], verdict.get("significant")
            p_raw = fmt_p(m.get("p_value")) if fmt_p(m.get("p_value")) != fmt_p(p_value) else None
        rows.append(
            {
                "name": name,
                "primary": primary,
                "higher_is_better": m.get("higher_is_better", True),
                "before": fmt_ci(before, m.get("before_ci"), scale),
                "after": fmt_ci(after, m.get("after_ci"), scale),
                "before_value": fmt_num(before, scale),
                "after_value": fmt_num(after, scale),
                "delta": fmt_delta_ci(delta, m.get("delta_ci"), scale),
                "p_value": fmt_p(p_value) if "p_value" in m else None,
                "p_raw": p_raw,
                "significant": significant,
                "settings": _flatten(m["settings"]) if m.get("settings") else [],
            }
        )
    return rows


def report_view(results: dict, samples: list[dict], n_examples: int = 5) -> dict:
    """Everything the reports show, validated and pre-formatted. Raises on missing required keys."""
    for key in ("run_id", "mode", "tasks"):
        if key not in results:
            raise HarnessError(f"results.json: missing required key {key!r}")
    is_run = results["mode"] in ("run", "compare")  # compare: run A before, run B after
    by_task: dict[str, list[dict]] = {}
    for s in samples:
        by_task.setdefault(s.get("task"), []).append(s)

    tasks = []
    for name, t in results["tasks"].items():
        if not isinstance(t, dict) or not isinstance(t.get("metrics"), dict):
            raise HarnessError(f"results.json: task {name!r} has no 'metrics' table")
        rows = metric_rows(t)
        primary = next((r for r in rows if r["primary"]), rows[0] if rows else None)
        examples = []
        for s in by_task.get(name, [])[:n_examples]:
            refs = s.get("references") or ([s["reference"]] if s.get("reference") is not None else [])
            examples.append(
                {
                    "id": str(s.get("id", "")),
                    "input": _truncate(shown_input(s, t)),
                    "reference": _truncate(s.get("reference")),
                    "before": _truncate(s.get("prediction_before")),
                    "after": _truncate(s.get("prediction_after")),
                    "before_match": _matches(s.get("prediction_before"), refs),
                    "after_match": _matches(s.get("prediction_after"), refs),
                }
            )
        flips = t.get("flips")
        tasks.append(
            {
                "name": name,
                "primary": primary,
                "verdict": verdict_view(t),
                "metrics": rows,
                "has_ci": any(
                    "before_ci" in (m or {}) or "after_ci" in (m or {}) for m in t["metrics"].values()
                ),
                "has_p": any(r["p_value"] is not None for r in rows),
                "has_sig": any(r["significant"] is not None for r in rows),
                "info": [("instruction", _fmt_value(instruction_text(t)))]
                + [
                    (k, _fmt_value(t.get(k)))
                    for k in (
                        "version",
                        "source",
                        "test_data",
                        "n_test",
                        "n_train",
                        "max_new_tokens",
                        "stop",
                    )
                    if k in t
                ]
                + ([("train/test overlap", describe_overlap(t["overlap"]))] if t.get("overlap") else []),
                "settings": [(r["name"], settings_text(r["settings"])) for r in rows if r["settings"]],
                "examples": examples,
                "n_samples": len(by_task.get(name, [])),
                "flips": flips_rows(flips),
                "slices": slices_view(t, results),
            }
        )

    confidence = (results.get("statistics") or {}).get("confidence")
    model, training = results.get("model") or {}, results.get("training") or None
    meta = [
        (
            "Run",
            [
                (k, _fmt_value(results.get(k)))
                for k in ("run_id", "mode", "created", "harness_version", "git_commit", "seed")
            ],
        )
    ]
    compared = results.get("compared") or {}
    for side in ("before", "after"):  # harness compare: which run is which side
        if compared.get(side):
            title = f"Compared: {side} = run {compared[side].get('run_id')}"
            meta.append((title, [(k, _fmt_value(v)) for k, v in compared[side].items()]))
    if "differences" in results:
        rows = [
            (str(d.get("key")), f"{_fmt_value(d.get('before'))} → {_fmt_value(d.get('after'))}")
            for d in results["differences"] or []
        ]
        meta.append(("Differences between the compared runs", rows or [("none", "")]))
    meta.append(("Model", [(k, _fmt_value(v)) for k, v in model.items()]))
    if training:
        shown = {k: v for k, v in training.items() if k not in ("loss_history", "dev_history")}
        meta.append(("Training", _flatten(shown)))
    for title, key in (("Generation", "generation"), ("Device", "device")):
        if results.get(key):
            meta.append((title, [(k, _fmt_value(v)) for k, v in results[key].items()]))
    if results.get("versions"):
        meta.append(("Library versions", [(k, _fmt_value(v)) for k, v in results["versions"].items()]))

    return {
        "run_id": str(results["run_id"]),
        "mode": results["mode"],
        "is_run": is_run,
        "kind": {"run": "run", "compare": "comparison"}.get(results["mode"], "evaluation"),
        "compared": _compared_lines(results),
        "created": results.get("created"),
        "model_name": model.get("name"),
        "tasks": tasks,
        "decision": decision_view(results, tasks) if is_run else None,
        "gates": gates_view(results),
        "slice_summary": str((results.get("slice_decision") or {}).get("summary") or ""),
        "policy": policy_view(results),
        "warnings": _warnings(results),
        "stopped": "; ".join(
            str(training[k]) for k in ("stop_reason", "kept") if training and training.get(k)
        ),
        "ci_header": f"delta [{confidence * 100:g}% CI]" if _is_num(confidence) else "delta [CI]",
        "training": training,
        "cost": cost_rows(results),
        "provenance": provenance_rows(results),
        "meta": meta,
        "config": _flatten(results.get("config") or {}),
        "n_examples": n_examples,
    }


def _warnings(results: dict) -> list[str]:
    """results.json ``warnings``, then the verdicts' (``decision.warnings``: a model that predicts
    one label) that it does not already hold."""
    warnings = [str(w) for w in results.get("warnings") or []]
    decision = results.get("decision") if isinstance(results.get("decision"), dict) else {}
    return warnings + [str(w) for w in decision.get("warnings") or [] if str(w) not in warnings]


def _compared_lines(results: dict) -> list[str]:
    """For a comparison (``harness compare``): which run is "before" and which "after", and how
    many provenance values differ; empty otherwise."""
    compared = results.get("compared") or {}
    lines = []
    for side in ("before", "after"):
        run = compared.get(side) or {}
        if run:
            what = ", ".join(str(run[k]) for k in ("model", "method", "predictions") if run.get(k))
            lines.append(f"{side} = run {run.get('run_id')} ({what})")
    if lines and "differences" in results:
        n = len(results["differences"] or [])
        lines.append(f"{n} provenance {'value differs' if n == 1 else 'values differ'} (see Run metadata)")
    return lines
