"""Town, person, day and month tables and the number formatting used by the summarization generators."""

from __future__ import annotations

import random

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
