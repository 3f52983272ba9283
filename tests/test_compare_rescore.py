"""Decisions on saved runs: ``harness rescore RUN`` (metrics, statistics, verdicts and gates again
from the saved predictions, no model) and ``harness compare RUN_A RUN_B`` (paired where the
examples match, a one-line refusal where they do not)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import harness
from harness.cli import main
from harness.compare import compare, mismatches, provenance_diff

N_TEST, N_TRAIN = 12, 24
CONTAINS = "refs[0] in p"  # the plugin metric's first version
NONEMPTY = "len(p.strip()) > 0"  # ... and its second

PLUGIN = '''
import harness
from harness import DataSource, Metric, MetricResult, Task


def _loose(predictions, references):
    """1 where RULE holds for the prediction p and its references refs."""
    scores = [float({rule}) for p, refs in zip(predictions, references)]
    return MetricResult(sum(scores) / len(scores), scores)


@harness.hookimpl
def harness_metrics():
    return [Metric("loose", _loose, binary=True)]


@harness.hookimpl
def harness_tasks():
    return [
        Task(
            name="echo",
            instruction="Repeat the input.",
            test=DataSource({test!r}),
            train=DataSource({train!r}),
            metrics=("exact_match", "chrf", "loose"),
            max_new_tokens=4,
        )
    ]
'''


@pytest.fixture(scope="module")
def runs(tmp_path_factory, run_config, write_jsonl):
    """A tuning run and an evaluation of the same base model, on one "echo" task whose metrics
    are exact match, chrF (a corpus metric) and "loose" (a plugin metric)."""
    root = tmp_path_factory.mktemp("saved-runs")
    rows = [{"input": f"word {i}", "output": f"word {i}"} for i in range(N_TRAIN + N_TEST)]
    test = write_jsonl(root / "test.jsonl", rows[:N_TEST])
    train = write_jsonl(root / "train.jsonl", rows[N_TEST:])
    plugin = root / "echo_plugin.py"
    plugin.write_text(PLUGIN.format(rule=CONTAINS, test=str(test), train=str(train)), encoding="utf-8")
    config = run_config(root, plugin, epochs=6)
    config.train.learning_rate = 3e-3
    tuned, tuned_paths = harness.run(config)
    base, base_paths = harness.evaluate(config)
    return {
        "root": root,
        "plugin": plugin,
        "test": test,
        "train": train,
        "run": tuned_paths["results"].parent,
        "eval": base_paths["results"].parent,
    }


def _copy(folder: Path, into: Path) -> Path:
    copy = into / folder.name
    shutil.copytree(folder, copy)
    return copy


def _results(folder: Path) -> dict:
    return json.loads((folder / "results.json").read_text(encoding="utf-8"))


def _rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "samples.jsonl").read_text(encoding="utf-8").splitlines()]


def _write_rows(folder: Path, rows: list[dict]) -> None:
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    (folder / "samples.jsonl").write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------------- rescore


@pytest.mark.parametrize("kind", ["run", "eval"])
def test_rescore_reproduces_results_and_samples_exactly(runs, tmp_path, kind, capsys):
    folder = _copy(runs[kind], tmp_path)
    results_before = (folder / "results.json").read_bytes()
    samples_before = (folder / "samples.jsonl").read_bytes()
    assert main(["rescore", str(folder), "--plugin", str(runs["plugin"])]) == 0
    assert (folder / "results.json").read_bytes() == results_before
    assert (folder / "samples.jsonl").read_bytes() == samples_before
    assert "no value changed" in capsys.readouterr().out
    assert (tmp_path / "index.md").is_file()  # the output folder's history is updated


def test_rescore_applies_a_changed_metric_without_a_model(runs, tmp_path, capsys, monkeypatch):
    folder = _copy(runs["run"], tmp_path)
    old = _results(folder)["tasks"]["echo"]
    # the plugin's metric changes: any non-empty prediction now counts
    changed = tmp_path / "echo_plugin.py"
    changed.write_text(
        PLUGIN.format(rule=NONEMPTY, test=str(runs["test"]), train=str(runs["train"])), encoding="utf-8"
    )
    results = _results(folder)
    results["config"]["plugins"] = [str(changed)]
    (folder / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    import transformers

    def no_model(*args, **kwargs):
        raise AssertionError("rescore loaded a model")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_model)
    assert main(["rescore", str(folder)]) == 0
    new = _results(folder)
    rows = _rows(folder)
    for phase in ("before", "after"):  # the new metric, from the saved predictions
        expected = [float(len(row[f"prediction_{phase}"].strip()) > 0) for row in rows]
        assert [row[f"scores_{phase}"]["loose"] for row in rows] == expected
        assert new["tasks"]["echo"]["metrics"]["loose"][phase] == pytest.approx(sum(expected) / len(expected))
    assert new["tasks"]["echo"]["metrics"]["loose"] != old["metrics"]["loose"]
    assert new["tasks"]["echo"]["metrics"]["exact_match"] == old["metrics"]["exact_match"]  # untouched
    assert new["tasks"]["echo"]["metrics"]["chrf"] == old["metrics"]["chrf"]
    assert any(line.startswith("echo: loose.before 0.0 -> ") for line in new["rescored"]["changes"])
    assert "values changed" in capsys.readouterr().out
    assert "verdict" in new["tasks"]["echo"] and new["decision"]["summary"]


def test_rescore_checks_new_gates_and_exits_1_when_one_fails(runs, tmp_path, capsys):
    folder = _copy(runs["run"], tmp_path)
    code = main(
        [
            "rescore",
            str(folder),
            "--plugin",
            str(runs["plugin"]),
            "--gate",
            "echo.exact_match>=1.01",
            "--json",
        ]
    )
    assert code == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["gates_passed"] is False and summary["exit_code"] == 1
    rescored = _results(folder)
    assert rescored["gates"][0]["expression"] == "echo.exact_match>=1.01"
    keys = list(rescored)
    assert keys[keys.index("decision") + 1] == "gates"  # where a run's results.json has them


def test_rescore_of_a_folder_without_results_is_one_line_exit_2(tmp_path, capsys):
    assert main(["rescore", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "results.json: not found" in err and "Traceback" not in err


def test_rescore_names_a_metric_that_is_no_longer_registered(runs, tmp_path, capsys):
    folder = _copy(runs["run"], tmp_path)
    results = _results(folder)
    results["config"]["plugins"] = []  # the plugin with "loose" is not loaded
    (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")
    assert main(["rescore", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "metric 'loose' is not registered" in err and "--plugin" in err


# --------------------------------------------------------------------------------- compare


def test_compare_of_the_base_evaluation_with_the_run_reproduces_the_runs_own_comparison(runs, tmp_path):
    """Run A = the base model evaluated, run B = the tuning run: the paired comparison of A's
    predictions with B's tuned ones is exactly the run's own before/after comparison."""
    results, paths = compare(runs["eval"], runs["run"], tmp_path, plugin_specs=[str(runs["plugin"])])
    samples = _rows(paths["samples"].parent)
    own = _results(runs["run"])
    assert results["mode"] == "compare"
    assert results["tasks"]["echo"]["metrics"] == own["tasks"]["echo"]["metrics"]
    assert results["tasks"]["echo"]["verdict"] == own["tasks"]["echo"]["verdict"]
    assert results["tasks"]["echo"]["flips"] == own["tasks"]["echo"]["flips"]
    assert results["compared"]["before"]["run_id"] == _results(runs["eval"])["run_id"]
    assert results["compared"]["after"]["predictions"] == "after tuning"
    tuned = {row["id"]: row["prediction_after"] for row in _rows(runs["run"])}
    assert {row["id"]: row["prediction_after"] for row in samples} == tuned
    keys = {d["key"] for d in results["differences"]}
    assert "model.method" in keys  # an evaluation has none, the run tuned fully


def test_compare_writes_reports_and_exits_by_its_gates(runs, tmp_path, capsys):
    out = tmp_path / "reports"
    argv = ["compare", str(runs["eval"]), str(runs["run"]), "-o", str(out), "--plugin", str(runs["plugin"])]
    # the gate passes, but 8 test examples cannot tell a change from none: exit code 4, not 0
    assert main([*argv, "--gate", "echo.exact_match.delta>=-1"]) == 4
    folders = [p for p in out.iterdir() if p.is_dir()]
    assert len(folders) == 1 and folders[0].name.startswith("compare-")
    for name in ("results.json", "samples.jsonl", "report.md", "report.html"):
        assert (folders[0] / name).is_file()
    markdown = (folders[0] / "report.md").read_text(encoding="utf-8")
    assert "model.method" in markdown  # the provenance difference, in Run metadata
    eval_id, run_id = _results(runs["eval"])["run_id"], _results(runs["run"])["run_id"]
    assert f"- before = run {eval_id} (" in markdown and f"- after = run {run_id} (" in markdown
    assert f"after = run {run_id} (" in (folders[0] / "report.html").read_text(encoding="utf-8")
    assert (out / "index.md").is_file()
    assert main([*argv, "--gate", "echo.exact_match.delta>=2"]) == 1
    # a comparison is itself rescorable, to the byte
    saved = (folders[0] / "results.json").read_bytes()
    assert main(["rescore", str(folders[0]), "--plugin", str(runs["plugin"])]) == 1  # its gate still fails
    assert (folders[0] / "results.json").read_bytes() == saved


def test_provenance_diff_lists_changed_config_keys_and_versions():
    a = {"config": {"train": {"learning_rate": 1e-4}, "output_dir": "x"}, "versions": {"torch": "2.13"}}
    b = {"config": {"train": {"learning_rate": 3e-4}, "output_dir": "y"}, "versions": {"torch": "2.14"}}
    assert provenance_diff(a, b) == [
        {"key": "config.train.learning_rate", "before": 1e-4, "after": 3e-4},
        {"key": "versions.torch", "before": "2.13", "after": "2.14"},
    ]  # output_dir differs in every pair of runs: left out


def test_compare_refuses_runs_on_different_examples(runs, tmp_path, capsys):
    other = _copy(runs["run"], tmp_path)
    rows = _rows(other)[:-2]
    _write_rows(other, rows)
    results = _results(other)
    results["tasks"]["echo"]["n_test"] = len(rows)
    (other / "results.json").write_text(json.dumps(results), encoding="utf-8")
    assert main(["compare", str(runs["eval"]), str(other), "--plugin", str(runs["plugin"])]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot compare task 'echo' pairwise" in err and "2 ids only in A, 0 only in B" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "reports").exists()


def test_compare_refuses_when_the_data_behind_the_same_ids_differ(runs, tmp_path, capsys):
    other = _copy(runs["run"], tmp_path)
    rows = _rows(other)
    rows[3]["references"] = ["something else"]
    _write_rows(other, rows)
    assert main(["compare", str(runs["eval"]), str(other), "--plugin", str(runs["plugin"])]) == 2
    err = capsys.readouterr().err
    assert "the test data differ" in err and repr(rows[3]["id"]) in err


def test_compare_refuses_runs_without_a_shared_task(runs, tmp_path, capsys):
    other = _copy(runs["run"], tmp_path)
    results = _results(other)
    results["tasks"] = {"topic": results["tasks"].pop("echo")}
    (other / "results.json").write_text(json.dumps(results), encoding="utf-8")
    assert main(["compare", str(runs["eval"]), str(other)]) == 2
    assert "share no task (A: echo; B: topic)" in capsys.readouterr().err


def test_compare_names_an_unknown_task(runs, capsys):
    assert main(["compare", str(runs["eval"]), str(runs["run"]), "--tasks", "ecko"]) == 2
    assert "did you mean 'echo'" in capsys.readouterr().err


# --------------------------------------------------------------------------- comparability


def _edited(folder: Path, into: Path, edit_results=None, edit_row=None) -> Path:
    """A copy of a saved run with its results.json and/or each samples.jsonl row edited."""
    into.mkdir(parents=True, exist_ok=True)
    copy = _copy(folder, into)
    if edit_results:
        results = _results(copy)
        edit_results(results)
        (copy / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    if edit_row:
        rows = _rows(copy)
        for row in rows:
            edit_row(row)
        _write_rows(copy, rows)
    return copy


def _set_max_new_tokens(results: dict) -> None:
    results["tasks"]["echo"]["max_new_tokens"] = 8


def test_compare_refuses_runs_generated_with_other_settings_in_one_line(runs, tmp_path, capsys):
    other = _edited(runs["run"], tmp_path / "other", _set_max_new_tokens)
    out = tmp_path / "out"
    argv = ["compare", str(runs["run"]), str(other), "-o", str(out), "--plugin", str(runs["plugin"])]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "are not comparable: max_new_tokens differs (echo: 4 vs 8)" in err
    assert "--allow-mismatch max_new_tokens" in err and not out.exists()


def test_allow_mismatch_compares_and_the_report_says_what_was_allowed(runs, tmp_path):
    other = _edited(runs["run"], tmp_path / "other", _set_max_new_tokens)
    out = tmp_path / "out"
    argv = ["compare", str(runs["run"]), str(other), "-o", str(out), "--plugin", str(runs["plugin"])]
    assert main([*argv, "--allow-mismatch", "max_new_tokens"]) == 0
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    results = _results(folder)
    assert results["compared"]["allowed_mismatch"] == {"max_new_tokens": "echo: 4 vs 8"}
    assert "compared although max_new_tokens differs (echo: 4 vs 8): allowed by --allow-mismatch" in (
        " ".join(results["warnings"])
    )
    # the task setting is a provenance difference too, and the only one between a run and its copy
    assert results["differences"] == [{"key": "tasks.echo.max_new_tokens", "before": 4, "after": 8}]
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    assert "1 provenance value differs (see Run metadata)" in markdown
    assert "allowed by --allow-mismatch max_new_tokens" in markdown


def test_compare_names_every_differing_field_prompts_included(runs, tmp_path, capsys):
    def edit(results: dict) -> None:
        results["generation"]["prompt_template"] = "Q: {instruction} {input}\nA:"
        results["tasks"]["echo"]["instruction"] = "Say it again."
        results["tasks"]["echo"]["num_fewshot"] = 2
        results["tasks"]["echo"]["truncation"]["limit"] = 64
        results["tasks"]["echo"]["version"] = "2"

    def reprompt(row: dict) -> None:
        row["prompt"] = "Q: " + row["prompt"]

    other = _edited(runs["run"], tmp_path / "other", edit, reprompt)
    assert main(["compare", str(runs["run"]), str(other), "--plugin", str(runs["plugin"])]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    for field in ("prompts", "prompt_template", "instruction", "num_fewshot", "max_length", "task_version"):
        assert f"{field} differs (" in err
    assert f"prompts differs (echo: {N_TEST} of {N_TEST} prompts)" in err
    assert "instruction differs (echo: 'Repeat the input.' vs 'Say it again.')" in err
    allowed = [arg for f in ("prompts", "prompt_template", "instruction") for arg in ("--allow-mismatch", f)]
    assert main(["compare", str(runs["run"]), str(other), "--plugin", str(runs["plugin"]), *allowed]) == 2
    assert "num_fewshot differs" in capsys.readouterr().err  # still refused for what was not allowed


def test_mismatches_lists_metric_settings_and_nothing_for_alike_runs(runs):
    results = _results(runs["run"])
    rows = {"echo": _rows(runs["run"])}
    assert mismatches(results, json.loads(json.dumps(results)), rows) == {}
    other = json.loads(json.dumps(results))
    other["tasks"]["echo"]["metrics"]["chrf"]["settings"] = {"signature": "nrefs:1|version:9.9"}
    other["seed"] = other["config"]["seed"] = 7  # another seed is not a mismatch
    differing = mismatches(results, other, rows)
    assert list(differing) == ["metric_settings"] and differing["metric_settings"].startswith("echo.chrf: ")


def test_allow_mismatch_names_an_unknown_field(runs, capsys):
    argv = ["compare", str(runs["eval"]), str(runs["run"]), "--allow-mismatch", "max_new_token"]
    assert main(argv) == 2
    assert "unknown field 'max_new_token' (did you mean 'max_new_tokens'?)" in capsys.readouterr().err


def test_statistics_warnings_name_the_setting_and_a_seed_alone_says_nothing(runs, tmp_path):
    def reseed(results: dict) -> None:
        results["seed"] = results["config"]["seed"] = results["statistics"]["seed"] = 7

    def resample(results: dict) -> None:
        results["statistics"]["n_resamples"] = results["config"]["stats"]["n_resamples"] = 200

    plugin = [str(runs["plugin"])]
    reseeded = _edited(runs["run"], tmp_path / "seed", reseed)
    results, _ = compare(runs["run"], reseeded, tmp_path / "out", plugin_specs=plugin)
    assert not any("statistics" in warning for warning in results["warnings"])
    assert {d["key"] for d in results["differences"]} == {"config.seed"}  # listed, not warned about
    resampled = _edited(runs["run"], tmp_path / "resample", resample)
    results, _ = compare(runs["run"], resampled, tmp_path / "out", plugin_specs=plugin)
    run_id = _results(runs["run"])["run_id"]
    assert results["warnings"] == [
        f"statistics setting n_resamples differs (run {run_id}: 1000, run {run_id}: 200); "
        f"run {run_id}'s is used"
    ]


def _seed_set(folder: Path, run_ids: list[str], seed_sd: float, set_id: str = "seeds-test") -> Path:
    """A seed set's seeds.json as harness.seeds writes it (the fields compare reads)."""
    (folder / set_id).mkdir(parents=True)
    summary = {
        "set_id": set_id,
        "seeds": list(range(len(run_ids))),
        "runs": [{"seed": i, "run_id": r} for i, r in enumerate(run_ids)],
        "tasks": {"echo": {"metric": "exact_match", "seed_sd": seed_sd}},
    }
    (folder / set_id / "seeds.json").write_text(json.dumps(summary), encoding="utf-8")
    return folder / set_id


