"""Tests for harness.reports: the results.json schema, Markdown/HTML rendering, escaping,
atomic writes, round-trips."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.config import Config
from harness.decisions import conclude, decide
from harness.errors import HarnessError
from harness.reports import (
    build_results,
    build_samples,
    fmt_delta,
    fmt_num,
    load_run,
    render_html,
    render_markdown,
    summary_table,
    write_reports,
)
from harness.reports.browser import browser_data
from harness.reports.charts import render_charts
from harness.reports.terminal import json_summary


def _model_dir() -> str:
    """A model folder for the fake loaded model (provenance fingerprints its files)."""
    path = Path(tempfile.mkdtemp(prefix="harness-fake-model-"))
    (path / "config.json").write_text("{}")
    return str(path)


TEMPLATE = "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
EVIL = "<script>alert(1)</script> a|b"


def _prompt(instruction: str, text: str) -> str:
    return TEMPLATE.format(instruction=instruction, input=text)


def make_results(mode: str = "run") -> dict:
    run = mode == "run"

    def metric(before, after, hib=True, settings=None, scale=1.0):
        return {
            "higher_is_better": hib,
            "scale": scale,
            "before": before,
            "after": after if run else None,
            "delta": round(after - before, 6) if run else None,
            "settings": settings or {},
        }

    return {
        "schema_version": 1,
        "run_id": "20261124-103000-ab12cd",
        "mode": mode,
        "created": "2026-11-24T10:30:00+00:00",
        "harness_version": "0.1.0",
        "git_commit": None,
        "seed": 0,
        "config": {"model": {"name": "tiny"}, "train": {"epochs": 20, "lr": 0.003}, "tasks": ["sentiment"]},
        "model": {
            "name": "tiny",
            "source": "preset",
            "parameters": 650000,
            "trainable_parameters": 650000 if run else None,
            "method": "full" if run else None,
            "output_dir": "runs/x/model" if run else None,
        },
        "device": {"type": "cpu", "name": "cpu", "dtype": "float32", "torch_threads": 2},
        "versions": {"python": "3.11.7", "torch": "2.13.0", "harness": "0.1.0"},
        "durations": {"model_load": 1.2, "eval_before": 5.0, "train": 80.1, "total": 92.0},
        "training": {
            "method": "full",
            "epochs": 20,
            "steps": 2250,
            "batch_size": 8,
            "learning_rate": 0.003,
            "train_examples": 900,
            "tasks": ["sentiment", "translation"],
            "final_loss": 0.41,
            "loss_history": [{"step": 10 * i, "epoch": i / 25, "loss": 5.1 / (1 + i)} for i in range(1, 40)],
        }
        if run
        else None,
        "generation": {"batch_size": 32, "greedy": True, "prompt_template": TEMPLATE},
        "tasks": {
            "sentiment": {
                "version": "1",
                "source": "plugins/sentiment.py",
                "instruction": "Determine if the following sentence has a positive or negative sentiment.",
                "test_data": "tasks/sentiment/test.jsonl",
                "n_test": 100,
                "n_train": 300,
                "primary_metric": "accuracy",
                "max_new_tokens": 4,
                "stop": ["\n"],
                "metrics": {"accuracy": metric(0.5, 0.93), "macro_f1": metric(0.3333, 0.9299)},
            },
            "translation": {
                "version": "1",
                "source": "plugins/translation.py",
                "instruction": "Translate to German.",
                "n_test": 50,
                "n_train": 300,
                "primary_metric": "bleu",
                "max_new_tokens": 64,
                "stop": ["\n"],
                "metrics": {
                    "bleu": metric(
                        12.4, 10.1, settings={"signature": "nrefs:1|case:mixed|tok:13a"}, scale=100.0
                    ),
                    "ter": metric(80.0, 70.5, hib=False, scale=100.0),
                },
            },
        },
        "reports": {"html": "report.html", "markdown": "report.md", "samples": "samples.jsonl"},
    }


def with_verdicts(results: dict, p_values: dict[str, float], correction: str = "holm") -> dict:
    """``results`` with paired tests on the primary metrics (``p_values`` by task; a CI of
    ±0.8 × |delta| around the delta) and the verdicts and decision they lead to at alpha = 0.05."""
    for name, p in p_values.items():
        task = results["tasks"][name]
        entry = task["metrics"][task["primary_metric"]]
        spread = 0.8 * abs(entry["delta"])
        entry.update(delta_ci=[entry["delta"] - spread, entry["delta"] + spread], p_value=p)
        entry["significant"] = p < 0.05
    verdicts, results["decision"] = decide(
        results["tasks"], alpha=0.05, min_effect=0.01, correction=correction
    )
    for name, verdict in verdicts.items():
        results["tasks"][name]["verdict"] = verdict
    results["statistics"] = {"confidence": 0.95, "alpha": 0.05}
    return results


def make_samples(mode: str = "run") -> list[dict]:
    rows = []
    for i, (text, ref, before, after) in enumerate(
        [
            ("I loved it.", "Positive", "Negative", "Positive"),
            (EVIL, "Negative", "Neg\native", "Negative"),
            ("Meh.", "Negative", "Positive", "Positive"),
        ]
    ):
        rows.append(
            {
                "task": "sentiment",
                "id": f"sentiment-test-{i}",
                "prompt": _prompt("Determine sentiment.", text),
                "input": text,
                "reference": ref,
                "references": [ref],
                "prediction_before": before,
                "prediction_after": after,
                "scores_before": {"accuracy": float(before == ref)},
                "scores_after": {"accuracy": float(after == ref)},
            }
        )
    for i in range(8):
        rows.append(
            {
                "task": "translation",
                "id": f"translation-test-{i}",
                "prompt": _prompt("Translate to German.", f"Hello {i}"),
                "input": f"Hello {i}",
                "reference": f"Hallo {i}",
                "references": [f"Hallo {i}"],
                "prediction_before": "Hi",
                "prediction_after": f"Hallo {i}",
            }
        )
    if mode == "eval":
        for r in rows:
            for k in ("prediction_after", "scores_after"):
                r.pop(k, None)
    return rows


# ---------------------------------------------------------------------------------------------- formatting


def test_number_formatting():
    assert fmt_num(0.5) == "0.5000"
    assert fmt_num(1.0) == "1.0000"
    assert fmt_num(34.567) == "34.57"
    assert fmt_num(None) == "—"
    assert fmt_delta(0.43) == "+0.4300"
    assert fmt_delta(-2.5) == "-2.50"
    assert fmt_delta(0.0) == "+0.0000"


def test_example_input_comes_from_the_samples_input_field():
    """The reports show a sample's "input" as recorded, whatever the prompt looks like (a chat
    template, or an input that itself contains the template's markers)."""
    samples = make_samples()
    samples[0]["prompt"] = "<|user|>\nDetermine sentiment.\n\n### Input:\nnot this<|end|>\n<|assistant|>\n"
    samples[0]["input"] = "I loved it. ### Response: really"
    md = render_markdown(make_results(), samples)
    assert "| sentiment-test-0 | I loved it. ### Response: really | Positive |" in md
    assert "not this" not in md and "&lt;|user|&gt;" not in md
    assert "I loved it. ### Response: really" in render_html(make_results(), samples)


