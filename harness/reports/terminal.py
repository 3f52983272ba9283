"""The terminal side of a run: progress bars while it runs, the summary table of every task's
metrics with the verdicts, the gates' results, and the `--json` summary."""

from __future__ import annotations

from harness.reports.verdict_view import decision_view, verdict_view
from harness.reports.view import DASH, metric_rows
from harness.training.forecast import summary as forecast_summary

STYLES = {
    "improved": "bold green",
    "regressed": "bold red reverse",
    "unchanged": "dim",
    "inconclusive": "yellow",
}


def summary_table(results: dict):
    """A rich Table of every task's metrics for the terminal (readable in 100 columns): primary
    metric in bold, delta with its confidence interval, the paired test's p-value (``*`` when
    significant; for the primary metric, corrected over the tasks like the verdict) and, on the
    primary row, the task's verdict. The title carries the overall line."""
    from rich.table import Table
    from rich.text import Text

    is_run = results.get("mode") in ("run", "compare")
    tasks = results.get("tasks", {})
    decision = None
    if is_run:
        views = [{"name": name, "verdict": verdict_view(t)} for name, t in tasks.items()]
        decision = decision_view(results, views)
    kind = "comparison" if results.get("mode") == "compare" else "run"
    title = f"{kind} {results.get('run_id', '?')}"
    caption = "bold: primary metric"
    if decision:
        title += f": {decision['summary']}"
        caption += "; *: significant" + (
            " (primary metric: p Holm-adjusted over the tasks)" if decision["holm"] else ""
        )
        caption += f"; improved/regressed also need |delta| ≥ {decision['min_effect']} × the metric's scale"
        if decision["four"]:
            caption += "; no change: the CI within ± that; inconclusive: neither (too few examples)"
    elif is_run:
        caption += "; *: significant"
    table = Table(title=title, caption=caption, show_edge=False, pad_edge=False)
    if is_run:
        level = (results.get("statistics") or {}).get("confidence")
        ci = f"delta [{level * 100:g}% CI]" if isinstance(level, (int, float)) else "delta [CI]"
        columns = ("task", "metric", "before", "after", ci, "p", "verdict")
    else:
        columns = ("task", "metric", "score")
    for col in columns:
        left = col in ("task", "metric", "verdict")
        table.add_column(col, justify="left" if left else "right", no_wrap=col != "verdict")
    for name, t in tasks.items():
        verdict = verdict_view(t) if is_run else None
        for i, row in enumerate(metric_rows(t)):
            metric = Text(
                row["name"] + ("" if row["higher_is_better"] else " ↓"),
                style="bold" if row["primary"] else "",
            )
            task_cell = Text(name) if i == 0 else Text("")
            if not is_run:
                table.add_row(task_cell, metric, row["before_value"])
                continue
            p_value = (row["p_value"] or "") + (" *" if row["significant"] else "")
            verdict_cell = Text("")
            if row["primary"]:
                verdict_cell = Text(DASH)
                if verdict:
                    text = verdict["label"] + (f"\n{verdict['leaning']}" if verdict["leaning"] else "")
                    verdict_cell = Text(text, style=STYLES[verdict["css"]])
            table.add_row(
                task_cell,
                metric,
                row["before_value"],
                row["after_value"],
                row["delta"],
                p_value,
                verdict_cell,
            )
    return table


def print_gates(console, gates: list[dict]) -> None:
    """Each gate's result after the summary table: PASS/FAIL, the expression and what was measured."""
    if not gates:
        return
    from rich.markup import escape

    passed = sum(gate["passed"] for gate in gates)
    console.print(f"gates: {passed} of {len(gates)} passed", highlight=False)
    width = max(len(gate["expression"]) for gate in gates)
    unsure = sum(bool(gate.get("inconclusive")) for gate in gates if gate["passed"])
    if unsure:
        code = ": exit code 4" if passed == len(gates) else ""
        console.print(f"gates: {unsure} passed on an inconclusive task (too few test examples to tell){code}")
    for gate in gates:
        mark = "[bold green]PASS[/]" if gate["passed"] else "[bold red]FAIL[/]"
        if gate["passed"] and gate.get("inconclusive"):  # its detail says which task and why
            mark = "[bold yellow]PASS[/]"
        expression = escape(gate["expression"].ljust(width))
        console.print(f"  {mark}  {expression}  {escape(gate['detail'])}", highlight=False, soft_wrap=True)


