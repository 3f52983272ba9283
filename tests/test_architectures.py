"""The architecture matrix: tiny random checkpoints of 19 architectures transformers ships, built
in the test (width 32, 2 layers, the suite's tokenizer's vocabulary), each in milliseconds.

For every one: harness's generation equals ``model.generate``'s, and its log-likelihood scores
equal a plain forward pass. For one of each attention/MLP kind (grouped-query Llama, the
mixture-of-experts Qwen3-MoE, GPT-2, Gemma), a ``harness.run`` cycle with LoRA and with full
fine-tuning completes, and the saved tuned model (the adapter, and merged) reloads with plain
transformers / peft and predicts what the run reported. Mixture-of-experts LoRA (Qwen3-MoE and
Mixtral) works with the default config."""

from __future__ import annotations

import json
import math
import warnings

import pytest

DECODER = {  # the common shape of a Llama-style decoder
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 256,
}
MOE = {"num_experts_per_tok": 2}
ARCHITECTURES = {  # name: (config class, model class, config)
    "llama": ("LlamaConfig", "LlamaForCausalLM", DECODER),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", DECODER),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", {**DECODER, "head_dim": 8}),
    "qwen3_moe": (
        "Qwen3MoeConfig", "Qwen3MoeForCausalLM",
        {**DECODER, **MOE, "head_dim": 8, "moe_intermediate_size": 16, "num_experts": 4},
    ),
    "mixtral": ("MixtralConfig", "MixtralForCausalLM", {**DECODER, **MOE, "num_local_experts": 4}),
    "mistral": ("MistralConfig", "MistralForCausalLM", DECODER),
    "gemma": ("GemmaConfig", "GemmaForCausalLM", {**DECODER, "head_dim": 8}),
    "gemma2": ("Gemma2Config", "Gemma2ForCausalLM", {**DECODER, "head_dim": 8, "sliding_window": 16}),
    "gemma3_text": (
        "Gemma3TextConfig", "Gemma3ForCausalLM", {**DECODER, "head_dim": 8, "sliding_window": 16},
    ),
    "phi3": ("Phi3Config", "Phi3ForCausalLM", DECODER),
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 256}),
    "gpt_neox": (
        "GPTNeoXConfig", "GPTNeoXForCausalLM",
        {k: DECODER[k] for k in DECODER if k != "num_key_value_heads"},
    ),
    "opt": (
        "OPTConfig", "OPTForCausalLM",
        {"hidden_size": 32, "ffn_dim": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
         "max_position_embeddings": 256, "word_embed_proj_dim": 32},
    ),
    "falcon": (
        "FalconConfig", "FalconForCausalLM",
        {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4},
    ),
    "olmo2": ("Olmo2Config", "Olmo2ForCausalLM", DECODER),
    "granite": ("GraniteConfig", "GraniteForCausalLM", DECODER),
    "smollm3": ("SmolLM3Config", "SmolLM3ForCausalLM", DECODER),
    "gptj": (
        "GPTJConfig", "GPTJForCausalLM",
        {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 256, "rotary_dim": 4},
    ),
    # no position_ids in its forward: harness decodes it with model.generate
    "bloom": ("BloomConfig", "BloomForCausalLM", {"hidden_size": 32, "n_layer": 2, "n_head": 4}),
}  # fmt: skip
PROMPTS = ["Repeat: word word", "Classify the sentence. great food and a long one, it goes on", "Hi"]
CHOICES = ["Positive", "Negative", "neutral"]


def build(tiny_model, name: str):
    config_class, model_class, config = ARCHITECTURES[name]
    return tiny_model(config_class, model_class, **config)


