"""Reading a run configuration: a TOML file (relative paths resolved from its folder),
``key=value`` overrides (``--set``), or a saved run's table (results.json, run_state.json).
Unknown keys and badly typed values are errors naming the file, line and key; the values are then
checked by :func:`harness.validation.validate`."""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from harness.config import Config
from harness.errors import HarnessError, did_you_mean
from harness.validation import Locator, validate


def load_config(
    path: Path | None = None, overrides: list[str] = (), options: dict[str, str] | None = None
) -> Config:
    """Build a :class:`Config` from an optional TOML file and ``key=value`` overrides.

    :param options: for overrides that came from a command-line option rather than ``--set``,
        ``{override: the option as typed}`` (e.g. ``{'tasks="x"': "--tasks 'x'"}``), so that an
        error names what the user wrote."""
    raw: dict[str, Any] = {}
    locate = Locator()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise HarnessError(f"{path}: config file " + ("is a folder" if path.is_dir() else "not found"))
        text = read_text(path)
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise HarnessError(f"{path}: invalid TOML: {exc}") from None
        locate = Locator(str(path), text)
        raw = relative_to_file(raw, path.parent)
    config = _build(Config, raw, prefix="", locate=locate)
    for item in overrides:
        apply_override(config, item, locate, shown=(options or {}).get(item))
    validate(config, locate)
    return config


def relative_to_file(raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``raw`` (a config file's tables) with its relative paths read from the file's ``folder``:
    data files (``[data.<task>]``), plugin files, ``tasks_dirs`` and guard task YAML files. Output
    folders (``output_dir``, ``models_dir``) stay relative to the working directory, where a run
    writes; ``--set`` values too."""

    def resolve(value: Any, is_path=lambda v: True) -> Any:
        if isinstance(value, str) and value and is_path(value) and not Path(value).is_absolute():
            return os.path.normpath(folder / value)
        return value

    def looks_like_file(value: str) -> bool:
        return "/" in value or "\\" in value or value.endswith((".py", ".yaml", ".yml"))

    def resolve_split(spec: Any) -> Any:  # a path, or a table with a path
        return (
            {**spec, "path": resolve(spec["path"])}
            if isinstance(spec, dict) and "path" in spec
            else resolve(spec)
        )

    raw = dict(raw)
    if isinstance(raw.get("plugins"), list):
        raw["plugins"] = [resolve(p, looks_like_file) for p in raw["plugins"]]
    if isinstance(raw.get("tasks_dirs"), list):
        raw["tasks_dirs"] = [resolve(p) for p in raw["tasks_dirs"]]
    guard = raw.get("guard")
    if isinstance(guard, dict) and isinstance(guard.get("tasks"), list):
        raw["guard"] = {**guard, "tasks": [resolve(t, looks_like_file) for t in guard["tasks"]]}

    if isinstance(raw.get("data"), dict):
        data = {}
        for task, splits in raw["data"].items():
            if isinstance(splits, dict):  # else a type error, reported later with its place
                splits = {split: resolve_split(spec) for split, spec in splits.items()}
            data[task] = splits
        raw["data"] = data
    return raw


def read_text(path: Path) -> str:
    """A text file's content (a UTF-8 BOM dropped); bytes that are not UTF-8 raise one line
    naming the file, line and column."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise HarnessError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at column {column}); "
            "save the file as UTF-8"
        ) from None


def apply_override(config: Config, item: str, locate=None, shown: str | None = None) -> None:
    """Apply one ``dotted.key=value`` override; the value is parsed as TOML, else taken as a string.
    ``locate`` (a :class:`~harness.validation.Locator`) records which key the override set, and
    ``shown`` how errors name it (default ``--set 'ITEM'``)."""
    key, sep, value_text = item.partition("=")
    if not sep or not key.strip():
        raise HarnessError(f"--set {item!r}: expected KEY=VALUE, e.g. train.epochs=3")
    parts = [part.strip() for part in key.strip().split(".")]
    if locate is not None:
        locate.record(".".join(parts), item, shown)
    try:
        value = tomllib.loads(f"v = {value_text}")["v"]
    except tomllib.TOMLDecodeError:
        value = value_text
    if parts[0] == "data":
        _set_nested(config.data, parts[1:], value, item)
        return
    target: Any = config
    for depth, part in enumerate(parts):
        names = [f.name for f in dataclasses.fields(target)]
        dotted = ".".join(parts[: depth + 1])
        if part not in names:
            raise HarnessError(f"--set {item!r}: unknown config key {dotted!r}{did_you_mean(part, names)}")
        if depth == len(parts) - 1:
            hint = typing.get_type_hints(type(target))[part]
            if dataclasses.is_dataclass(hint):
                example = dataclasses.fields(hint)[0].name
                raise HarnessError(
                    f"--set {item!r}: {dotted!r} is a table; set one of its keys, e.g. {dotted}.{example}=..."
                )
            setattr(target, part, _coerce(value, hint, key.strip(), f"--set {item!r}"))
        else:
            target = getattr(target, part)
            if not dataclasses.is_dataclass(target):
                raise HarnessError(f"--set {item!r}: {dotted!r} is not a table")


def _set_nested(mapping: dict, parts: list[str], value: Any, item: str) -> None:
    if not parts or not all(parts):
        raise HarnessError(f"--set {item!r}: name a task, e.g. data.sentiment.test.path=FILE")
    for depth, part in enumerate(parts[:-1]):
        if not isinstance(mapping.get(part, {}), dict):
            dotted = ".".join(["data", *parts[: depth + 1]])
            raise HarnessError(f"--set {item!r}: cannot set a key inside a path string or value ({dotted!r})")
        mapping = mapping.setdefault(part, {})
    mapping[parts[-1]] = value


def _build(cls, raw: dict, prefix: str, locate):
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        if key not in hints:
            raise HarnessError(f"{locate(dotted)}: unknown config key {dotted!r}{did_you_mean(key, hints)}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise HarnessError(f"{locate(dotted)}: {dotted!r} must be a table")
            kwargs[key] = _build(hint, value, f"{dotted}.", locate)
        else:
            kwargs[key] = _coerce(value, hint, dotted, locate(dotted))
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, key: str, where: str) -> Any:
    origin = typing.get_origin(hint) or hint
    if origin in (list, tuple):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise HarnessError(f"{where}: {key!r} must be a list of strings, got {value!r}")
        return list(value)
    if origin is dict or origin is types.MappingProxyType:
        if not isinstance(value, dict):
            raise HarnessError(f"{where}: {key!r} must be a table, got {value!r}")
        return value
    if origin is bool:
        if not isinstance(value, bool):
            raise HarnessError(f"{where}: {key!r} must be true or false, got {value!r}")
        return value
    if origin is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise HarnessError(f"{where}: {key!r} must be an integer, got {value!r}")
        return value
    if origin is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise HarnessError(f"{where}: {key!r} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise HarnessError(f"{where}: {key!r} must be a finite number, got {value!r}")
        return float(value)
    if origin is str:
        if not isinstance(value, str):
            raise HarnessError(f"{where}: {key!r} must be a string, got {value!r}")
        return value
    return value


def config_from_dict(raw: dict[str, Any], source: str = "saved config") -> Config:
    """Rebuild a :class:`Config` from :func:`to_dict` output (e.g. a run's run_state.json)."""
    if not isinstance(raw, dict):
        raise HarnessError(f"{source}: the saved config is not a table, got {type(raw).__name__}")
    config = _build(Config, raw, prefix="", locate=Locator(source))
    validate(config, Locator(source))
    return config
