"""Files harness writes: atomically (a reader never sees half a file), following the umask, and
the harness cache folder."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
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


def temporary_dir(parent: Path, prefix: str, suffix: str = "") -> Path:
    """A new, uniquely named folder in ``parent`` with the permissions ``mkdir`` would give (0777
    less the umask; ``tempfile.mkdtemp`` alone makes it 0700), to be renamed into place."""
    folder = Path(tempfile.mkdtemp(dir=parent, prefix=prefix, suffix=suffix))
    os.chmod(folder, 0o777 & ~_umask())
    return folder


@contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Fill a folder that appears at ``path`` all at once: the block writes into a temporary
    folder next to it (same filesystem) that is renamed to ``path`` when the block succeeds, and
    removed when it fails. An existing ``path`` is replaced (its old content is moved aside first,
    so a reader sees the old set or the new one, never a mix). Permissions follow the umask."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_dir(path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        yield tmp
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
            os.replace(path, old / path.name)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old / path.name, path)  # put the old set back
                raise
            finally:
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_new_file(path: Path, data: str | bytes) -> None:
    """Write a file that nobody reads yet (inside :func:`atomic_dir`), synced to disk, with the
    umask's permissions."""
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode, **({} if isinstance(data, bytes) else {"encoding": "utf-8"})) as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
