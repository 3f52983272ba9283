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
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from harness.evaluation.predictions import Predictions
from harness.files import atomic_write_json, cache_root
from harness.models.fingerprint import model_fingerprint
from harness.tasks.fewshot import fewshot_prompts
from harness.tasks.prompting import build_prompt
from harness.versions import library_versions

CACHE_VERSION = 2
"""Bump when the key material or the stored format changes."""

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


# --------------------------------------------------------------------------------- key


def task_material(task) -> dict[str, Any]:
    """Every field of ``task`` that can change predictions or scores (not data paths or description)."""
    skip = ("train", "test", "dev", "description")
    return {f.name: getattr(task, f.name) for f in dataclasses.fields(task) if f.name not in skip}


def examples_digest(examples: Iterable) -> str:
    """SHA-256 of the examples as loaded (every field of each example, in order; ``messages`` and
    ``slice`` only when set, so that other examples hash as they always did)."""
    optional = ("messages", "slice")
    rows = [{k: v for k, v in dataclasses.asdict(e).items() if k not in optional or v} for e in examples]
    return _sha256(_canonical(rows).encode())


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
    loaded,
    task,
    examples: Sequence,
    metrics: dict,
    config,
    model_files: dict | None = None,
    shots=None,
    fingerprint: dict | None = None,
) -> dict[str, Any]:
    """The data :func:`evaluation_key` hashes (also stored in the cache file, for inspection).

    :param fingerprint: the backend's :meth:`~harness.models.backend.Backend.fingerprint`
        (what identifies its predictions); default: the Hugging Face one of ``loaded``."""
    if fingerprint is None:
        fingerprint = {
            "model": model_files if model_files is not None else model_fingerprint(loaded),
            "device": str(loaded.device).split(":")[0],
            "dtype": str(loaded.dtype),
        }
    return {
        **({"fewshot": shots.material()} if shots is not None else {}),  # few-shot demonstrations
        "cache_version": CACHE_VERSION,
        **fingerprint,
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
    "harness.tasks.chat",
    "harness.tasks.tokens",
    "harness.tasks.fewshot",
    "harness.models.loading",
    "harness.evaluation.forward",
    "harness.evaluation.generation",
    "harness.evaluation.greedy",
    "harness.evaluation.loglik",
    "harness.evaluation.predictions",
    "harness.evaluation.hf_backend",
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


def lookup(backend, workload, config, cache_dir: Path | None = None) -> tuple[dict, dict]:
    """Cached baseline predictions of the tasks of ``workload`` by ``backend`` (a
    :class:`~harness.models.backend.Backend`: its fingerprint keys them).

    :returns: ``(hits, keys)``: ``{task name: Predictions}`` for the cached tasks (to score with
        :func:`harness.evaluation.scored`) and ``{task name: (key, material)}`` for every task
        (to :func:`store_all` the others). Both are empty when ``config.cache`` is false.
    """
    if not getattr(config, "cache", True):
        return {}, {}
    fingerprint, context, tokenizer = backend.fingerprint(), backend.context_length(), backend.tokenizer
    hits, keys = {}, {}
    for task in workload.tasks:
        examples = workload.test[task.name]
        shots = getattr(workload, "shots", {}).get(task.name)
        material = key_material(
            None, task, examples, workload.metrics, config, shots=shots, fingerprint=fingerprint
        )
        key = _sha256(_canonical(material).encode())
        keys[task.name] = (key, material)
        fitted = fewshot_prompts(tokenizer, config.prompt(), task, examples, context, shots)
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
