"""The ``harness`` command line: a thin layer over the Python API (:mod:`harness.api`), with
rich progress bars and a summary table (:mod:`harness.reports.terminal`).

Start-up stays light: torch and transformers are imported only by commands that need them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.errors import HarnessError

EXAMPLES = """examples:
  harness run                                  # default: tiny preset, the three built-in tasks
  harness run --config configs/default.toml --set train.epochs=5
  harness run --gate no-regression --gate 'sentiment.accuracy>=0.8' --json > summary.json
  harness eval --model runs/<run-id>/model --tasks sentiment
  harness eval --checkpoints <run-id>          # every checkpoint the run kept, one score trajectory
  harness tasks list
  harness tasks show sentiment"""

GATES = """gates (--gate EXPR, repeatable; config [gates] require = [...]):
  TASK.METRIC OP VALUE             the score after tuning (eval: the score), e.g. sentiment.accuracy>=0.8
  TASK.METRIC.delta OP VALUE       after - before, e.g. sentiment.accuracy.delta>=0.02
  TASK.METRIC.relative OP VALUE    (after - before) / |before|, e.g. translation.bleu.relative>=0.05
  no-regression[:TASK]             no task's (TASK's) primary metric regressed significantly
  OP: >= > <= < ==   TASK: a name or * (every task)   METRIC: a name or primary"""

EXIT_CODES = """exit codes:
  0    success; every gate passed (or none given)
  1    a gate failed; a release policy said NO-GO
  2    bad input: config, data, names, a malformed gate, a training forecast over the GPU's
       free memory (before any model work)
  3    internal error (rerun with --debug for the traceback)
  4    inconclusive: no gate failed, but one names a task whose test set cannot tell a change
       from none (the gate's detail says how many examples would); a policy said INCONCLUSIVE
  130  interrupted (Ctrl-C)"""

EPILOG = "\n\n".join((EXAMPLES, GATES, EXIT_CODES))
LOG_WIDTH = 120  # columns of the output when it goes to a file or pipe
GC_THRESHOLD = 10_000  # the collector's first threshold in the console script (see console())
INTERNAL_ERROR, INTERRUPTED = 3, 130  # gates: 1 and 4; bad input: HarnessError.exit_code (2)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Evaluation-driven instruction fine-tuning: tune, evaluate every task before and after.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # --debug after the command too; SUPPRESS: a command without it keeps the top-level value
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    # --tasks-dir DIR (repeatable), before or after the command, on every command that loads tasks
    tasks_dir = argparse.ArgumentParser(add_help=False)
    option = dict(dest="tasks_dirs", action="append", metavar="DIR", help="a folder of *.toml task files")
    tasks_dir.add_argument("--tasks-dir", default=argparse.SUPPRESS, **option)
    parser.add_argument("--tasks-dir", default=[], **option)
    common = [debug, tasks_dir]

    for name, help_text in (
        ("run", "evaluate, fine-tune, evaluate again, write reports"),
        ("eval", "evaluate a model (preset, Hub id, local or run output dir) without tuning"),
    ):
        cmd = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=common,
            epilog=f"{GATES}\n\n{EXIT_CODES}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
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
        cmd.add_argument(
            "--gate",
            action="append",
            default=[],
            metavar="EXPR",
            help="a condition the run must meet, else exit code 1, e.g. 'sentiment.accuracy>=0.8' or "
            "no-regression (repeatable; adds to config gates.require; see harness --help)",
        )
        cmd.add_argument(
            "--json",
            action="store_true",
            help="print a machine-readable summary (verdicts, gates, report paths) to stdout; "
            "everything else goes to stderr",
        )

    commands.choices["eval"].add_argument(
        "--checkpoints",
        metavar="RUN",
        help="evaluate every checkpoint a tuned run kept (train.keep_checkpoints = true), with its "
        "saved config (--set changes it): RUN is its id under models_dir or its folder; writes "
        "<output_dir>/checkpoints-RUN/ with each task's score by step and the kept checkpoint marked",
    )
    policy_run = "decide the run by a release policy (TOML): GO, WARN, NO-GO or INCONCLUSIVE (gates.policy)"
    commands.choices["run"].add_argument("--policy", type=Path, metavar="FILE", help=policy_run)
    commands.choices["run"].add_argument(
        "--seeds",
        type=int,
        metavar="N",
        help="tune N times with training seeds seed, seed+1, ... on one baseline, and judge the gain "
        "against the spread of training itself (config key: seeds)",
    )
    commands.choices["run"].add_argument(
        "--resume",
        metavar="RUN_ID",
        help="continue an interrupted run from its last checkpoint, with its saved config "
        "(found under models_dir; other options only locate it)",
    )

    tasks = commands.add_parser("tasks", help="list or show registered tasks", parents=[debug])
    tasks_cmd = tasks.add_subparsers(dest="tasks_command", metavar="SUBCOMMAND", required=True)
    for sub in (
        tasks_cmd.add_parser("list", help="the registered tasks and where each came from", parents=common),
        tasks_cmd.add_parser(
            "show", help="one task: instruction, data, metrics, sizes, an example prompt", parents=common
        ),
    ):
        sub.add_argument("--plugin", action="append", default=[], metavar="PATH_OR_MODULE")
    show = tasks_cmd.choices["show"]
    show.add_argument("name")
    show.add_argument("--tokens", action="store_true", help="a training example as tokens, lengths, cuts")
    show.add_argument("--model", help="whose tokenizer --tokens uses (default: the config's model)")
    show.add_argument("-c", "--config", type=Path, help="TOML config for --tokens")
    show.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    metrics = commands.add_parser("metrics", help="list registered metrics", parents=common)
    metrics.add_argument("--plugin", action="append", default=[], metavar="PATH_OR_MODULE")
    plugins_cmd = commands.add_parser("plugins", help="list loaded plugins and their hooks", parents=common)
    plugins_cmd.add_argument("--plugin", action="append", default=[], metavar="PATH_OR_MODULE")
    report = commands.add_parser(
        "report",
        help="render a run's report.md and report.html again from its results.json and samples.jsonl",
        parents=[debug],
    )
    report.add_argument("run", metavar="RUN", help="a run's report folder, or its id under --output-dir")
    report.add_argument("-o", "--output-dir", default="reports", help="where run ids are looked up")
    policy_help = "apply a release policy (TOML) to a saved run: GO, WARN, NO-GO or INCONCLUSIVE"
    raw = argparse.RawDescriptionHelpFormatter
    gate = commands.add_parser(
        "gate", help=policy_help, parents=[debug], epilog=EXIT_CODES, formatter_class=raw
    )
    gate.add_argument("policy", metavar="POLICY", type=Path, help="the policy file")
    gate.add_argument("run", metavar="RUN", help="a run's report folder, or its id under --output-dir")
    gate.add_argument("-o", "--output-dir", default="reports", help="where run ids are looked up")
    gate.add_argument("--json", action="store_true", help="the decision as JSON on stdout")
    saved = {
        "rescore": "score a saved run again from its predictions (no model): metrics, statistics, "
        "verdicts, gates; rewrites its reports",
        "compare": "compare two saved runs on their shared tasks (B against A, paired by example) "
        "and write a report of the comparison",
    }
    for name, help_text in saved.items():
        cmd = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[debug],
            epilog=f"{GATES}\n\n{EXIT_CODES}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        runs = ("run",) if name == "rescore" else ("run_a", "run_b")
        for dest in runs:
            cmd.add_argument(
                dest, metavar=dest.upper(), help="a run's report folder, or its id under --output-dir"
            )
        cmd.add_argument(
            "-o", "--output-dir", default="reports", help="where run ids are looked up and written"
        )
        cmd.add_argument("--plugin", action="append", default=[], metavar="PATH_OR_MODULE")
        cmd.add_argument("--gate", action="append", default=[], metavar="EXPR", help="as for harness run")
        cmd.add_argument("--json", action="store_true", help="a machine-readable summary on stdout")
    commands.choices["compare"].add_argument(
        "--tasks", help="comma-separated tasks to compare (default: all shared)"
    )
    commands.choices["compare"].add_argument(
        "--allow-mismatch",
        action="append",
        default=[],
        metavar="FIELD",
        help="compare although the runs differ in FIELD (repeatable): prompts, prompt_template, "
        "instruction, num_fewshot, max_new_tokens, stop, scoring, choices, task_version, max_length, "
        "metric_settings; the report says so",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``harness`` console script; returns the exit code (see ``EPILOG``)."""
    args = build_parser().parse_args(argv)
    from rich.console import Console
    from rich.markup import escape

    as_json = getattr(args, "json", False)
    # with --json, stdout carries the JSON summary alone; a log file (not a terminal) gets wide
    # lines rather than rich's 80-column default, so the summary table's numbers are not cut
    console = Console(stderr=as_json)
    if not console.is_terminal:
        console = Console(stderr=as_json, width=max(console.width, LOG_WIDTH))
    errors = Console(stderr=True)
    try:
        return _command(args, console)
    except HarnessError as exc:
        _traceback(args)
        # escape: messages quote config tables such as [data.sentiment], which are not markup
        errors.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False, soft_wrap=True)
        return _failure(as_json, exc.exit_code, str(exc))
    except KeyboardInterrupt:
        errors.print("interrupted")
        return _failure(as_json, INTERRUPTED, "interrupted")
    except Exception as exc:  # a bug, not bad input
        _traceback(args)
        message = f"{type(exc).__name__}: {exc}"
        hint = "" if args.debug else " (rerun with --debug for the traceback)"
        errors.print(
            f"[bold red]internal error:[/] {escape(message)}{hint}",
            markup=True,
            highlight=False,
            soft_wrap=True,
        )
        return _failure(as_json, INTERNAL_ERROR, f"internal error: {message}")


