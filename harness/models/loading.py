"""Model loading: a preset, a local directory or a Hugging Face Hub id.

:func:`check_model` inspects what :func:`load_model` would read, before it is read: a folder's
``config.json``, weights (safetensors complete, pickle only when allowed) and tokenizer; a Hub id
in the local cache when the Hub is offline or unreachable. Each problem is one line.
"""

from __future__ import annotations

import json
import os
import re
import socket
import struct
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from harness.errors import HarnessError, did_you_mean
from harness.models.device import pick_dtype, resolve_device
from harness.progress import without_loading_bar


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
    origin: dict | None = None  # a preset's provenance (package, file hashes, license), when it has one


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


def load_model(
    name: str,
    presets: dict,
    device: str = "auto",
    allow_pickle: bool = False,
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Load a causal LM and its tokenizer by preset name, local path or Hub id.

    A directory holding a peft adapter (``adapter_config.json``) is loaded on top of its base
    model, so the output of a LoRA run can be evaluated directly. Weights are read from
    safetensors only unless ``allow_pickle``; a model's own code runs only with ``trust_remote_code``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_model(name, presets, allow_pickle, trust_remote_code)
    source, path = resolve_model_path(name, presets)
    device = resolve_device(device)
    dtype = pick_dtype(device)
    options = {"trust_remote_code": trust_remote_code}
    weights = {**options, "dtype": dtype, **({} if allow_pickle else {"use_safetensors": True})}
    try:
        with without_loading_bar() if source != "hub" else nullcontext():
            tokenizer = AutoTokenizer.from_pretrained(path, **options)
            if (Path(path) / "adapter_config.json").is_file():
                from peft import AutoPeftModelForCausalLM

                model = AutoPeftModelForCausalLM.from_pretrained(path, **weights)
            else:
                model = AutoModelForCausalLM.from_pretrained(path, **weights)
    except (OSError, ValueError, KeyError) as exc:  # what transformers raises for a model it cannot read
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HarnessError(f"model {name!r}: cannot load ({type(exc).__name__}: {first_line})") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device)
    model.eval()
    torch.manual_seed(0)
    dtype_name = str(dtype).removeprefix("torch.")
    origin = preset_origin(path) if source == "preset" else None
    return LoadedModel(model, tokenizer, name, source, path, device, dtype_name, origin)


