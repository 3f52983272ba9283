"""One real ``harness run`` on a tiny config: the report files exist and their numbers are right.

The model is the suite's small random Llama (``tiny_model_dir``), fully fine-tuned for a couple
of epochs on the three built-in tasks, evaluated on 12 test examples each. Every number in
results.json is checked against a direct call of the reference library on the predictions in
samples.jsonl, and the saved model against the "after" predictions.
"""

from __future__ import annotations

import json

import pytest
import sacrebleu
from rouge_score import rouge_scorer
from sklearn.metrics import accuracy_score, f1_score

from harness.cli import main

LIMIT = 12


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("e2e")
    code = main(
        [
            "run", "-q", "--model", str(tiny_model_dir),
            "-o", str(root / "reports"),
            "--set", "method='full'",
            "--set", "threads=1",  # a second thread on a busy 2-core machine costs several times over
            "--set", f"models_dir='{root / 'runs'}'",
            "--set", f"eval.limit={LIMIT}",
            "--set", "train.epochs=2",
            "--set", "train.batch_size=16",
        ]
    )  # fmt: skip
    assert code == 0
    (run_dir,) = [p for p in (root / "reports").iterdir() if p.is_dir()]
    assert {"index.md", "index.html"} <= {p.name for p in (root / "reports").iterdir()}  # run history
    results = json.loads((run_dir / "results.json").read_text())
    samples = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    return run_dir, results, samples


def rows(samples, task):
    return [row for row in samples if row["task"] == task]


def test_writes_every_report_file(finished_run):
    run_dir, results, samples = finished_run
    assert {p.name for p in run_dir.iterdir()} == {
        "charts",
        "report.html",
        "report.md",
        "results.json",
        "samples.jsonl",
    }
    assert results["run_id"] == run_dir.name
    assert results["mode"] == "run"
    assert set(results["tasks"]) == {"summarization", "sentiment", "translation"}
    assert len(samples) == 3 * LIMIT
    for task in results["tasks"]:  # the limit is said, not only applied
        line = f"task {task!r}: evaluated on the first {LIMIT} of its 100 test examples (eval.limit)"
        assert line in results["warnings"]
    assert "evaluated on the first 12 of its 100 test examples" in (run_dir / "report.md").read_text()
    for row in samples:
        assert {"prompt", "reference", "prediction_before", "prediction_after"} <= set(row)


def test_accuracy_and_f1_match_scikit_learn(finished_run):
    _, results, samples = finished_run
    sentiment = rows(samples, "sentiment")
    references = [row["reference"] for row in sentiment]
    metrics = results["tasks"]["sentiment"]["metrics"]
    for phase in ("before", "after"):
        predictions = [row[f"prediction_{phase}"] for row in sentiment]
        assert metrics["accuracy"][phase] == pytest.approx(accuracy_score(references, predictions), abs=1e-12)
        expected_f1 = f1_score(
            references, predictions, average="macro", labels=sorted(set(references)), zero_division=0
        )
        assert metrics["macro_f1"][phase] == pytest.approx(expected_f1, abs=1e-12)
    assert metrics["accuracy"]["delta"] == pytest.approx(
        metrics["accuracy"]["after"] - metrics["accuracy"]["before"]
    )


def test_bleu_and_chrf_match_sacrebleu(finished_run):
    _, results, samples = finished_run
    translation = rows(samples, "translation")
    references = [[row["reference"] for row in translation]]
    metrics = results["tasks"]["translation"]["metrics"]
    for phase in ("before", "after"):
        predictions = [row[f"prediction_{phase}"] for row in translation]
        assert metrics["bleu"][phase] == pytest.approx(
            sacrebleu.corpus_bleu(predictions, references).score, abs=1e-9
        )
        assert metrics["chrf"][phase] == pytest.approx(
            sacrebleu.corpus_chrf(predictions, references).score, abs=1e-9
        )
    assert "tok:13a" in metrics["bleu"]["settings"]["signature"]


def test_rouge_matches_rouge_score(finished_run):
    _, results, samples = finished_run
    summaries = rows(samples, "summarization")
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    metrics = results["tasks"]["summarization"]["metrics"]
    for phase in ("before", "after"):
        scores = [
            scorer.score(row["reference"], row[f"prediction_{phase}"])["rougeL"].fmeasure for row in summaries
        ]
        assert metrics["rougeL"][phase] == pytest.approx(sum(scores) / len(scores), abs=1e-12)
        assert [row[f"scores_{phase}"]["rougeL"] for row in summaries] == pytest.approx(scores, abs=1e-12)


def test_markdown_report_shows_the_numbers(finished_run):
    run_dir, results, _ = finished_run
    markdown = (run_dir / "report.md").read_text()
    accuracy = results["tasks"]["sentiment"]["metrics"]["accuracy"]
    assert f"{accuracy['before']:.4f}" in markdown and f"{accuracy['after']:.4f}" in markdown
    html = (run_dir / "report.html").read_text()
    assert results["run_id"] in html and "translation" in html


def test_training_lowered_the_loss_and_saved_a_loadable_model(finished_run):
    _, results, samples = finished_run
    training = results["training"]
    assert training["method"] == "full" and training["steps"] > 0
    history = [point["loss"] for point in training["loss_history"]]
    assert history and history[-1] < history[0]

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.evaluation import best_choice, choice_logprobs, generate

    model_dir = results["model"]["output_dir"]
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    # The saved weights are the ones that were evaluated: sentiment (it has choices) by the
    # log-likelihood of each choice, translation by greedy generation.
    sentiment = rows(samples, "sentiment")[:4]
    task = results["tasks"]["sentiment"]
    assert task["scoring"] == "loglik" and task["choices"] == ["Positive", "Negative"]
    scored = choice_logprobs(model, tokenizer, [row["prompt"] for row in sentiment], task["choices"])
    for row, got in zip(sentiment, scored, strict=True):
        assert got == pytest.approx(row["choice_logprobs_after"], abs=1e-4)
        assert row["prediction_after"] == best_choice(row["choice_logprobs_after"])
    translation = rows(samples, "translation")[:4]
    task = results["tasks"]["translation"]
    assert task["scoring"] == "generate"
    predictions = generate(
        model, tokenizer, [row["prompt"] for row in translation], task["max_new_tokens"], task["stop"]
    )
    assert predictions == [row["prediction_after"] for row in translation]
