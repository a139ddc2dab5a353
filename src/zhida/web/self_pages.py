"""Self-service for an enterprise, incubator or resident: profile, candidates, applying with attachments,
status; and the public 兑前公示 list.

    GET  /me                                 the subject, its profile in short, every candidate benefit
    GET  /me/profile | POST /me/profile      the facts the rules read, and new values declared
    GET  /me/apply?rule=.. | POST /me/apply  apply for one rule, with attachments (multipart)
    GET  /me/applications                    my applications, their status and amounts
    GET  /me/applications/{id}               status history, decision, award, 公示 and payment ("已兑现")
    POST /me/applications/{id}/withdraw | /resubmit | /attachments
    GET  /publicity[?department=]            兑前公示: public, identity numbers masked
    GET  /publicity/{award}/objection | POST the same: object during 公示 (signed in)

Every page reads through the ledger's own functions (subjects.py, review.py), as the JSON API
(review_api.py) does; files are taken by the API's checks (review_api.checked_upload). Another
subject's application is a 404, never a 403: its existence is not disclosed.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData, UploadFile

from zhida.engine.calculate import VERDICTS
from zhida.engine.case import CaseError, read_value
from zhida.engine.money_text import describe
from zhida.ledger import review, subjects
from zhida.ledger import tables as t
from zhida.ledger.access import Refused, Role
from zhida.ledger.accounts import lead_departments
from zhida.ledger.database import reading
from zhida.ledger.identity import mask_identity
from zhida.ledger.payments import article_label
from zhida.rules.model import EventField, FieldType, Kind, Rule
from zhida.rules.pack import Pack
from zhida.web import access
from zhida.web.review_api import ATTACHMENT_TYPES, MAX_ATTACHMENT_BYTES, Upload, add_attachment, checked_upload
from zhida.web.site import Viewer, guarded, redirect, render, signed_in_page, viewer, yuan

router = APIRouter(include_in_schema=False)

# Pages that take an attachment (multipart): BodyLimit lets these through up to the attachment bound.
UPLOAD_PATH = re.compile(r"/me/apply|/me/applications/[0-9]{1,9}/(attachments|resubmit)")

APPLICABLE = ("eligible", "by_measure", "qualification")
# Why a candidate does not apply, as a heading of its group on /me (in candidates' order).
NOT_APPLICABLE = {
    "outside_validity": "不在政策有效期内",
    "needs_facts": "需补充企业档案",
    "not_met": "条件尚不满足",
    "not_for_kind": "不适用于本主体类型",
}
SOURCE_NAMES = {"declared": "自行申报", "imported": "部门导入", "confirmed": "部门确认"}
PAID = "已兑现"
MAX_TEXT = 200  # a profile value is at most this long (tables.ProfileFact.value)
ACCEPT = ",".join(ATTACHMENT_TYPES)
MONEY_HINT = "单位元,可写 300000 或 300,000、30万、0.3亿"
ATTACHMENT_HINT = (f"可上传 {'、'.join(s.lstrip('.').upper() for s in ATTACHMENT_TYPES)} 文件,"
                   f"合计不超过 {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB")


# --------------------------------------------------------------------------- who is asking


def _applicant(request: Request) -> Viewer:
    """The signed-in applicant with its subject (admin passes the role check but has no subject)."""
    who = signed_in_page(request, Role.APPLICANT)
    if who.actor.subject_id is None:
        raise Refused(403, f"账号 {who.actor.username} 未关联申报主体,不能使用自助申报页面")
    return who


def _state(request: Request):
    return access.ledger_state(request)


# --------------------------------------------------------------------------- values as people type them


def read_field(event_field: EventField, raw: str) -> str | bool:
    """One typed value, checked as a case's would be, in the form a case writes it; Refused naming the field."""
    title = event_field.title
    if len(raw) > MAX_TEXT:
        raise Refused(422, f"{title}: 至多 {MAX_TEXT} 个字")
    if event_field.type is FieldType.FLAG:
        if raw not in ("true", "false"):
            raise Refused(422, f"{title}: 请选择“是”或“否”")
        return raw == "true"
    if event_field.type is FieldType.MONEY:
        raw = f"{access.money(raw, title)}"
    try:
        value = read_value(event_field, raw, title)
    except CaseError as error:
        raise Refused(422, str(error)) from None
    return f"{value}"


