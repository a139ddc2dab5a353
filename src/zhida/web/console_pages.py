"""The department console: its rules and budget, the review queue, the case view, decisions, 免申即享 proposals, targets and progress.

    GET  /console                                   the department's rules (applications waiting, cash committed
                                                    and paid), its areas' budgets with the 70/90% warnings
    GET  /console/queue                             its applications: filters (status, rule, county, dates,
                                                    subject name or code), 50 a page, newest first, in SQL
    GET  /console/applications/{id}                 the case: subject, profile facts used, attachments,
                                                    the calculator's trace beside the clause, history, decision
    POST /console/applications/{id}/decision        approve (amount: 300000, 300,000, 30万, 0.3亿) | reject | return
    GET  /console/applications/{id}/attachments/{n} an attachment, downloaded
    GET  /console/proposals, POST /console/proposals 免申即享: list, confirm or dismiss many at once
    GET  /console/targets, POST /console/targets/assignments/{id}/progress
    GET  /console/budget                            the areas' budgets by rule and county

A reviewer sees its own department (lead department of the rule, Simplified); admin sees all, or
one with ?department=. Only a reviewer of the department decides (ledger/review.py says so too).
Every change goes through `site.guarded` (CSRF field, once-only key) and answers 303 to a GET page;
that page reads the change's stored answer by its `once` key (?done=) for the notice and the
results (budget warnings, a bulk confirmation's refusals). A refusal re-renders the form with the
ledger's sentence and what was typed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from zhida.engine.calculate import VERDICTS
from zhida.engine.money_text import describe
from zhida.ledger import budgets, proposals, review, subjects, targets
from zhida.ledger import tables as t
from zhida.ledger.access import Actor, Refused, Role
from zhida.ledger.accounts import lead_departments
from zhida.ledger.database import reading
from zhida.ledger.identity import COUNTIES, mask_identity, normalise_code
from zhida.rules.model import Kind, Rule
from zhida.rules.pack import Pack
from zhida.source.script import to_simplified
from zhida.web import access
from zhida.web.site import BEIJING, Viewer, guarded, local_time, redirect, render, signed_in_page

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
MAX_PAGE = 200_000  # 10M rows: beyond any queue, and an offset a database still answers
COUNT_CAP = 10_000  # a queue counts up to here, then says "more than"
NAMED_SUBJECTS = 1_000  # a name search that finds more subjects reads the queue newest first instead of by subject
SUBJECT_COUNT_CAP = 1_000  # … and only up to here when it filters on the subject (county, name): each row is tested on its subject
APPLICATION_STATUSES = ("submitted", "returned", "approved", "rejected", "withdrawn")
PROPOSAL_STATUSES = {"proposed": "待确认", "confirmed": "已确认", "dismissed": "不予确认"}
DECISIONS = {"approve": "核准", "reject": "驳回", "return": "退回补正"}
SOURCE_NAMES = {"declared": "主体申报", "imported": "登记导入", "confirmed": "部门确认"}
MAX_REASON = 2000


# --------------------------------------------------------------------------- scope and shared reading


@dataclass(frozen=True)
class Scope:
    """Whose console this is: a reviewer's department, or admin's choice (None: every department)."""

    viewer: Viewer
    department: str | None

    @property
    def actor(self) -> Actor:
        return self.viewer.actor

    @property
    def may_decide(self) -> bool:
        return self.actor.role is Role.REVIEWER

    def query(self, **params: Any) -> str:
        """A query string that keeps admin's department choice."""
        pairs = {"department": self.department} if self.actor.role is Role.ADMIN and self.department else {}
        pairs |= {key: value for key, value in params.items() if value not in (None, "")}
        return ("?" + urlencode(pairs)) if pairs else ""


def _scope(request: Request) -> Scope:
    """The signed-in reviewer or admin; admin's ?department= checked against the pack's lead departments."""
    who = signed_in_page(request, Role.REVIEWER)
    if who.actor.role is Role.REVIEWER:
        return Scope(who, who.actor.department)
    wanted = request.query_params.get("department") or None
    if wanted is not None:
        wanted = to_simplified(wanted.strip())
        if wanted not in lead_departments(request.app.state.pack):
            raise Refused(404, f"没有牵头部门 {wanted}")
    return Scope(who, wanted)


def _context(request: Request, scope: Scope, **extra: Any) -> dict[str, Any]:
    pack = request.app.state.pack
    return {
        "viewer": scope.viewer,
        "scope": scope,
        "department": scope.department,
        "departments": sorted(lead_departments(pack)),
        "is_admin": scope.actor.role is Role.ADMIN,
        **extra,
    }


