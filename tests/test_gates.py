"""Gates on hand-built results: each kind passing and failing, every parse error on one line
naming the gate, and the names checked against the run's tasks and metrics."""

from __future__ import annotations

import re

import pytest

from harness.decisions.gates import Gate, check, check_names, parse, parse_all
from harness.errors import HarnessError

TASKS = {"sentiment": ["accuracy", "macro_f1"], "translation": ["bleu", "chrf"]}


def verdict(metric: str, outcome: str, delta: float, reason: str) -> dict:
    return {"metric": metric, "outcome": outcome, "delta": delta, "reason": reason}


def results(mode: str = "run") -> dict:
    """Sentiment improved (accuracy 0.5 -> 0.75), translation regressed (BLEU 20 -> 15)."""
    run = mode == "run"

    def scores(before: float, after: float) -> dict:
        return {"before": before, "after": after if run else None, "delta": after - before if run else None}

    tasks = {
        "sentiment": {
            "primary_metric": "accuracy",
            "metrics": {"accuracy": scores(0.5, 0.75), "macro_f1": scores(0.25, 0.5)},
        },
        "translation": {
            "primary_metric": "bleu",
            "metrics": {"bleu": scores(20.0, 15.0), "chrf": scores(40.0, 40.0)},
        },
    }
    if run:
        tasks["sentiment"]["verdict"] = verdict("accuracy", "improved", 0.25, "p = 0.001 < 0.05")
        tasks["translation"]["verdict"] = verdict("bleu", "regressed", -5.0, "p = 0.002 < 0.05")
    return {"run_id": "r1", "mode": mode, "tasks": tasks}


def gate_result(expression: str, mode: str = "run") -> dict:
    (entry,) = check([parse(expression)], results(mode))
    assert entry["expression"] == expression and entry["source"] == "--gate"
    return entry


# --- parsing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("sentiment.accuracy>=0.8", ("threshold", "sentiment", "accuracy", "value", ">=", 0.8)),
        ("sentiment.accuracy.delta>0.02", ("threshold", "sentiment", "accuracy", "delta", ">", 0.02)),
        ("translation.bleu.relative <= -0.1", ("threshold", "translation", "bleu", "relative", "<=", -0.1)),
        ("*.primary.delta>=0", ("threshold", "*", "primary", "delta", ">=", 0.0)),
        ("sentiment.accuracy==1", ("threshold", "sentiment", "accuracy", "value", "==", 1.0)),
        ("x.evaluate-file:m/my.py<1e-3", ("threshold", "x", "evaluate-file:m/my.py", "value", "<", 0.001)),
        ("no-regression", ("no-regression", "*", "primary", "value", "", 0.0)),
        ("no-regression:sentiment", ("no-regression", "sentiment", "primary", "value", "", 0.0)),
    ],
)
def test_parse(expression, expected):
    gate = parse(expression)
    assert (gate.kind, gate.task, gate.metric, gate.field, gate.op, gate.value) == expected
    assert gate.expression == expression and gate.source == "--gate"


@pytest.mark.parametrize(
    "expression, message",
    [
        ("sentiment.accuracy=>0.8", "unknown operator '=>'; use one of >=, >, <=, <, =="),
        ("sentiment.accuracy!=0.8", "unknown operator '!='"),
        ("sentiment.accuracy=0.8", "unknown operator '='"),
        ("sentiment.accuracy>=", "missing value after '>='"),
        ("sentiment.accuracy>=high", "value 'high' after '>=' is not a number"),
        ("sentiment.accuracy>=nan", "value 'nan' after '>=' is not a number"),
        ("sentiment.accuracy 0.8", "no comparison operator; use one of"),
        ("sentiment>=0.8", "expected TASK.METRIC before '>=' (e.g. sentiment.accuracy), got 'sentiment'"),
        (">=0.8", "expected TASK.METRIC before '>='"),
        ("no-regresion", "no comparison operator (did you mean 'no-regression'?)"),
        ("no-regression:", "no-regression:TASK needs a task name"),
        ("  ", "empty gate; expected TASK.METRIC"),
    ],
)
def test_malformed_gate_is_one_line_naming_it(expression, message):
    with pytest.raises(HarnessError) as info:
        parse(expression)
    text = str(info.value)
    assert text.startswith(f"--gate {expression!r}: ")
    assert message in text
    assert "\n" not in text and info.value.exit_code == 2


