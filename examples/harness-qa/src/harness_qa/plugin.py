"""The plugin module that pyproject.toml's ``[project.entry-points.harness]`` names.

It adds one task, ``qa_capitals`` (short factual answers, several accepted spellings per
question), and two metrics that normalise answers before comparing them, the way SQuAD does:
``qa_exact`` (0/1 per example, so a before/after comparison uses McNemar's exact test) and
``qa_f1`` (token overlap, a mean of per-example scores, compared by paired bootstrap).
"""

import re
import string
from pathlib import Path

import harness
from harness import DataSource, Metric, MetricResult, Task
from harness_qa import __version__

DATA = Path(__file__).resolve().parent / "data"
ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalise(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces: 'The  Paris!' -> 'paris'."""
    text = "".join(ch for ch in text.lower() if ch not in string.punctuation)
    return " ".join(ARTICLES.sub(" ", text).split())


def qa_exact(predictions, references) -> MetricResult:
    """1.0 where the normalised prediction equals any normalised reference, else 0.0.

    ``references[i]`` is a *tuple*: every accepted answer of example ``i``.
    """
    per_example = [
        float(any(normalise(p) == normalise(r) for r in refs))
        for p, refs in zip(predictions, references, strict=True)
    ]
    return MetricResult(
        score=sum(per_example) / len(per_example),
        per_example=per_example,
        settings={"normalise": "lower case, punctuation, articles, whitespace", "version": __version__},
    )


def _f1(prediction: str, reference: str) -> float:
    ours, theirs = normalise(prediction).split(), normalise(reference).split()
    common = sum(min(ours.count(t), theirs.count(t)) for t in set(ours))
    if not ours or not theirs or not common:
        return float(ours == theirs)
    precision, recall = common / len(ours), common / len(theirs)
    return 2 * precision * recall / (precision + recall)


def qa_f1(predictions, references) -> MetricResult:
    """Token F1 against the best-matching reference, per example; the score is their mean."""
    per_example = [max(_f1(p, r) for r in refs) for p, refs in zip(predictions, references, strict=True)]
    return MetricResult(score=sum(per_example) / len(per_example), per_example=per_example)


@harness.hookimpl
def harness_metrics():
    return [
        Metric(
            "qa_exact",
            compute=qa_exact,
            higher_is_better=True,
            scale=1.0,  # scores in [0, 1]
            binary=True,  # per-example scores are 0/1: McNemar's exact test, not the bootstrap
            description="exact match after SQuAD-style normalisation, any accepted answer",
        ),
        Metric("qa_f1", compute=qa_f1, description="token F1 after normalisation, best accepted answer"),
    ]


SPLIT = {"input": "question", "output": "answer", "references": "accepted"}  # the files' columns


@harness.hookimpl
def harness_tasks():
    return [
        Task(
            name="qa_capitals",
            description="Name the capital city of a country (several accepted answers).",
            instruction="Answer the question with the name of a city.",
            train=DataSource(DATA / "train.jsonl", fields=SPLIT),
            test=DataSource(DATA / "test.jsonl", fields=SPLIT),
            metrics=("qa_exact", "qa_f1"),
            max_new_tokens=12,
            version="1",
        )
    ]
