"""`zhida targets assign|report` and `zhida report targets`.

The report shows every indicator and task of the pack with its owners (责任分解), each owner's goal
written as the text writes it (45万标箱 for a 0.5 share of 90萬標箱) beside the exact value, the
latest reported value and the status, then counts by status per department. --json gives the same
as the API's GET /api/v1/targets (exact numbers as strings); --xlsx a workbook with Chinese
headers, numbers as numeric cells and text that a spreadsheet would run as a formula neutralised.
The two change commands act as a named existing user (--user), with that user's rights.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from zhida.cli_ledger import (
    DATABASE_OPTION, PACK_OPTION, USER_OPTION, acting, ledger_session, open_pack, report_app, show_report,
    targets_app, write_file,
)
from zhida.ledger import sheets, targets
from zhida.source.script import to_simplified


@report_app.command("targets")
def report_targets(
    as_json: bool = typer.Option(False, "--json", help="机器可读的 JSON(精确数值为字符串)"),
    xlsx: Path | None = typer.Option(None, "--xlsx", help="另存为 Excel 工作簿"),
    database: str | None = DATABASE_OPTION,
    pack_choice: str | None = PACK_OPTION,
) -> None:
    """目标与任务的责任分解与进度:每个目标任务的责任部门、区县、目标、最新值与状态"""
    pack = open_pack(pack_choice)
    with ledger_session(database, read_only=True) as session:
        result = targets.board(session, pack)
    show_report(as_json, xlsx, data=lambda: targets.as_json(result), terminal=lambda: _print(result),
                write=lambda path: write_xlsx(result, path), written=f"已写入 {xlsx}:{len(result.lines)} 行")


@targets_app.command("assign")
def targets_assign(
    item: str = typer.Argument(..., help="indicator-N 或 task-N"),
    department: str = typer.Option(..., "--department", help="责任部门,如 市交通运输局"),
    county: str = typer.Option("", "--county", help="区县;不填为市级"),
    share: str = typer.Option(..., "--share", help="份额,0 < share <= 1,如 0.5"),
    user: str = USER_OPTION,
    database: str | None = DATABASE_OPTION,
    pack_choice: str | None = PACK_OPTION,
) -> None:
    """把目标或任务分解给部门(及区县)"""
    pack = open_pack(pack_choice)
    with ledger_session(database) as session:
        row = targets.assign(session, pack, item, department, county, share, acting(session, user))
    place = row.county or targets.CITY
    print(f"责任分解 {row.id}:{item} → {row.department}({place}),份额 {targets.decimal_text(row.share)}")


@targets_app.command("report")
def targets_report(
    assignment: int = typer.Argument(..., help="责任分解编号"),
    value: str = typer.Option(..., "--value", help="截至日期的累计值(比率为当时水平),十进制数字"),
    period: str = typer.Option(..., "--period", help="报告期:2025、2025-06 或 2025-Q2"),
    as_of: str = typer.Option(..., "--as-of", help="截至日期,如 2025-06-30"),
    note: str = typer.Option("", "--note", help="说明"),
    evidence: str = typer.Option("", "--evidence", help="佐证材料"),
    user: str = USER_OPTION,
    database: str | None = DATABASE_OPTION,
) -> None:
    """报送一条进度(以前的报送保留)"""
    with ledger_session(database) as session:
        report = targets.report_progress(session, assignment, value, period, as_of, acting(session, user),
                                         note=note, evidence=evidence)
    value_text = targets.decimal_text(report.value)
    print(f"进度报送 {report.id}:责任分解 {assignment},{period} 截至 {report.as_of.isoformat()} 为 {value_text}")


# --------------------------------------------------------------------------- terminal


def _print(result: targets.Board) -> None:
    console = Console(markup=False, highlight=False, emoji=False)
    table = Table(title="目标与任务的责任分解与进度", show_lines=False)
    for header in ("编号", "条款", "内容", "责任部门", "区县", "目标", "最新值", "状态"):
        table.add_column(header, overflow="fold")
    for line in result.lines:
        table.add_row(*(Text(cell) for cell in _terminal_row(line)))
    console.print(table)
    console.print(result.note)
    counts = Table(title="按部门统计")
    counts.add_column("部门")
    for status in targets.SEVERITY:
        counts.add_column(targets.STATUS_NAMES[status], justify="right")
    for department, tally in sorted(result.by_department.items()):
        counts.add_row(Text(department), *(Text(str(tally[status])) for status in targets.SEVERITY))
    console.print(counts)


def _terminal_row(line: targets.Line) -> tuple[str, ...]:
    item, goal, latest = line.item, line.goal, line.latest
    article = f"第{item.article}条" if item.article else f"第{item.area}部分目标"
    department = line.department + ("(未分解,默认)" if line.implicit else "")
    if goal is not None and item.indicator is not None:
        exact = targets.fraction_text(goal.low) + to_simplified(item.indicator.unit)
        target = f"{targets.in_text_unit(goal.low, item.indicator)}(={exact},份额 {targets.fraction_text(line.share)})"
    else:
        target = "—"
    if latest is None:
        reported = "—"
    elif goal is None:
        reported = f"{latest.period}:{latest.note}"
    else:
        reported = f"{targets.decimal_text(latest.value)}({latest.period},截至 {latest.as_of.isoformat()})"
    return (item.id + ("" if line.assignment_id is None else f" #{line.assignment_id}"), article, item.text,
            department, line.county or targets.CITY, target, reported, targets.STATUS_NAMES[line.status])


# --------------------------------------------------------------------------- workbook


def write_xlsx(result: targets.Board, path: Path) -> None:
    """The board as a workbook (ledger.sheets.target_tables): one row per owner of an item, then counts per
    department and county."""
    write_file(path, sheets.xlsx_bytes(sheets.target_tables(result)))
