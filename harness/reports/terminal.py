"""The terminal summary of a run: a rich table of every task's metrics."""

from __future__ import annotations

from harness.reports.view import fmt_num, metric_rows


def summary_table(results: dict):
    """A rich Table of every task's metrics for the terminal: primary metric in bold, delta
    coloured by verdict, and the paired test's p-value (``*`` when significant). Confidence
    intervals are in the reports, where there is room for them."""
    from rich.table import Table
    from rich.text import Text

    is_run = results.get("mode") == "run"
    table = Table(
        title=f"run {results.get('run_id', '?')}",
        caption="bold: primary metric" + ("; *: p < 0.05" if is_run else ""),
    )
    columns = ("task", "metric", "before", "after", "delta", "p") if is_run else ("task", "metric", "score")
    for col in columns:
        table.add_column(col, justify="left" if col in ("task", "metric") else "right")
    colours = {"improved": "green", "worse": "red", "unchanged": "dim"}
    for name, t in results.get("tasks", {}).items():
        for i, (row, entry) in enumerate(zip(metric_rows(t), t["metrics"].values(), strict=True)):
            metric = Text(row["name"], style="bold" if row["primary"] else "")
            task_cell = Text(name) if i == 0 else Text("")
            before = fmt_num(entry.get("before"))
            if not is_run:
                table.add_row(task_cell, metric, before)
                continue
            delta = Text(row["delta"], style=colours.get(row["verdict"] or "", ""))
            p_value = (row["p_value"] or "") + (" *" if row["significant"] else "")
            table.add_row(task_cell, metric, before, fmt_num(entry.get("after")), delta, p_value)
    return table
