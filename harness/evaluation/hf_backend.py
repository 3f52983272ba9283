"""The Hugging Face backend (``backend = "hf"``): a transformers model and its tokenizer, decoded
by harness's lean greedy loop (:mod:`harness.evaluation.generation`, ``greedy.py``) and scored
by log-likelihood with :mod:`harness.evaluation.loglik`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.evaluation.generation import generate
from harness.evaluation.loglik import choice_logprobs
from harness.models.backend import BackendSpec, OnBatch
from harness.models.fingerprint import model_fingerprint
from harness.tasks.prompting import context_length


class HFBackend:
    """A :class:`~harness.models.backend.Backend` over ``model`` (a causal LM, base or tuned)
    and ``tokenizer``. ``loaded`` is the run's :class:`~harness.models.LoadedModel`: its files
    identify the base model's predictions in the cache."""

    def __init__(self, model, tokenizer, loaded=None):
        self.model, self.tokenizer, self.loaded = model, tokenizer, loaded

    @classmethod
    def of(cls, loaded, config=None) -> HFBackend:
        """The backend of a loaded (base) model."""
        return cls(loaded.model, loaded.tokenizer, loaded)

    def generate(
        self,
        prompts: Sequence[str],
        max_new_tokens: int,
        stop: tuple[str, ...],
        batch_size: int,
        on_batch: OnBatch = None,
        end_ids: frozenset[int] = frozenset(),
    ) -> list[str]:
        return generate(
            self.model,
            self.tokenizer,
            list(prompts),
            max_new_tokens,
            stop,
            batch_size,
            on_batch,
            end_ids=end_ids,
        )

    def choice_logprobs(
        self,
        prompts: Sequence[str],
        choices: Sequence[str],
        batch_size: int,
        on_batch: OnBatch = None,
        end: str | None = None,
    ) -> list[dict[str, float]]:
        return choice_logprobs(
            self.model, self.tokenizer, list(prompts), tuple(choices), batch_size, on_batch, end=end
        )

    def context_length(self) -> int | None:
        return context_length(self.model, self.tokenizer)

    def fingerprint(self) -> dict[str, Any]:
        loaded = self.loaded
        return {
            "model": model_fingerprint(loaded),
            "device": str(loaded.device).split(":")[0],
            "dtype": str(loaded.dtype),
        }


HF = BackendSpec(
    "hf", HFBackend.of, "transformers model, harness's greedy decoder and log-likelihood scoring"
)
