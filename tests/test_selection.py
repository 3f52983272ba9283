"""Checkpoint selection that noise cannot hijack: dev splits sized to carry signal, a selection
score weighted by each task's dev examples, early stopping with a noise margin, an earlier
checkpoint kept only when it beats the last beyond that margin, and a result that says when and
why training stopped and which weights were kept.

The runs on a tiny model evaluate on real dev splits (no scripted scores): a keyword task the
model learns in a few dozen steps ("... good" -> Positive), and a small task with random labels
whose dev score is pure noise."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from harness import training
from harness.evaluation.hf_backend import HFBackend
from harness.metrics import Metric
from harness.tasks import DataSource, Example, Task, splits
from harness.training.dev import (
    aggregate,
    dev_scores,
    kept_step,
    noise_margin,
    patience_exhausted,
    selection_score,
    weights,
)

DEV_SCORES = "harness.training.dev.dev_scores"  # what HarnessTrainer.evaluate calls, for scripted scores
WORDS = "red blue green black white cat dog bird fish tree road city river house".split()
TEMPLATE = "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"


def keyword_examples(n: int, seed: int = 0) -> list[Example]:
    """Filler words then "good" or "bad": Positive or Negative. Learnable in a few dozen steps."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = rng.choice(["Positive", "Negative"])
        filler = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 5)))
        word = "good" if label == "Positive" else "bad"
        rows.append(Example(f"kw-{i}", "Classify.", f"{filler} {word}", label))
    return rows


def noise_examples(n: int, seed: int = 1) -> list[Example]:
    """Three random words and a random Yes / No: nothing to learn, a dev score that is noise."""
    rng = random.Random(seed)
    return [
        Example(
            f"noise-{i}", "Guess.", " ".join(rng.choice(WORDS) for _ in range(3)), rng.choice(["Yes", "No"])
        )
        for i in range(n)
    ]


def copy_examples(n: int, seed: int = 2) -> list[Example]:
    """Three random words, to be repeated."""
    rng = random.Random(seed)
    texts = [" ".join(rng.choice(WORDS) for _ in range(3)) for _ in range(n)]
    return [Example(f"copy-{i}", "Repeat.", text, text) for i, text in enumerate(texts)]


COPY = Task("copy", "Repeat.", DataSource(Path("x")), metrics=("rougeL",), max_new_tokens=6)
KEYWORD = Task(
    "kw", "Classify.", DataSource(Path("x")), metrics=("accuracy",), choices=("Positive", "Negative")
)
NOISE = Task("noise", "Guess.", DataSource(Path("x")), metrics=("accuracy",), choices=("Yes", "No"))


@pytest.fixture(scope="module")
def metrics():
    from harness import plugins

    return {name: entry.item for name, entry in plugins.metrics(plugins.make_plugin_manager()).items()}


@pytest.fixture(scope="module")
def keyword_data():
    """The keyword task's train, dev (20, as dev_size_for carves it) and test examples."""
    data = keyword_examples(140)
    train, dev = splits.split_dev(data[:120], splits.dev_size_for(120, 20), seed=0)
    return train, dev, data[120:]


def accuracy(model, tokenizer, task: Task, examples, metrics) -> float:
    from harness.evaluation import predict

    predictions = predict(HFBackend(model, tokenizer), task, examples, TEMPLATE, 32).predictions
    return metrics["accuracy"].compute(predictions, [e.references for e in examples]).score


def dev_score_of(model, tokenizer, dev: training.DevSet, select_by: str = "mean") -> float:
    return aggregate(dev_scores(model, tokenizer, dev, TEMPLATE), dev, select_by)


class Sabotage:
    """A TrainerCallback that adds large noise to the trainable weights once, after ``step``: the
    dev score then falls for real, as after a divergence."""

    def __new__(cls, step: int):
        import torch
        from transformers import TrainerCallback

        class _Sabotage(TrainerCallback):
            def on_step_end(self, args, state, control, model=None, **kwargs):
                if state.global_step == step:
                    generator = torch.Generator().manual_seed(0)
                    with torch.no_grad():
                        for parameter in model.parameters():
                            if parameter.requires_grad:
                                parameter.add_(torch.randn(parameter.shape, generator=generator) * 2.0)

        return _Sabotage()


# --- dev split sizes and warnings -------------------------------------------------------------------


