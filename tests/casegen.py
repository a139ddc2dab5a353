"""Random but valid cases over every event type of a pack, dense around the bounds that matter.

Used to check that the batch query and the single-case calculator agree. Values
are drawn near the document's thresholds and caps (6000元, 2000元/件, 500元,
20萬元, 100萬元, 5%) and dates near the edges of 2025, where mistakes hide.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from zhida.engine.calculate import TAX_YEAR_FIELD
from zhida.engine.case import Case, Event, Subject
from zhida.rules.model import EventField, FieldType
from zhida.rules.pack import Pack

MONEY_POINTS = [0, 1, 2000, 2500, 3333.33, 3333.34, 5999.99, 6000, 6000.01, 9999.99, 10000, 10000.01,
                13333.33, 13333.34, 80000.01, 150000, 333333.33, 400000, 1666666.67, 2000000]
# Tax years around the national preferences' window (2020–2025, by tax year, not filing date).
TAX_YEAR_POINTS = [2019, 2020, 2024, 2025, 2026]
DATE_POINTS = [dt.date(2024, 12, 31), dt.date(2025, 1, 1), dt.date(2025, 12, 31), dt.date(2026, 1, 1)]


def random_money(rng: random.Random) -> Decimal:
    if rng.random() < 0.4:
        return Decimal(str(rng.choice(MONEY_POINTS))).quantize(Decimal("0.01"))
    return (Decimal(rng.randrange(0, 300_000_000)) / 100).quantize(Decimal("0.01"))


def random_value(field: EventField, rng: random.Random, carriers: list[str]):
    if field.type is FieldType.MONEY:
        return random_money(rng)
    if field.type is FieldType.NUMBER:
        return Decimal(rng.randrange(0, 10_000)) / 100
    if field.name == TAX_YEAR_FIELD:
        return rng.choice(TAX_YEAR_POINTS)
    if field.type is FieldType.INTEGER:
        return rng.randint(int(field.minimum or 0), 8)
    if field.type is FieldType.CHOICE:
        return rng.choice(field.values)
    if field.type is FieldType.FLAG:
        return rng.random() < 0.8
    return rng.choice(carriers)


def random_date(rng: random.Random) -> dt.date:
    if rng.random() < 0.1:
        return rng.choice(DATE_POINTS)
    return dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(365))


def random_case(pack: Pack, index: int, rng: random.Random) -> Case:
    kind = rng.choice(sorted(pack.subjects))
    types = [event for event in pack.events.values() if kind in event.subjects]
    subject = Subject(id=f"S{index:06d}", kind=kind, name=f"主体{index}")
    # A few types repeated many times, so annual caps fill up.
    favourites = rng.sample(types, k=min(2, len(types)))
    carriers = [f"载体{rng.randrange(2)}" for _ in range(2)]
    events = []
    # One case in ten is a burst: many claims of one type with its first choices, which fills a
    # carrier's or a subject's annual cap (e.g. 12 cultivated high-tech firms × 3萬 > 30萬).
    burst = rng.random() < 0.1
    for number in range(rng.randint(10, 20) if burst else rng.randint(1, 8)):
        event_type = favourites[0] if burst else rng.choice(favourites) if rng.random() < 0.7 else rng.choice(types)
        values = {field.name: random_value(field, rng, carriers) for field in event_type.fields}
        if burst:
            values.update({f.name: f.values[0] for f in event_type.fields if f.type is FieldType.CHOICE})
            values.update({f.name: True for f in event_type.fields if f.type is FieldType.FLAG})
        events.append(Event(id=f"e{rng.randrange(100):02d}{number}", type=event_type.name, date=random_date(rng), values=values))
    return Case(name=subject.id, subject=subject, events=tuple(events))


def random_cases(pack: Pack, count: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    return [random_case(pack, index, rng) for index in range(count)]
