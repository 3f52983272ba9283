"""Training batches: examples tokenized once with the loss on response tokens only, in random
(seeded) order so each batch mixes tasks and lengths.

By default (``train.padding_free``) a batch is one row of its examples' real tokens with attention
kept within each example (:mod:`harness.training.packing`: same loss and gradients as the padded
batch, no pads computed); models that cannot do that, or ``train.padding_free = false``, get
right-padded batches. ``results.json`` ``training.tokens`` records which (``batching``) and why not.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.errors import HarnessError
from harness.tasks import Example
from harness.tasks.prompting import IGNORE_INDEX, DoesNotFit, training_tokens
from harness.training import packing


@dataclass
class Batching:
    """How batches are built: the collator, and the padding-free attention when it is used."""

    collator: Callable[[list[dict]], dict]
    attention: packing.TrainingAttention | None = None  # None: right-padded batches
    fallback: str | None = None  # why padding-free batching was not used although it was asked for

    @property
    def name(self) -> str:
        return "padding-free" if self.attention else "padded"


def choose_batching(model, loaded, train_cfg) -> Batching:
    """Padding-free rows with per-example attention when asked for and the model supports them,
    else right-padded batches."""
    attention, fallback = None, None
    label_logits_only = packing.slices_logits(model)
    if train_cfg.padding_free:
        fallback = packing.unsupported_reason(model, train_cfg.max_length)
        if fallback is None:
            name = packing.attention_for(model, loaded.device, loaded.dtype)
            attention = packing.TrainingAttention(model, name, label_rows=label_logits_only)
    if attention:
        collator = packing.flatten_collator(label_logits_only=label_logits_only)
    else:
        collator = make_collator(loaded.tokenizer.pad_token_id)
    return Batching(collator, attention, fallback)


def shuffled(examples: Sequence[Example], seed: int) -> list[Example]:
    """``examples`` in a random order drawn from ``Random(seed)``."""
    order = list(examples)
    random.Random(seed).shuffle(order)
    return order


def build_train_features(
    tokenizer, examples: Sequence[Example], template: str, max_length: int
) -> list[dict]:
    """Tokenize every training example once, with labels masked on the prompt; an example longer
    than ``max_length`` tokens has its input cut (never the instruction, template or answer).

    Raises :class:`~harness.errors.HarnessError` for an example that cannot fit at all (the
    run checks its data first and names the file and line: :meth:`harness.workload.Workload.fit`).
    """
    features = []
    for example in examples:
        try:
            item, _ = training_tokens(tokenizer, template, example, max_length)
        except DoesNotFit as exc:
            raise HarnessError(f"{exc} (train.max_length or the model's context)") from None
        features.append({"input_ids": item.input_ids, "labels": item.labels})
    return features


def make_collator(pad_token_id: int) -> Callable[[list[dict]], dict]:
    """Right-pad a batch: ``pad_token_id`` for inputs, IGNORE_INDEX for labels, 0 in the mask."""
    import torch

    def collate(features: list[dict]) -> dict:
        width = max(len(f["input_ids"]) for f in features)
        input_ids, labels, mask = [], [], []
        for f in features:
            pad = width - len(f["input_ids"])
            input_ids.append(f["input_ids"] + [pad_token_id] * pad)
            labels.append(f["labels"] + [IGNORE_INDEX] * pad)
            mask.append([1] * len(f["input_ids"]) + [0] * pad)
        return {
            "input_ids": torch.tensor(input_ids),
            "labels": torch.tensor(labels),
            "attention_mask": torch.tensor(mask),
        }

    return collate
