"""Applications, decisions and awards: how an amount the calculator allows becomes one that is paid.

    submit → (withdraw | return → submit again | reject | approve)
    approve / confirm a proposal → `award`: the one place an amount is granted. It takes, in order,
        the subject's row lock, the area budget's row lock (database.py: no deadlock), and refuses
        an amount above the ceiling, the per-subject (or per-carrier) annual cap left over every live
        award of that year — from applications and 免申即享 alike — or the budget left (area, and the
        rule's and the county's allocations where the department set them), naming which and how
        much is left, with the clause.
    兑前公示: a cash award is published for its department's period (default 5 working days); an
        objection holds it; `release_due` makes the awards whose period has ended payable.

The ceiling is computed by the calculator twice, at submission and again at decision, each time
from the awards already made, so a ceiling never counts a cap twice nor misses one granted since.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, load_only

from zhida.engine.calculate import CAP_NAMES, VERDICTS, Entitlement, calculate
from zhida.engine.case import Case, CaseError, case_from_data
from zhida.ledger import audit
from zhida.ledger import tables as t
from zhida.ledger.access import Actor, Refused, Role, require
from zhida.ledger.accounts import lead_departments
from zhida.ledger.budgets import budget_room, level, move, over_budget
from zhida.ledger.subjects import cap_use, department_of, subject_for
from zhida.ledger.workdays import CHINA_2025_2026, add_working_days
from zhida.rules.model import CapScope, Kind, Rule
from zhida.rules.pack import Pack
from zhida.source.script import to_simplified

CASH = frozenset({Kind.CEILING.value, Kind.FLOOR.value, Kind.EXACT.value, Kind.BY_MEASURE.value})
OPEN = ("submitted", "returned")  # an application not yet decided


# --------------------------------------------------------------------------- applications


def submit(
    session: Session,
    pack: Pack,
    actor: Actor,
    subject_id: str,
    rule_id: str,
    event: dict[str, Any],
    application: t.Application | None = None,
) -> t.Application:
    """A claim of `rule_id` for one event (type, date and fields as a case writes them), by the
    subject's own applicant; its ceiling and trace computed now. Resubmits a returned `application`."""
    require(actor, Role.APPLICANT)
    subject = subject_for(session, actor, subject_id)
    rule = _rule(pack, rule_id)
    entitlement = _entitle(session, pack, subject, rule, event)
    values = {key: _plain(value) for key, value in event.items()}
    if application is None:
        application = t.Application(subject_id=subject_id, submitted_by=actor.user_id)
        session.add(application)
    application.rule_id = rule.id
    application.article = rule.spec.article
    application.area = rule.area
    application.department = department_of(rule)
    application.event_type = rule.spec.event
    application.event_date = entitlement.event.date
    application.event_values = values
    application.status = "submitted"
    application.verdict = entitlement.verdict.value
    application.ceiling = entitlement.amount
    application.trace = list(entitlement.trace)
    application.clause = _clause(pack, rule)
    application.reason = None
    application.submitted_at = t.utcnow()
    audit.record(session, actor.username, "application.submit", application)
    return application


def resubmit(session: Session, pack: Pack, actor: Actor, application_id: int, event: dict[str, Any]) -> t.Application:
    """A returned application, with the material asked for, back in the queue."""
    application = application_for(session, actor, application_id)
    if application.status != "returned":
        raise Refused(409, f"申请 {application_id} 的状态为{STATUS_NAMES[application.status]},只有退回补正的申请可以重新提交")
    return submit(session, pack, actor, application.subject_id, application.rule_id, event, application)


CHANGE_NAMES = {"submit": "提交申请", "resubmit": "补正后重新提交", "approve": "核准", "reject": "驳回",
                "return": "退回补正", "withdraw": "已撤回"}


@dataclass(frozen=True)
class Change:
    """One submission or decision of an application, as its audit entry recorded it."""

    at: dt.datetime
    action: str  # submit, resubmit, approve, reject, return, withdraw
    state: dict[str, Any]  # the application's row after the change (audit.state_of)


