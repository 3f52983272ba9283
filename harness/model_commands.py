"""The commands that load a model: ``harness run`` (a seed set, ``--resume``) and ``harness eval``
(``--checkpoints``): the config from the options, the API call under progress bars, and what is
printed after it; each returns the exit code.

Light at import, like :mod:`harness.commands`: torch is imported when the model work starts.
"""

from __future__ import annotations

import json

from harness.commands import outcome
from harness.errors import HarnessError

GATE_FAILED = 1  # a gate failed (harness.decisions.gates.exit_code)


def run(args, console) -> int:
    """``harness run`` and ``harness eval``."""
    from harness import api, distributed
    from harness.config_loader import load_config
    from harness.decisions.gates import parse_all
    from harness.reports.terminal import RichProgress

    if args.command == "eval" and args.checkpoints:
        return checkpoints(args, console)
    parse_all(cli_gates=args.gate)  # a malformed gate fails first (names are checked by the API)
    overrides, options = config_overrides(args)
    config = load_config(args.config, overrides, options)
    config.plugins = list(config.plugins) + list(args.plugin)
    config.tasks_dirs = list(config.tasks_dirs) + list(args.tasks_dirs)

    quiet = args.quiet or not distributed.is_main()  # torchrun: bars and summary on rank 0 only
    with RichProgress(console, disable=quiet) as bars:
        progress = None if quiet else bars
        if args.command == "eval":
            results, paths = api.evaluate(config, progress=progress, gates=args.gate)
        elif config.seeds > 1:
            if args.resume:
                raise HarnessError("--resume continues one run; it cannot be combined with seeds > 1")
            seed_set = api.run_seeds(config, progress=progress, gates=args.gate)
            return 0 if not distributed.is_main() else seed_outcome(args, console, seed_set)
        elif args.resume:  # the run's saved config; the options only locate it (models_dir)
            results, paths = api.resume(
                args.resume, models_dir=config.models_dir, progress=progress, gates=args.gate
            )
        else:
            results, paths = api.run(config, progress=progress, gates=args.gate)
    if not distributed.is_main():
        return 0
    return outcome(args, console, results, paths)


def config_overrides(args) -> tuple[list[str], dict[str, str]]:
    """The ``--set`` items with those the options stand for (``--model``, ``--tasks``, ...), and
    how each option was typed (for errors)."""
    overrides, options, policy = list(args.overrides), {}, getattr(args, "policy", None)
    for key, option, value in (
        ("model", "--model", args.model),
        ("tasks", "--tasks", args.tasks),
        ("output_dir", "--output-dir", args.output_dir),
        ("gates.policy", "--policy", policy and str(policy.resolve())),  # rescore finds it from anywhere
    ):
        if value is not None:  # an empty value is an error, not the default
            overrides.append(f"{key}={_toml_string(value)}")
            options[overrides[-1]] = f"{option} {value!r}"  # errors name the option as typed
    if args.no_cache:
        overrides.append("cache=false")
    if getattr(args, "seeds", None) is not None:
        overrides.append(f"seeds={args.seeds}")
        options[overrides[-1]] = f"--seeds {args.seeds}"
    return overrides, options


def checkpoints(args, console) -> int:
    """``harness eval --checkpoints RUN``: every checkpoint of a tuned run evaluated with its
    saved config (``--set``, ``--tasks`` and ``--output-dir`` change it), the trajectory printed
    (:func:`harness.reports.checkpoints.print_checkpoints`) and written."""
    from harness import distributed
    from harness.checkpoints import evaluate_checkpoints, plan
    from harness.config_loader import load_config
    from harness.reports.checkpoints import print_checkpoints
    from harness.reports.terminal import RichProgress

    refused = (("--model", args.model), ("--config", args.config), ("--gate", args.gate))
    given = [name for name, value in refused if value]
    if given:
        raise HarnessError(
            f"--checkpoints evaluates the run's own checkpoints with its saved config: {given[0]} cannot be "
            "combined with it (--set, --tasks and --output-dir change the saved config)"
        )
    if distributed.launched():
        raise HarnessError("--checkpoints runs in one process; start it without torchrun / accelerate launch")
    overrides, options = config_overrides(args)
    models_dir = load_config(None, overrides, options).models_dir  # where the run id is looked up
    planned = plan(
        args.checkpoints,
        models_dir=models_dir,
        overrides=overrides,
        options=options,
        plugins=args.plugin,
        tasks_dirs=args.tasks_dirs,
    )
    with RichProgress(console, disable=args.quiet) as bars:
        summary, paths = evaluate_checkpoints(planned, bars)
    print_checkpoints(console, summary, paths)
    if args.json:
        written = {kind: str(path) for kind, path in paths.items()}
        print(
            json.dumps(
                {"exit_code": 0, "checkpoints": summary, "paths": written}, indent=2, ensure_ascii=False
            )
        )
    return 0


def seed_outcome(args, console, seed_set) -> int:
    """Print a seed set's outcome (:func:`harness.reports.seeds.print_seed_set`); the exit code is
    the most severe of its runs' gates (1 before 4)."""
    from harness.decisions.gates import exit_code
    from harness.reports.seeds import print_seed_set

    codes = {exit_code(run.results.get("gates", [])) for run in seed_set.runs}
    code = GATE_FAILED if GATE_FAILED in codes else max(codes)
    print_seed_set(console, seed_set)
    if args.json:
        summary = {
            "exit_code": code,
            "seeds": seed_set.summary,
            "paths": {k: str(v) for k, v in seed_set.paths.items()},
        }
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    return code


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