# ---------------------------------------------------------------------------------------------- schema

TOP_KEYS = [
    "schema_version", "run_id", "mode", "created", "harness_version", "git_commit", "seed", "config",
    "model", "device", "versions", "distributed", "durations", "cost", "provenance", "training", "forecast",
    "statistics", "generation",
    "tasks", "warnings", "reports",
]  # fmt: skip
TASK_KEYS = [
    "version", "source", "instruction", "test_data", "train_data", "n_test", "n_train", "primary_metric",
    "scoring", "choices", "max_new_tokens", "stop", "num_fewshot", "metrics", "baseline_cached", "truncation",
    "overlap",
]  # fmt: skip
SAMPLE_KEYS = [
    "task", "id", "prompt", "instruction", "input", "reference", "references", "prediction_before",
    "scores_before", "prediction_after", "scores_after",
]  # fmt: skip


@pytest.fixture
def evaluated(tmp_path):
    """A workload of one exact-match task on 8 examples, and its evaluations before (2 right)
    and after (7 right) tuning."""
    from harness import plugins
    from harness.evaluation import Predictions, scored
    from harness.tasks import DataSource, Example, Task
    from harness.workload import Workload

    task = Task("echo", "Repeat.", DataSource(str(tmp_path / "test.jsonl")), ("exact_match",))
    examples = [Example(f"echo-{i}", "Repeat.", f"in {i}", f"out {i}") for i in range(8)]
    metrics = {name: entry.item for name, entry in plugins.metrics(plugins.make_plugin_manager()).items()}
    workload = Workload([task], {"echo": "test"}, {"echo": examples}, {"echo": examples}, metrics)
    prompts = [f"Repeat.\n{e.input}\n" for e in examples]

    def evaluation(right: int):
        answers = [e.output if i < right else "?" for i, e in enumerate(examples)]
        return {"echo": scored(task, metrics, examples, Predictions(prompts, answers))}

    return workload, evaluation(2), evaluation(7)


def _results(workload, before, after, **changes):
    config = Config(tasks=["echo"])
    config.stats.n_resamples, config.stats.alpha = 200, 0.1
    training = SimpleNamespace(
        **dict.fromkeys(("epochs", "steps", "train_examples", "final_loss", "loss_history", "max_steps")),
        **dict.fromkeys(("dev_examples", "dev_metrics", "dev_history", "best_step", "best_score")),
        **dict.fromkeys(("stopped_early", "tokens", "lora_modules", "resumed_from", "output_dir")),
        **dict.fromkeys(("stop_reason", "kept", "last_step", "last_score", "noise_margin", "dev_weights")),
        warnings=[],
        method="full", trainable_parameters=10, select_by="mean", duration=1.23456,
    )  # fmt: skip
    arguments = {
        "config": config,
        "mode": "run",
        "run_id": "20261124-103000-ab12cd",
        "workload": workload,
        "loaded": SimpleNamespace(name="m", source="local", path=_model_dir(), device="cpu", dtype="float32"),
        "total_parameters": 10,
        "threads": 1,
        "before": before,
        "after": after,
        "training": training,
        "durations": {"model_load": 1.23456, "eval_before": 2.0},
        "samples": build_samples(workload, before, after),
        **changes,
    }
    return conclude(build_results(**arguments), config)  # the verdicts, as every flow concludes


