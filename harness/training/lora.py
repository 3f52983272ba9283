"""The fine-tuning method: full, or LoRA adapters (peft) on the model's linear layers."""

from __future__ import annotations

import warnings

from harness.config import Config


def resolve_method(config: Config, model_source: str) -> str:
    """``auto`` means full fine-tuning for embedded presets, LoRA for pretrained models."""
    if config.method != "auto":
        return config.method
    return "full" if model_source == "preset" else "lora"


def check_targets(model, config: Config) -> None:
    """Every name in ``lora.target_modules`` matches a module of ``model`` (as peft matches a list:
    the module's name or its last dotted parts); raises one line naming the misses otherwise."""
    from harness.errors import HarnessError, did_you_mean

    targets = config.lora.target_modules
    if targets == ["all-linear"]:
        return
    names = [name for name, _ in model.named_modules() if name]
    missing = [t for t in targets if not any(n == t or n.endswith(f".{t}") for n in names)]
    if missing:
        leaves = sorted({name.rsplit(".", 1)[-1] for name in names})
        raise HarnessError(
            f"config: lora.target_modules {missing!r} match no module of this model"
            f"{did_you_mean(missing[0], leaves)}; its modules include {', '.join(leaves[:12])}"
        )


def apply_lora(model, config: Config):
    """Wrap ``model`` with a peft LoRA adapter built from ``config.lora``.

    The adapter weights are initialised from torch's global RNG, so this must run between loading
    the model and creating the Trainer, with no other RNG consumer in between.
    """
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
