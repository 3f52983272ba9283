"""A seed set's report: ``seeds.json``, ``seeds.md`` and ``seeds.html`` with a chart of every
seed's delta per task, beside the runs' own folders. Data text (task and metric names, run ids)
is escaped in both formats."""

from __future__ import annotations

import html
import json
from pathlib import Path

from harness.files import atomic_dir, write_new_file
from harness.reports.charts import inline_svg, seed_chart
from harness.reports.formatting import fmt_delta_ci, fmt_num, standalone_page
from harness.reports.render import md_escape

SEEDS_JSON, SEEDS_MD, SEEDS_HTML, SEEDS_SVG = "seeds.json", "seeds.md", "seeds.html", "seeds.svg"


def write_seed_set(folder: Path, summary: dict) -> dict[str, Path]:
    """Write the seed set's files as ``folder`` (all at once); their paths by kind."""
    svg = seed_chart(summary)
    texts = {
        SEEDS_JSON: json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
        SEEDS_MD: render_seed_markdown(summary, SEEDS_SVG if svg else None),
        SEEDS_HTML: render_seed_html(summary, svg),
        **({SEEDS_SVG: svg} if svg else {}),
    }
    with atomic_dir(folder) as tmp:
        for name, text in texts.items():
            write_new_file(tmp / name, text)
    return {"html": folder / SEEDS_HTML, "markdown": folder / SEEDS_MD, "results": folder / SEEDS_JSON}


def seed_rows(summary: dict) -> list[list[str]]:
    """One row per task: task, metric, before, after per seed, mean delta [CI], seed spread,
    verdict (plain text; the renderers escape it)."""
    rows = []
    for name, t in summary["tasks"].items():
        s = t["scale"]
        rows.append(
            [
                name,
                t["metric"],
                fmt_num(t["before"], s),
                " / ".join(fmt_num(a, s) for a in t["after_by_seed"]),
                fmt_delta_ci(t["mean_delta"], t.get("ci"), s),
                fmt_num(t["seed_sd"], s),
                t["outcome"],
            ]
        )
    return rows


HEADER = ["task", "metric", "before", "after (each seed)", "mean delta [CI]", "seed spread (sd)", "verdict"]


def seed_table(summary: dict):
    """The seed table for the terminal (a rich ``Table``), headed by the set's decision."""
    from rich.table import Table

    table = Table(title=summary["decision"]["summary"], title_justify="left")
    for i, name in enumerate(HEADER):
        table.add_column(name, justify="right" if 2 <= i <= 5 else "left")
    for row in seed_rows(summary):
        table.add_row(*row)
    return table


def print_seed_set(console, outcome) -> None:
    """What a person reads after a seed set: a line per seed's run, the seed table, warnings, the
    set's report files."""
    from rich.markup import escape

    for seed, run in zip(outcome.summary["seeds"], outcome.runs, strict=True):
        failed = [g for g in run.results.get("gates", []) if not g["passed"]]
        decision = (run.results.get("decision") or {}).get("summary", "")
        gates = f"; {len(failed)} gate(s) failed" if failed else ""
        console.print(
            f"seed {seed}: run {run.results['run_id']}: {escape(decision)}{gates}  ({run.paths['html']})"
        )
    console.print(seed_table(outcome.summary))
    for warning in outcome.summary.get("warnings", []):
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    for kind in ("html", "markdown", "results"):
        console.print(f"{kind:>9}: {outcome.paths[kind]}")


def render_seed_markdown(summary: dict, chart: str | None) -> str:
    lines = [f"# Seed set {md_escape(summary['set_id'])}", "", md_escape(summary["decision"]["summary"]), ""]
    lines += [
        f"Training seeds {', '.join(map(str, summary['seeds']))} on one baseline; each seed's own run: "
        + ", ".join(
            f"[{md_escape(r['run_id'])}](../{md_escape(r['run_id'])}/report.md)" for r in summary["runs"]
        ),
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    lines += ["| " + " | ".join(md_escape(cell) for cell in row) + " |" for row in seed_rows(summary)]
    lines += ["", _legend(summary), ""]
    lines += [f"- {md_escape(name)}: {md_escape(t['reason'])}" for name, t in summary["tasks"].items()]
    lines += [f"- warning: {md_escape(w)}" for w in summary.get("warnings", [])]
    if chart:
        lines += ["", f"![every seed's delta per task]({chart})"]
    return "\n".join(lines) + "\n"


def _legend(summary: dict) -> str:
    d = summary["decision"]
    return (
        f"Mean delta over the seeds with a {100 * (1 - d['alpha']):g}% interval from the test set's "
        "noise and the seeds' spread together; improved/regressed also need |mean delta| above the "
        f"seed spread and at least the minimum effect ({d['min_effect']:g} × the metric's scale)."
    )


def render_seed_html(summary: dict, svg: str | None) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in HEADER)
    rows = "".join(
        "<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>" for row in seed_rows(summary)
    )
    runs = ", ".join(
        f'<a href="../{esc(r["run_id"], quote=True)}/report.html">{esc(r["run_id"])}</a>'
        for r in summary["runs"]
    )
    reasons = "".join(f"<li>{esc(n)}: {esc(t['reason'])}</li>" for n, t in summary["tasks"].items())
    reasons += "".join(f"<li>warning: {esc(w)}</li>" for w in summary.get("warnings", []))
    seeds = esc(", ".join(map(str, summary["seeds"])))
    body = (
        f"<p><strong>{esc(summary['decision']['summary'])}</strong></p>"
        f"<p>Training seeds {seeds} on one baseline; each seed's run: {runs}</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        f"<p>{esc(_legend(summary))}</p><ul>{reasons}</ul>"
        + (f"<figure>{inline_svg(svg)}</figure>" if svg else "")
    )
    return standalone_page(f"Seed set {summary['set_id']}", body)
