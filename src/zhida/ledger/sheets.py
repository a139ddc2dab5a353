"""Spreadsheets for people: the ledger's lists as Excel and CSV, and the import templates.

    Column(header, kind)          kind: text | money | code | date | number
    Table(title, columns, rows)   one sheet (or one CSV file)
    xlsx_bytes(tables)            a workbook, one sheet per table
    csv_bytes(table)              CSV with a BOM (utf-8-sig), so that Excel opens the Chinese right
    decisions / publicity_list / budget_tables / target_tables   the ledger's lists as tables, for the exports
    register_template / events_template          the import templates (zhida.ledger.imports)

Every header is Chinese; rules are named by their titles (Simplified) and articles by the
document's own numbering ((三)). An amount is a numeric cell Excel can sum: the Decimal goes in as
it is (openpyxl writes its exact digits into the file) with the format #,##0.00; in CSV it is
1234.50. A code (统一社会信用代码, 18-digit 身份证号码) is a text cell, never a number that would lose
digits. Text that a spreadsheet would run as a formula (= + - @ …) is neutralised with a leading
apostrophe (`engine.match.neutralise`, OWASP's advice), amounts never.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhida.engine.match import EXCEL_ROW_LIMIT, neutralise
from zhida.ledger import review, targets
from zhida.ledger import tables as t
from zhida.ledger.access import Actor, Refused, Role, require
from zhida.ledger.budgets import Report
from zhida.ledger.identity import mask_identity
from zhida.ledger.imports import EVENT_COLUMNS, SUBJECT_COLUMNS
from zhida.ledger.payments import article_label
from zhida.rules.pack import Pack
from zhida.source.script import to_simplified

MONEY_FORMAT = "#,##0.00"
SHARE_FORMAT = "0.00"
DATE_FORMAT = "yyyy-mm-dd"
TEXT_FORMAT = "@"
LEVEL_WORDS = {"none": "", "70%": "达到70%", "90%": "达到90%"}


@dataclass(frozen=True)
class Column:
    header: str
    kind: str = "text"  # text | money | code | date | number


@dataclass(frozen=True)
class Table:
    title: str  # the sheet's name (at most 31 characters)
    columns: Sequence[Column]
    rows: Iterable[Sequence[Any]]


# --------------------------------------------------------------------------- writing


def xlsx_bytes(tables: Sequence[Table]) -> bytes:
    """A workbook (write-only: rows stream into it), one sheet per table, header row frozen."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheets = []
    try:
        for table in tables:
            sheet = book.create_sheet(table.title[:31])
            sheets.append(sheet)
            sheet.freeze_panes = "A2"
            sheet.append([column.header for column in table.columns])
            for count, row in enumerate(table.rows, start=1):
                if count > EXCEL_ROW_LIMIT:
                    raise Refused(422, f"{table.title}超过 Excel 单表上限 {EXCEL_ROW_LIMIT} 行;请下载 CSV")
                cells = []
                for column, value in zip(table.columns, row, strict=True):
                    cell = WriteOnlyCell(sheet, value=_excel_value(column, value))
                    if column.kind == "money":
                        cell.number_format = MONEY_FORMAT
                    elif column.kind == "number":
                        cell.number_format = SHARE_FORMAT
                    elif column.kind == "date":
                        cell.number_format = DATE_FORMAT
                    elif column.kind == "code":
                        cell.number_format = TEXT_FORMAT
                    cells.append(cell)
                sheet.append(cells)
    except BaseException:
        # A refused table leaves its write-only sheet half-written: close it now, or openpyxl's row writer
        # raises "I/O operation on closed file" whenever it is garbage-collected (as match._write_excel does).
        for sheet in sheets:
            sheet.close()
        raise
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def csv_bytes(table: Table) -> bytes:
    """CSV with a BOM and CRLF lines (what Excel writes and reads); amounts as 1234.50."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([column.header for column in table.columns])
    for row in table.rows:
        writer.writerow([_csv_value(column, value) for column, value in zip(table.columns, row, strict=True)])
    return buffer.getvalue().encode("utf-8-sig")


def _excel_value(column: Column, value: Any) -> Any:
    if value is None:
        return None
    if column.kind == "money":
        return Decimal(value)
    if isinstance(value, str):
        return neutralise(value)
    return value


def _csv_value(column: Column, value: Any) -> str:
    if value is None:
        return ""
    if column.kind == "money":
        return f"{Decimal(value):.2f}"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return neutralise(value)
    return str(value)


# --------------------------------------------------------------------------- the ledger's lists

DECISION_COLUMNS = (
    Column("决定"), Column("编号", "number"), Column("主体名称"), Column("统一社会信用代码/身份证号码", "code"),
    Column("区县"), Column("政策"), Column("条款"), Column("牵头部门"), Column("核定金额(元)", "money"),
    Column("计算上限(元)", "money"), Column("状态"), Column("决定日期", "date"), Column("理由"),
)


def decisions(session: Session, pack: Pack, actor: Actor) -> Table:
    """Every decision: the awards granted (on application or 免申即享) and the applications rejected.
    A department's reviewer gets its own; finance, leadership and admin all (leadership with identity
    numbers masked, as on the 公示 list)."""
    require(actor, Role.REVIEWER, Role.FINANCE, Role.LEADERSHIP, Role.ADMIN)
    return Table("审核决定", DECISION_COLUMNS, _decision_rows(session, pack, actor))


def _decision_rows(session: Session, pack: Pack, actor: Actor) -> Iterator[list[Any]]:
    titles = _titles(pack)
    shown = mask_identity if actor.role is Role.LEADERSHIP else (lambda code: code)
    awards = select(t.Award, t.Subject).join(t.Subject, t.Subject.id == t.Award.subject_id).order_by(t.Award.id)
    rejected = (
        select(t.Application, t.Subject).join(t.Subject, t.Subject.id == t.Application.subject_id)
        .where(t.Application.status == "rejected").order_by(t.Application.id)
    )
    if actor.role is Role.REVIEWER:
        awards = awards.where(t.Award.department == actor.department)
        rejected = rejected.where(t.Application.department == actor.department)
    for award, subject in session.execute(awards.execution_options(yield_per=2000)):
        how = "核准(免申即享)" if award.proposal_id is not None else "核准"
        yield [how, award.id, subject.name, shown(subject.id), subject.county, titles.get(award.rule_id, award.rule_id),
               article_label(award.article), award.department, award.amount, award.ceiling,
               review.STATUS_NAMES.get(award.status, award.status), award.decided_at.date(), None]
    for application, subject in session.execute(rejected.execution_options(yield_per=2000)):
        decided = application.decided_at.date() if application.decided_at else None
        yield ["驳回", application.id, subject.name, shown(subject.id), subject.county,
               titles.get(application.rule_id, application.rule_id), article_label(application.article),
               application.department, None, application.ceiling, review.STATUS_NAMES["rejected"], decided,
               application.reason]


PUBLICITY_COLUMNS = (
    Column("编号", "number"), Column("主体名称"), Column("统一社会信用代码/身份证号码", "code"), Column("政策"),
    Column("条款"), Column("牵头部门"), Column("金额(元)", "money"), Column("状态"), Column("公示截止", "date"),
)


def publicity_list(session: Session, pack: Pack, department: str | None = None, today: dt.date | None = None) -> Table:
    """兑前公示 as published: public, identity numbers masked (enterprise codes are public)."""
    titles = _titles(pack)
    rows = [
        [award.id, subject.name, mask_identity(subject.id), titles.get(award.rule_id, award.rule_id),
         article_label(award.article), award.department, award.amount, review.STATUS_NAMES[award.status],
         award.publicity_until]
        for award, subject in review.publicity(session, department, today)
    ]
    return Table("兑前公示", PUBLICITY_COLUMNS, rows)


# (sheet title, Report attribute, header of the key column, header of the name column)
BUDGET_GROUPINGS = (
    ("按领域", "areas", "领域", "名称"),
    ("按部门", "departments", "部门", "牵头领域"),
    ("按区县", "counties", "区县", "区县名称"),
    ("按规则", "rules", "规则", "规则名称"),
)
BUDGET_AMOUNTS = (
    Column("部门"), Column("文件预算(元)", "money"), Column("预算或分配(元)", "money"), Column("已承诺(元)", "money"),
    Column("已拨付(元)", "money"), Column("剩余(元)", "money"), Column("承诺占比(%)", "number"), Column("预警"),
    Column("税收减免(元,不计入预算)", "money"),
)


WARNING_KINDS = {"area": "领域预算", "rule": "规则分配", "county": "区县分配"}


def budget_tables(report: Report) -> list[Table]:
    """One sheet per grouping (area, department, county, rule), a 合计 sheet and the 预警 (70%, 90% of a budget
    committed): `zhida report budget --xlsx` and the leadership's download."""
    tables = []
    for title, attribute, key_header, name_header in BUDGET_GROUPINGS:
        columns = (Column(key_header), Column(name_header), *BUDGET_AMOUNTS)
        tables.append(Table(title, columns, [_budget_cells(row) for row in getattr(report, attribute)]))
    totals = [("文件所列支持总额", report.document_total), ("各领域预算合计", report.budget_total),
              ("已承诺", report.committed), ("已拨付", report.paid), ("剩余", report.left),
              ("税收减免(减少的收入,不计入预算)", report.tax_savings)]
    tables.append(Table("合计", (Column("项目"), Column("金额(元)", "money")), totals))
    warnings = [[warning.area, WARNING_KINDS[warning.which], warning.key, LEVEL_WORDS[warning.level], warning.message]
                for warning in report.warnings]
    tables.append(Table("预警", (Column("领域"), Column("类别"), Column("规则或区县"), Column("预警"), Column("说明")), warnings))
    return tables


