"""The Python API: what ``harness run`` and ``harness eval`` call.

    import harness

    config = harness.load_config("configs/default.toml", ["train.epochs=2"])
    results, paths = harness.run(config)
    print(results["tasks"]["sentiment"]["metrics"]["accuracy"]["after"], paths["html"])

Both functions write the same files as the commands (``<output_dir>/<run_id>/``) and return
their content. Progress goes to a :class:`harness.progress.Progress` (``None``: silence).
Importing this module is light: torch is imported when a run starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from harness.config import Config
from harness.errors import HarnessError
from harness.progress import NullProgress, Progress


class RunOutcome(NamedTuple):
    """What a run returns: the results.json content (``{}`` on ranks other than 0 of a
    distributed run) and the paths of the files written (keys ``results``, ``samples``,
    ``markdown``, ``html``)."""

    results: dict
    paths: dict[str, Path]


def run(
    config: Config,
    *,
    progress: Progress | None = None,
    resume: str | None = None,
    gates: Sequence[str] = (),
) -> RunOutcome:
    """The whole cycle: evaluate the model on every task, fine-tune it, evaluate it again, and
    write the reports. The tuned model goes to ``<models_dir>/<run_id>/model``.

    :param resume: the id of an interrupted run to continue; ``config`` must be that run's
        config (:func:`resume` finds both).
    :param gates: gate expressions (as ``--gate``) checked with ``config.gates.require``; their
        results are ``results["gates"]`` (see :mod:`harness.decisions.gates`). A malformed gate,
        or one naming an unknown task or metric, raises before any model work.
    """
    from harness.cycle import run_cycle

    if config.seeds > 1:
        raise HarnessError(
            f"config: seeds = {config.seeds}: a seed set is harness.run_seeds() (harness run --seeds N), "
            "not harness.run()"
        )
    checks = _parsed_gates(config, gates)
    return RunOutcome(
        *run_cycle(config, train=True, progress=progress or NullProgress(), resume=resume, gates=checks)
    )


class SeedOutcome(NamedTuple):
    """What a seed set returns: the seeds.json content, its files' paths (``results``,
    ``markdown``, ``html``), and each seed's :class:`RunOutcome` in seed order."""

    summary: dict
    paths: dict[str, Path]
    runs: list[RunOutcome]


def run_seeds(config: Config, *, progress: Progress | None = None, gates: Sequence[str] = ()) -> SeedOutcome:
    """``config.seeds`` tunings on one baseline, each with its own training seed (``config.seed``,
    ``config.seed + 1``, ...) and its own run folder, and the verdict over them that accounts
    for the spread of training itself (:mod:`harness.seeds`)."""
    from harness.seeds import run_seeds as run_set

    checks = _parsed_gates(config, gates)
    summary, paths, runs = run_set(config, progress=progress or NullProgress(), gates=checks)
    return SeedOutcome(summary, paths, [RunOutcome(r["results"], r["paths"]) for r in runs])


def evaluate(
    config: Config | None = None,
    *,
    model: str | None = None,
    tasks: Sequence[str] | None = None,
    progress: Progress | None = None,
    gates: Sequence[str] = (),
) -> RunOutcome:
    """Evaluate a model without tuning and write the same reports (``mode: "eval"``).

    :param config: the settings (default: :class:`Config`'s defaults).
    :param model: a preset name, Hub id or local directory (a run's ``model`` folder too),
        instead of ``config.model``.
    :param tasks: the task names to evaluate, instead of ``config.tasks``.
    :param gates: gate expressions, as for :func:`run`; only absolute ones (no baseline here).
    """
    from harness.cycle import run_cycle
    from harness.validation import validate

    config = config if config is not None else Config()
    changes = {"model": model} if model is not None else {}
    if tasks is not None:  # a list, or a comma-separated string as on the command line
        changes["tasks"] = [t.strip() for t in tasks.split(",")] if isinstance(tasks, str) else list(tasks)
    if changes:
        config = dataclasses.replace(config, **changes)
        validate(config)
    checks = _parsed_gates(config, gates)
    return RunOutcome(*run_cycle(config, train=False, progress=progress or NullProgress(), gates=checks))


class CheckpointsOutcome(NamedTuple):
    """What evaluating a run's checkpoints returns: the checkpoints.json content and its files'
    paths (``results``, ``markdown``, ``html``)."""

    summary: dict
    paths: dict[str, Path]


def evaluate_checkpoints(
    run: str,
    *,
    models_dir: str = "runs",
    overrides: Sequence[str] = (),
    progress: Progress | None = None,
) -> CheckpointsOutcome:
    """Evaluate every checkpoint a tuned run kept (``train.keep_checkpoints = true``) on its tasks
    with its saved config, and write the trajectory's report (:mod:`harness.checkpoints`).

    :param run: the run's id under ``models_dir``, or its folder there.
    :param overrides: ``key=value`` changes to the run's saved config (``output_dir``: where
        ``checkpoints-<run id>/`` is written; ``device``, ``eval.batch_size``...).
    """
    from harness import checkpoints

    planned = checkpoints.plan(run, models_dir=models_dir, overrides=list(overrides))
    return CheckpointsOutcome(*checkpoints.evaluate_checkpoints(planned, progress or NullProgress()))


def resume(
    run_id: str, *, models_dir: str = "runs", progress: Progress | None = None, gates: Sequence[str] = ()
) -> RunOutcome:
    """Continue an interrupted run from its latest complete checkpoint, with the config it
    recorded in ``<models_dir>/<run_id>/run_state.json`` (``run_id`` may also be that folder)."""
    from harness.rundir import resumed_config

    config, run_id = resumed_config(run_id, models_dir)
    return run(config, progress=progress, resume=run_id, gates=gates)


def _parsed_gates(config: Config, expressions: Sequence[str]) -> list:
    """The run's gates: ``config.gates.require`` and ``expressions``, parsed (a malformed one
    raises here; the cycle checks their task and metric names once the tasks are loaded)."""
    from harness.decisions.gates import parse_all

    if isinstance(expressions, str):  # one expression, not its characters
        expressions = [expressions]
    return parse_all(config.gates.require, expressions)
