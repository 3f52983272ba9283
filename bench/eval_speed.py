"""Evaluation speed: harness vs a naive per-example loop vs lm-evaluation-harness.

One run evaluates the same model on the same test examples of the three built-in tasks with

* ``harness eval`` as a subprocess (end to end: process start to results on disk), and
  ``harness.evaluation.generate`` in-process (the generation loop alone);
* a naive loop: ``model.generate`` on one prompt at a time, in-process (generation only);
* lm-evaluation-harness (``hf`` backend, batch size 16) on custom ``generate_until`` task YAMLs
  that rebuild harness's exact prompt string: ``lm_eval`` as a subprocess (end to end) and
  ``HFLM.generate_until`` in-process (generation loop alone).

Every system runs with the same number of torch threads (``--threads``, default 1; the
environment gets OMP_NUM_THREADS/MKL_NUM_THREADS too). Greedy predictions of every system are
compared with harness's, after the same post-processing (cut at the first stop string, strip).

    python bench/eval_speed.py                     # fine-tunes the tiny preset first (~1-2 min)
    python bench/eval_speed.py --model runs/<id>/model --repeats 3
    python bench/eval_speed.py --model smollm2-135m --limit 8 --repeats 1 --e2e-repeats 1  # a real 135M model

Raw results go to ``bench/results/eval_speed-<date>-<commit>.json``. See ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TASKS = ("summarization", "sentiment", "translation")
LM_EVAL_BATCH_SIZE = 16
TARGETS = {  # from issue 13: harness examples/s divided by the other system's
    "e2e_vs_lm_eval": 2.5,
    "gen_vs_lm_eval": 2.5,
    "gen_vs_naive": 5.0,
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model",
        help="model dir, or smollm2-135m (its converted preset folder; default: fine-tune tiny first)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads for every system (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of each in-process loop (min)")
    parser.add_argument("--e2e-repeats", type=int, default=2, help="timed repeats of each subprocess (min)")
    parser.add_argument("--limit", type=int, default=0, help="first N test examples per task (0 = all)")
    parser.add_argument("--skip-lm-eval", action="store_true", help="only harness and the naive loop")
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a new temp dir, removed)")
    parser.add_argument("--label", default="", help="free text saved in the JSON, e.g. the code measured")
    parser.add_argument("--output", type=Path, help="JSON (bench/results/eval_speed-<date>-<commit>.json)")
    return parser.parse_args(argv)


def thread_env(threads: int) -> dict[str, str]:
    return {
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }


def log(message: str) -> None:
    print(f"[eval_speed {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def harness_root() -> Path:
    """The project directory of the imported harness package (subprocesses run there)."""
    import harness

    return Path(harness.__file__).resolve().parent.parent


def run_logged(cmd: list[str], env: dict[str, str], log_path: Path, cwd: Path) -> float:
    """Run ``cmd``, output to ``log_path``; return wall seconds. Raises with the log tail on failure."""
    started = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as out:
        proc = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return wall


# ----------------------------------------------------------------------------- setup


def train_model(workdir: Path, env: dict[str, str], threads: int) -> Path:
    """Fine-tune the tiny preset for 3 epochs so that predictions are not trivial."""
    models_dir = workdir / "models"
    cmd = [
        "harness",
        "run",
        "-q",
        "--set",
        "train.epochs=3",
        "--set",
        f"threads={threads}",
        "-o",
        str(workdir / "train_reports"),
        "--set",
        f'models_dir="{models_dir}"',
    ]
    log("fine-tuning the tiny preset (harness run, 3 epochs) ...")
    wall = run_logged(cmd, env, workdir / "train.log", harness_root())
    found = sorted(models_dir.glob("*/model"))
    if not found:
        raise SystemExit(f"harness run wrote no model under {models_dir}")
    log(f"model ready in {wall:.1f}s: {found[-1]}")
    return found[-1]


def _model_origin(folder: Path) -> dict | None:
    from harness.models.loading import preset_origin

    return preset_origin(str(folder))


def resolve_model(name: str) -> Path:
    """A model folder: ``name`` itself, or a preset's cached folder (built on first use), which
    lm-eval's ``hf`` backend loads like any local model."""
    from harness import plugins
    from harness.models.loading import check_model, resolve_model_path

    presets = plugins.presets(plugins.make_plugin_manager())
    if name in presets:
        check_model(name, presets)  # the smollm2 preset: one line naming the install command
        return Path(resolve_model_path(name, presets)[1])
    return Path(name).resolve()


