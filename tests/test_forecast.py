"""The resource forecast (harness/training/forecast.py): parameters counted on the meta device,
peak memory per component, the evaluation and cycle estimates, and the refusal before a CUDA run
that would not fit."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness.config import Config, LoraConfig, TrainConfig
from harness.errors import HarnessError
from harness.evaluation import Predictions
from harness.training import forecast as fc


def _config(method: str = "full", **train) -> Config:
    train = {"batch_size": 4, "max_length": 64, **train}
    return Config(method=method, train=TrainConfig(**train), lora=LoraConfig(r=4, dropout=0.05))


@pytest.mark.parametrize("targets", [["all-linear"], ["q_proj", "v_proj"]])
def test_parameters_on_meta_match_the_real_model(tiny_llama, targets):
    from harness.models import count_parameters
    from harness.training.lora import apply_lora

    model, _ = tiny_llama()
    config = _config("lora")
    config.lora.target_modules = targets
    full = fc.count_parameters(fc.meta_model(model.config, config, "full"), "full")
    assert full == {
        "total": count_parameters(model)[0],
        "trainable": count_parameters(model)[0],
        "adapter": 0,
    }
    meta = fc.meta_model(model.config, config, "lora")
    assert {p.device.type for p in meta.parameters()} == {"meta"}
    lora = fc.count_parameters(meta, "lora")
    total, trainable = count_parameters(apply_lora(model, config))
    assert lora["trainable"] == lora["adapter"] == trainable > 0
    assert lora["total"] + lora["adapter"] == total
    # by hand for q/v: r x (in + out) per targeted Linear, 2 layers (q: 64 -> 64, v: 64 -> 32)
    if targets == ["q_proj", "v_proj"]:
        assert trainable == 2 * 4 * ((64 + 64) + (64 + 32))


def test_tied_embeddings_are_counted_once(tiny_gpt2):
    from harness.models import count_parameters

    model, _ = tiny_gpt2()
    meta = fc.meta_model(model.config, _config(), "full")
    assert fc.count_parameters(meta, "full")["total"] == count_parameters(model)[0]
    assert model.lm_head.weight is model.transformer.wte.weight


def test_memory_components_follow_the_dtypes():
    dims = {"hidden": 64, "intermediate": 128, "layers": 2, "vocab": 1000}
    full = fc.memory_forecast(dims, {"total": 1000, "trainable": 1000}, _config(), "full", "bfloat16")
    assert full["bytes"]["weights"] == 2000 and full["bytes"]["gradients"] == 2000
    assert full["bytes"]["optimizer"] == 4000  # AdamW: two states in the parameters' dtype
    assert full["tokens"] == full["label_tokens"] == 4 * 64  # batch_size x max_length, all labels
    assert full["peak_bytes"] == sum(full["bytes"].values())
    # LoRA on a bf16 model: the adapter (and its gradients and states) in fp32 (peft's autocast)
    parameters = {"total": 1000, "trainable": 10, "adapter": 10}
    lora = fc.memory_forecast(dims, parameters, _config("lora"), "lora", "bfloat16")
    assert lora["bytes"]["weights"] == 2000 + 40 and lora["bytes"]["optimizer"] == 80
    # fewer labels, fewer logits; checkpointing keeps less
    assert (
        fc.memory_forecast(dims, parameters, _config("lora"), "lora", "bfloat16", label_share=0.25)["bytes"][
            "activations"
        ]
        < lora["bytes"]["activations"]
    )
    checkpointed = fc.memory_forecast(
        dims, {"total": 1000, "trainable": 1000}, _config(gradient_checkpointing=True), "full", "bfloat16"
    )
    assert checkpointed["bytes"]["activations"] < full["bytes"]["activations"]


@pytest.mark.parametrize("method", ["full", "lora"])
def test_activations_match_what_autograd_keeps(tiny_llama, method):
    """The activation formula against the tensors autograd saves in a padding-free training
    forward of a tiny Llama (storages counted once, parameters excluded): within 25%. A change in
    transformers or peft that keeps much more (or less) fails here."""
    import torch

    from harness.tasks import Example
    from harness.training import build_train_features, packing
    from harness.training.lora import apply_lora

    model, tokenizer = tiny_llama(num_key_value_heads=4)
    config = _config(method, max_length=96)
    words = "the film was a quiet story about a town".split()
    examples = [
        Example(f"e{i}", "Repeat.", " ".join(words * 20), " ".join(words[i:] + words[:i])) for i in range(4)
    ]
    features = build_train_features(tokenizer, examples, config.prompt(), config.train.max_length)
    if method == "lora":
        model = apply_lora(model, config)
    model.train()
    attention = packing.TrainingAttention(model, packing.register(), label_rows=True)
    attention.enable()
    batch = packing.flatten_collator(label_logits_only=True)(features)
    storages: dict[int, int] = {}

    def keep(tensor):
        storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        model(**batch)
    attention.disable()
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved = sum(n for ptr, n in storages.items() if ptr not in weights)
    base = packing.base_model(model).config
    meta = fc.meta_model(base, config, method)
    lora = fc.lora_shape(meta) if method == "lora" else None
    parameters = fc.count_parameters(meta, method)
    share = fc.label_share(features)
    forecast = fc.memory_forecast(
        fc.shape(base), parameters, config, method, "float32", label_share=share, lora=lora
    )
    assert forecast["tokens"] == sum(len(f["input_ids"]) for f in features)  # every input cut at max_length
    assert 0.75 < forecast["bytes"]["activations"] / saved < 1.25


def test_a_forecast_over_the_free_memory_is_refused():
    forecast = {"method": "full", "device": "cuda", "memory": {"peak_bytes": int(21.3 * fc.GIB)}}
    with pytest.raises(HarnessError) as error:
        fc.check_fits(forecast, free_memory=lambda device: int(15.2 * fc.GIB))
    assert str(error.value) == (
        "forecast peak 21.3 GiB > 15.2 GiB free on cuda:0; lower train.batch_size or train.max_length, "
        "or set method = lora"
    )
    assert error.value.exit_code == 2
    fc.check_fits(forecast, free_memory=lambda device: 22 * fc.GIB)  # fits: nothing raised
    asked = []
    fc.check_fits({**forecast, "device": "cpu"}, free_memory=asked.append)  # no check off CUDA
    assert asked == []
    with pytest.raises(HarnessError, match=r"free on cuda:1; lower train.batch_size or train.max_length$"):
        fc.check_fits({**forecast, "device": "cuda:1", "method": "lora"}, free_memory=lambda device: 0)


def test_the_forecast_from_a_config_reads_no_weights(tiny_model_dir, monkeypatch):
    from harness.models import count_parameters, load_model

    config = _config("lora")
    config.model = str(tiny_model_dir)

    def no_weights(*args, **kwargs):
        raise AssertionError("weights loaded")

    monkeypatch.setattr("transformers.AutoModelForCausalLM.from_pretrained", no_weights)
    forecast = fc.training_forecast(config, {}, "cuda:0", "bfloat16")
    monkeypatch.undo()
    assert (
        forecast["parameters"]["total"]
        == count_parameters(load_model(str(tiny_model_dir), {}, "cpu").model)[0]
    )
    assert forecast["memory"]["dtype"] == "bfloat16" and forecast["memory"]["tokens"] == 4 * 64
    by_dtype = forecast["memory"]["peak_bytes_by_dtype"]
    assert by_dtype["bfloat16"] == forecast["memory"]["peak_bytes"] < by_dtype["float32"]
    with pytest.raises(HarnessError, match=r"^forecast peak 0\.0 GiB > 0\.0 GiB free on cuda:0"):
        fc.check_fits(forecast, free_memory=lambda device: 1000)
    config.train.fsdp = "full_shard auto_wrap"  # sharded: the whole-model forecast is not one GPU's
    fc.check_fits(fc.training_forecast(config, {}, "cuda:0", "bfloat16"), free_memory=lambda device: 0)


def test_evaluation_and_cycle_estimates(tiny_llama):
    _, tokenizer = tiny_llama()
    count = lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    generate = SimpleNamespace(name="gen", max_new_tokens=4, choices=())
    choose = SimpleNamespace(name="pick", max_new_tokens=4, choices=("yes", "no"))
    predictions = {
        "gen": Predictions(
            ["Say hello.", "Say the film was long."], ["hello there", "the film was very long indeed"]
        ),
        "pick": Predictions(["Is it?"], ["yes"], "loglik", [{"yes": -1.0, "no": -2.0}]),
    }
    evaluation = fc.evaluation_forecast(tokenizer, [generate, choose], predictions, {"gen": 2.0}, 1000)
    gen = evaluation["tasks"]["gen"]
    assert gen["prompt_tokens"] == count("Say hello.") + count("Say the film was long.")
    assert gen["generated_tokens"] == min(count("hello there"), 4) + min(
        count("the film was very long indeed"), 4
    )
    assert gen["generated_bound"] == 8
    assert gen["before_seconds"] == gen["expected_after_seconds"] == 2.0
    assert evaluation["flops_per_second"] == 2 * 1000 * gen["processed_tokens"] / 2.0
    pick = evaluation["tasks"]["pick"]  # cached: no seconds measured, estimated at the measured rate
    assert pick["before_seconds"] is None
    assert pick["processed_tokens"] == 2 * count("Is it?") + count("yes") + count("no")
    assert pick["expected_after_seconds"] == pytest.approx(
        2.0 * pick["processed_tokens"] / gen["processed_tokens"], abs=1e-3
    )

    config = _config("full", epochs=2.0)
    features = [
        {"input_ids": [1] * 10, "labels": [-100] * 6 + [5] * 4},
        {"input_ids": [1] * 30, "labels": [5] * 30},
    ]
    assert fc.label_share(features) == (4 + 29) / 40  # labels after the first position
    assert fc.trained_tokens(features, config) == 80
    cycle = fc.cycle_forecast(
        evaluation, {"total": 1000}, config, "full", fc.trained_tokens(features, config)
    )
    assert cycle["estimate"] and cycle["train_flops"] == 6 * 1000 * 80
    assert cycle["train_seconds"] == pytest.approx(6 * 1000 * 80 / evaluation["flops_per_second"], abs=1e-3)
    evaluation_seconds = 2 * (2.0 + pick["expected_after_seconds"])
    assert cycle["eval_share"] == pytest.approx(
        evaluation_seconds / (evaluation_seconds + cycle["train_seconds"]), abs=1e-4
    )
    lora = fc.cycle_forecast(
        evaluation, {"total": 1000}, _config("lora", gradient_checkpointing=True), "lora", 80
    )
    assert lora["train_flops"] == (4 + 2) * 1000 * 80 and lora["train_flops_per_token"] == "6N"

    forecast = {
        "method": "full",
        "parameters": {"total": 1000, "trainable": 1000},
        "memory": fc.memory_forecast(
            {"hidden": 64, "intermediate": 128, "layers": 2, "vocab": 1000},
            {"total": 1000, "trainable": 1000},
            config,
            "full",
            "float32",
        ),
        "evaluation": evaluation,
        "cycle": cycle,
    }
    combined = fc.with_evaluation(
        {k: forecast[k] for k in ("method", "parameters", "memory")},
        tokenizer,
        [generate, choose],
        predictions,
        {"gen": 2.0},
        features,
        config,
    )
    assert combined["evaluation"] == evaluation and combined["cycle"] == cycle
    lines = fc.render(forecast)
    assert lines[0] == "forecast: 1,000 parameters, 1,000 trainable (full)"
    assert "MiB float32 (weights 0.0 MiB" in lines[1] and "256 tokens a batch" in lines[1]
    assert lines[2].startswith("forecast: gen: ") and lines[3].startswith("forecast: pick: ")
    assert lines[-1].startswith("forecast (estimate): training ~") and "% of the cycle" in lines[-1]
    assert fc.summary(forecast) == {
        "parameters": 1000,
        "trainable_parameters": 1000,
        "peak_memory_gib": round(forecast["memory"]["peak_bytes"] / fc.GIB, 3),
        "train_seconds": cycle["train_seconds"],
        "eval_share": cycle["eval_share"],
    }