def json_summary(results: dict, paths: dict, exit_code: int) -> dict:
    """What ``--json`` prints: the run, each task's verdict on its primary metric (before, after,
    delta with its interval, p-values), the overall decision, the gates, the report paths and the
    resource forecast's headline numbers."""
    tasks = {}
    for name, task in results["tasks"].items():
        primary = task["primary_metric"]
        scores = task["metrics"][primary]
        verdict = task.get("verdict") or {}
        tasks[name] = {
            "metric": primary,
            "outcome": verdict.get("outcome"),
            "leaning": verdict.get("leaning"),
            "before": scores.get("before"),
            "after": scores.get("after"),
            "delta": scores.get("delta"),
            "delta_ci": scores.get("delta_ci"),
            "before_ci": scores.get("before_ci"),
            "p_value": scores.get("p_value"),
            "p_adjusted": verdict.get("p_adjusted"),
            "reason": verdict.get("reason"),
            "mde": verdict.get("mde"),
            "margin": verdict.get("margin"),
            "n_needed": verdict.get("n_needed"),
            "warnings": verdict.get("warnings", []),
        }
    gates = results.get("gates", [])
    return {
        "run_id": results["run_id"],
        "mode": results["mode"],
        "exit_code": exit_code,
        "gates_passed": all(gate["passed"] for gate in gates),
        "gates_inconclusive": sorted({name for gate in gates for name in gate.get("inconclusive") or []}),
        "tasks": tasks,
        "decision": results.get("decision"),
        "slice_decision": results.get("slice_decision"),
        "gates": gates,
        "paths": {kind: str(path) for kind, path in paths.items()},
        "model_dir": results["model"].get("output_dir"),
        "forecast": forecast_summary(results.get("forecast")),  # estimates made before training
    }


class RichProgress:
    """:class:`harness.progress.Progress` as rich progress bars: one line per step (description,
    bar, done/total, elapsed time), and the live values ``advance`` passes (loss, learning rate).
    Use it as a context manager around the run."""

    def __init__(self, console, disable: bool = False):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[live]}"),
            console=console,
            disable=disable,
        )
        self._ids: dict[str, int] = {}  # step key -> rich task id
        self._unsized: set[str] = set()  # steps started without a total

    def __enter__(self) -> RichProgress:
        self._bars.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._bars.stop()

    def start(self, key: str, description: str, total: int | None = None) -> None:
        self._ids[key] = self._bars.add_task(description, total=total, live="")
        if total is None:
            self._unsized.add(key)

    def advance(self, key: str, amount: int = 1, **fields: object) -> None:
        live = {"live": _live_values(fields)} if fields else {}
        self._bars.update(self._ids[key], advance=amount, **live)

    def finish(self, key: str) -> None:
        if key in self._unsized:  # a step of unknown length: show it complete
            self._bars.update(self._ids[key], total=1, completed=1)


def _live_values(fields: dict) -> str:
    """``loss 0.4123  learning_rate 2.9e-03`` (numbers compact, names as given)."""
    texts = {
        name: f"{value:.4g}" if isinstance(value, float) else str(value) for name, value in fields.items()
    }
    return "  ".join(f"{name} {text}" for name, text in texts.items())


def print_outcome(console, results: dict, paths: dict) -> None:
    """What a person reads after a command that scored something: the summary table, how training
    ended, warnings, gates, the run's time, the tuned model and the files written."""
    from rich.markup import escape

    console.print(summary_table(results))
    print_slices(console, results)
    training = results.get("training") or {}
    if training.get("stop_reason"):
        console.print(f"training: {escape(training['stop_reason'])}; {escape(training.get('kept') or '')}")
    for warning in results.get("warnings", []):
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    print_gates(console, results.get("gates", []))
    if results.get("policy"):
        print_policy(console, results["policy"])
    if "durations" in results:
        console.print(f"run [bold]{results['run_id']}[/] in {results['durations']['total']:.1f}s")
    if results["model"].get("output_dir"):
        console.print(f"tuned model: {results['model']['output_dir']}")
    for kind in ("html", "markdown", "results", "samples"):
        if kind in paths:
            console.print(f"{kind:>9}: {paths[kind]}")


def print_slices(console, results: dict) -> None:
    """The run's slice line (results.json ``slice_decision``), then the slices that regressed as
    ``task[value]``; nothing when no task has compared slices."""
    from rich.markup import escape

    summary = (results.get("slice_decision") or {}).get("summary")
    if not summary:
        return
    console.print(escape(summary), highlight=False)
    regressed = [
        f"{name}[{value}]"
        for name, task in results["tasks"].items()
        for value, entry in ((task.get("slices") or {}).get("values") or {}).items()
        if entry.get("outcome") == "regressed"
    ]
    if regressed:
        console.print(f"[bold red]regressed slices:[/] {escape(', '.join(regressed))}", highlight=False)


POLICY_STYLES = {"GO": "green", "WARN": "yellow", "NO-GO": "red", "INCONCLUSIVE": "magenta"}


def print_policy(console, decision: dict, run_id: str | None = None) -> None:
    """A release policy's decision (:func:`harness.decisions.policy.apply_policy`): its line, then
    a line per task with its tier, metric, outcome and why."""
    from rich.markup import escape

    style = POLICY_STYLES.get(decision["decision"], "bold")
    after = f"  (run {escape(run_id)})" if run_id else ""
    console.print(f"[bold {style}]{escape(decision['line'])}[/]{after}")
    for name, task in decision["tasks"].items():
        what = f"{escape(name)} ({task['tier']}, {escape(str(task['metric']))})"
        console.print(f"  {what}: {task['outcome']}: {escape(task['why'])}", highlight=False)
