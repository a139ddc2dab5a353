"""The skeleton of a policy document: preamble, areas (一、…), articles ((一)…), sentences.

Documents of this family are written one paragraph per line:

    各區縣人民政府,市政府直屬各單位:                        addressees
    現將《關于…(2025年版)》印發給你們,…                    transmittal (the title in 《》)
    湖州市人民政府 / 2025年3月14日                          issuer, date of issue
    為深入貫徹落實…(浙政發〔2025〕3號)文件精神,…            the superior document
    一、推進教育科技人才一體發展(由市科技局牽頭實施)        an area and its lead department
    四、推進高水平對外開放                                  an area naming no lead department
    …全市財政預算安排17.25億元。                            the area's goals and budget
    (一)推動高能級科創平臺提質增效。支持企業…             an article: title, then body
    …市財政2024年預算安排資金12億元,其中用于…8億元、…      or the area's budget in an article
    (責任單位:市經信局、市財政局)                           the article's own departments
    上述8個領域政策,…除交叉重疊部分外,支持總額為233.9億元。 closing: the stated total
    …均為2025年全年實施有效。                              validity (or 自…起施行,有效期至…)

A short line without number or punctuation between articles (加大金融支持力度) reads as a
heading the family does not number: it is placed nowhere, with a warning naming its line.

All matching is done on the canonical copy (Simplified, half-width) and every
span points into the original text.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal

from zhida.source.model import Area, Article, BudgetPart, Preamble, Sentence, Span
from zhida.source.numerals import chinese_to_decimal, format_value, parse_number

# Matched with fullmatch on a stripped line that ends with AREA_HEADING_END: then the first (由
# starts the department and the match is found in one pass (no retry at each later (由).
AREA_HEADING = re.compile(r"([一二三四五六七八九十百零]+)、(.+?)\(由(.+)牵头实施\)")
AREA_HEADING_END = "牵头实施)"
# An area heading naming no lead department: 四、推进高水平对外开放 — short, no clause punctuation.
BARE_AREA_HEADING = re.compile(r"([一二三四五六七八九十百零]+)、([^,;:。!?]+)")
BARE_HEADING_LENGTH = 40
# A line between articles that reads as an unnumbered heading (加大金融支持力度): short, no punctuation.
UNNUMBERED_HEADING = re.compile(r"[^,;:。!?()“”]+")
UNNUMBERED_HEADING_LENGTH = 30
# An article's own departments: (责任单位:市发改委、市财政局); also 责任部门, 牵头单位.
DEPARTMENT_NOTE = re.compile(r"\((?:责任单位|责任部门|牵头单位)[:]([^()]{1,200})\)")
DEPARTMENT_SEPARATOR = re.compile(r"[、,;]")
# What an area heading starts with, to warn about one that is not read as such.
HEADING_LIKE = re.compile(r"[零一二三四五六七八九十百千两]+、")
ARTICLE_HEADING = re.compile(r"\(([一二三四五六七八九十百零]+)\)")
ISSUER = re.compile(r"[\u4e00-\u9fff]{2,20}(?:人民政府|办公厅|办公室)$")
ISSUE_DATE = re.compile(r"([0-9零一二三四五六七八九]{4})年([0-9一二三四五六七八九十]{1,3})月([0-9一二三四五六七八九十]{1,3})日$")
SUPERIOR_NUMBER = re.compile(r"[\u4e00-\u9fff]{1,8}[〔\[]\d{4}[〕\]]\d+号")
VALIDITY = re.compile(r"均为(\d{4})年全年实施有效")
DATE = r"(\d{4})年(\d{1,2})月(\d{1,2})日"
VALID_FROM = re.compile(rf"自{DATE}起(?:施行|实施|执行|生效)")
VALID_FROM_ISSUE = re.compile(r"自(?:印发|发布)之日起(?:施行|实施|执行|生效)")
VALID_UNTIL = re.compile(rf"有效期至{DATE}")
VALID_YEARS = re.compile(r"有效期(?:为)?([0-9一二两三四五六七八九十]{1,3})年")
EDITION_YEAR = re.compile(r"(\d{4})年版")
SENTENCE_END = "。!?"
# Where a clause starts: qualifiers never reach across these.
CLAUSE_BREAKS = ",;:。!?\n"
_CLAUSE_BREAK = re.compile(f"[{re.escape(CLAUSE_BREAKS)}]")
_CLAUSE_OR_ENUMERATION_BREAK = re.compile(f"[{re.escape(CLAUSE_BREAKS)}、]")


class Positions:
    """Sorted start offsets of a pattern in the canonical text, found once per pattern.

    The finders ask "is 最高 in this clause" and "where does this clause end" for every number;
    a paragraph may hold thousands of numbers, so each answer is a bisection, not a scan.
    """

    def __init__(self, canonical: str) -> None:
        self._canonical = canonical
        self._found: dict[str, list[int]] = {}

    def _of(self, pattern: re.Pattern[str]) -> list[int]:
        if pattern.pattern not in self._found:
            self._found[pattern.pattern] = [match.start() for match in pattern.finditer(self._canonical)]
        return self._found[pattern.pattern]

    def first(self, pattern: re.Pattern[str], start: int, end: int) -> int:
        """Like str.find: the first start in [start, end), or -1."""
        found = self._of(pattern)
        index = bisect.bisect_left(found, start)
        return found[index] if index < len(found) and found[index] < end else -1

    def last(self, pattern: re.Pattern[str], start: int, end: int) -> int:
        """The last start in [start, end), or -1."""
        found = self._of(pattern)
        index = bisect.bisect_left(found, end) - 1
        return found[index] if index >= 0 and found[index] >= start else -1

    def contains(self, word: str, start: int, end: int) -> bool:
        """Whether `word` lies wholly inside [start, end), as `word in canonical[start:end]`."""
        return self.first(re.compile(re.escape(word)), start, end - len(word) + 1) >= 0


@dataclass(frozen=True)
class Paragraph:
    span: Span  # one line of the text, stripped
    area: int | None  # None: preamble or closing
    article: int | None  # None: not inside an article
    role: str  # "preamble", "area", "goal", "article", "closing"


@dataclass(frozen=True)
class Skeleton:
    """Everything but the numbers: what the amount and indicator finders build on."""

    preamble: Preamble
    areas: tuple[Area, ...]
    paragraphs: tuple[Paragraph, ...]
    sentences: tuple[Sentence, ...]
    sentence_paragraphs: tuple[int, ...]  # sentence index -> paragraph index
    warnings: tuple[str, ...]
    notes: tuple[str, ...]  # information, not faults (an area naming no lead department)
    department_notes: tuple[Span, ...]  # every (責任單位:…), not words of a task
    line_starts: tuple[int, ...]  # offset of each line of the text, blank lines included
    positions: Positions = field(compare=False)

    def line_of(self, offset: int) -> int:
        """The line (from 1, as an editor counts) holding `offset`: warnings name it."""
        return bisect.bisect_right(self.line_starts, offset)

    def clause_start(self, position: int, floor: int = 0) -> int:
        """Just after the last clause break before `position` (not before `floor`)."""
        found = self.positions.last(_CLAUSE_BREAK, floor, position)
        return found + 1 if found >= 0 else floor

    def clause_end(self, position: int, limit: int) -> int:
        """The first clause break or 、 from `position` (before `limit`), else `limit`."""
        found = self.positions.first(_CLAUSE_OR_ENUMERATION_BREAK, position, limit)
        return found if found >= 0 else limit

    def sentence_at(self, offset: int) -> Sentence:
        index = bisect.bisect_right(self.sentences, offset, key=lambda sentence: sentence.span.start) - 1
        return self.sentences[index]

    def paragraph_of(self, sentence: Sentence) -> Paragraph:
        return self.paragraphs[self.sentence_paragraphs[sentence.index]]

    def area_of(self, paragraph: Paragraph) -> Area:
        """The area a paragraph sits in (by position: area numbers may repeat in a corpus)."""
        index = bisect.bisect_right(self.areas, paragraph.span.start, key=lambda area: area.span.start) - 1
        return self.areas[index]


def line_starts(canonical: str) -> tuple[int, ...]:
    return (0, *(match.end() for match in re.finditer("\n", canonical)))


def excerpt(text: str, length: int = 24) -> str:
    """The start of a line, for a warning that quotes it."""
    return text if len(text) <= length else text[:length] + "…"


def lines(canonical: str) -> list[Span]:
    """Non-blank lines, with surrounding spaces trimmed."""
    spans = []
    for match in re.finditer(r"[^\n]+", canonical):
        start, end = match.span()
        while start < end and canonical[start].isspace():
            start += 1
        while end > start and canonical[end - 1].isspace():
            end -= 1
        if start < end:
            spans.append(Span(start, end))
    return spans


def split_sentences(canonical: str, span: Span) -> list[Span]:
    """Sentences of one paragraph, each ending with its 。 (or ! ?), the last possibly without."""
    spans = []
    start = span.start
    for position in range(span.start, span.end):
        if canonical[position] in SENTENCE_END:
            spans.append(Span(start, position + 1))
            start = position + 1
    if start < span.end:
        spans.append(Span(start, span.end))
    return spans


def area_heading(canonical: str, span: Span) -> re.Match[str] | None:
    """一、推進…(由市科技局牽頭實施) on one line: number, title, department (group 3);
    or 四、推進高水平對外開放, a short line naming no department (no group 3)."""
    if canonical.endswith(AREA_HEADING_END, span.start, span.end):
        return AREA_HEADING.fullmatch(canonical, span.start, span.end)
    if span.end - span.start > BARE_HEADING_LENGTH:
        return None
    return BARE_AREA_HEADING.fullmatch(canonical, span.start, span.end)


def heading_department(text: str, heading: re.Match[str]) -> str:
    """The lead department of an area heading, original script; "" when it names none."""
    return text[heading.start(3) : heading.end(3)] if heading.re is AREA_HEADING else ""


def classify(original: str, canonical: str, line_spans: list[Span], line_of, warnings: list[str]) -> list[Paragraph]:
    """Give each line its role and its place (area, article).

    A line that starts like an area heading (一、) or an article ((一)) but cannot be read as one
    stays where it is, as text of the current area or article, with a warning naming its line.
    A short unnumbered line between articles (加大金融支持力度) is a heading the parser cannot place:
    it and the text under it (up to the next numbered heading) get the role "unplaced" and belong
    to no area, with a warning naming its line, rather than being filed under the previous article.
    """
    paragraphs: list[Paragraph] = []
    area: int | None = None
    article: int | None = None
    seen_area = unplaced = False
    for span in line_spans:
        text = canonical[span.start : span.end]
        where = f"第{line_of(span.start)}行「{excerpt(original[span.start : span.end])}」"
        if (area_number := _area_number(canonical, span, where, warnings)) is not None:
            area, article, seen_area, unplaced = area_number, None, True, False
            paragraphs.append(Paragraph(span, area, None, "area"))
        elif seen_area and (article_number := _article_number(text, where, warnings)) is not None:
            article, unplaced = article_number, False
            paragraphs.append(Paragraph(span, area, article, "article"))
        elif not seen_area:
            paragraphs.append(Paragraph(span, None, None, "preamble"))
        elif unplaced or _is_unnumbered_heading(canonical, span):
            unplaced = True
            paragraphs.append(Paragraph(span, area, article, "unplaced"))
        elif article is None:
            paragraphs.append(Paragraph(span, area, None, "goal"))
        else:
            paragraphs.append(Paragraph(span, area, article, "article"))
    return _place_nowhere(original, _mark_closing(canonical, paragraphs), line_of, warnings)


def _is_unnumbered_heading(canonical: str, span: Span) -> bool:
    """加大金融支持力度 between articles: short, no punctuation, not a (責任單位:…) note."""
    return span.end - span.start <= UNNUMBERED_HEADING_LENGTH and UNNUMBERED_HEADING.fullmatch(
        canonical, span.start, span.end
    ) is not None


def _place_nowhere(original: str, paragraphs: list[Paragraph], line_of, warnings: list[str]) -> list[Paragraph]:
    """Warn about each unplaced heading before the closing, and take it out of its area."""
    placed = []
    for index, paragraph in enumerate(paragraphs):
        if paragraph.role != "unplaced":
            placed.append(paragraph)
            continue
        previous = paragraphs[index - 1] if index else None
        if previous is None or previous.role != "unplaced":  # the heading line, not the text under it
            span = paragraph.span
            warnings.append(
                f"第{line_of(span.start)}行「{excerpt(original[span.start : span.end])}」: 看似标题,但没有“一、”或“(一)”式编号,"
                f"无法确定所属领域,该行及其下文字未归入任何领域或条目(其后的条目仍按编号列在领域{paragraph.area}下)"
            )
        placed.append(Paragraph(paragraph.span, None, None, "unplaced"))
    return placed


def _area_number(canonical: str, span: Span, where: str, warnings: list[str]) -> int | None:
    """The number of an area heading, or None (with a warning when the line looks like one)."""
    heading = area_heading(canonical, span)
    if heading is None:
        if HEADING_LIKE.match(canonical, span.start, span.end):
            warnings.append(
                f"{where}: 看似领域标题,但不是“一、标题”或“一、标题(由…牵头实施)”的格式"
                f"(标题不超过{BARE_HEADING_LENGTH}字、不含句读),未作为领域读取"
            )
        return None
    try:
        return int(chinese_to_decimal(heading.group(1)))
    except ValueError as error:
        warnings.append(f"{where}: 领域编号无法读取({error}),未作为领域读取")
        return None


def _article_number(text: str, where: str, warnings: list[str]) -> int | None:
    if (heading := ARTICLE_HEADING.match(text)) is None:
        return None
    try:
        return int(chinese_to_decimal(heading.group(1)))
    except ValueError as error:
        warnings.append(f"{where}: 条目编号无法读取({error}),并入上一段")
        return None


def _mark_closing(canonical: str, paragraphs: list[Paragraph]) -> list[Paragraph]:
    """Lines after the last article that read as the document's closing are not part of it.

    The closing starts at the first line after the last article heading that is not
    itself an article heading: articles are one paragraph each in this family.
    """
    last_heading = max(
        (index for index, paragraph in enumerate(paragraphs) if paragraph.role == "article"
         and ARTICLE_HEADING.match(canonical[paragraph.span.start : paragraph.span.end])),
        default=None,
    )
    if last_heading is None:
        return paragraphs
    return [
        Paragraph(paragraph.span, None, None, "closing") if index > last_heading else paragraph
        for index, paragraph in enumerate(paragraphs)
    ]


def build(text: str, canonical: str) -> Skeleton:
    """Read the skeleton of a document (see the module docstring for the shape)."""
    starts = line_starts(canonical)

    def line_of(offset: int) -> int:  # as Skeleton.line_of, before the Skeleton exists
        return bisect.bisect_right(starts, offset)

    warnings: list[str] = []
    paragraphs = classify(text, canonical, lines(canonical), line_of, warnings)
    sentences: list[Sentence] = []
    sentence_paragraphs: list[int] = []
    by_paragraph: list[tuple[Sentence, ...]] = []
    for paragraph_index, paragraph in enumerate(paragraphs):
        first = len(sentences)
        for span in split_sentences(canonical, paragraph.span):
            sentences.append(Sentence(len(sentences), span, text[span.start : span.end]))
            sentence_paragraphs.append(paragraph_index)
        by_paragraph.append(tuple(sentences[first:]))

    areas = tuple(_areas(text, canonical, paragraphs, by_paragraph, line_of, warnings))
    preamble = _preamble(text, canonical, paragraphs, line_of, warnings)
    return Skeleton(
        preamble=preamble,
        areas=areas,
        paragraphs=tuple(paragraphs),
        sentences=tuple(sentences),
        sentence_paragraphs=tuple(sentence_paragraphs),
        warnings=(*warnings, *_numbering_warnings(areas)),
        notes=tuple(
            f"领域{area.number}「{area.title}」没有写明牵头单位(标题中没有“由…牵头实施”)"
            for area in areas
            if not area.department
        ),
        department_notes=tuple(
            Span(match.start(), match.end())
            for paragraph in paragraphs
            if paragraph.role in ("goal", "article")
            for match in DEPARTMENT_NOTE.finditer(canonical, paragraph.span.start, paragraph.span.end)
        ),
        line_starts=starts,
        positions=Positions(canonical),
    )


def _areas(
    text: str,
    canonical: str,
    paragraphs: list[Paragraph],
    by_paragraph: list[tuple[Sentence, ...]],
    line_of,
    warnings: list[str],
):
    """Each area heading with the goal and article paragraphs that follow it, up to the next heading."""
    headings = [index for index, paragraph in enumerate(paragraphs) if paragraph.role == "area"]
    for heading_index, following in zip(headings, headings[1:] + [len(paragraphs)]):
        paragraph = paragraphs[heading_index]
        heading = area_heading(canonical, paragraph.span)
        assert heading is not None  # classify gave the role "area" to this line
        members = [i for i in range(heading_index + 1, following) if paragraphs[i].role in ("goal", "article")]
        goals = tuple(s for i in members if paragraphs[i].role == "goal" for s in by_paragraph[i])
        articles = _articles(text, canonical, paragraphs, [i for i in members if paragraphs[i].role == "article"], by_paragraph)
        end = paragraphs[members[-1]].span.end if members else paragraph.span.end
        budget = _budget(text, canonical, goals, articles, line_of, warnings)
        yield Area(
            number=paragraph.area or 0,
            title=text[heading.start(2) : heading.end(2)],
            department=heading_department(text, heading),
            budget=budget.value if budget else None,
            goals=goals,
            span=Span(paragraph.span.start, end),
            articles=articles,
            budget_article=budget.article if budget else None,
            budget_span=budget.span if budget else None,
            budget_parts=budget.parts if budget else (),
        )


def _articles(text, canonical, paragraphs, indexes, by_paragraph) -> tuple[Article, ...]:
    """Group article lines by number: a heading line and any continuation lines."""
    groups: dict[int, list[int]] = {}
    for index in indexes:
        groups.setdefault(paragraphs[index].article or 0, []).append(index)
    articles = []
    for number, members in groups.items():
        first, last = paragraphs[members[0]].span, paragraphs[members[-1]].span
        heading = ARTICLE_HEADING.match(canonical, first.start)
        body_start = heading.end() if heading else first.start
        title_end = canonical.find("。", body_start, first.end)
        title_end = first.end if title_end < 0 else title_end
        articles.append(
            Article(
                number=number,
                title=text[body_start:title_end],
                text=text[first.start : last.end],
                span=Span(first.start, last.end),
                area=paragraphs[members[0]].area or 0,
                sentences=tuple(s for i in members for s in by_paragraph[i]),
                departments=_departments(text, canonical, [paragraphs[i].span for i in members]),
            )
        )
    return tuple(articles)


def _departments(text: str, canonical: str, spans: list[Span]) -> tuple[str, ...]:
    """The names in an article's (責任單位:A、B) notes, original script, in order, once each."""
    names: list[str] = []
    for span in spans:
        for note in DEPARTMENT_NOTE.finditer(canonical, span.start, span.end):
            start = note.start(1)
            for piece in DEPARTMENT_SEPARATOR.split(note.group(1)):
                name = text[start : start + len(piece)].strip()
                start += len(piece) + 1
                if name and name not in names:
                    names.append(name)
    return tuple(names)


