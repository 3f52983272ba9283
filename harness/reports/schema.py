"""What a run records: the content of ``results.json`` and ``samples.jsonl`` (described in
docs/results-schema.md). Keys are written in the order built here, and readers rely on it."""

from __future__ import annotations

import datetime as dt
import platform
from collections import Counter
from collections.abc import Collection

from harness.config import Config, to_dict
from harness.reports.provenance import cost_entry, provenance_entry
from harness.reports.store import HTML_FILE, MD_FILE, SAMPLES_FILE
from harness.versions import __version__, git_commit, library_versions
from harness.workload import Workload

SCHEMA_VERSION = 1


def build_results(
    *,
    config: Config,
    mode: str,
    run_id: str,
    workload: Workload,
    loaded,
    total_parameters: int,
    threads: int,
    before: dict,
    after: dict | None = None,
    training=None,
    durations: dict[str, float],
    cached: Collection[str] = (),
    samples: list[dict],
    forecast: dict | None = None,
) -> dict:
    """The results.json content of a run (``mode="run"``) or an evaluation (``mode="eval"``).

    :param loaded: the :class:`~harness.models.LoadedModel` evaluated before tuning.
    :param before: ``{task name: TaskEvaluation}`` of the base model; ``after``: of the tuned one.
    :param training: the :class:`~harness.training.TrainResult` (``None`` in eval mode).
    :param durations: seconds per stage, in the order they ran.
    :param cached: the tasks whose "before" predictions came from the baseline cache.
    :param samples: :func:`build_samples` of the same evaluations (the flips are ranked on them).
    :param forecast: the resource forecast made before training (``None`` in eval mode).

    Nothing is decided here: the flow concludes the run (verdicts and ``decision``, gates) with
    :func:`harness.decisions.conclude`, which places them before ``"reports"``.
    """
    tasks = {
        task.name: _task_entry(task, workload, config, before, after, task.name in cached, samples)
        for task in workload.tasks
    }
    results = {
        **header(run_id, mode, config.seed, to_dict(config)),
        "model": _model_entry(loaded, total_parameters, training),
        "device": _device_entry(loaded, threads),
        "versions": library_versions(),
        "distributed": _distributed_entry(config),
        "durations": {name: round(seconds, 3) for name, seconds in durations.items()},
        "cost": cost_entry(durations, workload, training, cached, loaded.device),
        "provenance": provenance_entry(loaded, workload, training),
        "training": None if training is None else _training_entry(training, config, workload),
        "forecast": forecast,  # harness/training/forecast.py: estimates made before training
        "statistics": _statistics_entry(config),
        "generation": {
            "batch_size": config.eval.batch_size,
            "greedy": True,
            "prompt_template": config.prompt(),
            "num_fewshot": config.eval.num_fewshot,  # a task's own value is in its entry
        },
        "tasks": tasks,
    }
    # what a person should know before trusting the numbers: small dev splits, cut inputs, ...
    results["warnings"] = list(workload.warnings) + (list(training.warnings) if training else [])
    results["reports"] = report_files()
    return results


def header(run_id: str, mode: str, seed: int, config: dict) -> dict:
    """The keys every results.json opens with (a run, an evaluation, a comparison): schema
    version, run id, mode (``run``, ``eval``, ``compare``), :func:`made_by`, commit, seed and the
    config as a dict."""
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "mode": mode,
        **made_by(),
        "git_commit": git_commit(),
        "seed": seed,
        "config": config,
    }


