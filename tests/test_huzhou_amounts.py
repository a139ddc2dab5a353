"""Every monetary amount and every percentage of the Huzhou document.

The expected values live in data/huzhou-amounts.yaml and were written by hand from
reading ../shared/source/huzhou-2025-economic-policies.txt. Nothing here uses the
parser's own helpers: the checks on the YAML read the raw text with regexes of their
own, and only the last group of tests calls `parse_file` and compares its output with
the YAML, entry by entry, in document order.
"""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from textlayout import article_and_area, check_parsed

from zhida.source import parse_file

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "policies" / "huzhou-2025" / "document.txt"
EXPECTED = ROOT / "tests" / "data" / "huzhou-amounts.yaml"

TEXT = DOCUMENT.read_text(encoding="utf-8")
DATA = yaml.safe_load(EXPECTED.read_text(encoding="utf-8"))
AMOUNTS: list[dict] = DATA["amounts"]
RATES: list[dict] = DATA["rates"]

# A number with an optional decimal part, an optional 萬/億, then 元 or 美元.
MONEY = re.compile(r"(\d+(?:\.\d+)?)([萬億]?)(美?元)")
# A number with an optional decimal part followed by a half-width or full-width percent sign.
PERCENT = re.compile(r"(\d+(?:\.\d+)?)[%%]")
MULTIPLIER = {"": Decimal(1), "萬": Decimal(10_000), "億": Decimal(100_000_000)}

QUALIFIERS = {"ceiling", "at_least", "at_most", "about", "over", "exact"}

BUDGETS = ["17.25億元", "6.73億元", "1.72億元", "10.26億元", "2.64億元", "94.17億元", "25.54億元", "75.59億元"]
TOTAL = Decimal("23390000000")  # 支持總額為233.9億元


def _ids(entries: list[dict], prefix: str) -> list[str]:
    """a17-15000, ag1-1725000000 (area 1's goal text), aend-23390000000 (closing), r… for rates; #2 for repeats."""
    seen: Counter[str] = Counter()
    ids = []
    for entry in entries:
        if entry["article"] is not None:
            where = f"{prefix}{entry['article']}"
        elif entry["area"] is not None:
            where = f"{prefix}g{entry['area']}"
        else:
            where = f"{prefix}end"
        base = f"{where}-{entry['value']}"
        seen[base] += 1
        ids.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return ids


AMOUNT_IDS = _ids(AMOUNTS, "a")
RATE_IDS = _ids(RATES, "r")


def _money_value(match: re.Match[str]) -> Decimal:
    return Decimal(match[1]) * MULTIPLIER[match[2]]


# --- the YAML against the raw text -------------------------------------------------


def test_as_many_amounts_as_the_text_has():
    found = MONEY.findall(TEXT)
    assert len(found) == 60
    assert len(AMOUNTS) == len(found)


def test_as_many_rates_as_the_text_has():
    found = PERCENT.findall(TEXT)
    assert len(found) == 22
    assert len(RATES) == len(found)


@pytest.mark.parametrize("entry", AMOUNTS + RATES, ids=AMOUNT_IDS + RATE_IDS)
def test_every_clause_occurs_in_the_text(entry):
    assert entry["clause"] in TEXT


def test_entries_are_well_formed():
    for entry, name in zip(AMOUNTS, AMOUNT_IDS):
        assert set(entry) == {"article", "area", "value", "currency", "qualifier", "per", "clause"}, name
        assert entry["currency"] in {"CNY", "USD"}, name
        assert entry["qualifier"] in QUALIFIERS, name
        assert Decimal(entry["value"]) == Decimal(entry["value"]).to_integral_value(), name
    for entry, name in zip(RATES, RATE_IDS):
        assert set(entry) == {"article", "area", "value", "qualifier", "clause"}, name
        assert entry["qualifier"] in QUALIFIERS, name


def test_yaml_amounts_follow_the_text_in_order():
    """The n-th amount in the text has the n-th entry's value, currency and place, and sits in its clause."""
    matches = list(MONEY.finditer(TEXT))
    assert len(matches) == len(AMOUNTS)
    for match, entry, name in zip(matches, AMOUNTS, AMOUNT_IDS):
        assert Decimal(entry["value"]) == _money_value(match), name
        assert entry["currency"] == ("USD" if match[3] == "美元" else "CNY"), name
        assert match[0] in entry["clause"], name
        # the clause is the text around this very occurrence
        assert entry["clause"] in TEXT[max(0, match.start() - 80) : match.end() + 80], name
        assert (entry["article"], entry["area"]) == article_and_area(TEXT, match.start(), closing="上述8個領域政策"), name


def test_yaml_rates_follow_the_text_in_order():
    matches = list(PERCENT.finditer(TEXT))
    assert len(matches) == len(RATES)
    for match, entry, name in zip(matches, RATES, RATE_IDS):
        assert Decimal(entry["value"]) == Decimal(match[1]), name
        assert match[0] in entry["clause"], name
        assert entry["clause"] in TEXT[max(0, match.start() - 80) : match.end() + 80], name
        assert (entry["article"], entry["area"]) == article_and_area(TEXT, match.start(), closing="上述8個領域政策"), name


def test_budgets_in_the_text_and_in_the_yaml():
    sentences = [s for s in re.split(r"[。\n]", TEXT) if "全市財政預算安排" in s]
    in_text = [m[0] for s in sentences for m in MONEY.finditer(s)]
    assert in_text == BUDGETS
    assert sum(_money_value(m) for s in sentences for m in MONEY.finditer(s)) == TOTAL

    in_yaml = [Decimal(e["value"]) for e in AMOUNTS if "全市財政預算安排" in e["clause"]]
    assert in_yaml == [_money_value(MONEY.fullmatch(b)) for b in BUDGETS]
    assert sum(in_yaml) == TOTAL
    assert all(e["qualifier"] == "exact" and e["article"] is None for e in AMOUNTS if "全市財政預算安排" in e["clause"])
    # the closing states the total
    assert "支持總額為233.9億元" in TEXT


# --- the parser against the YAML ---------------------------------------------------


@pytest.fixture(scope="module")
def document():
    return parse_file(DOCUMENT)


def test_parser_finds_as_many_amounts_and_rates(document):
    assert len(document.amounts) == len(AMOUNTS), [a.text for a in document.amounts]
    assert len(document.rates) == len(RATES), [r.text for r in document.rates]


@pytest.mark.parametrize("index", range(len(AMOUNTS)), ids=AMOUNT_IDS)
def test_parsed_amount(document, index):
    entry = AMOUNTS[index]
    check_parsed(document.amounts, index, entry, f"amounts[{index}] {AMOUNT_IDS[index]} in {entry['clause']!r}", "amounts")


@pytest.mark.parametrize("index", range(len(RATES)), ids=RATE_IDS)
def test_parsed_rate(document, index):
    entry = RATES[index]
    check_parsed(document.rates, index, entry, f"rates[{index}] {RATE_IDS[index]} in {entry['clause']!r}", "rates")


def test_parsed_budgets(document):
    sentences = {}
    for area in document.areas:
        for sentence in area.goals:
            sentences[sentence.index] = sentence.text
        for article in area.articles:
            for sentence in article.sentences:
                sentences[sentence.index] = sentence.text
    budgets = [a for a in document.amounts if "全市財政預算安排" in sentences.get(a.sentence, "")]
    assert [a.text for a in budgets] == BUDGETS
    assert sum(a.value for a in budgets) == TOTAL
    assert [a.area for a in budgets] == list(range(1, 9))
