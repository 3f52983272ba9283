"""Chat ``messages`` data under ``prompt_template = "chat"``: the whole conversation is trained with
only the assistant turns supervised, each up to the template's end-of-turn text (not a bare EOS);
the evaluation prompt is the conversation before the final answer; generation stops at the
end-of-turn token. Other templates keep the flattened example."""

from __future__ import annotations

import json

import pytest

from harness.evaluation.hf_backend import HFBackend
from harness.tasks import Example
from harness.tasks.prompting import IGNORE_INDEX, build_prompt, evaluation_prompts, training_tokens

# ChatML with a BOS the tokenizer also adds: the end of turn is <|im_end|>, not the EOS token.
CHATML = (
    "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CONVERSATION = (
    ("system", "Be brief."),
    ("user", "Name a colour."),
    ("assistant", "Blue."),
    ("user", "Another one?"),
    ("assistant", "Green, like grass."),
    ("user", "And a third?"),
    ("assistant", "Red."),
)


def chatml(tokenizer, special: bool = True):
    """``tokenizer`` with ChatML's turn markers (special tokens, or plain added ones that decode
    as text) and :data:`CHATML` as its chat template; a BOS is added when tokenizing."""
    markers = ["<|im_start|>", "<|im_end|>"]
    if special:
        tokenizer.add_special_tokens({"additional_special_tokens": markers})
    else:
        tokenizer.add_tokens(markers)
    tokenizer.chat_template = CHATML
    return tokenizer


@pytest.fixture(params=[False, True], ids=["no-bos-added", "bos-added"])
def tokenizer(tiny_llama, request):
    """A ChatML tokenizer that adds no BOS of its own (the template's stays) or adds one (the
    template's is dropped from the text)."""
    tokenizer = chatml(tiny_llama()[1])
    tokenizer.add_bos_token = request.param
    return tokenizer


def chat_example(turns=CONVERSATION) -> Example:
    return Example(id="c", instruction="Be brief.", input="(transcript)", output=turns[-1][1], messages=turns)


def supervised_runs(tokenizer, item) -> list[str]:
    """The decoded runs of consecutive supervised tokens."""
    runs, current = [], []
    for token, label in zip(item.input_ids, item.labels, strict=True):
        if label == IGNORE_INDEX:
            if current:
                runs.append(current)
            current = []
        else:
            assert label == token
            current.append(token)
    if current:
        runs.append(current)
    return [tokenizer.decode(run) for run in runs]


def test_every_assistant_turn_and_its_end_of_turn_are_supervised_nothing_else(tokenizer):
    item, cut = training_tokens(tokenizer, "chat", chat_example(), 512)
    assert not cut
    assert supervised_runs(tokenizer, item) == [
        "Blue.<|im_end|>",
        "Green, like grass.<|im_end|>",
        "Red.<|im_end|>",
    ]
    assert item.input_ids[0] == tokenizer.bos_token_id and item.input_ids[1] != tokenizer.bos_token_id
    assert tokenizer.eos_token_id not in item.input_ids  # no bare EOS appended
    text = tokenizer.decode(item.input_ids)
    assert text.startswith(tokenizer.bos_token + "<|im_start|>system\nBe brief.<|im_end|>")
    assert text.endswith("<|im_start|>assistant\nRed.<|im_end|>\n")
    unsupervised = tokenizer.decode(
        [t for t, label in zip(item.input_ids, item.labels, strict=True) if label == IGNORE_INDEX]
    )
    assert "Name a colour." in unsupervised and "Be brief." in unsupervised and "Blue" not in unsupervised


def test_a_too_long_conversation_loses_its_oldest_exchange_and_keeps_the_system_turn(tokenizer):
    full, _ = training_tokens(tokenizer, "chat", chat_example(), 512)
    item, cut = training_tokens(tokenizer, "chat", chat_example(), len(full.input_ids) - 1)
    assert cut and len(item.input_ids) < len(full.input_ids)
    assert supervised_runs(tokenizer, item) == ["Green, like grass.<|im_end|>", "Red.<|im_end|>"]
    text = tokenizer.decode(item.input_ids)
    assert "Be brief." in text and "Name a colour." not in text and "Another one?" in text


def test_when_the_last_exchange_alone_does_not_fit_it_trains_as_one_exchange_its_input_cut(tokenizer):
    last = (("user", "And a third? " + "very " * 60), ("assistant", "Red."))
    example = chat_example(CONVERSATION[:-2] + last)
    example = Example(
        id="c", instruction="Be brief.", input="word " * 80, output="Red.", messages=example.messages
    )
    item, cut = training_tokens(tokenizer, "chat", example, 60)
    assert cut and len(item.input_ids) <= 60
    assert tokenizer.eos_token_id not in item.input_ids  # the template's turn end, not EOS
    assert supervised_runs(tokenizer, item) == ["Red.<|im_end|>"]
    text = tokenizer.decode(item.input_ids)
    assert "<|im_start|>user\nBe brief.\n\nword word" in text and "Name a colour." not in text


def test_the_token_preview_shows_the_conversation_as_training_sees_it(tokenizer):
    from harness.tasks.preview import preview

    item, _ = training_tokens(tokenizer, "chat", chat_example(), 512)
    shown = preview(tokenizer, "chat", [chat_example()], 512, None)
    assert shown.lengths == [len(item.input_ids)] and shown.truncated == 0
    assert [text for text, supervised in shown.pieces if supervised] == supervised_runs(tokenizer, item)


