"""Tasks without Python: TOML task files in ./tasks, --tasks-dir and shipped by plugins."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from harness import plugins
from harness.builtin import plugins_dir
from harness.cli import main
from harness.errors import HarnessError
from harness.tasks.data import load_examples
from harness.tasks.declarative import load_task_file

TOPIC = """\
description = "Two-way news topic"
instruction = "Classify the topic of the headline."
choices = ["Sports", "Business"]
metrics = ["accuracy", "macro_f1"]
version = 2
test = { path = "topic/test.jsonl", fields = { input = "headline", output = "label" } }
train = { path = "topic/train.json", fields = { input = "headline", output = "label" } }
"""


def topic_rows(n: int = 12) -> list[dict]:
    return [
        {"headline": f"team wins match {i}", "label": "Sports"}
        if i % 2
        else {"headline": f"stocks fall {i}", "label": "Business"}
        for i in range(n)
    ]


@pytest.fixture
def topic_dir(tmp_path, write_jsonl) -> Path:
    """A folder with topic.toml and its data (test: JSONL, train: a JSON array) under topic/."""
    folder = tmp_path / "tasks"
    write_jsonl(folder / "topic" / "test.jsonl", topic_rows(6))
    (folder / "topic" / "train.json").write_text(json.dumps(topic_rows(12), indent=2), encoding="utf-8")
    (folder / "topic.toml").write_text(TOPIC, encoding="utf-8")
    return folder


def test_task_file_keys_are_task_fields_and_paths_resolve_against_its_folder(topic_dir, monkeypatch):
    monkeypatch.chdir(topic_dir.parent.parent)  # anywhere but the file's folder
    task, metrics = load_task_file(topic_dir / "topic.toml")
    assert task.name == "topic"  # the file's stem
    assert task.version == "2" and task.choices == ("Sports", "Business")
    assert task.primary_metric == "accuracy" and task.scoring_method == "loglik"
    assert task.test.path == topic_dir / "topic" / "test.jsonl"
    assert metrics == []
    train = load_examples(task.train, task, "train")
    assert len(train) == 12 and train[0].input == "stocks fall 0" and train[0].output == "Business"
    assert train[0].instruction == "Classify the topic of the headline."


def test_found_in_working_directory_tasks_folder(topic_dir, monkeypatch):
    monkeypatch.chdir(topic_dir.parent)
    registry = plugins.tasks(plugins.make_plugin_manager())
    assert registry["topic"].source == str(Path("tasks") / "topic.toml")
    assert "sentiment" in registry


def test_found_with_tasks_dir_and_listed(topic_dir, tmp_path, monkeypatch, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("COLUMNS", "250")  # long temporary paths: no wrapped table cells
    assert "topic" not in plugins.tasks(plugins.make_plugin_manager())
    assert main(["tasks", "list", "--tasks-dir", str(topic_dir)]) == 0
    assert "topic" in capsys.readouterr().out
    assert main(["--tasks-dir", str(topic_dir), "tasks", "show", "topic"]) == 0  # before the command too
    out = capsys.readouterr().out
    assert "Two-way news topic" in out and "(12 examples)" in out


def test_tasks_dir_that_is_not_a_folder(tmp_path, capsys):
    assert main(["tasks", "list", "--tasks-dir", str(tmp_path / "nope")]) == 2
    assert f"--tasks-dir {tmp_path / 'nope'}: not a folder" in capsys.readouterr().err


def test_shipped_by_a_plugin(topic_dir, tmp_path, monkeypatch):
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # not where ./tasks would find it
    plugin = tmp_path / "ships.py"
    plugin.write_text(
        textwrap.dedent(f"""\
            from pathlib import Path
            import harness

            @harness.hookimpl
            def harness_task_files():
                return [Path({str(topic_dir)!r})]
        """),
        encoding="utf-8",
    )
    pm = plugins.make_plugin_manager(extra=[str(plugin)], plugin_dirs=[])
    assert set(plugins.tasks(pm)) == {"topic"}
    sources = {name: source for name, source, _, _ in plugins.describe(pm)}
    assert sources[str(topic_dir / "topic.toml")] == f"shipped by {plugin}"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('instruction = "x"\nmetrics = ["exact_match"]\ntest = "t.jsonl"\nmax_new_token = 3\n', 4,
         "unknown task key 'max_new_token' (did you mean 'max_new_tokens'?)"),
        ('instruction = "x"\nmetrics = "exact_match"\ntest = "t.jsonl"\n', 2,
         "'metrics' must be a list of strings, got 'exact_match'"),
        ('instruction = "x"\nmetrics = ["exact_match"]\n\n[test]\npath = "t.jsonl"\nlabel = {}\n', 4,
         "test: unknown key 'label' (did you mean 'labels'?)"),
        ('instruction = "x"\nmetrics = ["exact_match"]\ntest = "t.jsonl"\nscoring = "loglik"\n', 4,
         "scoring 'loglik' needs choices"),
        ('instruction = "x"\nmetrics = ["exact_match"\n', 2, "invalid TOML"),
    ],
)  # fmt: skip
def test_errors_name_file_line_and_key(tmp_path, text, line, message):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(HarnessError) as info:
        load_task_file(path)
    assert str(info.value).startswith(f"bad.toml:{line}: ")  # relative to the working directory
    assert message in str(info.value)


def test_missing_required_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('instruction = "x"\ntest = "t.jsonl"\n', encoding="utf-8")
    with pytest.raises(HarnessError, match=r"bad.toml: missing key 'metrics'"):
        load_task_file(path)


def test_bad_task_file_in_tasks_folder_fails_the_listing(tmp_path, monkeypatch, capsys):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "typo.toml").write_text('instructions = "x"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["tasks", "list"]) == 2
    err = capsys.readouterr().err
    assert "typo.toml:1: unknown task key 'instructions' (did you mean 'instruction'?)" in err


def test_same_task_in_file_and_plugin_is_an_error(topic_dir, tmp_path, write_plugin, monkeypatch):
    monkeypatch.chdir(topic_dir.parent)
    write_plugin(tmp_path / "plugins" / "dup.py", tasks=[{"name": "topic", "test": "x.jsonl"}])
    with pytest.raises(HarnessError, match="task 'topic' is registered twice"):
        plugins.tasks(plugins.make_plugin_manager())


def test_builtin_sentiment_as_a_task_file_is_the_same_task(tmp_path):
    """The built-ins stay Python (the example to copy); the TOML form says the same thing."""
    data = plugins_dir().parent / "tasks" / "sentiment"
    path = tmp_path / "sentiment.toml"
    path.write_text(
        textwrap.dedent(f"""\
            description = "Binary sentiment of one English sentence: Positive or Negative."
            instruction = "Determine if the following sentence has a positive or negative sentiment."
            train = "{data / "train.jsonl"}"
            test = "{data / "test.jsonl"}"
            metrics = ["accuracy", "macro_f1"]
            choices = ["Positive", "Negative"]
            max_new_tokens = 8
        """),
        encoding="utf-8",
    )
    builtin = plugins.tasks(plugins.make_plugin_manager())["sentiment"].item
    assert load_task_file(path)[0] == builtin


def test_evaluate_metric_declared_with_direction_and_scale(tmp_path):
    script = tmp_path / "metrics" / "wer_like.py"
    script.parent.mkdir()
    script.write_text("# an evaluate module (loaded only on compute)\n", encoding="utf-8")
    path = tmp_path / "t.toml"
    path.write_text(
        'instruction = "x"\nmetrics = ["wer"]\ntest = "t.jsonl"\n\n'
        '[evaluate.wer]\nfile = "metrics/wer_like.py"\nhigher_is_better = false\nscale = 100\n',
        encoding="utf-8",
    )
    task, metrics = load_task_file(path)
    (metric,) = metrics
    assert (metric.name, metric.higher_is_better, metric.scale) == ("wer", False, 100.0)
    assert str(script) in metric.description
    assert metric.normalised(50.0) == -0.5


def test_eval_of_a_task_file_end_to_end(topic_dir, tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(topic_dir.parent)
    code = main([
        "eval", "--model", str(tiny_model_dir), "--tasks", "topic", "-q", "-o", str(tmp_path / "reports"),
        "--set", "device=\"cpu\"", "--set", "threads=1", "--set", "cache=false", "--json",
    ])  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    results = json.loads(Path(summary["paths"]["results"]).read_text("utf-8"))
    assert results["tasks"]["topic"]["primary_metric"] == "accuracy"
    assert 0.0 <= summary["tasks"]["topic"]["before"] <= 1.0
    assert "topic" in Path(summary["paths"]["markdown"]).read_text("utf-8")