def application_changes(session: Session, application_id: int) -> list[Change]:
    """Every submission and decision of an application, in order, from the audit log: the row itself keeps
    only the last (a return and the resubmission that answered it leave nothing on it)."""
    entries = session.execute(
        select(t.AuditEntry.at, t.AuditEntry.action, t.AuditEntry.state)
        .where(t.AuditEntry.entity == audit.ENTITY_NAMES[t.Application], t.AuditEntry.entity_id == str(application_id))
        .order_by(t.AuditEntry.seq)
    )
    changes: list[Change] = []
    for at, action, state in entries:
        action = action.removeprefix("application.")
        if action == "submit" and changes:
            action = "resubmit"
        changes.append(Change(at, action, json.loads(state)))
    return changes


def withdraw(session: Session, actor: Actor, application_id: int) -> t.Application:
    application = application_for(session, actor, application_id)
    if actor.role is not Role.APPLICANT:
        raise Refused(403, "只有申报主体本身可以撤回申请")
    if application.status not in OPEN:
        raise Refused(409, f"申请 {application_id} 已{STATUS_NAMES[application.status]},决定之后不能撤回")
    application.status = "withdrawn"
    audit.record(session, actor.username, "application.withdraw", application)
    return application


def application_for(session: Session, actor: Actor, application_id: int, *, lock: bool = False) -> t.Application:
    """The application if this actor may see it: its own subject's (applicant), its department's
    (reviewer), any (finance, leadership, admin). 404 otherwise: another's is not disclosed."""
    query = select(t.Application).where(t.Application.id == application_id)
    application = session.scalars(query.with_for_update() if lock else query).one_or_none()
    if application is None or not may_see(actor, application.subject_id, application.department):
        raise Refused(404, f"没有申请 {application_id}")
    return application


def applications(
    session: Session, actor: Actor, *, status: str | None = None, department: str | None = None,
    rule_id: str | None = None, limit: int = 100, offset: int = 0,
) -> list[t.Application]:
    """A queue: the applicant's own, the reviewer's department's, or all; newest first."""
    query = select(t.Application)
    if actor.role is Role.APPLICANT:
        query = query.where(t.Application.subject_id == actor.subject_id)
    elif actor.role is Role.REVIEWER:
        query = query.where(t.Application.department == actor.department)
    for column, value in ((t.Application.status, status), (t.Application.department, department), (t.Application.rule_id, rule_id)):
        if value is not None:
            query = query.where(column == value)
    query = query.order_by(t.Application.submitted_at.desc(), t.Application.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query))


def awards(
    session: Session, actor: Actor, *, status: str | None = None, department: str | None = None,
    limit: int = 100, offset: int = 0,
) -> list[tuple[t.Award, t.Subject]]:
    """Awards with their subjects, as `applications` lists applications: the applicant's own, the
    reviewer's department's, or all; newest first."""
    query = select(t.Award, t.Subject).join(t.Subject, t.Subject.id == t.Award.subject_id)
    if actor.role is Role.APPLICANT:
        query = query.where(t.Award.subject_id == actor.subject_id)
    elif actor.role is Role.REVIEWER:
        query = query.where(t.Award.department == actor.department)
    for column, value in ((t.Award.status, status), (t.Award.department, department)):
        if value is not None:
            query = query.where(column == value)
    query = query.order_by(t.Award.id.desc()).limit(limit).offset(offset)
    return [(row[0], row[1]) for row in session.execute(query)]


# --------------------------------------------------------------------------- decisions


