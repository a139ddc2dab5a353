"""The leadership dashboard: budget execution, top benefits and targets' progress, drawn with ECharts (served from static/).

    GET /dashboard[?department=&county=]   leadership and admin: budget execution by area (against the
                                           document's 233.9亿元), department, county and rule (top N);
                                           the largest awards; every target's progress by department
                                           and county (the target table filtered by the query)
    GET /dashboard/data.json               the charts' data as JSON (the same as embedded in the page)

The charts' data is embedded in the page as `<script type="application/json" id="dashboard-data">`
(data, not code: the CSP's `script-src 'self'` does not apply to it) and drawn by static/dashboard.js
with the vendored static/vendor/echarts/echarts.min.js. Every amount in it is an exact decimal string
(budgets.report_json); the script converts to numbers only to draw. The same numbers are in the
tables below the charts, for screen readers and for readers without JavaScript.

Speed: the budget report reads the awards' running sums (tables.AwardSum, a few hundred rows
however many awards) and the largest awards come from the amount index, so the page is computed
afresh on every visit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhida.ledger import budgets, targets
from zhida.ledger import tables as t
from zhida.ledger.access import Refused, Role
from zhida.ledger.database import reading
from zhida.ledger.identity import COUNTIES
from zhida.ledger.review import STATUS_NAMES
from zhida.rules.pack import Pack
from zhida.source.script import to_simplified
from zhida.web.site import render, signed_in_page

router = APIRouter(include_in_schema=False)
TOP_RULES = 10
TOP_AWARDS = 10
MAX_FILTER = 50
NUMERALS = budgets.NUMERALS


# --------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class Snapshot:
    """The dashboard's figures as the ledger stands."""

    report: budgets.Report
    payload: dict[str, Any]


def snapshot(request: Request) -> Snapshot:
    state = request.app.state.ledger
    with reading(state.factory) as session:
        report = budgets.budget_report(session, state.pack)
        board = targets.board(session, state.pack)
        payload = dashboard_json(report, board, top_awards(session, state.pack))
    return Snapshot(report, payload)


def dashboard_json(report: budgets.Report, board: targets.Board, largest: list[dict[str, Any]]) -> dict[str, Any]:
    """What the charts draw: the budget report as budgets.report_json gives it, the rules ranked by
    committed (top N), the largest awards, and the targets' status counts by department and county."""
    ranked = sorted(report.rules, key=lambda row: (-row.committed, row.key))[:TOP_RULES]
    return {
        "report": budgets.report_json(report),
        "top_rules": [row.key for row in ranked if row.committed > 0],
        "top_awards": largest,
        "targets": {
            "statuses": [[status.value, targets.STATUS_NAMES[status]] for status in targets.SEVERITY],
            "departments": _counts(board.by_department),
            "counties": _counts(board.by_county, order=(targets.CITY, *COUNTIES)),
        },
    }


