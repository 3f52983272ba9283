"""Built-in metrics: they must equal the reference libraries and the upstream test vectors."""

from __future__ import annotations

import inspect
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.metrics import Metric, MetricResult
from harness.metrics.builtin import (
    ROUGE_TYPES,
    builtin_metrics,
    harness_metrics,
    sacrebleu_streams,
)

EXPECTED_NAMES = {
    "rouge1",
    "rouge2",
    "rougeL",
    "rougeLsum",
    "bleu",
    "chrf",
    "accuracy",
    "macro_f1",
    "exact_match",
}


@pytest.fixture(scope="module")
def metrics() -> dict[str, Metric]:
    return {m.name: m for m in builtin_metrics()}


@pytest.fixture(scope="module")
def vectors_dir(shared_data) -> Path:
    """The upstream test vectors in ``../shared/data/metrics`` (skipped when absent, failed on CI)."""
    return shared_data / "metrics"


def _vectors(vectors_dir: Path, name: str) -> dict:
    path = vectors_dir / name / "test_vectors.json"
    assert path.is_file(), f"upstream test vectors missing: {path}"
    return json.loads(path.read_text(encoding="utf-8"))


def _almost_equal(a: float, b: float, places: int) -> bool:
    """unittest's assertAlmostEqual(a, b, places), as the upstream tests use it."""
    return round(abs(a - b), places) == 0


# --- registration ----------------------------------------------------------------------------


def test_hook_returns_every_builtin_metric():
    found = harness_metrics()
    assert all(isinstance(m, Metric) for m in found)
    names = [m.name for m in found]
    assert len(names) == len(set(names))
    assert set(names) == EXPECTED_NAMES
    for m in found:
        assert m.higher_is_better is True
        assert m.description


