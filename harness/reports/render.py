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


def _summary(v: dict) -> list[str]:
    """The summary section: in a run, the overall line, the regressions, and one headline row per
    task (verdict, primary metric before → after, delta [CI], p); in an evaluation, the scores."""
    if not v["is_run"]:
        lines = []
        for t in v["tasks"]:
            p = t["primary"]
            score = f"{_md(p['name'])}: {_md(p['before'])}" if p else "no metrics"
            lines.append(f"- **{_md(t['name'])}** — {score}")
        return [*lines, "", *_gates(v["gates"]), *_warnings(v)]
    out = []
    d = v["decision"]
    if d:
        out += [f"**Overall: {_md(d['summary'])}.**", ""]
        if d["regressed"]:
            out += [f"**▼ Regressed: {_md(', '.join(d['regressed']))}.**", ""]
    out += _gates(v["gates"]) + _warnings(v)
    header = [
        "task",
        "verdict",
        "primary metric",
        "before → after",
        v["ci_header"],
        d["p_header"] if d else "p",
    ]
    rows = []
    for t in v["tasks"]:
        verdict, p = t["verdict"], t["primary"]
        if p is None:
            rows.append([t["name"], DASH, "no metrics", DASH, DASH, DASH])
            continue
        name = p["name"] + ("" if p["higher_is_better"] else " ↓")
        p_value = (p["p_value"] or DASH) + (f" (raw {p['p_raw']})" if p["p_raw"] else "")
        label = DASH if verdict is None else verdict["text"]
        if verdict and verdict["outcome"] == "regressed":
            label = f"**{label}**"  # stands out without colour
        rows.append(
            [t["name"], label, name, f"{p['before_value']} → {p['after_value']}", p["delta"], p_value]
        )
    out += _md_table(header, rows)
    if d:
        out += [f"Improved or regressed needs {_md(d['rule'])}; otherwise no significant change.", ""]
    return out


def _warnings(v: dict) -> list[str]:
    """How training ended, and what a reader should know before trusting the numbers."""
    lines = [f"Training: {_md(v['stopped'])}.", ""] if v.get("stopped") else []
    if v.get("warnings"):
        lines += [f"- ⚠ {_md(w)}" for w in v["warnings"]] + [""]
    return lines


def _gates(gates: dict | None) -> list[str]:
    """The gates' results; a failed gate in bold."""
    if not gates:
        return []
    rows = [
        [f"**{g['label']}**" if not g["passed"] else g["label"], g["expression"], g["actual"], g["detail"]]
        for g in gates["rows"]
    ]
    return [
        f"**Gates: {_md(gates['summary'])}.**",
        "",
        *_md_table(["result", "gate", "actual", "detail"], rows),
    ]


def _metric_table(task: dict, is_run: bool, ci_header: str) -> list[str]:
    header = ["metric", "before", "after", ci_header] if is_run else ["metric", "score"]
    if task["has_p"]:
        header.append("p-value")
    rows = []
    for r in task["metrics"]:
        name = r["name"] + (" (primary)" if r["primary"] else "") + ("" if r["higher_is_better"] else " ↓")
        row = [name, r["before"], r["after"], r["delta"]] if is_run else [name, r["before"]]
        if task["has_p"]:
            p_value = (r["p_value"] or DASH) + (f" (raw {r['p_raw']})" if r["p_raw"] else "")
            row.append(p_value + (" *" if r["significant"] else ""))
        rows.append(row)
    return _md_table(header, rows)


def render_markdown(results: dict, samples: list[dict], n_examples: int = 5) -> str:
    """The run report as GitHub-flavoured Markdown."""
    v = report_view(results, samples, n_examples)
    is_run = v["is_run"]
    out = [f"# harness {v['kind']} `{v['run_id']}`", ""]
    sub = [f"mode: **{v['mode']}**"]
    if v["model_name"]:
        sub.append(f"model: `{v['model_name']}`")
    if v["created"]:
        sub.append(f"created: {v['created']}")
    out += [" · ".join(sub), "", "## Summary", ""]
    out += _summary(v)
    if any(t["has_sig"] for t in v["tasks"]):
        out += ["`*` marks a significant change; `↓` after a metric name: lower is better.", ""]
    elif any(not r["higher_is_better"] for t in v["tasks"] for r in t["metrics"]):
        out += ["`↓` after a metric name: lower is better.", ""]
    for t in v["tasks"]:
        out += [f"## Task `{t['name']}`", ""]
        verdict = t["verdict"]
        if verdict:
            label = f"**{_md(verdict['text'])}**"
            out += [f"Verdict: {label} — {_md(verdict['reason'])}.", ""]
        out += _metric_table(t, is_run, v["ci_header"])
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