def test_parse_all_names_each_source():
    gates = parse_all(["no-regression"], ["sentiment.accuracy>=0.8"])
    assert [(g.expression, g.source) for g in gates] == [
        ("no-regression", "config gates.require"),
        ("sentiment.accuracy>=0.8", "--gate"),
    ]
    with pytest.raises(HarnessError, match=r"^config gates.require 'bad': no comparison operator"):
        parse_all(["bad"])


# --- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression, message",
    [
        (
            "sentimnt.accuracy>=0.8",
            "unknown task 'sentimnt' (did you mean 'sentiment'?); this run's tasks: sentiment, translation",
        ),
        (
            "sentiment.acuracy>=0.8",
            "unknown metric 'acuracy' for task 'sentiment' (did you mean 'accuracy'?); "
            "its metrics: accuracy, macro_f1, or primary",
        ),
        ("sentiment.accuracy.delt>=0", "unknown field 'delt' (did you mean 'delta'?); use delta or relative"),
        ("*.accuracy>=0.5", "unknown metric 'accuracy' for task 'translation'"),
        ("no-regression:summarization", "unknown task 'summarization'"),
    ],
)
def test_unknown_names(expression, message):
    with pytest.raises(HarnessError) as info:
        check_names([parse(expression)], TASKS)
    text = str(info.value)
    assert text.startswith(f"--gate {expression!r}: ") and message in text


def test_known_names_pass():
    gates = [parse(e) for e in ("sentiment.macro_f1<1", "*.primary.relative>0", "no-regression:translation")]
    check_names(gates, TASKS)  # no error


@pytest.mark.parametrize(
    "expression", ["no-regression", "sentiment.accuracy.delta>=0", "*.primary.relative>0"]
)
def test_baseline_gates_are_refused_in_eval_mode(expression):
    with pytest.raises(HarnessError, match="only absolute gates .* apply in eval mode"):
        check_names([parse(expression)], TASKS, mode="eval")


def test_absolute_gates_are_fine_in_eval_mode():
    check_names([parse("sentiment.accuracy>=0.5"), parse("*.primary>0")], TASKS, mode="eval")


# --- checking -------------------------------------------------------------------------------------


def test_threshold_reads_the_score_after_tuning():
    passing = gate_result("sentiment.accuracy>=0.75")
    assert passing["passed"] is True and passing["actual"] == 0.75
    assert passing["detail"] == "sentiment accuracy after tuning 0.75 passes >= 0.75"
    failing = gate_result("sentiment.accuracy>=0.8")
    assert failing["passed"] is False and failing["actual"] == 0.75
    assert failing["detail"] == "sentiment accuracy after tuning 0.75 fails >= 0.8"


def test_threshold_in_eval_mode_reads_the_score():
    entry = gate_result("sentiment.accuracy>0.4", mode="eval")
    assert entry["passed"] is True and entry["actual"] == 0.5
    assert gate_result("sentiment.accuracy>0.5", mode="eval")["passed"] is False


@pytest.mark.parametrize(
    "op, value, passed",
    [(">=", 0.75, True), (">", 0.75, False), ("<=", 0.75, True), ("<", 0.75, False), ("==", 0.75, True),
     ("==", 0.7, False), ("<", 0.8, True), (">", 0.7, True)],
)  # fmt: skip
def test_operators(op, value, passed):
    assert gate_result(f"sentiment.accuracy{op}{value}")["passed"] is passed


def test_delta_gate():
    passing = gate_result("sentiment.accuracy.delta>=0.2")
    assert passing["passed"] is True and passing["actual"] == 0.25
    assert passing["detail"] == "sentiment accuracy delta +0.25 (0.5 -> 0.75) passes >= 0.2"
    failing = gate_result("translation.bleu.delta>=-1")
    assert failing["passed"] is False and failing["actual"] == -5.0
    assert failing["detail"] == "translation bleu delta -5 (20 -> 15) fails >= -1"


