"""A run directory's files: results.json, samples.jsonl, report.md, report.html and the charts
(``charts/*.svg``), written as one set that appears all at once, and read back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from harness import jsonl
from harness.errors import HarnessError
from harness.files import atomic_dir, write_new_file
from harness.jsonl import read_jsonl
from harness.reports.charts import CHART_DIR, render_charts
from harness.reports.render import render_html, render_markdown

RESULTS_FILE, SAMPLES_FILE, MD_FILE, HTML_FILE = "results.json", "samples.jsonl", "report.md", "report.html"


def write_reports(run_dir: Path, results: dict, samples: list[dict]) -> dict[str, Path]:
    """Write results.json, samples.jsonl, report.md, report.html and ``charts/`` as ``run_dir``.

    Everything is rendered in memory, then written into a temporary folder beside ``run_dir``
    that is renamed to it (:func:`harness.files.atomic_dir`): a failure at any point leaves no
    file behind and an earlier ``run_dir`` untouched; a reader never sees a partial set.
    Returns ``{"results": ..., "samples": ..., "markdown": ..., "html": ...}`` paths.
    """
    run_dir = Path(run_dir)
    if "reports" not in results:
        results = {**results, "reports": {"html": HTML_FILE, "markdown": MD_FILE, "samples": SAMPLES_FILE}}
    texts = {
        RESULTS_FILE: json.dumps(results, indent=2, ensure_ascii=False) + "\n",
        SAMPLES_FILE: jsonl.dump_all(samples),
        **_rendered(results, samples),
    }
    with atomic_dir(run_dir) as tmp:
        _keep_others(run_dir, tmp, (RESULTS_FILE, SAMPLES_FILE, MD_FILE, HTML_FILE, CHART_DIR))
        _write_all(tmp, texts)
    return _paths(run_dir)


def rerender(run_dir: Path) -> dict[str, Path]:
    """Render ``report.md``, ``report.html`` and the charts of a run directory again from its
    results.json and samples.jsonl (``harness report RUN``), e.g. after harness's report
    templates changed. The other files are kept as they are; the set is replaced all at once."""
    run_dir = Path(run_dir)
    results, samples = load_run(run_dir)
    texts = _rendered(results, samples)
    with atomic_dir(run_dir) as tmp:
        _keep_others(run_dir, tmp, (MD_FILE, HTML_FILE, CHART_DIR))
        _write_all(tmp, texts)
    return {"markdown": run_dir / MD_FILE, "html": run_dir / HTML_FILE}


def _keep_others(run_dir: Path, tmp: Path, replaced: tuple[str, ...]) -> None:
    """Copy the files of an existing ``run_dir`` that are not being ``replaced`` into ``tmp``
    (a rescore or re-render keeps what else the folder holds)."""
    if not run_dir.is_dir():
        return
    for path in run_dir.iterdir():
        if path.name not in replaced:
            copy = shutil.copytree if path.is_dir() else shutil.copy2
            copy(path, tmp / path.name)


def _rendered(results: dict, samples: list[dict]) -> dict[str, str]:
    """report.md, report.html and ``charts/<name>.svg``: ``{relative path: text}``."""
    charts = render_charts(results, samples)
    return {
        MD_FILE: render_markdown(results, samples, charts=charts),
        HTML_FILE: render_html(results, samples, charts=charts),
        **{f"{CHART_DIR}/{name}": chart["svg"] for name, chart in charts.items()},
    }


def _write_all(folder: Path, texts: dict[str, str]) -> None:
    for name, text in texts.items():
        path = folder / name
        path.parent.mkdir(exist_ok=True)
        write_new_file(path, text)


def _paths(run_dir: Path) -> dict[str, Path]:
    names = {"results": RESULTS_FILE, "samples": SAMPLES_FILE, "markdown": MD_FILE, "html": HTML_FILE}
    return {key: run_dir / name for key, name in names.items()}


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
        samples = [row for _, row in read_jsonl(spath)]
    return results, samples
