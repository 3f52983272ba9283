"""examples/harness-qa: the installable plugin package (a QA task and a normalising metric), loaded
the way an installed package is (entry-point group ``harness``) and run end to end."""

from __future__ import annotations

import importlib.metadata
import json
import sys
import tomllib
from pathlib import Path

import pytest

from harness import plugins
from harness.cli import main
from harness.evaluation.stats import compare

PACKAGE = Path(__file__).resolve().parents[1] / "examples" / "harness-qa"


@pytest.fixture
def qa_installed(monkeypatch):
    """harness-qa as if pip-installed: its src on sys.path and its entry point in the metadata."""
    monkeypatch.syspath_prepend(str(PACKAGE / "src"))
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (name, value), *_ = project["entry-points"]["harness"].items()
    entry_point = importlib.metadata.EntryPoint(name, value, "harness")

    class Dist:
        metadata = {"name": project["name"], "Name": project["name"]}
        version = project["version"]
        entry_points = [entry_point]

    monkeypatch.setattr(importlib.metadata, "distributions", lambda: [Dist()])
    monkeypatch.delenv(plugins.AUTOLOAD_ENV, raising=False)
    yield
    for module in [m for m in sys.modules if m.startswith("harness_qa")]:
        del sys.modules[module]


def test_entry_point_registers_task_and_metrics_with_source_and_version(qa_installed):
    pm = plugins.make_plugin_manager(plugin_dirs=[])
    task = plugins.tasks(pm)["qa_capitals"].item
    assert task.metrics == ("qa_exact", "qa_f1") and task.scoring_method == "generate"
    metrics = plugins.metrics(pm)
    assert metrics["qa_exact"].item.binary and not metrics["qa_f1"].item.binary
    rows = {source: (name, version, hooks) for name, source, version, hooks in plugins.describe(pm)}
    assert rows["installed (harness-qa)"] == ("qa", "0.1.0", ["harness_metrics", "harness_tasks"])


def test_normalising_metric_values(qa_installed):
    from harness_qa.plugin import normalise, qa_exact, qa_f1

    assert normalise("The  Paris!") == "paris"
    references = [("Paris", "Paris, France"), ("Kyiv", "Kiev"), ("New Delhi",)]
    exact = qa_exact(["the paris.", "KIEV", "Delhi"], references)
    assert exact.per_example == [1.0, 1.0, 0.0] and exact.score == pytest.approx(2 / 3)
    f1 = qa_f1(["the paris.", "KIEV", "Delhi"], references)
    assert f1.per_example == [1.0, 1.0, pytest.approx(2 / 3)]


def test_binary_metric_gets_mcnemar_and_a_mean_gets_the_bootstrap(qa_installed):
    pm = plugins.make_plugin_manager(plugin_dirs=[])
    metrics = {name: entry.item for name, entry in plugins.metrics(pm).items()}
    references = [("Paris",)] * 20
    before = ["Lyon"] * 20
    after = ["Paris"] * 6 + ["Lyon"] * 14
    tests = {
        name: compare(metrics[name], references, metrics[name].compute(before, references),
                      metrics[name].compute(after, references))["test"]
        for name in ("qa_exact", "qa_f1")
    }  # fmt: skip
    assert tests == {"qa_exact": "mcnemar-exact", "qa_f1": "paired-bootstrap"}


def test_installed_package_end_to_end(qa_installed, tiny_model_dir, tmp_path, capsys):
    code = main([
        "eval", "--model", str(tiny_model_dir), "--tasks", "qa_capitals", "-q", "-o", str(tmp_path / "r"),
        "--set", "device=\"cpu\"", "--set", "threads=1", "--set", "cache=false", "--set", "eval.limit=4",
        "--json",
    ])  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    results = json.loads(Path(summary["paths"]["results"]).read_text("utf-8"))
    qa = results["tasks"]["qa_capitals"]
    assert set(qa["metrics"]) == {"qa_exact", "qa_f1"} and qa["primary_metric"] == "qa_exact"
    assert "qa_capitals" in Path(summary["paths"]["html"]).read_text("utf-8")
