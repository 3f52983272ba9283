"""The fine-tuning recipe: :func:`fine_tune` as a sequence of named steps, and the Trainer's
arguments (:func:`training_arguments`, :func:`engine_arguments`).

Evaluation-driven: every ``train.eval_every`` steps (default: once per epoch) the primary metric of
each trained task is computed on a dev split held out from its training data; the kept model is
the best one by ``train.select_by`` (``mean``: weighted by each task's dev examples) when it beats
the last one by more than the noise margin, else the last one; training stops early once
``train.patience`` evaluations in a row scored more than the noise margin below the best
(:mod:`harness.training.dev`). Training examples longer than ``train.max_length`` (or the
model's context) have their input cut, never the instruction or the answer. Checkpoints (the
Trainer's own) are written at every evaluation under ``<models_dir>/<run_id>/checkpoints/`` so that
an interrupted run can be resumed.

Several processes (``torchrun`` / ``accelerate launch``): the Trainer runs DDP (or FSDP / DeepSpeed
from ``train.fsdp`` / ``train.deepspeed``); ``train.batch_size`` is per process, so a step sees
``batch_size x world_size`` examples and an epoch has that many fewer steps. The dev evaluation is
sharded like the final one and rank 0's scores are broadcast, so every rank takes the same
best-checkpoint and early-stopping decisions. Rank 0 alone writes the final model.

Same seed, same result: torch's RNG is consumed in a fixed order (the model's load, then the LoRA
initialisation in :func:`prepare_model`, then the Trainer's seeding), the examples are shuffled
with ``Random(seed)`` and the Trainer's sampler uses ``data_seed``. Keep new steps out of the way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.config import Config
from harness.errors import HarnessError
from harness.tasks import Example
from harness.training.batching import Batching, build_train_features, choose_batching, shuffled
from harness.training.checkpoints import (
    checkpoints_dir,
    clean_up,
    latest_checkpoint,
    resume_point,
    save_final,
    training_ended,
)
from harness.training.dev import SCORE_KEY, DevSet, kept_step, noise_margin, scores_in
from harness.training.lora import apply_lora, lora_module_names, resolve_method
from harness.training.result import TrainResult, train_result


def fine_tune(
    loaded,
    examples: Sequence[Example],
    config: Config,
    output_dir: Path,
    on_step: Callable[..., None] | None = None,
    *,
    dev: DevSet | None = None,
    resume: bool = False,
    callbacks: Sequence = (),
) -> tuple[object, TrainResult]:
    """Fine-tune ``loaded.model`` on ``examples`` (all tasks mixed) and save it to ``output_dir``.

    :param on_step: called as ``on_step(step, total_steps, **fields)`` after every training step;
        ``fields`` are ``loss`` (the latest logged one, once there is one) and ``learning_rate``.
    :param dev: the dev split to select checkpoints on (``None``: keep the last weights).
    :param resume: continue from the latest complete checkpoint in ``output_dir/../checkpoints``.
    :param callbacks: extra ``TrainerCallback`` objects (tests).
    :returns: the trained model (in eval mode, on the same device) and a :class:`TrainResult`.
        With FSDP / DeepSpeed the model is a plain copy reloaded from ``output_dir`` with
        :func:`harness.models.load_model`.
    """
    from harness.models import count_parameters
    from harness.training.trainer import Schedule  # imports transformers: only when training

    started = time.perf_counter()
    train_cfg = config.train
    method = resolve_method(config, loaded.source)
    model, lora_modules = prepare_model(loaded.model, config, method)
    batching = choose_batching(model, loaded, train_cfg)
    ordered = shuffled(examples, config.training_seed())
    limit = training_limit(loaded, train_cfg)
    features = build_train_features(loaded.tokenizer, ordered, config.prompt(), limit)
    steps_per_epoch, total_steps = count_steps(len(features), train_cfg)
    if dev is not None and not dev.has_examples():
        dev = None
    select = dev is not None and train_cfg.select_by != "last"
    patience = train_cfg.patience if select else 0
    margin = noise_margin(dev, train_cfg.select_by) if select else 0.0
    interval = train_cfg.eval_every if train_cfg.eval_every > 0 else steps_per_epoch

    checkpoints = checkpoints_dir(output_dir)
    resume_from = resume_point(checkpoints) if resume else None
    schedule = Schedule(interval, train_cfg.save_every, patience, dev is not None, on_step, margin)
    trainer = build_trainer(
        model, loaded, config, features, batching, dev, checkpoints, total_steps, [schedule, *callbacks]
    )
    ended = resume_from is not None and training_ended(resume_from, patience, total_steps, margin)
    train(trainer, batching, resume_from, ended, loaded, config)

    kept = None  # the step whose weights are kept (dev.kept_step); None: the last weights, unselected
    if select:
        kept = kept_step(scores_in(trainer.state.log_history), trainer.state.best_global_step, margin)
        trainer.restore_kept(kept)
    model = trainer.model
    model.eval()
    sharded = bool(train_cfg.fsdp or train_cfg.deepspeed)
    save_final(trainer, loaded.tokenizer, output_dir, sharded)
    if sharded:  # evaluate a plain copy of the saved model, not the engine's sharded one
        from harness.models import load_model

        model = load_model(str(output_dir), {}, loaded.device).model
    clean_up(checkpoints, train_cfg.keep_checkpoints)

    return model, train_result(
        trainer.state,
        trainer.token_counter(),
        batching,
        method=method,
        lora_modules=lora_modules,
        train_cfg=train_cfg,
        train_examples=len(features),
        dev=dev,
        select=select,
        kept_step=kept,
        patience=patience,
        margin=margin,
        trainable_parameters=count_parameters(model)[1],
        output_dir=str(output_dir),
        duration=time.perf_counter() - started,
        resumed_from=str(resume_from) if resume_from else None,
    )


def prepare_model(model, config: Config, method: str) -> tuple[object, list[str] | None]:
    """The model to train (LoRA-wrapped for ``method == "lora"``) in training mode, with gradient
    checkpointing when configured; and the modules that got adapters (None for full)."""
    lora_modules = None
    if method == "lora":
        if config.train.seed != -1:  # a seed set's tuning: its own adapter initialisation too
            import torch

            torch.manual_seed(config.train.seed)
        model = apply_lora(model, config)
        lora_modules = lora_module_names(model)
    model.train()
    if config.train.gradient_checkpointing:
        # transformers 5 renamed it "activation checkpointing"; older releases only have the old name
        enable = getattr(model, "activation_checkpointing_enable", None)
        (enable or model.gradient_checkpointing_enable)()
        model.config.use_cache = False
    return model, lora_modules


def training_limit(loaded, train_cfg) -> int:
    """The most tokens a training example (prompt, answer, EOS) may take: ``train.max_length``, or
    the model's context when that is shorter."""
    from harness.tasks.prompting import context_length

    context = context_length(loaded.model, loaded.tokenizer)
    return min(train_cfg.max_length, context) if context else train_cfg.max_length


