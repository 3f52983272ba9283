"""Does a small fourth task cost the built-in tasks more than the spread of training itself?
And does a faster recipe?

Seed sets (``harness run --seeds N``), the same training seeds in each, the same everything else:

* ``three``: the three built-in tasks (summarization, sentiment, translation), the config as is
  (plus ``--set``);
* ``four``:  the same three and a small fourth task, a task file over Rotten Tomatoes snippets
  (``shared/data/sentiment_rt_polarity``, Pang & Lee): its first ``--fourth-limit`` training
  rows (60: 45 trained on, 15 held out for dev) and its own 400-row test set;
* ``recipe`` and ``recipe-four``: ``three`` and ``four`` with ``--recipe`` overrides on top (a
  candidate recipe).

For each built-in task it records the after-tuning primary metric per seed, and against a
reference set (``four`` and ``recipe`` against ``three``, ``recipe-four`` against ``recipe``) the
reference's range, mean and standard deviation over seeds, and for every seed whether its score
lies inside that range (``inside``) or below it (``below``: a cost beyond the spread). A sample
from the same distribution falls outside the range of N others with probability 2 / (N + 1) (half
of that below it), so the per-seed check is a coarse one; the mean difference against the
reference's standard deviation is recorded beside it (``mean_diff``, ``mean_diff_in_sd``). Each
set also records which checkpoint every seed kept, each seed's verdicts, and the set's wall and
CPU seconds (user + sys of the ``harness run`` process, from ``os.wait4``).

    python bench/selection_noise.py                  # N = 3 seeds, three and four (~10 min quiet, 2 cores)
    python bench/selection_noise.py --seeds 5
    python bench/selection_noise.py --arms three,recipe --recipe train.batch_size=16 --recipe train.epochs=12
    python bench/selection_noise.py --arms three     # the spread alone
    python bench/selection_noise.py --existing three=DIR/reports --existing four=DIR2/reports \
        --note "run at <commit>"                     # seed sets already run: read, not run
    python bench/selection_noise.py --arms three,recipe --existing three=bench/results/FILE.json \
        --recipe train.epochs=14                     # another recipe against a set measured before

``--set`` goes to every set, ``--recipe`` to the recipe sets after it. The data is read in place
from ``--data`` (default: the first ``shared/data`` found above the checkout), never copied. Raw
results go to ``bench/results/selection_noise-<date>-<commit>.json`` and a table is printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILT_IN = ("summarization", "sentiment", "translation")
FOURTH = "movie_sentiment"
ARMS = ("three", "four", "recipe", "recipe-four")
REFERENCE = {"four": "three", "recipe": "three", "recipe-four": "recipe"}  # each set compared against
TASK_FILE = """\
description = "Rotten Tomatoes snippet polarity (Pang & Lee, sentence polarity v1.0), a small task."
instruction = "Determine if the following sentence has a positive or negative sentiment."
choices = ["positive", "negative"]
metrics = ["accuracy", "macro_f1"]
version = 1
train = {{ path = {train!r}, limit = {limit} }}
test = {{ path = {test!r} }}
"""


def find_data() -> Path | None:
    """The first ``shared/data`` folder above the checkout (a worktree sits one level deeper)."""
    for parent in ROOT.parents:
        if (parent / "shared" / "data" / "sentiment_rt_polarity").is_dir():
            return parent / "shared" / "data"
    return None


def run_set(arm: str, seeds: int, seed: int, data: Path, limit: int, overrides: list[str]) -> dict:
    """One seed set in a fresh folder: its seeds.json, each run's kept checkpoint, its time."""
    with tempfile.TemporaryDirectory(prefix=f"selection-{arm}-") as tmp:
        folder = Path(tmp)
        command = [sys.executable, "-m", "harness.cli", "run", "-q", "--seeds", str(seeds)]
        command += ["--set", f"seed={seed}", *[a for o in overrides for a in ("--set", o)]]
        if arm.endswith("four"):
            tasks = folder / "tasks"
            tasks.mkdir()
            rt = data / "sentiment_rt_polarity"
            text = TASK_FILE.format(train=str(rt / "train.jsonl"), test=str(rt / "test.jsonl"), limit=limit)
            (tasks / f"{FOURTH}.toml").write_text(text, encoding="utf-8")
            command += ["--tasks-dir", str(tasks), "--tasks", ",".join([*BUILT_IN, FOURTH])]
        env = {**os.environ, "HARNESS_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": str(ROOT)}
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        output = process.stdout.read().decode(errors="replace")
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        if next((folder / "reports").glob("seeds-*/seeds.json"), None) is None:
            raise SystemExit(f"{arm}: harness run exited {code} without seeds.json:\n{output[-3000:]}")
        read = read_set(folder / "reports")
    return {
        "command": command[2:],
        "exit_code": code,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        **read,
    }


