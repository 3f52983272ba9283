"""The report's detail sections as rows of text: a task's flips, its metric settings, and the
run's cost and provenance. Rows are ``(label, text)``; the renderers escape them."""

from __future__ import annotations

import math
from typing import Any


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _short(x: Any) -> str:
    return f"{x:.4g}" if _num(x) else str(x)


def flips_rows(flips: Any) -> list[tuple[str, str]]:
    """A task's flips (results.json ``flips``) in words: counts and example ids for a 0/1 metric,
    the largest gains and losses (id: before → after) for a continuous one."""
    if not isinstance(flips, dict):
        return []
    rows = []
    counts = flips.get("counts") if isinstance(flips.get("counts"), dict) else None
    for key, label in (("wrong_to_right", "wrong → right"), ("right_to_wrong", "right → wrong")):
        if key in flips:
            ids = [str(i) for i in flips.get(key) or []]
            n = counts.get(key, len(ids)) if counts else len(ids)
            more = f" (first {len(ids)} shown)" if isinstance(n, int) and n > len(ids) else ""
            rows.append((label, f"{n}: {', '.join(ids)}{more}" if ids else "0"))
    for key, label in (("largest_gains", "largest gains"), ("largest_losses", "largest losses")):
        if key in flips:
            items = [i for i in flips.get(key) or [] if isinstance(i, dict)]
            text = "; ".join(
                f"{i.get('id')}: {_short(i.get('before'))} → {_short(i.get('after'))}" for i in items
            )
            rows.append((label, text or "none"))
    if flips.get("ranked_by") and rows:
        rows.append(("ranked by", str(flips["ranked_by"])))
    return rows


def settings_text(settings: list[tuple[str, str]]) -> str:
    """A metric's settings on one line: ``use_stemmer = true; score = fmeasure``."""
    return "; ".join(f"{key} = {value}" for key, value in settings)


def _bytes(n: Any) -> str:
    if not _num(n):
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def cost_rows(results: dict) -> list[tuple[str, str]]:
    """Wall time per phase, throughput, peak memory, device and dtype."""
    rows = []
    durations = results.get("durations") or {}
    names = {
        "model_load": "model load",
        "eval_before": "evaluation before",
        "train": "training",
        "eval_after": "evaluation after",
        "forgetting_before": "forgetting probe, base model",
        "forgetting_after": "forgetting probe, tuned model",
        "total": "total",
    }
    for key, seconds in durations.items():
        if _num(seconds):
            rows.append((f"wall time: {names.get(key, key)}", f"{seconds:.1f} s"))
    cost = results.get("cost") or {}
    if _num(cost.get("train_tokens_per_second")):
        real = cost.get("train_real_tokens")
        rows.append(
            (
                "training throughput",
                f"{cost['train_tokens_per_second']:,.0f} real tokens/s"
                + (f" ({real:,} tokens)" if _num(real) else ""),
            )
        )
    for phase, rate in (cost.get("eval_examples_per_second") or {}).items():
        n = (cost.get("eval_examples_predicted") or {}).get(phase)
        rows.append(
            (f"evaluation throughput: {phase}", f"{rate:,.1f} examples/s" + (f" ({n} examples)" if n else ""))
        )
    for key, value in (cost.get("peak_memory") or {}).items():
        label = {"process_rss_bytes": "peak memory (process RSS)", "cuda_allocated_bytes": "peak GPU memory"}
        rows.append((label.get(key, key), _bytes(value)))
    device = results.get("device") or {}
    if device:
        name = f"{device.get('type', '')} ({device.get('name', '')})".strip()
        rows.append(("device, dtype", f"{name}, {device.get('dtype', '—')}"))
    return rows


def provenance_rows(results: dict) -> list[tuple[str, str]]:
    """The exact command, git commit, model fingerprint and data hashes."""
    p = results.get("provenance") or {}
    rows = []
    if p.get("command"):
        rows.append(("command", str(p["command"])))
    if p.get("cwd"):
        rows.append(("working folder", str(p["cwd"])))
    rows.append(("git commit", str(results.get("git_commit") or "—")))
    rows.append(("harness version", str(results.get("harness_version") or "—")))
    if p.get("model_fingerprint"):
        rows.append(("model fingerprint", str(p["model_fingerprint"])))
    if p.get("tuned_model_fingerprint"):
        rows.append(("tuned model fingerprint", str(p["tuned_model_fingerprint"])))
    for key, value in (p.get("model_origin") or {}).items():
        rows.append((f"model origin: {key}", str(value)))
    for task, splits in (p.get("data_sha256") or {}).items():
        for split, digest in (splits or {}).items():
            rows.append((f"data: {task} {split}", f"sha256:{digest}"))
    return rows


def shown_input(sample: dict, task: dict) -> str:
    """A sample's input as the reports show it: prefixed with the row's own instruction when that
    differs from the task's (``instruction`` in results.json, ``None`` when the rows differ)."""
    text = str(sample.get("input") or "").strip()
    own = sample.get("instruction")
    if own and own != task.get("instruction"):
        return f"[instruction: {own.strip()}] {text}"
    return text


def instruction_text(task: dict) -> str | None:
    """The task's instruction for the reports: the one every test row was given, or a summary
    of the rows' own instructions when they differ."""
    if task.get("instruction") is not None:
        return task["instruction"]
    rows = task.get("instructions")
    if not rows:
        return None
    text, count = rows["most_common"]
    return (
        f"the rows carry their own: {rows['distinct']} distinct; the most common "
        f"({count} of {task.get('n_test', '?')} rows): {text}"
    )
