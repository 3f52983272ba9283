"""Evaluation: batch-size-invariant greedy generation and log-likelihood scoring of choices.

The model is a small randomly initialised Llama (no pre-training): its greedy outputs are
varied token soup, which is what a determinism test wants, and it builds in milliseconds.
"""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch")

from harness import evaluation  # noqa: E402
from harness.evaluation import generation, greedy, hf_backend, predictions  # noqa: E402
from harness.evaluation.hf_backend import HFBackend  # noqa: E402
from harness.metrics import Metric, MetricResult  # noqa: E402
from harness.tasks import DataSource, Example, Task  # noqa: E402

WORDS = (
    "the cat sat on a mat and the movie was great but terrible film I love hate this weather today "
    "le chat dort sur le canapé où est la gare ? Researchers found that exercise improves sleep"
).split()
TEMPLATE = "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: these models are too small to gain from more, and on a shared 2-core
    machine a second thread competing with other processes costs several times over (the
    suite's conftest restores the count after each test)."""
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def llama(tiny_llama):
    return tiny_llama()


@pytest.fixture(scope="module")
def model(llama):
    return llama[0]


@pytest.fixture(scope="module")
def tokenizer(llama):
    return llama[1]


def _prompts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [
        TEMPLATE.format(
            instruction="Answer.", input=" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40)))
        )
        for _ in range(n)
    ]


# --------------------------------------------------------------------------------- generation


def _no_fallback(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the lean loop fell back to model.generate")

    monkeypatch.setattr(generation, "_generate_hf", fail)


def test_greedy_predictions_do_not_depend_on_batch_size(model, tokenizer, monkeypatch):
    """The lean greedy loop (the path ``generate`` takes for this model: ``model.generate`` is
    made to fail) gives the same predictions at batch sizes 1, 8 and 32."""
    assert generation._lean_decoding_supported(model)
    _no_fallback(monkeypatch)
    prompts = _prompts(40)
    results = {bs: evaluation.generate(model, tokenizer, prompts, 10, (), bs) for bs in (1, 8, 32)}
    assert results[8] == results[1]
    assert results[32] == results[1]
    assert len(set(results[1])) > 20  # varied outputs, not one degenerate answer


def test_left_padding_changes_generation_logits_only_by_rounding(model, tokenizer):
    """Position ids come from the attention mask, so a padded row computes what it does alone."""
    prompts = _prompts(6, seed=1)
    tokenizer.padding_side = "left"
    ids = [tokenizer(p)["input_ids"] for p in prompts]
    assert len({len(i) for i in ids}) > 3  # real padding

    def scores(rows):
        batch = tokenizer.pad({"input_ids": rows}, padding=True, return_tensors="pt")
        with torch.inference_mode():
            out = model.generate(
                **batch,
                max_new_tokens=6,
                do_sample=False,
                output_scores=True,
                return_dict_in_generate=True,
                pad_token_id=tokenizer.pad_token_id,
            )
        return torch.stack(out.scores, dim=1)

    together = scores(ids)
    for row, single in enumerate(ids):
        alone = scores([single])[0]
        steps = min(len(alone), together.shape[1])
        torch.testing.assert_close(together[row, :steps], alone[:steps], rtol=0, atol=1e-5)


def test_generate_keeps_input_order_and_reports_progress(model, tokenizer):
    prompts = _prompts(5, seed=2)
    seen = []
    batched = evaluation.generate(model, tokenizer, prompts, 4, ("\n",), 2, seen.append)
    alone = [evaluation.generate(model, tokenizer, [p], 4, ("\n",), 1)[0] for p in prompts]
    assert batched == alone
    assert sum(seen) == 5 and all(n > 0 for n in seen)  # reported as prompts finish
    assert evaluation.generate(model, tokenizer, [], 4) == []
    nothing = []
    assert evaluation.generate(model, tokenizer, prompts, 0, (), 2, nothing.append) == [""] * 5
    assert nothing == [5]


@pytest.mark.gpu
def test_lean_loop_matches_model_generate_on_cuda_in_bf16(tiny_llama, monkeypatch):
    """On a GPU in bf16 (what ``load_model`` picks there), the lean loop runs (no fallback) and
    gives ``model.generate``'s tokens. One prompt per batch: both then run the same kernels on
    the same shapes (no padding, no shared prefix), so bf16 rounding cannot tell them apart;
    larger batches must run on the device too."""
    from harness.models import pick_dtype

    model, tokenizer = tiny_llama()
    model = model.to("cuda", pick_dtype("cuda"))
    assert model.dtype == torch.bfloat16 or not torch.cuda.is_bf16_supported()
    prompts = _prompts(16, seed=15)
    reference = generation._generate_hf(model, tokenizer, prompts, 12, ("\n",), 1)
    _no_fallback(monkeypatch)
    assert evaluation.generate(model, tokenizer, prompts, 12, ("\n",), 1) == reference
    assert len(set(reference)) > 8
    batched = evaluation.generate(model, tokenizer, prompts, 12, ("\n",), 8)
    assert len(batched) == len(prompts) and all(isinstance(text, str) for text in batched)


# ------------------------------------------------------------------ the lean greedy loop vs generate


@pytest.fixture(scope="module")
def gpt2(tiny_gpt2):
    return tiny_gpt2()[0]


def _chatty(model, tokenizer, eos: float, newline: float, hash_: float):
    """A copy of ``model`` that often says EOS, "\n" and "#" (their output-embedding rows scaled
    by these factors), so that EOS and stop strings end generations early."""
    import copy

    chatty = copy.deepcopy(model)
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    with torch.no_grad():
        weight = chatty.get_output_embeddings().weight
        weight[[i for i, text in enumerate(texts) if "\n" in text]] *= newline
        weight[[i for i, text in enumerate(texts) if "#" in text]] *= hash_
        weight[tokenizer.eos_token_id] *= eos
    return chatty


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def chatty(request, model, gpt2, tokenizer):
    """Factors picked so that EOS, "\n", "###" and max_new_tokens each end some of 40 rows."""
    if request.param == "llama":
        return _chatty(model, tokenizer, 2.0, 2.3, 2.6)
    return _chatty(gpt2, tokenizer, 2.5, 2.7, 3.2)


EDGE_PROMPTS = ["", " ", "a", "\n", "###"]  # nothing to condition on, or a stop string already


@pytest.mark.parametrize("stop", [(), ("\n",), ("###",), ("\n", "e ")])
def test_lean_loop_matches_model_generate(chatty, tokenizer, stop, monkeypatch):
    """Same predictions as ``model.generate`` greedy search on the same batches, for a Llama
    and a GPT-2, with EOS, a one-token stop string, a multi-token one ("###" is three tokens
    here) and one ending in a space (no token filter: every row's text is searched)."""
    prompts = _prompts(40, seed=8)
    reference = {bs: generation._generate_hf(chatty, tokenizer, prompts, 12, stop, bs) for bs in (1, 8, 32)}
    _no_fallback(monkeypatch)
    for bs in (1, 8, 32):
        assert evaluation.generate(chatty, tokenizer, prompts, 12, stop, bs) == reference[bs]
    assert reference[8] == reference[1] == reference[32]
    assert len(set(reference[1])) > 10
    assert not any(s in text for text in reference[1] for s in stop)


def test_lean_loop_matches_model_generate_on_edge_prompts(chatty, tokenizer, monkeypatch):
    """Empty and one-character prompts, in batches with ordinary ones (``generate`` cannot
    take an empty prompt alone; the lean loop gives it one padded position)."""
    prompts = [*EDGE_PROMPTS, *_prompts(6, seed=9)]
    reference = generation._generate_hf(chatty, tokenizer, prompts, 8, ("\n",), 16)
    _no_fallback(monkeypatch)
    assert evaluation.generate(chatty, tokenizer, prompts, 8, ("\n",), 16) == reference
    assert len(evaluation.generate(chatty, tokenizer, ["", ""], 4, ("\n",), 2)) == 2


def test_lean_loop_stops_at_eos_stop_strings_and_max_new_tokens(chatty, tokenizer):
    prompts = _prompts(40, seed=10)
    free = evaluation.generate(chatty, tokenizer, prompts, 12, (), 8)
    cut = evaluation.generate(chatty, tokenizer, prompts, 12, ("\n",), 8)
    assert sum(a != b for a, b in zip(free, cut, strict=True)) >= 3  # "\n" did cut some
    assert all(a.startswith(b) or not b for a, b in zip(free, cut, strict=True))
    eos = tokenizer.eos_token_id
    for stop in [(), ("\n",), ("###",)]:
        candidates = generation._stop_candidates(tokenizer, stop) if stop else None
        ids = [tokenizer(p)["input_ids"] for p in prompts]
        tokens = greedy.greedy_tokens(chatty, tokenizer, ids, 12, stop, candidates, frozenset({eos}), 3, 8)
        reasons = {"eos": 0, "stop": 0, "max": 0}
        for row in tokens:
            assert len(row) <= 12 and eos not in row
            text = tokenizer.decode(row, skip_special_tokens=True)
            before = tokenizer.decode(row[:-1], skip_special_tokens=True)
            if stop and any(s in text for s in stop):  # ended by the stop string, not before it
                assert not any(s in before for s in stop)
                reasons["stop"] += 1
            elif len(row) == 12:
                reasons["max"] += 1
            else:
                reasons["eos"] += 1
        assert reasons["eos"] > 0 and reasons["max"] > 0
        assert reasons["stop"] > 0 or not stop


def _decode_rows(model, run) -> list[int]:
    """The number of rows of each decode step (one input token per row) while ``run()`` runs."""
    rows = []

    def record(module, args, kwargs):
        ids = kwargs["input_ids"]
        if ids.shape[1] == 1:
            rows.append(ids.shape[0])

    handle = model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        run()
    finally:
        handle.remove()
    return rows


def test_finished_rows_leave_the_batch(chatty, tokenizer):
    """Decode steps run only on the rows still generating."""
    rows = _decode_rows(
        chatty, lambda: evaluation.generate(chatty, tokenizer, _prompts(16, seed=11), 12, ("\n",), 16)
    )
    assert rows[0] <= 16 and rows == sorted(rows, reverse=True) and rows[-1] < rows[0]


def test_waiting_prompts_join_a_shrunken_batch(chatty, tokenizer, monkeypatch):
    """Continuous batching: once half the rows have finished, the next prompts are prefilled and
    join the running batch (its row count goes back up), never beyond the batch size; the
    predictions are those of ``model.generate`` on separate batches (the matching test above)."""
    prompts = _prompts(40, seed=16)
    reference = generation._generate_hf(chatty, tokenizer, prompts, 40, ("\n",), 8)
    _no_fallback(monkeypatch)
    outputs = []
    rows = _decode_rows(
        chatty, lambda: outputs.extend(evaluation.generate(chatty, tokenizer, prompts, 40, ("\n",), 8))
    )
    assert outputs == reference
    assert max(rows) <= 8
    joins = [i for i in range(1, len(rows)) if rows[i] > rows[i - 1]]
    assert joins  # rows that joined a running batch
    monkeypatch.setattr(greedy, "REFILL_AT", 0.0)  # a batch runs to its end before the next starts
    separate = _decode_rows(chatty, lambda: evaluation.generate(chatty, tokenizer, prompts, 40, ("\n",), 8))
    assert len(rows) < len(separate)  # fewer decode steps with joins
    assert sum(rows) == sum(separate)  # the same tokens decoded: no step is spent on a finished row
    monkeypatch.setattr(greedy, "REFILL_AT", 0.5)
    monkeypatch.setattr(greedy, "_joinable", lambda cache: False)  # a sliding-window cache, say
    unjoinable = _decode_rows(chatty, lambda: evaluation.generate(chatty, tokenizer, prompts, 40, ("\n",), 8))
    assert unjoinable == separate


def test_shared_prompt_prefix_runs_once(model, tokenizer):
    seen = []

    def record(module, args, kwargs):
        seen.append(tuple(kwargs["input_ids"].shape))

    prompts = _prompts(8, seed=12)
    handle = model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        evaluation.generate(model, tokenizer, prompts, 2, (), 8)
    finally:
        handle.remove()
    ids = [tokenizer(p)["input_ids"] for p in prompts]
    shared = len(__import__("os").path.commonprefix(ids))
    assert seen[0] == (1, shared)  # the template's tokens, once
    assert seen[1] == (8, max(map(len, ids)) - shared)


def test_lora_model_uses_the_lean_loop(model, tokenizer, monkeypatch):
    peft = pytest.importorskip("peft")
    import copy

    lora = peft.get_peft_model(
        copy.deepcopy(model),
        peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    ).eval()
    prompts = _prompts(12, seed=13)
    reference = generation._generate_hf(lora, tokenizer, prompts, 8, ("\n",), 8)
    assert reference != generation._generate_hf(model, tokenizer, prompts, 8, ("\n",), 8)  # LoRA matters
    _no_fallback(monkeypatch)
    assert evaluation.generate(lora, tokenizer, prompts, 8, ("\n",), 8) == reference


def test_models_the_lean_loop_cannot_drive_use_model_generate(model, tokenizer, monkeypatch):
    import copy

    penalised = copy.deepcopy(model)
    penalised.generation_config.repetition_penalty = 1.3
    assert not generation._lean_decoding_supported(penalised)
    assert generation._lean_decoding_supported(model)

    class NoLogitsToKeep(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(
            self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None, use_cache=None
        ):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask)

    assert not generation._lean_decoding_supported(NoLogitsToKeep(model))
    calls = []
    monkeypatch.setattr(generation, "_generate_hf", lambda *args, **kwargs: calls.append(args) or ["x"])
    assert evaluation.generate(penalised, tokenizer, ["a prompt"], 4) == ["x"] and calls


def test_a_model_without_kv_cache_still_generates(model, tokenizer):
    """A training-mode model with activation checkpointing returns no cache: ``model.generate``
    takes over (whose cache-less decoding of padded batches is its own business: on this model
    its outputs differ from the cached ones)."""
    import copy

    prompts = _prompts(6, seed=14)
    training = copy.deepcopy(model)
    training.activation_checkpointing_enable()
    training.train()  # dropout is 0 in this config, so training mode changes nothing else
    expected = generation._generate_hf(training, tokenizer, prompts, 6, ("\n",), 4)
    assert evaluation.generate(training, tokenizer, prompts, 6, ("\n",), 4) == expected


def test_stop_candidates_are_the_tokens_that_can_end_a_stop_string(tokenizer):
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))], skip_special_tokens=True)
    newline = generation._stop_candidates(tokenizer, ("\n",)).tolist()
    assert newline == [i for i, text in enumerate(texts) if "\n" in text] and newline
    assert generation._stop_candidates(tokenizer, ("\n",)) is generation._stop_candidates(tokenizer, ("\n",))
    hashes = set(generation._stop_candidates(tokenizer, ("###", "\n")).tolist())
    assert hashes == {i for i, text in enumerate(texts) if "#" in text or "\n" in text}
    assert generation._stop_candidates(tokenizer, ("\n", "Answer: ")) is None  # ends in a space