def budget_flat(report: Report) -> Table:
    """The budget report as one CSV table: each grouping's rows under a 分组 column."""
    rows = [
        [title, *_budget_cells(row)]
        for title, attribute, _, _ in BUDGET_GROUPINGS
        for row in getattr(report, attribute)
    ]
    columns = (Column("分组"), Column("领域/部门/区县/规则"), Column("名称"), *BUDGET_AMOUNTS)
    return Table("预算执行", columns, rows)


def _budget_cells(row) -> list[Any]:
    return [row.key, row.name, row.department, row.document_budget, row.allocated, row.committed, row.paid, row.left,
            row.share, LEVEL_WORDS[row.level], row.tax_savings]


TARGET_COLUMNS = (
    Column("编号"), Column("类别"), Column("条款"), Column("领域"), Column("内容"), Column("牵头部门"), Column("责任部门"),
    Column("区县"), Column("份额"), Column("目标(按原文单位)"), Column("目标值"), Column("目标上限"), Column("单位"),
    Column("最新值"), Column("报告期"), Column("截至日期", "date"), Column("状态"), Column("备注"),
)
TARGET_PLACES = Decimal("0.000001")


def target_tables(board: targets.Board) -> list[Table]:
    """The board (`zhida report targets --xlsx`): one row per owner of an item, counts per department and
    county, and the board's note. Values are numeric cells, exact where they have a decimal form."""
    tables = [Table("责任分解", TARGET_COLUMNS, [_target_cells(line) for line in board.lines])]
    for title, tally in (("按部门", board.by_department), ("按区县", board.by_county)):
        columns = (Column(title[1:]), *(Column(targets.STATUS_NAMES[status]) for status in targets.SEVERITY))
        rows = [[name, *(counts[status] for status in targets.SEVERITY)] for name, counts in sorted(tally.items())]
        tables.append(Table(title, columns, rows))
    tables.append(Table("说明", (Column("说明"),), [[board.note]]))
    return tables


