"""Subjects and their profiles (一企一档), and what a profile makes a subject eligible for.

A profile is the latest fact per field: a field is one the rules read (a field of an event type:
service_fee, recognition, premium …), its value written as a case writes it, with its source
(declared by the subject, imported from a register, confirmed by a department) and the date it
holds for. `candidates` turns a profile into every rule the subject may claim, with the amount
where the rules fix one: "describe yourself once and be told everything".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhida.engine.calculate import CapUse, Entitlement, calculate, unmet
from zhida.engine.case import Case, CaseError, Event, Subject, read_value
from zhida.engine.evaluate import evaluate
from zhida.ledger import audit
from zhida.ledger import tables as t
from zhida.ledger.access import Actor, Refused, Role, may_read_subject, require
from zhida.ledger.identity import county_name, county_problem, credit_code_problem, id_number_problem, normalise_code
from zhida.rules.model import CapScope, EventField, Rule
from zhida.rules.pack import Pack
from zhida.source.script import to_simplified

PERSON_KINDS = frozenset({"consumer", "resident"})  # identified by 居民身份证号码; all others by credit code
SOURCES = {Role.APPLICANT: "declared", Role.ADMIN: "imported", Role.REVIEWER: "confirmed"}


def subject_id_problem(kind: str, code: str) -> str | None:
    """Why `code` cannot identify a subject of `kind`: persons by 居民身份证号码, others by credit code
    (each message names the kind of number itself)."""
    return id_number_problem(code) if kind in PERSON_KINDS else credit_code_problem(code)


def register_subject(
    session: Session, pack: Pack, actor: Actor, code: str, kind: str, name: str, county: str | None
) -> t.Subject:
    """A new subject, its code checked by its kind (GB 32100 or GB 11643) and its county one of six."""
    require(actor, Role.ADMIN, Role.REVIEWER)
    code = normalise_code(code)
    if kind not in pack.subjects:
        raise Refused(422, f"kind: 未知的主体类型 {kind!r};可选:{'、'.join(pack.subjects)}")
    problem = subject_id_problem(kind, code)
    if problem:
        raise Refused(422, f"id: {problem}")
    name = name.strip()
    if not name or len(name) > 200:
        raise Refused(422, "name: 主体名称须为 1 至 200 个字")
    if county is not None:
        if county_problem(county):
            raise Refused(422, f"county: {county_problem(county)}")
        county = county_name(county)
    if session.get(t.Subject, code) is not None:
        raise Refused(409, f"主体 {code} 已登记")
    subject = t.Subject(id=code, kind=kind, name=name, county=county)
    session.add(subject)
    audit.record(session, actor.username, "subject.register", subject)
    return subject


def subject_for(session: Session, actor: Actor, subject_id: str, *, lock: bool = False) -> t.Subject:
    """The subject, if this actor may see it; 404 otherwise (another's existence is not disclosed)."""
    query = select(t.Subject).where(t.Subject.id == subject_id)
    subject = session.scalars(query.with_for_update() if lock else query).one_or_none()
    if subject is None or not may_read_subject(actor, subject_id):
        raise Refused(404, f"没有主体 {subject_id}")
    return subject


def fields_of(pack: Pack) -> dict[str, EventField]:
    """Every field the rules read, by name (a name keeps one type across event types: pack.py checks)."""
    found: dict[str, EventField] = {}
    for event_type in pack.events.values():
        for event_field in event_type.fields:
            found.setdefault(event_field.name, event_field)
    return found


def record_facts(
    session: Session, pack: Pack, actor: Actor, subject_id: str, facts: dict[str, object], as_of: dt.date,
    source: str | None = None,
) -> list[t.ProfileFact]:
    """Add facts to a profile: by the subject itself (declared), a department (confirmed) or admin (imported);
    `source` overrides the role's word (a department importing a spreadsheet records "imported")."""
    if actor.role not in SOURCES:
        require(actor, Role.APPLICANT, Role.REVIEWER, Role.ADMIN)
    subject_for(session, actor, subject_id)
    known = fields_of(pack)
    added = []
    for name, raw in facts.items():
        event_field = known.get(name)
        if event_field is None:
            raise Refused(422, f"facts.{name}: 规则不读取此字段;用 GET /api/v1/events 查看可用字段")
        try:
            value = read_value(event_field, raw, f"facts.{name}({event_field.title})")
        except CaseError as error:
            raise Refused(422, str(error)) from None
        fact = t.ProfileFact(
            subject_id=subject_id, field=name, value=_text(value), source=source or SOURCES[actor.role],
            as_of=as_of, recorded_by=actor.user_id,
        )
        session.add(fact)
        audit.record(session, actor.username, "profile.fact", fact)
        added.append(fact)
    return added


def profile(session: Session, subject_id: str) -> dict[str, t.ProfileFact]:
    """The latest fact per field (by date, then by when it was recorded)."""
    facts = session.scalars(
        select(t.ProfileFact)
        .where(t.ProfileFact.subject_id == subject_id)
        .order_by(t.ProfileFact.as_of, t.ProfileFact.recorded_at, t.ProfileFact.id)
    )
    return {fact.field: fact for fact in facts}


def cap_use(session: Session, pack: Pack, subject_id: str) -> CapUse:
    """What every annual cap has already granted this subject, from its live awards (applications and
    免申即享 alike), in the calculator's own terms so that a new ceiling leaves room only for the rest."""
    rows = session.execute(
        select(t.Award.rule_id, t.Award.year, t.Award.carrier, func.sum(t.Award.amount))
        .where(t.Award.subject_id == subject_id, t.Award.status.in_(t.LIVE_STATUSES), t.Award.amount.is_not(None))
        .group_by(t.Award.rule_id, t.Award.year, t.Award.carrier)
    )
    used: dict[tuple[str, str, str | None, int], Decimal] = {}
    for rule_id, year, carrier, amount in rows:
        for cap in _annual_caps(pack, rule_id):
            key = (cap.id, subject_id, carrier if cap.per is CapScope.CARRIER_YEAR else None, year)
            used[key] = used.get(key, Decimal("0.00")) + amount
    return CapUse(used)


def _annual_caps(pack: Pack, rule_id: str):
    try:
        rule = pack.rule(rule_id)
    except KeyError:
        return ()
    return tuple(cap for cap in rule.caps if cap.per is not CapScope.ITEM)


@dataclass(frozen=True)
class Candidate:
    """One rule for one subject: eligible (with its entitlement), or why not."""

    rule: Rule
    status: str  # eligible | by_measure | qualification | outside_validity | needs_facts | not_met | not_for_kind
    entitlement: Entitlement | None
    reason: str


def candidates(session: Session, pack: Pack, actor: Actor, subject_id: str) -> list[Candidate]:
    """Every rule of the pack for this subject: those its kind may claim evaluated on its profile (the
    amount where the rules fix one), and for every other rule, why it does not apply."""
    subject = subject_for(session, actor, subject_id)
    facts = profile(session, subject_id)
    already = cap_use(session, pack, subject_id)
    found = []
    for rule in pack.rules:
        if subject.kind not in rule.spec.subject:
            kinds = "、".join(pack.subjects[kind] for kind in rule.spec.subject)
            found.append(Candidate(rule, "not_for_kind", None, f"仅适用于{kinds}"))
            continue
        found.append(_candidate(pack, rule, subject, facts, already))
    order = {"eligible": 0, "by_measure": 1, "qualification": 2, "outside_validity": 3, "needs_facts": 4, "not_met": 5,
             "not_for_kind": 6}
    return sorted(found, key=lambda item: (order[item.status], item.rule.spec.article, item.rule.id))


def _candidate(pack: Pack, rule: Rule, subject: t.Subject, facts: dict[str, t.ProfileFact], already: CapUse) -> Candidate:
    event_type = pack.events[rule.spec.event]
    missing = [f.title for f in event_type.fields if f.name not in facts]
    if missing:
        return Candidate(rule, "needs_facts", None, f"需补充:{'、'.join(missing)}")
    values = {}
    for event_field in event_type.fields:
        values[event_field.name] = read_value(event_field, _raw(facts[event_field.name].value, event_field), event_field.name)
    if not evaluate(rule.when.tree, values):
        return Candidate(rule, "not_met", None, unmet(pack, rule, values))
    # The event is dated when the facts it reads hold; an event that reads none, when the profile does.
    date = max((facts[f.name].as_of for f in event_type.fields), default=None)
    date = date or max((fact.as_of for fact in facts.values()), default=dt.date.today())
    event = Event(id="profile", type=event_type.name, date=date, values=values)
    case = Case("profile", Subject(subject.id, subject.kind, subject.name, subject.county), (event,))
    result = calculate(pack, case, already)
    entitlement = next(item for item in result.entitlements if item.rule.id == rule.id)
    if not entitlement.in_validity:
        return Candidate(rule, "outside_validity", entitlement, entitlement.trace[-1])
    status = {"by_measure": "by_measure", "qualification": "qualification"}.get(rule.spec.kind.value, "eligible")
    return Candidate(rule, status, entitlement, "")


def department_of(rule: Rule) -> str:
    return to_simplified(rule.department)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value}"


def _raw(text: str, event_field: EventField) -> object:
    if event_field.type.value == "flag":
        return text == "true"
    return text
