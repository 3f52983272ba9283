"""Versions of the libraries that can change a result (recorded in results.json and in cache keys),
and the commit of the harness checkout."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

__version__ = "0.1.0"
"""harness's version (public as ``harness.__version__``; pyproject.toml reads it from here)."""

LIBRARIES = (
    "torch",
    "transformers",
    "peft",
    "accelerate",
    "tokenizers",
    "sacrebleu",
    "rouge-score",
    "scikit-learn",
    "evaluate",
    "pluggy",
)


def library_versions() -> dict[str, str | None]:
    """``{"python": ..., "harness": ..., <library>: version or None}``."""
    versions: dict[str, str | None] = {"python": platform.python_version(), "harness": __version__}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit() -> str | None:
    """The commit of the harness checkout, or None outside git."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
