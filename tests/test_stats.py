"""harness.evaluation.stats: bootstrap CIs, paired tests, McNemar, score-from-statistics formulas, flips."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import sacrebleu
from scipy.stats import binomtest
from sklearn.metrics import f1_score

from harness.evaluation import stats
from harness.evaluation.flips import flips as flips_of
from harness.metrics import Metric, MetricResult
from harness.metrics.builtin import builtin_metrics, sacrebleu_streams


@pytest.fixture(scope="module")
def metrics() -> dict[str, Metric]:
    return {m.name: m for m in builtin_metrics()}


WORDS = "the a cat dog sat on mat house red blue big small ran fast slowly and of in to is".split()


def _corpus(n: int, seed: int, multi: bool = False) -> tuple[list[str], list[list[str]]]:
    """Random hypotheses that partly overlap random references (some empty, some multi-ref)."""
    rnd = random.Random(seed)
    hyps, refs = [], []
    for i in range(n):
        ref = [rnd.choice(WORDS) for _ in range(rnd.randint(1, 15))]
        hyp = [w if rnd.random() < 0.6 else rnd.choice(WORDS) for w in ref if rnd.random() < 0.9]
        if rnd.random() < 0.3:
            hyp += [rnd.choice(WORDS) for _ in range(rnd.randint(1, 4))]
        if i % 17 == 3:
            hyp = []
        hyps.append(" ".join(hyp) + ("." if rnd.random() < 0.5 else ""))
        example_refs = [" ".join(ref)]
        if multi and i % 3 == 0:
            example_refs.append(" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, 12))))
        refs.append(example_refs)
    return hyps, refs


def _resample_indices(n: int, n_resamples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).choice(n, size=(n_resamples, n), replace=True)


def _binary(n_correct: int, n: int) -> MetricResult:
    per = [1.0] * n_correct + [0.0] * (n - n_correct)
    return MetricResult(score=n_correct / n, per_example=per)


# --- resampling --------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "n_resamples"), [(7, 50), (7, 64), (333, 200), (5, 1000)])
def test_resample_counts_match_the_index_draw(n, n_resamples):
    """Drawn in blocks of resamples (bounded memory), the counts are those of one
    (n_resamples, n) draw: the same resamples whatever the block size."""
    counts = stats.resample_counts(n, n_resamples, seed=3)
    idx = _resample_indices(n, n_resamples, 3)
    assert counts.shape == (n_resamples, n)
    assert (counts.sum(axis=1) == n).all()
    for b in range(n_resamples):
        assert (counts[b] == np.bincount(idx[b], minlength=n)).all()


def test_mean_metric_resample_is_mean_of_resampled_scores(metrics):
    rnd = np.random.default_rng(0)
    per = rnd.random(40).tolist()
    result = MetricResult(score=float(np.mean(per)), per_example=per)
    counts = stats.resample_counts(40, 20, seed=1)
    got = stats.resampled_scores(metrics["rouge1"], result, counts)
    want = np.asarray(per)[_resample_indices(40, 20, 1)].mean(axis=1)
    assert np.allclose(got, want, rtol=0, atol=1e-12)


# --- confidence intervals ----------------------------------------------------------------------


def test_ci_contains_point_estimate_and_narrows_with_more_data(metrics):
    small, large = _binary(30, 50), _binary(300, 500)
    ci_small = stats.confidence_interval(metrics["accuracy"], small)
    ci_large = stats.confidence_interval(metrics["accuracy"], large)
    assert ci_small[0] <= small.score <= ci_small[1]
    assert ci_large[0] <= large.score <= ci_large[1]
    assert ci_large[1] - ci_large[0] < ci_small[1] - ci_small[0]


def test_bleu_ci_contains_point_estimate_and_narrows(metrics):
    widths = []
    for n in (30, 300):
        hyps, refs = _corpus(n, seed=n)
        result = metrics["bleu"].compute(hyps, refs)
        lo, hi = stats.confidence_interval(metrics["bleu"], result)
        assert lo <= result.score <= hi
        widths.append(hi - lo)
    assert widths[1] < widths[0]


def test_same_seed_same_result_different_seed_differs(metrics):
    hyps, refs = _corpus(60, seed=1)
    hyps2, _ = _corpus(60, seed=2)
    for name in ("bleu", "chrf", "rouge1"):
        before, after = metrics[name].compute(hyps, refs), metrics[name].compute(hyps2, refs)
        first = stats.compare(metrics[name], refs, before, after, seed=5)
        again = stats.compare(metrics[name], refs, before, after, seed=5)
        other = stats.compare(metrics[name], refs, before, after, seed=6)
        assert first == again
        assert first["before_ci"] != other["before_ci"]


# --- compare -----------------------------------------------------------------------------------


def test_compare_keys_run_and_eval_mode(metrics):
    before, after = _binary(50, 100), _binary(90, 100)
    refs = [["x"]] * 100
    out = stats.compare(metrics["accuracy"], refs, before, after)
    assert set(out) == {
        "before_ci", "after_ci", "delta_ci", "delta_se", "p_value", "test", "significant", "n_resamples",
        "n_examples", "discordant",
    }  # fmt: skip
    assert out["discordant"] == {"right_to_wrong": 0, "wrong_to_right": 40} and out["n_examples"] == 100
    assert out["n_resamples"] == 1000
    assert json.loads(json.dumps(out)) == out  # plain JSON types
    assert set(stats.compare(metrics["accuracy"], refs, before, None)) == {"before_ci"}
    corpus_only = MetricResult(score=1.0)
    assert stats.compare(metrics["bleu"], None, corpus_only, corpus_only) == {}


def test_clearly_better_is_significant(metrics):
    before, after = _binary(50, 100), _binary(90, 100)
    out = stats.compare(metrics["accuracy"], None, before, after)
    assert out["test"] == "mcnemar-exact"
    assert out["significant"] is True and out["p_value"] < 1e-6
    assert out["delta_ci"][0] > 0
    # the same data as a continuous metric goes through the paired bootstrap
    cont = Metric("rouge1", compute=metrics["rouge1"].compute)
    out = stats.compare(cont, None, before, after)
    assert out["test"] == "paired-bootstrap"
    assert out["significant"] is True
    assert out["p_value"] == pytest.approx(2 / 1001)


def test_identical_before_after_gives_p_one(metrics):
    same = _binary(60, 100)
    out = stats.compare(metrics["accuracy"], None, same, same)
    assert out["p_value"] == 1.0 and out["significant"] is False
    assert out["delta_ci"] == [0.0, 0.0]
    hyps, refs = _corpus(50, seed=4)
    for name in ("bleu", "chrf", "macro_f1", "rougeL"):
        result = metrics[name].compute(hyps, refs)
        out = stats.compare(metrics[name], refs, result, result)
        assert out["test"] == "paired-bootstrap"
        assert out["p_value"] == 1.0 and out["significant"] is False, name


def test_non_binary_accuracy_like_values_use_bootstrap(metrics):
    before = MetricResult(score=0.5, per_example=[0.5] * 10)
    out = stats.compare(metrics["accuracy"], None, before, before)
    assert out["test"] == "paired-bootstrap"


def test_settings_are_parameters_that_default_to_the_stats_config(metrics):
    from harness.config import StatsConfig

    defaults = StatsConfig()
    assert (stats.N_RESAMPLES, stats.ALPHA) == (defaults.n_resamples, defaults.alpha) == (1000, 0.05)
    chrf = metrics["chrf"]
    hyps, refs = _corpus(40, seed=7)
    hyps2, _ = _corpus(40, seed=8)
    before, after = chrf.compute(hyps, refs), chrf.compute(hyps2, refs)
    explicit = stats.compare(chrf, refs, before, after, 3, defaults.n_resamples, defaults.alpha)
    assert stats.compare(chrf, refs, before, after, seed=3) == explicit
    counts = stats.resample_counts(40, 1000, seed=3)
    deltas = stats.resampled_scores(chrf, after, counts) - stats.resampled_scores(chrf, before, counts)
    assert explicit["delta_ci"] == stats.percentile_ci(deltas, 0.95)

    narrow = stats.compare(chrf, refs, before, after, seed=3, n_resamples=200, alpha=0.5)
    assert narrow["n_resamples"] == 200
    counts = stats.resample_counts(40, 200, seed=3)
    deltas = stats.resampled_scores(chrf, after, counts) - stats.resampled_scores(chrf, before, counts)
    assert narrow["delta_ci"] == stats.percentile_ci(deltas, 0.5)
    assert narrow["p_value"] == stats.bootstrap_p_value(deltas)
    assert narrow["significant"] == (narrow["p_value"] < 0.5)
    assert stats.compare(chrf, refs, before, None, seed=3, n_resamples=200, alpha=0.5) == {
        "before_ci": stats.percentile_ci(stats.resampled_scores(chrf, before, counts), 0.5)
    }


def test_mismatched_lengths_raise(metrics):
    with pytest.raises(ValueError):
        stats.compare(metrics["accuracy"], None, _binary(5, 10), _binary(5, 11))
    with pytest.raises(ValueError):
        stats.compare(metrics["accuracy"], [["a"]] * 3, _binary(5, 10), None)


# --- McNemar -----------------------------------------------------------------------------------


def test_mcnemar_exact_hand_checked():
    # b = 1 right->wrong, c = 9 wrong->right, 5 both right, 5 both wrong
    before = [1] + [0] * 9 + [1] * 5 + [0] * 5
    after = [0] + [1] * 9 + [1] * 5 + [0] * 5
    p = stats.mcnemar_exact(before, after)
    hand = 2 * sum(math.comb(10, k) for k in range(2)) / 2**10
    assert hand == 0.021484375
    assert p == pytest.approx(hand, abs=1e-15)
    assert p == pytest.approx(binomtest(9, 10, 0.5).pvalue, abs=1e-15)


def test_mcnemar_without_discordant_pairs_is_one():
    assert stats.mcnemar_exact([1, 0, 1], [1, 0, 1]) == 1.0


@pytest.mark.parametrize(("b", "c"), [(0, 5), (3, 3), (7, 2), (20, 35)])
def test_mcnemar_equals_binomtest(b, c):
    before = [1] * b + [0] * c + [1] * 4
    after = [0] * b + [1] * c + [1] * 4
    assert stats.mcnemar_exact(before, after) == pytest.approx(binomtest(c, b + c, 0.5).pvalue, abs=1e-15)


# --- scores from sufficient statistics ----------------------------------------------------------


@pytest.mark.parametrize("name", ["bleu", "chrf", "macro_f1"])
def test_from_stats_of_all_examples_is_the_score(metrics, name):
    hyps, refs = _corpus(80, seed=11, multi=True)
    if name == "macro_f1":
        hyps, refs = _labels(80, seed=11)
    result = metrics[name].compute(hyps, refs)
    total = np.asarray(result.stats).sum(axis=0)
    assert metrics[name].from_stats(total[None, :])[0] == pytest.approx(result.score, abs=1e-9)


@pytest.mark.parametrize(("name", "cls"), [("bleu", sacrebleu.BLEU), ("chrf", sacrebleu.CHRF)])
def test_vectorised_formula_equals_sacrebleu_on_random_resamples(metrics, name, cls):
    hyps, refs = _corpus(100, seed=2, multi=True)
    result = metrics[name].compute(hyps, refs)
    sums = stats.resample_counts(100, 2000, seed=9) @ np.asarray(result.stats)
    # plus edge cases: nothing, no matches, short corpora, one row alone
    edge = np.zeros((4, sums.shape[1]))
    edge[1, : sums.shape[1]] = np.asarray(result.stats)[3]
    edge[2] = np.asarray(result.stats)[0]
    edge[3, 0::2] = 1.0
    sums = np.vstack([sums, edge, np.asarray(result.stats)])
    got = metrics[name].from_stats(sums)
    sacre = cls()
    want = np.array([sacre._compute_score_from_stats(row.tolist()).score for row in sums])
    assert np.abs(got - want).max() <= 1e-9


@pytest.mark.parametrize(
    ("name", "corpus_fn"), [("bleu", sacrebleu.corpus_bleu), ("chrf", sacrebleu.corpus_chrf)]
)
def test_resampled_score_equals_sacrebleu_on_the_resampled_corpus(metrics, name, corpus_fn):
    hyps, refs = _corpus(60, seed=5, multi=True)
    result = metrics[name].compute(hyps, refs)
    scores = stats.resampled_scores(metrics[name], result, stats.resample_counts(60, 6, seed=2))
    for b, idx in enumerate(_resample_indices(60, 6, 2)):
        resampled_refs = [refs[i] for i in idx]
        want = corpus_fn([hyps[i] for i in idx], sacrebleu_streams(resampled_refs)).score
        assert scores[b] == pytest.approx(want, abs=1e-9)


def _labels(n: int, seed: int) -> tuple[list[str], list[list[str]]]:
    rnd = random.Random(seed)
    classes = ["pos", "neg", "neutral", "mixed"]
    gold = [rnd.choice(classes[:3]) if i % 9 else "mixed" for i in range(n)]
    preds = [g if rnd.random() < 0.6 else rnd.choice([*classes, "garbage", ""]) for g in gold]
    return preds, [[g] for g in gold]


def test_macro_f1_resample_equals_sklearn(metrics):
    preds, refs = _labels(70, seed=3)
    result = metrics["macro_f1"].compute(preds, refs)
    scores = stats.resampled_scores(metrics["macro_f1"], result, stats.resample_counts(70, 40, seed=4))
    for b, idx in enumerate(_resample_indices(70, 40, 4)):
        y_true = [refs[i][0] for i in idx]
        y_pred = [preds[i] for i in idx]
        want = f1_score(y_true, y_pred, labels=sorted(set(y_true)), average="macro", zero_division=0)
        assert scores[b] == pytest.approx(want, abs=1e-9)
        assert scores[b] == pytest.approx(metrics["macro_f1"].compute(y_pred, [[t] for t in y_true]).score)


# --- p-value estimators ------------------------------------------------------------------------


def test_bootstrap_p_value_estimator():
    assert stats.bootstrap_p_value(np.zeros(999)) == 1.0
    assert stats.bootstrap_p_value(np.ones(999)) == pytest.approx(2 / 1000)
    deltas = np.array([-1.0] * 30 + [1.0] * 969)
    assert stats.bootstrap_p_value(deltas) == pytest.approx(2 * 31 / 1000)


@pytest.mark.parametrize("seed", [1, 12345])
@pytest.mark.parametrize("name", ["bleu", "chrf"])
def test_sacrebleu_estimator_equals_sacrebleu_paired_bootstrap(metrics, name, seed):
    from sacrebleu.significance import _paired_bs_test

    hyps_a, refs = _corpus(80, seed=7)
    # "after" truncates every 4th reference instead of the noisy hypothesis
    hyps_b = [hyps_a[i] if i % 4 else " ".join(refs[i][0].split()[:-1]) for i in range(len(hyps_a))]
    before, after = metrics[name].compute(hyps_a, refs), metrics[name].compute(hyps_b, refs)
    ours = stats.paired_bootstrap(metrics[name], before, after, seed=seed, estimator="sacrebleu")

    sacre = {"bleu": sacrebleu.BLEU, "chrf": sacrebleu.CHRF}[name]()
    streams = sacrebleu_streams(refs)
    bl_stats = sacre._extract_corpus_statistics(hyps_a, streams)
    baseline = {name: (bl_stats, sacre._aggregate_and_compute(bl_stats))}
    _, res = _paired_bs_test(baseline, "after", hyps_b, streams, {name: sacre}, n_samples=1000, seed=seed)
    assert res[name].score == pytest.approx(after.score, abs=1e-9)
    assert ours["p_value"] == res[name].p_value


def test_unknown_estimator_raises(metrics):
    with pytest.raises(ValueError):
        stats.paired_bootstrap(metrics["accuracy"], _binary(1, 2), _binary(1, 2), estimator="magic")


# --- flips -------------------------------------------------------------------------------------


def _row(task, i, sb, sa, pred_b="x", pred_a="y", refs=("r",)):
    return {
        "task": task,
        "id": f"{task}-{i}",
        "references": list(refs),
        "prediction_before": pred_b,
        "prediction_after": pred_a,
        "scores_before": sb,
        "scores_after": sa,
    }


def test_flips_binary():
    pairs = [(0, 1), (1, 0), (1, 1), (0, 0), (0, 1), (0, 1)]
    rows = [_row("t", i, {"accuracy": float(b)}, {"accuracy": float(a)}) for i, (b, a) in enumerate(pairs)]
    rows.append(_row("other", 0, {"accuracy": 0.0}, {"accuracy": 1.0}))
    out = flips_of("t", "accuracy", rows, k=2)
    assert out == {
        "ranked_by": "accuracy",
        "wrong_to_right": ["t-0", "t-4"],
        "right_to_wrong": ["t-1"],
        "counts": {"wrong_to_right": 3, "right_to_wrong": 1},
        "predictions": {  # the most common prediction and reference (a one-label model is flagged)
            "before": {"value": "x", "share": 1.0, "distinct": 1},
            "after": {"value": "y", "share": 1.0, "distinct": 1},
            "references": {"value": "r", "share": 1.0, "distinct": 1},
        },
    }


def test_flips_continuous():
    values = [(0.2, 0.9), (0.5, 0.4), (0.3, 0.3), (0.1, 0.5), (0.8, 0.1), (0.0, 0.75)]
    rows = [_row("t", i, {"rougeL": b}, {"rougeL": a}) for i, (b, a) in enumerate(values)]
    out = flips_of("t", "rougeL", rows, k=2)
    assert out["ranked_by"] == "rougeL"
    assert [g["id"] for g in out["largest_gains"]] == ["t-5", "t-0"]
    assert out["largest_gains"][0] == {"id": "t-5", "before": 0.0, "after": 0.75, "delta": 0.75}
    assert [g["id"] for g in out["largest_losses"]] == ["t-4", "t-1"]
    assert out["largest_losses"][1]["delta"] == pytest.approx(-0.1)


def test_flips_corpus_only_metric_ranks_by_sentence_chrf():
    rows = [
        _row("mt", 0, {}, {}, "the cat sat", "the cat sat on the mat", ("the cat sat on the mat",)),
        _row("mt", 1, {}, {}, "a red house", "blue", ("a red house",)),
        _row("mt", 2, {}, {}, "same", "same", ("same",)),
    ]
    out = flips_of("mt", "bleu", rows)
    assert "chrF" in out["ranked_by"] and "bleu" in out["ranked_by"]
    assert [g["id"] for g in out["largest_gains"]] == ["mt-0"]
    assert [g["id"] for g in out["largest_losses"]] == ["mt-1"]
    gain = out["largest_gains"][0]
    want = sacrebleu.sentence_chrf("the cat sat on the mat", ["the cat sat on the mat"]).score
    assert gain["after"] == pytest.approx(want, abs=1e-6)


def test_flips_eval_mode_is_none():
    rows = [{"task": "t", "id": "1", "scores_before": {"accuracy": 1.0}, "prediction_before": "x"}]
    assert flips_of("t", "accuracy", rows) is None
    assert flips_of("missing", "accuracy", rows) is None
