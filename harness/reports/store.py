"""A run directory's files: results.json, samples.jsonl, report.md and report.html, written
atomically and read back."""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import HarnessError
from harness.files import atomic_write_text
from harness.reports.render import render_html, render_markdown

RESULTS_FILE, SAMPLES_FILE, MD_FILE, HTML_FILE = "results.json", "samples.jsonl", "report.md", "report.html"


def write_reports(run_dir: Path, results: dict, samples: list[dict]) -> dict[str, Path]:
    """Write results.json, samples.jsonl, report.md and report.html into ``run_dir`` atomically.

    Everything is rendered in memory first, so a rendering error leaves no file behind.
    Returns ``{"results": ..., "samples": ..., "markdown": ..., "html": ...}`` paths.
    """
    run_dir = Path(run_dir)
    if "reports" not in results:
        results = {**results, "reports": {"html": HTML_FILE, "markdown": MD_FILE, "samples": SAMPLES_FILE}}
    texts = {
        "results": (RESULTS_FILE, json.dumps(results, indent=2, ensure_ascii=False) + "\n"),
        "samples": (SAMPLES_FILE, "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples)),
        "markdown": (MD_FILE, render_markdown(results, samples)),
        "html": (HTML_FILE, render_html(results, samples)),
    }
    paths = {}
    for key, (name, text) in texts.items():
        atomic_write_text(run_dir / name, text)
        paths[key] = run_dir / name
    return paths


def rerender(run_dir: Path) -> dict[str, Path]:
    """Render ``report.md`` and ``report.html`` of a run directory again from its results.json and
    samples.jsonl (``harness report RUN``), e.g. after harness's report templates changed."""
    run_dir = Path(run_dir)
    results, samples = load_run(run_dir)
    texts = {
        "markdown": (MD_FILE, render_markdown(results, samples)),
        "html": (HTML_FILE, render_html(results, samples)),
    }
    for name, text in texts.values():
        atomic_write_text(run_dir / name, text)
    return {key: run_dir / name for key, (name, _) in texts.items()}


def load_run(run_dir: Path) -> tuple[dict, list[dict]]:
    """Read ``results.json`` and ``samples.jsonl`` from a run directory (samples may be absent)."""
    run_dir = Path(run_dir)
    path = run_dir / RESULTS_FILE
    if not path.is_file():
        raise HarnessError(f"{path}: not found (is {run_dir} a run directory?)")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise HarnessError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None
    samples: list[dict] = []
    spath = run_dir / SAMPLES_FILE
    if spath.is_file():
        for i, line in enumerate(spath.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    samples.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise HarnessError(f"{spath}:{i}: invalid JSON: {e.msg}") from None
    return results, samples
