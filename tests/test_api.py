"""The Python API as the README documents it: its example runs as written, and importing
harness stays light."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import harness
from harness.errors import HarnessError

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    """The Python code block of the README's "Python API" section."""
    section = README.read_text(encoding="utf-8").split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return code


@pytest.fixture
def tiny_stand_in(tiny_model_dir, tmp_path, monkeypatch):
    """A cache of this test's own in which the suite's small Llama stands in for the built
    ``tiny`` preset (building the real one takes minutes)."""
    from harness.models.presets import preset_fingerprint, tiny_preset

    cache = tmp_path / "cache"
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(cache))
    shutil.copytree(tiny_model_dir, cache / "presets" / f"tiny-{preset_fingerprint(tiny_preset())}")


def test_readme_example_runs(tiny_stand_in, tmp_path, capsys):
    namespace: dict = {}
    exec(compile(readme_example(), str(README), "exec"), namespace)  # in the test's own cwd (tmp_path)

    results, paths = namespace["results"], namespace["paths"]
    assert results["mode"] == "run" and results["model"]["name"] == "tiny"
    assert list(results["tasks"]) == ["sentiment"]
    assert results["training"]["epochs"] == 1 and results["training"]["steps"] > 0
    sentiment = results["tasks"]["sentiment"]
    assert sentiment["n_test"] == 20
    accuracy = sentiment["metrics"]["accuracy"]
    assert accuracy["delta"] == accuracy["after"] - accuracy["before"]
    assert 0 <= accuracy["p_value"] <= 1
    run_dir = tmp_path / "reports" / results["run_id"]
    assert paths == {
        "results": Path("reports") / results["run_id"] / "results.json",
        "samples": Path("reports") / results["run_id"] / "samples.jsonl",
        "markdown": Path("reports") / results["run_id"] / "report.md",
        "html": Path("reports") / results["run_id"] / "report.html",
    }
    assert json.loads((run_dir / "results.json").read_text(encoding="utf-8")) == results
    assert (tmp_path / "runs" / results["run_id"] / "model" / "config.json").is_file()
    out = capsys.readouterr().out
    assert f"accuracy {accuracy['before']:.2f} -> {accuracy['after']:.2f}" in out
    assert f"report: {paths['html']}" in out


def test_outcome_unpacks_and_names_its_parts():
    outcome = harness.RunOutcome({"run_id": "x"}, {"html": Path("r.html")})
    results, paths = outcome
    assert results is outcome.results and paths is outcome.paths


def test_evaluate_rejects_a_bad_override_before_any_work(tmp_path):
    with pytest.raises(HarnessError, match="tasks is empty"):
        harness.evaluate(harness.Config(output_dir=str(tmp_path / "reports")), tasks=[])
    assert not (tmp_path / "reports").exists()


def test_import_is_light(tmp_path):
    code = (
        "import sys, harness\n"
        "assert callable(harness.run) and callable(harness.evaluate) and harness.Progress\n"
        "heavy = ('torch', 'transformers', 'peft', 'accelerate', 'sklearn')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
