"""A resource forecast before training: parameters, peak training memory, the evaluation's tokens
and seconds per task, and evaluation's share of the cycle (``results.json`` ``"forecast"``).

Parameters are counted on the ``meta`` device (:func:`count_parameters`: the model built from its
config, LoRA-wrapped by :func:`harness.training.lora.apply_lora` itself, so the targets resolve as
in training), no weights read.

Peak training memory (:func:`memory_forecast`), bytes, ``b`` the run's dtype size (4 fp32, 2 bf16):

* weights ``N * b`` (tied embeddings counted once);
* gradients ``N_trainable * g`` and AdamW's two states ``2 * N_trainable * g`` (the Trainer's
  ``adamw_torch_fused`` keeps ``exp_avg``/``exp_avg_sq`` in the parameter's dtype); ``g = b`` for
  full fine-tuning, ``g = 4`` for LoRA adapters on a half-precision model (peft's
  ``autocast_adapter_dtype`` keeps adapters in fp32);
* activations, for ``T = train.batch_size * train.max_length`` tokens (a padding-free batch is one
  row of at most that many real tokens; no pads) and ``L`` label positions (logits are computed
  only where a label follows: ``logits_to_keep``, :mod:`harness.training.packing`; ``L = T`` unless
  a supervised share is given: an upper bound). Per decoder layer and token, what autograd keeps
  (a Llama-style layer; SDPA without the attention matrix; K/V repeated to all heads for GQA, as
  ``harness_varlen`` does), ``h`` the hidden size, ``i`` the MLP width, ``r = 4h`` (``b*h`` in
  fp32) what each RMS norm keeps of its input (an fp32 copy)::

      full:  b * (5h + 4i) + 2r + 2 * 2bh    q, k, v, attention out, o_proj in; gate, up, act, act*up;
                                             each norm's scaled input and output (for the Linear layers)
      LoRA:  b * (4h + 3i) + 2r              frozen weights: no Linear inputs, no norm outputs kept
             + per targeted Linear: in * g (its dropped-out input) + in (the dropout mask) + r_lora * g

  ``L`` instead of ``T`` for the last layer's MLP (``LastMLPOnLabelRows``). With gradient
  checkpointing: each layer's input (``b*h``) plus one layer recomputed. Then the final norm and
  ``12 * L * V`` bytes for the loss (fp32 logits' log-softmax, its gradient and the logits'
  gradient; ``V`` the vocabulary);
* the forecast peak is the sum of the four. Gradients are built during the backward pass while
  activations are freed, so both rarely are at full size at once: the sum is an upper bound in
  that respect. bench/forecast_memory.py compares it with the live tensors and the RSS on CPU.

Every number here is an estimate (the names say so where they are shown): the pre-load peak is
an upper bound for the configured batch (every position a label); once the training data is
tokenized, :func:`with_baseline` adds the peak expected for it (``expected_peak_bytes``: its
largest batch, its share of labels) and the time half (:mod:`harness.training.forecast_time`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from harness.config import Config
from harness.errors import HarnessError
from harness.training import forecast_time as timing

GIB = 1024**3
DTYPE_BYTES = {"float32": 4, "float64": 8, "bfloat16": 2, "float16": 2}
LOGIT_BYTES = 12  # per label position and vocabulary entry: fp32 logits, log-softmax, its gradient
NO_FIT_CHECK_ENV = "HARNESS_NO_FIT_CHECK"  # set to 1: a CUDA run is not refused on the forecast


def model_config(name: str, presets: dict, trust_remote_code: bool = False):
    """The transformers config of the model ``name`` would load (a LoRA adapter folder: its base
    model's), read without its weights."""
    from transformers import AutoConfig

    from harness.models.loading import resolve_model_path

    _, path = resolve_model_path(name, presets)
    adapter = Path(path) / "adapter_config.json"
    if adapter.is_file():
        path = json.loads(adapter.read_text(encoding="utf-8"))["base_model_name_or_path"]
    return AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)


def meta_model(model_cfg, config: Config, method: str, dtype: str = "float32"):
    """The model built from its config on the ``meta`` device (no memory, no RNG drawn),
    LoRA-wrapped by :func:`~harness.training.lora.apply_lora` for ``method == "lora"``."""
    import torch
    from transformers import AutoModelForCausalLM

    from harness.training.lora import apply_lora

    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        model = AutoModelForCausalLM.from_config(model_cfg, dtype=getattr(torch, dtype))
        return apply_lora(model, config) if method == "lora" else model


