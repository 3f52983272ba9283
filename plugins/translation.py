"""Translation: English sentences into French, scored with corpus BLEU and chrF (sacrebleu).

A built-in task written exactly as a user plugin would be (see plugins/sentiment.py).
"""

from pathlib import Path

import harness
from harness import DataSource, Task

DATA = Path(__file__).resolve().parent.parent / "tasks" / "translation"


@harness.hookimpl
def harness_tasks():
    return [
        Task(
            name="translation",
            description="Translate a short English sentence into French.",
            instruction="Translate the following English sentence into French.",
            train=DataSource(DATA / "train.jsonl"),
            test=DataSource(DATA / "test.jsonl"),
            metrics=("bleu", "chrf"),  # corpus-level, sacrebleu's default 13a tokenizer
            max_new_tokens=40,
            version="1",
        )
    ]
