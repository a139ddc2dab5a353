"""Every quantitative target (indicator) of the Huzhou document.

The expected targets live in data/huzhou-indicators.yaml and were written by hand from
reading ../shared/source/huzhou-2025-economic-policies.txt. The first group of tests
checks the YAML against the raw text with readers of its own (no parser code); the
second calls `parse_file` and looks each entry up among `document.indicators`.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from conftest import DEPARTMENTS
from textlayout import article_and_area

from zhida.source import parse_file

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "policies" / "huzhou-2025" / "document.txt"
EXPECTED = ROOT / "tests" / "data" / "huzhou-indicators.yaml"

TEXT = DOCUMENT.read_text(encoding="utf-8")
ENTRIES: list[dict] = yaml.safe_load(EXPECTED.read_text(encoding="utf-8"))

YEAR = 2025
UNITS = {
    "家", "個", "項", "件", "場", "場次", "公里", "畝", "人", "名", "戶", "臺", "根", "條", "張",
    "套(間)", "標箱", "元", "千瓦時", "方", "%", "",
}
DIRECTIONS = {"≥", "≤", "≈", "=", ">", "<", "range"}
FIELDS = {"area", "article", "key", "name", "value", "value_high", "unit", "direction", "clause"}


def _id(entry: dict) -> str:
    where = "goal" if entry["article"] is None else entry["article"]
    return f"a{entry['area']}-{where}-{entry['key']}"


IDS = [_id(entry) for entry in ENTRIES]


# --- the YAML against the raw text -------------------------------------------------

# A number as written, with an optional 萬/億 multiplier.
NUMBER = re.compile(r"(\d+(?:\.\d+)?)([萬億]?)")
MULTIPLIER = {"": 1, "萬": 10_000, "億": 100_000_000}
# What may sit between a number and its unit: the rest of an enumeration (1萬、4萬名) or a range (1—2個).
BETWEEN = re.compile(r"(?:[、—]\d+(?:\.\d+)?[萬億]?)*")


def _read(entry: dict) -> tuple[str, str, str]:
    """(words before, what sits between number and unit, words after) for the entry's number in its clause.

    The number is the one whose value (multiplier applied) equals the entry's value and which
    is followed by the entry's unit.
    """
    clause = entry["clause"]
    if entry["value"] == "2/3":
        at = clause.index("三分之二")
        return clause[:at], "", clause[at + len("三分之二") :]
    expected = Fraction(entry["value"])
    for match in NUMBER.finditer(clause):
        if Fraction(match[1]) * MULTIPLIER[match[2]] != expected:
            continue
        rest = clause[match.end() :]
        between = rest[: BETWEEN.match(rest).end()]
        rest = rest[len(between) :]
        if rest.startswith(entry["unit"]):
            return clause[: match.start()], between, rest[len(entry["unit"]) :]
    raise AssertionError(f"{_id(entry)}: no {entry['value']} followed by {entry['unit']!r} in {clause!r}")


def _direction_in_words(before: str, between: str, after: str) -> str:
    if between.startswith("—"):
        return "range"
    if after.startswith("以上") or before.endswith(("不低于", "不少于")):
        return "≥"
    if after.startswith(("以內", "以下")):
        return "≤"
    if after.startswith("左右"):
        return "≈"
    if before.endswith(("超過", "突破", "超")):
        return ">"
    return "="


def test_enough_entries():
    assert len(ENTRIES) >= 60


def test_ids_are_unique():
    assert len(set(IDS)) == len(IDS), sorted(i for i in IDS if IDS.count(i) > 1)


def test_departments_are_those_of_the_headings():
    headings = re.findall(r"^[一二三四五六七八]、.*\(由(.+?)牽頭實施\)$", TEXT, flags=re.MULTILINE)
    assert dict(enumerate(headings, start=1)) == DEPARTMENTS


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_entry_is_well_formed(entry):
    assert set(entry) == FIELDS
    assert entry["area"] in DEPARTMENTS
    assert entry["article"] is None or 1 <= entry["article"] <= 52
    assert entry["unit"] in UNITS
    assert entry["direction"] in DIRECTIONS
    Fraction(entry["value"])  # parses
    assert (entry["value_high"] is not None) == (entry["direction"] == "range")


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_clause_occurs_once_in_the_text(entry):
    assert TEXT.count(entry["clause"]) == 1


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_clause_sits_in_its_area_and_article(entry):
    assert article_and_area(TEXT, TEXT.index(entry["clause"])) == (entry["article"], entry["area"])


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_key_is_words_of_the_clause(entry):
    assert entry["key"] in entry["clause"]


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_name_holds_the_key(entry):
    assert entry["key"] in entry["name"]


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_name_is_made_of_words_of_the_document(entry):
    """The name splits into at most three runs of the text (verb, topic, noun): no word is invented."""
    assert _pieces(entry["name"]) <= 3, entry["name"]


def _pieces(name: str) -> int:
    """The fewest runs of the text, each of two characters or more, that make up `name`."""
    fewest = [0] + [len(name) + 1] * len(name)
    for end in range(2, len(name) + 1):
        for start in range(end - 1):
            if fewest[start] <= len(name) and name[start:end] in TEXT:
                fewest[end] = min(fewest[end], fewest[start] + 1)
    return fewest[-1]


def test_names_are_unique():
    names = [(entry["area"], entry["article"], entry["name"]) for entry in ENTRIES]
    assert len(set(names)) == len(names)


def test_three_80_percent_targets_of_article_36():
    """(三十六) 市產業基金、新增用地和存量用地、新增能耗等要素投向民間投資項目比重…力爭提升至“三個80%”."""
    shares = [entry for entry in ENTRIES if entry["article"] == 36 and entry["unit"] == "%"]
    assert [entry["name"] for entry in shares] == [
        "市產業基金投向民間投資項目比重",
        "新增用地和存量用地投向民間投資項目比重",
        "新增能耗投向民間投資項目比重",
    ]
    assert {(entry["value"], entry["direction"]) for entry in shares} == {("80", "=")}


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_value_unit_and_direction_agree_with_the_clause(entry):
    before, between, after = _read(entry)
    assert _direction_in_words(before, between, after) == entry["direction"]
    if entry["direction"] == "range":
        assert Fraction(between.removeprefix("—")) == Fraction(entry["value_high"])


# --- the parser against the YAML ---------------------------------------------------


@pytest.fixture(scope="module")
def document():
    return parse_file(DOCUMENT)


def _describe(indicator) -> str:
    high = f"..{indicator.value_high}" if indicator.value_high is not None else ""
    return (
        f"{indicator.name!r} {indicator.direction.value} {indicator.value}{high} {indicator.unit!r}"
        f" (text {indicator.text!r})"
    )


def _find(document, entry):
    """The one indicator of the entry's area and article whose name contains the key.

    When several names contain the key, only those whose span overlaps the entry's clause remain.
    """
    place = [i for i in document.indicators if i.area == entry["area"] and i.article == entry["article"]]
    named = [i for i in place if entry["key"] in i.name]
    if len(named) > 1:
        start = TEXT.index(entry["clause"])
        end = start + len(entry["clause"])
        near = [i for i in named if i.span.start < end and start < i.span.end]
        if near:
            named = near
    where = "goal paragraph" if entry["article"] is None else f"article {entry['article']}"
    listing = "\n  ".join(_describe(i) for i in place) or "(none)"
    assert len(named) == 1, (
        f"{len(named)} indicators named with {entry['key']!r} in area {entry['area']} {where};"
        f" indicators there:\n  {listing}"
    )
    return named[0]


def test_parser_finds_exactly_the_expected_indicators(document):
    """No indicator the hand-written list does not have, none missing: every name is checked."""
    parsed = sorted((i.area, i.article or 0, i.name) for i in document.indicators)
    expected = sorted((e["area"], e["article"] or 0, e["name"]) for e in ENTRIES)
    assert parsed == expected, "\n".join(_describe(i) for i in document.indicators)


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_parsed_indicator(document, entry):
    indicator = _find(document, entry)
    name = f"{_id(entry)} in {entry['clause']!r}: parsed {_describe(indicator)}"
    assert entry["clause"] in TEXT, name
    assert Fraction(indicator.value) == Fraction(entry["value"]), name
    if entry["value_high"] is None:
        assert indicator.value_high is None, name
    else:
        assert indicator.value_high is not None, name
        assert Fraction(indicator.value_high) == Fraction(entry["value_high"]), name
    assert indicator.name == entry["name"], name
    assert indicator.unit == entry["unit"], name
    assert indicator.direction.value == entry["direction"], name
    assert indicator.year == YEAR, name
    assert indicator.department == DEPARTMENTS[entry["area"]], name
