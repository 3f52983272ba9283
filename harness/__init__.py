"""harness: evaluation-driven instruction fine-tuning.

The Python API (what the ``harness`` command calls; see :mod:`harness.api`)::

    import harness

    results, paths = harness.run(harness.load_config("configs/default.toml"))

For plugin authors::

    from harness import hookimpl, Task, DataSource, Metric, MetricResult

Importing harness is light: torch is imported when a run starts.
"""

from harness.api import (
    CheckpointsOutcome,
    RunOutcome,
    SeedOutcome,
    evaluate,
    evaluate_checkpoints,
    resume,
    run,
    run_seeds,
)
from harness.config import Config
from harness.config_loader import load_config
from harness.hookspecs import hookimpl
from harness.metrics import Metric, MetricResult
from harness.progress import Progress
from harness.tasks import DataSource, Example, Task
from harness.versions import __version__

__all__ = [
    "CheckpointsOutcome",
    "Config",
    "DataSource",
    "Example",
    "Metric",
    "MetricResult",
    "Progress",
    "RunOutcome",
    "SeedOutcome",
    "Task",
    "__version__",
    "evaluate",
    "evaluate_checkpoints",
    "hookimpl",
    "load_config",
    "resume",
    "run",
    "run_seeds",
]
