"""Helpers the hand-written expectation tests share: where a position sits, read from the raw text.

They read the layout independently of the parser (a heading line "一、…(由市X牽頭實施)" opens
an area, a line "(一)…" an article), so the tests check the parser against the text itself.
"""

from __future__ import annotations

import re
from decimal import Decimal

AREA_LINE = re.compile(r"[一二三四五六七八九十]+、.*(?:牽頭實施|牵头实施)[)）]$")
ARTICLE_LINE = re.compile(r"[(（][一二三四五六七八九十]+[)）]")


def article_and_area(text: str, position: int, closing: str | None = None) -> tuple[int | None, int | None]:
    """(article, area) of `position`, numbered by their order in the text; (None, None) from `closing` on."""
    if closing is not None and position >= text.index(closing):
        return None, None
    article = area = None
    articles_seen = areas_seen = 0
    for line in re.finditer(r"^.*$", text, flags=re.MULTILINE):
        if line.start() > position:
            break
        if AREA_LINE.match(line[0]):
            areas_seen += 1
            area, article = areas_seen, None
        elif ARTICLE_LINE.match(line[0]):
            articles_seen += 1
            article = articles_seen
    return article, area


def check_parsed(found: list, index: int, entry: dict, name: str, kind: str) -> None:
    """The parser's `index`-th amount or rate against a hand-written entry of its YAML."""
    assert index < len(found), f"{name}: the parser found only {len(found)} {kind}"
    parsed = found[index]
    assert parsed.text in entry["clause"], f"{name}: parser's {kind[:-1]} #{index} is {parsed.text!r}"
    assert parsed.value == Decimal(entry["value"]), name
    assert parsed.qualifier.value == entry["qualifier"], name
    assert (parsed.article, parsed.area) == (entry["article"], entry["area"]), name
    if kind == "amounts":
        assert parsed.currency == entry.get("currency", "CNY"), name
        assert parsed.per == entry["per"], name
