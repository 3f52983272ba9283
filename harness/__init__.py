"""harness: evaluation-driven instruction fine-tuning.

The Python API (what the ``harness`` command calls; see :mod:`harness.api`)::

    import harness

    results, paths = harness.run(harness.load_config("configs/default.toml"))

For plugin authors::

    from harness import hookimpl, Task, DataSource, Metric, MetricResult

Importing harness is light: torch is imported when a run starts.
"""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("harness")
"""Decorator that marks a function in a plugin module as a hook implementation."""

from harness.api import RunOutcome, evaluate, resume, run  # noqa: E402
from harness.config import Config, load_config  # noqa: E402
from harness.metrics import Metric, MetricResult  # noqa: E402
from harness.progress import Progress  # noqa: E402
from harness.tasks import DataSource, Example, Task  # noqa: E402

__all__ = [
    "Config",
    "DataSource",
    "Example",
    "Metric",
    "MetricResult",
    "Progress",
    "RunOutcome",
    "Task",
    "__version__",
    "evaluate",
    "hookimpl",
    "load_config",
    "resume",
    "run",
]
