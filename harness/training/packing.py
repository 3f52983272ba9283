"""Padding-free training batches: each batch is one row of real tokens, attention per example.

Why: a right-padded batch of mixed-length examples spends ~25% of its tokens on pads (the built-in
tasks mix 20-token sentiment answers with 300-token summarisation prompts). Grouping examples by
length removes the pads but makes every batch one task / one length band, which converges worse
at the same number of epochs. Flattening keeps random (mixed-task) batches and drops the pads.

How (all three pieces are needed, and together they are exact):

* :func:`flatten_collator` concatenates the batch's examples into one row ``[1, total_tokens]``
  with ``position_ids`` restarting at 0 for every example (so rotary/absolute position embeddings
  see each example exactly as in its own row) and the boundaries ``cu_seq_lens_q/k`` (cumulative
  lengths, as ``transformers.DataCollatorWithFlattening(return_flash_attn_kwargs=True)`` returns
  them) plus ``max_length_q/k``. There is no ``attention_mask``.
* The attention function registered as ``harness_varlen`` (:func:`varlen_sdpa_attention`) runs
  causal SDPA on each example's slice ``[cu[i], cu[i+1])`` of the row on its own, so no token
  attends to a token of another example and nothing is computed for pads or for a block-diagonal
  mask over the whole row. Because no mask is registered for that name in transformers'
  ``AttentionMaskInterface``, the model builds no 4D mask at all. Within a slice, causal SDPA is
  exactly what the padded batch computes for that example's real tokens (right padding: a real
  token never sees the pads after it).
* Labels: the loss (``transformers.loss.ForCausalLMLoss``) shifts the labels inside, scoring the
  logits at position ``t`` against ``labels[t + 1]``. In the flattened row, ``t + 1`` after the
  last token of example ``i`` is the first token of example ``i + 1``, so the collator sets the
  first label of every example to -100 (as ``DataCollatorWithFlattening`` does): no loss crosses
  a boundary. In a padded batch the first token of an example is never a target either (it is
  position 0 of its row) and the logits after its last token face a -100 pad label, so both
  layouts score exactly the same label tokens and the Trainer's normaliser (``num_items_in_batch``
  = non-ignored ``labels[..., 1:]``) is the same number: the loss and its gradients are equal up
  to float rounding (tests/test_packing.py checks to 1e-5).

With the label positions known (``logits_to_keep``), the last decoder layer's MLP also runs on
those positions only (:class:`LastMLPOnLabelRows`): its output elsewhere reaches only final hidden
states that the LM head never sees. Same loss and gradients; ~21% less CPU per step on the tiny
preset (bench/README.md).

On CUDA with ``flash_attn`` installed and a half-precision model, :func:`attention_for` picks the
model's own ``flash_attention_2``, which reads the same ``cu_seq_lens``/``position_ids`` and runs
its varlen kernel; otherwise ``harness_varlen`` (pure PyTorch SDPA) is used on any device.

The training attention is switched on only around training (:class:`TrainingAttention`) and the
model's original implementation is restored before dev evaluation, the final evaluation and
saving, so generation keeps using padded batches with masks and saved configs never name
``harness_varlen`` (transformers does not serialise ``_attn_implementation`` anyway).
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
from collections.abc import Callable, Iterator

from harness.tasks.prompting import IGNORE_INDEX

ATTENTION_NAME = "harness_varlen"
"""The name :func:`varlen_sdpa_attention` is registered under in transformers' AttentionInterface."""


def flatten_collator(label_logits_only: bool = False) -> Callable[[list[dict]], dict]:
    """A collator turning ``[{"input_ids", "labels"}, ...]`` into one padding-free row.

    Returns ``input_ids``, ``labels`` and ``position_ids`` of shape ``[1, total_tokens]`` (int64),
    ``cu_seq_lens_q``/``cu_seq_lens_k`` (int32, ``[0, len_0, len_0 + len_1, ...]``) and
    ``max_length_q``/``max_length_k`` (Python ints), with the first label of every example set
    to -100 (see the module docstring for why that makes the loss equal to a padded batch's).

    With ``label_logits_only`` (see :func:`slices_logits`) it also returns ``logits_to_keep``, a
    boolean ``[1, total_tokens]`` marking the positions whose next token is a label, and
    ``shift_labels``, those next tokens (1-D). The model then projects only those positions onto
    the vocabulary (the prompt's positions, most of the row, get no logits) and its causal-LM
    loss takes ``shift_labels`` as the already shifted targets: the same label tokens, the same
    normaliser (the Trainer counts ``shift_labels``), the same loss and gradients, and about 15%
    less forward and backward time on the tiny preset.
    """
    import torch

    def collate(features: list[dict]) -> dict:
        input_ids: list[int] = []
        labels: list[int] = []
        positions: list[int] = []
        bounds = [0]
        for feature in features:
            ids = list(feature["input_ids"])
            input_ids += ids
            labels += [IGNORE_INDEX, *list(feature["labels"])[1:]]
            positions += range(len(ids))
            bounds.append(bounds[-1] + len(ids))
        longest = max(b - a for a, b in zip(bounds[:-1], bounds[1:], strict=True))
        cu_seq_lens = torch.tensor(bounds, dtype=torch.int32)
        batch = {
            "input_ids": torch.tensor([input_ids], dtype=torch.long),
            "labels": torch.tensor([labels], dtype=torch.long),
            "position_ids": torch.tensor([positions], dtype=torch.long),
            "cu_seq_lens_q": cu_seq_lens,
            "cu_seq_lens_k": cu_seq_lens,
            "max_length_q": longest,
            "max_length_k": longest,
        }
        if label_logits_only:
            shifted = batch["labels"][0, 1:]
            keep = torch.cat([shifted != IGNORE_INDEX, torch.zeros(1, dtype=torch.bool)])
            batch["logits_to_keep"] = keep[None]
            batch["shift_labels"] = shifted[keep[:-1]]
        return batch

    return collate


