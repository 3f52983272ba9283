"""The final before/after table for a tracker (``train.report_to``), written with the reports.
The Trainer's own integrations log the training loss, the learning rate and the dev scores while
training; once the run is scored, :func:`log_final_results` adds every metric before, after and
its delta, and the summary table as text (TensorBoard only: the other integrations close their
run when training ends)."""

from __future__ import annotations

import os
from pathlib import Path

from harness.reports.render import md_escape
from harness.reports.view import report_view


def log_final_results(results: dict, logs_dir: Path, report_to: list[str]) -> None:
    """Write ``final/<task>/<metric>/{before,after,delta}`` scalars (at the last training step)
    and a ``final/summary`` text to TensorBoard, when ``report_to`` names it."""
    if "tensorboard" not in report_to:
        return
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        from tensorboardX import SummaryWriter

    step = int((results.get("training") or {}).get("steps") or 0)
    writer = SummaryWriter(log_dir=os.environ.get("TENSORBOARD_LOGGING_DIR") or str(logs_dir))
    try:
        rows = ["| task | verdict | primary metric | before | after | delta |", "|---|---|---|---|---|---|"]
        for name, task in results["tasks"].items():
            for metric, entry in (task.get("metrics") or {}).items():
                for key in ("before", "after", "delta"):
                    value = entry.get(key)
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        writer.add_scalar(f"final/{name}/{metric}/{key}", value, step)
        for t in report_view(results, [])["tasks"]:
            p, verdict = t["primary"], t["verdict"]
            if p:
                text = verdict["text"] if verdict else "—"
                cells = [t["name"], text, p["name"], p["before"], p["after"], p["delta"]]
                rows.append("| " + " | ".join(md_escape(c) for c in cells) + " |")
        writer.add_text("final/summary", "\n".join(rows), step)
    finally:
        writer.close()
