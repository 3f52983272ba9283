"""Splits of a task's data: the dev split held out from training data, and the mixing of several
tasks' training examples by weight. Both seeded, so a run is reproducible."""

from __future__ import annotations

import random
from collections.abc import Sequence

from harness.tasks.task import Example

DEV_FRACTION = 0.1
"""A task's dev split is at most this fraction of its training examples."""


def dev_size_for(n_train: int, dev_size: int) -> int:
    """How many of a task's ``n_train`` examples are held out: ``min(dev_size, 10% of n_train)``."""
    if dev_size <= 0:
        return 0
    return min(dev_size, int(n_train * DEV_FRACTION))


def split_dev(examples: Sequence[Example], size: int, seed: int) -> tuple[list[Example], list[Example]]:
    """Hold out ``size`` examples chosen with ``seed``; returns (train, dev), both in file order."""
    if size <= 0:
        return list(examples), []
    chosen = set(random.Random(seed).sample(range(len(examples)), size))
    train = [e for i, e in enumerate(examples) if i not in chosen]
    dev = [e for i, e in enumerate(examples) if i in chosen]
    return train, dev


def mix_examples(train: dict[str, list[Example]], weights: dict[str, float], seed: int) -> list[Example]:
    """Concatenate the tasks' training examples, each task repeated by its weight.

    A weight ``w`` takes every example ``floor(w)`` times plus a seeded sample of
    ``round(frac(w) * n)`` examples: 2 duplicates a task, 0.5 takes a (seeded) half.
    """
    mixed: list[Example] = []
    for offset, (name, weight) in enumerate(weights.items()):
        examples = train[name]
        whole = int(weight)
        part = round((weight - whole) * len(examples))
        mixed.extend(examples * whole)
        if part:
            mixed.extend(random.Random(seed + offset).sample(examples, part))
    return mixed