def made_by() -> dict:
    """When, and by which harness, a result was made: ``created`` (UTC, seconds) and
    ``harness_version``; in :func:`header` and in a rescore's ``"rescored"`` record."""
    return {"created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "harness_version": __version__}


def report_files() -> dict:
    """results.json ``"reports"``: the names of the report files beside it."""
    return {"html": HTML_FILE, "markdown": MD_FILE, "samples": SAMPLES_FILE}


def build_samples(workload: Workload, before: dict, after: dict | None = None) -> list[dict]:
    """One row per test example per task: prompt, input, references, and the predictions and
    per-example scores before (and after) tuning."""
    rows = []
    for task in workload.tasks:
        b = before[task.name]
        a = after[task.name] if after else None
        for i, example in enumerate(workload.test[task.name]):
            row = {
                "task": task.name,
                "id": example.id,
                "prompt": b.prompts[i],
                "instruction": example.instruction,
                "input": example.input,
                "reference": example.output,
                "references": list(example.references),
                **({"slice": example.slice} if task.slice_field else {}),
                "prediction_before": b.predictions[i],
                "scores_before": per_example(b.scores, i),
            }
            if b.choice_logprobs is not None:
                row["choice_logprobs_before"] = b.choice_logprobs[i]
            if a is not None:
                row["prediction_after"] = a.predictions[i]
                row["scores_after"] = per_example(a.scores, i)
                if a.choice_logprobs is not None:
                    row["choice_logprobs_after"] = a.choice_logprobs[i]
            rows.append(row)
    return rows


def per_example(scores: dict, index: int) -> dict:
    """``{metric: score of example index}`` for the metrics that have per-example scores."""
    return {
        name: result.per_example[index] for name, result in scores.items() if result.per_example is not None
    }


def _model_entry(loaded, total_parameters: int, training) -> dict:
    return {
        "name": loaded.name,
        "source": loaded.source,
        "path": loaded.path,
        "parameters": total_parameters,
        "trainable_parameters": training.trainable_parameters if training else None,
        "method": training.method if training else None,
        "output_dir": training.output_dir if training else None,
    }


def _device_entry(loaded, threads: int) -> dict:
    return {
        "type": loaded.device.split(":")[0],
        "name": _device_name(loaded.device),
        "dtype": loaded.dtype,
        "torch_threads": threads,
    }


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def _distributed_entry(config: Config) -> dict:
    from harness import distributed

    info = distributed.info()
    info["global_train_batch_size"] = config.train.batch_size * info["world_size"]
    return info


def _training_entry(training, config: Config, workload: Workload) -> dict:
    return {
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
        "stop_reason": training.stop_reason,
        "kept": training.kept,
        "last_step": training.last_step,
        "last_score": training.last_score,
        "noise_margin": training.noise_margin,
        "dev_weights": training.dev_weights,
        "tokens": training.tokens,
        "lora_modules": training.lora_modules,
        "resumed_from": training.resumed_from,
    }


def _statistics_entry(config: Config) -> dict:
    return {
        "confidence": 1.0 - config.stats.alpha,
        "n_resamples": config.stats.n_resamples,
        "seed": config.seed,
        "interval": "percentile bootstrap over test examples (corpus metrics recomputed per resample)",
        "paired_test": "exact McNemar for 0/1 metrics, else two-sided paired bootstrap",
        "alpha": config.stats.alpha,
    }


def instructions_entry(examples) -> dict:
    """``{"instruction": text}`` when every test row was given the same instruction (the task's,
    or the rows' own), else ``{"instruction": None, "instructions": {"distinct": n,
    "most_common": [text, count]}}``: the reports then say the rows carry their own."""
    counts = Counter(example.instruction for example in examples)
    if len(counts) <= 1:
        return {"instruction": next(iter(counts), None)}
    text, count = counts.most_common(1)[0]
    return {"instruction": None, "instructions": {"distinct": len(counts), "most_common": [text, count]}}


def _task_entry(task, workload: Workload, config: Config, before, after, cached: bool, samples) -> dict:
    entry = {
        "version": task.version,
        "source": workload.sources[task.name],
        **instructions_entry(workload.test[task.name]),
        "test_data": str(task.test.path),
        "train_data": str(task.train.path) if task.train else None,
        "n_test": len(workload.test[task.name]),
        "n_train": len(workload.train.get(task.name, [])),
        "primary_metric": task.primary_metric,
        "scoring": task.scoring_method,
        "choices": list(task.choices),
        "max_new_tokens": task.max_new_tokens,
        "stop": list(task.stop),
        "num_fewshot": workload.shots[task.name].k if task.name in workload.shots else 0,
        "metrics": {
            name: _metric_entry(name, task, workload, config, before, after) for name in task.metrics
        },
        "baseline_cached": cached,
        "truncation": workload.truncation.get(task.name),
        "overlap": workload.overlap.get(task.name),  # train/test contamination (tasks/overlap.py)
    }
    if after is not None:
        from harness.evaluation.flips import flips

        entry["flips"] = flips(task.name, task.primary_metric, samples)
    if task.slice_field:
        entry["slices"] = _slices(task, workload, config, before, after)
    return entry


def _slices(task, workload: Workload, config: Config, before, after) -> dict:
    """The task's per-slice comparison on its primary metric."""
    from harness.evaluation.slices import slices_entry

    name = task.primary_metric
    slices = [example.slice for example in workload.test[task.name]]
    a = after[task.name].scores[name] if after else None
    return slices_entry(
        task.slice_field, name, workload.metrics[name], slices, before[task.name].scores[name], a, config
    )


def _metric_entry(name: str, task, workload: Workload, config: Config, before, after) -> dict:
    from harness.evaluation.stats import metric_entry

    references = [example.references for example in workload.test[task.name]]
    b = before[task.name].scores[name]
    a = after[task.name].scores[name] if after else None
    return metric_entry(workload.metrics[name], references, b, a, config)
