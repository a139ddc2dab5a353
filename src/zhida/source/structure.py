"""The skeleton of a policy document: preamble, areas (一、…), articles ((一)…), sentences.

Documents of this family are written one paragraph per line:

    各區縣人民政府,市政府直屬各單位:                        addressees
    現將《關于…(2025年版)》印發給你們,…                    transmittal (the title in 《》)
    湖州市人民政府 / 2025年3月14日                          issuer, date of issue
    為深入貫徹落實…(浙政發〔2025〕3號)文件精神,…            the superior document
    一、推進教育科技人才一體發展(由市科技局牽頭實施)        an area and its lead department
    …全市財政預算安排17.25億元。                            the area's goals and budget
    (一)推動高能級科創平臺提質增效。支持企業…             an article: title, then body
    上述8個領域政策,…支持總額為233.9億元。                 closing: the stated total
    …均為2025年全年實施有效。                              validity

All matching is done on the canonical copy (Simplified, half-width) and every
span points into the original text.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from dataclasses import dataclass

from zhida.source.model import Area, Article, Preamble, Sentence, Span
from zhida.source.numerals import chinese_to_decimal, parse_number

AREA_HEADING = re.compile(r"([一二三四五六七八九十]+)、(.+?)\(由(.+?)牵头实施\)\s*$")
ARTICLE_HEADING = re.compile(r"\(([一二三四五六七八九十百]+)\)")
ISSUER = re.compile(r"[\u4e00-\u9fff]{2,20}(?:人民政府|办公厅|办公室)$")
ISSUE_DATE = re.compile(r"([0-9零一二三四五六七八九]{4})年([0-9一二三四五六七八九十]{1,3})月([0-9一二三四五六七八九十]{1,3})日$")
TRANSMITTED_TITLE = re.compile(r"《(.+?)》印发")
SUPERIOR_NUMBER = re.compile(r"[\u4e00-\u9fff]{1,8}[〔\[]\d{4}[〕\]]\d+号")
VALIDITY = re.compile(r"均为(\d{4})年全年实施有效")
EDITION_YEAR = re.compile(r"(\d{4})年版")
SENTENCE_END = "。!?"


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

    def sentence_at(self, offset: int) -> Sentence:
        index = bisect.bisect_right(self.sentences, offset, key=lambda sentence: sentence.span.start) - 1
        return self.sentences[index]

    def paragraph_of(self, sentence: Sentence) -> Paragraph:
        return self.paragraphs[self.sentence_paragraphs[sentence.index]]

    def area_of(self, paragraph: Paragraph) -> Area:
        """The area a paragraph sits in (by position: area numbers may repeat in a corpus)."""
        index = bisect.bisect_right(self.areas, paragraph.span.start, key=lambda area: area.span.start) - 1
        return self.areas[index]


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


def classify(canonical: str, line_spans: list[Span]) -> list[Paragraph]:
    """Give each line its role and its place (area, article)."""
    paragraphs: list[Paragraph] = []
    area: int | None = None
    article: int | None = None
    seen_area = False
    for span in line_spans:
        text = canonical[span.start : span.end]
        if heading := AREA_HEADING.match(text):
            area, article, seen_area = int(chinese_to_decimal(heading.group(1))), None, True
            paragraphs.append(Paragraph(span, area, None, "area"))
        elif seen_area and (heading := ARTICLE_HEADING.match(text)):
            article = int(chinese_to_decimal(heading.group(1)))
            paragraphs.append(Paragraph(span, area, article, "article"))
        elif not seen_area:
            paragraphs.append(Paragraph(span, None, None, "preamble"))
        elif article is None:
            paragraphs.append(Paragraph(span, area, None, "goal"))
        else:
            paragraphs.append(Paragraph(span, area, article, "article"))
    return _mark_closing(canonical, paragraphs)


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
    paragraphs = classify(canonical, lines(canonical))
    sentences: list[Sentence] = []
    sentence_paragraphs: list[int] = []
    by_paragraph: list[tuple[Sentence, ...]] = []
    for paragraph_index, paragraph in enumerate(paragraphs):
        first = len(sentences)
        for span in split_sentences(canonical, paragraph.span):
            sentences.append(Sentence(len(sentences), span, text[span.start : span.end]))
            sentence_paragraphs.append(paragraph_index)
        by_paragraph.append(tuple(sentences[first:]))

    areas = tuple(_areas(text, canonical, paragraphs, by_paragraph))
    preamble = _preamble(text, canonical, paragraphs)
    return Skeleton(
        preamble=preamble,
        areas=areas,
        paragraphs=tuple(paragraphs),
        sentences=tuple(sentences),
        sentence_paragraphs=tuple(sentence_paragraphs),
        warnings=tuple(_numbering_warnings(areas)),
    )


def _areas(text: str, canonical: str, paragraphs: list[Paragraph], by_paragraph: list[tuple[Sentence, ...]]):
    """Each area heading with the goal and article paragraphs that follow it, up to the next heading."""
    headings = [index for index, paragraph in enumerate(paragraphs) if paragraph.role == "area"]
    for heading_index, following in zip(headings, headings[1:] + [len(paragraphs)]):
        paragraph = paragraphs[heading_index]
        heading = AREA_HEADING.match(canonical, paragraph.span.start, paragraph.span.end)
        assert heading is not None
        members = [i for i in range(heading_index + 1, following) if paragraphs[i].role in ("goal", "article")]
        goals = tuple(s for i in members if paragraphs[i].role == "goal" for s in by_paragraph[i])
        articles = _articles(text, canonical, paragraphs, [i for i in members if paragraphs[i].role == "article"], by_paragraph)
        end = paragraphs[members[-1]].span.end if members else paragraph.span.end
        yield Area(
            number=paragraph.area or 0,
            title=text[heading.start(2) : heading.end(2)],
            department=text[heading.start(3) : heading.end(3)],
            budget=_budget(canonical, goals),
            goals=goals,
            span=Span(paragraph.span.start, end),
            articles=articles,
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
            )
        )
    return tuple(articles)


BUDGET = re.compile(r"预算安排(\d+(?:\.\d+)?)(亿|万)?元")
STATED_TOTAL = re.compile(r"支持总额为(\d+(?:\.\d+)?)(亿|万)?元")


def _budget(canonical: str, goals: tuple[Sentence, ...]):
    for sentence in goals:
        if match := BUDGET.search(canonical, sentence.span.start, sentence.span.end):
            return parse_number(match.group(1) + (match.group(2) or ""))
    return None


def stated_total(canonical: str):
    """支持總額為233.9億元 -> Decimal yuan, or None when the document states no total."""
    if match := STATED_TOTAL.search(canonical):
        return parse_number(match.group(1) + (match.group(2) or ""))
    return None


def _preamble(text: str, canonical: str, paragraphs: list[Paragraph]) -> Preamble:
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
            issued = dt.date(*(_date_part(part) for part in date.groups()))
        if title is None and (transmitted := TRANSMITTED_TITLE.search(line)):
            title = text[start + transmitted.start(1) : start + transmitted.end(1)]
            title_canonical = transmitted.group(1)
        if implements is None and (superior := SUPERIOR_NUMBER.search(line)):
            implements = text[start + superior.start() : start + superior.end()]
    if title is None:
        title, title_canonical = _title_lines(text, canonical, paragraphs)
    year = _validity_year(canonical, title_canonical, issued)
    return Preamble(
        title=title or "",
        issuer=issuer,
        issued=issued,
        addressees=addressees,
        implements=implements,
        valid_from=dt.date(year, 1, 1) if year else None,
        valid_to=dt.date(year, 12, 31) if year else None,
    )


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


def _validity_year(canonical: str, title: str | None, issued: dt.date | None) -> int | None:
    """均為2025年全年實施有效, else the edition year (2025年版), else the year of issue."""
    if match := VALIDITY.search(canonical):
        return int(match.group(1))
    if title and (match := EDITION_YEAR.search(title)):
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
