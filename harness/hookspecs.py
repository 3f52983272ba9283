"""Hook specifications: everything a plugin can contribute to harness.

A plugin is a module (or object) with functions marked ``@harness.hookimpl`` whose names
match the specs below. Each spec says what to return; harness checks every result (a list of
the right records, names of letters, digits, ``_`` and ``-``, no name twice) and reports a
hook that raises or returns anything else on one line naming the plugin (exit code 2).

The compatibility contract: hooks only ever gain *optional* arguments. An implementation may
accept fewer arguments than its spec (pluggy passes only those it names), so a plugin written
for an older harness keeps working; a hook is never renamed or given a required argument.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    from harness.metrics import Metric
    from harness.models.backend import BackendSpec
    from harness.models.presets import ModelPreset
    from harness.tasks import Task

hookspec = pluggy.HookspecMarker("harness")
"""Marks a function below as a hook specification."""

hookimpl = pluggy.HookimplMarker("harness")
"""Decorator that marks a function in a plugin module as a hook implementation (public as
``harness.hookimpl``)."""


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


@hookspec
def harness_task_files() -> list[Path]:
    """Return task files (``*.toml``, see :mod:`harness.tasks.declarative`) this plugin ships:
    absolute paths of files, or of folders whose ``*.toml`` files are task files.

    The way for a package to ship tasks without writing Python for each one; relative paths in
    a task file resolve against its own folder. Added in 0.2.

    Example::

        @harness.hookimpl
        def harness_task_files():
            return [Path(__file__).parent / "tasks"]
    """


@hookspec
def harness_backends() -> list[BackendSpec]:
    """Return prediction backends (a list of :class:`harness.models.backend.BackendSpec`).

    A backend answers the evaluation's prompts (greedy generation, choice log-likelihoods) in
    place of the built-in Hugging Face one; a run selects it with ``backend = "<name>"``.
    Added in 0.2.

    Example::

        @harness.hookimpl
        def harness_backends():
            return [BackendSpec("vllm", build=VLLMBackend.of)]
    """
