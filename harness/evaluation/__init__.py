"""Evaluation: predictions (greedy generation, or log-likelihood over a task's choices), then
scoring with the task's metrics."""

from __future__ import annotations

import math
import os
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.metrics import Metric, MetricResult
from harness.tasks import Example, Task
from harness.tasks.prompting import IGNORE_INDEX, build_prompt, tokenize_for_training, truncate_at_stop


@dataclass
class TaskEvaluation:
    """Predictions and scores of one model on one task's test split.

    ``choice_logprobs`` (log-likelihood scoring only) holds, per example, the summed
    log-probability of each choice's tokens (EOS included) after the prompt, keyed by choice.
    """

    task: Task
    prompts: list[str]
    predictions: list[str]
    scores: dict[str, MetricResult]
    scoring: str = "generate"  # "generate" | "loglik": how the predictions were made
    choice_logprobs: list[dict[str, float]] | None = None


def generate(
    model,
    tokenizer,
    prompts: Sequence[str],
    max_new_tokens: int,
    stop: Sequence[str] = (),
    batch_size: int = 32,
    on_batch: Callable[[int], None] | None = None,
) -> list[str]:
    """Greedy completions of ``prompts``, cut at the first stop string (and stripped).

    Prompts are sorted by length (longest first, so memory peaks early and padding is minimal)
    and batched with left padding; results come back in input order. Each batch is decoded by a
    lean greedy loop over the model's KV cache instead of ``model.generate``:

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
      them; the loop ends when no row is left;
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
        return _generate_hf(model, tokenizer, prompts, max_new_tokens, stop, batch_size, on_batch)
    stop_strings = tuple(s for s in stop if s)
    encoded = tokenizer(list(prompts), add_special_tokens=True)["input_ids"]
    order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
    outputs: list[str] = [""] * len(prompts)
    device = next(model.parameters()).device
    candidates = _stop_candidates(tokenizer, stop_strings) if stop_strings else None
    if candidates is not None and candidates.device != device:
        candidates = candidates.to(device)
    eos_ids = end_of_sequence_ids(model, tokenizer)
    eos_id = tokenizer.eos_token_id
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = eos_id if eos_id is not None else 0
    lean = True
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch_ids = [encoded[i] for i in rows]
        tokens = None
        if max_new_tokens > 0 and lean:
            tokens = _greedy_batch(
                model, tokenizer, batch_ids, max_new_tokens, stop_strings, candidates, eos_ids, pad_id, device
            )
            lean = tokens is not None
        if tokens is not None:
            texts = [
                truncate_at_stop(text, stop_strings)
                for text in tokenizer.batch_decode(tokens, skip_special_tokens=True)
            ]
        elif max_new_tokens > 0:  # the model returned no KV cache: let ``generate`` do it
            texts = _generate_hf(
                model, tokenizer, [prompts[i] for i in rows], max_new_tokens, stop, len(rows)
            )
        else:
            texts = [""] * len(rows)
        for index, text in zip(rows, texts, strict=True):
            outputs[index] = text
        if on_batch is not None:
            on_batch(len(rows))
    return outputs


def _greedy_batch(
    model, tokenizer, batch_ids, max_new_tokens, stop_strings, candidates, eos_ids, pad_id, device
):
    """The greedy new tokens of each prompt of one batch (EOS not included), or ``None`` when
    the model returns no KV cache; see :func:`generate`."""
    import torch

    size = len(batch_ids)
    cache_arg = cache_argument(model)
    # The token prefix every prompt of the batch shares (a task's instruction, say) runs once,
    # as one row, and its KV cache is copied to every row; each prompt always keeps at least
    # its last token in its own part, whose logits give the first new token.
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
    # Position ids as ``generate`` derives them: cumsum(mask) - 1, 0 on padding (left, or
    # between the shared prefix and a shorter prompt's own part).
    positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, shared:]
    # As in ``generate``: without padding the mask is dropped (no mask to build at each step).
    mask = mask.to(device) if not bool(mask.all()) else None
    generated: list[list[int]] = [[] for _ in range(size)]
    active = list(range(size))  # batch row -> prompt row of the current (shrinking) batch
    with torch.inference_mode():
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
                return None  # e.g. a training-mode model with gradient checkpointing
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
            return None  # e.g. a training-mode model with gradient checkpointing
        next_positions = positions[:, -1:].to(device) + 1
        for step in range(max_new_tokens):
            new = out.logits[:, -1].argmax(dim=-1)
            new_list = new.tolist()
            for row, token in zip(active, new_list, strict=True):
                generated[row].append(token)
            if step == max_new_tokens - 1:
                break
            finished = [i for i, token in enumerate(new_list) if token in eos_ids]
            if stop_strings:
                if candidates is None:  # no sound token filter: search every row's text
                    check = range(len(active))
                else:
                    check = torch.isin(new, candidates).nonzero().flatten().tolist()
                for i in check:
                    if new_list[i] not in eos_ids:
                        text = tokenizer.decode(generated[active[i]], skip_special_tokens=True)
                        if any(s in text for s in stop_strings):
                            finished.append(i)
            if finished:
                if len(finished) == len(active):
                    break
                done = set(finished)
                keep = [i for i in range(len(active)) if i not in done]
                active = [active[i] for i in keep]
                index = torch.tensor(keep, dtype=torch.long, device=device)
                cache.reorder_cache(index)
                new = new[index]
                next_positions = next_positions[index]
                if mask is not None:
                    mask = mask[index]
            if mask is not None:
                mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
            out = model(
                input_ids=new[:, None],
                attention_mask=mask,
                position_ids=next_positions,
                use_cache=True,
                logits_to_keep=1,
                **{cache_arg: cache},
            )
            next_positions = next_positions + 1
    return [tokens[:-1] if tokens and tokens[-1] in eos_ids else tokens for tokens in generated]


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
                eos_token_id=sorted(end_of_sequence_ids(model, tokenizer)),
                stopping_criteria=stopping,
            )
        new_tokens = generated[:, batch["input_ids"].shape[1] :]
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        for index, text in zip(order[start : start + batch_size], texts, strict=False):
            outputs[index] = truncate_at_stop(text, tuple(stop_strings))
        if on_batch is not None:
            on_batch(len(batch_ids))
    return outputs


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

# The keyword a model's ``forward`` takes its KV cache under, newest first: transformers 5.24
# renamed ``past_key_values`` to ``cache`` (the old name is deprecated, to go in 5.40), in the
# model outputs too. Both are supported; tests fail loudly if a future release renames it again.
CACHE_ARGUMENTS = ("cache", "past_key_values")


def _forward_parameters(model) -> frozenset[str]:
    """The keyword names the (base) model's ``forward`` accepts; empty when it cannot be read."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft
    try:
        return frozenset(inspect.signature(base.forward).parameters)
    except (TypeError, ValueError):
        return frozenset()