def test_build_results_keys_values_and_stats_settings(evaluated):
    workload, before, after = evaluated
    results = _results(workload, before, after, cached=["echo"])
    assert list(results) == [*TOP_KEYS[:-1], "decision", "reports"]  # decision: run mode only
    assert results["mode"] == "run" and results["run_id"] == "20261124-103000-ab12cd"
    assert results["durations"] == {"model_load": 1.235, "eval_before": 2.0}
    assert results["training"]["duration"] == 1.235 and results["model"]["trainable_parameters"] == 10
    assert results["statistics"]["confidence"] == pytest.approx(0.9)
    assert (results["statistics"]["n_resamples"], results["statistics"]["alpha"]) == (200, 0.1)
    task = results["tasks"]["echo"]
    assert list(task) == [*TASK_KEYS, "flips", "verdict"]
    assert task["baseline_cached"] is True and task["n_test"] == 8 and task["train_data"] is None
    entry = task["metrics"]["exact_match"]
    assert list(entry)[:6] == ["higher_is_better", "scale", "before", "after", "delta", "settings"]
    assert (entry["scale"], entry["before"], entry["after"], entry["delta"]) == (1.0, 0.25, 0.875, 0.625)
    assert entry["test"] == "mcnemar-exact" and entry["n_resamples"] == 200
    assert entry["p_value"] == pytest.approx(2 * 0.5**5)  # 5 fixed, none broken
    assert entry["significant"] is True  # < alpha = 0.1
    assert task["flips"]["counts"] == {"wrong_to_right": 5, "right_to_wrong": 0}
    # what the verdict's power analysis reads: the examples, the discordant pairs, the delta's SD
    assert entry["n_examples"] == 8 and entry["discordant"] == {"right_to_wrong": 0, "wrong_to_right": 5}
    assert entry["delta_se"] > 0
    # the verdict: one task, so Holm changes nothing; 0.0625 < 0.1 and 0.625 >= min_effect 0.01
    verdict = task["verdict"]
    assert list(verdict) == [
        "metric", "outcome", "leaning", "before", "after", "delta", "delta_ci", "p_value", "p_adjusted",
        "significant", "large_enough", "margin", "mde", "n", "n_needed", "reason", "warnings",
    ]  # fmt: skip
    from harness.decisions.power import mcnemar_mde

    assert verdict["mde"] == pytest.approx(mcnemar_mde(8, 0.1, discordance=5 / 8))
    assert (verdict["n"], verdict["n_needed"], verdict["margin"]) == (8, None, 0.01)
    assert (verdict["metric"], verdict["outcome"], verdict["leaning"]) == ("exact_match", "improved", "up")
    assert verdict["delta_ci"] == entry["delta_ci"] and verdict["p_adjusted"] == entry["p_value"]
    assert results["decision"] == {
        "alpha": 0.1,
        "min_effect": 0.01,
        "correction": "holm",
        "power": 0.8,
        "mde_alpha": 0.1,
        "improved": 1,
        "regressed": 0,
        "no_change": 0,
        "inconclusive": 0,
        "unchanged": 0,
        "summary": "1 of 1 task improved, 0 regressed, 0 no change, 0 inconclusive",
        "warnings": [],
    }
    assert results["reports"] == {"html": "report.html", "markdown": "report.md", "samples": "samples.jsonl"}


def test_build_results_in_eval_mode(evaluated):
    workload, before, _ = evaluated
    results = _results(workload, before, None, mode="eval", training=None)
    assert list(results) == TOP_KEYS and results["training"] is None
    task = results["tasks"]["echo"]
    assert list(task) == TASK_KEYS and task["baseline_cached"] is False
    entry = task["metrics"]["exact_match"]
    assert (entry["before"], entry["after"], entry["delta"]) == (0.25, None, None)
    assert "before_ci" in entry and "p_value" not in entry


def test_build_samples_rows(evaluated):
    workload, before, after = evaluated
    rows = build_samples(workload, before, after)
    assert [list(row) for row in rows] == [SAMPLE_KEYS] * 8
    assert rows[1] == {
        "task": "echo",
        "id": "echo-1",
        "prompt": "Repeat.\nin 1\n",
        "instruction": "Repeat.",
        "input": "in 1",
        "reference": "out 1",
        "references": ["out 1"],
        "prediction_before": "out 1",
        "scores_before": {"exact_match": 1.0},
        "prediction_after": "out 1",
        "scores_after": {"exact_match": 1.0},
    }
    assert rows[5]["prediction_before"] == "?" and rows[5]["scores_before"] == {"exact_match": 0.0}
    assert [list(row) for row in build_samples(workload, before)] == [SAMPLE_KEYS[:-2]] * 8


