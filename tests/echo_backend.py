"""A second prediction backend, in one file: what a plugin adding a backend writes.

``backend = "echo"`` answers each prompt with the input the prompt asks about (the text between
the template's ``### Input:`` and ``### Response:``) and scores a choice 0.0 when the input
contains it, else minus its length. It runs no model: the suite uses it to show that the cycle,
the cache and the reports go through :class:`harness.models.backend.Backend` alone. Its context is
``CONTEXT`` tokens of the run's tokenizer, so prompts are cut to fit like any model's."""

from __future__ import annotations

import harness
from harness.models.backend import BackendSpec

CONTEXT = 64


def asked(prompt: str) -> str:
    """The input a prompt (the default template) asks about."""
    return prompt.split("### Input:\n", 1)[-1].split("\n\n### Response:", 1)[0].strip()


class EchoBackend:
    """Answers from the prompt alone; ``tokenizer`` is the run's (prompts are built with it)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def generate(self, prompts, max_new_tokens, stop, batch_size, on_batch=None, end_ids=frozenset()):
        if on_batch:
            on_batch(len(prompts))
        return [asked(prompt) for prompt in prompts]

    def choice_logprobs(self, prompts, choices, batch_size, on_batch=None, end=None):
        if on_batch:
            on_batch(len(prompts))
        return [{c: 0.0 if c in asked(p) else -float(len(c)) for c in choices} for p in prompts]

    def context_length(self):
        return CONTEXT

    def fingerprint(self):
        return {"backend": "echo", "echo_version": 1, "context": CONTEXT}


@harness.hookimpl
def harness_backends():
    return [BackendSpec("echo", build=lambda loaded, config: EchoBackend(loaded.tokenizer))]
