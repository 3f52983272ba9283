"""French grammar helpers of the translation task (articles with elision and contraction, subjects,
present-tense conjugations) and their English counterparts.
"""

from __future__ import annotations

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
