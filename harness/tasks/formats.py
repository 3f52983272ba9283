"""Readers for the data formats beyond JSONL and CSV/TSV (which live in :mod:`harness.tasks.data`):
a JSON array (Alpaca's usual ``[{...}, {...}]`` file), Parquet (pyarrow), a Hugging Face
``datasets`` dataset, and chat ``messages`` rows.

Each reader yields ``(line, row)`` pairs like the others: ``line`` is the line of a JSON
array's element, the 1-based row of a Parquet file or dataset, so errors name ``file:line``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from harness.errors import DataError, HarnessError
from harness.jsonl import read_jsonl

DATASETS_EXTRA = "pip install 'harness[datasets]'"


def read_json(path: Path) -> Iterator[tuple[int, dict]]:
    """A ``.json`` file: a JSON array of objects (Alpaca), or JSON Lines when it does not start
    with ``[``. Yields each object with the line it starts on."""
    text = path.read_text(encoding="utf-8-sig")
    start = len(text) - len(text.lstrip())
    if not text[start:].startswith("["):
        yield from read_jsonl(path)
        return
    decoder = json.JSONDecoder()
    position = _skip(text, start + 1)
    index = 0
    while position < len(text) and text[position] != "]":
        line = text.count("\n", 0, position) + 1
        try:
            row, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise DataError(
                path, f"malformed JSON: {exc.msg} (column {exc.colno})", line=exc.lineno
            ) from None
        index += 1
        if not isinstance(row, dict):
            raise DataError(
                path, f"element {index} of the array is {type(row).__name__}, not an object", line=line
            )
        yield line, row
        position = _skip(text, position)
        if position < len(text) and text[position] == ",":
            position = _skip(text, position + 1)
        elif position < len(text) and text[position] != "]":
            line = text.count("\n", 0, position) + 1
            raise DataError(path, "malformed JSON array: expected ',' or ']' between elements", line=line)
    if position >= len(text):
        raise DataError(path, "malformed JSON array: no closing ']' (is the file cut short?)")


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def read_parquet(path: Path) -> Iterator[tuple[int, dict]]:
    """A Parquet file (needs ``pyarrow``), row by row."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(path, "reading Parquet needs pyarrow: pip install 'harness[parquet]'") from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises its own error types for a bad file
        raise DataError(path, f"not a readable Parquet file: {_first_line(exc)}") from None
    yield from enumerate(table.to_pylist(), start=1)


def read_dataset(name: str, config: str, split: str, label: str) -> Iterator[tuple[int, dict]]:
    """A Hugging Face ``datasets`` dataset by name (or local folder), config and split.

    One line when the extra is missing or the dataset cannot be loaded (offline, unknown name).
    """
    try:
        import datasets
    except ImportError:
        raise HarnessError(
            f"{label}: Hugging Face datasets need the datasets extra: {DATASETS_EXTRA}"
        ) from None
    try:
        data = datasets.load_dataset(name, config or None, split=split or "train")
    except Exception as exc:
        offline = "offline, or " if _offline() else ""
        cause = exc
        while cause.__cause__ is not None:  # datasets wraps the reason ("An error occurred ...")
            cause = cause.__cause__
        reach = isinstance(cause, OSError) or any(
            w in type(cause).__name__ for w in ("NotFound", "Connection")
        )
        hint = f" ({offline}the Hub unreachable? a local JSONL/Parquet file works offline)" if reach else ""
        raise HarnessError(
            f"{label}: cannot load dataset {name!r}"
            f"{f' (config {config!r})' if config else ''}: {_first_line(cause)}{hint}"
        ) from None
    for row_no, row in enumerate(data, start=1):
        yield row_no, dict(row)


def _offline() -> bool:
    import os

    return any(
        os.environ.get(v, "").upper() in ("1", "TRUE", "ON", "YES")
        for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def from_messages(path: Path, line: int, messages) -> dict:
    """A chat row (``messages``: a list of ``{role, content}``) as a canonical row: the last
    ``assistant`` turn is the ``output``; the turns before it are the ``input`` (a transcript,
    ``role: content`` per line); a leading ``system`` turn is the ``instruction``; and
    ``messages`` is the whole conversation as a tuple of ``(role, content)`` pairs.

    With ``prompt_template = "chat"`` the conversation itself is trained (every assistant turn
    supervised) and prompted (:mod:`harness.tasks.chat`); with other templates the flattened
    fields are, the final assistant turn supervised (see docs/plugins.md, "Chat data").
    """
    if not isinstance(messages, list) or not messages:
        raise DataError(
            path, "expected a non-empty list of {role, content} objects", line=line, field="messages"
        )
    turns = []
    for i, turn in enumerate(messages, start=1):
        if (
            not isinstance(turn, dict)
            or not isinstance(turn.get("role"), str)
            or not isinstance(turn.get("content"), str)
        ):
            raise DataError(
                path,
                f"turn {i} is not an object with string 'role' and 'content'",
                line=line,
                field="messages",
            )
        turns.append((turn["role"], turn["content"]))
    if turns[-1][0] != "assistant":
        raise DataError(
            path, "the last turn must be the assistant's (the answer to learn)", line=line, field="messages"
        )
    row: dict = {"output": turns[-1][1], "messages": tuple(turns)}
    history = turns[:-1]
    if history and history[0][0] == "system":
        row["instruction"] = history[0][1]
        history = history[1:]
    if not history:
        raise DataError(path, "no user turn before the assistant's answer", line=line, field="messages")
    row["input"] = (
        history[0][1] if len(history) == 1 else "\n".join(f"{role}: {text}" for role, text in history)
    )
    return row
