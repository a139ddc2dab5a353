"""Does the pack represent every benefit the document grants?

Two checks, both printed by `zhida check`:

- amounts: every amount and rate the parser found in a benefit sentence (one that
  给予, 补贴, 补助, 奖励 …) must be cited by a rule: the amount lies inside the clause
  of a rule or of a cap, and that rule's expressions (or the cap) carry its value.
  Otherwise it must be marked in `not_benefits` as a budget, a target, a volume or a bound.
- sentences: every grant of an article, with or without an amount, found by what it
  grants (`GRANTS`): 给予, 补贴, 贴息, 优惠, 减免, 降低…费率, 享受, 纳入…库 … . A grant is
  the clause (the words between two of , ; : 。) holding the grant word. It is covered by a
  rule or cap whose clause quotes a grant word of it (any kind, by_measure included), by a `not_benefits`
  entry (with its reason: a budget, a target, encouragement with no subject …) or by an
  indicator of the parser (a target such as 发放公租房租赁补贴7460户). A sentence is covered
  when all its grants are: one sentence may grant two things, and a rule for one of them
  must not hide the other (（四十）: 贷款贴息 and 风险补助 in one sentence).

`zhida check` fails on either; `--amounts-only` checks the amounts alone. The detector asks
for grants, not for every 支持: the pack may represent more (a by_measure rule for 支持企业引进
各类外国人才), and the check does not require those.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from decimal import Decimal

from sqlglot import exp

from zhida.rules.pack import Pack
from zhida.source.model import Article, Document, Sentence, Span
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


# --- benefit sentences, with or without an amount ---------------------------------------------

# What a sentence grants, on the canonical (Simplified, half-width) text. Tuned by reading the
# Huzhou document: a bare 支持 or 鼓励 is encouragement (支持企业引进各类外国人才, 鼓励文化企业…),
# so 支持 counts only with a subject building something, a qualifying subject (支持符合条件的),
# or money behind it (专项资金…支持). 券 is not a grant word: 推动“创新券”通用通兑 is a task, the
# voucher's grant is the clause that 给予…补助; 算力券、语料券 are found by 降低企业成本.
GRANTS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(pattern))
    for label, pattern in (
        ("给予", r"给予|予以支持"),
        ("补贴", r"补贴|补助|奖补"),
        ("奖励", r"奖励"),
        ("贴息", r"贴息"),
        ("优惠", r"优惠"),
        ("减免", r"减免|免征|免税|退税|免门票|免费"),
        ("降低费率", r"降低[^,;:。]{0,12}费率"),
        ("享受", r"享受"),
        ("纳入库/清单", r"纳入[^,;:。]{0,20}?(?:库|清单|名单|目录)"),
        ("降低企业成本", r"降低(?:企业|主体)[^,;:。]{0,6}(?:成本|负担)"),
        ("允许", r"允许"),
        ("要素保障", r"提级保障|应保尽保|优先保障|(?:用地|用能|要素)需求保障"),
        ("绿色通道", r"绿色通道"),
        ("资金支持", r"(?:资金|基金)[^。;]{0,30}?支持|支持[^,;:。]{0,30}(?:资金|基金)"),
        ("扶持政策", r"扶持政策|帮扶政策|续贷政策"),
        ("支持…建设", r"支持[^,;:。]{0,30}?(?:企业|机构|主体|用人单位)[^,;:。]{0,40}?建设"),
        ("支持符合条件的", r"支持符合[^,;:。]{0,60}?的"),
    )
)
# A clause ends at these (canonical punctuation); 、 lists items of one clause. Every pattern
# above has bounded gaps, so a hostile sentence costs time linear in its length.
CLAUSE_END = re.compile(r"[,;:。!?]")


@dataclass(frozen=True)
class Grant:
    """One clause of a sentence that grants something, and what covers it."""

    words: tuple[str, ...]  # the GRANTS labels found in it
    span: Span  # the clause, offsets into the original text
    text: str  # the clause as written
    covered_by: tuple[str, ...]  # rule and cap ids, "not_benefits: <reason>", "indicator: <name>"


@dataclass(frozen=True)
class BenefitSentence:
    """A sentence of an article that grants something, with each of its grants."""

    area: int
    article: int
    sentence: Sentence
    grants: tuple[Grant, ...]

    @property
    def covered(self) -> bool:
        return all(grant.covered_by for grant in self.grants)

    @property
    def uncovered(self) -> tuple[Grant, ...]:
        return tuple(grant for grant in self.grants if not grant.covered_by)


@dataclass(frozen=True)
class SentenceCoverage:
    sentences: tuple[BenefitSentence, ...]

    @property
    def missing(self) -> tuple[BenefitSentence, ...]:
        return tuple(sentence for sentence in self.sentences if not sentence.covered)

    @property
    def ok(self) -> bool:
        return not self.missing


@dataclass(frozen=True)
class GrantClause:
    """A clause of an article sentence that grants something, as the detector finds it."""

    area: int
    article: int
    sentence: Sentence
    words: tuple[str, ...]  # the GRANTS labels found in it
    span: Span  # the clause, offsets into the original text
    marks: tuple[Span, ...]  # where the grant words stand: what a covering clause must quote


def grant_clauses(document: Document) -> list[GrantClause]:
    """Every grant of every article sentence, in document order.

    Works on the canonical copy, whose offsets are the original's, so a span quotes the
    government's own words in either script."""
    text = canonical(document.text)
    found = []
    for article in document.articles:
        for sentence in article.sentences:
            if _is_heading(article, sentence):
                continue  # (五)加大科技创新奖励 names the article; its sentences grant
            breaks = [m.start() for m in CLAUSE_END.finditer(text, sentence.span.start, sentence.span.end)]
            by_clause: dict[tuple[int, int], tuple[list[str], list[Span]]] = {}
            for label, pattern in GRANTS:
                for match in pattern.finditer(text, sentence.span.start, sentence.span.end):
                    clause = _clause(breaks, sentence.span, match.start(), match.end())
                    labels, marks = by_clause.setdefault(clause, ([], []))
                    marks.append(Span(match.start(), match.end()))
                    if label not in labels:
                        labels.append(label)
            for (start, end), (labels, marks) in sorted(_merged(by_clause).items()):
                found.append(GrantClause(
                    article.area, article.number, sentence, tuple(labels), Span(start, end),
                    tuple(sorted(marks, key=lambda mark: mark.start)),
                ))
    return found


