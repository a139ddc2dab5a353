"""Draft a policy pack from any document of the family: the skeleton an analyst fills in.

    draft(document) -> Draft         a parsed Document -> rules, caps, events and metadata, with TODOs
    write_draft(draft, source, out)  the pack's files, written in a temporary folder, then renamed
    todos(folder) -> list[Todo]      every TODO left in a pack's YAML (`zhida check` refuses them)

What comes out: document.txt (the file's bytes, verbatim), policy.yaml (`drafted: true`),
events.yaml (one event type per benefit), rules/<area>-<slug>.yaml (one file per area).

How a benefit sentence becomes rules. The sentences the coverage detector finds grants in
(`coverage.grant_clauses`) are cut at ; into segments, and each segment's clauses are walked in
order; every amount and rate of a clause is read by its role:

    单个企业全年最高补助30万元 (per …全年/年度)      -> a cap per subject and year (per carrier for a 载体)
    对设备投资额2000万元以上的 (以上/超过, no grant)  -> a threshold: a hint for `when`
    按售价20%补贴,最高补贴3000元/件 (最高 after a rate) -> a cap per item
    分别给予最高80万元、40万元奖励                      -> the benefit; several amounts are tiers,
                                                         one rule each, `when` picking the tier
A clause that grants with no number is a benefit of its own: by_measure (its amount set by the
department's implementing measures), or qualification for 纳入…库/清单. What the text does not
decide is the literal TODO, with a hint in a comment after it. An amount of a benefit sentence
that no skeleton reads (a budget, a target) becomes a `not_benefits` entry, its reason TODO
unless the clause says 预算 or the parser read it as a target.

TODO values do not parse as expressions, so `todos` reads the YAML as text, before `load_pack`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from zhida.rules.coverage import GrantClause, grant_clauses
from zhida.rules.model import CapScope, Kind
from zhida.source.model import Amount, Article, Document, Qualifier, Rate, Span
from zhida.source.script import canonical, to_simplified

TODO = "TODO"
NO_DEPARTMENT = "(文件未写明牵头单位)"
BUDGET = re.compile(r"预算安排")
SEGMENT_END = re.compile(r";")
CLAUSE_END = re.compile(r"[,;:。!?]")
CLAUSE_MARKS = ",;:。"
# Per words of an annual cap: 单个企业全年, 孵化载体单年度.
ANNUAL = re.compile(r"全年|年度|每年")
CARRIER = re.compile(r"载体|孵化器|众创空间")
# What a rate is a share of: 按服务费用30%, 按设备投资额的10%, 按售价20%.
RATE_BASE = re.compile(r"按(?:照)?([^,;:。按]{1,16}?)(?:的)?(?:给予)?(?:最高)?$")
FLOOR_WORDS = re.compile(r"不低于|不少于")
ENUMERATION_SPLIT = re.compile(r"、|和|及|与")
# Words that open an enumeration's first item and close its last: 对新认定的全国重点实验室、省级重点实验室.
ITEM_PREFIX = re.compile(r"^.*(?:的|为|对|实施|是|将)")
ITEM_SUFFIX = re.compile(r"的.*$")
TAX = re.compile(r"税")
TAX_RELIEF = re.compile(r"免|减|优惠")
# Money lent or spent in total (安排40亿元信贷资金): no subject is paid that much by one clause.
VOLUME_FROM = Decimal(100_000_000)
QUALIFICATION = re.compile(r"纳入[^,;:。]{0,20}?(?:库|清单|名单|目录)")
# Subject kinds guessed from the words of a benefit, first match wins; enterprise otherwise.
SUBJECT_GUESSES: tuple[tuple[str, str, re.Pattern[str]], ...] = tuple(
    (kind, title, re.compile(pattern))
    for kind, title, pattern in (
        ("incubator", "孵化载体运营主体", r"孵化|众创空间"),
        ("guarantor", "政府性融资担保机构", r"担保机构"),
        ("bank", "银行", r"银行"),
        ("farm", "农业经营主体", r"家庭农场|合作社|农业经营主体"),
        ("consumer", "消费者", r"消费者|购买新|以旧换新|换新|置换|报废旧车|数码产品|家电|家居|电动自行车"),
        ("enterprise", "企业", r"企业"),
        ("resident", "居民(个人)", r"居民|老年人|家庭|个人|职工|人才"),
        ("institution", "科研院所、医院等单位", r"研发机构|科研院所|高校|医院|养老服务中心|照护|托育|单位|实验室"),
    )
)
ENTERPRISE = ("enterprise", "企业")
# rules/<area>-<slug>.yaml: a slug from the area's title (the first two that match).
AREA_SLUGS: tuple[tuple[str, str], ...] = (
    ("科技", "science"), ("创新", "innovation"), ("人才", "talent"), ("教育", "education"),
    ("制造", "manufacturing"), ("产业", "industry"), ("数字", "digital"), ("服务业", "services"), ("消费", "consumption"),
    ("开放", "opening-up"), ("外贸", "trade"), ("交通", "transport"), ("港", "port"),
    ("投资", "investment"), ("城乡", "urban-rural"), ("农业", "agriculture"), ("乡村", "rural"),
    ("民生", "livelihood"), ("就业", "employment"), ("金融", "finance"), ("绿色", "green"),
    ("文化", "culture"), ("旅游", "tourism"), ("房地产", "housing"), ("营商", "business-climate"),
)


@dataclass(frozen=True)
class DraftCap:
    id: str
    per: CapScope
    yuan: Decimal
    clause: str  # verbatim from the document
    span: Span


@dataclass(frozen=True)
class DraftField:
    name: str
    type: str
    title: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class DraftEvent:
    name: str
    title: str
    subjects: tuple[str, ...]
    fields: tuple[DraftField, ...]


@dataclass(frozen=True)
class DraftRule:
    """One rule skeleton: what the text decides is filled, the rest is None (written as TODO)."""

    id: str
    title: str
    article: int
    area: int
    clause: str  # verbatim from the document
    span: Span
    department: str
    subject: tuple[str, ...]
    event: str
    kind: Kind
    when: str | None  # None: TODO; "TRUE": no condition beyond the event
    when_hint: str
    amount: str | None  # None with a kind that has an amount: TODO
    amount_hint: str
    result: str | None  # qualification
    caps: tuple[str, ...]
    tier: tuple[int, int] | None  # (i, n): tier i of n
    values: tuple[Decimal, ...]  # the amounts (yuan) and rates (fractions) this rule pays


@dataclass(frozen=True)
class DraftNotBenefit:
    clause: str
    span: Span
    reason: str | None  # None: TODO
    hint: str


@dataclass(frozen=True)
class DraftArea:
    number: int
    title: str
    department: str
    slug: str
    caps: tuple[DraftCap, ...]
    rules: tuple[DraftRule, ...]
    not_benefits: tuple[DraftNotBenefit, ...]

    @property
    def file_name(self) -> str:
        return f"{self.number}-{self.slug}.yaml"


@dataclass(frozen=True)
class Draft:
    document: Document
    policy: dict[str, object]  # None values are TODO
    subjects: dict[str, str]
    events: tuple[DraftEvent, ...]
    areas: tuple[DraftArea, ...]
    benefit_sentences: tuple[int, ...]  # Sentence.index of every sentence that grants

    @property
    def rules(self) -> tuple[DraftRule, ...]:
        return tuple(rule for area in self.areas for rule in area.rules)

    @property
    def caps(self) -> tuple[DraftCap, ...]:
        return tuple(cap for area in self.areas for cap in area.caps)


# --- reading the benefits --------------------------------------------------------------------


@dataclass
class _Unit:
    """One benefit being read from the clauses of a segment."""

    start: int
    end: int
    grants: list[GrantClause] = field(default_factory=list)
    amounts: list[Amount] = field(default_factory=list)  # the benefit's own (tiers when several)
    rates: list[Rate] = field(default_factory=list)
    item_caps: list[Amount] = field(default_factory=list)
    annual_caps: list[Amount] = field(default_factory=list)
    thresholds: list[Amount | Rate] = field(default_factory=list)
    context: list[Span] = field(default_factory=list)  # clauses before the money: subject, enumeration

    @property
    def has_money(self) -> bool:
        return bool(self.amounts or self.rates)

    def take(self, span: Span) -> None:
        self.start, self.end = min(self.start, span.start), max(self.end, span.end)


def draft(document: Document) -> Draft:
    """The skeleton of a pack for `document`: every benefit sentence read into rules."""
    text = canonical(document.text)
    grants = grant_clauses(document)
    by_sentence: dict[int, list[GrantClause]] = {}
    for grant in grants:
        by_sentence.setdefault(grant.sentence.index, []).append(grant)
    subjects: dict[str, str] = {}
    events: list[DraftEvent] = []
    areas = []
    used: list[tuple[Span, frozenset[Decimal]]] = []  # clause spans of rules and caps with their values
    for area in document.areas:
        budgets: list[Span] = []
        volumes: list[Span] = []
        caps: list[DraftCap] = []
        rules: list[DraftRule] = []
        for article in area.articles:
            units: list[_Unit] = []
            for sentence in article.sentences:
                if BUDGET.search(text, sentence.span.start, sentence.span.end):
                    budgets.append(sentence.span)  # 市财政预算安排资金X亿元,其中…: money of the city, not a grant
                elif sentence.index in by_sentence:
                    units.extend(_sentence_units(document, text, sentence.span, by_sentence[sentence.index]))
            _attach_loose_caps(units)
            for number, unit in enumerate(units, start=1):
                if not unit.grants and not unit.has_money:
                    continue
                if unit.amounts and not unit.rates and min(amount.value for amount in unit.amounts) >= VOLUME_FROM:
                    volumes.append(Span(unit.start, unit.end))  # 安排40亿元信贷资金: a volume, not a grant
                    continue
                event, unit_rules, unit_caps = _unit_rules(
                    document, text, area.department, article, number, unit, len(units),
                )
                events.append(event)
                for kind in event.subjects:
                    subjects[kind] = _subject_title(kind)
                rules.extend(unit_rules)
                caps.extend(unit_caps)
                used.extend((rule.span, frozenset(rule.values)) for rule in unit_rules)
                used.extend((cap.span, frozenset({cap.yuan})) for cap in unit_caps)
        used += [(span, frozenset()) for span in budgets + volumes]
        marks = _whole(document, text, budgets, "budget") + _whole(document, text, volumes, None)
        marks += _not_benefits(document, text, area.number, used)
        areas.append(DraftArea(
            area.number, to_simplified(area.title), area.department, _slug(area.title),
            tuple(caps), tuple(rules), marks,
        ))
    if not subjects:
        subjects[ENTERPRISE[0]] = ENTERPRISE[1]
    return Draft(document, _policy(document), subjects, tuple(events), tuple(areas), tuple(sorted(by_sentence)))


def _sentence_units(document: Document, text: str, sentence: Span, grants: list[GrantClause]) -> list[_Unit]:
    """The benefits of one sentence, segment by segment (a ; ends a benefit)."""
    units: list[_Unit] = []
    start = sentence.start
    ends = [match.start() for match in SEGMENT_END.finditer(text, sentence.start, sentence.end)] + [sentence.end]
    for end in ends:
        units.extend(_segment_units(document, text, Span(start, end), grants))
        start = end + 1
    return units


def _segment_units(document: Document, text: str, segment: Span, grants: list[GrantClause]) -> list[_Unit]:
    units: list[_Unit] = []
    pending: list[Span] = []
    pending_thresholds: list[Amount | Rate] = []
    for clause in _clauses(text, segment):
        if not text[clause.start : clause.end].strip():
            continue
        grant = next((g for g in grants if g.span.start < clause.end and clause.start < g.span.end), None)
        amounts = [a for a in document.amounts if a.currency == "CNY" and clause.start <= a.span.start < clause.end]
        rates = [r for r in document.rates if clause.start <= r.span.start < clause.end]
        current = units[-1] if units else None
        if any(_is_target(item) for item in [*amounts, *rates]) and grant is None:
            continue  # 力争新增无还本续贷150亿元左右: a target (not_benefits), not a condition of the benefit
        benefit_amounts, benefit_rates = [], []
        for amount in amounts:
            role = _amount_role(text, clause, amount, grant is not None, current)
            if role == "annual":
                if current is None:  # a cap of its own (单个孵化载体单年度内…): see _attach_loose_caps
                    current = _Unit(clause.start, clause.end)
                    units.append(current)
                current.annual_caps.append(amount)
                current.take(clause)
            elif role == "item" and current is not None:
                current.item_caps.append(amount)
                current.take(clause)
            elif role == "threshold":
                pending_thresholds.append(amount)
            else:
                benefit_amounts.append(amount)
        for rate in rates:
            if _is_threshold(text, clause, rate.qualifier, rate.span, grant is not None):
                pending_thresholds.append(rate)
            else:
                benefit_rates.append(rate)
        if benefit_amounts or benefit_rates:
            if current is None or current.has_money:
                current = _Unit(clause.start, clause.end)
                units.append(current)
            current.amounts += benefit_amounts
            current.rates += benefit_rates
        elif grant is not None and not amounts and not rates:
            if current is None or current.has_money or current.grants:
                current = _Unit(clause.start, clause.end)
                units.append(current)
        elif not (amounts or rates):
            pending.append(clause)
            continue
        elif current is None or pending_thresholds and current.has_money:
            pending.append(clause)  # a threshold clause: it qualifies the benefit that follows
            continue
        if grant is not None and grant not in current.grants:
            current.grants.append(grant)
        for span in pending:
            current.take(span)
            current.context.append(span)
        current.take(clause)
        current.thresholds += pending_thresholds
        pending, pending_thresholds = [], []
    if pending_thresholds and units:
        last = units[-1]
        last.thresholds += pending_thresholds
        for span in pending:
            last.take(span)
    return units


def _clauses(text: str, segment: Span) -> list[Span]:
    clauses, start = [], segment.start
    for match in CLAUSE_END.finditer(text, segment.start, segment.end):
        clauses.append(Span(start, match.start()))
        start = match.end()
    clauses.append(Span(start, segment.end))
    return clauses


def _amount_role(text: str, clause: Span, amount: Amount, grants: bool, current: _Unit | None) -> str:
    """annual, item, threshold or benefit: what an amount of a benefit sentence does."""
    before = text[clause.start : amount.span.start]
    if amount.per and ANNUAL.search(to_simplified(amount.per)) or re.search(r"单[个家][^,;:。]{0,12}(?:全年|年度)", before):
        return "annual"
    if _is_threshold(text, clause, amount.qualifier, amount.span, grants):
        return "threshold"
    if re.search(r"单[个家]企业", before) and current is not None and current.has_money:
        return "annual"  # 单家企业保费补助金额不超过100万元: what one enterprise gets in the year
    after_rate = current is not None and current.rates and not current.amounts
    if after_rate and amount.qualifier in (Qualifier.CEILING, Qualifier.AT_MOST):
        return "item"
    return "benefit"


def _is_target(item: Amount | Rate) -> bool:
    """左右, or 超过/突破 a sum no subject is paid: what the city aims at."""
    if item.qualifier is Qualifier.ABOUT:
        return True
    return isinstance(item, Amount) and item.qualifier is Qualifier.OVER and item.value >= VOLUME_FROM


def _is_threshold(text: str, clause: Span, qualifier: Qualifier, span: Span, grants: bool) -> bool:
    """以上 / 超过 / 高于 (or anything in a clause that grants nothing) qualifies who may claim."""
    before = text[clause.start : span.start]
    if qualifier in (Qualifier.OVER, Qualifier.ABOUT):
        return True
    if qualifier is Qualifier.AT_LEAST:
        return not (grants and FLOOR_WORDS.search(before))
    return not grants and qualifier in (Qualifier.EXACT, Qualifier.AT_MOST)


def _attach_loose_caps(units: list[_Unit]) -> None:
    """A sentence of its own that caps an article's benefits (单个孵化载体单年度内…最高30万元):
    its unit holds only caps or reads as a lone annual amount; it goes to the benefit before it."""
    for position in range(len(units) - 1, 0, -1):
        unit = units[position]
        if not unit.has_money and (unit.annual_caps or unit.item_caps):
            units[position - 1].annual_caps += unit.annual_caps
            units[position - 1].item_caps += unit.item_caps
            del units[position]


def _unit_rules(
    document: Document, text: str, lead: str, article: Article, number: int, unit: _Unit, count: int,
) -> tuple[DraftEvent, list[DraftRule], list[DraftCap]]:
    base_id = f"article{article.number}-{number}"
    event_name = f"article{article.number}_{number}"
    span = _unique(document, text, Span(unit.start, unit.end))
    clause = document.quote(span)
    words = text[span.start : span.end]
    subject = _subjects(words)
    department = "、".join(getattr(article, "departments", None) or ()) or lead or NO_DEPARTMENT
    title = to_simplified(article.title) + (f"({number})" if count > 1 else "")
    caps = _unique_ids(
        [_cap(document, text, f"{base_id}-annual", _annual_scope(text, amount), amount) for amount in unit.annual_caps]
        + [_cap(document, text, f"{base_id}-item", CapScope.ITEM, amount) for amount in unit.item_caps]
    )
    cap_ids = tuple(cap.id for cap in caps)
    fields: list[DraftField] = []
    if any(cap.per is CapScope.CARRIER_YEAR for cap in caps):
        fields.append(DraftField("carrier", "text", "载体名称"))
    threshold_hint = "、".join(_threshold_words(document, text, item) for item in unit.thresholds)
    tiers: list[tuple[str | None, Kind, Decimal, str, str | None]] = []  # (amount expression, kind, value, text, hint)
    if unit.rates:
        base = _rate_base(text, unit.rates[0])
        if base:
            fields.append(DraftField("base_amount", "money", base))
        for rate in unit.rates:
            fraction = _plain(rate.value / 100)
            expression = f"{fraction} * base_amount" if base else None
            hint = "" if base else f"{to_simplified(rate.text)} × 计算基数(在事件中加一个 money 字段)"
            tiers.append((expression, _rate_kind(rate), rate.value / 100, rate.text, hint))
    else:
        for amount in unit.amounts:
            tiers.append((f'"{_plain(amount.value)}"', _amount_kind(amount), amount.value, amount.text, None))
    if TAX.search(words) and TAX_RELIEF.search(words):
        # 享受所得税“两免三减半”: the amount is the tax saved, which the rate alone does not give
        hint = "节税额:按标准税率应纳税额减去优惠后应纳税额(在事件中加应纳税所得额等字段)"
        tiers = [(None, Kind.TAX, item.value / (100 if isinstance(item, Rate) else 1), item.text, hint)
                 for item in [*unit.rates, *unit.amounts][:1]]
    labels = _tier_labels(text, unit, len(tiers)) if len(tiers) > 1 else None
    if labels:
        fields.append(DraftField("category", "choice", "类别", tuple(labels)))
    event_title = _event_title(text, document, unit, article)
    event = DraftEvent(event_name, event_title, subject, tuple(fields))
    common = {
        "article": article.number, "area": article.area, "clause": clause, "span": span,
        "department": department, "subject": subject, "event": event_name, "caps": cap_ids,
    }
    rules = []
    if not tiers:
        kind, result = _without_money(text, unit)
        rules.append(DraftRule(
            id=base_id, title=title, kind=kind, when=None if threshold_hint else "TRUE",
            when_hint=_when_hint(threshold_hint, None), amount=None,
            amount_hint=_amount_by_hint(department) if kind is Kind.BY_MEASURE else "",
            result=result, tier=None, values=(), **common,
        ))
    for index, (expression, kind, value, written, hint) in enumerate(tiers, start=1):
        label = labels[index - 1] if labels else None
        several = len(tiers) > 1
        if several:
            when = f"category = '{label}'" if label and not threshold_hint else None
            tier_hint = f"第{index}档(共{len(tiers)}档,{to_simplified(written)})" + (f":{label}" if label else "")
        else:
            when = None if threshold_hint else "TRUE"
            tier_hint = ""
        rules.append(DraftRule(
            id=f"{base_id}-tier{index}" if several else base_id,
            title=title + (f":{label}" if label else (f"第{index}档" if several else "")),
            kind=kind, when=when, when_hint=_when_hint(threshold_hint, tier_hint),
            amount=expression, amount_hint=hint or "", result=None,
            tier=(index, len(tiers)) if several else None,
            values=(value,) + tuple(_threshold_value(item) for item in unit.thresholds), **common,
        ))
    return event, rules, caps


def _amount_by_hint(department: str) -> str:
    """Where a by_measure amount comes from: the closing paragraph orders each lead department to
    draft 配套政策文件; 按规定 may also mean a national or provincial scheme."""
    lead = to_simplified(department.split("、")[0])
    example = f"{lead}配套政策文件" if lead != NO_DEPARTMENT else "某部门配套政策文件"
    return f"金额由何种政策确定,如:{example};或国家、省相关政策"


def _annual_scope(text: str, amount: Amount) -> CapScope:
    """单个孵化载体单年度内…: per carrier; 单个企业全年…: per subject."""
    before = text[max(amount.span.start - 20, 0) : amount.span.start]
    return CapScope.CARRIER_YEAR if CARRIER.search(before) else CapScope.SUBJECT_YEAR


def _unique_ids(caps: list[DraftCap]) -> list[DraftCap]:
    seen: dict[str, int] = {}
    unique = []
    for cap in caps:
        seen[cap.id] = seen.get(cap.id, 0) + 1
        unique.append(cap if seen[cap.id] == 1 else dataclasses.replace(cap, id=f"{cap.id}{seen[cap.id]}"))
    return unique


def _cap(document: Document, text: str, cap_id: str, per: CapScope, amount: Amount) -> DraftCap:
    span = _unique(document, text, _clause_around(text, amount.span))
    return DraftCap(cap_id, per, amount.value, document.quote(span), span)


def _clause_around(text: str, span: Span) -> Span:
    """The clause holding `span`: from the break before it to the break after it (, ; : 。)."""
    start = max(text.rfind(mark, 0, span.start) for mark in CLAUSE_MARKS) + 1
    ends = [position for mark in CLAUSE_MARKS if (position := text.find(mark, span.end)) >= 0]
    return Span(start, min(ends) if ends else len(text))


def _unique(document: Document, text: str, span: Span) -> Span:
    """`span` widened clause by clause to the left until its words occur first where they stand:
    a pack finds a quoted clause by its first occurrence (最高补贴2000元/件 is written twice in (十七))."""
    while span.start > 0:
        words, simplified = document.quote(span), text[span.start : span.end]
        if document.text.find(words) == span.start and text.find(simplified) == span.start:
            break
        span = Span(_clause_around(text, Span(span.start - 1, span.start - 1)).start, span.end)
    return span


def _rate_base(text: str, rate: Rate) -> str | None:
    """What a rate is a share of, from 按X(的)N%: the title of the event's money field."""
    match = RATE_BASE.search(text[_clause_around(text, rate.span).start : rate.span.start])
    return match.group(1) if match else None


