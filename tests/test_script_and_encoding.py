"""Simplified script, full-width punctuation and GBK bytes give the same structure.

Offsets always index the text as given; only the words change script.
"""

from __future__ import annotations

import random

import pytest
from conftest import HUZHOU

from zhida.source import Document, parse_bytes, parse_text
from zhida.source.numerals import format_value
from zhida.source.script import half_width, to_simplified

FULL_WIDTH = str.maketrans({",": "，", ";": "；", ":": "：", "(": "（", ")": "）", "%": "％"})


def shape(document: Document) -> dict:
    """Everything but the script of the words."""
    return {
        "preamble": (document.preamble.issued, document.preamble.valid_from, document.preamble.valid_to),
        "areas": [(a.number, a.budget, [x.number for x in a.articles]) for a in document.areas],
        "amounts": [(a.value, a.currency, a.qualifier, a.per and to_simplified(a.per), a.article, a.span) for a in document.amounts],
        "rates": [(r.value, r.qualifier, r.article, r.span) for r in document.rates],
        "indicators": [
            (half_width(to_simplified(i.name)), format_value(i.value), i.direction, to_simplified(i.unit), i.article, i.span)
            for i in document.indicators
        ],
        "titles": [to_simplified(a.title) for a in document.articles],
        "total": document.stated_total,
        "warnings": document.warnings,
    }


@pytest.fixture(scope="module")
def original() -> str:
    return HUZHOU.read_text(encoding="utf-8")


def test_simplified_full_width_text_parses_the_same(huzhou, original):
    simplified = to_simplified(original).translate(FULL_WIDTH)
    assert "（一）推动高能级科创平台提质增效" in simplified
    document = parse_text(simplified)
    assert shape(document) == shape(huzhou)
    assert document.articles[16].title == "更大力度支持消费品以旧换新"
    assert document.areas[0].department == "市科技局"


def test_mixed_punctuation_parses_the_same(huzhou, original):
    chooser = random.Random(20250314)
    mixed = "".join(c.translate(FULL_WIDTH) if chooser.random() < 0.5 else c for c in original)
    assert shape(parse_text(mixed)) == shape(huzhou)


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig"])
def test_encodings_are_detected(huzhou, original, encoding):
    text = to_simplified(original) if encoding == "gbk" else original
    document = parse_bytes(text.encode(encoding), name=f"huzhou.{encoding}.txt")
    assert shape(document) == shape(huzhou)
    assert document.text == text


def test_crlf_line_ends(huzhou, original):
    assert shape(parse_bytes(original.replace("\n", "\r\n").encode("utf-8"))) == shape(huzhou)
