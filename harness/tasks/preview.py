"""A task's data as the model will see it, before any training: one training example decoded
with its supervised tokens marked, the length distribution against the model's context and
``train.max_length``, and how many examples would be cut (``harness tasks show NAME --tokens``).

Uses the same functions as training (:func:`~harness.tasks.prompting.training_tokens`), so what
it shows is what the loss sees. Needs a tokenizer, not the model's weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.tasks.prompting import (
    IGNORE_INDEX,
    DoesNotFit,
    context_length,
    template_notes,
    training_tokens,
)
from harness.tasks.task import Example

BINS = 8  # rows of the length histogram


@dataclass
class TokenPreview:
    """What :func:`preview` found: ``pieces`` of the shown example as ``(text, supervised)``."""

    example_id: str
    pieces: list[tuple[str, bool]]
    supervised: int  # tokens of the shown example that count in the loss (answer and EOS)
    lengths: list[int]  # tokens of each example, uncut (prompt, answer, EOS)
    limit: int  # min(train.max_length, context): longer examples have their input cut
    max_length: int
    context: int | None
    truncated: int  # examples over limit: training cuts their input
    unfit: int = 0  # examples that cannot fit even with no input: a run stops on them
    notes: list[str] = field(default_factory=list)  # about the template choice (template_notes)

    def quantiles(self) -> dict[str, int]:
        """min, median, p90, max of :attr:`lengths`."""
        ordered = sorted(self.lengths)

        def at(q: float) -> int:
            return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]

        return {"min": ordered[0], "median": at(0.5), "p90": at(0.9), "max": ordered[-1]}

    def histogram(self) -> list[tuple[int, int, int]]:
        """``(low, high, count)`` rows of equal width from 0 to the longer of the longest
        example and the limit, so the limit's place in the distribution shows."""
        top = max(max(self.lengths), self.limit)
        width = max(1, math.ceil(top / BINS))
        rows = [[low, low + width - 1, 0] for low in range(0, top + 1, width)]
        for length in self.lengths:
            rows[min(length // width, len(rows) - 1)][2] += 1
        return [tuple(row) for row in rows]


def load_tokenizer(model: str, presets: dict):
    """The tokenizer of ``model`` (preset, local directory or Hub id) and the model's context
    length from its config, without loading weights."""
    from transformers import AutoConfig, AutoTokenizer

    from harness.models.loading import resolve_model_path
    from harness.progress import without_loading_bar

    _, path = resolve_model_path(model, presets)
    with without_loading_bar():
        tokenizer = AutoTokenizer.from_pretrained(path)
        config = AutoConfig.from_pretrained(path)

    class _Config:  # context_length reads model.config
        pass

    holder = _Config()
    holder.config = config
    return tokenizer, context_length(holder, tokenizer)


def preview(
    tokenizer,
    template: str,
    examples: Sequence[Example],
    max_length: int,
    context: int | None,
    index: int = 0,
) -> TokenPreview:
    """Tokenize every example as training does and decode ``examples[index]`` in pieces."""
    limit = min(max_length, context) if context else max_length
    lengths, truncated, unfit = [], 0, 0
    for example in examples:
        lengths.append(len(training_tokens(tokenizer, template, example, math.inf)[0].input_ids))
        if lengths[-1] > limit:
            try:
                training_tokens(tokenizer, template, example, limit)
                truncated += 1
            except DoesNotFit:
                unfit += 1
    shown = examples[index]
    try:
        item, _ = training_tokens(tokenizer, template, shown, limit)
    except DoesNotFit:  # show it whole; the counts say it cannot fit
        item, _ = training_tokens(tokenizer, template, shown, math.inf)
    pieces: list[tuple[str, bool]] = []
    run: list[int] = []
    for position, (token, label) in enumerate(zip(item.input_ids, item.labels, strict=True)):
        run.append(token)
        supervised = label != IGNORE_INDEX
        last = position == len(item.input_ids) - 1
        if last or (item.labels[position + 1] != IGNORE_INDEX) != supervised:
            pieces.append((tokenizer.decode(run, skip_special_tokens=False), supervised))
            run = []
    return TokenPreview(
        example_id=shown.id,
        pieces=pieces,
        supervised=item.response_tokens,
        lengths=lengths,
        limit=limit,
        max_length=max_length,
        context=context,
        truncated=truncated,
        unfit=unfit,
        notes=template_notes(tokenizer, template),
    )