def _is_heading(article: Article, sentence: Sentence) -> bool:
    return sentence.span.start == article.span.start and article.title in sentence.text


def _clause(breaks: list[int], sentence: Span, start: int, end: int) -> tuple[int, int]:
    """The clause around [start, end): from the punctuation before it to the one after it.

    `breaks` are the sentence's punctuation offsets, sorted: two bisections per match."""
    before = bisect.bisect_left(breaks, start)
    after = bisect.bisect_left(breaks, end)
    return (breaks[before - 1] + 1 if before else sentence.start), (breaks[after] if after < len(breaks) else sentence.end)


def _merged(
    by_clause: dict[tuple[int, int], tuple[list[str], list[Span]]],
) -> dict[tuple[int, int], tuple[list[str], list[Span]]]:
    """Overlapping clauses (a match that spans a comma) as one grant: sorted by start, a clause
    can only overlap the one merged just before it."""
    merged: list[tuple[int, int, list[str], list[Span]]] = []
    for (start, end), (labels, marks) in sorted(by_clause.items()):
        if merged and start < merged[-1][1]:
            last_start, last_end, last_labels, last_marks = merged.pop()
            start, end = last_start, max(end, last_end)
            labels = last_labels + [label for label in labels if label not in last_labels]
            marks = last_marks + marks
        merged.append((start, end, labels, marks))
    return {(start, end): (labels, marks) for start, end, labels, marks in merged}


def sentence_coverage(pack: Pack) -> SentenceCoverage:
    """Each benefit sentence of the document and what covers each of its grants."""
    document = pack.document
    covers = _covers(pack)
    sentences: dict[int, BenefitSentence] = {}
    for found in grant_clauses(document):
        by = tuple(dict.fromkeys(name for name, span in covers if any(_overlaps(mark, span) for mark in found.marks)))
        grant = Grant(found.words, found.span, document.quote(found.span), by)
        previous = sentences.get(found.sentence.index)
        grants = (previous.grants if previous else ()) + (grant,)
        sentences[found.sentence.index] = BenefitSentence(found.area, found.article, found.sentence, grants)
    return SentenceCoverage(tuple(sentences[index] for index in sorted(sentences)))


def _covers(pack: Pack) -> list[tuple[str, tuple[int, int]]]:
    """Every span that covers the grant words it quotes, with what to call it: rules and caps,
    not_benefits entries, indicators. A rule or cap quoting only other words of a grant's clause
    (对现代设施农业项目 without 实施贷款贴息) does not cover it."""
    covers = [(rule.id, rule.clause_span) for rule in pack.rules]
    caps = {cap.id: cap.clause for rule in pack.rules for cap in rule.caps}
    covers += [(cap_id, _cap_span(pack, clause)) for cap_id, clause in caps.items()]
    # 可与…叠加享受 / 按就高原则执行,不重复享受: words about how a benefit combines, read by `stacking:`.
    covers += [
        (f"{rule.id} stacking", _cap_span(pack, rule.spec.stacking.clause))
        for rule in pack.rules if rule.spec.stacking is not None and rule.spec.stacking.clause
    ]
    covers += [(f"not_benefits: {mark.reason}", span) for mark, span in pack.not_benefits]
    covers += [(f"indicator: {i.name}", (i.span.start, i.span.end)) for i in pack.document.indicators]
    return covers


def _overlaps(span: Span, other: tuple[int, int]) -> bool:
    return span.start < other[1] and other[0] < span.end
