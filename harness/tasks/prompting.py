"""How a row becomes a prompt and training tokens: the one home callers use (training,
evaluation, the token preview, the workload's fitting).

* A named template (``alpaca``, ``compact``, a custom string) is filled with the instruction and
  input; training tokenizes prompt + answer once and appends EOS
  (:func:`~harness.tasks.tokens.tokenize_for_training`).
* ``chat`` renders the row as a conversation through the tokenizer's chat template
  (:mod:`harness.tasks.chat`): a chat row's ``messages``, or an instruction row as one exchange.
  Training supervises each assistant turn up to the template's end-of-turn text, no EOS
  appended; the evaluation prompt ends with the template's generation prompt. Only a template
  that cannot render turn by turn falls back to prompt + answer + EOS
  (:func:`template_notes` says so).

Fitting (:func:`fit_prompt`): when prompt + answer exceed a budget (``train.max_length`` or the
model's context, :func:`context_length`), the example's *input* is cut at a token boundary, its
end dropped; the template, the instruction and the answer are never cut. An example whose
template, instruction and answer alone exceed the budget raises :class:`DoesNotFit`. In
evaluation the budget is the context less the room an answer needs (:func:`answer_room`).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence

from harness.tasks import chat
from harness.tasks.task import Example, Task
from harness.tasks.tokens import (  # noqa: F401 (IGNORE_INDEX, TokenizedExample: re-exported)
    IGNORE_INDEX,
    TokenizedExample,
    encode,
    token_count,
    tokenize_for_training,
)

_PLACEHOLDER = re.compile(r"\{(instruction|input)\}")


CHAT = "chat"  # prompt_template value: render through the tokenizer's chat template


def build_prompt(template: str, example: Example, tokenizer=None) -> str:
    """Fill ``template`` with the example's instruction and input.

    With ``template == "chat"`` the row's conversation without its final answer is rendered by
    the tokenizer's chat template, ending with its generation prompt (:func:`chat_prompt`).
    """
    if template == CHAT:
        return chat_prompt(tokenizer, example)
    # One pass, so that an instruction containing the text "{input}" is not filled in again.
    values = {"instruction": example.instruction, "input": example.input}
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def chat_prompt(tokenizer, example: Example) -> str:
    """The example's conversation before its final answer in the tokenizer's chat template, the
    assistant turn opened: a chat row's ``messages``, else the instruction and input as one user
    turn (also when the template refuses the chat row's turns)."""
    chat.require_template(tokenizer)
    if example.messages:
        conversation = chat.render(tokenizer, example.messages[:-1], generation_prompt=True)
        if conversation is not None:
            return conversation
    prompt = chat.render(tokenizer, chat.instruction_turns(example)[:-1], generation_prompt=True)
    if prompt is None:
        raise _chat_refused()
    return prompt


def _chat_refused():
    """The one-line error of a chat template that refuses a plain user turn."""
    from harness.errors import HarnessError

    return HarnessError(
        'prompt_template = "chat": the model\'s chat template refuses a conversation of one user turn'
    )


def template_notes(tokenizer, template: str) -> list[str]:
    """What a user should know about the template choice for this tokenizer: a chat template
    left unused, or one that cannot be trained turn by turn (rows then train as prompt + answer
    + EOS)."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if template != CHAT and has_template:
        return [
            "the model has a chat template, but the prompt template in use is not it: set "
            'prompt_template = "chat" to train and evaluate in the chat format'
        ]
    if template == CHAT and has_template and not chat.renders_turn_by_turn(tokenizer):
        return [
            "the model's chat template cannot be rendered turn by turn (or writes no end-of-turn text): "
            "rows train as prompt + answer + EOS, not as the template's assistant turns"
        ]
    return []


def truncate_at_stop(text: str, stop: tuple[str, ...]) -> str:
    """Cut generated ``text`` at the first stop string and strip surrounding whitespace."""
    cut = len(text)
    for marker in stop:
        index = text.find(marker)
        if index != -1:
            cut = min(cut, index)
    return text[:cut].strip()


# --- fitting a token budget ------------------------------------------------------------------------

SANE_CONTEXT = 10_000_000  # transformers' "no limit" model_max_length is ~1e30


def context_length(model, tokenizer=None) -> int | None:
    """The longest sequence the model takes, in tokens: the smallest sane value among its config's
    ``max_position_embeddings`` / ``n_positions`` and the tokenizer's ``model_max_length``; None
    when none is known."""
    config = getattr(model, "config", None)
    values = [getattr(config, name, None) for name in ("max_position_embeddings", "n_positions")]
    values.append(getattr(tokenizer, "model_max_length", None))
    sane = [v for v in values if isinstance(v, int) and not isinstance(v, bool) and 0 < v < SANE_CONTEXT]
    return min(sane) if sane else None


class DoesNotFit(ValueError):
    """An example whose template, instruction and answer alone take more than the token budget."""

    def __init__(self, example: Example, needed: int, budget: int):
        super().__init__(
            f"example {example.id!r} cannot fit in {budget} tokens: its template, instruction and "
            f"answer alone take {needed}"
        )
        self.example, self.needed, self.budget = example, needed, budget


def longest_input(tokenizer, example: Example, size: Callable[[Example], int], budget: int) -> Example:
    """``example`` with the longest prefix of its input (cut at a token boundary) for which
    ``size`` is at most ``budget``. Raises :class:`DoesNotFit` when even an empty input is over."""

    def cut(end: int) -> Example:
        return dataclasses.replace(example, input=example.input[:end])

    needed = size(cut(0))
    if needed > budget:
        raise DoesNotFit(example, needed, budget)
    ends = [end for _, end in encode(tokenizer, example.input, offsets=True, special=False)["offset_mapping"]]
    fits, too_long = 0, len(ends)  # the longest kept prefix: the first `fits` tokens of the input
    while too_long - fits > 1:
        middle = (fits + too_long) // 2
        if size(cut(ends[middle - 1])) <= budget:
            fits = middle
        else:
            too_long = middle
    return cut(ends[fits - 1] if fits else 0)


def fit_prompt(
    tokenizer, template: str, example: Example, budget: int, answer: str = "", eos: bool = False
) -> tuple[str, bool]:
    """The example's prompt, with its input cut (the end dropped, at a token boundary) so that
    ``prompt + answer`` (+ EOS when ``eos``) takes at most ``budget`` tokens; and whether it was cut.

    Raises :class:`DoesNotFit` when even an empty input does not fit. A chat row under the chat
    template loses its oldest exchanges first (:func:`harness.tasks.chat.fit_prompt`).
    """
    if template == CHAT and example.messages:
        fitted = chat.fit_prompt(tokenizer, example, budget, answer, eos)
        if fitted is not None:
            return fitted
        example = dataclasses.replace(example, messages=())  # one exchange, its input cut
    prompt = build_prompt(template, example, tokenizer)
    if token_count(tokenizer, prompt + answer, eos) <= budget:
        return prompt, False

    def size(candidate: Example) -> int:
        return token_count(tokenizer, build_prompt(template, candidate, tokenizer) + answer, eos)

    return build_prompt(template, longest_input(tokenizer, example, size, budget), tokenizer), True


_MAX_TOKEN_CHARS: dict[tuple[int, int], int] = {}  # (id, vocabulary size) of a tokenizer -> its bound


def within_reach(tokenizer, example: Example, budget: int) -> Example:
    """``example`` with its input shortened to what ``budget`` tokens can never exceed, plus as
    much again and a margin, so that fitting a very long input (a 10 MB line) tokenizes a few
    thousand characters, not all of it; unchanged when shorter. No token covers more characters
    than the longest entry of the vocabulary, so ``budget`` tokens keep at most ``budget`` times
    that; the rest of the input would be cut anyway."""
    if len(example.input) <= budget:
        return example
    key = (id(tokenizer), len(tokenizer))
    if key not in _MAX_TOKEN_CHARS:
        _MAX_TOKEN_CHARS[key] = max(map(len, tokenizer.get_vocab()), default=1)
    reach = 2 * budget * _MAX_TOKEN_CHARS[key] + 1000
    return (
        example if len(example.input) <= reach else dataclasses.replace(example, input=example.input[:reach])
    )


def training_tokens(tokenizer, template: str, example: Example, limit: int) -> tuple[TokenizedExample, bool]:
    """The example as training tokens within ``limit``, its input cut when needed; and whether
    it was cut. Raises :class:`DoesNotFit`.

    Under the chat template the row is its conversation (:func:`harness.tasks.chat.conversation_tokens`:
    every assistant turn supervised up to the template's end-of-turn text, no EOS appended); a
    chat row too long for ``limit`` loses its oldest exchanges, and one whose last exchange alone
    does not fit is trained as one exchange, its input cut. Other templates, and a chat template
    that cannot render turn by turn: prompt, answer and EOS (:func:`fit_prompt`)."""
    chat_template = template == CHAT and getattr(tokenizer, "chat_template", None)
    if chat_template and example.messages:
        conversation = chat.training_tokens(tokenizer, example, limit)
        if conversation is not None:
            return conversation
        example = dataclasses.replace(example, messages=())  # one exchange, its input cut
    reached = within_reach(tokenizer, example, limit)
    whole = chat.conversation_tokens(tokenizer, chat.instruction_turns(reached)) if chat_template else None
    if whole is not None:
        return _exchange_tokens(tokenizer, example, reached, whole, limit)
    prompt = build_prompt(template, reached, tokenizer)
    item = tokenize_for_training(tokenizer, prompt, example.output, math.inf)
    if len(item.input_ids) <= limit:
        return item, False
    try:
        prompt, _ = fit_prompt(tokenizer, template, reached, limit, example.output, eos=True)
    except DoesNotFit as exc:
        raise DoesNotFit(example, exc.needed, exc.budget) from None  # the example as read
    return tokenize_for_training(tokenizer, prompt, example.output, limit), True


def answer_end(tokenizer, template: str) -> str | None:
    """What training supervises after an answer in place of EOS: under the chat template, its
    end-of-turn text, when the template renders an exchange turn by turn (else training falls
    back to EOS, and so does this: ``None``). Log-likelihood scoring scores each choice with it."""
    if template != CHAT or not getattr(tokenizer, "chat_template", None):
        return None
    probe = chat.instruction_turns(Example(id="probe", instruction="Answer.", input="x", output="y"))
    return chat.end_of_turn(tokenizer) if chat.assistant_spans(tokenizer, probe) is not None else None


def _exchange_tokens(
    tokenizer, example: Example, reached: Example, whole: TokenizedExample, limit: int
) -> tuple[TokenizedExample, bool]:
    """An instruction row as one chat exchange within ``limit`` tokens (``whole``: uncut), its
    input cut when needed."""
    if len(whole.input_ids) <= limit:
        return whole, False

    def tokens(candidate: Example) -> TokenizedExample:
        item = chat.conversation_tokens(tokenizer, chat.instruction_turns(candidate))
        if item is None:  # it rendered turn by turn whole, so it does with a shorter input
            raise _chat_refused()
        return item

    try:
        shorter = longest_input(tokenizer, reached, lambda e: len(tokens(e).input_ids), limit)
    except DoesNotFit as exc:
        raise DoesNotFit(example, exc.needed, exc.budget) from None  # the example as read
    return tokens(shorter), True


def answer_room(tokenizer, task: Task) -> int:
    """Tokens an answer to ``task`` may take after the prompt in evaluation: ``max_new_tokens``
    for generation; for log-likelihood scoring the longest choice, its EOS and one token of slack
    (a choice may merge with the prompt's last characters)."""
    if task.scoring_method == "loglik":
        return max(len(encode(tokenizer, c, special=False)["input_ids"]) for c in task.choices) + 2
    return task.max_new_tokens


def evaluation_prompts(
    tokenizer, template: str, task: Task, examples: Sequence[Example], context: int | None
) -> list[tuple[str, bool]]:
    """Each example's evaluation prompt, its input cut so that the prompt leaves the task's
    :func:`answer_room` within ``context`` (no limit when None); and whether it was cut.
    Raises :class:`DoesNotFit`."""
    if context is None or not examples:
        return [(build_prompt(template, example, tokenizer), False) for example in examples]
    budget = context - answer_room(tokenizer, task)
    reached = [within_reach(tokenizer, example, max(budget, 1)) for example in examples]
    prompts = [build_prompt(template, example, tokenizer) for example in reached]
    lengths = [len(ids) for ids in encode(tokenizer, prompts)["input_ids"]]
    fitted = []
    for prompt, length, example, original in zip(prompts, lengths, reached, examples, strict=True):
        try:
            fitted.append(
                (prompt, False) if length <= budget else fit_prompt(tokenizer, template, example, budget)
            )
        except DoesNotFit as exc:
            raise DoesNotFit(original, exc.needed, exc.budget) from None  # the example as read
    return fitted
