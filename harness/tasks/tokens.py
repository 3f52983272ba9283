"""Text as tokens, the lowest step of how a row becomes tokens: one tokenizer call for the
package's tasks code, the loss mask of prompt + response, and what a tokenizer adds by itself.

Every call passes ``verbose=False``: harness cuts inputs to fit the model's context
(:mod:`harness.tasks.prompting`), so transformers' "sequence length is longer than the specified
maximum ... will result in indexing errors" warning, printed when a whole input is first
measured, is noise there.
"""

from __future__ import annotations

from dataclasses import dataclass

IGNORE_INDEX = -100  # label value that torch's cross-entropy skips


@dataclass(frozen=True)
class TokenizedExample:
    """Token ids of a training text and labels that are ``IGNORE_INDEX`` where nothing is supervised."""

    input_ids: list[int]
    labels: list[int]

    @property
    def response_tokens(self) -> int:
        return sum(label != IGNORE_INDEX for label in self.labels)


def encode(tokenizer, text, offsets: bool = False, special: bool = True):
    """``tokenizer(text)`` (a string or a list of them) with the tokenizer's special tokens
    (``special``), character offsets when ``offsets``, and no too-long warning."""
    return tokenizer(text, add_special_tokens=special, return_offsets_mapping=offsets, verbose=False)


def token_count(tokenizer, text: str, eos: bool = False) -> int:
    """Tokens of ``text`` as training counts them: special tokens added, and EOS when ``eos``."""
    extra = 1 if eos and tokenizer.eos_token_id is not None else 0
    return len(encode(tokenizer, text)["input_ids"]) + extra


def adds_bos(tokenizer) -> bool:
    """Whether tokenizing adds a BOS token by itself (so a text must not carry one too)."""
    ids = encode(tokenizer, "a")["input_ids"]
    return bool(ids) and ids[0] == tokenizer.bos_token_id


def tokenize_for_training(
    tokenizer, prompt: str, response: str, max_length: int, eos: bool = True
) -> TokenizedExample:
    """Tokenize ``prompt + response`` once, append EOS (unless ``eos`` is false: a response that
    ends itself, with a chat template's end-of-turn), and mask the prompt out of the loss.

    The mask follows TRL's completion-only recipe: a token is a response token when any of its
    characters come from the response (found by character offsets). Tokenizing the prompt
    separately and counting its tokens is the classic source of off-by-one errors, because a
    tokenizer may merge characters across the boundary.

    When the sequence is longer than ``max_length`` the prompt is cut from the left, so the
    response (what the loss is computed on) survives whole whenever it fits. Training cuts the
    input before it gets here (:func:`harness.tasks.prompting.training_tokens`), so this is only
    a last guard.
    """
    encoded = encode(tokenizer, prompt + response, offsets=True)
    ids = list(encoded["input_ids"])
    boundary = len(prompt)
    # The first token that ends inside the response starts the labelled span; everything after it
    # is labelled too, including whitespace tokens whose offsets a tokenizer trimmed to zero width
    # (GPT-2 style ``trim_offsets``), which an offset test alone would drop from the loss.
    first = next((i for i, (_, end) in enumerate(encoded["offset_mapping"]) if end > boundary), len(ids))
    labels = [IGNORE_INDEX] * first + ids[first:]
    if eos and tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
        labels.append(tokenizer.eos_token_id)
    if len(ids) > max_length:
        ids, labels = ids[-max_length:], labels[-max_length:]
    return TokenizedExample(input_ids=ids, labels=labels)
