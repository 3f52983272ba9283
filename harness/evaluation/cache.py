"""On-disk cache of the baseline ("before") evaluation of each task.

Evaluating the base model is the same work on every run that uses the same model, task and
settings, so its predictions are stored in ``<cache_root>/evals/<key>.json`` (``cache_root``
is :func:`harness.files.cache_root`, i.e. ``$HARNESS_CACHE_DIR`` or ``~/.cache/harness``)
and reused. ``cache = false`` in the config (``--no-cache`` on the command line) bypasses it.

The key (:func:`evaluation_key`, material in :func:`key_material`) is a SHA-256 over everything
that can change a prediction: the model's files (:func:`model_fingerprint`; for a peft adapter,
its base model's too), every field of the task but its data sources and description, the test
examples as loaded, the few-shot demonstrations, the prompt template and the ``[eval]`` table, the
metrics' names and implementations, the versions of the libraries that compute, the device type
and dtype, and the source of the code that makes a prediction (:data:`PREDICTION_MODULES`).

Only the :class:`~harness.evaluation.Predictions` are stored (prompts, predictions, how they
were made, and the choices' log-probabilities); nothing here scores. The caller scores a hit
afresh (:func:`harness.evaluation.scored`), which is cheap, so a hit's numbers always come
from the current metric code. A missing, unreadable, corrupt or mismatching cache file is a
miss (and is overwritten); writes are atomic (:func:`harness.files.atomic_write_json`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import importlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from harness.evaluation.predictions import Predictions
from harness.files import atomic_write_json, cache_root
from harness.tasks.fewshot import fewshot_prompts
from harness.tasks.prompting import build_prompt, context_length
from harness.versions import library_versions

CACHE_VERSION = 2
"""Bump when the key material or the stored format changes."""

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


# --------------------------------------------------------------------------------- hashing


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if hasattr(value, "items"):  # MappingProxyType and other mappings
        return dict(value.items())
    if isinstance(value, tuple):
        return list(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if callable(value):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', repr(value))}"
    return repr(value)


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
    text = backend.to_str() if backend is not None else _canonical(sorted(tokenizer.get_vocab().items()))
    return {"state_dict": digest.hexdigest(), "tokenizer": _sha256(text.encode())}


def model_fingerprint(loaded) -> dict[str, Any]:
    """What identifies the loaded weights and tokenizer (a :class:`~harness.models.LoadedModel`).

    The files of its directory (local, preset, or the Hub cache snapshot of a Hub id), else,
    when they cannot be found, a hash of the parameters in memory and of the tokenizer.
    """
    files = _model_files(loaded.path)
    if files is not None:
        return files
    return _state_fingerprint(loaded.model, loaded.tokenizer)


# --------------------------------------------------------------------------------- key


def task_material(task) -> dict[str, Any]:
    """Every field of ``task`` that can change predictions or scores (not data paths or description)."""
    skip = ("train", "test", "dev", "description")
    return {f.name: getattr(task, f.name) for f in dataclasses.fields(task) if f.name not in skip}


def examples_digest(examples: Iterable) -> str:
    """SHA-256 of the examples as loaded (every field of each example, in order)."""
    return _sha256(_canonical([dataclasses.asdict(e) for e in examples]).encode())


def metric_material(metric) -> dict[str, Any]:
    compute = metric.compute
    func = getattr(compute, "func", compute)  # functools.partial
    return {
        "name": metric.name,
        "compute": _json_default(func) if callable(func) else repr(func),
        "args": [repr(a) for a in getattr(compute, "args", ())],
        "higher_is_better": metric.higher_is_better,
        "description": metric.description,
    }


def key_material(
    loaded, task, examples: Sequence, metrics: dict, config, model_files: dict | None = None, shots=None
) -> dict[str, Any]:
    """The data :func:`evaluation_key` hashes (also stored in the cache file, for inspection)."""
    return {
        **({"fewshot": shots.material()} if shots is not None else {}),  # few-shot demonstrations
        "cache_version": CACHE_VERSION,
        "model": model_files if model_files is not None else model_fingerprint(loaded),
        "device": str(loaded.device).split(":")[0],
        "dtype": str(loaded.dtype),
        "task": task_material(task),
        "examples": examples_digest(examples),
        "n_examples": len(examples),
        "prompt_template": config.prompt(),
        "eval": dataclasses.asdict(config.eval),
        "metrics": [metric_material(metrics[name]) for name in task.metrics if name in metrics],
        "versions": library_versions(),
        "code": _code_digest(),  # the evaluation code itself: a change to it can move predictions
    }


PREDICTION_MODULES = (
    "harness.tasks.prompting",
    "harness.tasks.fewshot",
    "harness.models.loading",
    "harness.evaluation.forward",
    "harness.evaluation.generation",
    "harness.evaluation.loglik",
    "harness.evaluation.predictions",
)
"""The modules whose code shapes a prediction (prompts, the loaded model, decoding); a new one
belongs here, else the cache could serve predictions the current code would not make."""


def _code_digest() -> str:
    """Hash of the source of :data:`PREDICTION_MODULES`, in that order."""
    sources = (Path(importlib.import_module(name).__file__).read_bytes() for name in PREDICTION_MODULES)
    return _sha256(b"".join(sources))


def evaluation_key(
    loaded, task, examples: Sequence, metrics: dict, config, model_files: dict | None = None
) -> str:
    """The cache key of ``task``'s evaluation of ``loaded`` on ``examples`` (64 hex digits).

    :param model_files: a precomputed :func:`model_fingerprint` (to hash the model once per run).
    """
    material = key_material(loaded, task, examples, metrics, config, model_files)
    return _sha256(_canonical(material).encode())


# --------------------------------------------------------------------------------- store


def cache_path(key: str, cache_dir: Path | None = None) -> Path:
    """Where the entry of ``key`` lives: ``<cache_root>/evals/<key>.json``."""
    return cache_root(cache_dir) / "evals" / f"{key}.json"


def _plain(value: Any) -> Any:
    """``value`` as JSON data (tuples to lists, numpy/torch via ``tolist``), or raise TypeError."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot store a {type(value).__name__} in the evaluation cache")


