"""Conversations through the tokenizer's chat template, for ``prompt_template = "chat"``.

A row is a conversation: a chat row's ``messages``, or an instruction row as one exchange
(:func:`instruction_turns`: the instruction and input as the user turn, the output as the
assistant's). Either way:

* Training (:func:`conversation_tokens`): the whole conversation is rendered and tokenized once,
  with character offsets; the tokens of every assistant turn are supervised, each turn's span
  being what the model writes after the template's assistant generation prompt: the content and
  the template's end-of-turn text (:func:`end_of_turn`: ``<|im_end|>``, ``<|eot_id|>``,
  ``<end_of_turn>``...), the whitespace after it excluded. Nothing else is labelled and no EOS is
  appended. Spans are found by rendering the conversation before each assistant turn with the
  generation prompt, so a template must render turn by turn (each such prompt a prefix of the
  whole); when it does not, these functions return None and the caller says so and falls back
  to prompt + answer + EOS (:mod:`harness.tasks.prompting`).
* Evaluation (:func:`render` with ``generation_prompt``): the conversation without its final
  assistant turn, ending with the template's generation prompt; the reference stays the final
  assistant content.
* Generation stops at the end-of-turn token (:func:`end_of_turn_stops`).

A leading BOS that the template writes and the tokenizer adds again is removed from the text, so
BOS is never doubled. A chat row longer than the budget loses its oldest user/assistant
exchanges (a leading system turn is kept) and counts as cut.
"""

from __future__ import annotations

from harness.tasks.task import Example
from harness.tasks.tokens import IGNORE_INDEX, TokenizedExample, adds_bos, encode, token_count

Turns = tuple[tuple[str, str], ...]

_SENTINEL = "HARNESS-ANSWER-7f3a"  # an assistant content that no template writes by itself


def require_template(tokenizer) -> None:
    """Raise the one-line error of a model without a chat template."""
    from harness.errors import HarnessError

    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise HarnessError(
            'prompt_template = "chat" needs a tokenizer with a chat template; this model has none'
        )


def instruction_turns(example: Example) -> Turns:
    """An instruction row as a conversation: the instruction and input as one user turn, the
    output as the assistant's answer."""
    return (("user", f"{example.instruction}\n\n{example.input}"), ("assistant", example.output))


def render(tokenizer, turns: Turns, generation_prompt: bool = False) -> str | None:
    """``turns`` rendered by the chat template (None when the template refuses them), without a
    leading BOS that the tokenizer adds again when tokenizing."""
    messages = [{"role": role, "content": content} for role, content in turns]
    try:
        text = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation_prompt
        )
    except Exception:  # a template may raise (jinja's raise_exception) on turns it does not take
        return None
    bos = tokenizer.bos_token
    if bos and text.startswith(bos) and adds_bos(tokenizer):
        text = text[len(bos) :]
    return text


_END_OF_TURN: dict[tuple, str] = {}  # (tokenizer id, its template, BOS) -> end-of-turn text
_PROBES = (
    (("user", "x"), ("assistant", _SENTINEL), ("user", "y")),
    (("user", "x"), ("assistant", _SENTINEL)),
)


def end_of_turn(tokenizer) -> str:
    """The text the chat template writes after an assistant turn's content, before the next turn
    (``<|im_end|>``), whitespace after it excluded; empty when it writes none."""
    key = (id(tokenizer), str(tokenizer.chat_template), tokenizer.bos_token, len(tokenizer))
    if key not in _END_OF_TURN:
        _END_OF_TURN[key] = _end_of_turn(tokenizer)
    return _END_OF_TURN[key]