def read_fields(fields: list[EventField], form: FormData, *, required: bool) -> dict[str, str | bool]:
    """The typed values of `fields` (all of them when `required`, else those filled in)."""
    values: dict[str, str | bool] = {}
    for event_field in fields:
        raw = str(form.get(event_field.name, "")).strip()
        if not raw:
            if required:
                raise Refused(422, f"{event_field.title}: 请填写")
            continue
        values[event_field.name] = read_field(event_field, raw)
    return values


def read_date(text: str, title: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise Refused(422, f"{title}: 须为日期,如 2025-06-30;收到 {text.strip()[:40]!r}") from None
    if not dt.date(2000, 1, 1) <= day <= dt.date(2099, 12, 31):
        raise Refused(422, f"{title}: 须在 2000 年至 2099 年之间")
    return day


def typed(form: FormData) -> dict[str, str]:
    """What the user typed, to fill the form again after a refusal."""
    return {name: value for name, value in form.multi_items() if isinstance(value, str)}


def uploads(form: FormData) -> list[UploadFile]:
    return [item for item in form.getlist("files") if isinstance(item, UploadFile) and item.filename]


def store_uploads(state, files: list[UploadFile]) -> list[Upload]:
    """Every chosen file stored and checked, or Refused (413 too big, 422 wrong type) for the first bad one."""
    return [checked_upload(file, state.files) for file in files]


# --------------------------------------------------------------------------- what the pages show


@dataclass(frozen=True)
class CandidateView:
    rule: Rule
    status: str
    amount: str  # 最高可得 150,000.00 元 / 可申请,金额按…执行 / 资格:…
    department: str
    reason: str


def candidate_view(pack: Pack, item: subjects.Candidate, facts: dict[str, t.ProfileFact]) -> CandidateView:
    return CandidateView(item.rule, item.status, amount_text(item.rule, item.entitlement),
                         subjects.department_of(item.rule), reason_text(pack, item, facts))


# The words of a rule's condition for people, in place of the SQL operators it is written in.
_OPERATORS = ((" AND ", " 且 "), (" OR ", " 或 "), (" NOT IN ", " 不属于 "), (" IN ", " 属于 "), ("<>", "≠"),
              (">=", "≥"), ("<=", "≤"), ("TRUE", "是"), ("FALSE", "否"), (" * ", " × "))


def reason_text(pack: Pack, item: subjects.Candidate, facts: dict[str, t.ProfileFact]) -> str:
    """Why a rule does not apply, naming fields by their Chinese titles (the ledger's reason names them by key)."""
    fields = {f.name: f for f in event_fields(pack, item.rule)}
    if item.status == "needs_facts":
        return "需补充:" + "、".join(f.title for name, f in fields.items() if name not in facts)
    if item.status == "not_met":
        parts = list(item.rule.when.template)
        for index in range(1, len(parts), 2):
            parts[index] = fields[parts[index]].title if parts[index] in fields else parts[index]
        condition = "".join(parts)
        for code, words in _OPERATORS:
            condition = condition.replace(code, words)
        return f"条件不满足:{condition}"
    return item.reason


def amount_text(rule: Rule, entitlement) -> str:
    """What a benefit is worth, in the calculator's own words, amounts thousands-separated."""
    kind = rule.spec.kind
    if kind is Kind.BY_MEASURE:
        return f"可申请,金额按{rule.spec.amount_by or '配套政策'}执行"
    if kind is Kind.QUALIFICATION:
        return f"资格:{rule.spec.result}" if rule.spec.result else "资格认定"
    if entitlement is None or entitlement.amount is None:
        return VERDICTS[kind]
    return f"{VERDICTS[entitlement.verdict]} {yuan(entitlement.amount)} 元"


def rule_or_404(pack: Pack, rule_id: str) -> Rule:
    try:
        return pack.rule(rule_id)
    except KeyError:
        raise Refused(404, f"没有规则 {rule_id[:80]!r};可申请的事项见“我的政策”") from None


def shown_value(event_field: EventField | None, value: str) -> str:
    """A stored value for people: money thousands-separated in 元, flags 是/否."""
    if event_field is None:
        return value
    if event_field.type is FieldType.MONEY:
        return describe(Decimal(value))
    if event_field.type is FieldType.FLAG:
        return "是" if value == "true" else "否"
    return f"{value} {event_field.unit}".strip()


def event_fields(pack: Pack, rule: Rule) -> list[EventField]:
    return list(pack.events[rule.spec.event].fields)


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """`render` with what these pages' templates share: the document's article labels, local times, hints."""
    return render(request, name, {"article": article_label, "money_hint": MONEY_HINT, **context},
                  status)


# --------------------------------------------------------------------------- /me


@router.get("/me", response_class=HTMLResponse)
def me(request: Request) -> HTMLResponse:
    who = _applicant(request)
    state = _state(request)
    with reading(state.factory) as session:
        subject = subjects.subject_for(session, who.actor, who.actor.subject_id)
        facts = subjects.profile(session, subject.id)
        found = [candidate_view(state.pack, item, facts)
                 for item in subjects.candidates(session, state.pack, who.actor, subject.id)]
        claimed = claims_by_rule(session, who)
    groups = [(label, [c for c in found if c.status == status]) for status, label in NOT_APPLICABLE.items()]
    return _page(request, "me.html", {
        "viewer": who,
        "subject": subject,
        "code": mask_identity(subject.id),
        "kind_name": state.pack.subjects.get(subject.kind, subject.kind),
        "fact_count": len(facts),
        "latest": max((fact.as_of for fact in facts.values()), default=None),
        "applicable": [c for c in found if c.status in APPLICABLE],
        "groups": [(label, items) for label, items in groups if items],
        "claimed": claimed,
    })


# An application that still stands (not withdrawn, not rejected): its rule's candidate says so.
STANDING = ("submitted", "returned", "approved")


def claims_by_rule(session, who: Viewer) -> dict[str, list[tuple[int, str]]]:
    """The subject's standing applications by rule, as (id, status name): a candidate's amount is the
    room its caps leave, so an event already claimed must not read as money still on offer."""
    rows = [row for row in review.applications(session, who.actor, limit=500) if row.status in STANDING]
    awards = {award.application_id: award for award, _ in review.awards(session, who.actor, limit=500)}
    claimed: dict[str, list[tuple[int, str]]] = {}
    for row in rows:
        claimed.setdefault(row.rule_id, []).append((row.id, status_name(row, awards.get(row.id))))
    return claimed


# --------------------------------------------------------------------------- /me/profile


@dataclass(frozen=True)
class ProfileGroup:
    title: str  # the event type's title
    fields: list[EventField]


def profile_groups(pack: Pack, kind: str) -> list[ProfileGroup]:
    """The fields the rules read for this kind of subject, each once, grouped by the event that carries it."""
    seen: set[str] = set()
    groups = []
    for event_type in pack.events.values():
        if kind not in event_type.subjects:
            continue
        fresh = [f for f in event_type.fields if f.name not in seen]
        seen.update(f.name for f in fresh)
        if fresh:
            groups.append(ProfileGroup(event_type.title, fresh))
    return groups


@router.get("/me/profile", response_class=HTMLResponse)
def profile_page(request: Request) -> HTMLResponse:
    saved = "已保存:新的数值已记入档案,候选政策随之更新" if request.query_params.get("saved") else None
    return _profile(request, _applicant(request), notice=saved)


def _profile(request: Request, who: Viewer, typed_values: dict[str, str] | None = None, error: str | None = None,
             status: int = 200, notice: str | None = None) -> HTMLResponse:
    state = _state(request)
    with reading(state.factory) as session:
        subject = subjects.subject_for(session, who.actor, who.actor.subject_id)
        facts = subjects.profile(session, subject.id)
    known = subjects.fields_of(state.pack)
    current = {name: (shown_value(known.get(name), fact.value), SOURCE_NAMES.get(fact.source, fact.source), fact.as_of)
               for name, fact in facts.items()}
    return _page(request, "me_profile.html", {
        "viewer": who, "subject": subject, "groups": profile_groups(state.pack, subject.kind), "current": current,
        "typed": typed_values or {"as_of": dt.date.today().isoformat()}, "error": error, "notice": notice,
    }, status)


@router.post("/me/profile", response_class=HTMLResponse)
async def profile_post(request: Request) -> Response:
    async with request.form() as form:
        return await anyio.to_thread.run_sync(partial(_save_profile, request, form))


def _save_profile(request: Request, form: FormData) -> Response:
    who = _applicant(request)
    state = _state(request)
    try:
        as_of = read_date(str(form.get("as_of", "")), "数据日期")
        with reading(state.factory) as session:
            kind = subjects.subject_for(session, who.actor, who.actor.subject_id).kind
        fields = [f for group in profile_groups(state.pack, kind) for f in group.fields]
        facts = read_fields(fields, form, required=False)
        if not facts:
            raise Refused(422, "请至少填写一项新的数值")
        def work(session):
            added = subjects.record_facts(session, state.pack, who.actor, who.actor.subject_id, facts, as_of)
            return 201, [fact.id for fact in added]

        guarded(request, form, who, work)
    except Refused as refusal:
        return _profile(request, who, typed(form), refusal.message, refusal.status)
    return redirect("/me/profile?saved=1")


# --------------------------------------------------------------------------- /me/apply


@router.get("/me/apply", response_class=HTMLResponse)
def apply_page(request: Request, rule: str = "") -> HTMLResponse:
    who = _applicant(request)
    state = _state(request)
    found = rule_or_404(state.pack, rule)
    with reading(state.factory) as session:
        subject = subjects.subject_for(session, who.actor, who.actor.subject_id)
        facts = subjects.profile(session, subject.id)
    _for_kind(state.pack, found, subject.kind)
    known = {f.name: f for f in event_fields(state.pack, found)}
    filled = {name: fact.value for name, fact in facts.items() if name in known}
    dates = [facts[name].as_of for name in known if name in facts]
    filled["date"] = (max(dates) if dates else dt.date.today()).isoformat()
    return _apply_form(request, who, found, filled)


def _for_kind(pack: Pack, rule: Rule, kind: str) -> None:
    if kind not in rule.spec.subject:
        kinds = "、".join(pack.subjects[k] for k in rule.spec.subject)
        raise Refused(422, f"{rule.spec.title}仅适用于{kinds},不能由本主体申请")


def _apply_form(request: Request, who: Viewer, rule: Rule, typed_values: dict[str, str], error: str | None = None,
                status: int = 200) -> HTMLResponse:
    pack = _state(request).pack
    return _page(request, "me_apply.html", {
        "viewer": who, "rule": rule, "fields": event_fields(pack, rule),
        "department": subjects.department_of(rule), "event_title": pack.events[rule.spec.event].title,
        "typed": typed_values, "error": error, "accept": ACCEPT, "attachment_hint": ATTACHMENT_HINT,
        "amount_by": amount_text(rule, None) if rule.spec.kind in (Kind.BY_MEASURE, Kind.QUALIFICATION) else "",
    }, status)


@router.post("/me/apply", response_class=HTMLResponse)
async def apply_post(request: Request) -> Response:
    async with request.form() as form:
        return await anyio.to_thread.run_sync(partial(_apply, request, form))


def _apply(request: Request, form: FormData) -> Response:
    who = _applicant(request)
    state = _state(request)
    rule = rule_or_404(state.pack, str(form.get("rule", "")))
    try:
        event = _event(state.pack, rule, form)
        files = store_uploads(state, uploads(form))

        def work(session):
            row = review.submit(session, state.pack, who.actor, who.actor.subject_id, rule.id, event)
            for upload in files:
                add_attachment(session, who.actor, row.id, upload)
            return 201, {"id": row.id}

        answer = guarded(request, form, who, work)
    except Refused as refusal:
        return _apply_form(request, who, rule, typed(form), _with_files_note(refusal, form), refusal.status)
    return redirect(f"/me/applications/{answer['id']}?done=submitted")


def _event(pack: Pack, rule: Rule, form: FormData) -> dict[str, Any]:
    day = read_date(str(form.get("date", "")), "发生日期")
    return {"date": day.isoformat(), **read_fields(event_fields(pack, rule), form, required=True)}


def _with_files_note(refusal: Refused, form: FormData) -> str:
    """A refusal's sentence; the browser forgets chosen files, so say they must be chosen again."""
    return refusal.message + (";请重新选择附件" if uploads(form) else "")


# --------------------------------------------------------------------------- /me/applications


@dataclass(frozen=True)
class ApplicationRow:
    application: t.Application
    title: str
    status: str  # the status name, 已兑现 once its award is paid
    award: t.Award | None


def status_name(application: t.Application, award: t.Award | None) -> str:
    if award is None:
        return review.STATUS_NAMES[application.status]
    if award.status == "paid":
        return PAID
    return review.STATUS_NAMES[award.status]


def _title(pack: Pack, rule_id: str) -> str:
    try:
        return pack.rule(rule_id).spec.title
    except KeyError:
        return rule_id


@router.get("/me/applications", response_class=HTMLResponse)
def my_applications(request: Request) -> HTMLResponse:
    who = _applicant(request)
    state = _state(request)
    with reading(state.factory) as session:
        rows = review.applications(session, who.actor, limit=500)
        awards = {award.application_id: award for award, _ in review.awards(session, who.actor, limit=500)}
    shown = [ApplicationRow(row, _title(state.pack, row.rule_id), status_name(row, awards.get(row.id)),
                            awards.get(row.id)) for row in rows]
    return _page(request, "me_applications.html", {"viewer": who, "rows": shown, "paid": PAID})


def _application_id(text: str) -> int:
    """An application number from a URL: anything but a plain number is no application (404, not 422)."""
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise Refused(404, f"没有申请 {text[:40]}")
    return int(text)


@dataclass(frozen=True)
class Step:
    at: dt.datetime | dt.date | None
    what: str
    note: str = ""


def history(changes: list[review.Change], award: t.Award | None, objections: list[t.Objection],
            payments: list[tuple[t.Payment, t.PaymentBatch]]) -> list[Step]:
    """What happened to an application: each submission and decision (its audit entries, one indexed read),
    then its award, objections and payments (from their rows' timestamps)."""
    steps = [Step(change.at, review.CHANGE_NAMES[change.action],
                  "" if change.action in ("submit", "resubmit") else change.state.get("reason") or "")
             for change in changes]
    if award is not None:
        if award.cash:
            steps.append(Step(award.decided_at, f"核定 {yuan(award.amount)} 元,进入兑前公示",
                              f"公示至 {award.publicity_until.isoformat()}" if award.publicity_until else ""))
        else:
            steps.append(Step(award.decided_at, review.STATUS_NAMES["granted"]))
        for objection in objections:
            steps.append(Step(objection.raised_at, "公示期间收到异议,暂停"))
            if objection.resolved_at:
                outcome = "异议成立,奖补撤销" if objection.resolution == "upheld" else "异议不成立,恢复公示"
                steps.append(Step(objection.resolved_at, outcome, objection.note or ""))
        for payment, batch in payments:
            steps.append(Step(batch.created_at, f"进入拨付批次 {batch.id}"))
            if payment.marked_at:
                what = f"已拨付 {yuan(payment.amount)} 元" if payment.status == "paid" else "拨付失败"
                steps.append(Step(payment.marked_at, what, payment.bank_reason or ""))
    return steps


def _application_context(request: Request, who: Viewer, application_id: str) -> dict[str, Any]:
    state = _state(request)
    number = _application_id(application_id)
    with reading(state.factory) as session:
        row = review.application_for(session, who.actor, number)
        award = session.scalars(select(t.Award).where(t.Award.application_id == row.id)).one_or_none()
        objections = list(session.scalars(select(t.Objection).where(t.Objection.award_id == award.id)
                                          .order_by(t.Objection.id))) if award else []
        payments = [(p, b) for p, b in session.execute(
            select(t.Payment, t.PaymentBatch).join(t.PaymentBatch, t.PaymentBatch.id == t.Payment.batch_id)
            .where(t.Payment.award_id == award.id).order_by(t.Payment.id))] if award else []
        attachments = list(session.scalars(select(t.Attachment).where(t.Attachment.application_id == row.id)
                                           .order_by(t.Attachment.id)))
        changes = review.application_changes(session, row.id)
        session.expunge_all()
    rule = rule_or_404(state.pack, row.rule_id)
    known = {f.name: f for f in event_fields(state.pack, rule)}
    return {
        "viewer": who, "application": row, "rule": rule, "award": award, "attachments": attachments,
        "status": status_name(row, award), "paid": PAID, "fields": list(known.values()),
        "event": [(known[name].title if name in known else name, shown_value(known.get(name), str(value)))
                  for name, value in row.event_values.items() if name != "date"],
        "verdict": VERDICTS[Kind(row.verdict)] if row.verdict else "",
        "steps": history(changes, award, objections, payments),
        "award_status": "" if award is None else PAID if award.status == "paid" else review.STATUS_NAMES[award.status],
        "open": row.status in review.OPEN, "returned": row.status == "returned",
        "typed": {"date": row.event_date.isoformat(), **{k: str(v).lower() if isinstance(v, bool) else str(v)
                                                          for k, v in row.event_values.items()}},
        "accept": ACCEPT, "attachment_hint": ATTACHMENT_HINT, "error": None,
        "notice": "申请已提交,等待牵头部门审核" if request.query_params.get("done") == "submitted" else None,
    }


@router.get("/me/applications/{application_id}", response_class=HTMLResponse)
def my_application(request: Request, application_id: str) -> HTMLResponse:
    who = _applicant(request)
    return _page(request, "me_application.html", _application_context(request, who, application_id))


def _detail_again(request: Request, who: Viewer, application_id: str, refusal: Refused, form: FormData) -> HTMLResponse:
    context = _application_context(request, who, application_id)
    context.update(error=_with_files_note(refusal, form), typed=typed(form) or context["typed"], notice=None)
    return _page(request, "me_application.html", context, refusal.status)


@router.post("/me/applications/{application_id}/withdraw", response_class=HTMLResponse)
async def withdraw_post(request: Request, application_id: str) -> Response:
    async with request.form() as form:
        return await anyio.to_thread.run_sync(partial(_change, request, form, application_id, "withdraw"))


@router.post("/me/applications/{application_id}/resubmit", response_class=HTMLResponse)
async def resubmit_post(request: Request, application_id: str) -> Response:
    async with request.form() as form:
        return await anyio.to_thread.run_sync(partial(_change, request, form, application_id, "resubmit"))


@router.post("/me/applications/{application_id}/attachments", response_class=HTMLResponse)
async def attachments_post(request: Request, application_id: str) -> Response:
    async with request.form() as form:
        return await anyio.to_thread.run_sync(partial(_change, request, form, application_id, "attach"))


def _change(request: Request, form: FormData, application_id: str, change: str) -> Response:
    """Withdraw, resubmit (with material) or add material to one's own application."""
    who = _applicant(request)
    state = _state(request)
    number = _application_id(application_id)
    with reading(state.factory) as session:
        rule_id = review.application_for(session, who.actor, number).rule_id  # 404 for another's
    try:
        if change == "withdraw":
            work = lambda session: (200, review.withdraw(session, who.actor, number).id)  # noqa: E731
        else:
            event = _event(state.pack, rule_or_404(state.pack, rule_id), form) if change == "resubmit" else None
            files = store_uploads(state, uploads(form))
            if change == "attach" and not files:
                raise Refused(422, "附件: 请选择要上传的文件")

            def work(session):
                if event is not None:
                    review.resubmit(session, state.pack, who.actor, number, event)
                for upload in files:
                    add_attachment(session, who.actor, number, upload)
                return 200, number

        guarded(request, form, who, work)
    except Refused as refusal:
        return _detail_again(request, who, application_id, refusal, form)
    return redirect(f"/me/applications/{number}")


# --------------------------------------------------------------------------- /publicity


@dataclass(frozen=True)
class PublicityRow:
    award: t.Award
    subject: str
    code: str
    title: str


PUBLICITY_PAGE = 100  # rows a page of /publicity (thousands are on 公示 at 1M awards)


@router.get("/publicity", response_class=HTMLResponse)
def publicity_page(request: Request, department: str = "", page: str = "1") -> HTMLResponse:
    """One page of the 公示 list: a row more than shown is read to know whether a next page exists
    (no count of the whole list). A page that is not a number, or past the end, is not found."""
    state = _state(request)
    department = department.strip()[:50]
    if not (page.isascii() and page.isdigit() and len(page) <= 6 and int(page) >= 1):
        raise Refused(404, f"兑前公示没有第 {page[:20]} 页")
    number = int(page)
    with reading(state.factory) as session:
        rows = review.publicity(session, department or None, limit=PUBLICITY_PAGE + 1,
                                offset=(number - 1) * PUBLICITY_PAGE)
    if number > 1 and not rows:
        raise Refused(404, f"兑前公示没有第 {number} 页")
    shown = [PublicityRow(award, subject.name, mask_identity(subject.id), _title(state.pack, award.rule_id))
             for award, subject in rows[:PUBLICITY_PAGE]]
    notice = "异议已提交,该项奖补暂停拨付,由牵头部门核查" if request.query_params.get("objected") else None
    return _page(request, "publicity.html", {
        "rows": shown, "department": department, "departments": sorted(lead_departments(state.pack)),
        "status_names": review.STATUS_NAMES, "notice": notice, "signed_in": viewer(request) is not None,
        "page": number, "first": (number - 1) * PUBLICITY_PAGE + 1,
        "previous": _publicity_url(department, number - 1) if number > 1 else None,
        "next": _publicity_url(department, number + 1) if len(rows) > PUBLICITY_PAGE else None,
    })


def _publicity_url(department: str, page: int) -> str:
    """The list's address for another page, the department filter kept (encoded as query data)."""
    return "/publicity?" + urlencode({"department": department, "page": page} if department else {"page": page})


def _publicised(session, award_id: str) -> t.Award:
    """An award on 公示 now (or held by an objection); anything else is no such entry."""
    if not (award_id.isascii() and award_id.isdigit() and len(award_id) <= 9):
        raise Refused(404, f"公示中没有奖补 {award_id[:40]}")
    row = session.get(t.Award, int(award_id))
    if row is None or row.status not in ("publicity", "held") or row.publicity_until < dt.date.today():
        raise Refused(404, f"公示中没有奖补 {award_id}")
    return row


@router.get("/publicity/{award_id}/objection", response_class=HTMLResponse)
def objection_page(request: Request, award_id: str) -> HTMLResponse:
    return _objection_form(request, signed_in_page(request), award_id)


def _objection_form(request: Request, who: Viewer, award_id: str, text: str = "", error: str | None = None,
                    status: int = 200) -> HTMLResponse:
    state = _state(request)
    with reading(state.factory) as session:
        award = _publicised(session, award_id)
        subject = session.get(t.Subject, award.subject_id)
        session.expunge_all()
    return _page(request, "publicity_objection.html", {
        "viewer": who, "award": award, "subject": subject.name, "code": mask_identity(subject.id),
        "title": _title(state.pack, award.rule_id), "text": text, "error": error,
    }, status)


@router.post("/publicity/{award_id}/objection", response_class=HTMLResponse)
async def objection_post(request: Request, award_id: str) -> Response:
    async with request.form() as form:
        return await anyio.to_thread.run_sync(partial(_object, request, form, award_id))


def _object(request: Request, form: FormData, award_id: str) -> Response:
    who = signed_in_page(request)
    state = _state(request)
    text = str(form.get("text", ""))
    with reading(state.factory) as session:
        number = _publicised(session, award_id).id
    try:
        if not text.strip() or len(text) > 2000:
            raise Refused(422, "异议理由: 须写明理由,不超过 2000 字")
        guarded(request, form, who, lambda session: (201, review.object_to(session, who.actor, number, text).id))
    except Refused as refusal:
        return _objection_form(request, who, award_id, text, refusal.message, refusal.status)
    return redirect("/publicity?objected=1")
