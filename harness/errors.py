"""User-facing errors: one clear line, exit code 2, no traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class HarnessError(Exception):
    """An error in the user's input (config, data, names). The CLI prints it on one line."""

    exit_code = 2


class DataError(HarnessError):
    """Bad data: names the file, the line and the field at fault."""

    def __init__(self, path: str | Path, message: str, line: int | None = None, field: str | None = None):
        self.path, self.line, self.field = str(path), line, field
        where = self.path if line is None else f"{self.path}:{line}"
        if field is not None:
            where += f": field {field!r}"
        super().__init__(f"{where}: {message}")


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest of ``choices``, or an empty string."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> HarnessError:
    """The error for an unknown task/metric/preset name, with a close-match suggestion."""
    choices = sorted(choices)
    return HarnessError(
        f"unknown {kind} {name!r}{did_you_mean(name, choices)}; known: {', '.join(choices) or 'none'}"
    )
