"""The Python API behind ``harness run`` and ``harness eval``.

``run(config)`` is the whole cycle: load tasks and data (all validated before any heavy
work), evaluate the base model, fine-tune, evaluate again, and write the reports.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import platform
import secrets
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from harness import __version__
from harness.config import Config, to_dict
from harness.errors import HarnessError
from harness.evaluation.stats import compare, flips
from harness.versions import library_versions
from harness.workload import Workload, prepare

SCHEMA_VERSION = 1


def new_run_id() -> str:
    """A sortable, unique run id: UTC timestamp plus 6 random hex digits."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def run(
    config: Config, mode: str = "run", progress=None, resume: str | None = None
) -> tuple[dict, dict[str, Path]]:
    """Run one cycle (``mode="run"``) or one evaluation (``mode="eval"``) and write the reports.

    :param progress: a ``rich.progress.Progress`` to report on, or ``None`` for silence.
    :param resume: the id of an interrupted run to continue (see :func:`resumed_config`): the
        "before" evaluation is recomputed (deterministic), training continues from the run's
        latest complete checkpoint, and the reports are written under the same run id.
    :returns: the results dict (see docs) and the paths of the files written.

    Launched with ``torchrun`` / ``accelerate launch`` (``WORLD_SIZE > 1``), every rank calls
    this: evaluation is sharded over the ranks and training is the Trainer's DDP (see
    :mod:`harness.distributed`); rank 0 alone writes files and returns the results, the other
    ranks return ``({}, {})`` once rank 0 is done.
    """
    from harness import distributed
    from harness.models import configure_threads, count_parameters, load_model
    from harness.reports import write_reports

    started = time.perf_counter()
    durations: dict[str, float] = {}
    distributed.init_if_launched(config.device)
    if not distributed.is_main():
        progress = None  # progress bars only on rank 0
    workload = prepare(config, train=(mode == "run"))
    run_id = distributed.broadcast_object(resume or new_run_id())  # one run id (and dirs) for all ranks
    run_dir = Path(config.output_dir) / run_id
    state_path = Path(config.models_dir) / run_id / RUN_STATE
    if mode == "run":
        write_run_state(state_path, config, run_id, "started")
    try:
        threads = configure_threads(config.threads or distributed.default_threads())

        t0 = time.perf_counter()
        with _step(progress, "Loading model"):
            loaded = load_model(config.model, workload.presets, config.device)
        durations["model_load"] = time.perf_counter() - t0
        total_parameters, _ = count_parameters(loaded.model)

        t0 = time.perf_counter()
        from harness.evaluation import cache

        cached, cache_keys = {}, {}
        if distributed.is_main():  # rank 0 reads and writes the cache; the ranks agree on what is left
            cached, cache_keys = cache.lookup(loaded, workload, config)  # {} when config.cache is false
        hits = set(distributed.broadcast_object(sorted(cached)))
        todo = dataclasses.replace(workload, tasks=[t for t in workload.tasks if t.name not in hits])
        fresh = {}
        if todo.tasks:
            fresh = _evaluate_all(loaded.model, loaded.tokenizer, todo, config, progress, "before")
        cache.store_all(cache_keys, fresh)  # nothing to store on other ranks (no keys)
        before = (  # other ranks: None per task (rank 0 holds the gathered evaluations)
            {task.name: cached.get(task.name) or fresh[task.name] for task in workload.tasks}
            if distributed.is_main()
            else {}
        )
        durations["eval_before"] = time.perf_counter() - t0

        training = None
        after = None
        if mode == "run":
            from harness.tasks.splits import mix_examples
            from harness.training import DevSet, fine_tune

            examples = mix_examples(workload.train, workload.train_weights, config.seed)
            dev = DevSet(
                [t for t in workload.tasks if t.name in workload.dev],
                workload.dev,
                workload.metrics,
                config.eval.batch_size,
            )
            write_run_state(state_path, config, run_id, "training")
            model_dir = Path(config.models_dir) / run_id / "model"
            t0 = time.perf_counter()
            bar = progress.add_task("Fine-tuning", total=None) if progress else None

            def on_step(step: int, total: int) -> None:
                if progress is not None:
                    progress.update(bar, completed=step, total=total)

            model, training = fine_tune(
                loaded, examples, config, model_dir, on_step, dev=dev, resume=resume is not None
            )
            durations["train"] = time.perf_counter() - t0
            write_run_state(state_path, config, run_id, "evaluating")
            t0 = time.perf_counter()
            after = _evaluate_all(model, loaded.tokenizer, workload, config, progress, "after")
            durations["eval_after"] = time.perf_counter() - t0

        if not distributed.is_main():
            distributed.barrier()  # wait until rank 0 has written the reports
            return {}, {}
        results = _results(
            config,
            mode,
            run_id,
            workload,
            loaded,
            total_parameters,
            threads,
            before,
            after,
            training,
            durations,
        )
        for name, entry in results["tasks"].items():
            entry["baseline_cached"] = name in cached
        samples = _samples(workload, before, after)
        if after is not None:
            for task in workload.tasks:
                results["tasks"][task.name]["flips"] = flips(task.name, task.primary_metric, samples)
        results["durations"]["total"] = round(time.perf_counter() - started, 3)
        paths = write_reports(run_dir, results, samples)
        if mode == "run":
            write_run_state(state_path, config, run_id, "done", results=str(run_dir / "results.json"))
        distributed.barrier()
        return results, paths
    except KeyboardInterrupt:
        if mode == "run":
            write_run_state(state_path, config, run_id, "interrupted")
        raise
    except Exception as exc:  # the state says why the run stopped; --resume can continue it
        if mode == "run":
            reason = str(exc) if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {exc}"
            write_run_state(state_path, config, run_id, "failed", error=reason)
        raise


