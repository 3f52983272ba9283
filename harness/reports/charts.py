"""A run's charts, drawn with matplotlib as SVG: the primary metric's delta per task with its
confidence interval (a forest plot), the training loss and dev scores by step with the kept
checkpoint and an early stop marked, before/after confusion matrices of choice tasks, a seed
set's delta per seed and task, and a run's checkpoints' test scores by step.

Every chart is a standalone SVG document (report.md links them as files) that the HTML report
also inlines. Output is deterministic: no date, a fixed hash salt for element ids, text as
``<text>`` elements. No pyplot: figures are drawn on matplotlib's SVG canvas directly, so
importing this never touches a GUI backend or global state.
"""

from __future__ import annotations

import io
import math
import re
from typing import Any

CHART_DIR = "charts"
_RC = {
    "svg.hashsalt": "harness",
    "svg.fonttype": "none",  # text as <text>: small, selectable
    "text.parse_math": False,  # a "$" in a task name is just a dollar sign
    "font.size": 9,
    "axes.titlesize": 10,
}
_COLOURS = {
    "improved": "#1a7f37",
    "regressed": "#cf222e",
    "no change": "#656d76",
    "inconclusive": "#9a6700",
    "no significant change": "#656d76",  # results.json written before the four outcomes
}
_MARKERS = {
    "improved": "^",
    "regressed": "v",
    "no change": "s",
    "inconclusive": "D",
    "no significant change": "o",
}


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def render_charts(results: dict, samples: list[dict]) -> dict[str, dict]:
    """The charts of a run, ``{file name under charts/: {"title", "svg"}}`` in reading order:
    ``deltas.svg``, ``training.svg``, then ``confusion-<n>-<task>.svg`` per choice task. Charts
    without data are left out (an evaluation has no deltas and no training)."""
    charts: dict[str, dict] = {}
    if results.get("mode") == "run":
        svg = delta_chart(results)
        if svg:
            charts["deltas.svg"] = {
                "title": "Primary metric: change per task with its confidence interval",
                "svg": svg,
            }
    svg = training_chart(results)
    if svg:
        charts["training.svg"] = {"title": "Training: loss and dev scores by step", "svg": svg}
    for i, (name, task) in enumerate((results.get("tasks") or {}).items(), 1):
        svg = confusion_chart(name, task, samples)
        if svg:
            slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(name)).strip("-.")[:40] or "task"
            charts[f"confusion-{i}-{slug}.svg"] = {
                "title": f"{name}: predictions against references",
                "svg": svg,
            }
    return charts


def inline_svg(svg: str) -> str:
    """An SVG document as an element to inline into HTML: without the XML prolog, doctype,
    namespace declarations and RDF metadata (HTML needs none of them)."""
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, count=1, flags=re.S)
    return re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", svg, count=2)


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _svg(fig) -> str:
    from matplotlib import rc_context

    buffer = io.StringIO()
    with rc_context(_RC):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _points(value: float, scale: Any) -> float:
    """A metric value in points of a 0-100 scale (accuracy 0.05 → 5; BLEU 1.4 → 1.4)."""
    return value * 100.0 / (scale if _num(scale) and scale > 0 else 1.0)


def delta_chart(results: dict) -> str | None:
    """A forest plot: per task the primary metric's delta (after − before) with its CI, in points
    of a 0-100 scale, coloured and shaped by the verdict; the minimum effect shaded around 0."""
    rows = []
    for name, task in (results.get("tasks") or {}).items():
        metric = (task.get("metrics") or {}).get(task.get("primary_metric")) or {}
        delta, ci, scale = metric.get("delta"), metric.get("delta_ci"), metric.get("scale")
        if not _num(delta):
            continue
        ci = (
            [_points(x, scale) for x in ci]
            if isinstance(ci, list) and len(ci) == 2 and all(map(_num, ci))
            else None
        )
        outcome = (task.get("verdict") or {}).get("outcome")  # None: a run recorded without verdicts
        arrow = "" if metric.get("higher_is_better", True) else " (lower is better)"
        rows.append((f"{name}\n{task.get('primary_metric')}{arrow}", _points(delta, scale), ci, outcome))
    if not rows:
        return None
    with _rc():
        fig = _figure(7.2, 0.9 + 0.55 * len(rows))
        ax = fig.add_subplot()
        min_effect = (results.get("decision") or {}).get("min_effect")
        if _num(min_effect) and min_effect > 0:
            ax.axvspan(
                -min_effect * 100,
                min_effect * 100,
                color="#eaeef2",
                zorder=0,
                label="below the minimum effect",
            )
        ax.axvline(0, color="#8c959f", linewidth=1, zorder=1)
        for y, (_, delta, ci, outcome) in enumerate(reversed(rows)):
            colour = _COLOURS.get(outcome, "#656d76")
            if ci:
                ax.plot(ci, [y, y], color=colour, linewidth=2, solid_capstyle="butt", zorder=2)
            ax.plot([delta], [y], marker=_MARKERS.get(outcome, "o"), markersize=8, color=colour, zorder=3)
        ax.set_yticks(range(len(rows)), [label for label, *_ in reversed(rows)])
        ax.set_ylim(-0.6, len(rows) - 0.4)
        ax.set_xlabel("after − before (points on a 0–100 scale), with the confidence interval")
        ax.grid(axis="x", color="#eaeef2")
        _legend(ax, {outcome for *_, outcome in rows})
        return _svg(fig)