def test_import_does_not_load_metric_libraries():
    heavy = ["sacrebleu", "rouge_score", "sklearn", "torch"]
    code = (
        "import sys, harness.metrics.builtin as b\n"
        "b.harness_metrics()\n"
        f"print([m for m in {heavy!r} if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# --- upstream vectors: sacrebleu ---------------------------------------------------------------


def _bleu_default_kwargs(kwargs: dict) -> bool:
    """True when ``BLEU(**kwargs)`` has the settings of a plain ``BLEU()`` (what ``bleu`` uses)."""
    from sacrebleu.metrics import BLEU

    defaults = {
        name: p.default
        for name, p in inspect.signature(BLEU.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    # tokenize=None means 13a for every language but zh/ja/ko; our bleu never sets trg_lang.
    return all(
        k in defaults and (v == defaults[k] or (k == "tokenize" and v == "13a")) for k, v in kwargs.items()
    )


def _sacrebleu_cases(vectors_dir: Path) -> list[dict]:
    """The corpus-level cases of plain ``corpus_bleu`` / ``BLEU().corpus_score`` calls."""
    cases = _vectors(vectors_dir, "sacrebleu")["corpus_level"]
    return [
        c
        for c in cases
        if ("sacrebleu.corpus_bleu(" in c["call"] or ".corpus_score(" in c["call"])
        and _bleu_default_kwargs(c.get("kwargs", {}))
    ]


def test_bleu_reproduces_sacrebleu_corpus_vectors(metrics, vectors_dir):
    cases = _sacrebleu_cases(vectors_dir)
    assert len(cases) >= 4
    for i, case in enumerate(cases):
        where = f"case {i} ({case['test']})"
        streams = case["references"]
        per_example = [tuple(r for r in refs if r is not None) for refs in zip(*streams, strict=True)]
        result = metrics["bleu"].compute(case["hypotheses"], per_example)
        if "expected" in case:
            assert abs(result.score - case["expected"]) <= case["tolerance"], where
        else:
            assert f"{result.score:.2f}" == case["expected_str"], where
        assert result.per_example is None
        assert "tok:13a" in result.settings["signature"], where


def test_sacrebleu_vectors_include_the_default_cases(vectors_dir):
    """Guard the filter above: the plain corpus_bleu cases must be among those checked."""
    cases = _sacrebleu_cases(vectors_dir)
    assert any(c.get("kwargs") == {} and "expected" in c for c in cases)
    assert all(c["kwargs"].get("tokenize") in (None, "13a") for c in cases)


def test_bleu_reproduces_hf_evaluate_examples(metrics, vectors_dir):
    for example in _vectors(vectors_dir, "sacrebleu")["hf_evaluate_examples"]:
        result = metrics["bleu"].compute(example["predictions"], example["references_per_prediction"])
        assert round(result.score, 1) == example["expected_round1"]


# --- upstream vectors: rouge -------------------------------------------------------------------


def _rouge_inputs(base: Path, case: dict) -> tuple[str, str]:
    if "target_file" not in case:
        return case["target"], case["prediction"]
    target = (base / case["target_file"]).read_text(encoding="utf-8")
    prediction = (base / case["prediction_file"]).read_text(encoding="utf-8")
    if "target_line_index" in case:  # readlines(): trailing newline kept
        target = target.splitlines(keepends=True)[case["target_line_index"]]
        prediction = prediction.splitlines(keepends=True)[case["prediction_line_index"]]
    return target, prediction


def test_rouge_reproduces_upstream_scorer_vectors(metrics, vectors_dir):
    cases = [
        c
        for c in _vectors(vectors_dir, "rouge")["scorer_cases"]
        if c["use_stemmer"] and len(c["rouge_types"]) == 1 and c["rouge_types"][0] in ROUGE_TYPES
    ]
    assert cases, "no use_stemmer=True single-type cases in the rouge vectors"
    for case in cases:
        rouge_type = case["rouge_types"][0]
        target, prediction = _rouge_inputs(vectors_dir / "rouge", case)
        result = metrics[rouge_type].compute([prediction], [(target,)])
        expected = case["expected"][rouge_type]["fmeasure"]
        assert _almost_equal(result.per_example[0], expected, case["places"]), (case["test"], rouge_type)
        assert result.score == result.per_example[0]


def test_rouge_reproduces_hf_evaluate_examples(metrics, vectors_dir):
    """HF evaluate defaults to use_stemmer=False; these words are unchanged by the stemmer."""
    for example in _vectors(vectors_dir, "rouge")["hf_evaluate_examples"]:
        references = [(r,) if isinstance(r, str) else tuple(r) for r in example["references"]]
        for rouge_type, expected in example["expected"].items():
            result = metrics[rouge_type].compute(example["predictions"], references)
            assert round(result.score, 4) == expected, rouge_type


# --- agreement with direct library calls -------------------------------------------------------

WORDS = (
    "the cat cats running runs ran quick quickly brown fox jumped jumps over lazy dog dogs "
    "a an of to in on at model models evaluation evaluated , . ! ?"
).split()


def _sentence(rng: random.Random, lo: int = 1, hi: int = 12) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def _corpus(seed: int, n: int = 40, max_refs: int = 3, variable: bool = True):
    rng = random.Random(seed)
    predictions, references = [], []
    for _ in range(n):
        lines = rng.randint(1, 3)  # multi-line texts exercise rougeLsum's sentence split
        predictions.append("\n".join(_sentence(rng) for _ in range(lines)))
        k = rng.randint(1, max_refs) if variable else max_refs
        references.append(
            tuple("\n".join(_sentence(rng) for _ in range(rng.randint(1, 3))) for _ in range(k))
        )
    predictions[0] = ""  # an empty prediction
    perfect = "the quick brown fox\njumped over the lazy dog"
    references[1] = (*references[1][:-1], perfect)  # a perfect match with the last reference
    predictions[1] = perfect
    return predictions, references


CORPORA = {
    "variable-refs": _corpus(1),
    "three-refs": _corpus(2, variable=False),
    "single-ref": _corpus(3, max_refs=1, variable=False),
}


@pytest.mark.parametrize("corpus", CORPORA.values(), ids=CORPORA.keys())
@pytest.mark.parametrize("rouge_type", ROUGE_TYPES)
def test_rouge_equals_rouge_score(metrics, corpus, rouge_type):
    from rouge_score import rouge_scorer

    predictions, references = corpus
    scorer = rouge_scorer.RougeScorer([rouge_type], use_stemmer=True)
    expected = [
        scorer.score_multi(list(refs), p)[rouge_type].fmeasure
        for p, refs in zip(predictions, references, strict=True)
    ]
    result = metrics[rouge_type].compute(predictions, references)
    assert len(result.per_example) == len(expected)
    assert all(abs(a - b) <= 1e-9 for a, b in zip(result.per_example, expected, strict=True))
    assert abs(result.score - sum(expected) / len(expected)) <= 1e-9
    assert result.per_example[0] == 0.0 and result.per_example[1] == 1.0
    assert result.settings["use_stemmer"] is True
    assert result.settings["package"].startswith("rouge-score ")


def test_rouge_uses_the_stemmer(metrics):
    result = metrics["rouge1"].compute(["the dogs running"], [("the dog runs",)])
    assert result.score == 1.0


def test_rougelsum_splits_sentences_on_newlines(metrics):
    one_line = metrics["rougeLsum"].compute(["a b c d"], [("c d a b",)])
    two_lines = metrics["rougeLsum"].compute(["a b\nc d"], [("c d\na b",)])
    assert one_line.score == metrics["rougeL"].compute(["a b c d"], [("c d a b",)]).score
    assert two_lines.score == 1.0 > one_line.score


def _padded_with_duplicates(references):
    """Reference streams with short examples padded by repeating their first reference.

    A duplicated reference changes neither BLEU (clipped counts, closest length) nor chrF
    (best reference), so this is an independent check that None padding is ignored.
    """
    width = max(len(refs) for refs in references)
    return [[refs[k] if k < len(refs) else refs[0] for refs in references] for k in range(width)]


@pytest.mark.parametrize("corpus", CORPORA.values(), ids=CORPORA.keys())
def test_bleu_and_chrf_equal_sacrebleu(metrics, corpus):
    import sacrebleu

    predictions, references = corpus
    streams = _padded_with_duplicates(references)
    for name, direct in (("bleu", sacrebleu.corpus_bleu), ("chrf", sacrebleu.corpus_chrf)):
        result = metrics[name].compute(predictions, references)
        assert abs(result.score - direct(predictions, streams).score) <= 1e-9, name
        assert abs(result.score - direct(predictions, sacrebleu_streams(references)).score) <= 1e-9
        assert result.per_example is None
        assert "version:" in result.settings["signature"]


def test_bleu_signature_reports_variable_references(metrics):
    predictions, references = CORPORA["variable-refs"]
    assert "nrefs:var" in metrics["bleu"].compute(predictions, references).settings["signature"]
    predictions, references = CORPORA["three-refs"]
    assert "nrefs:3" in metrics["bleu"].compute(predictions, references).settings["signature"]


def test_sacrebleu_streams_transpose_and_pad():
    assert sacrebleu_streams([("a", "b"), ("c",), ("d", "e", "f")]) == [
        ["a", "c", "d"],
        ["b", None, "e"],
        [None, None, "f"],
    ]


def test_bleu_all_empty_predictions_is_zero(metrics):
    result = metrics["bleu"].compute(["", ""], [("the cat sat",), ("a dog",)])
    assert result.score == 0.0


LABELS = ["positive", "negative", "neutral"]


def _classification(seed: int, n: int = 60):
    rng = random.Random(seed)
    gold = [rng.choice(LABELS) for _ in range(n)]
    predictions = [g if rng.random() < 0.6 else rng.choice(LABELS) for g in gold]
    predictions = [f"  {p}\n" if rng.random() < 0.2 else p for p in predictions]  # whitespace
    predictions[3] = "I think it is positive"  # garbage
    predictions[4] = ""
    references = [(f"{g} ", "ignored alternative") if i % 5 == 0 else (g,) for i, g in enumerate(gold)]
    return predictions, references, gold


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_accuracy_and_macro_f1_equal_sklearn(metrics, seed):
    from sklearn.metrics import accuracy_score, f1_score

    predictions, references, gold = _classification(seed)
    stripped = [p.strip() for p in predictions]
    acc = metrics["accuracy"].compute(predictions, references)
    assert abs(acc.score - accuracy_score(gold, stripped)) <= 1e-9
    assert acc.per_example == [1.0 if g == p else 0.0 for g, p in zip(gold, stripped, strict=True)]
    f1 = metrics["macro_f1"].compute(predictions, references)
    expected = f1_score(gold, stripped, labels=sorted(set(gold)), average="macro", zero_division=0)
    assert abs(f1.score - expected) <= 1e-9
    assert f1.per_example is None


def test_macro_f1_garbage_prediction_adds_no_class(metrics):
    gold = ["a", "a", "b", "b"]
    predictions = ["a", "garbage", "b", "a"]
    result = metrics["macro_f1"].compute(predictions, [(g,) for g in gold])
    # a: P=1/2 R=1/2 F=1/2; b: P=1 R=1/2 F=2/3 -> (1/2 + 2/3) / 2; a "garbage" class would give 0.389
    assert math.isclose(result.score, 7 / 12, abs_tol=1e-12)


def test_macro_f1_class_never_predicted_scores_zero(metrics):
    result = metrics["macro_f1"].compute(["a", "a"], [("a",), ("b",)])
    # a: P=1/2 R=1 F=2/3; b: never predicted, F=0 (zero_division=0)
    assert math.isclose(result.score, 1 / 3, abs_tol=1e-12)


def test_exact_match_any_reference_stripped(metrics):
    result = metrics["exact_match"].compute(
        [" Paris ", "london", "", "Rome"], [("paris", "Paris"), ("London",), ("",), ("Roma", " Rome\n")]
    )
    assert result.per_example == [1.0, 0.0, 1.0, 1.0]
    assert result.score == 0.75


def test_empty_predictions_score_zero_everywhere(metrics):
    predictions = ["", ""]
    references = [("the cat sat on the mat",), ("a dog", "the dog")]
    for name, metric in metrics.items():
        result = metric.compute(predictions, references)
        assert isinstance(result, MetricResult)
        assert result.score == 0.0, name
        if result.per_example is not None:
            assert result.per_example == [0.0, 0.0], name


def test_scores_are_plain_floats(metrics):
    predictions, references, _ = _classification(0, n=10)
    for name, metric in metrics.items():
        result = metric.compute(predictions, references)
        assert type(result.score) is float, name
        assert result.per_example is None or all(type(x) is float for x in result.per_example), name


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_bad_inputs_raise(metrics, name):
    compute = metrics[name].compute
    with pytest.raises(ValueError, match="2 predictions but 1"):
        compute(["a", "b"], [("a",)])
    with pytest.raises(HarnessError, match="no reference"):
        compute(["a"], [()])
    with pytest.raises(HarnessError, match="no examples"):
        compute([], [])
    with pytest.raises(TypeError, match="not a string"):
        compute(["a"], ["a"])
