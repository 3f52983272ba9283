"""Padding-free training (harness/training/packing.py): a flattened batch with per-example attention gives
the same logits, loss and gradients as the padded batch, and fine_tune trains identically either way."""

from __future__ import annotations

import json

import pytest

from harness import training
from harness.training import packing

torch = pytest.importorskip("torch")


@pytest.fixture
def random_llama(tiny_llama):
    """``random_llama()``: a tiny random Llama with grouped-query attention (4 query heads, 2
    key/value heads) on SDPA, the attention the padding-free path replaces."""

    def build():
        model, _ = tiny_llama(
            hidden_size=32, intermediate_size=48, max_position_embeddings=128, attn_implementation="sdpa"
        )
        return model

    return build


def features(lengths=(7, 3, 12, 1, 5), seed: int = 1) -> list[dict]:
    """Examples whose first few tokens (the "prompt") are masked, like tokenize_for_training's."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for n in lengths:
        ids = torch.randint(4, 61, (n,), generator=generator).tolist()
        prompt = min(n - 1, max(1, n // 3))
        out.append({"input_ids": ids, "labels": [-100] * prompt + ids[prompt:]})
    return out


def padded(batch: list[dict]) -> dict:
    return training.make_collator(pad_token_id=0)(batch)


def flat(batch: list[dict]) -> dict:
    return packing.flatten_collator()(batch)


def loss_and_grads(model, inputs: dict):
    model.zero_grad()
    labels = inputs["labels"]
    # the Trainer's normaliser: non-ignored labels after the shift, over the whole batch
    num_items = labels[..., 1:].ne(-100).sum()
    loss = model(**inputs, num_items_in_batch=num_items).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}, int(num_items)


# --- collator -------------------------------------------------------------------------------------


def test_flatten_collator_restarts_positions_and_masks_boundaries():
    batch = features((3, 4, 2))
    out = flat(batch)
    assert out["input_ids"].shape == (1, 9) and "attention_mask" not in out
    assert out["input_ids"][0].tolist() == sum((f["input_ids"] for f in batch), [])
    assert out["position_ids"][0].tolist() == [0, 1, 2, 0, 1, 2, 3, 0, 1]
    assert out["cu_seq_lens_q"].tolist() == out["cu_seq_lens_k"].tolist() == [0, 3, 7, 9]
    assert out["cu_seq_lens_q"].dtype == torch.int32
    assert out["max_length_q"] == out["max_length_k"] == 4
    labels = out["labels"][0].tolist()
    assert [labels[i] for i in (0, 3, 7)] == [-100, -100, -100]  # first token of every example
    expected = []
    for f in batch:
        expected += [-100, *f["labels"][1:]]
    assert labels == expected


def test_flatten_collator_matches_transformers_data_collator_with_flattening():
    from transformers import DataCollatorWithFlattening

    batch = features()
    ours = flat(batch)
    theirs = DataCollatorWithFlattening(return_flash_attn_kwargs=True)(batch)
    for key in ("input_ids", "labels", "position_ids", "cu_seq_lens_q", "cu_seq_lens_k"):
        assert ours[key].tolist() == theirs[key].tolist(), key
    assert ours["max_length_q"] == theirs["max_length_q"]


# --- attention, loss, gradients -------------------------------------------------------------------


def test_each_slice_equals_the_example_run_alone(random_llama):
    """No attention crosses examples: every slice of the flattened row's logits equals the logits
    of that example run on its own (and the padded batch's real-token logits)."""
    model = random_llama().eval()
    batch = features()
    attention = packing.TrainingAttention(model, packing.register())
    with torch.no_grad():
        alone = [model(input_ids=torch.tensor([f["input_ids"]])).logits[0] for f in batch]
        pad = padded(batch)
        padded_logits = model(input_ids=pad["input_ids"], attention_mask=pad["attention_mask"]).logits
        attention.enable()
        inputs = flat(batch)
        inputs.pop("labels")
        flat_logits = model(**inputs).logits[0]
        attention.disable()
    bounds = inputs["cu_seq_lens_q"].tolist()
    for i, (start, end) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        torch.testing.assert_close(flat_logits[start:end], alone[i], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(
            flat_logits[start:end], padded_logits[i, : end - start], atol=1e-5, rtol=1e-5
        )
    assert model.config._attn_implementation == "sdpa"


def test_boundaries_from_position_ids_alone(random_llama):
    """Without cu_seq_lens the attention finds the examples where position_ids restart."""
    model = random_llama().eval()
    batch = features((4, 6, 2))
    attention = packing.TrainingAttention(model, packing.register())
    inputs = flat(batch)
    with torch.no_grad():
        attention.enable()
        full = model(
            input_ids=inputs["input_ids"],
            position_ids=inputs["position_ids"],
            **{k: inputs[k] for k in ("cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k")},
        ).logits
        from_positions = model(input_ids=inputs["input_ids"], position_ids=inputs["position_ids"]).logits
        attention.disable()
    torch.testing.assert_close(full, from_positions, atol=1e-6, rtol=1e-6)


def test_flattened_loss_and_gradients_equal_the_padded_batch(random_llama):
    model = random_llama().train()
    batch = features()
    padded_loss, padded_grads, padded_items = loss_and_grads(model, padded(batch))
    attention = packing.TrainingAttention(model, packing.register())
    attention.enable()
    try:
        flat_loss, flat_grads, flat_items = loss_and_grads(model, flat(batch))
    finally:
        attention.disable()
    assert flat_items == padded_items == sum(sum(y != -100 for y in f["labels"][1:]) for f in batch)
    torch.testing.assert_close(flat_loss, padded_loss, atol=1e-5, rtol=1e-5)
    for name, grad in padded_grads.items():
        torch.testing.assert_close(flat_grads[name], grad, atol=1e-5, rtol=1e-4, msg=name)


def test_flatten_collator_marks_the_label_positions():
    batch = features((3, 4, 2))
    out = packing.flatten_collator(label_logits_only=True)(batch)
    labels = out["labels"][0].tolist()
    keep = out["logits_to_keep"][0].tolist()
    assert out["logits_to_keep"].dtype == torch.bool and len(keep) == len(labels)
    # position t is kept exactly when the token after it is a label
    assert keep == [t + 1 < len(labels) and labels[t + 1] != -100 for t in range(len(labels))]
    assert out["shift_labels"].tolist() == [y for y in labels[1:] if y != -100]


@pytest.mark.parametrize("architecture", ["llama", "gpt2"])
def test_label_only_logits_give_the_same_loss_and_gradients(random_llama, tiny_gpt2, architecture):
    """The logits of the label positions alone (``logits_to_keep`` + ``shift_labels``) give the
    loss and gradients of the full logits, with the same normaliser."""
    model = random_llama() if architecture == "llama" else tiny_gpt2(attn_implementation="sdpa")[0]
    model.eval()  # GPT-2's dropout would draw different masks in the two passes; gradients still flow
    assert packing.unsupported_reason(model, 384) is None and packing.slices_logits(model)
    batch = features(seed=3)
    attention = packing.TrainingAttention(model, packing.register())
    attention.enable()
    try:
        full_loss, full_grads, full_items = loss_and_grads(model, flat(batch))
        inputs = packing.flatten_collator(label_logits_only=True)(batch)
        kept_loss, kept_grads, kept_items = loss_and_grads(model, inputs)
    finally:
        attention.disable()
    assert kept_items == full_items == len(inputs["shift_labels"])
    torch.testing.assert_close(kept_loss, full_loss, atol=1e-6, rtol=1e-6)
    for name, grad in full_grads.items():
        torch.testing.assert_close(kept_grads[name], grad, atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.parametrize("architecture", ["llama", "gpt2"])
def test_last_mlp_on_label_rows_gives_the_same_loss_and_gradients(random_llama, tiny_gpt2, architecture):
    """The last layer's MLP run on the label positions only (the rest of the row gets zeros, and
    is dropped before the LM head) gives the loss and gradients of the MLP over the whole row."""
    model = random_llama() if architecture == "llama" else tiny_gpt2(attn_implementation="sdpa")[0]
    model.eval()  # no dropout: both passes compute the same function
    mlp = packing.last_mlp(model)
    assert mlp is not None
    seen = []
    mlp.register_forward_hook(lambda module, args, output: seen.append(args[0].shape[1]))  # rows it ran on
    batch = features(seed=5)
    inputs = packing.flatten_collator(label_logits_only=True)(batch)
    runs = {}
    for label_rows in (False, True):
        attention = packing.TrainingAttention(model, packing.register(), label_rows=label_rows)
        attention.enable()
        try:
            runs[label_rows] = loss_and_grads(model, dict(inputs))
        finally:
            attention.disable()
    rows, kept = inputs["input_ids"].shape[1], int(inputs["logits_to_keep"].sum())
    assert seen == [rows, kept] and kept < rows
    (full_loss, full_grads, _), (cut_loss, cut_grads, _) = runs[False], runs[True]
    torch.testing.assert_close(cut_loss, full_loss, atol=1e-6, rtol=1e-6)
    for name, grad in full_grads.items():
        torch.testing.assert_close(cut_grads[name], grad, atol=1e-6, rtol=1e-5, msg=name)
    loss_and_grads(model, flat(batch))  # disabled: the MLP sees the whole row again
    assert seen[-1] == rows


def test_gradient_checkpointing_gives_the_same_gradients(random_llama):
    model = random_llama().train()
    batch = features()
    attention = packing.TrainingAttention(model, packing.register())
    attention.enable()
    plain_loss, plain_grads, _ = loss_and_grads(model, flat(batch))
    model.activation_checkpointing_enable()
    checkpointed_loss, checkpointed_grads, _ = loss_and_grads(model, flat(batch))
    attention.disable()
    torch.testing.assert_close(checkpointed_loss, plain_loss)
    for name, grad in plain_grads.items():
        torch.testing.assert_close(checkpointed_grads[name], grad, msg=name)


def test_unsupported_models_are_reported(random_llama):
    model = random_llama()
    assert packing.unsupported_reason(model, 384) is None
    model.config.sliding_window = 128
    assert "sliding-window" in packing.unsupported_reason(model, 384)
    assert packing.unsupported_reason(model, 128) is None
    model.config.sliding_window = None
    model._supports_attention_backend = False
    assert "attention interface" in packing.unsupported_reason(model, 384)
    assert packing.attention_for(random_llama(), "cpu", "float32") == "harness_varlen"


# --- fine_tune ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "checkpointing"), [("full", False), ("lora", True)], ids=["full", "lora-checkpointing"]
)
def test_fine_tune_padding_free_matches_padded(
    load_tiny, tmp_path, examples, train_config, method, checkpointing
):
    from transformers import AutoModelForCausalLM

    data = examples(24)
    runs = {}
    for padding_free in (True, False):
        loaded = load_tiny()
        cfg = train_config(
            method, batch_size=4, padding_free=padding_free, gradient_checkpointing=checkpointing
        )
        model, result = training.fine_tune(loaded, data, cfg, tmp_path / f"pf-{padding_free}")
        runs[padding_free] = result
        assert packing.base_model(model).config._attn_implementation == "sdpa"  # restored
    flat_run, padded_run = runs[True], runs[False]
    assert flat_run.tokens["batching"] == "padding-free" and padded_run.tokens["batching"] == "padded"
    assert flat_run.tokens["padding_free_fallback"] is None
    assert flat_run.tokens["padding_fraction"] == 0 and padded_run.tokens["padding_fraction"] > 0.05
    assert flat_run.tokens["real"] == padded_run.tokens["real"]
    assert len(flat_run.loss_history) == len(padded_run.loss_history) == 12
    for a, b in zip(flat_run.loss_history, padded_run.loss_history, strict=True):
        assert a["step"] == b["step"] and a["loss"] == pytest.approx(b["loss"], abs=1e-4)
    if method == "full":
        saved = json.loads((tmp_path / "pf-True" / "config.json").read_text())
        assert "harness_varlen" not in json.dumps(saved)
        assert saved.get("attn_implementation") in (None, "sdpa")
        reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "pf-True")
        assert reloaded.config._attn_implementation == "sdpa"


def test_dev_evaluation_runs_with_the_original_attention(
    load_tiny, tmp_path, examples, train_config, monkeypatch
):
    from harness.metrics import Metric
    from harness.tasks import DataSource, Task

    seen = []

    def fake_dev_scores(model, *args, **kwargs):
        seen.append(packing.base_model(model).config._attn_implementation)
        return {"t": 0.5}

    monkeypatch.setattr("harness.training.dev.dev_scores", fake_dev_scores)
    task = Task("t", "Repeat.", DataSource(tmp_path), metrics=("accuracy",), max_new_tokens=3)
    dev = training.DevSet([task], {"t": examples(4)}, {"accuracy": Metric("accuracy", lambda p, r: None)})
    loaded = load_tiny()
    cfg = train_config(batch_size=4, eval_every=2)
    model, result = training.fine_tune(loaded, examples(16), cfg, tmp_path / "m", dev=dev)
    assert seen and set(seen) == {"sdpa"}
    assert result.tokens["batching"] == "padding-free"


def test_unsupported_model_falls_back_to_padded_batches(load_tiny, tmp_path, examples, train_config):
    loaded = load_tiny()
    loaded.model._supports_attention_backend = False
    _, result = training.fine_tune(loaded, examples(8), train_config(batch_size=4, epochs=1), tmp_path / "m")
    assert result.tokens["batching"] == "padded"
    assert "attention interface" in result.tokens["padding_free_fallback"]
    off = train_config(epochs=1, padding_free=False)
    _, result = training.fine_tune(load_tiny(), examples(8), off, tmp_path / "m2")
    assert result.tokens["batching"] == "padded" and result.tokens["padding_free_fallback"] is None
