"""Budgets: each area's amount as the document states it, allocations within it, and how much of
each is committed, paid and left.

In: the Budget rows (an area's budget, seeded from 一、…全市财政预算安排X亿元; allocations within an
area to one rule or one county, 市、区两级) and the Award rows. Out: for any budget or allocation,
its limit, committed, paid and left (`totals`, `budget_room`; `tightest` and `over_budget` name
the binding one for a decision), warnings at 70% and 90% committed (`warnings`), and the whole
report by area, department, county and rule (`budget_report`, `report_json`).

Definitions, decided once (DESIGN.md: budgets count cash; tax relief is revenue forgone):
- committed = SUM(amount) of cash awards in status publicity, held, payable, in_batch, paid,
  failed: approved and not yet paid, plus paid. A failed payment will be retried, so it stays
  committed; a cancelled award is released.
- paid = SUM(amount) of cash awards in status paid.
- tax savings = SUM(amount) of awards with cash False and verdict tax, in the same statuses. They
  are reported beside the budgets, never added to committed.
- left = limit - committed. A warning is due when committed reaches 70% or 90% of the limit:
  达到 includes the bound (DESIGN.md: 以上 includes it), so exactly 70.00% warns. The level is
  decided by exact comparison (committed × 100 ≥ limit × 70), never by a rounded share.

Who sets budgets (`set_budget`): admin sets an area's budget and any allocation; a reviewer of an
area's lead department (由市X局牵头实施) sets allocations within that area only (the department
divides its own money among its rules and the counties) but never the area's budget itself, which
is the document's figure. Every set is audit-recorded as budget.set.

Allocations of one kind (per rule, or per county) within an area never sum above the area's
budget; an allocation names a rule or a county, not both. No budget or allocation may be set
below what is already committed against it, and an area's budget not below either kind's sum.

Running totals: each Budget row keeps `committed` and `paid` of the cash awards counted against
it (its area, narrowed to its rule or county), changed by `move` in the transaction of every award
status change that moves money (grant +committed; cancel -committed; paid +paid; a paid award never
un-pays). So `budget_room` reads three rows, however many awards there are, instead of summing
them under the area's lock (431 ms on PostgreSQL, 913 ms on SQLite at 1M awards). `totals` stays
the full SUM: a new row starts from it, and `recount` (run by `zhida audit verify`) names any row
whose running totals differ from it. The two columns are derived, so not in the audited state.

Locking: `set_budget`, `budget_room` and `move` lock the area's budget row (SELECT … FOR UPDATE on
PostgreSQL; SQLite transactions are BEGIN IMMEDIATE already), after the subject's (or award's) row
and before the audit head, the order database.py fixes; the rule and county allocation rows are
locked after the area's row. An allocation is created under the area row's lock, so it starts from
a SUM that no award in flight can miss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from sqlalchemy import and_, case, delete, func, select
from sqlalchemy.orm import Session

from zhida.ledger import audit
from zhida.ledger import tables as t
from zhida.ledger.access import Actor, Refused, Role
from zhida.ledger.identity import COUNTIES, county_name
from zhida.rules.pack import Pack
from zhida.source.model import Area
from zhida.source.script import to_simplified

TAX_VERDICT = "tax"
WARNING_LEVELS = (Decimal(90), Decimal(70))  # percent committed, highest first
MAX_YUAN = Decimal(10) ** 16  # NUMERIC(18,2)
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
NUMERALS = "一二三四五六七八九十"
NO_COUNTY = "(未填区县)"

Which = Literal["area", "rule", "county"]


def seed_budgets(session: Session, pack: Pack) -> list[t.Budget]:
    """Each area's budget (一、…全市财政预算安排X亿元) as a row, where none is set yet."""
    added = []
    for area in pack.document.areas:
        if area.budget is None:
            continue
        exists = session.scalar(
            select(t.Budget.id).where(t.Budget.area == area.number, t.Budget.rule_id == "", t.Budget.county == "")
        )
        if exists is None:
            budget = _new_row(session, area.number, "", "", area.budget,
                              f"文件第{area.number}部分:{to_simplified(area.title)}")
            audit.record(session, "zhida", "budget.seed", budget)
            added.append(budget)
    return added


# --------------------------------------------------------------------------- committed and paid


