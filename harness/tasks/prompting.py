"""Prompts and their tokenization: one pass over prompt + response, with a loss mask, and
prompts cut to fit a token budget.

The mask follows TRL's completion-only recipe: the whole text is tokenized once, and a
token is a response token when any of its characters come from the response (found by
character offsets). Tokenizing the prompt separately and counting its tokens is the classic
source of off-by-one errors, because a tokenizer may merge characters across the boundary.

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
from collections.abc import Sequence
from dataclasses import dataclass

from harness.tasks.task import Example, Task

IGNORE_INDEX = -100  # label value that torch's cross-entropy skips
_PLACEHOLDER = re.compile(r"\{(instruction|input)\}")


CHAT = "chat"  # prompt_template value: render through the tokenizer's chat template


def build_prompt(template: str, example: Example, tokenizer=None) -> str:
    """Fill ``template`` with the example's instruction and input.

    With ``template == "chat"`` the instruction and input become one user message rendered by
    ``tokenizer.apply_chat_template`` with the assistant turn opened, the same for training
    and evaluation; a chat row's conversation (``example.messages``) is rendered instead, without
    its final assistant turn (:mod:`harness.tasks.chat`). A leading BOS that the tokenizer would
    add again is removed from the text.
    """
    if template == CHAT:
        return chat_prompt(tokenizer, example)
    # One pass, so that an instruction containing the text "{input}" is not filled in again.
    values = {"instruction": example.instruction, "input": example.input}
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def chat_prompt(tokenizer, example: Example) -> str:
    """The example as a user turn in the tokenizer's chat template, ready for the assistant's answer."""
    from harness.errors import HarnessError

    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise HarnessError(
            'prompt_template = "chat" needs a tokenizer with a chat template; this model has none'
        )
    if example.messages:
        from harness.tasks import chat

        conversation = chat.conversation_prompt(tokenizer, example)
        if conversation is not None:
            return conversation
    messages = [{"role": "user", "content": f"{example.instruction}\n\n{example.input}"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    bos = tokenizer.bos_token
    if bos and text.startswith(bos) and _adds_bos(tokenizer):
        text = text[len(bos) :]
    return text


def _adds_bos(tokenizer) -> bool:
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return bool(ids) and ids[0] == tokenizer.bos_token_id


@dataclass(frozen=True)
class TokenizedExample:
    """Token ids of prompt + response (+ EOS) and labels that are ``IGNORE_INDEX`` on the prompt."""

    input_ids: list[int]
    labels: list[int]

    @property
    def response_tokens(self) -> int:
        return sum(label != IGNORE_INDEX for label in self.labels)


def tokenize_for_training(tokenizer, prompt: str, response: str, max_length: int) -> TokenizedExample:
    """Tokenize ``prompt + response`` once, append EOS, and mask the prompt out of the loss.

    When the sequence is longer than ``max_length`` the prompt is cut from the left, so the
    response (what the loss is computed on) survives whole whenever it fits. Training cuts the
    input before it gets here (:func:`training_tokens`), so this is only a last guard.
    """
    text = prompt + response
    encoded = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
    ids = list(encoded["input_ids"])
    boundary = len(prompt)
    # The first token that ends inside the response starts the labelled span; everything after it
    # is labelled too, including whitespace tokens whose offsets a tokenizer trimmed to zero width
    # (GPT-2 style ``trim_offsets``), which an offset test alone would drop from the loss.
    first = next((i for i, (_, end) in enumerate(encoded["offset_mapping"]) if end > boundary), len(ids))
    labels = [IGNORE_INDEX] * first + ids[first:]
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
        labels.append(tokenizer.eos_token_id)
    if len(ids) > max_length:
        ids, labels = ids[-max_length:], labels[-max_length:]
    return TokenizedExample(input_ids=ids, labels=labels)


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


def _length(tokenizer, text: str, eos: bool) -> int:
    """Tokens of ``text`` as :func:`tokenize_for_training` counts them (special tokens, EOS)."""
    extra = 1 if eos and tokenizer.eos_token_id is not None else 0
    return len(tokenizer(text, add_special_tokens=True)["input_ids"]) + extra


def fit_prompt(
    tokenizer, template: str, example: Example, budget: int, answer: str = "", eos: bool = False
) -> tuple[str, bool]:
    """The example's prompt, with its input cut (the end dropped, at a token boundary) so that
    ``prompt + answer`` (+ EOS when ``eos``) takes at most ``budget`` tokens; and whether it was cut.

    Raises :class:`DoesNotFit` when even an empty input does not fit. A chat row under the chat
    template loses its oldest exchanges first (:func:`harness.tasks.chat.fit_prompt`).
    """
    if template == CHAT and example.messages:
        from harness.tasks import chat

        fitted = chat.fit_prompt(tokenizer, example, budget, answer, eos)
        if fitted is not None:
            return fitted
        example = dataclasses.replace(example, messages=())  # the flattened example, its input cut
    prompt = build_prompt(template, example, tokenizer)
    if _length(tokenizer, prompt + answer, eos) <= budget:
        return prompt, False

    def prompt_with(end: int) -> str:
        return build_prompt(template, dataclasses.replace(example, input=example.input[:end]), tokenizer)

    needed = _length(tokenizer, prompt_with(0) + answer, eos)
    if needed > budget:
        raise DoesNotFit(example, needed, budget)
    ends = [
        end
        for _, end in tokenizer(example.input, add_special_tokens=False, return_offsets_mapping=True)[
            "offset_mapping"
        ]
    ]
    fits, too_long = 0, len(ends)  # the longest kept prefix: the first `fits` tokens of the input
    while too_long - fits > 1:
        middle = (fits + too_long) // 2
        if _length(tokenizer, prompt_with(ends[middle - 1]) + answer, eos) <= budget:
            fits = middle
        else:
            too_long = middle
    return prompt_with(ends[fits - 1] if fits else 0), True


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
    """The example as training tokens within ``limit`` (prompt, answer and EOS), its input cut when
    needed (:func:`fit_prompt`); and whether it was cut. Raises :class:`DoesNotFit`.

    A chat row under the chat template is its whole conversation, every assistant turn
    supervised up to the template's end-of-turn text, no EOS appended
    (:func:`harness.tasks.chat.training_tokens`)."""
    if template == CHAT and example.messages and getattr(tokenizer, "chat_template", None):
        from harness.tasks import chat

        conversation = chat.training_tokens(tokenizer, example, limit)
        if conversation is not None:
            return conversation
        example = dataclasses.replace(example, messages=())  # the flattened example, its input cut
    reached = within_reach(tokenizer, example, limit)
    prompt = build_prompt(template, reached, tokenizer)
    item = tokenize_for_training(tokenizer, prompt, example.output, math.inf)
    if len(item.input_ids) <= limit:
        return item, False
    try:
        prompt, _ = fit_prompt(tokenizer, template, reached, limit, example.output, eos=True)
    except DoesNotFit as exc:
        raise DoesNotFit(example, exc.needed, exc.budget) from None  # the example as read
    return tokenize_for_training(tokenizer, prompt, example.output, limit), True


def answer_room(tokenizer, task: Task) -> int:
    """Tokens an answer to ``task`` may take after the prompt in evaluation: ``max_new_tokens``
    for generation; for log-likelihood scoring the longest choice, its EOS and one token of slack
    (a choice may merge with the prompt's last characters)."""
    if task.scoring_method == "loglik":
        return max(len(tokenizer(c, add_special_tokens=False)["input_ids"]) for c in task.choices) + 2
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
    lengths = [len(ids) for ids in tokenizer(prompts, add_special_tokens=True)["input_ids"]]
    fitted = []
    for prompt, length, example, original in zip(prompts, lengths, reached, examples, strict=True):
        try:
            fitted.append(
                (prompt, False) if length <= budget else fit_prompt(tokenizer, template, example, budget)
            )
        except DoesNotFit as exc:
            raise DoesNotFit(original, exc.needed, exc.budget) from None  # the example as read
    return fitted
