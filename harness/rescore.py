"""``harness rescore RUN``: a saved run's metrics, statistics, verdicts and gates computed again
from its saved predictions (samples.jsonl), with the metrics as registered now, and its report
files rewritten. No model is loaded, so a changed or fixed metric plugin can be applied to old
runs in seconds. A flow beside :mod:`harness.cycle`; :mod:`harness.compare` shares its helpers.

Rescoring with unchanged metric code reproduces results.json exactly (same seed, same
resamples); when a value changes, results.json records that under ``"rescored"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness import plugins
from harness.closing import close
from harness.config import Config
from harness.config_loader import config_from_dict
from harness.decisions.gates import Gate, parse
from harness.errors import HarnessError
from harness.evaluation import forgetting, guard
from harness.evaluation.flips import flips
from harness.evaluation.slices import slices_entry
from harness.evaluation.stats import metric_entry
from harness.metrics import Metric, MetricResult
from harness.reports.schema import made_by, per_example
from harness.reports.store import RESULTS_FILE, load_run
from harness.versions import library_versions

PHASES = ("before", "after")


def rescore(
    run_dir: Path, *, plugin_specs: Sequence[str] = (), gates: Sequence[str] = ()
) -> tuple[dict, dict[str, Path], list[str]]:
    """Score the run in ``run_dir`` again and rewrite its report files (and the run history of
    its parent folder).

    :param plugin_specs: plugins to load besides the run's own (``config.plugins``) and the
        auto-loaded ones, e.g. the file of a fixed metric.
    :param gates: gate expressions to check besides those the run was checked against.
    :returns: the new results.json content, the paths written, and one line per value that
        changed (empty when nothing did).
    """
    extra = [parse(expression) for expression in gates]  # a malformed gate fails before any work
    results, samples = load_run(run_dir)
    where = f"{Path(run_dir) / RESULTS_FILE}"
    config = saved_config(results, where)
    all_gates = recorded_gates(results, extra)
    registry = metric_registry([*config.plugins, *plugin_specs])
    old = {name: _numbers(task) for name, task in results["tasks"].items()}
    for name, task in results["tasks"].items():
        if task.get("kind") == forgetting.KIND:  # no samples: its per-document values are in the entry
            task["metrics"] = forgetting.recorded_metrics(task, config)
            continue
        rows = task_rows(samples, name, task, where)
        if task.get("kind") == "guard":  # lm-eval's scores: the statistics again, from the saved ones
            corpus = {phase: {m: e[phase] for m, e in task["metrics"].items()} for phase in _phases(rows)}
            task["metrics"] = guard.recorded_metrics(task, rows, corpus, config)
        else:
            metrics = {m: resolve_metric(registry, m, name, where) for m in task["metrics"]}
            computed = compute_task(metrics, rows, _phases(rows))
            task["metrics"] = metric_entries(metrics, rows, computed, config)
            if isinstance(task.get("slices"), dict):  # the slices again, from the rows' "slice"
                task["slices"] = slices_again(task["slices"], metrics, rows, computed, config, where, name)
        if "flips" in task:
            task["flips"] = flips(name, task["primary_metric"], rows)
    changes: list[str] = []

    def record_changes(concluded: dict) -> None:  # the verdicts are among the numbers compared
        for name, task in concluded["tasks"].items():
            changes.extend(f"{name}: {line}" for line in _changed(old[name], _numbers(task)))
        if changes:
            concluded["rescored"] = {**made_by(), "versions": library_versions(), "changes": changes}

    results, paths = close(Path(run_dir), results, samples, config, all_gates, amend=record_changes)
    return results, paths, changes


def saved_config(results: dict, where: str) -> Config:
    """The :class:`Config` a saved run recorded (seed and statistics settings come from it)."""
    if not isinstance(results.get("config"), dict) or not isinstance(results.get("tasks"), dict):
        raise HarnessError(f"{where}: not a harness results file (no config or tasks)")
    return config_from_dict(results["config"], source=f"{where} config")


def metric_registry(plugin_specs: Sequence[str]) -> dict[str, Metric]:
    """Every metric registered now, through the plugins (``plugin_specs`` loaded as well)."""
    pm = plugins.make_plugin_manager(extra=list(plugin_specs))
    return {name: entry.item for name, entry in plugins.metrics(pm).items()}


def resolve_metric(registry: dict[str, Metric], name: str, task: str, where: str) -> Metric:
    """The metric ``name`` of a saved task, from ``registry`` or an ``evaluate:`` name."""
    from harness.errors import did_you_mean
    from harness.metrics.hf_evaluate import resolve_metrics

    try:
        resolved = resolve_metrics([name], registry)
    except HarnessError as exc:
        raise HarnessError(f"{where}: task {task!r}: {exc}") from None
    if name not in resolved:
        raise HarnessError(
            f"{where}: task {task!r}: metric {name!r} is not registered now{did_you_mean(name, registry)} "
            "(load its plugin with --plugin)"
        )
    return resolved[name]


def task_rows(samples: list[dict], name: str, task: dict, where: str) -> list[dict]:
    """The saved rows of one task, in data order; an error when they do not match ``n_test``."""
    rows = [row for row in samples if row.get("task") == name]
    if len(rows) != task.get("n_test", len(rows)) or not rows:
        raise HarnessError(
            f"{where}: task {name!r} has {len(rows)} rows in samples.jsonl, expected {task.get('n_test')}"
        )
    return rows


def score_task(
    metrics: dict[str, Metric], rows: list[dict], config: Config, phases: Sequence[str] = PHASES
) -> dict:
    """Every metric's results.json entry computed from the rows' predictions (``prediction_<phase>``
    for each of ``phases``: ``["before"]`` or ``["before", "after"]``); the rows'
    ``scores_<phase>`` are replaced by the new per-example scores."""
    return metric_entries(metrics, rows, compute_task(metrics, rows, phases), config)


def compute_task(
    metrics: dict[str, Metric], rows: list[dict], phases: Sequence[str] = PHASES
) -> dict[str, list[MetricResult]]:
    """Every metric computed on the rows' predictions of each of ``phases``: ``{metric: [result
    per phase]}``; the rows' ``scores_<phase>`` are replaced by the new per-example scores."""
    references = [tuple(row["references"]) for row in rows]
    computed: dict[str, list[MetricResult]] = {}
    for name, metric in metrics.items():
        computed[name] = [
            metric.compute([str(row[f"prediction_{phase}"]) for row in rows], references) for phase in phases
        ]
    for phase_index, phase in enumerate(phases):
        scores = {name: results[phase_index] for name, results in computed.items()}
        for i, row in enumerate(rows):
            row[f"scores_{phase}"] = per_example(scores, i)
    return computed