def _target_cells(line: targets.Line) -> list[Any]:
    item, goal, latest, indicator = line.item, line.goal, line.latest, line.item.indicator
    return [
        item.id, "指标" if item.kind == "indicator" else "任务", item.article, item.area, item.text, item.department,
        line.department, line.county or targets.CITY, _exact(line.share),
        None if goal is None or indicator is None else targets.in_text_unit(goal.low, indicator),
        None if goal is None else _exact(goal.low),
        None if goal is None or goal.high is None else _exact(goal.high),
        None if indicator is None else to_simplified(indicator.unit),
        None if latest is None or goal is None else latest.value.normalize(),
        None if latest is None else latest.period,
        None if latest is None else latest.as_of,
        targets.STATUS_NAMES[line.status],
        None if latest is None else latest.note,
    ]


def _exact(value: Fraction) -> Decimal:
    """An exact value as a numeric cell: exact when it has a decimal form, else to 6 places (2/3)."""
    text = targets.fraction_text(value)
    if "/" in text:
        return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(TARGET_PLACES)
    return Decimal(text)


def _titles(pack: Pack) -> dict[str, str]:
    return {rule.id: to_simplified(rule.spec.title) for rule in pack.rules}


# --------------------------------------------------------------------------- import templates

SUBJECT_NOTES = {
    "subject_id": "企业等填 18 位统一社会信用代码;消费者、居民填 18 位居民身份证号码(本列为文本格式)",
    "kind": "主体类型的中文名称或英文代码,见下表",
    "name": "主体名称,1 至 200 个字",
    "county": "可留空;湖州市的区县之一:吴兴区、南浔区、德清县、长兴县、安吉县、南太湖新区",
}
EVENT_NOTES = {
    "event_id": "可留空;填写时在文件内不能重复",
    "subject_id": "主体的统一社会信用代码或身份证号码(须已在账本中:先导入主体名册)",
    "type": "事件类型的中文名称或英文代码,见“事件类型说明”",
    "date": "YYYY-MM-DD,如 2025-05-01;事件各字段记入主体档案,以此日期为准",
}