def _rules(pack: Pack, department: str | None) -> list[Rule]:
    """The department's rules (every rule for None), in the document's order of articles."""
    found = [rule for rule in pack.rules if department is None or subjects.department_of(rule) == department]
    return sorted(found, key=lambda rule: rule.spec.article)


def _areas(pack: Pack, department: str | None) -> list[int]:
    """The areas whose budget the department keeps: those it leads (由市X局牵头实施)."""
    return [area.number for area in pack.document.areas
            if department is None or to_simplified(area.department) == department]


def _state(request: Request):
    return access.ledger_state(request)


def _answer(session: Session, actor: Actor, key: str | None) -> dict[str, Any] | None:
    """A change's stored answer, found by its form's `once` key (the PRG redirect carries it)."""
    if not key or not access.KEY_PATTERN.fullmatch(key):
        return None
    row = session.scalar(select(t.IdempotentRequest).where(
        t.IdempotentRequest.user_id == actor.user_id, t.IdempotentRequest.key == key))
    return row.response if row is not None and isinstance(row.response, dict) else None


async def _form_then(request: Request, handler: Callable[..., Response], **kwargs: Any) -> Response:
    """Read a posted form on the event loop, then handle it in a worker thread (it hits the database)."""
    form = await request.form()
    return await anyio.to_thread.run_sync(partial(handler, request, form, **kwargs))


# --------------------------------------------------------------------------- money as people type it


def read_amount(text: str, field: str = "核定金额") -> Decimal:
    """An amount typed as 300000, 300,000, 30万 / 30萬 or 0.3亿, in 元 to the 分 (zhida.engine.money_text,
    through the API's reader web/access.money); else Refused(422) naming the field. Not above zero: 422."""
    value = access.money(text, field)
    if value <= 0:
        raise Refused(422, f"{field}:须大于 0;不予支持的申请请驳回")
    return value


def readback(value: Decimal | None) -> str:
    """An amount read back for the person who typed it: 300,000.00 元(30 万元)."""
    return "" if value is None else describe(value)


# --------------------------------------------------------------------------- budgets, read without locks


@dataclass(frozen=True)
class BudgetLine:
    label: str
    source: str
    limit: Decimal
    committed: Decimal
    paid: Decimal
    left: Decimal
    share: Decimal | None
    level: str


def _budget_line(pack: Pack, row: t.Budget) -> BudgetLine:
    if row.rule_id:
        label = budgets.rule_label(pack, row.rule_id)
    elif row.county:
        label = f"{budgets.area_label(pack, row.area, short=True)}{row.county}分配"
    else:
        label = budgets.area_label(pack, row.area)
    source = (budgets.area_clause(pack, row.area) or row.source) if not (row.rule_id or row.county) else row.source
    return BudgetLine(label, source, row.yuan, row.committed, row.paid, row.yuan - row.committed,
                      budgets.share(row.yuan, row.committed), budgets.level(row.yuan, row.committed))


def _budget_rows(session: Session, areas: list[int]) -> list[t.Budget]:
    """The budgets and allocations of these areas: their running totals (budgets.move keeps them)."""
    if not areas:
        return []
    query = select(t.Budget).where(t.Budget.area.in_(areas)).order_by(t.Budget.area, t.Budget.rule_id, t.Budget.county)
    return list(session.scalars(query))


# --------------------------------------------------------------------------- home


