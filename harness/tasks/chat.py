"""Chat conversations (an :class:`~harness.tasks.task.Example`'s ``messages``) through the
tokenizer's chat template, for ``prompt_template = "chat"``.

* Training (:func:`training_tokens`): the whole conversation is rendered and tokenized once, with
  character offsets; the tokens of every assistant turn are supervised, each turn's span being
  what the model writes after the template's assistant generation prompt: the content and the
  template's end-of-turn text (``<|im_end|>``, ``<|eot_id|>``...), trailing whitespace excluded.
  Nothing else is labelled and no EOS is appended. Spans are found by rendering prefixes of the
  conversation, so a template must render it turn by turn (each prefix a prefix of the whole).
* Evaluation (:func:`fit_prompt`): the conversation without its final assistant turn, the
  assistant turn opened; the reference stays the final assistant content.
* Generation stops at the end-of-turn token (:func:`end_of_turn_stops`).

A conversation longer than the budget loses its oldest user/assistant exchanges (a leading system
turn is kept) and counts as cut. When the last exchange alone does not fit, or the template cannot
render the conversation turn by turn, these functions return None and the caller uses the
flattened example (one user turn, its input cut, EOS appended) as for every other row.
"""

from __future__ import annotations

from harness.tasks.task import Example

Turns = tuple[tuple[str, str], ...]

_SENTINEL = "HARNESS-ANSWER-7f3a"  # an assistant content that no template writes by itself


def _render(tokenizer, turns: Turns, generation_prompt: bool = False) -> str | None:
    """``turns`` rendered by the chat template (None when the template refuses them), without a
    leading BOS that the tokenizer adds again when tokenizing."""
    from harness.tasks.prompting import _adds_bos

    messages = [{"role": role, "content": content} for role, content in turns]
    try:
        text = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation_prompt
        )
    except Exception:  # a template may raise (jinja's raise_exception) on turns it does not take
        return None
    bos = tokenizer.bos_token
    if bos and text.startswith(bos) and _adds_bos(tokenizer):
        text = text[len(bos) :]
    return text


def end_of_turn(tokenizer) -> str:
    """The text the chat template writes after an assistant turn's content (``<|im_end|>``),
    trailing whitespace excluded; empty when it writes none."""
    text = _render(tokenizer, (("user", "x"), ("assistant", _SENTINEL))) or ""
    index = text.rfind(_SENTINEL)
    return text[index + len(_SENTINEL) :].rstrip() if index != -1 else ""


def end_of_turn_stops(tokenizer) -> tuple[frozenset[int], tuple[str, ...]]:
    """What ends a chat answer besides EOS: the end-of-turn token's id when the end-of-turn text
    is one token (``<|im_end|>``), else that text as a stop string."""
    text = end_of_turn(tokenizer)
    if not text:
        return frozenset(), ()
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return (frozenset(ids), ()) if len(ids) == 1 else (frozenset(), (text,))


def drop_oldest_exchange(turns: Turns) -> Turns | None:
    """``turns`` without the turns up to and including the first assistant turn (a leading system
    turn kept); None when that would leave no assistant turn."""
    head = 1 if turns and turns[0][0] == "system" else 0
    rest = turns[head:]
    answers = [i for i, (role, _) in enumerate(rest) if role == "assistant"]
    if len(answers) < 2:
        return None
    return turns[:head] + rest[answers[0] + 1 :]


def assistant_spans(tokenizer, turns: Turns) -> tuple[str, list[tuple[int, int]]] | None:
    """The rendered conversation and the character span of each assistant turn in it (content
    and end-of-turn text); None when the template does not render the conversation turn by turn
    or writes nothing after an assistant turn's content."""
    full = _render(tokenizer, turns)
    if full is None:
        return None
    spans = []
    for i, (role, content) in enumerate(turns):
        if role != "assistant":
            continue
        before = _render(tokenizer, turns[:i], generation_prompt=True)
        through = _render(tokenizer, turns[: i + 1])
        if before is None or through is None:
            return None
        if not (through.startswith(before) and full.startswith(through)):
            return None
        end = len(through.rstrip())
        if end <= len(before) or through[:end].endswith(content.rstrip()):
            return None  # no end-of-turn text: the flattened example (with EOS) teaches stopping
        spans.append((len(before), end))
    return full, spans


def _inside(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    if end == start:  # a zero-width token (trimmed offsets): inside when strictly within a span
        return any(low < start < high for low, high in spans)
    return any(start < high and end > low for low, high in spans)


def training_tokens(tokenizer, example: Example, limit: int):
    """The conversation as training tokens within ``limit`` (every assistant turn supervised),
    and whether old exchanges were dropped to fit; None when the flattened example is to be used."""
    from harness.tasks.prompting import IGNORE_INDEX, TokenizedExample

    turns, cut = example.messages, False
    while True:
        rendered = assistant_spans(tokenizer, turns)
        if rendered is None:
            return None
        text, spans = rendered
        encoded = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
        ids = list(encoded["input_ids"])
        if len(ids) <= limit:
            labels = [
                token if _inside(start, end, spans) else IGNORE_INDEX
                for token, (start, end) in zip(ids, encoded["offset_mapping"], strict=True)
            ]
            return TokenizedExample(input_ids=ids, labels=labels), cut
        turns, cut = drop_oldest_exchange(turns), True
        if turns is None:
            return None


def conversation_prompt(tokenizer, example: Example) -> str | None:
    """The conversation without its final assistant turn, the assistant turn opened (None when
    the template refuses it)."""
    return _render(tokenizer, example.messages[:-1], generation_prompt=True)


def fit_prompt(tokenizer, example: Example, budget: int, answer: str = "", eos: bool = False):
    """The conversation without its final assistant turn, the assistant turn opened, its oldest
    exchanges dropped until ``prompt + answer`` (+ EOS) takes at most ``budget`` tokens; and
    whether any were dropped. None when the flattened example is to be used."""
    from harness.tasks.prompting import _length

    turns, cut = example.messages, False
    while True:
        prompt = _render(tokenizer, turns[:-1], generation_prompt=True)
        if prompt is None:
            return None
        if _length(tokenizer, prompt + answer, eos) <= budget:
            return prompt, cut
        turns, cut = drop_oldest_exchange(turns), True
        if turns is None:
            return None
