"""A run's report as Markdown and as one self-contained HTML page (the Jinja template
``harness/templates/report.html.j2``), both from the same view model."""

from __future__ import annotations

import html
from typing import Any

from jinja2 import Environment, PackageLoader

from harness.reports.view import DASH, report_view


def _md(s: Any) -> str:
    """Escape text for a Markdown table cell: HTML specials, pipes and newlines."""
    s = html.escape("" if s is None else str(s), quote=False)
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("\r\n", "\n").replace("\n", "<br>")


def _md_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return out + [""]


def _summary_phrase(task: dict, is_run: bool) -> str:
    p = task["primary"]
    if p is None:
        return f"- **{_md(task['name'])}**: no metrics"
    if not is_run:
        return f"- **{_md(task['name'])}** — {_md(p['name'])}: {_md(p['before'])}"
    verdict = p["verdict"] or "n/a"
    extra = ""
    if p["p_value"] is not None:
        pv = p["p_value"]
        extra = f", p < {pv[1:]}" if pv.startswith("<") else f", p = {pv}"
        extra = _md(extra) + (", significant" if p["significant"] else "")
    return (
        f"- **{_md(task['name'])}** — {_md(p['name'])}: {_md(p['before'])} → {_md(p['after'])} "
        f"({p['delta']}{extra}) {p['arrow']} {verdict}"
    )


def _metric_table(task: dict, is_run: bool) -> list[str]:
    header = ["metric", "before", "after", "delta"] if is_run else ["metric", "score"]
    if task["has_p"]:
        header.append("p-value")
    rows = []
    for r in task["metrics"]:
        name = r["name"] + (" (primary)" if r["primary"] else "") + ("" if r["higher_is_better"] else " ↓")
        row = [name, r["before"], r["after"], r["delta"]] if is_run else [name, r["before"]]
        if is_run and r["verdict"]:
            row[3] = f"{r['delta']} {r['arrow']}"
        if task["has_p"]:
            row.append((r["p_value"] or DASH) + (" *" if r["significant"] else ""))
        rows.append(row)
    return _md_table(header, rows)


def render_markdown(results: dict, samples: list[dict], n_examples: int = 5) -> str:
    """The run report as GitHub-flavoured Markdown."""
    v = report_view(results, samples, n_examples)
    is_run = v["is_run"]
    out = [f"# harness {'run' if is_run else 'evaluation'} `{v['run_id']}`", ""]
    sub = [f"mode: **{v['mode']}**"]
    if v["model_name"]:
        sub.append(f"model: `{v['model_name']}`")
    if v["created"]:
        sub.append(f"created: {v['created']}")
    out += [" · ".join(sub), "", "## Summary", ""]
    out += [_summary_phrase(t, is_run) for t in v["tasks"]] + [""]
    if any(t["has_sig"] for t in v["tasks"]):
        out += ["`*` marks a significant change; `↓` after a metric name: lower is better.", ""]
    elif any(not r["higher_is_better"] for t in v["tasks"] for r in t["metrics"]):
        out += ["`↓` after a metric name: lower is better.", ""]
    for t in v["tasks"]:
        out += [f"## Task `{t['name']}`", ""]
        out += _metric_table(t, is_run)
        if t["info"]:
            out += _md_table(["task", "value"], t["info"])
        if t["settings"]:
            out += ["Metric settings:", ""]
            for name, settings in t["settings"]:
                out += [f"- `{name}`: " + "; ".join(f"{k} = `{val}`" for k, val in settings)]
            out.append("")
        if t["flips"]:
            out += _md_table(["flips", "examples"], t["flips"])
        if t["examples"]:
            out += [f"Examples ({len(t['examples'])} of {t['n_samples']}; ✓ = matches the reference):", ""]
            header = (
                ["id", "input", "reference", "before", "after"]
                if is_run
                else ["id", "input", "reference", "prediction"]
            )
            rows = []
            for e in t["examples"]:
                row = [e["id"], e["input"], e["reference"], e["before"] + (" ✓" if e["before_match"] else "")]
                if is_run:
                    row.append(e["after"] + (" ✓" if e["after_match"] else ""))
                rows.append(row)
            out += _md_table(header, rows)
    out += ["## Run metadata", ""]
    for title, rows in v["meta"]:
        out += [f"### {title}", ""] + _md_table(["key", "value"], rows)
    if v["config"]:
        out += ["### Config", ""] + _md_table(["key", "value"], v["config"])
    return "\n".join(out).rstrip() + "\n"


def render_html(results: dict, samples: list[dict], n_examples: int = 5) -> str:
    """The run report as one self-contained HTML page (inline CSS and SVG, no external resources)."""
    env = Environment(loader=PackageLoader("harness", "templates"), autoescape=True)
    return env.get_template("report.html.j2").render(v=report_view(results, samples, n_examples))
