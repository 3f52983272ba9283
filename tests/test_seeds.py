"""Seed sets: one baseline, N tunings that differ in their training seed, and a verdict that
accounts for the spread of training itself (harness/decisions/seeds.py, harness/seeds.py)."""

from __future__ import annotations

import json
import math
import statistics

import pytest

import harness
from harness.cli import main
from harness.compare import compare
from harness.decisions.seeds import seed_verdicts


def _run(deltas_ci: dict[str, tuple[float, float, float]], outcome="improved") -> dict:
    """A results.json stand-in: per task (before, delta, CI half-width) of an accuracy-like metric."""
    tasks = {
        name: {
            "primary_metric": "accuracy",
            "verdict": {"outcome": outcome},
            "metrics": {
                "accuracy": {
                    "higher_is_better": True,
                    "scale": 1.0,
                    "before": before,
                    "after": before + delta,
                    "delta": delta,
                    "delta_ci": [delta - half, delta + half],
                }
            },
        }
        for name, (before, delta, half) in deltas_ci.items()
    }
    decision = {"alpha": 0.05, "min_effect": 0.01, "correction": "holm"}
    return {"run_id": "r", "tasks": tasks, "decision": decision}


def test_a_steady_gain_is_improved_and_the_error_adds_the_seeds_spread():
    deltas = [0.30, 0.32, 0.31]
    runs = [_run({"a": (0.5, d, 0.05)}) for d in deltas]
    tasks, decision = seed_verdicts(runs, [0, 1, 2])
    a = tasks["a"]
    z = statistics.NormalDist().inv_cdf(0.975)
    sd = statistics.stdev(deltas)
    assert a["mean_delta"] == pytest.approx(0.31) and a["seed_sd"] == pytest.approx(sd)
    assert a["se_test"] == pytest.approx(0.05 / z)
    assert a["se"] == pytest.approx(math.sqrt((0.05 / z) ** 2 + sd**2 / 3))
    assert a["ci"] == pytest.approx([0.31 - z * a["se"], 0.31 + z * a["se"]])
    assert a["outcome"] == "improved" and a["beyond_spread"] and a["baseline_shared"]
    assert a["after_by_seed"] == pytest.approx([0.8, 0.82, 0.81])
    assert decision["improved"] == 1 and decision["summary"].startswith("over 3 seeds: 1 of 1 task improved")


def test_a_gain_within_the_spread_of_training_is_not_improved():
    """Each seed's own test sees only the test set's noise and calls two of three improved; the
    mean gain (0.037) is smaller than the seed-to-seed spread (0.07), so the set does not."""
    deltas = [0.05, -0.04, 0.10]
    runs = [_run({"a": (0.5, d, 0.01)}, outcome="improved" if d > 0 else "regressed") for d in deltas]
    tasks, decision = seed_verdicts(runs, [0, 1, 2])
    a = tasks["a"]
    assert a["outcome_by_seed"] == ["improved", "regressed", "improved"]
    assert a["seed_sd"] == pytest.approx(statistics.stdev(deltas))
    assert not a["beyond_spread"] and a["outcome"] == "inconclusive"  # its CI reaches past ± 0.01
    assert "seed spread 0.0709" in a["reason"] and "reaches beyond ± 0.01" in a["reason"]
    assert (decision["inconclusive"], decision["no_change"], decision["unchanged"]) == (1, 0, 1)
    assert decision["summary"].endswith("0 of 1 task improved, 0 regressed, 0 no change, 1 inconclusive")


def test_one_seed_has_no_spread_to_measure():
    tasks, _ = seed_verdicts([_run({"a": (0.5, 0.3, 0.05)})], [7])
    assert tasks["a"]["seed_sd"] is None and tasks["a"]["outcome"] == "inconclusive"
    assert "no seed-to-seed spread" in tasks["a"]["reason"]


def test_holm_runs_over_the_tasks():
    runs = [_run({"a": (0.5, d, 0.05), "b": (0.5, d / 10, 0.05)}) for d in (0.30, 0.31, 0.32)]
    tasks, _ = seed_verdicts(runs, [0, 1, 2])
    raw = sorted((t["p_value"], name) for name, t in tasks.items())
    assert tasks[raw[0][1]]["p_adjusted"] == pytest.approx(min(1.0, 2 * raw[0][0]))