def test_relative_gate():
    passing = gate_result("sentiment.accuracy.relative>=0.5")  # (0.75 - 0.5) / 0.5
    assert passing["passed"] is True and passing["actual"] == 0.5
    failing = gate_result("translation.bleu.relative>-0.1")  # (15 - 20) / 20
    assert failing["passed"] is False and failing["actual"] == -0.25
    assert "relative change -0.25 (20 -> 15) fails > -0.1" in failing["detail"]


def test_relative_gate_with_a_zero_baseline_fails_and_says_why():
    data = results()
    data["tasks"]["sentiment"]["metrics"]["accuracy"].update(before=0.0, after=0.5, delta=0.5)
    (entry,) = check([parse("sentiment.accuracy.relative>=0")], data)
    assert entry["passed"] is False and entry["actual"] is None
    assert entry["detail"] == "sentiment accuracy relative change: undefined (before is 0)"


def test_every_task_gate_fails_on_the_task_that_fails():
    entry = gate_result("*.primary.delta>=0")
    assert entry["passed"] is False and entry["actual"] == -5.0
    assert entry["detail"] == "translation bleu delta -5 (20 -> 15) fails >= 0"


def test_every_task_gate_passes_with_the_closest_value():
    entry = gate_result("*.primary.delta>=-10")
    assert entry["passed"] is True and entry["actual"] == -5.0  # the worst task decides
    assert entry["detail"].startswith(
        "sentiment accuracy delta +0.25 (0.5 -> 0.75) passes >= -10; translation"
    )
    assert gate_result("*.primary.delta<=1")["actual"] == 0.25  # for <=, the largest


def test_no_regression_fails_naming_the_regressed_task():
    entry = gate_result("no-regression")
    assert entry["passed"] is False and entry["actual"] == 1
    assert entry["detail"] == "translation bleu regressed: -5 (p = 0.002 < 0.05)"
    assert gate_result("no-regression:translation")["passed"] is False


def test_no_regression_passes():
    entry = gate_result("no-regression:sentiment")
    assert entry["passed"] is True and entry["actual"] == 0
    assert entry["detail"] == "sentiment accuracy: improved (p = 0.001 < 0.05)"
    data = results()
    data["tasks"]["translation"]["verdict"]["outcome"] = "no significant change"
    (entry,) = check([parse("no-regression")], data)
    assert entry == {
        "expression": "no-regression",
        "passed": True,
        "actual": 0,
        "detail": "no primary metric regressed (2 tasks)",
        "source": "--gate",
        "inconclusive": [],
    }


def test_check_keeps_the_order_of_the_gates():
    gates = parse_all(["no-regression"], ["sentiment.accuracy>=0.5"])
    entries = check(gates, results())
    assert [(e["expression"], e["passed"], e["source"]) for e in entries] == [
        ("no-regression", False, "config gates.require"),
        ("sentiment.accuracy>=0.5", True, "--gate"),
    ]


def test_needs_baseline():
    assert [parse(e).needs_baseline for e in ("a.b>1", "a.b.delta>1", "a.b.relative>1", "no-regression")] == [
        False,
        True,
        True,
        True,
    ]
    assert isinstance(parse("a.b>1"), Gate)


# --- inconclusive tasks -----------------------------------------------------------------------------


def unsure_results() -> dict:
    """As results(), with sentiment inconclusive (too few examples to tell) and translation no change."""
    data = results()
    data["tasks"]["sentiment"]["verdict"] = {
        **verdict("accuracy", "inconclusive", 0.25, "p = 0.2 ≥ 0.05; ..."),
        "n_needed": 1600,
    }
    data["tasks"]["translation"]["verdict"] = verdict("bleu", "no change", 0.0, "the CI lies within ± 1")
    return data