def _bounds(query, kwargs: dict) -> list[int] | None:
    """Example boundaries in the flattened row: from ``cu_seq_lens_q``, else where ``position_ids``
    restart at 0; ``None`` when the input is not a flattened row (batch > 1, or no position ids)."""
    if query.shape[0] != 1:
        return None
    cu = kwargs.get("cu_seq_lens_q")
    if cu is not None:
        return [int(x) for x in (cu.tolist() if hasattr(cu, "tolist") else cu)]
    positions = kwargs.get("position_ids")
    if positions is None:
        return None
    starts = (positions.reshape(-1) == 0).nonzero().reshape(-1).tolist()
    if not starts or starts[0] != 0:
        return None
    return [*starts, query.shape[2]]


def varlen_sdpa_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    """Causal SDPA on each example of a flattened row: ``softmax(QK^T)V`` restricted to
    ``[cu[i], cu[i+1])`` x ``[cu[i], cu[i+1])``, lower triangle. Shapes as transformers' attention
    functions: ``query`` ``[1, heads, tokens, dim]``, ``key``/``value`` ``[1, kv_heads, tokens, dim]``;
    returns ``([1, tokens, heads, dim], None)``.

    Anything else (batch > 1, a KV cache, no boundaries) goes to transformers' own SDPA function,
    which then gets no mask (none is built for this implementation): right for unpadded rows only,
    which is why harness switches this implementation off before anything runs padded batches
    (evaluation, generation).
    """
    import torch
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    bounds = _bounds(query, kwargs) if query.shape[2] == key.shape[2] else None
    if bounds is None:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1:
        key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    outputs = [
        torch.nn.functional.scaled_dot_product_attention(
            query[:, :, start:end],
            key[:, :, start:end],
            value[:, :, start:end],
            dropout_p=dropout,
            scale=scaling,
            is_causal=True,
        )
        for start, end in zip(bounds[:-1], bounds[1:], strict=True)
        if end > start
    ]
    output = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)
    return output.transpose(1, 2).contiguous(), None


def register() -> str:
    """Register :func:`varlen_sdpa_attention` as ``harness_varlen`` (idempotent); returns the name."""
    from transformers import AttentionInterface

    if AttentionInterface._global_mapping.get(ATTENTION_NAME) is not varlen_sdpa_attention:
        AttentionInterface.register(ATTENTION_NAME, varlen_sdpa_attention)
    return ATTENTION_NAME


def base_model(model):
    """The transformers ``PreTrainedModel`` inside ``model`` (unwraps a peft model)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def unsupported_reason(model, max_length: int) -> str | None:
    """Why ``model`` cannot train on flattened rows with per-example attention, or None if it can.

    Needs: transformers' attention interface (``_supports_attention_backend`` and a switchable
    implementation), ``position_ids`` in ``forward`` (positions restart per example), a decoder-only
    causal LM, and no attention feature the per-slice SDPA would drop (logit soft-capping, a
    sliding window shorter than ``max_length``).
    """
    base = base_model(model)
    name = type(base).__name__
    config = getattr(base, "config", None)
    if config is None or not getattr(base, "_supports_attention_backend", False):
        return f"{name} does not support transformers' attention interface"
    can_set = getattr(base, "_can_set_attn_implementation", None)
    if can_set is None or not can_set():
        return f"{name} cannot switch its attention implementation"
    if getattr(config, "is_encoder_decoder", False):
        return f"{name} is an encoder-decoder model"
    if "position_ids" not in inspect.signature(base.forward).parameters:
        return f"{name}.forward takes no position_ids"
    if getattr(config, "attn_logit_softcapping", None):
        return f"{name} uses attention logit soft-capping"
    window = getattr(config, "sliding_window", None)
    if window and getattr(config, "use_sliding_window", True) and window < max_length:
        return f"{name} uses sliding-window attention ({window} < train.max_length {max_length})"
    return None


def slices_logits(model) -> bool:
    """Whether ``model.forward`` takes ``logits_to_keep`` (a boolean mask is accepted by every
    causal LM of transformers 5 that takes it: ``transformers.modeling_utils.slice_logits_to_keep``),
    so that :func:`flatten_collator` can ask for the label positions' logits only."""
    return "logits_to_keep" in inspect.signature(base_model(model).forward).parameters


