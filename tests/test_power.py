"""Tests for harness.decisions.power and the four outcomes it gives the verdicts: power and minimum
detectable effect checked against brute force, scipy and closed forms; equivalence; mid-p McNemar;
one verdict per outcome; the constant-prediction warning; the before-tuning plan."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.stats import binom, binomtest, multinomial, norm

from harness.decisions import decide, power
from harness.evaluation.flips import flips
from harness.evaluation.stats import compare, mcnemar_exact, mcnemar_mid_p
from harness.metrics import Metric, MetricResult

Z = norm.ppf(0.975) + norm.ppf(0.8)  # 2.8016


def brute_force_power(n: int, delta: float, psi: float, alpha: float, test: str) -> float:
    """P(the test rejects towards the change) by enumerating every (b, c) table."""
    p10, p01 = (psi - delta) / 2, (psi + delta) / 2
    total = 0.0
    for b in range(n + 1):
        for c in range(n + 1 - b):
            if c <= b:
                continue
            p = binomtest(c, b + c, 0.5).pvalue if test == "exact" else mcnemar_mid_p(b, c)
            if p < alpha:
                total += multinomial.pmf([b, c, n - b - c], n, [p10, p01, 1 - psi])
    return total


@pytest.mark.parametrize("test", ["exact", "mid-p"])
def test_mcnemar_power_equals_enumerating_every_table(test):
    for n, delta, psi in ((20, 0.2, 0.4), (30, 0.1, 0.3), (12, 0.5, 0.5)):
        assert power.mcnemar_power(n, delta, psi, 0.05, test) == pytest.approx(
            brute_force_power(n, delta, psi, 0.05, test), abs=1e-9
        )


def test_mcnemar_mde_has_the_power_and_approaches_connor_for_large_n():
    mde = power.mcnemar_mde(100, 0.05, discordance=0.3)
    assert power.mcnemar_power(100, mde, 0.3, 0.05) == pytest.approx(0.8, abs=1e-3)
    # Connor (1987): δ√n = z_{α/2}√ψ + z_β√(ψ − δ²), the normal approximation of the same test
    n, psi = 5000, 0.3
    mde = power.mcnemar_mde(n, 0.05, discordance=psi)
    connor = norm.ppf(0.975) * math.sqrt(psi) + norm.ppf(0.8) * math.sqrt(psi - mde**2)
    assert mde * math.sqrt(n) == pytest.approx(connor, rel=0.01)
    # mid-p rejects more often, so it detects smaller changes
    assert power.mcnemar_mde(100, 0.05, discordance=0.3, test="mid-p") < power.mcnemar_mde(
        100, 0.05, discordance=0.3
    )


def test_planning_mde_for_a_base_model_that_is_always_wrong():
    """Base accuracy 0: every discordant pair is a fix (ψ = δ); the exact test at 0.05 needs 6 of
    them (2 × 0.5⁶ = 0.031 < 0.05 ≤ 2 × 0.5⁵), so the MDE is the δ with P(Bin(100, δ) ≥ 6) = 0.8."""
    mde = power.mcnemar_mde(100, 0.05, base=0.0)
    assert binom.sf(5, 100, mde) == pytest.approx(0.8, abs=1e-3)
    assert power.mcnemar_mde(100, 0.05, base=1.0) == pytest.approx(mde)  # symmetric


def test_normal_mde_and_examples_needed_are_the_closed_forms():
    assert power.z_mde(0.02, 0.05) == pytest.approx(Z * 0.02)
    se = power.se_from_ci([-0.1, 0.3], 0.05)
    assert se == pytest.approx(0.4 / (2 * 1.959964))
    # the one-sided power at the MDE is 0.8
    assert norm.cdf(power.z_mde(se, 0.05) / se - norm.ppf(0.975)) == pytest.approx(0.8)
    assert power.z_n_needed(100, 0.2, 0.05) == 1600  # 100 × (0.2 / 0.05)²
    assert power.z_n_needed(100, 0.2, 0.0) is None


def test_mcnemar_examples_needed_is_the_smallest_n_that_detects_the_margin():
    # few discordant pairs expected: the exact power, searched
    n = power.mcnemar_n_needed(0.05, 0.05, discordance=0.05)
    assert (
        power.mcnemar_mde(n, 0.05, discordance=0.05)
        <= 0.05
        < power.mcnemar_mde(n - 1, 0.05, discordance=0.05)
    )
    # many: Connor's closed form, n = (z_{α/2}√ψ + z_β√(ψ − m²))² / m²
    psi, m = 0.3, 0.01
    connor = (norm.ppf(0.975) * math.sqrt(psi) + norm.ppf(0.8) * math.sqrt(psi - m * m)) ** 2 / m**2
    assert power.mcnemar_n_needed(m, 0.05, discordance=psi) == math.ceil(connor)
    assert power.mcnemar_mde(math.ceil(connor), 0.05, discordance=psi) == pytest.approx(m, rel=0.01)


def test_mid_p_is_never_larger_than_the_exact_p_value():
    assert mcnemar_mid_p(0, 0) == 1.0
    assert mcnemar_mid_p(3, 10) == pytest.approx(2 * (binom.cdf(3, 13, 0.5) - 0.5 * binom.pmf(3, 13, 0.5)))
    for b in range(25):
        for c in range(25):
            exact = mcnemar_exact([1.0] * b + [0.0] * c, [0.0] * b + [1.0] * c)
            assert mcnemar_mid_p(b, c) <= exact + 1e-12


def test_equivalence_needs_the_whole_interval_inside_the_margin():
    assert power.equivalent([-0.01, 0.01], 0.01)
    assert not power.equivalent([-0.011, 0.005], 0.01)
    assert not power.equivalent(None, 0.01) and not power.equivalent([0.0, 0.0], 0.0)


# --- the four outcomes, from metric entries as stats.compare writes them ---------------------------


def entry(before, after, p_value, ci, *, se=None, discordant=None, n=100, test="paired-bootstrap") -> dict:
    e = {"higher_is_better": True, "scale": 1.0, "before": before, "after": after, "delta": after - before}
    e |= {"delta_ci": ci, "p_value": p_value, "test": test, "n_examples": n}
    if se is not None:
        e["delta_se"] = se
    if discordant is not None:
        e["discordant"] = dict(zip(("right_to_wrong", "wrong_to_right"), discordant, strict=True))
    return e


def one(e: dict, min_effect: float = 0.01) -> dict:
    verdicts, _ = decide(
        {"t": {"primary_metric": "m", "metrics": {"m": e}}},
        alpha=0.05,
        min_effect=min_effect,
        correction="holm",
    )
    return verdicts["t"]


def test_one_verdict_per_outcome():
    improved = one(entry(0.5, 0.6, 0.001, [0.05, 0.15], se=0.025))
    regressed = one(entry(0.6, 0.5, 0.001, [-0.15, -0.05], se=0.025))
    no_change = one(entry(0.5, 0.501, 0.8, [-0.004, 0.006], se=0.0025))
    inconclusive = one(entry(0.5, 0.52, 0.3, [-0.03, 0.07], se=0.025))
    assert [v["outcome"] for v in (improved, regressed, no_change, inconclusive)] == [
        "improved", "regressed", "no change", "inconclusive",
    ]  # fmt: skip
    assert (
        no_change["reason"]
        == "p = 0.8 ≥ 0.05; the 95% CI [-0.0040, +0.0060] lies within ± the minimum effect 0.01"
    )
    assert no_change["n_needed"] is None and improved["n_needed"] is None
    # inconclusive: the MDE from the recorded bootstrap SD, and the examples that would detect 0.01
    assert inconclusive["mde"] == pytest.approx(Z * 0.025)
    assert inconclusive["n_needed"] == math.ceil(100 * (Z * 0.025 / 0.01) ** 2)
    assert inconclusive["reason"] == (
        "p = 0.3 ≥ 0.05; the 95% CI [-0.0300, +0.0700] reaches beyond ± 0.01: 100 test examples detect a "
        f"change of 0.07 or more; about {inconclusive['n_needed']} would detect 0.01"
    )


def test_a_significant_change_below_the_minimum_effect_is_no_change_when_its_interval_is_inside():
    v = one(entry(0.5, 0.505, 0.001, [0.002, 0.008], se=0.0015))
    assert (v["outcome"], v["significant"], v["large_enough"]) == ("no change", True, False)


def test_mcnemar_verdicts_use_the_discordant_pairs_and_the_test_recorded():
    e = entry(0.5, 0.54, 0.2, [-0.02, 0.1], discordant=(8, 12), test="mcnemar-exact")
    v = one(e)
    assert v["outcome"] == "inconclusive"
    assert v["mde"] == pytest.approx(power.mcnemar_mde(100, 0.05, discordance=0.2))
    assert v["n_needed"] == power.mcnemar_n_needed(0.01, 0.05, discordance=0.2)
    mid = one({**e, "test": "mcnemar-mid-p"})
    assert mid["mde"] == pytest.approx(power.mcnemar_mde(100, 0.05, discordance=0.2, test="mid-p"))


def test_the_mde_uses_the_level_holm_applies_first():
    tasks = {
        name: {"primary_metric": "m", "metrics": {"m": entry(0.5, 0.52, 0.3, [-0.03, 0.07], se=0.025)}}
        for name in ("a", "b", "c")
    }
    verdicts, decision = decide(tasks, alpha=0.05, min_effect=0.01, correction="holm")
    assert decision["mde_alpha"] == pytest.approx(0.05 / 3)
    z3 = norm.ppf(1 - 0.05 / 6) + norm.ppf(0.8)
    assert verdicts["a"]["mde"] == pytest.approx(z3 * 0.025)
    _, decision = decide(tasks, alpha=0.05, min_effect=0.01, correction="none")
    assert decision["mde_alpha"] == 0.05
    assert (decision["no_change"], decision["inconclusive"], decision["unchanged"]) == (0, 3, 3)


def test_compare_records_what_the_power_analysis_needs_and_offers_mid_p():
    accuracy = Metric("accuracy", compute=lambda p, r: None, binary=True)
    before = MetricResult(0.5, [1.0] * 5 + [0.0] * 5)
    after = MetricResult(0.8, [1.0] * 4 + [0.0] + [1.0] * 4 + [0.0])  # 1 broken, 4 fixed
    exact = compare(accuracy, None, before, after, n_resamples=50)
    assert (exact["test"], exact["n_examples"]) == ("mcnemar-exact", 10)
    assert exact["discordant"] == {"right_to_wrong": 1, "wrong_to_right": 4}
    assert exact["p_value"] == pytest.approx(binomtest(4, 5, 0.5).pvalue)  # 0.375
    mid = compare(accuracy, None, before, after, n_resamples=50, mcnemar="mid-p")
    assert mid["test"] == "mcnemar-mid-p" and mid["p_value"] == pytest.approx(mcnemar_mid_p(1, 4))
    assert mid["p_value"] < exact["p_value"]
    assert exact["delta_se"] > 0
    with pytest.raises(ValueError, match="mcnemar"):
        compare(accuracy, None, before, after, mcnemar="asymptotic")


# --- a model that predicts one label -----------------------------------------------------------------


def rows(before: list[str], after: list[str], references: list[str]) -> list[dict]:
    return [
        {
            "task": "sentiment",
            "id": str(i),
            "reference": ref,
            "prediction_before": b,
            "prediction_after": a,
            "scores_before": {"accuracy": float(b == ref)},
            "scores_after": {"accuracy": float(a == ref)},
        }
        for i, (b, a, ref) in enumerate(zip(before, after, references, strict=True))
    ]


def test_a_tuned_model_that_predicts_one_label_is_flagged_in_the_verdict_and_decision():
    references = ["positive", "negative"] * 10
    flipped = flips(
        "sentiment", "accuracy", rows(references[:19] + ["positive"], ["positive "] * 20, references)
    )
    assert flipped["predictions"] == {
        "before": {"value": "positive", "share": 0.55, "distinct": 2},
        "after": {"value": "positive", "share": 1.0, "distinct": 1},
        "references": {"value": "positive", "share": 0.5, "distinct": 2},
    }
    task = {
        "primary_metric": "accuracy",
        "flips": flipped,
        "metrics": {"accuracy": entry(0.95, 0.5, 0.001, [-0.6, -0.3], se=0.07, n=20)},
    }
    verdicts, decision = decide({"sentiment": task}, alpha=0.05, min_effect=0.01, correction="holm")
    warning = (
        "the tuned model predicts 'positive' for 100% of the examples (the most common reference is 50%)"
    )
    assert verdicts["sentiment"]["warnings"] == [warning]
    assert verdicts["sentiment"]["reason"].endswith(f"; warning: {warning}")
    assert decision["warnings"] == [f"sentiment: {warning}"]
    # the reports list it with the run's warnings
    from harness.reports import render_markdown

    tasks = {"sentiment": {**task, "verdict": verdicts["sentiment"]}}
    results = {"run_id": "r", "mode": "run", "tasks": tasks}
    results |= {"decision": decision, "warnings": ["a small dev split"]}
    md = render_markdown(results, [])
    assert "a small dev split" in md and f"sentiment: {warning}" in md
    # the same spread with one-label references (a task whose answer is always "yes") is no warning
    task["flips"]["predictions"]["references"] = {"value": "yes", "share": 1.0, "distinct": 1}
    assert decide({"s": task}, alpha=0.05, min_effect=0.01, correction="holm")[0]["s"]["warnings"] == []


# --- before tuning -----------------------------------------------------------------------------------


def test_the_plan_before_tuning_says_what_each_test_set_can_detect():
    accuracy = Metric("accuracy", compute=lambda p, r: None, binary=True)
    rouge = Metric("rougeL", compute=lambda p, r: None)
    scores = np.linspace(0.0, 1.0, 50).tolist()
    tasks = [
        SimpleNamespace(name="sentiment", primary_metric="accuracy"),
        SimpleNamespace(name="summ", primary_metric="rougeL"),
    ]
    before = {
        "sentiment": SimpleNamespace(scores={"accuracy": MetricResult(0.7, [1.0] * 70 + [0.0] * 30)}),
        "summ": SimpleNamespace(scores={"rougeL": MetricResult(0.5, scores)}),
    }
    plans = power.plan(
        tasks, {"accuracy": accuracy, "rougeL": rouge}, before, alpha=0.05, min_effect=0.01, correction="holm"
    )
    sentiment = plans["sentiment"]
    assert sentiment["mde"] == pytest.approx(power.mcnemar_mde(100, 0.025, base=0.7))
    assert (
        sentiment["text"]
        == f"sentiment: 100 test examples can detect a change of {sentiment['mde']:.3g} accuracy or more"
    )
    assert sentiment["alpha"] == 0.025 and sentiment["n_needed"] == power.mcnemar_n_needed(
        0.01, 0.025, base=0.7
    )
    se = math.sqrt(2) * float(np.std(scores)) / math.sqrt(50)  # independent before/after: √2 × SE
    assert plans["summ"]["mde"] == pytest.approx((norm.ppf(1 - 0.0125) + norm.ppf(0.8)) * se)


def test_the_plan_says_when_a_test_set_cannot_detect_anything():
    accuracy = Metric("accuracy", compute=lambda p, r: None, binary=True)
    tasks = [SimpleNamespace(name="tiny", primary_metric="accuracy")]
    before = {"tiny": SimpleNamespace(scores={"accuracy": MetricResult(0.5, [1.0, 0.0, 1.0, 0.0])})}
    (plan,) = power.plan(
        tasks, {"accuracy": accuracy}, before, alpha=0.05, min_effect=0.01, correction="holm"
    ).values()
    # 4 examples: even 4 fixes out of 4 give p = 2 × 0.5⁴ = 0.125, never below 0.05
    assert plan["mde"] is None
    assert (
        plan["text"]
        == "tiny: 4 test examples cannot detect any change of accuracy (too few, or scores that do not vary)"
    )


def test_no_flipped_example_in_a_small_test_set_is_not_no_change():
    """16 examples, none flipped: the bootstrap interval is [0, 0], but 16 examples cannot rule
    out a change of 0.01; the Agresti-Min interval (half an example added to each cell) says so."""
    assert power.paired_proportion_ci(0, 0, 16, 0.05) == pytest.approx([-0.1089, 0.1089], abs=1e-4)
    e = entry(0.5, 0.5, 1.0, [0.0, 0.0], se=0.0, discordant=(0, 0), n=16, test="mcnemar-exact")
    v = one(e)
    assert v["outcome"] == "inconclusive"
    assert (
        "lies within ± 0.01, but the Agresti-Min interval of the 0/1 scores [-0.1089, +0.1089] does not"
        in v["reason"]
    )
    # 4000 examples with 2 + 3 flips: both intervals inside ± 0.01
    big = one(entry(0.5, 0.50025, 1.0, [-0.001, 0.0015], discordant=(2, 3), n=4000, test="mcnemar-exact"))
    assert big["outcome"] == "no change"