def test_rows_with_their_own_instructions_are_shown_as_such(evaluated):
    """When data rows carry their own instruction, results.json and both reports say so, and each
    example shows the instruction it was given (escaped) instead of the task's."""
    import dataclasses

    workload, before, after = evaluated
    own = [
        dataclasses.replace(e, instruction="Echo <b>twice</b>." if i % 2 else "Repeat.")
        for i, e in enumerate(workload.test["echo"])
    ]
    workload.test["echo"] = own
    results = _results(workload, before, after)
    task = results["tasks"]["echo"]
    assert task["instruction"] is None
    assert task["instructions"] == {"distinct": 2, "most_common": ["Repeat.", 4]}
    samples = build_samples(workload, before, after)
    assert [s["instruction"] for s in samples[:2]] == ["Repeat.", "Echo <b>twice</b>."]
    markdown = render_markdown(results, samples)
    assert "the rows carry their own: 2 distinct; the most common (4 of 8 rows): Repeat." in markdown
    assert "[instruction: Echo &lt;b&gt;twice&lt;/b&gt;.] in 1" in markdown  # escaped
    page = render_html(results, samples)
    assert "Echo <b>twice" not in page.split('id="sample-data"')[0]
    data = browser_data(results, samples)
    assert [row[2] for row in data["rows"][:2]] == [
        "[instruction: Repeat.] in 0",  # the rows differ: each shows its own
        "[instruction: Echo <b>twice</b>.] in 1",
    ]
    # rows that all share the task's instruction: the entry is as before
    workload.test["echo"] = [dataclasses.replace(e, instruction="Repeat.") for e in own]
    assert _results(workload, before, after)["tasks"]["echo"]["instruction"] == "Repeat."


# ---------------------------------------------------------------------------------------------- markdown


def test_markdown_run_mode_tables_and_verdicts():
    results = with_verdicts(make_results(), {"sentiment": 0.001, "translation": 0.004})
    md = render_markdown(results, make_samples())
    assert md.startswith("# harness run 20261124-103000-ab12cd")
    summary = md.split("## Summary", 1)[1].split("## Task", 1)[0]
    lines = summary.strip().splitlines()
    # the overall line first, then the regression, bold: it does not rely on colour
    assert lines[0] == "**Overall: 1 of 2 tasks improved, 1 regressed, 0 no change, 0 inconclusive.**"
    assert lines[2] == "**▼ Regressed: translation.**"
    assert "| task | verdict | primary metric | before → after | delta [95% CI] | p (Holm) |" in summary
    # Holm doubles the smaller p-value of two and leaves the larger
    assert (
        "| sentiment | ▲ improved | accuracy | 0.5000 → 0.9300 | +0.4300 [+0.0860, +0.7740] "
        "| 0.0020 (raw 0.0010) |" in summary
    )
    # BLEU on its 0-100 scale: 2 decimals
    assert (
        "| translation | **▼ REGRESSED** | bleu | 12.40 → 10.10 | -2.30 [-4.14, -0.46] | 0.0040 |" in summary
    )
    assert (
        "Improved or regressed needs a significant paired test of the primary metric at α = 0.05 "
        "(p Holm-adjusted over the tasks) and \\|delta\\| ≥ 0.01 × the metric's scale; no change needs "
        "the whole 95% CI of the delta within ± the same minimum effect (an equivalence test); otherwise "
        "inconclusive" in summary
    )
    # each task opens with its verdict and the reason
    sentiment = md.split("## Task sentiment", 1)[1]
    assert sentiment.lstrip().startswith(
        "Verdict: **▲ improved** — p = 0.002 &lt; 0.05 after Holm over 2 tasks"
    )
    translation = md.split("## Task translation", 1)[1]
    assert translation.lstrip().startswith(
        "Verdict: **▼ REGRESSED** — p = 0.004 &lt; 0.05 after Holm over 2 tasks, and \\|delta\\| = 2.30 ≥ "
        "the minimum effect 1 (0.01 × scale 100)."
    )
    # every delta shows its CI where there is one; the primary row shows the corrected p-value
    assert "| metric | before | after | delta [95% CI] | p-value |" in md
    assert (
        "| accuracy (primary) | 0.5000 | 0.9300 | +0.4300 [+0.0860, +0.7740] | 0.0020 (raw 0.0010) \\* |"
        in md
    )
    assert "| macro_f1 | 0.3333 | 0.9299 | +0.5966 | — |" in md
    assert "| bleu (primary) | 12.40 | 10.10 | -2.30 [-4.14, -0.46] | 0.0040 \\* |" in md
    assert "| ter ↓ | 80.00 | 70.50 | -9.50 | — |" in md
    # metadata, settings
    assert "| final_loss | 0.41 |" in md
    assert "| learning_rate | 0.003 |" in md
    assert "| parameters | 650,000 |" in md
    assert "| train.epochs | 20 |" in md
    assert "| bleu | signature = nrefs:1\\|case:mixed\\|tok:13a |" in md
    assert "| wall time: total | 92.0 s |" in md and "| device, dtype |" in md


