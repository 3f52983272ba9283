"""The chat templates of real model families, on the suite's tiny tokenizer with each family's
special tokens: under ``prompt_template = "chat"`` an instruction row and a chat row train on
exactly the tokens the template renders, supervised on each assistant turn's content and the
template's own end-of-turn text (never an appended EOS); the evaluation prompt ends with the
template's generation prompt; generation stops at the end-of-turn token; BOS is never doubled.

The templates are the families' own (tools and dates left out), written here with their special
tokens: ChatML (Qwen2), Qwen2.5 (a default system prompt), Llama 3, Gemma (no system role),
Mistral ``[INST]``, Phi-3 (EOS after the last turn)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from harness.evaluation.hf_backend import HFBackend
from harness.tasks import Example, chat
from harness.tasks.prompting import (
    IGNORE_INDEX,
    build_prompt,
    evaluation_prompts,
    template_notes,
    training_tokens,
)

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
QWEN25_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
QWEN25 = (
    "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\n' + messages[0]['content'] + "
    "'<|im_end|>\n' }}{%- else %}{{- '<|im_start|>system\n" + QWEN25_SYSTEM + "<|im_end|>\n' }}{%- endif %}"
    "{%- for message in messages %}{%- if (message.role == 'user') or (message.role == 'system' and not "
    "loop.first) or (message.role == 'assistant') %}{{- '<|im_start|>' + message.role + '\n' + "
    "message.content + '<|im_end|>' + '\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}"
)
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
    "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
GEMMA = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not "
    "supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != "
    "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}"
    "{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)
MISTRAL = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 "
    "== 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}"
    "{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)
PHI3 = (
    "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + "
    "message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + "
    "message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + "
    "message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)


@dataclass(frozen=True)
class Family:
    """A model family's chat format: its template, special tokens, whether its tokenizer adds
    BOS itself, and what the template writes (expected values)."""

    name: str
    template: str
    bos: str | None
    eos: str
    markers: tuple[str, ...]
    adds_bos: bool
    end: str  # the end-of-turn text
    prompt: str  # the evaluation prompt of EXAMPLE, as text
    opening: str  # the generation prompt: what every evaluation prompt ends with
    system: bool = True  # the template takes a system turn


USER = "Classify.\n\ngreat food"
FAMILIES = [
    Family(
        "chatml", CHATML, None, "<|endoftext|>", ("<|im_start|>", "<|im_end|>"), False, "<|im_end|>",
        f"<|im_start|>user\n{USER}<|im_end|>\n<|im_start|>assistant\n", "<|im_start|>assistant\n",
    ),
    Family(
        "qwen2.5", QWEN25, None, "<|endoftext|>", ("<|im_start|>", "<|im_end|>"), False, "<|im_end|>",
        f"<|im_start|>system\n{QWEN25_SYSTEM}<|im_end|>\n<|im_start|>user\n{USER}<|im_end|>\n"
        "<|im_start|>assistant\n", "<|im_start|>assistant\n",
    ),
    Family(
        "llama3", LLAMA3, "<|begin_of_text|>", "<|end_of_text|>",
        ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"), True, "<|eot_id|>",
        f"<|start_header_id|>user<|end_header_id|>\n\n{USER}<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
    ),
    Family(
        "gemma", GEMMA, "<bos>", "<eos>", ("<start_of_turn>", "<end_of_turn>"), True, "<end_of_turn>",
        f"<start_of_turn>user\n{USER}<end_of_turn>\n<start_of_turn>model\n", "<start_of_turn>model\n",
        system=False,
    ),
    Family(
        "mistral", MISTRAL, "<s>", "</s>", ("[INST]", "[/INST]"), True, "</s>",
        f"[INST] {USER} [/INST]", " [/INST]", system=False,
    ),
    Family(
        "phi3", PHI3, "<s>", "<|endoftext|>", ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>"), True,
        "<|end|>", f"<|user|>\n{USER}<|end|>\n<|assistant|>\n", "<|assistant|>\n",
    ),
]  # fmt: skip

EXAMPLE = Example(id="s-0", instruction="Classify.", input="great food", output="Positive")
CONVERSATION = (
    ("user", "Name a colour."),
    ("assistant", "Blue."),
    ("user", "Another one?"),
    ("assistant", "Green, like grass."),
)


def family_tokenizer(tiny_llama, family: Family, special_markers: bool = True):
    """The suite's tiny tokenizer with ``family``'s special tokens and chat template (the turn
    markers as plain added tokens, decoded as text, unless ``special_markers``)."""
    tokenizer = tiny_llama()[1]
    special = {"eos_token": family.eos}
    if special_markers:
        special["additional_special_tokens"] = list(family.markers)
    else:
        tokenizer.add_tokens(list(family.markers))
    if family.bos:
        special["bos_token"] = family.bos
    tokenizer.add_special_tokens(special)
    tokenizer.add_bos_token = family.adds_bos
    tokenizer.chat_template = family.template
    return tokenizer


@pytest.fixture(params=FAMILIES, ids=[f.name for f in FAMILIES])
def family(request, tiny_llama):
    return request.param, family_tokenizer(tiny_llama, request.param)


def supervised_runs(tokenizer, item) -> list[str]:
    """The decoded runs of consecutive supervised tokens (each label equal to its token)."""
    runs, current = [], []
    for token, label in zip(item.input_ids, item.labels, strict=True):
        if label == IGNORE_INDEX:
            runs, current = (runs + [current] if current else runs), []
        else:
            assert label == token
            current.append(token)
    return [tokenizer.decode(run) for run in runs + ([current] if current else [])]


def chat_row(turns=CONVERSATION) -> Example:
    return Example(id="c", instruction="", input="(transcript)", output=turns[-1][1], messages=turns)


def test_an_instruction_row_trains_on_the_rendered_exchange(family):
    spec, tokenizer = family
    item, cut = training_tokens(tokenizer, "chat", EXAMPLE, 512)
    assert not cut
    assert supervised_runs(tokenizer, item) == [f"Positive{spec.end}"]
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": USER}, {"role": "assistant", "content": "Positive"}], tokenize=False
    )
    # exactly the tokens of the rendered conversation, with one BOS where the family has one
    bos = [tokenizer.bos_token_id] if spec.adds_bos else []
    body = rendered.removeprefix(spec.bos) if spec.bos and spec.adds_bos else rendered
    assert item.input_ids == bos + tokenizer(body, add_special_tokens=False)["input_ids"]
    if spec.bos:
        assert (
            item.input_ids.count(tokenizer.bos_token_id) == 1 and item.input_ids[0] == tokenizer.bos_token_id
        )
    if spec.eos != spec.end:
        assert tokenizer.eos_token_id not in [
            t for t, label in zip(item.input_ids, item.labels, strict=True) if label != IGNORE_INDEX
        ]


def test_the_evaluation_prompt_ends_with_the_generation_prompt(family):
    spec, tokenizer = family
    prompt = build_prompt("chat", EXAMPLE, tokenizer)
    written_bos = spec.bos if spec.bos and spec.bos in spec.template and not spec.adds_bos else ""
    assert prompt == written_bos + spec.prompt
    ids = tokenizer(prompt)["input_ids"]
    if spec.bos:
        assert ids.count(tokenizer.bos_token_id) == 1 and ids[0] == tokenizer.bos_token_id
    item, _ = training_tokens(tokenizer, "chat", EXAMPLE, 512)
    first = next(i for i, label in enumerate(item.labels) if label != IGNORE_INDEX)
    assert item.input_ids[:first] == ids  # training's context is the evaluation prompt, token for token


def test_generation_stops_at_the_end_of_turn_token(family):
    spec, tokenizer = family
    assert chat.end_of_turn(tokenizer) == spec.end
    assert chat.end_of_turn_stops(tokenizer) == (frozenset({tokenizer.convert_tokens_to_ids(spec.end)}), ())


def test_a_chat_row_supervises_every_assistant_turn(family):
    spec, tokenizer = family
    item, cut = training_tokens(tokenizer, "chat", chat_row(), 512)
    assert not cut and supervised_runs(tokenizer, item) == [
        f"Blue.{spec.end}",
        f"Green, like grass.{spec.end}",
    ]
    assert build_prompt("chat", chat_row(), tokenizer).endswith(spec.opening)


def test_a_system_turn_the_template_refuses_trains_the_row_as_one_exchange(family):
    spec, tokenizer = family
    row = chat_row((("system", "Be brief."), *CONVERSATION))
    row = Example(id="c", instruction="Be brief.", input="transcript", output="Green.", messages=row.messages)
    item, _ = training_tokens(tokenizer, "chat", row, 512)
    runs = supervised_runs(tokenizer, item)
    if spec.system:
        assert runs == [f"Blue.{spec.end}", f"Green, like grass.{spec.end}"]
    else:  # Gemma and Mistral raise on a system turn: the flattened row, as one exchange
        assert runs == [f"Green.{spec.end}"]
        assert "Be brief.\n\ntranscript" in tokenizer.decode(item.input_ids)


def test_a_long_input_is_cut_and_the_answer_and_end_of_turn_kept(family):
    spec, tokenizer = family
    long = Example(id="l", instruction="Classify.", input="great food " * 100, output="Positive")
    whole, _ = training_tokens(tokenizer, "chat", long, 10_000)
    item, cut = training_tokens(tokenizer, "chat", long, 96)
    assert cut and 96 - 3 <= len(item.input_ids) <= 96 < len(whole.input_ids)  # as much input as fits
    assert supervised_runs(tokenizer, item) == [f"Positive{spec.end}"]


def test_the_token_preview_shows_what_is_trained(family):
    from harness.tasks.preview import preview

    spec, tokenizer = family
    shown = preview(tokenizer, "chat", [EXAMPLE], 512, None)
    assert [text for text, supervised in shown.pieces if supervised] == [f"Positive{spec.end}"]
    assert shown.notes == []


def test_an_unused_chat_template_is_named_once(family):
    _, tokenizer = family
    [note] = template_notes(tokenizer, "alpaca")
    assert "chat template" in note and 'prompt_template = "chat"' in note
    tokenizer.chat_template = None
    assert template_notes(tokenizer, "alpaca") == []


def test_a_template_that_cannot_render_turn_by_turn_falls_back_and_says_so(tiny_llama):
    tokenizer = tiny_llama()[1]
    # writes no end-of-turn text: nothing but EOS can teach the model to stop
    tokenizer.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    [note] = template_notes(tokenizer, "chat")
    assert "turn by turn" in note
    item, _ = training_tokens(tokenizer, "chat", EXAMPLE, 512)
    assert supervised_runs(tokenizer, item) == [f"Positive{tokenizer.eos_token}"]


def test_predictions_stop_at_the_end_of_turn(tiny_llama):
    import torch

    from harness import DataSource, Task
    from harness.evaluation.generation import generate
    from harness.evaluation.predictions import predict

    gemma = next(f for f in FAMILIES if f.name == "gemma")
    model, _ = tiny_llama()
    tokenizer = family_tokenizer(tiny_llama, gemma, special_markers=False)  # where generation stopped shows
    end = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    model.resize_token_embeddings(len(tokenizer))
    model.lm_head = torch.nn.Linear(model.config.hidden_size, len(tokenizer))  # always says <end_of_turn>
    with torch.no_grad():
        model.lm_head.weight.zero_()
        model.lm_head.bias.zero_()
        model.lm_head.bias[end] = 10.0
    prompts = [build_prompt("chat", EXAMPLE, tokenizer)]
    assert generate(model, tokenizer, prompts, 3) == ["<end_of_turn><end_of_turn><end_of_turn>"]
    task = Task(name="t", instruction="i", test=DataSource("x.jsonl"), metrics=("exact_match",), stop=())
    assert predict(HFBackend(model, tokenizer), task, [EXAMPLE], "chat", 4).predictions == [""]


def test_few_shot_demonstrations_are_earlier_turns(family):
    from harness import DataSource, Task
    from harness.tasks.fewshot import Shots, fewshot_prompts

    spec, tokenizer = family
    pool = (Example(id="d", instruction="Classify.", input="awful", output="Negative"),)
    task = Task(name="t", instruction="i", test=DataSource("x.jsonl"), metrics=("exact_match",))
    [(prompt, cut, dropped)] = fewshot_prompts(
        tokenizer, "chat", task, [EXAMPLE], 512, Shots("t", 1, pool, 0)
    )
    assert not cut and dropped == 0 and prompt.endswith(spec.opening)
    assert f"Negative{spec.end}" in prompt and prompt.count("Classify.") == 2
    ids = tokenizer(prompt)["input_ids"]
    assert not spec.bos or ids.count(tokenizer.bos_token_id) == 1


def test_evaluation_prompts_of_a_long_input_are_cut_to_the_context(family):
    from harness import DataSource, Task

    spec, tokenizer = family
    long = Example(id="l", instruction="Classify.", input="great food " * 100, output="Positive")
    task = Task(name="t", instruction="i", test=DataSource("x.jsonl"), metrics=("exact_match",))
    [(prompt, cut)] = evaluation_prompts(tokenizer, "chat", task, [long], 128)
    assert cut and len(tokenizer(prompt)["input_ids"]) <= 128 - task.max_new_tokens
    assert prompt.endswith(spec.opening)


def test_tasks_show_tokens_shows_the_template_turn_end_trained(tmp_path, tiny_llama, capsys):
    from harness.cli import main

    model, _ = tiny_llama()
    tokenizer = family_tokenizer(tiny_llama, FAMILIES[0])  # ChatML: <|im_end|>, not EOS, ends a turn
    model.resize_token_embeddings(len(tokenizer))
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    args = ["tasks", "show", "sentiment", "--tokens", "--model", str(tmp_path / "model")]
    assert main([*args, "--set", 'prompt_template="chat"']) == 0
    out = capsys.readouterr().out
    assert "supervised: 'Negative<|im_end|>'" in out or "supervised: 'Positive<|im_end|>'" in out
    assert "note:" not in out
    assert main(args) == 0  # the default template: the chat template is named, once
    out = capsys.readouterr().out
    assert out.count("the model has a chat template") == 1 and "<|endoftext|>'" in out


def test_a_run_names_an_unused_chat_template_in_its_warnings_once(tmp_path, tiny_llama, echo_plugin):
    from harness.config_loader import load_config
    from harness.workload import prepare

    plugin = echo_plugin(tmp_path)
    tokenizer = family_tokenizer(tiny_llama, FAMILIES[2])
    for template, expected in (("alpaca", 1), ("chat", 0)):
        config = load_config(
            None, [f"plugins=[{str(plugin)!r}]", "tasks=['echo']", f"prompt_template={template!r}"]
        )
        workload = prepare(config)
        workload.fit(tokenizer, 512, config)
        assert sum("the model has a chat template" in w for w in workload.warnings) == expected


def test_a_run_on_instruction_rows_with_the_chat_template_completes(
    tmp_path, tiny_llama, echo_plugin, run_config
):
    import json

    import harness

    llama3 = next(f for f in FAMILIES if f.name == "llama3")
    model, _ = tiny_llama()
    tokenizer = family_tokenizer(tiny_llama, llama3)
    model.resize_token_embeddings(len(tokenizer))
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    plugin = echo_plugin(tmp_path, n_test=4, n_train=8)
    config = run_config(tmp_path, plugin, model=str(tmp_path / "model"), prompt_template="chat")
    outcome = harness.run(config)
    assert not [w for w in outcome.results["warnings"] if "chat template" in w]
    samples = [json.loads(line) for line in outcome.paths["samples"].read_text(encoding="utf-8").splitlines()]
    assert [s["prompt"] for s in samples] == [
        f"<|start_header_id|>user<|end_header_id|>\n\nRepeat the input.\n\nword {i}<|eot_id|>{llama3.opening}"
        for i in range(4)
    ]  # the tokenizer adds the one BOS


def test_loglik_scores_each_choice_as_training_supervises_it(family, tiny_llama):
    """Under the chat template a choice is scored with the end-of-turn text after it, never an
    EOS: exactly the tokens training supervises for that answer (its content and end-of-turn)."""
    import dataclasses

    import torch

    from harness import DataSource, Task
    from harness.evaluation.loglik import choice_logprobs
    from harness.evaluation.predictions import predict
    from harness.tasks.prompting import answer_end

    spec, tokenizer = family
    model, _ = tiny_llama()
    model.resize_token_embeddings(len(tokenizer))
    assert answer_end(tokenizer, "chat") == spec.end and answer_end(tokenizer, "compact") is None
    prompt = build_prompt("chat", EXAMPLE, tokenizer)
    scores = choice_logprobs(model, tokenizer, [prompt], ["Positive", "Negative"], end=spec.end)[0]
    for choice in ("Positive", "Negative"):
        item, _ = training_tokens(tokenizer, "chat", dataclasses.replace(EXAMPLE, output=choice), 512)
        with torch.no_grad():
            logprobs = model(torch.tensor([item.input_ids])).logits[0].log_softmax(-1)
        supervised = [i for i, label in enumerate(item.labels) if label != IGNORE_INDEX]
        expected = sum(float(logprobs[i - 1, item.input_ids[i]]) for i in supervised)
        assert scores[choice] == pytest.approx(expected, abs=1e-4)

    class Spy(HFBackend):
        def choice_logprobs(self, prompts, choices, batch_size, on_batch=None, end=None):
            self.end = end
            return super().choice_logprobs(prompts, choices, batch_size, on_batch, end=end)

    backend = Spy(model, tokenizer)
    task = Task(
        name="t", instruction="Classify.", test=DataSource("x.jsonl"), metrics=("accuracy",),
        choices=("Positive", "Negative"),
    )  # fmt: skip
    assert predict(backend, task, [EXAMPLE], "chat", 4).choice_logprobs == [scores]
    assert backend.end == spec.end
