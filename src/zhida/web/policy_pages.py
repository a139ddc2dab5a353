"""The policy browser: the document by area and article, with rules, tasks, indicators,
departments and budgets; search in either script.

    GET /policy                  contents: the preamble, the 8 areas (lead department, budget as the
                                 document states it and in 元, goals, targets) and their articles,
                                 the stated total (233.9亿元) against the sum of the area budgets
    GET /policy/articles/{n}     one article in full: its text sentence by sentence, its rules (title,
                                 verdict, the clause, links to the calculator), tasks, targets, department
    GET /policy/search?q=        full-text search in either script (审核 and 審核 find the same sentences)
    GET /packs/{id}/policy …     the same pages of another pack (app.py includes this router under
                                 /packs/{pack_id} too); the short addresses are the default pack's

Everything shown depends only on the pack, so it is built once per pack, at start (app.py keeps
them on app.state.policy_books by pack id; `book_for(request)` finds the one a page shows) and a
request only renders. The addresses a book holds (an article, a sentence, the calculator of a
subject kind) are relative to its pack's root: the templates write them after `base` (/packs/<id>,
or '' at the default pack's short addresses), so a page's links keep its pack. Texts from the document
are `Quote`s: the original and its Simplified conversion. The templates show the Simplified one in
a Simplified page and `keep()` the original in a Traditional one, so a clause reads as the
document has it, never as OpenCC would write it.

Search runs over the canonical copy of every sentence (zhida.source.script.canonical: Simplified,
half-width, one character per character of the original), so a hit's offsets are offsets into the
original, and the page splits each sentence into plain and matched parts: the template escapes
both, no user text is ever marked safe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.applications import Starlette

from zhida.engine.calculate import VERDICTS
from zhida.ledger.access import Refused
from zhida.rules.model import Kind, Rule
from zhida.rules.pack import Pack
from zhida.source.model import Area, Article, Direction, Indicator, Span, TaskKind
from zhida.source.numerals import format_value
from zhida.source.script import canonical, to_simplified
from zhida.web.catalogue import clause_text, served
from zhida.web.site import render

router = APIRouter(include_in_schema=False)

MAX_QUERY = 50  # characters of a search; more is refused with a sentence (422)
MAX_TERMS = 5  # words of a search, separated by spaces: a sentence must hold them all
MAX_HITS = 100  # sentences shown for one search
SHOWN_QUERY = 200  # characters of a refused query written back into the search field

TASK_NAMES = {TaskKind.TASK: "工作任务", TaskKind.BENEFIT: "优惠(金额按配套政策)"}
DIRECTION_WORDS = {
    Direction.AT_LEAST: "不低于",
    Direction.AT_MOST: "不高于",
    Direction.ABOUT: "左右",
    Direction.EQUAL: "达到",
    Direction.OVER: "超过",
    Direction.UNDER: "低于",
    Direction.RANGE: "区间",
}


# --------------------------------------------------------------------------- what the pages show


@dataclass(frozen=True)
class Quote:
    """Words of the document: as written (kept in a Traditional page) and in Simplified."""

    original: str
    simplified: str

    @classmethod
    def of(cls, text: str) -> Quote:
        return cls(text, to_simplified(text))


@dataclass(frozen=True)
class CalculatorLink:
    subject: str  # the subject kind, e.g. enterprise
    name: str  # 企业
    url: str  # /calc?subject=enterprise, after the pack's root


@dataclass(frozen=True)
class RuleView:
    id: str
    title: str  # Simplified, as the pack writes it
    verdict: str  # 最高可得, 不低于, 应得, 节税, 按…执行, 资格
    clause: Quote
    department: Quote
    calculators: tuple[CalculatorLink, ...]


@dataclass(frozen=True)
class IndicatorView:
    name: Quote
    direction: str  # ≥, ≤, ≈ …
    direction_words: str  # 不低于 …
    target: Quote  # the value in the document's own unit: 6.5%, 90萬標箱, 1—2個
    year: int
    clause: Quote


@dataclass(frozen=True)
class TaskView:
    kind: str  # 工作任务 / 优惠(金额按配套政策)
    text: Quote


@dataclass(frozen=True)
class SentenceView:
    index: int  # the sentence's position in the document: its anchor #s{index}
    text: Quote
    rules: tuple[tuple[int, RuleView], ...]  # the rules quoting a clause of this sentence, numbered in the article


@dataclass(frozen=True)
class ArticleView:
    number: int
    heading: Quote  # (二)強化企業科技創新主體地位
    title: Quote
    area: int
    sentences: tuple[SentenceView, ...]  # the text after the heading
    rules: tuple[RuleView, ...]
    tasks: tuple[TaskView, ...]
    indicators: tuple[IndicatorView, ...]
    department: Quote


@dataclass(frozen=True)
class AreaView:
    number: int
    heading: Quote  # 一、推進教育科技人才一體發展
    title: Quote
    department: Quote
    budget: Quote | None  # 17.25億元, as the document states it
    budget_yuan: Decimal | None
    goals: tuple[SentenceView, ...]
    indicators: tuple[IndicatorView, ...]
    tasks: tuple[TaskView, ...]
    articles: tuple[ArticleView, ...]


@dataclass(frozen=True)
class Passage:
    """A searchable sentence: its canonical (Simplified, half-width, lower-case) copy and where it is."""

    searchable: str
    original: str
    label: str  # 第2条 / 领域目标 / 领域 / 文件开头 / 文件结尾
    heading: Quote | None  # the article's or area's heading
    url: str


@dataclass(frozen=True)
class PolicyBook:
    """The whole document as the browser shows it, built once per pack."""

    pack: Pack
    title: Quote
    issuer: Quote | None
    issued: str  # 2025年3月14日
    implements: Quote | None
    preamble: tuple[Quote, ...]
    areas: tuple[AreaView, ...]
    articles: dict[int, ArticleView]
    closing: tuple[Quote, ...]
    total: Quote | None  # 233.9億元, as the document states it
    total_yuan: Decimal | None
    budgets_yuan: Decimal  # the sum of the areas' budgets
    passages: tuple[Passage, ...]


# --------------------------------------------------------------------------- building it once


def book_for(request: Request) -> PolicyBook:
    """The book of the pack a page shows (built at start, one per pack)."""
    site = served(request)
    return policy_book(request.app) if site.default else request.app.state.policy_books[site.id]


def policy_book(app: Starlette) -> PolicyBook:
    """The browser's view of app.state.pack (the default pack), built on first use and kept beside it."""
    pack: Pack = app.state.pack
    book: PolicyBook | None = getattr(app.state, "policy_book", None)
    if book is None or book.pack is not pack:
        book = build_policy_book(pack)
        app.state.policy_book = book
    return book


