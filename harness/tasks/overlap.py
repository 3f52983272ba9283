"""Train↔test overlap (contamination): test examples whose input is also in the training data,
exactly or nearly (shared word n-grams), so a report can say when an "after" score may measure
memory rather than skill."""

from __future__ import annotations

import re
from collections.abc import Sequence

from harness.tasks.task import Example

NGRAM = 8  # words; the size GPT-3's and lm-evaluation-harness's decontamination use is 8-13
NEAR = 0.5  # a test input is a near-duplicate when at least this share of its n-grams is in train
SHOWN = 5  # example ids kept in the record


def _words(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"\w+", text.lower()))


def _ngrams(words: tuple[str, ...], n: int) -> set[tuple[str, ...]]:
    return {words[i : i + n] for i in range(len(words) - n + 1)}


def overlap(train: Sequence[Example], test: Sequence[Example], n: int = NGRAM, near: float = NEAR) -> dict:
    """How many ``test`` inputs also occur in ``train``.

    ``exact``: the input, lower-cased and reduced to its words, equals a training input's.
    ``near``: not exact, and at least ``near`` of its word ``n``-grams occur in training inputs
    (inputs shorter than ``n`` words can only match exactly). Returns ``{"exact", "near",
    "n_test", "ngram", "threshold", "examples"}`` where ``examples`` lists up to five test ids.
    """
    seen = {_words(example.input) for example in train}
    grams: set[tuple[str, ...]] = set()
    for words in seen:
        grams |= _ngrams(words, n)
    exact, near_ids, exact_ids = 0, [], []
    for example in test:
        words = _words(example.input)
        if words in seen:
            exact += 1
            exact_ids.append(example.id)
            continue
        own = _ngrams(words, n)
        if own and len(own & grams) / len(own) >= near:
            near_ids.append(example.id)
    return {
        "exact": exact,
        "near": len(near_ids),
        "n_test": len(test),
        "ngram": n,
        "threshold": near,
        "examples": (exact_ids + near_ids)[:SHOWN],
    }


def describe(record: dict) -> str:
    """``record`` in one line: ``0 of 100 test inputs in train, 7 near-duplicates (8-gram overlap
    >= 50%), e.g. sentiment-test-4, ...``."""
    line = (
        f"{record['exact']} of {record['n_test']} test inputs in train, {record['near']} "
        f"near-duplicate{'' if record['near'] == 1 else 's'} "
        f"({record['ngram']}-gram overlap >= {record['threshold']:.0%})"
    )
    return line + (f", e.g. {', '.join(record['examples'])}" if record["examples"] else "")
