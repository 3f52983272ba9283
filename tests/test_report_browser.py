"""report.html in headless Chromium: with 5,000 examples the page loads without a console error
or a single network request, and the per-sample browser's filters, search, sort and paging show
the right examples. Skipped without a chromium binary, except under CI=true, where that fails."""

from __future__ import annotations

import os
import random
import time

import pytest
from browser import check_report, chromium

from harness.reports import write_reports

HOSTILE = '<img src="http://evil.example/x.png"><script>fetch("http://evil.example")</script>'
N = 5000


@pytest.fixture(scope="module")
def browser_binary():
    binary = chromium()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no chromium binary: install Debian's chromium package (.ci/run does)")
        pytest.skip("no chromium binary")
    return binary


def _run(n: int) -> tuple[dict, list[dict]]:
    """A run with a choice task (0/1 accuracy) and a generation task (rougeL per example)."""
    rng = random.Random(0)
    samples = []
    for i in range(n):
        if i % 2 == 0:
            ref = rng.choice(["yes", "no"])
            before, after = rng.choice(["yes", "no"]), rng.choice(["yes", "no", ref])
            scores = (float(before == ref), float(after == ref))
            task = "choice"
        else:
            ref, before, after = f"summary {i}", f"before {i}", f"after {i}"
            scores = (round(rng.random() * 0.5, 4), round(rng.random(), 4))
            task = "gen"
        samples.append(
            {
                "task": task,
                "id": f"{task}-{i}",
                "input": HOSTILE if i == 7 else f"input text {i} " + "word " * rng.randint(5, 40),
                "reference": ref,
                "references": [ref],
                "prediction_before": before,
                "scores_before": {"accuracy" if task == "choice" else "rougeL": scores[0]},
                "prediction_after": after,
                "scores_after": {"accuracy" if task == "choice" else "rougeL": scores[1]},
            }
        )

    def task(metric: str, choices: list[str], rows: list[dict]) -> dict:
        b = sum(r["scores_before"][metric] for r in rows) / len(rows)
        a = sum(r["scores_after"][metric] for r in rows) / len(rows)
        entry = {"higher_is_better": True, "scale": 1.0, "before": b, "after": a, "delta": a - b}
        return {"primary_metric": metric, "choices": choices, "n_test": len(rows), "metrics": {metric: entry}}

    results = {
        "run_id": "20261201-000000-b5000b",
        "mode": "run",
        "tasks": {
            "choice": task("accuracy", ["yes", "no"], samples[0::2]),
            "gen": task("rougeL", [], samples[1::2]),
        },
    }
    return results, samples


def test_report_in_chromium_with_5000_examples(browser_binary, tmp_path):
    results, samples = _run(N)
    started = time.perf_counter()
    paths = write_reports(tmp_path / "run", results, samples)
    written = time.perf_counter() - started
    choice = [s for s in samples if s["task"] == "choice"]
    worse = [s["id"] for s in choice if s["scores_before"]["accuracy"] > s["scores_after"]["accuracy"]]
    gains = sorted(
        (s["scores_after"]["rougeL"] - s["scores_before"]["rougeL"], -int(s["id"].split("-")[1]), s["id"])
        for s in samples
        if s["task"] == "gen"
    )
    steps = [
        {"label": "gen only", "set": {"f-task": "1"}},
        {"label": "gen, largest gain first", "set": {"f-sort": "gain"}},
        {"label": "search", "set": {"f-task": "", "f-sort": "data", "f-search": "input TEXT 4321 "}},
        {"label": "hostile", "set": {"f-search": "evil.example"}},
        {"label": "choice, right to wrong", "set": {"f-search": "", "f-task": "0", "f-flip": "worse"}},
        {"label": "more", "click": "samples-more"},
    ]
    record = check_report(paths["html"], steps, tmp_path / "chromium")
    size = paths["html"].stat().st_size / 1e6
    print(
        f"\n{N} examples: report.html {size:.2f} MB, written in {written:.2f} s; "
        f"load {record['load_ms']:.0f} ms; steps (ms):",
        [round(s["ms"]) for s in record["steps"][1:]],
    )

    assert record["errors"] == [] and record["violations"] == [] and record["resources"] == []
    assert record["ready"] == "ready" and record["overflow"] == []
    initial, gen, ranked, search, hostile, flips, more = record["steps"]
    assert initial["count"] == f"{N} of {N} examples match; showing the first 50" and initial["rows"] == 50
    assert initial["ids"][:3] == ["choice-0", "choice-2", "choice-4"] and initial["more"]
    assert gen["count"].startswith(f"{N // 2} of {N} examples match") and gen["ids"][0] == "gen-1"
    assert ranked["ids"][:5] == [i for *_, i in sorted(gains, reverse=True)[:5]]
    assert search["count"].startswith("1 of") and search["ids"] == ["gen-4321"]
    # the hostile input is shown as text: no image loaded, no script ran (no violations, no errors)
    assert hostile["ids"] == ["gen-7"]
    assert flips["count"].startswith(f"{len(worse)} of {N} examples match")
    assert flips["ids"] == worse[:50] and all("right → wrong" in d for d in flips["deltas"])
    assert more["ids"] == worse[:550] and more["rows"] == min(len(worse), 550)
    assert (tmp_path / "chromium" / "screenshot.png").stat().st_size > 10_000


def test_evaluation_report_in_chromium(browser_binary, tmp_path):
    """An evaluation (no "after"): no change filter or sort, the search still works."""
    results, samples = _run(40)
    results["mode"] = "eval"
    for s in samples:
        for key in ("prediction_after", "scores_after"):
            s.pop(key)
    for task in results["tasks"].values():
        for metric in task["metrics"].values():
            metric.update(after=None, delta=None)
    paths = write_reports(tmp_path / "run", results, samples)
    steps = [{"label": "search", "set": {"f-search": "summary 13"}}]
    record = check_report(paths["html"], steps, tmp_path / "chromium")
    assert record["errors"] == [] and record["violations"] == [] and record["resources"] == []
    initial, search = record["steps"]
    assert initial["count"] == "40 of 40 examples match" and not initial["more"]
    score = samples[13]["scores_before"]["rougeL"]  # the last column: the score (no delta)
    assert search["ids"] == ["gen-13"] and search["deltas"] == [f"{score:.4f}"]
