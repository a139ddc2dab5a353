"""Quantitative targets: 規上工業增加值增長6.5%以上, 完成90萬標箱, 倍差1.6以內, 新增5家 ...

A target is a number with a unit, in an area's goals or an article, that is
neither a benefit (給予最高20萬元, 按20%補貼), a budget, nor a threshold inside a
definition (6000元以下的手機, 高于5%的企業, 10億元以上八大…項目). Its name is
the words of its clause around the number, without the scope and verb words
that every target carries (2025年, 全年, 全市, 力爭, 達到, 完成, 控制在 …):

    2025年,規上工業增加值增長6.5%以上      -> 規上工業增加值增長        ≥ 6.5 %
    全市內河集裝箱吞吐量完成90萬標箱        -> 內河集裝箱吞吐量          = 900000 標箱
    新建5家殘疾人幫扶性就業基地            -> 新建殘疾人幫扶性就業基地  = 5 家
    推動農創客、現代“新農人”分別達到1萬、4萬名 -> 農創客 = 10000 名, 現代“新農人” = 40000 名

Numbers in quotation marks (“三個80%”, “520”行動) are names, not targets.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from zhida.source.amounts import CHINESE_NUMBER_CHARACTERS, NUMBER, prefix_qualifier, suffix_qualifier
from zhida.source.model import Direction, Indicator, Qualifier, Span
from zhida.source.numerals import parse_number, scale
from zhida.source.script import half_width
from zhida.source.structure import Skeleton, excerpt

# Not started inside a run of numerals, as NUMBER (see there).
FRACTION = rf"(?<![{CHINESE_NUMBER_CHARACTERS}点])[一二三四五六七八九十]+分之[一二三四五六七八九十]+"
# Longest first, so that 場次 wins over 場 and 千瓦時 is not read as 千.
UNITS = [
    "%", "标箱", "公里", "千瓦时", "平方米", "场次", "套(间)", "人次", "美元", "元",
    "家", "个", "项", "件", "场", "亩", "人", "名", "户", "台", "根", "条", "张", "方",
    "所", "座", "处", "辆", "艘", "吨",
]
QUANTITY = re.compile(
    rf"(?P<number>{FRACTION}|{NUMBER})"
    rf"(?:(?:—|-|~|至)(?P<high>{NUMBER}))?"
    r"(?P<multiplier>万|亿)?"
    rf"(?P<unit>{'|'.join(re.escape(unit) for unit in UNITS)})?"
    # A unit character that starts a longer word is no unit: 十方面, 500噸級, 3人才.
    r"(?!面|案|式|向|级|才|员|口|电|居|庭)"
)
# Words that make an amount or a rate a benefit or a budget rather than a target.
BENEFIT_WORDS = ("给予", "补贴", "补助", "奖励", "贴息", "最高", "按", "预算安排", "支持总额")
LEADING_WORDS = re.compile(r"(?:20\d\d年|全年|年度|全市|力争|确保|推动|其中|并|和|、|\s)+")
# Verbs before a target's number, longest first (不超過 before 超過); 分別 may precede each.
TRAILING_WORDS = sorted(
    ("达到", "达", "完成", "控制在", "突破", "不超过", "超过", "超", "提升至", "不少于", "不低于", "不高于", "实现", "为", "保持在", "稳定在"),
    key=len,
    reverse=True,
)
DIRECTIONS = {
    Qualifier.AT_LEAST: Direction.AT_LEAST,
    Qualifier.AT_MOST: Direction.AT_MOST,
    Qualifier.CEILING: Direction.AT_MOST,
    Qualifier.ABOUT: Direction.ABOUT,
    Qualifier.OVER: Direction.OVER,
    Qualifier.EXACT: Direction.EQUAL,
}
YEAR = re.compile(r"(20\d\d)年")
BENEFIT_END = re.compile("[。;]")
# How far after its number a target's clause is quoted, in characters: far more than any clause
# of the family, and a bound, so that a clause of thousands of numbers does not quote itself
# thousands of times.
CLAUSE_WINDOW = 200


@dataclass
class Candidate:
    """A number that reads as a target, before its name is settled."""

    start: int  # where its clause's words begin (after the previous target)
    number_start: int
    end: int  # after unit and suffix (以上, 左右)
    clause_end: int
    value: Decimal | Fraction
    high: Decimal | None
    unit: Span | None
    multiplier: str
    direction: Direction
    raw_prefix: str  # canonical words between `start` and the number


def find_indicators(text: str, canonical: str, skeleton: Skeleton, warnings: list[str]) -> list[Indicator]:
    indicators: list[Indicator] = []
    for paragraph in skeleton.paragraphs:
        if paragraph.role not in ("goal", "article") or paragraph.area is None:
            continue
        area = skeleton.area_of(paragraph)
        default_year = skeleton.preamble.valid_from.year if skeleton.preamble.valid_from else None
        for group in _groups(canonical, _candidates(text, canonical, paragraph.span, skeleton, warnings)):
            for candidate, name_spans in zip(group, _names(canonical, group), strict=True):
                sentence = skeleton.sentence_at(candidate.number_start)
                year = _year(canonical, skeleton, sentence.span)
                unit_text = half_width(text[candidate.unit.start : candidate.unit.end]) if candidate.unit else ""
                indicators.append(
                    Indicator(
                        name="".join(text[span.start : span.end] for span in name_spans),
                        value=candidate.value,
                        value_high=candidate.high,
                        unit=unit_text,
                        direction=candidate.direction,
                        year=year or default_year or 0,
                        text=text[candidate.start : candidate.clause_end],
                        span=Span(candidate.start, candidate.clause_end),
                        sentence=sentence.index,
                        article=paragraph.article,
                        area=area.number,
                        department=area.department,
                    )
                )
    return indicators


def _candidates(text: str, canonical: str, paragraph: Span, skeleton: Skeleton, warnings: list[str]) -> list[Candidate]:
    found: list[Candidate] = []
    quoted = _quoted_ranges(canonical, paragraph)
    position = paragraph.start
    while match := QUANTITY.search(canonical, position, paragraph.end):
        position = match.end() if match.end() > match.start() else match.start() + 1
        try:
            candidate = _read(canonical, skeleton, paragraph, match, found, quoted)
        except ValueError as error:
            written = excerpt(text[match.start() : match.end()])
            warnings.append(f"第{skeleton.line_of(match.start())}行: 目标数值“{written}”无法读取({error}),未计入")
            continue
        if candidate is not None:
            found.append(candidate)
    return _inherit_units(canonical, found)


def _read(
    canonical: str,
    skeleton: Skeleton,
    paragraph: Span,
    match: re.Match[str],
    found: list[Candidate],
    quoted: list[tuple[int, int]],
) -> Candidate | None:
    """The target a number states, or None when it is not one (see the module docstring).

    Every test here costs a bisection or a bounded slice: a paragraph may hold thousands of numbers.
    """
    number_start = match.start("number")
    if _inside(quoted, number_start):
        return None
    if canonical[number_start - 1 : number_start] == "第":  # 第一項目: an ordinal
        return None
    unit = match.group("unit")
    suffix, end = suffix_qualifier(canonical, match.end())
    clause_end = min(skeleton.clause_end(end, paragraph.end), end + CLAUSE_WINDOW)
    after = canonical[end:clause_end]
    if unit is None and not suffix and not canonical.startswith("、", match.end()):
        return None  # 2025年, 4.0版, 9月底: no unit, no bound, not a target
    if after.startswith("的"):
        return None  # a threshold in a definition: 高于5%的企業, 超10億元的
    start = skeleton.clause_start(number_start, paragraph.start)
    previous_end = found[-1].end if found and found[-1].end > start else start
    raw_prefix = canonical[previous_end:number_start]
    positions = skeleton.positions
    if positions.contains("每", start, number_start) and _benefit_follows(skeleton, match.end(), paragraph.end):
        return None  # 每培育1家…給予: the measure of a benefit; 每萬老年人口擁有…25人 is a target
    if unit in ("元", "美元", "%") and any(positions.contains(word, start, number_start) for word in BENEFIT_WORDS):
        return None  # a benefit or a budget
    if unit in ("元", "美元") and (suffix or canonical[match.start() - 1 : match.start()] == "超") and after:
        return None  # a bound that defines a noun: 1億美元以上外資大項目, 超10億元的
    qualifier = suffix or prefix_qualifier(raw_prefix)
    high = match.group("high")
    multiplier = match.group("multiplier") or ""
    while previous_end < number_start and canonical[previous_end] in "、和及":
        previous_end += 1  # the glue of an enumeration belongs to neither member
    return Candidate(
        start=previous_end,
        number_start=number_start,
        end=end,
        clause_end=clause_end,
        value=scale(parse_number(match.group("number")), multiplier),
        high=Decimal(scale(parse_number(high), multiplier)) if high else None,
        unit=Span(match.start("unit"), match.end("unit")) if unit else None,
        multiplier=multiplier,
        direction=Direction.RANGE if high else DIRECTIONS[qualifier],
        raw_prefix=raw_prefix,
    )


def _benefit_follows(skeleton: Skeleton, position: int, limit: int) -> bool:
    """Whether the rest of the sentence grants something (给予, 奖励 …)."""
    end = skeleton.positions.first(BENEFIT_END, position, limit)
    end = limit if end < 0 else end
    return any(skeleton.positions.contains(word, position, end) for word in BENEFIT_WORDS if word != "按")


def _inside(ranges: list[tuple[int, int]], position: int) -> bool:
    """Whether `position` falls in one of `ranges` (sorted, disjoint)."""
    index = bisect.bisect_right(ranges, (position, float("inf"))) - 1
    return index >= 0 and ranges[index][0] <= position < ranges[index][1]


def _year(canonical: str, skeleton: Skeleton, sentence: Span) -> int | None:
    """The first 20XX年 of a sentence, or None."""
    found = skeleton.positions.first(YEAR, sentence.start, sentence.end)
    if found < 0:
        return None
    match = YEAR.match(canonical, found, sentence.end)
    return int(match.group(1)) if match else None


def _inherit_units(canonical: str, found: list[Candidate]) -> list[Candidate]:
    """1萬、4萬名: a number without unit, right before another, shares the next one's unit."""
    for index in range(len(found) - 2, -1, -1):
        candidate, following = found[index], found[index + 1]
        if candidate.unit is None and canonical.startswith("、", candidate.end) and following.number_start == candidate.end + 1:
            candidate.unit = following.unit
            candidate.direction = following.direction
    return [candidate for candidate in found if candidate.unit is not None or _is_ratio(canonical, candidate)]