def _rate_kind(rate: Rate) -> Kind:
    if rate.qualifier is Qualifier.AT_LEAST:
        return Kind.FLOOR
    if rate.qualifier in (Qualifier.CEILING, Qualifier.AT_MOST):
        return Kind.CEILING
    return Kind.EXACT


def _amount_kind(amount: Amount) -> Kind:
    if amount.qualifier is Qualifier.AT_LEAST:
        return Kind.FLOOR
    if amount.qualifier in (Qualifier.CEILING, Qualifier.AT_MOST):
        return Kind.CEILING
    return Kind.EXACT


def _without_money(text: str, unit: _Unit) -> tuple[Kind, str | None]:
    for grant in unit.grants:
        if match := QUALIFICATION.search(text, grant.span.start, grant.span.end):
            return Kind.QUALIFICATION, match.group()
    return Kind.BY_MEASURE, None


def _tier_labels(text: str, unit: _Unit, count: int) -> list[str] | None:
    """The items an enumeration names before its tiers (全国重点实验室、省级重点实验室), when as many."""
    first_money = min(item.span.start for item in [*unit.amounts, *unit.rates])
    candidates = [span for span in unit.context if span.end <= first_money]
    clause_start = _clause_around(text, Span(first_money, first_money)).start
    candidates.append(Span(max(clause_start, unit.start), first_money))
    for span in reversed(candidates):
        words = text[span.start : span.end]
        if "、" not in words:
            continue
        items = [item for item in ENUMERATION_SPLIT.split(words) if item]
        if len(items) != count:
            return None
        items[0] = ITEM_PREFIX.sub("", items[0])
        items[-1] = ITEM_SUFFIX.sub("", items[-1])
        items = [re.sub(r"分别.*$", "", item).strip() for item in items]
        if all(items) and len(set(items)) == len(items) and not any(set(item) & set("'()等") for item in items):
            return items
        return None
    return None


