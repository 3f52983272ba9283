"""Few-shot evaluation: ``k`` solved examples (demonstrations) from a task's train split placed
before each evaluation prompt (``eval.num_fewshot``, or the task's own ``num_fewshot``).

Demonstrations come from the train split only, with the dev examples removed (the same pool
training uses), never from test or dev. Each example's demonstrations are drawn by a generator
seeded with ``config.seed``, the task name and the example's id, so they do not depend on batch
order, sharding, or which other examples are evaluated; a train example with the same
instruction and input as the evaluated one is never shown. Each demonstration is rendered with
the example's template followed by its output and a blank line; with the ``chat`` template the
demonstrations are earlier user/assistant turns.

Fitting (:func:`fewshot_prompts`): when the prompt leaves too little room for the answer,
whole demonstrations are dropped first, the last drawn first, and only when none is left is the
example's own input cut as in :func:`~harness.tasks.prompting.evaluation_prompts`.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass

from harness.tasks import chat
from harness.tasks.prompting import (
    CHAT,
    DoesNotFit,
    answer_room,
    build_prompt,
    evaluation_prompts,
    fit_prompt,
    within_reach,
)
from harness.tasks.task import Example, Task
from harness.tasks.tokens import token_count

SEPARATOR = "\n\n"  # after each demonstration's output
_SPARE = 4  # extra draws, so a demonstration equal to the example can be skipped


@dataclass(frozen=True)
class Shots:
    """The demonstrations of one task: ``k`` per example, drawn from ``pool`` (train, dev removed)."""

    task: str
    k: int
    pool: tuple[Example, ...]
    seed: int

    def for_example(self, example: Example) -> list[Example]:
        """The demonstrations of ``example``: up to ``k`` distinct pool examples, seeded by its id."""
        rng = random.Random(f"{self.seed}:{self.task}:{example.id}")
        drawn = rng.sample(range(len(self.pool)), min(len(self.pool), self.k + _SPARE))
        demos = [self.pool[i] for i in drawn]
        same = (example.instruction, example.input)
        return [demo for demo in demos if (demo.instruction, demo.input) != same][: self.k]

    def material(self) -> dict:
        """What the demonstrations depend on, for the baseline cache key."""
        pool = [[e.id, e.instruction, e.input, e.output] for e in self.pool]
        digest = hashlib.sha256(json.dumps(pool, ensure_ascii=False).encode()).hexdigest()
        return {"k": self.k, "seed": self.seed, "pool": digest, "separator": SEPARATOR}


def render(template: str, demos: Sequence[Example], example: Example, tokenizer=None) -> str:
    """The example's prompt after its demonstrations (each rendered with ``template``, then its output)."""
    if template == CHAT and demos:
        return _chat(tokenizer, demos, example)
    shown = "".join(build_prompt(template, demo, tokenizer) + demo.output + SEPARATOR for demo in demos)
    return shown + build_prompt(template, example, tokenizer)


def _chat(tokenizer, demos: Sequence[Example], example: Example) -> str:
    """Demonstrations as earlier user/assistant turns of the tokenizer's chat template."""
    build_prompt(CHAT, example, tokenizer)  # the same error as without demonstrations when there is none
    turns = tuple(turn for demo in demos for turn in chat.instruction_turns(demo))
    text = chat.render(tokenizer, turns + chat.instruction_turns(example)[:-1], generation_prompt=True)
    if text is None:
        from harness.errors import HarnessError

        raise HarnessError(
            "the model's chat template refuses few-shot demonstrations as earlier user/assistant "
            "turns: set eval.num_fewshot = 0"
        )
    return text


def fit_with_demos(
    tokenizer, template: str, example: Example, demos: Sequence[Example], budget: int
) -> tuple[str, bool, int]:
    """The prompt within ``budget`` tokens, the last demonstrations dropped first and then the
    input cut; whether the input was cut and how many demonstrations were dropped.
    Raises :class:`~harness.tasks.prompting.DoesNotFit`."""
    for kept in range(len(demos), 0, -1):
        prompt = render(template, demos[:kept], example, tokenizer)
        if token_count(tokenizer, prompt) <= budget:
            return prompt, False, len(demos) - kept
    prompt, cut = fit_prompt(tokenizer, template, example, budget)
    return prompt, cut, len(demos)


def fewshot_prompts(
    tokenizer,
    template: str,
    task: Task,
    examples: Sequence[Example],
    context: int | None,
    shots: Shots | None = None,
) -> list[tuple[str, bool, int]]:
    """Each example's evaluation prompt with its demonstrations, fitted to leave the task's
    :func:`~harness.tasks.prompting.answer_room` within ``context`` (no limit when None); whether
    its input was cut; and how many demonstrations were dropped. Without ``shots`` (or ``k = 0``)
    the prompts are :func:`~harness.tasks.prompting.evaluation_prompts`' exactly.
    Raises :class:`~harness.tasks.prompting.DoesNotFit`."""
    if shots is None or shots.k == 0:
        return [
            (prompt, cut, 0)
            for prompt, cut in evaluation_prompts(tokenizer, template, task, examples, context)
        ]
    budget = None if context is None else context - answer_room(tokenizer, task)
    fitted = []
    for example in examples:
        demos = shots.for_example(example)
        if budget is None:
            fitted.append((render(template, demos, example, tokenizer), False, 0))
            continue
        reached = within_reach(tokenizer, example, max(budget, 1))
        try:
            fitted.append(fit_with_demos(tokenizer, template, reached, demos, budget))
        except DoesNotFit as exc:
            raise DoesNotFit(example, exc.needed, exc.budget) from None  # the example as read
    return fitted
