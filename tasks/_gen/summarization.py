"""Summarization task: round-robin over the event generators, optional neutral closing sentence, length
checks, and the generator of the train/test splits (near-duplicates within a split are rejected too).
"""

from __future__ import annotations

import random
import re

from .common import N_TEST, N_TRAIN, draw, words, wordset
from .summarization_community import (
    s_bakery,
    s_cleanup,
    s_council,
    s_festival,
    s_library,
    s_museum,
    s_student,
)
from .summarization_sport_business import s_factory, s_marathon, s_match, s_product, s_research
from .summarization_transport import s_bridge, s_fares, s_fire, s_fog, s_hospital, s_rescue, s_road, s_strike

# neutral closing sentences, appended to some texts so that lengths and sentence counts vary
FILLERS = [
    "The news was widely shared on social media.",
    "A full report will be published next week.",
    "It was one of the most talked-about stories of the week.",
    "Further updates are expected in the coming days.",
    "The story led the evening news on local radio.",
    "Many residents discussed the news online.",
]

SUMM_GENS = [
    s_library,
    s_match,
    s_product,
    s_road,
    s_research,
    s_festival,
    s_bridge,
    s_museum,
    s_bakery,
    s_council,
    s_strike,
    s_fire,
    s_marathon,
    s_student,
    s_cleanup,
    s_fog,
    s_factory,
    s_fares,
    s_rescue,
    s_hospital,
]


def gen_summarization(rng: random.Random) -> tuple[list[dict], list[dict]]:
    counter = [0]

    def make():
        while True:
            g = SUMM_GENS[counter[0] % len(SUMM_GENS)]  # round-robin over event types for an even mix
            counter[0] += 1
            text, summ = g(rng)
            if rng.random() < 0.3:
                text = f"{text} {rng.choice(FILLERS)}"
            nw, ns = len(words(text)), len(words(summ))
            n_sent = len(re.findall(r"[.!?](?:\s|$)", text))
            if 25 <= nw <= 70 and 6 <= ns <= 16 and 2 <= n_sent <= 4:
                return {"input": text, "output": summ}

    train = draw(make, N_TRAIN, set(), [], self_sim=0.85)
    seen = {ex["input"] for ex in train}
    test = draw(make, N_TEST, seen, [wordset(ex["input"]) for ex in train], self_sim=0.85)
    return train, test