def _event_title(text: str, document: Document, unit: _Unit, article: Article) -> str:
    """对新认定的全国重点实验室… -> 新认定的全国重点实验室…; else the article's title."""
    for span in unit.context:
        words = text[span.start : span.end].strip()
        if words.startswith("对"):
            return to_simplified(document.quote(span)).strip()[1:]
    return to_simplified(article.title)


def _threshold_words(document: Document, text: str, item: Amount | Rate) -> str:
    words = to_simplified(document.quote(_clause_around(text, item.span)))
    bound = {
        Qualifier.AT_LEAST: ">= (以上/不低于含本数)", Qualifier.AT_MOST: "<= (以下/以内/不超过含本数)",
        Qualifier.OVER: "> (超过/高于不含本数)", Qualifier.ABOUT: "约", Qualifier.EXACT: "=", Qualifier.CEILING: "<=",
    }[item.qualifier]
    value = _threshold_value(item)
    return f"“{words}” {bound} {_plain(value)}"


def _threshold_value(item: Amount | Rate) -> Decimal:
    return item.value if isinstance(item, Amount) else item.value / 100


def _when_hint(thresholds: str, tier: str | None) -> str:
    parts = [part for part in (tier, f"条件:{thresholds}(在事件中加字段后写成 SQL 条件)" if thresholds else "") if part]
    return ";".join(parts)


