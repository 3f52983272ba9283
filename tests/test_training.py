"""Fine-tuning: dev split, task mixing, eval-driven checkpoint selection, early stopping,
NaN handling, token accounting and loadable outputs (full and LoRA) on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import training
from harness.config_loader import load_config
from harness.errors import HarnessError
from harness.evaluation.hf_backend import HFBackend
from harness.metrics import Metric
from harness.tasks import DataSource, Task, splits
from harness.training.checkpoints import checkpoint_is_complete, remove_incomplete_checkpoints
from harness.training.dev import aggregate, patience_exhausted

DEV_SCORES = "harness.training.dev.dev_scores"  # what HarnessTrainer.evaluate calls, for scripted scores


@pytest.fixture
def loaded(load_tiny):
    return load_tiny()


@pytest.fixture
def dev_set(examples):
    def make(n: int = 4) -> training.DevSet:
        task = Task("t", "Repeat.", DataSource(Path("unused")), metrics=("accuracy",), max_new_tokens=3)
        accuracy = Metric("accuracy", lambda p, r: None)
        return training.DevSet([task], {"t": examples(n)}, {"accuracy": accuracy}, batch_size=8)

    return make


# --- pure helpers -----------------------------------------------------------------------------------


def test_dev_size_is_capped_at_a_quarter_of_the_training_examples():
    assert splits.dev_size_for(300, 20) == 20
    assert splits.dev_size_for(100, 20) == 20
    assert splits.dev_size_for(64, 20) == 16  # a small task keeps a usable dev split (10% gave 6)
    assert splits.dev_size_for(300, 200) == 75
    assert splits.dev_size_for(3, 20) == 0
    assert splits.dev_size_for(300, 0) == 0


def test_split_dev_is_seeded_disjoint_and_keeps_order(examples):
    data = examples(50)
    train, dev = splits.split_dev(data, 5, seed=3)
    assert len(dev) == 5 and len(train) == 45
    assert not {e.id for e in train} & {e.id for e in dev}
    assert [e.id for e in train] == [e.id for e in data if e not in dev]
    assert splits.split_dev(data, 5, seed=3) == (train, dev)
    assert splits.split_dev(data, 5, seed=4)[1] != dev


def test_mix_examples_weights(examples):
    data = {"a": examples(10, "a"), "b": examples(10, "b")}
    mixed = splits.mix_examples(data, {"a": 2.0, "b": 0.5}, seed=0)
    assert sum(e.id.startswith("a") for e in mixed) == 20
    b_ids = [e.id for e in mixed if e.id.startswith("b")]
    assert len(b_ids) == 5 and len(set(b_ids)) == 5
    assert splits.mix_examples(data, {"a": 2.0, "b": 0.5}, seed=0) == mixed


def test_metric_normalised_divides_by_its_scale_and_negates_lower_is_better():
    bleu = Metric("bleu", lambda p, r: None, scale=100.0)
    wer = Metric("wer", lambda p, r: None, higher_is_better=False)
    assert bleu.normalised(40.0) == pytest.approx(0.4)
    assert Metric("accuracy", lambda p, r: None).normalised(0.7) == pytest.approx(0.7)
    assert wer.normalised(0.2) == pytest.approx(-0.2)
    # a plugin metric named like a 0-100 one is not guessed: it declares its scale
    assert Metric("chrf", lambda p, r: None).normalised(50.0) == pytest.approx(50.0)


def test_aggregate_mean_and_single_task():
    acc, bleu = Metric("accuracy", lambda p, r: None), Metric("bleu", lambda p, r: None, scale=100.0)
    tasks = [
        Task("s", "i", DataSource(Path("x")), metrics=("accuracy",)),
        Task("t", "i", DataSource(Path("x")), metrics=("bleu",)),
    ]
    dev = training.DevSet(tasks, {}, {"accuracy": acc, "bleu": bleu})
    assert aggregate({"s": 0.8, "t": 20.0}, dev, "mean") == pytest.approx(0.5)
    assert aggregate({"s": 0.8, "t": 20.0}, dev, "t") == pytest.approx(0.2)
    # with dev examples: each task weighs by its number of them (the pooled per-example mean)
    sized = training.DevSet(tasks, {"s": [None] * 30, "t": [None] * 10}, {"accuracy": acc, "bleu": bleu})
    assert aggregate({"s": 0.8, "t": 20.0}, sized, "mean") == pytest.approx((30 * 0.8 + 10 * 0.2) / 40)
    assert aggregate({"s": 0.8, "t": 20.0}, sized, "t") == pytest.approx(0.2)


def test_patience_counts_evaluations_since_the_best():
    def log(*scores):
        return [{"loss": 1.0}] + [{"eval_dev_score": s} for s in scores]

    assert not patience_exhausted(log(0.1, 0.2, 0.1), 2)
    assert patience_exhausted(log(0.1, 0.2, 0.1, 0.1), 2)
    assert not patience_exhausted(log(0.2, 0.1, 0.2, 0.1), 2)  # a tie is a new best
    assert not patience_exhausted(log(0.3, 0.1, 0.1, 0.1), 0)  # 0 disables
    # with a noise margin, only evaluations more than the margin below the best count
    assert not patience_exhausted(log(0.1, 0.5, 0.45, 0.42), 2, margin=0.1)
    assert patience_exhausted(log(0.1, 0.5, 0.45, 0.39, 0.3), 2, margin=0.1)
    assert not patience_exhausted(log(0.1, 0.5, 0.3, 0.3, 0.41), 3, margin=0.1)


def test_latest_checkpoint_skips_incomplete(tmp_path):
    for step, complete in ((2, True), (4, True), (6, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"x")
        (folder / "trainer_state.json").write_text("{}" if complete else '{"global_st')
    assert training.latest_checkpoint(tmp_path).name == "checkpoint-4"
    removed = remove_incomplete_checkpoints(tmp_path)
    assert [p.name for p in removed] == ["checkpoint-6"] and not (tmp_path / "checkpoint-6").exists()


# --- the transformers Trainer: private API, and what stays light -----------------------------------


def test_private_trainer_api_is_still_there():
    """HarnessTrainer relies on a few private Trainer methods (resume of a finished run, loading the
    best checkpoint, the tie-is-a-new-best rule). If transformers renames one, say which."""
    import inspect

    from transformers import Trainer

    from harness.training import trainer

    for name, parameters in trainer.PRIVATE_TRAINER_API.items():
        assert hasattr(Trainer, name), f"transformers.Trainer.{name} is gone (harness.training.trainer)"
        signature = inspect.signature(getattr(Trainer, name))
        missing = [p for p in parameters if p not in signature.parameters]
        assert not missing, f"transformers.Trainer.{name} no longer takes {missing}"


def test_no_private_trainer_api_is_used_outside_the_listed_methods():
    """Every private Trainer attribute the training code touches (called or overridden) is listed in
    PRIVATE_TRAINER_API, so the test above guards all of them."""
    import re

    from transformers import Trainer

    from harness.training import trainer

    private = {name for name in dir(Trainer) if name.startswith("_") and not name.startswith("__")}
    used = set()
    for module in Path(trainer.__file__).parent.glob("*.py"):
        source = module.read_text(encoding="utf-8")
        used |= set(re.findall(r"\.(_[a-z]\w*)", source)) | set(re.findall(r"def (_[a-z]\w*)", source))
    assert used & private == set(trainer.PRIVATE_TRAINER_API)


def test_importing_harness_training_loads_no_torch_or_transformers():
    import subprocess
    import sys

    code = "import sys, harness.training; print(sorted({'torch', 'transformers', 'peft'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_dev_scores_score_each_task_with_its_primary_metric(loaded, examples):
    """Each task's greedy predictions, as the final evaluation makes them, scored by its primary
    metric alone."""
    from harness.evaluation import predict
    from harness.metrics import MetricResult
    from harness.training.dev import dev_scores

    calls = []

    def recording(name: str, score: float) -> Metric:
        def compute(predictions, references):
            calls.append((name, list(predictions), list(references)))
            return MetricResult(score)

        return Metric(name, compute)

    tasks = [
        Task("s", "Repeat.", DataSource(Path("x")), metrics=("first", "second"), max_new_tokens=3),
        Task("t", "Repeat.", DataSource(Path("x")), metrics=("second",), max_new_tokens=2),
    ]
    data = {"s": examples(3, "s"), "t": examples(2, "t")}
    metrics = {"first": recording("first", 0.25), "second": recording("second", 0.75)}
    dev = training.DevSet(tasks, data, metrics, batch_size=2)
    template = "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"

    scores = dev_scores(loaded.model, loaded.tokenizer, dev, template)

    assert scores == {"s": 0.25, "t": 0.75}
    assert [name for name, _, _ in calls] == ["first", "second"]
    for (_, predictions, references), task in zip(calls, tasks, strict=True):
        expected = predict(HFBackend(loaded.model, loaded.tokenizer), task, data[task.name], template, 2)
        assert predictions == expected.predictions
        assert references == [e.references for e in data[task.name]]


# --- config and workload ----------------------------------------------------------------------------


def test_train_tasks_config_validation():
    with pytest.raises(HarnessError, match=r"train_tasks names 'sentimnt'.*did you mean 'sentiment'"):
        load_config(None, ["train_tasks=sentimnt"])
    with pytest.raises(HarnessError, match="must be positive"):
        load_config(None, ["train_tasks={sentiment = 0}"])
    with pytest.raises(HarnessError, match="select_by"):
        load_config(None, ["train_tasks=sentiment", "train.select_by=translation"])
    load_config(None, ["train_tasks=sentiment", "train.select_by=sentiment"])


def test_prepare_selects_train_tasks_and_carves_dev():
    from harness.workload import prepare

    cfg = load_config(None, ["train_tasks={sentiment = 2, translation = 0.5}"])
    workload = prepare(cfg)
    assert set(workload.train) == {"sentiment", "translation"}  # summarization: evaluated only
    assert [t.name for t in workload.tasks] == cfg.tasks
    assert workload.train_weights == {"sentiment": 2.0, "translation": 0.5}
    for name in workload.train:
        assert len(workload.dev[name]) == 20 and len(workload.train[name]) == 280
        assert not {e.id for e in workload.dev[name]} & {e.id for e in workload.train[name]}
        assert all(e.id.startswith(f"{name}-train-") for e in workload.dev[name])  # never test data
    mixed = splits.mix_examples(workload.train, workload.train_weights, cfg.seed)
    assert len(mixed) == 2 * 280 + 140


# --- fine_tune on a tiny model ----------------------------------------------------------------------


def test_best_checkpoint_is_kept_and_training_stops_early(
    loaded, tmp_path, examples, train_config, dev_set, monkeypatch
):
    """Scripted dev scores: best at the 2nd evaluation, patience 2 -> stop after the 4th."""
    scripted = iter([0.2, 0.5, 0.3, 0.1, 0.9, 0.9])
    monkeypatch.setattr(DEV_SCORES, lambda *a, **k: {"t": next(scripted)})
    cfg = train_config(epochs=10, eval_every=2, patience=2, keep_checkpoints=True)
    model, result = training.fine_tune(loaded, examples(32), cfg, tmp_path / "model", dev=dev_set(100))
    assert [row["t"] for row in result.dev_history] == [0.2, 0.5, 0.3, 0.1]
    assert [row["step"] for row in result.dev_history] == [2, 4, 6, 8]
    assert result.best_step == 4 and result.best_score == 0.5
    assert result.stopped_early and result.steps == 8 and result.max_steps == 40
    checkpoints = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert checkpoints == ["checkpoint-2", "checkpoint-4", "checkpoint-6", "checkpoint-8"]  # every one: kept
    from safetensors.torch import load_file

    best = load_file(tmp_path / "checkpoints" / "checkpoint-4" / "model.safetensors")
    final = load_file(tmp_path / "model" / "model.safetensors")
    assert best.keys() == final.keys()
    assert all((best[k] == final[k]).all() for k in best)


def test_full_output_loads_with_automodel_and_reports_tokens(loaded, tmp_path, examples, train_config):
    import torch
    from transformers import AutoModelForCausalLM

    model, result = training.fine_tune(loaded, examples(20), train_config(), tmp_path / "model")
    assert result.steps == 6 and not result.stopped_early and result.dev_history == []
    assert not (tmp_path / "checkpoints").exists()  # removed after success (keep_checkpoints=false)
    tokens = result.tokens
    assert 0 < tokens["real"] <= tokens["total"] and 0 <= tokens["padding_fraction"] < 1
    assert tokens["real_per_second"] > 0
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "model")
    for (name, a), b in zip(model.state_dict().items(), reloaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_on_step_reports_every_step_with_the_latest_loss_and_learning_rate(
    load_tiny, tmp_path, examples, train_config
):
    from safetensors.torch import load_file

    calls = []
    cfg = train_config()  # 6 steps, a loss logged every step, linear decay from 3e-3, no warm-up
    _, result = training.fine_tune(
        load_tiny(), examples(20), cfg, tmp_path / "a", lambda *args, **fields: calls.append((args, fields))
    )
    assert [args for args, _ in calls] == [(step, 6) for step in range(1, 7)]
    rates = [fields["learning_rate"] for _, fields in calls]
    assert rates == pytest.approx([3e-3 * (6 - step) / 6 for step in range(1, 7)])
    # a step's loss is logged after its on_step: each call shows the step before's
    assert "loss" not in calls[0][1]
    assert [fields["loss"] for _, fields in calls[1:]] == [row["loss"] for row in result.loss_history[:-1]]

    # reporting changes nothing
    _, silent = training.fine_tune(load_tiny(), examples(20), cfg, tmp_path / "b")
    assert silent.loss_history == result.loss_history
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert all((a[k] == b[k]).all() for k in a)


def test_lora_output_reloads_with_peft_to_the_trained_model(
    loaded, tiny_model_dir, tmp_path, examples, train_config
):
    """The saved adapter, loaded by peft on a fresh base model, computes the trained model's
    logits (and not the base model's)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    cfg = train_config("lora", epochs=1)
    model, result = training.fine_tune(loaded, examples(16), cfg, tmp_path / "model")
    assert result.method == "lora"
    assert {"q_proj", "v_proj", "down_proj"} <= set(result.lora_modules)
    assert "lm_head" not in result.lora_modules
    assert json.loads((tmp_path / "model" / "adapter_config.json").read_text())["r"] == cfg.lora.r
    prompt = "### Instruction:\nRepeat.\n\n### Input:\nword word\n\n### Response:\n"
    ids = loaded.tokenizer(prompt, return_tensors="pt")["input_ids"]
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    with torch.no_grad():
        base_logits = base(input_ids=ids).logits  # before peft injects the adapter into it
        reloaded = PeftModel.from_pretrained(base, tmp_path / "model").eval()
        trained_logits = model.eval()(input_ids=ids).logits
        reloaded_logits = reloaded(input_ids=ids).logits
    torch.testing.assert_close(reloaded_logits, trained_logits)
    assert (trained_logits - base_logits).abs().max() > 1e-3  # the adapter changed the outputs


def test_nan_loss_stops_with_one_line_error_and_keeps_checkpoint(loaded, tmp_path, examples, train_config):
    import torch
    from transformers import TrainerCallback

    class Poison(TrainerCallback):
        def on_step_begin(self, args, state, control, model=None, **kwargs):
            if state.global_step == 2:  # after checkpoint-2 was saved
                with torch.no_grad():
                    next(model.parameters()).fill_(float("nan"))

    cfg = train_config(save_every=1, epochs=3)
    with pytest.raises(HarnessError) as info:
        training.fine_tune(loaded, examples(24), cfg, tmp_path / "model", callbacks=[Poison()])
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("training loss became nan at step 3;")
    assert "checkpoint-2" in message and "lower train.learning_rate" in message
    assert checkpoint_is_complete(tmp_path / "checkpoints" / "checkpoint-2")
    assert not (tmp_path / "model").exists()


def test_resume_from_a_finished_checkpoint_reloads_the_best(
    load_tiny, tmp_path, examples, train_config, dev_set, monkeypatch
):
    """Killed after training ended but before the model was saved: resume trains no further."""
    from safetensors.torch import load_file

    def scripted():
        values = iter([0.2, 0.5, 0.3, 0.1])
        return lambda *a, **k: {"t": next(values)}

    cfg = train_config(epochs=10, eval_every=2, patience=2, keep_checkpoints=True)
    monkeypatch.setattr(DEV_SCORES, scripted())
    first = load_tiny()
    _, result = training.fine_tune(first, examples(32), cfg, tmp_path / "model", dev=dev_set(100))
    saved = load_file(tmp_path / "model" / "model.safetensors")
    (tmp_path / "model" / "model.safetensors").unlink()
    monkeypatch.setattr(DEV_SCORES, lambda *a, **k: pytest.fail("no evaluation expected"))
    again = load_tiny()
    _, resumed = training.fine_tune(
        again, examples(32), cfg, tmp_path / "model", dev=dev_set(100), resume=True
    )
    assert resumed.resumed_from.endswith("checkpoint-8")
    assert (resumed.steps, resumed.best_step, resumed.dev_history) == (8, 4, result.dev_history)
    assert resumed.tokens["real"] == result.tokens["real"] and resumed.stopped_early
    reloaded = load_file(tmp_path / "model" / "model.safetensors")
    assert all((saved[k] == reloaded[k]).all() for k in saved)