def test_a_gate_on_an_inconclusive_task_passes_but_not_silently():
    from harness.decisions.gates import exit_code

    entries = check(
        parse_all(cli_gates=["no-regression", "translation.bleu>=10", "*.primary>=0"]), unsure_results()
    )
    no_regression, translation, every = entries
    assert no_regression["passed"] is True and no_regression["inconclusive"] == ["sentiment"]
    assert no_regression["detail"] == (
        "no primary metric regressed (2 tasks); "
        "sentiment accuracy is inconclusive, about 1600 test examples would tell"
    )
    assert translation["inconclusive"] == []  # no change was shown: nothing to flag
    assert every["passed"] is True and every["inconclusive"] == ["sentiment"]
    assert exit_code(entries) == 4
    assert exit_code([translation]) == 0
    # a failed gate wins: exit code 1
    failing = check(parse_all(cli_gates=["no-regression", "sentiment.accuracy>=0.9"]), unsure_results())
    assert [e["passed"] for e in failing] == [True, False] and exit_code(failing) == 1
    # no-regression:TASK on the inconclusive task says why
    (one,) = check([parse("no-regression:sentiment")], unsure_results())
    assert one["inconclusive"] == ["sentiment"] and one["detail"].startswith(
        "sentiment accuracy: inconclusive ("
    )


def test_inconclusive_gates_are_shown_as_such():
    from rich.console import Console

    from harness.reports.terminal import print_gates
    from harness.reports.verdict_view import gates_view

    data = unsure_results()
    data["gates"] = check(parse_all(cli_gates=["no-regression", "translation.bleu>=10"]), data)
    view = gates_view(data)
    assert [row["label"] for row in view["rows"]] == ["PASS (inconclusive)", "PASS"]
    assert view["summary"] == "2 of 2 gates passed"
    assert (
        view["note"]
        == "1 passed on a task whose verdict is inconclusive (too few test examples to tell); exit code 4"
    )
    console = Console(record=True, width=200, color_system=None)
    print_gates(console, data["gates"])
    out = console.export_text()
    assert "gates: 1 passed on an inconclusive task (too few test examples to tell): exit code 4" in out
    assert "sentiment accuracy is inconclusive, about 1600 test examples would tell" in out


def test_the_help_documents_exit_code_4():
    from harness.cli import EXIT_CODES

    text = EXIT_CODES.split("\n  4 ", 1)[1].split("\n  130 ", 1)[0]  # the code's line and its continuation
    assert "inconclusive" in text and "gate" in text


# --- slices ---------------------------------------------------------------------------------------

SLICES = {"sentiment": {"field": "domain", "metric": "accuracy", "values": ["imdb", "yelp reviews", "<b>"]}}


def sliced_results() -> dict:
    """results() with sentiment's slices: imdb improved (0.5 -> 0.9), yelp regressed (0.5 -> 0.3)."""
    data = results()
    imdb = {"n": 50, "before": 0.5, "after": 0.9, "delta": 0.4, "q_value": 0.001, "outcome": "improved"}
    yelp = {"n": 50, "before": 0.5, "after": 0.3, "delta": -0.2, "q_value": 0.01, "outcome": "regressed"}
    data["tasks"]["sentiment"]["slices"] = {
        "field": "domain",
        "metric": "accuracy",
        "values": {"imdb": imdb, "yelp reviews": yelp},
    }
    return data


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("sentiment[imdb].accuracy.delta>=0", ("threshold", "imdb", "accuracy", "delta", 0.0)),
        ("sentiment[yelp reviews].primary>0.5", ("threshold", "yelp reviews", "primary", "value", 0.5)),
        ("sentiment[<b>].accuracy<=1", ("threshold", "<b>", "accuracy", "value", 1.0)),
        ("sentiment[*].accuracy.relative>-0.1", ("threshold", "*", "accuracy", "relative", -0.1)),
        ("no-regression:sentiment[imdb]", ("no-regression", "imdb", "primary", "value", 0.0)),
        ("sentiment.accuracy>=0", ("threshold", None, "accuracy", "value", 0.0)),
    ],
)
def test_parse_a_slice_gate(expression, expected):
    gate = parse(expression)
    assert gate.task == "sentiment" and gate.expression == expression
    assert (gate.kind, gate.slice, gate.metric, gate.field, gate.value) == expected