def count_steps(n_features: int, train_cfg) -> tuple[int, int]:
    """Steps per epoch and in all (``train.max_steps`` when set, else ``epochs`` epochs)."""
    from harness import distributed

    # batch_size is per process: with N ranks (DDP) a step consumes batch_size x N examples
    steps_per_epoch = math.ceil(n_features / (train_cfg.batch_size * distributed.world_size()))
    if train_cfg.max_steps > 0:
        return steps_per_epoch, train_cfg.max_steps
    return steps_per_epoch, math.ceil(steps_per_epoch * train_cfg.epochs)


def engine_arguments(train_cfg) -> dict:
    """``fsdp`` / ``fsdp_config`` / ``deepspeed`` for TrainingArguments, only those that are set."""
    arguments = {}
    if train_cfg.fsdp:
        arguments["fsdp"] = train_cfg.fsdp
        if train_cfg.fsdp_config:
            arguments["fsdp_config"] = dict(train_cfg.fsdp_config)
    if train_cfg.deepspeed:
        arguments["deepspeed"] = train_cfg.deepspeed
    return arguments


def check_engine_device(config: Config) -> None:
    """Refuse (one line, before any model work) ``train.fsdp`` on the CPU: accelerate shards only on
    GPUs and other accelerators; for CPU processes (``MULTI_CPU``) it drops the FSDP plugin without a
    word and the Trainer runs plain DDP, unsharded (accelerate 1.15; torch's own FSDP does run on
    gloo). bench/README.md, "The GPU check", has the measurement."""
    if not config.train.fsdp:
        return
    from harness.models.device import resolve_device

    if resolve_device(config.device) == "cpu":
        raise HarnessError(
            f"config: train.fsdp = {config.train.fsdp!r} on the CPU: accelerate shards only on GPUs, "
            'so the Trainer would run plain DDP instead; unset it for a CPU run (--set train.fsdp="")'
        )


def training_arguments(config: Config, loaded, checkpoints: Path, total_steps: int):
    """The ``TrainingArguments``: checkpoints under ``checkpoints``, saving and evaluation decided
    by :class:`~harness.training.trainer.Schedule`, random (seeded) mixed-task batches.

    The config was validated before any model work (:mod:`harness.validation`); should
    transformers still reject a value, that is one line (a :class:`HarnessError`), not a traceback."""
    try:
        return _training_arguments(config, loaded, checkpoints, total_steps)
    except ValueError as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise HarnessError(f"config: transformers rejected the training arguments: {first_line}") from exc


