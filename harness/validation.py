"""Checks on a run's configuration beyond types: every value that transformers, peft or the file
system would reject later is rejected here, before any model is loaded, on one line naming where
it was set (``file:line``, ``--set 'key=value'`` or ``config``).

Nothing here imports torch or transformers.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from harness.config import CHOICES, PROMPT_TEMPLATES, Config, train_task_weights
from harness.errors import HarnessError, did_you_mean
from harness.trackers import check_trackers

# transformers.trainer_utils.FSDPOption, copied so that validating needs no transformers import
FSDP_OPTIONS = (
    "full_shard",
    "shard_grad_op",
    "no_shard",
    "hybrid_shard",
    "hybrid_shard_zero2",
    "offload",
    "auto_wrap",
)
DATA_SPLITS = ("train", "test")
SOURCE_KEYS = ("path", "fields", "labels", "columns", "limit")
KNOWN_FIELDS = ("instruction", "input", "output", "id", "references")
MAX_SEED = 2**32 - 1  # numpy's limit; transformers' set_seed seeds numpy too
MAX_SEEDS = 100  # tunings in one seed set

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_ASSIGNMENT = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")


def _dotted(text: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in text.split("."))


class Locator:
    """Where a config key was set: ``--set 'key=value'`` for an override, ``file:line`` for a
    key of the config file (tables and dotted keys followed), else the file, else ``config``."""

    def __init__(self, source: str = "config", text: str = ""):
        self.source, self.lines = source, text.splitlines()
        self.overrides: list[tuple[str, str]] = []  # (dotted key, how to name the override), in order

    def record(self, dotted: str, item: str, shown: str | None = None) -> None:
        """Remember that ``--set item`` (or the option ``shown``) set ``dotted``."""
        self.overrides.append((dotted, shown or f"--set {item!r}"))

    def __call__(self, dotted: str) -> str:
        for key, shown in reversed(self.overrides):
            if key == dotted or dotted.startswith(f"{key}.") or key.startswith(f"{dotted}."):
                return shown
        line = self.line_of(dotted)
        return f"{self.source}:{line}" if line else self.source

    def line_of(self, dotted: str) -> int | None:
        """The line assigning ``dotted`` (or the inline table or table header holding it)."""
        table, fallback = "", None
        for number, line in enumerate(self.lines, start=1):
            header = _HEADER.match(line)
            if header:
                table = _dotted(header.group(1))
                if table == dotted:
                    return number
                if dotted.startswith(f"{table}."):
                    fallback = number
                continue
            assignment = _ASSIGNMENT.match(line)
            if assignment:
                key = _dotted(assignment.group(1))
                full = f"{table}.{key}" if table else key
                if full == dotted or dotted.startswith(f"{full}."):
                    return number
        return fallback


def validate(config: Config, locate: Locator | None = None) -> None:
    """Check values that types alone do not catch; raise :class:`HarnessError` at the first."""
    at = locate or Locator()

    def check(ok: bool, key: str, message: str) -> None:
        if not ok:
            raise HarnessError(f"{at(key)}: {message}")

    for key, value in (("method", config.method), ("train.lr_scheduler", config.train.lr_scheduler)):
        choices = CHOICES[key.rsplit(".", 1)[-1]]
        check(
            value in choices,
            key,
            f"{key} must be one of {', '.join(choices)}, got {value!r}{did_you_mean(value, choices)}",
        )
    correction = config.stats.correction
    check(
        correction in CHOICES["correction"],
        "stats.correction",
        f"stats.correction must be one of {', '.join(CHOICES['correction'])}, got {correction!r}"
        f"{did_you_mean(correction, CHOICES['correction'])}",
    )
    check(bool(config.model.strip()), "model", "model is empty; name a preset, Hub id or directory")
    positive = {
        "train.batch_size": config.train.batch_size,
        "eval.batch_size": config.eval.batch_size,
        "train.max_length": config.train.max_length,
        "train.logging_steps": config.train.logging_steps,
        "lora.r": config.lora.r,
        "lora.alpha": config.lora.alpha,
        "stats.n_resamples": config.stats.n_resamples,
    }
    for key, value in positive.items():
        check(value > 0, key, f"{key} must be positive, got {value}")
    train = config.train
    check(
        train.epochs > 0 or train.max_steps > 0,
        "train.epochs",
        "train.epochs must be positive (or set train.max_steps)",
    )
    check(train.max_steps != 0, "train.max_steps", "train.max_steps must be positive, or -1 to use epochs")
    check(
        train.max_steps >= -1,
        "train.max_steps",
        f"train.max_steps must be -1 or positive, got {train.max_steps}",
    )
    check(
        train.learning_rate > 0,
        "train.learning_rate",
        f"train.learning_rate must be positive, got {train.learning_rate}",
    )
    for key, value, high in (
        ("train.warmup_ratio", train.warmup_ratio, 1.0),
        ("train.weight_decay", train.weight_decay, 1.0),
    ):
        check(0 <= value <= high, key, f"{key} must be between 0 and {high:g}, got {value:g}")
    dropout = config.lora.dropout
    check(0 <= dropout < 1, "lora.dropout", f"lora.dropout must be at least 0 and below 1, got {dropout:g}")
    check(0 <= config.seed <= MAX_SEED, "seed", f"seed must be between 0 and {MAX_SEED}, got {config.seed}")
    check(
        -1 <= config.train.seed <= MAX_SEED,
        "train.seed",
        f"train.seed must be -1 (the run's seed) or between 0 and {MAX_SEED}, got {config.train.seed}",
    )
    check(
        1 <= config.seeds <= MAX_SEEDS,
        "seeds",
        f"seeds must be between 1 and {MAX_SEEDS}, got {config.seeds}",
    )
    check(
        config.seed + config.seeds - 1 <= MAX_SEED,
        "seeds",
        f"seed + seeds - 1 must be at most {MAX_SEED} (the last training seed)",
    )
    check(
        config.stats.min_effect >= 0,
        "stats.min_effect",
        f"stats.min_effect must be >= 0, got {config.stats.min_effect}",
    )
    check(
        0 < config.stats.alpha < 1,
        "stats.alpha",
        f"stats.alpha must be between 0 and 1, got {config.stats.alpha}",
    )
    check(config.eval.limit >= 0, "eval.limit", f"eval.limit must be >= 0 (0 = all), got {config.eval.limit}")
    shots = config.eval.num_fewshot
    check(shots >= 0, "eval.num_fewshot", f"eval.num_fewshot must be >= 0 (0 = zero-shot), got {shots}")
    check(config.threads >= 0, "threads", f"threads must be >= 0 (0 = one per core), got {config.threads}")
    guard = config.guard
    for key, value in (("guard.limit", guard.limit), ("guard.num_fewshot", guard.num_fewshot)):
        check(value >= 0, key, f"{key} must be >= 0, got {value}")
    check(
        guard.batch_size > 0, "guard.batch_size", f"guard.batch_size must be positive, got {guard.batch_size}"
    )
    clashing = sorted(set(guard.tasks) & set(config.tasks))
    check(
        not clashing,
        "guard.tasks",
        f"{', '.join(clashing)} in both tasks and guard.tasks; name each task once",
    )
    documents = config.forgetting.documents
    check(
        documents >= 0,
        "forgetting.documents",
        f"forgetting.documents must be >= 0 (0 = all), got {documents}",
    )
    check(
        not (config.forgetting.enabled and "forgetting" in [*config.tasks, *guard.tasks]),
        "forgetting.enabled",
        "a task named 'forgetting' clashes with the forgetting probe's row; rename it or disable the probe",
    )
    for key in ("eval_every", "dev_size", "patience", "save_every"):
        value = getattr(train, key)
        check(value >= 0, f"train.{key}", f"train.{key} must be >= 0, got {value}")
    _check_names(config, check)
    _check_engines(train, check)
    check_trackers(config.train.report_to)  # each named tracker known and installed
    for key in ("output_dir", "models_dir"):
        check(bool(getattr(config, key).strip()), key, f"{key} is empty; name a folder")
    template = config.prompt()
    named = [*PROMPT_TEMPLATES, "chat"]
    check(
        template == "chat" or "{input}" in template,
        "prompt_template",
        f"prompt_template {config.prompt_template!r} is not one of {', '.join(named)}"
        f"{did_you_mean(config.prompt_template, named)} nor a template containing {{input}}",
    )
    device = config.device
    check(
        device in ("auto", "cpu", "cuda", "mps") or re.fullmatch(r"cuda:\d+", device) is not None,
        "device",
        f"device must be auto, cpu, cuda or cuda:N, got {device!r}",
    )
    check_data_tables(config.data, at)


def _check_names(config: Config, check) -> None:
    """Task lists: not empty, no blank or repeated name; train_tasks within tasks; select_by."""
    check(bool(config.tasks), "tasks", "tasks is empty; name at least one task")
    for name in config.tasks:
        check(bool(name.strip()), "tasks", f"tasks has an empty name: {config.tasks!r}")
        check(config.tasks.count(name) == 1, "tasks", f"tasks names {name!r} twice; list each task once")
    if isinstance(config.train_tasks, list):
        for name in config.train_tasks:
            check(config.train_tasks.count(name) == 1, "train_tasks", f"train_tasks names {name!r} twice")
    try:
        weights = train_task_weights(config)
    except HarnessError as exc:
        check(False, "train_tasks", str(exc).removeprefix("config: "))
    for name, weight in weights.items():
        check(
            name in config.tasks,
            "train_tasks",
            f"train_tasks names {name!r}, which is not in tasks (every trained task is also evaluated)"
            f"{did_you_mean(name, config.tasks)}",
        )
        check(
            math.isfinite(weight) and weight > 0,
            "train_tasks",
            f"train_tasks weight of {name!r} must be positive, got {weight}; leave the task out of "
            "train_tasks instead",
        )
    trained = list(weights) or config.tasks
    select_by = config.train.select_by
    check(
        select_by in ("mean", "last") or select_by in trained,
        "train.select_by",
        f"train.select_by must be mean, last or a trained task, got {select_by!r}"
        f"{did_you_mean(select_by, trained)}",
    )
    targets = config.lora.target_modules
    check(bool(targets), "lora.target_modules", 'lora.target_modules is empty; e.g. ["all-linear"]')
    check(
        all(t.strip() for t in targets),
        "lora.target_modules",
        f"lora.target_modules has an empty name: {targets!r}",
    )


def _check_engines(train, check) -> None:
    """``train.fsdp`` options as TrainingArguments knows them; ``train.deepspeed`` a readable JSON
    file and the deepspeed package installed."""
    for option in train.fsdp.split():
        check(
            option in FSDP_OPTIONS,
            "train.fsdp",
            f"train.fsdp: unknown option {option!r}{did_you_mean(option, FSDP_OPTIONS)}; "
            f"known: {', '.join(FSDP_OPTIONS)}",
        )
    check(
        not (train.fsdp and train.deepspeed),
        "train.deepspeed",
        "train.fsdp and train.deepspeed: set one, not both",
    )
    if not train.deepspeed:
        return
    path = Path(train.deepspeed).expanduser()
    check(path.is_file(), "train.deepspeed", f"train.deepspeed: {path}: no such file")
    try:
        json.loads(path.read_text(encoding="utf-8-sig"))
    except (ValueError, OSError) as exc:
        check(False, "train.deepspeed", f"train.deepspeed: {path}: not a JSON file ({exc})")
    check(
        importlib.util.find_spec("deepspeed") is not None,
        "train.deepspeed",
        "train.deepspeed is set but the deepspeed package is not installed (pip install deepspeed)",
    )


def check_data_tables(data: dict[str, Any], at) -> None:
    """``[data.<task>]``: each split a path or a table of :data:`SOURCE_KEYS` of the right types."""
    for task, splits in data.items():
        where = f"data.{task}"
        if not isinstance(splits, dict):
            raise HarnessError(
                f"{at(where)}: {where} must be a table of splits (train, test), got {splits!r}"
            )
        for split, spec in splits.items():
            key = f"{where}.{split}"
            if split not in DATA_SPLITS:
                raise HarnessError(
                    f"{at(key)}: unknown split {split!r} in [{where}]{did_you_mean(split, DATA_SPLITS)}; "
                    "use train or test"
                )
            if isinstance(spec, str):
                spec = {"path": spec}
            if not isinstance(spec, dict):
                raise HarnessError(
                    f"{at(key)}: {key} must be a path or a table with path = ..., got {spec!r}"
                )
            _check_source(spec, key, at)


def _check_source(spec: dict, key: str, at) -> None:
    def fail(name: str, message: str) -> None:
        raise HarnessError(f"{at(f'{key}.{name}')}: {key}.{name} {message}")

    for name in spec:
        if name not in SOURCE_KEYS:
            fail(name, f"is not a data key{did_you_mean(name, SOURCE_KEYS)}; known: {', '.join(SOURCE_KEYS)}")
    path = spec.get("path", "")
    if "path" in spec and (not isinstance(path, str) or not path.strip()):
        fail("path", f"must be a file path, got {path!r}")
    fields = spec.get("fields", {})
    if not isinstance(fields, dict) or not all(isinstance(v, str) and v for v in fields.values()):
        fail("fields", f'must be a table {{field = "column"}}, got {fields!r}')
    for name in fields:
        if name not in KNOWN_FIELDS:
            fail(
                "fields",
                f"maps unknown field {name!r}{did_you_mean(name, KNOWN_FIELDS)}; "
                f"known: {', '.join(KNOWN_FIELDS)}",
            )
    labels = spec.get("labels", {})
    if not isinstance(labels, dict) or not all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in labels.values()
    ):
        fail("labels", f'must be a table {{raw = "label"}}, got {labels!r}')
    columns = spec.get("columns", [])
    if isinstance(columns, str):  # "input,output": names, as for the list keys of the config
        columns = [c.strip() for c in columns.split(",")]
    if not isinstance(columns, list) or not all(isinstance(c, str) and c.strip() for c in columns):
        fail("columns", f"must be a list of column names, got {spec.get('columns')!r}")
    if len(set(columns)) != len(columns):
        fail("columns", f"names a column twice: {columns!r}")
    limit = spec.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        fail("limit", f"must be a positive integer, got {limit!r} (the examples to keep)")
    if "path" not in spec:
        raise HarnessError(f"{at(key)}: {key} needs a path (a string or a table with path = ...)")


def check_writable(config: Config, train: bool) -> None:
    """``output_dir`` (and ``models_dir`` for a run that trains) can be created and written: a
    file is created and removed in the nearest existing folder. Raises on the first that cannot."""
    keys = ("output_dir", "models_dir") if train else ("output_dir",)
    for key in keys:
        folder = Path(getattr(config, key)).expanduser()
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise HarnessError(f"{key} {str(folder)!r}: {existing} is a file, not a folder")
        try:
            handle, name = tempfile.mkstemp(prefix=".harness-write-test-", dir=existing)
            os.close(handle)
            os.unlink(name)
        except OSError as exc:
            raise HarnessError(
                f"{key} {str(folder)!r}: cannot write in {existing} ({exc.strerror})"
            ) from None