def _subjects(words: str) -> tuple[str, ...]:
    for kind, _title, pattern in SUBJECT_GUESSES:
        if pattern.search(words):
            return (kind,)
    return (ENTERPRISE[0],)


def _subject_title(kind: str) -> str:
    for name, title, _pattern in SUBJECT_GUESSES:
        if name == kind:
            return title
    return ENTERPRISE[1]


def _not_benefits(
    document: Document, text: str, area: int, used: list[tuple[Span, frozenset[Decimal]]],
) -> tuple[DraftNotBenefit, ...]:
    """Amounts of this area's benefit sentences that no skeleton reads: a budget, a target, a volume …"""
    benefit_words = ("给予", "补贴", "补助", "奖励", "贴息", "予以支持", "优惠")
    sentences = {
        sentence.index for article in document.articles if article.area == area for sentence in article.sentences
        if any(word in text[sentence.span.start : sentence.span.end] for word in benefit_words)
    }
    marks: dict[tuple[int, int], DraftNotBenefit] = {}
    items = [(a.span, a.value, a.sentence) for a in document.amounts]
    items += [(r.span, r.value / 100, r.sentence) for r in document.rates]
    for span, value, sentence in items:
        if sentence not in sentences:
            continue
        if any(outer.start <= span.start and span.end <= outer.end and value in values for outer, values in used):
            continue
        clause = _unique(document, text, _clause_around(text, span))
        if any(outer.start <= clause.start and clause.end <= outer.end for outer, _values in used):
            continue  # a threshold inside a rule's clause: its `when` will cite it
        words = text[clause.start : clause.end]
        target = any(i.span.start <= span.start and span.end <= i.span.end for i in document.indicators)
        reason = "budget" if "预算" in words else "target" if target else None
        marks[(clause.start, clause.end)] = DraftNotBenefit(
            document.quote(clause), clause, reason, "budget、target、volume、bound 之一:为何不是可申请的待遇",
        )
    return tuple(marks.values())


