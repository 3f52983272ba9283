"""A run's checkpoints as a trajectory (``harness eval --checkpoints RUN``): ``checkpoints.json``,
``checkpoints.md``, ``checkpoints.html`` and ``checkpoints.svg`` (each task's test score by step,
the kept checkpoint marked with the run's reason), and the terminal's table. Data text (task and
metric names, paths, the reason) is escaped in both formats."""

from __future__ import annotations

import html
import json
from pathlib import Path

from harness.files import atomic_dir, write_new_file
from harness.reports.charts import inline_svg, trajectory_chart
from harness.reports.formatting import fmt_num, standalone_page
from harness.reports.render import md_escape

CHECKPOINTS_JSON, CHECKPOINTS_MD = "checkpoints.json", "checkpoints.md"
CHECKPOINTS_HTML, CHECKPOINTS_SVG = "checkpoints.html", "checkpoints.svg"
KEPT = "kept"


def write_checkpoint_report(folder: Path, summary: dict) -> dict[str, Path]:
    """Write the trajectory's files as ``folder`` (all at once); their paths by kind."""
    svg = trajectory_chart(summary)
    texts = {
        CHECKPOINTS_JSON: json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
        CHECKPOINTS_MD: render_checkpoint_markdown(summary, CHECKPOINTS_SVG if svg else None),
        CHECKPOINTS_HTML: render_checkpoint_html(summary, svg),
        **({CHECKPOINTS_SVG: svg} if svg else {}),
    }
    with atomic_dir(folder) as tmp:
        for name, text in texts.items():
            write_new_file(tmp / name, text)
    return {
        "html": folder / CHECKPOINTS_HTML,
        "markdown": folder / CHECKPOINTS_MD,
        "results": folder / CHECKPOINTS_JSON,
    }


def header(summary: dict) -> list[str]:
    """The table's columns: step, kept, dev score, then each task's primary metric."""
    tasks = [f"{name} {t['primary_metric']}" for name, t in summary["tasks"].items()]
    return ["step", KEPT, "dev score", *tasks]


def trajectory_rows(summary: dict) -> list[list[str]]:
    """The base model (step 0, the run's "before", when known), then one row per checkpoint:
    step, the kept mark, the dev score at that step, each task's primary metric on the test set
    (plain text; the renderers escape it)."""
    tasks = summary["tasks"]
    rows = []
    if any(t["before"].get(t["primary_metric"]) is not None for t in tasks.values()):
        base = [fmt_num(t["before"].get(t["primary_metric"]), t["scale"]) for t in tasks.values()]
        rows.append(["0 (base)", "", "", *base])
    for c in summary["checkpoints"]:
        scores = [fmt_num((c["tasks"].get(n) or {}).get("primary"), t["scale"]) for n, t in tasks.items()]
        dev = fmt_num(c["dev"]["score"]) if c.get("dev") else ""
        rows.append([str(c["step"]), KEPT if c["kept"] else "", dev, *scores])
    return rows


def metric_rows(summary: dict) -> tuple[list[str], list[list[str]]]:
    """Every metric of every task at every checkpoint: the header and the rows."""
    columns = [(n, m, t["scale"]) for n, t in summary["tasks"].items() for m in t["metrics"]]
    head = ["step", *(f"{n} {m}" for n, m, _ in columns)]
    rows = []
    for c in summary["checkpoints"]:
        scores = [fmt_num(((c["tasks"].get(n) or {}).get("metrics") or {}).get(m), s) for n, m, s in columns]
        rows.append([f"{c['step']} ({KEPT})" if c["kept"] else str(c["step"]), *scores])
    return head, rows


def lines(summary: dict) -> list[str]:
    """What the trajectory is, in sentences: how the models were loaded, which step the run kept
    and why, whether the kept checkpoint reproduces the run's scores, and the warnings."""
    n = len(summary["checkpoints"])
    out = [f"{n} checkpoint{'s' if n != 1 else ''} of run {summary['run_id']} ({summary['method']}): "]
    out[0] += f"{summary['loading']}."
    kept = summary.get("kept")
    if kept:
        out.append(f"Kept by the run: step {kept['step']}: {kept['reason']}.")
    elif summary["phase"] == "done":
        out.append("The run's results.json could not be read: its kept step and its scores are unknown.")
    else:
        out.append(
            f"The run did not finish ({summary['phase']}): it kept no model, and its scores are unknown."
        )
    check = summary.get("reproduced")
    if check and check["matches"]:
        metrics = f"{check['metrics']} metric{'s' if check['metrics'] != 1 else ''}"
        out.append(f"Step {check['step']} reproduces the run's own after-tuning scores ({metrics}, equal).")
    elif check:
        differences = "; ".join(check["differences"])
        out.append(f"Step {check['step']} does not reproduce the run's after-tuning scores: {differences}.")
    out += [f"Warning: {w}" for w in summary.get("warnings", [])]
    return out


def trajectory_table(summary: dict):
    """The trajectory for the terminal (a rich ``Table``)."""
    from rich.table import Table

    table = Table()
    for i, name in enumerate(header(summary)):
        table.add_column(name, justify="left" if i == 1 else "right")
    for row in trajectory_rows(summary):
        table.add_row(*row, style="bold" if row[1] == KEPT else None)
    return table


def print_checkpoints(console, summary: dict, paths: dict) -> None:
    """What a person reads after ``harness eval --checkpoints``: the table, the sentences, the files."""
    from rich.markup import escape

    console.print(f"Checkpoints of run {summary['run_id']}: test-set scores by step", highlight=False)
    console.print(trajectory_table(summary))
    for line in lines(summary):
        console.print(escape(line), highlight=False)
    for kind in ("html", "markdown", "results"):
        console.print(f"{kind:>9}: {paths[kind]}", highlight=False)


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(md_escape(h) for h in head) + " |", "|" + "---|" * len(head)]
    return out + ["| " + " | ".join(md_escape(cell) for cell in row) + " |" for row in rows]


def render_checkpoint_markdown(summary: dict, chart: str | None) -> str:
    out = [f"# Checkpoints of run {md_escape(summary['run_id'])}", ""]
    out += [f"- {md_escape(line)}" for line in lines(summary)] + [""]
    out += [
        "Test-set scores by step (the primary metric of each task; dev score: the run's own at that step):",
        "",
    ]
    out += _md_table(header(summary), trajectory_rows(summary))
    if chart:
        out += ["", f"![each task's test score by step]({chart})"]
    out += ["", "## Every metric", "", *_md_table(*metric_rows(summary))]
    return "\n".join(out) + "\n"


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    esc = html.escape
    cells = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join(
        f"<tr{' class=kept' if _is_kept(row) else ''}>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _is_kept(row: list[str]) -> bool:
    return row[1] == KEPT or row[0].endswith(f"({KEPT})")


def render_checkpoint_html(summary: dict, svg: str | None) -> str:
    esc = html.escape
    sentences = "".join(f"<p>{esc(line)}</p>" for line in lines(summary))
    body = (
        f"{sentences}<h2>Test-set scores by step</h2>"
        + _html_table(header(summary), trajectory_rows(summary))
        + (f"<figure>{inline_svg(svg)}</figure>" if svg else "")
        + "<h2>Every metric</h2>"
        + _html_table(*metric_rows(summary))
    )
    return standalone_page(
        f"Checkpoints of run {summary['run_id']}", body, "tr.kept{font-weight:bold;background:#dafbe1}"
    )