# 全市財政預算安排17.25億元 (goals), 市財政2024年預算安排資金12億元 (an article).
BUDGET = re.compile(r"预算安排(?:资金)?(\d+(?:\.\d+)?)(亿|万)?元")
# ,其中用于A 8億元、用于B 3億元: the breakdown right after a budget.
BREAKDOWN = re.compile(r",?其中:?")
BUDGET_PART = re.compile(r"(?:用于)?(?P<purpose>[^、,;:。\d]{1,40}?)(?P<number>\d+(?:\.\d+)?)(?P<multiplier>亿|万)?元")
STATED_TOTAL = re.compile(r"支持总额为(\d+(?:\.\d+)?)(亿|万)?元")
CROSS_OVERLAP = "除交叉重叠部分外"


@dataclass(frozen=True)
class Budget:
    value: Decimal
    article: int | None  # None: stated in the area's goals
    span: Span  # 預算安排… through its breakdown
    parts: tuple[BudgetPart, ...]


def _budget(text: str, canonical: str, goals: tuple[Sentence, ...], articles: tuple[Article, ...], line_of, warnings: list[str]) -> Budget | None:
    """The area's budget: in its goals (全市財政預算安排X億元), else in the first article stating one
    (市財政2024年預算安排資金X億元,其中…), with its breakdown."""
    places = [(None, sentence) for sentence in goals]
    places += [(article.number, sentence) for article in articles for sentence in article.sentences]
    for article, sentence in places:
        match = BUDGET.search(canonical, sentence.span.start, sentence.span.end)
        if match is None:
            continue
        value = _yuan(match, line_of, warnings, "财政预算")
        if value is None:
            return None
        parts = _budget_parts(text, canonical, match.end(), sentence.span.end, line_of, warnings)
        end = parts[-1].span.end if parts else match.end()
        if parts and sum(part.value for part in parts) != value:
            warnings.append(
                f"第{line_of(match.start())}行: 财政预算 {format_value(value)} 元的分项之和为 "
                f"{format_value(sum(part.value for part in parts))} 元,与之不符"
            )
        return Budget(Decimal(value), article, Span(match.start(), end), parts)
    return None