def test_a_small_task_gets_a_dev_split_that_can_carry_signal_and_a_warning():
    assert splits.dev_size_for(64, 20) == 16  # 10% gave 6: one example worth 16.7 points
    assert splits.dev_size_warning("big", 20, 300, 20) is None
    warning = splits.dev_size_warning("copy", 16, 64, 20)
    assert warning.startswith("task 'copy' has only 16 dev examples (a quarter of its 64 training examples)")
    assert "one example moves its dev score by 6.2 points of 100" in warning
    assert "weighs each task by its number of dev examples" in warning
    assert "(train.dev_size)" in splits.dev_size_warning("t", 10, 300, 10)
    assert "no part in checkpoint selection" in splits.dev_size_warning("tiny", 0, 3, 20)
    assert splits.dev_size_warning("t", 0, 300, 0) is None  # no dev split asked for


def test_prepare_warns_about_small_dev_splits(tmp_path, write_jsonl, write_plugin):
    from harness.config_loader import load_config
    from harness.workload import prepare

    rows = [{"input": e.input, "output": e.output} for e in noise_examples(64)]
    train, test = write_jsonl(tmp_path / "train.jsonl", rows), write_jsonl(tmp_path / "test.jsonl", rows[:8])
    plugin = write_plugin(tmp_path / "p.py", tasks=[{"name": "copy", "train": train, "test": test}])
    base = [f"plugins=[{str(plugin)!r}]", "tasks=['sentiment', 'copy']"]
    workload = prepare(load_config(None, base))
    assert {name: len(dev) for name, dev in workload.dev.items()} == {"sentiment": 20, "copy": 16}
    [warning] = workload.warnings
    assert warning.startswith("task 'copy' has only 16 dev examples")
    # a task that takes no part in selection is not warned about
    assert prepare(load_config(None, [*base, "train.select_by=sentiment"])).warnings == []


# --- the selection score and the noise margin -------------------------------------------------------


def test_the_selection_score_weighs_each_task_by_its_dev_examples(metrics):
    dev = training.DevSet([KEYWORD, NOISE], {"kw": [None] * 20, "noise": [None] * 5}, metrics)
    assert weights(dev, "mean") == {"kw": 0.8, "noise": 0.2}
    assert weights(dev, "noise") == {"noise": 1.0}
    # the noise task's lucky 4/5 moves the pooled score by what its 5 examples are worth
    assert aggregate({"kw": 0.5, "noise": 0.8}, dev, "mean") == pytest.approx((20 * 0.5 + 5 * 0.8) / 25)
    assert noise_margin(dev, "mean") == pytest.approx(1 / 25**0.5)
    assert noise_margin(dev, "kw") == pytest.approx(1 / 20**0.5)
    assert noise_margin(None, "mean") == 0.0


def test_a_lone_spike_counts_half_until_the_next_evaluation_confirms_it():
    assert selection_score(0.6, None) == 0.6
    assert selection_score(0.8, 0.4) == pytest.approx(0.6)  # a rise: half of it
    assert selection_score(0.8, 0.8) == 0.8  # confirmed
    assert selection_score(0.5, 0.9) == 0.5  # a fall: its own score, never its predecessor's


def test_an_earlier_checkpoint_is_kept_only_when_it_beats_the_last_beyond_noise():
    history = [(105, 0.50), (210, 0.58), (315, 0.55)]
    assert kept_step(history, 210, margin=0.13) == 315  # 0.03 above the last: noise, the last is kept
    assert kept_step(history, 210, margin=0.02) == 210  # beyond the margin: the best is kept
    assert kept_step(history, 315, margin=0.13) == 315  # the best is the last
    assert kept_step([(5, 0.75), (10, 0.5)], 5, margin=0.25) == 10  # exactly the margin is noise too
    assert kept_step([(5, 0.75), (10, 0.5)], None, margin=0.0) == 10  # no best known: the last
    assert kept_step([], None, margin=0.1) is None  # no evaluation, nothing chosen


# --- real dev evaluation on a tiny model ------------------------------------------------------------


