"""Gates: conditions a run must meet, written as short expressions (``--gate`` and the config's
``[gates] require``); a failed gate makes ``harness`` exit with code 1.

* ``TASK.METRIC OP VALUE``: the metric's value, after tuning (in eval mode: the model's score),
  e.g. ``sentiment.accuracy>=0.8``; on the metric's own scale (BLEU 0-100).
* ``TASK.METRIC.delta OP VALUE``: after − before, e.g. ``sentiment.accuracy.delta>=0.02``.
* ``TASK.METRIC.relative OP VALUE``: (after − before) / |before|, e.g. ``translation.bleu.relative>=0.05``.
* ``no-regression`` / ``no-regression:TASK``: no task's (that task's) primary metric "regressed"
  per its verdict (significant after correction and at least the minimum effect).
* ``TASK[VALUE]`` in place of ``TASK``: a slice of a task whose data names a ``slice_field``
  (as release policies spell it), e.g. ``sentiment[imdb].accuracy.delta>=0``,
  ``no-regression:sentiment[imdb]``; ``TASK[*]``: every slice. On the task's primary metric;
  "regressed" is the slice's outcome (:mod:`harness.decisions.slices`). VALUE is the text in
  the brackets (no ``]``). Slices have no inconclusive outcome, so slice gates are never exit 4.

A gate that names a task whose verdict is "inconclusive" (the test set is too small to tell a
change from none; ``*`` and ``no-regression`` name every task) does not pass silently: its
result lists the task under ``inconclusive`` and, unless a gate failed, ``harness`` exits with
code 4 (:func:`exit_code`).

``OP`` is one of ``>=``, ``>``, ``<=``, ``<``, ``==``. ``TASK`` may be ``*`` (every task) and
``METRIC`` may be ``primary`` (each task's primary metric). A gate is parsed (:func:`parse`) and
its names checked (:func:`check_names`: tasks, metrics and slice values, which the test data
holds) before any model work; :func:`check` evaluates it on a run's results.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from harness.errors import HarnessError, did_you_mean

OPERATORS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}
FIELDS = ("delta", "relative")  # the baseline-relative quantities; none given: the value itself
ALL_TASKS, PRIMARY, NO_REGRESSION = "*", "primary", "no-regression"
ALL_SLICES = "*"  # TASK[*]: every slice of the task
EXAMPLE = (
    "expected TASK.METRIC[.delta|.relative] OP VALUE (e.g. sentiment.accuracy>=0.8) or no-regression[:TASK]"
)
_NAME = re.compile(r"^[^\s<>=!\[\]]+$")
_SLICE = re.compile(r"^([^\s<>=!\[\].:]+)\[([^\]]*)\](.*)$", re.DOTALL)  # TASK[VALUE]..., VALUE any but ]
PASSED, FAILED, INCONCLUSIVE = 0, 1, 4  # exit codes of a gated run


@dataclass(frozen=True)
class Gate:
    """One parsed gate expression.

    :param kind: ``"threshold"`` (a metric against a value) or ``"no-regression"``.
    :param task: a task name, or ``"*"`` for every task.
    :param metric: a metric name, or ``"primary"`` (thresholds only).
    :param field: ``"value"``, ``"delta"`` or ``"relative"`` (thresholds only).
    :param source: where the expression came from (``--gate``, ``gates.require``), for messages.
    :param slice: a slice value of the task (``TASK[VALUE]``), ``"*"`` for every slice, or
        ``None``: the whole task.
    """

    expression: str
    kind: str
    task: str
    metric: str = PRIMARY
    field: str = "value"
    op: str = ""
    value: float = 0.0
    source: str = "--gate"
    slice: str | None = None

    @property
    def needs_baseline(self) -> bool:
        """Whether the gate compares with the model before tuning (not possible in eval mode)."""
        return self.kind == NO_REGRESSION or self.field != "value"

    def error(self, message: str) -> HarnessError:
        """The one-line error about this gate."""
        return _error(self.expression, self.source, message)


def _error(expression: str, source: str, message: str) -> HarnessError:
    return HarnessError(f"{source} {expression!r}: {message}")


def parse(expression: str, source: str = "--gate") -> Gate:
    """A :class:`Gate` from its expression; a malformed one raises :class:`HarnessError`
    (one line naming the gate and what is wrong)."""
    text = expression.strip() if isinstance(expression, str) else ""
    if not isinstance(expression, str):
        raise _error(str(expression), source, f"a gate is a string; {EXAMPLE}")
    if not text:
        raise _error(expression, source, f"empty gate; {EXAMPLE}")
    if text == NO_REGRESSION or text.startswith(NO_REGRESSION + ":"):
        task = text[len(NO_REGRESSION) + 1 :].strip() if ":" in text else ALL_TASKS
        task, value, rest = _sliced(task, expression, source)
        if not task or not _NAME.match(task) or rest:
            raise _error(expression, source, f"no-regression:TASK needs a task name, got {task!r}")
        return Gate(text, NO_REGRESSION, task, source=source, slice=value)
    task, value, rest = _sliced(text, expression, source)
    if value is not None:  # TASK[VALUE].METRIC...: the rest is read as the task's gate would be
        if not rest.startswith("."):
            raise _error(
                expression, source, f"expected TASK[VALUE].METRIC after {task}[{value}], got {rest!r}"
            )
        return replace(_threshold_gate(task + rest, expression, source), expression=text, slice=value)
    return _threshold_gate(text, expression, source)


def _sliced(text: str, expression: str, source: str) -> tuple[str, str | None, str]:
    """``(task, slice value, rest)`` of a ``TASK[VALUE]rest`` text; ``(text, None, "")`` without
    brackets."""
    found = _SLICE.match(text)
    if found is None:
        return text, None, ""
    task, value, rest = found.group(1), found.group(2).strip(), found.group(3)
    if not value:
        raise _error(expression, source, f"empty slice in {task}[]; name a value of its slice_field, or *")
    if task == ALL_TASKS:
        raise _error(expression, source, "a slice belongs to one task: TASK[VALUE], not *[VALUE]")
    return task, value, rest


def _threshold_gate(text: str, expression: str, source: str) -> Gate:
    """A ``TASK.METRIC[.FIELD] OP VALUE`` gate."""
    found = re.search(r"[<>=!]+", text)
    if found is None:
        hint = did_you_mean(text.split(":")[0], [NO_REGRESSION])
        raise _error(expression, source, f"no comparison operator{hint}; use one of {', '.join(OPERATORS)}")
    op = found.group()
    if op not in OPERATORS:
        raise _error(expression, source, f"unknown operator {op!r}; use one of {', '.join(OPERATORS)}")
    left, right = text[: found.start()].strip(), text[found.end() :].strip()
    if not right:
        raise _error(expression, source, f"missing value after {op!r}; {EXAMPLE}")
    value = _number(right)
    if value is None:
        raise _error(expression, source, f"value {right!r} after {op!r} is not a number")
    task, dot, rest = left.partition(".")
    if not dot or not task or not rest or not _NAME.match(left):
        raise _error(
            expression, source, f"expected TASK.METRIC before {op!r} (e.g. sentiment.accuracy), got {left!r}"
        )
    metric, field = rest, "value"
    head, dot, last = rest.rpartition(".")
    if dot and last in FIELDS:
        metric, field = head, last
    return Gate(text, "threshold", task, metric, field, op, value, source)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_all(config_gates: Iterable[str] = (), cli_gates: Iterable[str] = ()) -> list[Gate]:
    """The gates of a run: the config's ``gates.require``, then the ``--gate`` options."""
    return [parse(e, "config gates.require") for e in config_gates] + [parse(e, "--gate") for e in cli_gates]


