"""A release policy: one GO / WARN / NO-GO / INCONCLUSIVE line from a run's results, by rules a
release manager writes down once (a TOML file) instead of reading every number.

::

    alpha = 0.05                      # of the one-sided non-inferiority tests

    [tasks.sentiment]
    tier = "critical"                 # critical | supporting | advisory
    metric = "accuracy"               # default: the task's primary metric
    non_inferiority = 0.02            # not worse than -0.02, shown one-sided at alpha
    max_drop = 0.02                   # absolute tolerance: delta >= -0.02
    max_relative_drop = 0.05          # relative tolerance: delta / |before| >= -5%
    min_after = 0.80                  # the score after tuning at least this
    missing = "no-go"                 # a task absent from the run: no-go | warn | ignore

Signs follow the metric's direction (a drop of a lower-is-better metric is a rise). Each check
passes, fails, or (non-inferiority only) cannot tell: the point estimate is within the margin but
the one-sided bound is not. A task fails when a check fails and cannot tell when one cannot;
with no checks, its verdict decides (regressed fails, inconclusive cannot tell).

A rule may name a slice of a task (``[tasks."sentiment[imdb]"]``, see a task's ``slice_field``):
its rules apply to that slice's before/after, delta and interval, on the slices' metric.

A critical task that fails is NO-GO and one that cannot tell is INCONCLUSIVE; a supporting task
either way is WARN; an advisory one is only noted. The run's line is the most severe of its
tasks' (NO-GO > INCONCLUSIVE > WARN > GO); exit codes :data:`EXIT_CODES`.

The one-sided bound is ``delta - z(1 - alpha) * se``, with ``se`` read off the run's
``delta_ci`` (a percentile bootstrap or exact interval at level ``1 - alpha_run``) as
``width / (2 z(1 - alpha_run / 2))``: a normal approximation that keeps the decision computable
from results.json alone.
"""

from __future__ import annotations

import math
import statistics
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, did_you_mean

TIERS = ("critical", "supporting", "advisory")
GO, WARN, NO_GO, INCONCLUSIVE = "GO", "WARN", "NO-GO", "INCONCLUSIVE"
SEVERITY = (GO, WARN, INCONCLUSIVE, NO_GO)  # least to most severe
EXIT_CODES = {GO: 0, WARN: 0, NO_GO: 1, INCONCLUSIVE: 4}
MISSING = {"no-go": NO_GO, "warn": WARN, "ignore": GO}
_TASK_KEYS = ("tier", "metric", "non_inferiority", "max_drop", "max_relative_drop", "min_after", "missing")
EPS = 1e-12  # a change exactly at a tolerance meets it (0.475 - 0.5 is -0.02500000000000002)
_DEFAULT_MISSING = {"critical": "no-go", "supporting": "warn", "advisory": "ignore"}


@dataclass(frozen=True)
class TaskRule:
    """One task's rules in a policy."""

    task: str
    tier: str
    metric: str | None = None
    non_inferiority: float | None = None
    max_drop: float | None = None
    max_relative_drop: float | None = None
    min_after: float | None = None
    missing: str = "no-go"


@dataclass(frozen=True)
class Policy:
    """A parsed policy file."""

    source: str
    alpha: float
    rules: tuple[TaskRule, ...]


def load_policy(path: Path) -> Policy:
    """Read and check a policy file; a bad one raises one line naming the file, line and key."""
    from harness.validation import Locator

    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"{path}: policy file not found")
    text = path.read_text(encoding="utf-8-sig")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise HarnessError(f"{path}: invalid TOML: {exc}") from None
    at = Locator(str(path), text)

    def fail(key: str, message: str) -> HarnessError:
        return HarnessError(f"{at(key)}: {message}")

    unknown = sorted(set(raw) - {"alpha", "tasks"})
    if unknown:
        raise fail(
            unknown[0], f"unknown policy key {unknown[0]!r}{did_you_mean(unknown[0], ['alpha', 'tasks'])}"
        )
    alpha = raw.get("alpha", 0.05)
    if not _number(alpha) or not 0 < alpha < 0.5:
        raise fail("alpha", f"alpha must be a number between 0 and 0.5, got {alpha!r}")
    tasks = raw.get("tasks", {})
    if not isinstance(tasks, dict) or not tasks:
        raise fail("tasks", "a policy needs at least one [tasks.NAME] table")
    return Policy(str(path), float(alpha), tuple(_rule(name, spec, fail) for name, spec in tasks.items()))


