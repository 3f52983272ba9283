"""Files harness writes: atomically (a reader never sees half a file), following the umask, and
the harness cache folder."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

CACHE_ENV = "HARNESS_CACHE_DIR"


def cache_root(cache_dir: Path | None = None) -> Path:
    """The harness cache: ``cache_dir``, else ``$HARNESS_CACHE_DIR``, else ``~/.cache/harness``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "harness"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str, *, fsync: bool = True) -> None:
    """Write ``text`` to ``path`` (UTF-8) via a temporary file in the same folder and a rename,
    with the permissions a plain ``open(path, "w")`` would give (0666 less the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(
    path: Path, data: Any, *, indent: int | None = None, ensure_ascii: bool = False, fsync: bool = True
) -> None:
    """:func:`atomic_write_text` of ``json.dumps(data)`` (non-JSON values as ``str``), newline-ended."""
    text = json.dumps(data, indent=indent, default=str, ensure_ascii=ensure_ascii) + "\n"
    atomic_write_text(path, text, fsync=fsync)
