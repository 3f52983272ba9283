"""A small extra task (64 training examples): is the first word one of five chosen things?

Used to check that a small task cannot hijack checkpoint selection (issue 9):

    harness run -c configs/default.toml --plugin examples/small-task/lookup.py \
        --set 'tasks=["summarization","sentiment","translation","lookup"]'

Its data was written by ``make_data.py`` beside this file.
"""

from pathlib import Path

import harness
from harness import DataSource, Task

HERE = Path(__file__).resolve().parent


@harness.hookimpl
def harness_tasks():
    return [
        Task(
            name="lookup",
            instruction="Answer Yes if the first word names one of the five chosen things, else No.",
            train=DataSource(HERE / "train.jsonl"),
            test=DataSource(HERE / "test.jsonl"),
            metrics=("accuracy",),
            choices=("Yes", "No"),
        )
    ]
