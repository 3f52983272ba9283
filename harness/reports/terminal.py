"""The terminal summary of a run: a rich table of every task's metrics, with the verdicts."""

from __future__ import annotations

from harness.reports.view import DASH, decision_view, metric_rows, verdict_view

STYLES = {"improved": "bold green", "regressed": "bold red reverse", "unchanged": "dim"}


def summary_table(results: dict):
    """A rich Table of every task's metrics for the terminal (readable in 100 columns): primary
    metric in bold, delta with its confidence interval, the paired test's p-value (``*`` when
    significant; for the primary metric, corrected over the tasks like the verdict) and, on the
    primary row, the task's verdict. The title carries the overall line."""
    from rich.table import Table
    from rich.text import Text

    is_run = results.get("mode") == "run"
    tasks = results.get("tasks", {})
    decision = None
    if is_run:
        views = [{"name": name, "verdict": verdict_view(t)} for name, t in tasks.items()]
        decision = decision_view(results, views)
    title = f"run {results.get('run_id', '?')}"
    caption = "bold: primary metric"
    if decision:
        title += f": {decision['summary']}"
        caption += "; *: significant" + (
            " (primary metric: p Holm-adjusted over the tasks)" if decision["holm"] else ""
        )
        caption += f"; improved/regressed also need |delta| ≥ {decision['min_effect']} × the metric's scale"
    elif is_run:
        caption += "; *: significant"
    table = Table(title=title, caption=caption, show_edge=False, pad_edge=False)
    if is_run:
        level = (results.get("statistics") or {}).get("confidence")
        ci = f"delta [{level * 100:g}% CI]" if isinstance(level, (int, float)) else "delta [CI]"
        columns = ("task", "metric", "before", "after", ci, "p", "verdict")
    else:
        columns = ("task", "metric", "score")
    for col in columns:
        left = col in ("task", "metric", "verdict")
        table.add_column(col, justify="left" if left else "right", no_wrap=col != "verdict")
    for name, t in tasks.items():
        verdict = verdict_view(t) if is_run else None
        for i, row in enumerate(metric_rows(t)):
            metric = Text(
                row["name"] + ("" if row["higher_is_better"] else " ↓"),
                style="bold" if row["primary"] else "",
            )
            task_cell = Text(name) if i == 0 else Text("")
            if not is_run:
                table.add_row(task_cell, metric, row["before_value"])
                continue
            p_value = (row["p_value"] or "") + (" *" if row["significant"] else "")
            verdict_cell = Text("")
            if row["primary"]:
                verdict_cell = Text(DASH)
                if verdict:
                    text = verdict["label"] + (f"\n{verdict['leaning']}" if verdict["leaning"] else "")
                    verdict_cell = Text(text, style=STYLES[verdict["css"]])
            table.add_row(
                task_cell,
                metric,
                row["before_value"],
                row["after_value"],
                row["delta"],
                p_value,
                verdict_cell,
            )
    return table
