"""The parsed structure of a policy document.

Every piece keeps a `Span` into the original text (the file as decoded, in
its own script), so a citation always points at the words the government
wrote, whatever script the reader sees them in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction


@dataclass(frozen=True)
class Span:
    """Half-open character range [start, end) into the original text."""

    start: int
    end: int


class Qualifier(StrEnum):
    """How a monetary amount bounds what it names (DESIGN.md, "Semantics decided once")."""

    CEILING = "ceiling"  # 最高X: the most the clause allows
    AT_LEAST = "at_least"  # 不低于X, X以上, 不少于X: the bound is included
    AT_MOST = "at_most"  # X以內, X以下, 不超過X: the bound is included
    ABOUT = "about"  # X左右
    OVER = "over"  # 超過X, 突破X, 高于X: the bound is excluded
    EXACT = "exact"  # a plain amount


class Direction(StrEnum):
    """Which side of its value a target lies on."""

    AT_LEAST = "≥"
    AT_MOST = "≤"
    ABOUT = "≈"
    EQUAL = "="
    OVER = ">"
    UNDER = "<"
    RANGE = "range"  # 1—2個: value is the low end, value_high the high end


@dataclass(frozen=True)
class Sentence:
    index: int  # position in the whole document, from 0
    span: Span
    text: str  # original script


@dataclass(frozen=True)
class Amount:
    """One monetary amount: 最高20萬元, 1.5萬元/輛, 233.9億元 ..."""

    value: Decimal  # exact, in whole units of `currency` (元 for CNY)
    currency: str  # "CNY" or "USD"
    qualifier: Qualifier
    per: str | None  # 件, 輛, 家, 企業全年, 孵化載體單年度 ... or None
    text: str  # the number with its unit as written, e.g. "1.5萬元"
    span: Span
    sentence: int  # Sentence.index
    article: int | None  # None when the amount sits in an area's goal text
    area: int | None  # None in the preamble or closing


@dataclass(frozen=True)
class Rate:
    """One percentage: 最高50%比例, 按20%, 不低于60% ..."""

    value: Decimal  # 50% -> Decimal("50")
    qualifier: Qualifier
    text: str
    span: Span
    sentence: int
    article: int | None
    area: int | None


@dataclass(frozen=True)
class Indicator:
    """A quantitative target: 規上工業增加值增長6.5%以上 -> ≥ 6.5 %."""

    name: str  # original script, e.g. "規上工業增加值增長"
    value: Decimal | Fraction  # in `unit`; Fraction only for 三分之二-like values
    value_high: Decimal | None  # set when direction is RANGE
    unit: str  # normalised: 萬標箱 -> 標箱, 萬元/億元 -> 元, "" for a pure ratio
    direction: Direction
    year: int
    text: str  # the clause it was read from
    span: Span
    sentence: int
    article: int | None
    area: int
    department: str
    # The value and unit as the text writes them, original script: "50億元", "90萬標箱", "6.5%",
    # "2—3個", "1.6" (a ratio). A unit shared from the next member (1萬、4萬名) is appended: "1萬名".
    written: str = ""


class TaskKind(StrEnum):
    """What a task sentence does: work for its department, or a benefit whose amount is set elsewhere."""

    TASK = "task"  # 推進, 實施, 建設, 打造 …: work the lead department answers for
    BENEFIT = "benefit"  # 給予, 補貼, 貼息, 優惠 … with no number: also a by_measure rule of the pack


@dataclass(frozen=True)
class Task:
    """A qualitative provision: words of an article (or an area's goals) that carry no amount,
    rate or target, owned by the area's lead department (責任分解), so that nothing is dropped."""

    text: str  # the clauses of the task, original script
    kind: TaskKind
    span: Span
    sentence: int  # Sentence.index
    article: int | None  # None in an area's goals
    area: int
    department: str  # the area's lead department: 由市X牽頭實施 -> 市X


@dataclass(frozen=True)
class Article:
    number: int  # 1..N from (一)..(N)
    title: str
    text: str  # the whole paragraph, title included (and its (責任單位:…) note, if any)
    span: Span
    area: int
    sentences: tuple[Sentence, ...]
    # The article's own (責任單位:市發改委、市財政局), original script, in order; () when it names
    # none. Separate from its area's lead department (Area.department).
    departments: tuple[str, ...] = ()


@dataclass(frozen=True)
class BudgetPart:
    """One purpose of an area's budget: 其中用于技術改造項目補助8億元 -> 技術改造項目補助, 800000000."""

    purpose: str  # original script, without 用于
    value: Decimal  # in 元
    written: str  # the amount as written: "8億元"
    span: Span  # the part as written, from 用于 (or the purpose) to 元


@dataclass(frozen=True)
class Area:
    number: int  # 1..8 from 一..八
    title: str
    department: str  # 由市X牽頭實施 -> 市X; "" when the heading names no lead department
    budget: Decimal | None  # 全市財政預算安排X億元 (or 市財政2024年預算安排資金X億元 in an article), in 元
    goals: tuple[Sentence, ...]  # the paragraph under the heading
    span: Span
    articles: tuple[Article, ...]
    # Where the budget is stated: None in the area's goals, else the number of the article.
    budget_article: int | None = None
    # 預算安排…X億元 through the last part of its breakdown, as written; None without a budget.
    budget_span: Span | None = None
    # The breakdown 其中用于A X億元、用于B Y億元 (empty when the budget has none).
    budget_parts: tuple[BudgetPart, ...] = ()

    def answerable(self, article: int | None) -> str:
        """Who answers for a provision: the area's lead, else the first 责任单位 its article names
        (a document lists the unit it holds answerable first), else ""."""
        if self.department or article is None:
            return self.department
        found = next((item for item in self.articles if item.number == article), None)
        return found.departments[0] if found is not None and found.departments else ""


@dataclass(frozen=True)
class Preamble:
    title: str
    issuer: str | None
    issued: dt.date | None
    addressees: str | None
    implements: str | None  # 浙政發〔2025〕3號
    valid_from: dt.date | None  # 均為2025年全年實施有效 -> 2025-01-01; 自2026年3月1日起施行 -> 2026-03-01
    valid_to: dt.date | None  # 2025-12-31; 有效期至2026年12月31日 -> 2026-12-31
    # The document's own year: of its validity, else its edition (2026年版), else its date of issue.
    year: int | None = None


@dataclass(frozen=True)
class Document:
    text: str  # the original text, as decoded
    preamble: Preamble
    areas: tuple[Area, ...]
    amounts: tuple[Amount, ...]
    rates: tuple[Rate, ...]
    indicators: tuple[Indicator, ...]
    tasks: tuple[Task, ...]
    stated_total: Decimal | None  # 支持總額為233.9億元, in 元
    warnings: tuple[str, ...] = field(default=())
    # The closing total is stated 除交叉重疊部分外: the areas' budgets may add up to more.
    total_excludes_overlap: bool = False
    # Information for the reader, not a fault of the document (Simplified): the overlap between
    # the areas' budgets and the stated total, an area that names no lead department, …
    notes: tuple[str, ...] = field(default=())

    @property
    def articles(self) -> tuple[Article, ...]:
        return tuple(article for area in self.areas for article in area.articles)

    def article(self, number: int) -> Article:
        for candidate in self.articles:
            if candidate.number == number:
                return candidate
        raise KeyError(f"no article {number}")

    def quote(self, span: Span) -> str:
        return self.text[span.start : span.end]

    def is_budget(self, amount: Amount) -> bool:
        """Whether an amount is an area's budget or a part of its breakdown, not a benefit:
        a budget stated in an article is read among the article's amounts."""
        return any(
            area.budget_span is not None and area.budget_span.start <= amount.span.start < area.budget_span.end
            for area in self.areas
        )
