"""The prediction backend: what evaluation needs from whatever answers the prompts, in the spirit
of lm-eval's ``LM`` class but smaller. Predictions (:mod:`harness.evaluation.predictions`), the
baseline cache and the cycle talk to a :class:`Backend` only; the Hugging Face model behind it
(:mod:`harness.evaluation.hf_backend`) is one implementation, chosen by the config key
``backend`` (default ``"hf"``). A plugin adds others through the ``harness_backends`` hook: a
second backend is one new file with a class that has these methods and a :class:`BackendSpec`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

OnBatch = Callable[[int], None] | None


class Backend(Protocol):
    """What evaluation asks of a model.

    ``tokenizer`` is a Hugging Face tokenizer: prompts are built, fitted to the context and cut
    with it (:mod:`harness.tasks.prompting`), the same way for every backend.
    """

    tokenizer: Any

    def generate(
        self,
        prompts: Sequence[str],
        max_new_tokens: int,
        stop: tuple[str, ...],
        batch_size: int,
        on_batch: OnBatch = None,
        end_ids: frozenset[int] = frozenset(),
    ) -> list[str]:
        """Greedy answers to ``prompts``, cut at the first of ``stop``; ``end_ids``: tokens that end
        an answer besides EOS (a chat template's end-of-turn). ``on_batch(n)`` after each batch."""

    def choice_logprobs(
        self,
        prompts: Sequence[str],
        choices: Sequence[str],
        batch_size: int,
        on_batch: OnBatch = None,
        end: str | None = None,
    ) -> list[dict[str, float]]:
        """Per prompt, the summed log-probability of each choice's tokens after it, by choice,
        with the end of the answer: EOS, or ``end`` where given (a chat template's end-of-turn)."""

    def context_length(self) -> int | None:
        """The most tokens a prompt and its answer may take (None: unbounded or unknown)."""

    def fingerprint(self) -> dict[str, Any]:
        """What identifies the predictions this backend makes, for the baseline cache's key."""


@dataclass(frozen=True)
class BackendSpec:
    """A backend a plugin registers (``harness_backends`` hook): ``build(loaded, config)``
    returns a :class:`Backend` for the :class:`~harness.models.LoadedModel` of the run (the
    base model, loaded for training; a backend may build its own engine from ``loaded.path``)."""

    name: str
    build: Callable[[Any, Any], Backend]
    description: str = ""
