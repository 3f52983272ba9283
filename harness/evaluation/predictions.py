"""Predictions of one model on one task's examples: free generation or the likeliest choice, in
one process or sharded over the ranks of a distributed run. Nothing here scores."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness import distributed
from harness.evaluation.loglik import best_choice
from harness.models.backend import Backend
from harness.tasks import Example, Task, chat
from harness.tasks.fewshot import Shots, fewshot_prompts
from harness.tasks.prompting import CHAT, answer_end


@dataclass
class Predictions:
    """What a model answered on a task's examples, in example order.

    ``choice_logprobs`` (log-likelihood scoring only) holds, per example, the summed
    log-probability of each choice's tokens (EOS included) after the prompt, keyed by choice.
    """

    prompts: list[str]
    predictions: list[str]
    scoring: str = "generate"  # "generate" | "loglik": how the predictions were made
    choice_logprobs: list[dict[str, float]] | None = None


def predict(
    backend: Backend,
    task: Task,
    examples: Sequence[Example],
    template: str,
    batch_size: int,
    on_batch: Callable[[int], None] | None = None,
    shots: Shots | None = None,
) -> Predictions:
    """Answer each example of ``task``: the choice the model finds likeliest after the prompt
    when the task is scored by log-likelihood (``task.scoring_method == "loglik"``), else a
    greedy generation, by ``backend`` (:mod:`harness.models.backend`). ``shots``: few-shot
    demonstrations before each prompt (both scorings)."""
    # inputs cut to leave room for the answer within the model's context (counted by Workload.fit)
    tokenizer, context = backend.tokenizer, backend.context_length()
    fitted = fewshot_prompts(tokenizer, template, task, examples, context, shots)
    prompts = [prompt for prompt, _, _ in fitted]
    if task.scoring_method == "loglik":
        end = answer_end(tokenizer, template)  # each choice ends as training ends an answer
        if end is None:  # (a backend written before ``end`` existed takes the EOS form)
            logprobs = backend.choice_logprobs(prompts, task.choices, batch_size, on_batch)
        else:
            logprobs = backend.choice_logprobs(prompts, task.choices, batch_size, on_batch, end=end)
        return Predictions(prompts, [best_choice(entry) for entry in logprobs], "loglik", logprobs)
    stop, end_ids = task.stop, frozenset()
    if template == CHAT and getattr(tokenizer, "chat_template", None):  # the answer ends with the turn
        end_ids, end_text = chat.end_of_turn_stops(tokenizer)
        stop += end_text
    predictions = backend.generate(prompts, task.max_new_tokens, stop, batch_size, on_batch, end_ids=end_ids)
    return Predictions(prompts, predictions)


def predict_sharded(
    backend: Backend,
    task: Task,
    examples: Sequence[Example],
    template: str,
    batch_size: int,
    on_batch: Callable[[int], None] | None = None,
    shots: Shots | None = None,
) -> Predictions | None:
    """:func:`predict` split over the ranks of a distributed run (a collective: every rank calls it).

    Rank ``r`` of ``w`` predicts ``examples[r::w]``; rank 0 gathers the shards and returns the
    predictions in example order, the other ranks return ``None``. In a single process it is
    :func:`predict` itself.
    """
    world = distributed.world_size()
    if world == 1:
        return predict(backend, task, examples, template, batch_size, on_batch, shots)
    shard = list(examples)[distributed.rank() :: world]
    part = predict(backend, task, shard, template, batch_size, on_batch, shots)
    gathered = distributed.gather_object(part)
    if gathered is None:
        return None

    def unshard(field: str) -> list:
        """One field of the shards, back in example order (shard r holds examples r, r+w, ...)."""
        merged: list = [None] * len(examples)
        for r, part in enumerate(gathered):
            merged[r::world] = getattr(part, field)
        return merged

    logprobs = unshard("choice_logprobs") if gathered[0].choice_logprobs is not None else None
    return Predictions(unshard("prompts"), unshard("predictions"), gathered[0].scoring, logprobs)