def _is_ratio(canonical: str, candidate: Candidate) -> bool:
    """倍差1.6以內, 三分之二以上: a bounded number without unit is a ratio."""
    return candidate.end > candidate.number_start and canonical[candidate.end - 2 : candidate.end] in ("以内", "以上", "以下", "左右")


def _groups(canonical: str, candidates: list[Candidate]) -> list[list[Candidate]]:
    """Enumerations: 1萬、4萬名 or 城鄉風貌樣板區6個、未來社區10個 -> members that share a clause."""
    groups: list[list[Candidate]] = []
    for candidate in candidates:
        bare = candidate.start == candidate.number_start  # nothing but glue since the previous one
        if groups and bare and canonical[candidate.start - 1 : candidate.start] in ("、", "和", "及"):
            groups[-1].append(candidate)
        else:
            groups.append([candidate])
    return groups


def _names(canonical: str, group: list[Candidate]) -> list[tuple[Span, ...]]:
    """Names for each member of an enumeration group, as spans into the text."""
    leader = group[0]
    base = _name_spans(canonical, leader)
    if len(group) == 1:
        return [base]
    # 農創客、現代“新農人”分別達到1萬、4萬名: 分別 pairs the listed names with the numbers.
    if "分别" in leader.raw_prefix and len(base) == 1:
        parts = _split_on_comma(canonical, base[0])
        if len(parts) == len(group):
            return [(part,) for part in parts]
    return [base for _ in group]


