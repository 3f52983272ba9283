"""The commands that load no model: ``harness tasks list|show``, ``harness metrics``,
``harness plugins``, and ``harness report``, ``rescore`` and ``compare`` on saved runs.

None of these imports torch.
"""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table

from harness import plugins
from harness.config import PROMPT_TEMPLATES
from harness.errors import unknown_name
from harness.tasks.data import load_examples
from harness.tasks.prompting import build_prompt


def tasks_list(args, console) -> int:
    """A table of every registered task and the plugin it came from."""
    registry = plugins.tasks(plugins.make_plugin_manager(extra=args.plugin))
    table = Table(title="Registered tasks")
    for column in ("task", "version", "metrics", "scoring", "source"):
        table.add_column(column, overflow="fold")  # wrap long names and paths, never cut them
    for name, entry in sorted(registry.items()):
        task = entry.item
        ordered = [task.primary_metric] + [m for m in task.metrics if m != task.primary_metric]
        kind = task.scoring_method  # "loglik" (choices scored by log-likelihood) or "generate"
        # escape: plugin-provided text is shown as written, never read as rich markup
        cells = (name, task.version, ", ".join(ordered), kind, entry.source)
        table.add_row(*(escape(str(cell)) for cell in cells))
    console.print(table)
    console.print("metrics: primary first. scoring: generate = free generation, loglik = likeliest choice.")
    console.print("harness tasks show NAME: instruction, data, sizes and an example prompt.")
    return 0


def tasks_show(args, console) -> int:
    """One task in full: instruction, data files and sizes, metrics, and an example prompt."""
    registry = plugins.tasks(plugins.make_plugin_manager(extra=args.plugin))
    if args.name not in registry:
        raise unknown_name("task", args.name, registry)
    task, source = registry[args.name].item, registry[args.name].source
    console.print(
        f"[bold]{escape(task.name)}[/] (version {escape(task.version)}) from {escape(source)}",
        highlight=False,
    )
    if task.description:
        console.print(task.description, highlight=False, markup=False)
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("instruction", escape(task.instruction))
    table.add_row("metrics", escape(", ".join(task.metrics) + f"  (primary: {task.primary_metric})"))
    if task.scoring_method == "loglik":
        table.add_row("scoring", "log-likelihood of each choice after the prompt (no generation)")
    else:
        table.add_row("generation", escape(f"max_new_tokens={task.max_new_tokens}, stop={list(task.stop)!r}"))
    if task.choices:
        table.add_row("choices", escape(", ".join(task.choices)))
    test = load_examples(task.test, task, "test")
    table.add_row("test", escape(f"{task.test.path}  ({len(test)} examples)"))
    if task.train is not None:
        train = load_examples(task.train, task, "train")
        table.add_row("train", escape(f"{task.train.path}  ({len(train)} examples)"))
    console.print(table)
    example = test[0]
    console.print("\n[bold]Example prompt[/] (compact template):")
    console.print(
        build_prompt(PROMPT_TEMPLATES["compact"], example) + example.output, markup=False, highlight=False
    )
    return 0


def metrics_list(args, console) -> int:
    """A table of every registered metric."""
    registry = plugins.metrics(plugins.make_plugin_manager(extra=args.plugin))
    table = Table(title="Registered metrics")
    for column in ("metric", "better", "scale", "source", "description"):
        table.add_column(column)
    for name, entry in sorted(registry.items()):
        metric = entry.item
        table.add_row(
            escape(name),
            "higher" if metric.higher_is_better else "lower",
            f"0-{metric.scale:g}",
            escape(entry.source),
            escape(metric.description),
        )
    console.print(table)
    return 0


def plugins_list(args, console) -> int:
    """Every loaded plugin, its version where known, and the hooks it implements."""
    pm = plugins.make_plugin_manager(extra=args.plugin)
    versions = {plugin: dist.version for plugin, dist in pm.list_plugin_distinfo()}
    table = Table(title="Loaded plugins")
    for column in ("plugin", "version", "hooks"):
        table.add_column(column)
    for name, plugin in pm.list_name_plugin():
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        version = str(versions.get(plugin, ""))
        table.add_row(escape(plugins._source_name(name)), escape(version), ", ".join(hooks))
    console.print(table)
    return 0


def run_folder(run: str, output_dir: str | Path) -> Path:
    """A run's report folder: ``run`` itself when it is a folder, else ``output_dir/run``."""
    folder = Path(run)
    return folder if folder.is_dir() else Path(output_dir) / run


def report(args, console) -> int:
    """``harness report RUN``: re-render a run's Markdown and HTML reports from its saved files."""
    from harness.reports.store import rerender

    paths = rerender(run_folder(args.run, args.output_dir))
    console.print(
        f"    html: {paths['html']}\nmarkdown: {paths['markdown']}", highlight=False, soft_wrap=True
    )
    return 0


def rescore(args) -> tuple[dict, dict[str, Path], list[str]]:
    """``harness rescore RUN``: score a saved run again from its predictions and rewrite its
    report files (and the run history); returns the new results, the paths written and what
    changed (one line per value)."""
    from harness.decisions.gates import parse_all
    from harness.decisions.rescore import rescore as rescore_run
    from harness.reports.history import update_index
    from harness.reports.store import write_reports

    parse_all(cli_gates=args.gate)  # a malformed gate fails before any work
    folder = run_folder(args.run, args.output_dir)
    results, samples, changes = rescore_run(folder, plugin_specs=args.plugin, gates=args.gate)
    paths = write_reports(folder, results, samples)
    update_index(folder.parent)
    return results, paths, changes


def compare(args) -> tuple[dict, dict[str, Path]]:
    """``harness compare RUN_A RUN_B``: compare two saved runs and write the comparison's report
    files under ``--output-dir`` (and its run history); returns the results and paths."""
    from harness.decisions.compare import compare_runs
    from harness.decisions.gates import parse_all
    from harness.reports.history import update_index
    from harness.reports.store import write_reports

    parse_all(cli_gates=args.gate)
    tasks = [name.strip() for name in args.tasks.split(",") if name.strip()] if args.tasks else None
    results, samples = compare_runs(
        run_folder(args.run_a, args.output_dir),
        run_folder(args.run_b, args.output_dir),
        tasks=tasks,
        plugin_specs=args.plugin,
        gates=args.gate,
    )
    folder = Path(args.output_dir) / results["run_id"]
    paths = write_reports(folder, results, samples)
    update_index(folder.parent)
    return results, paths
