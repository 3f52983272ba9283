"""Where an evaluation's time goes: the numbers behind bench/README.md's sections on continuous
batching and on the process's start and exit.

* ``decoding``: harness's greedy decoder on the three built-in tasks' test prompts, with joins
  (continuous batching, the default) and without (``greedy.REFILL_AT = 0``): decode steps, rows
  decoded, prefilled tokens, and the CPU seconds spent in prefill forwards, decode forwards and
  the loop around them (forward hooks on the model);
* ``generate_batch`` (``--generate-batch``): transformers' own continuous batching
  (``model.generate_batch``, paged attention) on the same prompts: CPU seconds and agreement;
* ``gc``: ``harness eval --model DIR`` as a subprocess through ``cli.main`` (Python's default
  garbage-collector settings) and through ``cli.console`` (the console script's), counting the
  collections of each generation and their seconds with ``gc.callbacks``, and the seconds the
  process takes to end after its last atexit handler.

    python bench/eval_breakdown.py --model runs/<id>/model [--generate-batch]

Writes ``bench/results/eval_breakdown-<date>-<commit>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import eval_speed

# Runs `harness eval` in a child process and prints its collector statistics as JSON on stderr.
GC_DRIVER = """
import atexit, gc, json, os, sys, time
started = time.perf_counter()
stats = {0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]}
begun = []
def count(phase, info):
    if phase == "start":
        begun.append(time.perf_counter())
    else:
        stats[info["generation"]][0] += 1
        stats[info["generation"]][1] += time.perf_counter() - begun.pop()
gc.callbacks.append(count)
atexit.register(lambda: print("GCSTATS " + json.dumps({
    "collections": {g: n for g, (n, _) in stats.items()},
    "seconds": {g: round(t, 3) for g, (_, t) in stats.items()},
    "atexit_at": round(time.perf_counter() - started, 3)}), file=sys.stderr))