def build_policy_book(pack: Pack) -> PolicyBook:
    document = pack.document
    text = document.text
    areas = tuple(_area_view(pack, area) for area in document.areas)
    articles = {article.number: article for area in areas for article in area.articles}
    first = document.areas[0].span.start if document.areas else len(text)
    last = document.areas[-1].span.end if document.areas else len(text)
    preamble = tuple(Quote.of(line) for line in _lines(text[:first]))
    closing = tuple(Quote.of(line) for line in _lines(text[last:]))
    total = _stated_amount(pack, None, document.stated_total)
    issued = document.preamble.issued
    return PolicyBook(
        pack=pack,
        title=Quote.of(document.preamble.title),
        issuer=Quote.of(document.preamble.issuer) if document.preamble.issuer else None,
        issued=f"{issued.year}年{issued.month}月{issued.day}日" if issued else "",
        implements=Quote.of(document.preamble.implements) if document.preamble.implements else None,
        preamble=preamble,
        areas=areas,
        articles=articles,
        closing=closing,
        total=total,
        total_yuan=document.stated_total,
        budgets_yuan=sum((area.budget or Decimal(0) for area in document.areas), Decimal(0)),
        passages=_passages(areas, text[:first], text[last:]),
    )


def _area_view(pack: Pack, area: Area) -> AreaView:
    document = pack.document
    heading_end = area.goals[0].span.start if area.goals else area.span.start
    heading_line = document.text[area.span.start : heading_end].strip().splitlines()[0]
    # 一、推進教育科技人才一體發展(由市科技局牽頭實施) -> 一、推進教育科技人才一體發展
    cut = heading_line.find(area.title)
    heading = heading_line[: cut + len(area.title)] if cut >= 0 else area.title
    return AreaView(
        number=area.number,
        heading=Quote.of(heading),
        title=Quote.of(area.title),
        department=Quote.of(area.department),
        budget=_stated_amount(pack, area.number, area.budget),
        budget_yuan=area.budget,
        goals=tuple(SentenceView(sentence.index, Quote.of(sentence.text), ()) for sentence in area.goals),
        indicators=tuple(
            _indicator_view(indicator)
            for indicator in document.indicators
            if indicator.area == area.number and indicator.article is None
        ),
        tasks=tuple(
            TaskView(TASK_NAMES[task.kind], Quote.of(task.text))
            for task in document.tasks
            if task.area == area.number and task.article is None
        ),
        articles=tuple(_article_view(pack, article, area.department) for article in area.articles),
    )


def _stated_amount(pack: Pack, area: int | None, value: Decimal | None) -> Quote | None:
    """A budget as the document writes it (17.25億元): the goal-text amount of that value."""
    if value is None:
        return None
    for amount in pack.document.amounts:
        if amount.article is None and amount.area == area and amount.value == value:
            return Quote.of(amount.text)
    return None


