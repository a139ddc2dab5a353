"""Single-case calculation: what a subject is entitled to, how much, and why.

Semantics (DESIGN.md, "Semantics decided once"):
- events are taken in date order, then by event id, so annual caps accumulate
  over a subject's (or a carrier's) claims in the order they were made;
- the formula is computed exactly (Decimal), the per-item cap applied, and the
  result rounded half-up to the 分 once; then the per-subject and per-carrier
  annual caps take what is left of them;
- a claim dated outside the rule's validity (calendar 2025 unless a clause says
  otherwise) gets no amount, says why, and does not use up any cap. An event that
  declares a `tax_year` (a national tax preference settled the next spring) is
  checked by its tax year instead of its date: the year must lie within the
  rule's validity years (DESIGN.md: a restated national policy keeps its terms);
- what an amount means (its verdict) is the rule's kind, except that a floor a
  cap bound is a ceiling: 不低于60%…不超過100萬元 at a 200萬元 premium gives at
  most 100萬元, not at least. Totals are kept per verdict, never mixed.
- a county overlay's rules apply to subjects of its county only, after the base's; a top-up
  (`tops_up:`) computes the county's formula, takes off what its base rule paid for the same
  event and pays the difference, within the base rule's caps, which bind both layers together
  (市、区两级 … 不超過100萬元). Where a pack is layered (or several packs are evaluated together),
  each trace opens with the document and layer that pays (来源:…).
Every step is written into the entitlement's trace, in Simplified Chinese, for people: fields by
their titles (实际发生服务费用, not service_fee), amounts with thousands separators and every digit
(0.5 * 实际发生服务费用 = 0.5 * 300,000.00 = 150,000.00 元; 899.9985 元 before a cap).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from zhida.engine.case import Case, Event, Value
from zhida.engine.evaluate import evaluate
from zhida.engine.money_text import amount_text
from zhida.rules.expressions import Expression
from zhida.rules.model import LAYER_NAMES, WITHOUT_AMOUNT, Cap, CapScope, EventType, FieldType, Kind, Layer, Rule
from zhida.rules.pack import Pack
from zhida.source.script import to_simplified

CENT = Decimal("0.01")
TAX_YEAR_FIELD = "tax_year"  # an event field that moves the validity check from the date to the tax year
STANDARD_TAX_RATE = Decimal("0.25")  # 企业所得税法 第四条: the rate a tax preference is measured against
KIND_NAMES = {
    Kind.CEILING: "最高额",
    Kind.FLOOR: "保底额",
    Kind.EXACT: "定额",
    Kind.QUALIFICATION: "资格",
    Kind.TAX: "税收优惠",
    Kind.BY_MEASURE: "按政策执行",
}
# What the final amount of each kind means to the reader (the trace's last line, the page's label).
VERDICTS = {
    Kind.CEILING: "最高可得",
    Kind.FLOOR: "不低于",
    Kind.EXACT: "应得",
    Kind.QUALIFICATION: "资格",
    Kind.TAX: "节税",
    Kind.BY_MEASURE: "可申请",
}
# The kinds whose amounts are summed, each into its own total (DESIGN.md: sums never mix kinds).
SUMMED = (Kind.CEILING, Kind.FLOOR, Kind.EXACT, Kind.TAX)
CAP_NAMES = {
    CapScope.ITEM: "单件上限",
    CapScope.SUBJECT_YEAR: "单个主体年度上限",
    CapScope.CARRIER_YEAR: "单个载体年度上限",
}


CapKey = tuple[str, str, str | None, int]  # (cap, subject, carrier or None, year)


@dataclass(frozen=True)
class Entitlement:
    rule: Rule
    event: Event
    amount: Decimal | None  # None for a qualification
    trace: tuple[str, ...]
    verdict: Kind  # what the amount means: the rule's kind, or CEILING for a floor that a cap bound
    caps_hit: tuple[str, ...] = ()
    tax_due: Decimal | None = None
    in_validity: bool = True
    uses: tuple[tuple[CapKey, Decimal], ...] = ()  # what this amount took from each annual cap
    # Why another pack's benefit for the same event is paid instead (就高不重复); the amount is then 0.
    dropped: str | None = None

    @property
    def pack(self) -> str:
        """The id of the pack whose document grants this amount (huzhou-2025, anji-2025-overlay …)."""
        return self.rule.pack

    @property
    def layer(self) -> Layer:
        """base, or county for a county overlay's rule."""
        return self.rule.layer


