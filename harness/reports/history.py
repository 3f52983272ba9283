"""Run history: ``index.md`` and ``index.html`` in an output folder list every run in it, newest
first, each linked to its report, so a person can see at a glance how tuning has gone over time.

Every run rebuilds the index from the ``results.json`` files on disk while holding a lock file,
and writes it atomically: two runs finishing at once both appear, and a reader never sees half
an index.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.files import atomic_write_text
from harness.reports.render import md_escape
from harness.reports.store import HTML_FILE, MD_FILE, RESULTS_FILE

INDEX_MD, INDEX_HTML, LOCK = "index.md", "index.html", ".index.lock"


def update_index(output_dir: Path) -> dict[str, Path]:
    """Rebuild ``index.md`` and ``index.html`` of ``output_dir`` from the runs in it."""
    output_dir = Path(output_dir)
    with _locked(output_dir / LOCK):
        found = [
            path for path in output_dir.glob(f"*/{RESULTS_FILE}") if not path.parent.name.startswith(".")
        ]
        runs = [_summary(path) for path in found]  # (a ".<run>…tmp" folder is a report set being written)
        runs = sorted((run for run in runs if run is not None), key=lambda run: run["created"], reverse=True)
        atomic_write_text(output_dir / INDEX_MD, render_index_markdown(runs), fsync=False)
        atomic_write_text(output_dir / INDEX_HTML, render_index_html(runs), fsync=False)
    return {"markdown": output_dir / INDEX_MD, "html": output_dir / INDEX_HTML}


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _summary(path: Path) -> dict | None:
    """One index row from a run's results.json; ``None`` for a file that is not one."""
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
        tasks = [_task_summary(name, task) for name, task in results["tasks"].items()]
        gates = results.get("gates")
        return {
            "run_id": str(results["run_id"]),
            "created": str(results.get("created", "")),
            "mode": str(results.get("mode", "")),
            "model": str(results.get("model", {}).get("name", "")),
            "method": str((results.get("training") or {}).get("method", "")),
            "tasks": tasks,
            "gates": None if gates is None else all(gate.get("passed") for gate in gates),
            "folder": path.parent.name,
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _task_summary(name: str, task: dict) -> dict:
    primary = task.get("primary_metric")
    metric = task.get("metrics", {}).get(primary, {})
    verdict = (task.get("verdict") or {}).get("outcome")
    return {
        "name": name,
        "metric": primary,
        "before": metric.get("before"),
        "after": metric.get("after"),
        "digits": 2 if metric.get("scale") == 100 else 4,  # as the reports show it
        "verdict": verdict,
    }


def _number(value, digits: int) -> str:
    return "—" if not isinstance(value, int | float) else f"{value:.{digits}f}"


def _task_text(task: dict) -> str:
    text = f"{task['name']} {task['metric']} {_number(task['before'], task['digits'])}"
    if task["after"] is not None:
        text += f" → {_number(task['after'], task['digits'])}"
    return text + (f" ({task['verdict']})" if task["verdict"] else "")


def _gate_text(passed: bool | None) -> str:
    return "—" if passed is None else ("passed" if passed else "FAILED")


def _md(text: str) -> str:
    """Data text made inert in a Markdown table cell (:func:`harness.reports.render.md_escape`)."""
    return md_escape(text, newline=" ")


def render_index_markdown(runs: list[dict]) -> str:
    """The run history as a Markdown table."""
    lines = ["# Runs", "", f"{len(runs)} run(s), newest first.", ""]
    lines += [
        "| run | date | mode | model | method | tasks: primary metric before → after (verdict) | gates |"
    ]
    lines += ["|---|---|---|---|---|---|---|"]
    for run in runs:
        link = f"[{_md(run['run_id'])}]({run['folder']}/{MD_FILE})"
        tasks = "<br>".join(_md(_task_text(task)) for task in run["tasks"])
        cells = [link, _md(run["created"]), _md(run["mode"]), _md(run["model"]), _md(run["method"]), tasks]
        lines.append("| " + " | ".join(cells + [_gate_text(run["gates"])]) + " |")
    return "\n".join(lines) + "\n"


def render_index_html(runs: list[dict]) -> str:
    """The run history as one self-contained HTML page (all data text escaped)."""
    from jinja2 import Environment, PackageLoader

    env = Environment(loader=PackageLoader("harness", "templates"), autoescape=True)
    return env.get_template("index.html.j2").render(
        runs=runs, report=HTML_FILE, task_text=_task_text, gate_text=_gate_text
    )