def cache_argument(model) -> str | None:
    """The name under which ``model.forward`` takes its KV cache (see :data:`CACHE_ARGUMENTS`),
    or ``None`` when it takes neither."""
    parameters = _forward_parameters(model)
    return next((name for name in CACHE_ARGUMENTS if name in parameters), None)


def returned_cache(output):
    """The KV cache a forward pass returned, under either of :data:`CACHE_ARGUMENTS`, or ``None``."""
    for name in CACHE_ARGUMENTS:
        if name in output.keys():  # keys only: the old attribute name warns on new releases
            return output[name]
    return None


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


# A shorter shared prefix is not worth its extra forward pass.
_MIN_SHARED_PREFIX = 4

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


def choice_logprobs(
    model,
    tokenizer,
    prompts: Sequence[str],
    choices: Sequence[str],
    batch_size: int = 32,
    on_batch: Callable[[int], None] | None = None,
) -> list[dict[str, float]]:
    """For each prompt, the log-likelihood of each choice as its answer, keyed by choice.

    A choice's log-likelihood is the sum of the log-probabilities of its tokens *and the EOS
    that follows it*, given everything before. ``prompt + choice`` is tokenized in one pass and
    the choice's tokens are found by character offsets, exactly as for training
    (:func:`~harness.tasks.prompting.tokenize_for_training`), so the tokens scored are the tokens the
    model was trained to produce, including a boundary token that merges prompt and answer
    characters. Counting EOS makes the score "the answer is exactly this choice": without it,
    a choice that is a prefix of a likelier longer answer ("Positive" of "Positively") would
    win, and short choices would be favoured over long ones only for their length.

    No generation: two forward passes per batch. The token prefix that all of a prompt's
    choices share (the prompt, up to the first scored token) runs once, left-padded with
    position ids from the attention mask (as in :func:`generate`), keeping its KV cache and
    only its last position's logits; the cache is then repeated once per choice and the
    choices' own tokens (right-padded) run on top of it. A batch holds ``batch_size // len(choices)``
    prompts (at least one), so at most about ``batch_size`` sequences are in memory at once.

    :param on_batch: called with the number of prompts scored after each batch.
    """
    import torch

    if not prompts:
        return []
    if not choices:
        raise ValueError("choice_logprobs needs at least one choice")
    # Each group shares one prefix; its members are (prompt index, choice index, suffix ids,
    # number of scored tokens at the end of the suffix). Normally one group per prompt.
    groups: list[tuple[list[int], list[tuple[int, int, list[int], int]]]] = []
    for p, prompt in enumerate(prompts):
        pairs = []
        for c, choice in enumerate(choices):
            tokenized = tokenize_for_training(tokenizer, prompt, choice, max_length=math.inf)
            # A first token has nothing before it to be predicted from (only with an empty
            # prompt and no BOS), so it is never scored.
            scored = min(
                sum(label != IGNORE_INDEX for label in tokenized.labels), len(tokenized.input_ids) - 1
            )
            pairs.append((c, tokenized.input_ids, scored))
        shared = min(len(ids) - scored for _, ids, scored in pairs)  # never past a scored token
        first = pairs[0][1]
        shared = next((i for i in range(shared) if any(ids[i] != first[i] for _, ids, _ in pairs)), shared)
        if shared > 0:
            groups.append((first[:shared], [(p, c, ids[shared:], n) for c, ids, n in pairs]))
        else:  # the choices differ from the first token on (an empty prompt): one group each
            for c, ids, n in pairs:
                groups.append((ids[:1], [(p, c, ids[1:], n)]))
    order = sorted(range(len(groups)), key=lambda g: -len(groups[g][0]))
    results = [[0.0] * len(choices) for _ in prompts]
    pending = [len(choices)] * len(prompts)  # pairs left per prompt, for on_batch
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    per_batch = max(1, batch_size // len(choices))
    cache_arg = cache_argument(model) or "past_key_values"
    for start in range(0, len(order), per_batch):
        batch = [groups[g] for g in order[start : start + per_batch]]
        prefix_len = max(len(prefix) for prefix, _ in batch)
        prefix_ids = torch.full((len(batch), prefix_len), pad_id, dtype=torch.long)
        prefix_mask = torch.zeros((len(batch), prefix_len), dtype=torch.long)
        for row, (prefix, _) in enumerate(batch):
            prefix_ids[row, prefix_len - len(prefix) :] = torch.tensor(prefix, dtype=torch.long)
            prefix_mask[row, prefix_len - len(prefix) :] = 1
        members = [(row, *member) for row, (_, group) in enumerate(batch) for member in group]
        rows = torch.tensor([row for row, *_ in members], dtype=torch.long)
        suffix_len = max(len(suffix) for *_, suffix, _ in members)
        suffix_ids = torch.full((len(members), suffix_len), pad_id, dtype=torch.long)
        suffix_mask = torch.zeros((len(members), suffix_len), dtype=torch.long)
        for i, (*_, suffix, _) in enumerate(members):
            suffix_ids[i, : len(suffix)] = torch.tensor(suffix, dtype=torch.long)
            suffix_mask[i, : len(suffix)] = 1
        with torch.inference_mode():
            out = model(
                input_ids=prefix_ids.to(device),
                attention_mask=prefix_mask.to(device),
                position_ids=(prefix_mask.cumsum(-1) - 1).clamp(min=0).to(device),
                logits_to_keep=1,
                use_cache=True,
            )
            # logprobs[i, j]: log-probabilities of the token at suffix position j of member i.
            logprobs = torch.log_softmax(out.logits[:, -1].float(), dim=-1)[rows.to(device)].unsqueeze(1)
            if suffix_len > 1:
                mask = torch.cat([prefix_mask[rows], suffix_mask], dim=1)[:, :-1]
                positions = (mask.cumsum(-1) - 1).clamp(min=0)
                cache = returned_cache(out)
                if cache is not None:
                    cache.reorder_cache(rows.to(device))  # one copy of the prefix per member
                    ids, positions = suffix_ids[:, :-1], positions[:, prefix_len:]
                else:  # no cache (a training-mode model with gradient checkpointing): run it all again
                    ids = torch.cat([prefix_ids[rows], suffix_ids[:, :-1]], dim=1)
                logits = model(
                    input_ids=ids.to(device),
                    attention_mask=mask.to(device),
                    position_ids=positions.to(device),
                    logits_to_keep=suffix_len - 1,
                    use_cache=cache is not None,
                    **{cache_arg: cache},
                ).logits
                logprobs = torch.cat([logprobs, torch.log_softmax(logits.float(), dim=-1)], dim=1)
            token_logprobs = logprobs.gather(-1, suffix_ids.to(device).unsqueeze(-1)).squeeze(-1).cpu()
        finished = 0
        for i, (_, p, c, suffix, scored) in enumerate(members):
            results[p][c] = float(token_logprobs[i, len(suffix) - scored : len(suffix)].sum())
            pending[p] -= 1
            finished += pending[p] == 0
        if on_batch is not None and finished:
            on_batch(finished)
    return [dict(zip(choices, values, strict=True)) for values in results]


def best_choice(logprobs: dict[str, float]) -> str:
    """The choice with the highest log-likelihood; the first one listed on a tie."""
    return max(logprobs, key=lambda choice: logprobs[choice])


def score(task: Task, metrics: dict[str, Metric], examples: Sequence[Example], predictions: Sequence[str]):
    """Every metric of ``task`` on the predictions, keyed by metric name."""
    references = [example.references for example in examples]
    return {name: metrics[name].compute(list(predictions), references) for name in task.metrics}


def evaluate_task(
    model,
    tokenizer,
    task: Task,
    examples: Sequence[Example],
    metrics: dict[str, Metric],
    template: str,
    batch_size: int,
    on_batch: Callable[[int], None] | None = None,
) -> TaskEvaluation:
    """Predict an answer for each test example of ``task`` and score the answers.

    A task scored by log-likelihood (``task.scoring_method == "loglik"``) predicts the choice
    the model finds likeliest after the prompt; any other task generates greedily.
    """
    prompts = [build_prompt(template, example, tokenizer) for example in examples]
    if task.scoring_method == "loglik":
        logprobs = choice_logprobs(model, tokenizer, prompts, task.choices, batch_size, on_batch)
        predictions = [best_choice(entry) for entry in logprobs]
        return TaskEvaluation(
            task, prompts, predictions, score(task, metrics, examples, predictions), "loglik", logprobs
        )
    predictions = generate(model, tokenizer, prompts, task.max_new_tokens, task.stop, batch_size, on_batch)
    return TaskEvaluation(task, prompts, predictions, score(task, metrics, examples, predictions))
