"""Render a run's ``results.json`` + ``samples.jsonl`` as Markdown, HTML and a rich table.

Both renderers work from the same view model (:func:`_view`), so they show the same content.
Nothing here imports torch: reports can be re-rendered from a run directory alone.
"""

from __future__ import annotations

import html
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader

from harness.errors import HarnessError

DASH = "—"
RESULTS_FILE, SAMPLES_FILE, MD_FILE, HTML_FILE = "results.json", "samples.jsonl", "report.md", "report.html"


# ---------------------------------------------------------------------------------------------- formatting


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def fmt_num(x: Any) -> str:
    """A metric value: 4 decimals when |x| <= 1.5 (accuracy, F1…), else 2 (BLEU, chrF…)."""
    if x is None:
        return DASH
    if not _is_num(x):
        return str(x)
    if math.isnan(x) or math.isinf(x):
        return str(x)
    return f"{x:.4f}" if abs(x) <= 1.5 else f"{x:.2f}"


def fmt_delta(x: Any) -> str:
    """A delta with an explicit sign (``+0.4300``, ``-1.25``)."""
    if not _is_num(x):
        return fmt_num(x)
    s = fmt_num(x)
    return s if s.startswith("-") or not math.isfinite(x) else "+" + s


def fmt_ci(value: Any, ci: Any) -> str:
    """``0.8100 [0.7400, 0.8800]``; just the value when ``ci`` is absent or malformed."""
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and value is not None:
        return f"{fmt_num(value)} [{fmt_num(ci[0])}, {fmt_num(ci[1])}]"
    return fmt_num(value)


def fmt_p(p: Any) -> str:
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


def _verdict(before: Any, after: Any, delta: Any, higher_is_better: bool) -> str | None:
    """``improved`` / ``worse`` / ``unchanged`` (None without a before/after pair)."""
    if not _is_num(delta):
        delta = after - before if _is_num(before) and _is_num(after) else None
    if delta is None or not math.isfinite(delta):
        return None
    if abs(delta) < 1e-12:
        return "unchanged"
    return "improved" if (delta > 0) == bool(higher_is_better) else "worse"


def _arrow(delta: Any) -> str:
    if not _is_num(delta) or not math.isfinite(delta) or abs(delta) < 1e-12:
        return "="
    return "↑" if delta > 0 else "↓"


def _flatten(d: Any, prefix: str = "") -> list[tuple[str, str]]:
    if not isinstance(d, dict):
        return [(prefix or "value", _fmt_value(d))]
    rows: list[tuple[str, str]] = []
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            rows.extend(_flatten(v, key))
        else:
            rows.append((key, _fmt_value(v)))
    return rows


def _prompt_input(prompt: str, template: str | None) -> str:
    """The ``{input}`` part of a rendered prompt, found via the prompt template; else the whole prompt."""
    if template and "{input}" in template:
        before, _, after = template.partition("{input}")
        start_marker = before.rsplit("}", 1)[-1]
        end_marker = after.split("{", 1)[0]
        i = prompt.find(start_marker) if start_marker.strip() else -1
        if i >= 0:
            start = i + len(start_marker)
            j = prompt.find(end_marker, start) if end_marker.strip() else -1
            return prompt[start : j if j >= 0 else len(prompt)]
    if "### Input:" in prompt:
        text = prompt.split("### Input:", 1)[1]
        return text.split("### Response:", 1)[0].strip()
    return prompt


def _truncate(s: Any, limit: int = 400) -> str:
    s = "" if s is None else str(s)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _matches(pred: Any, refs: list[str]) -> bool:
    return isinstance(pred, str) and pred.strip() != "" and pred.strip() in {r.strip() for r in refs}


# ---------------------------------------------------------------------------------------------- view model


def _metric_rows(task: dict) -> list[dict]:
    rows = []
    for name, m in task["metrics"].items():
        m = m or {}
        before, after = m.get("before"), m.get("after")
        delta = m.get("delta")
        if delta is None and _is_num(before) and _is_num(after):
            delta = after - before
        hib = m.get("higher_is_better", True)
        rows.append(
            {
                "name": name,
                "primary": name == task.get("primary_metric"),
                "higher_is_better": hib,
                "before": fmt_ci(before, m.get("before_ci")),
                "after": fmt_ci(after, m.get("after_ci")),
                "delta": fmt_delta(delta),
                "verdict": _verdict(before, after, delta, hib),
                "arrow": _arrow(delta),
                "p_value": fmt_p(m["p_value"]) if "p_value" in m else None,
                "significant": m.get("significant"),
                "settings": _flatten(m["settings"]) if m.get("settings") else [],
            }
        )
    return rows