def article_rules(pack: Pack, number: int) -> tuple[Rule, ...]:
    """The rules of an article, as GET /api/v1/articles/{n} lists them."""
    return tuple(rule for rule in pack.rules if rule.spec.article == number)


def _article_view(pack: Pack, article: Article, department: str) -> ArticleView:
    document = pack.document
    # listed in the order of the clauses they quote, so the numbers follow the text
    rules = tuple(sorted(article_rules(pack, article.number), key=lambda rule: rule.clause_span))
    views = tuple(_rule_view(pack, rule) for rule in rules)
    heading, *body = article.sentences
    return ArticleView(
        number=article.number,
        heading=Quote.of(heading.text.rstrip("。")),
        title=Quote.of(article.title),
        area=article.area,
        sentences=tuple(
            SentenceView(sentence.index, Quote.of(sentence.text), _rules_within(rules, views, sentence.span))
            for sentence in body
        ),
        rules=views,
        # Tasks (責任分解) and targets of the article, as the API's article endpoint gathers them.
        tasks=tuple(
            TaskView(TASK_NAMES[task.kind], Quote.of(task.text))
            for task in document.tasks
            if task.article == article.number and task.area == article.area
        ),
        indicators=tuple(
            _indicator_view(indicator)
            for indicator in document.indicators
            if indicator.article == article.number and indicator.area == article.area
        ),
        department=Quote.of(department),
    )


def _rules_within(rules: tuple[Rule, ...], views: tuple[RuleView, ...], span: Span) -> tuple[tuple[int, RuleView], ...]:
    return tuple(
        (number, view)
        for number, (rule, view) in enumerate(zip(rules, views, strict=True), start=1)
        if span.start <= rule.clause_span[0] < span.end
    )


def _rule_view(pack: Pack, rule: Rule) -> RuleView:
    spec = rule.spec
    if spec.kind is Kind.BY_MEASURE:
        verdict = f"按{spec.amount_by}执行" if spec.amount_by else "按相关政策执行"
    else:
        verdict = VERDICTS[spec.kind]
    return RuleView(
        id=rule.id,
        title=spec.title,
        verdict=verdict,
        clause=Quote.of(clause_text(pack, rule)),
        department=Quote.of(rule.department),
        calculators=tuple(
            CalculatorLink(kind, pack.subjects.get(kind, kind), f"/calc?subject={kind}") for kind in spec.subject
        ),
    )


def _indicator_view(indicator: Indicator) -> IndicatorView:
    return IndicatorView(
        name=Quote.of(indicator.name),
        direction="" if indicator.direction is Direction.RANGE else indicator.direction.value,
        direction_words=DIRECTION_WORDS[indicator.direction],
        target=Quote.of(as_written(indicator)),
        year=indicator.year,
        clause=Quote.of(indicator.text),
    )


_QUANTITY = re.compile(r"(\d+(?:\.\d+)?)(?:(?:—|-|~|至)(\d+(?:\.\d+)?))?(万|亿)?")
_FRACTION = re.compile("[一二三四五六七八九十]+分之[一二三四五六七八九十]+")
_SCALES = {None: Decimal(1), "万": Decimal(10_000), "亿": Decimal(100_000_000)}


def as_written(indicator: Indicator) -> str:
    """A target's value in the document's own unit, taken from its clause: 90萬標箱 (not 900000 標箱).

    The clause is searched (in its canonical copy, aligned with the original) for a number, with
    its 萬/億 and unit, whose value is the indicator's (a number ending the clause takes the unit
    it shares with the next target); failing that, the value in the normalised unit.
    """
    text = indicator.text
    plain = canonical(text)
    unit = canonical(indicator.unit)
    for match in _QUANTITY.finditer(plain):
        scale = _SCALES[match[3]]
        value = Decimal(match[1]) * scale
        if value != indicator.value:
            continue
        if indicator.value_high is not None and (match[2] is None or Decimal(match[2]) * scale != indicator.value_high):
            continue
        if plain.startswith(unit, match.end()):
            return text[match.start() : match.end() + len(unit)]
        if match.end() == len(plain):  # 分別達到1萬(、4萬名): the unit is the next target's
            return text[match.start() :] + indicator.unit
    if isinstance(indicator.value, Fraction):
        written = _FRACTION.search(text)  # 三分之二
        if written:
            return written[0] + indicator.unit
    high = f"—{format_value(indicator.value_high)}" if indicator.value_high is not None else ""
    return f"{format_value(indicator.value)}{high}{indicator.unit}"


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


_SENTENCE = re.compile(r"[^。\n]+。?")


