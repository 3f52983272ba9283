"""Summarization event generators, transport and emergencies: road closure, bridge, strike, fog, fares,
fire, rescue, hospital.  Each generator returns ``(text, summary)``.
"""

# ruff: noqa: E501  (long f-strings hold whole template sentences; kept on one line for readability)
from __future__ import annotations

from .common import cap
from .people import DAYS, MONTHS, TOWNS, person

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