def count_parameters(model, method: str) -> dict:
    """``{"total", "trainable", "adapter"}`` of a :func:`meta_model`: the base model's parameters
    (tied ones once), those trained, and the LoRA adapter's (0 for full)."""
    adapter = sum(p.numel() for p in model.parameters() if p.requires_grad) if method == "lora" else 0
    total = sum(p.numel() for p in model.parameters()) - adapter
    return {"total": total, "trainable": adapter if method == "lora" else total, "adapter": adapter}


def lora_shape(model) -> dict[str, int]:
    """``{"inputs", "targets"}`` of a LoRA-wrapped model: the summed input width of the Linear
    layers with adapters (what their dropout copies cost per token), and their number."""
    widths = [m.in_features for m in model.modules() if hasattr(m, "lora_A") and hasattr(m, "in_features")]
    return {"inputs": sum(widths), "targets": len(widths)}


def shape(model_cfg) -> dict[str, int]:
    """Hidden size, MLP width, layers and vocabulary of a decoder config (Llama or GPT-2 names)."""
    text = model_cfg.get_text_config() if hasattr(model_cfg, "get_text_config") else model_cfg

    def first(*names: str, default: int | None = None) -> int:
        for name in names:
            value = getattr(text, name, None)
            if value:
                return int(value)
        if default is None:
            raise HarnessError(f"model config {type(text).__name__}: no {names[0]}; cannot forecast memory")
        return default

    hidden = first("hidden_size", "n_embd", "d_model")
    return {
        "hidden": hidden,
        "intermediate": first("intermediate_size", "n_inner", "ffn_dim", default=4 * hidden),
        "layers": first("num_hidden_layers", "n_layer", "num_layers"),
        "vocab": first("vocab_size"),
    }


def residual_bytes(h: int, b: int) -> int:
    """What an RMS norm keeps of its input per token: the input in fp32 (a copy in half precision)."""
    return 4 * h if b != 4 else b * h


def layer_bytes(dims: Mapping[str, int], b: int, frozen: bool) -> int:
    """Bytes autograd keeps per token in one decoder layer (see the module docstring); ``frozen``:
    the layer's own weights are not trained (LoRA), so the inputs of its Linear layers and its
    norms' outputs are not kept."""
    h, i = dims["hidden"], dims["intermediate"]
    residual = residual_bytes(h, b)
    if frozen:
        return b * (4 * h + 3 * i) + 2 * residual
    return b * (5 * h + 4 * i) + 2 * residual + 2 * (2 * b * h)


def memory_forecast(
    dims: Mapping[str, int],
    parameters: Mapping[str, int],
    config: Config,
    method: str,
    dtype: str,
    *,
    label_share: float = 1.0,
    tokens: int | None = None,
    lora: Mapping[str, int] | None = None,
) -> dict:
    """Peak training memory in bytes per component and in all (the module docstring's formula).

    :param label_share: the share of trained tokens that are labels (1.0: an upper bound).
    :param tokens: tokens in the largest batch (default ``train.batch_size * train.max_length``).
    :param lora: :func:`lora_shape`, for ``method == "lora"``.
    """
    b = DTYPE_BYTES[str(dtype).removeprefix("torch.")]
    frozen = method == "lora"
    g = 4 if frozen else b  # peft keeps adapters of a half-precision model in fp32
    T = tokens if tokens is not None else config.train.batch_size * config.train.max_length
    L = math.ceil(T * label_share)
    h, i, layers = dims["hidden"], dims["intermediate"], dims["layers"]
    per_layer = layer_bytes(dims, b, frozen)
    if frozen and lora:  # the adapters' inputs (dropped out, with the mask) and their r-wide outputs
        adapters = lora["inputs"] * (g + (1 if config.lora.dropout > 0 else 0))
        per_layer += (adapters + lora["targets"] * config.lora.r * g) // max(layers, 1)
    if config.train.gradient_checkpointing:  # each layer's input, and one layer recomputed
        activations = layers * T * b * h + T * per_layer
    else:  # the last layer's MLP runs on the label positions only
        activations = layers * T * per_layer - (3 if frozen else 4) * i * b * (T - L)
    activations += T * (residual_bytes(h, b) + (0 if frozen else 2 * b * h)) + L * b * h  # final norm
    activations += LOGIT_BYTES * L * dims["vocab"]
    trainable = parameters["trainable"]
    parts = {
        "weights": parameters["total"] * b + parameters.get("adapter", 0) * g,
        "gradients": trainable * g,
        "optimizer": 2 * trainable * g,
        "activations": activations,
    }
    return {
        "dtype": str(dtype).removeprefix("torch."),
        "tokens": T,
        "label_tokens": L,
        "gradient_checkpointing": config.train.gradient_checkpointing,
        "bytes": parts,
        "peak_bytes": sum(parts.values()),
    }


