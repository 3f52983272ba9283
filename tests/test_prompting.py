"""Prompt building, the training label mask (with real tokenizers) and stop-string truncation."""

from __future__ import annotations

import pytest

from harness.config import PROMPT_TEMPLATES
from harness.tasks import Example
from harness.tasks.prompting import IGNORE_INDEX, build_prompt, tokenize_for_training, truncate_at_stop

tokenizers = pytest.importorskip("tokenizers")
transformers = pytest.importorskip("transformers")

CORPUS = [
    "Determine if the following sentence has a positive or negative sentiment.",
    "The food was great and the service was excellent.",
    "Terrible phone, it broke after a day.",
    "Translate the following English sentence into French.",
    "Je prends plaisir à travailler. C'est un collecteur de fonds.",
    "Summarize the following text in one sentence.",
    "### Instruction:\n### Input:\n### Response:\nPositive\nNegative\n",
    "Positive Negative Positive Negative positive negative",
] * 3

EXAMPLES = [
    Example(
        id="s",
        instruction="Determine if the following sentence has a positive or negative sentiment.",
        input="The food was great.",
        output="Positive",
    ),
    Example(
        id="t",
        instruction="Translate the following English sentence into French.",
        input="I enjoy working.",
        output="Je prends plaisir à travailler.",
    ),
    Example(
        id="u",
        instruction="Summarize the following text in one sentence.",
        input="Emoji 🙂 and accents: déjà vu.",
        output="Un résumé 🙂 très court.",
    ),
    Example(id="v", instruction="Answer.", input="spaces", output="  leading and trailing  "),
]


def _wrap(tok, bos: bool):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="</s>", pad_token="<pad>", bos_token="<s>" if bos else None
    )


def _byte_level_bpe(vocab_size: int, bos: bool, trim_offsets: bool = False):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    if bos:
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))]
        )
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=trim_offsets)
    return _wrap(tok, bos)


@pytest.fixture(scope="module")
def bpe():
    """Byte-level BPE with real merges (so tokens span several characters), no BOS."""
    return _byte_level_bpe(vocab_size=400, bos=False)


@pytest.fixture(scope="module")
def bpe_bos():
    """The same kind of tokenizer, adding a BOS token (offsets (0, 0)) in front."""
    return _byte_level_bpe(vocab_size=400, bos=True)


@pytest.fixture(scope="module")
def bpe_trim():
    """GPT-2 style: offsets trimmed of whitespace, so a lone-space token has a zero-width offset."""
    return _byte_level_bpe(vocab_size=400, bos=False, trim_offsets=True)


@pytest.fixture(scope="module")
def chars():
    """Character (byte) level: no merges at all, every byte its own token."""
    return _byte_level_bpe(vocab_size=259, bos=False)


def test_character_level_tokenizer_has_no_merges(chars, bpe):
    text = "Positive sentiment"
    assert len(chars(text)["input_ids"]) == len(text.encode())
    assert len(bpe(text)["input_ids"]) < len(text)


def _check_mask(tokenizer, prompt: str, response: str, expect_bos: bool = False):
    result = tokenize_for_training(tokenizer, prompt, response, max_length=10_000)
    ids, labels = result.input_ids, result.labels
    assert len(ids) == len(labels)
    labelled = [i for i, label in enumerate(labels) if label != IGNORE_INDEX]
    # labels are the ids themselves where not masked, and the labelled span is contiguous and final
    assert all(labels[i] == ids[i] for i in labelled)
    assert labelled == list(range(labelled[0], len(ids)))
    assert ids[-1] == tokenizer.eos_token_id
    # the loss covers exactly the response and EOS
    assert tokenizer.decode([ids[i] for i in labelled]) == response + tokenizer.eos_token
    assert result.response_tokens == len(labelled)
    # no off-by-one: everything before the first labelled token is exactly the prompt
    first = labelled[0]
    assert tokenizer.decode(ids[:first], skip_special_tokens=True) == prompt
    if expect_bos:
        assert ids[0] == tokenizer.bos_token_id and labels[0] == IGNORE_INDEX
    # and the whole thing is the one-pass tokenization of prompt + response, plus EOS
    assert ids[:-1] == tokenizer(prompt + response)["input_ids"]
    return result


@pytest.mark.parametrize("template", sorted(PROMPT_TEMPLATES))
@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
@pytest.mark.parametrize("kind", ["bpe", "bpe_bos", "bpe_trim", "chars"])
def test_label_mask_covers_exactly_response_and_eos(request, kind, template, example):
    tokenizer = request.getfixturevalue(kind)
    prompt = build_prompt(PROMPT_TEMPLATES[template], example)
    _check_mask(tokenizer, prompt, example.output, expect_bos=(kind == "bpe_bos"))