RUN_STATE = "run_state.json"


def write_run_state(path: Path, config: Config, run_id: str, phase: str, **extra) -> None:
    """Record a run's config and phase in ``<models_dir>/<run_id>/run_state.json`` (atomically),
    so that ``harness run --resume RUN_ID`` can rebuild the run. Written by rank 0 only."""
    import json
    import os
    import tempfile

    from harness import distributed

    if not distributed.is_main():
        return

    state = {
        "run_id": run_id,
        "phase": phase,  # started | training | evaluating | done | failed | interrupted
        "updated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cwd": os.getcwd(),  # relative paths in the config are relative to this
        "checkpoints": str(path.parent / "checkpoints"),
        **extra,
        "config": to_dict(config),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=2, default=str)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def resumed_config(run: str, models_dir: str = "runs") -> tuple[Config, str]:
    """The saved config and run id of an interrupted run, from its ``run_state.json``.

    :param run: a run id (looked up under ``models_dir``) or the run's directory.
    """
    import json

    from harness.config import config_from_dict

    directory = Path(run) if (Path(run) / RUN_STATE).is_file() else Path(models_dir) / run
    path = directory / RUN_STATE
    if not path.is_file():
        raise HarnessError(f"--resume {run}: no {RUN_STATE} in {directory} (is models_dir right?)")
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise HarnessError(f"{path}: unreadable run state ({exc})") from None
    if state.get("phase") == "done":
        raise HarnessError(f"--resume {run}: that run already finished; see {state.get('results')}")
    return config_from_dict(state["config"], source=str(path)), state["run_id"]


@contextmanager
def _step(progress, description: str):
    """A progress line for a step of unknown length, marked complete when the step ends."""
    task_id = progress.add_task(description, total=None) if progress is not None else None
    try:
        yield
    finally:
        if progress is not None:
            progress.update(task_id, total=1, completed=1)


def _evaluate_all(model, tokenizer, workload: Workload, config: Config, progress, phase: str) -> dict:
    """Evaluate every task of ``workload``; with several ranks, each predicts its shard of the
    test examples and rank 0 gathers and scores them (the other ranks get ``None`` per task)."""
    from harness import distributed
    from harness.evaluation import predict_sharded, scored

    evaluations = {}
    world = distributed.world_size()
    for task in workload.tasks:
        examples = workload.test[task.name]
        shard = len(examples[distributed.rank() :: world])  # rank 0's bar counts its own shard
        bar = progress.add_task(f"Evaluating {task.name} ({phase})", total=shard) if progress else None

        def advance(count: int, bar=bar) -> None:
            if progress is not None:
                progress.advance(bar, count)

        predictions = predict_sharded(
            model, tokenizer, task, examples, config.prompt(), config.eval.batch_size, advance
        )
        evaluations[task.name] = (
            None if predictions is None else scored(task, workload.metrics, examples, predictions)
        )
    return evaluations