def _passages(areas: tuple[AreaView, ...], before: str, after: str) -> tuple[Passage, ...]:
    """Every sentence of the document, in order, with the page and anchor it is shown at."""
    found: list[Passage] = []

    def add(original: str, label: str, heading: Quote | None, url: str) -> None:
        searchable = canonical(original).lower()
        if len(searchable) != len(original):  # lower() lengthened a letter: keep offsets aligned
            searchable = canonical(original)
        if original:
            found.append(Passage(searchable, original, label, heading, url))

    for part in _SENTENCE.findall(before):
        add(part.strip(), "文件开头", None, "/policy#preamble")
    for area in areas:
        url = f"/policy#area-{area.number}"
        add(area.heading.original, "领域", area.heading, url)
        for sentence in area.goals:
            add(sentence.text.original, "领域目标", area.heading, url)
        for article in area.articles:
            label = f"第{article.number}条"
            url = f"/policy/articles/{article.number}"
            add(article.heading.original, label, article.heading, url)
            for sentence in article.sentences:
                add(sentence.text.original, label, article.heading, f"{url}#s{sentence.index}")
    for part in _SENTENCE.findall(after):
        add(part.strip(), "文件结尾", None, "/policy#closing")
    return tuple(found)


# --------------------------------------------------------------------------- search


@dataclass(frozen=True)
class Hit:
    label: str
    heading: Quote | None
    url: str
    parts: tuple[tuple[Quote, bool], ...]  # the sentence in pieces: (words, matched?)


def search_terms(query: str) -> tuple[str, ...]:
    """The words of a search in canonical form: 審核 and 审核 are the same word."""
    return tuple(dict.fromkeys(canonical(word).lower() for word in query.split()))


def search(book: PolicyBook, terms: tuple[str, ...]) -> tuple[list[Hit], int]:
    """The sentences holding every term (at most MAX_HITS of them) and how many there are in all."""
    hits: list[Hit] = []
    count = 0
    for passage in book.passages:
        spans = _matches(passage.searchable, terms)
        if spans is None:
            continue
        count += 1
        if len(hits) < MAX_HITS:
            hits.append(Hit(passage.label, passage.heading, passage.url, _split(passage.original, spans)))
    return hits, count


def _matches(searchable: str, terms: tuple[str, ...]) -> list[tuple[int, int]] | None:
    spans: list[tuple[int, int]] = []
    for term in terms:
        start = searchable.find(term)
        if start < 0:
            return None
        while start >= 0:
            spans.append((start, start + len(term)))
            start = searchable.find(term, start + len(term))
    return spans


def _split(original: str, spans: list[tuple[int, int]]) -> tuple[tuple[Quote, bool], ...]:
    """The sentence as alternating plain and matched pieces (overlapping matches merged)."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts: list[tuple[Quote, bool]] = []
    position = 0
    for start, end in merged:
        if start > position:
            parts.append((Quote.of(original[position:start]), False))
        parts.append((Quote.of(original[start:end]), True))
        position = end
    if position < len(original):
        parts.append((Quote.of(original[position:]), False))
    return tuple(parts)


# --------------------------------------------------------------------------- pages


@router.get("/policy", response_class=HTMLResponse)
def contents(request: Request) -> HTMLResponse:
    book = book_for(request)
    return render(request, "policy.html", {"book": book, "query": ""})


@router.get("/policy/articles/{number}", response_class=HTMLResponse)
def article_page(request: Request, number: str) -> HTMLResponse:
    book = book_for(request)
    found = book.articles.get(int(number)) if number.isascii() and number.isdigit() and len(number) <= 4 else None
    if found is None:
        raise Refused(404, f"文件中没有这一条:条款编号为 1 至 {len(book.articles)} 的整数")
    area = book.areas[found.area - 1]
    context = {
        "book": book,
        "article": found,
        "area": area,
        "previous": book.articles.get(found.number - 1),
        "next": book.articles.get(found.number + 1),
        "query": "",
    }
    return render(request, "policy_article.html", context)


@router.get("/policy/search", response_class=HTMLResponse)
def search_page(request: Request, q: str = "") -> HTMLResponse:
    book = book_for(request)
    query = q.strip()
    context = {"book": book, "query": query[:SHOWN_QUERY], "hits": [], "count": 0, "terms": ()}
    if not query:
        return render(request, "policy_search.html", context | {"notice": "请输入要搜索的字词,简体、繁体均可"})
    if len(query) > MAX_QUERY:
        message = f"搜索词过长:最多 {MAX_QUERY} 个字,现有 {len(query)} 个字"
        return render(request, "policy_search.html", context | {"error": message}, 422)
    terms = search_terms(query)
    if len(terms) > MAX_TERMS:
        message = f"搜索词最多 {MAX_TERMS} 个(以空格分隔),现有 {len(terms)} 个"
        return render(request, "policy_search.html", context | {"error": message}, 422)
    hits, count = search(book, terms)
    return render(request, "policy_search.html", context | {"hits": hits, "count": count, "terms": terms})