@dataclass(frozen=True)
class Unmatched:
    """An event no rule pays for, with each rule's reason."""

    event: Event
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Result:
    case: Case
    entitlements: tuple[Entitlement, ...]
    unmatched: tuple[Unmatched, ...]
    notes: tuple[str, ...] = ()  # which layers applied to the subject, in Simplified Chinese

    @property
    def total(self) -> Decimal:
        """The arithmetic sum of every amount listed (ceilings, floors, exact amounts and tax savings).

        Not an amount anyone receives: kept for callers that want one figure; read `totals`.
        """
        return sum(self.totals.values(), Decimal("0.00"))

    @property
    def totals(self) -> dict[Kind, Decimal]:
        """The amounts summed per verdict: 最高可得, 至少 (floors), exact amounts, tax savings."""
        sums = {kind: Decimal("0.00") for kind in SUMMED}
        for item in self.entitlements:
            if item.amount is not None and item.verdict in sums:
                sums[item.verdict] += item.amount
        return sums

    @property
    def by_measure(self) -> int:
        """How many benefits are listed whose amount another policy sets (never summed)."""
        return sum(1 for item in self.entitlements if item.verdict is Kind.BY_MEASURE)


@dataclass
class CapUse:
    """What each annual cap has already granted, keyed by (cap, subject, carrier or None, year).

    A case starts from nothing; the ledger starts it from the awards already approved, so that
    a ceiling computed at review leaves room only for what the cap has left.
    """

    used: dict[CapKey, Decimal] = field(default_factory=dict)

    def refund(self, item: Entitlement) -> None:
        """Give back what an entitlement took from its caps (a benefit dropped for another pack's)."""
        for key, granted in item.uses:
            self.used[key] = self.used.get(key, Decimal("0.00")) - granted


def calculate(pack: Pack, case: Case, already: CapUse | None = None) -> Result:
    tally = CapUse(dict(already.used)) if already is not None else CapUse()
    entitlements: list[Entitlement] = []
    unmatched: list[Unmatched] = []
    for event in sorted(case.events, key=lambda event: (event.date, event.id)):
        paid, missed = calculate_event(pack, case, event, tally)
        entitlements.extend(paid)
        if missed is not None:
            unmatched.append(missed)
    return Result(case, tuple(entitlements), tuple(unmatched), layer_notes(pack, case))


def calculate_event(
    pack: Pack, case: Case, event: Event, tally: CapUse, named: bool = False
) -> tuple[list[Entitlement], Unmatched | None]:
    """What the pack's rules pay for one event, the caps counted in `tally`; `named` opens each
    trace with its source even for a pack of one layer (several packs evaluated together)."""
    reasons: list[str] = []
    paid: list[Entitlement] = []
    named = named or pack.county_layer is not None
    for rule in pack.rules_for(event.type):
        if not pack.applies(rule, case.subject.county):
            reasons.append(f"{rule.spec.title}:仅适用于{pack.county}的主体({pack.county}承接方案 {rule.pack})")
            continue
        if case.subject.kind not in rule.spec.subject:
            reasons.append(f"{rule.spec.title}:仅适用于{'、'.join(pack.subjects[k] for k in rule.spec.subject)}")
            continue
        raised = None
        if rule.spec.tops_up is not None:
            raised = next((item for item in paid if item.rule.id == rule.spec.tops_up), None)
            if raised is None or not raised.in_validity:
                reasons.append(f"{rule.spec.title}:所加码的基础规则 {rule.spec.tops_up} 未适用于此事件")
                continue
        holds = evaluate(rule.when.tree, event.values)
        if not holds:
            reasons.append(f"{rule.spec.title}:{unmet(pack, rule, event.values)}")
            continue
        paid.append(_entitlement(pack, rule, case, event, tally, raised, named))
    if paid:
        return paid, None
    return paid, Unmatched(event, tuple(reasons or ["没有规则适用于此类事件"]))


def layer_notes(pack: Pack, case: Case) -> tuple[str, ...]:
    """For a county overlay: whether its county layer applies to this subject, and why."""
    if pack.county_layer is None:
        return ()
    county, overlay = case.subject.county, pack.county_layer
    if county is not None and to_simplified(county) == overlay.county:
        return (f"主体所在区县为{overlay.county}:适用基础政策 {pack.base_id} 及{overlay.county}承接方案 {overlay.id}",)
    where = f"主体所在区县为{county}" if county else "案例未填写主体所在区县(subject.county)"
    return (f"{where}:{overlay.county}承接方案 {overlay.id} 不适用,仅按基础政策 {pack.base_id} 计算",)


