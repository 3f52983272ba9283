"""Summarization event generators, community news: library, festival, museum, bakery, council
projects, student prize, beach/park clean-up.  Each generator returns ``(text, summary)``.
"""

# ruff: noqa: E501  (long f-strings hold whole template sentences; kept on one line for readability)
from __future__ import annotations

from .common import cap, words
from .people import DAYS, MONTHS, TOWNS, num, person


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
