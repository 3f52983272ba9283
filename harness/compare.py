"""``harness compare RUN_A RUN_B``: the before/after comparison of a run, for any two saved runs.
A flow beside :mod:`harness.cycle` and :mod:`harness.rescore`: it loads both runs, scores,
concludes and writes the comparison's report set (:func:`harness.closing.close`).

Each run contributes its final predictions (a tuning run's "after", an evaluation's only ones),
and the comparison is paired example by example, so it needs the same test examples on both
sides: a shared task is compared only when the example ids match and each example's input and
references are identical (the data hash); otherwise the command refuses with the reason. It
also refuses runs whose predictions were made differently (:func:`mismatches`: rendered
prompts, template, few-shot, generation settings, max length, task or metric versions) unless
``--allow-mismatch FIELD`` allows it, which the report then says. Both sides are scored again
with the metrics as registered now, so a metric fixed between the runs cannot tilt the
comparison. A is "before", B is "after": verdicts say whether B beats A.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path

from harness.closing import close
from harness.decisions.gates import parse
from harness.errors import HarnessError, did_you_mean
from harness.evaluation import guard
from harness.evaluation.flips import flips
from harness.reports.schema import header, report_files
from harness.reports.store import RESULTS_FILE, load_run
from harness.rescore import (
    compute_task,
    metric_entries,
    metric_registry,
    resolve_metric,
    saved_config,
    slices_again,
    task_rows,
)
from harness.seeds import known_spread

# what the provenance diff looks at; run-specific values (ids, paths of outputs, times) are left out
PROVENANCE = ("config", "model", "versions", "generation", "device", "harness_version", "git_commit")
IGNORED = {"config.output_dir", "config.models_dir", "model.output_dir", "device.torch_threads"}
# a task's settings that change its predictions or scores: in the diff, and checked by mismatches()
TASK_SETTINGS = {
    "instruction": "instruction",
    "num_fewshot": "num_fewshot",
    "max_new_tokens": "max_new_tokens",
    "stop": "stop",
    "scoring": "scoring",
    "choices": "choices",
    "task_version": "version",
}
MISMATCH_FIELDS = ("prompts", "prompt_template", *TASK_SETTINGS, "max_length", "metric_settings")
"""What two compared runs must share, else ``harness compare`` refuses (``--allow-mismatch``)."""


def compare(
    dir_a: Path,
    dir_b: Path,
    output_dir: Path,
    *,
    tasks: Sequence[str] | None = None,
    plugin_specs: Sequence[str] = (),
    gates: Sequence[str] = (),
    allow_mismatch: Sequence[str] = (),
) -> tuple[dict, dict[str, Path]]:
    """Compare run B (after) with run A (before) on their shared tasks and write the report set
    as ``output_dir/compare-A-vs-B`` (and the run history of ``output_dir``); returns the
    results and the paths written.

    :param tasks: compare only these tasks (each must be in both runs); default: every task the
        two runs share.
    :param plugin_specs: plugins to load besides both runs' own, e.g. a metric's file.
    :param gates: gate expressions to check on the comparison (as ``--gate``).
    :param allow_mismatch: fields of :data:`MISMATCH_FIELDS` that may differ between the runs.
    :raises HarnessError: when the runs share no task, a task cannot be paired, or the runs
        differ in a field not allowed.
    """
    parsed = [parse(expression) for expression in gates]  # a malformed gate fails before any work
    for field in allow_mismatch:
        if field not in MISMATCH_FIELDS:
            raise HarnessError(
                f"--allow-mismatch: unknown field {field!r}{did_you_mean(field, MISMATCH_FIELDS)}; "
                f"fields: {', '.join(MISMATCH_FIELDS)}"
            )
    a, b = _side(dir_a), _side(dir_b)
    config = a["config"]
    names = _shared_tasks(a, b, tasks)
    paired = {name: _paired_rows(name, a, b) for name in names}
    differing = mismatches(a["results"], b["results"], paired)
    refused = [field for field in differing if field not in allow_mismatch]
    if refused:
        raise HarnessError(
            f"runs {a['run_id']} and {b['run_id']} are not comparable: "
            + "; ".join(f"{field} differs ({differing[field]})" for field in refused)
            + f" (compare them anyway with --allow-mismatch {' --allow-mismatch '.join(refused)})"
        )
    registry = metric_registry([*a["config"].plugins, *b["config"].plugins, *plugin_specs])
    entries, samples = {}, []
    for name, rows in paired.items():
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
            computed = compute_task(metrics, rows)
            entry["metrics"] = metric_entries(metrics, rows, computed, config)
            if isinstance(task_a.get("slices"), dict) and task_a["slices"].get("metric") in metrics:
                entry["slices"] = slices_again(
                    task_a["slices"], metrics, rows, computed, config, a["where"], name
                )
        entry["flips"] = flips(name, entry["primary_metric"], rows)
        entries[name] = entry
        samples += rows
    allowed = {field: differing[field] for field in differing if field in allow_mismatch}
    seed_set = known_spread([a["results"], b["results"]], [output_dir, a["dir"].parent, b["dir"].parent])
    spread_warnings = _with_seed_spread(entries, seed_set, a, b)
    results = {
        **header(f"compare-{a['run_id']}-vs-{b['run_id']}", "compare", config.seed, a["results"]["config"]),
        "compared": {"before": _summary(a), "after": _summary(b)},
        "differences": provenance_diff(a["results"], b["results"]),
        "model": {"name": f"{_model_name(a)} vs {_model_name(b)}", "output_dir": None},
        "statistics": a["results"].get("statistics"),
        "tasks": entries,
        "warnings": _warnings(a, b, names, allowed) + spread_warnings,
        "reports": report_files(),
    }
    if allowed:
        results["compared"]["allowed_mismatch"] = allowed
    if seed_set:
        results["compared"]["seed_set"] = {k: seed_set[k] for k in ("set_id", "path", "n_seeds", "matched")}
    return close(Path(output_dir) / results["run_id"], results, samples, config, parsed)


def mismatches(a: dict, b: dict, paired: dict[str, list[dict]]) -> dict[str, str]:
    """``{field: what differs}`` for each of :data:`MISMATCH_FIELDS` in which two results.json
    contents differ on the shared tasks (``paired``: each task's rows as :func:`compare` pairs
    them, ``prompt_after`` where B's prompt is not A's), e.g. ``{"max_new_tokens": "echo: 4 vs
    8"}``; empty when the runs' predictions were made alike. A different seed is not a mismatch."""
    found: dict[str, list[str]] = {}

    def note(field: str, where: str, before, after) -> None:
        if before != after:
            found.setdefault(field, []).append(f"{where}: {_short(before)} vs {_short(after)}")

    for name, rows in paired.items():
        n = sum("prompt_after" in row for row in rows)
        if n:
            found.setdefault("prompts", []).append(f"{name}: {n} of {len(rows)} prompts")
    generation_a, generation_b = a.get("generation") or {}, b.get("generation") or {}
    note("prompt_template", "run", generation_a.get("prompt_template"), generation_b.get("prompt_template"))
    for name in paired:
        task_a, task_b = a["tasks"][name], b["tasks"][name]
        for field, key in TASK_SETTINGS.items():
            note(field, name, task_a.get(key), task_b.get(key))
        note("max_length", name, _max_length(a, task_a), _max_length(b, task_b))
        for metric in (m for m in task_a["metrics"] if m in task_b["metrics"]):
            settings_a = task_a["metrics"][metric].get("settings")
            note("metric_settings", f"{name}.{metric}", settings_a, task_b["metrics"][metric].get("settings"))
    return {field: "; ".join(found[field]) for field in MISMATCH_FIELDS if field in found}


def provenance_diff(a: dict, b: dict) -> list[dict]:
    """``[{"key", "before", "after"}]``: every provenance value (config keys, model, library
    versions, prompt template, device, harness version and commit, the shared tasks' settings of
    :data:`TASK_SETTINGS`) that differs between two results.json contents, as dotted keys in
    sorted order."""
    flat_a, flat_b = {}, {}
    for section in PROVENANCE:
        _flatten(a.get(section), section, flat_a)
        _flatten(b.get(section), section, flat_b)
    tasks_a, tasks_b = a.get("tasks") or {}, b.get("tasks") or {}
    for name in (n for n in tasks_a if n in tasks_b):
        for key in TASK_SETTINGS.values():
            flat_a[f"tasks.{name}.{key}"] = tasks_a[name].get(key)
            flat_b[f"tasks.{name}.{key}"] = tasks_b[name].get(key)
    return [
        {"key": key, "before": flat_a.get(key), "after": flat_b.get(key)}
        for key in sorted(set(flat_a) | set(flat_b))
        if key not in IGNORED and flat_a.get(key) != flat_b.get(key)
    ]


def data_hash(rows: Sequence[dict]) -> str:
    """A short hash of a task's test examples as a run saw them: ids, inputs and references."""
    content = [[row.get("id"), row.get("input"), list(row.get("references") or [])] for row in rows]
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()[:16]


def _with_seed_spread(entries: dict[str, dict], seed_set: dict | None, a: dict, b: dict) -> list[str]:
    """Give each task the seed set measured a spread for a ``seed_spread`` (its verdict weighs
    the difference against it) and return a warning for each difference within it. Each tuned
    side adds one seed's variance: the band is ``seed_sd × sqrt(tuned sides)``."""
    tuned = sum(side["phase"] == "after" for side in (a, b))
    if not seed_set or not tuned:
        return []
    warnings = []
    for name, entry in entries.items():
        measured = seed_set["tasks"].get(name) or {}
        sd = measured.get("seed_sd")
        primary = (entry.get("metrics") or {}).get(entry.get("primary_metric")) or {}
        if measured.get("metric") != entry.get("primary_metric") or not isinstance(sd, int | float):
            continue
        band = float(sd) * math.sqrt(tuned)
        entry["seed_spread"] = {
            "set_id": seed_set["set_id"],
            "n_seeds": seed_set["n_seeds"],
            "seed_sd": sd,
            "tuned_runs": tuned,
            "band": band,
        }
        delta = primary.get("delta")
        if isinstance(delta, int | float) and abs(delta) <= band:
            warnings.append(
                f"{name}: the difference {delta:+.4g} is within the spread of training itself "
                f"(±{band:.3g}: seed-to-seed sd {sd:.3g} over {seed_set['n_seeds']} seeds of "
                f"{seed_set['set_id']}, {seed_set['matched']}); another training seed gives "
                "differences this size"
            )
    return warnings


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
    # the forgetting probe has no samples to pair: each run's row compares it with its own base
    kinds = {name: task.get("kind") for name, task in a["results"]["tasks"].items()}
    shared = [name for name in tasks_a if name in tasks_b and kinds[name] != "forgetting"]
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
        keys = ("task", "id", "prompt", "input", "reference", "references", "slice")
        row = {k: ra[k] for k in keys if k in ra}
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


def _max_length(results: dict, task: dict):
    """The token limit the task's test inputs were cut to (``train.max_length`` or the model's
    context, the smaller)."""
    limit = (task.get("truncation") or {}).get("limit")
    if limit is not None:
        return limit
    return ((results.get("config") or {}).get("train") or {}).get("max_length")


def _short(value, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _warnings(a: dict, b: dict, names: list[str], allowed: dict[str, str]) -> list[str]:
    warnings = []
    for side, other in ((a, b), (b, a)):
        skipped = [
            n for n in side["results"]["tasks"] if n not in names and n not in other["results"]["tasks"]
        ]
        if skipped:
            warnings.append(f"run {side['run_id']} only: {', '.join(skipped)} (not compared)")
    # [stats] (resamples, alpha, minimum effect, correction): the seed is A's too, and no matter
    stats_a, stats_b = dataclasses.asdict(a["config"].stats), dataclasses.asdict(b["config"].stats)
    for key in stats_a:
        if stats_a[key] != stats_b[key]:
            warnings.append(
                f"statistics setting {key} differs (run {a['run_id']}: {stats_a.get(key)}, "
                f"run {b['run_id']}: {stats_b.get(key)}); run {a['run_id']}'s is used"
            )
    warnings += [
        f"compared although {field} differs ({detail}): allowed by --allow-mismatch {field}"
        for field, detail in allowed.items()
    ]
    return warnings


def _flatten(value, prefix: str, into: dict) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}", into)
    else:
        into[prefix] = value