def training_forecast(
    config: Config, presets: dict, device: str | None = None, dtype: str | None = None
) -> dict:
    """Parameters and peak memory from the model's config alone (before any weights are read),
    at ``train.batch_size x train.max_length`` tokens with every position a label (upper bound),
    on the run's device and dtype (``None``: as :func:`harness.models.load_model` will pick them),
    and, for comparison, the peak in each dtype (``peak_bytes_by_dtype``). One process's share:
    FSDP / DeepSpeed shard it (``sharded``)."""
    from harness.models.device import pick_dtype, resolve_device
    from harness.models.loading import resolve_model_path
    from harness.training.lora import resolve_method

    device = device or resolve_device(config.device)
    dtype = dtype or str(pick_dtype(device)).removeprefix("torch.")
    method = resolve_method(config, resolve_model_path(config.model, presets)[0])
    model_cfg = model_config(config.model, presets, config.trust_remote_code)
    model = meta_model(model_cfg, config, method, dtype)
    parameters = count_parameters(model, method)
    lora = lora_shape(model) if method == "lora" else None
    dims = shape(model_cfg)
    memory = memory_forecast(dims, parameters, config, method, dtype, lora=lora)
    memory["peak_bytes_by_dtype"] = {
        other: memory_forecast(dims, parameters, config, method, other, lora=lora)["peak_bytes"]
        for other in ("float32", "bfloat16")
    }
    sharded = bool(config.train.fsdp or config.train.deepspeed)
    return {
        "method": method,
        "device": device,
        "sharded": sharded,
        "dtype": dtype,
        "parameters": parameters,
        "shape": {**dims, **({"lora_" + k: v for k, v in lora.items()} if lora else {})},
        "memory": memory,
    }


def forecast_or_reason(config: Config, presets: dict) -> tuple[dict | None, str | None]:
    """:func:`training_forecast`, or ``(None, why)`` when the model's config cannot be forecast
    (an architecture it does not know, a config without the usual names): the forecast is advice,
    and a model harness can train must not be refused for it."""
    try:
        return training_forecast(config, presets), None
    except Exception as error:  # noqa: BLE001 - any failure here only loses the forecast
        return None, f"no resource forecast for {config.model}: {error}".splitlines()[0]


def free_memory_cuda(device: str) -> int:
    """Free bytes on a CUDA device (``torch.cuda.mem_get_info``)."""
    import torch

    return torch.cuda.mem_get_info(torch.device(device))[0]


def check_fits(forecast: dict, free_memory: Callable[[str], int] | None = None) -> None:
    """Refuse (one line, exit 2) a CUDA run whose forecast peak exceeds the device's free memory,
    before the model is loaded onto it; ``free_memory(device)`` (default :func:`free_memory_cuda`,
    looked up when called: the seam tests fake) gives the free bytes. Nothing is
    checked on other devices, for FSDP / DeepSpeed (which shard what the forecast counts whole),
    or with ``HARNESS_NO_FIT_CHECK=1`` (the peak is an upper bound: a run near it may fit)."""
    device = str(forecast["device"])
    if not device.startswith("cuda") or forecast.get("sharded") or os.environ.get(NO_FIT_CHECK_ENV) == "1":
        return
    device = device if ":" in device else f"cuda:{_current_cuda()}"
    free, peak = (free_memory or free_memory_cuda)(device), forecast["memory"]["peak_bytes"]
    if peak > free:
        lora = "" if forecast["method"] == "lora" else ", or set method = lora"
        raise HarnessError(
            f"training forecast: peak {peak / GIB:.1f} GiB (estimated upper bound, "
            f"{forecast['memory']['dtype']}) > {free / GIB:.1f} GiB free on {device}; lower "
            f"train.batch_size or train.max_length{lora} ({NO_FIT_CHECK_ENV}=1 runs it anyway)"
        )


def _current_cuda() -> int:
    """The current CUDA device's index (the rank's own under torchrun), 0 without CUDA."""
    import torch

    return torch.cuda.current_device() if torch.cuda.is_available() else 0


