"""What the reports contain, beyond the tables test_reports.py pins: every example in the
browser's data, hostile data neutralised in Markdown (checked with a Markdown renderer) and
inert in HTML, the charts (deterministic, marked, counted right), cost and provenance, and the
model card's metadata."""

from __future__ import annotations

import html
import json
import re

from markdown_render import render_gfm
from test_reports import make_results, make_samples, with_verdicts

from harness.reports import render_html, render_markdown
from harness.reports.browser import browser_data
from harness.reports.charts import render_charts
from harness.reports.modelcard import model_card

HOSTILE = [
    "![x](https://evil.example/x.png)",
    "[click](javascript:alert(1))",
    "<img src=x onerror=alert(1)>",
    "<!-- hidden --> **bold** _em_ `code` ~~gone~~",
    "https://evil.example/auto www.evil.example",
    "<https://evil.example/angle>",
    "a | b\n| c | d |",
    "[ref]: https://evil.example",
    "</script><script>alert(2)</script>",
]


def _hostile_run() -> tuple[dict, list[dict]]:
    results, samples = make_results(), make_samples()
    results["model"]["name"] = HOSTILE[0]
    results["tasks"]["sentiment"]["instruction"] = HOSTILE[1]
    for sample, text in zip(samples, HOSTILE, strict=False):
        sample.update(input=text, prediction_before=text, reference=text)
    results["warnings"] = HOSTILE[3:5]
    return results, samples


def test_markdown_from_data_never_renders_links_images_or_html():
    results, samples = _hostile_run()
    rendered = render_gfm(render_markdown(results, samples, charts=render_charts(results, samples)))
    assert "<img" not in rendered.replace('<img src="charts/', "")  # only harness's own charts
    assert not re.search(r"<a |<script|<!--|<strong>bold|<em>em|<code>code|<del>", rendered)
    text = re.sub(r"<[^>]+>", "", rendered)
    for hostile in ("![x](https://evil.example/x.png)", "[click](javascript:alert(1))", "**bold** _em_"):
        assert hostile in text.replace("&amp;", "&")  # shown as it was, as text


def test_html_keeps_data_inert_and_forbids_every_request():
    results, samples = _hostile_run()
    page = render_html(results, samples)
    csp = html.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1))
    assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert page.count("<script") == 2  # the browser's data (JSON) and its script
    assert "</script><script>alert(2)" not in page and "<img src=x" not in page
    data = json.loads(re.search(r'id="sample-data">(.*?)</script>', page, flags=re.S).group(1))
    assert [row[1] for row in data["rows"]] == [s["id"] for s in samples]  # every example
    assert data["rows"][8][2] == HOSTILE[8]  # the data is intact; the page shows it as text


def test_browser_data_scores_deltas_and_chrf_fallback():
    results, samples = make_results(), make_samples()
    data = browser_data(results, samples)
    tasks = {t["name"]: t for t in data["tasks"]}
    assert tasks["sentiment"]["binary"] and tasks["sentiment"]["by"] == "accuracy"
    assert tasks["translation"]["by"] == "sentence chrF"  # BLEU has no per-example score
    sentiment = [r for r in data["rows"] if r[0] == 0]
    assert [(r[6], r[7]) for r in sentiment] == [(0.0, 1.0), (0.0, 1.0), (0.0, 0.0)]
    translation = [r for r in data["rows"] if r[0] == 1]
    assert all(r[7] == 100.0 and r[6] < r[7] for r in translation)  # "Hallo i" is the reference
    assert browser_data(make_results("eval"), make_samples("eval"))["rows"][0][5] is None


def test_charts_are_deterministic_and_mark_what_matters():
    results = with_verdicts(make_results(), {"sentiment": 0.001, "translation": 0.004})
    results["tasks"]["sentiment"]["choices"] = ["Positive", "Negative"]
    training = results["training"]
    training.update(best_step=200, last_step=300, stopped_early=True, dev_metrics={"sentiment": "accuracy"})
    training["dev_history"] = [{"step": s, "sentiment": v} for s, v in ((100, 0.5), (200, 0.8), (300, 0.7))]
    charts = render_charts(results, make_samples())
    assert list(charts) == ["deltas.svg", "training.svg", "confusion-1-sentiment.svg"]
    assert charts == render_charts(results, make_samples())  # byte for byte
    assert all("<dc:date>" not in c["svg"] for c in charts.values())
    assert "kept: step 200" in charts["training.svg"]["svg"]
    assert "stopped early: step 300" in charts["training.svg"]["svg"]
    assert "sentiment (accuracy)" in charts["training.svg"]["svg"]
    # references Positive, Negative, Negative; before: Negative, "Neg\native" (a third label),
    # Positive; after: Positive, Negative, Positive. Rows: references; columns: predictions
    confusion = charts["confusion-1-sentiment.svg"]["svg"]
    cells = [int(n) for n in re.findall(r">(\d+)</text>", confusion)]
    assert cells == [0, 1, 0, 1, 0, 1, 0, 0, 0] + [1, 0, 0, 1, 1, 0, 0, 0, 0]
    assert "regressed" in charts["deltas.svg"]["svg"] and "improved" in charts["deltas.svg"]["svg"]


def test_cost_and_provenance_shown():
    results = make_results()
    results["cost"] = {
        "train_tokens_per_second": 1710.4,
        "train_real_tokens": 52818,
        "eval_examples_per_second": {"before": 5.7},
        "eval_examples_predicted": {"before": 120},
        "peak_memory": {"process_rss_bytes": 812 * 1024**2},
    }
    results["provenance"] = {
        "command": "harness run --set 'train.max_steps=60'",
        "model_fingerprint": "sha256:abc",
        "data_sha256": {"sentiment": {"test": "d" * 64}},
    }
    md = render_markdown(results, make_samples())
    assert "| training throughput | 1,710 real tokens/s (52,818 tokens) |" in md
    assert "| evaluation throughput: before | 5.7 examples/s (120 examples) |" in md
    assert "| peak memory (process RSS) | 812.0 MiB |" in md
    assert "| command | harness run --set 'train.max\\_steps=60' |" not in md  # intraword _ kept
    assert "| command | harness run --set 'train.max_steps=60' |" in md
    assert f"| data: sentiment test | sha256:{'d' * 64} |" in md
    assert "harness run --set &#39;train.max_steps=60&#39;" in render_html(results, make_samples())


def test_model_card_metadata_and_table():
    from huggingface_hub import ModelCard

    results = with_verdicts(make_results(), {"sentiment": 0.001, "translation": 0.004})
    results["model"].update(name="org/base-model", source="hub")
    results["training"]["method"] = "lora"
    card = ModelCard(model_card(results))
    assert card.data.base_model == "org/base-model" and card.data.library_name == "peft"
    assert {(e.dataset_name, e.metric_type, e.metric_value) for e in card.data.eval_results} == {
        ("sentiment", "accuracy", 0.93),
        ("translation", "bleu", 10.1),
    }
    assert "| translation | ▼ REGRESSED | bleu |" in card.text
    assert "| sentiment | ▲ improved | accuracy | 0.5000 | 0.9300 | +0.4300 [+0.0860, +0.7740] |" in card.text