def test_markdown_inconclusive_says_where_it_leans_and_what_the_test_set_detects():
    results = make_results()
    results["tasks"]["sentiment"]["metrics"]["accuracy"].update(before=0.4725, after=0.5275, delta=0.055)
    results = with_verdicts(results, {"sentiment": 0.151, "translation": 0.6})
    md = render_markdown(results, make_samples())
    assert "**Overall: 0 of 2 tasks improved, 0 regressed, 0 no change, 2 inconclusive.**" in md
    assert "**? Inconclusive (too few test examples to tell): sentiment, translation.**" in md
    assert "Regressed" not in md and "REGRESSED" not in md
    assert "| sentiment | inconclusive, leaning better | accuracy | 0.4725 → 0.5275 |" in md
    assert "| translation | inconclusive, leaning worse | bleu | 12.40 → 10.10 |" in md
    assert "otherwise inconclusive: the test set is too small to tell" in md
    assert "p = 0.302 ≥ 0.05 after Holm over 2 tasks" in md  # 0.151 doubled: the smaller of two


def test_markdown_run_without_verdicts():
    """A run recorded before verdicts existed still renders: no overall line, no verdict."""
    md = render_markdown(make_results(), make_samples())
    assert "Overall" not in md and "Verdict:" not in md
    assert "| sentiment | — | accuracy | 0.5000 → 0.9300 | +0.4300 | — |" in md
    assert "| accuracy (primary) | 0.5000 | 0.9300 | +0.4300 |" in md


def test_verdict_tables_escape_task_names():
    results = make_results()
    results["tasks"] = {EVIL: results["tasks"]["sentiment"]}
    results = with_verdicts(results, {EVIL: 0.001})
    summary = render_markdown(results, []).split("## Task", 1)[0]
    assert (
        "<script>" not in summary
        and "| &lt;script&gt;alert(1)&lt;/script&gt; a\\|b | ▲ improved |" in summary
    )
    page = render_html(results, [])
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; a|b" in page


def test_markdown_examples_escape_and_limit():
    md = render_markdown(make_results(), make_samples())
    # the malicious input stays inside one cell: pipe escaped, HTML escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt; a\\|b" in md
    assert "<script>" not in md
    assert "Neg<br>ative" in md  # newline inside a cell
    # every line of every table has the same number of unescaped pipes as its header
    for block in re.findall(r"((?:^\|.*\|$\n?)+)", md, flags=re.M):
        lines = block.strip().splitlines()
        counts = {len(re.findall(r"(?<!\\)\|", line)) for line in lines}
        assert len(counts) == 1, lines
    # default: at most 5 examples per task
    assert "translation-test-4" in md and "translation-test-5" not in md
    assert "| sentiment-test-0 | I loved it. | Positive | Negative | Positive ✓ |" in md
    md2 = render_markdown(make_results(), make_samples(), n_examples=2)
    assert "translation-test-1" in md2 and "translation-test-2" not in md2


def test_markdown_eval_mode():
    md = render_markdown(make_results("eval"), make_samples("eval"))
    assert md.startswith("# harness evaluation")
    assert "| metric | score |" in md
    assert "| accuracy (primary) | 0.5000 |" in md
    assert "**sentiment** — accuracy: 0.5000" in md
    assert "→" not in md
    assert "### Training" not in md
    assert "| id | input | reference | prediction |" in md


def test_ci_and_p_values_render_when_present():
    results = make_results()
    acc = results["tasks"]["sentiment"]["metrics"]["accuracy"]
    acc.update(before_ci=[0.4, 0.6], after_ci=[0.88, 0.97], delta_ci=[0.31, 0.52])
    acc.update(p_value=0.00001, significant=True)
    f1 = results["tasks"]["sentiment"]["metrics"]["macro_f1"]
    f1.update(delta_ci=[-0.05, 1.2], p_value=0.2, significant=False)
    md = render_markdown(results, make_samples())
    assert "| metric | before | after | delta [CI] | p-value |" in md
    row = (
        "| accuracy (primary) | 0.5000 [0.4000, 0.6000] | 0.9300 [0.8800, 0.9700] "
        "| +0.4300 [+0.3100, +0.5200] | &lt;0.0001 \\* |"
    )
    assert row in md
    assert "| macro_f1 | 0.3333 | 0.9299 | +0.5966 [-0.0500, +1.2000] | 0.2000 |" in md
    page = render_html(results, make_samples())
    assert "0.9300 [0.8800, 0.9700]" in page and "p-value" in page and 'class="sig"' in page
    assert "+0.4300 [+0.3100, +0.5200]" in page
    # absent -> not shown
    plain = render_markdown(make_results(), make_samples())
    assert "p-value" not in plain and "| accuracy (primary) | 0.5000 | 0.9300 | +0.4300 |\n" in plain
    assert "p = " not in plain and "significant" not in plain
    assert "p-value" not in render_html(make_results(), make_samples())


