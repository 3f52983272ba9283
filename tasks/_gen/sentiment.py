"""Sentiment task: sentence patterns over the phrase tables in ``sentiment_phrases`` and the generator of
the train/test splits (labels ``Positive`` / ``Negative``, balanced in each split).
"""

# ruff: noqa: E501  (long f-strings hold whole template sentences; kept on one line for readability)
from __future__ import annotations

import random
import re

from .common import N_TEST, N_TRAIN, cap, draw, words, wordset
from .sentiment_phrases import (
    INTENS,
    MINOR_NEG,
    MINOR_POS,
    NAMES,
    NEG_ADJ,
    POS_ADJ,
    RELATIVES,
    SENT_CATS,
    WHEN,
)


def _adj(rng: random.Random, positive: bool) -> str:
    return rng.choice(POS_ADJ if positive else NEG_ADJ)


def _intens_adj(rng: random.Random, positive: bool) -> str:
    adj = _adj(rng, positive)
    if adj.startswith("a "):
        return adj
    i = rng.choice(INTENS)
    if adj in ("mediocre", "great", "lovely", "underwhelming") and i in ("absolutely", "simply"):
        i = "really"
    return f"{i} {adj}".strip()


def sent_patterns():
    """Each pattern: (rng, cat, positive) -> sentence.  Labels follow ``positive``."""

    def p_was(r, c, pos):
        subj = cap(r.choice(c["subjects"]))
        if r.random() < 0.5:
            return f"{subj} was {_intens_adj(r, pos)}, and {r.choice(c['pos' if pos else 'neg'])}."
        return f"{subj} was {_intens_adj(r, pos)} from start to finish."

    def p_loved(r, c, pos):
        v = r.choice(
            ["loved", "adored", "really enjoyed"] if pos else ["hated", "disliked", "could not stand"]
        )
        return f"I {v} {r.choice(c['subjects'])}; {r.choice(c['pos' if pos else 'neg'])}."

    def p_recommend(r, c, pos):
        d = cap(r.choice(c["pos" if pos else "neg"]))
        tail = (
            r.choice(["I would definitely recommend", "I would happily recommend", "everyone should try"])
            if pos
            else r.choice(["I would never recommend", "I cannot recommend", "please stay away from"])
        )
        return f"{d}, so {tail} {r.choice(c['subjects'])}."

    def p_not_at_all(r, c, pos):
        # negation flips the adjective's polarity
        if pos:
            adj = r.choice(["bad", "disappointing", "boring", "a waste of money"])
            return f"{cap(r.choice(c['subjects']))} was not {adj} at all; in fact, {r.choice(c['pos'])}."
        adj = r.choice(["good at all", "worth the money", "as good as people said", "enjoyable at all"])
        return f"Sadly, {r.choice(c['subjects'])} was not {adj}."

    def p_what_a(r, c, pos):
        ex = r.choice(
            ["What a pleasant surprise!", "What a treat!", "What a joy!", "Wow, just wow!"]
            if pos
            else ["What a waste of money!", "What a letdown!", "What a mess!", "Never again!"]
        )
        return f"{ex} {cap(r.choice(c['pos' if pos else 'neg']))}."

    def p_honestly(r, c, pos):
        n = r.choice(
            ["an absolute joy", "a real treat", "a delight from start to finish", "a total success"]
            if pos
            else ["a complete disaster", "a total letdown", "a waste of time and money", "a huge mistake"]
        )
        return f"Honestly, {r.choice(c['subjects'])} was {n}."

    def p_expected(r, c, pos):
        if pos:
            return f"I expected very little, but {r.choice(c['subjects'])} turned out to be {_adj(r, True)}."
        return f"I had high hopes, but {r.choice(c['subjects'])} turned out to be {_adj(r, False)}."

    def p_name_said(r, c, pos):
        agree = r.choice(["and I completely agree", "and that was true", "and I could not agree more"])
        return f"{r.choice(NAMES)} said {r.choice(c['subjects'])} was {_adj(r, pos)}, {agree}."

    def p_again(r, c, pos):
        s = r.choice(c["subjects"])
        if pos:
            return r.choice(
                [
                    f"I cannot wait to {c['again']} {s} again.",
                    f"We are already planning to {c['again']} {s} again next month.",
                ]
            )
        return r.choice(
            [f"I will never {c['again']} {s} again.", f"Nothing could make me {c['again']} {s} again."]
        )

    def p_two_details(r, c, pos):
        d1, d2 = r.sample(c["pos" if pos else "neg"], 2)
        conj = (
            r.choice(["and", "and even better,"]) if pos else r.choice(["and", "and to make things worse,"])
        )
        return f"{cap(d1)}, {conj} {d2}."

    def p_although(r, c, pos):
        if pos:
            return f"Although {r.choice(MINOR_NEG)}, {r.choice(c['subjects'])} was {_adj(r, True)} overall."
        return f"Although {r.choice(MINOR_POS)}, {r.choice(c['subjects'])} was {_adj(r, False)} overall."

    def p_stars(r, c, pos):
        head = (
            r.choice(["Five stars", "Ten out of ten", "Top marks"])
            if pos
            else r.choice(["One star", "Zero out of ten", "Avoid"])
        )
        return f"{head}: {r.choice(c['pos' if pos else 'neg'])}."

    def p_best(r, c, pos):
        span = r.choice(["in years", "in a long time", "in my whole life", "this year"])
        sup = "best" if pos else "worst"
        return f"{cap(r.choice(c['subjects']))} is easily the {sup} {c['noun']} I have {c['pp']} {span}."

    def p_glad(r, c, pos):
        f = r.choice(["glad", "happy", "grateful"]) if pos else r.choice(["disappointed", "annoyed", "sorry"])
        return f"I am so {f} that I {c['past']} {r.choice(c['subjects'])} {r.choice(WHEN)}."

    def p_money(r, c, pos):
        if pos:
            return f"Give {r.choice(c['subjects'])} a try, because {r.choice(c['pos'])}."
        return f"Do not waste your money on {r.choice(c['subjects'])}, because {r.choice(c['neg'])}."

    def p_expectations(r, c, pos):
        s = cap(r.choice(c["subjects"]))
        if pos:
            return f"{s} exceeded all my expectations, and {r.choice(RELATIVES)} loved it too."
        return f"{s} fell far short of my expectations, and {r.choice(RELATIVES)} felt the same."

    def p_hard_to_find(r, c, pos):
        w = "bad" if pos else "good"
        return f"It is hard to find anything {w} to say about {r.choice(c['subjects'])}."

    def p_didnt_expect(r, c, pos):
        s = r.choice(c["subjects"])
        if pos:
            return f"I did not expect much from {s}, but it was {_adj(r, True)}."
        return f"I did not enjoy {s} at all, because {r.choice(c['neg'])}."

    def p_question(r, c, pos):
        if pos:
            return f"Why did nobody tell me how {r.choice(['good', 'wonderful', 'brilliant'])} {r.choice(c['subjects'])} was?"
        return f"How can anyone like {r.choice(c['subjects'])} when {r.choice(c['neg'])}?"

    def p_short_verdict(r, c, pos):
        v = (
            r.choice(
                ["Highly recommended.", "Loved every minute.", "I will be back.", "Absolutely worth it."]
            )
            if pos
            else r.choice(
                ["Not recommended.", "Avoid at all costs.", "Never again.", "Total waste of money."]
            )
        )
        return f"{cap(r.choice(c['pos' if pos else 'neg']))}. {v}"

    def p_relative(r, c, pos):
        rel = r.choice(RELATIVES)
        if pos:
            return f"{cap(rel)} and I {c['past']} {r.choice(c['subjects'])} {r.choice(WHEN)}, and it was {_adj(r, True)}."
        return f"{cap(rel)} and I {c['past']} {r.choice(c['subjects'])} {r.choice(WHEN)}, and it was {_adj(r, False)}."

    return [
        p_was,
        p_loved,
        p_recommend,
        p_not_at_all,
        p_what_a,
        p_honestly,
        p_expected,
        p_name_said,
        p_again,
        p_two_details,
        p_although,
        p_stars,
        p_best,
        p_glad,
        p_money,
        p_expectations,
        p_hard_to_find,
        p_didnt_expect,
        p_question,
        p_short_verdict,
        p_relative,
    ]


def gen_sentiment(rng: random.Random) -> tuple[list[dict], list[dict]]:
    pats = sent_patterns()
    cats = list(SENT_CATS.values())

    def make(pos: bool):
        while True:
            s = rng.choice(pats)(rng, rng.choice(cats), pos)
            s = re.sub(r"\s+", " ", s).strip()
            if 6 <= len(words(s)) <= 25:
                return {"input": s, "output": "Positive" if pos else "Negative"}

    train = draw(lambda: make(True), N_TRAIN // 2, set(), []) + draw(
        lambda: make(False), N_TRAIN // 2, set(), []
    )
    seen = {ex["input"] for ex in train}
    train_sets = [wordset(ex["input"]) for ex in train]
    test = draw(lambda: make(True), N_TEST // 2, seen, train_sets) + draw(
        lambda: make(False), N_TEST // 2, seen, train_sets
    )
    return train, test
