"""Shared settings and helpers of the task-data generators: seed, split sizes, word helpers and the
near-duplicate-checked draw of examples.
"""

from __future__ import annotations

import re

SEED = 20240601
N_TRAIN = 300
N_TEST = 100
NEAR_DUP = 0.8  # Jaccard similarity of word sets at or above which a test input counts as a near-duplicate


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def a_an(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def words(s: str) -> list[str]:
    return s.split()


def wordset(s: str) -> frozenset[str]:
    return frozenset(re.findall(r"[\w'-]+", s.lower()))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / max(1, len(a | b))


def draw(
    make,
    n: int,
    seen: set[str],
    avoid_sets: list[frozenset[str]],
    self_sim: float = 1.01,
    max_tries: int = 200000,
) -> list[dict]:
    """Draw ``n`` examples with unique inputs.

    A candidate is rejected when its input's word set has Jaccard similarity >= NEAR_DUP with any set in
    ``avoid_sets`` (the training inputs, when drawing the test split), or >= ``self_sim`` with an input
    already drawn in this call.
    """
    out: list[dict] = []
    own: list[frozenset[str]] = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > max_tries:
            raise RuntimeError(f"could only draw {len(out)} of {n} distinct examples")
        ex = make()
        if ex["input"] in seen:
            continue
        ws = wordset(ex["input"])
        if any(jaccard(ws, t) >= NEAR_DUP for t in avoid_sets):
            continue
        if self_sim <= 1 and any(jaccard(ws, t) >= self_sim for t in own):
            continue
        own.append(ws)
        seen.add(ex["input"])
        out.append(ex)
    return out
