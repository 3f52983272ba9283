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

Evaluation and time (:func:`evaluation_forecast`): per task, the baseline pass's prompt tokens,
generated tokens (bounded by ``max_new_tokens`` per example) and measured seconds; the "after"
pass is expected to take the same. A pass costs about ``2 * N`` FLOPs per token it reads or
writes, which gives the measured evaluation FLOP rate; training is estimated at that rate from
``6 * N`` FLOPs per trained token for full fine-tuning and ``4 * N`` for LoRA (forward, plus the
backward pass's input gradients through the frozen weights; the adapters' weight gradients are
negligible), ``+ 2 * N`` with gradient checkpointing (a second forward). Training runs at a higher
FLOP rate than generation on a GPU, so the training time is an estimate, pessimistic there.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from harness.config import Config
from harness.errors import HarnessError
from harness.tasks.prompting import IGNORE_INDEX

GIB = 1024**3
DTYPE_BYTES = {"float32": 4, "float64": 8, "bfloat16": 2, "float16": 2}
LOGIT_BYTES = 12  # per label position and vocabulary entry: fp32 logits, log-softmax, its gradient
TRAIN_FLOPS = {"full": 6, "lora": 4}  # per parameter and trained token; +2 with gradient checkpointing


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
        "parameters": parameters,
        "memory": memory,
    }


def free_memory_cuda(device: str) -> int:
    """Free bytes on a CUDA device (``torch.cuda.mem_get_info``)."""
    import torch

    return torch.cuda.mem_get_info(torch.device(device))[0]


def check_fits(forecast: dict, free_memory: Callable[[str], int] = free_memory_cuda) -> None:
    """Refuse (one line, exit 2) a CUDA run whose forecast peak exceeds the device's free memory;
    ``free_memory(device)`` is injectable (tests). Nothing is checked on other devices, nor for
    FSDP / DeepSpeed (which shard what the forecast counts whole)."""
    device = str(forecast["device"])
    if not device.startswith("cuda") or forecast.get("sharded"):
        return
    device = device if ":" in device else f"cuda:{_current_cuda()}"
    free, peak = free_memory(device), forecast["memory"]["peak_bytes"]
    if peak > free:
        lora = "" if forecast["method"] == "lora" else ", or set method = lora"
        raise HarnessError(
            f"forecast peak {peak / GIB:.1f} GiB > {free / GIB:.1f} GiB free on {device}; "
            f"lower train.batch_size or train.max_length{lora}"
        )


def _current_cuda() -> int:
    """The current CUDA device's index (the rank's own under torchrun), 0 without CUDA."""
    import torch

    return torch.cuda.current_device() if torch.cuda.is_available() else 0


def label_share(features: Sequence[Mapping]) -> float:
    """The share of training tokens whose next token is a label (where logits are computed)."""
    tokens = sum(len(f["input_ids"]) for f in features)
    labels = sum(sum(1 for x in f["labels"][1:] if x != IGNORE_INDEX) for f in features)
    return labels / tokens if tokens else 1.0


def trained_tokens(features: Sequence[Mapping], config: Config) -> int:
    """The tokens training will run on: every feature each epoch, or ``train.max_steps`` batches
    of average features."""
    tokens = sum(len(f["input_ids"]) for f in features)
    if config.train.max_steps > 0 and features:
        return round(config.train.max_steps * config.train.batch_size * tokens / len(features))
    return round(tokens * config.train.epochs)


def task_tokens(tokenizer, task, predictions) -> dict:
    """The tokens a task's evaluation reads and writes: prompts, generated answers (or, scored by
    log-likelihood, prompt + choice once per choice), and the generation bound."""
    count = lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    prompts = [count(p) for p in predictions.prompts]
    n = len(prompts)
    if predictions.scoring == "loglik":
        choices = [count(c) for c in task.choices]
        read = sum(prompts) * len(choices) + n * sum(choices)
        return {"examples": n, "prompt_tokens": sum(prompts), "generated_tokens": 0, "processed_tokens": read}
    generated = sum(min(count(p), task.max_new_tokens) for p in predictions.predictions)
    return {
        "examples": n,
        "prompt_tokens": sum(prompts),
        "generated_tokens": generated,
        "generated_bound": n * task.max_new_tokens,
        "processed_tokens": sum(prompts) + generated,
    }