def _name_spans(canonical: str, candidate: Candidate) -> tuple[Span, ...]:
    """The words before the number (trimmed) and, when the noun follows the number, those after."""
    start, end = candidate.start, candidate.number_start
    while True:
        leading = LEADING_WORDS.match(canonical, start, end)
        new_start = leading.end() if leading and leading.end() > start else start
        new_end = _trailing_start(canonical, start, end)
        if (new_start, new_end) == (start, end):
            break
        start, end = new_start, new_end
    spans = [Span(start, end)] if start < end else []
    if candidate.end < candidate.clause_end:
        spans.append(Span(candidate.end, candidate.clause_end))
    return tuple(spans)


def _trailing_start(canonical: str, start: int, end: int) -> int:
    """Where a trailing verb (分別達到, 控制在 …) of canonical[start:end] begins, else `end`.

    endswith rather than a regex anchored with $: searching for the anchor from every position
    costs the length of the words each time a verb is stripped.
    """
    for word in TRAILING_WORDS:
        if canonical.endswith(word, start, end):
            word_start = end - len(word)
            return word_start - 2 if canonical.endswith("分别", start, word_start) else word_start
    return end


def _split_on_comma(canonical: str, span: Span) -> list[Span]:
    parts, start = [], span.start
    for position in range(span.start, span.end):
        if canonical[position] == "、":
            parts.append(Span(start, position))
            start = position + 1
    parts.append(Span(start, span.end))
    return parts


def _quoted_ranges(canonical: str, paragraph: Span) -> list[tuple[int, int]]:
    ranges, opened = [], None
    for position in range(paragraph.start, paragraph.end):
        if canonical[position] == "“":
            opened = position
        elif canonical[position] == "”" and opened is not None:
            ranges.append((opened, position))
            opened = None
    return ranges
