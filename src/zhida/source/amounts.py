"""Monetary amounts (元, 萬元, 億元, 美元) and rates (%) with what bounds them.

The words around a number decide its qualifier (DESIGN.md, "Semantics decided once"):

    最高20萬元 / 最高不超過30萬元   ceiling     (the most the clause allows)
    不低于60% / 1.4萬元以上         at least    (the bound included)
    6000元以下 / 不超過100萬元      at most     (the bound included)
    150億元左右                     about
    超過65億元 / 突破200億元 / 高于5%   over     (the bound excluded)

A qualifier that leads an enumeration covers all of it: in
分別給予最高50萬元、10萬元、10萬元和2萬元 every amount is a ceiling, and in
分別給予每件最高不超過30萬元、15萬元、10萬元 every amount is per 件.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from zhida.source.model import Amount, Qualifier, Rate, Span
from zhida.source.numerals import parse_number, scale
from zhida.source.structure import Skeleton, excerpt

# Amounts are read below this bound, in 元 (or US dollars): 1000萬億, the bound of the case
# format's money. No policy grants more; a larger figure is a typing error, reported, not read.
MAX_AMOUNT = Decimal(10) ** 15

# A number as written: Arabic (6.5) or Chinese (二十, 一点五, 一万二千). A number never starts
# inside another: the look-behinds keep a failed match from being retried at every later
# character of a long run (一萬個九 would otherwise cost the square of its length).
CHINESE_NUMBER_CHARACTERS = "零一二两三四五六七八九十百千万亿"
NUMBER = (
    r"(?:(?<![\d.])\d+(?:\.\d+)?"
    rf"|(?<![{CHINESE_NUMBER_CHARACTERS}点])[一二两三四五六七八九十][{CHINESE_NUMBER_CHARACTERS}]*(?:点[零一二三四五六七八九]+)?)"
)
MONEY = re.compile(rf"({NUMBER})(万|亿)?(美元|元)")
PERCENT = re.compile(rf"({NUMBER})%|百分之({NUMBER})")

# What may stand between two members of one enumeration.
ENUMERATION_GLUE = set("、和及与或 ")
# Words after 元 that make a Chinese numeral part of another word (二元結構, 一元化).
NOT_MONEY_AFTER = set("化结论次宵素")

SUFFIXES: tuple[tuple[str, Qualifier], ...] = (
    ("及以上", Qualifier.AT_LEAST),
    ("以上", Qualifier.AT_LEAST),
    ("以下", Qualifier.AT_MOST),
    ("以内", Qualifier.AT_MOST),
    ("左右", Qualifier.ABOUT),
)
PER_ITEM = re.compile(r"每(家|件|辆|个|项|人|户|台|套|张|亩)")
PER_CARRIER = re.compile(r"单[个家]([\u4e00-\u9fff]{1,16}?)(全年|单年度|年度)?内?(?=最高|奖励|补助|补贴|贴息|保费|获得|享受|不超过|累计)")
# How far before a number its per words (單個企業全年, 每家) are looked for, in characters: far
# more than any clause of the family needs, and a bound, so that a clause of thousands of
# amounts costs each of them the same.
PER_WINDOW = 100
PER_SLASH = re.compile(r"/(家|件|辆|个|项|人|户|台|套|张|亩)")


@dataclass(frozen=True)
class Context:
    """The words around one number, in the canonical text."""

    qualifier: Qualifier
    per: Span | tuple[Span, ...] | None
    end: int  # where the number's own suffix (以上, /輛) ends


def prefix_qualifier(prefix: str) -> Qualifier:
    """The qualifier the words before a number give it (see the module docstring)."""
    if "最高" in prefix:
        return Qualifier.CEILING
    candidates = [
        (prefix.rfind("不低于"), Qualifier.AT_LEAST),
        (prefix.rfind("不少于"), Qualifier.AT_LEAST),
        (prefix.rfind("不超过"), Qualifier.AT_MOST),
        (_rfind_not_after_bu(prefix, "超过"), Qualifier.OVER),
        (prefix.rfind("突破"), Qualifier.OVER),
        (prefix.rfind("高于"), Qualifier.OVER),
    ]
    position, qualifier = max(candidates, key=lambda candidate: candidate[0])
    if position >= 0:
        return qualifier
    if prefix.endswith("超"):
        return Qualifier.OVER
    return Qualifier.EXACT


def _rfind_not_after_bu(prefix: str, word: str) -> int:
    position = prefix.rfind(word)
    while position > 0 and prefix[position - 1] == "不":
        position = prefix.rfind(word, 0, position)
    return position


def suffix_qualifier(canonical: str, position: int) -> tuple[Qualifier | None, int]:
    for word, qualifier in SUFFIXES:
        if canonical.startswith(word, position):
            return qualifier, position + len(word)
    return None, position


def per_of(canonical: str, prefix_start: int, number_start: int, unit_end: int) -> tuple[Span | tuple[Span, ...] | None, int]:
    """What the amount is per: 每家 -> 家, 單個企業全年 -> 企業全年, 1.5萬元/輛 -> 輛."""
    if slash := PER_SLASH.match(canonical, unit_end):
        return Span(slash.start(1), slash.end(1)), slash.end()
    prefix_start = max(prefix_start, number_start - PER_WINDOW)
    prefix = canonical[prefix_start:number_start]
    if carrier := PER_CARRIER.search(prefix):
        spans = tuple(
            Span(prefix_start + carrier.start(group), prefix_start + carrier.end(group))
            for group in (1, 2)
            if carrier.group(group)
        )
        return spans, unit_end
    if item := PER_ITEM.search(prefix):
        return Span(prefix_start + item.start(1), prefix_start + item.end(1)), unit_end
    return None, unit_end


def _is_continuation(canonical: str, previous_end: int | None, number_start: int) -> bool:
    """True when only enumeration glue (、 和 及 或) separates this number from the previous one."""
    if previous_end is None or previous_end > number_start:
        return False
    gap = canonical[previous_end:number_start]
    return bool(gap) and all(character in ENUMERATION_GLUE for character in gap)


def _per_text(text: str, per: Span | tuple[Span, ...] | None) -> str | None:
    if per is None:
        return None
    spans = per if isinstance(per, tuple) else (per,)
    return "".join(text[span.start : span.end] for span in spans)


def find_amounts(text: str, canonical: str, skeleton: Skeleton, warnings: list[str]) -> list[Amount]:
    """Every amount of money, with its qualifier and what it is per; one that cannot be read
    (十千萬元, a run of digits beyond MAX_AMOUNT) is left out with a warning naming its line."""
    amounts: list[Amount] = []
    previous: tuple[int, Qualifier, str | None] | None = None  # (end, qualifier, per)
    for match in MONEY.finditer(canonical):
        number_start, unit_end = match.start(1), match.end()
        chinese = not match.group(1)[0].isdigit()
        if chinese and (canonical[number_start - 1 : number_start] == "第" or canonical[unit_end : unit_end + 1] in NOT_MONEY_AFTER):
            continue
        start = skeleton.clause_start(number_start)
        if previous and _is_continuation(canonical, previous[0], number_start):
            qualifier, per = previous[1], previous[2]
            slash, end = per_of(canonical, number_start, number_start, unit_end)
            per = _per_text(text, slash) or per
        else:
            prefix_start = max(start, previous[0]) if previous and previous[0] <= number_start else start
            qualifier = prefix_qualifier(canonical[prefix_start:number_start])
            per_span, end = per_of(canonical, start, number_start, unit_end)
            per = _per_text(text, per_span)
        suffix, end_after = suffix_qualifier(canonical, end)
        if suffix:
            qualifier, end = suffix, end_after
        value = _amount_value(text, match, skeleton, warnings)
        if value is None:
            continue
        sentence = skeleton.sentence_at(number_start)
        paragraph = skeleton.paragraph_of(sentence)
        amounts.append(
            Amount(
                value=value,
                currency="USD" if match.group(3) == "美元" else "CNY",
                qualifier=qualifier,
                per=per,
                text=text[number_start:unit_end],
                span=Span(number_start, unit_end),
                sentence=sentence.index,
                article=paragraph.article,
                area=paragraph.area,
            )
        )
        # The suffix (/輛, 以上) belongs to this amount: the next one's gap starts after it.
        previous = (end, qualifier, per)
    return amounts


def _amount_value(text: str, match: re.Match[str], skeleton: Skeleton, warnings: list[str]) -> Decimal | None:
    where = f"第{skeleton.line_of(match.start())}行: 金额“{excerpt(text[match.start() : match.end()])}”"
    try:
        value = Decimal(scale(parse_number(match.group(1)), match.group(2) or ""))
    except ValueError as error:
        warnings.append(f"{where}无法读取({error}),未计入")
        return None
    if value >= MAX_AMOUNT:
        warnings.append(f"{where}超出上限:金额须小于 10^15 元(1000万亿元),未计入")
        return None
    return value


def find_rates(text: str, canonical: str, skeleton: Skeleton, warnings: list[str]) -> list[Rate]:
    rates: list[Rate] = []
    previous: tuple[int, Qualifier] | None = None
    for match in PERCENT.finditer(canonical):
        number = match.group(1) or match.group(2)
        number_start = match.start(1) if match.group(1) else match.start()
        end = match.end()
        if previous and _is_continuation(canonical, previous[0], number_start):
            qualifier = previous[1]
        else:
            start = skeleton.clause_start(number_start)
            prefix_start = max(start, previous[0]) if previous and previous[0] <= number_start else start
            qualifier = prefix_qualifier(canonical[prefix_start:number_start])
        suffix, after = suffix_qualifier(canonical, end)
        if suffix:
            qualifier, end = suffix, after
        try:
            value = Decimal(parse_number(number))
        except ValueError as error:
            written = excerpt(text[number_start : match.end()])
            warnings.append(f"第{skeleton.line_of(number_start)}行: 比例“{written}”无法读取({error}),未计入")
            continue
        sentence = skeleton.sentence_at(number_start)
        paragraph = skeleton.paragraph_of(sentence)
        rates.append(
            Rate(
                value=value,
                qualifier=qualifier,
                text=text[number_start : match.end()],
                span=Span(number_start, match.end()),
                sentence=sentence.index,
                article=paragraph.article,
                area=paragraph.area,
            )
        )
        previous = (end, qualifier)
    return rates