def attention_for(model, device: str, dtype: str) -> str:
    """The training attention: the model's ``flash_attention_2`` (varlen kernel) on CUDA when
    ``flash_attn`` is installed and the model runs in half precision, else ``harness_varlen``."""
    base = base_model(model)
    if (
        str(device).startswith("cuda")
        and dtype in ("bfloat16", "float16")
        and getattr(base, "_supports_flash_attn", False)
        and importlib.util.find_spec("flash_attn") is not None
    ):
        return "flash_attention_2"
    return register()


def last_mlp(model):
    """The MLP (``mlp`` child) of ``model``'s last decoder layer (the last module whose class is in
    the model's ``_no_split_modules``), or None: not found, or a mixture of experts (whose router
    statistics would change if it saw fewer positions)."""
    import torch

    base = base_model(model)
    config = getattr(base, "config", None)
    if any(getattr(config, key, None) for key in ("num_experts", "num_local_experts", "n_routed_experts")):
        return None
    layer_classes = set(getattr(base, "_no_split_modules", None) or ())
    layers = [module for module in base.modules() if type(module).__name__ in layer_classes]
    mlp = getattr(layers[-1], "mlp", None) if layers else None
    return mlp if isinstance(mlp, torch.nn.Module) else None


class LastMLPOnLabelRows:
    """Runs the last decoder layer's MLP on the label positions of a padding-free row only.

    With ``logits_to_keep`` (:func:`flatten_collator` with ``label_logits_only``) the final hidden
    states of the prompt's positions are thrown away before the LM head; in the last layer, the
    MLP's output at a position reaches nothing but that position's final hidden state (the MLP and
    the final norm work position by position; attention, which mixes positions, comes before it).
    So the last MLP's work on prompt positions (most of the row: ~87% on the tiny preset) is
    wasted, forward and backward. Two hooks on the MLP module skip it: the input is cut to the
    kept positions, and the output is put back into a row of zeros (the prompt positions' final
    hidden states are then wrong, and unused). Loss and gradients are unchanged
    (tests/test_packing.py, Llama and GPT-2).

    The kept positions come from the ``logits_to_keep`` mask the model is called with (a forward
    pre-hook on the model); a call without a boolean mask (evaluation, generation) runs the MLP
    on every position.
    """

    def __init__(self, model):
        self.model = base_model(model)
        self.mlp = last_mlp(model)
        self.rows = None  # positions kept in the current forward (1-D indices), or None: all
        self.length: int | None = None  # the row's length those positions index
        self.cut = False  # whether the MLP's current call got the kept positions only
        self.handles: list = []

    def enable(self) -> None:
        if self.mlp is None or self.handles:
            return
        self.handles = [
            self.model.register_forward_pre_hook(self._note_rows, with_kwargs=True),
            self.mlp.register_forward_pre_hook(self._take_rows),
            self.mlp.register_forward_hook(self._put_back),
        ]

    def disable(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles, self.rows = [], None

    def _note_rows(self, module, args, kwargs):
        import torch

        keep = kwargs.get("logits_to_keep")
        is_mask = isinstance(keep, torch.Tensor) and keep.dtype == torch.bool and keep.dim() == 2
        self.rows = keep[0].nonzero().reshape(-1) if is_mask and keep.shape[0] == 1 else None
        self.length = keep.shape[1] if self.rows is not None else None

    def _take_rows(self, module, args):
        hidden = args[0] if args else None
        self.cut = not (
            self.rows is None or hidden is None or hidden.dim() != 3 or hidden.shape[:2] != (1, self.length)
        )
        return (hidden[:, self.rows], *args[1:]) if self.cut else None

    def _put_back(self, module, args, output):
        if not self.cut:
            return None
        full = output.new_zeros(output.shape[0], self.length, *output.shape[2:])
        return full.index_copy(1, self.rows, output)


class TrainingAttention:
    """Switches ``model`` to the padding-free attention for training and back (and, with
    ``label_rows``, the last MLP to the label positions: :class:`LastMLPOnLabelRows`).

    :meth:`enable` before ``Trainer.train``, :meth:`disable` after it (and before saving);
    :meth:`suspended` around evaluations that run inside training (dev-set generation uses padded
    batches and needs the original, masked attention).
    """

    def __init__(self, model, name: str, label_rows: bool = False):
        self.model = base_model(model)
        self.name = name
        self.original = self.model.config._attn_implementation
        self.label_rows = LastMLPOnLabelRows(model) if label_rows else None

    def enable(self) -> None:
        if self.name == ATTENTION_NAME:
            register()
        self.model.set_attn_implementation(self.name)
        if self.label_rows:
            self.label_rows.enable()

    def disable(self) -> None:
        if self.label_rows:
            self.label_rows.disable()
        if self.model.config._attn_implementation != self.original:
            self.model.set_attn_implementation(self.original)

    @contextlib.contextmanager
    def suspended(self) -> Iterator[None]:
        active = self.model.config._attn_implementation == self.name
        if active:
            self.disable()
        try:
            yield
        finally:
            if active:
                self.enable()