def _results(
    config, mode, run_id, workload, loaded, total_parameters, threads, before, after, training, durations
) -> dict:
    tasks = {}
    for task in workload.tasks:
        metric_entries = {}
        references = [example.references for example in workload.test[task.name]]
        for name in task.metrics:
            b = before[task.name].scores[name]
            a = after[task.name].scores[name] if after else None
            metric_entries[name] = {
                "higher_is_better": workload.metrics[name].higher_is_better,
                "before": b.score,
                "after": a.score if a else None,
                "delta": (a.score - b.score) if a else None,
                "settings": dict(b.settings),
                **compare(workload.metrics[name], references, b, a, seed=config.seed),
            }
        tasks[task.name] = {
            "version": task.version,
            "source": workload.sources[task.name],
            "instruction": task.instruction,
            "test_data": str(task.test.path),
            "train_data": str(task.train.path) if task.train else None,
            "n_test": len(workload.test[task.name]),
            "n_train": len(workload.train.get(task.name, [])),
            "primary_metric": task.primary_metric,
            "scoring": task.scoring_method,
            "choices": list(task.choices),
            "max_new_tokens": task.max_new_tokens,
            "stop": list(task.stop),
            "metrics": metric_entries,
        }
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "mode": mode,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "harness_version": __version__,
        "git_commit": _git_commit(),
        "seed": config.seed,
        "config": to_dict(config),
        "model": {
            "name": loaded.name,
            "source": loaded.source,
            "path": loaded.path,
            "parameters": total_parameters,
            "trainable_parameters": training.trainable_parameters if training else None,
            "method": training.method if training else None,
            "output_dir": training.output_dir if training else None,
        },
        "device": {
            "type": loaded.device.split(":")[0],
            "name": _device_name(loaded.device),
            "dtype": loaded.dtype,
            "torch_threads": threads,
        },
        "versions": library_versions(),
        "distributed": _distributed_info(config),
        "durations": {k: round(v, 3) for k, v in durations.items()},
        "training": None
        if training is None
        else {
            "method": training.method,
            "epochs": training.epochs,
            "steps": training.steps,
            "batch_size": config.train.batch_size,
            "learning_rate": config.train.learning_rate,
            "train_examples": training.train_examples,
            "tasks": sorted(workload.train),
            "final_loss": training.final_loss,
            "duration": round(training.duration, 3),
            "loss_history": training.loss_history,
            "max_steps": training.max_steps,
            "weights": dict(workload.train_weights),
            "dev_examples": training.dev_examples,
            "dev_metrics": training.dev_metrics,
            "select_by": training.select_by,
            "dev_history": training.dev_history,
            "best_step": training.best_step,
            "best_score": training.best_score,
            "stopped_early": training.stopped_early,
            "tokens": training.tokens,
            "lora_modules": training.lora_modules,
            "resumed_from": training.resumed_from,
        },
        "statistics": {
            "confidence": 0.95,
            "n_resamples": 1000,
            "seed": config.seed,
            "interval": "percentile bootstrap over test examples (corpus metrics recomputed per resample)",
            "paired_test": "exact McNemar for 0/1 metrics, else two-sided paired bootstrap",
            "alpha": 0.05,
        },
        "generation": {
            "batch_size": config.eval.batch_size,
            "greedy": True,
            "prompt_template": config.prompt(),
        },
        "tasks": tasks,
        "reports": {"html": "report.html", "markdown": "report.md", "samples": "samples.jsonl"},
    }


def _distributed_info(config: Config) -> dict:
    from harness import distributed

    info = distributed.info()
    info["global_train_batch_size"] = config.train.batch_size * info["world_size"]
    return info


def _samples(workload: Workload, before: dict, after: dict | None) -> list[dict]:
    rows = []
    for task in workload.tasks:
        b = before[task.name]
        a = after[task.name] if after else None
        for i, example in enumerate(workload.test[task.name]):
            row = {
                "task": task.name,
                "id": example.id,
                "prompt": b.prompts[i],
                "input": example.input,
                "reference": example.output,
                "references": list(example.references),
                "prediction_before": b.predictions[i],
                "scores_before": _per_example(b.scores, i),
            }
            if b.choice_logprobs is not None:
                row["choice_logprobs_before"] = b.choice_logprobs[i]
            if a is not None:
                row["prediction_after"] = a.predictions[i]
                row["scores_after"] = _per_example(a.scores, i)
                if a.choice_logprobs is not None:
                    row["choice_logprobs_after"] = a.choice_logprobs[i]
            rows.append(row)
    return rows


def _per_example(scores: dict, index: int) -> dict:
    return {
        name: result.per_example[index] for name, result in scores.items() if result.per_example is not None
    }


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
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