# --------------------------------------------------------------------------------- log-likelihood

CHOICES = ("Positive", "Negative", "Positively", " maybe")


def _reference_logprob(model, tokenizer, prompt: str, choice: str) -> float:
    """One unbatched forward pass over prompt + choice + EOS; sum log_softmax over the choice."""
    encoded = tokenizer(prompt + choice, return_offsets_mapping=True)
    ids = list(encoded["input_ids"]) + [tokenizer.eos_token_id]
    first = next(i for i, (_, end) in enumerate(encoded["offset_mapping"]) if end > len(prompt))
    first = max(first, 1)  # with an empty prompt (no BOS), the first token has no context
    with torch.inference_mode():
        logits = model(torch.tensor([ids])).logits[0].double()
    logprobs = torch.log_softmax(logits, dim=-1)
    return sum(float(logprobs[t - 1, ids[t]]) for t in range(first, len(ids)))


def test_choice_logprobs_match_an_unbatched_reference(model, tokenizer):
    prompts = [*_prompts(6, seed=3), ""]  # "": the choices share no prefix at all
    batched = evaluation.choice_logprobs(model, tokenizer, prompts, CHOICES, batch_size=16)
    for prompt, got in zip(prompts, batched, strict=True):
        assert list(got) == list(CHOICES)
        reference = {choice: _reference_logprob(model, tokenizer, prompt, choice) for choice in CHOICES}
        for choice in CHOICES:
            assert got[choice] == pytest.approx(reference[choice], abs=1e-4, rel=1e-5)
        assert evaluation.best_choice(got) == max(CHOICES, key=reference.__getitem__)