def source_line(pack: Pack, rule: Rule) -> str:
    """来源:the layer, pack and document whose clause pays, for a trace."""
    document = pack.document_of(rule)
    layer = LAYER_NAMES[rule.layer] + (f"({pack.county})" if rule.layer is Layer.COUNTY else "")
    title = to_simplified(document.preamble.title)
    return f"来源:{layer} {rule.pack}《{title}》第 {rule.spec.article} 条,{to_simplified(rule.department)}"


def _entitlement(
    pack: Pack,
    rule: Rule,
    case: Case,
    event: Event,
    tally: CapUse,
    raised: Entitlement | None = None,
    named: bool = False,
) -> Entitlement:
    event_type = pack.events[event.type]
    trace = [source_line(pack, rule)] if named else []
    trace.append(f"事件 {event.id}:{event.date.isoformat()} {event_type.title}")
    for event_field in event_type.fields:
        shown = _show(event.values[event_field.name], event_field.type, event_field.unit)
        trace.append(f"  {event_field.title} = {shown}")
    if rule.when.text.upper() != "TRUE":
        trace.append(f"条件 {titled(rule.when, event_type)}:{filled(rule.when, event_type, event.values)} → 成立")
    outside = _outside_validity(rule, event_type, event)
    if outside:
        trace.append(outside)
        amount = None if rule.spec.kind in WITHOUT_AMOUNT else Decimal("0.00")
        return Entitlement(rule, event, amount, tuple(trace), rule.spec.kind, in_validity=False)
    if rule.spec.assumption:
        trace.append(f"解读:{rule.spec.assumption}")
    if raised is not None:
        base = raised.rule
        trace.append(
            f"区县加码:{base.pack} 第 {base.spec.article} 条({to_simplified(base.quoted)})已付 {_yuan(raised.amount)};"
            f"{rule.pack} 第 {rule.spec.article} 条({to_simplified(rule.quoted)})补足差额"
        )
    if rule.spec.kind is Kind.QUALIFICATION:
        trace.append(f"结果:{rule.spec.result}(不涉及资金)")
        return Entitlement(rule, event, None, tuple(trace), rule.spec.kind)
    if rule.spec.kind is Kind.BY_MEASURE:
        if rule.spec.result:
            trace.append(f"结果:{rule.spec.result}")
        trace.append(f"可申请:金额按{rule.spec.amount_by}执行,本文件未写明金额,不计入合计")
        return Entitlement(rule, event, None, tuple(trace), rule.spec.kind)
    raw = evaluate(rule.amount.tree, event.values)
    steps = [amount_text(raw.normalize())]
    if rule.amount.fields:
        steps[:0] = [titled(rule.amount, event_type), filled(rule.amount, event_type, event.values)]
    trace.append(f"金额({KIND_NAMES[rule.spec.kind]}) = {' = '.join(steps)} 元")
    caps_hit: list[str] = []
    reached: list[str] = []  # caps whose limit the amount met exactly, without being cut
    amount = raw
    for cap in rule.caps:
        if cap.per is CapScope.ITEM and amount == cap.yuan:
            reached.append(cap.id)
        if cap.per is CapScope.ITEM and amount > cap.yuan:
            # The amount before rounding, as computed: 899.9985 元, not a rounded 900.00 元 that the cap never saw.
            trace.append(
                f"{CAP_NAMES[cap.per]} {_yuan(cap.yuan)}({to_simplified(cap.clause)}):{amount_text(amount.normalize())} 元 → {_yuan(cap.yuan)}"
            )
            amount = cap.yuan
            caps_hit.append(cap.id)
    rounded = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    if rounded != amount:
        trace.append(f"四舍五入到分:{amount_text(amount.normalize())} → {_yuan(rounded)}")
    amount = rounded
    if raised is not None:
        difference = max(amount - raised.amount, Decimal("0.00"))
        trace.append(f"扣除基础政策已付:{_yuan(amount)} − {_yuan(raised.amount)} = {_yuan(difference)}")
        amount = difference
    uses: list[tuple[CapKey, Decimal]] = []
    for cap in rule.caps:
        if cap.per is not CapScope.ITEM:
            amount = _annual_cap(cap, amount, case, event, tally, trace, caps_hit, reached, uses)
    tax_due = None
    if rule.tax_due is not None:
        tax_due = evaluate(rule.tax_due.tree, event.values).quantize(CENT, rounding=ROUND_HALF_UP)
        steps = [titled(rule.tax_due, event_type), filled(rule.tax_due, event_type, event.values), _yuan(tax_due)]
        trace.append(f"应纳税额 = {' = '.join(steps)}")
    verdict = rule.spec.kind
    if verdict is Kind.FLOOR and (caps_hit or reached or (raised is not None and raised.verdict is Kind.CEILING)):
        # 不低于 the rate, but 不超過 the cap: with the cap binding, the amount is the most, not the least.
        verdict = Kind.CEILING
        trace.append(f"上限起作用:保底额被上限限定,{_yuan(amount)} 是可得的最高额,而非保底额")
    note = "(审核部门在此限额内核定)" if verdict is Kind.CEILING else ""
    trace.append(f"{VERDICTS[verdict]} {_yuan(amount)}{note}")
    return Entitlement(rule, event, amount, tuple(trace), verdict, tuple(caps_hit), tax_due, uses=tuple(uses))


def _outside_validity(rule: Rule, event_type: EventType, event: Event) -> str | None:
    """Why a claim lies outside the rule's validity, or None: by tax year where the event has one, else by date."""
    if event_type.field(TAX_YEAR_FIELD) is not None:
        year = int(event.values[TAX_YEAR_FIELD])
        if rule.valid_from.year <= year <= rule.valid_to.year:
            return None
        return (
            f"税款所属年度 {year} 不在政策适用年度 {rule.valid_from.year} 至 {rule.valid_to.year} 内,不予兑现"
            f"(按税款所属年度判断,与汇算日期 {event.date.isoformat()} 无关)"
        )
    if rule.valid_from <= event.date <= rule.valid_to:
        return None
    return f"日期 {event.date.isoformat()} 不在政策有效期 {rule.valid_from.isoformat()} 至 {rule.valid_to.isoformat()} 内,不予兑现"


def _annual_cap(
    cap: Cap,
    amount: Decimal,
    case: Case,
    event: Event,
    tally: CapUse,
    trace: list[str],
    caps_hit: list[str],
    reached: list[str],
    uses: list[tuple[CapKey, Decimal]],
) -> Decimal:
    # A carrier belongs to its operator: the key holds both, as the batch query's window does.
    carrier = None if cap.per is CapScope.SUBJECT_YEAR else str(event.values[cap.carrier_field])
    key = (cap.id, case.subject.id, carrier, event.date.year)
    used = tally.used.get(key, Decimal("0.00"))
    left = max(cap.yuan - used, Decimal("0.00"))
    granted = min(amount, left)
    tally.used[key] = used + granted
    uses.append((key, granted))
    if granted == amount == left and left > 0:
        reached.append(cap.id)
    if granted < amount:
        caps_hit.append(cap.id)
        who = "本主体" if carrier is None else f"载体 {carrier}"
        trace.append(
            f"{CAP_NAMES[cap.per]} {_yuan(cap.yuan)}({to_simplified(cap.clause)}):{who} {event.date.year} 年已累计 {_yuan(used)},"
            f"尚余 {_yuan(left)},{_yuan(amount)} → {_yuan(granted)}"
        )
    return granted


def unmet(pack: Pack, rule: Rule, values: dict[str, Value]) -> str:
    """Why a rule's condition does not hold for these values, in the trace's words."""
    event_type = pack.events[rule.spec.event]
    return f"条件 {titled(rule.when, event_type)} 不成立({filled(rule.when, event_type, values)})"


def titled(expression: Expression, event_type: EventType) -> str:
    """An expression with each field named by its title: `0.5 * service_fee` -> `0.5 * 实际发生服务费用`."""
    parts = list(expression.template)
    for index in range(1, len(parts), 2):
        found = event_type.field(parts[index])
        parts[index] = found.title if found is not None else parts[index]
    return "".join(parts)


def filled(expression: Expression, event_type: EventType, values: dict[str, Value]) -> str:
    """An expression with each field replaced by its value, amounts thousands separated: `0.5 * 300,000.00`."""
    parts = list(expression.template)
    for index in range(1, len(parts), 2):
        found = event_type.field(parts[index])
        parts[index] = _literal(values[parts[index]], found.type if found is not None else None)
    return "".join(parts)


def _literal(value: Value, field_type: FieldType | None) -> str:
    """A value as an expression holds it: money as 300,000.00, text quoted as SQL quotes it."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if field_type is FieldType.MONEY:
        return amount_text(value)
    return str(value)


def _yuan(value: Value) -> str:
    return f"{amount_text(Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP))} 元"


def _show(value: Value, field_type: FieldType, unit: str) -> str:
    if field_type is FieldType.FLAG:
        return "是" if value else "否"
    if field_type is FieldType.MONEY:
        return f"{amount_text(value)} {unit or '元'}"
    return f"{value} {unit}".strip()