def _budget_parts(text: str, canonical: str, start: int, end: int, line_of, warnings: list[str]) -> tuple[BudgetPart, ...]:
    """其中用于A X億元、用于B Y億元 right after a budget (ending at `start`), up to the sentence end."""
    lead = BREAKDOWN.match(canonical, start, end)
    if lead is None or lead.end() == lead.start() or "其中" not in lead.group():
        return ()
    parts: list[BudgetPart] = []
    position = lead.end()
    while part := BUDGET_PART.match(canonical, position, end):
        number = part.group("number") + (part.group("multiplier") or "")
        try:
            value = Decimal(parse_number(number))
        except ValueError as error:
            warnings.append(f"第{line_of(part.start())}行: 预算分项“{excerpt(text[part.start() : part.end()])}”无法读取({error})")
            return tuple(parts)
        parts.append(
            BudgetPart(
                purpose=text[part.start("purpose") : part.end("purpose")],
                value=value,
                written=text[part.start("number") : part.end()],
                span=Span(part.start(), part.end()),
            )
        )
        position = part.end()
        if position >= end or canonical[position] not in "、,;和及":
            break
        position += 1
    return tuple(parts)


def stated_total(canonical: str, line_of, warnings: list[str]):
    """支持總額為233.9億元 -> Decimal yuan, or None when the document states no total."""
    if match := STATED_TOTAL.search(canonical):
        return _yuan(match, line_of, warnings, "支持总额")
    return None


