"""Prompts and their tokenization: one pass over prompt + response, with a loss mask.

The mask follows TRL's completion-only recipe: the whole text is tokenized once, and a
token is a response token when any of its characters come from the response (found by
character offsets). Tokenizing the prompt separately and counting its tokens is the classic
source of off-by-one errors, because a tokenizer may merge characters across the boundary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.tasks.task import Example

IGNORE_INDEX = -100  # label value that torch's cross-entropy skips
_PLACEHOLDER = re.compile(r"\{(instruction|input)\}")


CHAT = "chat"  # prompt_template value: render through the tokenizer's chat template


def build_prompt(template: str, example: Example, tokenizer=None) -> str:
    """Fill ``template`` with the example's instruction and input.

    With ``template == "chat"`` the instruction and input become one user message rendered by
    ``tokenizer.apply_chat_template`` with the assistant turn opened, the same for training
    and evaluation. A leading BOS that the tokenizer would add again is removed from the text.
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
    response (what the loss is computed on) survives whole whenever it fits.
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