def decide(
    session: Session,
    pack: Pack,
    actor: Actor,
    application_id: int,
    decision: str,
    *,
    amount: Decimal | None = None,
    reason: str = "",
    today: dt.date | None = None,
) -> t.Application:
    """approve (with an amount), reject or return (each with a reason), by the rule's lead department."""
    application = application_for(session, actor, application_id, lock=True)
    _may_decide(actor, application.department, application.submitted_by, application.subject_id)
    if application.status != "submitted":
        raise Refused(409, f"申请 {application_id} 的状态为{STATUS_NAMES[application.status]},只有待审核的申请可以决定")
    if decision in ("reject", "return"):
        if not reason.strip():
            raise Refused(422, "reason: 驳回或退回补正须写明理由")
        application.status = "rejected" if decision == "reject" else "returned"
        application.reason = reason.strip()
    elif decision == "approve":
        rule = _rule(pack, application.rule_id)
        subject = subject_for(session, actor, application.subject_id, lock=True)
        event = dict(application.event_values)
        entitlement = _entitle(session, pack, subject, rule, event)  # again, from the awards made since
        application.ceiling = entitlement.amount
        application.verdict = entitlement.verdict.value
        application.trace = list(entitlement.trace)
        award(
            session, pack, actor, subject_id=subject.id, rule_id=rule.id, year=entitlement.event.date.year,
            carrier=_carrier(rule, entitlement), verdict=entitlement.verdict.value, ceiling=entitlement.amount,
            amount=amount, trace=list(entitlement.trace), application_id=application.id, today=today,
        )
        application.status = "approved"
        application.reason = reason.strip() or None
    else:
        raise Refused(422, f"decision: 须为 approve、reject 或 return,收到 {decision!r}")
    application.decided_by = actor.user_id
    application.decided_at = t.utcnow()
    audit.record(session, actor.username, f"application.{decision}", application)
    return application


def award(
    session: Session,
    pack: Pack,
    actor: Actor,
    *,
    subject_id: str,
    rule_id: str,
    year: int,
    carrier: str | None,
    verdict: str,
    ceiling: Decimal | None,
    amount: Decimal | None,
    trace: list[str],
    application_id: int | None = None,
    proposal_id: int | None = None,
    today: dt.date | None = None,
) -> t.Award:
    """Grant `amount` of `rule_id` to a subject, within the ceiling, the annual caps and the budget."""
    rule = _rule(pack, rule_id)
    department = department_of(rule)
    _may_decide(actor, department, None, subject_id)
    subject = subject_for(session, actor, subject_id, lock=True)  # first lock: the subject
    try:
        amount = _checked_amount(rule, verdict, ceiling, amount)
    except Refused as refusal:
        # A ceiling lowered by an annual cap: say which cap and what it has left, from the trace.
        capped = [line for line in trace if "上限" in line and "尚余" in line]
        if refusal.status == 409 and capped:
            raise Refused(409, f"{refusal.message};{capped[-1]}") from None
        raise
    if amount is not None:
        _within_caps(session, pack, rule, subject.id, year, carrier, amount)
    cash = verdict in CASH and amount is not None
    if cash:
        _within_budget(session, pack, rule, subject.county, amount)  # second lock: the area budget
    today = today or dt.date.today()
    row = t.Award(
        application_id=application_id, proposal_id=proposal_id, subject_id=subject.id, rule_id=rule.id,
        article=rule.spec.article, area=rule.area, department=department, county=subject.county, year=year,
        carrier=carrier, verdict=verdict, cash=cash, amount=amount, ceiling=ceiling, clause=_clause(pack, rule),
        trace=trace, status="publicity" if cash else "granted", decided_by=actor.user_id,
        publicity_until=add_working_days(today, publicity_days(session, department), CHINA_2025_2026) if cash else None,
    )
    session.add(row)
    move(session, row, None, row.status)  # +committed, on the area row _within_budget locked
    audit.record(session, actor.username, "award.grant", row)
    return row


