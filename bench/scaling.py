"""How the cost of a ``harness run`` grows with the work: data, example length, model size.

Every case is one whole ``harness run`` in its own subprocess (full fine-tuning, one epoch, no
dev split, no baseline cache), on English→French pairs of ``../shared/data``'s Tatoeba sample,
written for the case into a temporary folder (never into the project). Three axes, each at
1×, 4× and 16×, everything else held:

* **examples**: 1× = 200 training and 40 test examples of one sentence pair each;
* **length**: 200 / 40 examples as at 1×, each joining 1, 4 or 16 consecutive pairs into one
  input and one answer (``max_new_tokens`` grows with it), so 16× length has as many training
  tokens as 16× examples, in 16 times fewer, longer rows;
* **model**: ~0.5M (the ``tiny`` preset's shape), ~5M and ~30M parameters (Llama-style, random
  weights from their config, the tiny preset's tokenizer: timing does not depend on the weights).

Per case, from the child: wall time, user+system CPU and peak RSS (``os.wait4``), and from its
results.json the phases (``durations``), the training tokens and the evaluation's processed
tokens (the forecast's). Fixed costs are what does not grow with the work: the process start
and imports (wall minus the run's own ``total``), the model load, and the closing step (reports,
``total`` minus the phases). Per-token costs are the phases divided by their tokens. The growth
exponent of a phase along an axis is the slope of log(seconds) against log(factor) from 1× to
16×: 1 is linear, above 1 super-linear.

Usage::

    python bench/scaling.py                         # every case (about 10 minutes on 2 quiet cores)
    python bench/scaling.py --axes examples --factors 1,4

Results go to ``bench/results/scaling-<date>-<commit>.json``, the chart to
``bench/results/scaling-<date>-<commit>.png``, and a table is printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HARNESS = str(Path(sys.executable).parent / "harness")  # the console script, as users run it
DATA = ROOT.parent / "shared" / "data" / "translation_en_fr_tatoeba"
TRAIN, TEST = 200, 40  # examples at 1x
MAX_NEW_TOKENS = 48  # per sentence pair
SHAPES = {  # name: (hidden, layers, heads, intermediate)
    "0.5M": (128, 2, 4, 384),  # the tiny preset's shape (harness.models.presets.TINY)
    "5M": (320, 4, 5, 864),
    "30M": (640, 6, 10, 1728),
}


def read_pairs(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def joined(pairs: list[dict], n: int, per_row: int) -> list[dict]:
    """``n`` rows, each joining ``per_row`` consecutive pairs (input to input, output to output)."""
    rows = []
    for i in range(n):
        chunk = pairs[i * per_row : (i + 1) * per_row]
        rows.append(
            {"input": " ".join(p["input"] for p in chunk), "output": " ".join(p["output"] for p in chunk)}
        )
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def build_model(shape: str, folder: Path) -> tuple[Path, int]:
    """A Llama of ``shape`` with random weights and the tiny preset's tokenizer, saved to ``folder``."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from harness.models.presets import TINY, preset_path, tiny_preset

    tiny = preset_path(tiny_preset())  # built into harness's cache on first use, as harness run does
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    hidden, layers, heads, intermediate = SHAPES[shape]
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=TINY.tie_word_embeddings,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    tokenizer.model_max_length = 4096
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, sum(p.numel() for p in model.parameters())


