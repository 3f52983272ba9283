"""Summarization: one-sentence summaries of short English passages, scored with ROUGE.

A built-in task written exactly as a user plugin would be (see plugins/sentiment.py).
"""

from pathlib import Path

import harness
from harness import DataSource, Task

DATA = Path(__file__).resolve().parent.parent / "tasks" / "summarization"


@harness.hookimpl
def harness_tasks():
    return [
        Task(
            name="summarization",
            description="Summarize a short English passage in one sentence.",
            instruction="Summarize the following text in one sentence.",
            train=DataSource(DATA / "train.jsonl"),
            test=DataSource(DATA / "test.jsonl"),
            metrics=("rougeL", "rouge1", "rouge2", "rougeLsum"),
            primary_metric="rougeL",
            max_new_tokens=40,  # summaries are one sentence of under 20 words
            stop=("\n",),  # one sentence, one line
            version="1",
        )
    ]
