"""Data formats beyond JSONL/CSV/TSV: a JSON array (Alpaca), Parquet, Hugging Face datasets and chat
``messages`` rows; each read into the same examples, errors naming file:line."""

from __future__ import annotations

import json
import sys

import pytest

from harness import DataSource, Task
from harness.errors import DataError, HarnessError
from harness.tasks.data import load_examples

ROWS = [
    {"instruction": "Reverse the word.", "input": "abc", "output": "cba"},
    {"instruction": "", "input": "hello", "output": "olleh"},
    {"input": "xy", "output": "yx"},
]
TASK = Task(name="rev", instruction="Reverse.", test=DataSource("unused"), metrics=("exact_match",))


def load(source: DataSource):
    return load_examples(source, TASK, "test")


def as_tuples(examples):
    return [(e.instruction, e.input, e.output) for e in examples]


EXPECTED = [("Reverse the word.", "abc", "cba"), ("Reverse.", "hello", "olleh"), ("Reverse.", "xy", "yx")]


def test_json_array_alpaca_file(tmp_path):
    path = tmp_path / "alpaca_data.json"
    path.write_text(json.dumps(ROWS, indent=4), encoding="utf-8")
    examples = load(DataSource(path))
    # a row's own instruction wins; an empty or missing one falls back to the task's
    assert as_tuples(examples) == EXPECTED
    assert examples[2].id == "rev-test-12"  # ids from the line each element starts on


def test_json_file_with_json_lines_still_works(tmp_path):
    path = tmp_path / "data.json"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n", encoding="utf-8")
    assert as_tuples(load(DataSource(path))) == EXPECTED


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[\n  {"input": "a", "output": "b"},\n  {"input": "a" "output": "b"}\n]', ":3: malformed JSON"),
        ('[\n  {"input": "a", "output": "b"},\n  3\n]', ":3: element 2 of the array is int, not an object"),
        ('[\n  {"input": "a", "output": "b"},\n', "no closing ']' (is the file cut short?)"),
        (
            '[\n  {"input": "a", "output": "b"}\n  {"input": "c", "output": "d"}\n]',
            ":3: malformed JSON array",
        ),
        ('[\n  {"input": "a", "output": ""}\n]', ":2: field 'output': is empty"),
    ],
)
def test_json_array_errors_name_the_line(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as info:
        load(DataSource(path))
    assert str(info.value).startswith(str(path)) and message in str(info.value)


def test_parquet_file(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "data.parquet"
    table = pa.table({"question": [r["input"] for r in ROWS], "answer": [r["output"] for r in ROWS]})
    pq.write_table(table, path)
    examples = load(DataSource(path, fields={"input": "question", "output": "answer"}))
    assert [(e.input, e.output, e.id) for e in examples] == [
        ("abc", "cba", "rev-test-1"),
        ("hello", "olleh", "rev-test-2"),
        ("xy", "yx", "rev-test-3"),
    ]


def test_bad_parquet_file(tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "data.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(DataError, match=r"data.parquet: not a readable Parquet file"):
        load(DataSource(path))


def test_hf_datasets_local_folder_by_split(tmp_path, write_jsonl, monkeypatch):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "mydata"
    write_jsonl(folder / "train.jsonl", [{"instruction": "", "input": "q", "output": "a"}] * 3)
    write_jsonl(folder / "test.jsonl", [{"instruction": "", **row} for row in ROWS[1:]] + [ROWS[0]])
    source = DataSource(dataset=str(folder), split="test")
    assert str(source.path) == f"hf:{folder}[test]"
    assert as_tuples(load(source)) == EXPECTED[1:] + EXPECTED[:1]


def test_hf_datasets_unreachable_is_one_line(tmp_path, monkeypatch):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    with pytest.raises(HarnessError) as info:
        load(DataSource(dataset="no-such-user/no-such-dataset", split="test"))
    text = str(info.value)
    assert text.startswith(
        "hf:no-such-user/no-such-dataset[test]: cannot load dataset 'no-such-user/no-such-dataset'"
    )
    assert "offline, or the Hub unreachable?" in text and "\n" not in text


def test_hf_datasets_extra_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    with pytest.raises(HarnessError, match=r"need the datasets extra: pip install 'harness\[datasets\]'"):
        load(DataSource(dataset="ag_news", split="test"))


def test_chat_messages_rows(tmp_path, write_jsonl):
    rows = [
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]},
        {
            "messages": [
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": "2+2?"},
                {"role": "assistant", "content": "4"},
                {"role": "user", "content": "and 3+3?"},
                {"role": "assistant", "content": "6"},
            ]
        },
    ]
    examples = load(DataSource(write_jsonl(tmp_path / "chat.jsonl", rows)))
    assert as_tuples(examples) == [
        ("Reverse.", "Hi", "Hello!"),
        ("Answer briefly.", "user: 2+2?\nassistant: 4\nuser: and 3+3?", "6"),
    ]


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ([], "expected a non-empty list"),
        ([{"role": "user", "content": "Hi"}], "the last turn must be the assistant's"),
        ([{"role": "user"}, {"role": "assistant", "content": "x"}], "turn 1 is not an object"),
        ([{"role": "system", "content": "s"}, {"role": "assistant", "content": "x"}], "no user turn"),
    ],
)
def test_bad_chat_rows(tmp_path, write_jsonl, messages, message):
    path = write_jsonl(tmp_path / "chat.jsonl", [{"messages": messages}])
    with pytest.raises(DataError) as info:
        load(DataSource(path))
    assert str(info.value).startswith(f"{path}:1: field 'messages': ") and message in str(info.value)