def seed_chart(summary: dict) -> str | None:
    """Per task, each seed's delta (points on a 0-100 scale) as a dot, the mean as a bar with its
    interval, the seeds' spread readable as the dots' scatter."""
    tasks = list(summary["tasks"].items())
    if not tasks:
        return None

    def points(value, scale):
        return value * 100.0 / (scale or 1.0)

    with _rc():
        fig = _figure(7.2, 0.9 + 0.6 * len(tasks))
        ax = fig.add_subplot()
        ax.axvline(0, color="#8c959f", linewidth=1)
        for y, (_, t) in enumerate(reversed(tasks)):
            scale = t["scale"]
            deltas = [points(d, scale) for d in t["delta_by_seed"]]
            ax.plot(deltas, [y] * len(deltas), "o", color="#0969da", alpha=0.7, markersize=6)
            if t.get("ci"):
                ax.plot([points(x, scale) for x in t["ci"]], [y - 0.25] * 2, color="#1f2328", linewidth=2)
            ax.plot([points(t["mean_delta"], scale)], [y - 0.25], "|", color="#1f2328", markersize=12)
        ax.set_yticks(range(len(tasks)), [f"{n}\n{t['metric']}" for n, t in reversed(tasks)])
        ax.set_ylim(-0.7, len(tasks) - 0.4)
        ax.set_xlabel("after − before per seed (dots), mean with its interval (bar); points on a 0–100 scale")
        ax.grid(axis="x", color="#eaeef2")
        return _svg(fig)


def _legend(ax, outcomes: set[str]) -> None:
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=_COLOURS[o], marker=_MARKERS[o], linestyle="", label=o)
        for o in _COLOURS
        if o in outcomes
    ]
    if handles:
        ax.legend(handles=handles, loc="best", fontsize=8, frameon=False)


def training_chart(results: dict) -> str | None:
    """The training loss by step and, below it, each task's dev score (points of a 0-100 scale)
    at every dev evaluation; the kept checkpoint and an early stop are marked on both."""
    training = results.get("training") or {}
    loss = [
        (h["step"], h["loss"])
        for h in training.get("loss_history") or []
        if _num(h.get("step")) and _num(h.get("loss"))
    ]
    dev = [h for h in training.get("dev_history") or [] if isinstance(h, dict) and _num(h.get("step"))]
    if not loss and not dev:
        return None
    with _rc():
        fig = _figure(7.2, 4.6 if loss and dev else 2.6)
        axes = fig.subplots(2 if loss and dev else 1, 1, sharex=True, squeeze=False)[:, 0]
        if loss:
            ax = axes[0]
            ax.plot(
                *zip(*loss, strict=True), color="#0969da", linewidth=1.6, marker="." if len(loss) < 30 else ""
            )
            ax.set_ylabel("training loss")
        if dev:
            ax = axes[-1]
            tasks = results.get("tasks") or {}
            for name, metric in (training.get("dev_metrics") or {}).items():
                pts = [(h["step"], h[name]) for h in dev if _num(h.get(name))]
                if pts:
                    scale = ((tasks.get(name) or {}).get("metrics", {}).get(metric) or {}).get("scale")
                    xs, ys = zip(*pts, strict=True)
                    ax.plot(
                        xs,
                        [_points(y, scale) for y in ys],
                        marker="o",
                        markersize=4,
                        label=f"{name} ({metric})",
                    )
            ax.set_ylabel("dev score (0–100)")
            ax.legend(loc="best", fontsize=8, frameon=False)
        _mark_steps(axes, training)
        axes[-1].set_xlabel("step")
        for ax in axes:
            ax.grid(color="#eaeef2")
        return _svg(fig)


def _mark_steps(axes, training: dict) -> None:
    best, last = training.get("best_step"), training.get("last_step")
    for ax in axes:
        if _num(best):
            ax.axvline(best, color="#1a7f37", linestyle="--", linewidth=1.2, label=None)
        if training.get("stopped_early") and _num(last):
            ax.axvline(last, color="#cf222e", linestyle=":", linewidth=1.4)
    top = axes[0]
    lo, hi = top.get_xlim()
    marks = [(best, f"kept: step {best:g}", "#1a7f37", -10)] if _num(best) else []
    if training.get("stopped_early") and _num(last):
        marks.append((last, f"stopped early: step {last:g}", "#cf222e", -22))
    for step, text, colour, dy in marks:
        right = (step - lo) / ((hi - lo) or 1) > 0.7  # near the right edge: the label goes left
        top.annotate(
            text,
            (step, 1),
            xycoords=("data", "axes fraction"),
            xytext=(-3 if right else 3, dy),
            textcoords="offset points",
            ha="right" if right else "left",
            color=colour,
            fontsize=8,
        )


