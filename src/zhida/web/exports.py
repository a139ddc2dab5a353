"""Spreadsheet exports (Excel, and CSV with a BOM) of the ledger's lists, each for the roles that may see it.

    GET /export/decisions.{xlsx|csv}          审核决定: a department's reviewer its own; finance,
                                              leadership (identity numbers masked) and admin all
    GET /export/payments/{batch}.{xlsx|csv}   a payment batch as the bank's file: finance and admin
    GET /export/publicity.{xlsx|csv}[?department=]   兑前公示: public, identity numbers masked
    GET /export/budget.{xlsx|csv}             budget execution: leadership, finance and admin

The tables are built in the ledger (zhida.ledger.sheets, payments.export_rows): Chinese headers,
rule titles, amounts as numeric cells Excel can sum, codes as text, formulas neutralised. A
download is named in Chinese with RFC 6266's filename* (UTF-8) and an ASCII fallback.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from zhida.ledger import budgets, payments, sheets
from zhida.ledger.access import Refused, Role
from zhida.ledger.database import reading
from zhida.web.site import signed_in_page

router = APIRouter(include_in_schema=False)

MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


def download(data: bytes, stem: str, ascii_stem: str, fmt: str, private: bool = True) -> Response:
    """A file to save: Content-Disposition with the Chinese name (filename*) and an ASCII one for old clients."""
    name = f"{stem}.{fmt}"
    disposition = f"attachment; filename=\"{ascii_stem}.{fmt}\"; filename*=UTF-8''{quote(name, safe='')}"
    headers = {"Content-Disposition": disposition, "Cache-Control": "no-store" if private else "no-cache"}
    return Response(content=data, media_type=MEDIA_TYPES[fmt], headers=headers)


def _format(fmt: str) -> str:
    if fmt not in MEDIA_TYPES:
        raise Refused(404, "只提供 .xlsx 和 .csv 两种格式")
    return fmt


def _file(tables: list[sheets.Table], fmt: str) -> bytes:
    return sheets.xlsx_bytes(tables) if fmt == "xlsx" else sheets.csv_bytes(tables[0])


@router.get("/export/decisions.{fmt}")
def export_decisions(request: Request, fmt: str) -> Response:
    fmt = _format(fmt)
    who = signed_in_page(request, Role.REVIEWER, Role.FINANCE, Role.LEADERSHIP)
    state = request.app.state.ledger
    with reading(state.factory) as session:
        data = _file([sheets.decisions(session, state.pack, who.actor)], fmt)
    scope = who.actor.department if who.actor.role is Role.REVIEWER and who.actor.department else "全部"
    return download(data, f"审核决定-{scope}-{dt.date.today().isoformat()}", "decisions", fmt)


@router.get("/export/payments/{batch}.{fmt}")
def export_payments(request: Request, batch: str, fmt: str) -> Response:
    fmt = _format(fmt)
    who = signed_in_page(request, Role.FINANCE)
    if not batch.isascii() or not batch.isdigit() or len(batch) > 12:
        raise Refused(404, f"没有拨付批次 {batch}")
    state = request.app.state.ledger
    with reading(state.factory) as session:
        rows = payments.export_rows(session, state.pack, who.actor, int(batch))
    data = payments.xlsx_bytes(rows) if fmt == "xlsx" else payments.csv_bytes(rows)
    return download(data, f"拨付批次-{int(batch)}", f"payments-{int(batch)}", fmt)


@router.get("/export/publicity.{fmt}")
def export_publicity(request: Request, fmt: str, department: str | None = None) -> Response:
    fmt = _format(fmt)
    if department is not None and len(department) > 50:
        raise Refused(422, "部门名称过长")
    state = request.app.state.ledger
    if state is None:
        raise Refused(503, "此服务未配置账本数据库")
    with reading(state.factory) as session:
        data = _file([sheets.publicity_list(session, state.pack, department or None)], fmt)
    return download(data, f"兑前公示-{dt.date.today().isoformat()}", "publicity", fmt, private=False)


@router.get("/export/budget.{fmt}")
def export_budget(request: Request, fmt: str) -> Response:
    fmt = _format(fmt)
    signed_in_page(request, Role.LEADERSHIP, Role.FINANCE)
    state = request.app.state.ledger
    with reading(state.factory) as session:
        report = budgets.budget_report(session, state.pack)
    tables = sheets.budget_tables(report) if fmt == "xlsx" else [sheets.budget_flat(report)]
    return download(_file(tables, fmt), f"预算执行-{dt.date.today().isoformat()}", "budget", fmt)