def _checked_amount(rule: Rule, verdict: str, ceiling: Decimal | None, amount: Decimal | None) -> Decimal | None:
    """The amount a reviewer may grant for this kind of rule: at most a ceiling, at least a floor,
    exactly an exact amount or a tax saving; none for a qualification; any for a by-measure rule
    (its amount is the department's measure, bounded here by the caps and the budget)."""
    if verdict == Kind.QUALIFICATION.value:
        if amount is not None:
            raise Refused(422, f"amount: {rule.spec.title}是资格认定,不涉及资金,不能核定金额")
        return None
    if amount is None:
        if verdict in (Kind.EXACT.value, Kind.TAX.value, Kind.FLOOR.value, Kind.CEILING.value) and ceiling is not None:
            amount = ceiling  # no amount given: the calculator's
        else:
            raise Refused(422, f"amount: {rule.spec.title}须核定金额(按{rule.spec.amount_by or '配套政策'}执行)")
    if amount <= 0:
        raise Refused(422, "amount: 核定金额须大于 0;不予支持的申请请驳回")
    label = VERDICTS[Kind(verdict)]
    if verdict == Kind.CEILING.value and amount > ceiling:
        raise Refused(409, f"核定金额 {amount:,.2f} 元超过计算的{label} {ceiling:,.2f} 元({rule.spec.title})")
    if verdict == Kind.FLOOR.value and amount < ceiling:
        raise Refused(409, f"核定金额 {amount:,.2f} 元低于保底额 {ceiling:,.2f} 元({rule.spec.title}:不低于)")
    if verdict in (Kind.EXACT.value, Kind.TAX.value) and amount != ceiling:
        raise Refused(409, f"{rule.spec.title}的金额是确定的 {ceiling:,.2f} 元,不能核定为 {amount:,.2f} 元")
    return amount


def _within_caps(session: Session, pack: Pack, rule: Rule, subject_id: str, year: int, carrier: str | None, amount: Decimal) -> None:
    for cap in rule.caps:
        if cap.per is CapScope.ITEM:
            if amount > cap.yuan:
                raise Refused(409, f"超过{CAP_NAMES[cap.per]}:核定 {amount:,.2f} 元,上限 {cap.yuan:,.2f} 元({to_simplified(cap.clause)})")
            continue
        sharing = [other.id for other in pack.rules if cap in other.caps]
        query = select(func.coalesce(func.sum(t.Award.amount), 0)).where(
            t.Award.subject_id == subject_id, t.Award.year == year, t.Award.rule_id.in_(sharing),
            t.Award.status.in_(t.LIVE_STATUSES),
        )
        if cap.per is CapScope.CARRIER_YEAR:
            query = query.where(t.Award.carrier == carrier)
        used = Decimal(session.scalar(query) or 0).quantize(Decimal("0.01"))
        left = max(cap.yuan - used, Decimal("0.00"))
        if amount > left:
            who = "本主体" if cap.per is CapScope.SUBJECT_YEAR else f"载体 {carrier}"
            raise Refused(
                409,
                f"超过{CAP_NAMES[cap.per]}({to_simplified(cap.clause)}):{who} {year} 年已核定 {used:,.2f} 元,"
                f"尚余 {left:,.2f} 元,不能再核定 {amount:,.2f} 元",
            )


def _within_budget(session: Session, pack: Pack, rule: Rule, county: str | None, amount: Decimal) -> None:
    reason = over_budget(budget_room(session, pack, rule.area, rule.id, county), amount)
    if reason:
        raise Refused(409, reason)


def budget_warnings(session: Session, pack: Pack, award: t.Award) -> list[str]:
    """The 70% and 90% warnings of every budget this award counts against, after it."""
    if not award.cash:
        return []
    found = []
    for room in budget_room(session, pack, award.area, award.rule_id, award.county):
        reached = level(room.limit, room.committed)
        if reached != "none":
            found.append(f"{room.label}已承诺 {room.committed:,.2f} 元,达到预算 {room.limit:,.2f} 元的 {reached},尚余 {room.left:,.2f} 元")
    return found


# --------------------------------------------------------------------------- 兑前公示


def publicity_days(session: Session, department: str) -> int:
    settings = session.get(t.Department, department)
    return settings.publicity_days if settings is not None else 5


