"""Greedy generation: a lean batched loop over the model's KV cache, with ``model.generate`` as
the fallback for models it cannot drive and as the reference its tests compare with."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Collection, Sequence

from harness.evaluation.forward import _forward_parameters, cache_argument
from harness.evaluation.greedy import greedy_tokens
from harness.tasks.prompting import truncate_at_stop


def generate(
    model,
    tokenizer,
    prompts: Sequence[str],
    max_new_tokens: int,
    stop: Sequence[str] = (),
    batch_size: int = 32,
    on_batch: Callable[[int], None] | None = None,
    end_ids: Collection[int] = (),
) -> list[str]:
    """Greedy completions of ``prompts``, cut at the first stop string (and stripped); a row also
    ends at EOS (:func:`end_of_sequence_ids`) and at any of ``end_ids`` (a chat template's
    end-of-turn token, say).

    Prompts are sorted by length (longest first, so memory peaks early and padding is minimal)
    and decoded with left padding by a lean greedy loop over the model's KV cache
    (:func:`harness.evaluation.greedy.greedy_tokens`) instead of ``model.generate``; results
    come back in input order. ``on_batch(n)`` is called as ``n`` prompts finish.

    * one prefill forward over the padded prompts (position ids ``cumsum(mask) - 1``, clamped
      at 0, exactly as ``generate`` derives them; only the last position's logits computed),
      then one forward per new token, fed only that token with its position id and the grown
      attention mask; the next token is the argmax;
    * the token prefix that all prompts of a batch share (typically the template and the
      task's instruction: 40-55 tokens of 70-125 for the built-in tasks) is prefilled once, as
      one row, and its KV cache copied to every row; the rest of each prompt is left-padded
      after it (the padding sits between the shared prefix and the prompt's own tokens, which
      the attention mask and position ids handle like left padding);
    * a row is finished when it produces EOS, when its text so far contains a stop string, or
      after ``max_new_tokens`` tokens, and finished rows are **dropped** from the batch (the KV
      cache, attention mask and positions are index-selected), so no forward pass is spent on
      them; once the batch has shrunk to half of ``batch_size``, the next prompts are prefilled
      and **join** it (continuous batching: their cache is left-padded to the running one's
      length, or the running one to theirs), so decode steps run on full batches rather than
      on each batch's tail of long answers;
    * stop strings are checked by token id: a precomputed table (per tokenizer and stop strings)
      of the tokens that can complete a stop string (see :func:`_stop_candidates`); only rows
      whose new token is in it have their text decoded and searched. Stop strings for which no
      such table is sound (ending in a space) have every row's text searched at every step.

    The token sequence is the same as ``model.generate(do_sample=False)``'s (a test checks it
    on random Llama and GPT-2 models); models whose ``forward`` lacks ``position_ids`` or
    ``logits_to_keep``, encoder-decoder models, peft prompt-learning adapters and models whose
    generation config changes greedy decoding (repetition penalty, banned words, ...) use
    ``model.generate`` (:func:`_generate_hf`) instead.

    Batch size and padding: a left-padded row gets the positions it has alone and padded keys
    get exactly zero attention weight, so the logits are the same up to fp32 rounding
    (measured: at most ~1e-6 apart between batch sizes 1, 8 and 32 on CPU), not bit-identical:
    the BLAS picks a different kernel for very small matrices (fewer than 4 rows: the decode
    steps of a batch of 1 to 3, or of a batch whose other rows have finished), and the
    attention reductions run over a longer, differently aligned key axis when a row is padded.
    Greedy predictions can only differ where the two best tokens are within that rounding of
    each other, which a test checks does not happen on a random model over 40 prompts.
    Bit-exact logits across batch shapes would need batch-invariant kernels; generating each
    prompt alone is the only exact alternative, and it is several times slower.
    """
    if not prompts:
        return []
    if not _lean_decoding_supported(model):
        return _generate_hf(
            model, tokenizer, prompts, max_new_tokens, stop, batch_size, on_batch, end_ids=end_ids
        )
    stop_strings = tuple(s for s in stop if s)
    if max_new_tokens <= 0:
        if on_batch is not None:
            on_batch(len(prompts))
        return [""] * len(prompts)
    encoded = tokenizer(list(prompts), add_special_tokens=True)["input_ids"]
    order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
    device = next(model.parameters()).device
    candidates = _stop_candidates(tokenizer, stop_strings) if stop_strings else None
    if candidates is not None and candidates.device != device:
        candidates = candidates.to(device)
    eos_id = tokenizer.eos_token_id
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = eos_id if eos_id is not None else 0
    tokens = greedy_tokens(
        model,
        tokenizer,
        [encoded[i] for i in order],
        max_new_tokens,
        stop_strings,
        candidates,
        end_of_sequence_ids(model, tokenizer) | frozenset(end_ids),
        pad_id,
        batch_size,
        on_batch,
    )
    if tokens is None:  # the model returned no KV cache: let ``generate`` do it
        return _generate_hf(
            model, tokenizer, prompts, max_new_tokens, stop, batch_size, on_batch, end_ids=end_ids
        )
    outputs: list[str] = [""] * len(prompts)
    texts = tokenizer.batch_decode(tokens, skip_special_tokens=True)
    for index, text in zip(order, texts, strict=True):
        outputs[index] = truncate_at_stop(text, stop_strings)
    return outputs


def end_of_sequence_ids(model, tokenizer) -> frozenset[int]:
    """Every token id that ends an answer: the tokenizer's EOS and the model's generation-config
    EOS ids (chat models such as Llama 3 Instruct end a turn with a token other than EOS)."""
    ids = {tokenizer.eos_token_id}
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, (list, tuple, set)) else [configured])
    return frozenset(i for i in ids if i is not None)


def _generate_hf(
    model,
    tokenizer,
    prompts: Sequence[str],
    max_new_tokens: int,
    stop: Sequence[str] = (),
    batch_size: int = 32,
    on_batch: Callable[[int], None] | None = None,
    end_ids: Collection[int] = (),
) -> list[str]:
    """:func:`generate` with ``model.generate`` (same sorting, padding, stop cutting): the
    fallback for models the lean loop cannot drive, and the reference its tests compare with.
    Finished rows keep being decoded until the whole batch is done."""
    import torch

    if not prompts:
        return []
    tokenizer.padding_side = "left"
    encoded = tokenizer(list(prompts), add_special_tokens=True)["input_ids"]
    order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
    outputs: list[str] = [""] * len(prompts)
    device = next(model.parameters()).device
    stop_strings = [s for s in stop if s]
    stopping = None
    if stop_strings:
        from transformers import StoppingCriteriaList, StopStringCriteria

        # Built once, not once per batch: its set-up reads and hashes the whole vocabulary.
        stopping = StoppingCriteriaList([StopStringCriteria(tokenizer, stop_strings)])
    for start in range(0, len(order), batch_size):
        batch_ids = [encoded[i] for i in order[start : start + batch_size]]
        batch = tokenizer.pad({"input_ids": batch_ids}, padding=True, return_tensors="pt").to(device)
        with torch.inference_mode():
            generated = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                num_beams=1,
                use_cache=True,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=sorted(end_of_sequence_ids(model, tokenizer) | frozenset(end_ids)),
                stopping_criteria=stopping,
            )
        new_tokens = generated[:, batch["input_ids"].shape[1] :].tolist()
        if end_ids:  # an end token that is not a special token would survive the decoding
            new_tokens = [_until(tokens, end_ids) for tokens in new_tokens]
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        for index, text in zip(order[start : start + batch_size], texts, strict=False):
            outputs[index] = truncate_at_stop(text, tuple(stop_strings))
        if on_batch is not None:
            on_batch(len(batch_ids))
    return outputs


def _until(tokens: list[int], end_ids: Collection[int]) -> list[int]:
    """``tokens`` up to (not including) the first of ``end_ids``."""
    return next((tokens[:i] for i, token in enumerate(tokens) if token in end_ids), tokens)


# Generation-config settings that make ``model.generate``'s greedy search differ from a plain
# argmax, with their neutral values: a model that sets any of them is decoded by ``generate``.
_GREEDY_NEUTRAL = {
    "repetition_penalty": 1.0,
    "encoder_repetition_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0,
    "min_length": 0,
    "min_new_tokens": 0,
    "guidance_scale": 1.0,
    "bad_words_ids": None,
    "suppress_tokens": None,
    "begin_suppress_tokens": None,
    "forced_bos_token_id": None,
    "forced_eos_token_id": None,
    "forced_decoder_ids": None,
    "sequence_bias": None,
    "exponential_decay_length_penalty": None,
    "penalty_alpha": None,
    "dola_layers": None,
    "watermarking_config": None,
    "stop_strings": None,
}
_LEAN_FORWARD_ARGS = frozenset({"input_ids", "attention_mask", "position_ids", "use_cache", "logits_to_keep"})


def _lean_decoding_supported(model) -> bool:
    """Whether :func:`generate`'s own greedy loop can drive ``model`` (else ``model.generate``)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft
    config = getattr(base, "config", None)
    if config is None or getattr(config, "is_encoder_decoder", False):
        return False
    peft_config = getattr(model, "active_peft_config", None)
    if peft_config is not None and getattr(peft_config, "is_prompt_learning", False):
        return False  # virtual tokens / prefix states are handled inside peft's generate
    if not _LEAN_FORWARD_ARGS <= _forward_parameters(model) or cache_argument(model) is None:
        return False
    generation_config = getattr(model, "generation_config", None)
    for name, neutral in _GREEDY_NEUTRAL.items():
        value = getattr(generation_config, name, None)
        if value is not None and value != neutral and value not in ([], ()):
            return False
    return True


# tokenizer -> {(vocabulary size, stop strings): candidate token ids}
_STOP_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _stop_candidates(tokenizer, stop_strings: tuple[str, ...]):
    """The token ids that can complete one of ``stop_strings``, as a tensor; ``None`` when no
    such set can be given soundly.

    A stop string's occurrence ends inside the token that completes it, so that token's text
    holds the stop string's last character; decoded alone, a token's text is the same, except
    that a decoder may drop a leading space (SentencePiece's "▁") and that a token holding only
    part of a multi-byte character decodes to "\\ufffd". Candidates are therefore the tokens
    whose text alone contains a stop string's last character (or "\\ufffd" when that
    character is not ASCII); stop strings ending in a space get ``None`` (search every row).
    For "\\n" the candidates are exactly the tokens containing a newline. Computed once per
    tokenizer and stop strings (one decode of the whole vocabulary).
    """
    import torch

    if any(s[-1] == " " for s in stop_strings):
        return None
    key = (len(tokenizer), stop_strings)
    try:
        tables = _STOP_TABLES.setdefault(tokenizer, {})
    except TypeError:  # not weak-referenceable: no caching
        tables = {}
    if key not in tables:
        texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))], skip_special_tokens=True)
        marks = {s[-1] for s in stop_strings}
        if any(not mark.isascii() for mark in marks):
            marks.add("\ufffd")
        ids = [i for i, text in enumerate(texts) if any(mark in text for mark in marks)]
        tables[key] = torch.tensor(ids, dtype=torch.long)
    return tables[key]