def test_kept_weights_are_the_best_on_dev_with_a_real_evaluation(
    load_tiny, tmp_path, train_config, metrics, keyword_data
):
    """No scripted scores: the model learns the keyword task (dev accuracy 0.5 -> 1.0 at step 60),
    then a divergence (noise added to its weights at step 65) makes the dev score fall for real.
    The kept weights are those of the best evaluation and score exactly that on dev when evaluated
    again; training stops early, the fall being beyond the noise margin."""
    from safetensors.torch import load_file

    train, dev_examples, _ = keyword_data
    dev = training.DevSet([KEYWORD], {"kw": dev_examples}, metrics, batch_size=32)
    cfg = train_config(epochs=6, eval_every=5, patience=2, keep_checkpoints=True)  # 78 steps
    loaded = load_tiny()
    model, result = training.fine_tune(
        loaded, train, cfg, tmp_path / "model", dev=dev, callbacks=[Sabotage(65)]
    )

    history = [(row["step"], row["aggregate"]) for row in result.dev_history]
    best = max(score for _, score in history)
    assert history[0][1] == 0.5 and best == 1.0  # learned
    assert history[-1][1] < best - result.noise_margin  # then fell for real
    assert [step for step, _ in history if step >= 65] == [65, 70]  # two below the margin: stop
    assert (result.best_step, result.best_score) == (60, 1.0)
    assert result.stopped_early and result.steps == 70
    assert result.stop_reason.startswith("stopped early at step 70 of 78: the last 2 dev evaluations")
    assert result.kept.startswith("kept the checkpoint of step 60 (dev 1.0000): ")
    assert (result.last_step, result.last_score) == history[-1]
    # the kept weights are the best checkpoint's, and score its dev score again
    assert dev_score_of(model, loaded.tokenizer, dev) == best
    kept = load_file(tmp_path / "checkpoints" / "checkpoint-60" / "model.safetensors")
    saved = load_file(tmp_path / "model" / "model.safetensors")
    assert kept.keys() == saved.keys() and all((kept[k] == saved[k]).all() for k in kept)


def test_lora_keeps_the_last_adapter_when_the_dev_split_cannot_tell_a_fall_from_noise(
    load_tiny, tmp_path, train_config, metrics
):
    """LoRA, real evaluation (ROUGE-L of a copy task): the fall after the divergence (0.1 to 0 on
    20 examples) is within the noise margin (0.224), so training is not stopped early for it and
    the last adapter is kept (its dev score, evaluated again, is the last evaluation's): 20 dev
    examples cannot say that it is worse. A fall they can see is the next test."""
    from safetensors.torch import load_file

    train, dev_examples = splits.split_dev(copy_examples(100), 20, seed=0)
    dev = training.DevSet([COPY], {"copy": dev_examples}, metrics, batch_size=32)
    cfg = train_config("lora", epochs=6, eval_every=5, patience=2, learning_rate=3e-2, keep_checkpoints=True)
    loaded = load_tiny()
    model, result = training.fine_tune(
        loaded, train, cfg, tmp_path / "model", dev=dev, callbacks=[Sabotage(40)]
    )

    history = [(row["step"], row["aggregate"]) for row in result.dev_history]
    best = max(score for _, score in history)
    assert 0 < best - history[-1][1] <= result.noise_margin == pytest.approx(1 / 20**0.5)
    assert max(step for step, score in history if score == best) < 40 and history[-1] == (60, 0.0)
    assert (result.best_step, result.best_score) == (60, 0.0) and not result.stopped_early
    assert result.kept.startswith("kept the last checkpoint (step 60, dev 0.0000): the best, step ")
    assert result.kept.endswith("within the noise margin (0.2236)")
    assert dev_score_of(model, loaded.tokenizer, dev) == 0.0
    last = load_file(tmp_path / "checkpoints" / "checkpoint-60" / "adapter_model.safetensors")
    saved = load_file(tmp_path / "model" / "adapter_model.safetensors")
    assert last.keys() == saved.keys() and all((last[k] == saved[k]).all() for k in last)


def test_lora_keeps_the_best_adapter_after_a_fall_beyond_noise(
    load_tiny, tmp_path, examples, train_config, dev_set_of, monkeypatch
):
    """Scripted dev scores on 100 examples (margin 0.1): the fall from 0.9 to 0.3 is real, and
    the adapter of the best evaluation is the one saved."""
    from safetensors.torch import load_file

    scripted(monkeypatch, [{"t": s} for s in [0.2, 0.9, 0.9, 0.3]])
    cfg = train_config("lora", epochs=2, eval_every=2, patience=0, keep_checkpoints=True)  # 8 steps
    _, result = training.fine_tune(load_tiny(), examples(32), cfg, tmp_path / "model", dev=dev_set_of(100))
    assert (result.best_step, result.best_score, result.steps) == (6, 0.9, 8)
    best = load_file(tmp_path / "checkpoints" / "checkpoint-6" / "adapter_model.safetensors")
    last = load_file(tmp_path / "checkpoints" / "checkpoint-8" / "adapter_model.safetensors")
    saved = load_file(tmp_path / "model" / "adapter_model.safetensors")
    assert best.keys() == saved.keys() and all((best[k] == saved[k]).all() for k in best)
    assert any((last[k] != saved[k]).any() for k in last)  # and not the last one


