"""Tasks without Python: one TOML file per task.

A task file's keys are the :class:`~harness.tasks.Task` fields; ``train``, ``test`` and ``dev``
take what a ``[data.<task>]`` split takes (a path, or a table with ``path``, ``fields``,
``labels``, ``columns``, ``limit``, or ``dataset``/``config``/``split``), and relative paths
resolve against the file's folder. ``name`` defaults to the file's stem. Optional
``[evaluate.<metric>]`` tables declare Hugging Face ``evaluate`` metrics with their direction
and scale. Every error names ``file:line`` and the key, with a close-match suggestion::

    # tasks/topic.toml
    description = "4-way news topic"
    instruction = "Classify the topic of the news headline: World, Sports, Business or Sci/Tech."
    choices = ["World", "Sports", "Business", "Sci/Tech"]
    metrics = ["accuracy", "macro_f1"]
    test = "topic/test.jsonl"
    train = { path = "topic/train.csv", fields = { input = "headline", output = "label" } }

Found in ``./tasks/*.toml``, in every ``--tasks-dir DIR``, and in files that plugins ship
(hook ``harness_task_files``); see :mod:`harness.plugins`.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pluggy

from harness.errors import HarnessError, did_you_mean
from harness.metrics.metric import Metric
from harness.tasks.task import DataSource, Task

hookimpl = pluggy.HookimplMarker("harness")  # the same marker as harness.hookimpl

SPLITS = ("train", "test", "dev")
SOURCE_KEYS = ("path", "fields", "labels", "columns", "limit", "dataset", "config", "split")
TEXT_KEYS = ("name", "instruction", "primary_metric", "version", "description", "scoring", "slice_field")
LIST_KEYS = ("metrics", "stop", "choices")
EVALUATE_KEYS = ("module", "file", "key", "higher_is_better", "scale", "description")
TASK_KEYS = tuple(f.name for f in dataclasses.fields(Task)) + ("evaluate",)


class TaskFile:
    """A task file as a plugin: its task (``harness_tasks``) and the ``evaluate`` metrics it
    declares (``harness_metrics``). Parsed when created, so a bad file fails at start-up."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.task, self.metrics = load_task_file(self.path)

    @hookimpl
    def harness_tasks(self) -> list[Task]:
        return [self.task]

    @hookimpl
    def harness_metrics(self) -> list[Metric]:
        return list(self.metrics)


def task_files(folder: Path) -> list[Path]:
    """The ``*.toml`` task files of ``folder`` (not its sub-folders), sorted; ``_*`` skipped."""
    return sorted(p for p in Path(folder).glob("*.toml") if not p.name.startswith("_"))


