"""Generate the datasets of the three built-in tasks (sentiment, summarization, translation).

Every example is built from hand-written phrase tables and sentence patterns kept in ``_gen/``
(one module per concern: ``common`` helpers, ``people`` names, and per task its tables, patterns and
generator), using only the standard library and ``random.Random(SEED)``, so the output is identical
on every run.  For each task the script writes ``train.jsonl`` (300 lines) and ``test.jsonl``
(100 lines) next to the task's README, one JSON object per line with exactly the keys
``instruction``, ``input`` and ``output`` (UTF-8, ``ensure_ascii=False``).

Train and test are disjoint: no test input appears in train, and a test example is rejected when
its input shares 80% or more of its word set (Jaccard) with any training input.  Summarization also
rejects inputs within a split that are 85% similar to one already drawn.  Task i (in the order
sentiment, summarization, translation) uses ``random.Random(SEED + i)``.

``_gen/`` is not part of the installed package: it is imported from this file's folder, which is put
on ``sys.path``.  Run from the repository root (or with this file's path from anywhere):

    python tasks/build_data.py
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _gen.common import N_TEST, N_TRAIN, SEED  # noqa: E402
from _gen.sentiment import gen_sentiment  # noqa: E402
from _gen.summarization import gen_summarization  # noqa: E402
from _gen.translation import gen_translation  # noqa: E402

INSTRUCTIONS = {
    "sentiment": "Determine if the following sentence has a positive or negative sentiment.",
    "summarization": "Summarize the following text in one sentence.",
    "translation": "Translate the following English sentence into French.",
}


def write(task: str, split: str, rows: list[dict]) -> None:
    path = HERE / task / f"{split}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            obj = {"instruction": INSTRUCTIONS[task], "input": row["input"], "output": row["output"]}
            f.write(json.dumps(obj, ensure_ascii=False) + "\n")


def main() -> None:
    for i, (task, gen) in enumerate(
        [("sentiment", gen_sentiment), ("summarization", gen_summarization), ("translation", gen_translation)]
    ):
        rng = random.Random(SEED + i)
        train, test = gen(rng)
        rng.shuffle(train)
        rng.shuffle(test)
        assert len(train) == N_TRAIN and len(test) == N_TEST
        assert not {e["input"] for e in train} & {e["input"] for e in test}
        write(task, "train", train)
        write(task, "test", test)
        print(f"{task}: {len(train)} train, {len(test)} test")


if __name__ == "__main__":
    main()
