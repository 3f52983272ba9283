"""The built-in metrics: thin wrappers around the reference implementations.

No metric is reimplemented here; each one calls its reference library
(``rouge-score``, ``sacrebleu``, ``scikit-learn``) and only adapts the inputs.
The libraries are imported inside the compute functions, so that importing this
module (done by every CLI start) stays fast.

Every ``compute(predictions, references)`` takes one prediction per example and,
for each example, a non-empty sequence of acceptable references (multi-reference).

=============  ===========================================================================
Metric         Corpus score
=============  ===========================================================================
rouge1/2/L     mean over examples of the ROUGE F-measure (max over the references)
rougeLsum      same, summary-level LCS; sentences are the *lines* of the text
accuracy       fraction of examples whose stripped prediction equals the first reference
macro_f1       macro F1 over the reference labels (first reference of each example)
exact_match    fraction of examples whose stripped prediction equals any stripped reference
bleu           sacrebleu corpus BLEU, 0-100, default settings (13a, exp smoothing)
chrf           sacrebleu corpus chrF, 0-100, default settings (chrF2, char order 6)
=============  ===========================================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from harness.errors import HarnessError
from harness.hookspecs import hookimpl
from harness.metrics import sufficient_stats
from harness.metrics.metric import Metric, MetricResult

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def _check(name: str, predictions: Sequence[str], references: Sequence[Sequence[str]]) -> None:
    if len(predictions) != len(references):
        raise ValueError(
            f"metric {name}: {len(predictions)} predictions but {len(references)} reference lists"
        )
    if not predictions:
        raise HarnessError(f"metric {name}: no examples to score")
    for i, refs in enumerate(references):
        if isinstance(refs, str):
            raise TypeError(f"metric {name}: references[{i}] must be a sequence of strings, not a string")
        if len(refs) == 0:
            raise HarnessError(f"metric {name}: example {i} has no reference")


def _package(dist: str) -> str:
    from importlib.metadata import version

    return f"{dist} {version(dist)}"


# --- ROUGE (rouge-score) ---------------------------------------------------------------------


def _rouge(rouge_type: str, predictions: Sequence[str], references: Sequence[Sequence[str]]) -> MetricResult:
    """ROUGE F-measure per example via ``RougeScorer.score_multi`` (max over references).

    ``rougeLsum`` is rouge-score's summary-level LCS: rouge-score splits the texts into
    sentences on ``"\\n"``, so a multi-sentence summary must have one sentence per line.
    No sentence splitting is done here (a one-line text is one sentence, and then
    ``rougeLsum`` equals ``rougeL``).
    """
    _check(rouge_type, predictions, references)
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer([rouge_type], use_stemmer=True)
    per_example = [
        float(scorer.score_multi(list(refs), pred)[rouge_type].fmeasure)
        for pred, refs in zip(predictions, references, strict=True)
    ]
    return MetricResult(
        score=sum(per_example) / len(per_example),
        per_example=per_example,
        settings={
            "use_stemmer": True,
            "score": "fmeasure",
            "aggregate": "mean",
            "package": _package("rouge-score"),
        },
    )


# --- classification (scikit-learn) -----------------------------------------------------------


def _labels(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> tuple[list, list]:
    """Stripped gold labels (the first reference of each example) and stripped predictions."""
    return [refs[0].strip() for refs in references], [p.strip() for p in predictions]


def accuracy(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> MetricResult:
    """``sklearn.metrics.accuracy_score`` on stripped strings; the gold label is ``references[i][0]``."""
    _check("accuracy", predictions, references)
    from sklearn.metrics import accuracy_score

    y_true, y_pred = _labels(predictions, references)
    return MetricResult(
        score=float(accuracy_score(y_true, y_pred)),
        per_example=[1.0 if t == p else 0.0 for t, p in zip(y_true, y_pred, strict=True)],
        settings={"strip": True, "package": _package("scikit-learn")},
    )


def macro_f1(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> MetricResult:
    """``sklearn.metrics.f1_score(average="macro")`` over the labels seen in the references.

    ``labels`` is the sorted set of gold labels, so a prediction outside it (garbage
    output) counts as a miss for its true class but adds no class of its own to the
    average. Classes never predicted score 0 (``zero_division=0``).
    """
    _check("macro_f1", predictions, references)
    from sklearn.metrics import f1_score

    y_true, y_pred = _labels(predictions, references)
    labels = sorted(set(y_true))
    score = f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    return MetricResult(
        score=float(score),
        per_example=None,
        stats=_macro_f1_stats(y_true, y_pred, labels),
        settings={
            "strip": True,
            "labels": "reference labels",
            "zero_division": 0,
            "package": _package("scikit-learn"),
        },
    )


def _macro_f1_stats(y_true: list, y_pred: list, labels: list) -> list[list[float]]:
    """Per-example confusion counts over ``labels`` (K of them): ``[tp_1..K, true_1..K, pred_1..K]``.

    They add up over examples; :func:`harness.metrics.sufficient_stats.macro_f1_from_stats` turns their sums
    into the macro F1 that ``f1_score`` gives on the same examples (see tests/test_stats.py).
    """
    index = {label: k for k, label in enumerate(labels)}
    width = len(labels)
    rows = []
    for t, p in zip(y_true, y_pred, strict=True):
        row = [0.0] * (3 * width)
        row[width + index[t]] = 1.0
        if p in index:
            row[2 * width + index[p]] = 1.0
            if p == t:
                row[index[t]] = 1.0
        rows.append(row)
    return rows


def exact_match(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> MetricResult:
    """1.0 where the stripped prediction equals any stripped reference, else 0.0."""
    _check("exact_match", predictions, references)
    per_example = [
        1.0 if pred.strip() in {r.strip() for r in refs} else 0.0
        for pred, refs in zip(predictions, references, strict=True)
    ]
    return MetricResult(
        score=sum(per_example) / len(per_example), per_example=per_example, settings={"strip": True}
    )


# --- sacrebleu -------------------------------------------------------------------------------


def sacrebleu_streams(references: Sequence[Sequence[str]]) -> list[list[str | None]]:
    """Transpose per-example references into sacrebleu reference streams.

    ``streams[k][i]`` is the k-th reference of example i. Examples with fewer references
    than the most are padded with ``None``, which sacrebleu skips (its documented way of
    handling a variable number of references; the signature then says ``nrefs:var``).
    """
    width = max((len(refs) for refs in references), default=0)
    return [[refs[k] if k < len(refs) else None for refs in references] for k in range(width)]


def _sacrebleu(
    name: str, metric: Any, predictions: Sequence[str], references: Sequence[Sequence[str]]
) -> MetricResult:
    _check(name, predictions, references)
    streams = sacrebleu_streams(references)
    result = metric.corpus_score(list(predictions), streams)
    # Per-sentence sufficient statistics, extracted the way sacrebleu's own significance tests
    # do; they add up to the corpus statistics behind ``result``.
    stats = [[float(v) for v in row] for row in metric._extract_corpus_statistics(list(predictions), streams)]
    # The signature is read after scoring: that is when sacrebleu records nrefs.
    return MetricResult(
        score=float(result.score),
        per_example=None,
        settings={"signature": str(metric.get_signature())},
        stats=stats,
    )


def bleu(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> MetricResult:
    """sacrebleu corpus BLEU (0-100) with default settings; ``per_example`` is None."""
    from sacrebleu.metrics import BLEU

    return _sacrebleu("bleu", BLEU(), predictions, references)


def chrf(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> MetricResult:
    """sacrebleu corpus chrF (0-100) with default settings; ``per_example`` is None."""
    from sacrebleu.metrics import CHRF

    return _sacrebleu("chrf", CHRF(), predictions, references)


# --- registration ----------------------------------------------------------------------------

_ROUGE_DESCRIPTIONS = {
    "rouge1": "ROUGE-1 F-measure (unigrams), Porter stemmer, mean over examples (rouge-score)",
    "rouge2": "ROUGE-2 F-measure (bigrams), Porter stemmer, mean over examples (rouge-score)",
    "rougeL": "ROUGE-L F-measure (longest common subsequence), mean over examples (rouge-score)",
    "rougeLsum": "ROUGE-Lsum F-measure (summary-level LCS, one sentence per line), mean (rouge-score)",
}


def builtin_metrics() -> list[Metric]:
    """The built-in metrics, in a stable order."""
    rouge = [
        Metric(name, compute=partial(_rouge, name), description=_ROUGE_DESCRIPTIONS[name])
        for name in ROUGE_TYPES
    ]
    return [
        *rouge,
        Metric(
            "bleu",
            compute=bleu,
            description="Corpus BLEU, 0-100, sacrebleu defaults (13a, exp)",
            from_stats=sufficient_stats.bleu_from_stats,
            scale=100.0,
        ),
        Metric(
            "chrf",
            compute=chrf,
            description="Corpus chrF, 0-100, sacrebleu defaults (chrF2)",
            from_stats=sufficient_stats.chrf_from_stats,
            scale=100.0,
        ),
        Metric(
            "accuracy",
            compute=accuracy,
            description="Fraction of exact label matches (stripped)",
            binary=True,
        ),
        Metric(
            "macro_f1",
            compute=macro_f1,
            description="Macro-averaged F1 over the reference labels",
            from_stats=sufficient_stats.macro_f1_from_stats,
        ),
        Metric(
            "exact_match",
            compute=exact_match,
            description="Fraction of predictions equal to any reference (stripped)",
            binary=True,
        ),
    ]


@hookimpl
def harness_metrics() -> list[Metric]:
    """Contribute the built-in metrics."""
    return builtin_metrics()
