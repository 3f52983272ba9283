"""Summarization event generators, sport, business and science: match, marathon, product launch,
research finding, factory.  Each generator returns ``(text, summary)``.
"""

# ruff: noqa: E501  (long f-strings hold whole template sentences; kept on one line for readability)
from __future__ import annotations

from .common import a_an, words
from .people import DAYS, MONTHS, TOWNS, num, person

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