def _counts(rolled: dict[str, Any], order: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    names = [name for name in order if name in rolled] + sorted(set(rolled) - set(order))
    return [{"name": name, "counts": {status.value: rolled[name][status] for status in targets.SEVERITY},
             "total": sum(rolled[name].values())} for name in names]


def top_awards(session: Session, pack: Pack, limit: int = TOP_AWARDS) -> list[dict[str, Any]]:
    """The largest cash awards that count against the budgets (one ordered query, `limit` rows)."""
    titles = {rule.id: rule.spec.title for rule in pack.rules}
    query = (
        select(t.Award.id, t.Award.rule_id, t.Award.department, t.Award.county, t.Award.amount, t.Award.status,
               t.Subject.name)
        .join(t.Subject, t.Subject.id == t.Award.subject_id)
        .where(t.Award.cash.is_(True), t.Award.status.in_(t.COMMITTED_STATUSES), t.Award.amount.is_not(None))
        .order_by(t.Award.amount.desc(), t.Award.id)
        .limit(limit)
    )
    return [
        {"id": award_id, "rule": rule_id, "title": titles.get(rule_id, rule_id), "department": department,
         "county": county or "", "amount": f"{amount:f}", "status": status, "status_name": STATUS_NAMES.get(status, status),
         "subject": name}
        for award_id, rule_id, department, county, amount, status, name in session.execute(query)
    ]


# --------------------------------------------------------------------------- the tables


def area_heading(key: str, name: str) -> str:
    """一、科技创新 as the document numbers its parts."""
    number = int(key) if key.isdigit() else 0
    numeral = NUMERALS[number - 1] if 1 <= number <= len(NUMERALS) else key
    return f"{numeral}、{name}" if name else f"第{numeral}部分"


def rules_ranked(report: budgets.Report, keys: list[str]) -> list[budgets.Row]:
    by_key = {row.key: row for row in report.rules}
    return [by_key[key] for key in keys]


def target_lines(session: Session, pack: Pack, department: str, county: str) -> list[targets.Line]:
    """The indicators' lines (a target with a goal), filtered by department and county."""
    board = targets.board(session, pack, department=department or None, county=county or None)
    return [line for line in board.lines if line.item.kind == "indicator"]


def _filter_value(value: str, field: str) -> str:
    text = to_simplified(value.strip())
    if len(text) > MAX_FILTER:
        raise Refused(422, f"{field}: 不超过 {MAX_FILTER} 字")
    return text


def line_view(line: targets.Line) -> dict[str, Any]:
    indicator = line.item.indicator
    goal = "" if line.goal is None or indicator is None else targets.in_text_unit(line.goal.low, indicator)
    if line.goal is not None and line.goal.high is not None and indicator is not None:
        goal = f"{targets.fraction_text(line.goal.low)}—{targets.in_text_unit(line.goal.high, indicator)}"
    latest = line.latest
    unit = to_simplified(indicator.unit) if indicator is not None else ""
    return {
        "item": line.item,
        "name": to_simplified(indicator.name) if indicator is not None else "",
        "department": line.department,
        "county": line.county or targets.CITY,
        "share": targets.fraction_text(line.share),
        "goal": goal,
        "latest": "" if latest is None else f"{targets.decimal_text(latest.value)}{unit}",
        "as_of": "" if latest is None else latest.as_of.isoformat(),
        "status": line.status.value,
        "status_name": targets.STATUS_NAMES[line.status],
        "implicit": line.implicit,
    }


# --------------------------------------------------------------------------- routes


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, department: str = "", county: str = "") -> HTMLResponse:
    who = signed_in_page(request, Role.LEADERSHIP)
    state = request.app.state.ledger
    wanted_department = _filter_value(department, "department")
    wanted_county = _filter_value(county, "county")
    shot = snapshot(request)
    report = shot.report
    with reading(state.factory) as session:
        lines = [line_view(line) for line in target_lines(session, state.pack, wanted_department, wanted_county)]
    target_counts = shot.payload["targets"]
    return render(request, "dashboard.html", {
        "viewer": who,
        "report": report,
        "payload": embedded_json(shot.payload),
        "areas": [(area_heading(row.key, row.name), row) for row in report.areas],
        "top_rules": rules_ranked(report, shot.payload["top_rules"]),
        "top_awards": shot.payload["top_awards"],
        "statuses": target_counts["statuses"],
        "by_department": target_counts["departments"],
        "by_county": target_counts["counties"],
        "lines": lines,
        "departments": [entry["name"] for entry in target_counts["departments"]],
        "counties": [targets.CITY, *COUNTIES],
        "department": wanted_department,
        "county": wanted_county,
        "headline": headline,
    })


@router.get("/dashboard/data.json")
def dashboard_data(request: Request) -> JSONResponse:
    signed_in_page(request, Role.LEADERSHIP)
    return JSONResponse(snapshot(request).payload, headers={"Cache-Control": "no-store"})


def embedded_json(payload: dict[str, Any]) -> Markup:
    """The payload as the text of a <script type="application/json">: Chinese kept as characters (so
    a Traditional page converts the charts' labels too), and < > & ' escaped as JSON escapes, so no
    text in it can close the element."""
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    for character, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027")):
        text = text.replace(character, escape)
    return Markup(text)


def headline(value: Decimal | None) -> str:
    """An amount for a card's headline, in 亿元 or 万元 as it reads best (the exact 元 figure is beside it)."""
    if value is None:
        return "—"
    for unit, scale in (("亿元", Decimal(10) ** 8), ("万元", Decimal(10) ** 4)):
        if abs(value) >= scale:
            return f"{(value / scale).quantize(Decimal('0.01')):,} {unit}"
    return f"{value:,.2f} 元"