def test_choice_logprobs_do_not_depend_on_batch_size(model, tokenizer):
    prompts = _prompts(12, seed=4)
    runs = {bs: evaluation.choice_logprobs(model, tokenizer, prompts, CHOICES, bs) for bs in (1, 5, 32)}
    for bs in (5, 32):
        for got, alone in zip(runs[bs], runs[1], strict=True):
            assert got == pytest.approx(alone, abs=1e-5)
            assert evaluation.best_choice(got) == evaluation.best_choice(alone)


def test_choice_logprobs_without_a_kv_cache(model, tokenizer):
    """A training-mode model with gradient checkpointing returns no cache: the choices are then
    scored by running prompt + choice again, with the same result."""
    import copy

    prompts = _prompts(4, seed=7)
    expected = evaluation.choice_logprobs(model, tokenizer, prompts, CHOICES, 8)
    training = copy.deepcopy(model)
    training.activation_checkpointing_enable()
    training.train()  # dropout is 0 in this config, so training mode changes nothing else
    got = evaluation.choice_logprobs(training, tokenizer, prompts, CHOICES, 8)
    for a, b in zip(got, expected, strict=True):
        assert a == pytest.approx(b, abs=1e-5)


def test_choice_logprobs_progress_counts_prompts(model, tokenizer):
    seen = []
    evaluation.choice_logprobs(model, tokenizer, _prompts(5, seed=5), ("A", "B"), 3, seen.append)
    assert sum(seen) == 5


