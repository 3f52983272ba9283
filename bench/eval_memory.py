"""Peak memory of an evaluation: ``harness eval`` on the tiny preset over a generated task of
5,000 examples, with and without one 10 MB input line, each in a fresh process whose peak
resident set size (``ru_maxrss`` of the child, from ``os.wait4``) is recorded.

    python bench/eval_memory.py                       # 50 / 5,000 / 5,000 + a 10 MB line
    python bench/eval_memory.py --examples 5000 --long-line-mb 10 --threads 1

The 50-example run is the fixed cost (Python, torch, the model); what grows beyond it is what
evaluation holds per example (prompts, predictions, samples). Evaluation prompts are cut to the
model's context (``harness.tasks.prompting.evaluation_prompts``), so a 10 MB line costs its
tokenization, not a 10 MB forward pass. Raw results go to ``bench/results/eval_memory-<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = """
import harness
from harness import DataSource, Task


@harness.hookimpl
def harness_tasks():
    return [Task(name="memory", instruction="Repeat the first word.", test=DataSource({path!r}),
                 metrics=("exact_match",), max_new_tokens=8)]
"""
WORDS = "the a cat dog sat on mat ran far away near house tree river stone light dark good bad".split()


def write_task(folder: Path, examples: int, long_line_mb: float, seed: int = 0) -> Path:
    """A JSONL test split of ``examples`` lines (inputs of 20-80 words), the middle one replaced by
    an input of ``long_line_mb`` megabytes when > 0; and the plugin registering it as ``memory``."""
    rng = random.Random(seed)
    data = folder / "memory.jsonl"
    with data.open("w", encoding="utf-8") as handle:
        for i in range(examples):
            words = [rng.choice(WORDS) for _ in range(rng.randint(20, 80))]
            if long_line_mb and i == examples // 2:
                words = (WORDS * int(long_line_mb * 1e6 / len(" ".join(WORDS)) + 1))[:]
            handle.write(json.dumps({"input": " ".join(words), "output": words[0]}) + "\n")
    plugin = folder / "memory_plugin.py"
    plugin.write_text(PLUGIN.format(path=str(data)), encoding="utf-8")
    return plugin


def measure(examples: int, long_line_mb: float, threads: int) -> dict:
    """One ``harness eval`` in a fresh process: its peak RSS, wall time and exit code."""
    with tempfile.TemporaryDirectory(prefix="eval-memory-") as tmp:
        folder = Path(tmp)
        plugin = write_task(folder, examples, long_line_mb)
        env = {
            **os.environ,
            "OMP_NUM_THREADS": str(threads),
            "HARNESS_DISABLE_PLUGIN_AUTOLOAD": "1",
            "PYTHONPATH": str(ROOT),
        }
        command = [sys.executable, "-m", "harness.cli", "eval", "--model", "tiny", "--tasks", "memory"]
        command += ["--plugin", str(plugin), "-o", str(folder / "reports"), "-q", "--no-cache"]
        command += ["--set", f"threads={threads}"]
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        output = process.stdout.read().decode(errors="replace")
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        samples = next((folder / "reports").glob("*/samples.jsonl"), None)
        return {
            "examples": examples,
            "long_line_mb": long_line_mb,
            "exit_code": process.returncode,
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
            "seconds": round(seconds, 1),
            "samples_jsonl_mib": round(samples.stat().st_size / 2**20, 2) if samples else None,
            "warnings": [line for line in output.splitlines() if "warning" in line],
            "output_tail": output[-600:] if process.returncode else "",
        }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=5000)
    parser.add_argument("--long-line-mb", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    runs = []
    for examples, long_line in ((50, 0.0), (args.examples, 0.0), (args.examples, args.long_line_mb)):
        result = measure(examples, long_line, args.threads)
        print(json.dumps({k: v for k, v in result.items() if k != "output_tail"}), flush=True)
        runs.append(result)
    record = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "threads": args.threads,
        "runs": runs,
    }
    out = ROOT / "bench" / "results" / f"eval_memory-{dt.date.today().isoformat()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0 if all(run["exit_code"] == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
