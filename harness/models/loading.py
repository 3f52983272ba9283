"""Model loading: a preset, a local directory or a Hugging Face Hub id."""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.models.device import pick_dtype, resolve_device


@dataclass
class LoadedModel:
    """A model ready for evaluation or training, with where it came from."""

    model: object
    tokenizer: object
    name: str
    source: str  # "preset" | "local" | "hub"
    path: str  # the directory or Hub id the weights were read from
    device: str
    dtype: str


def resolve_model_path(name: str, presets: dict) -> tuple[str, str]:
    """Map a model name to (source, path): a preset (built and cached), a local dir, or a Hub id."""
    if name in presets:
        from harness.models.presets import preset_path

        return "preset", str(preset_path(presets[name].item))
    if Path(name).expanduser().is_dir():
        return "local", str(Path(name).expanduser().resolve())
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise HarnessError(
            f"model {name!r}: no such directory (and not a preset: {', '.join(sorted(presets))})"
        )
    return "hub", name


def load_model(name: str, presets: dict, device: str = "auto") -> LoadedModel:
    """Load a causal LM and its tokenizer by preset name, local path or Hub id.

    A directory holding a peft adapter (``adapter_config.json``) is loaded on top of its base
    model, so the output of a LoRA run can be evaluated directly.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source, path = resolve_model_path(name, presets)
    device = resolve_device(device)
    dtype = pick_dtype(device)
    try:
        with without_loading_bar() if source != "hub" else nullcontext():
            tokenizer = AutoTokenizer.from_pretrained(path)
            if (Path(path) / "adapter_config.json").is_file():
                from peft import AutoPeftModelForCausalLM

                model = AutoPeftModelForCausalLM.from_pretrained(path, dtype=dtype)
            else:
                model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except OSError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HarnessError(f"model {name!r}: cannot load ({first_line})") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device)
    model.eval()
    torch.manual_seed(0)
    return LoadedModel(model, tokenizer, name, source, path, device, str(dtype).removeprefix("torch."))


@contextmanager
def without_loading_bar():
    """Silence transformers' "Loading weights" bar (harness shows its own progress), restoring
    the previous setting after. Used for local files only: it silences download bars too."""
    from transformers.utils import logging

    enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            logging.enable_progress_bar()


def count_parameters(model) -> tuple[int, int]:
    """(all parameters, trainable parameters)."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable
