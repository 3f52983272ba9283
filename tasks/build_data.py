"""Generate the datasets of the three built-in tasks (sentiment, summarization, translation).

Every example is built from hand-written phrase tables and sentence patterns kept in this file,
using only the standard library and ``random.Random(SEED)``, so the output is identical on every
run.  For each task the script writes ``train.jsonl`` (300 lines) and ``test.jsonl`` (100 lines)
next to the task's README, one JSON object per line with exactly the keys
``instruction``, ``input`` and ``output`` (UTF-8, ``ensure_ascii=False``).

Train and test are disjoint: no test input appears in train, and a test example is rejected when
its input shares 80% or more of its word set (Jaccard) with any training input.  Summarization also
rejects inputs within a split that are 85% similar to one already drawn.  Task i (in the order
sentiment, summarization, translation) uses ``random.Random(SEED + i)``.

Run from the repository root:

    python tasks/build_data.py
"""

# ruff: noqa: E501  (long f-strings hold whole template sentences; kept on one line for readability)
from __future__ import annotations

import json
import random
import re
from pathlib import Path

SEED = 20240601
N_TRAIN = 300
N_TEST = 100
NEAR_DUP = 0.8  # Jaccard similarity of word sets at or above which a test input counts as a near-duplicate
HERE = Path(__file__).resolve().parent

INSTRUCTIONS = {
    "sentiment": "Determine if the following sentence has a positive or negative sentiment.",
    "summarization": "Summarize the following text in one sentence.",
    "translation": "Translate the following English sentence into French.",
}


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# sentiment
# ---------------------------------------------------------------------------------------------

SENT_CATS = {
    "film": {
        "subjects": [
            "the film",
            "the new thriller",
            "the documentary about whales",
            "the animated film",
            "the sequel",
            "the romantic comedy",
            "the horror movie",
            "the war drama",
            "the film we watched on Friday",
            "the director's latest movie",
            "the superhero movie",
            "the musical",
            "the science fiction film",
            "the detective series",
        ],
        "again": "watch",
        "past": "watched",
        "noun": "film",
        "pp": "seen",
        "pos": [
            "the acting was superb",
            "the ending moved me to tears",
            "the story kept me hooked until the end",
            "the soundtrack was beautiful",
            "every scene looked stunning",
            "the jokes made the whole cinema laugh",
            "the lead actress gave a brilliant performance",
            "the twist at the end surprised everyone",
        ],
        "neg": [
            "the plot made no sense",
            "the dialogue felt wooden",
            "I nearly fell asleep halfway through",
            "the ending was lazy and predictable",
            "the jokes fell flat",
            "it was far too long",
            "the special effects looked cheap",
            "the characters were impossible to care about",
        ],
    },
    "restaurant": {
        "subjects": [
            "the new Italian restaurant",
            "the café near the station",
            "the sushi bar downtown",
            "the pizza place on Main Street",
            "the steakhouse",
            "the little bistro by the river",
            "the vegan café",
            "the Thai restaurant on Elm Street",
            "the hotel restaurant",
            "the burger bar near campus",
            "the seafood restaurant at the harbour",
            "the Indian takeaway",
        ],
        "again": "eat at",
        "past": "ate at",
        "noun": "restaurant",
        "pp": "eaten at",
        "pos": [
            "the pasta was perfectly cooked",
            "the waiters were friendly and attentive",
            "the desserts were heavenly",
            "every dish was full of flavour",
            "the portions were generous",
            "the prices were very fair",
            "the bread was fresh and warm",
            "the chef came out to greet us",
        ],
        "neg": [
            "the soup was cold",
            "we waited an hour for our food",
            "the waiter was rude to us",
            "the fish tasted old",
            "the bill was outrageous for such tiny portions",
            "the tables were sticky",
            "my steak was burnt",
            "the music was so loud we could not talk",
        ],
    },
    "product": {
        "subjects": [
            "this phone",
            "the new laptop",
            "the coffee maker",
            "the vacuum cleaner",
            "this blender",
            "the electric kettle",
            "my new bike",
            "the smartwatch",
            "this camera",
            "the wireless speaker",
            "the office chair",
            "this rice cooker",
            "the robot mower",
            "the e-reader",
        ],
        "again": "use",
        "past": "bought",
        "noun": "purchase",
        "pp": "made",
        "pos": [
            "the battery lasts all day",
            "it was easy to set up",
            "it works perfectly",
            "the build quality is excellent",
            "it is quiet and fast",
            "it was worth every penny",
            "it arrived well packed and ready to use",
            "it does exactly what it promises",
        ],
        "neg": [
            "it stopped working after a week",
            "the battery dies within hours",
            "the buttons feel cheap and flimsy",
            "it is incredibly loud",
            "the instructions were useless",
            "it broke the second time I used it",
            "customer support never replied",
            "it overheats after ten minutes",
        ],
    },
    "hotel": {
        "subjects": [
            "the hotel",
            "the beach resort",
            "the guesthouse in the old town",
            "the mountain lodge",
            "the airport hotel",
            "the bed and breakfast",
            "the hostel near the station",
            "the spa hotel",
            "the holiday cottage",
            "the city centre hotel",
        ],
        "again": "stay at",
        "past": "stayed at",
        "noun": "hotel",
        "pp": "stayed at",
        "pos": [
            "the beds were very comfortable",
            "the view from our balcony was stunning",
            "the breakfast buffet was amazing",
            "the staff remembered our names",
            "the room was spotless",
            "the pool was clean and warm",
            "the location was perfect for exploring",
        ],
        "neg": [
            "the room smelled of smoke",
            "the shower had no hot water",
            "the walls were so thin we could not sleep",
            "the carpet was filthy",
            "the receptionist ignored us",
            "the air conditioning never worked",
            "there were ants in the bathroom",
        ],
    },
    "book": {
        "subjects": [
            "the novel",
            "the biography",
            "the mystery novel",
            "the fantasy series",
            "the memoir",
            "the short story collection",
            "the detective story",
            "the history book",
            "the book my sister lent me",
            "the prize-winning novel",
        ],
        "again": "read",
        "past": "read",
        "noun": "book",
        "pp": "read",
        "pos": [
            "I could not put it down",
            "the characters felt so real",
            "the writing is beautiful",
            "I learned something on every page",
            "it made me laugh out loud",
            "the last chapter left me speechless",
        ],
        "neg": [
            "the chapters drag on forever",
            "the writing is clumsy and repetitive",
            "I gave up after fifty pages",
            "it is full of spelling mistakes",
            "the characters are flat and boring",
            "the ending makes no sense",
        ],
    },
    "event": {
        "subjects": [
            "the concert",
            "the play",
            "the comedy show",
            "the jazz festival",
            "the ballet",
            "the opera",
            "the magic show",
            "the school musical",
            "the circus",
            "the rock concert",
        ],
        "again": "see",
        "past": "went to",
        "noun": "show",
        "pp": "been to",
        "pos": [
            "the crowd was buzzing all night",
            "the performers were full of energy",
            "every seat had a great view",
            "the atmosphere was electric",
            "the tickets were worth every penny",
            "the finale was unforgettable",
        ],
        "neg": [
            "the sound was muddy and far too loud",
            "it started an hour late",
            "we could barely see the stage",
            "the performers seemed bored",
            "the queues for drinks were endless",
            "half the audience left early",
        ],
    },
    "service": {
        "subjects": [
            "the delivery service",
            "the customer support team",
            "the taxi company",
            "the bank's mobile app",
            "the airline",
            "the internet provider",
            "the cleaning service",
            "the local garage",
            "the moving company",
            "the dentist's new booking system",
        ],
        "again": "use",
        "past": "used",
        "noun": "service",
        "pp": "used",
        "pos": [
            "my problem was solved in minutes",
            "they were polite and quick",
            "everything arrived on time",
            "the price was fair and clear",
            "they went out of their way to help me",
            "booking took less than a minute",
        ],
        "neg": [
            "my package arrived broken",
            "they kept me on hold for an hour",
            "nobody ever answered my emails",
            "they charged me twice",
            "the driver was two hours late",
            "they cancelled without any warning",
        ],
    },
}

POS_ADJ = [
    "wonderful",
    "excellent",
    "fantastic",
    "superb",
    "brilliant",
    "outstanding",
    "amazing",
    "impressive",
    "terrific",
    "great",
    "fabulous",
    "lovely",
]
NEG_ADJ = [
    "terrible",
    "awful",
    "disappointing",
    "dreadful",
    "horrible",
    "mediocre",
    "underwhelming",
    "a disaster",
    "frustrating",
    "a letdown",
]
INTENS = ["really", "truly", "genuinely", "simply", "absolutely", "honestly", ""]
NAMES = [
    "Anna",
    "Ben",
    "Carlos",
    "Diana",
    "Emma",
    "Farid",
    "Grace",
    "Hiro",
    "Isabel",
    "Jack",
    "Kofi",
    "Lena",
    "Marco",
    "Nadia",
    "Omar",
    "Priya",
    "Sam",
    "Tom",
    "Yuki",
    "Zoe",
]
RELATIVES = [
    "my wife",
    "my husband",
    "my friend",
    "my brother",
    "my sister",
    "my mother",
    "my father",
    "my partner",
    "my kids",
    "my colleague",
]
WHEN = [
    "last night",
    "last weekend",
    "on Saturday",
    "yesterday",
    "last month",
    "last week",
    "during the holidays",
    "on Friday",
]
MINOR_NEG = [
    "the price was a little high",
    "it took a while to get going",
    "the reviews were mixed",
    "we had to wait a little",
]
MINOR_POS = [
    "the price was reasonable",
    "it looked promising at first",
    "the reviews were good",
    "my friends had recommended it",
]


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

    train = _draw(lambda: make(True), N_TRAIN // 2, set(), []) + _draw(
        lambda: make(False), N_TRAIN // 2, set(), []
    )
    seen = {ex["input"] for ex in train}
    train_sets = [wordset(ex["input"]) for ex in train]
    test = _draw(lambda: make(True), N_TEST // 2, seen, train_sets) + _draw(
        lambda: make(False), N_TEST // 2, seen, train_sets
    )
    return train, test


