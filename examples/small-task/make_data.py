"""Write train.jsonl (64 examples) and test.jsonl (100) of the small ``lookup`` task."""

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEYS = {"apple": "Yes", "river": "Yes", "garden": "Yes", "music": "Yes", "window": "Yes"}
KEYS |= {"engine": "No", "pocket": "No", "ladder": "No", "silver": "No", "candle": "No"}
FILLER = "the a small big old new red blue green quiet loud early late".split()


def rows(rng: random.Random, n: int) -> list[dict]:
    out = []
    for _ in range(n):
        key = rng.choice(sorted(KEYS))
        text = " ".join([key] + [rng.choice(FILLER) for _ in range(rng.randint(2, 4))])
        out.append({"input": text, "output": KEYS[key]})
    return out


if __name__ == "__main__":
    rng = random.Random(11)
    for split, n in (("train", 64), ("test", 100)):
        lines = [json.dumps(row) + "\n" for row in rows(rng, n)]
        (HERE / f"{split}.jsonl").write_text("".join(lines), encoding="utf-8")