def metric_entries(
    metrics: dict[str, Metric], rows: list[dict], computed: dict[str, list[MetricResult]], config: Config
) -> dict:
    """Every metric's results.json entry (:func:`metric_entry`) from :func:`compute_task`'s results."""
    references = [tuple(row["references"]) for row in rows]
    return {
        name: metric_entry(
            metrics[name], references, results[0], results[1] if len(results) > 1 else None, config
        )
        for name, results in computed.items()
    }


def slices_again(
    saved: dict, metrics: dict, rows: list[dict], computed: dict, config: Config, where: str, task: str
):
    """A task's ``slices`` entry again (:func:`slices_entry`, as the cycle builds it), from the
    rows' ``"slice"`` and the recomputed results of the metric the slices were compared on."""
    name = saved.get("metric")
    if any("slice" not in row for row in rows):
        raise HarnessError(f"{where}: task {task!r} has slices but its samples.jsonl rows carry no 'slice'")
    results = computed[name]
    slices = [str(row["slice"]) for row in rows]
    return slices_entry(
        saved.get("field"),
        name,
        metrics[name],
        slices,
        results[0],
        results[1] if len(results) > 1 else None,
        config,
    )


def recorded_gates(results: dict, extra: Sequence[Gate] = ()) -> list[Gate]:
    """The gates a saved run was checked against, then ``extra`` ones (``--gate``) not among them."""
    gates = [parse(g["expression"], g.get("source", "gates")) for g in results.get("gates") or []]
    known = {gate.expression for gate in gates}
    return gates + [gate for gate in extra if gate.expression not in known]


def _phases(rows: list[dict]) -> tuple[str, ...]:
    return PHASES if all("prediction_after" in row for row in rows) else PHASES[:1]


def _numbers(task: dict) -> dict:
    """The numbers a reader acts on, to list what a rescore changed: every metric's before/after
    and p-value, and the verdict; the same of every slice, with its q-value and outcome."""
    numbers = {}
    slices = ((task.get("slices") or {}).get("values") or {}).items()
    for name, metric in [*task.get("metrics", {}).items(), *((f"[{v}]", s) for v, s in slices)]:
        for key in ("before", "after", "p_value", "q_value", "outcome"):
            if metric.get(key) is not None:
                numbers[f"{name}.{key}"] = metric[key]
    if task.get("verdict"):
        numbers["verdict"] = task["verdict"].get("outcome")
    return numbers


def _changed(old: dict, new: dict) -> list[str]:
    return [
        f"{key} {old.get(key)!r} -> {new.get(key)!r}"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]
