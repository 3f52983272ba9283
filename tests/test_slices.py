"""Slices: a task's ``slice_field`` cuts its test set; each slice gets before/after/delta and a
paired test, and the slices' verdicts control the false-discovery rate across all tasks
(harness/evaluation/slices.py, harness/decisions/slices.py). Then a real ``harness run`` and
``harness eval`` of sliced tasks: results.json, samples.jsonl, both reports, the terminal, gates
and a release policy on slices, and ``harness rescore``."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest
from scipy.stats import false_discovery_control

from harness.cli import main
from harness.compare import compare as compare_runs
from harness.decisions.slices import add_slice_verdicts
from harness.errors import DataError
from harness.evaluation.slices import slice_entries, subset
from harness.evaluation.stats import compare
from harness.metrics.builtin import builtin_metrics
from harness.reports.terminal import json_summary
from harness.tasks import DataSource, Task
from harness.tasks.data import load_examples

METRICS = {m.name: m for m in builtin_metrics()}
PREDICTIONS = [
    "le chat est noir",
    "un chien",
    "la maison bleue",
    "il pleut",
    "bonjour tout le monde",
    "merci",
]
REFERENCES = [
    ("le chat est noir",),
    ("le chien",),
    ("la maison est bleue",),
    ("il pleut",),
    ("bonjour",),
    ("merci",),
]


def test_a_subset_of_a_corpus_metric_is_the_metric_on_that_subset():
    """BLEU of a slice comes from the slice's summed n-gram statistics: equal to sacrebleu run
    on the slice alone, not a mean of sentence scores."""
    bleu = METRICS["bleu"]
    whole = bleu.compute(PREDICTIONS, REFERENCES)
    rows = [0, 2, 4]
    alone = bleu.compute([PREDICTIONS[i] for i in rows], [REFERENCES[i] for i in rows])
    assert subset(bleu, whole, rows).score == pytest.approx(alone.score)
    accuracy = METRICS["accuracy"]
    result = accuracy.compute(["a", "b", "a", "a"], [("a",), ("a",), ("a",), ("b",)])
    assert subset(accuracy, result, [0, 1]).score == 0.5


def test_slice_entries_are_the_task_statistics_on_each_slice():
    accuracy = METRICS["accuracy"]
    refs = [("Positive",)] * 6 + [("Negative",)] * 6
    before = accuracy.compute(["Negative"] * 12, refs)
    after = accuracy.compute(["Positive"] * 5 + ["Negative"] + ["Negative"] * 4 + ["Positive"] * 2, refs)
    slices = ["imdb", "yelp"] * 6
    entries = slice_entries(accuracy, slices, before, after, seed=0, n_resamples=200)
    assert list(entries) == ["imdb", "yelp"]
    for value, rows in (("imdb", range(0, 12, 2)), ("yelp", range(1, 12, 2))):
        b, a = subset(accuracy, before, list(rows)), subset(accuracy, after, list(rows))
        expected = compare(accuracy, None, b, a, seed=0, n_resamples=200)
        entry = entries[value]
        assert (entry["n"], entry["before"], entry["after"]) == (6, b.score, a.score)
        assert entry["p_value"] == expected["p_value"] and entry["test"] == "mcnemar-exact"
        moves = [y - x for x, y in zip(b.per_example, a.per_example, strict=True)]
        assert (entry["fixed"], entry["broken"]) == (sum(m > 0 for m in moves), sum(m < 0 for m in moves))


def _tasks(p_values: dict[str, dict[str, tuple]]) -> dict:
    """results["tasks"] stand-in: per task, per slice (delta, p) or (delta, p, delta_ci)."""
    return {
        name: {
            "primary_metric": "accuracy",
            "metrics": {"accuracy": {"scale": 1.0, "higher_is_better": True}},
            "slices": {
                "field": "domain",
                "metric": "accuracy",
                "values": {
                    value: {"delta": v[0], "p_value": v[1], **({"delta_ci": v[2]} if len(v) > 2 else {})}
                    for value, v in slices.items()
                },
            },
        }
        for name, slices in p_values.items()
    }


def test_benjamini_hochberg_across_every_task_and_slice():
    tasks = _tasks(
        {
            "a": {"x": (0.2, 0.001), "y": (-0.2, 0.02)},
            "b": {"z": (0.005, 0.001, [0.002, 0.008]), "w": (0.1, 0.6)},
        }
    )
    summary = add_slice_verdicts(tasks, alpha=0.05, min_effect=0.01)
    q = false_discovery_control([0.001, 0.02, 0.001, 0.6], method="bh")
    values = [tasks[t]["slices"]["values"][s] for t, s in (("a", "x"), ("a", "y"), ("b", "z"), ("b", "w"))]
    assert [v["q_value"] for v in values] == pytest.approx(list(q))
    # x: q < alpha, large enough; y: significant decline; z: significant but below the minimum
    # effect, its interval within ± 0.01: no change; w: neither, no interval to show it: inconclusive
    assert [v["outcome"] for v in values] == ["improved", "regressed", "no change", "inconclusive"]
    assert summary["n_slices"] == 4 and (summary["improved"], summary["regressed"]) == (1, 1)
    assert (summary["no_change"], summary["inconclusive"], summary["unchanged"]) == (1, 1, 2)
    assert summary["summary"] == (
        "4 slices: 1 improved, 1 regressed, 1 no change, 1 inconclusive (Benjamini-Hochberg at 0.05)"
    )
    assert add_slice_verdicts(_tasks({}), alpha=0.05, min_effect=0.01) is None


def test_a_small_slice_where_nothing_flipped_is_inconclusive_and_a_large_one_no_change():
    """0/1 scores: the bootstrap interval collapses to [0, 0] when no example flipped, so "no
    change" also needs the Agresti-Min interval of the flips within the margin, as for a task."""

    def one(n: int) -> dict:
        tasks = _tasks({"t": {"s": (0.0, 1.0, [0.0, 0.0])}})
        tasks["t"]["slices"]["values"]["s"] |= {"n": n, "test": "mcnemar-exact", "fixed": 0, "broken": 0}
        add_slice_verdicts(tasks, alpha=0.05, min_effect=0.01)
        return tasks["t"]["slices"]["values"]["s"]

    assert one(8)["outcome"] == "inconclusive"  # 8 unflipped examples leave about ±0.2
    assert one(5000)["outcome"] == "no change"  # 5000 leave about ±0.0006


