"""Which examples tuning fixed or broke, per task (rows as in samples.jsonl), and how spread a
model's predictions are (a model that gives one answer to every example is flagged)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from harness.evaluation.stats import is_binary


def flips(
    task_name: str, primary_metric: str, samples_rows: Sequence[Mapping[str, Any]], k: int = 5
) -> dict[str, Any] | None:
    """Which examples the tuning fixed or broke, for one task (rows as in ``samples.jsonl``).

    * 0/1 primary metric: ``{"ranked_by", "wrong_to_right": [ids], "right_to_wrong": [ids],
      "counts": {"wrong_to_right": n, "right_to_wrong": n}}``; the id lists hold at most
      ``k`` ids (in data order), the counts are complete.
    * continuous per-example primary metric: ``{"ranked_by", "largest_gains": [...],
      "largest_losses": [...]}``, at most ``k`` each, items ``{"id", "before", "after",
      "delta"}``; only strictly positive (negative) deltas; ties keep data order.
    * corpus-only primary metric (no per-example score, e.g. BLEU): as continuous, ranked by
      sentence-level chrF (``sacrebleu.sentence_chrf``), which ``ranked_by`` says.

    Every form also carries ``"predictions"``: :func:`prediction_spread` of the rows.

    ``None`` in eval mode (no ``prediction_after``) or when the task has no rows.
    """
    rows = [r for r in samples_rows if r.get("task") == task_name]
    if not rows or any("prediction_after" not in r for r in rows):
        return None
    ids = [r.get("id") for r in rows]
    has_scores = all(
        primary_metric in (r.get("scores_before") or {}) and primary_metric in (r.get("scores_after") or {})
        for r in rows
    )
    if has_scores:
        before = np.array([float(r["scores_before"][primary_metric]) for r in rows])
        after = np.array([float(r["scores_after"][primary_metric]) for r in rows])
        ranked_by = primary_metric
        if is_binary(before.tolist()) and is_binary(after.tolist()):
            fixed = [i for i, b, a in zip(ids, before, after, strict=True) if b == 0 and a == 1]
            broken = [i for i, b, a in zip(ids, before, after, strict=True) if b == 1 and a == 0]
            return {
                "ranked_by": ranked_by,
                "wrong_to_right": fixed[:k],
                "right_to_wrong": broken[:k],
                "counts": {"wrong_to_right": len(fixed), "right_to_wrong": len(broken)},
                "predictions": prediction_spread(rows),
            }
    else:
        from sacrebleu.metrics import CHRF

        chrf = CHRF()

        def sentence(prediction: Any, row: Mapping[str, Any]) -> float:
            refs = list(row.get("references") or [row.get("reference") or ""])
            return float(chrf.sentence_score(str(prediction or ""), refs).score)

        before = np.array([sentence(r.get("prediction_before"), r) for r in rows])
        after = np.array([sentence(r.get("prediction_after"), r) for r in rows])
        ranked_by = f"sentence-level chrF (sacrebleu); {primary_metric} has no per-example score"
    delta = after - before
    order = np.argsort(-delta, kind="stable")

    def item(i: int) -> dict[str, Any]:
        return {
            "id": ids[i],
            "before": round(float(before[i]), 6),
            "after": round(float(after[i]), 6),
            "delta": round(float(delta[i]), 6),
        }

    gains = [item(i) for i in order if delta[i] > 0][:k]
    losses = [item(i) for i in np.argsort(delta, kind="stable") if delta[i] < 0][:k]
    return {
        "ranked_by": ranked_by,
        "largest_gains": gains,
        "largest_losses": losses,
        "predictions": prediction_spread(rows),
    }


def prediction_spread(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict]:
    """The most common prediction (stripped) before and after tuning and reference of one task's
    rows, ``{"before"|"after"|"references": {"value", "share", "distinct"}}``: a one-label model."""
    from collections import Counter

    def top(key: str, fallback: str = "") -> dict:
        counts = Counter(str(r.get(key) or (r.get(fallback) or [""])[0] or "").strip() for r in rows)
        value, count = counts.most_common(1)[0]
        return {"value": value, "share": round(count / len(rows), 4), "distinct": len(counts)}

    return {
        "before": top("prediction_before"),
        "after": top("prediction_after"),
        "references": top("reference", "references"),
    }
