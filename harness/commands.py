"""The commands that load no model: ``harness tasks list|show``, ``harness metrics``,
``harness plugins``, and ``harness report``, ``rescore`` and ``compare`` on saved runs; and
:func:`outcome`, what every command that scored something prints (``run`` and ``eval`` are in
:mod:`harness.model_commands`).

None of these imports torch.
"""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table

from harness import plugins
from harness.config import PROMPT_TEMPLATES
from harness.tasks.data import load_examples
from harness.tasks.overlap import describe, overlap
from harness.tasks.prompting import build_prompt


def tasks_list(args, console) -> int:
    """A table of every registered task and the plugin it came from."""
    registry = plugins.tasks(_plugin_manager(args))
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
    console.print(f"{plugins.WHERE_TASKS_COME_FROM.split('; ')[0]}; docs/plugins.md adds your own.")
    return 0


def tasks_show(args, console) -> int:
    """One task in full: instruction, data files and sizes, metrics, and an example prompt."""
    registry = plugins.tasks(_plugin_manager(args))
    if args.name not in registry:
        raise plugins.unknown("task", args.name, registry)
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
    train = None
    if task.train is not None:
        train = load_examples(task.train, task, "train")
        table.add_row("train", escape(f"{task.train.path}  ({len(train)} examples)"))
        table.add_row("train/test overlap", escape(describe(overlap(train, test))))
    console.print(table)
    if args.tokens:
        return _show_tokens(args, console, task, train or test)
    example = test[0]
    console.print("\n[bold]Example prompt[/] (compact template):")
    console.print(
        build_prompt(PROMPT_TEMPLATES["compact"], example) + example.output, markup=False, highlight=False
    )
    return 0


def _show_tokens(args, console, task, examples) -> int:
    """``tasks show NAME --tokens``: the first example as training tokens, supervised ones
    marked, and the length distribution against the context and ``train.max_length``."""
    from rich.text import Text

    from harness.config_loader import load_config
    from harness.tasks.preview import load_tokenizer, preview

    overrides = list(args.overrides) + ([f'model="{args.model}"'] if args.model else [])
    config = load_config(args.config, overrides)
    presets = plugins.presets(_plugin_manager(args))
    tokenizer, context = load_tokenizer(config.model, presets)
    seen = preview(tokenizer, config.prompt(), examples, config.train.max_length, context)
    split = "train" if task.train is not None else "test (no training data)"
    console.print(
        f"\n[bold]{escape(seen.example_id)}[/] as training tokens ({escape(config.model)} tokenizer, "
        f"{escape(config.prompt_template)} template); [reverse]marked[/] = supervised, "
        f"{seen.supervised} tokens of {seen.lengths[0] if seen.lengths else 0}:",
        highlight=False,
    )
    text = Text()
    for piece, supervised in seen.pieces:
        text.append(piece, style="reverse" if supervised else "")
    console.print(text)
    if not console.is_terminal:  # a log or pipe has no reverse video: say where the answer starts
        shown = "".join(piece for piece, supervised in seen.pieces if supervised)
        console.print(f"supervised: {shown!r}", markup=False, highlight=False)
    quantiles = ", ".join(f"{name} {value}" for name, value in seen.quantiles().items())
    console.print(f"\n[bold]Lengths[/] of {len(seen.lengths)} {split} examples, in tokens: {quantiles}")
    widest = max(count for _, _, count in seen.histogram())
    for low, high, count in seen.histogram():
        mark = "  ← limit" if low <= seen.limit <= high else ""
        bar = "█" * round(30 * count / widest) if widest else ""
        console.print(f"  {low:>6}-{high:<6} {count:>5} {bar}{mark}", markup=False, highlight=False)
    binding = f"context {seen.context}" if seen.context else "context unknown"
    console.print(
        f"limit {seen.limit} tokens (train.max_length {seen.max_length}, {binding}): "
        f"{seen.truncated} of {len(seen.lengths)} examples exceed it and would have their input cut",
        highlight=False,
    )
    for note in seen.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    if seen.unfit:
        console.print(
            f"[bold red]{seen.unfit} of {len(seen.lengths)} examples cannot fit[/] even with their input "
            "removed (template, instruction and answer alone are longer): a run stops on them",
            highlight=False,
        )
    return 0


