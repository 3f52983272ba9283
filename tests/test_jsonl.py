"""JSON Lines round-trip any Unicode text: a record ends at "\\n" only, never at U+0085, U+2028 or
the other characters str.splitlines() breaks on (the UCI sentiment test split holds U+0085)."""

from __future__ import annotations

import json

import pytest

from harness import jsonl
from harness.cli import main
from harness.errors import DataError
from harness.reports.store import SAMPLES_FILE, load_run

# every character str.splitlines() treats as a line boundary, inside a string value
BREAKERS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def test_every_line_breaking_character_round_trips(tmp_path):
    rows = [{"text": f"a{char}b", "n": i} for i, char in enumerate(BREAKERS)]
    path = tmp_path / "rows.jsonl"
    path.write_text(jsonl.dump_all(rows), encoding="utf-8")
    assert [row for _, row in jsonl.read_jsonl(path)] == rows
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) == len(rows)  # escaped: safe for readers that split the other way
    assert "\\u2028" in text and "\\u0085" in text


def test_raw_line_separators_written_by_other_tools_are_read(tmp_path):
    rows = [{"input": "The script is\x85was there a script?"}, {"input": "x\u2028y"}]
    path = tmp_path / "raw.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert [(line, row) for line, row in jsonl.read_jsonl(path)] == [(1, rows[0]), (2, rows[1])]


def test_errors_name_the_file_line_and_column(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{"a": \n')
    ends_early = r"bad\.jsonl:3: malformed JSON: .*\(column 7\) \(the line ends early\)"
    with pytest.raises(DataError, match=ends_early):
        list(jsonl.read_jsonl(path))
    path.write_bytes(b'{"a": "\xff"}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:1: not UTF-8 text \(byte 0xff at column 8\)"):
        list(jsonl.read_jsonl(path))
    path.write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl:1: expected a JSON object, got list"):
        list(jsonl.read_jsonl(path))


def test_a_run_on_the_uci_test_split_reads_back(shared_data, tiny_model_dir, tmp_path):
    """The real file: line 497 holds U+0085. The saved samples read back whole, and ``harness
    report`` renders the run again from them."""
    source = shared_data / "sentiment_uci_labelled_sentences" / "test.jsonl"
    line_497 = json.loads(source.read_text(encoding="utf-8").split("\n")[496])["input"]
    assert "\x85" in line_497
    args = ["eval", "--model", str(tiny_model_dir), "--tasks", "sentiment", "--output-dir", str(tmp_path)]
    labels = '{ positive = "Positive", negative = "Negative" }'
    sets = [f"data.sentiment.test.path={json.dumps(str(source))}", f"data.sentiment.test.labels={labels}"]
    sets += ["device=cpu", "threads=1", "cache=false"]
    assert main(args + [item for s in sets for item in ("--set", s)]) == 0
    (run_dir,) = [p.parent for p in tmp_path.glob(f"*/{SAMPLES_FILE}")]
    results, samples = load_run(run_dir)
    assert len(samples) == 600 == results["tasks"]["sentiment"]["n_test"]
    assert samples[496]["input"] == line_497
    assert main(["report", str(run_dir)]) == 0