def preset_origin(path: str) -> dict | None:
    """The ``provenance`` a preset's build recorded in its folder's ``harness_preset.json``."""
    try:
        info = json.loads((Path(path) / "harness_preset.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info.get("provenance") if isinstance(info, dict) else None


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model", "spiece.model")
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


def check_model(
    name: str, presets: dict, allow_pickle: bool = False, trust_remote_code: bool = False
) -> None:
    """Raise one line for a model that :func:`load_model` would fail on or should refuse, without
    loading it: see the module's docstring. A preset is fine when it can be built here (its
    ``check``: e.g. the package it converts is installed)."""
    if name in presets:
        check = getattr(presets[name].item, "check", None)
        if check is not None:
            check()
        return
    folder = Path(name).expanduser()
    if folder.is_dir():
        check_model_dir(folder, allow_pickle, trust_remote_code)
        return
    if folder.exists():
        raise HarnessError(f"model {name!r}: is a file; give the model's folder")
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or not HUB_ID.fullmatch(name):
        raise HarnessError(
            f"model {name!r}: no such folder, and not a preset or Hub id{_suggestion(name, presets)}"
        )
    _check_hub_id(name, presets)


def check_model_dir(folder: Path, allow_pickle: bool, trust_remote_code: bool) -> None:
    """A model (or LoRA adapter) folder: its config, weights and tokenizer."""
    where = f"model folder {str(folder)!r}"
    files = {path.name: path for path in folder.iterdir() if path.is_file()}
    if not files:
        raise HarnessError(f"{where}: is empty (expected config.json, weights and tokenizer files)")
    adapter = "adapter_config.json" in files
    config_name = "adapter_config.json" if adapter else "config.json"
    if config_name not in files:
        raise HarnessError(f"{where}: no config.json; is this a model saved with save_pretrained?")
    config = _json_file(files[config_name], where)
    if not adapter:
        _check_architecture(config, where, trust_remote_code)
    weights = sorted(name for name in files if name.endswith(WEIGHT_SUFFIXES))
    safe = [name for name in weights if name.endswith(".safetensors")]
    if not weights:
        raise HarnessError(f"{where}: no weights (expected model.safetensors)")
    if not safe and not allow_pickle:
        raise HarnessError(
            f"{where}: only pickle weights ({', '.join(weights)}), which can run code when loaded; "
            "convert them to safetensors, or set allow_pickle = true if you trust this model"
        )
    for name in safe:
        _check_safetensors(files[name], where)
    if "model.safetensors.index.json" in files:  # a sharded checkpoint: every shard present
        shards = _json_file(files["model.safetensors.index.json"], where).get("weight_map") or {}
        missing = sorted({str(shard) for shard in shards.values()} - set(files))
        if missing:
            raise HarnessError(
                f"{where}: shard {missing[0]} named by model.safetensors.index.json is missing"
            )
    if not any(name in files for name in TOKENIZER_FILES):
        raise HarnessError(f"{where}: no tokenizer files (expected tokenizer.json or tokenizer_config.json)")


def _json_file(path: Path, where: str) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8-sig"))
    except (ValueError, OSError) as exc:
        raise HarnessError(f"{where}: {path.name} is not valid JSON ({exc})") from None
    if not isinstance(value, dict) or not value:
        raise HarnessError(f"{where}: {path.name} is empty or not a JSON object")
    return value


def _check_architecture(config: dict, where: str, trust_remote_code: bool) -> None:
    if config.get("auto_map") and not trust_remote_code:
        raise HarnessError(
            f"{where}: needs its own Python code (config.json auto_map) to load; set "
            "trust_remote_code = true only if you trust that code"
        )
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise HarnessError(f"{where}: config.json names no model_type")
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if model_type not in CONFIG_MAPPING and not config.get("auto_map"):
        known = list(CONFIG_MAPPING.keys())
        raise HarnessError(
            f"{where}: unknown architecture model_type {model_type!r}{did_you_mean(model_type, known)} "
            "for this transformers version"
        )


def _check_safetensors(path: Path, where: str) -> None:
    """The header of a safetensors file, and that the file holds every byte the header names."""
    size = path.stat().st_size
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if 8 + length > size:
                raise ValueError
            header = json.loads(handle.read(length))
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    except (struct.error, ValueError, KeyError, TypeError, IndexError, AttributeError):
        raise HarnessError(f"{where}: {path.name} is not a safetensors file (corrupt header)") from None
    if 8 + length + end > size:
        raise HarnessError(
            f"{where}: {path.name} is truncated ({size} of {8 + length + end} bytes); save or copy it again"
        )


def _check_hub_id(name: str, presets: dict) -> None:
    """An uncached Hub id fails at once when the Hub is offline or cannot be reached."""
    from huggingface_hub import constants, try_to_load_from_cache

    try:
        if isinstance(try_to_load_from_cache(name, "config.json"), str):
            return
    except ValueError as exc:  # huggingface_hub's HFValidationError: not a valid repo id
        raise HarnessError(f"model {name!r}: not a preset, a folder, or a valid Hub id ({exc})") from None
    offline = constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    if offline:
        reason = "HF_HUB_OFFLINE is set"
    elif not _reachable(constants.ENDPOINT):
        reason = f"{constants.ENDPOINT} cannot be reached"
    else:
        return
    raise HarnessError(
        f"model {name!r}: not a preset, a folder, or a Hub model in the local cache, and {reason}"
        f"{_suggestion(name, presets)}"
    )


def _reachable(endpoint: str, timeout: float = 3.0) -> bool:
    url = urlparse(endpoint)
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _suggestion(name: str, presets: dict) -> str:
    """`` (did you mean 'x'?)`` against the presets and the folders of the working directory."""
    folders = [path.name for path in Path.cwd().iterdir() if path.is_dir() and not path.name.startswith(".")]
    return did_you_mean(name, [*presets, *folders]) or f"; presets: {', '.join(sorted(presets)) or 'none'}"


def count_parameters(model) -> tuple[int, int]:
    """(all parameters, trainable parameters)."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable
