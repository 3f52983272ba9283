"""A run's checkpoints evaluated (``harness eval --checkpoints RUN``): every complete
``checkpoint-<step>`` folder under ``<models_dir>/<run_id>/checkpoints`` scored on the run's test
sets with the run's evaluation settings (its saved config, ``--set`` on top), through the cycle's
own predict and score steps (:func:`harness.cycle.predict_tasks`, :func:`~harness.cycle.score_tasks`).

LoRA checkpoints are adapters: the base model is loaded once and each adapter attached to it in
turn (:class:`harness.models.adapters.AdapterSwap`). Full fine-tuning checkpoints are whole models,
each loaded in its turn. The run's results.json, when it finished, gives the base model's scores
(step 0 of the trajectory), the kept step and why it was kept, and the scores the kept checkpoint
must reproduce (its "after"). The final model is not evaluated again: it holds the kept
checkpoint's weights. The files, ``checkpoints.json``, ``checkpoints.md``, ``checkpoints.html``
and ``checkpoints.svg``, go to ``<output_dir>/checkpoints-<run id>/``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

from harness import models
from harness.config import Config, to_dict
from harness.config_loader import apply_override, config_from_dict
from harness.cycle import backend_spec, predict_tasks, score_tasks
from harness.errors import HarnessError
from harness.evaluation.stats import confidence_interval
from harness.models.adapters import AdapterSwap, is_adapter
from harness.models.device import default_threads
from harness.progress import Progress, step
from harness.rundir import RUN_STATE, read_state
from harness.training.checkpoints import checkpoint_is_complete, checkpoint_step, complete_checkpoints
from harness.training.dev import SCORE_KEY
from harness.validation import Locator, check_writable, validate
from harness.versions import __version__
from harness.workload import prepare

OPTION = "--checkpoints"


@dataclasses.dataclass(frozen=True)
class SavedRun:
    """A tuned run found on disk: its folder under ``models_dir``, its state file, its results."""

    run_id: str
    folder: Path
    state: dict
    results: dict | None  # results.json, once the run finished

    @property
    def checkpoints(self) -> Path:
        return self.folder / "checkpoints"


def find_run(run: str, models_dir: str) -> SavedRun:
    """The run ``run`` names: its id under ``models_dir``, its folder, or its checkpoints folder."""
    if Path(run).name == "checkpoints" and (Path(run).parent / RUN_STATE).is_file():
        run = str(Path(run).parent)
    folder, state = read_state(run, models_dir, OPTION)
    results = None
    if state["phase"] == "done" and isinstance(state.get("results"), str):
        path = Path(state["results"])
        path = path if path.is_absolute() else Path(state.get("cwd") or ".") / path
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            results = None  # moved or removed: the trajectory without the run's own scores
    return SavedRun(state["run_id"], folder, state, results)


def run_config(saved: SavedRun, overrides: Sequence[str], options: dict | None = None) -> Config:
    """The run's saved config with ``overrides`` (``--set``) applied, checked."""
    source = str(saved.folder / RUN_STATE)
    config = config_from_dict(saved.state["config"], source=source)
    locate = Locator(source)
    for item in overrides:
        apply_override(config, item, locate, shown=(options or {}).get(item))
    validate(config, locate)
    return config


@dataclasses.dataclass
class Plan:
    """What evaluating a run's checkpoints needs, every input checked (no model loaded yet)."""

    saved: SavedRun
    config: Config
    folders: list[Path]  # the complete checkpoints, by step
    workload: object  # harness.workload.Workload, test splits only


def plan(
    run: str,
    *,
    models_dir: str = "runs",
    overrides: Sequence[str] = (),
    options: dict | None = None,
    plugins: Sequence[str] = (),
    tasks_dirs: Sequence[str] = (),
) -> Plan:
    """Find ``run`` and its checkpoints and check everything evaluating them reads; each problem
    (a run that kept no checkpoint too) is one line, before any model work.

    :param overrides: ``key=value`` changes to the run's saved config (``output_dir`` decides
        where the report goes); ``options``: how the command line spelled them, for errors;
        ``plugins`` and ``tasks_dirs``: added to the run's own.
    """
    saved = find_run(run, models_dir)
    config = run_config(saved, overrides, options)
    config.plugins = list(config.plugins) + list(plugins)
    config.tasks_dirs = list(config.tasks_dirs) + list(tasks_dirs)
    folders = complete_checkpoints(saved.checkpoints)
    if not folders:
        raise HarnessError(no_checkpoints(saved))
    workload = prepare(config, train=False)  # tasks, metrics and test splits
    backend_spec(config, workload)
    check_writable(config, train=False)
    models.check_model(config.model, workload.presets, config.allow_pickle, config.trust_remote_code)
    return Plan(saved, config, folders, workload)


def evaluate_checkpoints(planned: Plan, progress: Progress) -> tuple[dict, dict[str, Path]]:
    """Evaluate every checkpoint :func:`plan` found and write the trajectory's report; returns
    the checkpoints.json content and its files' paths (``results``, ``markdown``, ``html``)."""
    from harness.reports.checkpoints import write_checkpoint_report

    config = planned.config
    models.configure_threads(config.threads or default_threads())
    rows, loads = _evaluate(planned.folders, config, planned.workload, progress)
    summary = checkpoint_summary(planned.saved, config, planned.workload, rows, loads)
    paths = write_checkpoint_report(Path(config.output_dir) / summary["set_id"], summary)
    return summary, paths


def no_checkpoints(saved: SavedRun) -> str:
    """The line for a run without a complete checkpoint to evaluate."""
    where = saved.checkpoints
    found = "is empty" if where.is_dir() else "does not exist"
    if saved.state["phase"] == "done":
        why = (
            "a finished run deletes its checkpoints unless train.keep_checkpoints = true; "
            "run again with --set train.keep_checkpoints=true"
        )
    else:
        why = f"the run stopped ({saved.state['phase']}) before its first checkpoint was complete"
    return f"{OPTION} {saved.run_id}: no checkpoint to evaluate ({where} {found}): {why}"


def _evaluate(folders: list[Path], config: Config, workload, progress: Progress) -> tuple[list[dict], int]:
    """Each checkpoint's scores, in step order; and how many times a model was read from disk."""
    spec, swap, base, loads, rows = backend_spec(config, workload), None, None, 0, []
    for folder in folders:
        number = checkpoint_step(folder)
        if is_adapter(folder):
            if swap is None:  # the base, once for every adapter
                with step(progress, "load", "Loading the base model"):
                    base = _load(config.model, workload, config)
                swap, loads = AdapterSwap(base.model), loads + 1
            loaded = dataclasses.replace(base, model=swap.attach(folder, f"step-{number}"))
        else:  # full fine-tuning: the checkpoint is a whole model
            with step(progress, f"load:{number}", f"Loading checkpoint {number}"):
                loaded = _load(str(folder), workload, config)
            loads += 1
        backend = spec.build(loaded, config)
        if not rows:
            workload.fit(loaded.tokenizer, backend.context_length(), config)  # as the cycle cuts inputs
        predictions = predict_tasks(backend, workload.tasks, workload, config, progress, f"step {number}")
        kind = "adapter" if is_adapter(folder) else "model"
        rows.append(
            {"step": number, "path": str(folder), "kind": kind, "scored": score_tasks(workload, predictions)}
        )
        loaded = backend = None  # a whole model is freed before the next one is read
    return rows, loads


def _load(name: str, workload, config: Config):
    return models.load_model(
        name, workload.presets, config.device, config.allow_pickle, config.trust_remote_code
    )


