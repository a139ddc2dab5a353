"""The ledger API: 免申即享 proposals and payment batches.

    GET  /api/v1/proposals[?department&status&limit&offset]   reviewers their department's; leadership, admin all
    POST /api/v1/proposals/confirm   {ids: [...]}               the department confirms: each becomes an award
                                                                (one a cap or a budget refuses stays proposed, listed)
    POST /api/v1/proposals/dismiss   {ids: [...], reason}
    POST /api/v1/payment-batches     {award_ids?, department?} finance: a batch of the payable awards
    GET  /api/v1/payment-batches/{id}[?format=csv|xlsx]        the batch (finance, admin, leadership); the bank
                                                                file with full codes (finance, admin)
    POST /api/v1/payments/{id}/mark  {paid, bank_reason?}       the bank's answer
    POST /api/v1/payments/retry      {award_ids: [...]}         failed awards into a new batch

Every write takes an Idempotency-Key (web/access.py) and runs in one transaction.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from sqlalchemy import select

from zhida.ledger import payments, proposals
from zhida.ledger import tables as t
from zhida.ledger.access import Actor
from zhida.ledger.database import reading
from zhida.web.access import current_actor, ledger_state, once

router = APIRouter(prefix="/api/v1", tags=["免申即享与拨付"])
ActorDep = Annotated[Actor, Depends(current_actor)]
MAX_IDS = 20_000


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProposalIds(Body):
    ids: list[StrictInt] = Field(min_length=1, max_length=MAX_IDS)


class Dismissal(ProposalIds):
    reason: StrictStr = Field(min_length=1, max_length=500)


class NewBatch(Body):
    award_ids: list[StrictInt] | None = Field(None, min_length=1, max_length=MAX_IDS)
    department: StrictStr | None = Field(None, max_length=50)


class BankAnswer(Body):
    paid: StrictBool
    bank_reason: StrictStr | None = Field(None, max_length=500)


class Retry(Body):
    award_ids: list[StrictInt] = Field(min_length=1, max_length=MAX_IDS)


def _proposal(row: t.Proposal) -> dict[str, Any]:
    return {
        "id": row.id, "subject_id": row.subject_id, "rule": row.rule_id, "department": row.department,
        "event_id": row.event_id, "event_date": row.event_date.isoformat(), "verdict": row.verdict,
        "amount": None if row.amount is None else f"{row.amount:.2f}", "status": row.status, "source": row.source,
    }


@router.get("/proposals", summary="免申即享建议清单")
def list_proposals(
    request: Request, actor: ActorDep, department: str | None = None, status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200, offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    with reading(ledger_state(request).factory) as session:
        rows = proposals.list_proposals(session, actor, department, status, limit, offset)
        return {"proposals": [_proposal(row) for row in rows]}


@router.post("/proposals/confirm", summary="批量确认建议(每项成为一笔奖补,进入公示)")
def confirm(request: Request, actor: ActorDep, body: ProposalIds):
    state = ledger_state(request)
    today = dt.date.today()
    return once(request, actor, body, lambda session: (
        200, proposals.confirm_proposals(session, state.pack, actor, body.ids, today).as_dict()))


@router.post("/proposals/dismiss", summary="批量不予确认(须说明理由)")
def dismiss(request: Request, actor: ActorDep, body: Dismissal):
    return once(request, actor, body, lambda session: (
        200, proposals.dismiss_proposals(session, actor, body.ids, body.reason).as_dict()))


def _batch(session, batch: t.PaymentBatch) -> dict[str, Any]:
    rows = list(session.scalars(select(t.Payment).where(t.Payment.batch_id == batch.id).order_by(t.Payment.id)))
    items = [
        {"id": p.id, "award_id": p.award_id, "amount": f"{p.amount:.2f}", "status": p.status, "bank_reason": p.bank_reason}
        for p in rows
    ]
    total = sum((p.amount for p in rows), start=Decimal("0.00"))
    return {"id": batch.id, "created_at": batch.created_at.isoformat(), "payments": items, "total": f"{total:.2f}"}


@router.post("/payment-batches", status_code=201, summary="生成拨付批次(财政)")
def create_batch(request: Request, actor: ActorDep, body: NewBatch):
    today = dt.date.today()

    def work(session):
        batch = payments.make_batch(session, actor, body.award_ids, body.department, today)
        return 201, _batch(session, batch)

    return once(request, actor, body, work)


@router.get("/payment-batches/{batch_id}", summary="拨付批次;?format=csv|xlsx 下载银行文件")
def read_batch(
    request: Request, actor: ActorDep, batch_id: int, format: Literal["json", "csv", "xlsx"] = "json",  # noqa: A002
):
    state = ledger_state(request)
    with reading(state.factory) as session:
        if format == "json":
            return _batch(session, payments.batch_of(session, actor, batch_id))
        rows = payments.export_rows(session, state.pack, actor, batch_id)
    if format == "csv":
        data, media = payments.csv_bytes(rows), "text/csv; charset=utf-8"
    else:
        data, media = payments.xlsx_bytes(rows), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = f'attachment; filename="batch-{batch_id}.{format}"'
    return Response(data, media_type=media, headers={"Content-Disposition": disposition, "Cache-Control": "no-store"})


@router.post("/payments/{payment_id}/mark", summary="登记银行回单:已拨付或失败(须写原因)")
def mark_payment(request: Request, actor: ActorDep, payment_id: int, body: BankAnswer):
    def work(session):
        payment = payments.mark(session, actor, payment_id, body.paid, body.bank_reason)
        return 200, {"id": payment.id, "award_id": payment.award_id, "status": payment.status,
                     "bank_reason": payment.bank_reason}

    return once(request, actor, body, work)


@router.post("/payments/retry", status_code=201, summary="拨付失败的奖补重新拨付(新批次)")
def retry_payments(request: Request, actor: ActorDep, body: Retry):
    def work(session):
        batch = payments.retry(session, actor, body.award_ids)
        return 201, _batch(session, batch)

    return once(request, actor, body, work)