def test_ties_go_to_the_first_choice():
    assert evaluation.best_choice({"Negative": -1.0, "Positive": -1.0}) == "Negative"
    assert evaluation.best_choice({"Negative": -2.0, "Positive": -1.0}) == "Positive"


# --------------------------------------------------------------------------------- evaluate_task


def _exact(predictions, references):
    per = [float(p == r[0]) for p, r in zip(predictions, references, strict=True)]
    return MetricResult(sum(per) / len(per), per)


METRICS = {"exact": Metric("exact", _exact)}


def _task(**changes) -> Task:
    fields = dict(name="toy", instruction="Label it.", test=DataSource("unused.jsonl"), metrics=("exact",))
    return Task(**{**fields, **changes})


def test_evaluate_task_scores_a_choice_task_by_log_likelihood(model, tokenizer, examples, monkeypatch):
    def no_generation(*args, **kwargs):
        raise AssertionError("a choice task must not generate")

    monkeypatch.setattr(hf_backend, "generate", no_generation)
    data = examples(6, outputs=("Yes", "No"))
    result = evaluation.evaluate_task(
        model, tokenizer, _task(choices=("Yes", "No")), data, METRICS, TEMPLATE, 4
    )
    assert result.scoring == "loglik"
    assert len(result.choice_logprobs) == 6
    assert result.predictions == [evaluation.best_choice(entry) for entry in result.choice_logprobs]
    expected = sum(p == e.output for p, e in zip(result.predictions, data, strict=True)) / 6
    assert result.scores["exact"].score == pytest.approx(expected)