def set_publicity_days(session: Session, pack: Pack, actor: Actor, department: str, days: int) -> t.Department:
    require(actor, Role.ADMIN)
    leads = lead_departments(pack)
    if department not in leads:
        raise Refused(404, f"{department} 不是本政策任何条款的牵头部门;可选:{'、'.join(sorted(leads))}")
    if not 1 <= days <= 30:
        raise Refused(422, f"publicity_days: 公示期须为 1 至 30 个工作日,收到 {days}")
    settings = session.get(t.Department, department) or t.Department(name=department)
    settings.publicity_days = days
    session.add(settings)
    audit.record(session, actor.username, "department.publicity_days", settings)
    return settings


def publicity(session: Session, department: str | None = None, today: dt.date | None = None,
               limit: int | None = None, offset: int = 0) -> list[tuple[t.Award, t.Subject]]:
    """The awards on 公示 now (and those held by an objection), with their subjects, by department
    and id; `limit` and `offset` give one page of them. Only the columns the list shows are loaded
    (any other is read when touched)."""
    today = today or dt.date.today()
    query = (
        select(t.Award, t.Subject).join(t.Subject, t.Subject.id == t.Award.subject_id)
        .where(t.Award.status.in_(("publicity", "held")), t.Award.publicity_until >= today)
        .options(load_only(t.Award.subject_id, t.Award.rule_id, t.Award.article, t.Award.department,
                           t.Award.amount, t.Award.status, t.Award.publicity_until),
                 load_only(t.Subject.name))
        .order_by(t.Award.department, t.Award.id)
        .limit(limit).offset(offset or None)
    )
    if department is not None:
        query = query.where(t.Award.department == department)
    return [(row[0], row[1]) for row in session.execute(query)]


def object_to(session: Session, actor: Actor, award_id: int, text: str, today: dt.date | None = None) -> t.Objection:
    """An objection during the 公示 period holds the award for the department's review."""
    today = today or dt.date.today()
    row = session.scalars(select(t.Award).where(t.Award.id == award_id).with_for_update()).one_or_none()
    if row is None or row.status not in ("publicity", "held"):
        raise Refused(404, f"公示中没有奖补 {award_id}")
    if today > row.publicity_until:
        raise Refused(409, f"奖补 {award_id} 的公示期已于 {row.publicity_until.isoformat()} 结束,不再受理异议")
    if not text.strip() or len(text) > 2000:
        raise Refused(422, "text: 异议须写明理由,不超过 2000 字")
    objection = t.Objection(award_id=award_id, text=text.strip())
    session.add(objection)
    old, row.status = row.status, "held"
    move(session, row, old, row.status)  # still committed: no money moves
    audit.record(session, actor.username, "objection.raise", objection)
    audit.record(session, actor.username, "award.hold", row)
    return objection


def resolve_objection(session: Session, actor: Actor, objection_id: int, upheld: bool, note: str) -> t.Objection:
    """Upheld: the award is cancelled (and frees its cap and budget). Dismissed: back on 公示 until its
    period ends (the period is not restarted: the objection was answered within it)."""
    objection = session.get(t.Objection, objection_id)
    if objection is None:
        raise Refused(404, f"没有异议 {objection_id}")
    row = session.scalars(select(t.Award).where(t.Award.id == objection.award_id).with_for_update()).one()
    _may_decide(actor, row.department, None)
    if objection.resolution is not None:
        raise Refused(409, f"异议 {objection_id} 已处理")
    if not note.strip():
        raise Refused(422, "note: 处理异议须写明理由")
    objection.resolution = "upheld" if upheld else "dismissed"
    objection.note = note.strip()
    objection.resolved_by = actor.user_id
    objection.resolved_at = t.utcnow()
    still_open = session.scalar(
        select(func.count()).select_from(t.Objection).where(
            t.Objection.award_id == row.id, t.Objection.resolution.is_(None), t.Objection.id != objection.id
        )
    )
    old = row.status
    if upheld:
        row.status = "cancelled"
    elif not still_open:
        row.status = "publicity"
    move(session, row, old, row.status)  # cancelled: -committed, the budget freed (area row locked here)
    audit.record(session, actor.username, "objection.resolve", objection)
    audit.record(session, actor.username, "award.cancel" if upheld else "award.release", row)
    return objection


