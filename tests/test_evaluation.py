"""Evaluation: batch-size-invariant greedy generation and log-likelihood scoring of choices.

The model is a small randomly initialised Llama (no pre-training): its greedy outputs are
varied token soup, which is what a determinism test wants, and it builds in milliseconds.
"""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch")

from harness import evaluation  # noqa: E402
from harness.metric import Metric, MetricResult  # noqa: E402
from harness.task import DataSource, Example, Task  # noqa: E402

WORDS = (
    "the cat sat on a mat and the movie was great but terrible film I love hate this weather today "
    "le chat dort sur le canapé où est la gare ? Researchers found that exercise improves sleep"
).split()
TEMPLATE = "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One torch thread: these models are too small to gain from more, and on a shared 2-core
    machine a second thread competing with other processes costs several times over."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from harness.presets import preset_path, tiny_preset

    return AutoTokenizer.from_pretrained(preset_path(tiny_preset(pretrain_steps=0)))


@pytest.fixture(scope="module")
def model(tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return LlamaForCausalLM(config).eval()


def _prompts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [
        TEMPLATE.format(
            instruction="Answer.", input=" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40)))
        )
        for _ in range(n)
    ]


# --------------------------------------------------------------------------------- generation


def test_greedy_predictions_do_not_depend_on_batch_size(model, tokenizer):
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
    assert seen == [2, 2, 1]
    assert evaluation.generate(model, tokenizer, [], 4) == []


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


def _examples(n: int) -> list[Example]:
    rng = random.Random(6)
    return [
        Example(str(i), "Label it.", " ".join(rng.choice(WORDS) for _ in range(8)), rng.choice(("Yes", "No")))
        for i in range(n)
    ]


def test_evaluate_task_scores_a_choice_task_by_log_likelihood(model, tokenizer, monkeypatch):
    def no_generation(*args, **kwargs):
        raise AssertionError("a choice task must not generate")

    monkeypatch.setattr(evaluation, "generate", no_generation)
    examples = _examples(6)
    result = evaluation.evaluate_task(
        model, tokenizer, _task(choices=("Yes", "No")), examples, METRICS, TEMPLATE, 4
    )
    assert result.scoring == "loglik"
    assert len(result.choice_logprobs) == 6
    assert result.predictions == [evaluation.best_choice(entry) for entry in result.choice_logprobs]
    expected = sum(p == e.output for p, e in zip(result.predictions, examples, strict=True)) / 6
    assert result.scores["exact"].score == pytest.approx(expected)


def test_evaluate_task_generates_when_asked(model, tokenizer):
    examples = _examples(3)
    result = evaluation.evaluate_task(
        model,
        tokenizer,
        _task(choices=("Yes", "No"), scoring="generate", max_new_tokens=3),
        examples,
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
