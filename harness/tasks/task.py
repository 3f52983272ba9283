"""The task model: Example, DataSource and Task — small, frozen, declarative values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType


@dataclass(frozen=True)
class Example:
    """One instruction / input / output triple (Alpaca-style) with a stable id.

    ``references`` holds every acceptable output (multi-reference BLEU/ROUGE); it
    defaults to ``(output,)``. ``messages`` holds a chat row's whole conversation as
    ``(role, content)`` pairs, the final assistant turn (``output``) included; empty for other
    rows. With ``prompt_template = "chat"`` it is what is trained and prompted
    (:mod:`harness.tasks.chat`); otherwise the flattened instruction/input/output are.
    ``slice`` is the example's value of its task's ``slice_field`` (empty when the task has none).
    """

    id: str
    instruction: str
    input: str
    output: str
    references: tuple[str, ...] = ()
    messages: tuple[tuple[str, str], ...] = ()
    slice: str = ""

    def __post_init__(self):
        if not self.references:
            object.__setattr__(self, "references", (self.output,))
        object.__setattr__(self, "messages", tuple(tuple(turn) for turn in self.messages))


def _frozen(mapping: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class DataSource:
    """Where a split's examples come from: a local file (JSONL, JSON array, CSV, TSV, Parquet) or
    a Hugging Face ``datasets`` dataset (``dataset``, optional ``config``, ``split``).

    :param path: the file; relative paths are resolved against the working directory (in a task
        file or a config, against that file's folder). Empty for a ``dataset`` source.
    :param fields: maps the canonical fields ``instruction``, ``input``, ``output`` (and
        optionally ``id``, ``references``) to the file's column names, e.g. ``{"input": "text",
        "output": "label"}``. Unmapped fields use their own name.
    :param labels: maps raw output values to the task's labels, e.g. ``{"0": "Negative"}``.
    :param columns: column names for a CSV/TSV file that has no header row.
    :param limit: keep only the first ``limit`` examples.
    :param dataset: a Hugging Face ``datasets`` name or local dataset folder (needs the
        ``datasets`` extra: ``pip install 'harness[datasets]'``), with ``config`` and ``split``.
    """

    path: Path = Path()
    fields: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    columns: tuple[str, ...] = ()
    limit: int | None = None
    dataset: str = ""
    config: str = ""
    split: str = ""

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))
        if self.dataset and str(self.path) == ".":
            label = "/".join(part for part in (self.dataset, self.config) if part)
            object.__setattr__(self, "path", Path(f"hf:{label}[{self.split or 'train'}]"))
        object.__setattr__(self, "fields", _frozen(self.fields))
        object.__setattr__(self, "labels", _frozen(self.labels))
        object.__setattr__(self, "columns", tuple(self.columns))


SCORING_METHODS = ("auto", "generate", "loglik")


@dataclass(frozen=True)
class Task:
    """A task: what to ask, on which data, and how to score the answers.

    :param name: unique name, e.g. ``"sentiment"``.
    :param instruction: the instruction used when an example has none of its own.
    :param test: the evaluation split.
    :param train: the training split (``None``: evaluate-only task).
    :param dev: the split that picks the best checkpoint during training; ``None`` (default)
        carves a seeded dev split from ``train`` (never from ``test``).
    :param num_fewshot: demonstrations from ``train`` before each evaluation prompt; ``None``
        (default) follows ``eval.num_fewshot``.
    :param metrics: metric names (see ``harness metrics``); the first is the primary metric
        unless ``primary_metric`` says otherwise.
    :param primary_metric: the metric that decides "did tuning help"; defaults to ``metrics[0]``.
    :param max_new_tokens: generation budget per example.
    :param stop: generation stops at the first of these strings (EOS always stops).
    :param choices: fixed labels for a classification task (e.g. ``("Positive", "Negative")``).
    :param scoring: how predictions are made: ``"loglik"`` picks the choice with the highest
        log-likelihood after the prompt (no generation; needs ``choices``), ``"generate"`` generates
        greedily, ``"auto"`` (default) is ``"loglik"`` when ``choices`` are set, else ``"generate"``.
    :param version: bump whenever a change to data, prompt or scoring can move a score.
    :param description: one line shown by ``harness tasks list``.
    :param slice_field: a column of the data whose values cut the test set into slices (e.g.
        ``"domain"``): each slice gets its own before/after, delta and test in the report, with
        the false-discovery rate controlled across every task's slices (Benjamini-Hochberg).
    """

    name: str
    instruction: str
    test: DataSource
    metrics: tuple[str, ...]
    train: DataSource | None = None
    primary_metric: str = ""
    max_new_tokens: int = 32
    stop: tuple[str, ...] = ("\n",)
    choices: tuple[str, ...] = ()
    version: str = "1"
    description: str = ""
    scoring: str = "auto"
    dev: DataSource | None = None
    num_fewshot: int | None = None
    slice_field: str = ""

    def __post_init__(self):
        object.__setattr__(self, "metrics", tuple(self.metrics))
        object.__setattr__(self, "stop", tuple(self.stop))
        object.__setattr__(self, "choices", tuple(self.choices))
        if not self.metrics:
            raise ValueError(f"task {self.name!r} names no metrics")
        if not self.primary_metric:
            object.__setattr__(self, "primary_metric", self.metrics[0])
        if self.primary_metric not in self.metrics:
            raise ValueError(f"task {self.name!r}: primary_metric {self.primary_metric!r} is not in metrics")
        if self.scoring not in SCORING_METHODS:
            raise ValueError(
                f"task {self.name!r}: scoring {self.scoring!r} is not one of {', '.join(SCORING_METHODS)}"
            )
        if self.scoring == "loglik" and not self.choices:
            raise ValueError(f"task {self.name!r}: scoring 'loglik' needs choices")
        if self.num_fewshot is not None and (
            isinstance(self.num_fewshot, bool)
            or not isinstance(self.num_fewshot, int)
            or self.num_fewshot < 0
        ):
            raise ValueError(
                f"task {self.name!r}: num_fewshot must be an integer >= 0, got {self.num_fewshot!r}"
            )
        if len(set(self.choices)) != len(self.choices):
            raise ValueError(f"task {self.name!r}: duplicate choices {list(self.choices)}")

    @property
    def scoring_method(self) -> str:
        """The scoring actually used: ``"loglik"`` or ``"generate"`` (``"auto"`` resolved)."""
        if self.scoring == "auto":
            return "loglik" if self.choices else "generate"
        return self.scoring
