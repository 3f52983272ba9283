"""Tests for harness.decisions.verdicts: a task is improved or regressed only when its primary
metric's paired test is significant after the correction over tasks and the change is large
enough; otherwise "no change" when the delta's interval lies within ± the minimum effect, else
"inconclusive", leaning one way. Metric entries are built by hand, as results.json holds them."""

from __future__ import annotations

import pytest

from harness.decisions import decide, holm
from harness.reports import render_markdown


def metric(before, after, p_value, *, higher_is_better=True, scale=1.0, ci=None) -> dict:
    delta = None if after is None else after - before
    entry = {
        "higher_is_better": higher_is_better,
        "scale": scale,
        "before": before,
        "after": after,
        "delta": delta,
    }
    if after is not None:
        entry["delta_ci"] = ci or [delta - 0.1 * scale, delta + 0.1 * scale]
        if p_value is not None:
            entry["p_value"] = p_value
    return entry


def task(primary: str, entry: dict, **others: dict) -> dict:
    return {"primary_metric": primary, "metrics": {primary: entry, **others}}


def decide_one(entry: dict, *, min_effect=0.01, correction="holm", alpha=0.05) -> dict:
    verdicts, _ = decide({"t": task("m", entry)}, alpha=alpha, min_effect=min_effect, correction=correction)
    return verdicts["t"]


def test_a_gain_that_is_not_significant_is_not_called_improved():
    """The issue's sentiment case: accuracy 0.4725 -> 0.5275 with p = 0.151."""
    entry = metric(0.4725, 0.5275, 0.151, ci=[-0.02, 0.13])
    verdict = decide_one(entry)
    mde = verdict.pop("mde")
    assert {k: verdict[k] for k in list(verdict)[:11]} == {
        "metric": "m",
        "outcome": "inconclusive",
        "leaning": "up",
        "before": 0.4725,
        "after": 0.5275,
        "delta": pytest.approx(0.055),
        "delta_ci": [-0.02, 0.13],
        "p_value": 0.151,
        "p_adjusted": 0.151,
        "significant": False,
        "large_enough": True,
    }
    # no delta_se recorded (an older run): the standard error the 95% interval implies, and the
    # normal-approximation MDE (z_0.975 + z_0.8) × se = 2.8016 × 0.15 / 3.9199
    assert mde == pytest.approx(2.80159 * 0.15 / 3.91993, rel=1e-4)
    assert (verdict["margin"], verdict["n"], verdict["n_needed"]) == (0.01, None, None)
    assert verdict["warnings"] == []
    assert verdict["reason"] == (
        "p = 0.151 ≥ 0.05; the 95% CI [-0.0200, +0.1300] reaches beyond ± 0.01: MDE 0.107"
    )


def test_a_significant_but_tiny_bleu_gain_is_below_the_minimum_effect():
    """The issue's translation case: BLEU 0.04 -> 0.39 (on sacrebleu's 0-100 scale) is significant
    but 0.0035 of the scale, below min_effect 0.01."""
    verdict = decide_one(metric(0.04, 0.39, 0.001, scale=100.0))
    assert (verdict["outcome"], verdict["leaning"]) == ("inconclusive", "up")
    assert verdict["significant"] is True and verdict["large_enough"] is False
    assert verdict["reason"].startswith(
        "p = 0.001 < 0.05, but |delta| = 0.35 is below the minimum effect 1 (0.01 × scale 100); "
        "the 95% CI [-9.65, +10.35] reaches beyond ± 1"
    )
    # the same gain counts once the minimum is lowered below 0.0035
    assert decide_one(metric(0.04, 0.39, 0.001, scale=100.0), min_effect=0.003)["outcome"] == "improved"


def test_significant_large_changes_in_both_directions():
    improved = decide_one(metric(0.50, 0.78, 0.0002))
    assert (improved["outcome"], improved["leaning"], improved["significant"]) == ("improved", "up", True)
    assert improved["reason"] == "p = 0.0002 < 0.05, and |delta| = 0.2800 ≥ the minimum effect 0.01"
    regressed = decide_one(metric(27.0, 8.6, 0.0001, scale=100.0))
    assert (regressed["outcome"], regressed["leaning"]) == ("regressed", "down")


