"""Splits of a task's data: the dev split held out from training data, and the mixing of several
tasks' training examples by weight. Both seeded, so a run is reproducible.

Dev split size: ``train.dev_size`` examples, at most a quarter of the task's training examples
(:data:`DEV_SHARE`). A quarter, not less, so that a small task still gets a dev split that can
carry some signal (64 training examples give 16 dev examples, not 6), while training keeps at
least three quarters of its data. A dev split smaller than :data:`RELIABLE_DEV_SIZE` examples
cannot tell small differences apart (one example moves the score by more than 5 points of 100):
:func:`dev_size_warning` says so, and the dev-score aggregate
(:func:`harness.training.dev.aggregate`) weighs such a task by its few examples.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from harness.tasks.task import Example

DEV_SHARE = 4
"""A task's dev split is at most ``1 / DEV_SHARE`` (a quarter) of its training examples."""

RELIABLE_DEV_SIZE = 20
"""Below this many dev examples, one example moves a task's dev score by more than 5 points of 100."""


def dev_size_for(n_train: int, dev_size: int) -> int:
    """How many of a task's ``n_train`` examples are held out: ``min(dev_size, n_train // 4)``."""
    if dev_size <= 0:
        return 0
    return min(dev_size, n_train // DEV_SHARE)


def dev_size_warning(task: str, n_dev: int, n_train: int, dev_size: int) -> str | None:
    """A one-line warning when ``task``'s dev split (``n_dev`` examples held out of ``n_train``) is
    too small to tell small differences apart; None when it is large enough or not asked for."""
    if dev_size <= 0 or n_dev >= RELIABLE_DEV_SIZE:
        return None
    if n_dev == 0:
        return (
            f"task {task!r} has too few training examples ({n_train}) for a dev split: "
            "it takes no part in checkpoint selection"
        )
    why = "train.dev_size" if n_dev == dev_size else f"a quarter of its {n_train} training examples"
    return (
        f"task {task!r} has only {n_dev} dev examples ({why}): one example moves its dev score by "
        f"{100 / n_dev:.1f} points of 100, so its dev score cannot tell small differences apart "
        "(the selection score weighs each task by its number of dev examples)"
    )


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
