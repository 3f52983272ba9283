"""The cycle: load the tasks and the model, evaluate the base model (from the baseline cache
where it can), fine-tune, evaluate again, score, and write results and reports.

Launched with ``torchrun`` / ``accelerate launch``, every rank runs the cycle: predictions are
sharded over the ranks and training is the Trainer's DDP (see :mod:`harness.distributed`). Every
rank makes the same collective calls in the same order; rank 0 alone scores and writes files.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from harness import distributed, models
from harness.closing import close
from harness.config import Config
from harness.decisions import power
from harness.decisions.gates import Gate, check_names
from harness.evaluation import cache, forgetting, guard, predict_sharded, scored
from harness.models.device import default_threads
from harness.progress import NullProgress, Progress, step
from harness.reports import build_results, build_samples
from harness.reports.modelcard import write_model_card
from harness.reports.tracking import log_final_results
from harness.rundir import RunDir
from harness.tasks import Task
from harness.tasks.splits import mix_examples
from harness.training import DevSet, fine_tune
from harness.training import forecast as resources
from harness.training.lora import check_targets, resolve_method
from harness.training.recipe import check_engine_device
from harness.validation import check_writable, validate
from harness.workload import Workload, prepare


def run_cycle(
    config: Config, *, train: bool, progress: Progress, resume: str | None = None, gates: Sequence[Gate] = ()
) -> tuple[dict, dict[str, Path]]:
    """Evaluate, and with ``train`` fine-tune and evaluate again; write the reports.

    :param resume: the id of an interrupted run to continue (with that run's config): the
        "before" evaluation is recomputed (deterministic), training continues from the run's
        latest complete checkpoint, and the reports are written under the same run id.
    :param gates: parsed gates; their task and metric names are checked with the tasks, before
        any model work, and their results are ``results["gates"]``.
    :returns: the results.json content and the paths of the files written; ``({}, {})`` on
        ranks other than 0, once rank 0 is done.
    """
    started = time.perf_counter()
    distributed.init_if_launched(config.device)
    if not distributed.is_main():
        progress = NullProgress()  # progress on rank 0 only
    validate(config)  # a Config built in Python is checked like one read from a file
    workload = prepare(config, train=train)  # bad input fails here, before any file is written
    backend_spec(config, workload)  # an unknown backend too
    guards = guard.resolve(config)  # lm-eval tasks, checked before any model work too
    own_gates = [gate for gate in gates if gate.task not in guards]  # guards' metrics known after eval
    task_metrics = {task.name: task.metrics for task in workload.tasks} | forgetting.gate_names(config, train)
    check_names(own_gates, task_metrics, "run" if train else "eval", workload.slices())  # slices: test data's
    check_writable(config, train)  # before any file is written or model work is done
    if train:
        check_engine_device(config)  # FSDP on the CPU would silently be DDP
    if train and config.gates.policy:  # a bad policy file is bad input, found before model work too
        from harness.decisions.policy import load_policy

        load_policy(Path(config.gates.policy))
    models.check_model(config.model, workload.presets, config.allow_pickle, config.trust_remote_code)
    forecast, why_not = resources.forecast_or_reason(config, workload.presets) if train else (None, None)
    if forecast:  # a CUDA run that would not fit is refused here, before the model is loaded onto it
        resources.check_fits(forecast)
        shown = resources.render(forecast)
        _show(progress, shown)
    elif why_not:
        _show(progress, [("unavailable", why_not)])
    run_dir = RunDir.open(config, resume)
    durations: dict[str, float] = {}
    with run_dir.recording(config, enabled=train):
        threads = models.configure_threads(config.threads or default_threads())
        with _timed(durations, "model_load"), step(progress, "load", "Loading model"):
            loaded = models.load_model(
                config.model, workload.presets, config.device, config.allow_pickle, config.trust_remote_code
            )
        method = resolve_method(config, loaded.source) if train else None
        if method == "lora":
            check_targets(loaded.model, config)  # before the baseline evaluation, not after it
        base = backend_spec(config, workload).build(loaded, config)  # what answers the prompts
        workload.fit(loaded.tokenizer, base.context_length(), config)  # cut inputs to its context
        total_parameters, _ = models.count_parameters(loaded.model)
        with _timed(durations, "eval_before"):
            before, cached, seconds = _baseline(base, workload, config, progress)
        if forecast and distributed.is_main():  # the time half, from the baseline pass
            examples = mix_examples(workload.train, workload.train_weights, config.training_seed())
            forecast = resources.with_baseline(forecast, loaded, workload, before, seconds, examples, config)
            _show(progress, [line for line in resources.render(forecast) if line not in shown])
        if train:  # what each test set can detect, shown before tuning starts (decisions/power.py)
            for name, plan in power.plan_from(workload, before, config.stats).items():
                progress.start(f"power:{name}", plan["text"])
                progress.finish(f"power:{name}")
        guards_before = guards_after = None
        if guards and distributed.is_main():
            with _timed(durations, "guard_before"), step(progress, "guard:before", "Guard tasks (before)"):
                guards_before = guard.evaluate_guards(loaded.model, loaded.tokenizer, guards, config)
        probe = None  # the forgetting probe: its base side before full tuning overwrites the weights
        if forgetting.runs(config, train) and distributed.is_main():
            probe = forgetting.Probe(config, loaded.tokenizer, base.context_length())
            if method != "lora":  # LoRA's base is its adapter switched off, after tuning
                with (
                    _timed(durations, "forgetting_before"),
                    step(progress, "forgetting:before", "Forgetting probe"),
                ):
                    probe.remember_base(loaded.model)
        after = training = None
        if train:
            run_dir.write_state(config, "training")
            with _timed(durations, "train"):
                model, training = _tune(loaded, workload, config, run_dir, progress, resume is not None)
            run_dir.write_state(config, "evaluating")
            with _timed(durations, "eval_after"):
                backend = backend_spec(config, workload).build(
                    dataclasses.replace(loaded, model=model), config
                )
                tuned = predict_tasks(backend, workload.tasks, workload, config, progress, "after")
                after = score_tasks(workload, tuned)
            if guards and distributed.is_main():
                with _timed(durations, "guard_after"), step(progress, "guard:after", "Guard tasks (after)"):
                    guards_after = guard.evaluate_guards(model, loaded.tokenizer, guards, config)
            if probe:
                with (
                    _timed(durations, "forgetting_after"),
                    step(progress, "forgetting:after", "Forgetting probe"),
                ):
                    measured = probe.measure(model)
        if not distributed.is_main():
            distributed.barrier()  # wait until rank 0 has written the reports
            return {}, {}
        samples = build_samples(workload, before, after)
        results = build_results(
            config=config,
            mode="run" if train else "eval",
            run_id=run_dir.run_id,
            workload=workload,
            loaded=loaded,
            total_parameters=total_parameters,
            threads=threads,
            before=before,
            after=after,
            training=training,
            durations=durations,
            cached=cached,
            samples=samples,
            forecast=forecast,
        )
        if guards_before:  # the guard tasks join the verdicts and the decision
            guard.add_to_results(results, samples, guards_before, guards_after, config)
        if probe:  # the forgetting probe's row joins them too
            forgetting.add_to_results(results, measured, config)
        results["durations"]["total"] = round(time.perf_counter() - started, 3)  # up to the reports
        results, paths = close(run_dir.reports_dir, results, samples, config, gates)
        if train:
            write_model_card(run_dir.model_dir, results)  # README.md next to the tuned model
            log_final_results(results, run_dir.models_dir / "logs", config.train.report_to)
            run_dir.write_state(config, "done", results=str(paths["results"]))
    distributed.barrier()
    return results, paths


def _baseline(
    backend, workload: Workload, config: Config, progress: Progress
) -> tuple[dict, list[str], dict]:
    """The base model's evaluations by ``backend`` (on rank 0; ``{}`` elsewhere), the tasks whose
    predictions came from the baseline cache and the seconds each other task's pass took (the
    forecast's). Rank 0 reads and writes the cache; the ranks agree on the rest."""
    hits, keys = cache.lookup(backend, workload, config) if distributed.is_main() else ({}, {})
    cached = distributed.broadcast_object(sorted(hits))
    fresh, seconds = {}, {}
    for task in [task for task in workload.tasks if task.name not in cached]:
        started = time.perf_counter()
        fresh |= predict_tasks(backend, [task], workload, config, progress, "before")
        seconds[task.name] = time.perf_counter() - started
    cache.store_all(keys, fresh)  # no keys, nothing stored, on other ranks
    return score_tasks(workload, {**hits, **fresh}), cached, seconds


def _show(progress: Progress, lines: Sequence[tuple[str, str]]) -> None:
    """Lines for the person running the cycle, as finished steps (like the power lines)."""
    for key, line in lines:
        progress.start(f"forecast:{key}", line)
        progress.finish(f"forecast:{key}")


def _tune(loaded, workload: Workload, config: Config, run_dir: RunDir, progress: Progress, resume: bool):
    """Fine-tune on the mixed training examples, choosing checkpoints on the dev split; returns
    the tuned model and the :class:`~harness.training.TrainResult`."""
    examples = mix_examples(workload.train, workload.train_weights, config.training_seed())
    dev_tasks = [task for task in workload.tasks if task.name in workload.dev]
    dev = DevSet(dev_tasks, workload.dev, workload.metrics, config.eval.batch_size, workload.shots)
    bar = _TrainingProgress(progress)
    try:
        model, training = fine_tune(loaded, examples, config, run_dir.model_dir, bar, dev=dev, resume=resume)
    finally:
        bar.finish()
    return model, training


def backend_spec(config: Config, workload: Workload):
    """The :class:`~harness.models.backend.BackendSpec` that ``config.backend`` names: the
    built-in ``hf``, or one a plugin registered; an unknown name is a one-line error."""
    from harness.errors import unknown_name
    from harness.evaluation.hf_backend import HF

    known = {HF.name: HF, **{name: entry.item for name, entry in workload.backends.items()}}
    if config.backend not in known:
        raise unknown_name("backend", config.backend, known)
    return known[config.backend]


def predict_tasks(
    backend,
    tasks: Sequence[Task],
    workload: Workload,
    config: Config,
    progress: Progress,
    phase: str,
) -> dict:
    """Predictions for each of ``tasks``, sharded over the ranks (a collective); rank 0 gets them
    all, the other ranks ``None`` per task. ``phase`` names the progress step ("before", "after",
    a checkpoint's "step 40": :mod:`harness.checkpoints` predicts with this too)."""
    template, batch_size = config.prompt(), config.eval.batch_size
    predictions = {}
    for task in tasks:
        examples = workload.test[task.name]
        key = f"eval:{task.name}:{phase}"
        shard = len(examples[distributed.rank() :: distributed.world_size()])  # what this rank predicts
        on_batch = functools.partial(progress.advance, key)  # examples done in the batch
        with step(progress, key, f"Evaluating {task.name} ({phase})", shard):
            shots = workload.shots.get(task.name)  # few-shot demonstrations, if any
            predictions[task.name] = predict_sharded(
                backend, task, examples, template, batch_size, on_batch, shots
            )
    return predictions


def score_tasks(workload: Workload, predictions: dict) -> dict:
    """Every task's metrics on its predictions: ``{task name: TaskEvaluation}`` on rank 0, ``{}``
    on the other ranks (which hold no predictions)."""
    if not distributed.is_main():
        return {}
    return {
        task.name: scored(task, workload.metrics, workload.test[task.name], predictions[task.name])
        for task in workload.tasks
    }


class _TrainingProgress:
    """``fine_tune``'s ``on_step`` callback as the ``"train"`` step of a :class:`Progress`. The
    step starts at the first callback, when the number of steps is known."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.done: int | None = None  # steps reported; None until the step starts

    def __call__(self, step: int, total: int, **fields: object) -> None:
        if self.done is None:
            self.progress.start("train", "Fine-tuning", total)
            self.done = 0
        self.progress.advance("train", step - self.done, **fields)
        self.done = step

    def finish(self) -> None:
        if self.done is not None:
            self.progress.finish("train")


@contextmanager
def _timed(durations: dict[str, float], name: str) -> Iterator[None]:
    """Record the seconds the block took as ``durations[name]`` (when it succeeds)."""
    started = time.perf_counter()
    yield
    durations[name] = time.perf_counter() - started
