"""A run's report as Markdown and as one self-contained HTML page (the Jinja template
``harness/templates/report.html.j2``), both from the same view model."""

from __future__ import annotations

import html
import re
from typing import Any

from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from harness.reports.browser import browser_data, csp, embed_json, script
from harness.reports.charts import CHART_DIR, inline_svg, render_charts
from harness.reports.view import DASH, report_view

# "\\", "`", "*", "|", "~"; an "_" that could open or close emphasis (not one inside a word, as in
# max_new_tokens); a "]" that would close a link or an image ("](" and "][")
_MD_SPECIAL = re.compile(r"[\\`*|~]|(?<![^\W_])_|_(?![^\W_])|\](?=[(\[])")
_AUTOLINK = re.compile(r"(?<=[A-Za-z0-9])(:)(?=//)|(?<=www)(\.)", re.IGNORECASE)


def md_escape(text: Any, newline: str = "<br>") -> str:
    """Text from data made inert in Markdown (a table cell or a line): HTML escaped, so tags and
    comments show as text; what makes code, emphasis, strike-through or a table cell
    backslash-escaped, and a ``]`` that would close a link or an image; ``http://`` and ``www.``
    broken up so that no autolink forms; newlines as ``newline``. A Markdown viewer shows the
    text as it was, and nothing in it becomes a link, an image or markup."""
    text = html.escape("" if text is None else str(text), quote=False)
    text = _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text)
    text = _AUTOLINK.sub(lambda m: "\\" + m.group(0), text)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", newline)


_md = md_escape


class _Raw(str):
    """Markdown that harness wrote itself (bold, a link): a table cell that is not escaped again."""


def _bold(text: Any) -> _Raw:
    return _Raw(f"**{md_escape(text)}**")


def _md_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(c if isinstance(c, _Raw) else _md(c) for c in row) + " |" for row in rows]
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
        if d["inconclusive"]:
            out += [
                f"**? Inconclusive (too few test examples to tell): {_md(', '.join(d['inconclusive']))}.**",
                "",
            ]
    if v["slice_summary"]:
        out += [f"{_md(v['slice_summary'])}.", ""]
    out += _gates(v["gates"]) + _policy(v["policy"]) + _warnings(v)
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
            label = _bold(label)  # stands out without colour
        rows.append(
            [t["name"], label, name, f"{p['before_value']} → {p['after_value']}", p["delta"], p_value]
        )
    out += _md_table(header, rows)
    if d:
        out += [f"Improved or regressed needs {_md(d['rule'])}; {_md(d['otherwise'])}", ""]
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
        [_bold(g["label"]) if not g["passed"] else g["label"], g["expression"], g["actual"], g["detail"]]
        for g in gates["rows"]
    ]
    note = [f"{_md(gates['note'])}.", ""] if gates["note"] else []
    return [
        f"**Gates: {_md(gates['summary'])}.**",
        "",
        *note,
        *_md_table(["result", "gate", "actual", "detail"], rows),
    ]


def _policy(policy: dict | None) -> list[str]:
    """A release policy's decision and each task's outcome, why."""
    if not policy:
        return []
    rows = [
        [_bold(p["outcome"]) if p["outcome"] == "NO-GO" else p["outcome"], p["task"], p["why"]]
        for p in policy["rows"]
    ]
    return [
        f"**Release policy: {_md(policy['line'])}.**",
        "",
        *_md_table(["outcome", "task (tier, metric)", "why"], rows),
    ]


def _slices(s: dict | None, is_run: bool, ci_header: str) -> list[str]:
    """A task's slice table: per slice n, before, after, delta [CI], q, outcome, fixed / broken
    (an evaluation: n and the score); a regressed slice's outcome in bold."""
    if not s:
        return []
    out = [f"**{_md(s['title'])}**" + ("" if s["higher_is_better"] else " (lower is better)"), ""]
    if s["note"]:
        return [*out, f"{_md(s['note'])}.", ""]
    field = _md(s["field"])  # a header cell: _md_table escapes the body's cells only
    if not is_run:
        return out + _md_table([field, "n", "score"], [[r["value"], r["n"], r["before"]] for r in s["rows"]])
    rows = []
    for r in s["rows"]:
        outcome = _bold(r["outcome"]) if r["css"] == "regressed" else r["outcome"]
        rows.append([r["value"], r["n"], r["before"], r["after"], r["delta"], r["q"], outcome, r["flips"]])
    header = [field, "n", "before", "after", ci_header, "q", "outcome", "fixed / broken"]
    return out + _md_table(header, rows) + ([f"{_md(s['rule'])}.", ""] if s["rule"] else [])


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


