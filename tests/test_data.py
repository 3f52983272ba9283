"""Loading task data: JSONL/CSV/TSV, field and label mapping, the real data sets, and errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from harness import plugins
from harness.errors import DataError, HarnessError
from harness.tasks import DataSource, Example, Task
from harness.tasks.data import load_examples, with_data_overrides

LABELS = ("Positive", "Negative")


def make_task(name: str = "demo", choices: tuple[str, ...] = (), **kwargs) -> Task:
    return Task(
        name=name,
        instruction="Default instruction.",
        test=DataSource("unused.jsonl"),
        metrics=("accuracy",),
        choices=choices,
        **kwargs,
    )


def load(path: Path, task: Task | None = None, split: str = "test", **source) -> list[Example]:
    return load_examples(DataSource(path, **source), task or make_task(), split)


@pytest.fixture(scope="module")
def builtin_tasks():
    return {name: entry.item for name, entry in plugins.tasks(plugins.make_plugin_manager()).items()}


# --- formats and mappings ------------------------------------------------------------------------


def test_jsonl_with_defaults(tmp_path, write_jsonl):
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"instruction": "Say it.", "input": "a", "output": "A"},
            {"input": "b", "output": "B", "id": "custom-id"},
        ],
    )
    first, second = load(path)
    assert first == Example(id="demo-test-1", instruction="Say it.", input="a", output="A", references=("A",))
    assert second.instruction == "Default instruction."  # the task's instruction fills in
    assert second.id == "custom-id"
    assert second.references == ("B",)


def test_blank_lines_are_skipped_and_ids_use_line_numbers(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"input": "a", "output": "A"}\n\n   \n{"input": "b", "output": "B"}\n', encoding="utf-8")
    assert [e.id for e in load(path)] == ["demo-test-1", "demo-test-4"]


def test_ids_are_stable_across_loads_and_include_split(tmp_path, write_jsonl):
    path = write_jsonl(tmp_path / "d.jsonl", [{"input": str(i), "output": "x"} for i in range(5)])
    ids = [e.id for e in load(path)]
    assert ids == [e.id for e in load(path)]
    assert len(set(ids)) == 5
    assert [e.id for e in load(path, split="train")] == [i.replace("-test-", "-train-") for i in ids]


def test_field_mapping_and_label_mapping_jsonl(tmp_path, write_jsonl):
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"text": "great phone", "label": 1},
            {"text": "awful phone", "label": 0},
        ],
    )
    examples = load(
        path,
        make_task(choices=LABELS),
        fields={"input": "text", "output": "label"},
        labels={"1": "Positive", "0": "Negative"},
    )
    assert [(e.input, e.output) for e in examples] == [
        ("great phone", "Positive"),
        ("awful phone", "Negative"),
    ]
    assert examples[0].references == ("Positive",)


def test_references_field(tmp_path, write_jsonl):
    path = write_jsonl(tmp_path / "d.jsonl", [{"input": "a", "output": "x", "refs": ["x", "y"]}])
    (example,) = load(path, fields={"references": "refs"})
    assert example.references == ("x", "y")
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"input": "a", "output": "x", "refs": "x"}])
    with pytest.raises(DataError, match=r"bad\.jsonl:1: field 'refs': expected a non-empty list of strings"):
        load(bad, fields={"references": "refs"})


def test_a_references_column_is_read_by_its_name(tmp_path, write_jsonl):
    """A row's ``references`` list counts without a ``fields`` mapping (scitldr's test rows carry
    every TLDR there); rows without it, or with null, fall back to the output alone."""
    rows = [
        {"input": "a", "output": "x", "references": ["x", "y", "z"]},
        {"input": "b", "output": "w"},
        {"input": "c", "output": "v", "references": None},
    ]
    first, second, third = load(write_jsonl(tmp_path / "d.jsonl", rows))
    assert (first.references, second.references, third.references) == (("x", "y", "z"), ("w",), ("v",))
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"input": "a", "output": "x", "references": []}])
    with pytest.raises(DataError, match=r"bad\.jsonl:1: field 'references': expected a non-empty list"):
        load(bad)


def test_numbers_become_text(tmp_path, write_jsonl):
    path = write_jsonl(tmp_path / "d.jsonl", [{"input": 12, "output": 3.5}])
    (example,) = load(path)
    assert (example.input, example.output) == ("12", "3.5")


def test_csv_with_header_and_mapping(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('sentence,sentiment\n"Good, very good",pos\nBad,neg\n', encoding="utf-8")
    examples = load(
        path,
        make_task(choices=LABELS),
        fields={"input": "sentence", "output": "sentiment"},
        labels={"pos": "Positive", "neg": "Negative"},
    )
    assert [(e.input, e.output) for e in examples] == [("Good, very good", "Positive"), ("Bad", "Negative")]
    assert [e.id for e in examples] == ["demo-test-2", "demo-test-3"]  # header is line 1


def test_tsv_headerless_with_columns(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text('" I love it.\t1\nNot "great" at all.\t0\nfine\t1\n', encoding="utf-8")
    examples = load(
        path,
        make_task(choices=LABELS),
        columns=("input", "output"),
        labels={"0": "Negative", "1": "Positive"},
    )
    # quotes are text in TSV: nothing is swallowed or unquoted
    assert [(e.input, e.output) for e in examples] == [
        ('" I love it.', "Positive"),
        ('Not "great" at all.', "Negative"),
        ("fine", "Positive"),
    ]
    assert [e.id for e in examples] == ["demo-test-1", "demo-test-2", "demo-test-3"]


def test_limit_keeps_first_examples(tmp_path, write_jsonl):
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [{"input": str(i), "output": "x"} for i in range(10)] + [{"input": "", "output": "x"}],
    )  # a bad row past the limit is never read
    examples = load(path, limit=3)
    assert [e.input for e in examples] == ["0", "1", "2"]


# --- the real data sets ----------------------------------------------------------------------------


def test_uci_test_split_through_builtin_sentiment_task(shared_data, builtin_tasks):
    path = shared_data / "sentiment_uci_labelled_sentences" / "test.jsonl"
    task = with_data_overrides(
        builtin_tasks["sentiment"],
        {"test": {"path": str(path), "labels": {"positive": "Positive", "negative": "Negative"}}},
    )
    assert task.test.path == path and task.test.labels == {"positive": "Positive", "negative": "Negative"}
    examples = load_examples(task.test, task, "test")
    assert len(examples) == 600
    assert Counter(e.output for e in examples) == {"Positive": 300, "Negative": 300}
    assert all(e.references == (e.output,) for e in examples)
    assert examples[0].input == "My drink was never empty and he made some really great menu suggestions."
    assert (
        examples[0].instruction == "Determine if the following sentence has a positive or negative sentiment."
    )
    assert len({e.id for e in examples}) == 600


def test_uci_test_split_without_label_mapping_is_rejected(shared_data, builtin_tasks):
    path = shared_data / "sentiment_uci_labelled_sentences" / "test.jsonl"
    task = with_data_overrides(builtin_tasks["sentiment"], {"test": str(path)})
    with pytest.raises(DataError) as info:
        load_examples(task.test, task, "test")
    message = str(info.value)
    assert f"{path}:1: field 'output'" in message
    assert "'positive' is not one of the task's choices" in message and "add a label mapping" in message


@pytest.mark.parametrize("name", ["amazon_cells", "imdb", "yelp"])
def test_uci_original_headerless_tsv(shared_data, builtin_tasks, name):
    path = shared_data / "sentiment_uci_labelled_sentences" / "original" / f"{name}_labelled.txt"
    first = path.read_text(encoding="utf-8").splitlines()[0]
    text, label = first.rsplit("\t", 1)  # the format: text TAB label
    assert label in ("0", "1")
    task = with_data_overrides(
        builtin_tasks["sentiment"],
        {
            "test": {
                "path": str(path),
                "columns": ["input", "output"],
                "labels": {"0": "Negative", "1": "Positive"},
            }
        },
    )
    examples = load_examples(task.test, task, "test")
    assert len(examples) == 1000
    assert Counter(e.output for e in examples) == {"Positive": 500, "Negative": 500}
    assert examples[0].input == text
    assert examples[0].output == ("Positive" if label == "1" else "Negative")


def test_imdb_lines_starting_with_a_quote_are_kept(shared_data, builtin_tasks):
    path = shared_data / "sentiment_uci_labelled_sentences" / "original" / "imdb_labelled.txt"
    task = with_data_overrides(
        builtin_tasks["sentiment"],
        {
            "test": {
                "path": str(path),
                "columns": ["input", "output"],
                "labels": {"0": "Negative", "1": "Positive"},
            }
        },
    )
    by_id = {e.id: e for e in load_examples(task.test, task, "test")}
    assert by_id["sentiment-test-20"].input.startswith('" The structure of this film')
    assert by_id["sentiment-test-20"].output == "Positive"


def test_translation_and_summarization_files_load(shared_data, builtin_tasks):
    for task_name, folder, count in (
        ("translation", "translation_en_fr_tatoeba", 1000),
        ("summarization", "summarization_scitldr", 300),
    ):
        path = shared_data / folder / "test.jsonl"
        task = with_data_overrides(builtin_tasks[task_name], {"test": str(path)})
        examples = load_examples(task.test, task, "test")
        assert len(examples) == count
        assert all(e.input.strip() and e.output.strip() for e in examples)
        assert all(e.references == (e.output,) for e in examples)
    assert examples[0].instruction == "Summarize the following text in one sentence."


# --- data overrides --------------------------------------------------------------------------------


def test_with_data_overrides_variants(tmp_path):
    task = make_task(train=DataSource("train.jsonl"))
    assert with_data_overrides(task, {}) is task
    changed = with_data_overrides(
        task, {"train": "~/x.jsonl", "test": {"path": "t.csv", "limit": 5, "fields": {"input": "text"}}}
    )
    assert changed.train.path == Path("~/x.jsonl").expanduser()
    assert changed.test.path == Path("t.csv") and changed.test.limit == 5
    assert dict(changed.test.fields) == {"input": "text"}
    assert task.test.path == Path("unused.jsonl")  # the original is untouched
    assert with_data_overrides(task, {"dev": "x.jsonl"}).dev.path == Path("x.jsonl")  # a task's own dev split
    with pytest.raises(HarnessError, match=r"unknown split 'valid' in \[data.demo\]; use train, test or dev"):
        with_data_overrides(task, {"valid": "x.jsonl"})
    with pytest.raises(HarnessError, match=r"data\.demo\.test needs a path"):
        with_data_overrides(task, {"test": {"fields": {}}})
    with pytest.raises(HarnessError, match="unknown key 'label'"):
        with_data_overrides(task, {"test": {"path": "x.jsonl", "label": {}}})


# --- errors: each names the file, the line and the field -------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.jsonl"
    with pytest.raises(DataError) as info:
        load(path, split="train")
    assert str(info.value) == f"{path}: train data file not found (task 'demo')"


def test_malformed_json_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(
        '{"input": "a", "output": "A"}\n{"input": "b", "output": "B"}\n{"input": "c", "output": \n',
        encoding="utf-8",
    )
    with pytest.raises(DataError) as info:
        load(path)
    assert str(info.value).startswith(f"{path}:3: malformed JSON")
    assert info.value.line == 3 and info.value.path == str(path)


def test_json_line_that_is_not_an_object(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"input": "a", "output": "A"}\n["b", "B"]\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"d\.jsonl:2: expected a JSON object, got list"):
        load(path)


def test_missing_field(tmp_path, write_jsonl):
    path = write_jsonl(tmp_path / "d.jsonl", [{"input": "a", "output": "A"}, {"input": "b"}])
    with pytest.raises(DataError) as info:
        load(path)
    assert str(info.value) == f"{path}:2: field 'output': missing"


def test_missing_mapped_field_names_the_column(tmp_path, write_jsonl):
    path = write_jsonl(tmp_path / "d.jsonl", [{"input": "a", "output": "A"}])
    with pytest.raises(DataError) as info:
        load(path, fields={"input": "text"})
    assert str(info.value) == f"{path}:1: field 'text': missing"


def test_null_field_is_missing(tmp_path, write_jsonl):
    path = write_jsonl(tmp_path / "d.jsonl", [{"input": None, "output": "A"}])
    with pytest.raises(DataError, match=r":1: field 'input': missing"):
        load(path)


@pytest.mark.parametrize("field", ["input", "output"])
def test_empty_field(tmp_path, write_jsonl, field):
    row = {"input": "a", "output": "A", field: "   "}
    path = write_jsonl(tmp_path / "d.jsonl", [{"input": "x", "output": "X"}, row])
    with pytest.raises(DataError) as info:
        load(path)
    assert str(info.value) == f"{path}:2: field {field!r}: is empty"


@pytest.mark.parametrize("value, kind", [(["a"], "list"), ({"a": 1}, "dict"), (True, "bool")])
def test_wrong_type(tmp_path, write_jsonl, value, kind):
    path = write_jsonl(tmp_path / "d.jsonl", [{"input": value, "output": "A"}])
    with pytest.raises(DataError) as info:
        load(path)
    assert str(info.value) == f"{path}:1: field 'input': expected text, got {kind}"


def test_label_not_in_mapping(tmp_path, write_jsonl):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "label": 1}, {"text": "b", "label": 2}])
    with pytest.raises(DataError) as info:
        load(
            path,
            make_task(choices=LABELS),
            fields={"input": "text", "output": "label"},
            labels={"0": "Negative", "1": "Positive"},
        )
    assert str(info.value) == f"{path}:2: field 'label': value '2' is not in the label mapping ['0', '1']"


def test_label_mapping_to_a_value_outside_choices(tmp_path, write_jsonl):
    path = write_jsonl(tmp_path / "d.jsonl", [{"input": "a", "output": "1"}])
    with pytest.raises(DataError, match=r":1: field 'output': 'Positiv' is not one of the task's choices"):
        load(path, make_task(choices=LABELS), labels={"1": "Positiv"})


def test_output_not_among_choices(tmp_path, write_jsonl):
    path = write_jsonl(
        tmp_path / "d.jsonl", [{"input": "a", "output": "Positive"}, {"input": "b", "output": "neutral"}]
    )
    with pytest.raises(DataError) as info:
        load(path, make_task(choices=LABELS))
    assert str(info.value) == (
        f"{path}:2: field 'output': 'neutral' is not one of the task's choices "
        "['Positive', 'Negative']; add a label mapping"
    )


@pytest.mark.parametrize(
    "content, suffix", [("", ".jsonl"), ("\n\n", ".jsonl"), ("input,output\n", ".csv"), ("", ".csv")]
)
def test_empty_dataset(tmp_path, content, suffix):
    path = tmp_path / f"empty{suffix}"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as info:
        load(path)
    assert str(info.value) == f"{path}: test dataset is empty (task 'demo')"


def test_unsupported_extension(tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(DataError) as info:
        load(path)
    assert (
        str(info.value) == f"{path}: unsupported file type '.xlsx'; use .jsonl, .json, .csv, .tsv or .parquet"
    )


def test_unknown_canonical_field_in_mapping(tmp_path, write_jsonl):
    path = write_jsonl(tmp_path / "d.jsonl", [{"input": "a", "output": "A"}])
    with pytest.raises(DataError, match="field mapping names unknown field 'target'"):
        load(path, fields={"target": "output"})


def test_csv_row_with_wrong_column_count(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("input,output\na,A\nb,B,extra\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load(path)
    assert str(info.value) == f"{path}:3: expected 2 columns ['input', 'output'], found 3"


def test_tsv_row_with_wrong_column_count(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("a\t1\nno label here\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"d\.tsv:2: expected 2 columns"):
        load(path, columns=("input", "output"))


def test_csv_line_numbers_count_physical_lines(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('input,output\n"multi\nline",A\n"x",\n', encoding="utf-8")
    with pytest.raises(DataError) as info:
        load(path)
    assert str(info.value) == f"{path}:4: field 'output': is empty"


def test_error_past_limit_is_not_reported_but_within_is(tmp_path, write_jsonl):
    path = write_jsonl(tmp_path / "d.jsonl", [{"input": "a", "output": "A"}, {"input": "b"}])
    assert len(load(path, limit=1)) == 1
    with pytest.raises(DataError, match=r":2: field 'output': missing"):
        load(path, limit=2)
