"""Finance: payment batches, failures and retries, bank files.

    GET  /finance                          finance and admin: what is payable (count and sum, by
                                           department), the batches, the failed payments
    POST /finance/batches                  make a batch of every payable award (or one department's)
    POST /finance/retry                    the chosen failed awards into a new batch
    GET  /finance/batches/{id}[?page=]     one batch: its payments with status, the bank files
    POST /finance/batches/{id}/mark        the bank's answer for one payment: paid, or failed with the reason
    POST /finance/batches/{id}/paid        every payment of the batch still waiting marked paid

Every form is a guarded POST (site.guarded: the session's CSRF token, once per render; leadership
is refused) answered with a 303 to the page that shows the result. The ledger decides what is
allowed (ledger/payments.py); its refusals come back on the page as typed, with the status it gave.
The bank files are exports.py's (/export/payments/{id}.xlsx|.csv); the JSON API's download
(/api/v1/payment-batches/{id}?format=…) is linked beside them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import case, func, select, true
from sqlalchemy.orm import Session, aliased
from starlette.datastructures import FormData

from zhida.ledger import payments
from zhida.ledger import tables as t
from zhida.ledger.access import Refused, Role
from zhida.ledger.database import reading
from zhida.ledger.review import STATUS_NAMES
from zhida.web.site import Viewer, guarded, redirect, render, signed_in_page

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 100
RECENT_BATCHES = 50
FAILURES_SHOWN = 500
MAX_REASON = 500
ZERO = Decimal("0.00")
NOTICES = {
    "made": "已生成拨付批次。请下载银行文件,并在银行回单后逐笔登记。",
    "retried": "已将所选拨付失败的奖补生成新的拨付批次。",
    "paid": "已登记为已拨付。",
    "failed": "已登记为拨付失败,可在“资金拨付”页重新拨付。",
    "all-paid": "本批次待回单的拨付已全部登记为已拨付。",
}
# The statuses of cash awards on their way to being paid, in the order finance meets them.
STAGES = ("payable", "in_batch", "failed", "paid")


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Stage:
    status: str
    name: str
    count: int
    amount: Decimal


def stages(session: Session, today: dt.date,
           departments: list[tuple[str, int, Decimal]] | None = None) -> dict[str, Stage]:
    """Count and sum of the cash awards at each stage; an award whose 公示 has ended counts as
    payable already (make_batch releases it first). Payable is the total of `departments` (read
    here when not given); in a batch and failed one grouped read of the index (cash, status,
    department, amount), which holds every value counted, so no award row is read (migration 0008).
    Paid, the largest stage, is only counted there; its amount is the running sums' (award_sums.paid,
    kept by budgets.move with every payment), a few hundred rows instead of summing every paid award."""
    departments = payable_departments(session, today) if departments is None else departments
    query = (
        select(t.Award.status, func.count(), func.coalesce(func.sum(t.Award.amount), ZERO))
        .where(t.Award.cash == true(), t.Award.status.in_(("in_batch", "failed")))
        .group_by(t.Award.status)
    )
    found = {status: (count, Decimal(amount)) for status, count, amount in session.execute(query)}
    found["payable"] = (sum(count for _, count, _ in departments), sum((amount for _, _, amount in departments), ZERO))
    paid_count = session.scalar(select(func.count()).where(t.Award.cash == true(), t.Award.status == "paid"))
    found["paid"] = (paid_count or 0, Decimal(session.scalar(select(func.coalesce(func.sum(t.AwardSum.paid), ZERO)))))
    return {status: Stage(status, STATUS_NAMES[status], found.get(status, (0, ZERO))[0],
                          found.get(status, (0, ZERO))[1].quantize(Decimal("0.01")))
            for status in STAGES}


def payable_departments(session: Session, today: dt.date) -> list[tuple[str, int, Decimal]]:
    """The departments with payable awards (a batch may be made for one of them), with count and sum.

    Two reads added up, not one OR (which would read every payable award's row): the payable
    awards, from the index (cash, status, department, amount) alone, and the few on 公示 whose
    period has ended (a short range of that index, each row read for its date)."""
    def by_department(*where):
        return (select(t.Award.department, func.count(), func.sum(t.Award.amount))
                .where(t.Award.cash == true(), *where).group_by(t.Award.department))

    found: dict[str, tuple[int, Decimal]] = {}
    for query in (by_department(t.Award.status == "payable"),
                  by_department(t.Award.status == "publicity", t.Award.publicity_until < today)):
        for department, count, amount in session.execute(query):
            before = found.get(department, (0, ZERO))
            found[department] = (before[0] + count, before[1] + Decimal(amount or ZERO))
    return [(department, count, amount.quantize(Decimal("0.01")))
            for department, (count, amount) in sorted(found.items())]


def recent_batches(session: Session, limit: int = RECENT_BATCHES) -> list[dict[str, Any]]:
    """The latest batches with their payments counted by status and summed. Two reads: the batches
    first (their LIMIT), then only their payments, grouped (ix_payments_batch_id). As one query,
    SQLite could not see the bound LIMIT's size and summed every batch's payments first (0.4 s)."""
    def count(status: str):
        return func.sum(case((t.Payment.status == status, 1), else_=0))

    batches = session.execute(
        select(t.PaymentBatch.id, t.PaymentBatch.created_at, t.User.username)
        .join(t.User, t.User.id == t.PaymentBatch.created_by)
        .order_by(t.PaymentBatch.id.desc())
        .limit(limit)
    ).all()
    sums = {
        batch_id: (total, Decimal(amount), pending, paid, failed)
        for batch_id, total, amount, pending, paid, failed in session.execute(
            select(t.Payment.batch_id, func.count(), func.coalesce(func.sum(t.Payment.amount), ZERO),
                   count("pending"), count("paid"), count("failed"))
            .where(t.Payment.batch_id.in_([batch_id for batch_id, _, _ in batches]))
            .group_by(t.Payment.batch_id)
        )
    }
    rows = []
    for batch_id, created_at, username in batches:
        total, amount, pending, paid, failed = sums.get(batch_id, (0, ZERO, 0, 0, 0))
        rows.append({"id": batch_id, "created_at": created_at, "by": username, "count": total, "amount": amount,
                     "pending": pending or 0, "paid": paid or 0, "failed": failed or 0})
    return rows


def failures(session: Session, pack_titles: dict[str, str], limit: int = FAILURES_SHOWN) -> list[dict[str, Any]]:
    """Awards whose latest payment failed (status failed), with the bank's reason, oldest first.

    The failed awards are walked in id order (index (status, id)) and each one's latest failed
    payment found by its own lookup (ix_payments_award_id), so the walk stops after `limit` rows
    instead of grouping every failed payment first."""
    earlier = aliased(t.Payment)
    latest = (select(func.max(earlier.id)).where(earlier.award_id == t.Award.id, earlier.status == "failed")
              .correlate(t.Award).scalar_subquery())
    query = (
        select(t.Award.id, t.Award.rule_id, t.Award.amount, t.Subject.name, t.Subject.id, t.Payment.batch_id,
               t.Payment.bank_reason)
        .select_from(t.Award)
        .join(t.Payment, t.Payment.id == latest)
        .join(t.Subject, t.Subject.id == t.Award.subject_id)
        .where(t.Award.status == "failed")
        .order_by(t.Award.id)
        .limit(limit)
    )
    return [
        {"award": award_id, "title": pack_titles.get(rule_id, rule_id), "amount": amount, "subject": name,
         "subject_id": subject_id, "batch": batch_id, "reason": reason or ""}
        for award_id, rule_id, amount, name, subject_id, batch_id, reason in session.execute(query)
    ]


def batch_payments(session: Session, titles: dict[str, str], batch_id: int, page: int) -> list[dict[str, Any]]:
    query = (
        select(t.Payment, t.Award.rule_id, t.Award.article, t.Subject.name, t.Subject.id)
        .join(t.Award, t.Award.id == t.Payment.award_id)
        .join(t.Subject, t.Subject.id == t.Award.subject_id)
        .where(t.Payment.batch_id == batch_id)
        .order_by(t.Payment.id)
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    return [
        {"id": payment.id, "award": payment.award_id, "amount": payment.amount, "status": payment.status,
         "status_name": payments.PAYMENT_STATUS[payment.status], "reason": payment.bank_reason or "",
         "title": titles.get(rule_id, rule_id), "article": payments.article_label(article), "subject": name,
         "subject_id": subject_id}
        for payment, rule_id, article, name, subject_id in session.execute(query)
    ]


def batch_summary(session: Session, batch_id: int) -> dict[str, tuple[int, Decimal]]:
    query = (
        select(t.Payment.status, func.count(), func.coalesce(func.sum(t.Payment.amount), ZERO))
        .where(t.Payment.batch_id == batch_id)
        .group_by(t.Payment.status)
    )
    found = {status: (count, Decimal(amount)) for status, count, amount in session.execute(query)}
    total = (sum(count for count, _ in found.values()), sum((amount for _, amount in found.values()), ZERO))
    return {status: found.get(status, (0, ZERO)) for status in payments.PAYMENT_STATUS} | {"total": total}


def _titles(request: Request) -> dict[str, str]:
    return {rule.id: rule.spec.title for rule in request.app.state.pack.rules}


# --------------------------------------------------------------------------- pages


def _finance_page(request: Request, who: Viewer, status: int = 200, **extra: Any) -> HTMLResponse:
    state = request.app.state.ledger
    today = dt.date.today()
    with reading(state.factory) as session:
        departments = payable_departments(session, today)
        context = {
            "viewer": who,
            "stages": stages(session, today, departments),
            "departments": departments,
            "batches": recent_batches(session),
            "failures": failures(session, _titles(request)),
            "notice": NOTICES.get(request.query_params.get("done", "")),
            "department": "",
            "chosen": None,
        }
    return render(request, "finance.html", context | extra, status)


def _batch_page(request: Request, who: Viewer, batch_id: int, page: int = 1, status: int = 200,
                **extra: Any) -> HTMLResponse:
    state = request.app.state.ledger
    with reading(state.factory) as session:
        batch = payments.batch_of(session, who.actor, batch_id)
        summary = batch_summary(session, batch_id)
        pages = max(1, -(-summary["total"][0] // PAGE_SIZE))
        if page < 1 or page > pages:
            raise Refused(404, f"拨付批次 {batch_id} 没有第 {page} 页(共 {pages} 页)")
        maker = session.get(t.User, batch.created_by)
        context = {
            "viewer": who,
            "batch": batch,
            "maker": maker.username if maker else "",
            "summary": summary,
            "rows": batch_payments(session, _titles(request), batch_id, page),
            "page": page,
            "pages": pages,
            "notice": NOTICES.get(request.query_params.get("done", "")),
            "typed": {},
            "failed_payment": None,
        }
    return render(request, "finance_batch.html", context | extra, status)


@router.get("/finance", response_class=HTMLResponse)
def finance_home(request: Request) -> HTMLResponse:
    return _finance_page(request, signed_in_page(request, Role.FINANCE))


@router.get("/finance/batches/{batch_id}", response_class=HTMLResponse)
def batch_page(request: Request, batch_id: str, page: str = "1") -> HTMLResponse:
    who = signed_in_page(request, Role.FINANCE)
    number = batch_number(batch_id)
    if not page.isascii() or not page.isdigit() or len(page) > 9:
        raise Refused(404, f"拨付批次 {number} 没有第 {page} 页")
    return _batch_page(request, who, number, int(page))


def batch_number(text: str) -> int:
    """A batch id from the URL; anything but a number is a batch that does not exist (404)."""
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise Refused(404, f"没有拨付批次 {text}")
    return int(text)


# --------------------------------------------------------------------------- forms


async def _posted(request: Request, handle) -> Response:
    """Read the form here, then run the page's handler (which hits the database) in a thread."""
    form = await request.form()
    return await anyio.to_thread.run_sync(lambda: handle(request, form))


@router.post("/finance/batches")
async def make_batch_post(request: Request) -> Response:
    return await _posted(request, _make_batch)


def _make_batch(request: Request, form: FormData) -> Response:
    who = signed_in_page(request, Role.FINANCE)
    department = str(form.get("department", "")).strip()[:50] or None
    today = dt.date.today()
    try:
        answer = guarded(request, form, who, lambda session: (
            201, {"batch": payments.make_batch(session, who.actor, department=department, today=today).id}))
    except Refused as error:
        return _finance_page(request, who, error.status, error=error.message, department=department or "")
    return redirect(f"/finance/batches/{answer['batch']}?done=made")


@router.post("/finance/retry")
async def retry_post(request: Request) -> Response:
    return await _posted(request, _retry)


def _retry(request: Request, form: FormData) -> Response:
    who = signed_in_page(request, Role.FINANCE)
    chosen = [str(value) for value in form.getlist("award")]
    try:
        ids = [int(value) for value in chosen if value.isascii() and value.isdigit() and len(value) <= 18]
        if len(ids) != len(chosen):
            raise Refused(422, "重新拨付:所选奖补编号须为数字")
        if not ids:
            raise Refused(422, "重新拨付:请至少勾选一项拨付失败的奖补")
        answer = guarded(request, form, who, lambda session: (201, {"batch": payments.retry(session, who.actor, ids).id}))
    except Refused as error:
        return _finance_page(request, who, error.status, error=error.message, chosen=set(chosen))
    return redirect(f"/finance/batches/{answer['batch']}?done=retried")


@router.post("/finance/batches/{batch_id}/mark")
async def mark_post(request: Request, batch_id: str) -> Response:
    number = batch_number(batch_id)
    return await _posted(request, lambda request, form: _mark(request, form, number))


def _mark(request: Request, form: FormData, batch_id: int) -> Response:
    who = signed_in_page(request, Role.FINANCE)
    payment_text = str(form.get("payment", ""))
    outcome = str(form.get("outcome", ""))
    reason = str(form.get("reason", ""))
    typed = {payment_text: reason}
    try:
        if not payment_text.isascii() or not payment_text.isdigit() or len(payment_text) > 18:
            raise Refused(422, "拨付编号须为数字")
        if outcome not in ("paid", "failed"):
            raise Refused(422, "请选择“已拨付”或“拨付失败”")
        if len(reason) > MAX_REASON:
            raise Refused(422, f"银行退回原因:不超过 {MAX_REASON} 字")
        payment_id = int(payment_text)

        def work(session: Session) -> tuple[int, dict[str, Any]]:
            payment = session.get(t.Payment, payment_id)
            if payment is None or payment.batch_id != batch_id:
                raise Refused(404, f"拨付批次 {batch_id} 中没有拨付 {payment_id}")
            payments.mark(session, who.actor, payment_id, outcome == "paid", reason)
            return 200, {"payment": payment_id}

        guarded(request, form, who, work)
    except Refused as error:
        failed = payment_text if outcome == "failed" else None
        return _batch_page(request, who, batch_id, _page_of(form), error.status, error=error.message, typed=typed,
                           failed_payment=failed)
    return redirect(f"/finance/batches/{batch_id}?page={_page_of(form)}&done={outcome}")


@router.post("/finance/batches/{batch_id}/paid")
async def all_paid_post(request: Request, batch_id: str) -> Response:
    number = batch_number(batch_id)
    return await _posted(request, lambda request, form: _all_paid(request, form, number))


def _all_paid(request: Request, form: FormData, batch_id: int) -> Response:
    """Every payment of the batch still waiting for the bank's answer marked paid, in one transaction."""
    who = signed_in_page(request, Role.FINANCE)

    def work(session: Session) -> tuple[int, dict[str, Any]]:
        payments.batch_of(session, who.actor, batch_id)
        waiting = list(session.scalars(select(t.Payment.id).where(t.Payment.batch_id == batch_id,
                                                                  t.Payment.status == "pending").order_by(t.Payment.id)))
        if not waiting:
            raise Refused(409, f"拨付批次 {batch_id} 没有待银行回单的拨付")
        for payment_id in waiting:
            payments.mark(session, who.actor, payment_id, True)
        return 200, {"paid": len(waiting)}

    try:
        guarded(request, form, who, work)
    except Refused as error:
        return _batch_page(request, who, batch_id, 1, error.status, error=error.message)
    return redirect(f"/finance/batches/{batch_id}?done=all-paid")


def _page_of(form: FormData) -> int:
    text = str(form.get("page", "1"))
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 6 and int(text) > 0 else 1