def test_flips_rendered_when_present():
    results = make_results()
    results["tasks"]["sentiment"]["flips"] = {
        "ranked_by": "accuracy",
        "wrong_to_right": ["sentiment-test-0", "sentiment-test-3"],
        "right_to_wrong": [],
        "counts": {"wrong_to_right": 7, "right_to_wrong": 0},
    }
    results["tasks"]["translation"]["flips"] = {
        "ranked_by": "sentence-level chrF",
        "largest_gains": [{"id": "t-1", "before": 10.0, "after": 27.456, "delta": 17.456}],
        "largest_losses": [],
    }
    md = render_markdown(results, make_samples())
    assert "| wrong → right | 7: sentiment-test-0, sentiment-test-3 (first 2 shown) |" in md
    assert "| right → wrong | 0 |" in md and "| ranked by | accuracy |" in md
    assert "| largest gains | t-1: 10 → 27.46 |" in md and "| largest losses | none |" in md
    assert "flips" not in render_markdown(make_results(), make_samples())
    page = render_html(results, make_samples())
    assert "<td>flips: wrong → right</td>" in page and "7: sentiment-test-0, sentiment-test-3" in page


# ---------------------------------------------------------------------------------------------- html


def test_html_escapes_and_is_self_contained():
    page = render_html(make_results(), make_samples())
    assert "<script>alert" not in page and "\\u003cscript\\u003ealert(1)" in page  # the browser's data
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, flags=re.I)
    assert "http://" not in page and "https://" not in page
    assert "@import" not in page and "<link" not in page
    assert page.count("<svg") == 2  # deltas and training, inline, drawn by matplotlib


def test_html_content_run_mode():
    results = with_verdicts(make_results(), {"sentiment": 0.001, "translation": 0.004})
    page = render_html(results, make_samples())
    summary = page.split('<h2 id="summary">Summary</h2>', 1)[1].split("<h2", 1)[0]
    # the overall line on top; the regression named, marked by a symbol and capitals, not only red
    assert "Overall: 1 of 2 tasks improved, 1 regressed, 0 no change, 0 inconclusive." in summary
    assert '<div class="overall has-regression">' in summary and "▼ Regressed: translation" in summary
    improved, regressed = summary.split('<tr class="row-improved">')[1].split('<tr class="row-regressed">')
    assert (
        '<span class="improved">▲ improved</span>' in improved and ">+0.4300 [+0.0860, +0.7740]<" in improved
    )
    assert '0.0020<br><span class="note">raw 0.0010</span>' in improved
    assert '<span class="regressed">▼ REGRESSED</span>' in regressed and ">-2.30 [-4.14, -0.46]<" in regressed
    assert "p = 0.004 &lt; 0.05 after Holm over 2 tasks" in regressed
    assert "<th>delta [95% CI]</th><th>p (Holm)</th>" in summary
    # each task opens with its headline
    assert (
        '<p class="headline"><span class="regressed">▼ REGRESSED</span> — bleu 12.40 → 10.10, '
        "delta -2.30 [-4.14, -0.46], p = 0.0040<br>"
    ) in page
    assert "nrefs:1|case:mixed|tok:13a" in page
    assert '<h2 id="training">Training</h2>' in page and "650,000" in page


def test_html_eval_mode():
    page = render_html(make_results("eval"), make_samples("eval"))
    assert 'id="training"' not in page and "<svg" not in page
    assert "<th>score</th>" in page and "<th>after</th>" not in page
    assert "0.5000" in page


def test_html_single_point_and_empty_loss_history():
    results = make_results()
    results["training"]["loss_history"] = [{"step": 1, "epoch": 0.1, "loss": 2.0}]
    assert "training loss" in render_charts(results, [])["training.svg"]["svg"]
    results["training"]["loss_history"] = []
    assert "training.svg" not in render_charts(results, [])


# ---------------------------------------------------------------------------------------------- files


def test_write_reports_and_load_run_round_trip(tmp_path):
    results, samples = make_results(), make_samples()
    results["tasks"]["sentiment"]["instruction"] = "Bestimme die Stimmung — ünïcode"
    paths = write_reports(tmp_path / "run", results, samples)
    assert set(paths) == {"results", "samples", "markdown", "html"}
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "charts",
        "report.html",
        "report.md",
        "results.json",
        "samples.jsonl",
    ]
    text = paths["results"].read_text(encoding="utf-8")
    assert "ünïcode" in text and text.startswith('{\n  "schema_version": 1')
    loaded, loaded_samples = load_run(tmp_path / "run")
    assert loaded == results
    assert loaded_samples == samples
    # re-rendering from disk gives the same report
    charts = render_charts(loaded, loaded_samples)
    markdown = render_markdown(loaded, loaded_samples, charts=charts)
    assert markdown == paths["markdown"].read_text(encoding="utf-8")
    assert sorted(p.name for p in (tmp_path / "run" / "charts").iterdir()) == sorted(charts)


