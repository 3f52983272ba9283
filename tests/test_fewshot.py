"""Few-shot evaluation (eval.num_fewshot): demonstrations from train only, seeded per example,
dropped whole before the example's input is cut, in the cache key and in results.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import harness
from harness.config import PROMPT_TEMPLATES, Config
from harness.config_loader import load_config
from harness.errors import HarnessError
from harness.evaluation import cache
from harness.metrics.builtin import builtin_metrics
from harness.tasks import DataSource, Example, Task
from harness.tasks.fewshot import SEPARATOR, Shots, fewshot_prompts, render
from harness.tasks.prompting import build_prompt, evaluation_prompts
from harness.workload import prepare

TEMPLATE = PROMPT_TEMPLATES["compact"]
TASK = Task(name="echo", instruction="Repeat.", test=DataSource("unused.jsonl"), metrics=("exact_match",))
TRAIN = [Example(f"train-{i}", "Repeat.", f"train input {i}", f"train output {i}") for i in range(20)]
TEST = [Example(f"test-{i}", "Repeat.", f"test input {i}", f"test output {i}") for i in range(10)]


@pytest.fixture(scope="module")
def tokenizer(tiny_llama):
    return tiny_llama()[1]


def shots(k: int = 2, seed: int = 0) -> Shots:
    return Shots("echo", k, tuple(TRAIN), seed)


def demos_in(prompt: str) -> list[str]:
    """The train outputs shown in ``prompt``."""
    return [e.output for e in TRAIN if e.output + SEPARATOR in prompt]


def test_zero_shots_give_todays_prompts_byte_for_byte(tokenizer):
    today = evaluation_prompts(tokenizer, TEMPLATE, TASK, TEST, 512)
    for fewshot in (None, shots(0)):
        assert fewshot_prompts(tokenizer, TEMPLATE, TASK, TEST, 512, fewshot) == [(p, c, 0) for p, c in today]


def test_two_shots_from_train_before_the_question(tokenizer):
    fitted = fewshot_prompts(tokenizer, TEMPLATE, TASK, TEST, 512, shots(2))
    for example, (prompt, cut, dropped) in zip(TEST, fitted, strict=True):
        assert not cut and dropped == 0
        demos = shots(2).for_example(example)
        assert len(demos) == 2 and all(d in TRAIN for d in demos)
        expected = "".join(build_prompt(TEMPLATE, d) + d.output + SEPARATOR for d in demos)
        assert prompt == expected + build_prompt(TEMPLATE, example)  # same template, question last
        assert len(demos_in(prompt)) == 2 and "test output" not in prompt  # no test answers
    assert len({tuple(d.id for d in shots(2).for_example(e)) for e in TEST}) > 5  # examples differ


def test_demos_are_stable_across_runs_order_and_subsets():
    first = {e.id: shots(3).for_example(e) for e in TEST}
    again = {e.id: shots(3).for_example(e) for e in reversed(TEST[2:])}  # another order, a subset
    assert all(again[name] == first[name] for name in again)
    assert any(shots(3, seed=1).for_example(e) != first[e.id] for e in TEST)  # the seed matters


def test_a_train_copy_of_the_question_is_never_a_demo():
    leaked = Example("test-x", "Repeat.", TRAIN[0].input, TRAIN[0].output)
    pool = Shots("echo", 2, tuple(TRAIN[:3]), 0)
    assert all(TRAIN[0] not in pool.for_example(leaked) for _ in range(3))
    assert len(pool.for_example(leaked)) == 2


def test_truncation_drops_demos_before_cutting_the_input(tokenizer):
    long_demo = [Example(f"long-{i}", "Repeat.", "word " * 60, "out") for i in range(4)]
    pool = Shots("echo", 2, tuple(long_demo), 0)
    question = Example("q", "Repeat.", "the question " * 10, "a")
    demos = pool.for_example(question)

    def fitted(budget: int) -> tuple[str, bool, int]:
        room = TASK.max_new_tokens  # the answer's room, taken from the context
        return fewshot_prompts(tokenizer, TEMPLATE, TASK, [question], budget + room, pool)[0]

    def length(text: str) -> int:
        return len(tokenizer(text)["input_ids"])

    one_demo = render(TEMPLATE, demos[:1], question)
    assert fitted(length(one_demo) + 5) == (one_demo, False, 1)  # the last demo went first
    alone = build_prompt(TEMPLATE, question)
    assert fitted(length(one_demo) - 1) == (alone, False, 2)  # both went, the input is whole
    prompt, cut, dropped = fitted(length(alone) - 5)
    assert cut and dropped == 2 and prompt.startswith("### Instruction:\nRepeat.\n\n### Input:\nthe question")
    assert prompt.endswith("\n\n### Response:\n") and len(prompt) < len(alone)  # only the input was cut


def test_the_cache_misses_when_the_shots_change(tiny_model_dir):
    from harness.models import load_model

    loaded = load_model(str(tiny_model_dir), {}, "cpu")
    metrics = {m.name: m for m in builtin_metrics()}

    def key(fewshot, k=0):
        config = Config()
        config.eval.num_fewshot = k
        material = cache.key_material(loaded, TASK, TEST, metrics, config, shots=fewshot)
        return cache._sha256(cache._canonical(material).encode())

    keys = {key(None), key(shots(1), 1), key(shots(2), 2), key(shots(2, seed=3), 2)}
    keys.add(key(Shots("echo", 2, tuple(TRAIN[:-1]), 0), 2))  # another train pool
    assert len(keys) == 5 and key(shots(2), 2) == key(shots(2), 2)


@pytest.mark.parametrize("value", ["-1", "'two'", "true"])
def test_num_fewshot_is_validated(value):
    with pytest.raises(HarnessError, match="eval.num_fewshot"):
        load_config(overrides=[f"eval.num_fewshot={value}"])
    with pytest.raises(ValueError, match="num_fewshot must be an integer >= 0"):
        Task(name="t", instruction="i", test=DataSource("x"), metrics=("exact_match",), num_fewshot=-1)


@pytest.fixture
def few_shot_plugin(tmp_path, write_jsonl, write_plugin) -> Path:
    rows = [{"input": f"word{i}", "output": f"word{i}"} for i in range(12)]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    test = write_jsonl(
        tmp_path / "test.jsonl", [{"input": f"test{i}", "output": f"test{i}"} for i in range(4)]
    )
    tasks = [
        {"name": "echo", "instruction": "Repeat.", "test": test, "train": train, "max_new_tokens": 4},
        {"name": "eval_only", "instruction": "Repeat.", "test": test, "max_new_tokens": 4},
        {"name": "own_k", "instruction": "Repeat.", "test": test, "train": train, "num_fewshot": 0},
    ]
    return write_plugin(tmp_path / "tasks.py", tasks=tasks)


def test_pool_is_train_without_dev_and_tasks_without_train_go_zero_shot(
    tmp_path, run_config, few_shot_plugin
):
    config = run_config(tmp_path, few_shot_plugin, tasks=("echo", "eval_only", "own_k"))
    config.eval.num_fewshot = 2
    workload = prepare(config)
    assert list(workload.shots) == ["echo"]  # eval_only has no train split, own_k says 0
    pool = {e.id for e in workload.shots["echo"].pool}
    assert pool == {e.id for e in workload.train["echo"]} and not pool & {e.id for e in workload.dev["echo"]}
    assert any("'eval_only' has no train split" in w and "zero-shot" in w for w in workload.warnings)
    evaluate_only = prepare(config, train=False)  # `harness eval`: the same pool, loaded for the shots
    assert evaluate_only.shots["echo"] == workload.shots["echo"]


def test_a_run_with_one_shot_records_it(tmp_path, run_config, few_shot_plugin):
    config = run_config(tmp_path, few_shot_plugin, epochs=1)
    config.eval.num_fewshot = 1
    results, paths = harness.run(config)
    assert results["generation"]["num_fewshot"] == 1
    entry = results["tasks"]["echo"]
    assert entry["num_fewshot"] == 1 and entry["truncation"]["demos_dropped"] == {"dev": 0, "test": 0}
    samples = [json.loads(line) for line in Path(paths["samples"]).read_text().splitlines()]
    assert len(samples) == 4 and all(s["prompt"].count("### Instruction:") == 2 for s in samples)
    assert all("\nword" in s["prompt"] and "\n\n### Input:\ntest" in s["prompt"] for s in samples)
    assert json.loads(Path(paths["results"]).read_text())["generation"]["num_fewshot"] == 1


def test_chat_demos_are_earlier_turns(tokenizer, monkeypatch):
    template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}</{{ m.role }}>{% endfor %}<assistant>"
    monkeypatch.setattr(tokenizer, "chat_template", template, raising=False)
    demos = shots(1).for_example(TEST[0])
    ((prompt, _, _),) = fewshot_prompts(tokenizer, "chat", TASK, TEST[:1], None, shots(1))
    demo = demos[0]
    assert prompt == (
        f"<user>Repeat.\n\n{demo.input}</user><assistant>{demo.output}</assistant>"
        "<user>Repeat.\n\ntest input 0</user><assistant>"
    )


def test_fit_counts_dropped_demos_per_split_and_warns(tmp_path, run_config, few_shot_plugin, tokenizer):
    config = run_config(tmp_path, few_shot_plugin)
    config.eval.num_fewshot = 3
    workload = prepare(config)
    shots_of = workload.shots["echo"]
    question = workload.test["echo"][0]
    alone = len(tokenizer(build_prompt(config.prompt(), question))["input_ids"])
    counts = workload.fit(tokenizer, alone + TASK.max_new_tokens + 2, config)["echo"]  # no demo fits
    n_test, n_dev = len(workload.test["echo"]), len(workload.dev["echo"])
    assert counts["demos_dropped"] == {"dev": 3 * n_dev, "test": 3 * n_test} and counts["test"] == 0
    assert shots_of.k == 3
    assert any("few-shot demonstrations dropped" in w and "'echo'" in w for w in workload.warnings)


def test_a_task_file_sets_its_own_num_fewshot(tmp_path, write_jsonl):
    from harness.tasks.declarative import load_task_file

    write_jsonl(tmp_path / "test.jsonl", [{"input": "a", "output": "a"}])
    path = tmp_path / "topic.toml"
    path.write_text(
        'name = "topic"\ninstruction = "Repeat."\nmetrics = ["exact_match"]\nnum_fewshot = 3\n'
        '[test]\npath = "test.jsonl"\n',
        encoding="utf-8",
    )
    assert load_task_file(path)[0].num_fewshot == 3
    path.write_text(path.read_text(encoding="utf-8").replace("= 3", "= -2"), encoding="utf-8")
    with pytest.raises(HarnessError, match="num_fewshot"):
        load_task_file(path)