def test_compare_weighs_the_difference_against_a_known_seed_spread(runs, tmp_path):
    """The base evaluation against the tuned run, with a seed set that holds the tuned run: one
    tuned side, so the band is the seeds' sd itself; the difference within it is said and decides."""
    plugin = [str(runs["plugin"])]
    own = _results(runs["run"])
    delta = own["tasks"]["echo"]["metrics"]["exact_match"]["delta"]
    out = tmp_path / "out"
    _seed_set(out, [own["run_id"], "20990101-000000-other"], seed_sd=abs(delta) + 0.5)
    results, paths = compare(runs["eval"], runs["run"], out, plugin_specs=plugin)
    seed_set = results["compared"]["seed_set"]
    assert (
        seed_set["set_id"] == "seeds-test"
        and seed_set["matched"] == f"run {own['run_id']} is one of its seeds"
    )
    spread = results["tasks"]["echo"]["seed_spread"]
    assert spread["band"] == pytest.approx(abs(delta) + 0.5) and spread["tuned_runs"] == 1
    verdict = results["tasks"]["echo"]["verdict"]
    assert verdict["within_seed_spread"] is True and verdict["outcome"] == "inconclusive"
    assert any(w.startswith("echo: the difference") and "seeds-test" in w for w in results["warnings"])
    assert "within the spread of training itself" in paths["markdown"].read_text(encoding="utf-8")
    # rescoring the comparison decides the same from its results.json alone
    saved = paths["results"].read_bytes()
    assert main(["rescore", str(paths["results"].parent), "--plugin", str(runs["plugin"])]) in (0, 4)
    assert paths["results"].read_bytes() == saved