def _loss_chart(history: list[dict], width: int = 720, height: int = 240) -> dict | None:
    """Geometry for an inline SVG loss curve (numbers only, so it is safe under autoescape)."""
    pts = [(h.get("step"), h.get("loss")) for h in history or [] if isinstance(h, dict)]
    pts = [(float(s), float(v)) for s, v in pts if _is_num(s) and _is_num(v) and math.isfinite(v)]
    if not pts:
        return None
    left, right, top, bottom = 56, 16, 12, 32
    s0, s1 = min(p[0] for p in pts), max(p[0] for p in pts)
    lo, hi = min(p[1] for p in pts), max(p[1] for p in pts)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    if s1 - s0 < 1e-12:
        s0, s1 = s0 - 1, s1 + 1
    pw, ph = width - left - right, height - top - bottom

    def xy(s: float, v: float) -> tuple[float, float]:
        return round(left + (s - s0) / (s1 - s0) * pw, 1), round(top + (hi - v) / (hi - lo) * ph, 1)

    coords = [xy(s, v) for s, v in pts]
    yticks = [{"y": xy(s0, v)[1], "label": f"{v:.3g}"} for v in (hi, (hi + lo) / 2, lo)]
    xticks = [{"x": xy(s, lo)[0], "label": f"{s:g}"} for s in (s0, (s0 + s1) / 2, s1)]
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "top": top,
        "bottom": height - bottom,
        "points": " ".join(f"{x},{y}" for x, y in coords),
        "single": coords[0] if len(coords) == 1 else None,
        "yticks": yticks,
        "xticks": xticks,
        "n": len(pts),
    }


def _view(results: dict, samples: list[dict], n_examples: int = 5) -> dict:
    """Everything both renderers show, validated and pre-formatted. Raises on missing required keys."""
    for key in ("run_id", "mode", "tasks"):
        if key not in results:
            raise HarnessError(f"results.json: missing required key {key!r}")
    is_run = results["mode"] == "run"
    template = (results.get("generation") or {}).get("prompt_template")
    by_task: dict[str, list[dict]] = {}
    for s in samples:
        by_task.setdefault(s.get("task"), []).append(s)

    tasks = []
    for name, t in results["tasks"].items():
        if not isinstance(t, dict) or not isinstance(t.get("metrics"), dict):
            raise HarnessError(f"results.json: task {name!r} has no 'metrics' table")
        rows = _metric_rows(t)
        primary = next((r for r in rows if r["primary"]), rows[0] if rows else None)
        examples = []
        for s in by_task.get(name, [])[:n_examples]:
            refs = s.get("references") or ([s["reference"]] if s.get("reference") is not None else [])
            examples.append(
                {
                    "id": str(s.get("id", "")),
                    "input": _truncate(_prompt_input(str(s.get("prompt", "")), template).strip()),
                    "reference": _truncate(s.get("reference")),
                    "before": _truncate(s.get("prediction_before")),
                    "after": _truncate(s.get("prediction_after")),
                    "before_match": _matches(s.get("prediction_before"), refs),
                    "after_match": _matches(s.get("prediction_after"), refs),
                }
            )
        flips = t.get("flips")
        tasks.append(
            {
                "name": name,
                "primary": primary,
                "metrics": rows,
                "has_ci": any(
                    "before_ci" in (m or {}) or "after_ci" in (m or {}) for m in t["metrics"].values()
                ),
                "has_p": any(r["p_value"] is not None for r in rows),
                "has_sig": any(r["significant"] is not None for r in rows),
                "info": [
                    (k, _fmt_value(t.get(k)))
                    for k in (
                        "instruction",
                        "version",
                        "source",
                        "test_data",
                        "n_test",
                        "n_train",
                        "max_new_tokens",
                        "stop",
                    )
                    if k in t
                ],
                "settings": [(r["name"], r["settings"]) for r in rows if r["settings"]],
                "examples": examples,
                "n_samples": len(by_task.get(name, [])),
                "flips": _flatten(flips, "flips")
                if isinstance(flips, dict)
                else ([("flips", _fmt_value(flips))] if flips else []),
            }
        )

    model, training = results.get("model") or {}, results.get("training") or None
    meta = [
        (
            "Run",
            [
                (k, _fmt_value(results.get(k)))
                for k in ("run_id", "mode", "created", "harness_version", "git_commit", "seed")
            ],
        )
    ]
    meta.append(("Model", [(k, _fmt_value(v)) for k, v in model.items()]))
    if training:
        meta.append(("Training", [(k, _fmt_value(v)) for k, v in training.items() if k != "loss_history"]))
    for title, key in (("Generation", "generation"), ("Device", "device")):
        if results.get(key):
            meta.append((title, [(k, _fmt_value(v)) for k, v in results[key].items()]))
    if results.get("durations"):
        meta.append(
            (
                "Durations",
                [(k, f"{v:.1f} s" if _is_num(v) else _fmt_value(v)) for k, v in results["durations"].items()],
            )
        )
    if results.get("versions"):
        meta.append(("Library versions", [(k, _fmt_value(v)) for k, v in results["versions"].items()]))

    return {
        "run_id": str(results["run_id"]),
        "mode": results["mode"],
        "is_run": is_run,
        "created": results.get("created"),
        "model_name": model.get("name"),
        "tasks": tasks,
        "training": training,
        "loss": _loss_chart(training.get("loss_history", [])) if training else None,
        "meta": meta,
        "config": _flatten(results.get("config") or {}),
        "n_examples": n_examples,
    }


