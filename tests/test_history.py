"""The run history (index.md / index.html of an output folder): every run, newest first,
escaped, and complete when runs finish at the same time."""

from __future__ import annotations

import json
import multiprocessing
import re
from pathlib import Path

from markdown_render import render_gfm

from harness.reports.history import update_index

HOSTILE = "<script>alert(1)</script> ![x](https://evil.example/x.png) [click](javascript:alert(1))"


def _write_run(output: Path, run_id: str, created: str, model: str = "tiny", verdict: str | None = None):
    task = {
        "primary_metric": "accuracy",
        "metrics": {"accuracy": {"before": 0.5, "after": 0.75}},
        "verdict": {"outcome": verdict} if verdict else None,
    }
    results = {
        "run_id": run_id,
        "created": created,
        "mode": "run",
        "model": {"name": model},
        "training": {"method": "full"},
        "tasks": {"sentiment": task},
        "gates": [{"expression": "no-regression", "passed": verdict != "regressed"}],
    }
    folder = output / run_id
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")


def test_index_lists_every_run_newest_first_with_its_verdict_and_gates(tmp_path):
    _write_run(tmp_path, "20260101-000000-aaaaaa", "2026-01-01T00:00:00+00:00", verdict="improved")
    _write_run(tmp_path, "20260102-000000-bbbbbb", "2026-01-02T00:00:00+00:00", verdict="regressed")
    (tmp_path / "not-a-run").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "results.json").write_text("{", encoding="utf-8")
    # another run's report set while it is being written (harness.files.atomic_dir): not listed
    _write_run(tmp_path, ".20260103-000000-cccccc.x1y2.tmp", "2026-01-03T00:00:00+00:00")
    paths = update_index(tmp_path)
    markdown = paths["markdown"].read_text(encoding="utf-8")
    rows = [line for line in markdown.splitlines() if line.startswith("| [")]
    assert len(rows) == 2
    assert "bbbbbb" in rows[0] and "aaaaaa" in rows[1]  # newest first
    assert "(regressed)" in rows[0] and "FAILED" in rows[0]
    assert "(improved)" in rows[1] and "passed" in rows[1]
    assert "0.5000 → 0.7500" in rows[1]
    assert "(20260101-000000-aaaaaa/report.md)" in rows[1]
    page = paths["html"].read_text(encoding="utf-8")
    assert page.index("bbbbbb") < page.index("aaaaaa")
    assert 'href="20260101-000000-aaaaaa/report.html"' in page


def test_index_escapes_data_text(tmp_path):
    _write_run(tmp_path, "20260101-000000-cccccc", "2026-01-01T00:00:00+00:00", model=HOSTILE)
    paths = update_index(tmp_path)
    page = paths["html"].read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;" in page
    markdown = paths["markdown"].read_text(encoding="utf-8")
    assert "<script>" not in markdown
    assert "![x](" not in markdown and "[click](" not in markdown  # no image or link renders
    assert "![x\\](https\\://" in markdown
    rendered = render_gfm(markdown)
    assert "<img" not in rendered and "<script" not in rendered
    assert re.findall(r'<a href="([^"]*)"', rendered) == ["20260101-000000-cccccc/report.md"]  # ours only


def _finish_run(output: str, index: int) -> None:
    _write_run(Path(output), f"2026010{index}-000000-{index:06d}", f"2026-01-0{index}T00:00:00+00:00")
    update_index(Path(output))


def test_runs_finishing_at_once_all_appear(tmp_path):
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_finish_run, args=(str(tmp_path), i)) for i in range(1, 7)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    markdown = (tmp_path / "index.md").read_text(encoding="utf-8")
    assert sum(line.startswith("| [") for line in markdown.splitlines()) == 6
    assert not list(tmp_path.glob(".index.*.tmp")) and not list(tmp_path.glob(".index.md.*"))