def test_a_seed_set_of_the_same_recipe_applies_and_another_recipe_does_not(runs, tmp_path):
    """A single run with the config of a seed set's runs (seeds aside) gets that set's spread; a
    run of another recipe gets none; two evaluations (no tuned side) get none either."""
    plugin = [str(runs["plugin"])]
    own = _results(runs["run"])
    out = tmp_path / "out"
    member = _edited(runs["run"], out, lambda r: r.update(run_id="20990101-000000-member"))
    member.rename(out / "20990101-000000-member")
    _seed_set(out, ["20990101-000000-member"], seed_sd=0.25)
    results, _ = compare(runs["eval"], runs["run"], out, plugin_specs=plugin)
    assert (
        results["compared"]["seed_set"]["matched"]
        == f"run {own['run_id']} has its runs' config but for the seeds"
    )
    assert results["tasks"]["echo"]["seed_spread"]["seed_sd"] == 0.25

    def other_recipe(results: dict) -> None:
        results["config"]["train"]["learning_rate"] = 1.0

    other = _edited(runs["run"], tmp_path / "other", other_recipe)
    results, _ = compare(runs["eval"], other, out, plugin_specs=plugin)
    assert "seed_set" not in results["compared"] and "seed_spread" not in results["tasks"]["echo"]
    _seed_set(tmp_path / "evals", [_results(runs["eval"])["run_id"]], seed_sd=0.25)
    results, _ = compare(runs["eval"], runs["eval"], tmp_path / "evals", plugin_specs=plugin)
    assert "seed_spread" not in results["tasks"]["echo"]  # no tuned side: training's spread is not in it
