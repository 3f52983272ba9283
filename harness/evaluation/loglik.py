"""Log-likelihood scoring of a task's fixed choices: which label the model finds likeliest after
the prompt, in batched forward passes, no generation."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from harness.evaluation.forward import cache_argument, returned_cache
from harness.tasks.prompting import IGNORE_INDEX, tokenize_for_training


def choice_logprobs(
    model,
    tokenizer,
    prompts: Sequence[str],
    choices: Sequence[str],
    batch_size: int = 32,
    on_batch: Callable[[int], None] | None = None,
    end: str | None = None,
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
    :param end: the text that ends an answer in place of EOS: under a chat template its
        end-of-turn (``<|im_end|>``, ``<|eot_id|>``...), which is what training supervises after
        the answer (:mod:`harness.tasks.chat`), so the choice is scored with it and without EOS.
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
            answer = choice if end is None else choice + end
            tokenized = tokenize_for_training(tokenizer, prompt, answer, max_length=math.inf, eos=end is None)
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
