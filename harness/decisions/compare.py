"""``harness compare RUN_A RUN_B``: the before/after comparison of a run, for any two saved runs.

Each run contributes its final predictions (a tuning run's "after", an evaluation's only ones),
and the comparison is paired example by example, so it needs the same test examples on both
sides: a shared task is compared only when the example ids match and each example's input and
references are identical (the data hash); otherwise the command refuses with the reason. Both
sides are scored again with the metrics as registered now, so a metric fixed between the runs
cannot tilt the comparison. A is "before", B is "after": verdicts say whether B beats A.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from harness.decisions.gates import check, check_names, parse
from harness.decisions.rescore import metric_registry, resolve_metric, saved_config, score_task, task_rows
from harness.errors import HarnessError, did_you_mean
from harness.evaluation import guard
from harness.reports.schema import SCHEMA_VERSION, add_verdicts, with_gates
from harness.reports.store import HTML_FILE, MD_FILE, RESULTS_FILE, SAMPLES_FILE, load_run
from harness.versions import __version__, git_commit

# what the provenance diff looks at; run-specific values (ids, paths of outputs, times) are left out
PROVENANCE = ("config", "model", "versions", "generation", "device", "harness_version", "git_commit")
IGNORED = {"config.output_dir", "config.models_dir", "model.output_dir", "device.torch_threads"}


def compare_runs(
    dir_a: Path,
    dir_b: Path,
    *,
    tasks: Sequence[str] | None = None,
    plugin_specs: Sequence[str] = (),
    gates: Sequence[str] = (),
) -> tuple[dict, list[dict]]:
    """``(results, samples)`` comparing run B (after) with run A (before) on their shared tasks.

    :param tasks: compare only these tasks (each must be in both runs); default: every task the
        two runs share.
    :param plugin_specs: plugins to load besides both runs' own, e.g. a metric's file.
    :param gates: gate expressions to check on the comparison (as ``--gate``).
    :raises HarnessError: when the runs share no task, or a task cannot be paired.
    """
    a, b = _side(dir_a), _side(dir_b)
    config = a["config"]
    names = _shared_tasks(a, b, tasks)
    registry = metric_registry([*a["config"].plugins, *b["config"].plugins, *plugin_specs])
    entries, samples = {}, []
    for name in names:
        rows = _paired_rows(name, a, b)
        task_a, task_b = a["results"]["tasks"][name], b["results"]["tasks"][name]
        shared = [m for m in task_a["metrics"] if m in task_b["metrics"]]
        entry = {k: v for k, v in task_a.items() if k not in ("verdict", "flips", "baseline_cached")}
        entry["n_test"] = len(rows)
        if task_a.get("kind") == "guard":  # lm-eval's saved scores, paired like harness's own
            saved = {"metrics": {m: task_a["metrics"][m] for m in shared}}
            corpus = {
                "before": {m: task_a["metrics"][m][a["phase"]] for m in shared},
                "after": {m: task_b["metrics"][m][b["phase"]] for m in shared},
            }
            entry["metrics"] = guard.recorded_metrics(saved, rows, corpus, config)
        else:
            metrics = {m: resolve_metric(registry, m, name, a["where"]) for m in shared}
            entry["metrics"] = score_task(metrics, rows, config)
        from harness.evaluation.stats import flips

        entry["flips"] = flips(name, entry["primary_metric"], rows)
        entries[name] = entry
        samples += rows
    results = {
        "schema_version": SCHEMA_VERSION,
        "run_id": f"compare-{a['run_id']}-vs-{b['run_id']}",
        "mode": "compare",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "harness_version": __version__,
        "git_commit": git_commit(),
        "seed": config.seed,
        "config": a["results"]["config"],
        "compared": {"before": _summary(a), "after": _summary(b)},
        "differences": provenance_diff(a["results"], b["results"]),
        "model": {"name": f"{_model_name(a)} vs {_model_name(b)}", "output_dir": None},
        "statistics": a["results"].get("statistics"),
        "tasks": entries,
        "warnings": _warnings(a, b, names),
    }
    add_verdicts(results, config)
    parsed = [parse(expression) for expression in gates]
    if parsed:
        check_names(parsed, {n: list(t["metrics"]) for n, t in entries.items()}, "run")
        results = with_gates(results, check(parsed, results))
    results["reports"] = {"html": HTML_FILE, "markdown": MD_FILE, "samples": SAMPLES_FILE}
    return results, samples


def provenance_diff(a: dict, b: dict) -> list[dict]:
    """``[{"key", "before", "after"}]``: every provenance value (config keys, model, library
    versions, prompt template, device, harness version and commit) that differs between two
    results.json contents, as dotted keys in sorted order."""
    flat_a, flat_b = {}, {}
    for section in PROVENANCE:
        _flatten(a.get(section), section, flat_a)
        _flatten(b.get(section), section, flat_b)
    return [
        {"key": key, "before": flat_a.get(key), "after": flat_b.get(key)}
        for key in sorted(set(flat_a) | set(flat_b))
        if key not in IGNORED and flat_a.get(key) != flat_b.get(key)
    ]


def data_hash(rows: Sequence[dict]) -> str:
    """A short hash of a task's test examples as a run saw them: ids, inputs and references."""
    content = [[row.get("id"), row.get("input"), list(row.get("references") or [])] for row in rows]
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()[:16]


