"""The ``harness`` command line: a thin layer over the Python API (:mod:`harness.api`), with
rich progress bars (:class:`RichProgress`) and a summary table.

Start-up stays light: torch and transformers are imported only by commands that need them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.errors import HarnessError

EPILOG = """examples:
  harness run                                  # default: tiny preset, the three built-in tasks
  harness run --config configs/default.toml --set train.epochs=5
  harness eval --model runs/<run-id>/model --tasks sentiment
  harness tasks list
  harness tasks show sentiment"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Evaluation-driven instruction fine-tuning: tune, evaluate every task before and after.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    for name, help_text in (
        ("run", "evaluate, fine-tune, evaluate again, write reports"),
        ("eval", "evaluate a model (preset, Hub id, local or run output dir) without tuning"),
    ):
        cmd = commands.add_parser(name, help=help_text, description=help_text)
        cmd.add_argument("-c", "--config", type=Path, help="TOML config file (see configs/default.toml)")
        cmd.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override any config key, e.g. --set train.epochs=3 (repeatable)",
        )
        cmd.add_argument("--model", help="preset name, Hub id or local directory (config key: model)")
        cmd.add_argument("--tasks", help="comma-separated task names (config key: tasks)")
        cmd.add_argument(
            "--plugin",
            action="append",
            default=[],
            metavar="PATH_OR_MODULE",
            help="load a plugin file or module (repeatable)",
        )
        cmd.add_argument("-o", "--output-dir", help="where reports go (config key: output_dir)")
        cmd.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
        cmd.add_argument(
            "--no-cache",
            action="store_true",
            help="re-run the baseline evaluation even if cached (config key: cache = false)",
        )

    commands.choices["run"].add_argument(
        "--resume",
        metavar="RUN_ID",
        help="continue an interrupted run from its last checkpoint, with its saved config "
        "(found under models_dir; other options only locate it)",
    )

    tasks = commands.add_parser("tasks", help="list or show registered tasks")
    tasks_cmd = tasks.add_subparsers(dest="tasks_command", metavar="SUBCOMMAND", required=True)
    for sub in (
        tasks_cmd.add_parser("list", help="the registered tasks and where each came from"),
        tasks_cmd.add_parser("show", help="one task: instruction, data, metrics, sizes, an example prompt"),
    ):
        sub.add_argument("--plugin", action="append", default=[], metavar="PATH_OR_MODULE")
    tasks_cmd.choices["show"].add_argument("name")
    metrics = commands.add_parser("metrics", help="list registered metrics")
    metrics.add_argument("--plugin", action="append", default=[], metavar="PATH_OR_MODULE")
    plugins_cmd = commands.add_parser("plugins", help="list loaded plugins and their hooks")
    plugins_cmd.add_argument("--plugin", action="append", default=[], metavar="PATH_OR_MODULE")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``harness`` console script."""
    args = build_parser().parse_args(argv)
    from rich.console import Console

    console = Console(stderr=False)
    errors = Console(stderr=True)
    try:
        if args.command in ("run", "eval"):
            return _run(args, console)
        if args.command == "tasks":
            from harness import commands

            return (
                commands.tasks_list(args, console)
                if args.tasks_command == "list"
                else commands.tasks_show(args, console)
            )
        from harness import commands

        return (
            commands.metrics_list(args, console)
            if args.command == "metrics"
            else commands.plugins_list(args, console)
        )
    except HarnessError as exc:
        from rich.markup import escape

        # escape: messages quote config tables such as [data.sentiment], which are not markup
        errors.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        errors.print("interrupted")
        return 130


def _run(args, console) -> int:
    from harness import api, distributed
    from harness.config import load_config
    from harness.reports import summary_table

    overrides = list(args.overrides)
    if args.model:
        overrides.append(f"model={_toml_string(args.model)}")
    if args.tasks:
        overrides.append(f"tasks={_toml_string(args.tasks)}")
    if args.output_dir:
        overrides.append(f"output_dir={_toml_string(args.output_dir)}")
    if args.no_cache:
        overrides.append("cache=false")
    config = load_config(args.config, overrides)
    config.plugins = list(config.plugins) + list(args.plugin)

    quiet = args.quiet or not distributed.is_main()  # torchrun: bars and summary on rank 0 only
    with RichProgress(console, disable=quiet) as bars:
        progress = None if quiet else bars
        if args.command == "eval":
            results, paths = api.evaluate(config, progress=progress)
        elif args.resume:  # the run's saved config; the options only locate it (models_dir)
            results, paths = api.resume(args.resume, models_dir=config.models_dir, progress=progress)
        else:
            results, paths = api.run(config, progress=progress)
    if not distributed.is_main():
        return 0
    console.print(summary_table(results))
    console.print(f"run [bold]{results['run_id']}[/] in {results['durations']['total']:.1f}s")
    if results["model"]["output_dir"]:
        console.print(f"tuned model: {results['model']['output_dir']}")
    for kind in ("html", "markdown", "results", "samples"):
        if kind in paths:
            console.print(f"{kind:>9}: {paths[kind]}")
    return 0


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
    parts = []
    for name, value in fields.items():
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        parts.append(f"{name} {text}")
    return "  ".join(parts)


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _version() -> str:
    from harness import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
