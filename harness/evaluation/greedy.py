"""The lean greedy decoder behind :func:`harness.evaluation.generate`: continuous batching over the
model's KV cache (finished rows leave the batch, waiting prompts are prefilled and join it)."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from harness.evaluation.forward import cache_argument, returned_cache

# A shorter shared prefix is not worth its extra forward pass.
_MIN_SHARED_PREFIX = 4

# Waiting prompts join a running batch once it has shrunk to this fraction of the batch size
# (0: never; each batch is decoded to its end). A join costs a prefill call and a copy of the
# running cache, so rows join in groups, not one by one. bench/README.md has the measurements:
# 20% fewer decode steps, the same CPU time on a CPU.
REFILL_AT = 0.5


@dataclass
class _Rows:
    """The rows decoding together: their KV cache, the attention mask over it (``None`` while no
    row is padded), the position id of each row's next input and the token it will be fed."""

    cache: object
    mask: object
    positions: object  # (rows, 1)
    tokens: object  # (rows,): each row's newest token, already in ``generated``, not yet fed
    prompts: list[int]  # row -> prompt index


def greedy_tokens(
    model,
    tokenizer,
    encoded: Sequence[list[int]],
    max_new_tokens: int,
    stop_strings: tuple[str, ...],
    candidates,
    eos_ids: Collection[int],
    pad_id: int,
    batch_size: int,
    on_done: Callable[[int], None] | None = None,
) -> list[list[int]] | None:
    """The greedy new tokens of each of ``encoded`` (prompt token ids, admitted in this order; the
    end token not included), or ``None`` when the model returns no KV cache.

    Up to ``batch_size`` prompts decode together. A row leaves the batch as soon as it ends (EOS
    or one of ``eos_ids``, a stop string in its text, ``max_new_tokens``); once the batch has
    shrunk to :data:`REFILL_AT` of ``batch_size``, the next waiting prompts are prefilled and
    join it, so decode steps keep running on full batches instead of on each batch's tail.
    ``candidates`` are the token ids that can complete a stop string (``None``: search every
    row's text at every step). ``on_done(n)`` is called as ``n`` prompts finish.
    """
    import torch

    device = next(model.parameters()).device
    cache_arg = cache_argument(model)
    waiting = deque(range(len(encoded)))
    generated: list[list[int]] = [[] for _ in encoded]
    rows: _Rows | None = None
    can_join = True  # known after the first prefill: whether the cache's layout allows a join

    def advance(rows: _Rows, running: int) -> _Rows | None:
        left = _advance(rows, tokenizer, generated, max_new_tokens, stop_strings, candidates, eos_ids)
        if on_done is not None and running > _count(left):
            on_done(running - _count(left))
        return left

    with torch.inference_mode():
        while waiting or rows is not None:
            size = _count(rows)
            if waiting and (size == 0 or (can_join and size <= batch_size * REFILL_AT)):
                admitted = [waiting.popleft() for _ in range(min(batch_size - size, len(waiting)))]
                fresh = _prefill(model, cache_arg, [encoded[i] for i in admitted], admitted, pad_id, device)
                if fresh is None:
                    return None
                can_join = can_join and _joinable(fresh.cache)
                fresh = advance(fresh, len(admitted))
                if fresh is not None:
                    rows = fresh if rows is None else _join(rows, fresh)
            else:
                rows = advance(_step(model, cache_arg, rows), size)
    return [tokens[:-1] if tokens and tokens[-1] in eos_ids else tokens for tokens in generated]


def _prefill(
    model, cache_arg: str, batch_ids: list[list[int]], prompts: list[int], pad_id, device
) -> _Rows | None:
    """Prefill ``batch_ids`` (left-padded) and return their rows with each row's first new token;
    ``None`` when the model returns no KV cache (a training-mode model with gradient checkpointing).

    The token prefix all of them share (the template and the task's instruction, typically) runs
    once, as one row, and its KV cache is copied to every row; the rest of each prompt is
    left-padded after it, which the attention mask and the position ids (``cumsum(mask) - 1``,
    clamped at 0, as ``generate`` derives them) handle like left padding. Each prompt keeps at
    least its last token in its own part: its logits give the first new token.
    """
    import torch

    size = len(batch_ids)
    shared = len(os.path.commonprefix(batch_ids)) if size > 1 else 0
    shared = max(0, min(shared, min(len(ids) for ids in batch_ids) - 1))
    if shared < _MIN_SHARED_PREFIX:
        shared = 0
    parts = [ids[shared:] for ids in batch_ids]
    width = max(1, max(len(ids) for ids in parts))  # an all-empty batch: one padded column
    input_ids = torch.full((size, width), pad_id, dtype=torch.long)
    mask = torch.ones((size, shared + width), dtype=torch.long)
    mask[:, shared:] = 0
    for row, ids in enumerate(parts):
        if ids:
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            mask[row, shared + width - len(ids) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, shared:]
    mask = mask.to(device) if not bool(mask.all()) else None  # as ``generate``: no mask, no padding
    cache = None
    if shared:
        out = model(
            input_ids=torch.tensor([batch_ids[0][:shared]], dtype=torch.long, device=device),
            position_ids=torch.arange(shared, device=device)[None],
            use_cache=True,
            logits_to_keep=1,
        )
        cache = returned_cache(out)
        if cache is None or not hasattr(cache, "reorder_cache"):
            return None
        cache.reorder_cache(torch.zeros(size, dtype=torch.long, device=device))
    out = model(
        input_ids=input_ids.to(device),
        attention_mask=mask,
        position_ids=positions.to(device),
        use_cache=True,
        logits_to_keep=1,
        **{cache_arg: cache},
    )
    cache = returned_cache(out)
    if cache is None or not hasattr(cache, "reorder_cache"):
        return None
    tokens = out.logits[:, -1].argmax(dim=-1)
    return _Rows(cache, mask, positions[:, -1:].to(device) + 1, tokens, list(prompts))