def _command(args, console) -> int:
    if args.command in ("run", "eval"):
        from harness import model_commands

        return model_commands.run(args, console)
    from harness import commands

    if args.command == "report":
        return commands.report(args, console)
    if args.command == "gate":
        return commands.gate(args, console)
    if args.command == "compare":
        return commands.outcome(args, console, *commands.compare(args))
    if args.command == "rescore":
        results, paths, changes = commands.rescore(args)
        console.print(
            f"rescored {results['run_id']}: "
            + (f"{len(changes)} values changed" if changes else "no value changed")
        )
        for line in changes:
            console.print(f"  {line}", markup=False, highlight=False)
        return commands.outcome(args, console, results, paths)
    if args.command == "tasks":
        return (
            commands.tasks_list(args, console)
            if args.tasks_command == "list"
            else commands.tasks_show(args, console)
        )
    return (
        commands.metrics_list(args, console)
        if args.command == "metrics"
        else commands.plugins_list(args, console)
    )


def _traceback(args) -> None:
    if args.debug:
        import traceback

        traceback.print_exc(file=sys.stderr)


def _failure(as_json: bool, code: int, message: str) -> int:
    """``code``; with ``--json``, ``{"error", "exit_code"}`` on stdout too, so it stays JSON."""
    if as_json:
        print(json.dumps({"error": message, "exit_code": code}))
    return code


def _version() -> str:
    from harness.versions import __version__

    return __version__


def console() -> int:
    """The ``harness`` console script: :func:`main` with the garbage collector tuned (only here; tests
    call main() in-process). A larger first threshold spares the ~8 full collections Python's default
    (700) makes while torch and transformers are imported, ``gc.freeze()`` the final ones at exit
    (atexit handlers still run): ~1-2 s a run (bench/README.md, "The process's start and exit")."""
    import gc

    gc.set_threshold(GC_THRESHOLD, 10, 10)
    code = main()
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(console())