def check_names(
    gates: Iterable[Gate],
    tasks: Mapping[str, Iterable[str]],
    mode: str = "run",
    slices: Mapping[str, Mapping] | None = None,
) -> None:
    """Raise :class:`HarnessError` for a gate that names a task, metric or slice the run does not
    have, or that needs a baseline in eval mode (``mode="eval"``).

    :param tasks: the run's tasks, ``{task name: its metric names}``.
    :param slices: the tasks that have slices, ``{task name: {"field", "metric", "values"}}``
        (the slice field, the metric slices are compared on and the slice values, ``None`` when
        not known); a slice gate on another task is refused.
    """
    tasks = {name: list(metrics) for name, metrics in tasks.items()}
    slices = slices or {}
    for gate in gates:
        if mode != "run" and gate.needs_baseline:
            raise gate.error(
                "compares with the model before tuning, which harness eval does not measure; "
                "only absolute gates (e.g. sentiment.accuracy>=0.8) apply in eval mode"
            )
        if gate.task != ALL_TASKS and gate.task not in tasks:
            raise gate.error(
                f"unknown task {gate.task!r}{did_you_mean(gate.task, tasks)}; "
                f"this run's tasks: {', '.join(tasks) or 'none'}"
            )
        if gate.kind == "threshold" and gate.metric != PRIMARY:
            for name in tasks if gate.task == ALL_TASKS else [gate.task]:
                if gate.metric not in tasks[name]:
                    raise gate.error(_unknown_metric(gate.metric, name, tasks[name]))
        if gate.slice is not None:
            _check_slice(gate, slices.get(gate.task))


