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

    On a mixture-of-experts model (Qwen3-MoE, Mixtral...) peft puts ``all-linear``'s adapters on
    the fused expert weights too, as parameters (``ParamWrapper``), which take no dropout: there
    the adapter is built with ``lora_dropout = 0`` and a warning says so, instead of failing.

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
    if lora.lora_dropout and expert_parameters(model, lora):
        warnings.warn(
            f"lora.dropout {lora.lora_dropout} is not applied: peft's LoRA on this mixture-of-experts "
            "model's fused expert weights takes no dropout (set lora.dropout = 0 to silence this)",
            stacklevel=2,
        )
        lora.lora_dropout = 0.0
    with warnings.catch_warnings():
        # peft (0.21) reads transformers' deprecated ``is_gradient_checkpointing`` inside
        # get_peft_model: not ours to fix, and nothing the user can act on.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        # peft's MoE conversion sets a rank pattern for the fused gate/up expert weight, then warns
        # that it matched no *module* (it matches the parameter): harness sets no pattern itself.
        warnings.filterwarnings("ignore", message=".*keys did not match any targeted module.*")
        return get_peft_model(model, lora)


def expert_parameters(model, lora) -> list[str]:
    """The parameters (not modules) peft will put ``lora``'s adapters on: the fused expert
    weights of a transformers 5 mixture-of-experts model, which peft targets through the
    config conversion it applies in ``get_peft_model`` (a peft internal, so
    tests/test_architectures.py fails when it moves)."""
    import copy

    from peft.utils.transformers_weight_conversion import (
        convert_peft_config_for_transformers,
        get_model_conversion_mapping,
    )

    probe = copy.deepcopy(lora)
    convert_peft_config_for_transformers(probe, model=model, conversions=get_model_conversion_mapping(model))
    return sorted(probe.target_parameters or [])


def lora_module_names(model) -> list[str]:
    """The distinct module names (e.g. ``q_proj``, ``experts``) that carry a LoRA adapter (peft's
    own ``base_layer`` wrappers, one per adapted expert parameter, named by the module they wrap)."""
    names = set()
    for name, module in model.named_modules():
        if hasattr(module, "lora_A"):
            names.add(name.replace(".base_layer", "").rsplit(".", 1)[-1])
    return sorted(names)
