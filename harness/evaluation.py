"""Evaluation: batched greedy generation, then scoring with the task's metrics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.metric import Metric, MetricResult
from harness.prompting import build_prompt, truncate_at_stop
from harness.task import Example, Task


@dataclass
class TaskEvaluation:
    """Predictions and scores of one model on one task's test split."""

    task: Task
    prompts: list[str]
    predictions: list[str]
    scores: dict[str, MetricResult]


def generate(
    model,
    tokenizer,
    prompts: Sequence[str],
    max_new_tokens: int,
    stop: Sequence[str] = (),
    batch_size: int = 32,
    on_batch: Callable[[int], None] | None = None,
) -> list[str]:
    """Greedy completions of ``prompts``, cut at the first stop string.

    Prompts are sorted by length (longest first, so memory peaks early and padding is minimal),
    batched with left padding, and decoded with the KV cache. Results come back in input order.
    """
    import torch

    tokenizer.padding_side = "left"
    encoded = [tokenizer(p, add_special_tokens=True)["input_ids"] for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
    outputs: list[str] = [""] * len(prompts)
    device = next(model.parameters()).device
    stop_strings = [s for s in stop if s]
    for start in range(0, len(order), batch_size):
        batch_ids = [encoded[i] for i in order[start : start + batch_size]]
        batch = tokenizer.pad({"input_ids": batch_ids}, padding=True, return_tensors="pt").to(device)
        with torch.inference_mode():
            generated = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                num_beams=1,
                use_cache=True,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
                stop_strings=stop_strings or None,
                tokenizer=tokenizer if stop_strings else None,
            )
        new_tokens = generated[:, batch["input_ids"].shape[1] :]
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        for index, text in zip(order[start : start + batch_size], texts, strict=False):
            outputs[index] = truncate_at_stop(text, tuple(stop_strings))
        if on_batch is not None:
            on_batch(len(batch_ids))
    return outputs


def score(task: Task, metrics: dict[str, Metric], examples: Sequence[Example], predictions: Sequence[str]):
    """Every metric of ``task`` on the predictions, keyed by metric name."""
    references = [example.references for example in examples]
    return {name: metrics[name].compute(list(predictions), references) for name in task.metrics}


def evaluate_task(
    model,
    tokenizer,
    task: Task,
    examples: Sequence[Example],
    metrics: dict[str, Metric],
    template: str,
    batch_size: int,
    on_batch: Callable[[int], None] | None = None,
) -> TaskEvaluation:
    """Generate an answer for each test example of ``task`` and score the answers."""
    prompts = [build_prompt(template, example) for example in examples]
    predictions = generate(model, tokenizer, prompts, task.max_new_tokens, task.stop, batch_size, on_batch)
    return TaskEvaluation(task, prompts, predictions, score(task, metrics, examples, predictions))
