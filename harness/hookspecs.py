"""Hook specifications: everything a plugin can contribute to harness.

A plugin is a module (or object) with functions marked ``@harness.hookimpl`` whose names
match the specs below. An implementation may accept fewer arguments than its spec, so
new keyword arguments never break old plugins. Each spec says what to return.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from harness.metrics import Metric
    from harness.models.presets import ModelPreset
    from harness.tasks import Task

hookspec = pluggy.HookspecMarker("harness")


@hookspec
def harness_tasks() -> list[Task]:
    """Return the tasks this plugin provides (a list of :class:`harness.Task`).

    Every plugin's list is collected; two tasks with the same name are an error.
    Added in 0.1.

    Example::

        @harness.hookimpl
        def harness_tasks():
            return [Task(name="sentiment", instruction="...", test=DataSource("test.jsonl"),
                         metrics=("accuracy",))]
    """


@hookspec
def harness_metrics() -> list[Metric]:
    """Return the metrics this plugin provides (a list of :class:`harness.Metric`).

    Tasks name metrics by ``Metric.name``; names must be unique across plugins.
    Added in 0.1.

    Example::

        @harness.hookimpl
        def harness_metrics():
            return [Metric("length_ratio", compute=length_ratio, higher_is_better=False)]
    """


@hookspec
def harness_model_presets() -> list[ModelPreset]:
    """Return embedded model presets (a list of :class:`harness.models.presets.ModelPreset`).

    A preset is a model built locally (no download) and selected with ``model = "<name>"``.
    Added in 0.1.

    Example::

        @harness.hookimpl
        def harness_model_presets():
            return [ModelPreset("micro", build=build_micro_model)]
    """