def test_first_labelled_token_is_first_response_token(bpe):
    prompt = build_prompt(PROMPT_TEMPLATES["compact"], EXAMPLES[0])
    result = _check_mask(bpe, prompt, "Positive")
    encoding = bpe(prompt + "Positive", return_offsets_mapping=True)
    first = next(i for i, label in enumerate(result.labels) if label != IGNORE_INDEX)
    start, end = encoding["offset_mapping"][first]
    assert end > len(prompt) >= start
    assert all(e <= len(prompt) for _, e in encoding["offset_mapping"][:first])


def test_character_level_response_with_leading_space(chars):
    # the space belongs to the response, so it is learned too
    _check_mask(chars, "Q: capital of France?\nA:", " Paris")


@pytest.mark.parametrize("response", ["  two leading spaces", "inner  \n  spaces", "trailing  ", " Paris"])
def test_whitespace_tokens_with_trimmed_offsets_are_labelled(bpe_trim, response):
    encoding = bpe_trim("Q:\nA:" + response, return_offsets_mapping=True)
    assert any(start == end for start, end in encoding["offset_mapping"]) or response == " Paris"
    _check_mask(bpe_trim, "Q:\nA:", response)


def test_token_spanning_the_boundary_is_labelled(bpe):
    # "Posi" + "tive": the merged token straddles the boundary; it is a response token (TRL's rule),
    # so the response is never missing from the loss.
    prompt, response = "Answer: Posi", "tive"
    result = tokenize_for_training(bpe, prompt, response, max_length=10_000)
    labelled = [i for i, label in enumerate(result.labels) if label != IGNORE_INDEX]
    learned = bpe.decode([result.input_ids[i] for i in labelled])
    assert learned.endswith(response + bpe.eos_token)
    assert prompt.endswith(learned[: -len(response + bpe.eos_token)])
    assert (prompt + response).startswith(bpe.decode(result.input_ids[: labelled[0]]))


def test_truncation_keeps_the_response(bpe):
    long_input = " ".join(["The food was great and the service was excellent."] * 40)
    example = Example(id="x", instruction="Determine the sentiment.", input=long_input, output="Positive")
    prompt = build_prompt(PROMPT_TEMPLATES["alpaca"], example)
    full = tokenize_for_training(bpe, prompt, "Positive", max_length=10_000)
    assert len(full.input_ids) > 64
    cut = tokenize_for_training(bpe, prompt, "Positive", max_length=64)
    assert len(cut.input_ids) == len(cut.labels) == 64
    assert cut.input_ids == full.input_ids[-64:] and cut.labels == full.labels[-64:]  # cut from the left
    assert cut.response_tokens == full.response_tokens
    labelled = [t for t in cut.labels if t != IGNORE_INDEX]
    assert bpe.decode(labelled) == "Positive" + bpe.eos_token
    assert cut.input_ids[-1] == bpe.eos_token_id


def test_no_truncation_when_it_fits(bpe):
    prompt = build_prompt(PROMPT_TEMPLATES["compact"], EXAMPLES[1])
    full = tokenize_for_training(bpe, prompt, EXAMPLES[1].output, max_length=10_000)
    exact = tokenize_for_training(bpe, prompt, EXAMPLES[1].output, max_length=len(full.input_ids))
    assert exact == full


def test_tokenizer_without_eos(chars):
    from transformers import PreTrainedTokenizerFast

    no_eos = PreTrainedTokenizerFast(tokenizer_object=chars.backend_tokenizer)
    assert no_eos.eos_token_id is None
    result = tokenize_for_training(no_eos, "Q: x\nA:", " y", max_length=100)
    labelled = [t for t in result.labels if t != IGNORE_INDEX]
    assert no_eos.decode(labelled) == " y"


# --- build_prompt ------------------------------------------------------------------------------


def test_build_prompt_compact():
    example = Example(id="a", instruction="Translate to French.", input="Hello.", output="Bonjour.")
    assert build_prompt(PROMPT_TEMPLATES["compact"], example) == (
        "### Instruction:\nTranslate to French.\n\n### Input:\nHello.\n\n### Response:\n"
    )


def test_build_prompt_alpaca():
    example = Example(id="a", instruction="Translate to French.", input="Hello.", output="Bonjour.")
    prompt = build_prompt(PROMPT_TEMPLATES["alpaca"], example)
    assert prompt.startswith("Below is an instruction that describes a task, paired with an input")
    assert prompt.endswith("### Instruction:\nTranslate to French.\n\n### Input:\nHello.\n\n### Response:\n")
    assert "Bonjour" not in prompt