def _yuan(match: re.Match[str], line_of, warnings: list[str], what: str):
    """A budget or total in 元, or None with a warning when the number cannot be read."""
    try:
        return parse_number(match.group(1) + (match.group(2) or ""))
    except ValueError as error:
        warnings.append(f"第{line_of(match.start(1))}行: {what}无法读取({error})")
        return None


def _preamble(text: str, canonical: str, paragraphs: list[Paragraph], line_of, warnings: list[str]) -> Preamble:
    addressees = issuer = title = implements = None
    title_canonical = None
    issued = None
    for paragraph in paragraphs:
        if paragraph.role != "preamble":
            continue
        start, end = paragraph.span.start, paragraph.span.end
        line = canonical[start:end]
        original = text[start:end]
        if addressees is None and line.endswith(":") and len(line) < 80:
            addressees = original[:-1]
        elif issuer is None and ISSUER.match(line):
            issuer = original
        elif issued is None and (date := ISSUE_DATE.match(line)):
            issued = _issue_date(date, f"第{line_of(start)}行「{excerpt(original)}」", warnings)
        if title is None and (transmitted := _transmitted_title(line)):
            title = text[start + transmitted[0] : start + transmitted[1]]
            title_canonical = line[transmitted[0] : transmitted[1]]
        if implements is None and (superior := SUPERIOR_NUMBER.search(line)):
            implements = text[start + superior.start() : start + superior.end()]
    if title is None:
        title, title_canonical = _title_lines(text, canonical, paragraphs)
    closing = [paragraph.span for paragraph in paragraphs if paragraph.role == "closing"]
    valid_from, valid_to = _validity_dates(canonical, closing, issued, line_of, warnings)
    year = _validity_year(canonical, title_canonical, issued, line_of, warnings)
    if valid_from is None and valid_to is None and year:
        valid_from, valid_to = dt.date(year, 1, 1), dt.date(year, 12, 31)
    document_year = valid_from.year if valid_from else valid_to.year if valid_to else year
    return Preamble(
        title=title or "",
        issuer=issuer,
        issued=issued,
        addressees=addressees,
        implements=implements,
        valid_from=valid_from,
        valid_to=valid_to,
        year=document_year,
    )


