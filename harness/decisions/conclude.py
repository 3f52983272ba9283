"""A run's conclusion: the verdicts (:func:`harness.decisions.decide`) and then the gates
(:func:`harness.decisions.gates.check`), set into its results. The cycle, ``harness rescore``
and ``harness compare`` conclude through :func:`conclude` alone, so the three decide alike."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.config import Config
from harness.decisions.gates import Gate, check, check_names
from harness.decisions.slices import add_slice_verdicts, slice_names
from harness.decisions.verdicts import decide


def conclude(results: dict, config: Config, gates: Sequence[Gate] = ()) -> dict:
    """``results`` with every compared task's ``verdict`` and the run's ``decision`` (not in an
    evaluation, which has nothing to compare), every compared slice's ``q_value`` and
    ``outcome`` and the run's ``slice_decision`` (when a task has slices), then the gates'
    results as ``"gates"`` (when there are gates). Keys already there keep their place, so
    concluding a concluded run again changes nothing but what the numbers change.

    :raises HarnessError: a gate naming a task, slice or metric the results do not have.
    """
    if results["mode"] != "eval":
        verdicts, decision = decide(
            results["tasks"],
            alpha=config.stats.alpha,
            min_effect=config.stats.min_effect,
            correction=config.stats.correction,
        )
        for name, verdict in verdicts.items():
            results["tasks"][name]["verdict"] = verdict
        results = _placed(results, "decision", decision, after="warnings")
        slices = add_slice_verdicts(  # a task's slice_field: BH across every task's slices
            results["tasks"], alpha=config.stats.alpha, min_effect=config.stats.min_effect
        )
        if slices is not None:
            results = _placed(results, "slice_decision", slices, after="decision")
    if gates:
        names = {name: list(task["metrics"]) for name, task in results["tasks"].items()}
        check_names(
            gates, names, "eval" if results["mode"] == "eval" else "run", slice_names(results["tasks"])
        )
        anchor = next(key for key in ("slice_decision", "decision", "tasks") if key in results)
        results = _placed(results, "gates", check(gates, results), after=anchor)
    if config.gates.policy and results["mode"] != "eval":  # a release policy: GO / WARN / NO-GO / ...
        from harness.decisions.policy import apply_policy, load_policy

        decision = apply_policy(load_policy(Path(config.gates.policy)), results)
        anchor = "gates" if "gates" in results else "decision"
        results = _placed(results, "policy", decision, after=anchor)
    return results


def _placed(results: dict, key: str, value, *, after: str) -> dict:
    """``results`` with ``key`` set to ``value``: in place when it is there, else right after the
    key ``after`` (at the end when that is missing), where results.json keeps it."""
    if key in results or after not in results:
        results[key] = value
        return results
    placed = {}
    for name, item in results.items():
        placed[name] = item
        if name == after:
            placed[key] = value
    return placed