def release_due(session: Session, today: dt.date | None = None) -> list[t.Award]:
    """Awards whose 公示 ended (the day after its last working day) without an open objection: payable."""
    today = today or dt.date.today()
    due = list(session.scalars(
        select(t.Award).where(t.Award.status == "publicity", t.Award.publicity_until < today).with_for_update()
    ))
    for row in due:
        old, row.status = row.status, "payable"
        move(session, row, old, row.status)  # still committed: no money moves
        audit.record(session, "zhida", "award.payable", row)
    return due


# --------------------------------------------------------------------------- helpers

STATUS_NAMES = {
    "submitted": "待审核", "returned": "退回补正", "withdrawn": "撤回", "rejected": "驳回", "approved": "核准",
    "publicity": "公示中", "held": "异议暂停", "payable": "待拨付", "in_batch": "拨付中", "paid": "已拨付",
    "failed": "拨付失败", "granted": "已认定", "cancelled": "已撤销",
}


def may_see(actor: Actor, subject_id: str, department: str) -> bool:
    """An applicant sees its own subject's rows, a reviewer its department's, every other role all."""
    if actor.role is Role.APPLICANT:
        return actor.subject_id == subject_id
    if actor.role is Role.REVIEWER:
        return actor.department == department
    return True


def _may_decide(actor: Actor, department: str, submitted_by: int | None, subject_id: str | None = None) -> None:
    """Only the lead department's reviewers decide, and never on their own application nor on the
    subject they are tied to (a reviewer account may name the enterprise it belongs to)."""
    require(actor, Role.REVIEWER)
    if actor.department != department:
        raise Refused(403, f"此事项由{department}审核;{actor.username} 属于{actor.department}")
    if submitted_by == actor.user_id or (subject_id is not None and actor.subject_id == subject_id):
        raise Refused(403, "不能审核本人或本人所属主体的申请")


def _rule(pack: Pack, rule_id: str) -> Rule:
    try:
        return pack.rule(rule_id)
    except KeyError:
        raise Refused(422, f"rule: 没有规则 {rule_id!r};用 GET /api/v1/rules 查看全部规则") from None


def _entitle(session: Session, pack: Pack, subject: t.Subject, rule: Rule, event: dict[str, Any]) -> Entitlement:
    """The calculator's entitlement for this rule and event, from the subject's awards so far."""
    data = {"subject": {"id": subject.id, "kind": subject.kind, "name": subject.name},
            "events": [{"id": "申请", **{key: value for key, value in event.items() if key != "id"}}]}
    if data["events"][0].get("type") not in (None, rule.spec.event):
        raise Refused(422, f"event.type: {rule.spec.title}须为事件类型 {rule.spec.event},收到 {event.get('type')!r}")
    data["events"][0]["type"] = rule.spec.event
    try:
        case: Case = case_from_data(data, pack, "申请")
    except CaseError as error:
        raise Refused(422, str(error)) from None
    result = calculate(pack, case, cap_use(session, pack, subject.id))
    for item in result.entitlements:
        if item.rule.id == rule.id:
            if not item.in_validity:
                raise Refused(422, f"{rule.spec.title}:{item.trace[-1]}")
            return item
    reasons = [reason for unmatched in result.unmatched for reason in unmatched.reasons if reason.startswith(rule.spec.title)]
    raise Refused(422, reasons[0] if reasons else f"{rule.spec.title}不适用于此事件")


def _carrier(rule: Rule, entitlement: Entitlement) -> str | None:
    for cap in rule.caps:
        if cap.per is CapScope.CARRIER_YEAR:
            return str(entitlement.event.values[cap.carrier_field])
    return None


def _clause(pack: Pack, rule: Rule) -> str:
    # A county rule quotes the county's text, which `pack.document` (the city's) does not hold.
    return to_simplified(rule.quoted)


def _plain(value: Any) -> Any:
    return value if isinstance(value, (str, bool)) or value is None else f"{value}"