def store(
    key: str,
    task_name: str,
    predictions: Predictions,
    material: dict | None = None,
    cache_dir: Path | None = None,
) -> Path | None:
    """Write ``predictions`` of task ``task_name`` under ``key``, atomically; returns the path.

    ``material`` (the :func:`key_material`) is stored as it was hashed, for inspection. Returns
    None (and writes nothing) when a field cannot be stored as JSON or the cache folder is not
    writable.
    """
    try:
        fields = {f.name: _plain(getattr(predictions, f.name)) for f in dataclasses.fields(predictions)}
    except TypeError:
        return None
    entry = {
        "cache_version": CACHE_VERSION,
        "key": key,
        "task": task_name,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "evaluation": fields,
        "material": None if material is None else json.loads(_canonical(material)),
    }
    path = cache_path(key, cache_dir)
    try:
        atomic_write_json(path, entry, fsync=False)
    except OSError:
        return None
    return path


def load(
    key: str,
    examples: Sequence,
    template: str | None = None,
    cache_dir: Path | None = None,
    prompts: Sequence[str] | None = None,
) -> Predictions | None:
    """The cached :class:`~harness.evaluation.Predictions` for ``key``, or None on a miss.

    A file that is missing, unreadable, not JSON, from another cache version, for another key,
    with the wrong number of predictions, with prompts that differ from ``prompts`` (else from
    ``template``'s uncut prompts), or that no longer fits :class:`~harness.evaluation.Predictions`
    is a miss.
    """
    path = cache_path(key, cache_dir)
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("cache_version") != CACHE_VERSION or entry.get("key") != key:
        return None
    stored = entry.get("evaluation")
    if not isinstance(stored, dict):
        return None
    predictions = stored.get("predictions")
    if (
        not isinstance(predictions, list)
        or len(predictions) != len(examples)
        or not all(isinstance(p, str) for p in predictions)
    ):
        return None
    stored_prompts = stored.get("prompts")
    if prompts is not None and stored_prompts is not None:
        if stored_prompts != list(prompts):
            return None
    elif template is not None and template != "chat" and stored_prompts is not None:  # chat: tokenizer keyed
        if stored_prompts != [build_prompt(template, e) for e in examples]:
            return None
    kwargs = {}
    for f in dataclasses.fields(Predictions):
        if f.name in stored:
            kwargs[f.name] = stored[f.name]
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            return None
    return Predictions(**kwargs)


def lookup(loaded, workload, config, cache_dir: Path | None = None) -> tuple[dict, dict]:
    """Cached baseline predictions of the tasks of ``workload``.

    :returns: ``(hits, keys)``: ``{task name: Predictions}`` for the cached tasks (to score with
        :func:`harness.evaluation.scored`) and ``{task name: (key, material)}`` for every task
        (to :func:`store_all` the others). Both are empty when ``config.cache`` is false.
    """
    if not getattr(config, "cache", True):
        return {}, {}
    model_files = model_fingerprint(loaded)
    context = context_length(loaded.model, loaded.tokenizer)
    hits, keys = {}, {}
    for task in workload.tasks:
        examples = workload.test[task.name]
        shots = getattr(workload, "shots", {}).get(task.name)
        material = key_material(loaded, task, examples, workload.metrics, config, model_files, shots)
        key = _sha256(_canonical(material).encode())
        keys[task.name] = (key, material)
        fitted = fewshot_prompts(loaded.tokenizer, config.prompt(), task, examples, context, shots)
        found = load(key, examples, config.prompt(), cache_dir, [prompt for prompt, _, _ in fitted])
        if found is not None:
            hits[task.name] = found
    return hits, keys


def store_all(keys: dict, predictions: dict[str, Predictions], cache_dir: Path | None = None) -> None:
    """Store each of ``predictions`` (``{task name: Predictions}``) under its key from :func:`lookup`."""
    for name, preds in predictions.items():
        if name in keys:
            key, material = keys[name]
            store(key, name, preds, material, cache_dir)