@dataclass(frozen=True)
class Totals:
    committed: Decimal
    paid: Decimal


def totals(session: Session, area: int, rule_id: str | None = None, county: str | None = None) -> Totals:
    """Committed and paid against an area, narrowed to one rule and/or one county: one SQL SUM.

    This is what a decision calls before it approves an amount; no row is read into Python."""
    amount = t.Award.amount
    committed = func.coalesce(func.sum(case((t.Award.status.in_(t.COMMITTED_STATUSES), amount))), ZERO)
    paid = func.coalesce(func.sum(case((t.Award.status.in_(t.PAID_STATUSES), amount))), ZERO)
    query = select(committed, paid).where(t.Award.area == area, t.Award.cash.is_(True))
    if rule_id is not None:
        query = query.where(t.Award.rule_id == rule_id)
    if county is not None:
        query = query.where(t.Award.county == county)
    row = session.execute(query).one()
    return Totals(_money(row[0]), _money(row[1]))


def committed(session: Session, area: int, rule_id: str | None = None, county: str | None = None) -> Decimal:
    return totals(session, area, rule_id, county).committed


def paid(session: Session, area: int, rule_id: str | None = None, county: str | None = None) -> Decimal:
    return totals(session, area, rule_id, county).paid


def move(session: Session, award: t.Award, old_status: str | None, new_status: str) -> None:
    """Carry one award's change of status (None: just granted) into the running totals of the area
    row and the rule and county allocation rows it counts against, and into its group's sums
    (AwardSum), in the caller's transaction.

    Call it at every status change of an award, before audit.record (the audit head is locked
    last). A change that moves no money (publicity → held → payable → in_batch, failed → in_batch)
    touches no row and takes no lock."""
    if old_status in t.PAID_STATUSES and new_status not in t.PAID_STATUSES:
        raise ValueError(f"award {award.id}: a paid award never un-pays ({old_status} -> {new_status})")
    committed_by = _counts(new_status, t.COMMITTED_STATUSES) - _counts(old_status, t.COMMITTED_STATUSES)
    paid_by = _counts(new_status, t.PAID_STATUSES) - _counts(old_status, t.PAID_STATUSES)
    amount = award.amount if award.amount is not None else ZERO
    if award.cash and award.amount is not None and (committed_by or paid_by):
        for row in _counted_rows(session, award.area, award.rule_id, award.county):
            row.committed += committed_by * award.amount
            row.paid += paid_by * award.amount
    if award.cash:
        _add_to_sums(session, award, committed_by * amount, paid_by * amount, ZERO, new=old_status is None)
    else:
        tax_by = committed_by * amount if award.verdict == TAX_VERDICT else ZERO
        _add_to_sums(session, award, ZERO, ZERO, tax_by, new=old_status is None)


def _add_to_sums(session: Session, award: t.Award, committed_by: Decimal, paid_by: Decimal, tax_by: Decimal,
                 *, new: bool) -> None:
    """The award's group row of AwardSum, moved by these amounts (made when its first award is)."""
    if not (committed_by or paid_by or tax_by or new):
        return
    key = (t.AwardSum.area == award.area, t.AwardSum.department == award.department,
           t.AwardSum.county == (award.county or ""), t.AwardSum.rule_id == award.rule_id)
    row = session.scalar(select(t.AwardSum).where(*key).with_for_update())
    if row is None:
        row = t.AwardSum(area=award.area, department=award.department, county=award.county or "",
                         rule_id=award.rule_id, committed=ZERO, paid=ZERO, tax=ZERO)
        session.add(row)
    row.committed += committed_by
    row.paid += paid_by
    row.tax += tax_by


def _counts(status: str | None, statuses: tuple[str, ...]) -> int:
    return 1 if status in statuses else 0


def _counted_rows(session: Session, area: int, rule_id: str | None, county: str | None) -> list[t.Budget]:
    """The area's row, then its rule's and its county's allocation where set, each locked in that order."""
    area_row = _area_row(session, area, lock=True)
    if area_row is None:
        return []  # no allocation exists without its area's row (set_budget)
    by_rule = _allocation(session, area, rule_id=rule_id, lock=True) if rule_id else None
    by_county = _allocation(session, area, county=county, lock=True) if county else None
    return [row for row in (area_row, by_rule, by_county) if row is not None]


def recount(session: Session) -> list[audit.Problem]:
    """Every budget row whose running committed or paid differs from the full SUM (`totals`), and
    every group of AwardSum that differs from the grouped scan of the awards."""
    problems = _recount_sums(session)
    for row in session.scalars(select(t.Budget).order_by(t.Budget.id)):
        counted = totals(session, row.area, row.rule_id or None, row.county or None)
        if (row.committed, row.paid) != (counted.committed, counted.paid):
            problems.append(audit.Problem(
                f"budgets:{row.id}",
                f"{_row_words(row)}的累计数与逐笔重算不符:已承诺记为 {row.committed:,.2f} 元,重算为 "
                f"{counted.committed:,.2f} 元;已拨付记为 {row.paid:,.2f} 元,重算为 {counted.paid:,.2f} 元",
            ))
    return problems


def _recount_sums(session: Session) -> list[audit.Problem]:
    kept = {(row.area, row.department, row.county or None, row.rule_id): _Sums(row.committed, row.paid, row.tax)
            for row in session.scalars(select(t.AwardSum))}
    counted = _scanned(session)
    problems = []
    for key in sorted(set(kept) | set(counted), key=lambda k: (k[0], k[1], k[2] or "", k[3])):
        mine, full = kept.get(key, _Sums()), counted.get(key, _Sums())
        if (mine.committed, mine.paid, mine.tax) != (full.committed, full.paid, full.tax):
            area, department, county, rule_id = key
            problems.append(audit.Problem(
                f"award_sums:{area}/{department}/{county or ''}/{rule_id}",
                f"{department}{county or ''}规则 {rule_id} 的奖励合计与逐笔重算不符:已承诺记为 {mine.committed:,.2f} 元,"
                f"重算为 {full.committed:,.2f} 元;已拨付记为 {mine.paid:,.2f} 元,重算为 {full.paid:,.2f} 元;"
                f"节税记为 {mine.tax:,.2f} 元,重算为 {full.tax:,.2f} 元",
            ))
    return problems


def rebuild_sums(session: Session) -> None:
    """AwardSum filled from a full scan of the awards: for rows loaded in bulk, past budgets.move."""
    session.execute(delete(t.AwardSum))
    for (area, department, county, rule_id), sums in _scanned(session).items():
        session.add(t.AwardSum(area=area, department=department, county=county or "", rule_id=rule_id,
                               committed=sums.committed, paid=sums.paid, tax=sums.tax))
    session.flush()


def _row_words(row: t.Budget) -> str:
    numeral = NUMERALS[row.area - 1] if 1 <= row.area <= len(NUMERALS) else str(row.area)
    if row.rule_id:
        return f"第{numeral}部分规则 {row.rule_id} 分配"
    if row.county:
        return f"第{numeral}部分{row.county}分配"
    return f"第{numeral}部分预算"


def _new_row(session: Session, area: int, rule_id: str, county: str, yuan: Decimal, source: str,
             counted: Totals | None = None) -> t.Budget:
    """A budget row that starts from what is already committed and paid in its scope (`counted`).

    An area's own row is made once, at set-up (seed_budgets); on PostgreSQL an award committed in
    that area while its row is being made, with no row to lock yet, would be missed: `recount`
    names such a row."""
    counted = counted or totals(session, area, rule_id or None, county or None)
    row = t.Budget(area=area, rule_id=rule_id, county=county, yuan=yuan, source=source,
                   committed=counted.committed, paid=counted.paid)
    session.add(row)
    return row


def _money(value: object) -> Decimal:
    """A SUM as Decimal with two places (Money converts typed sums; a bare 0 arrives as int)."""
    return Decimal(value if value is not None else 0).quantize(CENT)


# --------------------------------------------------------------------------- rooms and warnings


@dataclass(frozen=True)
class Room:
    """One budget an amount must fit in: its limit, what is committed against it, what is left."""

    which: Which
    label: str  # Simplified Chinese: 第一部分(科技创新)预算, 规则 lab-new(…)分配, 吴兴区分配
    limit: Decimal
    committed: Decimal
    left: Decimal
    source: str  # the document's budget sentence, or who set the allocation


def budget_room(session: Session, pack: Pack, area: int, rule_id: str | None, county: str | None) -> list[Room]:
    """Every budget an award of (area, rule, county) counts against, area first.

    The caller refuses an amount above min(room.left), naming that room (`tightest`). The area's
    budget row is locked first, so two decisions against one budget line up."""
    area_row = _area_row(session, area, lock=True)
    rooms = []
    if area_row is not None:
        rooms.append(_room("area", area_label(pack, area), area_row, area_clause(pack, area) or area_row.source))
    if rule_id:
        row = _allocation(session, area, rule_id=rule_id)
        if row is not None:
            rooms.append(_room("rule", rule_label(pack, rule_id), row, row.source))
    if county:
        row = _allocation(session, area, county=county)
        if row is not None:
            rooms.append(_room("county", f"{area_label(pack, area, short=True)}{county}分配", row, row.source))
    return rooms


def tightest(rooms: list[Room]) -> Room | None:
    """The room with the least left (the first such, area before rule before county)."""
    return min(rooms, key=lambda room: room.left) if rooms else None


def over_budget(rooms: list[Room], amount: Decimal) -> str | None:
    """Why `amount` does not fit (the binding budget, what is left, the clause), or None when it does."""
    binding = tightest(rooms)
    if binding is None or amount <= binding.left:
        return None
    return (f"金额 {amount:,.2f} 元超出{binding.label}的剩余额度:预算 {binding.limit:,.2f} 元,"
            f"已承诺 {binding.committed:,.2f} 元,剩余 {binding.left:,.2f} 元(依据:{binding.source})")


def _room(which: Which, label: str, row: t.Budget, source: str) -> Room:
    """A room from the row's running total (`move` keeps it; the area's row is locked, so it is current)."""
    return Room(which, label, row.yuan, row.committed, row.yuan - row.committed, source)


def level(limit: Decimal | None, committed_yuan: Decimal) -> str:
    """none, 70% or 90%: the highest bound committed has reached (达到 includes it)."""
    if limit is None:
        return "none"
    for bound in WARNING_LEVELS:
        if committed_yuan * 100 >= limit * bound and (limit > 0 or committed_yuan > 0):
            return f"{bound}%"
    return "none"


def share(limit: Decimal | None, committed_yuan: Decimal) -> Decimal | None:
    """Committed as a percentage of the limit, to 0.01 (for display; `level` decides warnings)."""
    if limit is None or limit == 0:
        return None
    return (committed_yuan * 100 / limit).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class BudgetWarning:
    which: Which
    area: int
    key: str  # the rule id or the county; empty for an area
    level: str  # 70% or 90%
    message: str


def warnings(session: Session, pack: Pack) -> list[BudgetWarning]:
    """Every budget and allocation whose committed share has reached 70% or 90%, area by area."""
    found = []
    for row in session.scalars(select(t.Budget).order_by(t.Budget.area, t.Budget.rule_id, t.Budget.county)):
        spent = row.committed
        reached = level(row.yuan, spent)
        if reached == "none":
            continue
        found.append(_warning(pack, row, spent, reached))
    return found


# --------------------------------------------------------------------------- setting budgets


def set_budget(
    session: Session,
    pack: Pack,
    area: int,
    yuan: Decimal,
    actor: Actor,
    rule_id: str | None = None,
    county: str | None = None,
) -> t.Budget:
    """Set an area's budget, or an allocation within it to one rule or one county (see the module
    docstring for who may and what is refused). Returns the row, audit-recorded as budget.set."""
    the_area = _known_area(pack, area)
    rule_id = rule_id or None
    county = _known_county(county) if county else None
    if rule_id and county:
        raise Refused(422, "一项分配只能按规则或按区县之一,不能同时指定规则和区县")
    if rule_id:
        _rule_in_area(pack, rule_id, area)
    _may_set(actor, the_area, allocation=bool(rule_id or county))
    _valid_amount(yuan)
    area_row = _area_row(session, area, lock=True)
    if rule_id or county:
        if area_row is None:
            raise Refused(409, f"{area_label(pack, area)}尚未设定,不能在其中分配")
        _allocations_fit(session, pack, area, area_row.yuan, yuan, rule_id, county)
    else:
        _area_above_allocations(session, pack, area, yuan)
    row = area_row if not (rule_id or county) else _allocation(session, area, rule_id=rule_id, county=county, lock=True)
    counted = Totals(row.committed, row.paid) if row is not None else totals(session, area, rule_id, county)
    _not_below_committed(pack, area, yuan, rule_id, county, counted.committed)
    if row is None:  # an allocation: under the area row's lock, so no award in flight is missed
        row = _new_row(session, area, rule_id or "", county or "", yuan, "", counted)
    row.yuan = yuan.quantize(CENT)
    row.source = f"由 {actor.username}({ROLE_WORDS[actor.role]})设定"
    row.set_by = actor.user_id
    row.set_at = t.utcnow()
    audit.record(session, actor.username, "budget.set", row)
    return row


ROLE_WORDS = {Role.ADMIN: "管理员", Role.REVIEWER: "牵头部门", Role.FINANCE: "财政", Role.LEADERSHIP: "领导",
              Role.APPLICANT: "申报主体"}


def _known_area(pack: Pack, area: int) -> Area:
    for candidate in pack.document.areas:
        if candidate.number == area:
            return candidate
    numbers = "、".join(str(candidate.number) for candidate in pack.document.areas)
    raise Refused(422, f"领域 {area} 不存在:文件的领域编号为 {numbers}")


def _known_county(county: str) -> str:
    try:
        return county_name(county)
    except ValueError as error:
        raise Refused(422, f"区县:{error}") from None


def _rule_in_area(pack: Pack, rule_id: str, area: int) -> None:
    try:
        rule = pack.rule(rule_id)
    except KeyError:
        raise Refused(422, f"规则 {rule_id} 不存在于政策包") from None
    if rule.area != area:
        raise Refused(422, f"规则 {rule_id} 属于{area_label(pack, rule.area)},不属于{area_label(pack, area)}")


def _may_set(actor: Actor, area: Area, allocation: bool) -> None:
    if actor.role is Role.ADMIN:
        return
    lead = to_simplified(area.department)
    if actor.role is Role.REVIEWER and allocation and actor.department == lead:
        return
    if actor.role is Role.REVIEWER and actor.department == lead:
        raise Refused(403, f"领域预算是文件确定的数额,只有管理员可以调整;{lead}可在本领域内按规则或区县分配")
    raise Refused(403, f"预算只能由管理员或该领域牵头部门({lead})设定;当前用户 {actor.username} 不能设定")


def _valid_amount(yuan: Decimal) -> None:
    if not isinstance(yuan, Decimal) or not yuan.is_finite():
        raise Refused(422, f"金额须为十进制数(Decimal),不是 {yuan!r}")
    if yuan < 0:
        raise Refused(422, f"金额不能为负数:{yuan} 元")
    if yuan >= MAX_YUAN:
        raise Refused(422, f"金额须小于 10^16 元:{yuan} 元")
    if yuan != yuan.quantize(CENT):
        raise Refused(422, f"金额最多精确到分(两位小数):{yuan} 元")


def _allocations_fit(session: Session, pack: Pack, area: int, limit: Decimal, yuan: Decimal,
                     rule_id: str | None, county: str | None) -> None:
    kind = t.Budget.rule_id if rule_id else t.Budget.county
    others = session.scalar(
        select(func.coalesce(func.sum(t.Budget.yuan), ZERO)).where(
            t.Budget.area == area, kind != "", kind != (rule_id or county)
        )
    )
    others = _money(others)
    if others + yuan > limit:
        words = "各规则" if rule_id else "各区县"
        raise Refused(409, f"{area_label(pack, area)}为 {limit:,.2f} 元,{words}已分配 {others:,.2f} 元,"
                           f"再分配 {yuan:,.2f} 元将超出 {others + yuan - limit:,.2f} 元;最多还能分配 {limit - others:,.2f} 元")


def _area_above_allocations(session: Session, pack: Pack, area: int, yuan: Decimal) -> None:
    for kind, words in ((t.Budget.rule_id, "各规则"), (t.Budget.county, "各区县")):
        allocated = _money(session.scalar(
            select(func.coalesce(func.sum(t.Budget.yuan), ZERO)).where(t.Budget.area == area, kind != "")
        ))
        if yuan < allocated:
            raise Refused(409, f"{area_label(pack, area)}不能调低到 {yuan:,.2f} 元:{words}已分配 {allocated:,.2f} 元")


def _not_below_committed(pack: Pack, area: int, yuan: Decimal, rule_id: str | None, county: str | None,
                         spent: Decimal) -> None:
    if yuan < spent:
        label = rule_label(pack, rule_id) if rule_id else f"{area_label(pack, area, short=True)}{county}分配" if county else area_label(pack, area)
        raise Refused(409, f"{label}不能设为 {yuan:,.2f} 元:已承诺 {spent:,.2f} 元(公示、暂停、待拨付、拨付中、已拨付及拨付失败待重试的奖补)")


def _area_row(session: Session, area: int, lock: bool = False) -> t.Budget | None:
    return _budget_row(session, area, "", "", lock)


def _allocation(session: Session, area: int, rule_id: str | None = None, county: str | None = None,
                lock: bool = False) -> t.Budget | None:
    return _budget_row(session, area, rule_id or "", county or "", lock)


def _budget_row(session: Session, area: int, rule_id: str, county: str, lock: bool) -> t.Budget | None:
    """One budget row, read afresh (populate_existing: the session's own changes are flushed first),
    so its running totals are the database's, not an older copy kept in the session. An allocation
    read after its area's row was locked is current: every `move` locks that row first."""
    query = select(t.Budget).where(t.Budget.area == area, t.Budget.rule_id == rule_id, t.Budget.county == county)
    query = query.execution_options(populate_existing=True)
    return session.scalars(query.with_for_update() if lock else query).one_or_none()


# --------------------------------------------------------------------------- labels


def area_label(pack: Pack, area: int, short: bool = False) -> str:
    """第一部分(…)预算, or 第一部分 when short."""
    numeral = NUMERALS[area - 1] if 1 <= area <= len(NUMERALS) else str(area)
    if short:
        return f"第{numeral}部分"
    for candidate in pack.document.areas:
        if candidate.number == area:
            return f"第{numeral}部分({to_simplified(candidate.title)})预算"
    return f"第{numeral}部分预算"


def rule_label(pack: Pack, rule_id: str) -> str:
    try:
        return f"规则 {rule_id}({pack.rule(rule_id).spec.title})分配"
    except KeyError:
        return f"规则 {rule_id} 分配"


def area_clause(pack: Pack, area: int) -> str | None:
    """The document's budget sentence of an area (2025年,全市财政预算安排17.25亿元。), Simplified."""
    for candidate in pack.document.areas:
        if candidate.number == area:
            for sentence in candidate.goals:
                if "財政預算安排" in sentence.text or "财政预算安排" in sentence.text:
                    return to_simplified(sentence.text)
    return None


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class Row:
    """One line of the budget report: a budget (or none), and the cash committed and paid against it."""

    key: str  # the area number, the department, the county or the rule id
    name: str  # Simplified: the area's title, the rule's title
    department: str  # the lead department (areas), the rule's department (rules)
    document_budget: Decimal | None  # areas: the document's figure
    allocated: Decimal | None  # the budget or allocation set in the ledger, where one exists
    committed: Decimal
    paid: Decimal
    left: Decimal | None
    share: Decimal | None  # committed as % of allocated, to 0.01
    level: str  # none | 70% | 90%
    tax_savings: Decimal  # revenue forgone, beside the cash, never in it


@dataclass(frozen=True)
class Report:
    areas: list[Row]
    departments: list[Row]
    counties: list[Row]
    rules: list[Row]
    document_total: Decimal | None  # 支持总额为233.9亿元
    budget_total: Decimal  # the areas' budgets as set in the ledger
    committed: Decimal
    paid: Decimal
    left: Decimal
    tax_savings: Decimal
    warnings: list[BudgetWarning] = field(default_factory=list)


@dataclass
class _Sums:
    committed: Decimal = ZERO
    paid: Decimal = ZERO
    tax: Decimal = ZERO

    def add(self, other: _Sums) -> None:
        self.committed += other.committed
        self.paid += other.paid
        self.tax += other.tax


def budget_report(session: Session, pack: Pack) -> Report:
    """Committed, paid and left by area, department, county and rule, against the budgets.

    One grouped SQL scan of the awards (by area, department, county, rule: a few hundred groups
    however many awards) and one read of the budgets; the groups are then folded exactly."""
    groups = _grouped(session)
    budgets = list(session.scalars(select(t.Budget)))
    area_budget = {row.area: row.yuan for row in budgets if not row.rule_id and not row.county}
    rule_budget = {row.rule_id: row.yuan for row in budgets if row.rule_id}
    county_budget: dict[str, Decimal] = {}
    for row in budgets:
        if row.county:
            county_budget[row.county] = county_budget.get(row.county, ZERO) + row.yuan
    by_area: dict[int, _Sums] = {}
    by_department: dict[str, _Sums] = {}
    by_county: dict[str, _Sums] = {}
    by_rule: dict[str, _Sums] = {}
    rule_department: dict[str, tuple[int, str]] = {}
    for (area, department, county, rule_id), sums in groups.items():
        by_area.setdefault(area, _Sums()).add(sums)
        by_department.setdefault(department, _Sums()).add(sums)
        by_county.setdefault(county or NO_COUNTY, _Sums()).add(sums)
        by_rule.setdefault(rule_id, _Sums()).add(sums)
        rule_department.setdefault(rule_id, (area, department))
    areas = _area_rows(pack, area_budget, by_area)
    departments = _department_rows(pack, area_budget, by_department)
    counties = _county_rows(county_budget, by_county)
    rules = _rule_rows(pack, rule_budget, by_rule, rule_department)
    total = _Sums()
    for sums in by_area.values():
        total.add(sums)
    budget_total = sum(area_budget.values(), ZERO)
    return Report(
        areas, departments, counties, rules,
        document_total=None if pack.document.stated_total is None else pack.document.stated_total.quantize(CENT),
        budget_total=budget_total,
        committed=total.committed,
        paid=total.paid,
        left=budget_total - total.committed,
        tax_savings=total.tax,
        warnings=_report_warnings(pack, budgets, groups),
    )


def _grouped(session: Session) -> dict[tuple[int, str, str | None, str], _Sums]:
    """The awards' sums by (area, department, county, rule), from their running totals (AwardSum)."""
    return {
        (row.area, row.department, row.county or None, row.rule_id): _Sums(row.committed, row.paid, row.tax)
        for row in session.scalars(select(t.AwardSum))
    }


def _scanned(session: Session) -> dict[tuple[int, str, str | None, str], _Sums]:
    """The same sums by one grouped scan of every award: what AwardSum must always equal."""
    live = t.Award.status.in_(t.COMMITTED_STATUSES)
    cash = t.Award.cash.is_(True)
    amount = t.Award.amount
    query = (
        select(
            t.Award.area, t.Award.department, t.Award.county, t.Award.rule_id,
            func.sum(case((and_(cash, live), amount))),
            func.sum(case((and_(cash, t.Award.status.in_(t.PAID_STATUSES)), amount))),
            func.sum(case((and_(t.Award.cash.is_(False), t.Award.verdict == TAX_VERDICT, live), amount))),
        )
        .group_by(t.Award.area, t.Award.department, t.Award.county, t.Award.rule_id)
    )
    return {
        (area, department, county, rule_id): _Sums(_money(c), _money(p), _money(x))
        for area, department, county, rule_id, c, p, x in session.execute(query)
    }


def _row(key: str, name: str, department: str, document_budget: Decimal | None,
         allocated: Decimal | None, sums: _Sums) -> Row:
    left = None if allocated is None else allocated - sums.committed
    return Row(key, name, department, document_budget, allocated, sums.committed, sums.paid, left,
               share(allocated, sums.committed), level(allocated, sums.committed), sums.tax)


def _area_rows(pack: Pack, area_budget: dict[int, Decimal], by_area: dict[int, _Sums]) -> list[Row]:
    rows = []
    known = {area.number for area in pack.document.areas}
    for area in pack.document.areas:
        document_budget = None if area.budget is None else area.budget.quantize(CENT)
        rows.append(_row(str(area.number), to_simplified(area.title), to_simplified(area.department), document_budget,
                         area_budget.get(area.number), by_area.get(area.number, _Sums())))
    for number in sorted((set(area_budget) | set(by_area)) - known):
        rows.append(_row(str(number), "", "", None, area_budget.get(number), by_area.get(number, _Sums())))
    return rows


def _department_rows(pack: Pack, area_budget: dict[int, Decimal], by_department: dict[str, _Sums]) -> list[Row]:
    leads: dict[str, list[int]] = {}
    for area in pack.document.areas:
        leads.setdefault(to_simplified(area.department), []).append(area.number)
    rows = []
    for department, numbers in leads.items():
        budgets = [area_budget[number] for number in numbers if number in area_budget]
        allocated = sum(budgets, ZERO) if budgets else None
        name = "、".join(area_label(pack, number, short=True) for number in numbers)
        rows.append(_row(department, name, department, None, allocated, by_department.get(department, _Sums())))
    for department in sorted(set(by_department) - set(leads)):
        rows.append(_row(department, "", department, None, None, by_department[department]))
    return rows


def _county_rows(county_budget: dict[str, Decimal], by_county: dict[str, _Sums]) -> list[Row]:
    names = list(COUNTIES) + sorted(set(by_county) - set(COUNTIES) - {NO_COUNTY})
    if NO_COUNTY in by_county:
        names.append(NO_COUNTY)
    return [_row(name, name, "", None, county_budget.get(name), by_county.get(name, _Sums())) for name in names]


def _rule_rows(pack: Pack, rule_budget: dict[str, Decimal], by_rule: dict[str, _Sums],
               seen: dict[str, tuple[int, str]]) -> list[Row]:
    rows = []
    listed = set()
    for rule in pack.rules:
        if rule.id in rule_budget or rule.id in by_rule:
            listed.add(rule.id)
            rows.append(_row(rule.id, rule.spec.title, to_simplified(rule.department), None,
                             rule_budget.get(rule.id), by_rule.get(rule.id, _Sums())))
    for rule_id in sorted((set(rule_budget) | set(by_rule)) - listed):
        department = seen.get(rule_id, (0, ""))[1]
        rows.append(_row(rule_id, "", department, None, rule_budget.get(rule_id), by_rule.get(rule_id, _Sums())))
    return rows


def _report_warnings(pack: Pack, budgets: list[t.Budget],
                     groups: dict[tuple[int, str, str | None, str], _Sums]) -> list[BudgetWarning]:
    """The same warnings as `warnings`, from the grouped sums instead of one query per budget."""
    found = []
    for row in sorted(budgets, key=lambda budget: (budget.area, budget.rule_id, budget.county)):
        spent = sum((sums.committed for (area, _, county, rule_id), sums in groups.items()
                     if area == row.area and (not row.rule_id or rule_id == row.rule_id)
                     and (not row.county or county == row.county)), ZERO)
        reached = level(row.yuan, spent)
        if reached != "none":
            found.append(_warning(pack, row, spent, reached))
    return found


def _warning(pack: Pack, row: t.Budget, spent: Decimal, reached: str) -> BudgetWarning:
    which: Which = "rule" if row.rule_id else "county" if row.county else "area"
    label = {"area": area_label(pack, row.area), "rule": rule_label(pack, row.rule_id),
             "county": f"{area_label(pack, row.area, short=True)}{row.county}分配"}[which]
    message = (f"{label}已承诺 {spent:,.2f} 元,占 {row.yuan:,.2f} 元的 {share(row.yuan, spent) or '—'}%,"
               f"达到 {reached} 预警线;剩余 {row.yuan - spent:,.2f} 元")
    return BudgetWarning(which, row.area, row.rule_id or row.county, reached, message)


def report_json(report: Report) -> dict:
    """The report with every amount an exact decimal string (what `--json` and GET /budgets give)."""

    def text(value: Decimal | None) -> str | None:
        return None if value is None else f"{value:f}"

    def rows(items: list[Row]) -> list[dict]:
        return [
            {"key": row.key, "name": row.name, "department": row.department,
             "document_budget": text(row.document_budget), "allocated": text(row.allocated),
             "committed": text(row.committed), "paid": text(row.paid), "left": text(row.left),
             "committed_share": text(row.share), "warning": row.level, "tax_savings": text(row.tax_savings)}
            for row in items
        ]

    return {
        "document_total": text(report.document_total),
        "budget_total": text(report.budget_total),
        "committed": text(report.committed),
        "paid": text(report.paid),
        "left": text(report.left),
        "tax_savings": text(report.tax_savings),
        "areas": rows(report.areas),
        "departments": rows(report.departments),
        "counties": rows(report.counties),
        "rules": rows(report.rules),
        "warnings": [{"which": w.which, "area": w.area, "key": w.key, "level": w.level, "message": w.message}
                     for w in report.warnings],
    }