def test_evaluate_task_generates_when_asked(model, tokenizer, examples):
    result = evaluation.evaluate_task(
        model,
        tokenizer,
        _task(choices=("Yes", "No"), scoring="generate", max_new_tokens=3),
        examples(3, outputs=("Yes", "No")),
        METRICS,
        TEMPLATE,
        4,
    )
    assert result.scoring == "generate" and result.choice_logprobs is None
    assert len(result.predictions) == 3


def test_task_scoring_is_validated_and_resolved():
    assert _task().scoring_method == "generate"
    assert _task(choices=("A", "B")).scoring_method == "loglik"
    assert _task(choices=("A", "B"), scoring="generate").scoring_method == "generate"
    assert _task(choices=("A", "B"), scoring="loglik").scoring_method == "loglik"
    with pytest.raises(ValueError, match="needs choices"):
        _task(scoring="loglik")
    with pytest.raises(ValueError, match="scoring"):
        _task(scoring="logprob")
    with pytest.raises(ValueError, match="duplicate"):
        _task(choices=("A", "A"))


# --------------------------------------------------------------------------------- sharded prediction


def test_predict_sharded_puts_the_shards_back_in_example_order(model, tokenizer, examples, monkeypatch):
    """Rank 0 of 3 predicts examples 0, 3, 6; the gathered shards come back in example order."""
    from harness import distributed

    data = examples(7, outputs=("Yes", "No"))
    task = _task(choices=("Yes", "No"))
    whole = predictions.predict(
        HFBackend(model, tokenizer), task, data, TEMPLATE, 1
    )  # batch 1: exact per example
    others = [predictions.predict(HFBackend(model, tokenizer), task, data[r::3], TEMPLATE, 1) for r in (1, 2)]
    monkeypatch.setattr(distributed, "world_size", lambda: 3)
    monkeypatch.setattr(distributed, "rank", lambda: 0)
    monkeypatch.setattr(distributed, "gather_object", lambda part: [part, *others])
    assert predictions.predict_sharded(HFBackend(model, tokenizer), task, data, TEMPLATE, 1) == whole
    assert whole.scoring == "loglik" and len(whole.choice_logprobs) == 7

    monkeypatch.setattr(distributed, "rank", lambda: 1)
    monkeypatch.setattr(distributed, "gather_object", lambda part: None)  # ranks > 0 get nothing back
    assert predictions.predict_sharded(HFBackend(model, tokenizer), task, data, TEMPLATE, 1) is None


