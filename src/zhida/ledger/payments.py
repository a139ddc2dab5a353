"""Payments (拨付): finance gathers payable awards into a batch, the bank answers, failures are retried.

    make_batch   payable cash awards (after 公示: review.release_due first) → one PaymentBatch with one
                 pending Payment each; the awards go in_batch
    mark         the bank's answer for one payment: paid → award paid; failed (with the bank's reason)
                 → award failed
    retry        failed awards → a new batch
    export_rows / csv_bytes / xlsx_bytes / export_bytes   the batch as the bank's file (Chinese headers, full codes)

Never paid twice: an award has at most one payment pending or paid. The partial unique index
ux_payments_award_live (tables.py) makes the database refuse a second one; `_no_live_payment` says
so first, in a sentence, before the database has to.

Only finance (and admin) write; leadership reads. Each function runs inside the caller's transaction
and audit-records every row it changes.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhida.ledger import audit, budgets
from zhida.ledger import tables as t
from zhida.ledger.access import Actor, Refused, Role, require
from zhida.rules.pack import Pack
from zhida.source.script import to_simplified

HEADERS = ("批次", "序号", "主体名称", "统一社会信用代码/身份证号码", "政策", "条款", "金额(元)", "状态")
PAYMENT_STATUS = {"pending": "待银行回单", "paid": "已拨付", "failed": "拨付失败"}
LIVE = ("pending", "paid")
CHUNK = 5000


def _writer(actor: Actor) -> None:
    require(actor, Role.FINANCE, Role.ADMIN)


def _locked_awards(session: Session, query) -> list[t.Award]:
    """Awards locked in id order (two finance users batching at once never take the same award)."""
    return list(session.scalars(query.order_by(t.Award.id).with_for_update()))


def _no_live_payment(session: Session, award_ids: list[int]) -> None:
    """Refuse when an award already has a payment pending or paid (before the unique index must)."""
    for start in range(0, len(award_ids), CHUNK):
        chunk = award_ids[start:start + CHUNK]
        live = session.execute(
            select(t.Payment.award_id, t.Payment.id, t.Payment.status)
            .where(t.Payment.award_id.in_(chunk), t.Payment.status.in_(LIVE)).order_by(t.Payment.award_id)
        ).first()
        if live is not None:
            award_id, payment_id, status = live
            raise Refused(409, f"奖补 {award_id} 已有{PAYMENT_STATUS[status]}的拨付 {payment_id},不能重复拨付")


def _new_batch(session: Session, actor: Actor, awards: list[t.Award]) -> t.PaymentBatch:
    _no_live_payment(session, [award.id for award in awards])
    batch = t.PaymentBatch(created_by=actor.user_id)
    session.add(batch)
    session.flush()
    payments = [t.Payment(batch_id=batch.id, award_id=award.id, amount=award.amount, status="pending") for award in awards]
    session.add_all(payments)
    for award in awards:
        old, award.status = award.status, "in_batch"
        budgets.move(session, award, old, award.status)  # payable or failed -> in_batch: no money moves
    changes: list[tuple[str, t.Base]] = [("payment_batch.create", batch)]
    for award, payment in zip(awards, payments, strict=True):
        changes += [("payment.create", payment), ("award.in_batch", award)]
    audit.record_many(session, actor.username, changes)
    return batch


def make_batch(
    session: Session, actor: Actor, award_ids: list[int] | None = None, department: str | None = None,
    today: dt.date | None = None,
) -> t.PaymentBatch:
    """A batch of every payable cash award (or of `award_ids`, each of which must be payable)."""
    _writer(actor)
    from zhida.ledger import review  # awards whose 公示 ended become payable first

    review.release_due(session, today or dt.date.today())
    query = select(t.Award).where(t.Award.status == "payable", t.Award.cash.is_(True))
    if department:
        query = query.where(t.Award.department == department)
    if award_ids is not None:
        wanted = sorted(set(award_ids))
        if not wanted:
            raise Refused(422, "award_ids: 须列出至少一项奖补")
        awards = [award for start in range(0, len(wanted), CHUNK)
                  for award in _locked_awards(session, query.where(t.Award.id.in_(wanted[start:start + CHUNK])))]
        missing = sorted(set(wanted) - {award.id for award in awards})
        if missing:
            raise Refused(409, f"奖补 {missing[0]} 不是待拨付状态(公示期满且无异议的现金奖补才能拨付)")
    else:
        awards = _locked_awards(session, query)
    if not awards:
        raise Refused(409, "没有待拨付的奖补" + (f"({department})" if department else ""))
    return _new_batch(session, actor, awards)


def mark(session: Session, actor: Actor, payment_id: int, paid: bool, bank_reason: str | None = None) -> t.Payment:
    """The bank's answer for one payment: paid, or failed with the bank's reason."""
    _writer(actor)
    payment = session.scalars(select(t.Payment).where(t.Payment.id == payment_id).with_for_update()).one_or_none()
    if payment is None:
        raise Refused(404, f"没有拨付 {payment_id}")
    if payment.status != "pending":
        raise Refused(409, f"拨付 {payment_id} 已{PAYMENT_STATUS[payment.status]},不能再登记银行回单")
    reason = (bank_reason or "").strip()
    if not paid and not reason:
        raise Refused(422, "bank_reason: 拨付失败须填写银行退回原因(如 账户已销户、户名不符)")
    award = session.scalars(select(t.Award).where(t.Award.id == payment.award_id).with_for_update()).one()
    payment.status = "paid" if paid else "failed"
    payment.bank_reason = reason or None
    payment.marked_by = actor.user_id
    payment.marked_at = t.utcnow()
    old, award.status = award.status, payment.status
    budgets.move(session, award, old, award.status)  # paid: +paid on the award's budget rows
    audit.record(session, actor.username, f"payment.{payment.status}", payment)
    audit.record(session, actor.username, f"award.{award.status}", award)
    return payment


def retry(session: Session, actor: Actor, award_ids: list[int]) -> t.PaymentBatch:
    """A new batch for awards whose payment failed (the account corrected, say)."""
    _writer(actor)
    wanted = sorted(set(award_ids))
    if not wanted:
        raise Refused(422, "award_ids: 须列出至少一项拨付失败的奖补")
    awards: list[t.Award] = []
    for start in range(0, len(wanted), CHUNK):
        awards.extend(_locked_awards(session, select(t.Award).where(t.Award.id.in_(wanted[start:start + CHUNK]))))
    found = {award.id: award for award in awards}
    for award_id in wanted:
        award = found.get(award_id)
        if award is None:
            raise Refused(404, f"没有奖补 {award_id}")
        if award.status != "failed":
            _no_live_payment(session, [award_id])  # a paid or pending award: say so in those words
            raise Refused(409, f"奖补 {award_id} 的状态为 {award.status},只有拨付失败的奖补可以重新拨付")
    return _new_batch(session, actor, [found[award_id] for award_id in wanted])


# --------------------------------------------------------------------------- reading and export


def batch_of(session: Session, actor: Actor, batch_id: int) -> t.PaymentBatch:
    require(actor, Role.FINANCE, Role.ADMIN, Role.LEADERSHIP)
    batch = session.get(t.PaymentBatch, batch_id)
    if batch is None:
        raise Refused(404, f"没有拨付批次 {batch_id}")
    return batch


@dataclass(frozen=True)
class ExportRow:
    batch: int
    number: int
    payment_id: int
    award_id: int
    subject_name: str
    subject_id: str
    policy: str
    article: str
    amount: Decimal
    status: str

    def cells(self) -> list:
        """The row as the bank file shows it; text neutralised (a leading = + - @ is not a formula)."""
        from zhida.engine.match import neutralise  # here: it brings DuckDB, which a batch does not need

        return [self.batch, self.number, neutralise(self.subject_name), neutralise(self.subject_id),
                neutralise(self.policy), neutralise(self.article), self.amount, PAYMENT_STATUS[self.status]]


def export_rows(session: Session, pack: Pack, actor: Actor, batch_id: int) -> list[ExportRow]:
    """The batch's payments in order, with full codes (this goes to the bank: finance and admin only)."""
    require(actor, Role.FINANCE, Role.ADMIN)
    batch_of(session, actor, batch_id)
    titles = {rule.id: to_simplified(rule.spec.title) for rule in pack.rules}
    query = (
        select(t.Payment, t.Award, t.Subject)
        .join(t.Award, t.Award.id == t.Payment.award_id)
        .join(t.Subject, t.Subject.id == t.Award.subject_id)
        .where(t.Payment.batch_id == batch_id)
        .order_by(t.Payment.id)
    )
    return [
        ExportRow(batch_id, number, payment.id, award.id, subject.name, subject.id,
                  titles.get(award.rule_id, award.rule_id), article_label(award.article), payment.amount, payment.status)
        for number, (payment, award, subject) in enumerate(session.execute(query), start=1)
    ]


