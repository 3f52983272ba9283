"""JSON Lines, read and written one way for the whole package (task data, samples.jsonl, the
preset's corpus).

A record ends at ``"\\n"`` only: text may hold U+0085, U+2028 and the other characters that
:meth:`str.splitlines` also breaks on, and must come back unchanged. The writer escapes those
characters (``\\u2028``), so that a file harness writes also survives readers that split lines
the other way; the reader takes them raw, as other tools write them.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from harness.errors import DataError

# characters str.splitlines() breaks a line at that JSON leaves unescaped (the C0 ones it escapes)
_LINE_BREAKS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def dumps(row: dict) -> str:
    """One record as a JSON line (UTF-8 text kept readable, line-breaking characters escaped),
    ending in ``"\\n"``."""
    text = json.dumps(row, ensure_ascii=False)
    for char, escaped in _LINE_BREAKS.items():
        text = text.replace(char, escaped)
    return text + "\n"


def dump_all(rows: Iterable[dict]) -> str:
    """The JSON Lines text of ``rows`` (:func:`dumps` of each)."""
    return "".join(dumps(row) for row in rows)


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """``(line number, object)`` for each non-blank line of a JSON Lines file. A UTF-8 BOM at the
    start is dropped; bytes that are not UTF-8, malformed JSON and a value that is not an object
    raise a :class:`~harness.errors.DataError` naming the file, line and column."""
    path = Path(path)
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            line = decode_line(path, raw, line_no).rstrip("\r\n")
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                ended = " (the line ends early)" if exc.pos >= len(line.rstrip()) else ""
                raise DataError(
                    path, f"malformed JSON: {exc.msg} (column {exc.pos + 1}){ended}", line=line_no
                ) from None
            if not isinstance(row, dict):
                raise DataError(path, f"expected a JSON object, got {type(row).__name__}", line=line_no)
            yield line_no, row


def decode_line(path: Path, raw: bytes, line_no: int) -> str:
    """One line of a file's bytes as text: UTF-8, a BOM at the start of the file dropped; other
    bytes raise a :class:`~harness.errors.DataError` naming the line and column."""
    if line_no == 1 and raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            path,
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); save the file as UTF-8",
            line=line_no,
        ) from None
