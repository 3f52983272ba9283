"""Shared fixtures: the shared data folder, a JSONL writer and an isolated harness cache."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _harness_cache_dir(tmp_path_factory):
    """Point ``HARNESS_CACHE_DIR`` at one session-wide temporary folder unless the caller set it.

    Session scope so that a preset built by one test is reused by the others; tests never
    write to ``~/.cache/harness``.
    """
    if os.environ.get("HARNESS_CACHE_DIR"):
        yield Path(os.environ["HARNESS_CACHE_DIR"])
        return
    cache = tmp_path_factory.mktemp("harness-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_CACHE_DIR", str(cache))
        yield cache


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data sets in ``../shared/data`` (skipped when the folder is not there)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found: {SHARED_DATA}")
    return SHARED_DATA


def _write_jsonl(path: Path, rows: Iterable[dict]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


@pytest.fixture
def write_jsonl() -> Callable[[Path, Iterable[dict]], Path]:
    """``write_jsonl(path, rows)`` writes one JSON object per line and returns ``path``."""
    return _write_jsonl
