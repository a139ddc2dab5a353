"""The ledger API: subjects, profiles, candidates, applications, decisions, awards, 兑前公示 and objections.

    POST /api/v1/subjects                                register a subject (admin, reviewer)
    GET  /api/v1/subjects/{id}                           the subject and its profile
    POST /api/v1/subjects/{id}/facts                     add facts to the profile
    GET  /api/v1/subjects/{id}/candidates                every benefit the profile makes claimable
    POST /api/v1/applications                            apply (the subject's applicant)
    GET  /api/v1/applications[?status&department&rule]  a queue; GET /api/v1/applications/{id}
    POST /api/v1/applications/{id}/decision              approve (amount) | reject | return (reason)
    POST /api/v1/applications/{id}/withdraw | /resubmit
    POST /api/v1/applications/{id}/attachments           a file (PDF, JPEG, PNG, OFD, DOCX, XLSX; 10 MB)
    GET  /api/v1/awards[?status&department] | /api/v1/awards/{id}
    GET  /api/v1/publicity[?department]                  the 公示 list: public, identity numbers masked
    POST /api/v1/awards/{id}/objections                  object during 公示 (holds the award)
    POST /api/v1/objections/{id}/resolution              uphold (cancel the award) or dismiss
    PUT  /api/v1/departments/{name}                      a department's 公示 period (admin)

Every write takes an Idempotency-Key (web/access.py). Identity numbers (居民身份证号码) are shown
whole only to the person and to the reviewer of their case; masked to everyone else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from sqlalchemy import select

from zhida.engine.calculate import VERDICTS
from zhida.ledger import audit, review, subjects
from zhida.ledger import tables as t
from zhida.ledger.access import Actor, Refused, Role
from zhida.ledger.database import reading
from zhida.ledger.identity import mask_identity
from zhida.rules.model import Kind
from zhida.source.script import to_simplified
from zhida.web.access import current_actor, ledger_state, money, once

router = APIRouter(prefix="/api/v1", tags=["账本"])
ActorDep = Annotated[Actor, Depends(current_actor)]
Value = StrictStr | StrictBool | StrictInt
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
# The one route whose body may exceed the app's 1 MB limit (server.BodyLimit), with room for the form.
ATTACHMENT_PATH = re.compile(r"/api/v1/applications/[0-9]+/attachments")
ATTACHMENT_BODY_BYTES = MAX_ATTACHMENT_BYTES + 64 * 1024
ATTACHMENT_TYPES = {  # suffix -> (media type, the bytes such a file starts with)
    ".pdf": ("application/pdf", (b"%PDF-",)),
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    ".jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".ofd": ("application/ofd", (b"PK\x03\x04",)),
    ".docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", (b"PK\x03\x04",)),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (b"PK\x03\x04",)),
}


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewSubject(Body):
    id: StrictStr = Field(max_length=30, description="统一社会信用代码,或个人的居民身份证号码")
    kind: StrictStr = Field(max_length=30)
    name: StrictStr = Field(max_length=200)
    county: StrictStr | None = Field(None, max_length=20, description="吴兴区、南浔区、德清县、长兴县、安吉县、南太湖新区")


class Facts(Body):
    as_of: dt.date = Field(description="这些情况所属的日期(如 2025-06-30)")
    facts: dict[StrictStr, Value] = Field(max_length=200, description="规则读取的字段及其值,如 {\"service_fee\": \"300000\"}")


class NewApplication(Body):
    subject_id: StrictStr = Field(max_length=30)
    rule: StrictStr = Field(max_length=64)
    event: dict[StrictStr, Value] = Field(max_length=100, description="事件:date 及该事件类型的各字段(金额为十进制字符串)")


class Resubmission(Body):
    event: dict[StrictStr, Value] = Field(max_length=100)


class Decision(Body):
    decision: StrictStr = Field(description="approve | reject | return")
    amount: StrictStr | None = Field(None, description="核定金额(元,十进制字符串);确定金额与税收优惠可省略")
    reason: StrictStr = Field("", max_length=2000)


class NewObjection(Body):
    text: StrictStr = Field(max_length=2000)


class Resolution(Body):
    upheld: StrictBool
    note: StrictStr = Field(max_length=2000)


class DepartmentSettings(Body):
    publicity_days: StrictInt


# --------------------------------------------------------------------------- subjects and profiles


@router.post("/subjects", status_code=201)
def register_subject(request: Request, body: NewSubject, actor: ActorDep):
    state = ledger_state(request)

    def work(session):
        row = subjects.register_subject(session, state.pack, actor, body.id, body.kind, body.name, body.county)
        return 201, _subject(row, actor, reveal=True)

    return once(request, actor, body, work)


@router.get("/subjects/{subject_id}")
def read_subject(request: Request, subject_id: str, actor: ActorDep):
    with reading(ledger_state(request).factory) as session:
        row = subjects.subject_for(session, actor, subject_id)
        facts = subjects.profile(session, subject_id)
        return {
            **_subject(row, actor, reveal=actor.role is not Role.LEADERSHIP),
            "profile": {name: _fact(fact) for name, fact in sorted(facts.items())},
        }


@router.post("/subjects/{subject_id}/facts", status_code=201)
def add_facts(request: Request, subject_id: str, body: Facts, actor: ActorDep):
    state = ledger_state(request)

    def work(session):
        added = subjects.record_facts(session, state.pack, actor, subject_id, dict(body.facts), body.as_of)
        return 201, {"subject_id": subject_id, "added": [_fact(fact) for fact in added]}

    return once(request, actor, body, work)


@router.get("/subjects/{subject_id}/candidates")
def list_candidates(request: Request, subject_id: str, actor: ActorDep):
    """Every rule this subject's kind may claim, on its profile: eligible ones with the amount, by-measure
    ones with where the amount comes from, and why each other rule does not apply."""
    state = ledger_state(request)
    with reading(state.factory) as session:
        found = subjects.candidates(session, state.pack, actor, subject_id)
    return {"subject_id": subject_id, "candidates": [_candidate(state.pack, item) for item in found]}


# --------------------------------------------------------------------------- applications


@router.post("/applications", status_code=201)
def apply(request: Request, body: NewApplication, actor: ActorDep):
    state = ledger_state(request)

    def work(session):
        row = review.submit(session, state.pack, actor, body.subject_id, body.rule, dict(body.event))
        return 201, _application(session, row, actor)

    return once(request, actor, body, work)


@router.get("/applications")
def queue(
    request: Request,
    actor: ActorDep,
    status: Annotated[str | None, Query(max_length=20)] = None,
    department: Annotated[str | None, Query(max_length=50)] = None,
    rule: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
):
    with reading(ledger_state(request).factory) as session:
        rows = review.applications(session, actor, status=status, department=department, rule_id=rule, limit=limit, offset=offset)
        return {"applications": [_application(session, row, actor) for row in rows]}


@router.get("/applications/{application_id}")
def read_application(request: Request, application_id: int, actor: ActorDep):
    with reading(ledger_state(request).factory) as session:
        return _application(session, review.application_for(session, actor, application_id), actor, full=True)


@router.post("/applications/{application_id}/decision")
def decide(request: Request, application_id: int, body: Decision, actor: ActorDep):
    state = ledger_state(request)
    amount = money(body.amount, "amount") if body.amount is not None else None

    def work(session):
        row = review.decide(session, state.pack, actor, application_id, body.decision, amount=amount, reason=body.reason)
        data = _application(session, row, actor, full=True)
        award = session.scalars(select(t.Award).where(t.Award.application_id == row.id)).one_or_none()
        data["budget_warnings"] = review.budget_warnings(session, state.pack, award) if award is not None else []
        return 200, data

    return once(request, actor, body, work)


@router.post("/applications/{application_id}/withdraw")
def withdraw(request: Request, application_id: int, actor: ActorDep):
    def work(session):
        return 200, _application(session, review.withdraw(session, actor, application_id), actor)

    return once(request, actor, None, work)


@router.post("/applications/{application_id}/resubmit")
def resubmit(request: Request, application_id: int, body: Resubmission, actor: ActorDep):
    state = ledger_state(request)

    def work(session):
        return 200, _application(session, review.resubmit(session, state.pack, actor, application_id, dict(body.event)), actor)

    return once(request, actor, body, work)


@router.post("/applications/{application_id}/attachments", status_code=201)
def attach(request: Request, application_id: int, actor: ActorDep, file: Annotated[UploadFile, File()]):
    """Material for an application: stored under its SHA-256, its type checked by name and by content."""
    state = ledger_state(request)
    upload = checked_upload(file, state.files)

    def work(session):
        row = add_attachment(session, actor, application_id, upload)
        return 201, {"id": row.id, "filename": row.filename, "media_type": row.media_type, "size": row.size,
                     "sha256": row.sha256}

    return once(request, actor, {"application": application_id, "sha256": upload.sha256, "name": upload.name}, work)


@dataclass(frozen=True)
class Upload:
    """A file received and stored under its hash, its type checked (the API's and the pages' uploads alike)."""

    name: str
    media_type: str
    size: int
    sha256: str


def checked_upload(file: UploadFile, directory: Path) -> Upload:
    """Store an upload if its name has an allowed suffix and its content starts as such a file does."""
    name = Path(file.filename or "").name
    suffix = Path(name).suffix.lower()
    if suffix not in ATTACHMENT_TYPES or not 1 <= len(name) <= 200:
        raise Refused(422, f"file: 附件须为 {'、'.join(ATTACHMENT_TYPES)} 文件,文件名不超过 200 字;收到 {name!r}")
    media_type, magics = ATTACHMENT_TYPES[suffix]
    # The content is checked before anything is stored: a refused file leaves nothing behind.
    head = file.file.read(16)
    file.file.seek(0)
    if not head:
        raise Refused(422, "file: 附件为空")
    if not head.startswith(magics):
        raise Refused(422, f"file: {name} 的内容不是 {suffix} 文件")
    digest, size, _ = _store(file, directory)
    return Upload(name, media_type, size, digest)


def add_attachment(session, actor: Actor, application_id: int, upload: Upload) -> t.Attachment:
    """An uploaded file recorded as material of an application still open, by its own applicant."""
    application = review.application_for(session, actor, application_id)
    if actor.role is not Role.APPLICANT or application.status not in review.OPEN:
        raise Refused(409, "只有申报主体可以在决定之前为本申请上传材料")
    row = t.Attachment(application_id=application_id, filename=upload.name, media_type=upload.media_type,
                       size=upload.size, sha256=upload.sha256)
    session.add(row)
    audit.record(session, actor.username, "attachment.add", row)
    return row


def _store(file: UploadFile, directory: Path) -> tuple[str, int, Path]:
    """Copy the upload into the store under its hash (written to a temporary name, then renamed)."""
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as out:
            while chunk := file.file.read(1 << 20):
                size += len(chunk)
                if size > MAX_ATTACHMENT_BYTES:
                    raise Refused(413, f"file: 附件不能超过 {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB")
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise Refused(422, "file: 附件为空")
        final = directory / digest.hexdigest()[:2] / digest.hexdigest()
        final.parent.mkdir(exist_ok=True)
        os.replace(temporary, final)
        return digest.hexdigest(), size, final
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


# --------------------------------------------------------------------------- awards, 公示 and objections


@router.get("/awards")
def list_awards(
    request: Request,
    actor: ActorDep,
    status: Annotated[str | None, Query(max_length=20)] = None,
    department: Annotated[str | None, Query(max_length=50)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
):
    with reading(ledger_state(request).factory) as session:
        rows = review.awards(session, actor, status=status, department=department, limit=limit, offset=offset)
        return {"awards": [_award(award, subject, actor) for award, subject in rows]}


@router.get("/awards/{award_id}")
def read_award(request: Request, award_id: int, actor: ActorDep):
    with reading(ledger_state(request).factory) as session:
        row = session.get(t.Award, award_id)
        if row is None or not review.may_see(actor, row.subject_id, row.department):
            raise Refused(404, f"没有奖补 {award_id}")
        return {**_award(row, session.get(t.Subject, row.subject_id), actor), "trace": row.trace, "clause": row.clause}


@router.get("/publicity")
def publicity_list(request: Request, department: Annotated[str | None, Query(max_length=50)] = None):
    """兑前公示: public, no sign-in; identity numbers masked."""
    state = ledger_state(request)
    with reading(state.factory) as session:
        rows = review.publicity(session, department)
        return {
            "awards": [
                {
                    "id": row.id,
                    "subject": subject.name,
                    "subject_id": mask_identity(subject.id),
                    "benefit": state.pack.rule(row.rule_id).spec.title,
                    "article": row.article,
                    "department": row.department,
                    "amount": _yuan(row.amount),
                    "status": review.STATUS_NAMES[row.status],
                    "until": row.publicity_until.isoformat(),
                }
                for row, subject in rows
            ]
        }


@router.post("/awards/{award_id}/objections", status_code=201)
def raise_objection(request: Request, award_id: int, body: NewObjection, actor: ActorDep):
    def work(session):
        row = review.object_to(session, actor, award_id, body.text)
        return 201, {"id": row.id, "award_id": award_id, "status": "held"}

    return once(request, actor, body, work)


@router.post("/objections/{objection_id}/resolution")
def resolve(request: Request, objection_id: int, body: Resolution, actor: ActorDep):
    def work(session):
        row = review.resolve_objection(session, actor, objection_id, body.upheld, body.note)
        return 200, {"id": row.id, "award_id": row.award_id, "resolution": row.resolution}

    return once(request, actor, body, work)


@router.put("/departments/{name}")
def department_settings(request: Request, name: str, body: DepartmentSettings, actor: ActorDep):
    state = ledger_state(request)

    def work(session):
        row = review.set_publicity_days(session, state.pack, actor, name, body.publicity_days)
        return 200, {"name": row.name, "publicity_days": row.publicity_days}

    return once(request, actor, body, work)


# --------------------------------------------------------------------------- shapes


def _reveal(actor: Actor, subject_id: str, department: str | None) -> bool:
    """The whole identity number: to the person, and to the reviewer of their case."""
    if actor.role is Role.APPLICANT:
        return actor.subject_id == subject_id
    return actor.role is Role.REVIEWER and department is not None and actor.department == department


def _subject(row: t.Subject, actor: Actor, reveal: bool) -> dict[str, Any]:
    shown = row.id if reveal and (actor.role is not Role.APPLICANT or actor.subject_id == row.id) else mask_identity(row.id)
    return {"id": shown, "kind": row.kind, "name": row.name, "county": row.county}


def _fact(fact: t.ProfileFact) -> dict[str, Any]:
    return {"field": fact.field, "value": fact.value, "source": fact.source, "as_of": fact.as_of.isoformat()}


def _candidate(pack, item: subjects.Candidate) -> dict[str, Any]:
    rule = item.rule
    entitlement = item.entitlement
    return {
        "rule": rule.id,
        "title": rule.spec.title,
        "article": rule.spec.article,
        "department": subjects.department_of(rule),
        "kind": rule.spec.kind.value,
        "status": item.status,
        "verdict": entitlement.verdict.value if entitlement else None,
        "verdict_label": VERDICTS[entitlement.verdict] if entitlement else None,
        "amount": _yuan(entitlement.amount) if entitlement else None,
        "amount_by": rule.spec.amount_by,
        "result": rule.spec.result,
        "reason": item.reason,
        "trace": list(entitlement.trace) if entitlement else [],
        "clause": to_simplified(pack.document.text[rule.clause_span[0] : rule.clause_span[1]]),
    }


def _application(session, row: t.Application, actor: Actor, full: bool = False) -> dict[str, Any]:
    subject = session.get(t.Subject, row.subject_id)
    shown = row.subject_id if _reveal(actor, row.subject_id, row.department) else mask_identity(row.subject_id)
    data = {
        "id": row.id,
        "subject_id": shown,
        "subject": subject.name if subject else None,
        "rule": row.rule_id,
        "article": row.article,
        "department": row.department,
        "event_date": row.event_date.isoformat(),
        "status": row.status,
        "status_label": review.STATUS_NAMES[row.status],
        "verdict": row.verdict,
        "ceiling": _yuan(row.ceiling),
        "reason": row.reason,
        "submitted_at": row.submitted_at.isoformat(),
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
    }
    if full:
        award = session.query(t.Award).filter(t.Award.application_id == row.id).one_or_none()
        data.update(event=row.event_values, trace=row.trace, clause=row.clause,
                    award=_award(award, subject, actor) if award else None,
                    attachments=[{"id": a.id, "filename": a.filename, "size": a.size, "sha256": a.sha256}
                                 for a in session.query(t.Attachment).filter(t.Attachment.application_id == row.id)])
    return data


def _award(row: t.Award, subject: t.Subject, actor: Actor) -> dict[str, Any]:
    shown = row.subject_id if _reveal(actor, row.subject_id, row.department) else mask_identity(row.subject_id)
    return {
        "id": row.id,
        "subject_id": shown,
        "subject": subject.name,
        "rule": row.rule_id,
        "article": row.article,
        "area": row.area,
        "department": row.department,
        "county": row.county,
        "year": row.year,
        "verdict": row.verdict,
        "verdict_label": VERDICTS[Kind(row.verdict)],
        "cash": row.cash,
        "amount": _yuan(row.amount),
        "ceiling": _yuan(row.ceiling),
        "status": row.status,
        "status_label": review.STATUS_NAMES[row.status],
        "publicity_until": row.publicity_until.isoformat() if row.publicity_until else None,
        "application_id": row.application_id,
        "proposal_id": row.proposal_id,
    }


def _yuan(value) -> str | None:
    return None if value is None else f"{value:.2f}"