def confusion_chart(name: str, task: dict, samples: list[dict]) -> str | None:
    """Before/after confusion matrices of a choice task (reference × prediction counts); ``None``
    for a task without fixed choices or without samples."""
    choices = [str(c) for c in task.get("choices") or []]
    rows = [s for s in samples if s.get("task") == name]
    if not choices or not rows:
        return None
    phases = [p for p in ("before", "after") if any(f"prediction_{p}" in s for s in rows)]
    labels = list(choices)
    for s in rows:
        for value in [s.get("reference"), *(s.get(f"prediction_{p}") for p in phases)]:
            if str(value) not in labels:
                labels.append(str(value))
    if len(labels) > 12:
        return None  # too many distinct answers to read as a matrix
    index = {label: i for i, label in enumerate(labels)}
    with _rc():
        fig = _figure(3.2 * len(phases) + 0.6, 1.6 + 0.35 * len(labels))
        tables = {phase: [[0] * len(labels) for _ in labels] for phase in phases}
        for s in rows:
            for phase, counts in tables.items():
                counts[index[str(s.get("reference"))]][index[str(s.get(f"prediction_{phase}"))]] += 1
        top = max(n for counts in tables.values() for row in counts for n in row) or 1  # one colour scale
        for k, (phase, counts) in enumerate(tables.items()):
            ax = fig.add_subplot(1, len(phases), k + 1)
            ax.imshow(counts, cmap="Blues", vmin=0, vmax=top)
            for i, row in enumerate(counts):
                for j, n in enumerate(row):
                    dark = n > 0.6 * top
                    ax.text(j, i, str(n), ha="center", va="center", color="white" if dark else "#1f2328")
            short = [label if len(label) <= 14 else label[:13] + "…" for label in labels]
            ax.set_xticks(range(len(labels)), short, rotation=30 if len(labels) > 3 else 0)
            ax.set_yticks(range(len(labels)), short if k == 0 else [""] * len(labels))
            ax.set_xlabel("prediction")
            if k == 0:
                ax.set_ylabel("reference")
            ax.set_title(phase)
        return _svg(fig)


def _rc():
    from matplotlib import rc_context

    return rc_context(_RC)


def trajectory_chart(summary: dict) -> str | None:
    """A run's checkpoints (``harness eval --checkpoints``): per task, one panel of its primary
    metric on the test set by step with the confidence interval, the dev score the run measured at
    that step, the base model's score as a line, and the kept checkpoint marked."""
    tasks = list(summary.get("tasks", {}).items())
    rows = summary.get("checkpoints") or []
    if not tasks or not rows:
        return None
    kept = (summary.get("kept") or {}).get("step")
    with _rc():
        fig = _figure(7.2, 0.6 + 2.0 * len(tasks))
        axes = fig.subplots(len(tasks), 1, sharex=True, squeeze=False)[:, 0]
        for ax, (name, task) in zip(axes, tasks, strict=True):
            test = [
                (c["step"], c["tasks"][name])
                for c in rows
                if _num((c["tasks"].get(name) or {}).get("primary"))
            ]
            if test:
                steps = [s for s, _ in test]
                ax.plot(steps, [t["primary"] for _, t in test], marker="o", color="#0969da", label="test")
                for s, t in test:
                    if isinstance(t.get("ci"), list) and all(map(_num, t["ci"])):
                        ax.plot(
                            [s, s], t["ci"], color="#0969da", alpha=0.4, linewidth=3, solid_capstyle="butt"
                        )
            dev = [
                (c["step"], c["dev"]["tasks"][name])
                for c in rows
                if name in ((c.get("dev") or {}).get("tasks") or {})
            ]
            if dev:
                ax.plot(
                    *zip(*dev, strict=True),
                    marker="s",
                    linestyle="--",
                    color="#8250df",
                    label="dev (the run's)",
                )
            before = (task.get("before") or {}).get(task.get("primary_metric"))
            if _num(before):
                ax.axhline(before, color="#656d76", linestyle=":", linewidth=1.2, label="base model")
            if _num(kept):
                ax.axvline(kept, color="#1a7f37", linestyle="--", linewidth=1.2, label=f"kept: step {kept:g}")
            arrow = "" if task.get("higher_is_better", True) else " (lower is better)"
            ax.set_ylabel(f"{name}\n{task.get('primary_metric')}{arrow}")
            ax.grid(color="#eaeef2")
        handles = {}  # one legend, on the top panel, for what any panel shows
        for ax in axes:
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(label, handle)
        axes[0].legend(handles.values(), handles.keys(), loc="best", fontsize=8, frameon=False)
        from matplotlib.ticker import MaxNLocator

        axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
        axes[-1].set_xlabel("step (test scores with their confidence interval)")
        return _svg(fig)
