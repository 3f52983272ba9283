"""Corpus scores from summed per-example sufficient statistics, vectorised over resamples.

A metric whose corpus score is not the mean of per-example scores (BLEU, chrF, macro F1) returns
per-example statistics that add up over examples (``MetricResult.stats``) and names one of these
formulas as its ``Metric.from_stats``, so :mod:`harness.evaluation.stats` can score thousands of
bootstrap resamples with one matrix product each. Each is checked against its library's own
formula in tests/test_stats.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _rows(sums: Any) -> np.ndarray:
    return np.atleast_2d(np.asarray(sums, dtype=np.float64))


def bleu_from_stats(sums: Any, max_ngram_order: int = 4) -> np.ndarray:
    """Corpus BLEU per row of summed sacrebleu BLEU statistics, for sacrebleu's defaults.

    Row layout (sacrebleu's): ``[sys_len, ref_len, correct_1..N, total_1..N]``. The formula
    is ``sacrebleu.BLEU.compute_bleu`` with ``smooth_method="exp"`` and
    ``effective_order=False``, re-expressed in numpy; tests/test_stats.py checks it against
    ``BLEU()._compute_score_from_stats`` on random resamples (to 1e-9).
    """
    s = _rows(sums)
    order = max_ngram_order
    sys_len, ref_len = s[:, 0], s[:, 1]
    correct, total = s[:, 2 : 2 + order], s[:, 2 + order : 2 + 2 * order]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        bp = np.where(sys_len >= ref_len, 1.0, np.where(sys_len > 0, np.exp(1.0 - ref_len / sys_len), 0.0))
        # "exp" smoothing (mteval-v13a): the k-th order with no match gets 100 / (2^k * total).
        halvings = np.cumsum(correct == 0, axis=1)
        safe_total = np.where(total > 0, total, 1.0)
        precisions = np.where(correct > 0, 100.0 * correct / safe_total, 100.0 / (2.0**halvings * safe_total))
        logs = np.log(precisions)
        log_sum = logs[:, 0]
        for k in range(1, order):  # left to right, as sacrebleu's sum()
            log_sum = log_sum + logs[:, k]
        score = bp * np.exp(log_sum / order)
    # No match at all, or an order with no n-grams (sacrebleu stops and its precision stays 0).
    valid = (correct > 0).any(axis=1) & (total > 0).all(axis=1)
    return np.where(valid, score, 0.0)


def chrf_from_stats(sums: Any, beta: float = 2.0) -> np.ndarray:
    """Corpus chrF per row of summed sacrebleu chrF statistics, for sacrebleu's defaults.

    Row layout (sacrebleu's): ``[hyp, ref, match]`` per n-gram order. The formula is
    ``sacrebleu.CHRF._compute_f_score`` with ``eps_smoothing=False`` (the default),
    re-expressed in numpy and checked against ``CHRF()._compute_score_from_stats``.
    """
    s = _rows(sums)
    hyp, ref, match = s[:, 0::3], s[:, 1::3], s[:, 2::3]
    effective = (hyp > 0) & (ref > 0)
    n_effective = effective.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        prec = np.where(effective, match / np.where(hyp > 0, hyp, 1.0), 0.0)
        rec = np.where(effective, match / np.where(ref > 0, ref, 1.0), 0.0)
        avg_prec, avg_rec = prec[:, 0], rec[:, 0]
        for k in range(1, s.shape[1] // 3):  # left to right, as sacrebleu's +=
            avg_prec, avg_rec = avg_prec + prec[:, k], avg_rec + rec[:, k]
        avg_prec = avg_prec / np.maximum(n_effective, 1)
        avg_rec = avg_rec / np.maximum(n_effective, 1)
        factor = beta**2
        score = (1 + factor) * avg_prec * avg_rec
        score = 100 * (score / (factor * avg_prec + avg_rec))
    return np.where((n_effective > 0) & (avg_prec + avg_rec > 0), score, 0.0)


def macro_f1_from_stats(sums: Any) -> np.ndarray:
    """Macro F1 per row of summed ``[tp_1..K, true_1..K, pred_1..K]`` counts.

    As ``sklearn.metrics.f1_score(average="macro", zero_division=0)`` with ``labels`` = the
    gold labels present in the (re)sample: classes with no gold example are left out.
    """
    s = _rows(sums)
    k = s.shape[1] // 3
    tp, true, pred = s[:, :k], s[:, k : 2 * k], s[:, 2 * k :]
    denominator = true + pred
    f1 = np.where(denominator > 0, 2.0 * tp / np.where(denominator > 0, denominator, 1.0), 0.0)
    present = true > 0
    n_present = present.sum(axis=1)
    return np.where(n_present > 0, (f1 * present).sum(axis=1) / np.maximum(n_present, 1), 0.0)