def _end_of_turn(tokenizer) -> str:
    tails = []
    for turns in _PROBES:
        text = render(tokenizer, turns) or ""
        if _SENTINEL in text:
            tails.append(text[text.rindex(_SENTINEL) + len(_SENTINEL) :])
    if not tails:
        return ""
    # A turn ends with the tokens both renderings share after the answer: a template may close
    # the whole conversation with more (Phi-3 writes EOS after the last turn's <|end|>).
    first = encode(tokenizer, tails[0], offsets=True, special=False)
    shared = first["input_ids"]
    for tail in tails[1:]:
        ids = encode(tokenizer, tail, special=False)["input_ids"]
        while ids[: len(shared)] != shared:
            shared = shared[:-1]
    return tails[0][: first["offset_mapping"][len(shared) - 1][1]].rstrip() if shared else ""


def end_of_turn_stops(tokenizer) -> tuple[frozenset[int], tuple[str, ...]]:
    """What ends a chat answer besides EOS: the end-of-turn token's id when the end-of-turn text
    is one token (``<|im_end|>``), else that text as a stop string."""
    text = end_of_turn(tokenizer)
    if not text:
        return frozenset(), ()
    ids = encode(tokenizer, text, special=False)["input_ids"]
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
    end = end_of_turn(tokenizer)
    full = render(tokenizer, turns)
    if not end or full is None:
        return None
    spans = []
    for i, (role, content) in enumerate(turns):
        if role != "assistant":
            continue
        before = render(tokenizer, turns[:i], generation_prompt=True)
        if before is None or not full.startswith(before):
            return None  # the evaluation prompt would not be what training saw
        stop = full.find(end, len(before))
        if stop == -1 or content.strip() not in full[len(before) : stop]:
            return None
        spans.append((len(before), stop + len(end)))
    return full, spans


def _inside(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    if end == start:  # a zero-width token (trimmed offsets): inside when strictly within a span
        return any(low < start < high for low, high in spans)
    return any(start < high and end > low for low, high in spans)


def conversation_tokens(tokenizer, turns: Turns) -> TokenizedExample | None:
    """The conversation as training tokens, every assistant turn (content and end-of-turn text)
    supervised; None when the template does not render it turn by turn."""
    rendered = assistant_spans(tokenizer, turns)
    if rendered is None:
        return None
    text, spans = rendered
    encoded = encode(tokenizer, text, offsets=True)
    ids = list(encoded["input_ids"])
    labels = [
        token if _inside(start, end, spans) else IGNORE_INDEX
        for token, (start, end) in zip(ids, encoded["offset_mapping"], strict=True)
    ]
    return TokenizedExample(input_ids=ids, labels=labels)


def renders_turn_by_turn(tokenizer) -> bool:
    """Whether the chat template renders a two-exchange conversation turn by turn, with an
    end-of-turn text (what training in the template's format needs)."""
    turns = (("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d"))
    return assistant_spans(tokenizer, turns) is not None


def training_tokens(tokenizer, example: Example, limit: int) -> tuple[TokenizedExample, bool] | None:
    """A chat row's conversation as training tokens within ``limit``, and whether old exchanges
    were dropped to fit; None when it cannot be (the caller trains the row as one exchange)."""
    turns, cut = example.messages, False
    while turns is not None:
        item = conversation_tokens(tokenizer, turns)
        if item is None:
            return None
        if len(item.input_ids) <= limit:
            return item, cut
        turns, cut = drop_oldest_exchange(turns), True
    return None


def fit_prompt(tokenizer, example: Example, budget: int, answer: str = "", eos: bool = False):
    """A chat row's conversation without its final assistant turn, the generation prompt after
    it, its oldest exchanges dropped until ``prompt + answer`` (+ EOS) takes at most ``budget``
    tokens; and whether any were dropped. None when it cannot be (the caller prompts the row as
    one exchange)."""
    turns, cut = example.messages, False
    while turns is not None:
        prompt = render(tokenizer, turns[:-1], generation_prompt=True)
        if prompt is None:
            return None
        if token_count(tokenizer, prompt + answer, eos) <= budget:
            return prompt, cut
        turns, cut = drop_oldest_exchange(turns), True
    return None
