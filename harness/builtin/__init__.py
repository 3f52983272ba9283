"""Where the built-in tasks live once installed.

The three built-in task plugins are written in the repository's top-level ``plugins/`` folder and
their data in ``tasks/``, like any user's plugins. The build maps those folders into this package
(``harness.builtin.plugins`` and ``harness.builtin.tasks``, see ``[tool.setuptools]`` in
pyproject.toml), so a wheel ships them without putting generic top-level names such as
``plugins`` or ``tasks`` into site-packages; an editable install reads the checkout's folders.

The forgetting probe's general-text sample (:mod:`harness.evaluation.forgetting`) is package
data of this package itself: ``forgetting/`` beside this file, with its PROVENANCE.md.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _folder(name: str) -> Path:
    """``name`` inside this package (a wheel), else the checkout's top-level folder (an editable
    install or a checkout on ``sys.path``)."""
    installed = _HERE / name
    return installed if installed.is_dir() else _HERE.parents[1] / name


def plugins_dir() -> Path:
    """The folder of the built-in task plugins (``*.py``)."""
    return _folder("plugins")


def tasks_dir() -> Path:
    """The folder of the built-in tasks' data: one sub-folder per task."""
    return _folder("tasks")


def forgetting_dir() -> Path:
    """The folder of the forgetting probe's sample (``sample.jsonl``) and its ``PROVENANCE.md``."""
    return _HERE / "forgetting"
