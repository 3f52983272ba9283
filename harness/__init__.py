"""harness: evaluation-driven instruction fine-tuning.

Public API for plugin authors::

    from harness import hookimpl, Task, DataSource, Metric, MetricResult
"""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("harness")
"""Decorator that marks a function in a plugin module as a hook implementation."""

from harness.metrics import Metric, MetricResult  # noqa: E402
from harness.tasks import DataSource, Example, Task  # noqa: E402

__all__ = ["DataSource", "Example", "Metric", "MetricResult", "Task", "hookimpl", "__version__"]
