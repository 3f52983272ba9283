"""Truncation you can see: examples longer than the token budget have their input cut (never the
instruction, the template or the answer), are counted per task and split, and an example that
cannot fit at all is an error naming its file and line. With the suite's tiny BPE tokenizer."""

from __future__ import annotations

import pytest

from harness.config import PROMPT_TEMPLATES
from harness.config_loader import load_config
from harness.errors import DataError, HarnessError
from harness.tasks import Example
from harness.tasks.prompting import (
    IGNORE_INDEX,
    DoesNotFit,
    build_prompt,
    context_length,
    evaluation_prompts,
    fit_prompt,
    training_tokens,
)

TEMPLATE = PROMPT_TEMPLATES["compact"]
INSTRUCTION = "Summarize the following text in one sentence."
LONG_INPUT = " ".join(["Drivers near Stonebridge faced long detours on Friday."] * 30)


@pytest.fixture(scope="module")
def tokenizer(tiny_llama):
    return tiny_llama()[1]


def length(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=True)["input_ids"])


def long_example(output: str = "Flooding closed the coast road.") -> Example:
    return Example("x", INSTRUCTION, LONG_INPUT, output)


# --- one example -----------------------------------------------------------------------------------


def test_training_cut_keeps_instruction_template_and_answer(tokenizer):
    example = long_example()
    full, cut = training_tokens(tokenizer, TEMPLATE, example, limit=10_000)
    assert not cut and len(full.input_ids) > 120
    item, cut = training_tokens(tokenizer, TEMPLATE, example, limit=80)
    assert cut and len(item.input_ids) == len(item.labels) <= 80
    text = tokenizer.decode(item.input_ids)
    head, _, rest = text.partition("### Input:\n")
    assert head == f"### Instruction:\n{INSTRUCTION}\n\n"  # the instruction survives whole
    kept_input, _, answer = rest.partition("\n\n### Response:\n")
    assert LONG_INPUT.startswith(kept_input) and 0 < len(kept_input) < len(LONG_INPUT)  # the input's end went
    assert answer == example.output + tokenizer.eos_token  # the answer survives whole
    labelled = [t for t in item.labels if t != IGNORE_INDEX]
    assert tokenizer.decode(labelled) == example.output + tokenizer.eos_token
    # as much input as fits is kept: one more token of it would not fit
    longer = Example("x", INSTRUCTION, LONG_INPUT[: len(kept_input) + 12], example.output)
    assert training_tokens(tokenizer, TEMPLATE, longer, limit=10_000)[0].input_ids.__len__() > 80


def test_an_example_that_fits_is_tokenized_as_before(tokenizer):
    from harness.tasks.prompting import tokenize_for_training

    example = Example("s", INSTRUCTION, "A short text.", "Short.")
    item, cut = training_tokens(tokenizer, TEMPLATE, example, limit=384)
    assert not cut
    assert item == tokenize_for_training(tokenizer, build_prompt(TEMPLATE, example), "Short.", 384)


def test_evaluation_prompt_leaves_room_for_the_answer(tokenizer, tiny_llama):
    from harness.tasks import DataSource, Task

    task = Task("s", INSTRUCTION, DataSource("unused"), ("rougeL",), max_new_tokens=24)
    short = Example("s", INSTRUCTION, "A short text.", "Short.")
    (prompt, cut), (short_prompt, short_cut) = evaluation_prompts(
        tokenizer, TEMPLATE, task, [long_example(), short], context=100
    )
    assert cut and not short_cut and short_prompt == build_prompt(TEMPLATE, short)
    assert length(tokenizer, prompt) <= 100 - 24
    assert prompt.startswith(f"### Instruction:\n{INSTRUCTION}\n\n### Input:\n")
    assert prompt.endswith("\n\n### Response:\n")
    assert evaluation_prompts(tokenizer, TEMPLATE, task, [long_example()], context=None) == [
        (build_prompt(TEMPLATE, long_example()), False)
    ]


def test_an_example_that_cannot_fit_raises(tokenizer):
    with pytest.raises(DoesNotFit) as info:
        fit_prompt(tokenizer, TEMPLATE, long_example("word " * 60), budget=40, answer="word " * 60, eos=True)
    assert info.value.needed > 40 and info.value.example.id == "x"


def test_context_length_takes_the_smallest_sane_limit(tiny_llama):
    model, tokenizer = tiny_llama(max_position_embeddings=256)
    tokenizer.model_max_length = int(1e30)  # transformers' "no limit"
    assert context_length(model, tokenizer) == 256
    tokenizer.model_max_length = 128
    assert context_length(model, tokenizer) == 128
    assert context_length(object(), None) is None


# --- a workload: counts per task and split, and the file:line error --------------------------------


def rows(n_long: int, n_short: int, long_line: int | None = None) -> list[dict]:
    """``n_short`` short examples, with ``n_long`` long ones spread among them."""
    short = [{"input": f"Short text {i}.", "output": f"Short {i}."} for i in range(n_short)]
    long = [{"input": LONG_INPUT + f" {i}", "output": f"Long {i}."} for i in range(n_long)]
    return [row for pair in zip(short, long, strict=False) for row in pair] + short[n_long:]