def load_task_file(path: Path) -> tuple[Task, list[Metric]]:
    """The task in a TOML file and the ``evaluate`` metrics it declares.

    Raises :class:`HarnessError` naming ``file:line`` and the key for anything wrong.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{shown(path)}: cannot read task file: {exc}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        number = line.group(1) if line else len(text.splitlines())  # else: "at end of document"
        where = f"{shown(path)}:{number}"
        raise HarnessError(f"{where}: invalid TOML: {str(exc).split(' (at ')[0]}") from None
    file = _File(path, text)
    for key in raw:
        if key not in TASK_KEYS:
            raise file.error(
                key, f"unknown task key {key!r}{did_you_mean(key, TASK_KEYS)}; known: {', '.join(TASK_KEYS)}"
            )
    kwargs: dict = {"name": path.stem}
    for key, value in raw.items():
        if key in TEXT_KEYS:
            if key == "version" and isinstance(value, int) and not isinstance(value, bool):
                value = str(value)  # version = 2 reads naturally
            if not isinstance(value, str):
                raise file.error(key, f"{key!r} must be a string, got {value!r}")
        elif key in LIST_KEYS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise file.error(key, f"{key!r} must be a list of strings, got {value!r}")
        elif key == "max_new_tokens":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise file.error(key, f"'max_new_tokens' must be a positive integer, got {value!r}")
        elif key in SPLITS:
            value = source_from_table(value, file, key)
        if key != "evaluate":
            kwargs[key] = value
    for required in ("instruction", "test", "metrics"):
        if required not in raw:
            raise HarnessError(
                f"{shown(path)}: missing key {required!r} (a task needs instruction, test and metrics)"
            )
    metrics = [_evaluate_metric(name, spec, file) for name, spec in _tables(raw.get("evaluate", {}), file)]
    try:
        task = Task(**kwargs)
    except ValueError as exc:
        key = next((k for k in ("primary_metric", "scoring", "choices", "metrics") if k in raw), "metrics")
        raise file.error(key, str(exc)) from None
    return task, metrics


def source_from_table(spec, file: _File, split: str) -> DataSource:
    """A split (``train``/``test``/``dev``) of a task file as a :class:`DataSource`."""
    if isinstance(spec, str):
        spec = {"path": spec}
    if not isinstance(spec, dict) or not ("path" in spec or "dataset" in spec):
        raise file.error(
            split, f"{split!r} needs a path: a string, or a table with path = ... (or dataset = ...)"
        )
    for key in spec:
        if key not in SOURCE_KEYS:
            raise file.error(
                split,
                f"{split}: unknown key {key!r}{did_you_mean(key, SOURCE_KEYS)}; "
                f"known: {', '.join(SOURCE_KEYS)}",
            )
    for key in ("fields", "labels"):
        if not isinstance(spec.get(key, {}), dict):
            raise file.error(split, f"{split}.{key} must be a table, got {spec[key]!r}")
    columns = spec.get("columns", [])
    if isinstance(columns, str):
        columns = [c.strip() for c in columns.split(",")]
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise file.error(split, f"{split}.columns must be a list of strings, got {columns!r}")
    limit = spec.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise file.error(split, f"{split}.limit must be a positive integer, got {limit!r}")
    for key in ("path", "dataset", "config", "split"):
        if not isinstance(spec.get(key, ""), str):
            raise file.error(split, f"{split}.{key} must be a string, got {spec[key]!r}")
    path = Path(spec["path"]).expanduser() if spec.get("path") else Path()
    if spec.get("path") and not path.is_absolute():
        path = file.path.parent / path
    return DataSource(
        path=path,
        fields={str(k): str(v) for k, v in spec.get("fields", {}).items()},
        labels={str(k): str(v) for k, v in spec.get("labels", {}).items()},
        columns=tuple(columns),
        limit=limit,
        dataset=spec.get("dataset", ""),
        config=spec.get("config", ""),
        split=spec.get("split", ""),
    )


def _tables(value, file: _File):
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise file.error(
            "evaluate", "'evaluate' must hold tables: [evaluate.NAME] with module = ... or file = ..."
        )
    return value.items()


def _evaluate_metric(name: str, spec: dict, file: _File) -> Metric:
    """``[evaluate.NAME]``: an ``evaluate`` module as metric NAME, with direction and scale."""
    from harness.metrics.hf_evaluate import FILE_PREFIX, HUB_PREFIX, evaluate_metric

    where = f"evaluate.{name}"
    for key in spec:
        if key not in EVALUATE_KEYS:
            raise file.error(
                where,
                f"[{where}]: unknown key {key!r}{did_you_mean(key, EVALUATE_KEYS)}; known: "
                f"{', '.join(EVALUATE_KEYS)}",
            )
    if ("module" in spec) == ("file" in spec):
        raise file.error(where, f'[{where}] needs exactly one of module = "NAME" (Hub) or file = "PATH"')
    if "file" in spec:
        script = Path(spec["file"]).expanduser()
        reference = FILE_PREFIX + str(script if script.is_absolute() else file.path.parent / script)
    else:
        reference = HUB_PREFIX + str(spec["module"])
    if spec.get("key"):
        reference += f"#{spec['key']}"
    higher = spec.get("higher_is_better", True)
    scale = spec.get("scale", 1.0)
    if not isinstance(higher, bool):
        raise file.error(where, f"[{where}] higher_is_better must be true or false, got {higher!r}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale <= 0:
        raise file.error(where, f"[{where}] scale must be a positive number, got {scale!r}")
    return evaluate_metric(
        reference,
        alias=name,
        higher_is_better=higher,
        scale=float(scale),
        description=spec.get("description", ""),
    )


class _File:
    """A task file's path and text, for errors that name ``file:line``."""

    def __init__(self, path: Path, text: str):
        self.path, self.text = path, text

    def line(self, key: str) -> int | None:
        """The first line that assigns ``key`` or opens its table (best effort)."""
        dotted = re.escape(key).replace(r"\.", r"\s*\.\s*")
        pattern = re.compile(rf"^\s*(\[\s*{dotted}\s*\]|\"?{dotted}\"?\s*=)")
        for number, line in enumerate(self.text.splitlines(), start=1):
            if pattern.match(line):
                return number
        return None

    def error(self, key: str, message: str) -> HarnessError:
        line = self.line(key)
        return HarnessError(f"{shown(self.path)}{'' if line is None else f':{line}'}: {message}")


def shown(path: Path) -> str:
    """``path`` relative to the working directory where it is inside it, for messages."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
