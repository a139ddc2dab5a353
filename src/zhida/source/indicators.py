"""Quantitative targets: 規上工業增加值增長6.5%以上, 完成90萬標箱, 倍差1.6以內, 新增5家 ...

A target is a number with a unit, in an area's goals or an article, that is
neither a benefit (給予最高20萬元, 按20%補貼), a budget, nor a threshold inside a
definition (6000元以下的手機, 高于5%的企業, 10億元以上八大…項目). Its name is
the words of its clause around the number, without the scope and bound words
that every target carries (2025年, 全年, 全市, 力爭, 爭取, 達到, 完成…90萬標箱, 控制在 …):

    2025年,規上工業增加值增長6.5%以上      -> 規上工業增加值增長        ≥ 6.5 %
    全市內河集裝箱吞吐量完成90萬標箱        -> 內河集裝箱吞吐量          = 900000 標箱
    新建5家殘疾人幫扶性就業基地            -> 新建殘疾人幫扶性就業基地  = 5 家
    推動農創客、現代“新農人”分別達到1萬、4萬名 -> 農創客 = 10000 名, 現代“新農人” = 40000 名

Numbers in quotation marks (“520”行動, “三個70%”) are names, not targets, with one
exception: 要素A、要素B、要素C等要素投向…比重…提升至“三個80%” is three targets, one per
listed factor (each factor's share is measured on its own), each named 要素+投向…比重.

A name keeps its subject and its verb:

    新增內河千噸級航道21.6公里、內河500噸級及以上泊位10個
        -> 新增內河千噸級航道, 新增內河500噸級及以上泊位 (a count of things without a verb
           takes the verb of the target before it in the sentence; a measure — 天然氣供應13億方,
           康復輔具適配3195人 — does not, the verb before may not govern it)
    完成3個街道全域未來社區建設 -> 完成街道全域未來社區建設 (完成 before a count whose noun
        follows is the verb, not the bound of 吞吐量完成90萬標箱)
    全面推進長期護理保險制度,參保人數達290萬人以上 -> 長期護理保險參保人數
        (a measure that names no domain — 參保人數, 營收總額, 投資, 指標, a bare verb —
        borrows the topic of its sentence's first clause, or of its article's title)
    利用城鄉“金角銀邊”場地新建…便民設施500個 -> 新建…便民設施 (the means is not the name)

Counts that describe the scope of a task rather than commit to a number
(推進14個省級…創新發展區建設, 加快推進南潯智能電梯等4個…試點區縣建設: 推進 + N個 + X建設)
are tasks, not targets.
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
from zhida.source.structure import ARTICLE_HEADING, Paragraph, Positions, Skeleton, excerpt

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
LEADING_WORDS = re.compile(r"(?:20\d\d年|全年|年度|全市|力争|争取|确保|推动|其中|并|和|、|\s)+")
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
# Verbs a target's name may start with; an unverbed member of the same sentence takes the one
# before it (新增A 21.6公里、B 10個 -> 新增B). 新建和改造提升: verbs joined by 和 or 、 are one run.
VERBS = (
    "新增", "新建", "改造提升", "改扩建", "新引进", "引进", "培育", "打造", "建成", "建设", "实施", "完成",
    "保障", "举办", "开通", "推进", "推动", "招引", "投放", "发放", "新筹集", "优化", "开工",
)
_VERB = "|".join(sorted(VERBS, key=len, reverse=True))
VERB_RUN = re.compile(rf"(?:{_VERB})(?:[和、](?:{_VERB}))*")
# Units that count things made, won or built (not measures like 人, 方, 元, %).
COUNTED_THINGS = ("家", "个", "项", "件", "座", "所", "处", "条", "根", "台", "辆", "艘", "张", "套(间)")
# Adverbs and scope words before the verb of a clause a topic is taken from.
TOPIC_LEAD = re.compile(r"(?:全面|持续|加快|积极|大力|深入|力争|全年|全力|稳步|如|20\d\d年)*")
# Words that end a topic but are not its subject: 長期護理保險制度 -> 長期護理保險,
# 城鄉客貨郵融合線路 -> 城鄉客貨郵 (the stations serve the same 客貨郵 network, not the lines),
# 用地要素保障 -> 用地, “四好農村路”2.0版 -> “四好農村路”.
TOPIC_HEAD = re.compile(r"(?:制度|融合线路|要素保障|\d+(?:\.\d+)*版)$")
# Measures that name no domain of their own in this family: their name borrows a topic.
GENERIC_NOUNS = ("参保人数", "营收总额", "投资", "综合性服务站点")
GENERIC_PREFIXES = ("指标",)  # 指標納入“蓄水池”統籌管理: 指標 of what
# The means of a target is not its name: 利用城鄉“金角銀邊”場地新建… -> 新建…
MEANS = re.compile(rf"(?:利用|依托|通过)[^,;。]*?(?={_VERB})")
# 推進N個X建設, 加快推進A等N個X建設: the number is the scope of a task, not a commitment.
SCOPE_BEFORE = re.compile(r"推进(?:[^,;。]*等)?$")
# 市產業基金、新增用地和存量用地、新增能耗等要素投向民間投資項目比重…提升至“三個80%”
COUNTED = re.compile(r"“(?P<count>[两二三四五六七八九])个(?P<value>\d+(?:\.\d+)?)%”")
COUNTED_CLAUSE = re.compile(r"(?P<members>[^“”,;。]+?)等要素(?P<measure>[^“”,;。在]+?)在")
COUNT = {"两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
YEAR = re.compile(r"(20\d\d)年")
FIRST_CLAUSE_BREAK = re.compile("[,;:]")
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
    written_end: int  # after the number, its 萬/億 and its own unit (before 以上, 左右)


def find_indicators(text: str, canonical: str, skeleton: Skeleton, warnings: list[str]) -> list[Indicator]:
    indicators: list[Indicator] = []
    for paragraph in skeleton.paragraphs:
        if paragraph.role not in ("goal", "article") or paragraph.area is None:
            continue
        area = skeleton.area_of(paragraph)
        default_year = skeleton.preamble.year
        named = [
            (candidate, name_spans)
            for group in _groups(canonical, _candidates(text, canonical, paragraph.span, skeleton, warnings))
            for candidate, name_spans in zip(group, _names(canonical, group), strict=True)
        ]
        title = _title_span(canonical, paragraph)
        names = _complete_names(canonical, skeleton, named, title)
        for (candidate, _), name_spans in zip(named, names, strict=True):
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
                    department=area.answerable(paragraph.article),
                    written=_written(text, candidate),
                )
            )
        indicators.extend(
            _counted_shares(text, canonical, skeleton, paragraph, area.number, area.department, default_year or 0)
        )
    indicators.sort(key=lambda indicator: indicator.span.start)
    return indicators


def _written(text: str, candidate: Candidate) -> str:
    """The value and unit as written: 50億元, 90萬標箱; 1萬 of 1萬、4萬名 shares 名: 1萬名."""
    written = text[candidate.number_start : candidate.written_end]
    unit = candidate.unit
    if unit is not None and not candidate.number_start <= unit.start < candidate.written_end:
        written += text[unit.start : unit.end]
    return written


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
    if unit == "个" and after.endswith("建设") and SCOPE_BEFORE.search(
        canonical, skeleton.clause_start(number_start, paragraph.start), number_start
    ):
        return None  # 推進14個…創新發展區建設: the scope of a task (see the module docstring)
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
        written_end=match.end(),
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
    if not spans and candidate.end < candidate.clause_end and canonical[end : candidate.number_start] == "完成":
        spans = [Span(end, end + 2)]  # 完成3個街道全域未來社區建設: 完成 is the verb, the noun follows
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


def _title_span(canonical: str, paragraph: Paragraph) -> Span | None:
    """The title of the paragraph's article ((三十八)優化用地要素保障。 -> 優化用地要素保障), else None."""
    if paragraph.article is None:
        return None
    heading = ARTICLE_HEADING.match(canonical, paragraph.span.start, paragraph.span.end)
    if heading is None:
        return None
    end = canonical.find("。", heading.end(), paragraph.span.end)
    return Span(heading.end(), paragraph.span.end if end < 0 else end)


def _verb(canonical: str, spans: tuple[Span, ...]) -> Span | None:
    """The verb run a name starts with (新增, 新建和改造提升 …), else None."""
    if not spans:
        return None
    match = VERB_RUN.match(canonical, spans[0].start, spans[0].end)
    return Span(match.start(), match.end()) if match else None


def _without(spans: tuple[Span, ...], verb: Span | None) -> tuple[Span, ...]:
    """The name's words after its verb."""
    if verb is None:
        return spans
    first = Span(verb.end, spans[0].end)
    return tuple(span for span in (first, *spans[1:]) if span.end > span.start)


def _is_generic(canonical: str, noun: tuple[Span, ...]) -> bool:
    words = "".join(canonical[span.start : span.end] for span in noun)
    return words == "" or words in GENERIC_NOUNS or words.startswith(GENERIC_PREFIXES)


def _complete_names(
    canonical: str,
    skeleton: Skeleton,
    named: list[tuple[Candidate, tuple[Span, ...]]],
    title: Span | None,
) -> list[tuple[Span, ...]]:
    """Give each name of a paragraph its subject and its verb (see the module docstring)."""
    names: list[tuple[Span, ...]] = []
    previous: tuple[int, Span | None] | None = None  # (sentence index, verb) of the target before
    for index, (candidate, spans) in enumerate(named):
        spans = _strip_means(canonical, spans)
        sentence = skeleton.sentence_at(candidate.number_start)
        verb = _verb(canonical, spans)
        noun = _without(spans, verb)
        if _is_generic(canonical, noun):
            topic = _topic(canonical, skeleton.positions, sentence.span, candidate, named[:index], title)
            spans = tuple(span for span in (verb, topic, *noun) if span is not None)
        elif verb is None and _counts_things(canonical, candidate) and previous and previous[0] == sentence.index:
            verb = previous[1]
            spans = spans if verb is None else (verb, *spans)
        previous = (sentence.index, verb)
        names.append(spans)
    return names


def _counts_things(canonical: str, candidate: Candidate) -> bool:
    """Whether a target counts things made or won (泊位10個, 產業園1個), which take the verb before.

    A measure (天然氣供應13億方, 進出口額500億元, 康復輔具適配3195人) does not: its own noun says what
    is measured, and the verb before it may not govern it.
    """
    unit = canonical[candidate.unit.start : candidate.unit.end] if candidate.unit else ""
    return unit in COUNTED_THINGS


def _strip_means(canonical: str, spans: tuple[Span, ...]) -> tuple[Span, ...]:
    if not spans:
        return spans
    match = MEANS.match(canonical, spans[0].start, spans[0].end)
    if match is None or match.end() == spans[0].start:
        return spans
    return (Span(match.end(), spans[0].end), *spans[1:])


def _topic(
    canonical: str,
    positions: Positions,
    sentence: Span,
    candidate: Candidate,
    before: list[tuple[Candidate, tuple[Span, ...]]],
    title: Span | None,
) -> Span | None:
    """What a domainless measure is about: its sentence's first clause, else its article's title.

    When the first clause is itself a target (全年新增人力資源服務機構180家,營收總額…), the topic
    is that target's noun; otherwise the clause without its adverbs and verb.
    """
    first_end = positions.first(FIRST_CLAUSE_BREAK, sentence.start, sentence.end)
    first_end = sentence.end if first_end < 0 else first_end
    if candidate.number_start < first_end:
        source = title
    else:
        source = Span(sentence.start, first_end)
        for other, spans in reversed(before):
            if other.number_start < sentence.start:
                break
            if other.number_start < first_end and spans:
                verb = _verb(canonical, spans)
                source = Span(verb.end if verb else spans[0].start, spans[0].end)
    if source is None:
        return None
    start = source.start
    while True:
        lead = TOPIC_LEAD.match(canonical, start, source.end)
        start = lead.end()
        verb = VERB_RUN.match(canonical, start, source.end)
        if verb is None or verb.end() == start:
            break
        start = verb.end()
    head = TOPIC_HEAD.search(canonical, start, source.end)
    end = head.start() if head else source.end
    return Span(start, end) if start < end else None


def _counted_shares(
    text: str, canonical: str, skeleton: Skeleton, paragraph: Paragraph, area: int, department: str, year: int
) -> list[Indicator]:
    """要素A、要素B、要素C等要素投向X比重…提升至“三個80%”: one target per listed factor.

    The year is the document's: the sentence's own 20XX年 is the baseline (在2024年“三個70%”基礎上).
    """
    found: list[Indicator] = []
    for match in COUNTED.finditer(canonical, paragraph.span.start, paragraph.span.end):
        if canonical.startswith("基础上", match.end()):
            continue  # the baseline, not the target
        start = skeleton.clause_start(match.start(), paragraph.span.start)
        clause = COUNTED_CLAUSE.match(canonical, start, match.start())
        if clause is None:
            continue
        members, position = [], clause.start("members")
        for piece in canonical[clause.start("members") : clause.end("members")].split("、"):
            members.append(Span(position, position + len(piece)))
            position += len(piece) + 1
        if len(members) != COUNT[match.group("count")]:
            continue  # the count does not match the list: no reading of which factor is which
        measure = Span(clause.start("measure"), clause.end("measure"))
        sentence = skeleton.sentence_at(match.start())
        for member in members:
            found.append(
                Indicator(
                    name=text[member.start : member.end] + text[measure.start : measure.end],
                    value=Decimal(match.group("value")),
                    value_high=None,
                    unit="%",
                    direction=DIRECTIONS[prefix_qualifier(canonical[start : match.start()])],
                    year=year,
                    text=text[start : match.end()],
                    span=Span(start, match.end()),
                    sentence=sentence.index,
                    article=paragraph.article,
                    area=area,
                    department=department,
                    written=text[match.start("value") : match.end("value")] + "%",
                )
            )
    return found