def _side(run_dir: Path) -> dict:
    results, samples = load_run(run_dir)
    where = str(Path(run_dir) / RESULTS_FILE)
    config = saved_config(results, where)
    if results.get("mode") == "compare":
        raise HarnessError(f"{where}: is a comparison; compare the runs it compared instead")
    phase = "after" if results.get("mode") == "run" else "before"
    return {
        "dir": Path(run_dir),
        "where": where,
        "results": results,
        "samples": samples,
        "config": config,
        "phase": phase,
        "run_id": str(results.get("run_id", Path(run_dir).name)),
    }


def _shared_tasks(a: dict, b: dict, wanted: Sequence[str] | None) -> list[str]:
    tasks_a, tasks_b = list(a["results"]["tasks"]), list(b["results"]["tasks"])
    shared = [name for name in tasks_a if name in tasks_b]
    if wanted:
        for name in wanted:
            for side, names in (("A", tasks_a), ("B", tasks_b)):
                if name not in names:
                    raise HarnessError(
                        f"task {name!r} is not in run {side} ({a['run_id'] if side == 'A' else b['run_id']})"
                        f"{did_you_mean(name, names)}; its tasks: {', '.join(names)}"
                    )
        return list(dict.fromkeys(wanted))
    if not shared:
        raise HarnessError(
            f"runs {a['run_id']} and {b['run_id']} share no task "
            f"(A: {', '.join(tasks_a) or 'none'}; B: {', '.join(tasks_b) or 'none'})"
        )
    return shared


def _paired_rows(name: str, a: dict, b: dict) -> list[dict]:
    """The task's rows with A's predictions as "before" and B's as "after", in A's order; refuses
    (one line) when the two runs did not see the same examples."""
    rows_a = task_rows(a["samples"], name, a["results"]["tasks"][name], a["where"])
    rows_b = task_rows(b["samples"], name, b["results"]["tasks"][name], b["where"])
    refuse = f"cannot compare task {name!r} pairwise: "
    ids_a, ids_b = [row.get("id") for row in rows_a], [row.get("id") for row in rows_b]
    for side, ids in (("A", ids_a), ("B", ids_b)):
        if len(set(map(str, ids))) != len(ids):
            raise HarnessError(refuse + f"run {side}'s example ids are not unique")
    if set(map(str, ids_a)) != set(map(str, ids_b)):
        only_a = len(set(map(str, ids_a)) - set(map(str, ids_b)))
        only_b = len(set(map(str, ids_b)) - set(map(str, ids_a)))
        raise HarnessError(
            refuse + f"the runs' test examples differ ({only_a} ids only in A, {only_b} only in B); "
            "compare runs evaluated on the same test data"
        )
    by_id = {str(row.get("id")): row for row in rows_b}
    rows_b = [by_id[str(i)] for i in ids_a]
    if data_hash(rows_a) != data_hash(rows_b):
        differing = next(
            ra.get("id") for ra, rb in zip(rows_a, rows_b, strict=True) if data_hash([ra]) != data_hash([rb])
        )
        raise HarnessError(
            refuse + f"the test data differ (data hash {data_hash(rows_a)} vs {data_hash(rows_b)}; "
            f"first differing example: id {differing!r})"
        )
    primary_a = a["results"]["tasks"][name].get("primary_metric")
    primary_b = b["results"]["tasks"][name].get("primary_metric")
    if primary_a != primary_b:
        raise HarnessError(refuse + f"primary metric {primary_a!r} in A but {primary_b!r} in B")
    paired = []
    for ra, rb in zip(rows_a, rows_b, strict=True):
        row = {k: ra[k] for k in ("task", "id", "prompt", "input", "reference", "references") if k in ra}
        if rb.get("prompt") != ra.get("prompt"):
            row["prompt_after"] = rb.get("prompt")
        row["prediction_before"] = ra[f"prediction_{a['phase']}"]
        row["prediction_after"] = rb[f"prediction_{b['phase']}"]
        if a["results"]["tasks"][name].get("kind") == "guard":  # scored by lm-eval when the runs ran
            row["scores_before"] = ra.get(f"scores_{a['phase']}", {})
            row["scores_after"] = rb.get(f"scores_{b['phase']}", {})
        paired.append(row)
    return paired


def _summary(side: dict) -> dict:
    """What the report says about one compared run."""
    results = side["results"]
    return {
        "run_id": side["run_id"],
        "path": str(side["dir"]),
        "mode": results.get("mode"),
        "predictions": "after tuning" if side["phase"] == "after" else "evaluated model",
        "model": _model_name(side),
        "method": (results.get("training") or {}).get("method"),
        "created": results.get("created"),
    }


def _model_name(side: dict) -> str:
    return str((side["results"].get("model") or {}).get("name", "?"))


def _warnings(a: dict, b: dict, names: list[str]) -> list[str]:
    warnings = []
    for side, other in ((a, b), (b, a)):
        skipped = [
            n for n in side["results"]["tasks"] if n not in names and n not in other["results"]["tasks"]
        ]
        if skipped:
            warnings.append(f"run {side['run_id']} only: {', '.join(skipped)} (not compared)")
    if a["results"].get("statistics") != b["results"].get("statistics"):
        warnings.append(f"the runs' statistics settings differ; run {a['run_id']}'s are used")
    return warnings


def _flatten(value, prefix: str, into: dict) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}", into)
    else:
        into[prefix] = value
