"""The embedded model presets: build, cache, determinism, tokenizer, pre-training."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.models.presets import (
    TINY,
    ModelPreset,
    corpus_texts,
    harness_model_presets,
    preset_fingerprint,
    preset_path,
    tiny_preset,
)

FAST_STEPS = 25


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return corpus_texts()


@pytest.fixture(scope="module")
def built(tmp_path_factory, corpus) -> Path:
    """A fast tiny preset (few pre-training steps), built once for the module."""
    cache = tmp_path_factory.mktemp("cache-a")
    return preset_path(tiny_preset(pretrain_steps=FAST_STEPS, corpus=lambda: corpus), cache)


def _load(directory: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(directory), AutoTokenizer.from_pretrained(directory)


def test_import_does_not_load_torch():
    code = "import harness.models.presets, sys; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parent.parent)


def test_builtin_hook_returns_tiny_and_smollm2():
    presets = harness_model_presets()
    assert [preset.name for preset in presets] == ["tiny", "smollm2-135m"]
    assert all(isinstance(preset, ModelPreset) and preset.description for preset in presets)
    assert presets[0].check is None and presets[1].check is not None  # smollm2 needs a package


def test_corpus_has_no_input_output_pairs(corpus):
    assert "### Response:" in corpus and len(corpus) == len(set(corpus))
    assert not any("### Response:" in text and text != "### Response:" for text in corpus)


def test_built_directory_loads(built):
    import torch

    model, tokenizer = _load(built)
    assert built.name.startswith("tiny-") and built.parent.name == "presets"
    assert model.config.model_type == "llama" and model.config.tie_word_embeddings
    assert model.config.vocab_size == len(tokenizer)
    assert tokenizer.eos_token_id is not None and tokenizer.pad_token_id is not None
    assert tokenizer.bos_token_id is not None
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert (model.config.bos_token_id, model.config.eos_token_id, model.config.pad_token_id) == (
        tokenizer.bos_token_id,
        tokenizer.eos_token_id,
        tokenizer.pad_token_id,
    )
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id
    # no special tokens are added behind the caller's back
    plain = tokenizer("hello world", add_special_tokens=False)["input_ids"]
    assert tokenizer("hello world")["input_ids"] == plain
    # it generates: greedy search gives the argmax continuation, token by token, up to EOS
    ids = tokenizer("### Response:", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        expected = ids[0].tolist()
        for _ in range(5):
            expected.append(int(model(input_ids=torch.tensor([expected])).logits[0, -1].argmax()))
            if expected[-1] == tokenizer.eos_token_id:
                break
    assert out[0].tolist() == expected
    info = json.loads((built / "harness_preset.json").read_text())
    assert info["hyperparameters"]["pretrain_steps"] == FAST_STEPS


@pytest.mark.parametrize(
    "text",
    [
        "Le café est très bon, n'est-ce pas ? À bientôt, garçon ! Où ça ? Noël, œuvre, naïve.",
        "Emoji 😀🎉👍🏽 and CJK 日本語 and Ελληνικά — “quotes” … done",
        "  leading and trailing spaces  \n\ttabs\r\nand newlines\n\n",
        "### Instruction:\nTranslate the following English sentence into French.\n\n### Response:\n",
        "",
    ],
)
def test_tokenizer_round_trips(built, text):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(built)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids) == text
    # EOS appended by the caller is a single special token that skip_special_tokens drops
    assert tokenizer.decode(ids + [tokenizer.eos_token_id], skip_special_tokens=True) == text


def test_same_seed_is_bit_identical(built, tmp_path, corpus):
    again = preset_path(tiny_preset(pretrain_steps=FAST_STEPS, corpus=lambda: corpus), tmp_path)
    assert again != built and again.name == built.name
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (again / name).read_bytes() == (built / name).read_bytes(), name


def test_fingerprint_tracks_hyperparameters_and_corpus(corpus):
    def fingerprint(texts=corpus, **overrides) -> str:
        return preset_fingerprint(tiny_preset(corpus=lambda: texts, **overrides))

    assert fingerprint() == fingerprint(list(corpus))
    assert fingerprint() != fingerprint(seed=1)
    assert fingerprint() != fingerprint(pretrain_steps=1)
    assert fingerprint() != fingerprint([*corpus, "extra"])


def test_cache_is_reused_and_build_is_atomic(tmp_path, monkeypatch):
    calls = []

    def build(directory: Path) -> None:
        calls.append(directory)
        (directory / "weights.bin").write_text("ok")

    preset = ModelPreset("fake", build=build)
    first = preset_path(preset, tmp_path)
    assert preset_path(preset, tmp_path) == first and len(calls) == 1
    assert (first / "weights.bin").read_text() == "ok"
    assert calls[0].parent == first.parent and calls[0] != first  # built in a temp dir next to it
    assert sorted(p.name for p in first.parent.iterdir()) == [first.name]  # temp dir renamed away

    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    assert preset_path(preset) == first and len(calls) == 1


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_built_preset_folder_follows_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        built = preset_path(ModelPreset("fake", build=lambda d: (d / "w.bin").write_text("ok")), tmp_path)
    finally:
        os.umask(previous)
    assert built.stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's 0700


def test_failed_build_leaves_no_cache(tmp_path):
    def build(directory: Path) -> None:
        (directory / "half.bin").write_text("half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        preset_path(ModelPreset("broken", build=build), tmp_path)
    assert list((tmp_path / "presets").iterdir()) == []


def test_lost_race_keeps_the_winner(tmp_path):
    winner = tmp_path / "presets"

    def build(directory: Path) -> None:
        (directory / "mine").write_text("loser")
        # another process finishes first while we are building
        final = winner / f"race-{preset_fingerprint(preset)}"
        final.mkdir()
        (final / "theirs").write_text("winner")

    preset = ModelPreset("race", build=build)
    path = preset_path(preset, tmp_path)
    assert (path / "theirs").read_text() == "winner" and not (path / "mine").exists()
    assert sorted(p.name for p in winner.iterdir()) == [path.name]


def test_pretraining_lowers_the_loss(built, tmp_path, corpus):
    import torch

    untrained = preset_path(tiny_preset(pretrain_steps=0, corpus=lambda: corpus), tmp_path)
    # same tokenizer either way: it does not depend on the step count
    assert (untrained / "tokenizer.json").read_bytes() == (built / "tokenizer.json").read_bytes()

    def loss(directory: Path) -> float:
        model, tokenizer = _load(directory)
        texts = corpus[:: max(1, len(corpus) // 64)]
        total, count = 0.0, 0
        with torch.no_grad():
            for text in texts:
                ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
                ids = torch.tensor([ids[: TINY.max_position_embeddings]])
                total += model(input_ids=ids, labels=ids).loss.item() * (ids.shape[1] - 1)
                count += ids.shape[1] - 1
        return total / count

    before, after = loss(untrained), loss(built)
    assert after < before - 1.0, (before, after)


def test_a_plugin_preset_loads_by_name_from_the_cache(tmp_path, write_plugin):
    """``model = "<name>"`` of a preset that a plugin registers: built on first use into
    ``$HARNESS_CACHE_DIR`` (a session folder of the suite), then loaded from there."""
    from harness import plugins
    from harness.files import cache_root
    from harness.models import load_model

    small = {"pretrain_steps": 0, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1}
    plugin = write_plugin(tmp_path / "micro.py", presets=[{"name": "micro-test", **small}])
    registry = plugins.presets(plugins.make_plugin_manager(extra=[str(plugin)]))
    loaded = load_model("micro-test", registry, "cpu")
    assert loaded.source == "preset"
    assert Path(loaded.path) == preset_path(registry["micro-test"].item)
    assert (
        Path(loaded.path).parent == cache_root() / "presets"
        and cache_root() != Path.home() / ".cache" / "harness"
    )
    assert loaded.model.config.hidden_size == 16 and loaded.model.config.vocab_size == len(loaded.tokenizer)


def test_unknown_hyperparameter_is_rejected():
    with pytest.raises(TypeError):
        tiny_preset(no_such_field=1)
    assert dataclasses.asdict(TINY)["tie_word_embeddings"] is True
