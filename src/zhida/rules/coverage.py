"""Does the pack pay every amount the document grants?

Every amount and rate the parser found in a benefit sentence (one that 給予,
補貼, 補助, 獎勵 …) must be cited by a rule: the amount lies inside the clause
of a rule or of a cap, and that rule's expressions (or the cap) carry its value.
Otherwise it must be marked in `not_benefits` as a budget, a target, a volume or
a bound. `zhida check` prints this and fails on anything left over.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlglot import exp

from zhida.rules.pack import Pack
from zhida.source.model import Span
from zhida.source.script import canonical

BENEFIT_WORDS = ("给予", "补贴", "补助", "奖励", "贴息", "予以支持", "优惠")


@dataclass(frozen=True)
class Citation:
    """One amount or rate of a benefit sentence and what covers it."""

    text: str  # as written: 20萬元, 50%
    value: Decimal  # yuan, or the rate as a fraction (50% -> 0.5)
    span: Span
    article: int | None
    covered_by: tuple[str, ...]  # rule and cap ids, or "not_benefits: <reason>"


@dataclass(frozen=True)
class Coverage:
    citations: tuple[Citation, ...]

    @property
    def missing(self) -> tuple[Citation, ...]:
        return tuple(citation for citation in self.citations if not citation.covered_by)

    @property
    def ok(self) -> bool:
        return not self.missing


def coverage(pack: Pack) -> Coverage:
    document = pack.document
    text = canonical(document.text)
    benefit_sentences = {
        index
        for article in document.articles
        for index, sentence in ((s.index, s) for s in article.sentences)
        if any(word in text[sentence.span.start : sentence.span.end] for word in BENEFIT_WORDS)
    }
    found = [(a.text, a.value, a.span, a.article, a.sentence) for a in document.amounts]
    found += [(r.text, r.value / 100, r.span, r.article, r.sentence) for r in document.rates]
    citations = []
    for text_, value, span, article, sentence in sorted(found, key=lambda item: item[2].start):
        if sentence not in benefit_sentences:
            continue
        citations.append(Citation(text_, value, span, article, _covered_by(pack, value, span)))
    return Coverage(tuple(citations))


def _covered_by(pack: Pack, value: Decimal, span: Span) -> tuple[str, ...]:
    by: list[str] = []
    for rule in pack.rules:
        if _inside(span, rule.clause_span) and value in _literals(rule):
            by.append(rule.id)
        for cap in rule.caps:
            if cap.yuan == value and cap.id not in by and _inside(span, _cap_span(pack, cap.clause)):
                by.append(cap.id)
    for mark, mark_span in pack.not_benefits:
        if _inside(span, mark_span):
            by.append(f"not_benefits: {mark.reason}")
    return tuple(by)


def _inside(span: Span, outer: tuple[int, int]) -> bool:
    return outer[0] <= span.start and span.end <= outer[1]


def _cap_span(pack: Pack, clause: str) -> tuple[int, int]:
    position = canonical(pack.document.text).find(canonical(clause))
    return position, position + len(clause)


def _literals(rule) -> set[Decimal]:
    values = set()
    for expression in (rule.when, rule.amount, rule.tax_due):
        if expression is None:
            continue
        for literal in expression.tree.find_all(exp.Literal):
            if not literal.is_string:
                values.add(Decimal(literal.this))
    return values