def workload_for(tmp_path, write_jsonl, write_plugin, train_rows, test_rows, **train):
    from harness.workload import prepare

    train_file = write_jsonl(tmp_path / "echo" / "train.jsonl", train_rows)
    test_file = write_jsonl(tmp_path / "echo" / "test.jsonl", test_rows)
    plugin = write_plugin(
        tmp_path / "echo_plugin.py",
        tasks=[{"name": "echo", "instruction": INSTRUCTION, "train": train_file, "test": test_file,
                "metrics": ("rougeL",), "max_new_tokens": 16}],
    )  # fmt: skip
    settings = [f"plugins=[{str(plugin)!r}]", "tasks=['echo']", "train.dev_size=8"]
    config = load_config(None, settings + [f"train.{k}={v}" for k, v in train.items()])
    return prepare(config), config


def test_counts_per_task_and_split_and_a_warning(tmp_path, write_jsonl, write_plugin, tokenizer):
    workload, config = workload_for(
        tmp_path, write_jsonl, write_plugin, rows(10, 30), rows(5, 15), max_length=96
    )
    splits = {"train": workload.train, "dev": workload.dev, "test": workload.test}
    long_in = {
        split: sum(e.input.startswith(LONG_INPUT) for e in data["echo"]) for split, data in splits.items()
    }
    assert long_in["train"] + long_in["dev"] == 10 and long_in["test"] == 5

    counts = workload.fit(tokenizer, 200, config)

    assert counts == {"echo": {**long_in, "limit": 96, "context": 200}}
    assert workload.truncation == counts
    [warning] = [w for w in workload.warnings if "cut" in w]  # (and one about the 8-example dev split)
    assert warning.startswith(f"task 'echo': {long_in['train']} of {len(workload.train['echo'])} training ")
    assert "exceed 96 tokens" in warning and f"{long_in['test']} of 20 test prompts" in warning
    assert "the 200-token context less 16 for the answer" in warning


def test_nothing_cut_no_warning(tmp_path, write_jsonl, write_plugin, tokenizer):
    workload, config = workload_for(tmp_path, write_jsonl, write_plugin, rows(0, 40), rows(0, 10))
    assert workload.fit(tokenizer, 512, config) == {
        "echo": {"train": 0, "dev": 0, "test": 0, "limit": 384, "context": 512}
    }
    assert not [w for w in workload.warnings if "cut" in w]


def test_an_example_that_cannot_fit_names_its_file_and_line(tmp_path, write_jsonl, write_plugin, tokenizer):
    test_rows = rows(0, 6)
    test_rows[2] = {"instruction": "Summarize. " * 80, "input": "x", "output": "y"}  # line 3
    workload, config = workload_for(tmp_path, write_jsonl, write_plugin, rows(0, 40), test_rows)
    with pytest.raises(DataError) as info:
        workload.fit(tokenizer, 200, config)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'echo' / 'test.jsonl'}:3: example 'echo-test-3' cannot fit")
    assert "\n" not in message and "test split of task 'echo'" in message


def test_a_training_example_that_cannot_fit_names_its_file_and_line(
    tmp_path, write_jsonl, write_plugin, tokenizer
):
    train_rows = rows(0, 40)
    train_rows[6] = {"input": "x", "output": "A very long answer. " * 40}  # line 7
    workload, config = workload_for(
        tmp_path, write_jsonl, write_plugin, train_rows, rows(0, 4), max_length=64, dev_size=0
    )
    with pytest.raises(DataError, match=r"train\.jsonl:7: example 'echo-train-7' cannot fit in 64 tokens"):
        workload.fit(tokenizer, 512, config)


def test_fine_tune_trains_on_cut_examples(load_tiny, tmp_path, train_config):
    """A run with examples over train.max_length trains, every sequence within the limit."""
    from harness import training
    from harness.training.batching import build_train_features

    loaded = load_tiny()
    data = [long_example()] * 4 + [Example("s", INSTRUCTION, "Short.", "Short.")] * 4
    features = build_train_features(loaded.tokenizer, data, TEMPLATE, 96)
    assert max(len(f["input_ids"]) for f in features) == 96
    _, result = training.fine_tune(loaded, data, train_config(epochs=1, max_length=96), tmp_path / "m")
    assert result.steps == 1
    with pytest.raises(HarnessError, match=r"^example 'x' cannot fit in 40 tokens: .* alone take \d+ \("):
        build_train_features(loaded.tokenizer, data, TEMPLATE, 40)


def test_a_huge_input_is_cut_as_a_long_one_is(tokenizer, tiny_llama):
    """A 1.6 MB input is fitted from its first few thousand characters (``within_reach``): the same
    prompt and training tokens as for an input just long enough to be cut, and a DoesNotFit still
    names the example as read."""
    from harness.tasks import DataSource, Task

    task = Task("t", INSTRUCTION, DataSource("t.jsonl"), ("exact_match",), max_new_tokens=8)
    huge = Example("x", INSTRUCTION, LONG_INPUT * 1000, "Flooding closed the coast road.")
    assert len(huge.input) > 1_500_000
    long = Example("x", INSTRUCTION, LONG_INPUT * 3, huge.output)
    (prompt_huge, cut_huge), (prompt_long, cut_long) = evaluation_prompts(
        tokenizer, TEMPLATE, task, [huge, long], 200
    )
    assert cut_huge and cut_long and prompt_huge == prompt_long and length(tokenizer, prompt_huge) <= 192
    assert training_tokens(tokenizer, TEMPLATE, huge, 150) == training_tokens(tokenizer, TEMPLATE, long, 150)
    with pytest.raises(DoesNotFit) as info:
        training_tokens(tokenizer, TEMPLATE, huge, 5)
    assert info.value.example is huge
