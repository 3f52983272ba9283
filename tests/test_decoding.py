"""The lean greedy loop against transformers' moving API: the KV-cache keyword (``cache`` since
transformers 5.24, ``past_key_values`` before) is detected, never guessed, and a rename in a
future release fails here instead of silently sending every evaluation to ``model.generate``."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from harness import evaluation  # noqa: E402
from harness.evaluation import forward, generation  # noqa: E402

TEMPLATE = "### Instruction:\nAnswer.\n\n### Input:\n{}\n\n### Response:\n"
PROMPTS = [
    TEMPLATE.format(text)
    for text in ("the cat sat on a mat", "le chat dort", "I love this movie but the weather is bad", "ok")
]


@pytest.fixture(scope="module")
def llama(tiny_llama):
    return tiny_llama(hidden_size=32, intermediate_size=64, num_hidden_layers=1)


@pytest.fixture(scope="module")
def gpt2(tiny_gpt2):
    return tiny_gpt2(n_embd=32, n_layer=1)


@pytest.fixture
def no_fallback(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the lean loop fell back to model.generate")

    monkeypatch.setattr(generation, "_generate_hf", fail)


@pytest.mark.parametrize("name", ["llama", "gpt2"])
def test_installed_transformers_takes_a_known_cache_keyword(name, request):
    model, _ = request.getfixturevalue(name)
    keyword = forward.cache_argument(model)
    assert keyword in forward.CACHE_ARGUMENTS, (
        f"transformers {transformers.__version__}: {type(model).__name__}.forward takes its KV cache "
        f"under none of {forward.CACHE_ARGUMENTS}; add the new name to forward.CACHE_ARGUMENTS"
    )
    assert generation._lean_decoding_supported(model)
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([[1, 5, 6]]), use_cache=True)
    assert forward.returned_cache(out) is not None, "the forward output's cache field was renamed"


class _OldOutput(dict):
    """A causal-LM output as transformers < 5.24 returned it: the cache under ``past_key_values``
    (a plain mapping: 5.24's ``ModelOutput`` renames that key on construction)."""

    def __getattr__(self, name):
        return self[name]


class _OldStyleLlama(torch.nn.Module):
    """A Llama whose ``forward`` speaks the pre-5.24 names: ``past_key_values`` in and out."""

    def __init__(self, model):
        super().__init__()
        self.inner = model
        self.config = model.config
        self.generation_config = model.generation_config

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        position_ids=None,
        past_key_values=None,
        use_cache=None,
        logits_to_keep=0,
    ):
        keyword = forward.cache_argument(self.inner)
        out = self.inner(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=use_cache,
            logits_to_keep=logits_to_keep,
            **{keyword: past_key_values},
        )
        return _OldOutput(logits=out.logits, past_key_values=forward.returned_cache(out))


def test_lean_loop_drives_a_model_with_the_old_cache_keyword(llama, no_fallback):
    llama, tokenizer = llama
    old = _OldStyleLlama(llama)
    assert forward.cache_argument(old) == "past_key_values"
    assert generation._lean_decoding_supported(old)
    expected = evaluation.generate(llama, tokenizer, PROMPTS, 8, ("\n",), 4)
    assert evaluation.generate(old, tokenizer, PROMPTS, 8, ("\n",), 4) == expected
    expected_scores = evaluation.choice_logprobs(llama, tokenizer, PROMPTS, ["Positive", "Negative"])
    assert evaluation.choice_logprobs(old, tokenizer, PROMPTS, ["Positive", "Negative"]) == expected_scores


def test_a_model_without_a_known_cache_keyword_uses_generate(llama):
    llama, _ = llama

    class Renamed(_OldStyleLlama):
        def forward(self, input_ids=None, attention_mask=None, position_ids=None, kv=None, use_cache=None):
            raise AssertionError("never called by the lean loop")

    assert forward.cache_argument(Renamed(llama)) is None
    assert not generation._lean_decoding_supported(Renamed(llama))


@pytest.mark.parametrize("name", ["llama", "gpt2"])
def test_decoding_raises_no_deprecation_warning(name, request, no_fallback):
    """Deprecated argument names are not used (stderr carries only what a user acts on)."""
    model, tokenizer = request.getfixturevalue(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        assert len(evaluation.generate(model, tokenizer, PROMPTS, 6, ("\n",), 2)) == len(PROMPTS)
        assert len(evaluation.choice_logprobs(model, tokenizer, PROMPTS, ["yes", "no"])) == len(PROMPTS)


@pytest.mark.parametrize("name", ["llama", "gpt2"])
def test_joined_caches_decode_as_one_batch(name, request):
    """Continuous batching writes ``DynamicLayer.keys``/``values`` (transformers has no public way
    to merge two caches): two separately prefilled groups, joined, give the next-token logits of
    the same prompts prefilled together, so a change of the cache layout upstream fails here."""
    from transformers.cache_utils import DynamicCache, DynamicLayer

    from harness.evaluation import greedy

    model, tokenizer = request.getfixturevalue(name)
    ids = [tokenizer(prompt)["input_ids"] for prompt in PROMPTS]
    keyword = forward.cache_argument(model)
    with torch.inference_mode():
        first = greedy._prefill(model, keyword, ids[:2], [0, 1], tokenizer.pad_token_id, "cpu")
        second = greedy._prefill(model, keyword, ids[2:], [2, 3], tokenizer.pad_token_id, "cpu")
        together = greedy._prefill(model, keyword, ids, [0, 1, 2, 3], tokenizer.pad_token_id, "cpu")
        assert type(first.cache) is DynamicCache and greedy._joinable(first.cache)
        layer = first.cache.layers[0]
        assert type(layer) is DynamicLayer and layer.keys.dim() == 4 and layer.keys.shape[0] == 2
        assert layer.keys.shape[2] == first.cache.get_seq_length() == first.mask.shape[1]
        joined = greedy._join(first, second)
        assert joined.prompts == [0, 1, 2, 3] and joined.cache.get_seq_length() == joined.mask.shape[1]
        torch.testing.assert_close(joined.tokens, together.tokens, rtol=0, atol=0)
        torch.testing.assert_close(joined.positions, together.positions, rtol=0, atol=0)
        logits = {}
        for label, rows in (("joined", joined), ("together", together)):
            mask = torch.cat([rows.mask, rows.mask.new_ones((4, 1))], dim=1)
            out = model(
                input_ids=rows.tokens[:, None],
                attention_mask=mask,
                position_ids=rows.positions,
                use_cache=True,
                **{keyword: rows.cache},
            )
            logits[label] = out.logits[:, -1]
    torch.testing.assert_close(logits["joined"], logits["together"], rtol=0, atol=1e-5)