def plain_generate(model, tokenizer, prompts, max_new_tokens: int) -> list[str]:
    """``model.generate`` on each prompt alone (no padding), greedy, decoded and stripped."""
    import torch

    texts = []
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt")
        with torch.no_grad():
            out = model.generate(
                **ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
        texts.append(tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True))
    return texts


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_generation_equals_model_generate(tiny_model, name):
    from harness.evaluation.generation import generate

    model, tokenizer = build(tiny_model, name)
    ours = generate(model, tokenizer, PROMPTS, 6, stop=(), batch_size=4)  # left-padded, one batch
    assert ours == [text.strip() for text in plain_generate(model, tokenizer, PROMPTS, 6)]
    assert len(set(ours)) > 1  # a model that says the same thing to every prompt would prove little


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_loglik_equals_a_plain_forward_pass(tiny_model, name):
    import torch

    from harness.evaluation.loglik import choice_logprobs
    from harness.tasks.tokens import IGNORE_INDEX, tokenize_for_training

    model, tokenizer = build(tiny_model, name)
    scores = choice_logprobs(model, tokenizer, PROMPTS, CHOICES, batch_size=4)
    for prompt, scored in zip(PROMPTS, scores, strict=True):
        for choice in CHOICES:
            item = tokenize_for_training(tokenizer, prompt, choice, math.inf)  # choice + EOS scored
            with torch.no_grad():
                logprobs = model(torch.tensor([item.input_ids])).logits[0].log_softmax(-1)
            expected = sum(
                logprobs[i - 1, label].item() for i, label in enumerate(item.labels) if label != IGNORE_INDEX
            )
            assert scored[choice] == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("name", ["qwen3_moe", "mixtral"])
def test_lora_on_a_mixture_of_experts_model_works_with_the_default_config(tiny_model, name):
    import torch

    from harness.config import Config
    from harness.training.lora import apply_lora, expert_parameters, lora_module_names

    model, _ = build(tiny_model, name)
    config = Config()
    assert config.lora.dropout > 0 and config.lora.target_modules == ["all-linear"]
    with pytest.warns(UserWarning, match=r"lora.dropout 0.05 is not applied: .*mixture-of-experts"):
        tuned = apply_lora(model, config)
    assert {"experts", "q_proj", "o_proj"} <= set(lora_module_names(tuned))
    assert {"gate_up_proj", "down_proj"} <= set(tuned.peft_config["default"].target_parameters)
    loss = tuned(torch.tensor([[5, 6, 7, 8]]), labels=torch.tensor([[5, 6, 7, 8]])).loss
    loss.backward()
    grads = {n for n, p in tuned.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert any("experts" in n and "lora_B" in n for n in grads)  # the experts' adapters learn
    dense, _ = build(tiny_model, "llama")
    from peft import LoraConfig

    assert expert_parameters(dense, LoraConfig(target_modules="all-linear")) == []  # no MoE: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no warning
        apply_lora(dense, config)


CYCLE = ["llama", "qwen3_moe", "gpt2", "gemma"]  # GQA, MoE, GPT-2 (absolute positions, tied), Gemma


@pytest.mark.parametrize("method", ["lora", "full"])
@pytest.mark.parametrize("name", CYCLE)
def test_a_run_tunes_saves_and_the_saved_model_predicts_the_same(
    tmp_path, tiny_model, echo_plugin, run_config, name, method
):
    from transformers import AutoModelForCausalLM

    import harness
    from harness.tasks.prompting import truncate_at_stop

    model, tokenizer = build(tiny_model, name)
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    config = run_config(tmp_path, echo_plugin(tmp_path, n_test=4, n_train=16), model=str(tmp_path / "model"))
    config.method, config.train.learning_rate, config.train.epochs = method, 1e-2, 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the MoE LoRA dropout warning, tested above
        outcome = harness.run(config)
    assert outcome.results["training"]["steps"] > 0
    samples = [json.loads(line) for line in outcome.paths["samples"].read_text(encoding="utf-8").splitlines()]
    prompts, after = [s["prompt"] for s in samples], [s["prediction_after"] for s in samples]
    assert after != [s["prediction_before"] for s in samples]  # tuning changed what it says
    saved = outcome.results["model"]["output_dir"]

    def predicts(model) -> list[str]:
        return [
            truncate_at_stop(text, ("\n",)) for text in plain_generate(model.eval(), tokenizer, prompts, 4)
        ]

    if method == "full":
        assert predicts(AutoModelForCausalLM.from_pretrained(saved)) == after
        return
    from peft import PeftModel

    adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tmp_path / "model"), saved)
    assert predicts(adapter) == after
    assert predicts(adapter.merge_and_unload()) == after