def test_other_templates_train_the_flattened_example_as_before(tokenizer):
    example = chat_example()
    plain = Example(id="c", instruction=example.instruction, input=example.input, output=example.output)
    assert training_tokens(tokenizer, "alpaca", example, 512) == training_tokens(
        tokenizer, "alpaca", plain, 512
    )
    assert build_prompt("alpaca", example) == build_prompt("alpaca", plain)


def test_the_evaluation_prompt_is_the_conversation_before_the_final_answer(tokenizer):
    from harness import Task
    from harness.tasks.task import DataSource

    task = Task(name="t", instruction="i", test=DataSource("x.jsonl"), metrics=("exact_match",))
    [(prompt, cut)] = evaluation_prompts(tokenizer, "chat", task, [chat_example()], 512)
    assert not cut
    ids = tokenizer(prompt)["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids[1] != tokenizer.bos_token_id
    body = prompt.removeprefix(tokenizer.bos_token)
    assert body.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nName a colour.")
    assert "Green, like grass." in prompt and "Red." not in prompt
    assert prompt.endswith("<|im_start|>user\nAnd a third?<|im_end|>\n<|im_start|>assistant\n")
    budget = len(tokenizer(prompt)["input_ids"]) - 1 + task.max_new_tokens
    [(shorter, cut)] = evaluation_prompts(tokenizer, "chat", task, [chat_example()], budget)
    assert cut and "Name a colour." not in shorter and shorter.endswith(prompt[-60:])


def test_generation_stops_at_the_end_of_turn_token(tiny_llama):
    import torch

    from harness import DataSource, Task
    from harness.evaluation.generation import _generate_hf, generate
    from harness.evaluation.predictions import predict
    from harness.tasks import chat

    model, tokenizer = tiny_llama()
    chatml(tokenizer, special=False)  # plain added tokens: a turn marker shows in decoded text
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert end != tokenizer.eos_token_id and chat.end_of_turn_stops(tokenizer) == (frozenset({end}), ())
    model.resize_token_embeddings(len(tokenizer))
    model.lm_head = torch.nn.Linear(model.config.hidden_size, len(tokenizer))  # always says <|im_end|>
    with torch.no_grad():
        model.lm_head.weight.zero_()
        model.lm_head.bias.zero_()
        model.lm_head.bias[end] = 10.0
    prompts = [build_prompt("chat", chat_example(), tokenizer)]
    assert generate(model, tokenizer, prompts, 3) == ["<|im_end|><|im_end|><|im_end|>"]
    assert generate(model, tokenizer, prompts, 3, end_ids={end}) == [""]
    assert _generate_hf(model, tokenizer, prompts, 3, end_ids={end}) == [""]
    task = Task(name="t", instruction="i", test=DataSource("x.jsonl"), metrics=("exact_match",), stop=())
    assert predict(HFBackend(model, tokenizer), task, [chat_example()], "chat", 4).predictions == [""]
    alpaca = predict(HFBackend(model, tokenizer), task, [chat_example()], "alpaca", 4).predictions
    assert alpaca == ["<|im_end|>" * task.max_new_tokens]  # other templates: only EOS stops, as before


def test_chat_rows_keep_their_conversation_and_plain_rows_hash_as_before(tmp_path, write_jsonl):
    import dataclasses

    from harness import DataSource, Task
    from harness.evaluation.cache import _canonical, _sha256, examples_digest
    from harness.tasks.data import load_examples

    rows = [{"messages": [{"role": r, "content": c} for r, c in CONVERSATION]}, {"input": "a", "output": "b"}]
    path = write_jsonl(tmp_path / "chat.jsonl", rows)
    task = Task(name="t", instruction="i", test=DataSource(path), metrics=("exact_match",))
    chat_row, plain = load_examples(task.test, task, "test")
    assert (
        chat_row.messages == CONVERSATION
        and chat_row.output == "Red."
        and chat_row.instruction == "Be brief."
    )
    assert plain.messages == ()
    before = {
        k: v for k, v in dataclasses.asdict(plain).items() if k not in ("messages", "slice")
    }  # as before
    assert examples_digest([plain]) == _sha256(_canonical([before]).encode())
    flattened = dataclasses.replace(chat_row, messages=())
    assert examples_digest([chat_row]) != examples_digest([flattened])


def test_a_run_with_the_chat_template_on_chat_data_completes(
    tmp_path, tiny_llama, write_jsonl, write_plugin, run_config
):
    import harness

    model, tokenizer = tiny_llama()
    chatml(tokenizer)
    model.resize_token_embeddings(len(tokenizer))
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")

    def row(i: int) -> dict:
        turns = [
            ("user", f"say {i}"),
            ("assistant", f"{i}"),
            ("user", f"again {i}"),
            ("assistant", f"{i} {i}"),
        ]
        return {"messages": [{"role": r, "content": c} for r, c in turns]}

    train = write_jsonl(tmp_path / "train.jsonl", [row(i) for i in range(8)])
    test = write_jsonl(tmp_path / "test.jsonl", [row(i) for i in range(8, 12)])
    plugin = write_plugin(tmp_path / "plugin.py", [{"name": "talk", "train": train, "test": test}])
    config = run_config(
        tmp_path, plugin, tasks=("talk",), model=str(tmp_path / "model"), prompt_template="chat"
    )
    outcome = harness.run(config)
    talk = outcome.results["tasks"]["talk"]
    assert talk["n_test"] == 4 and "exact_match" in talk["metrics"]
    samples = [json.loads(line) for line in outcome.paths["samples"].read_text(encoding="utf-8").splitlines()]
    assert all(s["prompt"].endswith("<|im_start|>assistant\n") for s in samples)
    assert samples[0]["reference"] == "8 8" and "say 8" in samples[0]["prompt"]