def _validity_dates(
    canonical: str, closing: list[Span], issued: dt.date | None, line_of, warnings: list[str]
) -> tuple[dt.date | None, dt.date | None]:
    """自2026年3月1日起施行(或 自印發之日起施行),有效期至2026年12月31日 / 有效期2年, in the closing.

    均為2025年全年實施有效 is read by _validity_year; a date range in an article (2025年1月1日至…
    期間購買的) is a condition of a benefit, not the document's validity, so only the closing is read.
    """
    valid_from = valid_to = None
    years = None
    for span in closing:
        if valid_from is None and (match := VALID_FROM.search(canonical, span.start, span.end)):
            valid_from = _clause_date(match, line_of, warnings, "施行日期")
        elif valid_from is None and VALID_FROM_ISSUE.search(canonical, span.start, span.end):
            valid_from = issued
        if valid_to is None and (match := VALID_UNTIL.search(canonical, span.start, span.end)):
            valid_to = _clause_date(match, line_of, warnings, "有效期截止日期")
        if years is None and (match := VALID_YEARS.search(canonical, span.start, span.end)):
            years = _date_part(match.group(1))
    if valid_to is None and valid_from is not None and years:
        try:
            valid_to = valid_from.replace(year=valid_from.year + years) - dt.timedelta(days=1)
        except ValueError:  # 2月29日 + N years, or past dt.MAXYEAR
            valid_to = dt.date(min(valid_from.year + years, dt.MAXYEAR), 2, 28)
    return valid_from, valid_to