@router.get("/console", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    scope = _scope(request)
    state = _state(request)
    pack = state.pack
    rules = _rules(pack, scope.department)
    ids = [rule.id for rule in rules]
    with reading(state.factory) as session:
        pending = _pending_counts(session, scope.department or sorted(lead_departments(pack)))
        money = _committed_by_rule(session, ids)
        lines = [_budget_line(pack, row) for row in _budget_rows(session, _areas(pack, scope.department))]
    table = [
        {
            "rule": rule,
            "kind": VERDICTS[rule.spec.kind],
            "department": subjects.department_of(rule),
            "pending": pending.get(rule.id, 0),
            "committed": money.get(rule.id, (budgets.ZERO, budgets.ZERO))[0],
            "paid": money.get(rule.id, (budgets.ZERO, budgets.ZERO))[1],
        }
        for rule in rules
    ]
    return render(request, "console.html", _context(
        request, scope, rules=table, budgets=[line for line in lines if "分配" not in line.label],
        allocations=[line for line in lines if "分配" in line.label],
        pending=sum(row["pending"] for row in table),
    ))


def _pending_counts(session: Session, departments: str | list[str]) -> dict[str, int]:
    """Applications waiting for a decision (submitted), per rule: the (department, 'submitted') ranges of
    ix_applications_department_status_id, so the department's decided history (700,000 rows at 1M
    awards) is never read; admin's every department is one range each. Counted here rather than by
    GROUP BY, which SQLite would answer by walking ix_applications_department_rule_id (in rule order)
    over the whole history: 1.2 s instead of 20 ms."""
    wanted = [departments] if isinstance(departments, str) else departments
    query = select(t.Application.rule_id).where(t.Application.department.in_(wanted), t.Application.status == "submitted")
    return dict(Counter(session.scalars(query)))


def _committed_by_rule(session: Session, rule_ids: list[str]) -> dict[str, tuple[Decimal, Decimal]]:
    """Committed and paid cash per rule (budgets.py's definitions) from the running award sums
    (AwardSum, kept by budgets.move): a few hundred rows, however many awards there are."""
    return _award_sums(session, rule_ids, t.AwardSum.rule_id)


def _award_sums(session: Session, rule_ids: list[str], key: Any) -> dict[str, tuple[Decimal, Decimal]]:
    """Committed and paid of these rules' awards grouped by `key` (an AwardSum column); groups of
    nothing but tax relief or cancelled awards (0 and 0) are left out, as a scan of cash awards had none."""
    if not rule_ids:
        return {}
    committed, paid = func.sum(t.AwardSum.committed), func.sum(t.AwardSum.paid)
    query = (select(key, committed, paid).where(t.AwardSum.rule_id.in_(rule_ids)).group_by(key)
             .having(or_(committed != 0, paid != 0)))
    return {name: (_money(c), _money(p)) for name, c, p in session.execute(query)}


def _money(value: Any) -> Decimal:
    return Decimal(value if value is not None else 0).quantize(Decimal("0.01"))


# --------------------------------------------------------------------------- the queue


@dataclass
class QueueFilters:
    """The queue's filters as typed (strings kept for the form), and the problem with them, if any."""

    status: str = ""
    rule: str = ""
    county: str = ""
    start: str = ""
    end: str = ""
    q: str = ""
    page: int = 1
    problem: str | None = None


def _filters(request: Request, rules: list[Rule]) -> QueueFilters:
    params = request.query_params
    found = QueueFilters(**{name: (params.get(name) or "").strip()[:100] for name in ("status", "rule", "county", "start", "end", "q")})
    problems = []
    if found.status and found.status not in APPLICATION_STATUSES:
        problems.append(f"状态:没有「{found.status}」这一状态")
    if found.rule and found.rule not in {rule.id for rule in rules}:
        problems.append(f"政策条款:本部门没有规则「{found.rule}」")
    if found.county:
        found.county = to_simplified(found.county)
        if found.county not in COUNTIES:
            problems.append(f"区县:「{found.county}」不是湖州的区县(可选:{'、'.join(COUNTIES)})")
    for name, label in (("start", "提交日期从"), ("end", "提交日期至")):
        text = getattr(found, name)
        if text:
            try:
                dt.date.fromisoformat(text)
            except ValueError:
                problems.append(f"{label}:日期须写作 2025-06-30,而不是「{text}」")
    page = params.get("page") or "1"
    if not page.isdigit() or not 1 <= int(page) <= MAX_PAGE:
        problems.append(f"页码:须为 1 至 {MAX_PAGE} 的整数,而不是「{page[:20]}」")
    else:
        found.page = int(page)
    found.problem = ";".join(problems) or None
    return found


def _queue_query(department: str | None, filters: QueueFilters, named: list[str] | None = None):
    """The filtered queue as one SELECT with bound parameters (department index; newest id first);
    `named`: the subjects the name search found (_named_subjects)."""
    query = select(t.Application, t.Subject).join(t.Subject, t.Subject.id == t.Application.subject_id)
    if department is not None:
        query = query.where(t.Application.department == department)
    if filters.status:
        query = query.where(t.Application.status == filters.status)
    if filters.rule:
        query = query.where(t.Application.rule_id == filters.rule)
    if filters.county:
        query = query.where(t.Subject.county == filters.county)
    if filters.start:
        query = query.where(t.Application.submitted_at >= _utc_midnight(dt.date.fromisoformat(filters.start)))
    if filters.end:
        end = dt.date.fromisoformat(filters.end) + dt.timedelta(days=1)
        query = query.where(t.Application.submitted_at < _utc_midnight(end))
    if filters.q:
        query = query.where(_named(filters.q, named))
    return query


def _named_subjects(session: Session, typed: str) -> list[str] | None:
    """The ids of the subjects whose name contains the typed words or whose code it is (one pass over
    the subjects' names; % and _ are just characters); None when more than NAMED_SUBJECTS match."""
    found = list(session.scalars(_named_query(typed).limit(NAMED_SUBJECTS + 1)))
    return found if len(found) <= NAMED_SUBJECTS else None


def _named_query(typed: str):
    pattern = "%" + re.sub(r"([\\%_])", r"\\\1", typed) + "%"
    return select(t.Subject.id).where(or_(t.Subject.name.like(pattern, escape="\\"), t.Subject.id == normalise_code(typed)))


def _named(typed: str, named: list[str] | None):
    """The name search as a condition on the applications, chosen by how many subjects it found.

    A few subjects: their applications by ix_applications_subject_id, then those ids by the primary
    key (written as id IN (…) because SQLite, left to itself, walks the department's 770,000
    applications newest first and tests each one's subject). Many: the department's applications
    newest first, each tested against the subjects found (a broad search meets its matches soon)."""
    if named is None:
        return t.Application.subject_id.in_(_named_query(typed))
    theirs = aliased(t.Application)
    return t.Application.id.in_(select(theirs.id).where(theirs.subject_id.in_(named)))


def _utc_midnight(day: dt.date) -> dt.datetime:
    """The start of a Beijing day as the ledger's naive UTC time (a date typed is a Beijing date)."""
    return dt.datetime.combine(day, dt.time(), BEIJING).astimezone(dt.timezone.utc).replace(tzinfo=None)


@router.get("/console/queue", response_class=HTMLResponse)
def queue(request: Request) -> HTMLResponse:
    scope = _scope(request)
    state = _state(request)
    rules = _rules(state.pack, scope.department)
    filters = _filters(request, rules)
    rows: list[dict[str, Any]] = []
    total, more = 0, False
    cap = SUBJECT_COUNT_CAP if filters.county or filters.q else COUNT_CAP
    if filters.problem is None:
        with reading(state.factory) as session:
            query = _queue_query(scope.department, filters, _named_subjects(session, filters.q) if filters.q else None)
            found = session.execute(query.order_by(t.Application.id.desc())
                                    .limit(PAGE_SIZE + 1).offset((filters.page - 1) * PAGE_SIZE)).all()
            total = session.scalar(select(func.count()).select_from(
                query.with_only_columns(t.Application.id).limit(cap + 1).subquery()))
        more = len(found) > PAGE_SIZE
        rows = [_queue_row(state.pack, scope.actor, application, subject) for application, subject in found[:PAGE_SIZE]]
    pages = {
        "previous": _page_link(scope, filters, filters.page - 1) if filters.page > 1 else None,
        "next": _page_link(scope, filters, filters.page + 1) if more else None,
    }
    return render(request, "console_queue.html", _context(
        request, scope, rows=rows, filters=filters, rule_choices=rules, statuses=APPLICATION_STATUSES,
        status_names=review.STATUS_NAMES, counties=COUNTIES, total=total, capped=total > cap,
        count_cap=cap, pages=pages, error=filters.problem, page_size=PAGE_SIZE,
    ), 422 if filters.problem else 200)


def _page_link(scope: Scope, filters: QueueFilters, page: int) -> str:
    return "/console/queue" + scope.query(status=filters.status, rule=filters.rule, county=filters.county,
                                          start=filters.start, end=filters.end, q=filters.q, page=page)


def _shown_code(actor: Actor, subject_id: str, department: str) -> str:
    """The whole identity number to the reviewer of the case; masked to everyone else (review_api's rule)."""
    reveal = actor.role is Role.REVIEWER and actor.department == department
    return subject_id if reveal else mask_identity(subject_id)


def _title(pack: Pack, rule_id: str) -> str:
    try:
        return pack.rule(rule_id).spec.title
    except KeyError:
        return rule_id


def _queue_row(pack: Pack, actor: Actor, application: t.Application, subject: t.Subject) -> dict[str, Any]:
    return {
        "id": application.id,
        "subject": subject.name,
        "code": _shown_code(actor, subject.id, application.department),
        "county": subject.county or "",
        "title": _title(pack, application.rule_id),
        "article": application.article,
        "department": application.department,
        "status": application.status,
        "status_name": review.STATUS_NAMES[application.status],
        "ceiling": application.ceiling,
        "verdict": VERDICTS[Kind(application.verdict)] if application.verdict else "",
        "submitted": local_time(application.submitted_at),
    }


# --------------------------------------------------------------------------- the case


def _application_id(text: str) -> int:
    """An id from the path: digits only, else the same 404 as an unknown one (hostile ids are just data)."""
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise Refused(404, f"没有申请 {text}")
    return int(text)


@router.get("/console/applications/{application_id}", response_class=HTMLResponse)
def case_page(request: Request, application_id: str) -> HTMLResponse:
    scope = _scope(request)
    number = _application_id(application_id)
    with reading(_state(request).factory) as session:
        context = _case(request, session, scope, number)
        done = _answer(session, scope.actor, request.query_params.get("done"))
    if done is not None and done.get("application") == number:
        context["notice"] = done.get("notice")
        context["warnings"] = done.get("budget_warnings", [])
    return render(request, "console_case.html", context)


def _case(request: Request, session: Session, scope: Scope, number: int, typed: dict[str, str] | None = None) -> dict[str, Any]:
    """Everything the case page shows, read in one transaction."""
    pack = request.app.state.pack
    application = review.application_for(session, scope.actor, number)
    if scope.department is not None and application.department != scope.department:
        raise Refused(404, f"没有申请 {number}")
    subject = session.get(t.Subject, application.subject_id)
    rule = pack.rule(application.rule_id)
    event_type = pack.events[rule.spec.event]
    titles = {"date": "事件日期", **{event_field.name: event_field.title for event_field in event_type.fields}}
    facts = subjects.profile(session, application.subject_id)
    award = session.scalar(select(t.Award).where(t.Award.application_id == application.id))
    attachments = list(session.scalars(select(t.Attachment).where(t.Attachment.application_id == application.id)
                                       .order_by(t.Attachment.id)))
    history = [(change.at, review.CHANGE_NAMES[change.action], _change_note(change))
               for change in review.application_changes(session, application.id)]
    if award is not None:
        until = f",公示至 {award.publicity_until.isoformat()}" if award.publicity_until else ""
        history.append((award.decided_at, f"奖补 {award.id}:{review.STATUS_NAMES[award.status]}",
                        f"核定 {_yuan(award.amount)}{until}"))
    decidable = (scope.may_decide and application.status == "submitted"
                 and application.department == scope.actor.department)
    return _context(
        request, scope,
        application=application,
        subject=subject,
        code=_shown_code(scope.actor, application.subject_id, application.department),
        rule=rule,
        verdict=_verdict(application.verdict),
        status_name=review.STATUS_NAMES[application.status],
        event=[(titles.get(name, name), value) for name, value in application.event_values.items()],
        facts=[(titles[name], fact.value, SOURCE_NAMES.get(fact.source, fact.source), fact.as_of.isoformat())
               for name, fact in facts.items() if name in titles and name != "date"],
        award=award,
        award_status=review.STATUS_NAMES[award.status] if award else "",
        attachments=attachments,
        history=[(local_time(when), what, note) for when, what, note in history],
        decidable=decidable,
        decisions=DECISIONS,
        typed=typed or {"decision": "approve", "amount": "", "reason": ""},
        readback=None,
        warnings=[],
    )


def _change_note(change: review.Change) -> str:
    """A submission's computed ceiling (each resubmission is computed again), a decision's reason."""
    if change.action in ("submit", "resubmit"):
        ceiling = change.state.get("ceiling")
        return f"计算的{_verdict(change.state.get('verdict'))} {_yuan(None if ceiling is None else Decimal(ceiling))}"
    return change.state.get("reason") or ""


def _verdict(verdict: str | None) -> str:
    return VERDICTS[Kind(verdict)] if verdict else ""


def _yuan(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f} 元"


@router.post("/console/applications/{application_id}/decision", response_class=HTMLResponse)
async def decide(request: Request, application_id: str) -> Response:
    return await _form_then(request, _decide, application_id=application_id)


def _decide(request: Request, form, application_id: str) -> Response:
    scope = _scope(request)
    number = _application_id(application_id)
    state = _state(request)
    typed = {name: str(form.get(name, ""))[:MAX_REASON] for name in ("decision", "amount", "reason")}
    readback_text = None
    try:
        if typed["decision"] not in DECISIONS:
            raise Refused(422, "决定:请选择核准、驳回或退回补正")
        amount = None
        if typed["decision"] == "approve" and typed["amount"].strip():
            amount = read_amount(typed["amount"])
            readback_text = readback(amount)
        if typed["decision"] != "approve" and not typed["reason"].strip():
            raise Refused(422, "理由:驳回或退回补正须写明理由")

        def work(session: Session) -> tuple[int, dict[str, Any]]:
            row = review.decide(session, state.pack, scope.actor, number, typed["decision"], amount=amount,
                                reason=typed["reason"])
            award = session.scalar(select(t.Award).where(t.Award.application_id == row.id))
            notice = f"申请 {number} 已{DECISIONS[typed['decision']]}"
            if award is not None and award.amount is not None:
                notice += f",核定 {award.amount:,.2f} 元"
                if award.publicity_until:
                    notice += f",公示至 {award.publicity_until.isoformat()}"
            warnings = review.budget_warnings(session, state.pack, award) if award is not None else []
            return 200, {"application": number, "notice": notice, "budget_warnings": warnings}

        guarded(request, form, scope.viewer, work)
    except Refused as error:
        with reading(state.factory) as session:
            context = _case(request, session, scope, number, typed)
        # Over a ceiling, a cap or a budget: the clause it comes from beside the ledger's sentence.
        clause = f";依据:{context['application'].clause}" if error.status == 409 and typed["decision"] == "approve" else ""
        context.update(error=error.message + clause, readback=readback_text)
        return render(request, "console_case.html", context, error.status)
    return redirect(f"/console/applications/{number}?" + urlencode({"done": str(form.get("once", ""))}))


@router.get("/console/applications/{application_id}/attachments/{attachment_id}")
def attachment(request: Request, application_id: str, attachment_id: str) -> FileResponse:
    """An application's material, to the reviewer of its department (and admin)."""
    scope = _scope(request)
    number = _application_id(application_id)
    state = _state(request)
    if not attachment_id.isascii() or not attachment_id.isdigit() or len(attachment_id) > 12:
        raise Refused(404, f"没有附件 {attachment_id}")
    with reading(state.factory) as session:
        review.application_for(session, scope.actor, number)
        row = session.get(t.Attachment, int(attachment_id))
        if row is None or row.application_id != number:
            raise Refused(404, f"没有附件 {attachment_id}")
        name, media_type, digest = row.filename, row.media_type, row.sha256
    path = state.files / digest[:2] / digest
    if not path.is_file():
        raise Refused(404, f"附件 {name} 的文件不在存储中")
    return FileResponse(path, media_type=media_type, filename=name)


# --------------------------------------------------------------------------- 免申即享 proposals


@router.get("/console/proposals", response_class=HTMLResponse)
def proposal_list(request: Request) -> HTMLResponse:
    scope = _scope(request)
    with reading(_state(request).factory) as session:
        context = _proposals(request, session, scope)
        done = _answer(session, scope.actor, request.query_params.get("done"))
    if done is not None and "outcome" in done:
        context["outcome"] = done["outcome"]
        context["notice"] = done.get("notice")
    return render(request, "console_proposals.html", context, 422 if context["error"] else 200)


def _proposals(request: Request, session: Session, scope: Scope, typed: dict[str, Any] | None = None) -> dict[str, Any]:
    pack = request.app.state.pack
    rules = _rules(pack, scope.department)
    params = request.query_params
    status = params.get("status", "proposed")
    rule = params.get("rule", "")
    page = params.get("page", "1")
    problem = None
    if status and status not in PROPOSAL_STATUSES:
        problem, status = f"状态:没有「{status[:20]}」这一状态", "proposed"
    if rule and rule not in {item.id for item in rules}:
        problem, rule = f"政策条款:本部门没有规则「{rule[:64]}」", ""
    if not page.isdigit() or not 1 <= int(page) <= MAX_PAGE:
        problem, page = f"页码:须为 1 至 {MAX_PAGE} 的整数", "1"
    department = proposals.visible(scope.actor, scope.department) if scope.actor.role is Role.REVIEWER else scope.department
    query = select(t.Proposal, t.Subject).join(t.Subject, t.Subject.id == t.Proposal.subject_id)
    if department is not None:
        query = query.where(t.Proposal.department == department)
    if status:
        query = query.where(t.Proposal.status == status)
    if rule:
        query = query.where(t.Proposal.rule_id == rule)
    found = session.execute(query.order_by(t.Proposal.id).limit(PAGE_SIZE + 1)
                            .offset((int(page) - 1) * PAGE_SIZE)).all()
    rows = [
        {
            "id": proposal.id, "subject": subject.name, "code": _shown_code(scope.actor, subject.id, proposal.department),
            "county": subject.county or "", "title": _title(pack, proposal.rule_id), "rule": proposal.rule_id,
            "event": proposal.event_id, "date": proposal.event_date.isoformat(),
            "verdict": VERDICTS[Kind(proposal.verdict)], "amount": proposal.amount,
            "status": PROPOSAL_STATUSES.get(proposal.status, proposal.status), "reason": proposal.reason or "",
            "open": proposal.status == "proposed",
        }
        for proposal, subject in found[:PAGE_SIZE]
    ]
    number = int(page)
    link = partial(_proposal_link, scope, status, rule)
    return _context(
        request, scope, rows=rows, status=status, rule=rule, statuses=PROPOSAL_STATUSES, rule_choices=rules,
        pages={"previous": link(number - 1) if number > 1 else None, "next": link(number + 1) if len(found) > PAGE_SIZE else None},
        error=problem, outcome=None, typed=typed or {"ids": [], "reason": ""},
    )


def _proposal_link(scope: Scope, status: str, rule: str, page: int) -> str:
    return "/console/proposals" + scope.query(status=status, rule=rule, page=page)


@router.post("/console/proposals", response_class=HTMLResponse)
async def proposals_post(request: Request) -> Response:
    return await _form_then(request, _proposals_post)


def _proposals_post(request: Request, form) -> Response:
    scope = _scope(request)
    state = _state(request)
    raw_ids = [str(value) for value in form.getlist("ids")]
    action = str(form.get("action", ""))
    reason = str(form.get("reason", ""))[:MAX_REASON]
    typed = {"ids": raw_ids, "reason": reason}
    try:
        if not raw_ids:
            raise Refused(422, "请至少勾选一项建议")
        if not all(value.isascii() and value.isdigit() and len(value) <= 12 for value in raw_ids):
            raise Refused(422, "勾选的建议编号无效,请刷新页面后重新选择")
        ids = [int(value) for value in raw_ids]
        if action not in ("confirm", "dismiss"):
            raise Refused(422, "请选择批量确认或不予确认")
        if action == "dismiss" and not reason.strip():
            raise Refused(422, "理由:不予确认须说明理由")

        def work(session: Session) -> tuple[int, dict[str, Any]]:
            if action == "confirm":
                outcome = proposals.confirm_proposals(session, state.pack, scope.actor, ids, dt.date.today())
                notice = f"已确认 {len(outcome.confirmed)} 项" + (f",{len(outcome.refused)} 项未能确认(原因见下)" if outcome.refused else "")
            else:
                outcome = proposals.dismiss_proposals(session, scope.actor, ids, reason)
                notice = f"已不予确认 {len(outcome.dismissed)} 项"
            return 200, {"notice": notice, "outcome": outcome.as_dict()}

        guarded(request, form, scope.viewer, work)
    except Refused as error:
        with reading(state.factory) as session:
            context = _proposals(request, session, scope, typed)
        context["error"] = error.message
        return render(request, "console_proposals.html", context, error.status)
    target = "/console/proposals" + scope.query(status=request.query_params.get("status"), rule=request.query_params.get("rule"),
                                                done=str(form.get("once", "")))
    return redirect(target)


# --------------------------------------------------------------------------- targets and progress


@router.get("/console/targets", response_class=HTMLResponse)
def target_board(request: Request) -> HTMLResponse:
    scope = _scope(request)
    with reading(_state(request).factory) as session:
        context = _targets(request, session, scope)
        done = _answer(session, scope.actor, request.query_params.get("done"))
    if done is not None:
        context["notice"] = done.get("notice")
    return render(request, "console_targets.html", context, 422 if context["error"] else 200)


def _targets(request: Request, session: Session, scope: Scope, typed: dict[str, Any] | None = None,
             error: str | None = None) -> dict[str, Any]:
    pack = request.app.state.pack
    county = (request.query_params.get("county") or "").strip()[:20]
    problem = None
    if county and county != targets.CITY and to_simplified(county) not in COUNTIES:
        problem, county = f"区县:「{county}」不是湖州的区县", ""
    result = targets.board(session, pack, department=scope.department, county=county or None)
    items: dict[str, dict[str, Any]] = {}
    for line in result.lines:
        entry = items.setdefault(line.item.id, {"item": line.item, "status": targets.STATUS_NAMES[result.by_item[line.item.id]],
                                                "status_key": result.by_item[line.item.id].value, "lines": []})
        indicator = line.item.indicator
        entry["lines"].append({
            "id": line.assignment_id,
            "department": line.department,
            "county": line.county or targets.CITY,
            "share": targets.fraction_text(line.share),
            "goal": targets.in_text_unit(line.goal.low, indicator) if line.goal and indicator else "",
            "latest": line.latest,
            "latest_value": targets.decimal_text(line.latest.value) if line.latest else "",
            "status": targets.STATUS_NAMES[line.status],
            "status_key": line.status.value,
            "reportable": line.assignment_id is not None and scope.may_decide and line.department == scope.actor.department,
        })
    counties = {name: {targets.STATUS_NAMES[status]: count for status, count in counts.items()}
                for name, counts in result.by_county.items()}
    return _context(request, scope, items=list(items.values()), counties=counties, county=county,
                    county_choices=(targets.CITY, *COUNTIES), note=result.note, error=error or problem,
                    typed=typed or {}, today=dt.date.today().isoformat())


@router.post("/console/targets/assignments/{assignment_id}/progress", response_class=HTMLResponse)
async def progress_post(request: Request, assignment_id: str) -> Response:
    return await _form_then(request, _progress, assignment_id=assignment_id)


def _progress(request: Request, form, assignment_id: str) -> Response:
    scope = _scope(request)
    if not assignment_id.isascii() or not assignment_id.isdigit() or len(assignment_id) > 12:
        raise Refused(404, f"没有责任分解记录 {assignment_id}")
    number = int(assignment_id)
    typed = {name: str(form.get(name, ""))[:targets.MAX_TEXT] for name in ("value", "period", "as_of", "note")}
    try:
        def work(session: Session) -> tuple[int, dict[str, Any]]:
            report = targets.report_progress(session, number, typed["value"].strip().replace(",", ""),
                                             typed["period"].strip(), typed["as_of"].strip(), scope.actor, note=typed["note"])
            return 201, {"notice": f"已报送责任分解 {number} 的进度:{targets.decimal_text(report.value)}"
                                   f"(报告期 {report.period},截至 {report.as_of.isoformat()})"}

        guarded(request, form, scope.viewer, work)
    except Refused as error:
        with reading(_state(request).factory) as session:
            context = _targets(request, session, scope, {"assignment": number, **typed}, _progress_words(error.message))
        return render(request, "console_targets.html", context, error.status)
    return redirect("/console/targets" + scope.query(done=str(form.get("once", ""))))


def _progress_words(message: str) -> str:
    """The ledger's field names in the sentence, as the form labels them."""
    for name, label in (("value:", "累计值:"), ("period:", "报告期:"), ("as_of:", "截至日期:"), ("note:", "说明:")):
        if message.startswith(name):
            return label + message[len(name):].lstrip()
    return message


# --------------------------------------------------------------------------- budget by rule and county


@router.get("/console/budget", response_class=HTMLResponse)
def budget_page(request: Request) -> HTMLResponse:
    scope = _scope(request)
    state = _state(request)
    pack = state.pack
    rules = _rules(pack, scope.department)
    ids = [rule.id for rule in rules]
    areas = _areas(pack, scope.department)
    with reading(state.factory) as session:
        lines = [(row, _budget_line(pack, row)) for row in _budget_rows(session, areas)]
        by_rule = _committed_by_rule(session, ids)
        by_county = _committed_by_county(session, ids)
    allocated = {row.rule_id: row.yuan for row, _ in lines if row.rule_id}
    rule_rows = [
        {"rule": rule, "allocated": allocated.get(rule.id), "committed": by_rule.get(rule.id, (budgets.ZERO,) * 2)[0],
         "paid": by_rule.get(rule.id, (budgets.ZERO,) * 2)[1]}
        for rule in rules
    ]
    county_allocated: dict[str, Decimal] = {}
    for row, _ in lines:
        if row.county:
            county_allocated[row.county] = county_allocated.get(row.county, budgets.ZERO) + row.yuan
    names = list(COUNTIES) + sorted(set(by_county) - set(COUNTIES))
    county_rows = [{"county": name, "allocated": county_allocated.get(name), "committed": by_county.get(name, (budgets.ZERO,) * 2)[0],
                    "paid": by_county.get(name, (budgets.ZERO,) * 2)[1]} for name in names]
    return render(request, "console_budget.html", _context(
        request, scope, areas=[line for row, line in lines if not (row.rule_id or row.county)],
        rule_rows=rule_rows, county_rows=county_rows,
    ))


def _committed_by_county(session: Session, rule_ids: list[str]) -> dict[str, tuple[Decimal, Decimal]]:
    """Committed and paid cash of these rules per county, from the award sums (county '' is none)."""
    found = _award_sums(session, rule_ids, t.AwardSum.county)
    return {county or budgets.NO_COUNTY: sums for county, sums in found.items()}