def metrics_list(args, console) -> int:
    """A table of every registered metric."""
    registry = plugins.metrics(_plugin_manager(args))
    table = Table(title="Registered metrics")
    for column in ("metric", "better", "scale", "paired test", "source", "description"):
        table.add_column(column)
    for name, entry in sorted(registry.items()):
        metric = entry.item
        table.add_row(
            escape(name),
            "higher" if metric.higher_is_better else "lower",
            f"0-{metric.scale:g}",
            "McNemar" if metric.binary else "bootstrap",
            escape(entry.source),
            escape(metric.description),
        )
    console.print(table)
    console.print(
        "paired test: McNemar's exact test for 0/1 per-example scores (binary), else paired bootstrap."
    )
    return 0


def plugins_list(args, console) -> int:
    """Every loaded plugin: where it came from (built-in, installed package, plugins folder,
    ``--plugin``, task file), its version, and the hooks it implements."""
    pm = _plugin_manager(args)
    table = Table(title="Loaded plugins")
    for column in ("plugin", "source", "version", "hooks"):
        table.add_column(column, overflow="fold")
    for name, source, version, hooks in plugins.describe(pm):
        table.add_row(escape(name), escape(source), escape(version), ", ".join(hooks))
    console.print(table)
    return 0


def outcome(args, console, results: dict, paths: dict) -> int:
    """Print what a person reads after a command that scored something
    (:func:`harness.reports.terminal.print_outcome`; ``--json``: the summary on stdout); the exit code."""
    import json

    from harness.decisions.gates import exit_code
    from harness.reports.terminal import json_summary, print_outcome

    code = exit_code(results.get("gates", []))  # 0, 1 (a gate failed) or 4 (a gated task inconclusive)
    if results.get("policy"):  # the release policy's decision: NO-GO (1) before INCONCLUSIVE (4)
        code = min((c for c in (code, results["policy"]["exit_code"]) if c), default=0)
    print_outcome(console, results, paths)
    if args.json:
        print(json.dumps(json_summary(results, paths, code), indent=2, ensure_ascii=False))
    return code


def run_folder(run: str, output_dir: str | Path) -> Path:
    """A run's report folder: ``run`` itself when it is a folder, else ``output_dir/run``."""
    folder = Path(run)
    return folder if folder.is_dir() else Path(output_dir) / run


def _plugin_manager(args):
    return plugins.make_plugin_manager(extra=args.plugin, tasks_dirs=getattr(args, "tasks_dirs", []))


def report(args, console) -> int:
    """``harness report RUN``: re-render a run's Markdown and HTML reports from its saved files."""
    from harness.reports.store import rerender

    paths = rerender(run_folder(args.run, args.output_dir))
    console.print(
        f"    html: {paths['html']}\nmarkdown: {paths['markdown']}", highlight=False, soft_wrap=True
    )
    return 0


def gate(args, console) -> int:
    """``harness gate POLICY RUN``: a release policy's decision on a saved run, one line and a
    line per task (``--json``: the decision as JSON); the decision's exit code."""
    import json

    from harness.decisions.policy import apply_policy, load_policy
    from harness.reports.store import load_run
    from harness.reports.terminal import print_policy

    policy = load_policy(args.policy)
    results, _ = load_run(run_folder(args.run, args.output_dir))
    decision = apply_policy(policy, results)
    if args.json:
        print(json.dumps(decision, indent=2, ensure_ascii=False))
        return decision["exit_code"]
    print_policy(console, decision, str(results.get("run_id")))
    return decision["exit_code"]


def rescore(args) -> tuple[dict, dict[str, Path], list[str]]:
    """``harness rescore RUN``: score a saved run again from its predictions and rewrite its
    report files (and the run history); returns the new results, the paths written and what
    changed (one line per value)."""
    from harness.rescore import rescore as rescore_run

    return rescore_run(run_folder(args.run, args.output_dir), plugin_specs=args.plugin, gates=args.gate)


def compare(args) -> tuple[dict, dict[str, Path]]:
    """``harness compare RUN_A RUN_B``: compare two saved runs and write the comparison's report
    files under ``--output-dir`` (and its run history); returns the results and paths."""
    from harness.compare import compare as compare_runs

    tasks = [name.strip() for name in args.tasks.split(",") if name.strip()] if args.tasks else None
    return compare_runs(
        run_folder(args.run_a, args.output_dir),
        run_folder(args.run_b, args.output_dir),
        args.output_dir,
        tasks=tasks,
        plugin_specs=args.plugin,
        gates=args.gate,
        allow_mismatch=args.allow_mismatch,
    )
