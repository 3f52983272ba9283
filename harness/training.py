"""Fine-tuning with the transformers Trainer: full or LoRA (peft), loss on response tokens only."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.config import Config
from harness.prompting import IGNORE_INDEX, build_prompt, tokenize_for_training
from harness.task import Example


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


def build_train_features(
    tokenizer, examples: Sequence[Example], template: str, max_length: int
) -> list[dict]:
    """Tokenize every training example once, with labels masked on the prompt."""
    features = []
    for example in examples:
        item = tokenize_for_training(tokenizer, build_prompt(template, example), example.output, max_length)
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
    return get_peft_model(model, lora)


def fine_tune(
    loaded,
    examples: Sequence[Example],
    config: Config,
    output_dir: Path,
    on_step: Callable[[int, int], None] | None = None,
) -> tuple[object, TrainResult]:
    """Fine-tune ``loaded.model`` on ``examples`` (all tasks mixed) and save it to ``output_dir``.

    Returns the trained model (in eval mode, on the same device) and a :class:`TrainResult`.
    """
    from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments
    from transformers.utils import logging as hf_logging

    from harness.models import count_parameters

    started = time.perf_counter()
    method = resolve_method(config, loaded.source)
    model = loaded.model
    if method == "lora":
        model = apply_lora(model, config)
    model.train()
    if config.train.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False

    shuffled = list(examples)
    random.Random(config.seed).shuffle(shuffled)
    features = build_train_features(loaded.tokenizer, shuffled, config.prompt(), config.train.max_length)
    steps_per_epoch = math.ceil(len(features) / config.train.batch_size)
    total_steps = (
        config.train.max_steps
        if config.train.max_steps > 0
        else math.ceil(steps_per_epoch * config.train.epochs)
    )
    history: list[dict] = []

    class Progress(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                history.append(
                    {
                        "step": state.global_step,
                        "epoch": round(state.epoch or 0, 3),
                        "loss": float(logs["loss"]),
                    }
                )

        def on_step_end(self, args, state, control, **kwargs):
            if on_step is not None:
                on_step(state.global_step, state.max_steps)

    use_bf16 = loaded.dtype == "bfloat16"
    checkpoints = output_dir.parent / "checkpoints"
    args = TrainingArguments(
        output_dir=str(checkpoints),  # only written to when a checkpoint is saved
        per_device_train_batch_size=config.train.batch_size,
        num_train_epochs=config.train.epochs,
        max_steps=config.train.max_steps,
        learning_rate=config.train.learning_rate,
        weight_decay=config.train.weight_decay,
        lr_scheduler_type=config.train.lr_scheduler,
        warmup_steps=int(config.train.warmup_ratio * total_steps),
        logging_steps=config.train.logging_steps,
        save_strategy="no",
        report_to="none",
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=loaded.device == "cpu",
        bf16=use_bf16,
        train_sampling_strategy="group_by_length",
        remove_unused_columns=False,
        disable_tqdm=True,
        dataloader_num_workers=0,
        log_level="error",
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=features,
        data_collator=make_collator(loaded.tokenizer.pad_token_id),
        callbacks=[Progress()],
    )
    trainer.remove_callback(PrinterCallback)  # progress is shown by harness, not printed as dicts
    hf_logging.disable_progress_bar()
    output = trainer.train()
    if checkpoints.is_dir() and not any(checkpoints.iterdir()):
        checkpoints.rmdir()
    model = trainer.model
    model.eval()
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    loaded.tokenizer.save_pretrained(output_dir)
    _, trainable = count_parameters(model)
    final_loss = history[-1]["loss"] if history else float(output.training_loss)
    return model, TrainResult(
        method=method,
        steps=output.global_step,
        epochs=config.train.epochs,
        train_examples=len(features),
        final_loss=final_loss,
        trainable_parameters=trainable,
        output_dir=str(output_dir),
        duration=time.perf_counter() - started,
        loss_history=history,
    )
