"""Translation task (English -> French): sentence patterns built compositionally, with explicit
gender/number agreement, from the tables in ``translation_words`` / ``translation_phrases``, and the
generator of the train/test splits.
"""

from __future__ import annotations

import random
import re

from .common import N_TEST, N_TRAIN, a_an, cap, draw, words, wordset
from .translation_grammar import (
    CONJ,
    SUBJECTS,
    a_le,
    de_le,
    elide,
    en_be,
    en_do_not,
    en_v,
    fr_sv,
    le,
    mon,
    partitive,
    un,
)
from .translation_phrases import (
    ACTIVITIES,
    ANIMALS,
    AVOIR_EXPR,
    CITIES,
    COUNTRIES,
    FURNITURE,
    HOURS,
    LOCS,
    NUMBERS,
    PERSON_ADJ,
    PREPS,
    REQUESTS,
    THERE_ARE,
    TIMES_FUT,
    TIMES_PAST,
    VEHICLES,
    WOULD_LIKE,
)
from .translation_words import (
    COLOURED,
    COLOURS,
    EXTRA_WORK,
    FOOD_TIMES,
    FOODS,
    LOSABLE,
    OBJECTS,
    PLACES,
    PLURALS,
    PRED,
    WORKPLACES,
)


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

    train = draw(make, N_TRAIN, set(), [])
    seen = {ex["input"] for ex in train}
    test = draw(make, N_TEST, seen, [wordset(ex["input"]) for ex in train])
    return train, test
