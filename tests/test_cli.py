"""The command line: help and listings stay light (no torch); bad input fails fast with one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness import plugins
from harness.cli import main

REPO = Path(__file__).resolve().parents[1]
SENTIMENT_DATA = REPO / "tasks" / "sentiment"


def run_python(code: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", plugins.AUTOLOAD_ENV: "1"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(autouse=True)
def _cli_env(monkeypatch):
    # Installed plugins are off and each test runs in its own tmp_path (conftest.py): anything
    # written by mistake lands there, where the tests look for it.
    monkeypatch.setenv("COLUMNS", "200")  # rich: no wrapping of tables and messages


@pytest.fixture
def no_model_loading(monkeypatch):
    """Bad input must be rejected before any model is loaded."""
    import harness.models

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the input was validated")

    monkeypatch.setattr(harness.models, "load_model", refuse)


# --- subprocess: help and listings without torch ---------------------------------------------------


def test_help_in_subprocess(run_harness):
    out = run_harness("--help")
    assert out.startswith("usage: harness")
    for command in ("run", "eval", "tasks", "metrics", "plugins"):
        assert command in out
    assert "harness tasks show sentiment" in out  # the examples epilog


def test_version_in_subprocess(run_harness):
    from harness import __version__

    assert run_harness("--version").strip() == f"harness {__version__}"


def test_listings_and_bad_input_do_not_import_torch(tmp_path):
    result = run_python(
        """
        import sys
        from harness.cli import main

        try:
            main(["--help"])
        except SystemExit as exc:
            assert exc.code == 0
        assert main(["tasks", "list"]) == 0
        assert main(["metrics"]) == 0
        assert main(["plugins"]) == 0
        assert main(["run", "--tasks", "sentimnet", "-o", "reports"]) == 2
        assert main(["run", "--tasks", "sentiment", "--set", "data.sentiment.test.path=missing.jsonl"]) == 2
        assert main(["run", "--gate", "sentiment.acc>=1", "-o", "reports"]) == 2  # an unknown metric
        assert main(["eval", "--gate", "no-regression", "-o", "reports"]) == 2  # needs a baseline
        heavy = ("torch", "transformers", "peft", "accelerate", "sklearn")
        heavy = sorted(m for m in heavy if m in sys.modules)
        print("HEAVY", heavy)
    """,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout
    assert "sentiment" in result.stdout and "accuracy" in result.stdout and "harness_tasks" in result.stdout
    assert not (tmp_path / "reports").exists()


def test_console_script_is_installed(tmp_path):
    import shutil

    script = shutil.which("harness")
    if script is None:
        pytest.skip("the harness console script is not on PATH")
    result = subprocess.run(
        [script, "tasks", "list"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200", plugins.AUTOLOAD_ENV: "1"},
    )
    assert result.returncode == 0, result.stderr
    assert all(name in result.stdout for name in ("sentiment", "summarization", "translation"))


def test_the_console_script_tunes_the_garbage_collector(monkeypatch):
    """``harness`` runs :func:`cli.console`: main's exit code, with a larger first collection
    threshold and ``gc.freeze()`` before exit (the final collections then skip what the imports
    created); main alone changes neither."""
    import gc
    import tomllib

    from harness import cli

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts["harness"] == "harness.cli:console"
    gc.unfreeze()
    thresholds = gc.get_threshold()
    monkeypatch.setattr(cli, "main", lambda: 3)
    try:
        assert cli.console() == 3
        assert gc.get_freeze_count() > 0 and gc.get_threshold()[0] == cli.GC_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    assert main(["tasks", "list"]) == 0 and gc.get_freeze_count() == 0


# --- in-process listings ---------------------------------------------------------------------------


def test_tasks_list(capsys):
    assert main(["tasks", "list"]) == 0
    out = capsys.readouterr().out
    for name, primary in (
        ("sentiment", "accuracy, macro_f1"),
        ("summarization", "rougeL, rouge1"),
        ("translation", "bleu, chrf"),
    ):
        line = next(line for line in out.splitlines() if f" {name} " in line)
        assert primary in line
        assert f"harness.builtin.plugins.{name}" in line
    assert "loglik" in out and "generate" in out  # sentiment has choices


def test_metrics_list_shows_direction_and_scale(capsys):
    assert main(["metrics"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 4}
    assert "higher" in rows["accuracy"] and "0-1 " in rows["accuracy"]
    assert "0-100" in rows["bleu"] and "0-100" in rows["chrf"] and "0-1 " in rows["rougeL"]
    assert "harness.metrics.builtin" in rows["exact_match"]
    assert "McNemar" in rows["exact_match"] and "bootstrap" in rows["bleu"]  # the paired test binary picks


def _count_lines(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


@pytest.mark.skipif(
    not (SENTIMENT_DATA / "test.jsonl").is_file(), reason="tasks/sentiment data not built yet"
)
def test_tasks_show_builtin_sentiment(capsys):
    assert main(["tasks", "show", "sentiment"]) == 0
    out = capsys.readouterr().out
    assert "sentiment (version 1) from harness.builtin.plugins.sentiment\n" in out
    assert "Determine if the following sentence has a positive or negative sentiment." in out
    assert "accuracy, macro_f1  (primary: accuracy)" in out
    assert "Positive, Negative" in out
    n_test, n_train = (
        _count_lines(SENTIMENT_DATA / "test.jsonl"),
        _count_lines(SENTIMENT_DATA / "train.jsonl"),
    )
    assert f"({n_test} examples)" in out and f"({n_train} examples)" in out
    first = json.loads((SENTIMENT_DATA / "test.jsonl").read_text(encoding="utf-8").splitlines()[0])
    prompt = out.split("Example prompt (compact template):\n", 1)[1]
    assert prompt.startswith("### Instruction:\n")
    assert f"### Input:\n{first['input']}\n\n### Response:\n{first['output']}" in prompt


def test_tasks_show_plugin_task_with_markup_like_text(tmp_path, capsys, write_jsonl, write_plugin):
    data = write_jsonl(
        tmp_path / "data" / "test.jsonl",
        [{"input": "[b]bold?[/b] 2+2", "output": "4"}, {"input": "3+3", "output": "6"}],
    )
    task = {
        "name": "arith",
        "instruction": "Compute [the sum].",
        "description": "[red]Sums[/red]",
        "test": data,
    }
    plugin = write_plugin(tmp_path / "arith.py", tasks=[task])
    assert main(["tasks", "show", "arith", "--plugin", str(plugin)]) == 0
    out = capsys.readouterr().out
    assert "arith (version 1) from" in out
    assert "[red]Sums[/red]" in out  # plugin text is printed as written, not read as markup
    assert "Compute [the sum]." in out
    assert "(2 examples)" in out and "train" not in out.split("Example prompt")[0].split("exact_match")[1]
    assert "### Input:\n[b]bold?[/b] 2+2\n\n### Response:\n4" in out
    assert main(["tasks", "list", "--plugin", str(plugin)]) == 0
    listing = capsys.readouterr().out
    assert "arith" in listing and "exact_match" in listing


def test_tasks_show_unknown_task(capsys):
    assert main(["tasks", "show", "sentimnt"]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == (
        "error: unknown task 'sentimnt' (did you mean 'sentiment'?); "
        "known: sentiment, summarization, translation; tasks come from plugins (./plugins/*.py, --plugin, "
        "installed packages) and task files (./tasks/*.toml, --tasks-dir DIR); see 'harness tasks list'"
    )


# --- bad input to run/eval: exit 2, one line on stderr, nothing written, no model loaded ----------


def _assert_clean_failure(argv, capsys, tmp_path, expected: list[str]):
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    for fragment in expected:
        assert fragment in lines[0]
    assert not (tmp_path / "reports").exists()
    assert not (tmp_path / "runs").exists()
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    return lines[0]


@pytest.mark.parametrize("command", ["run", "eval"])
def test_unknown_task(command, capsys, tmp_path, no_model_loading):
    _assert_clean_failure(
        [command, "--tasks", "sentimnet", "-o", str(tmp_path / "reports")],
        capsys,
        tmp_path,
        ["unknown task 'sentimnet'", "did you mean 'sentiment'"],
    )


def test_unknown_task_in_set_list(capsys, tmp_path, no_model_loading):
    _assert_clean_failure(
        ["run", "--set", 'tasks=["sentiment","translaton"]', "-o", str(tmp_path / "reports")],
        capsys,
        tmp_path,
        ["unknown task 'translaton'", "did you mean 'translation'"],
    )


def test_unknown_config_key(capsys, tmp_path, no_model_loading):
    _assert_clean_failure(
        ["run", "--set", "train.epocs=3", "-o", str(tmp_path / "reports")],
        capsys,
        tmp_path,
        ["unknown config key 'train.epocs'", "did you mean 'epochs'"],
    )


def test_unknown_key_in_config_file(capsys, tmp_path, no_model_loading):
    config = tmp_path / "run.toml"
    config.write_text('model = "tiny"\n[lora]\nrank = 4\n', encoding="utf-8")
    line = _assert_clean_failure(
        ["run", "-c", str(config), "-o", str(tmp_path / "reports")],
        capsys,
        tmp_path,
        ["unknown config key 'lora.rank'"],
    )
    assert f"{config}:3:" in line


@pytest.mark.parametrize("command", ["run", "eval"])
def test_missing_data_file(command, capsys, tmp_path, no_model_loading):
    line = _assert_clean_failure(
        [
            command,
            "--tasks",
            "sentiment",
            "--set",
            "data.sentiment.test.path=missing.jsonl",
            "-o",
            str(tmp_path / "reports"),
        ],
        capsys,
        tmp_path,
        ["missing.jsonl", "test data file not found"],
    )
    assert line == "error: missing.jsonl: test data file not found (task 'sentiment')"


def test_bad_data_line_names_file_line_and_field(capsys, tmp_path, no_model_loading, write_jsonl):
    write_jsonl(
        tmp_path / "mine.jsonl",
        [{"input": "good", "output": "Positive"}, {"input": "meh", "output": "so-so"}],
    )
    _assert_clean_failure(
        [
            "eval",
            "--tasks",
            "sentiment",
            "--set",
            "data.sentiment.test=mine.jsonl",
            "-o",
            str(tmp_path / "reports"),
        ],
        capsys,
        tmp_path,
        ["mine.jsonl:2: field 'output'", "'so-so' is not one of the task's choices"],
    )


def test_data_for_unselected_task_keeps_brackets(capsys, tmp_path, no_model_loading):
    line = _assert_clean_failure(
        [
            "run",
            "--tasks",
            "sentiment",
            "--set",
            "data.sentimnt.test=x.jsonl",
            "-o",
            str(tmp_path / "reports"),
        ],
        capsys,
        tmp_path,
        [],
    )
    assert line == (
        "error: config: [data.sentimnt] names a task that is not in tasks (did you mean 'sentiment'?)"
    )


def test_bad_plugin_is_a_clean_error(capsys, tmp_path, no_model_loading):
    plugin = tmp_path / "broken.py"
    plugin.write_text("raise ValueError('nope')\n", encoding="utf-8")
    _assert_clean_failure(
        ["run", "--plugin", str(plugin), "-o", str(tmp_path / "reports")],
        capsys,
        tmp_path,
        ["broken.py: plugin failed to import: ValueError: nope"],
    )


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "--no-such-flag"])
    assert info.value.code == 2
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err


# --- progress bars ---------------------------------------------------------------------------------


def test_rich_progress_shows_steps_counts_and_live_values():
    from rich.console import Console

    from harness.progress import step
    from harness.reports.terminal import RichProgress

    console = Console(record=True, width=150, color_system=None, force_terminal=False)
    with RichProgress(console) as bars:
        with step(bars, "load", "Loading model"):
            pass
        bars.start("eval:echo:before", "Evaluating echo (before)", 8)
        bars.advance("eval:echo:before", 5)
        bars.advance("eval:echo:before", 3)
        bars.finish("eval:echo:before")
        bars.start("train", "Fine-tuning", 4)
        for _ in range(4):
            bars.advance("train", loss=0.41234, learning_rate=0.0029)
        bars.finish("train")
    lines = [line.rstrip() for line in console.export_text().splitlines() if line.strip()]
    final = {line.split("━")[0].strip(): line for line in lines[-3:]}  # the last frame: a line per step
    assert "1/1" in final["Loading model"]
    assert "8/8" in final["Evaluating echo (before)"]
    assert "4/4" in final["Fine-tuning"]
    assert final["Fine-tuning"].endswith("loss 0.4123  learning_rate 0.0029")


# --- gates, --json and exit codes ------------------------------------------------------------------


@pytest.fixture
def echo_args(tmp_path, tiny_model_dir, write_jsonl, write_plugin):
    """Arguments for a tiny real run: the suite's small Llama on an "echo" task (12 training, 6
    test examples), one epoch, everything under tmp_path."""
    rows = [{"input": f"word {i}", "output": f"word {i}"} for i in range(18)]
    task = {
        "name": "echo",
        "instruction": "Repeat the input.",
        "test": write_jsonl(tmp_path / "data" / "test.jsonl", rows[:6]),
        "train": write_jsonl(tmp_path / "data" / "train.jsonl", rows[6:]),
        "max_new_tokens": 3,
    }
    plugin = write_plugin(tmp_path / "echo_task.py", tasks=[task])
    return [
        "--model", str(tiny_model_dir), "--tasks", "echo", "--plugin", str(plugin), "-q",
        "-o", str(tmp_path / "reports"), "--set", f"models_dir={json.dumps(str(tmp_path / 'runs'))}",
        "--set", "method=\"full\"", "--set", "device=\"cpu\"", "--set", "threads=1", "--set", "cache=false",
        "--set", "train.epochs=1", "--set", "train.batch_size=8", "--set", "eval.batch_size=8",
    ]  # fmt: skip


def test_failing_gate_exits_1_and_json_summary_parses(echo_args, capsys, tmp_path):
    gates = ["echo.exact_match>1", "echo.exact_match<=1", "*.primary.delta>=-1", "no-regression"]
    code = main(["run", *echo_args, "--json", *(f"--gate={g}" for g in gates)])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    summary = json.loads(captured.out)  # stdout is the JSON alone; the human output went to stderr
    assert summary["exit_code"] == 1 and summary["gates_passed"] is False and summary["mode"] == "run"
    assert [(g["expression"], g["passed"]) for g in summary["gates"]] == [
        (gates[0], False),
        (gates[1], True),
        (gates[2], True),
        (gates[3], True),  # a tiny model scores 0 before and after: nothing regressed
    ]
    results = json.loads((tmp_path / "reports" / summary["run_id"] / "results.json").read_text("utf-8"))
    assert results["gates"] == summary["gates"]  # written into results.json, after the tasks
    keys = list(results)
    assert keys.index("gates") == keys.index("decision" if "decision" in keys else "tasks") + 1
    accuracy = results["tasks"]["echo"]["metrics"]["exact_match"]
    assert summary["gates"][0]["actual"] == accuracy["after"]
    echo = summary["tasks"]["echo"]
    assert echo["metric"] == "exact_match"
    assert (echo["before"], echo["after"], echo["delta"]) == (
        accuracy["before"],
        accuracy["after"],
        accuracy["delta"],
    )
    assert echo["delta_ci"] == accuracy["delta_ci"] and echo["p_value"] == accuracy["p_value"]
    assert echo["outcome"] == results["tasks"]["echo"].get("verdict", {}).get("outcome")
    assert summary["decision"] == results.get("decision")
    assert set(summary["paths"]) == {"results", "samples", "markdown", "html"}
    assert all(Path(path).is_file() for path in summary["paths"].values())
    assert summary["model_dir"] == results["model"]["output_dir"]
    forecast = results["forecast"]  # the resource forecast's headline numbers, estimates
    assert (
        summary["forecast"]["parameters"] == results["model"]["parameters"] == forecast["parameters"]["total"]
    )
    assert summary["forecast"]["peak_memory_bytes"] == forecast["memory"]["peak_bytes"]
    assert summary["forecast"]["eval_share"] == forecast["cycle"]["eval_share"]
    report = Path(summary["paths"]["markdown"]).read_text("utf-8")  # rewritten with the gates
    assert "Gates: 3 of 4 gates passed." in report
    index = (tmp_path / "reports" / "index.md").read_text("utf-8")  # so is the run history
    assert any(summary["run_id"] in line and line.endswith("| FAILED |") for line in index.splitlines())
    # the terminal lines: each gate's result after the summary table, on stderr
    assert "gates: 3 of 4 passed" in captured.err
    lines = {
        line.split()[1]: line.split()[0]
        for line in captured.err.splitlines()
        if line[2:6] in ("PASS", "FAIL")
    }
    assert lines == {gates[0]: "FAIL", gates[1]: "PASS", gates[2]: "PASS", gates[3]: "PASS"}
    assert f"echo exact_match after tuning {accuracy['after']:.4g} fails > 1" in captured.err


def test_passing_gates_in_eval_mode_exit_0(echo_args, capsys):
    assert main(["eval", *echo_args, "--gate", "echo.exact_match>=0", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["mode"] == "eval" and summary["exit_code"] == 0 and summary["gates_passed"] is True
    assert summary["gates"][0]["actual"] == summary["tasks"]["echo"]["before"]
    assert summary["tasks"]["echo"]["after"] is None and summary["model_dir"] is None
    assert summary["forecast"] is None  # no training, no forecast


def test_config_gates_are_checked_too(echo_args, capsys, write_config, tmp_path):
    config = write_config(tmp_path / "gates.toml", {"gates": {"require": ["echo.exact_match>=2"]}})
    assert main(["eval", *echo_args, "-c", str(config)]) == 1
    out = capsys.readouterr().out
    assert "gates: 0 of 1 passed" in out
    assert "FAIL  echo.exact_match>=2  echo exact_match" in out


@pytest.mark.parametrize(
    "command, gate, expected",
    [
        ("run", "sentiment.accuracy=>0.8", ["--gate 'sentiment.accuracy=>0.8': unknown operator '=>'"]),
        ("run", "sentiment.accuracy>=", ["--gate 'sentiment.accuracy>=': missing value after '>='"]),
        ("eval", "sentiment.accuracy", ["no comparison operator"]),
        ("run", "sentimnt.accuracy>=0.8", ["unknown task 'sentimnt' (did you mean 'sentiment'?)"]),
        ("run", "sentiment.acuracy>=0.8", ["unknown metric 'acuracy'", "(did you mean 'accuracy'?)"]),
        (
            "eval",
            "no-regression",
            ["--gate 'no-regression': compares with the model before tuning", "eval mode"],
        ),
        ("eval", "sentiment.accuracy.delta>0", ["only absolute gates"]),
    ],
)
def test_bad_gate_exits_2_before_any_model_work(command, gate, expected, capsys, tmp_path, no_model_loading):
    argv = [command, "--tasks", "sentiment", "--gate", gate, "-o", str(tmp_path / "reports")]
    _assert_clean_failure(argv, capsys, tmp_path, expected)


def test_bad_gate_in_config_exits_2(capsys, tmp_path, no_model_loading):
    line = _assert_clean_failure(
        ["run", "--tasks", "sentiment", "--set", 'gates.require=["sentiment.accuracy>>1"]'],
        capsys,
        tmp_path,
        [],
    )
    expected = "error: config gates.require 'sentiment.accuracy>>1': unknown operator '>>'"
    assert line == f"{expected}; use one of >=, >, <=, <, =="


def test_bad_input_with_json_still_prints_json(capsys, tmp_path, no_model_loading):
    assert main(["run", "--tasks", "sentiment", "--gate", "x", "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {
        "error": "--gate 'x': no comparison operator; use one of >=, >, <=, <, ==",
        "exit_code": 2,
    }
    assert captured.err.startswith("error: --gate 'x'")


@pytest.fixture
def failing_api(monkeypatch):
    """``failing_api(exc)``: harness.api.run raises ``exc`` (after the input checks)."""
    import harness.api

    def install(exc: BaseException):
        def run(*args, **kwargs):
            raise exc

        monkeypatch.setattr(harness.api, "run", run)

    return install


def test_internal_error_exits_3_with_one_line(failing_api, capsys):
    failing_api(RuntimeError("boom"))
    assert main(["run", "--tasks", "sentiment"]) == 3
    captured = capsys.readouterr()
    assert captured.err.strip() == "internal error: RuntimeError: boom (rerun with --debug for the traceback)"
    assert "Traceback" not in captured.err


@pytest.mark.parametrize("argv", [["--debug", "run"], ["run", "--debug"]])
def test_debug_shows_the_traceback(argv, failing_api, capsys):
    failing_api(RuntimeError("boom"))
    assert main([*argv, "--tasks", "sentiment"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert "RuntimeError: boom" in err and err.strip().endswith("internal error: RuntimeError: boom")


def test_harness_error_with_debug_shows_the_traceback_too(capsys, no_model_loading):
    assert main(["run", "--debug", "--tasks", "sentimnt"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("error: unknown task 'sentimnt'")


def test_interrupt_exits_130(failing_api, capsys):
    failing_api(KeyboardInterrupt())
    assert main(["run", "--tasks", "sentiment", "--json"]) == 130
    captured = capsys.readouterr()
    assert captured.err.strip() == "interrupted"
    assert json.loads(captured.out) == {"error": "interrupted", "exit_code": 130}


def test_help_documents_gates_and_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "no-regression[:TASK]" in out and "TASK.METRIC.delta OP VALUE" in out
    for code, meaning in (("0", "every gate passed"), ("1", "a gate failed"), ("2", "bad input"),
                          ("3", "internal error"), ("130", "interrupted")):  # fmt: skip
        assert any(line.split()[:1] == [code] and meaning in line for line in out.splitlines())
