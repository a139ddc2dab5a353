"""A Document as plain JSON-ready data; the schema is documented in docs/parse-json.md.

Money and other values are decimal strings ("15000", "6.5", "2/3"), never floats.
Offsets (`start`, `end`) always index the original text, even when the words are
shown in Simplified script.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from zhida.source.model import Amount, Area, Article, BudgetPart, Document, Indicator, Rate, Sentence, Task
from zhida.source.numerals import format_value
from zhida.source.script import display

SCHEMA_VERSION = 1


def document_to_dict(document: Document, simplified: bool = False) -> dict[str, Any]:
    def words(text: str | None) -> str | None:
        return None if text is None else display(text, simplified)

    def sentence(item: Sentence) -> dict[str, Any]:
        return {"index": item.index, "start": item.span.start, "end": item.span.end, "text": words(item.text)}

    def article(item: Article) -> dict[str, Any]:
        return {
            "number": item.number,
            "title": words(item.title),
            "start": item.span.start,
            "end": item.span.end,
            "text": words(item.text),
            "sentences": [sentence(s) for s in item.sentences],
            "departments": [words(name) for name in item.departments],
            "tasks": [task(t) for t in tasks_of.get(item.span.start, [])],
            "indicators": [indicator(i) for i in indicators_of.get(item.span.start, [])],
        }

    def area(item: Area) -> dict[str, Any]:
        return {
            "number": item.number,
            "title": words(item.title),
            "department": words(item.department),
            "budget": _money(item.budget),
            "budget_article": item.budget_article,
            "budget_parts": [budget_part(part) for part in item.budget_parts],
            "start": item.span.start,
            "end": item.span.end,
            "goals": [sentence(s) for s in item.goals],
            "goal_tasks": [task(t) for t in goal_tasks_of.get(item.span.start, [])],
            "goal_indicators": [indicator(i) for i in goal_indicators_of.get(item.span.start, [])],
            "articles": [article(a) for a in item.articles],
        }

    def budget_part(item: BudgetPart) -> dict[str, Any]:
        return {
            "purpose": words(item.purpose),
            "value": _money(item.value),
            "text": words(item.written),
            "start": item.span.start,
            "end": item.span.end,
        }

    def amount(item: Amount) -> dict[str, Any]:
        return {
            "value": _money(item.value),
            "currency": item.currency,
            "qualifier": item.qualifier.value,
            "per": words(item.per),
            "text": words(item.text),
            "budget": document.is_budget(item),
            **_place(item),
        }

    def rate(item: Rate) -> dict[str, Any]:
        return {"value": _money(item.value), "qualifier": item.qualifier.value, "text": words(item.text), **_place(item)}

    def task(item: Task) -> dict[str, Any]:
        return {"kind": item.kind.value, "text": words(item.text), "department": words(item.department), **_place(item)}

    def indicator(item: Indicator) -> dict[str, Any]:
        return {
            "name": words(item.name),
            "value": format_value(item.value),
            "value_high": None if item.value_high is None else format_value(item.value_high),
            "unit": words(item.unit),
            "written": words(item.written),
            "direction": item.direction.value,
            "year": item.year,
            "department": words(item.department),
            "text": words(item.text),
            **_place(item),
        }

    tasks_of = _by_article(document, document.tasks)
    indicators_of = _by_article(document, document.indicators)
    goal_tasks_of = _by_area_goals(document, document.tasks)
    goal_indicators_of = _by_area_goals(document, document.indicators)
    preamble = document.preamble
    budgets = [a.budget for a in document.areas if a.budget is not None]
    return {
        "schema": SCHEMA_VERSION,
        "script": "simplified" if simplified else "original",
        "preamble": {
            "title": words(preamble.title),
            "issuer": words(preamble.issuer),
            "issued": preamble.issued.isoformat() if preamble.issued else None,
            "addressees": words(preamble.addressees),
            "implements": words(preamble.implements),
            "valid_from": preamble.valid_from.isoformat() if preamble.valid_from else None,
            "valid_to": preamble.valid_to.isoformat() if preamble.valid_to else None,
            "year": preamble.year,
        },
        "areas": [area(a) for a in document.areas],
        "amounts": [amount(a) for a in document.amounts],
        "rates": [rate(r) for r in document.rates],
        "indicators": [indicator(i) for i in document.indicators],
        "tasks": [task(t) for t in document.tasks],
        "budget_total": _money(sum(budgets, Decimal(0))) if budgets else None,
        "stated_total": _money(document.stated_total),
        "total_excludes_overlap": document.total_excludes_overlap,
        "notes": list(document.notes),
        "warnings": list(document.warnings),
    }


def _place(item: Amount | Rate | Indicator | Task) -> dict[str, Any]:
    return {
        "start": item.span.start,
        "end": item.span.end,
        "sentence": item.sentence,
        "article": item.article,
        "area": item.area,
    }


def _by_article(document: Document, items: Sequence[Task] | Sequence[Indicator]) -> dict[int, list[Any]]:
    """Items grouped by the start of the article whose paragraph holds them (one bisection each:
    article numbers may repeat in a corpus, positions do not)."""
    articles = document.articles
    starts = [article.span.start for article in articles]
    grouped: dict[int, list[Any]] = {}
    for item in items:
        index = bisect.bisect_right(starts, item.span.start) - 1
        if item.article is not None and index >= 0 and item.span.start < articles[index].span.end:
            grouped.setdefault(starts[index], []).append(item)
    return grouped


def _by_area_goals(document: Document, items: Sequence[Task] | Sequence[Indicator]) -> dict[int, list[Any]]:
    """Items of the areas' goal paragraphs (article null), grouped by the start of their area."""
    starts = [area.span.start for area in document.areas]
    grouped: dict[int, list[Any]] = {}
    for item in items:
        index = bisect.bisect_right(starts, item.span.start) - 1
        if item.article is None and index >= 0:
            grouped.setdefault(starts[index], []).append(item)
    return grouped


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format_value(value)