def test_lower_is_better_metrics_are_judged_by_their_direction():
    """TER-like, lower is better: going up by 15 points is a regression, going down an improvement."""
    worse = decide_one(metric(40.0, 55.0, 0.001, higher_is_better=False, scale=100.0))
    assert (worse["outcome"], worse["leaning"], worse["delta"]) == ("regressed", "down", 15.0)
    better = decide_one(metric(55.0, 40.0, 0.001, higher_is_better=False, scale=100.0))
    assert (better["outcome"], better["leaning"]) == ("improved", "up")
    leaning_worse = decide_one(metric(40.0, 45.0, 0.3, higher_is_better=False, scale=100.0))
    assert (leaning_worse["outcome"], leaning_worse["leaning"]) == ("inconclusive", "down")


def test_the_minimum_effect_is_inclusive_and_an_unchanged_score_leans_nowhere():
    assert decide_one(metric(0.50, 0.51, 0.001))["outcome"] == "improved"  # 0.51 - 0.50 is 0.0100000…9
    assert decide_one(metric(0.50, 0.49, 0.001))["outcome"] == "regressed"
    same = decide_one(metric(0.5, 0.5, 1.0))
    assert (same["outcome"], same["leaning"], same["large_enough"]) == ("inconclusive", "none", False)


THREE_TASKS = {
    "sentiment": task("accuracy", metric(0.50, 0.78, 0.001)),
    "summarization": task("rougeL", metric(0.30, 0.36, 0.03), rouge1=metric(0.4, 0.1, 0.0001)),
    "translation": task("bleu", metric(20.0, 22.0, 0.2, scale=100.0)),
}


def test_holm_changes_the_outcome_over_three_tasks_and_says_so():
    verdicts, decision = decide(THREE_TASKS, alpha=0.05, min_effect=0.01, correction="holm")
    # sorted raw p: 0.001 × 3, 0.03 × 2, 0.2 × 1
    adjusted = {name: v["p_adjusted"] for name, v in verdicts.items()}
    assert adjusted == pytest.approx({"sentiment": 0.003, "summarization": 0.06, "translation": 0.2})
    summarization = verdicts["summarization"]
    assert summarization["p_value"] == 0.03 and summarization["significant"] is False
    assert (summarization["outcome"], summarization["leaning"]) == ("inconclusive", "up")
    assert summarization["reason"].startswith(
        "p = 0.06 ≥ 0.05 after Holm over 3 tasks "
        "(raw p = 0.03 < 0.05: significant only without the correction); the 95% CI"
    )
    assert verdicts["sentiment"]["outcome"] == "improved"
    assert verdicts["sentiment"]["reason"].startswith("p = 0.003 < 0.05 after Holm over 3 tasks, and ")
    assert verdicts["translation"]["outcome"] == "inconclusive"
    assert decision == {
        "alpha": 0.05,
        "min_effect": 0.01,
        "correction": "holm",
        "power": 0.8,
        "mde_alpha": pytest.approx(0.05 / 3),
        "improved": 1,
        "regressed": 0,
        "no_change": 0,
        "inconclusive": 2,
        "unchanged": 2,
        "summary": "1 of 3 tasks improved, 0 regressed, 0 no change, 2 inconclusive",
        "warnings": [],
    }


def test_without_correction_the_raw_p_value_decides():
    verdicts, decision = decide(THREE_TASKS, alpha=0.05, min_effect=0.01, correction="none")
    summarization = verdicts["summarization"]
    assert summarization["p_adjusted"] == summarization["p_value"] == 0.03
    assert summarization["outcome"] == "improved"
    assert summarization["reason"].startswith("p = 0.03 < 0.05 (uncorrected, 3 tasks), and ")
    assert (decision["improved"], decision["regressed"], decision["unchanged"]) == (2, 0, 1)
    assert decision["correction"] == "none"


def test_overall_counts():
    tasks = {
        "a": task("accuracy", metric(0.5, 0.8, 0.0001)),
        "b": task("bleu", metric(27.0, 8.6, 0.0001, scale=100.0)),
        "c": task("accuracy", metric(0.47, 0.53, 0.151)),
        "d": task("chrf", metric(30.0, 30.2, 0.0001, scale=100.0)),  # significant, 0.002 of the scale
        "e": task("rougeL", metric(0.60, 0.40, 0.0001)),
    }
    verdicts, decision = decide(tasks, alpha=0.05, min_effect=0.01, correction="holm")
    assert [v["outcome"] for v in verdicts.values()] == [
        "improved",
        "regressed",
        "inconclusive",
        "inconclusive",
        "regressed",
    ]
    assert (decision["improved"], decision["regressed"], decision["inconclusive"]) == (1, 2, 2)
    assert decision["summary"] == "1 of 5 tasks improved, 2 regressed, 0 no change, 2 inconclusive"


