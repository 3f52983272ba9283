"""Reports: what a run records (:mod:`.schema`), the view every report shows (:mod:`.view`),
Markdown and HTML (:mod:`.render`), the terminal table (:mod:`.terminal`) and the run
directory's files (:mod:`.store`). Reports can be re-rendered from a run directory alone."""

from harness.reports.render import render_html, render_markdown
from harness.reports.schema import SCHEMA_VERSION, build_results, build_samples
from harness.reports.store import load_run, write_reports
from harness.reports.terminal import summary_table
from harness.reports.view import fmt_ci, fmt_delta, fmt_num, fmt_p

__all__ = [
    "SCHEMA_VERSION",
    "build_results",
    "build_samples",
    "fmt_ci",
    "fmt_delta",
    "fmt_num",
    "fmt_p",
    "load_run",
    "render_html",
    "render_markdown",
    "summary_table",
    "write_reports",
]