def _whole(document: Document, text: str, spans: list[Span], reason: str | None) -> tuple[DraftNotBenefit, ...]:
    """An article's budget sentence (with its 其中…用于…补助 breakdown), or money in total (安排40亿元
    信贷资金, reason TODO: volume is likely), as one not_benefits entry each."""
    marks = []
    for span in spans:
        end = span.end - 1 if text[span.end - 1 : span.end] == "。" else span.end
        words = Span(span.start, end)
        hint = "" if reason else "金额在1亿元以上,多为总量(volume),不是单个主体可得的待遇;确认后写 volume"
        marks.append(DraftNotBenefit(document.quote(words), words, reason, hint))
    return tuple(marks)


def _policy(document: Document) -> dict[str, object]:
    preamble = document.preamble
    simplified = to_simplified(document.text)
    changed = sum(1 for before, after in zip(document.text, simplified, strict=False) if before != after)
    traditional = changed * 100 > len(document.text)  # a few 於 in a Simplified text are not a script
    return {
        "title": preamble.title,
        "issuer": preamble.issuer,
        "issued": preamble.issued,
        "implements": preamble.implements,
        "valid_from": preamble.valid_from,
        "valid_to": preamble.valid_to,
        "script": "traditional" if traditional else "simplified",
    }


def _slug(title: str) -> str:
    words = to_simplified(title)
    found = [slug for key, slug in AREA_SLUGS if key in words][:2]
    return "-".join(found) or "area"