def register_template(pack: Pack) -> list[Table]:
    """The register's template: the headers (code column as text), and a sheet that explains them."""
    columns = [Column(chinese, "code" if key == "subject_id" else "text") for key, (chinese, _) in SUBJECT_COLUMNS.items()]
    notes = [[chinese, key, SUBJECT_NOTES[key]] for key, (chinese, _) in SUBJECT_COLUMNS.items()]
    notes += [["", "", ""], ["主体类型", "代码", ""]] + [[name, key, ""] for key, name in pack.subjects.items()]
    explain = (Column("列名"), Column("英文列名(也可使用)"), Column("填写说明"))
    return [Table("主体名册", columns, []), Table("填写说明", explain, notes)]


def event_field_headers(pack: Pack) -> list[str]:
    """One column per field title (a title several event types share, such as 企业类别, once)."""
    seen: dict[str, None] = {}
    for event_type in pack.events.values():
        for event_field in event_type.fields:
            seen.setdefault(event_field.title, None)
    return list(seen)


def events_template(pack: Pack) -> list[Table]:
    """The events' template: the four keys and every field's title; a sheet listing each event type's fields."""
    keys = [Column(chinese, "code" if key == "subject_id" else "text") for key, (chinese, _) in EVENT_COLUMNS.items()]
    columns = keys + [Column(title) for title in event_field_headers(pack)]
    explain = (Column("事件类型"), Column("代码"), Column("适用主体"), Column("需填写的列"), Column("说明"))
    notes: list[list[str]] = [[chinese, key, "", "", EVENT_NOTES[key]] for key, (chinese, _) in EVENT_COLUMNS.items()]
    notes.append(["", "", "", "", ""])
    for event_type in pack.events.values():
        fields = "；".join(_field_note(event_field) for event_field in event_type.fields) or "(无)"
        kinds = "、".join(pack.subjects[name] for name in event_type.subjects)
        notes.append([event_type.title, event_type.name, kinds, fields, ""])
    return [Table("事件", columns, []), Table("事件类型说明", explain, notes)]


def _field_note(event_field) -> str:
    kind = {"money": "金额(元,最多两位小数)", "number": "数字", "integer": "整数", "flag": "是/否",
            "choice": "可选:" + "、".join(event_field.values), "text": "文字"}[event_field.type.value]
    return f"{event_field.title}({event_field.name}):{kind}"
