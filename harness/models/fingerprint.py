"""What identifies a model's weights and tokenizer: content digests of its files (sampled for
very large ones; Hub cache blobs by name), an adapter's base model, else a hash of the parameters
in memory. The baseline cache keys on it (:mod:`harness.evaluation.cache`) and the reports show
it (provenance)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

FULL_HASH_LIMIT = 256 * 1024 * 1024
SAMPLE_CHUNKS = 64
CHUNK = 1024 * 1024

# files of a model folder that never change a prediction (training state, git metadata)
SKIP_FILES = {
    "training_args.bin",
    "trainer_state.json",
    "optimizer.pt",
    "scheduler.pt",
    "scaler.pt",
    ".gitattributes",
}
_HUB_BLOB = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


def file_digest(path: Path) -> str:
    """A content fingerprint of one file.

    Files up to :data:`FULL_HASH_LIMIT` (256 MiB) are hashed in full; larger weight files by
    their size, modification time and :data:`SAMPLE_CHUNKS` chunks of 1 MiB spread over the file
    (~64 MiB read for a multi-gigabyte model). Training or a re-download changes the mtime and
    the chunks; an in-place edit that keeps the mtime goes unnoticed (use ``--no-cache``). Files
    in a Hub cache (``.../blobs/<sha>``) are identified by their blob name, a content hash.
    """
    path = Path(path)
    real = Path(os.path.realpath(path))
    if real.parent.name == "blobs" and _HUB_BLOB.match(real.name):
        return f"hub-blob:{real.name}"
    stat = real.stat()
    digest = hashlib.sha256()
    with real.open("rb") as handle:
        if stat.st_size <= FULL_HASH_LIMIT:
            for block in iter(lambda: handle.read(CHUNK), b""):
                digest.update(block)
            return f"sha256:{digest.hexdigest()}"
        digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
        last = stat.st_size - CHUNK
        for i in range(SAMPLE_CHUNKS):
            handle.seek(last * i // (SAMPLE_CHUNKS - 1))
            digest.update(handle.read(CHUNK))
    return f"sampled-sha256:{digest.hexdigest()}"


def directory_fingerprint(directory: Path) -> dict[str, str]:
    """``{file name: digest}`` for the top-level files of a model directory.

    Hidden files, Markdown files and trainer state files are skipped (they never change what
    ``from_pretrained`` loads); sub-directories (checkpoints) are not read.
    """
    directory = Path(directory)
    found = {}
    for path in sorted(directory.iterdir()):
        name = path.name
        if name.startswith(".") or name.endswith(".md") or name in SKIP_FILES or name.startswith("rng_state"):
            continue
        if path.is_file():
            found[name] = file_digest(path)
    return found


def _hub_snapshot(repo_id: str) -> Path | None:
    """The local snapshot directory of a Hub model already in the Hugging Face cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:
        return None
    return Path(found).parent if isinstance(found, str) else None


def _model_files(path: str) -> dict[str, Any] | None:
    directory = Path(path)
    if not directory.is_dir():
        directory = _hub_snapshot(path)
        if directory is None:
            return None
    files: dict[str, Any] = {"files": directory_fingerprint(directory)}
    adapter = directory / "adapter_config.json"
    if adapter.is_file():
        try:
            base = json.loads(adapter.read_text(encoding="utf-8")).get("base_model_name_or_path")
        except (OSError, ValueError):
            base = None
        files["base_model"] = _model_files(base) if base else None
        if base and files["base_model"] is None:
            return None
    return files


def _state_fingerprint(model, tokenizer) -> dict[str, str]:
    """Fallback when the files are unknown: hash the parameters in memory and the tokenizer."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        data = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{data.dtype}:{tuple(data.shape)}".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    backend = getattr(tokenizer, "backend_tokenizer", None)
    vocab = sorted(tokenizer.get_vocab().items())
    text = backend.to_str() if backend is not None else json.dumps(vocab, sort_keys=True, ensure_ascii=False)
    return {"state_dict": digest.hexdigest(), "tokenizer": hashlib.sha256(text.encode()).hexdigest()}


def model_fingerprint(loaded) -> dict[str, Any]:
    """What identifies the loaded weights and tokenizer (a :class:`~harness.models.LoadedModel`).

    The files of its directory (local, preset, or the Hub cache snapshot of a Hub id), else,
    when they cannot be found, a hash of the parameters in memory and of the tokenizer.
    """
    files = _model_files(loaded.path)
    if files is not None:
        return files
    return _state_fingerprint(loaded.model, loaded.tokenizer)