def test_write_reports_overwrites_atomically(tmp_path):
    write_reports(tmp_path, make_results(), make_samples())
    results = make_results()
    results["tasks"]["sentiment"]["metrics"]["accuracy"]["after"] = 0.99
    write_reports(tmp_path, results, make_samples())
    assert (
        json.loads((tmp_path / "results.json").read_text())["tasks"]["sentiment"]["metrics"]["accuracy"][
            "after"
        ]
        == 0.99
    )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("breakage", ["no_tasks", "no_metrics"])
def test_failing_render_leaves_nothing(tmp_path, breakage):
    results = make_results()
    if breakage == "no_tasks":
        del results["tasks"]
    else:
        del results["tasks"]["sentiment"]["metrics"]
    run_dir = tmp_path / "run"
    with pytest.raises(HarnessError):
        write_reports(run_dir, results, make_samples())
    assert not run_dir.exists() or list(run_dir.iterdir()) == []
    # an existing directory with an older report is not touched either
    run_dir.mkdir(exist_ok=True)
    (run_dir / "keep.txt").write_text("x")
    with pytest.raises(HarnessError):
        write_reports(run_dir, results, make_samples())
    assert [p.name for p in run_dir.iterdir()] == ["keep.txt"]


def test_load_run_missing_dir_is_clear(tmp_path):
    with pytest.raises(HarnessError, match="results.json"):
        load_run(tmp_path)


# ---------------------------------------------------------------------------------------------- rich


def test_summary_table():
    from rich.console import Console

    console = Console(record=True, width=120, color_system=None)
    console.print(summary_table(make_results()))
    out = console.export_text()
    assert "accuracy" in out and "+0.4300" in out and "0.9300" in out
    assert "bleu" in out and "12.40" in out
    table = summary_table(make_results())
    assert [c.header for c in table.columns] == [
        "task",
        "metric",
        "before",
        "after",
        "delta [CI]",
        "p",
        "verdict",
    ]
    primary = [cell for cell in table.columns[1]._cells if cell.style == "bold"]
    assert [cell.plain for cell in primary] == ["accuracy", "bleu"]
    assert [cell.plain for cell in table.columns[6]._cells] == ["—", "", "—", ""]  # a run without verdicts


def test_summary_table_verdicts_fit_100_columns():
    from rich.console import Console

    results = make_results()
    results["tasks"]["summarization"] = {
        "primary_metric": "rougeL",
        "metrics": {
            name: {"higher_is_better": True, "scale": 1.0, "before": 0.21, "after": 0.2472, "delta": 0.0372}
            for name in ("rougeL", "rouge1", "rouge2", "rougeLsum")
        },
    }
    results = with_verdicts(results, {"sentiment": 0.00001, "translation": 0.004, "summarization": 0.06})
    table = summary_table(results)
    assert (
        table.title
        == "run 20261124-103000-ab12cd: 1 of 3 tasks improved, 1 regressed, 0 no change, 1 inconclusive"
    )
    assert [c.header for c in table.columns][4:] == ["delta [95% CI]", "p", "verdict"]
    verdicts = [cell for cell in table.columns[6]._cells if cell.plain]
    assert [cell.plain for cell in verdicts] == [
        "▲ improved",
        "▼ REGRESSED",
        "inconclusive\nleaning better",
    ]
    assert verdicts[1].style == "bold red reverse"
    console = Console(record=True, width=100, color_system=None)
    console.print(table)
    out = console.export_text()
    assert max(len(line) for line in out.splitlines()) <= 100
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") == 6}
    assert "+0.4300 [+0.0860, +0.7740]" in lines["accuracy"] and "<0.0001 *" in lines["accuracy"]
    assert "-2.30 [-4.14, -0.46]" in lines["bleu"] and "0.0080 *" in lines["bleu"]  # Holm: 2 × 0.004
    assert "+0.0372 [+0.0074, +0.0670]" in lines["rougeL"] and "0.0600 " in lines["rougeL"]
    assert lines["rouge1"].split("│")[4].strip() == "+0.0372"  # no CI recorded: the delta alone
    table = summary_table(make_results("eval"))
    assert [c.header for c in table.columns] == ["task", "metric", "score"]


def test_gates_render_with_failures_marked():
    results = with_verdicts(make_results(), {"sentiment": 0.001, "translation": 0.004})
    results["gates"] = [
        {
            "expression": "sentiment.accuracy>=0.8",
            "passed": True,
            "actual": 0.93,
            "detail": "0.93 passes >= 0.8",
        },
        {
            "expression": "no-regression",
            "passed": False,
            "actual": 1,
            "detail": "translation bleu <regressed>",
        },
    ]
    md = render_markdown(results, make_samples())
    summary = md.split("## Task", 1)[0]
    assert "**Gates: 1 of 2 gates passed.**" in summary
    assert "| PASS | sentiment.accuracy&gt;=0.8 | 0.9300 | 0.93 passes &gt;= 0.8 |" in summary
    assert "| **✖ FAIL** | no-regression | 1 | translation bleu &lt;regressed&gt; |" in summary
    page = render_html(results, make_samples())
    assert "<h3>Gates: 1 of 2 gates passed</h3>" in page and "<regressed>" not in page
    assert '<td class="regressed">✖ FAIL</td>' in page
    assert "Gates" not in render_markdown(make_results(), make_samples())