DIGITS = "零一二三四五六七八九"


def article_label(number: int) -> str:
    """The document's own numbering of an article: 3 → (三), 30 → (三十), 52 → (五十二)."""
    tens, ones = divmod(number, 10)
    text = ("" if tens == 0 else "十" if tens == 1 else DIGITS[tens] + "十") + (DIGITS[ones] if ones else "")
    return f"({text or DIGITS[0]})"


def csv_bytes(rows: Iterable[ExportRow]) -> bytes:
    """CSV with a BOM (utf-8-sig) so that Excel opens the Chinese headers right; amounts as 1234.50."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADERS)
    for row in rows:
        cells = row.cells()
        cells[6] = f"{row.amount:.2f}"
        writer.writerow(cells)
    return buffer.getvalue().encode("utf-8-sig")


def xlsx_bytes(rows: Iterable[ExportRow]) -> bytes:
    """A workbook with one sheet; the amount a numeric cell with two decimals (exact: a Decimal goes in)."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "拨付批次"
    sheet.append(list(HEADERS))
    for row in rows:
        sheet.append(row.cells())
        sheet.cell(row=sheet.max_row, column=7).number_format = "#,##0.00"
        sheet.cell(row=sheet.max_row, column=4).number_format = "@"  # 18 digits: text, never a float
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def export_bytes(path: Path, rows: list[ExportRow]) -> bytes:
    """The batch file for `path` (.csv or .xlsx, by its suffix), as the bank's upload tool reads it."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise Refused(422, f"{path}: 导出文件须为 .csv 或 .xlsx")
    return csv_bytes(rows) if suffix == ".csv" else xlsx_bytes(rows)