def _rule(name: str, spec: Any, fail) -> TaskRule:
    where = f"tasks.{name}"
    if not isinstance(spec, dict):
        raise fail(where, f"{where} must be a table")
    for key in spec:
        if key not in _TASK_KEYS:
            raise fail(f"{where}.{key}", f"unknown key {key!r} in [{where}]{did_you_mean(key, _TASK_KEYS)}")
    tier = spec.get("tier")
    if tier not in TIERS:
        raise fail(f"{where}.tier", f"{where}.tier must be one of {', '.join(TIERS)}, got {tier!r}")
    missing = spec.get("missing", _DEFAULT_MISSING[tier])
    if missing not in MISSING:
        raise fail(
            f"{where}.missing", f"{where}.missing must be one of {', '.join(MISSING)}, got {missing!r}"
        )
    metric = spec.get("metric")
    if metric is not None and (not isinstance(metric, str) or not metric):
        raise fail(f"{where}.metric", f"{where}.metric must be a metric name, got {metric!r}")
    numbers = {}
    for key in ("non_inferiority", "max_drop", "max_relative_drop", "min_after"):
        value = spec.get(key)
        if value is not None and (not _number(value) or (key != "min_after" and value < 0)):
            kind = "a number" if key == "min_after" else "a number ≥ 0"
            raise fail(f"{where}.{key}", f"{where}.{key} must be {kind}, got {value!r}")
        numbers[key] = None if value is None else float(value)
    return TaskRule(task=name, tier=tier, metric=metric, missing=missing, **numbers)


def apply_policy(policy: Policy, results: dict) -> dict:
    """The policy's decision on a run's results.json content: ``{"decision", "exit_code",
    "line", "source", "alpha", "tasks": {task: {"tier", "metric", "status", "outcome", "checks",
    "why"}}}``, where a check is ``{"name", "passed" (True, False or None: cannot tell),
    "detail"}``."""
    tasks = {rule.task: _task(rule, results, policy.alpha) for rule in policy.rules}
    decision = max((t["outcome"] for t in tasks.values()), key=SEVERITY.index, default=GO)
    counted = {o: sum(t["outcome"] == o for t in tasks.values()) for o in (NO_GO, INCONCLUSIVE, WARN)}
    reasons = ", ".join(f"{n} {o}" for o, n in counted.items() if n)
    line = f"{decision}: {len(tasks)} task{'s' if len(tasks) != 1 else ''} under {Path(policy.source).name}"
    return {
        "source": policy.source,
        "alpha": policy.alpha,
        "decision": decision,
        "exit_code": EXIT_CODES[decision],
        "line": line + (f" ({reasons})" if reasons else ", every rule met"),
        "tasks": tasks,
    }


