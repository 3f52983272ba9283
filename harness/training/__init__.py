"""Fine-tuning with the transformers Trainer: full or LoRA (peft), loss on response tokens only.

Batches are drawn in random (seeded) order, so each mixes tasks and lengths. By default
(``train.padding_free``) a batch is one row of its examples' real tokens with attention kept
within each example (harness/training/packing.py: same loss and gradients as the padded batch, no pads
computed); models that cannot do that, or ``train.padding_free = false``, get right-padded
batches. ``results.json`` ``training.tokens`` records which (``batching``) and why not.

Evaluation-driven: every ``train.eval_every`` steps (default: once per epoch) the primary metric
of each trained task is computed on a dev split held out from its training data; the kept model
is the best one by ``train.select_by``, and training stops early after ``train.patience``
evaluations without improvement. Checkpoints (the Trainer's own) are written at every evaluation
under ``<models_dir>/<run_id>/checkpoints/`` so that an interrupted run can be resumed.

Several processes (``torchrun`` / ``accelerate launch``): the Trainer runs DDP (or FSDP /
DeepSpeed from ``train.fsdp`` / ``train.deepspeed``); ``train.batch_size`` is per process, so a
step sees ``batch_size x world_size`` examples and an epoch has that many fewer steps. The dev
evaluation is sharded like the final one (each rank generates for its share of the dev
examples, rank 0 gathers and scores them) and rank 0's scores are broadcast, so every rank takes
the same best-checkpoint and early-stopping decisions. Rank 0 alone writes the final model.

Dev-score aggregation (``select_by = "mean"``): the mean over trained tasks of each task's
primary metric, normalised to 0-1 first (:meth:`harness.metrics.Metric.normalised`: divided by
the metric's ``scale``, negated when lower is better).

Everything the Trainer needs to resume (dev curve, best step, early-stopping counter, token
counts) lives in its ``trainer_state.json``, so a resumed run continues exactly where the
checkpoint left off and ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import random
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.config import Config
from harness.errors import HarnessError
from harness.tasks import Example, Task
from harness.tasks.prompting import IGNORE_INDEX, build_prompt, tokenize_for_training

SCORE_KEY = "dev_score"  # the aggregate, as stored by the Trainer (eval_dev_score) in log_history


@dataclass
class TrainResult:
    """What training did, for results.json."""

    method: str
    steps: int
    epochs: float
    train_examples: int
    final_loss: float | None
    trainable_parameters: int
    output_dir: str
    duration: float
    loss_history: list[dict] = field(default_factory=list)
    dev_history: list[dict] = field(default_factory=list)
    dev_metrics: dict[str, str] = field(default_factory=dict)  # task -> primary metric on the dev split
    dev_examples: dict[str, int] = field(default_factory=dict)
    select_by: str = "mean"
    best_step: int | None = None
    best_score: float | None = None
    stopped_early: bool = False
    max_steps: int = 0
    tokens: dict = field(default_factory=dict)  # real / padded token counts and throughput
    lora_modules: list[str] | None = None  # module names that got adapters (LoRA only)
    resumed_from: str | None = None


@dataclass
class DevSet:
    """What the dev evaluation during training needs."""

    tasks: list[Task]
    examples: dict[str, list[Example]]
    metrics: dict  # metric name -> Metric
    batch_size: int = 32


# ----------------------------------------------------------------------------- features


def build_train_features(
    tokenizer, examples: Sequence[Example], template: str, max_length: int
) -> list[dict]:
    """Tokenize every training example once, with labels masked on the prompt."""
    features = []
    for example in examples:
        prompt = build_prompt(template, example, tokenizer)
        item = tokenize_for_training(tokenizer, prompt, example.output, max_length)
        features.append({"input_ids": item.input_ids, "labels": item.labels})
    return features


def make_collator(pad_token_id: int) -> Callable[[list[dict]], dict]:
    """Right-pad a batch: ``pad_token_id`` for inputs, IGNORE_INDEX for labels, 0 in the mask."""
    import torch

    def collate(features: list[dict]) -> dict:
        width = max(len(f["input_ids"]) for f in features)
        input_ids, labels, mask = [], [], []
        for f in features:
            pad = width - len(f["input_ids"])
            input_ids.append(f["input_ids"] + [pad_token_id] * pad)
            labels.append(f["labels"] + [IGNORE_INDEX] * pad)
            mask.append([1] * len(f["input_ids"]) + [0] * pad)
        return {
            "input_ids": torch.tensor(input_ids),
            "labels": torch.tensor(labels),
            "attention_mask": torch.tensor(mask),
        }

    return collate


# ----------------------------------------------------------------------------- scores


def aggregate(scores: dict[str, float], dev: DevSet, select_by: str) -> float:
    """The number the best checkpoint is chosen by: one task's or the mean normalised score."""
    by_task = {task.name: task for task in dev.tasks}
    names = list(scores) if select_by in ("mean", "last") else [select_by]
    values = [dev.metrics[by_task[n].primary_metric].normalised(scores[n]) for n in names]
    return sum(values) / len(values)


