"""Progress reporting: the small protocol the cycle reports through, so the Python API needs no
terminal library. The CLI adapts it to rich progress bars; ``None`` means silence."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Progress(Protocol):
    """Receives the cycle's progress. ``key`` names a step: ``"load"``, ``"eval:<task>:before"``,
    ``"eval:<task>:after"``, ``"train"``; ``description`` is for people.

    Implementations must accept any key: new steps may appear in later versions.
    """

    def start(self, key: str, description: str, total: int | None = None) -> None:
        """A step begins; ``total`` units of work, or ``None`` when unknown."""

    def advance(self, key: str, amount: int = 1, **fields: object) -> None:
        """``amount`` more units of the step are done; ``fields`` are live values such as
        ``loss`` and ``learning_rate`` (training)."""

    def finish(self, key: str) -> None:
        """The step is done."""


class NullProgress:
    """A :class:`Progress` that reports nothing (``progress=None``, ranks other than 0)."""

    def start(self, key: str, description: str, total: int | None = None) -> None:
        pass

    def advance(self, key: str, amount: int = 1, **fields: object) -> None:
        pass

    def finish(self, key: str) -> None:
        pass


@contextmanager
def step(progress: Progress, key: str, description: str, total: int | None = None) -> Iterator[None]:
    """Report a step around a block: ``start`` before, ``finish`` after (also on error)."""
    progress.start(key, description, total)
    try:
        yield
    finally:
        progress.finish(key)


@contextmanager
def without_loading_bar():
    """Silence transformers' "Loading weights" bar (harness shows its own progress), restoring
    the previous setting after. Used for local files only: it silences download bars too."""
    from transformers.utils import logging

    enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            logging.enable_progress_bar()