def test_the_slice_field_is_read_from_the_data(tmp_path, write_jsonl):
    rows = [{"input": "a", "output": "A", "domain": "imdb"}, {"input": "b", "output": "B", "domain": 3}]
    task = Task(
        name="t",
        instruction="x",
        test=DataSource(write_jsonl(tmp_path / "t.jsonl", rows)),
        metrics=("exact_match",),
        slice_field="domain",
    )
    assert [e.slice for e in load_examples(task.test, task, "test")] == ["imdb", "3"]
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"input": "a", "output": "A"}])
    with pytest.raises(DataError, match=r"bad\.jsonl:1: field 'domain': missing \(the task's slice_field"):
        load_examples(DataSource(bad), task, "test")
    assert load_examples(DataSource(bad), task, "train")[0].slice == ""  # optional outside test


def test_a_task_file_names_its_slice_field(tmp_path, write_jsonl):
    from harness.tasks.declarative import load_task_file

    write_jsonl(tmp_path / "test.jsonl", [{"input": "a", "output": "A", "domain": "news"}])
    path = tmp_path / "topic.toml"
    path.write_text(
        'instruction = "x"\ntest = "test.jsonl"\nmetrics = ["exact_match"]\nslice_field = "domain"\n'
    )
    task, _ = load_task_file(path)
    assert task.slice_field == "domain"
    assert load_examples(task.test, task, "test")[0].slice == "news"


# --------------------------------------------------------------------------------- a real run

DOMAINS = ("news", "sport", "<b>")  # a value that is markup: the reports show it as text