def dev_scores(model, tokenizer, dev: DevSet, template: str) -> dict[str, float]:
    """The primary metric of each dev task (greedy generation, as in the final evaluation).

    With several ranks the examples are sharded (:func:`harness.evaluation.predict_sharded`)
    and every rank gets rank 0's scores; all ranks must call this together.
    """
    from harness import distributed
    from harness.evaluation import predict_sharded

    scores = {}
    for task in dev.tasks:
        examples = dev.examples[task.name]
        predictions = predict_sharded(model, tokenizer, task, examples, template, dev.batch_size)
        if predictions is not None:
            metric = dev.metrics[task.primary_metric]
            result = metric.compute(predictions.predictions, [e.references for e in examples])
            scores[task.name] = float(result.score)
    return distributed.broadcast_object(scores)


# ----------------------------------------------------------------------------- checkpoints


def checkpoint_step(path: Path) -> int:
    try:
        return int(path.name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return -1


def checkpoint_is_complete(path: Path) -> bool:
    """True when the Trainer finished writing ``path``: its ``trainer_state.json`` (written last)
    loads and the weights are there."""
    try:
        json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    weights = ("model.safetensors", "adapter_model.safetensors", "model.safetensors.index.json")
    return any((path / name).is_file() for name in weights)


def latest_checkpoint(checkpoints: Path) -> Path | None:
    """The complete checkpoint with the highest step under ``checkpoints``, or None."""
    if not checkpoints.is_dir():
        return None
    found = sorted(
        (p for p in checkpoints.glob("checkpoint-*") if p.is_dir() and checkpoint_step(p) >= 0),
        key=checkpoint_step,
    )
    complete = [p for p in found if checkpoint_is_complete(p)]
    return complete[-1] if complete else None


def remove_incomplete_checkpoints(checkpoints: Path) -> list[Path]:
    """Delete checkpoint folders an interrupted save left half-written; returns them."""
    removed = []
    if checkpoints.is_dir():
        for path in checkpoints.glob("checkpoint-*"):
            if path.is_dir() and not checkpoint_is_complete(path):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


# ----------------------------------------------------------------------------- model


def resolve_method(config: Config, model_source: str) -> str:
    """``auto`` means full fine-tuning for embedded presets, LoRA for pretrained models."""
    if config.method != "auto":
        return config.method
    return "full" if model_source == "preset" else "lora"


def apply_lora(model, config: Config):
    """Wrap ``model`` with a peft LoRA adapter built from ``config.lora``."""
    from peft import LoraConfig, get_peft_model

    targets = config.lora.target_modules
    lora = LoraConfig(
        r=config.lora.r,
        lora_alpha=config.lora.alpha,
        lora_dropout=config.lora.dropout,
        target_modules=targets[0] if targets == ["all-linear"] else targets,
        task_type="CAUSAL_LM",
    )
    with warnings.catch_warnings():
        # peft (0.21) reads transformers' deprecated ``is_gradient_checkpointing`` inside
        # get_peft_model: not ours to fix, and nothing the user can act on.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(model, lora)


def lora_module_names(model) -> list[str]:
    """The distinct module names (e.g. ``q_proj``) that carry a LoRA adapter."""
    return sorted(
        {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if hasattr(module, "lora_A")}
    )


# ----------------------------------------------------------------------------- trainer pieces


class NonFiniteLoss(Exception):
    def __init__(self, step: int, value: float):
        super().__init__(f"loss {value} at step {step}")
        self.step, self.value = step, value


def patience_exhausted(log_history: list[dict], patience: int) -> bool:
    """True when the last ``patience`` dev evaluations did not beat the best before them."""
    scores = [entry[f"eval_{SCORE_KEY}"] for entry in log_history if f"eval_{SCORE_KEY}" in entry]
    if patience <= 0 or not scores:
        return False
    best_index = len(scores) - 1 - scores[::-1].index(max(scores))  # a tie counts as the newer best
    return len(scores) - 1 - best_index >= patience


@functools.cache
def _trainer_classes():
    """The Trainer subclass and callbacks (built on first use: transformers imports are slow)."""
    import torch
    from transformers import Trainer, TrainerCallback
    from transformers.trainer_callback import ExportableState

    class TokenCounter(TrainerCallback, ExportableState):
        """Real (non-pad) and padded tokens trained on, and the seconds spent in training steps.

        Exportable, so the counts survive a resume (they are stored in trainer_state.json).
        """

        def __init__(self, real: int = 0, total: int = 0, seconds: float = 0.0):
            self.real, self.total, self.seconds = real, total, seconds
            self._started: float | None = None

        def state(self) -> dict:
            return {
                "args": {"real": self.real, "total": self.total, "seconds": self.seconds},
                "attributes": {},
            }

        def on_step_begin(self, args, state, control, **kwargs):
            self._started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if self._started is not None:
                self.seconds += time.perf_counter() - self._started
                self._started = None

    class Schedule(TrainerCallback):
        """Evaluate on the dev split and checkpoint every ``interval`` steps (and at the last step),
        checkpoint every ``save_every`` steps, stop after ``patience`` evaluations without gain."""

        def __init__(self, interval: int, save_every: int, patience: int, evaluate: bool, on_step=None):
            self.interval, self.save_every, self.patience = interval, save_every, patience
            self.evaluate, self.on_step = evaluate, on_step

        def on_step_end(self, args, state, control, **kwargs):
            step = state.global_step
            if step % self.interval == 0 or step >= state.max_steps:
                control.should_evaluate = self.evaluate
                control.should_save = True
            if self.save_every > 0 and step % self.save_every == 0:
                control.should_save = True
            if self.on_step is not None:
                self.on_step(step, state.max_steps)
            return control

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if patience_exhausted(state.log_history, self.patience):
                control.should_training_stop = True
            return control

    class HarnessTrainer(Trainer):
        """Counts tokens, stops on a non-finite loss, and evaluates by generation on the dev split."""

        dev: DevSet | None = None
        template: str = ""
        attention = None  # packing.TrainingAttention while training on padding-free rows
        select_by: str = "mean"

        def _counter(self):
            return next(c for c in self.callback_handler.callbacks if isinstance(c, TokenCounter))

        def training_step(self, model, inputs, num_items_in_batch=None):
            from harness import distributed

            counter = self._counter()
            mask = inputs.get("attention_mask")  # None for padding-free rows: every token is real
            real = int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
            total = int((mask if mask is not None else inputs["input_ids"]).numel())
            loss = super().training_step(model, inputs, num_items_in_batch)
            value = float(loss.detach())
            # several ranks: count every rank's tokens, and stop on all ranks if any loss is not finite
            real, total, bad = distributed.sum_ints(
                [real, total, int(not math.isfinite(value))], inputs["input_ids"].device
            )
            counter.real += real
            counter.total += total
            if bad:
                shown = value if not math.isfinite(value) else math.nan  # nan: another rank's loss
                raise NonFiniteLoss(self.state.global_step + 1, shown)
            return loss

        def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
            model = self.model
            was_training = model.training
            model.eval()
            suspended = self.attention.suspended() if self.attention else contextlib.nullcontext()
            try:
                with suspended:  # generation runs padded batches: the model's own masked attention
                    scores = dev_scores(model, self.processing_class, self.dev, self.template)
            finally:
                if was_training:
                    model.train()
            metrics = {f"eval_{name}": score for name, score in scores.items()}
            metrics[f"eval_{SCORE_KEY}"] = aggregate(scores, self.dev, self.select_by)
            self.log(metrics)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics

        def _determine_best_metric(self, metrics, trial):
            # like the Trainer's, but a tie is a new best: more training at the same dev score
            # (common on small dev sets) is kept rather than thrown away
            value = metrics[f"eval_{SCORE_KEY}"]
            if self.state.best_metric is None or value >= self.state.best_metric:
                self.state.best_metric = value
                self.state.best_global_step = self.state.global_step
                return True
            return False

    return HarnessTrainer, TokenCounter, Schedule, torch


# ----------------------------------------------------------------------------- fine_tune


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


def fine_tune(
    loaded,
    examples: Sequence[Example],
    config: Config,
    output_dir: Path,
    on_step: Callable[[int, int], None] | None = None,
    *,
    dev: DevSet | None = None,
    resume: bool = False,
    callbacks: Sequence = (),
) -> tuple[object, TrainResult]:
    """Fine-tune ``loaded.model`` on ``examples`` (all tasks mixed) and save it to ``output_dir``.

    :param dev: the dev split to select checkpoints on (``None``: keep the last weights).
    :param resume: continue from the latest complete checkpoint in ``output_dir/../checkpoints``.
    :param callbacks: extra ``TrainerCallback`` objects (tests).
    :returns: the trained model (in eval mode, on the same device) and a :class:`TrainResult`.
    """
    from transformers import PrinterCallback, TrainerState, TrainingArguments
    from transformers.utils import logging as hf_logging

    from harness import distributed
    from harness.models import count_parameters
    from harness.training import packing

    HarnessTrainer, TokenCounter, Schedule, torch = _trainer_classes()
    started = time.perf_counter()
    train_cfg = config.train
    method = resolve_method(config, loaded.source)
    model = loaded.model
    lora_modules = None
    if method == "lora":
        model = apply_lora(model, config)
        lora_modules = lora_module_names(model)
    model.train()
    if train_cfg.gradient_checkpointing:
        # transformers 5 renamed it "activation checkpointing"; older releases only have the old name
        enable = getattr(model, "activation_checkpointing_enable", None)
        (enable or model.gradient_checkpointing_enable)()
        model.config.use_cache = False
    # padding-free rows with per-example attention (harness/training/packing.py), or right-padded batches
    attention, batching_note = None, None
    if train_cfg.padding_free:
        batching_note = packing.unsupported_reason(model, train_cfg.max_length)
        if batching_note is None:
            attention = packing.TrainingAttention(
                model, packing.attention_for(model, loaded.device, loaded.dtype)
            )
    collator = packing.flatten_collator() if attention else make_collator(loaded.tokenizer.pad_token_id)

    shuffled = list(examples)
    random.Random(config.seed).shuffle(shuffled)
    features = build_train_features(loaded.tokenizer, shuffled, config.prompt(), train_cfg.max_length)
    # batch_size is per process: with N ranks (DDP) a step consumes batch_size x N examples
    steps_per_epoch = math.ceil(len(features) / (train_cfg.batch_size * distributed.world_size()))
    total_steps = (
        train_cfg.max_steps if train_cfg.max_steps > 0 else math.ceil(steps_per_epoch * train_cfg.epochs)
    )
    if dev is not None and not any(dev.examples.get(t.name) for t in dev.tasks):
        dev = None
    interval = train_cfg.eval_every if train_cfg.eval_every > 0 else steps_per_epoch
    select = dev is not None and train_cfg.select_by != "last"

    checkpoints = (output_dir.parent / "checkpoints").resolve()
    resume_from = None
    if resume:
        if distributed.is_main():
            remove_incomplete_checkpoints(checkpoints)
        distributed.barrier()
        resume_from = latest_checkpoint(checkpoints)
    use_bf16 = loaded.dtype == "bfloat16"
    threads = torch.get_num_threads()
    args = TrainingArguments(
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
        save_total_limit=2,  # the latest (to resume) + the best (always kept by the Trainer)
        metric_for_best_model=SCORE_KEY,
        greater_is_better=True,
        restore_callback_states_from_checkpoint=True,
        report_to="none",
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=loaded.device == "cpu",
        bf16=use_bf16,
        train_sampling_strategy="random",  # mixed-task batches (seeded by data_seed); see packing.py
        remove_unused_columns=False,
        disable_tqdm=True,
        dataloader_num_workers=0,
        log_level="error",
        **engine_arguments(train_cfg),
    )
    trainer = HarnessTrainer(
        model=model,
        args=args,
        train_dataset=features,
        data_collator=collator,
        processing_class=loaded.tokenizer,
        callbacks=[
            TokenCounter(),
            Schedule(
                interval, train_cfg.save_every, train_cfg.patience if select else 0, dev is not None, on_step
            ),
            *callbacks,
        ],
    )
    trainer.dev, trainer.template, trainer.select_by = dev, config.prompt(), train_cfg.select_by
    trainer.attention = attention
    trainer.remove_callback(PrinterCallback)  # progress is shown by harness, not printed as dicts
    torch.set_num_threads(threads)  # accelerate resets it on multi-process CPU runs without OMP_NUM_THREADS
    hf_logging.disable_progress_bar()

    finished = None  # a checkpoint in which training had already ended (early stop or last step)
    if resume_from is not None:
        saved = json.loads((resume_from / "trainer_state.json").read_text(encoding="utf-8"))
        stop = patience_exhausted(saved.get("log_history", []), train_cfg.patience if select else 0)
        if stop or saved.get("global_step", 0) >= saved.get("max_steps", total_steps):
            finished = resume_from
    try:
        if finished is not None:
            trainer.state = TrainerState.load_from_json(str(finished / "trainer_state.json"))
            trainer._load_from_checkpoint(str(finished))
            trainer._load_callback_state()
        else:
            if attention:
                attention.enable()
            trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    except NonFiniteLoss as exc:
        good = latest_checkpoint(checkpoints)
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
        if attention:
            attention.disable()  # evaluation, generation and the saved config use the original

    state = trainer.state
    best_step = state.best_global_step if select else None
    best_checkpoint = state.best_model_checkpoint
    if select and best_step and best_step != state.global_step and best_checkpoint:
        trainer._load_best_model()
    model = trainer.model
    model.eval()
    sharded = bool(train_cfg.fsdp or train_cfg.deepspeed)
    if sharded:  # the Trainer gathers the sharded weights; rank 0 writes them
        trainer.save_model(str(output_dir))
    elif distributed.is_main():  # DDP: every rank holds the same weights; one writes them
        output_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(output_dir)
    if distributed.is_main():
        loaded.tokenizer.save_pretrained(output_dir)
    distributed.barrier()  # every rank has loaded the best checkpoint and the model is written
    if sharded:  # evaluate a plain copy of the saved model, not the engine's sharded one
        from harness.models import load_model

        model = load_model(str(output_dir), {}, loaded.device).model
    if distributed.is_main():
        if not train_cfg.keep_checkpoints:
            shutil.rmtree(checkpoints, ignore_errors=True)
        elif checkpoints.is_dir() and not any(checkpoints.iterdir()):
            checkpoints.rmdir()

    _, trainable = count_parameters(model)
    loss_history = [
        {"step": e["step"], "epoch": round(e.get("epoch") or 0, 3), "loss": float(e["loss"])}
        for e in state.log_history
        if "loss" in e
    ]
    dev_history = []
    for entry in state.log_history:
        if f"eval_{SCORE_KEY}" in entry:
            row = {"step": entry["step"], "epoch": round(entry.get("epoch") or 0, 3)}
            row.update({t.name: entry[f"eval_{t.name}"] for t in dev.tasks if f"eval_{t.name}" in entry})
            row["aggregate"] = entry[f"eval_{SCORE_KEY}"]
            dev_history.append(row)
    counter = trainer._counter()
    return model, TrainResult(
        method=method,
        steps=state.global_step,
        epochs=train_cfg.epochs,
        train_examples=len(features),
        final_loss=loss_history[-1]["loss"] if loss_history else None,
        trainable_parameters=trainable,
        output_dir=str(output_dir),
        duration=time.perf_counter() - started,
        loss_history=loss_history,
        dev_history=dev_history,
        dev_metrics={t.name: t.primary_metric for t in dev.tasks} if dev else {},
        dev_examples={t.name: len(dev.examples.get(t.name, [])) for t in dev.tasks} if dev else {},
        select_by=train_cfg.select_by if dev else "last",
        best_step=best_step if select else None,
        best_score=state.best_metric if select else None,
        stopped_early=state.global_step < state.max_steps,
        max_steps=state.max_steps,
        tokens={
            "real": counter.real,
            "total": counter.total,
            "padding_fraction": round(1 - counter.real / counter.total, 4) if counter.total else None,
            "real_per_second": round(counter.real / counter.seconds, 1) if counter.seconds else None,
            "train_step_seconds": round(counter.seconds, 3),
            "batching": "padding-free" if attention else "padded",
            # why padding-free batching was not used although train.padding_free is true
            "padding_free_fallback": batching_note,
        },
        lora_modules=lora_modules,
        resumed_from=str(resume_from) if resume_from else None,
    )