def load_workload(limit: int):
    """Tasks, examples and prompts exactly as ``harness eval`` builds them."""
    from harness import plugins
    from harness.config import PROMPT_TEMPLATES
    from harness.tasks.data import load_examples
    from harness.tasks.prompting import build_prompt

    registry = plugins.tasks(plugins.make_plugin_manager())
    tasks = plugins.select(registry, TASKS, "task")
    template = PROMPT_TEMPLATES["compact"]
    workload = []
    for task in tasks:
        examples = load_examples(task.test, task, "test")
        if limit:
            examples = examples[:limit]
        prompts = [build_prompt(template, example) for example in examples]
        workload.append((task, examples, prompts))
    return template, workload


def write_lm_eval_tasks(directory: Path, template: str, workload) -> dict[str, str]:
    """One ``generate_until`` YAML per task whose Jinja ``doc_to_text`` renders harness's prompt."""
    import yaml

    directory.mkdir(parents=True, exist_ok=True)
    jinja = template.replace("{instruction}", "{{instruction}}").replace("{input}", "{{input}}")
    names = {}
    for task, _, _ in workload:
        if task.stop != ("\n",):
            raise SystemExit(f"task {task.name}: stop {task.stop!r}; the YAML below assumes ['\\n']")
        name = f"harness_bench_{task.name}"
        config = {
            "task": name,
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": str(Path(task.test.path).resolve())}},
            "test_split": "test",
            "output_type": "generate_until",
            "doc_to_text": jinja,
            "doc_to_target": "{{output}}",
            "generation_kwargs": {"until": ["\n"], "max_gen_toks": task.max_new_tokens, "do_sample": False},
            "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
            "metadata": {"version": 1.0},
        }
        (directory / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        names[task.name] = name
    return names


# ----------------------------------------------------------------------------- systems


def harness_e2e(model: Path, workdir: Path, env, threads: int, limit: int, attempt: int):
    out = workdir / f"harness_e2e_{attempt}"
    cmd = [
        "harness",
        "eval",
        "--model",
        str(model),
        "-q",
        "-o",
        str(out),
        "--tasks",
        ",".join(TASKS),
        "--set",
        f"threads={threads}",
        # harness caches the baseline evaluation of an unchanged model (~/.cache/harness/evals):
        # without this, every attempt after the first skips generation and the min is a cache hit
        "--no-cache",
    ]
    if limit:
        cmd += ["--set", f"eval.limit={limit}"]
    wall = run_logged(cmd, env, workdir / f"harness_e2e_{attempt}.log", harness_root())
    (samples,) = out.glob("*/samples.jsonl")
    tasks_meta = json.loads((samples.parent / "results.json").read_text(encoding="utf-8"))["tasks"]
    # newer harness scores choice tasks by log-likelihood by default: not greedy generation
    scoring = {name: meta.get("scoring", "generate") for name, meta in tasks_meta.items()}
    predictions: dict[str, list[str]] = {name: [] for name in TASKS}
    for line in samples.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        predictions[row["task"]].append(row["prediction_before"])
    return wall, predictions, cmd, scoring


def lm_eval_e2e(model: Path, workdir: Path, env, include: Path, names: dict[str, str], limit, attempt):
    out = workdir / f"lm_eval_e2e_{attempt}"
    cmd = [
        shutil.which("lm_eval") or "lm_eval",
        "--model",
        "hf",
        "--model_args",
        f"pretrained={model},dtype=float32",
        "--device",
        "cpu",
        "--batch_size",
        str(LM_EVAL_BATCH_SIZE),
        "--include_path",
        str(include),
        "--tasks",
        ",".join(names[t] for t in TASKS),
        "--output_path",
        str(out),
        "--log_samples",
    ]
    if limit:
        cmd += ["--limit", str(limit)]
    wall = run_logged(cmd, env, workdir / f"lm_eval_e2e_{attempt}.log", harness_root())
    predictions, prompts = {}, {}
    for task in TASKS:
        (path,) = out.glob(f"**/samples_{names[task]}_*.jsonl")
        rows = sorted(
            (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()),
            key=lambda row: row["doc_id"],
        )
        predictions[task] = [row["resps"][0][0] for row in rows]
        prompts[task] = [row["arguments"]["gen_args_0"]["arg_0"] for row in rows]
    return wall, predictions, prompts, cmd


def timed(fn, repeats: int):
    """(min wall seconds, all wall seconds, result of the last call, the CPU seconds of each call)
    over ``repeats`` calls; CPU time (``time.process_time``) is inflated far less than wall time
    by other processes."""
    times, cpu, result = [], [], None
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return min(times), times, result, cpu


def harness_generate(loaded, workload, batch_size: int) -> dict[str, list[str]]:
    from harness.evaluation import generate

    return {
        task.name: generate(
            loaded.model,
            loaded.tokenizer,
            prompts,
            max_new_tokens=task.max_new_tokens,
            stop=task.stop,
            batch_size=batch_size,
        )
        for task, _, prompts in workload
    }


def naive_generate(model, tokenizer, workload, stop_strings: bool) -> dict[str, list[str]]:
    """One prompt at a time through ``model.generate``; cut at the stop string afterwards."""
    import torch

    from harness.tasks.prompting import truncate_at_stop

    results = {}
    for task, _, prompts in workload:
        outputs = []
        for prompt in prompts:
            encoded = tokenizer(prompt, return_tensors="pt")
            with torch.inference_mode():
                generated = model.generate(
                    **encoded,
                    max_new_tokens=task.max_new_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                    stop_strings=list(task.stop) if stop_strings else None,
                    tokenizer=tokenizer if stop_strings else None,
                )
            text = tokenizer.decode(generated[0, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
            outputs.append(truncate_at_stop(text, task.stop))
        results[task.name] = outputs
    return results


def lm_eval_generate(lm, workload) -> dict[str, list[str]]:
    """lm-eval's own generation loop (``HFLM.generate_until``) on harness's prompts, per task."""
    from lm_eval.api.instance import Instance

    results = {}
    for task, _, prompts in workload:
        gen_kwargs = {"until": ["\n"], "max_gen_toks": task.max_new_tokens, "do_sample": False}
        requests = [
            Instance("generate_until", doc={}, arguments=(prompt, dict(gen_kwargs)), idx=0)
            for prompt in prompts
        ]
        results[task.name] = lm.generate_until(requests, disable_tqdm=True)
    return results


# ----------------------------------------------------------------------------- reporting


def agreement(reference: dict[str, list[str]], other: dict[str, list[str]], workload, normalise=None):
    """(identical, total, mismatches) of ``other`` vs ``reference``, optionally normalising ``other``."""
    same, total, mismatches = 0, 0, []
    for task, examples, _ in workload:
        for i, example in enumerate(examples):
            mine = other[task.name][i]
            theirs = normalise(mine) if normalise else mine
            total += 1
            if theirs == reference[task.name][i]:
                same += 1
            elif len(mismatches) < 20:
                mismatches.append(
                    {"task": task.name, "id": example.id, "harness": reference[task.name][i], "other": mine}
                )
    return same, total, mismatches


def machine_info() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "nproc": os.cpu_count(),
        "affinity_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu or platform.processor(),
        "ram_gib": ram_gib,
        "platform": platform.platform(),
        "loadavg_at_start": load,
    }


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in ("harness", "torch", "transformers", "tokenizers", "lm_eval", "datasets", "accelerate"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def harness_source_state() -> dict:
    """Which harness code was measured: its path, git commit and changes, hashes of the decoding code."""
    import harness

    package = Path(harness.__file__).resolve().parent

    def git(*args):
        try:
            proc = subprocess.run(["git", *args], cwd=package, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    changes = git("status", "--porcelain", "--", ".")
    state = {
        "package": str(package),
        "commit": git("rev-parse", "HEAD"),
        "uncommitted_harness_files": None if changes is None else changes.splitlines(),
    }
    for name in ("generation.py", "greedy.py"):
        path = package / "evaluation" / name
        if path.exists():
            state[name.replace(".", "_") + "_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def print_table(rows: list[dict], reference_rate: dict[str, float]) -> str:
    header = ("system", "examples", "wall s", "cpu s", "examples/s", "harness speed-up", "identical")
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for row in rows:
        ref = reference_rate[row["kind"]]
        speedup = ref / row["examples_per_s"]
        agree = row.get("identical")
        agree_text = "n/a" if agree is None else f"{agree[0]}/{agree[1]}"
        if row.get("identical_raw") is not None and row["identical_raw"][0] != agree[0]:
            agree_text += f" (raw, unstripped: {row['identical_raw'][0]}/{row['identical_raw'][1]})"
        lines.append(
            f"| {row['system']} | {row['examples']} | {row['wall_s']:.2f} | "
            f"{row.get('cpu_s', float('nan')):.2f} | "
            f"{row['examples_per_s']:.1f} | "
            f"{speedup:.2f}x | {agree_text} |"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def main(argv=None) -> int:
    args = parse_args(argv)
    env_extra = thread_env(args.threads)
    os.environ.update(env_extra)  # before torch is imported
    sub_env = dict(os.environ)

    import torch

    torch.set_num_threads(args.threads)
    started = dt.datetime.now(dt.UTC)
    info = {"machine": machine_info(), "versions": versions(), "harness_source": harness_source_state()}
    owned_workdir = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="eval_speed-")) if owned_workdir else args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    sub_env["HF_DATASETS_CACHE"] = str(workdir / "hf_datasets")  # lm-eval's first run builds it: cold
    try:
        model = resolve_model(args.model) if args.model else train_model(workdir, sub_env, args.threads)
        template, workload = load_workload(args.limit)
        n_examples = sum(len(examples) for _, examples, _ in workload)
        rows: list[dict] = []
        raw: dict = {"settings": {}, "runs": {}, "checks": {}}

        # ---- in-process generation loops (each with its own warm-up call, then timed repeats)
        from harness.config import EvalConfig
        from harness.models import load_model

        batch_size = EvalConfig().batch_size
        loaded = load_model(str(model), {}, "cpu")
        warm = [(task, examples[:2], prompts[:2]) for task, examples, prompts in workload[:1]]

        log(f"harness generate(), batch {batch_size}, {args.repeats} repeats ...")
        harness_generate(loaded, warm, batch_size)

        def ours():
            return harness_generate(loaded, workload, batch_size)

        wall, times, reference, cpu = timed(ours, args.repeats)
        rows.append(
            {
                "system": f"harness generate() (batch {batch_size})",
                "kind": "gen",
                "wall_s": wall,
                "times": times,
                "cpu_times": cpu,
                "identical": (n_examples, n_examples),
            }
        )
        raw["predictions_harness"] = reference

        from harness.evaluation import greedy

        refill_at, greedy.REFILL_AT = greedy.REFILL_AT, 0.0  # each batch decoded to its end
        log(f"harness generate() without joins (continuous batching off), {args.repeats} repeats ...")
        try:
            wall, times, preds, cpu = timed(ours, args.repeats)
        finally:
            greedy.REFILL_AT = refill_at
        same, total, mismatches = agreement(reference, preds, workload)
        rows.append(
            {
                "system": f"harness generate(), joins off (batch {batch_size})",
                "kind": "gen",
                "wall_s": wall,
                "times": times,
                "cpu_times": cpu,
                "identical": (same, total),
                "mismatches": mismatches,
            }
        )

        for stop_strings in (False, True):
            label = "naive loop (1 prompt/generate" + (", stop_strings)" if stop_strings else ")")
            log(f"{label}, {args.repeats} repeats ...")
            naive_generate(loaded.model, loaded.tokenizer, warm, stop_strings)
            wall, times, preds, cpu = timed(
                lambda s=stop_strings: naive_generate(loaded.model, loaded.tokenizer, workload, s),
                args.repeats,
            )
            same, total, mismatches = agreement(reference, preds, workload)
            rows.append(
                {
                    "system": label,
                    "kind": "gen",
                    "wall_s": wall,
                    "times": times,
                    "cpu_times": cpu,
                    "identical": (same, total),
                    "mismatches": mismatches,
                }
            )

        names = {}
        if not args.skip_lm_eval:
            from lm_eval.models.huggingface import HFLM

            lm = HFLM(pretrained=str(model), dtype="float32", device="cpu", batch_size=LM_EVAL_BATCH_SIZE)
            torch.set_num_threads(args.threads)
            # tokenization check: the ids each system feeds the model for every prompt
            tok = loaded.tokenizer
            same_ids = same_batch_ids = 0
            for _, _, prompts in workload:
                for prompt in prompts:
                    ours = tok(prompt, add_special_tokens=True)["input_ids"]
                    same_ids += lm.tok_encode(prompt) == ours
                    ids, mask = lm.tok_batch_encode([prompt])
                    same_batch_ids += ids[0].tolist() == ours and bool(mask.all())
            first = workload[0][2][0]
            raw["checks"]["tokenization"] = {
                "prompts": n_examples,
                "lm_eval_tok_encode_identical": same_ids,
                "lm_eval_tok_batch_encode_identical": same_batch_ids,
                "example_prompt": first,
                "example_ids": tok(first, add_special_tokens=True)["input_ids"],
                "bos_token": tok.bos_token,
                "bos_added_by_tokenizer": bool(
                    tok.bos_token_id is not None and tok(first)["input_ids"][:1] == [tok.bos_token_id]
                ),
                "harness_pad_token": tok.pad_token,
                "lm_eval_pad_token": lm.tokenizer.pad_token,
                "lm_eval_eos_token": lm.tokenizer.eos_token,
            }
            log(f"lm-eval HFLM.generate_until, batch {LM_EVAL_BATCH_SIZE}, {args.repeats} repeats ...")
            lm_eval_generate(lm, warm)
            wall, times, preds, cpu = timed(lambda: lm_eval_generate(lm, workload), args.repeats)
            same, total, mismatches = agreement(reference, preds, workload, normalise=str.strip)
            same_raw, _, _ = agreement(reference, preds, workload)
            rows.append(
                {
                    "system": f"lm-eval HFLM.generate_until (batch {LM_EVAL_BATCH_SIZE})",
                    "kind": "gen",
                    "wall_s": wall,
                    "times": times,
                    "cpu_times": cpu,
                    "identical": (same, total),
                    "identical_raw": (same_raw, total),
                    "mismatches": mismatches,
                }
            )
            include = workdir / "lm_eval_tasks"
            names = write_lm_eval_tasks(include, template, workload)

        # ---- end to end (subprocesses), interleaved repeats
        e2e: dict[str, list] = {"harness": [], "lm_eval": []}
        for attempt in range(args.e2e_repeats):
            log(f"harness eval subprocess (attempt {attempt + 1}/{args.e2e_repeats}) ...")
            e2e["harness"].append(harness_e2e(model, workdir, sub_env, args.threads, args.limit, attempt))
            if names:
                log(f"lm_eval subprocess (attempt {attempt + 1}/{args.e2e_repeats}) ...")
                e2e["lm_eval"].append(
                    lm_eval_e2e(model, workdir, sub_env, include, names, args.limit, attempt)
                )
        times = [run[0] for run in e2e["harness"]]
        same, total, mismatches = agreement(reference, e2e["harness"][-1][1], workload)
        rows.append(
            {
                "system": "harness eval (subprocess)",
                "kind": "e2e",
                "wall_s": min(times),
                "times": times,
                "identical": (same, total),
                "mismatches": mismatches,
                "command": e2e["harness"][0][2],
                "scoring": e2e["harness"][0][3],
            }
        )
        if names:
            times = [run[0] for run in e2e["lm_eval"]]
            _, preds, prompts, cmd = e2e["lm_eval"][-1]
            same, total, mismatches = agreement(reference, preds, workload, normalise=str.strip)
            same_raw, _, _ = agreement(reference, preds, workload)
            same_prompts = sum(
                prompts[task.name][i] == p for task, _, ps in workload for i, p in enumerate(ps)
            )
            raw["checks"]["lm_eval_prompts_identical_to_harness"] = [same_prompts, n_examples]
            rows.append(
                {
                    "system": "lm_eval (subprocess)",
                    "kind": "e2e",
                    "wall_s": min(times),
                    "times": times,
                    "identical": (same, total),
                    "identical_raw": (same_raw, total),
                    "mismatches": mismatches,
                    "command": cmd,
                }
            )

        for row in rows:
            row["examples"] = n_examples
            row["examples_per_s"] = n_examples / row["wall_s"]
            if "cpu_times" in row:
                row["cpu_s"] = min(row["cpu_times"])
        reference_rate = {
            kind: next(
                r["examples_per_s"] for r in rows if r["kind"] == kind and r["system"].startswith("harness")
            )
            for kind in ("gen", "e2e")
        }
        rows.sort(key=lambda r: r["kind"] != "e2e")
        table_e2e = print_table([r for r in rows if r["kind"] == "e2e"], reference_rate)
        table_gen = print_table([r for r in rows if r["kind"] == "gen"], reference_rate)

        def rate(prefix, kind):
            return next(
                r["examples_per_s"] for r in rows if r["kind"] == kind and r["system"].startswith(prefix)
            )

        ratios = {"gen_vs_naive": reference_rate["gen"] / rate("naive loop (1 prompt/generate)", "gen")}
        if names:
            ratios["e2e_vs_lm_eval"] = reference_rate["e2e"] / rate("lm_eval", "e2e")
            ratios["gen_vs_lm_eval"] = reference_rate["gen"] / rate("lm-eval", "gen")
        verdicts = {
            key: {"ratio": round(value, 2), "target": TARGETS[key], "met": value >= TARGETS[key]}
            for key, value in ratios.items()
        }

        def cpu(prefix):  # the in-process loops' CPU seconds (min over repeats)
            return next(r["cpu_s"] for r in rows if r["kind"] == "gen" and r["system"].startswith(prefix))

        ours = cpu("harness generate() (")
        peers = {"gen_vs_naive": "naive loop (1 prompt/generate)", "gen_vs_lm_eval": "lm-eval"}
        for key, prefix in peers.items():
            if key in verdicts:
                verdicts[key]["ratio_cpu_time"] = round(cpu(prefix) / ours, 2)
        joins_off = cpu("harness generate(), joins off")
        verdicts["joins_on_vs_off_cpu_time"] = {"ratio": round(joins_off / ours, 2)}

        print(f"\nEnd to end (process start to results on disk; min of {args.e2e_repeats}):\n")
        print(table_e2e)
        loglik = [name for name, how in e2e["harness"][0][3].items() if how != "generate"]
        if loglik:
            print(
                f"\nnote: harness eval scored {', '.join(loglik)} by {e2e['harness'][0][3][loglik[0]]}, "
                "not greedy generation; its predictions there can differ from generate()'s"
            )
        print(f"\nGeneration loop only (in-process, after a warm-up call; min of {args.repeats}):\n")
        print(table_gen)
        print("\nTargets:")
        for key, verdict in verdicts.items():
            if "target" not in verdict:
                print(f"  {key}: {verdict['ratio']:.2f}x")
                continue
            on_cpu = f", {verdict['ratio_cpu_time']:.2f}x on CPU time" if "ratio_cpu_time" in verdict else ""
            print(
                f"  {key}: {verdict['ratio']:.2f}x wall{on_cpu} (target >= {verdict['target']}x) "
                f"{'met' if verdict['met'] else 'MISSED'}"
            )
        for key, value in raw["checks"].items():
            if key == "tokenization":
                print(
                    f"  tokens: tok_encode identical {value['lm_eval_tok_encode_identical']}/{n_examples}, "
                    f"tok_batch_encode identical {value['lm_eval_tok_batch_encode_identical']}/{n_examples}, "
                    f"BOS added: {value['bos_added_by_tokenizer']}"
                )
            else:
                print(f"  {key}: {value}")

        raw["settings"] = {
            "threads": args.threads,
            "env": env_extra,
            "repeats": args.repeats,
            "e2e_repeats": args.e2e_repeats,
            "limit": args.limit,
            "harness_batch_size": batch_size,
            "lm_eval_batch_size": LM_EVAL_BATCH_SIZE,
            "model": str(model) if args.model else "tiny preset fine-tuned 3 epochs (harness run)",
            "model_origin": _model_origin(model),  # a preset's package, GGUF SHA-256, quantization
            "tasks": {
                t.name: {"examples": len(e), "max_new_tokens": t.max_new_tokens, "stop": list(t.stop)}
                for t, e, _ in workload
            },
            "prompt_template": template,
        }
        result = {
            "benchmark": "eval_speed",
            "created": started.isoformat(timespec="seconds"),
            "label": args.label,
            **info,
            **raw,
            "rows": rows,
            "ratios": verdicts,
            "tables": {"e2e": table_e2e, "gen": table_gen},
        }
        commit = (info["harness_source"]["commit"] or "unknown")[:7]
        output = args.output or ROOT / "bench" / "results" / f"eval_speed-{started:%Y-%m-%d}-{commit}.json"
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nraw results: {output}")
    finally:
        if owned_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