def with_baseline(
    forecast: dict, loaded, workload, before: Mapping, seconds: Mapping, examples: Sequence, config: Config
) -> dict:
    """``forecast`` completed after the baseline pass: the peak expected for the training data
    (``memory.expected_peak_bytes``, from :func:`~harness.training.forecast_time.sample` of
    ``examples`` tokenized as training will), the ``evaluation`` (``before``: each task's
    ``TaskEvaluation``; ``seconds``: its measured pass, absent when cached) and the ``cycle``."""
    from harness.training import build_train_features
    from harness.training.recipe import training_limit

    features = build_train_features(
        loaded.tokenizer, timing.sample(examples), config.prompt(), training_limit(loaded, config.train)
    )
    dims, method = forecast["shape"], forecast["method"]
    lora = {"inputs": dims.get("lora_inputs", 0), "targets": dims.get("lora_targets", 0)}
    padded = not config.train.padding_free  # a padded batch: batch_size rows of the longest
    longest = max((len(f["input_ids"]) for f in features), default=0)
    tokens = (
        config.train.batch_size * longest
        if padded
        else timing.largest_batch(features, config.train.batch_size)
    )
    share = timing.label_share(features)
    expected = memory_forecast(
        dims,
        forecast["parameters"],
        config,
        method,
        forecast["dtype"],
        label_share=share,
        tokens=tokens,
        lora=lora,
    )
    memory = {**forecast["memory"], "expected_peak_bytes": expected["peak_bytes"]}
    memory.update(expected_tokens=tokens, expected_label_share=round(share, 4))
    total = forecast["parameters"]["total"]
    evaluation = timing.evaluation_forecast(loaded.tokenizer, workload.tasks, before, seconds, total)
    dev_sizes = {name: len(rows) for name, rows in workload.dev.items()}
    dev = timing.dev_seconds(evaluation, dev_sizes, timing.dev_evaluations(len(examples), config))
    train_tokens = timing.trained_tokens(features, len(examples), config)
    cycle = timing.cycle_forecast(evaluation, total, config, method, train_tokens, dev)
    return {**forecast, "memory": memory, "evaluation": evaluation, "cycle": cycle}


def size(n: float) -> str:
    """Bytes as GiB (or MiB below one GiB)."""
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{n / 2**20:.1f} MiB"


def render(forecast: Mapping) -> list[tuple[str, str]]:
    """``(key, line)`` pairs for the terminal, each line labelled an estimate where it is one: the
    pre-load lines (parameters, memory) and, once the baseline has run, the expected peak, each
    task's pass and the cycle. Plain text (no markup)."""
    params, memory = forecast["parameters"], forecast["memory"]
    parts = ", ".join(f"{name} {size(value)}" for name, value in memory["bytes"].items())
    dtypes = memory["peak_bytes_by_dtype"].items()
    others = ", ".join(f"{size(value)} in {dtype}" for dtype, value in dtypes if dtype != memory["dtype"])
    trainable = f"{params['trainable']:,} trainable ({forecast['method']})"
    peak = size(memory["peak_bytes"])
    bound = f"estimated upper bound: {memory['tokens']:,} tokens a batch, every position a label"
    lines = [
        ("parameters", f"forecast: {params['total']:,} parameters, {trainable}"),
        ("memory", f"forecast: peak training memory at most {peak} in {memory['dtype']} ({others})"),
        ("memory:bound", f"forecast: memory ({bound}): {parts}"),
    ]
    if "expected_peak_bytes" in memory:
        share = f"{100 * memory['expected_label_share']:.0f}% labels"
        batch = f"largest batch {memory['expected_tokens']:,} tokens, {share}"
        peak = size(memory["expected_peak_bytes"])
        lines.append(("memory:expected", f"forecast: peak ~{peak} for this data (estimated: {batch})"))
    for name, entry in forecast.get("evaluation", {}).get("tasks", {}).items():
        seconds = entry["expected_after_seconds"]
        how = "measured" if entry["before_seconds"] is not None else "estimated: baseline cached"
        tokens = f"{entry['prompt_tokens']:,} prompt + {entry['generated_tokens']:,} generated tokens"
        when = "?" if seconds is None else f"{seconds:.1f}"
        lines.append((f"eval:{name}", f"forecast: {name}: {tokens}, {when} s a pass ({how})"))
    cycle = forecast.get("cycle")
    if cycle and cycle["train_seconds"] is not None:
        times = f"training ~{cycle['train_seconds']:.0f} s, evaluation ~{cycle['eval_seconds']:.0f} s"
        share = f"{100 * cycle['eval_share']:.0f}% of the cycle"
        lines.append(("cycle", f"forecast: {times} (before, after, dev): {share} (estimated)"))
    return lines


def summary(forecast: Mapping | None) -> dict | None:
    """The ``--json`` summary's ``"forecast"``: the headline numbers (all but the parameter counts
    are estimates)."""
    if not forecast:
        return None
    memory, cycle = forecast["memory"], forecast.get("cycle") or {}
    return {
        "parameters": forecast["parameters"]["total"],
        "trainable_parameters": forecast["parameters"]["trainable"],
        "dtype": memory["dtype"],
        "peak_memory_bytes": memory["peak_bytes"],
        "expected_peak_memory_bytes": memory.get("expected_peak_bytes"),
        "train_seconds": cycle.get("train_seconds"),
        "eval_seconds": cycle.get("eval_seconds"),
        "eval_share": cycle.get("eval_share"),
    }
