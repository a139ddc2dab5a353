"""Read a policy document into a checked structure (`Document`).

    parse_file(path)   bytes on disk -> Document (UTF-8 or GB18030/GBK detected)
    parse_text(text)   text -> Document

Raises `DocumentError` (see `zhida.source.errors`) with one message naming the
input and what is wrong with it.
"""

from __future__ import annotations

from pathlib import Path

from zhida.source.amounts import find_amounts, find_rates
from zhida.source.errors import DocumentError, NoStructure
from zhida.source.indicators import find_indicators
from zhida.source.model import (
    Amount,
    Area,
    Article,
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
from zhida.source.reading import decode, read_file
from zhida.source.script import canonical as to_canonical
from zhida.source.structure import build, stated_total
from zhida.source.tasks import find_tasks

__all__ = [
    "Amount", "Area", "Article", "Direction", "Document", "DocumentError", "Indicator",
    "Preamble", "Qualifier", "Rate", "Sentence", "Span", "Task", "TaskKind", "parse_bytes", "parse_file",
    "parse_text",
]


def parse_text(text: str, name: str = "<text>") -> Document:
    """Parse a document already decoded to `text`; `name` is used in error messages."""
    canonical = to_canonical(text)
    skeleton = build(text, canonical)
    if not skeleton.areas or not any(area.articles for area in skeleton.areas):
        # A heading that was not read explains why there is no structure: name its line.
        lines = [warning for warning in skeleton.warnings if warning.startswith("第")]
        unread = "".join(f";{warning}" for warning in lines[:3])
        raise NoStructure(
            f"{name}: 没有找到政策领域(如“一、…(由市X牵头实施)”)或条目(如“(一)…”),不是可解析的政策文件{unread}"
        )
    warnings = list(skeleton.warnings)
    total = stated_total(canonical, skeleton.line_of, warnings)
    budgets = [area.budget for area in skeleton.areas if area.budget is not None]
    if total is not None and budgets and sum(budgets) != total:
        warnings.append(f"各领域财政预算之和为 {sum(budgets)} 元,与文末支持总额 {total} 元不符")
    amounts = tuple(find_amounts(text, canonical, skeleton, warnings))
    rates = tuple(find_rates(text, canonical, skeleton, warnings))
    indicators = tuple(find_indicators(text, canonical, skeleton, warnings))
    numbers = [item.span for group in (rates, indicators) for item in group]
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
    )


def parse_bytes(data: bytes, name: str = "<bytes>") -> Document:
    return parse_text(decode(data, name), name)


def parse_file(path: str | Path) -> Document:
    path = Path(path)
    return parse_text(read_file(path), str(path))
