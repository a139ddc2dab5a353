"""A second document of the family, so that the parser is not fitted to Huzhou.

data/jiaxing-2026.txt is a fictional 嘉兴市人民政府 document 《关于推动经济高质量发展若干政策（2026年版）》
with the Huzhou skeleton but none of its words: Simplified script, full-width punctuation (，。；：（）、“”),
5 areas, 12 articles, amounts in Arabic and Chinese numerals, per-item and per-enterprise caps, and
targets with 以上/以内/左右/超过/突破/2—3/三分之一. data/jiaxing-2026.expected.yaml holds what it says,
written by hand. The first group of tests checks the YAML against the raw text with regexes of its
own; the rest parse the file with `parse_file` and compare with the YAML.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from textlayout import article_and_area, check_parsed

from zhida.source import Document, parse_file

DATA = Path(__file__).resolve().parent / "data"
DOCUMENT = DATA / "jiaxing-2026.txt"
EXPECTED = DATA / "jiaxing-2026.expected.yaml"

TEXT = DOCUMENT.read_text(encoding="utf-8")
SPEC = yaml.safe_load(EXPECTED.read_text(encoding="utf-8"))
AREAS: list[dict] = SPEC["areas"]
ARTICLES: list[dict] = SPEC["articles"]
AMOUNTS: list[dict] = SPEC["amounts"]
RATES: list[dict] = SPEC["rates"]
TARGETS: list[dict] = SPEC["targets"]
TASKS: list[dict] = SPEC["tasks"]
TOTAL = Decimal(SPEC["stated_total"])

# A number (Arabic, or the Chinese 二十 of 最高二十万元), an optional 万/亿, then 元.
MONEY = re.compile(r"(\d+(?:\.\d+)?|[一二三四五六七八九十]+)([万亿]?)元")
PERCENT = re.compile(r"(\d+(?:\.\d+)?)%")
MULTIPLIER = {"": Decimal(1), "万": Decimal(10_000), "亿": Decimal(100_000_000)}
CHINESE = {"二十": Decimal(20)}
QUALIFIERS = {"ceiling", "at_least", "at_most", "about", "over", "exact"}
DIRECTIONS = {"≥", "≤", "≈", "=", ">", "range"}


def _where(entry: dict) -> str:
    if entry["article"] is not None:
        return f"a{entry['article']}"
    return f"g{entry['area']}" if entry["area"] is not None else "end"


AMOUNT_IDS = [f"{_where(e)}-{e['value']}-{i}" for i, e in enumerate(AMOUNTS)]
RATE_IDS = [f"{_where(e)}-{e['value']}-{i}" for i, e in enumerate(RATES)]
TARGET_IDS = [f"{_where(t)}-{t['key']}" for t in TARGETS]


def _money_value(match: re.Match[str]) -> Decimal:
    number = CHINESE[match[1]] if match[1] in CHINESE else Decimal(match[1])
    return number * MULTIPLIER[match[2]]


def _number(written: str) -> Decimal | Fraction:
    return Fraction(written) if "/" in written else Decimal(written)


# --- the YAML against the raw text ------------------------------------------------


def test_the_document_is_simplified_with_full_width_punctuation():
    assert not re.search(r"[,;:()]", TEXT)
    assert all(mark in TEXT for mark in "，。；：（）、“”")
    assert len(TEXT.splitlines()) == 31  # one line per paragraph


def test_yaml_amounts_follow_the_text_in_order():
    matches = list(MONEY.finditer(TEXT))
    assert len(matches) == len(AMOUNTS) == 23
    for match, entry, name in zip(matches, AMOUNTS, AMOUNT_IDS):
        assert set(entry) == {"article", "area", "value", "qualifier", "per", "clause"}, name
        assert entry["qualifier"] in QUALIFIERS, name
        assert Decimal(entry["value"]) == _money_value(match), name
        assert match[0] in entry["clause"], name
        assert entry["clause"] in TEXT[max(0, match.start() - 40) : match.end() + 40], name
        assert (entry["article"], entry["area"]) == article_and_area(TEXT, match.start(), closing="上述5个领域政策"), name


def test_yaml_rates_follow_the_text_in_order():
    matches = list(PERCENT.finditer(TEXT))
    assert len(matches) == len(RATES) == 10
    for match, entry, name in zip(matches, RATES, RATE_IDS):
        assert entry["qualifier"] in QUALIFIERS, name
        assert Decimal(entry["value"]) == Decimal(match[1]), name
        assert match[0] in entry["clause"], name
        assert entry["clause"] in TEXT[max(0, match.start() - 40) : match.end() + 40], name
        assert (entry["article"], entry["area"]) == article_and_area(TEXT, match.start(), closing="上述5个领域政策"), name


def test_yaml_targets_are_well_formed():
    for target, name in zip(TARGETS, TARGET_IDS):
        assert set(target) == {"area", "article", "key", "value", "unit", "direction", "value_high"}, name
        assert target["key"] in TEXT, name
        assert target["direction"] in DIRECTIONS, name
        assert (target["direction"] == "range") == (target["value_high"] is not None), name
        # the key sits in its own area and article
        assert (target["article"], target["area"]) == article_and_area(TEXT, TEXT.index(target["key"]), closing="上述5个领域政策"), name


def test_yaml_skeleton_matches_the_text():
    lines = TEXT.splitlines()
    for area in AREAS:
        heading = f"{'一二三四五'[area['number'] - 1]}、{area['title']}（由{area['department']}牵头实施）"
        assert heading in lines
        assert f"全市财政预算安排{area['written']}。" in TEXT
        assert _money_value(MONEY.fullmatch(area["written"])) == Decimal(area["budget"])
    for article in ARTICLES:
        assert any(line.startswith("（") and f"）{article['title']}。" in line for line in lines), article
    assert sum(Decimal(area["budget"]) for area in AREAS) == TOTAL
    assert "支持总额为84.15亿元" in TEXT


# --- the parser against the YAML ---------------------------------------------------


@pytest.fixture(scope="module")
def document() -> Document:
    return parse_file(DOCUMENT)


def test_preamble(document):
    expected = SPEC["preamble"]
    preamble = document.preamble
    assert preamble.title == expected["title"]
    assert preamble.issuer == expected["issuer"]
    assert preamble.issued == expected["issued"] == dt.date(2026, 2, 20)
    assert preamble.addressees == expected["addressees"]
    assert preamble.implements == expected["implements"]
    assert preamble.valid_from == expected["valid_from"] == dt.date(2026, 1, 1)
    assert preamble.valid_to == expected["valid_to"] == dt.date(2026, 12, 31)


def test_five_areas_and_twelve_articles(document):
    assert [area.number for area in document.areas] == [1, 2, 3, 4, 5]
    assert [article.number for article in document.articles] == list(range(1, 13))
    assert [article.title for article in document.articles] == [a["title"] for a in ARTICLES]
    assert [article.area for article in document.articles] == [a["area"] for a in ARTICLES]


@pytest.mark.parametrize("expected", AREAS, ids=[f"area{a['number']}" for a in AREAS])
def test_area(document, expected):
    area = document.areas[expected["number"] - 1]
    assert area.number == expected["number"]
    assert area.title == expected["title"]
    assert area.department == expected["department"]
    assert area.budget == Decimal(expected["budget"]), expected["written"]
    assert [article.number for article in area.articles] == expected["articles"]
    assert any(f"全市财政预算安排{expected['written']}" in sentence.text for sentence in area.goals)


def test_budgets_add_up_to_the_stated_total(document):
    assert document.stated_total == TOTAL
    assert sum(area.budget for area in document.areas) == TOTAL
    assert document.warnings == ()


def test_parser_finds_as_many_amounts_and_rates(document):
    assert len(document.amounts) == len(AMOUNTS), [a.text for a in document.amounts]
    assert len(document.rates) == len(RATES), [r.text for r in document.rates]


@pytest.mark.parametrize("index", range(len(AMOUNTS)), ids=AMOUNT_IDS)
def test_parsed_amount(document, index):
    entry = AMOUNTS[index]
    check_parsed(document.amounts, index, entry, f"amounts[{index}] in {entry['clause']!r}", "amounts")


@pytest.mark.parametrize("index", range(len(RATES)), ids=RATE_IDS)
def test_parsed_rate(document, index):
    entry = RATES[index]
    check_parsed(document.rates, index, entry, f"rates[{index}] in {entry['clause']!r}", "rates")


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
def test_parsed_target(document, target):
    here = [i for i in document.indicators if (i.area, i.article) == (target["area"], target["article"])]
    found = [i for i in here if target["key"] in i.name]
    assert len(found) == 1, f"{target['key']!r} in {[i.name for i in here]}"
    indicator = found[0]
    assert Fraction(indicator.value) == Fraction(_number(target["value"])), indicator.text
    assert indicator.unit == target["unit"], indicator.text
    assert indicator.direction.value == target["direction"], indicator.text
    if target["value_high"] is None:
        assert indicator.value_high is None, indicator.text
    else:
        assert indicator.value_high == Decimal(target["value_high"]), indicator.text
    assert indicator.year == 2026, indicator.text
    assert indicator.department == AREAS[target["area"] - 1]["department"], indicator.text


def test_every_span_quotes_the_original_text(document):
    text = document.text
    assert text == TEXT
    for area in document.areas:
        assert area.title in text[area.span.start : area.span.end]
        for sentence in area.goals:
            assert text[sentence.span.start : sentence.span.end] == sentence.text
    for article in document.articles:
        assert text[article.span.start : article.span.end] == article.text
        assert article.text.startswith("（") and article.title in article.text
        assert "".join(sentence.text for sentence in article.sentences) == article.text
        for sentence in article.sentences:
            assert text[sentence.span.start : sentence.span.end] == sentence.text
    for amount in document.amounts:
        assert text[amount.span.start : amount.span.end] == amount.text
    for rate in document.rates:
        assert text[rate.span.start : rate.span.end] == rate.text
    for indicator in document.indicators:
        assert text[indicator.span.start : indicator.span.end] == indicator.text


def test_a_ceiling_word_is_not_part_of_the_target_name(document):
    # （六） "年化担保费率不超过1%": the name stops before 不超过, the direction carries it.
    (target,) = [i for i in document.indicators if i.article == 6 and i.unit == "%"]
    assert (target.name, target.value, target.direction.value) == ("年化担保费率", 1, "≤")


def test_yaml_tasks_are_words_of_the_text():
    for task in TASKS:
        assert TEXT.count(task["text"]) == 1, task["text"]
        assert article_and_area(TEXT, TEXT.index(task["text"])) == (task["article"], task["area"])


def test_parsed_tasks(document):
    parsed = [(t.area, t.article, t.kind.value, t.text) for t in document.tasks]
    assert parsed == [(t["area"], t["article"], t["kind"], t["text"]) for t in TASKS]
    for task in document.tasks:
        assert task.department == AREAS[task.area - 1]["department"]
        assert document.text[task.span.start : task.span.end] == task.text


def test_every_sentence_is_an_amount_a_rate_a_target_or_a_task(document):
    pieces = (*document.amounts, *document.rates, *document.indicators, *document.tasks)
    sentences = [s for area in document.areas for s in area.goals]
    sentences += [s for article in document.articles for s in article.sentences[1:]]  # after the title
    dropped = [
        s.text for s in sentences if not any(p.span.start < s.span.end and s.span.start < p.span.end for p in pieces)
    ]
    assert dropped == []
