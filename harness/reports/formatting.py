"""How the reports write numbers: metric values on their scale, signed deltas with intervals,
p-values, metadata values. Shared by the report view (:mod:`harness.reports.view`) and the
verdicts' view (:mod:`harness.reports.verdict_view`)."""

from __future__ import annotations

import json
import math
from typing import Any

DASH = "—"


# ---------------------------------------------------------------------------------------------- formatting


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def fmt_num(x: Any, scale: float | None = None) -> str:
    """A metric value: 2 decimals on a 0-100 scale (BLEU, chrF), else 4 (accuracy, F1…). Without
    ``scale``, 4 decimals when |x| <= 1.5, else 2."""
    if x is None:
        return DASH
    if not _is_num(x):
        return str(x)
    if math.isnan(x) or math.isinf(x):
        return str(x)
    wide = abs(x) > 1.5 if scale is None else scale > 1.5
    return f"{x:.2f}" if wide else f"{x:.4f}"


def fmt_delta(x: Any, scale: float | None = None) -> str:
    """A delta with an explicit sign (``+0.4300``, ``-1.25``)."""
    if not _is_num(x):
        return fmt_num(x)
    s = fmt_num(x, scale)
    return s if s.startswith("-") or not math.isfinite(x) else "+" + s


def fmt_ci(value: Any, ci: Any, scale: float | None = None) -> str:
    """``0.8100 [0.7400, 0.8800]``; just the value when ``ci`` is absent or malformed."""
    if _is_ci(ci) and value is not None:
        return f"{fmt_num(value, scale)} [{fmt_num(ci[0], scale)}, {fmt_num(ci[1], scale)}]"
    return fmt_num(value, scale)


def fmt_delta_ci(delta: Any, ci: Any, scale: float | None = None) -> str:
    """``+0.0550 [-0.0150, +0.1250]``: a delta and its confidence interval, signed; just the
    delta when ``ci`` is absent or malformed."""
    if _is_ci(ci) and delta is not None:
        return f"{fmt_delta(delta, scale)} [{fmt_delta(ci[0], scale)}, {fmt_delta(ci[1], scale)}]"
    return fmt_delta(delta, scale)


def _is_ci(ci: Any) -> bool:
    return isinstance(ci, (list, tuple)) and len(ci) == 2 and all(_is_num(x) for x in ci)


def fmt_p(p: Any) -> str:
    """A p-value: 4 decimals, ``<0.0001`` below that."""
    if not _is_num(p):
        return DASH if p is None else str(p)
    return "<0.0001" if p < 0.0001 else f"{p:.4f}"


def _fmt_value(x: Any) -> str:
    """A metadata value: compact floats, ints with thousands separators, lists/dicts as JSON."""
    if x is None:
        return DASH
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return f"{x:,}" if abs(x) >= 10_000 else str(x)
    if isinstance(x, float):
        return f"{x:.6g}"
    if isinstance(x, (list, tuple)) and not x:
        return "(none)"
    if isinstance(x, (list, tuple)) and all(isinstance(v, str) and v.isprintable() and v.strip() for v in x):
        return ", ".join(x)
    if isinstance(x, (list, tuple, dict)):
        return json.dumps(x, ensure_ascii=False)
    return str(x)


PAGE_STYLE = (
    "body{font:14px system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}"
    "td,th{border:1px solid #d0d7de;padding:.3em .6em;text-align:left}"
)


def standalone_page(title: str, body: str, style: str = "") -> str:
    """A self-contained HTML page (a seed set's, a run's checkpoints'): ``title`` as text (escaped
    here), ``body`` as HTML its caller escaped, nothing loaded from elsewhere (a CSP that allows
    inline styles only)."""
    from html import escape

    policy = "default-src 'none'; style-src 'unsafe-inline'"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        f"<title>{escape(title)}</title><style>{PAGE_STYLE}{style}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>\n"
    )
