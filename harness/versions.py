"""Versions of the libraries that can change a result: recorded in results.json and in cache keys."""

from __future__ import annotations

import platform
from importlib import metadata

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
    from harness import __version__

    versions: dict[str, str | None] = {"python": platform.python_version(), "harness": __version__}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions
