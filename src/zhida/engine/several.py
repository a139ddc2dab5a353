"""One case under several documents at once: a Huzhou enterprise is also under the province's.

In: loaded packs (a county overlay brings its city's rules with it) and a case's data, read once
for all of them (`zhida.engine.case.cases_from_data`: an event belongs to every pack that declares
its type). Out: `Several`, one `Result` per pack in the order given, every entitlement naming its
pack and layer, and the `Overlap`s decided where two packs pay for the same event.

Two packs pay for one event when a rule of each holds for it. A rule's `stacking:` (docs/packs.md)
names rules of other packs (`pack-id/rule-id`) and says how it combines with them:
- `stacks`: both are paid; each trace says so and quotes the clause.
- `higher`: only the higher is paid (就高不重复). A county top-up counts with the base rule it
  raises (what a layered pack pays for the event is base + top-up). The lower side's amounts
  become 0, what it took from its annual caps is given back, and its trace says which benefit was
  paid instead and under which clause. Equal amounts: the pack given first is kept.
- two packs paying for one event with no `stacking:` between their rules: both are listed and
  each trace says that neither document decides whether they stack.
Events are taken in date order across all packs, each pack's caps counted in its own tally, so a
dropped amount frees its caps for the later events, as the single-pack calculator's tally would.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from zhida.engine.calculate import SUMMED, CapUse, Entitlement, Result, Unmatched, calculate_event, layer_notes
from zhida.engine.case import Case, Event, cases_from_data
from zhida.engine.money_text import amount_text
from zhida.rules.model import STACKING_NAMES, Kind, Rule, StackingMode
from zhida.rules.pack import Pack, PackError
from zhida.source.script import to_simplified


@dataclass(frozen=True)
class Overlap:
    """Two packs paying for one event, and what was decided."""

    event: str  # the event's id
    mode: StackingMode | None  # None: no `stacking:` between the two
    kept: tuple[str, ...]  # `pack-id/rule-id` of the rules paid
    dropped: tuple[str, ...]  # those given 0 (only for `higher`)
    reason: str  # Simplified Chinese, as the traces say it


@dataclass(frozen=True)
class Several:
    results: tuple[tuple[Pack, Result], ...]  # one per pack that serves the subject, in the order given
    overlaps: tuple[Overlap, ...]

    @property
    def totals(self) -> dict[Kind, Decimal]:
        """The amounts of every pack summed per verdict (a dropped benefit counts 0)."""
        sums = {kind: Decimal("0.00") for kind in SUMMED}
        for _, result in self.results:
            for kind, amount in result.totals.items():
                sums[kind] += amount
        return sums


@dataclass(frozen=True)
class _Declaration:
    rule: Rule  # the rule that says it
    pack: Pack  # the pack holding that rule
    other: str  # `pack-id/rule-id` of the rule it names
    mode: StackingMode
    clause: str | None


def check_together(packs: list[Pack] | tuple[Pack, ...]) -> None:
    """Refuse packs that cannot be evaluated side by side; the message names the pack and rule."""
    if not packs:
        raise PackError("至少须选择一个政策包")
    owners: dict[str, str] = {}
    for pack in packs:
        for document in sorted({rule.pack for rule in pack.rules}):
            if document in owners:
                raise PackError(
                    f"政策包 {pack.id} 与 {owners[document]} 都包含 {document} 的规则:"
                    "区县承接方案已含其基础政策,不要同时选择二者"
                )
            owners[document] = pack.id
    _check_event_types(packs)
    by_reference = {rule.reference: rule for pack in packs for rule in pack.rules}
    modes: dict[frozenset[str], tuple[StackingMode, str]] = {}
    for declaration in _declarations(packs):
        target_pack = declaration.other.split("/", 1)[0]
        where = f"{declaration.pack.path}: 规则 {declaration.rule.id}: stacking.with {declaration.other}"
        if target_pack not in owners:
            continue  # a document not evaluated now
        if declaration.other not in by_reference:
            raise PackError(f"{where}: 政策包 {target_pack} 中没有规则 {declaration.other.split('/', 1)[1]}")
        pair = frozenset({declaration.rule.reference, declaration.other})
        earlier = modes.setdefault(pair, (declaration.mode, declaration.rule.reference))
        if earlier[0] is not declaration.mode:
            raise PackError(
                f"{where}: 与 {earlier[1]} 的规定不一致(一方为 {earlier[0].value},一方为 {declaration.mode.value})"
            )


def calculate_several(packs: list[Pack] | tuple[Pack, ...], data: object, name: str = "案例") -> Several:
    """The case's entitlements under every pack, the overlaps between packs decided."""
    packs = tuple(packs)
    check_together(packs)
    cases = cases_from_data(data, packs, name)
    serving = [pack for pack in packs if pack.id in cases]
    tallies = {pack.id: CapUse() for pack in serving}
    paid: dict[str, list[Entitlement]] = {pack.id: [] for pack in serving}
    missed: dict[str, list[Unmatched]] = {pack.id: [] for pack in serving}
    overlaps: list[Overlap] = []
    declarations = _declarations(serving)
    for event_id in _event_order(cases):
        found: dict[str, list[Entitlement]] = {}
        for pack in serving:
            case = cases[pack.id]
            event = next((item for item in case.events if item.id == event_id), None)
            if event is None:
                continue
            items, unmatched = calculate_event(pack, case, event, tallies[pack.id], named=True)
            found[pack.id] = items
            if unmatched is not None:
                missed[pack.id].append(unmatched)
        overlaps += _decide(event_id, serving, found, declarations, tallies)
        for pack_id, items in found.items():
            paid[pack_id].extend(items)
    results = tuple(
        (pack, Result(cases[pack.id], tuple(paid[pack.id]), tuple(missed[pack.id]), layer_notes(pack, cases[pack.id])))
        for pack in serving
    )
    return Several(results, tuple(overlaps))


def _event_order(cases: dict[str, Case]) -> list[str]:
    """Every event id of every pack's case, in date order, then by id (as the calculator takes them)."""
    events: dict[str, Event] = {}
    for case in cases.values():
        for event in case.events:
            events.setdefault(event.id, event)
    return [event.id for event in sorted(events.values(), key=lambda event: (event.date, event.id))]


def _declarations(packs: tuple[Pack, ...] | list[Pack]) -> list[_Declaration]:
    return [
        _Declaration(rule, pack, other, rule.spec.stacking.mode, rule.spec.stacking.clause)
        for pack in packs
        for rule in pack.rules
        if rule.spec.stacking is not None
        for other in rule.spec.stacking.with_
    ]


def _check_event_types(packs: tuple[Pack, ...] | list[Pack]) -> None:
    """An event type two packs declare is one kind of event: a field both declare has one type."""
    seen: dict[tuple[str, str], tuple[str, object]] = {}
    for pack in packs:
        for event in pack.events.values():
            for field in event.fields:
                first = seen.setdefault((event.name, field.name), (pack.id, field.type))
                if first[1] is not field.type:
                    raise PackError(
                        f"事件类型 {event.name} 的字段 {field.name} 在 {first[0]} 中为 {first[1]},在 {pack.id} 中为 "
                        f"{field.type};同一事件在不同政策包中须为同一类型"
                    )


def _group(items: list[Entitlement], rule_id: str) -> list[int]:
    """Positions of a rule's entitlement and of the county top-ups that raise it."""
    return [i for i, item in enumerate(items) if item.rule.id == rule_id or item.rule.spec.tops_up == rule_id]


def _sum(items: list[Entitlement], positions: list[int]) -> Decimal:
    return sum((items[i].amount for i in positions if items[i].amount is not None), Decimal("0.00"))


def _decide(
    event_id: str,
    packs: list[Pack],
    found: dict[str, list[Entitlement]],
    declarations: list[_Declaration],
    tallies: dict[str, CapUse],
) -> list[Overlap]:
    """The overlaps of one event: stacked, the lower dropped, or noted as undecided."""
    owner = {item.rule.reference: pack_id for pack_id, items in found.items() for item in items}
    order = [pack.id for pack in packs]
    decided: list[Overlap] = []
    done: set[frozenset[str]] = set()
    settled: set[frozenset[str]] = set()  # pairs of packs whose overlap a declaration decided
    for declaration in declarations:
        mine, other = declaration.rule.reference, declaration.other
        if mine not in owner or other not in owner or frozenset({mine, other}) in done:
            continue
        done.add(frozenset({mine, other}))
        a_pack, b_pack = owner[mine], owner[other]
        settled.add(frozenset({a_pack, b_pack}))
        a = _group(found[a_pack], declaration.rule.id)
        b = _group(found[b_pack], other.split("/", 1)[1])
        if any(found[a_pack][i].dropped for i in a) or any(found[b_pack][i].dropped for i in b):
            continue  # one side already gave way to a third benefit
        basis = _basis(declaration)
        refs_a = tuple(found[a_pack][i].rule.reference for i in a)
        refs_b = tuple(found[b_pack][i].rule.reference for i in b)
        if declaration.mode is StackingMode.STACKS:
            reason = f"叠加享受:{'、'.join(refs_a)} 与 {'、'.join(refs_b)} 同时兑现({basis})"
            _note(found[a_pack], a, reason)
            _note(found[b_pack], b, reason)
            decided.append(Overlap(event_id, StackingMode.STACKS, (*refs_a, *refs_b), (), reason))
            continue
        sum_a, sum_b = _sum(found[a_pack], a), _sum(found[b_pack], b)
        a_wins = sum_a > sum_b or (sum_a == sum_b and order.index(a_pack) < order.index(b_pack))
        (kept_pack, kept, kept_sum, kept_refs), (lost_pack, lost, lost_sum, lost_refs) = (
            ((a_pack, a, sum_a, refs_a), (b_pack, b, sum_b, refs_b))
            if a_wins
            else ((b_pack, b, sum_b, refs_b), (a_pack, a, sum_a, refs_a))
        )
        tie = "金额相同,保留先选的政策包" if sum_a == sum_b else "较高"
        _note(
            found[kept_pack], kept,
            f"就高不重复:{'、'.join(kept_refs)} 合计 {_yuan(kept_sum)} {tie},{'、'.join(lost_refs)} 的 "
            f"{_yuan(lost_sum)} 不予兑现({basis})",
        )
        reason = (
            f"就高不重复:{'、'.join(kept_refs)} 兑现 {_yuan(kept_sum)},本项 {_yuan(lost_sum)} 不重复享受,"
            f"不予兑现({basis})"
        )
        for i in lost:
            item = found[lost_pack][i]
            tallies[lost_pack].refund(item)
            zero = None if item.amount is None else Decimal("0.00")
            found[lost_pack][i] = replace(
                item, amount=zero, dropped=reason, uses=(), trace=(*item.trace, reason, f"本项兑现 {_yuan(Decimal(0))}")
            )
        decided.append(Overlap(event_id, StackingMode.HIGHER, kept_refs, lost_refs, reason))
    decided += _undecided(event_id, found, settled)
    return decided


def _undecided(event_id: str, found: dict[str, list[Entitlement]], settled: set[frozenset[str]]) -> list[Overlap]:
    """Packs paying for the same event with no `stacking:` between them: both listed, each trace says so."""
    paying = [pack_id for pack_id, items in found.items() if any(item.amount for item in items)]
    overlaps = []
    for position, a_pack in enumerate(paying):
        for b_pack in paying[position + 1 :]:
            if frozenset({a_pack, b_pack}) in settled:
                continue
            refs_a = tuple(item.rule.reference for item in found[a_pack] if item.amount)
            refs_b = tuple(item.rule.reference for item in found[b_pack] if item.amount)
            reason = (
                f"同一事件另有补助:{'、'.join(refs_a)} 与 {'、'.join(refs_b)};两份文件均未规定可否叠加(stacking),"
                "均予列出,由审核部门核定"
            )
            _note(found[a_pack], [i for i, item in enumerate(found[a_pack]) if item.amount], reason)
            _note(found[b_pack], [i for i, item in enumerate(found[b_pack]) if item.amount], reason)
            overlaps.append(Overlap(event_id, None, (*refs_a, *refs_b), (), reason))
    return overlaps


def _basis(declaration: _Declaration) -> str:
    """Where the stacking rule comes from: the clause quoted, else the rule that declares it."""
    rule = declaration.rule
    if declaration.clause:
        return f"依据 {rule.pack} 第 {rule.spec.article} 条:{to_simplified(declaration.clause)}"
    return f"依据 {rule.reference} 的规定:{STACKING_NAMES[declaration.mode]}"


def _note(items: list[Entitlement], positions: list[int], line: str) -> None:
    """Add a line to entitlements' traces, before their last (the verdict stays last)."""
    for i in positions:
        item = items[i]
        items[i] = replace(item, trace=(*item.trace[:-1], line, item.trace[-1]))


def _yuan(value: Decimal) -> str:
    return f"{amount_text(value.quantize(Decimal('0.01')))} 元"


# How the lines `_decide` and `_undecided` add to a trace begin (kept in step with them by
# tests/test_match_several.py): what stacking decided for one entitlement.
STACKING_LINE_STARTS = ("叠加享受:", "就高不重复:", "同一事件另有补助:")


def stacking_lines(entitlement: Entitlement) -> tuple[str, ...]:
    """The lines `calculate_several` added to an entitlement's trace: stacked, kept or dropped by
    就高不重复, or listed beside another pack's benefit that no `stacking:` decides (a register's row says so)."""
    return tuple(line for line in entitlement.trace if line.startswith(STACKING_LINE_STARTS))
