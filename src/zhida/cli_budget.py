"""`zhida budget set` and `zhida report budget`.

`budget set` acts as a named existing user (--user) with that user's rights: admin sets an area's
budget or any allocation; the lead department's reviewer sets allocations in its own area.
`report budget` shows committed, paid and left by area, department, county and rule against the
document's budgets (亿元/万元 as a reader writes them, and the exact 元 beside); --json gives the
same as GET /api/v1/budgets (exact decimal strings); --xlsx a workbook with Chinese headers, one
sheet per grouping, amounts as numeric cells (format #,##0.00) and text neutralised against formulas.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from zhida.cli_ledger import (
    DATABASE_OPTION, PACK_OPTION, acting, budget_app, ledger_session, open_pack, report_app, show_report,
    write_file,
)
from zhida.ledger import budgets, sheets
from zhida.ledger.access import Refused
from zhida.ledger.sheets import LEVEL_WORDS
from zhida.web.access import money


@budget_app.command("set")
def budget_set(
    area: str = typer.Argument(..., help="领域编号 1…8(或 一…八)"),
    yuan: str = typer.Argument(..., help="金额(元),如 1725000000 或 50000000.50"),
    rule: str | None = typer.Option(None, "--rule", help="按规则分配:规则 id"),
    county: str | None = typer.Option(None, "--county", help="按区县分配:区县名称,如 吴兴区"),
    user: str = typer.Option(..., "--user", help="以哪个已有用户的身份设定(管理员,或该领域牵头部门的审核用户)"),
    database: str | None = DATABASE_OPTION,
    pack_choice: str | None = PACK_OPTION,
) -> None:
    """设定领域预算,或领域内按规则、按区县的分配(不得低于已承诺金额)"""
    pack = open_pack(pack_choice)
    with ledger_session(database) as session:
        number = _area_number(area)
        amount = money(yuan, "金额")
        budgets.seed_budgets(session, pack)
        row = budgets.set_budget(session, pack, number, amount, acting(session, user), rule_id=rule, county=county)
        what = (budgets.rule_label(pack, row.rule_id) if row.rule_id
                else f"{budgets.area_label(pack, row.area, short=True)}{row.county}分配" if row.county
                else budgets.area_label(pack, row.area))
        room = budgets.committed(session, row.area, row.rule_id or None, row.county or None)
        print(f"{what}已设为 {yuan_words(row.yuan)}({row.yuan:,.2f} 元);已承诺 {room:,.2f} 元,剩余 {row.yuan - room:,.2f} 元")


@report_app.command("budget")
def report_budget(
    as_json: bool = typer.Option(False, "--json", help="机器可读的 JSON(金额为精确的十进制字符串)"),
    xlsx: Path | None = typer.Option(None, "--xlsx", help="另存为 Excel 工作簿"),
    database: str | None = DATABASE_OPTION,
    pack_choice: str | None = PACK_OPTION,
) -> None:
    """预算执行:按领域、部门、区县、规则的已承诺、已拨付与剩余,对照文件预算"""
    pack = open_pack(pack_choice)
    with ledger_session(database) as session:
        budgets.seed_budgets(session, pack)
        report = budgets.budget_report(session, pack)
    show_report(as_json, xlsx, data=lambda: budgets.report_json(report), terminal=lambda: _print(report),
                write=lambda path: write_xlsx(report, path),
                written=f"已写入 {xlsx}:{len(report.areas)} 个领域、{len(report.rules)} 条规则")


def _area_number(text: str) -> int:
    text = text.strip()
    if text in budgets.NUMERALS:
        return budgets.NUMERALS.index(text) + 1
    if text.isdigit():
        return int(text)
    raise Refused(422, f"领域须为编号 1…8 或 一…八,不是“{text}”")


def yuan_words(value: Decimal) -> str:
    """17.25亿元, 200万元, 500元: as a reader writes them; 约151万元 where the unit drops digits
    (the exact 元 is always shown beside)."""
    for unit, size in (("亿元", Decimal(100_000_000)), ("万元", Decimal(10_000))):
        if abs(value) >= size:
            scaled = value / size
            shown = scaled.quantize(Decimal("0.01"))
            prefix = "" if shown == scaled else "约"
            return f"{prefix}{shown.normalize():f}{unit}"
    return f"{value.normalize():f}元"


# --------------------------------------------------------------------------- terminal


def _print(report: budgets.Report) -> None:
    console = Console(highlight=False, emoji=False)
    table = Table(title="预算执行(按领域;税收减免为减少的收入,单列,不计入预算)", show_lines=True)
    for header, justify in (("领域", "left"), ("牵头部门", "left"), ("预算", "right"), ("已承诺", "right"),
                            ("已拨付", "right"), ("剩余", "right"), ("承诺占比", "right"), ("预警", "left"),
                            ("税收减免", "right")):
        table.add_column(header, justify=justify, overflow="fold")
    for row in report.areas:
        budget = _both(row.allocated)
        if row.allocated != row.document_budget and row.document_budget is not None:
            budget += f"\n(文件 {yuan_words(row.document_budget)})"
        table.add_row(escape(f"{row.key}. {row.name}"), escape(row.department), budget,
                      _both(row.committed), _both(row.paid), _both(row.left), _share(row.share),
                      LEVEL_WORDS[row.level], _both(row.tax_savings))
    console.print(table)
    for title, attribute, key_header, _ in sheets.BUDGET_GROUPINGS[1:]:
        rows = getattr(report, attribute)
        if not rows:
            continue
        small = Table(title=f"预算执行({title[1:]})" if title != "按规则" else "预算执行(按规则;仅列出有分配或有奖补的规则)")
        for header in (key_header, "预算或分配", "已承诺", "已拨付", "剩余", "承诺占比", "预警"):
            small.add_column(header, justify="left" if header in (key_header, "预警") else "right", overflow="fold")
        for row in rows:
            small.add_row(escape(row.key), _both(row.allocated), _both(row.committed), _both(row.paid),
                          _both(row.left), _share(row.share), LEVEL_WORDS[row.level])
        console.print(small)
    stated = "" if report.document_total is None else f",文件所列支持总额 {yuan_words(report.document_total)}({report.document_total:,.2f} 元)"
    console.print(f"各领域预算合计 {yuan_words(report.budget_total)}({report.budget_total:,.2f} 元){stated};"
                  f"已承诺 {report.committed:,.2f} 元,已拨付 {report.paid:,.2f} 元,剩余 {report.left:,.2f} 元;"
                  f"税收减免另计 {report.tax_savings:,.2f} 元", markup=False)
    for warning in report.warnings:
        console.print(f"预警:{warning.message}", markup=False, style="bold yellow")


def _both(value: Decimal | None) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "0"
    return f"{yuan_words(value)}\n{value:,.2f}"


def _share(value: Decimal | None) -> str:
    return "—" if value is None else f"{value}%"


# --------------------------------------------------------------------------- workbook


def write_xlsx(report: budgets.Report, path: Path) -> None:
    """The workbook the leadership downloads (ledger.sheets.budget_tables): a sheet per grouping, 合计 and 预警."""
    write_file(path, sheets.xlsx_bytes(sheets.budget_tables(report)))