def test_harness_report_renders_a_run_again_from_its_files(tmp_path, capsys):
    from harness.cli import main

    results, samples = make_results(), make_samples()
    paths = write_reports(tmp_path / "reports" / "run-1", results, samples)
    expected = {key: paths[key].read_text(encoding="utf-8") for key in ("markdown", "html")}
    for key in expected:
        paths[key].write_text("stale", encoding="utf-8")
    assert main(["report", "run-1", "--output-dir", str(tmp_path / "reports")]) == 0
    assert {key: paths[key].read_text(encoding="utf-8") for key in expected} == expected
    assert "report.html" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "nowhere")]) == 2  # not a run folder: one line, exit 2


def test_reports_say_how_training_ended_and_show_warnings_escaped():
    results, samples = make_results(), make_samples()
    results["training"].update(stop_reason="stopped early at step 40 of 90", kept="kept the step-30 one")
    results["warnings"] = ["task 'tiny' has only 6 dev examples <b>"]
    markdown = render_markdown(results, samples)
    assert "Training: stopped early at step 40 of 90; kept the step-30 one." in markdown
    assert "- ⚠ task 'tiny' has only 6 dev examples &lt;b&gt;" in markdown
    page = render_html(results, samples)
    assert "stopped early at step 40 of 90" in page
    assert "6 dev examples &lt;b&gt;" in page and "<b>" not in page.split("6 dev examples")[1][:10]


def test_reports_show_the_train_test_overlap_of_each_task():
    results = make_results()
    task = next(iter(results["tasks"]))
    results["tasks"][task]["overlap"] = {
        "exact": 2, "near": 1, "n_test": 8, "ngram": 8, "threshold": 0.5, "examples": ["<b>x-1</b>", "x-2"],
    }  # fmt: skip
    line = "2 of 8 test inputs in train, 1 near-duplicate (8-gram overlap"
    markdown = render_markdown(results, make_samples())
    assert "train/test overlap" in markdown and line in markdown
    page = render_html(results, make_samples())
    assert line in page and "&lt;b&gt;x-1&lt;/b&gt;" in page and "<b>x-1</b>" not in page


def old_results() -> dict:
    """results.json as written before the four outcomes: "no significant change", no MDE keys in
    the verdicts, no no_change/inconclusive counts, gates without "inconclusive"."""
    results = make_results()
    for task in results["tasks"].values():
        entry = task["metrics"][task["primary_metric"]]
        entry.update(delta_ci=[entry["delta"] - 1, entry["delta"] + 1], p_value=0.3)
        task["verdict"] = {
            "metric": task["primary_metric"], "outcome": "no significant change", "leaning": "up",
            "before": entry["before"], "after": entry["after"], "delta": entry["delta"],
            "delta_ci": entry["delta_ci"], "p_value": 0.3, "p_adjusted": 0.6, "significant": False,
            "large_enough": True, "reason": "p = 0.6 ≥ 0.05 after Holm over 2 tasks",
        }  # fmt: skip
    results["decision"] = {
        "alpha": 0.05, "min_effect": 0.01, "correction": "holm", "improved": 0, "regressed": 0,
        "unchanged": 2, "summary": "0 of 2 tasks improved, 0 regressed, 2 no significant change",
    }  # fmt: skip
    results["gates"] = [
        {"expression": "no-regression", "passed": True, "actual": 0, "detail": "...", "source": "--gate"}
    ]
    results["statistics"] = {"confidence": 0.95, "alpha": 0.05}
    return results


def test_a_run_saved_before_the_four_outcomes_still_renders_and_decides_again():
    from rich.console import Console

    from harness.decisions.gates import exit_code

    results = old_results()
    md = render_markdown(results, make_samples())
    assert "**Overall: 0 of 2 tasks improved, 0 regressed, 2 no significant change.**" in md
    assert "| sentiment | no significant change, leaning better | accuracy |" in md
    assert "otherwise no significant change." in md and "Test set:" not in md
    html = render_html(results, make_samples())
    assert "no significant change" in html
    console = Console(record=True, width=100, color_system=None)
    console.print(summary_table(results))
    assert "no significant change" in console.export_text()
    assert json_summary(results, {}, 0)["tasks"]["sentiment"]["mde"] is None
    assert exit_code(results["gates"]) == 0
    # decided again (rescore, compare): the four outcomes, the MDE from the saved interval
    verdicts, decision = decide(results["tasks"], alpha=0.05, min_effect=0.01, correction="holm")
    assert [v["outcome"] for v in verdicts.values()] == ["inconclusive", "inconclusive"]
    assert verdicts["sentiment"]["n"] == results["tasks"]["sentiment"]["n_test"]
    assert verdicts["sentiment"]["mde"] > 0 and verdicts["sentiment"]["n_needed"] > 0
    assert decision["summary"] == "0 of 2 tasks improved, 0 regressed, 0 no change, 2 inconclusive"