def _training_arguments(config: Config, loaded, checkpoints: Path, total_steps: int):
    from transformers import TrainingArguments

    train_cfg = config.train
    return TrainingArguments(
        output_dir=str(checkpoints),
        per_device_train_batch_size=train_cfg.batch_size,
        num_train_epochs=train_cfg.epochs,
        max_steps=train_cfg.max_steps,
        learning_rate=train_cfg.learning_rate,
        weight_decay=train_cfg.weight_decay,
        lr_scheduler_type=train_cfg.lr_scheduler,
        warmup_steps=int(train_cfg.warmup_ratio * total_steps),
        logging_steps=train_cfg.logging_steps,
        save_strategy="steps",  # when: decided by Schedule; the Trainer also saves at the last step
        save_steps=max(1, total_steps + 1),
        # the latest (to resume) + the best (always kept by the Trainer); every one when they are
        # kept after the run, for `harness eval --checkpoints` (harness/checkpoints.py)
        save_total_limit=None if train_cfg.keep_checkpoints else 2,
        metric_for_best_model=SCORE_KEY,
        greater_is_better=True,
        restore_callback_states_from_checkpoint=True,
        report_to=list(train_cfg.report_to) or "none",
        seed=config.training_seed(),
        data_seed=config.training_seed(),
        use_cpu=loaded.device == "cpu",
        bf16=loaded.dtype == "bfloat16",
        train_sampling_strategy="random",  # mixed-task batches (seeded by data_seed); see packing.py
        remove_unused_columns=False,
        disable_tqdm=True,
        dataloader_num_workers=0,
        log_level="error",
        **engine_arguments(train_cfg),
    )


def build_trainer(
    model,
    loaded,
    config: Config,
    features: list[dict],
    batching: Batching,
    dev: DevSet | None,
    checkpoints: Path,
    total_steps: int,
    callbacks: Sequence,
):
    """The :class:`~harness.training.trainer.HarnessTrainer`, counting tokens, with ``callbacks``
    and without the Trainer's printed logs and progress bars (harness shows progress)."""
    import torch
    from transformers import PrinterCallback
    from transformers.utils import logging as hf_logging

    from harness.training.trainer import HarnessTrainer, TokenCounter, direct_tracker_logs

    threads = torch.get_num_threads()
    trainer = HarnessTrainer(
        model=model,
        args=training_arguments(config, loaded, checkpoints, total_steps),
        train_dataset=features,
        data_collator=batching.collator,
        processing_class=loaded.tokenizer,
        callbacks=[TokenCounter(), *callbacks],
        dev_set=dev,
        template=config.prompt(),
        select_by=config.train.select_by,
        attention=batching.attention,
    )
    trainer.remove_callback(PrinterCallback)
    direct_tracker_logs(trainer, checkpoints.parent / "logs")  # kept when the checkpoints are not
    torch.set_num_threads(threads)  # accelerate resets it on multi-process CPU runs without OMP_NUM_THREADS
    hf_logging.disable_progress_bar()
    return trainer


def train(trainer, batching: Batching, resume_from: Path | None, ended: bool, loaded, config: Config) -> None:
    """Train (from ``resume_from`` when set), or only restore ``resume_from`` when training had
    ``ended`` there; a non-finite loss or running out of GPU memory becomes a one-line error."""
    import torch

    from harness.training.trainer import NonFiniteLoss

    train_cfg = config.train
    try:
        if ended:
            trainer.restore_finished(resume_from)
        else:
            if batching.attention:
                batching.attention.enable()
            trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    except NonFiniteLoss as exc:
        good = latest_checkpoint(Path(trainer.args.output_dir))  # the checkpoints folder
        where = f"the last good checkpoint is {good}" if good else "no checkpoint had been saved yet"
        raise HarnessError(
            f"training loss became {exc.value} at step {exc.step}; {where}; "
            f"lower train.learning_rate (now {train_cfg.learning_rate:g})"
        ) from None
    except torch.cuda.OutOfMemoryError:
        raise HarnessError(
            f"out of GPU memory while training {loaded.name!r}: use a smaller train.batch_size "
            f'(now {train_cfg.batch_size}), train.gradient_checkpointing=true, method="lora", '
            f"or a shorter train.max_length (now {train_cfg.max_length})"
        ) from None
    finally:
        if batching.attention:
            batching.attention.disable()  # evaluation, generation and the saved config use the original