def evaluation_forecast(
    tokenizer,
    tasks: Sequence,
    predictions: Mapping[str, object],
    seconds: Mapping[str, float | None],
    parameters: int,
) -> dict:
    """Per task the baseline pass's tokens and measured seconds (``None``: from the cache), the
    "after" pass expected to take as long, and the measured evaluation FLOP rate (``2 * N`` FLOPs
    per processed token) over the tasks that were timed."""
    per_task, flops, timed = {}, 0, 0.0
    for task in tasks:
        entry = task_tokens(tokenizer, task, predictions[task.name])
        measured = seconds.get(task.name)
        entry["before_seconds"] = None if measured is None else round(measured, 3)
        entry["expected_after_seconds"] = entry["before_seconds"]
        if measured:
            flops += 2 * parameters * entry["processed_tokens"]
            timed += measured
        per_task[task.name] = entry
    rate = flops / timed if timed > 0 else None
    for entry in per_task.values():  # a cached task's pass, at the measured rate
        if entry["expected_after_seconds"] is None and rate:
            entry["expected_after_seconds"] = round(2 * parameters * entry["processed_tokens"] / rate, 3)
    return {"tasks": per_task, "flops_per_second": rate}


def cycle_forecast(
    evaluation: dict, parameters: Mapping[str, int], config: Config, method: str, train_tokens: int
) -> dict:
    """Training seconds at the evaluation's FLOP rate and evaluation's share of the cycle (before
    and after passes; the dev evaluations during training not included), both estimates.
    ``train_tokens``: :func:`trained_tokens`."""
    factor = TRAIN_FLOPS[method] + (2 if config.train.gradient_checkpointing else 0)
    flops = factor * parameters["total"] * train_tokens
    rate = evaluation.get("flops_per_second")
    train_seconds = flops / rate if rate else None
    passes = [e["expected_after_seconds"] for e in evaluation["tasks"].values()]
    eval_seconds = 2 * sum(s for s in passes if s is not None)  # before and after
    share = eval_seconds / (eval_seconds + train_seconds) if train_seconds else None
    return {
        "estimate": True,
        "train_flops": flops,
        "train_flops_per_token": f"{factor}N",
        "train_seconds": None if train_seconds is None else round(train_seconds, 3),
        "eval_seconds": round(eval_seconds, 3),
        "eval_share": None if share is None else round(share, 4),
    }


def with_evaluation(
    forecast: dict, tokenizer, tasks: Sequence, before: Mapping, seconds: Mapping, features, config: Config
) -> dict:
    """``forecast`` with the baseline pass's ``evaluation`` (``before``: each task's predictions
    or ``TaskEvaluation``; ``seconds``: its measured pass) and the ``cycle`` estimate for training
    on ``features`` (:func:`harness.training.build_train_features`)."""
    parameters = forecast["parameters"]
    evaluation = evaluation_forecast(tokenizer, tasks, before, seconds, parameters["total"])
    tokens = trained_tokens(features, config)
    cycle = cycle_forecast(evaluation, parameters, config, forecast["method"], tokens)
    return {**forecast, "evaluation": evaluation, "cycle": cycle}


def size(n: float) -> str:
    """Bytes as GiB (or MiB below one GiB)."""
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{n / 2**20:.1f} MiB"


def render(forecast: Mapping) -> list[str]:
    """Short plain lines for the terminal (no markup: model names are not interpreted)."""
    params, memory = forecast["parameters"], forecast["memory"]
    parts = ", ".join(f"{name} {size(value)}" for name, value in memory["bytes"].items())
    lines = [
        f"forecast: {params['total']:,} parameters, {params['trainable']:,} trainable ({forecast['method']})",
        f"forecast: peak training memory {size(memory['peak_bytes'])} {memory['dtype']} "
        f"({parts}; {memory['tokens']:,} tokens a batch)",
    ]
    for name, entry in forecast.get("evaluation", {}).get("tasks", {}).items():
        seconds = entry["expected_after_seconds"]
        lines.append(
            f"forecast: {name}: {entry['prompt_tokens']:,} prompt + {entry['generated_tokens']:,} generated "
            f"tokens, {'?' if seconds is None else f'{seconds:.1f}'} s a pass"
        )
    cycle = forecast.get("cycle")
    if cycle and cycle["train_seconds"] is not None:
        lines.append(
            f"forecast (estimate): training ~{cycle['train_seconds']:.0f} s, evaluation "
            f"{cycle['eval_seconds']:.0f} s, {100 * cycle['eval_share']:.0f}% of the cycle"
        )
    return lines


def summary(forecast: Mapping) -> dict:
    """The ``--json`` summary's ``"forecast"`` key: the headline numbers."""
    cycle = forecast.get("cycle") or {}
    return {
        "parameters": forecast["parameters"]["total"],
        "trainable_parameters": forecast["parameters"]["trainable"],
        "peak_memory_gib": round(forecast["memory"]["peak_bytes"] / GIB, 3),
        "train_seconds": cycle.get("train_seconds"),
        "eval_share": cycle.get("eval_share"),
    }