def test_a_small_noisy_task_does_not_make_the_other_task_worse(load_tiny, tmp_path, train_config, metrics):
    """The issue's failure on a tiny model: a 64-example task whose dev score is noise (random
    labels) is added to a task the model learns, whose 60 dev examples stand for the built-in
    tasks' 3 x 20. The small task's lucky start (many of its 16 dev labels are the one the
    untrained model picks) must not stop training before the other task is learned: it weighs
    16 of 76 in the selection score and its swings stay within the noise margin, so the other
    task does as well, on dev and on test, as in the run without the small task.

    (Before: a 6-example dev split weighed half of a plain mean, and three evaluations below that
    lucky start stopped training, the other task still at chance.)"""
    train, dev_examples, test = (
        keyword_examples(100),
        keyword_examples(60, seed=5),
        keyword_examples(40, seed=6),
    )
    noise = noise_examples(64)
    noise_train, noise_dev = splits.split_dev(noise, splits.dev_size_for(len(noise), 20), seed=0)
    assert len(noise_dev) == 16
    cfg = train_config(epochs=6, eval_every=5, patience=3)

    def run(tasks, examples, folder):
        dev = training.DevSet(tasks, {"kw": dev_examples, "noise": noise_dev}, metrics, batch_size=32)
        loaded = load_tiny()
        model, result = training.fine_tune(loaded, examples, cfg, tmp_path / folder, dev=dev)
        kept = next(row for row in result.dev_history if row["step"] == result.best_step)
        return kept["kw"], accuracy(model, loaded.tokenizer, KEYWORD, test, metrics), result

    alone_dev, alone_test, alone = run([KEYWORD], train, "alone")
    mixed_dev, mixed_test, mixed = run([KEYWORD, NOISE], train + noise_train, "mixed")

    assert alone_dev >= 0.9 and alone_test >= 0.9  # the keyword task is learned without the small task
    kw_scores = [row["kw"] for row in mixed.dev_history]
    assert mixed_dev == max(kw_scores)  # kept where the keyword task is at its best on dev
    assert mixed_dev >= alone_dev and mixed_test >= alone_test  # as good as without the small task
    assert not mixed.stopped_early and mixed.stop_reason.startswith(f"ran all {mixed.max_steps} steps")
    assert mixed.dev_weights == {
        "kw": pytest.approx(60 / 76, abs=1e-4),
        "noise": pytest.approx(16 / 76, abs=1e-4),
    }
    # the old rules (a plain mean, patience without a margin) stop this very run after the 4th
    # evaluation, keeping the lucky first checkpoint with the keyword task at chance
    plain = [{"eval_dev_score": (row["kw"] + row["noise"]) / 2} for row in mixed.dev_history]
    assert patience_exhausted(plain[:4], 3) and max(kw_scores[:4]) < 0.5
    noisy = [row["noise"] for row in mixed.dev_history]
    assert noisy[0] - min(noisy) >= 0.25  # the small task's dev score did fall from a lucky start


# --- scripted dev scores: the rules themselves ------------------------------------------------------


def scripted(monkeypatch, rows):
    values = iter(rows)
    monkeypatch.setattr(DEV_SCORES, lambda *a, **k: next(values))


def two_tasks(examples, sizes=(30, 10)) -> training.DevSet:
    accuracy_metric = Metric("accuracy", lambda p, r: None)
    tasks = [Task(n, "Repeat.", DataSource(Path("x")), metrics=("accuracy",)) for n in ("a", "b")]
    data = {"a": examples(sizes[0], "a"), "b": examples(sizes[1], "b")}
    return training.DevSet(tasks, data, {"accuracy": accuracy_metric})