def _plain(value: Decimal) -> str:
    """A Decimal as a plain literal: 800000, 0.3, never 8E+5."""
    text = format(value.normalize(), "f")
    return text


# --- writing the pack ------------------------------------------------------------------------


class DraftError(ValueError):
    """A draft that cannot be written; the message says where and why, in Chinese."""


def write_draft(result: Draft, source: Path, out: Path, force: bool = False) -> None:
    """The pack's files in a temporary folder beside `out`, renamed into place when all are written."""
    if out.exists() and not force:
        raise DraftError(f"{out}: 目录已存在;换一个目录,或加 --force 覆盖")
    if out.exists() and not out.is_dir():
        raise DraftError(f"{out}: 已存在且不是目录,不能覆盖")
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{out.name}-draft-", dir=out.parent))
    try:
        shutil.copyfile(source, temporary / "document.txt")
        (temporary / "policy.yaml").write_text(policy_yaml(result), encoding="utf-8")
        (temporary / "events.yaml").write_text(events_yaml(result), encoding="utf-8")
        (temporary / "rules").mkdir()
        for area in result.areas:
            if area.rules or area.not_benefits:
                (temporary / "rules" / area.file_name).write_text(area_yaml(area), encoding="utf-8")
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}-old-", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(temporary, out)
            shutil.rmtree(old)
        else:
            os.replace(temporary, out)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def _q(value: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is YAML's)."""
    return json.dumps(value, ensure_ascii=False)


def _todo(hint: str) -> str:
    return f"{TODO}  # {hint}" if hint else TODO


def policy_yaml(result: Draft) -> str:
    lines = [
        "# Drafted by `zhida draft` from document.txt. Check every value against the text, fill every",
        "# TODO (zhida check refuses a pack that has one), then run: zhida check --pack <this folder>",
    ]
    hints = {"implements": "上级文件文号,如 浙政发〔2026〕2号", "valid_from": "如 2026-01-01", "valid_to": "如 2026-12-31"}
    for key, value in result.policy.items():
        if value is None:
            lines.append(f"{key}: {_todo(hints.get(key, '从文件中抄写'))}")
        elif isinstance(value, str):
            lines.append(f"{key}: {_q(value)}")
        else:
            lines.append(f"{key}: {value}")
    lines.append("drafted: true")
    return "\n".join(lines) + "\n"


def events_yaml(result: Draft) -> str:
    lines = [
        "# Subject kinds and event types drafted by `zhida draft`: one event type per benefit, named after",
        "# its article. Rename them, merge those that are one event, and add the fields a `when` needs.",
        "subjects:",
    ]
    lines += [f"  {kind}: {_q(title)}" for kind, title in result.subjects.items()]
    lines.append("")
    lines.append("events:")
    for event in result.events:
        lines.append(f"  - name: {event.name}")
        lines.append(f"    title: {_q(event.title)}")
        lines.append(f"    subjects: [{', '.join(event.subjects)}]")
        if event.fields:
            lines.append("    fields:")
            for item in event.fields:
                values = f", values: [{', '.join(_q(v) for v in item.values)}]" if item.values else ""
                unit = ", unit: 元" if item.type == "money" else ""
                lines.append(f"      - {{name: {item.name}, type: {item.type}, title: {_q(item.title)}{unit}{values}}}")
    return "\n".join(lines) + "\n"


def area_yaml(area: DraftArea) -> str:
    lines = [
        f"# {area.number}、{area.title} (牵头: {area.department or NO_DEPARTMENT}): drafted by `zhida draft`.",
        "# Each rule quotes its clause verbatim; tiers of one 分别 sentence quote the same clause and pick",
        "# their tier with `when`. Fill every TODO; subject kinds are guesses from the clause's words.",
        f"area: {area.number}",
    ]
    if area.caps:
        lines += ["", "caps:"]
        for cap in area.caps:
            lines += [
                f"  - id: {cap.id}",
                f"    per: {cap.per.value}",
                f"    yuan: {_plain(cap.yuan)}",
                f"    clause: {_q(cap.clause)}",
            ]
            if cap.per is CapScope.CARRIER_YEAR:
                lines.append("    carrier_field: carrier  # the event field naming the carrier (载体名称)")
    if area.rules:
        lines += ["", "rules:"]
    article = None
    for rule in area.rules:
        if rule.article != article:
            article = rule.article
            lines.append(f"  # 第{rule.article}条")
        lines += _rule_lines(rule)
    if area.not_benefits:
        lines += ["", "not_benefits:"]
        for mark in area.not_benefits:
            lines.append(f"  - clause: {_q(mark.clause)}")
            lines.append(f"    reason: {mark.reason if mark.reason else _todo(mark.hint)}")
    return "\n".join(lines) + "\n"


def _rule_lines(rule: DraftRule) -> list[str]:
    lines = [f"  - id: {rule.id}", f"    title: {_q(rule.title)}", f"    article: {rule.article}"]
    lines.append(f"    # 责任单位: {to_simplified(rule.department)}")
    lines.append(f"    clause: {_q(rule.clause)}")
    lines.append(f"    subject: [{', '.join(rule.subject)}]  # guessed from the clause's words")
    lines.append(f"    event: {rule.event}")
    lines.append(f"    kind: {rule.kind.value}")
    if rule.when is None:
        lines.append(f"    when: {_todo(rule.when_hint)}")
    elif rule.when != "TRUE":
        lines.append(f"    when: {_q(rule.when)}" + (f"  # {rule.when_hint}" if rule.when_hint else ""))
    if rule.kind is Kind.QUALIFICATION:
        lines.append(f"    result: {_q(rule.result or '')}")
    elif rule.kind is Kind.BY_MEASURE:
        lines.append(f"    amount_by: {_todo(rule.amount_hint)}")
    elif rule.amount is None:
        lines.append(f"    amount: {_todo(rule.amount_hint)}")
    else:
        lines.append(f"    amount: {rule.amount}" if rule.amount.startswith('"') else f"    amount: {_q(rule.amount)}")
    if rule.caps:
        lines.append(f"    caps: [{', '.join(rule.caps)}]")
    return lines


# --- TODOs left in a pack --------------------------------------------------------------------


@dataclass(frozen=True)
class Todo:
    """One TODO value in a pack's YAML: where it is and what it asks for."""

    file: str  # relative to the pack folder
    line: int  # from 1
    item: str | None  # the rule or cap id it sits under, if any
    key: str  # when, amount, reason …
    hint: str  # the comment after it

    def describe(self) -> str:
        where = f"{self.file} 第 {self.line} 行"
        item = f" {self.item}" if self.item else ""
        hint = f"(提示:{self.hint})" if self.hint else ""
        return f"{where}{item} {self.key or '(值)'}: TODO{hint}"


TODO_WORD = re.compile(r"\bTODO\b")
KEY = re.compile(r"^\s*(?:-\s+)?([A-Za-z_][\w-]*)\s*:")
ITEM_ID = re.compile(r"^\s*-\s+id:\s*[\"']?([^\"'\s#]+)")
ITEM_START = re.compile(r"^\s*-\s")


def todos(path: str | Path) -> list[Todo]:
    """Every TODO left as a value in the pack's YAML files (comments are not values).

    Read as text: a drafted `when: TODO` is no expression, so `load_pack` would stop at the first."""
    path = Path(path)
    found: list[Todo] = []
    files = sorted(path.glob("*.yaml")) + sorted((path / "rules").glob("*.yaml"))
    for file in files:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue  # load_pack reports the unreadable file
        item = None
        for number, line in enumerate(lines, start=1):
            if match := ITEM_ID.match(line):
                item = match.group(1)
            elif ITEM_START.match(line) and line.startswith("  -") or (line[:1].isalpha()):
                item = None
            value, comment = _split_comment(line)
            if TODO_WORD.search(value):
                key = KEY.match(value)
                name = file.relative_to(path).as_posix()
                found.append(Todo(name, number, item, key.group(1) if key else "", comment.strip()))
    return found


def _split_comment(line: str) -> tuple[str, str]:
    """A YAML line's value and its comment: # at the start or after a space, outside quotes."""
    quote = None
    for position, character in enumerate(line):
        if quote:
            if character == quote and not (quote == '"' and line[position - 1] == "\\"):
                quote = None
        elif character in "\"'" and (position == 0 or line[position - 1] in " :[{,-"):
            quote = character
        elif character == "#" and (position == 0 or line[position - 1] in " \t"):
            return line[:position], line[position + 1 :]
    return line, ""