def read_set(reports: Path) -> dict:
    """A seed set from its reports folder: seeds.json's after-scores and outcomes, and each run's
    kept checkpoint, verdicts, dev history and durations."""
    summary = json.loads(next(reports.glob("seeds-*/seeds.json")).read_text(encoding="utf-8"))
    runs = []
    for entry in summary["runs"]:
        results = json.loads((reports / entry["run_id"] / "results.json").read_text("utf-8"))
        training, tasks = results["training"], results["tasks"]
        runs.append(
            {
                "seed": entry["seed"],
                "after": {n: t["metrics"][t["primary_metric"]]["after"] for n, t in tasks.items()},
                "best_step": training["best_step"],
                "steps": training["steps"],
                "max_steps": training["max_steps"],
                "kept": training["kept"],
                "outcomes": {n: (t.get("verdict") or {}).get("outcome") for n, t in tasks.items()},
                "dev_weights": training["dev_weights"],
                "dev_history": training["dev_history"],
                "seconds": results["durations"],
                "train_step_seconds": training["tokens"]["train_step_seconds"],  # the steps alone
            }
        )
    return {
        "seeds": summary["seeds"],
        "after_by_seed": {name: task["after_by_seed"] for name, task in summary["tasks"].items()},
        "outcome": {name: task.get("outcome") for name, task in summary["tasks"].items()},
        "decision": summary["decision"]["summary"],
        "runs": runs,
    }


def compare(reference: dict, other_set: dict) -> dict:
    """Per built-in task: the reference set's spread and where each seed of the other lies in it."""
    table = {}
    for name in BUILT_IN:
        base, other = reference["after_by_seed"][name], other_set["after_by_seed"][name]
        low, high = min(base), max(base)
        sd = statistics.stdev(base) if len(base) > 1 else None
        diff = statistics.fmean(other) - statistics.fmean(base)
        table[name] = {
            "reference": base,
            "other": other,
            "reference_mean": statistics.fmean(base),
            "reference_sd": sd,
            "reference_range": [low, high],
            "other_mean": statistics.fmean(other),
            "other_sd": statistics.stdev(other) if len(other) > 1 else None,
            "inside": [low <= x <= high for x in other],
            "below": [x < low for x in other],
            "mean_diff": diff,
            "mean_diff_in_sd": diff / sd if sd else None,
        }
    return table


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short=7", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "harness"], cwd=ROOT, capture_output=True, text=True
    )
    return (done.stdout.strip() or "nogit") + ("-dirty" if dirty.stdout.strip() else "")