@pytest.mark.parametrize(
    "select_by, best_step",
    [("mean", 4), ("a", 2), ("b", 8), ("last", None)],
)
def test_select_by_variants(load_tiny, tmp_path, examples, train_config, monkeypatch, select_by, best_step):
    """Task a has 30 dev examples, b 10: the mean weighs a three times as much as b (a plain
    mean would keep step 6, where b is better and a worse). Each earlier step kept beats the last
    evaluation by more than the noise margin of the score it was chosen by."""
    a, b = [1.0, 0.9, 0.7, 0.3], [0.0, 0.7, 0.9, 0.9]
    scripted(monkeypatch, [{"a": x, "b": y} for x, y in zip(a, b, strict=True)])
    cfg = train_config(epochs=2, eval_every=2, patience=0, select_by=select_by)  # 8 steps, 4 evaluations
    _, result = training.fine_tune(load_tiny(), examples(32), cfg, tmp_path / "m", dev=two_tasks(examples))
    assert result.best_step == best_step and result.steps == 8
    pooled = [0.75 * x + 0.25 * y for x, y in zip(a, b, strict=True)]
    assert [row["aggregate"] for row in result.dev_history] == pytest.approx(
        pooled if select_by in ("mean", "last") else (a if select_by == "a" else b)
    )
    if select_by == "last":
        assert result.kept == "kept the last weights (step 8)" and result.noise_margin is None
        assert result.stop_reason == "ran all 8 steps (select_by = last: no early stopping)"


def test_steady_improvement_with_small_dips_is_not_stopped(
    load_tiny, tmp_path, examples, train_config, dev_set_of, monkeypatch
):
    """Dips within the noise margin (0.1 for 100 dev examples) are not "no improvement": the
    run goes on to the end and keeps the last, best checkpoint (patience 2 alone would have
    stopped after the 4th evaluation)."""
    scores = [0.30, 0.36, 0.34, 0.33, 0.42, 0.40, 0.41, 0.48]
    scripted(monkeypatch, [{"t": s} for s in scores])
    cfg = train_config(epochs=4, eval_every=2, patience=2)  # 16 steps, 8 evaluations
    _, result = training.fine_tune(load_tiny(), examples(32), cfg, tmp_path / "m", dev=dev_set_of(100))
    assert [row["t"] for row in result.dev_history] == scores
    assert not result.stopped_early and result.steps == 16
    assert (
        result.stop_reason
        == "ran all 16 steps (never 2 dev evaluations in a row more than 0.1000 below the best)"
    )
    assert (result.best_step, result.best_score) == (16, 0.48)
    assert result.kept == "kept the last checkpoint (step 16), the best on dev (0.4800)"
    assert result.warnings == []


def test_ties_go_to_the_newer_checkpoint(
    load_tiny, tmp_path, examples, train_config, dev_set_of, monkeypatch
):
    scripted(monkeypatch, [{"t": s} for s in [0.7, 0.7, 0.5, 0.4]])
    cfg = train_config(epochs=2, eval_every=2, patience=3)  # 8 steps, 4 evaluations
    _, result = training.fine_tune(load_tiny(), examples(32), cfg, tmp_path / "m", dev=dev_set_of(100))
    assert (result.best_step, result.best_score) == (4, 0.7)
    assert result.kept == (
        "kept the checkpoint of step 4 (dev 0.7000): 0.3000 above the last evaluation (step 8, 0.4000), "
        "more than the noise margin (0.1000)"
    )
    assert [row["selection"] for row in result.dev_history] == pytest.approx([0.7, 0.7, 0.5, 0.4])


def test_flat_scores_keep_the_last_checkpoint_and_warn(
    load_tiny, tmp_path, examples, train_config, dev_set_of, monkeypatch
):
    scripted(monkeypatch, [{"t": s} for s in [0.7, 0.7, 0.5, 0.6]])
    cfg = train_config(epochs=2, eval_every=2, patience=3)  # 8 steps, 4 evaluations
    _, result = training.fine_tune(load_tiny(), examples(32), cfg, tmp_path / "m", dev=dev_set_of(4))
    assert (result.best_step, result.best_score) == (8, 0.6)  # four dev examples: 0.7 is no better
    assert result.kept == (
        "kept the last checkpoint (step 8, dev 0.6000): the best, step 4 (dev 0.7000), is 0.1000 "
        "above it, within the noise margin (0.5000)"
    )
    [warning] = result.warnings  # four dev examples: 0.5 to 0.7 is within noise
    assert warning.startswith("all 4 dev evaluations lie within the noise margin (0.5000) of each other")