# ---------------------------------------------------------------------------------------------- markdown


def _md(s: Any) -> str:
    """Escape text for a Markdown table cell: HTML specials, pipes and newlines."""
    s = html.escape("" if s is None else str(s), quote=False)
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("\r\n", "\n").replace("\n", "<br>")


def _md_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return out + [""]


def _summary_phrase(task: dict, is_run: bool) -> str:
    p = task["primary"]
    if p is None:
        return f"- **{_md(task['name'])}**: no metrics"
    if not is_run:
        return f"- **{_md(task['name'])}** — {_md(p['name'])}: {_md(p['before'])}"
    verdict = p["verdict"] or "n/a"
    extra = ""
    if p["p_value"] is not None:
        pv = p["p_value"]
        extra = f", p < {pv[1:]}" if pv.startswith("<") else f", p = {pv}"
        extra = _md(extra) + (", significant" if p["significant"] else "")
    return (
        f"- **{_md(task['name'])}** — {_md(p['name'])}: {_md(p['before'])} → {_md(p['after'])} "
        f"({p['delta']}{extra}) {p['arrow']} {verdict}"
    )


def _metric_table(task: dict, is_run: bool) -> list[str]:
    header = ["metric", "before", "after", "delta"] if is_run else ["metric", "score"]
    if task["has_p"]:
        header.append("p-value")
    rows = []
    for r in task["metrics"]:
        name = r["name"] + (" (primary)" if r["primary"] else "") + ("" if r["higher_is_better"] else " ↓")
        row = [name, r["before"], r["after"], r["delta"]] if is_run else [name, r["before"]]
        if is_run and r["verdict"]:
            row[3] = f"{r['delta']} {r['arrow']}"
        if task["has_p"]:
            row.append((r["p_value"] or DASH) + (" *" if r["significant"] else ""))
        rows.append(row)
    return _md_table(header, rows)


def render_markdown(results: dict, samples: list[dict], n_examples: int = 5) -> str:
    """The run report as GitHub-flavoured Markdown."""
    v = _view(results, samples, n_examples)
    is_run = v["is_run"]
    out = [f"# harness {'run' if is_run else 'evaluation'} `{v['run_id']}`", ""]
    sub = [f"mode: **{v['mode']}**"]
    if v["model_name"]:
        sub.append(f"model: `{v['model_name']}`")
    if v["created"]:
        sub.append(f"created: {v['created']}")
    out += [" · ".join(sub), "", "## Summary", ""]
    out += [_summary_phrase(t, is_run) for t in v["tasks"]] + [""]
    if any(t["has_sig"] for t in v["tasks"]):
        out += ["`*` marks a significant change; `↓` after a metric name: lower is better.", ""]
    elif any(not r["higher_is_better"] for t in v["tasks"] for r in t["metrics"]):
        out += ["`↓` after a metric name: lower is better.", ""]
    for t in v["tasks"]:
        out += [f"## Task `{t['name']}`", ""]
        out += _metric_table(t, is_run)
        if t["info"]:
            out += _md_table(["task", "value"], t["info"])
        if t["settings"]:
            out += ["Metric settings:", ""]
            for name, settings in t["settings"]:
                out += [f"- `{name}`: " + "; ".join(f"{k} = `{val}`" for k, val in settings)]
            out.append("")
        if t["flips"]:
            out += _md_table(["flips", "examples"], t["flips"])
        if t["examples"]:
            out += [f"Examples ({len(t['examples'])} of {t['n_samples']}; ✓ = matches the reference):", ""]
            header = (
                ["id", "input", "reference", "before", "after"]
                if is_run
                else ["id", "input", "reference", "prediction"]
            )
            rows = []
            for e in t["examples"]:
                row = [e["id"], e["input"], e["reference"], e["before"] + (" ✓" if e["before_match"] else "")]
                if is_run:
                    row.append(e["after"] + (" ✓" if e["after_match"] else ""))
                rows.append(row)
            out += _md_table(header, rows)
    out += ["## Run metadata", ""]
    for title, rows in v["meta"]:
        out += [f"### {title}", ""] + _md_table(["key", "value"], rows)
    if v["config"]:
        out += ["### Config", ""] + _md_table(["key", "value"], v["config"])
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------- html


