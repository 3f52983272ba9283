"""Sentiment: is an English sentence positive or negative?

This file is a complete harness plugin and the one to copy when you write your own: a module
with a function marked ``@harness.hookimpl`` that returns the tasks it adds. Drop a file like
it into your project's ``plugins/`` folder, pass it with ``--plugin path/to/file.py``, or ship
it in a package under the ``harness`` entry-point group.
"""

from pathlib import Path

import harness
from harness import DataSource, Task

DATA = Path(__file__).resolve().parent.parent / "tasks" / "sentiment"


@harness.hookimpl
def harness_tasks():
    return [
        Task(
            name="sentiment",
            description="Binary sentiment of one English sentence: Positive or Negative.",
            instruction="Determine if the following sentence has a positive or negative sentiment.",
            train=DataSource(DATA / "train.jsonl"),
            test=DataSource(DATA / "test.jsonl"),
            metrics=("accuracy", "macro_f1"),  # accuracy is the primary metric (the first)
            # Fixed labels: every output must be one of these, and the model is scored by the
            # log-likelihood of each label after the prompt instead of free generation.
            # (scoring="generate" would ask it to write the label, up to max_new_tokens tokens.)
            choices=("Positive", "Negative"),
            max_new_tokens=8,
            version="1",  # bump when data, instruction or scoring change
        )
    ]