def test_the_last_checkpoint_is_kept_when_the_best_ranked_one_is_not_above_it(
    load_tiny, tmp_path, examples, train_config, dev_set_of, monkeypatch
):
    """The last evaluation's rise (0.3 to 0.61) counts only half in its selection score, so step 4
    ranks first; on dev it is not above the last, which is kept."""
    scripted(monkeypatch, [{"t": s} for s in [0.6, 0.6, 0.3, 0.61]])
    cfg = train_config(epochs=2, eval_every=2, patience=0)  # 8 steps, 4 evaluations
    _, result = training.fine_tune(load_tiny(), examples(32), cfg, tmp_path / "m", dev=dev_set_of(100))
    assert [row["selection"] for row in result.dev_history] == pytest.approx([0.6, 0.6, 0.3, 0.455])
    assert (result.best_step, result.best_score) == (8, 0.61)
    assert result.kept == (
        "kept the last checkpoint (step 8, dev 0.6100): the best, step 4 (dev 0.6000), is not above it"
    )


def test_a_small_tasks_lucky_evaluations_do_not_decide_the_kept_weights(
    load_tiny, tmp_path, examples, train_config, monkeypatch
):
    """Issue 21 item 4 in miniature: task a (60 dev examples, the built-in tasks' 3 x 20) still
    learns; a small task b (15 dev examples) has two lucky evaluations. They make step 6 the best
    on dev, 0.096 above the last evaluation: less than the noise margin (1 / sqrt(75) = 0.1155),
    so the last weights are kept, not thrown away for noise. The same run with b's last score far
    lower (beyond the margin) keeps step 6."""
    from safetensors.torch import load_file

    a = [0.3, 0.6, 0.62, 0.6]
    cfg = train_config(epochs=2, eval_every=2, patience=0, keep_checkpoints=True)  # 8 steps, 4 evaluations

    def run(b, folder):
        scripted(monkeypatch, [{"a": x, "b": y} for x, y in zip(a, b, strict=True)])
        dev = two_tasks(examples, sizes=(60, 15))
        _, result = training.fine_tune(load_tiny(), examples(32), cfg, tmp_path / folder / "model", dev=dev)
        saved = load_file(tmp_path / folder / "model" / "model.safetensors")
        kept = load_file(
            tmp_path / folder / "checkpoints" / f"checkpoint-{result.best_step}" / "model.safetensors"
        )
        assert all((saved[k] == kept[k]).all() for k in saved)  # the weights saved are the kept step's
        return result

    lucky = run([0.4, 0.9, 0.9, 0.5], "lucky")
    assert [row["aggregate"] for row in lucky.dev_history] == pytest.approx([0.32, 0.66, 0.676, 0.58])
    assert (lucky.best_step, lucky.best_score) == (8, pytest.approx(0.58))
    assert lucky.kept == (
        "kept the last checkpoint (step 8, dev 0.5800): the best, step 6 (dev 0.6760), is 0.0960 "
        "above it, within the noise margin (0.1155)"
    )
    fell = run([0.4, 0.9, 0.9, 0.1], "fell")
    assert (fell.best_step, fell.best_score) == (6, pytest.approx(0.676))
    assert fell.kept.startswith("kept the checkpoint of step 6 (dev 0.6760): 0.1760 above the last")


def test_a_noise_spike_does_not_stop_training_but_a_clear_fall_does(
    load_tiny, tmp_path, examples, train_config, dev_set_of, monkeypatch
):
    """The issue's failure with scripted scores: a spike then scores within noise of it go on; a
    fall clearly below the best (more than the 0.1 margin) for `patience` evaluations stops."""
    spike = [0.40, 0.55, 0.52, 0.51, 0.53, 0.56, 0.58, 0.60]
    scripted(monkeypatch, [{"t": s} for s in spike])
    cfg = train_config(epochs=4, eval_every=2, patience=3)
    _, result = training.fine_tune(load_tiny(), examples(32), cfg, tmp_path / "a", dev=dev_set_of(100))
    assert not result.stopped_early and result.best_step == 16

    fall = [0.40, 0.55, 0.42, 0.40, 0.38, 0.9, 0.9, 0.9]
    scripted(monkeypatch, [{"t": s} for s in fall])
    _, result = training.fine_tune(load_tiny(), examples(32), cfg, tmp_path / "b", dev=dev_set_of(100))
    assert result.stopped_early and result.steps == 10 and result.best_step == 4
    assert result.stop_reason == (
        "stopped early at step 10 of 16: the last 3 dev evaluations all scored more than the noise "
        "margin (0.1000) below the best"
    )


@pytest.fixture
def dev_set_of(examples):
    def make(n: int) -> training.DevSet:
        task = Task("t", "Repeat.", DataSource(Path("unused")), metrics=("accuracy",), max_new_tokens=3)
        return training.DevSet(
            [task], {"t": examples(n)}, {"accuracy": Metric("accuracy", lambda p, r: None)}
        )

    return make