def test_a_metric_without_a_paired_test_is_inconclusive_and_outside_the_family():
    tasks = {
        "tested": task("accuracy", metric(0.5, 0.53, 0.03)),
        "untested": task("score", metric(0.2, 0.9, None)),
    }
    verdicts, _ = decide(tasks, alpha=0.05, min_effect=0.01, correction="holm")
    assert verdicts["tested"]["p_adjusted"] == 0.03  # a family of one: Holm changes nothing
    assert verdicts["tested"]["outcome"] == "improved"
    untested = verdicts["untested"]
    assert (untested["outcome"], untested["p_value"], untested["p_adjusted"]) == ("inconclusive", None, None)
    assert (untested["mde"], untested["n_needed"]) == (None, None)
    assert untested["reason"].startswith("no paired test")


def test_eval_mode_has_no_verdicts():
    tasks = {"sentiment": task("accuracy", metric(0.5, None, None))}
    verdicts, decision = decide(tasks, alpha=0.05, min_effect=0.01, correction="holm")
    assert verdicts == {}
    assert (decision["improved"], decision["regressed"], decision["unchanged"]) == (0, 0, 0)
    results = {"run_id": "r", "mode": "eval", "tasks": tasks}
    md = render_markdown(results, [])
    assert "Overall" not in md and "Verdict" not in md and "improved" not in md


def test_scale_defaults_to_one_for_entries_recorded_before_scale():
    entry = metric(0.5, 0.6, 0.001)
    del entry["scale"]
    assert decide_one(entry)["large_enough"] is True


def test_holm_adjusted_p_values():
    assert holm({}) == {}
    assert holm({"a": 0.04}) == {"a": 0.04}
    # sorted 0.01, 0.03, 0.04: 3 × 0.01, 2 × 0.03, then max(0.06, 1 × 0.04): never below an earlier one
    assert holm({"a": 0.04, "b": 0.01, "c": 0.03}) == pytest.approx({"a": 0.06, "b": 0.03, "c": 0.06})
    assert holm({"a": 0.5, "b": 0.6}) == {"a": 1.0, "b": 1.0}  # capped at 1


def test_unknown_correction_is_refused():
    with pytest.raises(ValueError, match="correction"):
        decide({}, alpha=0.05, min_effect=0.01, correction="bonferroni")


def test_p_values_in_reasons_never_round_across_alpha():
    assert decide_one(metric(0.5, 0.6, 0.049996))["reason"].startswith("p = 0.049996 < 0.05,")
    assert decide_one(metric(0.5, 0.6, 0.00001))["reason"].startswith("p < 0.0001 < 0.05,")
    assert decide_one(metric(0.5, 0.6, 0.1234))["reason"].startswith("p = 0.1234 ≥ 0.05; ")


def _with_spread(entry: dict, band: float) -> dict:
    return {**task("m", entry), "seed_spread": {"set_id": "seeds-x", "n_seeds": 3, "band": band}}


def test_a_significant_difference_within_the_seed_spread_is_inconclusive():
    """Two single-seed runs compared (harness compare with a seed set known): a difference that
    another training seed could give is not "improved", however small the test's p-value."""
    entry = metric(0.50, 0.60, 0.001, ci=[0.05, 0.15])
    verdicts, decision = decide(
        {"t": _with_spread(entry, 0.12)}, alpha=0.05, min_effect=0.01, correction="holm"
    )
    verdict = verdicts["t"]
    assert verdict["outcome"] == "inconclusive" and verdict["within_seed_spread"] is True
    assert verdict["significant"] is True and verdict["n_needed"] is None  # more test examples do not help
    assert "within the spread of training itself (±0.12, from 3 seeds of seeds-x)" in verdict["reason"]
    assert "more seeds, not more test examples" in verdict["reason"]
    assert decision["inconclusive"] == 1 and decision["improved"] == 0
    beyond, _ = decide({"t": _with_spread(entry, 0.08)}, alpha=0.05, min_effect=0.01, correction="holm")
    assert beyond["t"]["outcome"] == "improved" and beyond["t"]["within_seed_spread"] is False
    assert "within_seed_spread" not in decide_one(entry)  # no seed set known: the key is absent


def test_the_seed_spread_leaves_no_change_as_it_is():
    entry = metric(0.50, 0.5005, 0.9, ci=[-0.004, 0.005])
    verdicts, _ = decide({"t": _with_spread(entry, 0.05)}, alpha=0.05, min_effect=0.01, correction="holm")
    assert verdicts["t"]["outcome"] == "no change" and verdicts["t"]["within_seed_spread"] is True