def _check_slice(gate: Gate, found: Mapping | None) -> None:
    if found is None:
        raise gate.error(f"task {gate.task!r} has no slices (it names no slice_field)")
    values = found.get("values")
    if gate.slice != ALL_SLICES and values is not None and gate.slice not in values:
        shown = ", ".join(values[:20]) + (f", … ({len(values)} in all)" if len(values) > 20 else "")
        raise gate.error(
            f"unknown slice {gate.slice!r} of task {gate.task!r}{did_you_mean(gate.slice, values)}; "
            f"its {found.get('field')} values: {shown or 'none'}"
        )
    if gate.kind == "threshold" and gate.metric not in (PRIMARY, found.get("metric")):
        raise gate.error(
            f"slices are compared on the primary metric of {gate.task!r}, {found.get('metric')!r}, "
            f"not {gate.metric!r}"
        )


def _unknown_metric(metric: str, task: str, known: list[str]) -> str:
    head, dot, last = metric.rpartition(".")
    if dot and head in known:  # sentiment.accuracy.delt: a misspelt field
        return f"unknown field {last!r}{did_you_mean(last, FIELDS)}; use delta or relative, or none"
    hint = did_you_mean(metric, [*known, PRIMARY])
    return f"unknown metric {metric!r} for task {task!r}{hint}; its metrics: {', '.join(known)}, or primary"


def check(gates: Iterable[Gate], results: dict) -> list[dict]:
    """Each gate evaluated on a run's results (results.json content): ``{"expression", "passed",
    "actual", "detail", "source", "inconclusive"}``. ``actual`` is the value compared (for a ``*``
    gate, the value of the task that decided it: the first failing one, else the closest to
    failing); for no-regression, the number of tasks that regressed. ``inconclusive``: the tasks
    the gate names whose verdict is inconclusive."""
    return [_check_one(gate, results) for gate in gates]


def exit_code(gates: Iterable[dict]) -> int:
    """1 when a gate failed, else 4 when a gate names an inconclusive task, else 0."""
    gates = list(gates)
    if any(not gate["passed"] for gate in gates):
        return FAILED
    return INCONCLUSIVE if any(gate.get("inconclusive") for gate in gates) else PASSED


def _check_one(gate: Gate, results: dict) -> dict:
    names = list(results["tasks"]) if gate.task == ALL_TASKS else [gate.task]
    if gate.task != ALL_TASKS and gate.task not in results["tasks"]:
        raise gate.error(f"task {gate.task!r} is not in these results")
    if gate.slice is not None:
        return _check_slices(gate, results)
    unsure = [n for n in names if (results["tasks"][n].get("verdict") or {}).get("outcome") == "inconclusive"]
    if gate.kind == NO_REGRESSION:
        return _no_regression(gate, results, names, unsure)
    checks = [_threshold(gate, results, name) for name in names]
    return _combined(gate, checks, _unsure_note(results, unsure), unsure)


def _combined(gate: Gate, checks: list[tuple], note: str, unsure: list[str]) -> dict:
    """One gate's entry from its checks ``(passed, actual, detail)``: the first failing one
    decides, else the passing value closest to the threshold."""
    failed = [c for c in checks if not c[0]]
    if failed:
        passed, actual, _ = failed[0]
    else:
        passed, actual = True, _closest(gate, [c[1] for c in checks])
    detail = "; ".join(c[2] for c in (failed or checks)) + note
    return _entry(gate, passed, actual, detail, unsure)


def _check_slices(gate: Gate, results: dict) -> dict:
    """A gate on a task's slices (results.json ``slices``): each slice it names measured as a
    task's metric is, or, for no-regression, its outcome."""
    slices = results["tasks"][gate.task].get("slices")
    if not isinstance(slices, dict):
        raise gate.error(f"task {gate.task!r} has no slices in these results")
    values, metric = slices.get("values"), slices.get("metric")
    if values is None:
        detail = f"{gate.task} {metric} cannot be cut into slices (no per-example scores or statistics)"
        return _entry(gate, False, None, detail, [])
    if gate.slice != ALL_SLICES and gate.slice not in values:
        raise gate.error(f"task {gate.task!r} has no slice {gate.slice!r} in these results")
    names = list(values) if gate.slice == ALL_SLICES else [gate.slice]
    if gate.kind != NO_REGRESSION:
        run = results.get("mode") in ("run", "compare")
        checks = [_measure(gate, run, values[name], f"{gate.task}[{name}] {metric}") for name in names]
        return _combined(gate, checks, "", [])
    regressed = [name for name in names if values[name].get("outcome") == "regressed"]
    notes = [
        f"{gate.task}[{name}] {metric}: {values[name].get('outcome') or 'no outcome'} "
        f"({_fmt(values[name].get('delta'), signed=True)}, q = {_fmt(values[name].get('q_value'))})"
        for name in (regressed if gate.slice == ALL_SLICES else names)
    ]
    if not regressed and gate.slice == ALL_SLICES:
        notes.append(
            f"no slice of {gate.task} regressed ({len(names)} slice{'s' if len(names) != 1 else ''})"
        )
    return _entry(gate, not regressed, len(regressed), "; ".join(notes), [])