def run_case(work: Path, model: Path, factor_examples: int, factor_length: int, threads: int) -> dict:
    """One ``harness run`` on a case's data; the child's resources and its results.json."""
    pairs = read_pairs(DATA / "train.jsonl")
    tests = read_pairs(DATA / "test.jsonl")
    train = joined(pairs, TRAIN * factor_examples, factor_length)
    test = joined(tests, TEST * factor_examples, factor_length)
    if len(train) < TRAIN * factor_examples or len(test) < TEST * factor_examples:
        raise SystemExit(f"{DATA}: too few pairs for {factor_examples}x examples of {factor_length} pairs")
    tasks = work / "tasks"
    tasks.mkdir(parents=True)
    write_jsonl(tasks / "train.jsonl", train)
    write_jsonl(tasks / "test.jsonl", test)
    (tasks / "scaled.toml").write_text(
        'instruction = "Translate the following English text into French."\n'
        'metrics = ["bleu"]\n'
        f"max_new_tokens = {MAX_NEW_TOKENS * factor_length}\n"
        'test = "test.jsonl"\ntrain = "train.jsonl"\n',
        encoding="utf-8",
    )
    argv = [HARNESS, "run", "-q", "--json", "--tasks-dir", str(tasks), "--tasks", "scaled"]
    argv += ["--model", str(model), "--output-dir", str(work / "reports")]
    sets = {
        "method": "full",
        "cache": "false",
        "threads": threads,
        "models_dir": str(work / "runs"),
        "train.epochs": 1,
        "train.dev_size": 0,
        "train.batch_size": 8,
        "train.learning_rate": 1e-3,
        "train.max_length": 4096,
        "eval.batch_size": 16,
    }
    for key, value in sets.items():
        argv += ["--set", f"{key}={value}"]
    env = {**os.environ, "HARNESS_NO_FIT_CHECK": "1", "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    with open(work / "stdout.json", "w") as out, open(work / "stderr.txt", "w") as err:
        child = subprocess.Popen(argv, cwd=work, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own CPU time and peak RSS
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 4):
        raise SystemExit(f"harness run failed ({code}):\n{(work / 'stderr.txt').read_text()[-3000:]}")
    out = (work / "stdout.json").read_text(encoding="utf-8")
    summary = json.loads(out)
    results = json.loads(Path(summary["paths"]["results"]).read_text(encoding="utf-8"))
    return {"wall": wall, "results": results, "usage": usage}


def measure(work: Path, model: Path, factor_examples: int, factor_length: int, threads: int) -> dict:
    """``run_case``'s numbers: resources, phases, tokens."""
    case = run_case(work, model, factor_examples, factor_length, threads)
    usage = case["usage"]
    results = case["results"]
    durations = results["durations"]
    phases = {k: durations.get(k, 0.0) for k in ("model_load", "eval_before", "train", "eval_after")}
    tokens = results["training"]["tokens"]
    evaluation = ((results.get("forecast") or {}).get("evaluation") or {}).get("tasks", {}).get("scaled", {})
    return {
        "wall_s": round(case["wall"], 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "startup_s": round(case["wall"] - durations["total"], 3),
        "closing_s": round(durations["total"] - sum(phases.values()), 3),
        **{f"{k}_s": round(v, 3) for k, v in phases.items()},
        "train_steps_s": round(tokens["train_step_seconds"], 3),  # the optimizer steps alone
        "train_fixed_s": round(phases["train"] - tokens["train_step_seconds"], 3),  # set-up, saving
        "train_us_per_token": round(1e6 * tokens["train_step_seconds"] / tokens["real"], 2),
        "eval_us_per_token": round(1e6 * phases["eval_after"] / evaluation["processed_tokens"], 2)
        if evaluation.get("processed_tokens")
        else None,
        "train_tokens": tokens["real"],
        "train_steps": results["training"]["steps"],
        "eval_tokens": evaluation.get("processed_tokens"),
        "train_examples": results["training"]["train_examples"],
        "test_examples": results["tasks"]["scaled"]["n_test"],
    }


EXPONENT_KEYS = (
    "train_steps_s",
    "train_fixed_s",
    "eval_after_s",
    "startup_s",
    "model_load_s",
    "closing_s",
    "cpu_s",
    "peak_rss_mib",
)


def exponent(rows: list[dict], key: str) -> float | None:
    """The slope of log(seconds) against log(factor) from the first to the last row."""
    first, last = rows[0], rows[-1]
    if not first[key] or not last[key] or first["factor"] == last["factor"]:
        return None
    return math.log(last[key] / first[key]) / math.log(last["factor"] / first["factor"])


def chart(axes: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, panels = plt.subplots(1, len(axes), figsize=(4.2 * len(axes), 3.6), squeeze=False)
    for panel, (axis, rows) in zip(panels[0], axes.items(), strict=True):
        factors = [r["factor"] for r in rows]
        for key, label in (
            ("train_s", "training"),
            ("eval_after_s", "evaluation (after)"),
            ("startup_s", "start-up"),
        ):
            panel.plot(factors, [r[key] for r in rows], marker="o", label=label)
        panel.plot(
            factors,
            [rows[0]["train_steps_s"] * f / factors[0] for f in factors],
            ":",
            color="grey",
            label="linear",
        )
        panel.set_xscale("log", base=4)
        panel.set_yscale("log")
        panel.set_xlabel(f"{axis} (× of 1×)" if axis != "model" else "model (× parameters of 0.5M)")
        panel.set_ylabel("seconds")
        panel.set_title(axis)
        panel.grid(True, which="both", alpha=0.3)
    panels[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--axes", default="examples,length,model")
    parser.add_argument("--factors", default="1,4,16")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    factors = [int(f) for f in args.factors.split(",")]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    axes: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        models = {}
        for shape in SHAPES:
            models[shape] = build_model(shape, tmp / f"model-{shape}")
        for axis in args.axes.split(","):
            rows = []
            for i, factor in enumerate(factors):
                if axis == "model":
                    if i >= len(SHAPES):
                        break
                    shape = list(SHAPES)[i]
                    model, n_params = models[shape]
                    row = measure(tmp / f"{axis}-{shape}", model, 1, 1, args.threads)
                    row |= {"factor": n_params / models["0.5M"][1], "model": shape, "parameters": n_params}
                else:
                    model, n_params = models["0.5M"]
                    scale = (factor, 1) if axis == "examples" else (1, factor)
                    row = measure(tmp / f"{axis}-{factor}", model, *scale, args.threads)
                    row |= {"factor": factor, "model": "0.5M", "parameters": n_params}
                rows.append(row)
                print(
                    f"{axis:8} {row['factor']:7.1f}x  "
                    + "  ".join(
                        f"{k} {row[k]}"
                        for k in (
                            "wall_s",
                            "cpu_s",
                            "train_steps_s",
                            "eval_after_s",
                            "startup_s",
                            "peak_rss_mib",
                        )
                    ),
                    flush=True,
                )
            axes[axis] = rows
    summary = {
        "benchmark": "scaling",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "command": "python bench/scaling.py " + " ".join(sys.argv[1:]),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "threads": args.threads,
            "load_average": os.getloadavg(),
        },
        "versions": _versions(),
        "axes": axes,
        "exponents": {
            axis: {
                key: exponent(rows, key)
                for key in (
                    "train_s",
                    "eval_after_s",
                    "eval_before_s",
                    "startup_s",
                    "model_load_s",
                    "closing_s",
                    "peak_rss_mib",
                )
            }
            for axis, rows in axes.items()
            if len(rows) > 1
        },
    }
    stem = ROOT / "bench" / "results" / f"scaling-{dt.date.today().isoformat()}-{commit}"
    stem.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    chart(axes, stem.with_suffix(".png"))
    print(json.dumps(summary["exponents"], indent=2))
    print(f"wrote {stem}.json and .png")


def _versions() -> dict:
    import torch
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


if __name__ == "__main__":
    main()