def show(result: dict) -> None:
    for arm, data in result["sets"].items():
        kept = ", ".join(f"{r['best_step']}/{r['max_steps']}" for r in data["runs"])
        when = f"wall {data['wall_seconds']} s, CPU {data['cpu_seconds']} s" if "command" in data else "read"
        print(f"{arm}: {when}; kept steps {kept}")
        print(f"  {data['decision']}")
    for key, rows in result.get("comparisons", {}).items():
        print(key)
        for name, row in rows.items():
            base = " ".join(f"{x:.4g}" for x in row["reference"])
            marks = zip(row["other"], row["inside"], row["below"], strict=True)
            other = " ".join(f"{x:.4g}{'' if ok else ('v' if low else '^')}" for x, ok, low in marks)
            sd, in_sd = row["reference_sd"], row["mean_diff_in_sd"]
            print(
                f"  {name:14} [{base}] sd {sd if sd is None else f'{sd:.4g}'} | [{other}] "
                f"| mean diff {row['mean_diff']:+.4g} ({'-' if in_sd is None else f'{in_sd:+.2f}'} sd)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per set (seed, seed+1, ...)")
    parser.add_argument("--seed", type=int, default=0, help="the first training seed (and the run's seed)")
    parser.add_argument("--arms", default="three,four", help=f"which sets, of {', '.join(ARMS)}")
    parser.add_argument("--fourth-limit", type=int, default=60, help="training rows of the fourth task")
    parser.add_argument("--data", type=Path, default=find_data(), help="the shared/data folder")
    parser.add_argument(
        "--set", action="append", default=[], dest="overrides", help="KEY=VALUE for every set"
    )
    parser.add_argument(
        "--recipe", action="append", default=[], help="KEY=VALUE for the recipe sets, after --set"
    )
    parser.add_argument(
        "--existing",
        action="append",
        default=[],
        metavar="ARM=PATH",
        help="read that set instead of running it: a seed set's reports folder, or this script's results",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--label", default="", help="a suffix for the results file's name")
    parser.add_argument("--note", default="", help="recorded in the results")
    args = parser.parse_args()
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    existing = dict(item.split("=", 1) for item in args.existing)
    if set(arms) - set(ARMS):
        raise SystemExit(f"--arms: unknown {sorted(set(arms) - set(ARMS))}; known: {', '.join(ARMS)}")
    if any(a.endswith("four") for a in arms) and (
        args.data is None or not (args.data / "sentiment_rt_polarity").is_dir()
    ):
        raise SystemExit(f"no sentiment_rt_polarity under --data {args.data}")

    result = {
        "benchmark": "selection_noise",
        "date": dt.date.today().isoformat(),
        "commit": commit(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg(),
        "seeds": args.seeds,
        "overrides": args.overrides,
        "recipe": args.recipe,
        "note": args.note,
        "fourth_task": {"name": FOURTH, "data": "sentiment_rt_polarity", "train_limit": args.fourth_limit},
        "sets": {},
    }
    suffix = f"-{args.label}" if args.label else ""
    path = args.out / f"selection_noise-{result['date']}-{result['commit']}{suffix}.json"
    args.out.mkdir(parents=True, exist_ok=True)
    for arm in arms:  # the file is rewritten after each set, so a long run can be followed
        print(f"{arm}: {'read' if arm in existing else f'{args.seeds} seeds'} ...", flush=True)
        overrides = args.overrides + (args.recipe if arm.startswith("recipe") else [])
        sets = result["sets"]
        if arm in existing and existing[arm].endswith(".json"):  # a set of an earlier results file
            sets[arm] = {
                "read_from": existing[arm],
                **json.loads(Path(existing[arm]).read_text("utf-8"))["sets"][arm],
            }
        elif arm in existing:
            sets[arm] = {"read_from": existing[arm], **read_set(Path(existing[arm]))}
        else:
            sets[arm] = run_set(arm, args.seeds, args.seed, args.data, args.fourth_limit, overrides)
        result["comparisons"] = {
            f"{name} against {ref}": compare(sets[ref], sets[name])
            for name, ref in REFERENCE.items()
            if {name, ref} <= set(sets)
        }
        result["load_after"] = os.getloadavg()
        path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    show(result)
    print(f"-> {path}")


if __name__ == "__main__":
    main()