def _entry(gate: Gate, passed: bool, actual, detail: str, inconclusive: list[str]) -> dict:
    return {
        "expression": gate.expression,
        "passed": passed,
        "actual": actual,
        "detail": detail,
        "source": gate.source,
        "inconclusive": inconclusive,
    }


def _unsure_note(results: dict, unsure: list[str]) -> str:
    if not unsure:
        return ""
    notes = []
    for name in unsure:
        verdict = results["tasks"][name]["verdict"]
        needed = verdict.get("n_needed")
        more = f", about {needed} test examples would tell" if needed else ""
        notes.append(f"{name} {verdict['metric']} is inconclusive{more}")
    return "; " + "; ".join(notes)


def _threshold(gate: Gate, results: dict, task: str) -> tuple[bool, float | None, str]:
    """(passed, actual, detail) of a threshold gate on one task."""
    entry = results["tasks"][task]
    metric = entry["primary_metric"] if gate.metric == PRIMARY else gate.metric
    if metric not in entry["metrics"]:
        raise gate.error(f"task {task!r} has no metric {metric!r} in these results")
    run = results.get("mode") in ("run", "compare")  # compare: run A is the baseline
    return _measure(gate, run, entry["metrics"][metric], f"{task} {metric}")


def _measure(gate: Gate, run: bool, scores: dict, label: str) -> tuple[bool, float | None, str]:
    """(passed, actual, detail) of a threshold gate on one entry with ``before``, ``after`` and
    ``delta`` (a metric's, or a slice's); ``run``: the results have a before/after pair."""
    before, after = scores.get("before"), scores.get("after")
    if gate.field == "value":
        actual = after if run else before
        label += " after tuning" if run else ""
    elif not run:
        raise gate.error("compares with the model before tuning, which these results (eval mode) lack")
    elif gate.field == "delta":
        actual = scores.get("delta")
        label += " delta"
    else:
        actual = None if before in (None, 0) or after is None else (after - before) / abs(before)
        label += " relative change"
    if actual is None:
        reason = "before is 0" if gate.field == "relative" and before == 0 else "no value"
        return False, None, f"{label}: undefined ({reason})"
    passed = bool(OPERATORS[gate.op](actual, gate.value))
    verb = "passes" if passed else "fails"
    change = f" ({_fmt(before)} -> {_fmt(after)})" if gate.field != "value" else ""
    return (
        passed,
        actual,
        f"{label} {_fmt(actual, signed=gate.field != 'value')}{change} {verb} {gate.op} {_fmt(gate.value)}",
    )


def _closest(gate: Gate, values: list[float]) -> float:
    """Of passing values, the one nearest the threshold (the worst for >/>=, the largest for </<=)."""
    if gate.op in (">=", ">"):
        return min(values)
    if gate.op in ("<=", "<"):
        return max(values)
    return values[0]


def _no_regression(gate: Gate, results: dict, names: list[str], unsure: list[str]) -> dict:
    regressed, notes = [], []
    for name in names:
        verdict = results["tasks"][name].get("verdict")
        if verdict is None:
            raise gate.error(f"task {name!r} has no verdict in these results (eval mode has none)")
        if verdict["outcome"] == "regressed":
            regressed.append(name)
            delta = _fmt(verdict["delta"], signed=True)
            notes.append(f"{name} {verdict['metric']} regressed: {delta} ({verdict['reason']})")
        elif gate.task != ALL_TASKS:
            notes.append(f"{name} {verdict['metric']}: {verdict['outcome']} ({verdict['reason']})")
    if not regressed and gate.task == ALL_TASKS:
        notes.append(f"no primary metric regressed ({len(names)} task{'s' if len(names) != 1 else ''})")
    detail = "; ".join(notes) + (_unsure_note(results, unsure) if gate.task == ALL_TASKS else "")
    return _entry(gate, not regressed, len(regressed), detail, unsure)


def _fmt(value, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.4g}" if signed else f"{value:.4g}"
