"""The per-sample browser of report.html: every test example of every task, as JSON the page's
small inline script (``harness/templates/browser.js``) filters (task, flips, text) and sorts
(per-example delta). The data is embedded so that it can never close its ``<script>`` element,
and the page's Content-Security-Policy allows exactly this script (by hash) and no fetch at all.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from importlib import resources
from typing import Any

from harness.reports.details import shown_input

TEXT_LIMIT = 1000  # characters of one field shown; samples.jsonl has the full text


def _clip(text: Any) -> str | None:
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


def _score(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return round(float(value), 6) if ok else None


def _binary(values: list[float | None]) -> bool:
    return all(v in (0.0, 1.0) for v in values if v is not None)


def browser_data(results: dict, samples: list[dict]) -> dict:
    """``{"run": bool, "tasks": [{"name", "metric", "hib", "binary", "by"}], "rows": [[task index,
    id, input, reference, before, after, score before, score after], ...]}``. The per-example
    score is the primary metric's; for a metric without one (BLEU) it is sentence-level chrF,
    which the task's ``by`` says."""
    is_run = results.get("mode") == "run"
    with_rows = {s.get("task") for s in samples}  # not the forgetting probe: no rows to browse
    names = [name for name in results.get("tasks") or {} if name in with_rows]
    index = {name: i for i, name in enumerate(names)}
    by_task: dict[str, list[dict]] = {name: [] for name in names}
    for s in samples:
        if s.get("task") in by_task:
            by_task[s["task"]].append(s)
    tasks, rows = [], []
    for name in names:
        task, items = results["tasks"][name], by_task[name]
        metric = task.get("primary_metric")
        entry = (task.get("metrics") or {}).get(metric) or {}
        before = [_score((s.get("scores_before") or {}).get(metric)) for s in items]
        after = (
            [_score((s.get("scores_after") or {}).get(metric)) for s in items]
            if is_run
            else [None] * len(items)
        )
        by = str(metric)
        if items and all(v is None for v in before):
            before, after, by = _chrf(items, is_run), _chrf(items, is_run, "after"), "sentence chrF"
        tasks.append(
            {
                "name": str(name),
                "metric": str(metric),
                "hib": bool(entry.get("higher_is_better", True)) or by == "sentence chrF",
                "binary": _binary(before + after),
                "by": by,
            }
        )
        for s, b, a in zip(items, before, after, strict=True):
            rows.append(
                [
                    index[name],
                    str(s.get("id", "")),
                    _clip(shown_input(s, task)),
                    _clip(s.get("reference")),
                    _clip(s.get("prediction_before")),
                    _clip(s.get("prediction_after")) if is_run else None,
                    b,
                    a,
                ]
            )
    return {"run": is_run, "tasks": tasks, "rows": rows}


def _chrf(items: list[dict], is_run: bool, phase: str = "before") -> list[float | None]:
    """Sentence-level chrF of each prediction (as :func:`harness.evaluation.flips.flips` ranks
    tasks whose primary metric has no per-example score)."""
    if phase == "after" and not is_run:
        return [None] * len(items)
    from sacrebleu.metrics import CHRF

    chrf = CHRF()
    return [
        round(
            chrf.sentence_score(
                str(s.get(f"prediction_{phase}") or ""),
                list(s.get("references") or [s.get("reference") or ""]),
            ).score,
            4,
        )
        for s in items
    ]


def embed_json(data: Any) -> str:
    """JSON for a ``<script type="application/json">`` element: ``<``, ``>`` and ``&`` written as
    ``\\u`` escapes, so that no data can end the element or open a comment."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def script() -> str:
    """The browser's script (``harness/templates/browser.js``)."""
    return resources.files("harness").joinpath("templates/browser.js").read_text(encoding="utf-8")


def csp(scripts: list[str]) -> str:
    """A Content-Security-Policy that forbids every fetch and allows only ``scripts`` (by hash)
    and the page's inline styles."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode('utf-8')).digest()).decode()}'" for s in scripts
    )
    return (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src {hashes}; base-uri 'none'; form-action 'none'"
    )