def _count(rows: _Rows | None) -> int:
    return 0 if rows is None else len(rows.prompts)


def _step(model, cache_arg: str, rows: _Rows) -> _Rows:
    """Feed every row its newest token; the rows with their next tokens."""
    import torch

    mask = rows.mask
    if mask is not None:  # one more column: the position being fed
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
    out = model(
        input_ids=rows.tokens[:, None],
        attention_mask=mask,
        position_ids=rows.positions,
        use_cache=True,
        logits_to_keep=1,
        **{cache_arg: rows.cache},
    )
    return _Rows(rows.cache, mask, rows.positions + 1, out.logits[:, -1].argmax(dim=-1), rows.prompts)


def _advance(rows, tokenizer, generated, max_new_tokens, stop_strings, candidates, eos_ids) -> _Rows | None:
    """Record each row's newest token and drop the rows it ends; ``None`` when none is left."""
    import torch

    new = rows.tokens
    new_list = new.tolist()
    finished = set()
    for i, (prompt, token) in enumerate(zip(rows.prompts, new_list, strict=True)):
        generated[prompt].append(token)
        if token in eos_ids or len(generated[prompt]) >= max_new_tokens:
            finished.add(i)
    if stop_strings:
        if candidates is None:  # no sound token filter: search every row's text
            check = range(len(new_list))
        else:
            check = torch.isin(new, candidates).nonzero().flatten().tolist()
        for i in check:
            if i not in finished:
                text = tokenizer.decode(generated[rows.prompts[i]], skip_special_tokens=True)
                if any(s in text for s in stop_strings):
                    finished.add(i)
    if not finished:
        return rows
    if len(finished) == len(new_list):
        return None
    keep = [i for i in range(len(new_list)) if i not in finished]
    index = torch.tensor(keep, dtype=torch.long, device=new.device)
    rows.cache.reorder_cache(index)
    mask = None if rows.mask is None else rows.mask[index]
    return _Rows(rows.cache, mask, rows.positions[index], new[index], [rows.prompts[i] for i in keep])


def _joinable(cache) -> bool:
    """Whether :func:`_join` can merge this cache: a plain ``DynamicCache`` of full-attention
    layers (sliding-window, quantized, offloaded or linear-attention layers keep their own
    bookkeeping, so their batches are decoded to the end before the next is prefilled)."""
    from transformers.cache_utils import DynamicCache, DynamicLayer

    return (
        type(cache) is DynamicCache
        and not getattr(cache, "offloading", False)
        and all(type(layer) is DynamicLayer and layer.is_initialized for layer in cache.layers)
    )


def _join(running: _Rows, fresh: _Rows) -> _Rows:
    """One batch of ``running``'s rows followed by ``fresh``'s: the shorter cache is left-padded
    (zero keys and values, masked out) to the longer one's length, as left padding is. Leading
    positions no remaining row attends to (those of rows that have left) are cut first, so the
    cache stays within about the longest prompt plus twice ``max_new_tokens``.

    This writes ``DynamicLayer.keys``/``values`` (transformers has no public merge of two
    caches); tests/test_decoding.py checks that layout, so a change upstream fails there."""
    import torch
    import torch.nn.functional as F

    masks, leads = [], []
    for rows in (running, fresh):
        mask = rows.mask
        if mask is None:
            length = rows.cache.get_seq_length()
            mask = torch.ones((len(rows.prompts), length), dtype=torch.long, device=rows.tokens.device)
        lead = int(mask.any(dim=0).int().argmax())  # the first position some row attends to
        masks.append(mask[:, lead:])
        leads.append(lead)
    total = max(mask.shape[1] for mask in masks)
    for layers in zip(running.cache.layers, fresh.cache.layers, strict=True):
        for name in ("keys", "values"):
            parts = []
            for layer, lead, mask in zip(layers, leads, masks, strict=True):
                kept = getattr(layer, name)[:, :, lead:]
                parts.append(F.pad(kept, (0, 0, total - mask.shape[1], 0)))
            setattr(layers[0], name, torch.cat(parts))
    return _Rows(
        running.cache,
        torch.cat([F.pad(mask, (total - mask.shape[1], 0)) for mask in masks]),
        torch.cat([running.positions, fresh.positions]),
        torch.cat([running.tokens, fresh.tokens]),
        running.prompts + fresh.prompts,
    )