sys.argv = ["harness", *sys.argv[1:]]
from harness import cli
sys.exit(getattr(cli, os.environ["ENTRY"])())
"""


def decoding(loaded, workload, batch_size: int) -> dict:
    """Steps, rows, prefilled tokens and CPU seconds of the decoder with joins on and off."""
    from harness.evaluation import greedy

    counts: dict = {}
    started: list[float] = []

    def before(module, args, kwargs):
        started.append(time.process_time())

    def after(module, args, kwargs, output):
        ids = kwargs["input_ids"]
        kind = "prefill" if ids.shape[1] > 1 else "decode"
        counts[f"{kind}_cpu_s"] += time.process_time() - started.pop()
        counts[f"{kind}_calls"] += 1
        counts["prefilled_tokens" if kind == "prefill" else "rows_decoded"] += ids.numel()

    hooks = [
        loaded.model.register_forward_pre_hook(before, with_kwargs=True),
        loaded.model.register_forward_hook(after, with_kwargs=True),
    ]
    result, default = {}, greedy.REFILL_AT
    try:
        for label, refill_at in (("joins off", 0.0), ("joins on", default)):
            greedy.REFILL_AT = refill_at
            for _ in ("warm-up", "measured"):  # the counts of the second call are kept
                counts.update(prefill_cpu_s=0.0, decode_cpu_s=0.0, prefill_calls=0, decode_calls=0)
                counts.update(prefilled_tokens=0, rows_decoded=0)
                cpu = time.process_time()
                outputs = eval_speed.harness_generate(loaded, workload, batch_size)
                cpu = time.process_time() - cpu
            loop = cpu - counts["prefill_cpu_s"] - counts["decode_cpu_s"]
            result[label] = {
                "refill_at": refill_at,
                "cpu_s": round(cpu, 3),
                "loop_cpu_s": round(loop, 3),
                **{k: round(v, 3) if isinstance(v, float) else v for k, v in counts.items()},
            }
            result[label]["outputs"] = outputs
    finally:
        greedy.REFILL_AT = default
        for hook in hooks:
            hook.remove()
    on, off = result["joins on"].pop("outputs"), result["joins off"].pop("outputs")
    same = sum(a == b for task in on for a, b in zip(on[task], off[task], strict=True))
    result["identical"] = f"{same}/{sum(len(v) for v in on.values())}"
    return result


def generate_batch(model_dir: Path, loaded, workload) -> dict:
    """transformers' continuous-batching ``generate_batch`` vs harness's decoder (CPU seconds)."""
    from transformers import AutoModelForCausalLM, GenerationConfig

    from harness.tasks.prompting import truncate_at_stop

    tokenizer = loaded.tokenizer
    paged = AutoModelForCausalLM.from_pretrained(str(model_dir), attn_implementation="paged|sdpa").eval()

    def run():
        results = {}
        for task, _, prompts in workload:
            config = GenerationConfig(
                max_new_tokens=task.max_new_tokens,
                do_sample=False,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
            ids = tokenizer(prompts)["input_ids"]
            out = paged.generate_batch(inputs=ids, generation_config=config, progress_bar=False)
            ordered = sorted(out, key=lambda key: int(key.rsplit("_", 1)[-1]))
            texts = [tokenizer.decode(out[k].generated_tokens, skip_special_tokens=True) for k in ordered]
            results[task.name] = [truncate_at_stop(text, task.stop) for text in texts]
        return results

    run()  # warm-up
    _, _, theirs, cpu = eval_speed.timed(run, 1)
    _, _, ours, ours_cpu = eval_speed.timed(lambda: eval_speed.harness_generate(loaded, workload, 32), 1)
    same, total, _ = eval_speed.agreement(ours, theirs, workload)
    return {
        "generate_batch_cpu_s": round(cpu[0], 3),
        "harness_cpu_s": round(ours_cpu[0], 3),
        "identical": f"{same}/{total}",
    }


def collector(model_dir: Path, threads: int, repeats: int) -> dict:
    """Collections and exit time of ``harness eval`` under ``cli.main`` and ``cli.console``."""
    env = {**os.environ, **eval_speed.thread_env(threads)}
    runs: dict = {"main": [], "console": []}
    with tempfile.TemporaryDirectory() as work:
        for _ in range(repeats):
            for entry in runs:
                args = ["eval", "--model", str(model_dir), "--set", f"threads={threads}", "--no-cache", "-q"]
                started = time.perf_counter()
                proc = subprocess.run(
                    [sys.executable, "-c", GC_DRIVER, *args],
                    env={**env, "ENTRY": entry},
                    cwd=work,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                wall = time.perf_counter() - started
                line = next((x for x in proc.stderr.splitlines() if x.startswith("GCSTATS ")), None)
                if proc.returncode != 0 or line is None:
                    raise SystemExit(f"harness eval through cli.{entry} failed:\n{proc.stderr[-2000:]}")
                stats = json.loads(line.removeprefix("GCSTATS "))
                stats["wall_s"] = round(wall, 3)
                stats["after_atexit_s"] = round(wall - stats["atexit_at"], 3)
                runs[entry].append(stats)
    return runs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, required=True, help="a model folder (a tuned default run's)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="harness eval runs per entry point")
    parser.add_argument("--generate-batch", action="store_true", help="time transformers' generate_batch")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    os.environ.update(eval_speed.thread_env(args.threads))
    import torch

    from harness.config import EvalConfig
    from harness.models import load_model

    torch.set_num_threads(args.threads)
    _, workload = eval_speed.load_workload(0)
    loaded = load_model(str(args.model.resolve()), {}, "cpu")
    result = {
        "benchmark": "eval_breakdown",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "machine": eval_speed.machine_info(),
        "versions": eval_speed.versions(),
        "harness_source": eval_speed.harness_source_state(),
        "decoding": decoding(loaded, workload, EvalConfig().batch_size),
    }
    if args.generate_batch:
        result["generate_batch"] = generate_batch(args.model.resolve(), loaded, workload)
    result["gc"] = collector(args.model.resolve(), args.threads, args.repeats)
    commit = (result["harness_source"].get("commit") or "unknown")[:7]
    name = f"eval_breakdown-{dt.date.today()}-{commit}.json"
    output = args.output or Path(__file__).parent / "results" / name
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    shown = ("decoding", "generate_batch", "gc")
    print(json.dumps({key: value for key, value in result.items() if key in shown}, indent=1))
    print(f"raw results: {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