def test_scored_computes_the_task_metrics_on_predictions():
    task = _task(choices=("Yes", "No"))
    data = [Example(f"e{i}", "Label it.", "x", label) for i, label in enumerate(("Yes", "No", "No"))]
    made = evaluation.Predictions(["p0", "p1", "p2"], ["Yes", "Yes", "No"], "loglik", [{"Yes": -1.0}] * 3)
    result = evaluation.scored(task, METRICS, data, made)
    assert result.task is task and result.scores["exact"].score == pytest.approx(2 / 3)
    assert result.scores["exact"].per_example == [1.0, 0.0, 1.0]
    assert (result.prompts, result.predictions) == (made.prompts, made.predictions)
    assert (result.scoring, result.choice_logprobs) == ("loglik", made.choice_logprobs)


def test_the_joined_cache_does_not_grow_with_the_number_of_prompts(chatty, tokenizer, monkeypatch):
    """Positions only rows that have left attended to are cut when others join: over 120 prompts
    in batches of 4 the cache stays within the longest prompt plus twice ``max_new_tokens``."""
    prompts = _prompts(120, seed=17)
    widths = []

    def record(module, args, kwargs):
        if kwargs["input_ids"].shape[1] == 1 and kwargs.get("attention_mask") is not None:
            widths.append(kwargs["attention_mask"].shape[1])

    reference = generation._generate_hf(chatty, tokenizer, prompts, 20, ("\n",), 4)
    _no_fallback(monkeypatch)
    handle = chatty.register_forward_pre_hook(record, with_kwargs=True)
    try:
        assert evaluation.generate(chatty, tokenizer, prompts, 20, ("\n",), 4) == reference
    finally:
        handle.remove()
    longest = max(len(tokenizer(p)["input_ids"]) for p in prompts)
    assert widths and max(widths) <= longest + 2 * 20