def render_html(results: dict, samples: list[dict], n_examples: int = 5) -> str:
    """The run report as one self-contained HTML page (inline CSS and SVG, no external resources)."""
    env = Environment(loader=PackageLoader("harness", "templates"), autoescape=True)
    return env.get_template("report.html.j2").render(v=_view(results, samples, n_examples))


# ---------------------------------------------------------------------------------------------- rich


def summary_table(results: dict):
    """A rich Table of every task's metrics for the terminal: primary metric in bold, delta
    coloured by verdict, and the paired test's p-value (``*`` when significant). Confidence
    intervals are in the reports, where there is room for them."""
    from rich.table import Table
    from rich.text import Text

    is_run = results.get("mode") == "run"
    table = Table(
        title=f"run {results.get('run_id', '?')}",
        caption="bold: primary metric" + ("; *: p < 0.05" if is_run else ""),
    )
    columns = ("task", "metric", "before", "after", "delta", "p") if is_run else ("task", "metric", "score")
    for col in columns:
        table.add_column(col, justify="left" if col in ("task", "metric") else "right")
    colours = {"improved": "green", "worse": "red", "unchanged": "dim"}
    for name, t in results.get("tasks", {}).items():
        for i, (row, entry) in enumerate(zip(_metric_rows(t), t["metrics"].values(), strict=True)):
            metric = Text(row["name"], style="bold" if row["primary"] else "")
            task_cell = Text(name) if i == 0 else Text("")
            before = fmt_num(entry.get("before"))
            if not is_run:
                table.add_row(task_cell, metric, before)
                continue
            delta = Text(row["delta"], style=colours.get(row["verdict"] or "", ""))
            p_value = (row["p_value"] or "") + (" *" if row["significant"] else "")
            table.add_row(task_cell, metric, before, fmt_num(entry.get("after")), delta, p_value)
    return table


# ---------------------------------------------------------------------------------------------- files


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_reports(run_dir: Path, results: dict, samples: list[dict]) -> dict[str, Path]:
    """Write results.json, samples.jsonl, report.md and report.html into ``run_dir`` atomically.

    Everything is rendered in memory first, so a rendering error leaves no file behind.
    Returns ``{"results": ..., "samples": ..., "markdown": ..., "html": ...}`` paths.
    """
    run_dir = Path(run_dir)
    if "reports" not in results:
        results = {**results, "reports": {"html": HTML_FILE, "markdown": MD_FILE, "samples": SAMPLES_FILE}}
    texts = {
        "results": (RESULTS_FILE, json.dumps(results, indent=2, ensure_ascii=False) + "\n"),
        "samples": (SAMPLES_FILE, "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples)),
        "markdown": (MD_FILE, render_markdown(results, samples)),
        "html": (HTML_FILE, render_html(results, samples)),
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key, (name, text) in texts.items():
        _atomic_write(run_dir / name, text)
        paths[key] = run_dir / name
    return paths


def load_run(run_dir: Path) -> tuple[dict, list[dict]]:
    """Read ``results.json`` and ``samples.jsonl`` from a run directory (samples may be absent)."""
    run_dir = Path(run_dir)
    path = run_dir / RESULTS_FILE
    if not path.is_file():
        raise HarnessError(f"{path}: not found (is {run_dir} a run directory?)")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise HarnessError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None
    samples: list[dict] = []
    spath = run_dir / SAMPLES_FILE
    if spath.is_file():
        for i, line in enumerate(spath.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    samples.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise HarnessError(f"{spath}:{i}: invalid JSON: {e.msg}") from None
    return results, samples
