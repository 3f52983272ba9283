"""A seed set (``harness run --seeds N``): one baseline, ``N`` tunings that differ only in their
training seed (``train.seed``: data order, dropout, a LoRA adapter's initialisation), and the verdict over
them that accounts for the spread of training itself (:mod:`harness.decisions.seeds`).

Every seed is a whole run with its own folder and report. The baseline is evaluated once: the
first run stores it in the baseline cache and the others read it there (with ``cache = false`` it
is evaluated again each time, and ``baseline_shared`` in seeds.json says whether it came out the
same). The dev split and few-shot demonstrations follow the run's ``seed``, so they are the same
for every tuning. The set's own files, ``seeds.json``, ``seeds.md`` and ``seeds.html``, go to
``<output_dir>/seeds-<first run id>/``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

from harness import distributed
from harness.config import Config
from harness.decisions.seeds import seed_verdicts
from harness.progress import Progress
from harness.versions import __version__


def training_seeds(config: Config) -> list[int]:
    """The seed set's training seeds: ``config.seed``, ``config.seed + 1``, ... (``config.seeds``)."""
    return [config.seed + i for i in range(config.seeds)]


def run_seeds(config: Config, *, progress: Progress, gates: Sequence = ()) -> tuple[dict, dict, list[dict]]:
    """Run the cycle once per training seed and write the set's report.

    :returns: the seeds.json content, its files' paths, and each seed's ``{"results", "paths"}``
        (``({}, {}, [])`` on ranks other than 0)."""
    from harness.cycle import run_cycle
    from harness.reports.seeds import write_seed_set

    seeds = training_seeds(config)
    runs = []
    for seed in seeds:
        one = dataclasses.replace(config, seeds=1, train=dataclasses.replace(config.train, seed=seed))
        results, paths = run_cycle(one, train=True, progress=progress, gates=gates)
        runs.append({"results": results, "paths": paths})
    if not distributed.is_main():
        return {}, {}, []
    summary = seed_summary([r["results"] for r in runs], seeds, config)
    paths = write_seed_set(Path(config.output_dir) / summary["set_id"], summary)
    return summary, paths, runs


def seed_summary(runs: Sequence[dict], seeds: Sequence[int], config: Config) -> dict:
    """The content of seeds.json for the results of one run per seed."""
    tasks, decision = seed_verdicts(runs, seeds)
    warnings = [
        f"{name}: the baseline differed between seeds (is the baseline cache off?); the deltas are "
        "each against its own run's baseline"
        for name, task in tasks.items()
        if not task["baseline_shared"]
    ]
    return {
        "schema_version": 1,
        "set_id": f"seeds-{runs[0]['run_id']}",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "harness_version": __version__,
        "model": (runs[0].get("model") or {}).get("name"),
        "seeds": list(seeds),
        "runs": [{"seed": seed, "run_id": run["run_id"]} for seed, run in zip(seeds, runs, strict=True)],
        "tasks": tasks,
        "decision": decision,
        "warnings": warnings,
        "config": {"seed": config.seed, "seeds": config.seeds},
    }


# config keys that differ between a seed set's runs and a single run of the same recipe
_NOT_RECIPE = {"seed", "seeds", "output_dir", "models_dir", "cache", "threads", "device", "gates"}
_NOT_RECIPE_TRAIN = {"seed", "report_to", "keep_checkpoints", "save_every"}


def known_spread(sides: Sequence[dict], folders: Sequence[Path]) -> dict | None:
    """The seed set that measured the spread of training for one of ``sides`` (results.json
    contents), looked for as ``seeds-*/seeds.json`` in ``folders``: a set one of the runs belongs
    to, else a set whose runs had a run's config but for the seeds. ``None`` when none is found;
    else ``{"set_id", "path", "n_seeds", "matched", "tasks": {name: {"metric", "seed_sd"}}}``."""
    found = []
    for folder in dict.fromkeys(Path(f).resolve() for f in folders):
        for path in sorted(folder.glob("seeds-*/seeds.json")):
            try:
                found.append((path, json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError):
                continue  # a set being written, or not one of ours: no spread from it
    for path, summary in sorted(found, key=lambda item: -len(item[1].get("seeds") or [])):
        members = {str(run.get("run_id")) for run in summary.get("runs") or []}
        matched = next(
            (f"run {s['run_id']} is one of its seeds" for s in sides if s.get("run_id") in members), None
        )
        if matched is None:
            recipe = _recipe(_member_config(path.parent.parent, summary))
            matched = next(
                (
                    f"run {s['run_id']} has its runs' config but for the seeds"
                    for s in sides
                    if s.get("mode") == "run" and recipe is not None and _recipe(s.get("config")) == recipe
                ),
                None,
            )
        if matched:
            tasks = {
                name: {"metric": task.get("metric"), "seed_sd": task.get("seed_sd")}
                for name, task in (summary.get("tasks") or {}).items()
            }
            n_seeds = len(summary.get("seeds") or [])
            return {
                "set_id": summary.get("set_id"),
                "path": str(path),
                "n_seeds": n_seeds,
                "matched": matched,
                "tasks": tasks,
            }
    return None


def _member_config(folder: Path, summary: dict) -> dict | None:
    """The config of the set's first run, from its results.json beside the set's folder."""
    runs = summary.get("runs") or []
    try:
        results = json.loads((folder / str(runs[0]["run_id"]) / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, IndexError, KeyError, TypeError):
        return None
    return results.get("config")


def _recipe(config: dict | None) -> dict | None:
    """What makes two runs the same recipe: the config without its seeds and output settings."""
    if not isinstance(config, dict):
        return None
    recipe = {k: v for k, v in config.items() if k not in _NOT_RECIPE}
    if isinstance(recipe.get("train"), dict):
        recipe["train"] = {k: v for k, v in recipe["train"].items() if k not in _NOT_RECIPE_TRAIN}
    return recipe
