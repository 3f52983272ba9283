"""Looking at the data before training: `harness tasks show NAME --tokens` and the train/test
overlap (contamination) check."""

from __future__ import annotations

from harness import Example
from harness.cli import main
from harness.config_loader import load_config
from harness.tasks.overlap import describe, overlap
from harness.tasks.prompting import IGNORE_INDEX, training_tokens
from harness.workload import prepare


def ex(i: int, text: str) -> Example:
    return Example(id=f"t-{i}", instruction="", input=text, output="x")


LONG = "the quick brown fox jumps over the lazy dog near the river bank today"


def test_overlap_exact_near_and_distinct():
    train = [ex(0, LONG), ex(1, "Completely different words about something else entirely here now")]
    test = [
        ex(10, "The QUICK brown fox, jumps over the lazy dog near the river bank today!"),  # exact
        ex(11, "the quick brown fox jumps over the lazy dog near the river at noon"),  # shares 6 of 8 8-grams
        ex(12, "a quick brown fox"),  # short, not exact: never near
        ex(13, "nothing in common with the training inputs at all, none whatsoever"),
    ]  # fmt: skip
    record = overlap(train, test)
    assert record == {
        "exact": 1, "near": 1, "n_test": 4, "ngram": 8, "threshold": 0.5, "examples": ["t-10", "t-11"],
    }  # fmt: skip
    assert describe(record) == (
        "1 of 4 test inputs in train, 1 near-duplicate (8-gram overlap >= 50%), e.g. t-10, t-11"
    )
    assert overlap(train, test, near=0.8)["near"] == 0


def test_workload_records_overlap_per_trained_task(tmp_path, write_jsonl, write_plugin):
    rows = [{"input": f"{LONG} number {i}", "output": "x"} for i in range(12)]
    train = write_jsonl(tmp_path / "train.jsonl", rows[:10])
    test = write_jsonl(tmp_path / "test.jsonl", [rows[0], {"input": "unrelated short", "output": "x"}])
    plugin = write_plugin(tmp_path / "p.py", tasks=[{"name": "copy", "train": train, "test": test}])
    workload = prepare(load_config(None, [f"plugins=[{str(plugin)!r}]", "tasks=['copy']"]))
    assert workload.overlap["copy"]["exact"] == 1 and workload.overlap["copy"]["n_test"] == 2
    assert workload.overlap["copy"]["examples"] == ["copy-test-1"]


def test_tasks_show_tokens(tmp_path, tiny_model_dir, write_jsonl, write_plugin, capsys, load_tiny):
    from harness import plugins
    from harness.tasks.data import load_examples
    from harness.tasks.prompting import build_prompt, tokenize_for_training

    rows = [{"input": " ".join(["word"] * (3 * i + 1)), "output": f"answer {i}"} for i in range(10)]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    plugin = write_plugin(tmp_path / "p.py", tasks=[{"name": "grow", "train": train, "test": train}])
    task = plugins.tasks(plugins.make_plugin_manager(extra=[str(plugin)]))["grow"].item
    examples = load_examples(task.train, task, "train")
    tokenizer = load_tiny().tokenizer
    template = load_config(None, []).prompt()
    lengths = [
        len(tokenize_for_training(tokenizer, build_prompt(template, e), e.output, 10**9).input_ids)
        for e in examples
    ]
    limit = sorted(lengths)[5]  # half of them longer
    args = ["tasks", "show", "grow", "--tokens", "--plugin", str(plugin), "--model", str(tiny_model_dir)]
    assert main([*args, "--set", f"train.max_length={limit}"]) == 0
    out = capsys.readouterr().out
    assert "train/test overlap  10 of 10 test inputs in train" in out
    assert "supervised: 'answer 0</s>'" in out
    cut = sum(training_tokens(tokenizer, template, example, limit)[1] for example in examples)
    assert cut == sum(length > limit for length in lengths) == 4
    expected = f"limit {limit} tokens (train.max_length {limit}, context "
    assert expected in out and f"{cut} of 10 examples exceed it and would have their input cut" in out
    first, _ = training_tokens(tokenizer, template, examples[0], limit)
    supervised = sum(label != IGNORE_INDEX for label in first.labels)
    assert f"supervised, {supervised} tokens of {len(first.input_ids)}" in out
    assert f"min {min(lengths)}, median" in out and f"max {max(lengths)}" in out
    # an example that cannot fit at all is counted, not a crash
    assert main([*args, "--set", f"train.max_length={min(lengths) - 12}"]) == 0
    assert "10 of 10 examples cannot fit" in capsys.readouterr().out