@pytest.mark.parametrize(
    "expression, message",
    [
        ("sentiment[].accuracy>=0", "empty slice in sentiment[]"),
        ("*[imdb].accuracy>=0", "a slice belongs to one task"),
        (
            "sentiment[imdb]accuracy>=0",
            "expected TASK[VALUE].METRIC after sentiment[imdb], got 'accuracy>=0'",
        ),
        ("sentiment.accuracy[imdb]>=0", "expected TASK.METRIC before '>='"),
        ("no-regression:sentiment[imdb].accuracy", "no-regression:TASK needs a task name"),
    ],
)
def test_a_malformed_slice_gate_is_one_line(expression, message):
    with pytest.raises(HarnessError, match=re.escape(message)):
        parse(expression)


UNKNOWN_SLICE = "unknown slice 'imbd' of task 'sentiment' (did you mean 'imdb'?); its domain values: imdb"
NOT_PRIMARY = "slices are compared on the primary metric of 'sentiment', 'accuracy', not 'macro_f1'"


@pytest.mark.parametrize(
    "expression, message",
    [
        ("sentiment[imbd].accuracy>=0", UNKNOWN_SLICE + ", yelp reviews, <b>"),
        ("translation[imdb].bleu>=0", "task 'translation' has no slices (it names no slice_field)"),
        ("sentiment[imdb].macro_f1>=0", NOT_PRIMARY),
        ("sentiment[imdb].acuracy>=0", "unknown metric 'acuracy' for task 'sentiment'"),
    ],
)
def test_slice_names_are_checked_against_the_data(expression, message):
    with pytest.raises(HarnessError, match=re.escape(message)):
        check_names([parse(expression)], TASKS, slices=SLICES)
    check_names([parse("sentiment[<b>].primary>0"), parse("sentiment[*].accuracy>0")], TASKS, "eval", SLICES)


def test_slice_gates_read_the_slice():
    data = sliced_results()
    delta, low, every, regressed, fine = check(
        [
            parse("sentiment[imdb].accuracy.delta>=0.3"),
            parse("sentiment[yelp reviews].primary>=0.5"),
            parse("sentiment[*].accuracy.delta>-0.1"),
            parse("no-regression:sentiment[*]"),
            parse("no-regression:sentiment[imdb]"),
        ],
        data,
    )
    assert delta["passed"] and delta["actual"] == 0.4
    assert delta["detail"] == "sentiment[imdb] accuracy delta +0.4 (0.5 -> 0.9) passes >= 0.3"
    assert not low["passed"] and low["actual"] == 0.3
    assert low["detail"] == "sentiment[yelp reviews] accuracy after tuning 0.3 fails >= 0.5"
    assert not every["passed"] and every["actual"] == -0.2 and "sentiment[yelp reviews]" in every["detail"]
    assert not regressed["passed"] and regressed["actual"] == 1
    assert regressed["detail"] == "sentiment[yelp reviews] accuracy: regressed (-0.2, q = 0.01)"
    assert fine["passed"] and fine["detail"] == "sentiment[imdb] accuracy: improved (+0.4, q = 0.001)"
    data["tasks"]["sentiment"]["slices"]["values"]["yelp reviews"].update(after=0.6, delta=0.1, outcome="x")
    (every,) = check([parse("no-regression:sentiment[*]")], data)
    assert every["passed"] and every["detail"] == "no slice of sentiment regressed (2 slices)"
    with pytest.raises(HarnessError, match="task 'sentiment' has no slice 'amazon' in these results"):
        check([parse("sentiment[amazon].accuracy>=0")], data)
    data["tasks"]["sentiment"]["slices"]["values"] = None  # a metric whose results cannot be cut
    (uncut,) = check([parse("sentiment[imdb].accuracy>=0")], data)
    assert not uncut["passed"] and "accuracy cannot be cut into slices" in uncut["detail"]