@pytest.fixture(scope="module")
def sliced(tmp_path_factory, tiny_model_dir, write_jsonl, write_plugin):
    """``harness run`` on two tasks sliced by ``domain`` (three values, one of them ``<b>``):
    "echo" (exact match) and "chrf" (the same data, chrF primary: a corpus metric), with two slice
    gates, one passing and one failing (exit 1), and a release policy with rules on two slices;
    and ``harness eval`` of the same tasks. Tuning
    learns the answer "ok" of the news and sport rows, not the echo of the "<b>" rows' input."""
    root = tmp_path_factory.mktemp("sliced")
    rows = [
        {"input": f"word {i}", "output": f"word {i}" if i % 3 == 2 else "ok", "domain": DOMAINS[i % 3]}
        for i in range(48)
    ]
    data = {
        "instruction": "Answer.",
        "test": write_jsonl(root / "test.jsonl", rows[:24]),
        "max_new_tokens": 4,
    }
    tasks = [  # "chrf" has no training data: only "echo" is trained
        {
            "name": "echo",
            "metrics": ("exact_match", "chrf"),
            "train": write_jsonl(root / "train.jsonl", rows[24:]),
        },
        {"name": "chrf", "metrics": ("chrf", "exact_match")},
    ]
    tasks = [{**task, **data, "slice_field": "domain"} for task in tasks]
    plugin = write_plugin(root / "tasks.py", tasks=tasks)
    argv = ["--model", str(tiny_model_dir), "--plugin", str(plugin), "--tasks", "echo,chrf"]
    argv += ["-o", str(root / "reports"), "--set", f"models_dir='{root / 'runs'}'"]
    argv += ["--set", "threads=1", "--set", "cache=false"]
    tune = ["--set", "method='full'", "--set", "train.epochs=6", "--set", "train.learning_rate=3e-3"]
    gates = ["--gate", "echo[news].exact_match.delta>=0.5", "--gate", "echo[*].primary>0.5"]
    policy = root / "release.toml"  # a release policy's rules on slices too
    policy.write_text(
        '[tasks."echo[news]"]\ntier = "critical"\nmax_drop = 0.0\n[tasks."echo[<b>]"]\ntier = "supporting"\n'
    )
    gates += ["--policy", str(policy)]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["run", "-q", *argv, *tune, *gates])
        assert main(["eval", "-q", *argv]) == 0
    folders = {_load(p)["mode"]: p.parent for p in (root / "reports").glob("*/results.json")}
    return {"argv": argv, "code": code, "out": out.getvalue(), **folders}


