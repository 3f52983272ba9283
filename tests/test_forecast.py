"""The resource forecast (harness/training/forecast.py): parameters counted on the meta device,
peak memory per component, the evaluation and cycle estimates, and the refusal before a CUDA run
that would not fit."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.config import Config, LoraConfig, TrainConfig
from harness.errors import HarnessError
from harness.evaluation import Predictions
from harness.training import forecast as fc
from harness.training import forecast_time as timing


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
    share = timing.label_share(features)
    forecast = fc.memory_forecast(
        fc.shape(base), parameters, config, method, "float32", label_share=share, lora=lora
    )
    assert forecast["tokens"] == sum(len(f["input_ids"]) for f in features)  # every input cut at max_length
    assert 0.75 < forecast["bytes"]["activations"] / saved < 1.25


def test_a_forecast_over_the_free_memory_is_refused(monkeypatch):
    forecast = {
        "method": "full",
        "device": "cuda",
        "memory": {"peak_bytes": int(21.3 * fc.GIB), "dtype": "bfloat16"},
    }
    with pytest.raises(HarnessError) as error:
        fc.check_fits(forecast, free_memory=lambda device: int(15.2 * fc.GIB))
    assert str(error.value) == (
        "training forecast: peak 21.3 GiB (estimated upper bound, bfloat16) > 15.2 GiB free on cuda:0; "
        "lower train.batch_size or train.max_length, or set method = lora "
        "(HARNESS_NO_FIT_CHECK=1 runs it anyway)"
    )
    assert error.value.exit_code == 2
    fc.check_fits(forecast, free_memory=lambda device: 22 * fc.GIB)  # fits: nothing raised
    asked = []
    fc.check_fits({**forecast, "device": "cpu"}, free_memory=asked.append)  # no check off CUDA
    assert asked == []
    with pytest.raises(HarnessError, match=r"free on cuda:1; lower train.batch_size or train.max_length \("):
        fc.check_fits({**forecast, "device": "cuda:1", "method": "lora"}, free_memory=lambda device: 0)
    monkeypatch.setenv(fc.NO_FIT_CHECK_ENV, "1")  # the bound is an upper one: the user may insist
    fc.check_fits(forecast, free_memory=lambda device: 0)


def test_harness_run_refuses_before_the_model_is_loaded(
    tmp_path, echo_plugin, run_config, monkeypatch, capsys
):
    """The real CLI on a machine made to look like it has a CUDA device with 1 MiB free: exit 2,
    one line with the numbers, no model loaded, no run folder written."""
    from harness.cli import main

    config = run_config(tmp_path, echo_plugin(tmp_path))

    def no_loading(*args, **kwargs):
        raise AssertionError("model loaded")

    monkeypatch.setattr("harness.models.load_model", no_loading)
    monkeypatch.setattr("harness.models.device.resolve_device", lambda requested="auto": "cuda:0")
    monkeypatch.setattr("harness.training.forecast.free_memory_cuda", lambda device: 2**20)
    args = [
        "--model",
        config.model,
        "--tasks",
        "echo",
        "--plugin",
        config.plugins[0],
        "-q",
        "-o",
        config.output_dir,
    ]
    args += [
        "--set",
        f"models_dir={json.dumps(config.models_dir)}",
        "--set",
        'method="full"',
        "--set",
        "cache=false",
    ]
    expected = fc.training_forecast(config, {}, "cuda:0", "float32")["memory"]["peak_bytes"]
    assert main(["run", *args]) == 2
    err = capsys.readouterr().err
    assert (
        f"training forecast: peak {expected / fc.GIB:.1f} GiB (estimated upper bound, float32) "
        "> 0.0 GiB free on cuda:0" in err
    )
    assert len([line for line in err.splitlines() if line.strip()]) == 1
    assert not Path(config.output_dir).exists() and not Path(config.models_dir).exists()


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
    with pytest.raises(
        HarnessError, match=r"^training forecast: peak 0\.0 GiB \(estimated upper bound, bfloat16\)"
    ):
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
    evaluation = timing.evaluation_forecast(tokenizer, [generate, choose], predictions, {"gen": 2.0}, 1000)
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
    assert timing.label_share(features) == (4 + 29) / 40  # labels after the first position
    assert timing.largest_batch(features, 1) == 30 and timing.largest_batch(features, 4) == 40
    assert timing.trained_tokens(features, 2, config) == 80  # 2 examples x 2 epochs x 20 tokens
    assert timing.trained_tokens(features, 100, config) == 100 * 2 * 20  # features: a sample
    config.train.max_steps = 3
    assert timing.trained_tokens(features, 100, config) == 3 * 4 * 20  # max_steps batches of 4
    config.train.max_steps = 0
    assert timing.sample(list(range(5))) == list(range(5))
    assert len(timing.sample(list(range(10_001)))) == len(range(0, 10_001, 6)) <= timing.SAMPLE
    # dev: 10 "gen" examples, 2 evaluations, at the baseline's 2.0 s for 2 examples
    dev = timing.dev_seconds(evaluation, {"gen": 10, "other": 5}, 2)
    assert dev == 2 * 10 * 2.0 / 2
    config.train.eval_every = 0
    assert timing.dev_evaluations(17, config) == 2  # one per epoch: 5 steps an epoch, 10 steps
    cycle = timing.cycle_forecast(evaluation, 1000, config, "full", 80, dev)
    assert cycle["estimate"] and cycle["train_flops"] == 6 * 1000 * 80
    assert cycle["train_seconds"] == pytest.approx(6 * 1000 * 80 / evaluation["flops_per_second"], abs=1e-3)
    evaluation_seconds = 2 * (2.0 + pick["expected_after_seconds"]) + dev
    assert cycle["eval_seconds"] == pytest.approx(evaluation_seconds, abs=1e-3)
    assert cycle["eval_share"] == pytest.approx(
        evaluation_seconds / (evaluation_seconds + cycle["train_seconds"]), abs=1e-4
    )
    lora = timing.cycle_forecast(evaluation, 1000, _config("lora", gradient_checkpointing=True), "lora", 80)
    assert lora["train_flops"] == (4 + 2) * 1000 * 80 and lora["train_flops_per_token"] == "6N"

    dims = {"hidden": 64, "intermediate": 128, "layers": 2, "vocab": 1000}
    memory = fc.memory_forecast(dims, {"total": 1000, "trainable": 1000}, config, "full", "float32")
    memory["peak_bytes_by_dtype"] = {"float32": memory["peak_bytes"], "bfloat16": memory["peak_bytes"] // 2}
    forecast = {
        "method": "full",
        "parameters": {"total": 1000, "trainable": 1000},
        "memory": memory,
        "evaluation": evaluation,
        "cycle": cycle,
    }
    lines = dict(fc.render(forecast))
    assert list(lines) == ["parameters", "memory", "memory:bound", "eval:gen", "eval:pick", "cycle"]
    assert lines["parameters"] == "forecast: 1,000 parameters, 1,000 trainable (full)"
    peak, half = fc.size(memory["peak_bytes"]), fc.size(memory["peak_bytes"] // 2)
    assert lines["memory"] == f"forecast: peak training memory at most {peak} in float32 ({half} in bfloat16)"
    assert lines["memory:bound"].startswith(
        "forecast: memory (estimated upper bound: 256 tokens a batch, every position a label): "
        "weights 0.0 MiB"
    )
    assert (
        lines["eval:gen"]
        == f"forecast: gen: {gen['prompt_tokens']} prompt + {gen['generated_tokens']} generated tokens, "
        "2.0 s a pass (measured)"
    )
    assert lines["eval:pick"].endswith("s a pass (estimated: baseline cached)")
    assert lines["cycle"].startswith("forecast: training ~") and lines["cycle"].endswith(
        "% of the cycle (estimated)"
    )
    assert fc.summary(forecast) == {
        "parameters": 1000,
        "trainable_parameters": 1000,
        "dtype": "float32",
        "peak_memory_bytes": memory["peak_bytes"],
        "expected_peak_memory_bytes": None,
        "train_seconds": cycle["train_seconds"],
        "eval_seconds": cycle["eval_seconds"],
        "eval_share": cycle["eval_share"],
    }
    assert fc.summary(None) is None


def test_a_config_the_forecast_cannot_read_loses_only_the_forecast(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "no-such-architecture"}', encoding="utf-8")
    config = _config("full")
    config.model = str(tmp_path)
    forecast, why = fc.forecast_or_reason(config, {})
    assert forecast is None
    assert why.startswith(f"no resource forecast for {tmp_path}: ") and "\n" not in why