def test_bad_seed_settings_are_one_line_errors(tmp_path):
    for setting, message in (
        ("seeds=0", "seeds must be between 1 and 100"),
        ("train.seed=-2", "train.seed must be -1"),
    ):
        with pytest.raises(harness.errors.HarnessError, match=message):
            harness.load_config(None, [setting])
    with pytest.raises(harness.errors.HarnessError, match="harness.run_seeds"):
        harness.run(harness.load_config(None, ["seeds=2"]))


def test_a_seed_set_end_to_end(tmp_path, echo_plugin, run_config, monkeypatch):
    """Two tunings on one baseline (the second reads it from the cache), each a whole run with
    its own training seed; the set's report says what each seed did."""
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))  # a baseline cache of its own
    plugin = echo_plugin(tmp_path)
    config = run_config(tmp_path, plugin, epochs=2, seeds=2, cache=True)
    config.train.dev_size = 0
    summary, paths, runs = harness.run_seeds(config)
    assert [r.results["config"]["train"]["seed"] for r in runs] == [0, 1]
    assert [r.results["tasks"]["echo"]["baseline_cached"] for r in runs] == [False, True]
    echo = summary["tasks"]["echo"]
    assert echo["baseline_shared"] is True
    deltas = [r.results["tasks"]["echo"]["metrics"]["exact_match"]["delta"] for r in runs]
    assert echo["delta_by_seed"] == deltas
    assert summary["runs"] == [
        {"seed": s, "run_id": r.results["run_id"]} for s, r in zip((0, 1), runs, strict=True)
    ]
    assert json.loads(paths["results"].read_text(encoding="utf-8")) == summary
    page = paths["html"].read_text(encoding="utf-8")
    assert "<svg" in page and summary["decision"]["summary"] in page
    assert all(f'href="../{r.results["run_id"]}/report.html"' in page for r in runs)
    assert "| echo | exact_match |" in paths["markdown"].read_text(encoding="utf-8")
    # harness compare of the set's two runs finds the set and weighs their difference against it
    first, second = (r.paths["results"].parent for r in runs)
    compared, _ = compare(first, second, config.output_dir, plugin_specs=[str(plugin)])
    assert compared["compared"]["seed_set"]["set_id"] == summary["set_id"]
    spread = compared["tasks"]["echo"]["seed_spread"]
    assert spread["tuned_runs"] == 2 and spread["band"] == pytest.approx(abs(deltas[1] - deltas[0]))
    assert compared["tasks"]["echo"]["verdict"]["within_seed_spread"] is True  # two seeds: by definition


def test_the_cli_runs_a_seed_set_and_refuses_resume(
    tmp_path, echo_plugin, tiny_model_dir, capsys, monkeypatch
):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    plugin = echo_plugin(tmp_path)
    args = ["run", "--model", str(tiny_model_dir), "--tasks", "echo", "--plugin", str(plugin), "-q"]
    args += ["--output-dir", str(tmp_path / "reports"), "--seeds", "2"]
    sets = ["method=full", "device=cpu", "threads=1", "train.max_steps=4", "train.dev_size=0"]
    sets += [f"models_dir={json.dumps(str(tmp_path / 'runs'))}"]
    args += [item for s in sets for item in ("--set", s)]
    assert main([*args, "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)  # --json: stdout is the summary alone
    (folder,) = (tmp_path / "reports").glob("seeds-*")
    assert out["exit_code"] == 0 and out["paths"]["html"] == str(folder / "seeds.html")
    assert out["seeds"] == json.loads((folder / "seeds.json").read_text(encoding="utf-8"))
    assert out["seeds"]["seeds"] == [0, 1] and len(out["seeds"]["runs"]) == 2
    assert "seed 1: run " in captured.err and "over 2 seeds" in captured.err
    assert main([*args, "--resume", "x"]) == 2


def test_a_set_whose_mean_is_shown_within_the_minimum_effect_is_no_change():
    """Three seeds that all land within a hair of the baseline, on a precise test set: the mean's
    whole interval lies inside ± the minimum effect (0.01), the equivalence a single run uses."""
    runs = [_run({"a": (0.5, d, 0.002)}, outcome="no change") for d in (0.001, -0.001, 0.0)]
    tasks, decision = seed_verdicts(runs, [0, 1, 2])
    a = tasks["a"]
    assert -0.01 <= a["ci"][0] < 0 < a["ci"][1] <= 0.01
    assert a["outcome"] == "no change" and "within ± 0.01" in a["reason"]
    assert (decision["no_change"], decision["inconclusive"]) == (1, 0)
