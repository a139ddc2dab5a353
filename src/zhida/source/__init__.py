"""Read a policy document into a checked structure (`Document`).

    parse_file(path)   bytes on disk -> Document (UTF-8 or GB18030/GBK detected)
    parse_text(text)   text -> Document

Raises `DocumentError` (see `zhida.source.errors`) with one message naming the
input and what is wrong with it.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from zhida.source.amounts import find_amounts, find_rates
from zhida.source.errors import DocumentError, NoStructure
from zhida.source.indicators import find_indicators
from zhida.source.model import (
    Amount,
    Area,
    Article,
    BudgetPart,
    Direction,
    Document,
    Indicator,
    Preamble,
    Qualifier,
    Rate,
    Sentence,
    Span,
    Task,
    TaskKind,
)
from zhida.source.numerals import format_value
from zhida.source.reading import decode, read_file
from zhida.source.script import canonical as to_canonical
from zhida.source.structure import CROSS_OVERLAP, Skeleton, build, stated_total
from zhida.source.tasks import find_tasks

__all__ = [
    "Amount", "Area", "Article", "BudgetPart", "Direction", "Document", "DocumentError", "Indicator",
    "Preamble", "Qualifier", "Rate", "Sentence", "Span", "Task", "TaskKind", "parse_bytes", "parse_file",
    "parse_text",
]


def parse_text(text: str, name: str = "<text>") -> Document:
    """Parse a document already decoded to `text`; `name` is used in error messages."""
    canonical = to_canonical(text)
    skeleton = build(text, canonical)
    _refuse_without_structure(skeleton, name)
    warnings = list(skeleton.warnings)
    notes = list(skeleton.notes)
    total = stated_total(canonical, skeleton.line_of, warnings)
    excludes_overlap = CROSS_OVERLAP in canonical
    _compare_budgets(skeleton, total, excludes_overlap, warnings, notes)
    amounts = tuple(find_amounts(text, canonical, skeleton, warnings))
    rates = tuple(find_rates(text, canonical, skeleton, warnings))
    indicators = tuple(find_indicators(text, canonical, skeleton, warnings))
    # Budgets (and their 其中… breakdowns) and (責任單位:…) notes are read, never tasks.
    numbers = [item.span for group in (rates, indicators) for item in group]
    numbers += [area.budget_span for area in skeleton.areas if area.budget_span is not None]
    numbers += skeleton.department_notes
    return Document(
        text=text,
        preamble=skeleton.preamble,
        areas=skeleton.areas,
        amounts=amounts,
        rates=rates,
        indicators=indicators,
        tasks=tuple(find_tasks(text, canonical, skeleton.areas, numbers, [amount.span for amount in amounts])),
        stated_total=total,
        warnings=tuple(warnings),
        total_excludes_overlap=excludes_overlap,
        notes=tuple(notes),
    )


def _refuse_without_structure(skeleton: Skeleton, name: str) -> None:
    """Refuse a text without areas or without articles, saying which is missing; a heading that
    was not read explains why, so its line is named."""
    lines = [warning for warning in skeleton.warnings if warning.startswith("第")]
    unread = "".join(f";{warning}" for warning in lines[:3])
    if not skeleton.areas:
        raise NoStructure(
            f"{name}: 没有找到政策领域(领域标题如“一、推进科技创新”或“一、推进科技创新(由市科技局牵头实施)”),"
            f"不是可解析的政策文件{unread}"
        )
    if not any(area.articles for area in skeleton.areas):
        titles = "、".join(f"「{area.title}」" for area in skeleton.areas[:3])
        raise NoStructure(
            f"{name}: 找到{len(skeleton.areas)}个政策领域({titles}),但没有找到任何条目(条目如“(一)支持企业…。”),"
            f"不是可解析的政策文件{unread}"
        )


def _compare_budgets(skeleton: Skeleton, total, excludes_overlap: bool, warnings: list[str], notes: list[str]) -> None:
    """The areas' budgets against the closing total. A total stated 除交叉重疊部分外 may be smaller
    than their sum (money counted under two areas is counted once): information, not a fault."""
    budgets = [area.budget for area in skeleton.areas if area.budget is not None]
    if total is None or not budgets or sum(budgets) == total:
        return
    budget_sum = sum(budgets, Decimal(0))
    if excludes_overlap and budget_sum > total:
        notes.append(
            f"各领域财政预算之和为 {_yuan(budget_sum)},比文末支持总额 {_yuan(total)} 多 "
            f"{_yuan(budget_sum - total)}:文末写明“{CROSS_OVERLAP}”,多出的是各领域交叉重叠的资金"
        )
    else:
        warnings.append(f"各领域财政预算之和为 {_yuan(budget_sum)},与文末支持总额 {_yuan(total)} 不符")


def _yuan(value: Decimal) -> str:
    """A budget as the document writes it and exactly: 30.5亿元(3,050,000,000 元)."""
    for unit, size in (("亿元", Decimal(10) ** 8), ("万元", Decimal(10) ** 4)):
        if abs(value) >= size:
            return f"{format_value(value / size)}{unit}({value:,f} 元)"
    return f"{value:,f} 元"


def parse_bytes(data: bytes, name: str = "<bytes>") -> Document:
    return parse_text(decode(data, name), name)


def parse_file(path: str | Path) -> Document:
    path = Path(path)
    return parse_text(read_file(path), str(path))
