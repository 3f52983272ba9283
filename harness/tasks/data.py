"""Loading and validating task data from local JSONL, CSV and TSV files; other formats (JSON
array, Parquet, Hugging Face ``datasets``, chat ``messages``) are read by
:mod:`harness.tasks.formats` and dispatched from :func:`_rows`.

Every error names the file, the line and the field at fault (:class:`DataError`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from harness.errors import DataError, HarnessError
from harness.jsonl import decode_line, read_jsonl
from harness.tasks.task import DataSource, Example, Task

REQUIRED_FIELDS = ("input", "output")
KNOWN_FIELDS = ("instruction", "input", "output", "id", "references")
FORMATS = {
    ".jsonl": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "tsv",
    ".parquet": "parquet",
}


def load_examples(source: DataSource, task: Task, split: str) -> list[Example]:
    """Read, map and validate every example of one split of ``task``.

    Raises :class:`DataError` for a missing file, a malformed line, a missing or empty
    field, an output outside the label mapping, or an empty dataset.
    """
    path = source.path
    if not source.dataset and path.is_dir():
        raise DataError(path, f"{split} data file is a folder, not a file (task {task.name!r})")
    if not source.dataset and not path.is_file():
        raise DataError(path, f"{split} data file not found (task {task.name!r})")
    if not source.dataset and FORMATS.get(path.suffix.lower()) is None:
        raise DataError(
            path, f"unsupported file type {path.suffix!r}; use .jsonl, .json, .csv, .tsv or .parquet"
        )
    for canonical in source.fields:
        if canonical not in KNOWN_FIELDS:
            raise DataError(
                path, f"field mapping names unknown field {canonical!r}; known: {', '.join(KNOWN_FIELDS)}"
            )
    rows = _rows(source)
    examples = []
    for line, row in rows:
        examples.append(_to_example(row, line, source, task, split))
        if source.limit is not None and len(examples) >= source.limit:
            break
    if not examples:
        raise DataError(path, f"{split} dataset is empty (task {task.name!r})")
    return examples


def line_of(source: DataSource, task: Task, split: str, example: Example) -> int | None:
    """The line of ``source``'s file that ``example`` was read from (``split`` as it was loaded),
    or None; for error messages about an example found bad after loading."""
    rows = _rows(source)
    return next((line for line, row in rows if _to_example(row, line, source, task, split) == example), None)


def _rows(source: DataSource) -> Iterator[tuple[int, dict]]:
    """``(line, row)`` pairs of ``source`` in its format; a chat row (``messages``, no output
    column) becomes a canonical row (:func:`~harness.tasks.formats.from_messages`)."""
    from harness.tasks import formats

    path = source.path
    kind = "dataset" if source.dataset else FORMATS.get(path.suffix.lower())
    if kind == "dataset":
        rows = formats.read_dataset(source.dataset, source.config, source.split, str(path))
    elif kind == "json":
        rows = formats.read_json(path)
    elif kind == "parquet":
        rows = formats.read_parquet(path)
    elif kind == "jsonl":
        rows = read_jsonl(path)
    else:
        rows = _read_table(path, kind, source.columns)
    output = source.fields.get("output", "output")
    for line, row in rows:
        if "messages" in row and output not in row:
            row = {**row, **formats.from_messages(path, line, row["messages"])}
        yield line, row


def _read_table(path: Path, kind: str, columns: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    delimiter = "\t" if kind == "tsv" else ","
    with path.open("rb") as handle:
        text = "".join(decode_line(path, raw, line_no) for line_no, raw in enumerate(handle, start=1))
    # TSV has no quoting: a line like '" I love it.\t1' keeps its quote (and does not swallow
    # the lines after it, as csv's default quoting would).
    quoting = csv.QUOTE_NONE if kind == "tsv" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
    header = list(columns)
    try:
        if not header:
            header = next(reader, None) or []
            if not header:
                return
        for values in reader:
            line_no = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise DataError(
                    path, f"expected {len(header)} columns {header}, found {len(values)}", line=line_no
                )
            yield line_no, dict(zip(header, values, strict=False))
    except csv.Error as exc:
        raise DataError(path, f"malformed {kind.upper()}: {exc}", line=reader.line_num) from None


def _to_example(row: dict, line: int, source: DataSource, task: Task, split: str) -> Example:
    path = source.path

    def get(canonical: str, required: bool) -> str | None:
        column = source.fields.get(canonical, canonical)
        if column not in row or row[column] is None:
            if required:
                raise DataError(path, "missing", line=line, field=column)
            return None
        value = row[column]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise DataError(path, f"expected text, got {type(value).__name__}", line=line, field=column)
        return str(value)

    output = get("output", True)
    if source.labels:
        if output not in source.labels:
            column = source.fields.get("output", "output")
            raise DataError(
                path,
                f"value {output!r} is not in the label mapping {sorted(source.labels)}",
                line=line,
                field=column,
            )
        output = source.labels[output]
    text_input = get("input", True)
    for canonical, value in (("input", text_input), ("output", output)):
        if not value.strip():
            raise DataError(path, "is empty", line=line, field=source.fields.get(canonical, canonical))
    if task.choices and output not in task.choices:
        column = source.fields.get("output", "output")
        hint = "; add a label mapping" if not source.labels else ""
        raise DataError(
            path,
            f"{output!r} is not one of the task's choices {list(task.choices)}{hint}",
            line=line,
            field=column,
        )
    instruction = get("instruction", False) or task.instruction
    example_id = get("id", False) or f"{task.name}-{split}-{line}"
    references = _references(row, source, line, output)
    # a chat row's conversation (a tuple from formats.from_messages; raw data only holds lists)
    messages = row["messages"] if isinstance(row.get("messages"), tuple) else ()
    slice_value = _slice(row, task, split, path, line)
    return Example(
        id=example_id,
        instruction=instruction,
        input=text_input,
        output=output,
        references=references,
        messages=messages,
        slice=slice_value,
    )


def _slice(row: dict, task: Task, split: str, path: Path, line: int) -> str:
    """The row's value of the task's ``slice_field`` as text; required in the test split (every
    test example belongs to a slice), optional elsewhere."""
    if not task.slice_field:
        return ""
    value = row.get(task.slice_field)
    if value is None or (isinstance(value, str) and not value.strip()):
        if split == "test":
            raise DataError(
                path,
                "missing (the task's slice_field; every test row needs one)",
                line=line,
                field=task.slice_field,
            )
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise DataError(path, f"expected text, got {type(value).__name__}", line=line, field=task.slice_field)
    return str(value).strip()


def _references(row: dict, source: DataSource, line: int, output: str) -> tuple[str, ...]:
    """The row's accepted answers: its ``references`` column (by that name unless ``fields``
    maps it elsewhere), else (no such column, or null) the output alone."""
    column = source.fields.get("references", "references")
    if row.get(column) is None:
        return (output,)
    value = row.get(column)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise DataError(source.path, "expected a non-empty list of strings", line=line, field=column)
    return tuple(value)


SOURCE_KEYS = ("path", "fields", "labels", "columns", "limit", "dataset", "config", "split")


def with_data_overrides(task: Task, overrides: dict) -> Task:
    """Return ``task`` with its ``train``/``test`` sources replaced from the config's ``[data.<task>]``.

    Each split is a path string or a table ``{path, fields, labels, columns, limit}``; ``fields``
    maps canonical fields to the file's columns, ``labels`` maps raw outputs to the task's labels.
    """
    import dataclasses

    changes = {}
    for split, spec in overrides.items():
        where = f"config: data.{task.name}.{split}"
        if split not in ("train", "test", "dev"):
            raise HarnessError(
                f"config: unknown split {split!r} in [data.{task.name}]; use train, test or dev"
            )
        if isinstance(spec, str):
            spec = {"path": spec}
        if not isinstance(spec, dict) or not (isinstance(spec.get("path"), str) or "dataset" in spec):
            raise HarnessError(f"{where} needs a path (a string or a table with path = ...)")
        unknown = set(spec) - set(SOURCE_KEYS)
        if unknown:
            raise HarnessError(
                f"{where}: unknown key {sorted(unknown)[0]!r}; known: {', '.join(SOURCE_KEYS)}"
            )
        labels = {str(k): str(v) for k, v in (spec.get("labels") or {}).items()}
        columns = spec.get("columns") or ()
        if isinstance(columns, str):  # "input,output": names, not characters
            columns = [name.strip() for name in columns.split(",")]
        changes[split] = DataSource(
            path=Path(spec.get("path", "")).expanduser(),
            dataset=spec.get("dataset", ""),
            config=spec.get("config", ""),
            split=spec.get("split", ""),
            fields=spec.get("fields") or {},
            labels=labels,
            columns=tuple(columns),
            limit=spec.get("limit"),
        )
    return dataclasses.replace(task, **changes) if changes else task


def duplicate_warning(examples: list[Example], source: DataSource, task: Task, split: str) -> str | None:
    """One line when ``examples`` repeat a row (same instruction, input and output), else None:
    duplicates weigh twice in training and in a score."""
    seen: dict[tuple[str, str, str], str] = {}
    repeats, first = 0, None
    for example in examples:
        key = (example.instruction, example.input, example.output)
        if key in seen:
            repeats += 1
            first = first or f"{example.id!r} repeats {seen[key]!r}"
        else:
            seen[key] = example.id
    if not repeats:
        return None
    return (
        f"{source.path}: {repeats} duplicate row{'s' if repeats > 1 else ''} in the {split} split of "
        f"task {task.name!r} (first: {first})"
    )
