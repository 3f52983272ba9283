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