def _clause_date(match: re.Match[str], line_of, warnings: list[str], what: str) -> dt.date | None:
    try:
        return dt.date(*(int(part) for part in match.groups()[:3]))
    except ValueError:
        warnings.append(f"第{line_of(match.start())}行: {what}“{match.group()}”不是有效的日期,未读取")
        return None


def _transmitted_title(line: str) -> tuple[int, int] | None:
    """現將《…》印發: the span of the title within `line`.

    str.find rather than a lazy regex: 《(.+?)》印發 retries from every 《 in a line without
    》印發, which grows with the square of the line's length.
    """
    opening = line.find("《")
    if opening < 0:
        return None
    # From the first 《: a later one leaves fewer characters, so it cannot find an 》印發 this misses.
    closing = line.find("》印发", opening + 2)
    return None if closing < 0 else (opening + 1, closing)


def _issue_date(date: re.Match[str], where: str, warnings: list[str]) -> dt.date | None:
    try:
        return dt.date(*(_date_part(part) for part in date.groups()))
    except ValueError:
        warnings.append(f"{where}: 不是有效的发文日期,未读取")
        return None


def _title_lines(text: str, canonical: str, paragraphs: list[Paragraph]) -> tuple[str | None, str | None]:
    """Without a transmittal line, the title is the short line(s) before the first long paragraph."""
    parts: list[Span] = []
    for paragraph in paragraphs:
        line = canonical[paragraph.span.start : paragraph.span.end]
        if paragraph.role != "preamble" or len(line) > 60:
            break
        if line.endswith(":") or ISSUER.match(line) or ISSUE_DATE.match(line):
            continue
        parts.append(paragraph.span)
    if not parts:
        return None, None
    return "".join(text[p.start : p.end] for p in parts), "".join(canonical[p.start : p.end] for p in parts)


