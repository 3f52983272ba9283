"""The time half of the resource forecast (``results.json`` ``"forecast"``: ``evaluation`` and
``cycle``), made from the baseline pass, before training starts. Every number but the measured
seconds is an estimate.

Per task (:func:`evaluation_forecast`): the baseline pass's prompt tokens, generated tokens
(bounded by ``max_new_tokens`` per example; a log-likelihood task reads prompt + choice once per
choice) and measured seconds; the "after" pass is expected to take as long (a task whose
baseline came from the cache: at the measured rate of the others). A pass costs about ``2 * N``
FLOPs per token it reads or writes (``N`` parameters), which gives the evaluation's FLOP rate.

The cycle (:func:`cycle_forecast`): training at that rate from ``6 * N`` FLOPs per trained token
for full fine-tuning and ``4 * N`` for LoRA (forward, plus the backward pass's input gradients
through the frozen weights; the adapters' own gradients are negligible), ``+ 2 * N`` with gradient
checkpointing (a second forward); the dev evaluations during training at the baseline's seconds
per example; evaluation's share is (before + after + dev) over the whole. Training runs at a higher
FLOP rate than generation on a GPU, so the training time is pessimistic there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from harness.config import Config
from harness.tasks.prompting import IGNORE_INDEX

TRAIN_FLOPS = {"full": 6, "lora": 4}  # per parameter and trained token; +2 with gradient checkpointing
SAMPLE = 2000  # training examples tokenized for the forecast at most (evenly spaced)


def sample(examples: Sequence) -> list:
    """At most :data:`SAMPLE` of ``examples``, evenly spaced (all of them when fewer)."""
    step = max(1, math.ceil(len(examples) / SAMPLE))
    return list(examples[::step])


def label_share(features: Sequence[Mapping]) -> float:
    """The share of training tokens whose next token is a label (where logits are computed)."""
    tokens = sum(len(f["input_ids"]) for f in features)
    labels = sum(sum(1 for x in f["labels"][1:] if x != IGNORE_INDEX) for f in features)
    return labels / tokens if tokens else 1.0


def largest_batch(features: Sequence[Mapping], batch_size: int) -> int:
    """Tokens in the largest batch training can draw: its ``batch_size`` longest features."""
    return sum(sorted(len(f["input_ids"]) for f in features)[-batch_size:])


def trained_tokens(features: Sequence[Mapping], n_examples: int, config: Config) -> int:
    """The tokens training will run on: ``n_examples`` features (``features`` a sample of them)
    each epoch, or ``train.max_steps`` batches of average features."""
    if not features:
        return 0
    mean = sum(len(f["input_ids"]) for f in features) / len(features)
    if config.train.max_steps > 0:
        return round(config.train.max_steps * config.train.batch_size * mean)
    return round(n_examples * config.train.epochs * mean)


def task_tokens(tokenizer, task, predictions) -> dict:
    """The tokens a task's evaluation reads and writes: prompts, generated answers (or, scored by
    log-likelihood, prompt + choice once per choice), and the generation bound."""
    count = lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    prompts = [count(p) for p in predictions.prompts]
    n = len(prompts)
    if predictions.scoring == "loglik":
        choices = [count(c) for c in task.choices]
        read = sum(prompts) * len(choices) + n * sum(choices)
        return {"examples": n, "prompt_tokens": sum(prompts), "generated_tokens": 0, "processed_tokens": read}
    generated = sum(min(count(p), task.max_new_tokens) for p in predictions.predictions)
    return {
        "examples": n,
        "prompt_tokens": sum(prompts),
        "generated_tokens": generated,
        "generated_bound": n * task.max_new_tokens,
        "processed_tokens": sum(prompts) + generated,
    }


def evaluation_forecast(
    tokenizer,
    tasks: Sequence,
    predictions: Mapping[str, object],
    seconds: Mapping[str, float | None],
    parameters: int,
) -> dict:
    """Per task the baseline pass's tokens and measured seconds (``None``: from the cache), the
    "after" pass expected to take as long, and the measured evaluation FLOP rate (``2 * N`` FLOPs
    per processed token) over the tasks that were timed."""
    per_task, flops, timed = {}, 0, 0.0
    for task in tasks:
        entry = task_tokens(tokenizer, task, predictions[task.name])
        measured = seconds.get(task.name)
        entry["before_seconds"] = None if measured is None else round(measured, 3)
        entry["expected_after_seconds"] = entry["before_seconds"]
        if measured:
            flops += 2 * parameters * entry["processed_tokens"]
            timed += measured
        per_task[task.name] = entry
    rate = flops / timed if timed > 0 else None
    for entry in per_task.values():  # a cached task's pass, at the measured rate
        if entry["expected_after_seconds"] is None and rate:
            entry["expected_after_seconds"] = round(2 * parameters * entry["processed_tokens"] / rate, 3)
    return {"tasks": per_task, "flops_per_second": rate}


def dev_seconds(evaluation: Mapping, dev_sizes: Mapping[str, int], evaluations: int) -> float:
    """Seconds of ``evaluations`` dev evaluations of ``dev_sizes`` examples per task, at each
    task's baseline seconds per example."""
    total = 0.0
    for name, n in dev_sizes.items():
        entry = evaluation["tasks"].get(name)
        if entry and entry["expected_after_seconds"] is not None and entry["examples"]:
            total += n * entry["expected_after_seconds"] / entry["examples"]
    return evaluations * total


def dev_evaluations(n_examples: int, config: Config) -> int:
    """How many dev evaluations training runs: one each ``train.eval_every`` steps (else each epoch)."""
    from harness.training.recipe import count_steps

    steps_per_epoch, total = count_steps(n_examples, config.train)
    interval = config.train.eval_every if config.train.eval_every > 0 else steps_per_epoch
    return total // max(1, interval)


def cycle_forecast(
    evaluation: dict, parameters: int, config: Config, method: str, train_tokens: int, dev: float = 0.0
) -> dict:
    """Training seconds at the evaluation's FLOP rate and evaluation's share of the cycle (the
    before and after passes, and ``dev`` seconds of dev evaluations), all estimates.
    ``train_tokens``: :func:`trained_tokens`."""
    factor = TRAIN_FLOPS[method] + (2 if config.train.gradient_checkpointing else 0)
    flops = factor * parameters * train_tokens
    rate = evaluation.get("flops_per_second")
    train_seconds = flops / rate if rate else None
    passes = [e["expected_after_seconds"] for e in evaluation["tasks"].values()]
    eval_seconds = 2 * sum(s for s in passes if s is not None) + dev  # before, after, dev
    share = eval_seconds / (eval_seconds + train_seconds) if train_seconds else None
    return {
        "estimate": True,
        "train_tokens": train_tokens,
        "train_flops": flops,
        "train_flops_per_token": f"{factor}N",
        "train_seconds": None if train_seconds is None else round(train_seconds, 3),
        "dev_seconds": round(dev, 3),
        "eval_seconds": round(eval_seconds, 3),
        "eval_share": None if share is None else round(share, 4),
    }