def _draw(
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


# ---------------------------------------------------------------------------------------------
# translation (English -> French), built compositionally with explicit gender/number agreement
# ---------------------------------------------------------------------------------------------

V = "aeiouyhâàéèêîôûAEIOUYHÉÈ"


def _vowel(fr: str) -> bool:
    # all words starting with h in the tables below have a mute h (hôtel, hôpital, homme...)
    return fr[:1] in V


def le(fr: str, g: str) -> str:
    """Definite article + noun: le/la/l'."""
    if _vowel(fr):
        return "l'" + fr
    return ("le " if g == "m" else "la ") + fr


def un(g: str) -> str:
    return "un" if g == "m" else "une"


def a_le(fr: str, g: str) -> str:
    """à + definite article: au / à la / à l'."""
    if _vowel(fr):
        return "à l'" + fr
    return ("au " if g == "m" else "à la ") + fr


def de_le(fr: str, g: str) -> str:
    """de + definite article: du / de la / de l'."""
    if _vowel(fr):
        return "de l'" + fr
    return ("du " if g == "m" else "de la ") + fr


def mon(fr: str, g: str) -> str:
    if g == "m" or _vowel(fr):
        return "mon " + fr
    return "ma " + fr


def partitive(fr: str, g: str) -> str:
    if _vowel(fr):
        return "de l'" + fr
    return ("du " if g == "m" else "de la ") + fr


def elide(w: str, nxt: str) -> str:
    """je/ne/de + next word with elision."""
    if _vowel(nxt) and w in ("je", "ne", "de", "que"):
        return w[0] + "'" + nxt
    return w + " " + nxt


# objects: en, fr, gender, plural fr, tags
OBJECTS = [
    ("book", "livre", "m", {"new", "old", "heavy", "expensive", "big", "small"}),
    ("table", "table", "f", {"new", "old", "heavy", "clean", "dirty", "broken", "big", "small", "expensive"}),
    ("car", "voiture", "f", {"new", "old", "clean", "dirty", "broken", "expensive", "big", "small", "fast"}),
    ("house", "maison", "f", {"new", "old", "clean", "big", "small", "expensive", "empty"}),
    ("door", "porte", "f", {"new", "old", "open", "closed", "heavy", "broken"}),
    ("window", "fenêtre", "f", {"open", "closed", "clean", "dirty", "broken", "big", "small"}),
    ("chair", "chaise", "f", {"new", "old", "heavy", "broken", "clean", "dirty", "comfortable"}),
    ("bag", "sac", "m", {"new", "old", "heavy", "open", "empty", "expensive", "big", "small"}),
    ("phone", "téléphone", "m", {"new", "old", "broken", "expensive", "small"}),
    ("bottle", "bouteille", "f", {"empty", "open", "closed", "big", "small"}),
    ("shirt", "chemise", "f", {"new", "old", "clean", "dirty", "expensive"}),
    ("dress", "robe", "f", {"new", "old", "clean", "expensive", "long", "short"}),
    ("hat", "chapeau", "m", {"new", "old", "big", "small", "expensive"}),
    ("umbrella", "parapluie", "m", {"new", "old", "open", "closed", "broken", "big", "small"}),
    ("computer", "ordinateur", "m", {"new", "old", "broken", "expensive", "fast", "slow"}),
    ("bicycle", "vélo", "m", {"new", "old", "clean", "dirty", "broken", "expensive", "fast"}),
    ("coat", "manteau", "m", {"new", "old", "clean", "dirty", "expensive", "long", "short", "warm"}),
    ("cup", "tasse", "f", {"empty", "clean", "dirty", "broken", "small"}),
    ("plate", "assiette", "f", {"empty", "clean", "dirty", "broken", "big"}),
    ("box", "boîte", "f", {"empty", "open", "closed", "heavy", "big", "small"}),
    ("jacket", "veste", "f", {"new", "old", "clean", "dirty", "expensive", "warm"}),
    ("bed", "lit", "m", {"new", "old", "big", "small", "comfortable", "clean"}),
    ("room", "chambre", "f", {"clean", "dirty", "big", "small", "empty", "cold", "comfortable"}),
    ("kitchen", "cuisine", "f", {"clean", "dirty", "big", "small", "new", "old"}),
    ("watch", "montre", "f", {"new", "old", "broken", "expensive", "small"}),
    ("apartment", "appartement", "m", {"new", "old", "clean", "big", "small", "empty", "cold", "expensive"}),
]
# predicative adjectives: en -> (masc sg, fem sg)
PRED = {
    "new": ("neuf", "neuve"),
    "old": ("vieux", "vieille"),
    "heavy": ("lourd", "lourde"),
    "expensive": ("cher", "chère"),
    "big": ("grand", "grande"),
    "small": ("petit", "petite"),
    "clean": ("propre", "propre"),
    "dirty": ("sale", "sale"),
    "broken": ("cassé", "cassée"),
    "open": ("ouvert", "ouverte"),
    "closed": ("fermé", "fermée"),
    "empty": ("vide", "vide"),
    "fast": ("rapide", "rapide"),
    "slow": ("lent", "lente"),
    "comfortable": ("confortable", "confortable"),
    "long": ("long", "longue"),
    "short": ("court", "courte"),
    "warm": ("chaud", "chaude"),
    "cold": ("froid", "froide"),
}
# colours (post-nominal): en -> (m sg, f sg)
COLOURS = {
    "red": ("rouge", "rouge"),
    "black": ("noir", "noire"),
    "white": ("blanc", "blanche"),
    "green": ("vert", "verte"),
    "blue": ("bleu", "bleue"),
    "grey": ("gris", "grise"),
    "yellow": ("jaune", "jaune"),
    "brown": ("marron", "marron"),
}
COLOURED = [
    "car",
    "door",
    "chair",
    "bag",
    "phone",
    "shirt",
    "dress",
    "hat",
    "umbrella",
    "bicycle",
    "coat",
    "cup",
    "box",
    "jacket",
    "watch",
    "table",
    "bottle",
]

LOSABLE = [
    (o[0], o[1], o[2])
    for o in OBJECTS
    if o[0]
    in (
        "book",
        "car",
        "bag",
        "phone",
        "shirt",
        "dress",
        "hat",
        "umbrella",
        "computer",
        "bicycle",
        "coat",
        "jacket",
        "watch",
    )
] + [
    ("key", "clé", "f"),
    ("wallet", "portefeuille", "m"),
    ("ticket", "billet", "m"),
    ("passport", "passeport", "m"),
    ("scarf", "écharpe", "f"),
    ("pen", "stylo", "m"),
]

PLACES = [  # en, fr, gender
    ("beach", "plage", "f"),
    ("market", "marché", "m"),
    ("school", "école", "f"),
    ("station", "gare", "f"),
    ("museum", "musée", "m"),
    ("park", "parc", "m"),
    ("cinema", "cinéma", "m"),
    ("library", "bibliothèque", "f"),
    ("airport", "aéroport", "m"),
    ("hospital", "hôpital", "m"),
    ("bakery", "boulangerie", "f"),
    ("pharmacy", "pharmacie", "f"),
    ("swimming pool", "piscine", "f"),
    ("post office", "poste", "f"),
    ("church", "église", "f"),
    ("bank", "banque", "f"),
    ("supermarket", "supermarché", "m"),
    ("zoo", "zoo", "m"),
    ("hotel", "hôtel", "m"),
    ("restaurant", "restaurant", "m"),
    ("town hall", "mairie", "f"),
]
WORKPLACES = [
    "hospital",
    "bank",
    "school",
    "bakery",
    "restaurant",
    "library",
    "hotel",
    "museum",
    "pharmacy",
    "supermarket",
] + ["shop", "factory", "office"]
EXTRA_WORK = {"shop": ("magasin", "m"), "factory": ("usine", "f"), "office": ("bureau", "m")}

# subjects: en, fr, person ("1s","2p","3s","1p","3p"), gender, en 3rd-person-singular?
SUBJECTS = [
    ("I", "je", "1s", "m"),
    ("He", "il", "3s", "m"),
    ("She", "elle", "3s", "f"),
    ("We", "nous", "1p", "m"),
    ("They", "ils", "3p", "m"),
    ("You", "vous", "2p", "m"),
    ("My brother", "mon frère", "3s", "m"),
    ("My sister", "ma sœur", "3s", "f"),
    ("My father", "mon père", "3s", "m"),
    ("My mother", "ma mère", "3s", "f"),
    ("My uncle", "mon oncle", "3s", "m"),
    ("My aunt", "ma tante", "3s", "f"),
    ("My parents", "mes parents", "3p", "m"),
    ("The children", "les enfants", "3p", "m"),
    ("Marie", "Marie", "3s", "f"),
    ("Paul", "Paul", "3s", "m"),
    ("Sophie", "Sophie", "3s", "f"),
    ("Lucas", "Lucas", "3s", "m"),
    ("Claire", "Claire", "3s", "f"),
    ("Thomas", "Thomas", "3s", "m"),
    ("Julie", "Julie", "3s", "f"),
    ("Antoine", "Antoine", "3s", "m"),
    ("Emma", "Emma", "3s", "f"),
    ("Hugo", "Hugo", "3s", "m"),
]
# French present tense: verb -> {person: form}
CONJ = {
    "aller": {"1s": "vais", "2p": "allez", "3s": "va", "1p": "allons", "3p": "vont"},
    "être": {"1s": "suis", "2p": "êtes", "3s": "est", "1p": "sommes", "3p": "sont"},
    "avoir": {"1s": "ai", "2p": "avez", "3s": "a", "1p": "avons", "3p": "ont"},
    "manger": {"1s": "mange", "2p": "mangez", "3s": "mange", "1p": "mangeons", "3p": "mangent"},
    "boire": {"1s": "bois", "2p": "buvez", "3s": "boit", "1p": "buvons", "3p": "boivent"},
    "aimer": {"1s": "aime", "2p": "aimez", "3s": "aime", "1p": "aimons", "3p": "aiment"},
    "adorer": {"1s": "adore", "2p": "adorez", "3s": "adore", "1p": "adorons", "3p": "adorent"},
    "détester": {"1s": "déteste", "2p": "détestez", "3s": "déteste", "1p": "détestons", "3p": "détestent"},
    "travailler": {
        "1s": "travaille",
        "2p": "travaillez",
        "3s": "travaille",
        "1p": "travaillons",
        "3p": "travaillent",
    },
    "habiter": {"1s": "habite", "2p": "habitez", "3s": "habite", "1p": "habitons", "3p": "habitent"},
}
# English present: (base, 3rd person singular)
EN_VERB = {
    "like": ("like", "likes"),
    "love": ("love", "loves"),
    "hate": ("hate", "hates"),
    "eat": ("eat", "eats"),
    "drink": ("drink", "drinks"),
    "work": ("work", "works"),
    "live": ("live", "lives"),
}


def en_v(verb: str, person: str) -> str:
    base, third = EN_VERB[verb]
    return third if person == "3s" else base


def en_be(person: str) -> str:
    return {"1s": "am", "3s": "is"}.get(person, "are")


def en_do_not(person: str) -> str:
    return "does not" if person == "3s" else "do not"


def fr_sv(subj_fr: str, verb_form: str, neg: bool = False) -> str:
    if not neg:
        return elide(subj_fr, verb_form) if subj_fr == "je" else f"{subj_fr} {verb_form}"
    return f"{subj_fr} {elide('ne', verb_form)} pas"


FOODS = [  # en, fr, gender, eat/drink
    ("bread", "pain", "m", "eat"),
    ("cheese", "fromage", "m", "eat"),
    ("soup", "soupe", "f", "eat"),
    ("rice", "riz", "m", "eat"),
    ("chicken", "poulet", "m", "eat"),
    ("fish", "poisson", "m", "eat"),
    ("salad", "salade", "f", "eat"),
    ("meat", "viande", "f", "eat"),
    ("pasta", "pâtes", "p", "eat"),
    ("jam", "confiture", "f", "eat"),
    ("water", "eau", "f", "drink"),
    ("milk", "lait", "m", "drink"),
    ("coffee", "café", "m", "drink"),
    ("tea", "thé", "m", "drink"),
    ("orange juice", "jus d'orange", "m", "drink"),
    ("wine", "vin", "m", "drink"),
    ("hot chocolate", "chocolat chaud", "m", "drink"),
]
FOOD_TIMES = [
    ("every morning", "tous les matins"),
    ("every day", "tous les jours"),
    ("in the evening", "le soir"),
    ("at breakfast", "au petit-déjeuner"),
    ("at lunch", "au déjeuner"),
    ("", ""),
]

PLURALS = [  # en, fr (with gender irrelevant for les)
    ("cats", "chats"),
    ("dogs", "chiens"),
    ("apples", "pommes"),
    ("strawberries", "fraises"),
    ("flowers", "fleurs"),
    ("vegetables", "légumes"),
    ("trains", "trains"),
    ("museums", "musées"),
    ("mountains", "montagnes"),
    ("horses", "chevaux"),
    ("birds", "oiseaux"),
    ("films", "films"),
    ("books", "livres"),
    ("cakes", "gâteaux"),
    ("tomatoes", "tomates"),
    ("spiders", "araignées"),
    ("holidays", "vacances"),
    ("long walks", "longues promenades"),
]

CITIES = [
    ("London", "Londres"),
    ("Paris", "Paris"),
    ("Rome", "Rome"),
    ("Berlin", "Berlin"),
    ("Lyon", "Lyon"),
    ("Brussels", "Bruxelles"),
    ("Geneva", "Genève"),
    ("Lisbon", "Lisbonne"),
    ("Venice", "Venise"),
    ("Montreal", "Montréal"),
    ("Marseille", "Marseille"),
    ("Quebec", "Québec"),
    ("Nice", "Nice"),
    ("Madrid", "Madrid"),
    ("Athens", "Athènes"),
]
COUNTRIES = [
    ("France", "en France"),
    ("Canada", "au Canada"),
    ("Italy", "en Italie"),
    ("Spain", "en Espagne"),
    ("Japan", "au Japon"),
    ("Portugal", "au Portugal"),
    ("Belgium", "en Belgique"),
    ("Germany", "en Allemagne"),
    ("Mexico", "au Mexique"),
    ("the United States", "aux États-Unis"),
    ("Switzerland", "en Suisse"),
    ("Morocco", "au Maroc"),
]
TIMES_FUT = [
    ("tomorrow", "demain"),
    ("this morning", "ce matin"),
    ("this afternoon", "cet après-midi"),
    ("this evening", "ce soir"),
    ("on Saturday", "samedi"),
    ("next week", "la semaine prochaine"),
    ("on Sunday", "dimanche"),
    ("after school", "après l'école"),
    ("", ""),
]
TIMES_PAST = [
    ("last year", "l'année dernière"),
    ("last summer", "l'été dernier"),
    ("last month", "le mois dernier"),
    ("last week", "la semaine dernière"),
    ("in May", "en mai"),
    ("two years ago", "il y a deux ans"),
    ("yesterday", "hier"),
    ("in December", "en décembre"),
]
NUMBERS = [
    ("two", "deux"),
    ("three", "trois"),
    ("four", "quatre"),
    ("five", "cinq"),
    ("six", "six"),
    ("seven", "sept"),
    ("eight", "huit"),
    ("nine", "neuf"),
    ("ten", "dix"),
    ("eleven", "onze"),
    ("twelve", "douze"),
]

ANIMALS = [
    ("cat", "chat", "m"),
    ("dog", "chien", "m"),
    ("baby", "bébé", "m"),
    ("puppy", "chiot", "m"),
    ("rabbit", "lapin", "m"),
    ("little girl", "petite fille", "f"),
    ("old man", "vieil homme", "m"),
    ("kitten", "chaton", "m"),
    ("little boy", "petit garçon", "m"),
]
FURNITURE = [  # en, fr, gender, prepositions that make sense with it
    ("bed", "lit", "m", ["on", "under", "near", "next to"]),
    ("sofa", "canapé", "m", ["on", "under", "next to"]),
    ("chair", "chaise", "f", ["on", "under", "next to"]),
    ("table", "table", "f", ["on", "under", "near"]),
    ("carpet", "tapis", "m", ["on"]),
    ("window", "fenêtre", "f", ["near", "next to"]),
    ("tree", "arbre", "m", ["under", "near"]),
    ("door", "porte", "f", ["near", "next to"]),
    ("fire", "feu", "m", ["near", "next to"]),
]
PREPS = [("on", "sur"), ("under", "sous"), ("near", "près de"), ("next to", "à côté de")]

PERSON_ADJ = {
    "tired": ("fatigué", "fatiguée", "fatigués"),
    "happy": ("heureux", "heureuse", "heureux"),
    "sad": ("triste", "triste", "tristes"),
    "sick": ("malade", "malade", "malades"),
    "ready": ("prêt", "prête", "prêts"),
    "busy": ("occupé", "occupée", "occupés"),
    "late": ("en retard", "en retard", "en retard"),
    "angry": ("fâché", "fâchée", "fâchés"),
    "worried": ("inquiet", "inquiète", "inquiets"),
    "proud": ("fier", "fière", "fiers"),
}
AVOIR_EXPR = {"hungry": "faim", "thirsty": "soif", "cold": "froid", "hot": "chaud", "afraid": "peur"}

REQUESTS = [
    ("open the window", "ouvrir la fenêtre"),
    ("close the door", "fermer la porte"),
    ("help me", "m'aider"),
    ("repeat that", "répéter"),
    ("speak more slowly", "parler plus lentement"),
    ("call a taxi", "appeler un taxi"),
    ("turn off the light", "éteindre la lumière"),
    ("turn on the radio", "allumer la radio"),
    ("pass the salt", "passer le sel"),
    ("wait here", "attendre ici"),
    ("show me the map", "me montrer la carte"),
    ("bring the bill", "apporter l'addition"),
    ("carry this bag", "porter ce sac"),
    ("write your name here", "écrire votre nom ici"),
]
WOULD_LIKE = [
    ("a coffee", "un café"),
    ("a glass of water", "un verre d'eau"),
    ("a ticket", "un billet"),
    ("a room", "une chambre"),
    ("a table for two", "une table pour deux"),
    ("a croissant", "un croissant"),
    ("a cup of tea", "une tasse de thé"),
    ("a map of the city", "un plan de la ville"),
    ("the menu", "la carte"),
    ("some bread", "du pain"),
    ("a bottle of wine", "une bouteille de vin"),
    ("an ice cream", "une glace"),
    ("two tickets", "deux billets"),
    ("a slice of cake", "une part de gâteau"),
]
ACTIVITIES = [
    ("cook dinner", "préparer le dîner"),
    ("play tennis", "jouer au tennis"),
    ("watch a film", "regarder un film"),
    ("read a book", "lire un livre"),
    ("visit the museum", "visiter le musée"),
    ("learn Spanish", "apprendre l'espagnol"),
    ("clean the kitchen", "nettoyer la cuisine"),
    ("write a letter", "écrire une lettre"),
    ("buy a new car", "acheter une nouvelle voiture"),
    ("play football", "jouer au football"),
    ("paint the house", "peindre la maison"),
    ("take the train", "prendre le train"),
    ("sell the old piano", "vendre le vieux piano"),
]
VEHICLES = [
    ("train", "train", "m"),
    ("bus", "bus", "m"),
    ("plane", "avion", "m"),
    ("boat", "bateau", "m"),
    ("next train", "prochain train", "m"),
    ("last bus", "dernier bus", "m"),
    ("ferry", "ferry", "m"),
]
HOURS = [
    ("one", "une heure"),
    ("two", "deux heures"),
    ("three", "trois heures"),
    ("four", "quatre heures"),
    ("five", "cinq heures"),
    ("six", "six heures"),
    ("seven", "sept heures"),
    ("eight", "huit heures"),
    ("nine", "neuf heures"),
    ("ten", "dix heures"),
    ("eleven", "onze heures"),
]
THERE_ARE = [  # en plural, fr plural, allowed locations (en, fr, g)
    ("cats", "chats", ["garden", "street", "kitchen", "house"]),
    ("children", "enfants", ["garden", "park", "classroom", "street", "pool"]),
    ("trees", "arbres", ["garden", "park", "street"]),
    ("books", "livres", ["bag", "classroom", "kitchen", "box", "house"]),
    ("chairs", "chaises", ["kitchen", "classroom", "garden"]),
    ("cars", "voitures", ["street", "car park"]),
    ("birds", "oiseaux", ["garden", "park", "tree"]),
    ("students", "étudiants", ["classroom", "library"]),
    ("apples", "pommes", ["bag", "kitchen", "box"]),
    ("bedrooms", "chambres", ["house", "apartment"]),
]
LOCS = {
    "garden": ("jardin", "m"),
    "street": ("rue", "f"),
    "kitchen": ("cuisine", "f"),
    "park": ("parc", "m"),
    "classroom": ("salle de classe", "f"),
    "pool": ("piscine", "f"),
    "bag": ("sac", "m"),
    "box": ("boîte", "f"),
    "car park": ("parking", "m"),
    "tree": ("arbre", "m"),
    "library": ("bibliothèque", "f"),
    "house": ("maison", "f"),
    "apartment": ("appartement", "m"),
}


def _fr_sent(s: str, question: bool = False) -> str:
    s = cap(s.strip())
    return s + (" ?" if question else ".")


def trans_patterns():
    objs = {o[0]: o for o in OBJECTS}

    def t_pred(r):
        en, fr, g, tags = r.choice(OBJECTS)
        adj = r.choice(sorted(tags))
        i = 0 if g == "m" else 1
        if en in COLOURED and r.random() < 0.5:
            col = r.choice(sorted(COLOURS))
            return (
                f"The {col} {en} is {adj}.",
                _fr_sent(f"{le(fr, g)} {COLOURS[col][i]} est {PRED[adj][i]}"),
            )
        very = r.random() < 0.3 and adj not in ("open", "closed", "empty", "broken", "new")
        return (
            f"The {en} is {'very ' if very else ''}{adj}.",
            _fr_sent(f"{le(fr, g)} est {'très ' if very else ''}{PRED[adj][i]}"),
        )

    def t_lost(r):
        en, fr, g = r.choice(LOSABLE)
        v_en, v_fr = r.choice(
            [
                ("I have lost my", "j'ai perdu"),
                ("I am looking for my", "je cherche"),
                ("I cannot find my", "je ne trouve pas"),
                ("I found my", "j'ai trouvé"),
            ]
        )
        return f"{v_en} {en}.", _fr_sent(f"{v_fr} {mon(fr, g)}")

    def t_going(r):
        en_s, fr_s, p, _ = r.choice(SUBJECTS)
        pen, pfr, pg = r.choice(PLACES)
        ten, tfr = r.choice(TIMES_FUT)
        be = en_be(p) if en_s != "I" else "am"
        return (
            f"{en_s} {be} going to the {pen}{' ' + ten if ten else ''}.",
            _fr_sent(f"{fr_sv(fr_s, CONJ['aller'][p])} {a_le(pfr, pg)}{' ' + tfr if tfr else ''}"),
        )

    def t_where(r):
        pen, pfr, pg = r.choice(PLACES)
        if r.random() < 0.5:
            return f"Where is the {pen}?", _fr_sent(f"où est {le(pfr, pg)}", True)
        return f"Is there {a_an(pen)} {pen} near here?", _fr_sent(f"y a-t-il {un(pg)} {pfr} près d'ici", True)

    def t_eat(r):
        en_s, fr_s, p, _ = r.choice(SUBJECTS)
        fen, ffr, fg, kind = r.choice(FOODS)
        ten, tfr = r.choice(FOOD_TIMES)
        if fen == "wine" and ten in ("every morning", "at breakfast"):
            ten, tfr = "in the evening", "le soir"
        if en_s == "The children" and fen in ("wine", "coffee"):
            fen, ffr, fg = "milk", "lait", "m"
        neg = r.random() < 0.4
        verb = "manger" if kind == "eat" else "boire"
        vf = CONJ[verb][p]
        if fg == "p":  # plural noun (pâtes)
            obj = "de pâtes" if neg else "des pâtes"
        elif neg:
            obj = elide("de", ffr)
        else:
            obj = partitive(ffr, fg)
        en_verb = f"{en_do_not(p)} {kind}" if neg else en_v(kind, p)
        t_en = f" {ten}" if ten else ""
        t_fr = f" {tfr}" if tfr else ""
        return f"{en_s} {en_verb} {fen}{t_en}.", _fr_sent(f"{fr_sv(fr_s, vf, neg)} {obj}{t_fr}")

    def t_like(r):
        en_s, fr_s, p, _ = r.choice(SUBJECTS)
        pen, pfr = r.choice(PLURALS)
        v, fv = r.choice([("like", "aimer"), ("love", "adorer"), ("hate", "détester"), ("like", "aimer")])
        neg = v == "like" and r.random() < 0.5
        vf = CONJ[fv][p]
        if r.random() < 0.25 and not neg and v != "hate":
            # question
            return (f"Do you {v} {pen}?", _fr_sent(f"{CONJ[fv]['2p']}-vous les {pfr}", True))
        en_verb = f"{en_do_not(p)} {v}" if neg else en_v(v, p)
        return f"{en_s} {en_verb} {pen}.", _fr_sent(f"{fr_sv(fr_s, vf, neg)} les {pfr}")

    def t_weather(r):
        w = r.choice(
            [
                ("It is cold", "il fait froid"),
                ("It is hot", "il fait chaud"),
                ("It is raining", "il pleut"),
                ("It is snowing", "il neige"),
                ("It is windy", "il y a du vent"),
                ("The weather is nice", "il fait beau"),
                ("The weather is bad", "il fait mauvais"),
                ("It is very cold", "il fait très froid"),
                ("It is foggy", "il y a du brouillard"),
            ]
        )
        if r.random() < 0.5:
            c_en, c_fr = r.choice(CITIES)
            return f"{w[0]} in {c_en} today.", _fr_sent(f"{w[1]} à {c_fr} aujourd'hui")
        t = r.choice(
            [
                ("today", "aujourd'hui"),
                ("this morning", "ce matin"),
                ("tonight", "ce soir"),
                ("in the mountains", "à la montagne"),
                ("by the sea", "au bord de la mer"),
            ]
        )
        return f"{w[0]} {t[0]}.", _fr_sent(f"{w[1]} {t[1]}")

    def t_sleep(r):
        aen, afr, ag = r.choice(ANIMALS)
        fen, ffr, fg, preps = r.choice(FURNITURE)
        if aen in ("baby", "little girl", "old man"):
            preps = [p for p in preps if p != "under"] or ["near"]
        pen = r.choice(preps)
        pfr = dict(PREPS)[pen]
        verbs = [("is sleeping", "dort"), ("is sitting", "est assise" if ag == "f" else "est assis")]
        if aen != "old man":
            verbs.append(("is playing", "joue"))
        ven, vfr = r.choice(verbs)
        if pfr in ("près de", "à côté de"):
            loc = pfr[:-3] + " " + de_le(ffr, fg)
        else:
            loc = f"{pfr} {le(ffr, fg)}"
        return f"The {aen} {ven} {pen} the {fen}.", _fr_sent(f"{le(afr, ag)} {vfr} {loc}")

    def t_work(r):
        en_s, fr_s, p, _ = r.choice([x for x in SUBJECTS if x[0] != "The children"])
        w = r.choice(WORKPLACES)
        if w in EXTRA_WORK:
            wfr, wg = EXTRA_WORK[w]
        else:
            _, wfr, wg = next(x for x in PLACES if x[0] == w)
        return (
            f"{en_s} {en_v('work', p)} in {a_an(w)} {w}.",
            _fr_sent(f"{fr_sv(fr_s, CONJ['travailler'][p])} dans {un(wg)} {wfr}"),
        )

    def t_live(r):
        en_s, fr_s, p, _ = r.choice(SUBJECTS)
        if r.random() < 0.5:
            c_en, c_fr = r.choice(CITIES)
            where_en, where_fr = c_en, f"à {c_fr}"
        else:
            where_en, where_fr = r.choice(COUNTRIES)
        return (
            f"{en_s} {en_v('live', p)} in {where_en}.",
            _fr_sent(f"{fr_sv(fr_s, CONJ['habiter'][p])} {where_fr}"),
        )

    def t_leaves(r):
        ven, vfr, vg = r.choice(VEHICLES)
        act = r.choice([("leaves", "part"), ("arrives", "arrive")])
        hen, hfr = r.choice(HOURS)
        part = r.choice([("", ""), (" in the morning", " du matin"), (" in the evening", " du soir")])
        if hen in ("one", "two", "three", "four", "five") and part[0] == " in the evening":
            part = (" in the afternoon", " de l'après-midi")
        oclock = " o'clock" if not part[0] else ""
        return (
            f"The {ven} {act[0]} at {hen}{oclock}{part[0]}.",
            _fr_sent(f"{le(vfr, vg)} {act[1]} à {hfr}{part[1]}"),
        )

    def t_state(r):
        en_s, fr_s, p, g = r.choice(SUBJECTS)
        if r.random() < 0.3:
            k = r.choice(sorted(AVOIR_EXPR))
            very = r.random() < 0.3 and k != "afraid"
            subj = fr_sv(fr_s, CONJ["avoir"][p])
            return (
                f"{en_s} {en_be(p)} {'very ' if very else ''}{k}.",
                _fr_sent(f"{subj} {'très ' if very else ''}{AVOIR_EXPR[k]}"),
            )
        k = r.choice(sorted(PERSON_ADJ))
        m, f, pl = PERSON_ADJ[k]
        if p in ("1p", "3p"):
            form = pl
        elif fr_s == "vous":
            form = m  # polite "vous" addressed to one man
        else:
            form = f if g == "f" else m
        neg = r.random() < 0.25
        if en_s == "You" and not neg:  # "You are ..." is ambiguous in number; use a question instead
            return (f"Are you {k}?", _fr_sent(f"êtes-vous {form}", True))
        vf = CONJ["être"][p]
        en_verb = f"{en_be(p)} not" if neg else en_be(p)
        return f"{en_s} {en_verb} {k}.", _fr_sent(f"{fr_sv(fr_s, vf, neg)} {form}")

    def t_request(r):
        en, fr = r.choice(REQUESTS)
        if r.random() < 0.5:
            return f"Can you {en}, please?", _fr_sent(f"pouvez-vous {fr}, s'il vous plaît", True)
        return f"Could you {en}?", _fr_sent(f"pourriez-vous {fr}", True)

    def t_would_like(r):
        en, fr = r.choice(WOULD_LIKE)
        who = r.choice([("I", "je voudrais"), ("We", "nous voudrions")])
        please = r.random() < 0.5
        return (
            f"{who[0]} would like {en}{', please' if please else ''}.",
            _fr_sent(f"{who[1]} {fr}" + (", s'il vous plaît" if please else "")),
        )

    def t_visited(r):
        en_s, fr_s, p, _ = r.choice(SUBJECTS)
        if r.random() < 0.6:
            c_en, c_fr = r.choice(CITIES)
            ten, tfr = r.choice(TIMES_PAST)
            return f"{en_s} visited {c_en} {ten}.", _fr_sent(
                f"{fr_sv(fr_s, CONJ['avoir'][p])} visité {c_fr} {tfr}"
            )
        pen, pfr, pg = r.choice(
            [x for x in PLACES if x[0] in ("museum", "zoo", "market", "library", "church")]
        )
        ten, tfr = r.choice(TIMES_PAST)
        return (
            f"{en_s} visited the {pen} {ten}.",
            _fr_sent(f"{fr_sv(fr_s, CONJ['avoir'][p])} visité {le(pfr, pg)} {tfr}"),
        )

    def t_bought(r):
        en_s, fr_s, p, _ = r.choice(SUBJECTS)
        en = r.choice(COLOURED)
        _, fr, g, _ = objs[en]
        col = r.choice(sorted(COLOURS))
        i = 0 if g == "m" else 1
        v = r.choice([("bought", "acheté"), ("found", "trouvé"), ("sold", "vendu"), ("chose", "choisi")])
        return (
            f"{en_s} {v[0]} {a_an(col)} {col} {en}.",
            _fr_sent(f"{fr_sv(fr_s, CONJ['avoir'][p])} {v[1]} {un(g)} {fr} {COLOURS[col][i]}"),
        )

    def t_there_are(r):
        pen, pfr, locs = r.choice(THERE_ARE)
        loc = r.choice(locs)
        lfr, lg = LOCS[loc]
        n = r.choice(NUMBERS[:3] if pen == "bedrooms" else NUMBERS + [("many", "beaucoup")])
        num_fr = "beaucoup " + elide("de", pfr) if n[0] == "many" else f"{n[1]} {pfr}"
        return (f"There are {n[0]} {pen} in the {loc}.", _fr_sent(f"il y a {num_fr} dans {le(lfr, lg)}"))

    def t_going_to_do(r):
        en_s, fr_s, p, _ = r.choice(SUBJECTS)
        aen, afr = r.choice(ACTIVITIES)
        ten, tfr = r.choice(TIMES_FUT)
        return (
            f"{en_s} {en_be(p)} going to {aen}{' ' + ten if ten else ''}.",
            _fr_sent(f"{fr_sv(fr_s, CONJ['aller'][p])} {afr}{' ' + tfr if tfr else ''}"),
        )

    def t_have(r):
        en_s, fr_s, p, _ = r.choice(SUBJECTS)
        pen, pfr = r.choice(
            [
                ("cats", "chats"),
                ("books", "livres"),
                ("dogs", "chiens"),
                ("brothers", "frères"),
                ("sisters", "sœurs"),
                ("children", "enfants"),
                ("cousins", "cousins"),
                ("bicycles", "vélos"),
            ]
        )
        n = r.choice(NUMBERS[:5])
        have = "has" if p == "3s" else "have"
        return f"{en_s} {have} {n[0]} {pen}.", _fr_sent(f"{fr_sv(fr_s, CONJ['avoir'][p])} {n[1]} {pfr}")

    return [
        t_pred,
        t_lost,
        t_going,
        t_where,
        t_eat,
        t_like,
        t_weather,
        t_sleep,
        t_work,
        t_live,
        t_leaves,
        t_state,
        t_request,
        t_would_like,
        t_visited,
        t_bought,
        t_there_are,
        t_going_to_do,
        t_have,
    ]


def gen_translation(rng: random.Random) -> tuple[list[dict], list[dict]]:
    pats = trans_patterns()

    def make():
        while True:
            en, fr = rng.choice(pats)(rng)
            en = re.sub(r"\s+", " ", en).strip()
            fr = re.sub(r"\s+", " ", fr).strip()
            if 3 <= len(words(en)) <= 12 and len(words(fr)) <= 14:
                return {"input": en, "output": fr}

    train = _draw(make, N_TRAIN, set(), [])
    seen = {ex["input"] for ex in train}
    test = _draw(make, N_TEST, seen, [wordset(ex["input"]) for ex in train])
    return train, test


# ---------------------------------------------------------------------------------------------
# summarization
# ---------------------------------------------------------------------------------------------

TOWNS = [
    "Millbrook",
    "Ashford",
    "Riverton",
    "Oakdale",
    "Westfield",
    "Brookside",
    "Hillcrest",
    "Lakeview",
    "Stonebridge",
    "Fairhaven",
    "Elmwood",
    "Greenville",
    "Harborview",
    "Kingsley",
    "Maplewood",
    "Northgate",
    "Pinecrest",
    "Silverton",
    "Thornbury",
    "Cedar Falls",
]
FIRST = [
    "Maria",
    "James",
    "Aisha",
    "Daniel",
    "Sofia",
    "Liam",
    "Chen",
    "Olivia",
    "Ravi",
    "Hannah",
    "Lucas",
    "Fatima",
    "Noah",
    "Elena",
    "Samuel",
    "Grace",
    "Mateo",
    "Yara",
    "Peter",
    "Ingrid",
]
LAST = [
    "Lopez",
    "Carter",
    "Okafor",
    "Novak",
    "Rossi",
    "Walsh",
    "Wang",
    "Bennett",
    "Patel",
    "Schmidt",
    "Moreau",
    "Haddad",
    "Kim",
    "Silva",
    "Jensen",
    "Murphy",
    "Costa",
    "Nakamura",
    "Adams",
    "Berg",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def person(r: random.Random) -> tuple[str, str]:
    f, la = r.choice(FIRST), r.choice(LAST)
    return f"{f} {la}", la


def num(n: int) -> str:
    return f"{n:,}"


def s_library(r):
    t, day = r.choice(TOWNS), r.choice(DAYS)
    books = r.choice([8, 12, 15, 20, 25, 30, 40]) * 1000
    yrs = r.randint(2, 9)
    p, _ = person(r)
    extra = r.choice(
        [
            "a children's reading room",
            "a rooftop garden",
            "a small café",
            "free computer classes",
            "a music studio",
            "quiet study rooms",
        ]
    )
    v = r.randint(0, 2)
    if v == 0:
        text = (
            f"The town of {t} opened a new public library on {day}. The building holds {num(books)} books and "
            f"includes {extra}. Mayor {p} said it would be open seven days a week."
        )
        summ = f"{t} has opened a new public library with {num(books)} books."
    elif v == 1:
        text = (
            f"After {yrs} years of planning, {t} finally has a new public library. It opened on {day} with "
            f"{num(books)} books and {extra}. Hundreds of residents visited on the first day."
        )
        summ = f"{t} opened a new public library after {yrs} years of planning."
    else:
        text = (
            f"Hundreds of residents queued outside the new public library in {t} on {day}. Mayor {p} cut the "
            f"ribbon at ten o'clock. The library offers {num(books)} books and {extra}."
        )
        summ = f"A new public library with {num(books)} books opened in {t} on {day}."
    return text, summ


TEAMS = [
    "Riverton Rovers",
    "Ashford United",
    "Millbrook City",
    "Oakdale Athletic",
    "Westfield Wanderers",
    "Harborview Harriers",
    "Kingsley Town",
    "Northgate Rangers",
    "Silverton Stars",
    "Lakeview Lions",
]
COMPS = ["regional cup", "league title", "county championship", "national cup", "spring tournament"]


def s_match(r):
    t1, t2 = r.sample(TEAMS, 2)
    a = r.randint(2, 5)
    b = r.randint(0, a - 1)
    comp, day = r.choice(COMPS), r.choice(DAYS)
    p, last = person(r)
    yrs = r.randint(5, 40)
    crowd = r.choice([4, 6, 8, 10, 12, 15]) * 1000
    v = r.randint(0, 2)
    if v == 0:
        text = (
            f"{t1} beat {t2} {a}-{b} on {day} to win the {comp}. Striker {p} scored twice in the second half. "
            f"It is the club's first trophy in {yrs} years."
        )
        summ = f"{t1} won the {comp} by beating {t2} {a}-{b}."
    elif v == 1:
        text = (
            f"Fans celebrated late into the night on {day}. Their team, {t1}, won the {comp} final against "
            f"{t2}. Captain {p} lifted the trophy in front of {num(crowd)} supporters."
        )
        summ = f"{t1} won the {comp} final against {t2}."
    else:
        text = (
            f"It had been {yrs} years since {t1} last won the {comp}. That wait ended on {day} with a {a}-{b} "
            f"victory over {t2}. Coach {p} called it the proudest day in the club's history."
        )
        summ = f"{t1} beat {t2} {a}-{b} to win the {comp} for the first time in {yrs} years."
    return text, summ


COMPANIES = [
    "Brightline",
    "Novatek",
    "Orbis Labs",
    "Kestrel Systems",
    "Luma Audio",
    "Peakwave",
    "Tidewell",
    "Zephyr Motors",
    "Solvent Tech",
    "Bluefern",
]
PRODUCTS = [
    ("smartwatch", "Pulse"),
    ("electric scooter", "Glide"),
    ("laptop", "Aero"),
    ("pair of headphones", "Echo"),
    ("robot vacuum", "Sweep"),
    ("e-reader", "Folio"),
    ("camera drone", "Skylark"),
    ("wireless speaker", "Boom"),
    ("tablet", "Slate"),
    ("fitness tracker", "Stride"),
]


def s_product(r):
    c = r.choice(COMPANIES)
    ptype, base = r.choice(PRODUCTS)
    pname = f"{base} {r.choice(['2', '3', 'X', 'Pro', 'Mini', 'Max', 'One'])}"
    price = r.choice([79, 99, 149, 199, 249, 299, 399, 499, 799])
    hrs = r.choice([8, 10, 12, 18, 24, 36])
    day = r.choice(DAYS)
    units = r.choice([20, 50, 80, 100, 150]) * 1000
    v = r.randint(0, 2)
    if v == 0:
        text = (
            f"{c} released its new {ptype}, the {pname}, on {day}. It costs {price} dollars and its battery "
            f"lasts {hrs} hours. Early reviews have praised its light design."
        )
        summ = f"{c} has released the {pname}, {a_an(ptype)} {ptype} costing {price} dollars."
    elif v == 1:
        text = (
            f"Shoppers queued outside stores on {day} morning for the {pname}. The new {ptype} from {c} went on "
            f"sale for {price} dollars. The company hopes to sell {num(units)} units in the first month."
        )
        summ = f"The {pname}, a new {ptype} from {c}, went on sale for {price} dollars."
    else:
        text = (
            f"Technology company {c} has announced the {pname}, {a_an(ptype)} {ptype} aimed at students. It will cost "
            f"{price} dollars. A spokesperson said the battery lasts {hrs} hours and the device can be repaired "
            f"at home."
        )
        summ = f"{c} announced the {pname}, a {price}-dollar {ptype} for students."
    return text, summ


ROADS = ["Route 9", "Highway 12", "the coast road", "the mountain pass", "the old valley road", "Route 31"]
CAUSES = [
    ("Heavy snow", "heavy snow", "Snowploughs worked through the night"),
    ("Flooding", "flooding", "Water was more than a metre deep in places"),
    ("A landslide", "a landslide", "Rocks and mud covered both lanes"),
    ("Strong winds", "strong winds", "Several large trees fell across the road"),
    ("Thick ice", "thick ice", "Several cars slid off the road overnight"),
]


def s_road(r):
    road = r.choice(ROADS)
    t1, t2 = r.sample(TOWNS, 2)
    cap_c, low_c, detail = r.choice(CAUSES)
    day, day2 = r.sample(DAYS, 2)
    hrs = r.randint(2, 6)
    rd = cap(road)
    v = r.randint(0, 2)
    if v == 0:
        text = (
            f"{cap_c} closed {road} between {t1} and {t2} on {day}. {detail}. Police told drivers to avoid the "
            f"area until the road is cleared."
        )
        summ = f"{rd} between {t1} and {t2} was closed by {low_c} on {day}."
    elif v == 1:
        text = (
            f"Drivers near {t1} faced long detours on {day}. Officials closed {road}, the main route to {t2}, "
            f"because of {low_c}. {detail}. Crews hope to reopen it by {day2}."
        )
        summ = f"{cap_c} forced officials to close {road} near {t1}."
    else:
        text = (
            f"{rd} will stay closed until at least {day2}, officials said. The road between {t1} and {t2} was "
            f"shut on {day} after {low_c}. Some drivers were stuck for {hrs} hours."
        )
        summ = f"{rd} between {t1} and {t2} remains closed after {low_c}."
    return text, summ


FINDINGS = [
    ("short daily walks improve sleep in older adults", "followed {n} volunteers for {y} years", "walking"),
    ("bees can learn to recognise simple shapes", "tested {n} bees in a series of experiments", "bees"),
    ("a common weed can clean polluted soil", "grew the plant on {n} test plots for {y} years", "weed"),
    (
        "reading aloud helps young children learn new words",
        "worked with {n} children in {y} schools",
        "reading",
    ),
    ("coral reefs can recover faster than expected", "surveyed {n} reefs over {y} years", "coral"),
    ("a new battery material lasts twice as long", "ran {n} charging tests over {y} months", "battery"),
    (
        "city trees lower summer temperatures by several degrees",
        "measured {n} streets over {y} summers",
        "trees",
    ),
    ("drinking more water reduces headaches", "followed {n} volunteers for {y} months", "water"),
]
FIELDS = ["biology", "medicine", "chemistry", "ecology", "psychology", "engineering"]


def s_research(r):
    p, last = person(r)
    uni = r.choice(TOWNS)
    finding, method, _ = r.choice(FINDINGS)
    n = r.choice([40, 60, 120, 200, 350, 500])
    y = r.randint(2, 6)
    method = method.format(n=n, y=y)
    field = r.choice(FIELDS)
    journal = r.choice(["Nature", "Science", "a leading journal", "an international journal"])
    v = r.randint(0, 2)
    if v == 0:
        text = (
            f"Dr {p}, {a_an(field)} {field} researcher at the University of {uni}, published a study on "
            f"{r.choice(DAYS)} showing that {finding}. The team {method}. Dr {last} said more work is needed."
        )
        summ = f"A study by Dr {p} found that {finding}."
    elif v == 1:
        text = (
            f"Scientists at the University of {uni} say that {finding}. The team, led by Dr {p}, {method}. "
            f"The results were published in {journal}."
        )
        summ = f"Researchers at the University of {uni} found that {finding}."
    else:
        text = (
            f"A new study published in {journal} suggests that {finding}. The researchers {method}. Lead author "
            f"Dr {p} hopes the work will lead to practical changes."
        )
        summ = f"New research led by Dr {p} suggests that {finding}."
    if len(words(summ)) > 16:
        summ = f"A new study found that {finding}."
    return text, summ


FEST = [
    ("food", "street food, cooking shows and live music"),
    ("music", "three stages, local bands and fireworks"),
    ("film", "outdoor screenings, director talks and short films"),
    ("kite", "giant kites, workshops for children and a night parade"),
    ("flower", "rose gardens, flower markets and a photo contest"),
    ("book", "author readings, poetry slams and a second-hand book market"),
    ("jazz", "late-night concerts, dance lessons and street performers"),
]


def s_festival(r):
    t = r.choice(TOWNS)
    kind, things = r.choice(FEST)
    n = r.choice([5, 8, 10, 12, 15, 20, 30])
    yrs = r.randint(10, 50)
    v = r.randint(0, 2)
    if v == 0:
        text = (
            f"More than {num(n * 1000)} people attended the {t} {kind} festival this weekend. Visitors enjoyed "
            f"{things}. Organisers said it was the busiest festival in its {yrs}-year history."
        )
        summ = f"The {t} {kind} festival drew more than {num(n * 1000)} visitors this weekend."
    elif v == 1:
        text = (
            f"The {t} {kind} festival celebrated its {yrs}th year this weekend. Around {num(n * 1000)} visitors "
            f"came for {things}. Local hotels reported that every room was booked."
        )
        summ = f"Around {num(n * 1000)} people attended the {yrs}th {t} {kind} festival."
    else:
        text = (
            f"Streets in {t} were packed this weekend as the annual {kind} festival returned. The programme "
            f"included {things}. Organisers counted about {num(n * 1000)} visitors, a new record."
        )
        summ = f"The annual {kind} festival in {t} set a record with {num(n * 1000)} visitors."
    return text, summ


BRIDGES = ["Victoria", "Old Mill", "Harbour", "King Street", "Riverside", "North", "Station"]


def s_bridge(r):
    b, t = r.choice(BRIDGES), r.choice(TOWNS)
    m = r.randint(3, 18)
    cost = r.choice([2, 3, 4, 5, 8, 12])
    day = r.choice(DAYS)
    work = r.choice(
        [
            "replaced the old steel cables",
            "repaired cracks in the main arch",
            "rebuilt the road surface",
            "strengthened the supports",
        ]
    )
    v = r.randint(0, 1)
    if v == 0:
        text = (
            f"The {b} Bridge in {t} reopened on {day} after {m} months of repairs. Workers {work} and widened "
            f"the footpath. The repairs cost {cost} million dollars."
        )
        summ = f"The {b} Bridge in {t} reopened after {m} months and {cost} million dollars of repairs."
    else:
        text = (
            f"Buses and cyclists are once again crossing the {b} Bridge in {t}. The bridge had been closed for "
            f"{m} months while workers {work}. Engineers say it should last another fifty years."
        )
        summ = f"The {b} Bridge in {t} is open again after {m} months of repairs."
    return text, summ


EXHIBITS = [
    ("History", "ancient Egyptian jewellery"),
    ("History", "Viking tools and weapons"),
    ("Art", "early photographs"),
    ("Natural History", "dinosaur fossils"),
    ("Art", "Japanese prints"),
    ("Science", "space exploration models"),
    ("Art", "modern sculpture"),
    ("History", "Roman coins"),
]


def s_museum(r):
    t = r.choice(TOWNS)
    kind, thing = r.choice(EXHIBITS)
    n = r.choice([150, 200, 300, 400, 500])
    price = r.choice([8, 10, 12, 15])
    day = r.choice(DAYS)
    month = r.choice(MONTHS)
    v = r.randint(0, 1)
    if v == 0:
        text = (
            f"The {t} Museum of {kind} will open an exhibition of {thing} on {day}. The show includes more than "
            f"{n} objects, some never displayed before. Tickets cost {price} dollars, and children enter free."
        )
        summ = f"An exhibition of {thing} opens at the {t} Museum of {kind} on {day}."
    else:
        text = (
            f"More than {n} objects, some never seen in public, will go on display in {t} this {month}. The "
            f"exhibition of {thing} opens at the Museum of {kind}. Curator {person(r)[0]} spent three years "
            f"preparing it."
        )
        summ = f"An exhibition of {thing} opens in {t} this {month}."
    return text, summ


BREADS = ["sourdough", "rye bread", "croissants", "baguettes", "cinnamon rolls", "apple pie"]


def s_bakery(r):
    t = r.choice(TOWNS)
    owner, last = person(r)
    bread = r.choice(BREADS)
    rivals = r.choice([200, 300, 450, 600])
    v = r.randint(0, 1)
    if v == 0:
        text = (
            f"{last}'s Bakery in {t} has won the national award for the best {bread}. Owner {owner} bakes "
            f"everything by hand, starting at four each morning. The judges praised its rich flavour."
        )
        summ = f"A bakery in {t} won a national award for the best {bread}."
    else:
        text = (
            f"A small family bakery in {t} beat {rivals} rivals this week. {last}'s Bakery was named the "
            f"national winner for the best {bread}. Owner {owner} said the queue now reaches the end of the "
            f"street."
        )
        summ = f"A family bakery in {t} was named the national winner for the best {bread}."
    return text, summ


PROJECTS = [
    (
        "build {n} kilometres of new bike lanes",
        "{n} kilometres of new bike lanes",
        "Supporters say the lanes will make streets safer for children",
    ),
    ("build a new skate park", "a new skate park", "Teenagers had campaigned for it for years"),
    (
        "put solar panels on every school",
        "solar panels on every school",
        "The panels should cut energy bills by a third",
    ),
    (
        "open a new bus route to the hospital",
        "a new bus route to the hospital",
        "Patients had complained about long journeys",
    ),
    (
        "plant {h} trees along the river",
        "{h} new trees along the river",
        "The trees will provide shade and reduce flooding",
    ),
    (
        "repair every playground in town",
        "repairs to every playground in town",
        "Many swings and slides are more than thirty years old",
    ),
]


def s_council(r):
    t = r.choice(TOWNS)
    act, noun, reason = r.choice(PROJECTS)
    n = r.randint(3, 12)
    act, noun = act.format(n=n, h=num(n * 100)), noun.format(n=n, h=num(n * 100))
    yes = r.randint(6, 12)
    no = r.randint(1, yes - 2)
    day, month = r.choice(DAYS[:5]), r.choice(MONTHS)
    v = r.randint(0, 1)
    if v == 0:
        text = (
            f"The {t} city council voted {yes} to {no} on {day} to {act}. {reason}. Work will begin in "
            f"{month}."
        )
        summ = f"{t} council approved plans to {act}."
    else:
        text = (
            f"{reason}, according to local residents. On {day}, the {t} city council agreed to {act}. The vote "
            f"was {yes} to {no}, and work is due to start in {month}."
        )
        summ = f"The {t} city council voted {yes} to {no} for {noun}."
    if len(words(summ)) > 16:
        summ = f"{t} council approved {noun}."
    return text, summ


def s_strike(r):
    t1, t2 = r.sample(TOWNS, 2)
    day = r.choice(DAYS)
    who = r.choice([("Train drivers", "trains", "train"), ("Bus drivers", "buses", "bus")])
    reason = r.choice(["pay", "working hours", "safety concerns", "staff shortages"])
    v = r.randint(0, 1)
    if v == 0:
        text = (
            f"{who[0]} between {t1} and {t2} will strike on {day} over {reason}. The operator said no "
            f"{who[1]} would run on the route all day. Passengers are advised to work from home if possible."
        )
        summ = f"A {who[2]} strike over {reason} will stop {who[1]} between {t1} and {t2} on {day}."
    else:
        text = (
            f"Commuters in {t1} should expect major disruption on {day}. {who[0]} plan a one-day strike over "
            f"{reason}, and no {who[1]} will run to {t2}. Talks with the operator broke down last week."
        )
        summ = f"{who[0]} will strike on {day}, stopping {who[1]} between {t1} and {t2}."
    return text, summ


def s_fire(r):
    t = r.choice(TOWNS)
    kind = r.choice(["furniture", "paper", "toy", "clothing", "tyre", "electronics"])
    day = r.choice(DAYS)
    ff = r.choice([20, 30, 40, 60, 80])
    hrs = r.randint(3, 9)
    v = r.randint(0, 1)
    if v == 0:
        text = (
            f"A fire broke out at a {kind} warehouse in {t} early on {day}. About {ff} firefighters fought the "
            f"blaze for {hrs} hours. No one was hurt, but most of the stock was destroyed."
        )
        summ = f"A fire destroyed most of the stock at a {kind} warehouse in {t}."
    else:
        text = (
            f"Residents in {t} woke to thick smoke on {day}. A fire at a {kind} warehouse took {ff} "
            f"firefighters {hrs} hours to bring under control. Nobody was injured, and the cause is still "
            f"unknown."
        )
        summ = f"Firefighters spent {hrs} hours fighting a fire at a {kind} warehouse in {t}."
    return text, summ


def s_marathon(r):
    t = r.choice(TOWNS)
    runner, last = person(r)
    h, m = r.choice([2]), r.randint(5, 29)
    n = r.choice([3, 5, 8, 12, 20])
    day = r.choice(["Saturday", "Sunday"])
    v = r.randint(0, 1)
    if v == 0:
        text = (
            f"{runner} won the {t} marathon on {day} in {h} hours and {m} minutes. The time is a new course "
            f"record. More than {num(n * 1000)} runners took part."
        )
        summ = f"{runner} won the {t} marathon and set a new course record."
    else:
        text = (
            f"More than {num(n * 1000)} runners lined up for the {t} marathon on {day}. {runner} took the "
            f"lead after thirty kilometres and never looked back. The winning time of {h} hours and {m} minutes "
            f"broke the course record."
        )
        summ = f"{runner} broke the course record to win the {t} marathon."
    return text, summ


SCIENCE = [
    "how music affects plant growth",
    "a cheap water filter made from sand",
    "ways to keep bread fresh longer",
    "a robot that sorts recycling",
    "how ants find food",
    "a solar oven built from old boxes",
]


def s_student(r):
    t = r.choice(TOWNS)
    first = r.choice(["Maya", "Leo", "Amara", "Ethan", "Zara", "Oscar", "Nina", "Kai"])
    she = "She" if first in ("Maya", "Amara", "Zara", "Nina") else "He"
    her = "Her" if she == "She" else "His"
    age = r.randint(12, 17)
    proj = r.choice(SCIENCE)
    prize = r.choice([2, 5, 10])
    v = r.randint(0, 1)
    if v == 0:
        text = (
            f"{first}, a {age}-year-old student from {t}, won first prize at the national science fair. {her} "
            f"project studied {proj}. {she} will receive a scholarship of {num(prize * 1000)} dollars."
        )
        summ = f"A {age}-year-old student from {t} won first prize at the national science fair."
    else:
        text = (
            f"A project on {proj} has earned {first} from {t} first prize at the national science fair. The "
            f"judges praised the careful experiments. {she} is only {age} years old."
        )
        summ = f"{first}, {age}, won the national science fair with a project on {proj}."
    if len(words(summ)) > 16:
        summ = f"{first}, {age}, from {t} won first prize at the national science fair."
    return text, summ


CLEANUP = ["Riverside Park", "North Beach", "the old harbour", "Willow Lake", "the town canal", "South Beach"]


def s_cleanup(r):
    t = r.choice(TOWNS)
    place = r.choice(CLEANUP)
    n = r.choice([40, 60, 75, 90, 120, 150])
    bags = r.choice([50, 80, 100, 140, 200])
    day = r.choice(["Saturday", "Sunday"])
    v = r.randint(0, 1)
    if v == 0:
        text = (
            f"About {n} volunteers gathered at {place} in {t} on {day} morning. In four hours they collected "
            f"{bags} bags of rubbish, including old tyres and a shopping trolley. The group plans another "
            f"clean-up next month."
        )
        summ = f"Volunteers collected {bags} bags of rubbish at {place} in {t}."
    else:
        text = (
            f"{cap(place)} in {t} looks cleaner after a busy {day}. A team of {n} volunteers filled {bags} bags "
            f"with plastic, glass and cans. Local shops donated gloves and lunch."
        )
        summ = f"{n} volunteers filled {bags} bags of rubbish at {place} in {t}."
    return text, summ


def s_fog(r):
    t = r.choice(TOWNS)
    day = r.choice(DAYS)
    n = r.choice([30, 40, 50, 70, 90])
    hrs = r.randint(3, 8)
    cause = r.choice(["Thick fog", "A snowstorm", "A power cut", "A computer failure"])
    v = r.randint(0, 1)
    if v == 0:
        text = (
            f"{cause} delayed {n} flights at {t} Airport on {day}. Some passengers waited more than {hrs} hours "
            f"for news. The airport said flights returned to normal by the evening."
        )
        summ = f"Flights at {t} Airport were delayed on {day} because of {cause.lower()}."
    else:
        text = (
            f"Passengers at {t} Airport faced long waits on {day}. {cause} held up {n} flights, some by more "
            f"than {hrs} hours. Staff handed out free water and snacks."
        )
        summ = f"{n} flights at {t} Airport were held up by {cause.lower()}."
    return text, summ


GOODS = [
    "bicycles",
    "solar panels",
    "kitchen furniture",
    "electric buses",
    "medical equipment",
    "wind turbines",
]


def s_factory(r):
    t = r.choice(TOWNS)
    c = r.choice(COMPANIES)
    goods = r.choice(GOODS)
    jobs = num(r.choice([2, 3, 4, 5, 6, 8]) * 100)
    day, month = r.choice(DAYS), r.choice(MONTHS)
    v = r.randint(0, 1)
    if v == 0:
        text = (
            f"{c}, a maker of {goods}, announced on {day} that it will open a new factory in {t}. The plant will "
            f"create about {jobs} jobs. Construction is due to start in {month}."
        )
        summ = f"{c} will open a factory in {t}, creating about {jobs} jobs."
    else:
        text = (
            f"About {jobs} new jobs are coming to {t}. {c} plans to build a factory there to make "
            f"{goods}. The mayor called it the best news for the town in a decade."
        )
        summ = f"A new {c} factory will bring about {jobs} jobs to {t}."
    return text, summ


def s_fares(r):
    t = r.choice(TOWNS)
    a = r.choice([1.5, 2.0, 2.5, 3.0])
    b = a + r.choice([0.25, 0.5, 0.75])
    month = r.choice(MONTHS)
    reason = r.choice(["higher fuel costs", "rising wages", "the cost of new electric buses"])
    v = r.randint(0, 1)
    if v == 0:
        text = (
            f"Bus fares in {t} will rise from {a:.2f} to {b:.2f} dollars in {month}. The transport authority "
            f"blamed {reason}. Students and pensioners will keep their discounts."
        )
        summ = f"Bus fares in {t} will rise to {b:.2f} dollars because of {reason}."
    else:
        text = (
            f"The transport authority in {t} says {reason} have left it short of money. As a result, a single "
            f"bus ticket will cost {b:.2f} dollars from {month}, up from {a:.2f}."
        )
        text = text.replace("the cost of new electric buses have", "the cost of new electric buses has")
        summ = f"A bus ticket in {t} will cost {b:.2f} dollars from {month}."
    return text, summ


RESCUES = [
    ("cat", "stuck at the top of a tall tree"),
    ("dog", "trapped in a storm drain"),
    ("horse", "stuck in a muddy ditch"),
    ("goat", "stranded on a cliff ledge"),
    ("puppy", "trapped under a garden shed"),
]


def s_rescue(r):
    t = r.choice(TOWNS)
    animal, where = r.choice(RESCUES)
    days = r.randint(2, 6)
    owner, _ = person(r)
    day = r.choice(DAYS)
    v = r.randint(0, 1)
    if v == 0:
        text = (
            f"Firefighters in {t} rescued a {animal} that was {where} on {day}. The {animal} had been missing "
            f"for {days} days. Its owner, {owner}, thanked the crew with a box of cakes."
        )
        summ = f"Firefighters in {t} rescued a {animal} that had been missing for {days} days."
    else:
        text = (
            f"A {animal} that went missing {days} days ago is safely home in {t}. Walkers heard it on {day} and "
            f"called firefighters, who found it {where}. The {animal} was tired but unhurt."
        )
        summ = f"A missing {animal} was found {where} and rescued in {t}."
    return text, summ


def s_hospital(r):
    t = r.choice(TOWNS)
    wing = r.choice(["children's wing", "cancer centre", "emergency department", "maternity unit"])
    beds = r.choice([40, 60, 80, 100, 120])
    cost = r.choice([15, 20, 30, 45, 60])
    day = r.choice(DAYS)
    v = r.randint(0, 1)
    if v == 0:
        text = (
            f"{t} General Hospital opened its new {wing} on {day}. The {cost}-million-dollar building adds "
            f"{beds} beds. Doctors say waiting times should fall by half."
        )
        summ = f"{t} General Hospital opened a new {wing} with {beds} beds."
    else:
        text = (
            f"Patients in {t} should soon wait less for care. A new {wing} with {beds} beds opened at the "
            f"general hospital on {day}. It cost {cost} million dollars and took two years to build."
        )
        summ = f"A new {wing} with {beds} beds has opened at the {t} hospital."
    return text, summ


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

    train = _draw(make, N_TRAIN, set(), [], self_sim=0.85)
    seen = {ex["input"] for ex in train}
    test = _draw(make, N_TEST, seen, [wordset(ex["input"]) for ex in train], self_sim=0.85)
    return train, test


# ---------------------------------------------------------------------------------------------


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