def checkpoint_summary(saved: SavedRun, config: Config, workload, rows: list[dict], base_loads: int) -> dict:
    """The content of checkpoints.json (docs/results-schema.md, "Checkpoints")."""
    results = saved.results or {}
    training = results.get("training") or {}
    kept = _kept(training)
    tasks = {}
    for task in workload.tasks:
        metric = workload.metrics[task.primary_metric]
        run_metrics = ((results.get("tasks") or {}).get(task.name) or {}).get("metrics") or {}
        tasks[task.name] = {
            "primary_metric": task.primary_metric,
            "higher_is_better": metric.higher_is_better,
            "scale": metric.scale,
            "metrics": list(task.metrics),
            "before": {m: (run_metrics.get(m) or {}).get("before") for m in task.metrics},  # the run's
            "after": {m: (run_metrics.get(m) or {}).get("after") for m in task.metrics},
        }
    checkpoints = [_row(row, workload, config, kept) for row in rows]
    adapters = sum(row["kind"] == "adapter" for row in rows)
    loading = (
        f"one base model load, {adapters} adapters attached to it in turn"
        if adapters == len(rows)
        else f"{len(rows)} whole models (full fine-tuning), each loaded in its turn"
    )
    incomplete = [
        p.name
        for p in sorted(saved.checkpoints.glob("checkpoint-*"), key=checkpoint_step)
        if p.is_dir() and not checkpoint_is_complete(p)
    ]
    warnings = [f"{name}: incomplete (an interrupted save), not evaluated" for name in incomplete]
    if kept and kept["step"] not in [row["step"] for row in rows]:
        warnings.append(f"the kept step {kept['step']} has no checkpoint here to evaluate")
    changed = changed_keys(saved.state["config"], to_dict(config))
    if changed:
        warnings.append(f"evaluated with changes to the run's config: {', '.join(changed)}")
    return {
        "schema_version": 1,
        "set_id": f"checkpoints-{saved.run_id}",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "harness_version": __version__,
        "run_id": saved.run_id,
        "phase": saved.state["phase"],
        "model": config.model,
        "method": "lora" if adapters == len(rows) else "full",
        "loading": loading,
        "model_loads": base_loads,
        "kept": kept,
        "tasks": tasks,
        "checkpoints": checkpoints,
        "reproduced": _reproduced(checkpoints, tasks, kept),
        "warnings": warnings,
        "changed": changed,
        "config": to_dict(config),
    }


LOCATING = ("output_dir", "models_dir", "plugins", "tasks_dirs")  # where things are, not how they are scored


def changed_keys(saved: dict, used: dict, prefix: str = "") -> list[str]:
    """The config keys whose value ``used`` changed from the run's ``saved`` one (as
    ``key = value``), leaving out those that only locate files."""
    changed = []
    for key, value in used.items():
        name = f"{prefix}{key}"
        if name in LOCATING:
            continue
        if isinstance(value, dict) and isinstance(saved.get(key), dict):
            changed += changed_keys(saved[key], value, f"{name}.")
        elif saved.get(key) != value:
            changed.append(f"{name} = {json.dumps(value, ensure_ascii=False)}")
    return changed


def _kept(training: dict) -> dict | None:
    """The step whose weights the run kept, and why (its results.json ``training``)."""
    if not training:
        return None
    best = training.get("best_step")
    return {"step": best if best is not None else training.get("steps"), "reason": training.get("kept", "")}


def _row(row: dict, workload, config: Config, kept: dict | None) -> dict:
    tasks = {}
    for name, evaluation in row["scored"].items():
        task = evaluation.task
        primary = evaluation.scores[task.primary_metric]
        ci = confidence_interval(
            workload.metrics[task.primary_metric],
            primary,
            n_resamples=config.stats.n_resamples,
            seed=config.seed,
            level=1 - config.stats.alpha,
        )
        tasks[name] = {
            "primary": primary.score,
            "ci": ci,
            "metrics": {metric: result.score for metric, result in evaluation.scores.items()},
        }
    return {
        "step": row["step"],
        "path": row["path"],
        "kind": row["kind"],
        "kept": bool(kept) and kept["step"] == row["step"],
        "dev": _dev_scores(Path(row["path"]), row["step"], [t.name for t in workload.tasks]),
        "tasks": tasks,
    }


def _dev_scores(folder: Path, number: int, names: list[str]) -> dict | None:
    """The dev evaluation at this checkpoint's step (its trainer_state.json), or None (a save
    without one, ``train.save_every``)."""
    state = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    key = f"eval_{SCORE_KEY}"
    for entry in state.get("log_history", []):
        if entry.get("step") == number and key in entry:
            return {
                "score": entry[key],
                "tasks": {n: entry[f"eval_{n}"] for n in names if f"eval_{n}" in entry},
            }
    return None


def _reproduced(checkpoints: list[dict], tasks: dict, kept: dict | None) -> dict | None:
    """Whether the kept checkpoint scores what the run's "after" evaluation scored, metric by
    metric; None when there is no kept checkpoint here or no "after" to compare with."""
    row = next((c for c in checkpoints if c["kept"]), None)
    if row is None:
        return None
    differences, compared = [], 0
    for name, scores in row["tasks"].items():
        for metric, value in scores["metrics"].items():
            after = tasks[name]["after"].get(metric)
            if after is None:
                continue
            compared += 1
            if value != after:
                differences.append(f"{name}.{metric}: {value!r} here, {after!r} in the run")
    if not compared:
        return None
    return {"step": row["step"], "metrics": compared, "matches": not differences, "differences": differences}