def test_build_prompt_custom_template_and_literal_braces():
    example = Example(id="a", instruction="Use the {input} marker.", input="x {instruction} y", output="o")
    # values are inserted once: placeholders inside them are left alone
    assert build_prompt("{instruction} | {input} | {other}", example) == (
        "Use the {input} marker. | x {instruction} y | {other}"
    )
    assert build_prompt("Text: {input}\nLabel:", example) == "Text: x {instruction} y\nLabel:"


# --- truncate_at_stop ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, stop, expected",
    [
        (" Positive\nNegative", ("\n",), "Positive"),
        ("Positive", ("\n",), "Positive"),
        ("\nPositive", ("\n",), ""),
        ("Bonjour. ###Input", ("\n", "###"), "Bonjour."),
        ("a ### b \n c", ("\n", "###"), "a"),
        ("  spaced out  ", (), "spaced out"),
        ("one\ntwo", (), "one\ntwo"),
        ("", ("\n",), ""),
    ],
)
def test_truncate_at_stop(text, stop, expected):
    assert truncate_at_stop(text, stop) == expected


# --- chat template ------------------------------------------------------------------------

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def _chat_tokenizer(adds_bos: bool):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )  # fmt: skip
    corpus = ["Translate the sentence.", "Hello world", "<|user|> <|assistant|> <|end|>"]
    tok.train_from_iterator(corpus, trainer)
    if adds_bos:
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


@pytest.mark.parametrize("adds_bos", [True, False])
def test_chat_prompt_renders_one_user_turn_and_opens_the_assistant_turn(adds_bos):
    from harness.tasks import Example
    from harness.tasks.prompting import build_prompt

    tokenizer = _chat_tokenizer(adds_bos)
    example = Example(id="x", instruction="Translate the sentence.", input="Hello world", output="Bonjour")
    prompt = build_prompt("chat", example, tokenizer)
    body = "<|user|>Translate the sentence.\n\nHello world<|end|><|assistant|>"
    # The template writes BOS itself; when the tokenizer also adds one, the text must not carry
    # it, so that tokenizing the prompt yields exactly one BOS.
    assert prompt == (body if adds_bos else "<s>" + body)
    ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    assert ids.count(tokenizer.bos_token_id) == 1 and ids[0] == tokenizer.bos_token_id


def test_chat_prompt_without_a_chat_template_is_a_clear_error():
    from harness.errors import HarnessError
    from harness.tasks import Example
    from harness.tasks.prompting import build_prompt

    tokenizer = _chat_tokenizer(False)
    tokenizer.chat_template = None
    with pytest.raises(HarnessError, match="chat template"):
        build_prompt("chat", Example(id="x", instruction="i", input="x", output="y"), tokenizer)


def test_fitting_a_long_input_prints_no_indexing_errors_warning(tiny_llama):
    """transformers warns that a sequence over ``model_max_length`` "will result in indexing
    errors" the first time it tokenizes one; harness measures whole inputs before cutting them
    to fit, so its own tokenizer calls must not print that."""
    import logging

    from harness import DataSource, Task
    from harness.tasks.prompting import evaluation_prompts, training_tokens

    class Recorder(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.messages: list[str] = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    # A handler on transformers' own logger, at its level: whatever verbosity or propagation
    # other tests (or transformers' defaults) left on the logger tree.
    logger = logging.getLogger("transformers.tokenization_utils_base")
    recorder, level = Recorder(), logger.level
    logger.addHandler(recorder)
    logger.setLevel(logging.WARNING)
    try:
        tokenizer = tiny_llama()[1]
        tokenizer.model_max_length = 32
        long = Example(id="l", instruction="Classify.", input="great food " * 100, output="Positive")
        task = Task(name="t", instruction="i", test=DataSource("x.jsonl"), metrics=("exact_match",))
        item, cut = training_tokens(tokenizer, PROMPT_TEMPLATES["compact"], long, 64)
        [(_, eval_cut)] = evaluation_prompts(tokenizer, PROMPT_TEMPLATES["compact"], task, [long], 96)
        assert cut and eval_cut and len(item.input_ids) <= 64
        assert not any("indexing errors" in m for m in recorder.messages)
        tokenizer(long.input)  # what an unguarded call prints
        assert any("indexing errors" in m for m in recorder.messages)
    finally:
        logger.removeHandler(recorder)
        logger.setLevel(level)