def _load(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _rows(folder: Path, task: str = "echo") -> list[dict]:
    lines = (folder / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    return [row for row in map(json.loads, lines) if row["task"] == task]


def test_a_run_records_each_slice_and_decides_them_together(sliced):
    """results.json: per slice the task's statistics on that slice's rows of samples.jsonl (which
    carry their "slice"), q-values by Benjamini-Hochberg over every task's slices, and
    slice_decision counting the outcomes; the terminal prints its line."""
    results, rows = _load(sliced["run"] / "results.json"), _rows(sliced["run"])
    slices = results["tasks"]["echo"]["slices"]
    assert (slices["field"], slices["metric"]) == ("domain", "exact_match")
    assert list(slices["values"]) == sorted(DOMAINS)
    assert [row["slice"] for row in rows] == [DOMAINS[i % 3] for i in range(24)]
    for value, entry in slices["values"].items():
        mine = [row for row in rows if row["slice"] == value]
        before = [row["scores_before"]["exact_match"] for row in mine]
        after = [row["scores_after"]["exact_match"] for row in mine]
        assert entry["n"] == len(mine) == 8
        assert (entry["before"], entry["after"]) == (sum(before) / 8, sum(after) / 8)
        assert entry["delta"] == pytest.approx(entry["after"] - entry["before"])
        moves = [a - b for b, a in zip(before, after, strict=True)]
        assert (entry["fixed"], entry["broken"]) == (sum(m > 0 for m in moves), sum(m < 0 for m in moves))
        assert entry["test"] == "mcnemar-exact" and len(entry["delta_ci"]) == 2
    # tuning learnt "ok": news and sport from 0 to 1 (8 of 8 fixed); "<b>" unchanged, and 8
    # unflipped examples cannot show that it did not change: inconclusive
    assert [slices["values"][v]["outcome"] for v in ("news", "sport", "<b>")] == [
        "improved",
        "improved",
        "inconclusive",
    ]
    chrf = METRICS["chrf"]  # a corpus metric's slice: chrF of the slice's predictions
    chrf_rows = [row for row in _rows(sliced["run"], "chrf") if row["slice"] == "news"]
    expected = chrf.compute([r["prediction_after"] for r in chrf_rows], [r["references"] for r in chrf_rows])
    assert results["tasks"]["chrf"]["slices"]["values"]["news"]["after"] == pytest.approx(expected.score)
    entries = [e for name in ("echo", "chrf") for e in results["tasks"][name]["slices"]["values"].values()]
    q = false_discovery_control([e["p_value"] for e in entries], method="bh")
    assert [e["q_value"] for e in entries] == pytest.approx(list(q))  # over both tasks' six slices
    decided = results["slice_decision"]
    assert decided["n_slices"] == 6 and decided["correction"] == "benjamini-hochberg"
    for outcome in ("improved", "regressed"):
        assert decided[outcome] == sum(e["outcome"] == outcome for e in entries)
    assert decided["summary"] in sliced["out"]  # the terminal's slice line
    assert json_summary(results, {}, 1)["slice_decision"] == decided  # and --json's
    keys = list(results)
    assert keys.index("decision") < keys.index("slice_decision") < keys.index("gates")


def test_gates_on_slices_pass_and_fail_by_the_slice_numbers(sliced):
    """``echo[news]...delta>=0.5`` passes on news' +1; ``echo[*].primary>0.5`` fails on "<b>",
    which stayed at 0 (the run exits 1)."""
    results = _load(sliced["run"] / "results.json")
    values = results["tasks"]["echo"]["slices"]["values"]
    passed, failed = results["gates"]
    assert passed["passed"] and passed["actual"] == values["news"]["delta"] == 1.0
    assert passed["detail"] == "echo[news] exact_match delta +1 (0 -> 1) passes >= 0.5"
    assert not failed["passed"] and failed["actual"] == values["<b>"]["after"] == 0.0
    assert failed["detail"] == "echo[<b>] exact_match after tuning 0 fails > 0.5"
    assert passed["inconclusive"] == failed["inconclusive"] == []
    assert sliced["code"] == 1
    news, markup = results["policy"]["tasks"]["echo[news]"], results["policy"]["tasks"]["echo[<b>]"]
    assert news["status"] == "pass" and news["metric"] == "exact_match" and news["verdict"] == "improved"
    assert markup["status"] == "cannot tell" and markup["verdict"] == "inconclusive"  # its outcome decides
    assert markup["outcome"] == "WARN"  # a supporting slice that cannot tell warns


def test_an_evaluation_records_each_slice_before_only(sliced):
    results = _load(sliced["eval"] / "results.json")
    run = _load(sliced["run"] / "results.json")["tasks"]["echo"]["slices"]
    for value, entry in results["tasks"]["echo"]["slices"]["values"].items():
        assert entry == {"n": 8, "before": run["values"][value]["before"], "after": None, "delta": None}
    assert "slice_decision" not in results


def test_the_reports_show_the_slice_table_with_its_values_escaped(sliced):
    results = _load(sliced["run"] / "results.json")
    md = (sliced["run"] / "report.md").read_text(encoding="utf-8")
    html = (sliced["run"] / "report.html").read_text(encoding="utf-8")
    summary = results["slice_decision"]["summary"]
    q = results["tasks"]["echo"]["slices"]["values"]["news"]["q_value"]
    assert "**Slices by domain (exact_match)**" in md and f"\n{summary}.\n" in md
    row = f"| news | 8 | 0.0000 | 1.0000 | +1.0000 [+1.0000, +1.0000] | {q:.4f} | ▲ improved |"
    assert row + " 8 fixed / 0 broken |" in md
    assert "| &lt;b&gt; | 8 | 0.0000 | 0.0000 |" in md
    assert "<b>" not in md.split("## Task echo")[1]
    assert (
        "Slices by domain (exact_match)</h4>" in html and f'<p class="slice-summary">{summary}.</p>' in html
    )
    assert '<td class="text">&lt;b&gt;</td><td class="num">8</td>' in html
    assert '<td class="text"><b>' not in html and "echo[&lt;b&gt;] (supporting, exact_match)" in html
    eval_md = (sliced["eval"] / "report.md").read_text(encoding="utf-8")
    assert "| domain | n | score |" in eval_md and "| &lt;b&gt; | 8 | 0.0000 |" in eval_md


def test_rescore_gives_the_same_slices(sliced, tmp_path, capsys):
    """A rescore reproduces results.json byte for byte (its failing gate still fails); changed
    predictions of one slice change that slice's numbers, and the change is recorded."""
    folder = tmp_path / sliced["run"].name
    shutil.copytree(sliced["run"], folder)
    saved = (folder / "results.json").read_bytes()
    assert main(["rescore", str(folder)]) == 1
    assert "no value changed" in capsys.readouterr().out
    assert (folder / "results.json").read_bytes() == saved
    evaluation = tmp_path / "eval" / sliced["eval"].name  # an evaluation's before-only slices too
    shutil.copytree(sliced["eval"], evaluation)
    assert main(["rescore", str(evaluation)]) == 0
    assert (evaluation / "results.json").read_bytes() == (sliced["eval"] / "results.json").read_bytes()
    lines = (folder / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    for row in rows:
        if row["slice"] == "<b>":
            row["prediction_after"] = row["reference"]
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert main(["rescore", str(folder)]) == 0  # "<b>" is now at 1: every gate passes
    rescored = _load(folder / "results.json")
    assert rescored["tasks"]["echo"]["slices"]["values"]["<b>"]["after"] == 1.0
    assert "echo: [<b>].after 0.0 -> 1.0" in rescored["rescored"]["changes"]


def test_a_gate_on_an_unknown_slice_is_refused_before_model_work(sliced, tmp_path, capsys):
    """The test data tells the slice values before any model work: a gate on another value, or
    on a metric the slices do not compare, is exit 2 with nothing written."""
    argv = [arg.replace(str(sliced["run"].parent), str(tmp_path / "reports")) for arg in sliced["argv"]]
    assert main(["run", "-q", *argv, "--gate", "echo[spor].exact_match>=0"]) == 2
    err = capsys.readouterr().err
    assert (
        "unknown slice 'spor' of task 'echo' (did you mean 'sport'?); its domain values: <b>, news, sport"
        in err
    )
    assert main(["eval", "-q", *argv, "--gate", "echo[news].chrf>=0"]) == 2
    assert (
        "slices are compared on the primary metric of 'echo', 'exact_match', not 'chrf'"
        in capsys.readouterr().err
    )
    assert not (tmp_path / "reports").exists()


def test_compare_of_the_evaluation_with_the_run_gives_the_runs_own_slices(sliced, tmp_path):
    """harness compare (A: the base evaluation, B: the tuned run) pairs the rows with their slice
    and compares each slice as the run itself did; a slice gate works on the comparison too."""
    results, paths = compare_runs(
        sliced["eval"], sliced["run"], tmp_path, gates=["echo[news].primary.delta>=0.5"]
    )
    own = _load(sliced["run"] / "results.json")
    for name in ("echo", "chrf"):
        assert results["tasks"][name]["slices"] == own["tasks"][name]["slices"]
    assert results["slice_decision"] == own["slice_decision"]
    assert results["gates"][0]["passed"] and results["gates"][0]["actual"] == 1.0
    assert all("slice" in json.loads(line) for line in paths["samples"].read_text().splitlines())