def _validity_year(canonical: str, title: str | None, issued: dt.date | None, line_of, warnings: list[str]) -> int | None:
    """均為2025年全年實施有效, else the edition year (2025年版), else the year of issue."""
    if match := VALIDITY.search(canonical):
        if int(match.group(1)) >= dt.MINYEAR:
            return int(match.group(1))
        warnings.append(f"第{line_of(match.start())}行: 有效年份 {match.group(1)} 不是有效的年份,未读取")
    if title and (match := EDITION_YEAR.search(title)) and int(match.group(1)) >= dt.MINYEAR:
        return int(match.group(1))
    return issued.year if issued else None


def _date_part(text: str) -> int:
    if text.isdigit():
        return int(text)
    if len(text) == 4:  # 二〇二五: digit by digit
        return int("".join(str(int(chinese_to_decimal(character))) for character in text))
    return int(chinese_to_decimal(text))


def _numbering_warnings(areas: tuple[Area, ...]) -> list[str]:
    warnings = []
    area_numbers = [area.number for area in areas]
    if area_numbers != list(range(1, len(areas) + 1)):
        warnings.append(f"领域编号不连续: {area_numbers}")
    article_numbers = [article.number for area in areas for article in area.articles]
    if article_numbers != list(range(1, len(article_numbers) + 1)):
        warnings.append(f"条目编号不连续: {article_numbers}")
    for area in areas:
        if area.budget is None:
            warnings.append(f"领域{area.number}「{area.title}」没有写明财政预算安排")
    return warnings