def _task(rule: TaskRule, results: dict, alpha: float) -> dict:
    name, _, value = rule.task.partition("[")
    task = (results.get("tasks") or {}).get(name)
    metric = rule.metric or (task or {}).get("primary_metric")
    entry = ((task or {}).get("metrics") or {}).get(metric) or {}
    if value:  # a slice, "task[value]": its entry, with the direction and scale of its metric
        slices = (task or {}).get("slices") or {}
        metric = slices.get("metric")
        found = (slices.get("values") or {}).get(value.removesuffix("]"))
        task = task if found is not None and (rule.metric in (None, metric)) else None
        whole = ((task or {}).get("metrics") or {}).get(metric) or {}
        entry = {**{k: whole.get(k) for k in ("higher_is_better", "scale")}, **(found or {})}
    head = {"tier": rule.tier, "metric": metric}
    if not _number(entry.get("after")) or not _number(entry.get("before")):
        status = "missing"
        why = f"not in the run{'' if task is None else ' with a before/after pair of ' + str(metric)}"
        return {**head, "status": status, "outcome": MISSING[rule.missing], "checks": [], "why": why}
    checks = _checks(rule, entry, results, alpha)
    verdict = (entry if value else task.get("verdict") or {}).get("outcome")
    if not checks:
        passed = {"regressed": False, "inconclusive": None}.get(verdict, True)
        checks = [{"name": "verdict", "passed": passed, "detail": f"the run's verdict: {verdict}"}]
    status = (
        "fail"
        if any(c["passed"] is False for c in checks)
        else ("cannot tell" if any(c["passed"] is None for c in checks) else "pass")
    )
    outcome = {
        ("critical", "fail"): NO_GO,
        ("critical", "cannot tell"): INCONCLUSIVE,
        ("supporting", "fail"): WARN,
        ("supporting", "cannot tell"): WARN,
    }.get((rule.tier, status), GO)
    why = "; ".join(f"{c['detail']} {_mark(c['passed'])}" for c in checks)
    return {**head, "status": status, "outcome": outcome, "verdict": verdict, "checks": checks, "why": why}


def _checks(rule: TaskRule, entry: dict, results: dict, alpha: float) -> list[dict]:
    sign = 1.0 if entry.get("higher_is_better", True) else -1.0
    before, after = float(entry["before"]), float(entry["after"])
    gain = sign * (after - before)  # > 0: better
    digits = 2 if (entry.get("scale") or 1.0) > 1.5 else 4
    checks = []
    if rule.min_after is not None:
        ok = sign * (after - rule.min_after) >= -EPS
        checks.append(
            _check("min_after", ok, f"after {after:.{digits}f} {'≥' if sign > 0 else '≤'} {rule.min_after:g}")
        )
    if rule.max_drop is not None:
        checks.append(
            _check(
                "max_drop", gain >= -rule.max_drop - EPS, f"change {gain:+.{digits}f} ≥ -{rule.max_drop:g}"
            )
        )
    if rule.max_relative_drop is not None and before != 0:
        relative = gain / abs(before)
        detail = f"relative change {relative:+.2%} ≥ -{rule.max_relative_drop:.2%}"
        checks.append(_check("max_relative_drop", relative >= -rule.max_relative_drop - EPS, detail))
    if rule.non_inferiority is not None:
        checks.append(_non_inferiority(gain, entry, results, alpha, rule.non_inferiority, sign, digits))
    return checks


def _non_inferiority(gain, entry, results, alpha, margin, sign, digits) -> dict:
    ci = entry.get("delta_ci")
    run_alpha = float((results.get("statistics") or {}).get("alpha", 0.05))  # the level of delta_ci
    if not (isinstance(ci, list) and len(ci) == 2 and all(map(_number, ci))):
        return _check("non_inferiority", None, "non-inferiority: no confidence interval in the run to test")
    normal = statistics.NormalDist()
    se = (ci[1] - ci[0]) / (2 * normal.inv_cdf(1 - run_alpha / 2))
    bound = gain - normal.inv_cdf(1 - alpha) * se
    detail = f"non-inferiority: one-sided bound {bound:+.{digits}f} > -{margin:g} at alpha {alpha:g}"
    if bound > -margin:
        return _check("non_inferiority", True, detail)
    return _check("non_inferiority", False if gain <= -margin else None, detail.replace(">", "≤", 1))


def _check(name: str, passed: bool | None, detail: str) -> dict:
    return {"name": name, "passed": passed, "detail": detail}


def _mark(passed: bool | None) -> str:
    return {True: "(met)", False: "(failed)", None: "(cannot tell)"}[passed]


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