def render_markdown(
    results: dict, samples: list[dict], n_examples: int = 5, charts: dict[str, dict] | None = None
) -> str:
    """The run report as GitHub-flavoured Markdown. ``charts`` (:func:`render_charts`) are linked
    as ``charts/<name>``, where :func:`harness.reports.write_reports` saves them."""
    v = report_view(results, samples, n_examples)
    is_run, charts = v["is_run"], charts or {}
    out = [f"# harness {v['kind']} {_md(v['run_id'])}", ""]
    sub = [f"mode: **{_md(v['mode'])}**"]
    if v["model_name"]:
        sub.append(f"model: {_md(v['model_name'])}")
    if v["created"]:
        sub.append(f"created: {_md(v['created'])}")
    out += [" · ".join(sub), ""]
    out += [f"- {_md(line)}" for line in v["compared"]] + ([""] if v["compared"] else [])
    out += ["## Summary", ""]
    out += _summary(v)
    if any(t["has_sig"] for t in v["tasks"]):
        out += ["`*` marks a significant change; `↓` after a metric name: lower is better.", ""]
    elif any(not r["higher_is_better"] for t in v["tasks"] for r in t["metrics"]):
        out += ["`↓` after a metric name: lower is better.", ""]
    out += _chart_links(charts, ("deltas.svg", "training.svg"))
    for i, t in enumerate(v["tasks"], 1):
        out += [f"## Task {_md(t['name'])}", ""]
        verdict = t["verdict"]
        if verdict:
            out += [f"Verdict: {_bold(verdict['text'])} — {_md(verdict['reason'])}.", ""]
            if verdict["detectable"]:
                out += [f"Test set: {_md(verdict['detectable'])}.", ""]
        out += _metric_table(t, is_run, v["ci_header"])
        if t["info"]:
            out += _md_table(["task", "value"], t["info"])
        if t["settings"]:
            out += _md_table(["metric", "settings"], t["settings"])
        if t["flips"]:
            out += _md_table(["flips", "examples"], t["flips"])
        out += _slices(t["slices"], is_run, v["ci_header"])
        out += _chart_links(charts, [name for name in charts if name.startswith(f"confusion-{i}-")])
        if t["examples"]:
            out += [
                f"Examples ({len(t['examples'])} of {t['n_samples']}, all in samples.jsonl and report.html;"
                " ✓ = matches the reference):",
                "",
            ]
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
    out += ["## Cost and provenance", ""] + _md_table(["cost", "value"], v["cost"])
    out += _md_table(["provenance", "value"], v["provenance"])
    out += ["## Run metadata", ""]
    for title, rows in v["meta"]:
        out += [f"### {title}", ""] + _md_table(["key", "value"], rows)
    if v["config"]:
        out += ["### Config", ""] + _md_table(["key", "value"], v["config"])
    return "\n".join(out).rstrip() + "\n"


def _chart_links(charts: dict[str, dict], names) -> list[str]:
    """Markdown images of the charts saved next to report.md (their names are harness's own)."""
    return [
        line
        for name in names
        if name in charts
        for line in (f"![{_md(charts[name]['title'])}]({CHART_DIR}/{name})", "")
    ]


def render_html(
    results: dict, samples: list[dict], n_examples: int = 5, charts: dict[str, dict] | None = None
) -> str:
    """The run report as one self-contained HTML page: inline CSS, SVG charts and the per-sample
    browser's script; a Content-Security-Policy that forbids loading anything."""
    v = report_view(results, samples, n_examples)
    charts = render_charts(results, samples) if charts is None else charts
    shown = {name: {"title": c["title"], "html": Markup(inline_svg(c["svg"]))} for name, c in charts.items()}
    for i, t in enumerate(v["tasks"], 1):
        t["charts"] = [shown[name] for name in shown if name.startswith(f"confusion-{i}-")]
    data = browser_data(results, samples)
    v["n_total"] = len(data["rows"])
    v["browser_by"] = "; ".join(
        f"{t['by']} for {t['name']}, whose {t['metric']} has no per-example score"
        for t in data["tasks"]
        if t["by"] != t["metric"]
    )
    code = script()
    env = Environment(loader=PackageLoader("harness", "templates"), autoescape=True)
    return env.get_template("report.html.j2").render(
        v=v,
        charts=shown,
        browser_json=Markup(embed_json(data)),
        script=Markup(code),
        csp=csp([code]),
    )
