"""Importing the register (subjects) and events from a department's spreadsheet: all rows or none.

In: the bytes of one uploaded file, either an .xlsx workbook (its first sheet) or a CSV in UTF-8,
UTF-8 with a BOM, or GBK/GB18030 (what Chinese Excel saves as "CSV"): the encoding is found by
trying utf-8-sig, then gb18030; anything else (an .xls, a PDF, random bytes) is refused in one
sentence. The first row holds the headers, in Chinese as the downloadable templates write them
(统一社会信用代码, 主体类型, 名称, 所在区县; 事件编号, 主体代码, 事件类型, 发生日期 and each event
field by its title from the pack's events*.yaml) or as the English keys `zhida match` reads
(subject_id, kind, name, county; event_id, subject_id, type, date and the field names).

Out: the number of subjects or events imported, or `ImportRefused` listing every bad row: the row
as Excel shows it (the header is row 1), the column header as written, and a Chinese sentence.

The checks are the ledger's own, not new ones: a code by `subjects.subject_id_problem` (GB 32100 /
GB 11643 for its kind), a county by `identity.county_problem`, a kind by the pack's subject kinds,
a name and every event value by `engine.case.read_value` (the reading of a case and of a profile
fact: 1e27, 0.30000000000000004, a negative or a bracketed value is refused with its reason). Every
row is checked before anything is written; then `subjects.register_subject` and
`subjects.record_facts` write them in the caller's one transaction, and should either refuse a row
after all (another import registered the same code meanwhile) the error is raised as a row error
and the caller's transaction rolls back: nothing is half-imported.

A cell is data, never a formula: a workbook is read with its formulas as their text (=1+1 is the
three characters, refused where a number is wanted), and a number is never evaluated from text.
A code typed as a number in Excel (330102199001011234 stored as a float loses digits) is refused:
codes must be text cells, as the template's code column is formatted.

Events become profile facts (一企一档), decided here: each field of an event row is a fact of its
subject's profile, dated by 发生日期 (as_of), with source "imported" whoever imports it (an admin
or a department's reviewer: the value came from a file, it was not confirmed case by case). The
event's type decides which fields the row must carry and whether it applies to the subject's
kind; a value in a column the type does not read is refused rather than dropped. 事件编号 is
optional; when given it must be unique in the file (it is not stored: the profile keeps facts).
The subject of an event must already be in the ledger (import the register first).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhida.engine.case import CaseError, read_value
from zhida.ledger import subjects
from zhida.ledger import tables as t
from zhida.ledger.access import Actor, Refused, Role, require
from zhida.ledger.identity import county_name, county_problem, normalise_code
from zhida.rules.model import EventField, EventType, FieldType
from zhida.rules.pack import Pack
from zhida.source.script import to_simplified

MAX_ROWS = 20_000  # rows of one import (a department's file, not the whole register: that is `zhida match`)
MAX_ERRORS = 200  # errors listed on the page (the count of all is given)
MAX_UNZIPPED = 200 * 1024 * 1024  # bytes a workbook may unpack to (a zip bomb is refused before openpyxl)
XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, .doc: the old binary Office formats
SOURCE = "imported"
CODE_CHUNK = 5000

# key -> (the template's header, other headers accepted); keys are those `zhida match` reads
SUBJECT_COLUMNS = {
    "subject_id": ("统一社会信用代码", ("统一社会信用代码/身份证号码", "主体代码", "身份证号码", "id")),
    "kind": ("主体类型", ()),
    "name": ("名称", ("主体名称",)),
    "county": ("所在区县", ("区县",)),
}
SUBJECT_REQUIRED = ("subject_id", "kind", "name")
EVENT_COLUMNS = {
    "event_id": ("事件编号", ()),
    "subject_id": ("主体代码", ("统一社会信用代码", "统一社会信用代码/身份证号码", "身份证号码")),
    "type": ("事件类型", ()),
    "date": ("发生日期", ("日期",)),
}
EVENT_REQUIRED = ("subject_id", "type", "date")
FLAG_WORDS = {"true": True, "是": True, "1": True, "false": False, "否": False, "0": False}
DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}")
KEYED_HEADER = re.compile(r"^(?P<title>.+?)\s*[(（](?P<key>[a-z_][a-z0-9_]*)[)）]$")


@dataclass(frozen=True)
class RowError:
    """One problem: `row` as Excel shows it (1 = the header row, 0 = the file as a whole), `column`
    the header as written in the file ("" for a whole row), `message` one Chinese sentence."""

    row: int
    column: str
    message: str


class ImportRefused(Refused):
    """The file was not imported: every row error found (the first MAX_ERRORS of `count`)."""

    def __init__(self, errors: Sequence[RowError], what: str):
        self.errors = list(errors[:MAX_ERRORS])
        self.count = len(errors)
        super().__init__(422, f"{what}未导入:发现 {self.count} 处错误,请修改后重新上传(没有导入任何一行)")


@dataclass(frozen=True)
class Sheet:
    """A file as read: its headers as written and its rows with Excel's row numbers (blank rows dropped)."""

    headers: list[str]
    rows: list[tuple[int, list[Any]]]
    encoding: str  # "xlsx", "utf-8" or "gb18030"


# --------------------------------------------------------------------------- reading a file


def read_sheet(data: bytes) -> Sheet:
    """The first sheet of a workbook or the records of a CSV, whichever `data` is (by its bytes, not its name)."""
    if not data.strip():
        raise ImportRefused([RowError(0, "", "文件为空;第 1 行须为表头(列名)")], "文件")
    if data.startswith(XLSX_MAGIC):
        headers, rows = _workbook_rows(data)
        encoding = "xlsx"
    elif data.startswith(OLE_MAGIC):
        raise _file_error("这是旧版 Excel(.xls)文件;请在 Excel 中另存为 .xlsx 或 CSV 后上传")
    else:
        text, encoding = decode_text(data)
        headers, rows = _csv_rows(text)
    if not any(str(header).strip() for header in headers):
        raise _file_error("第 1 行须为表头(列名)")
    kept = [(number, cells) for number, cells in rows if any(not _blank(cell) for cell in cells)]
    if len(kept) > MAX_ROWS:
        raise _file_error(f"共 {len(kept)} 行,一次至多导入 {MAX_ROWS} 行;请分成几个文件")
    return Sheet([_header_text(header) for header in headers], kept, encoding)


def decode_text(data: bytes) -> tuple[str, str]:
    """The text of a CSV: UTF-8 (with or without BOM) first, else GB18030 (a superset of GBK and GB2312);
    bytes that are neither, or text with control characters (a binary file), are refused."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if any(unicodedata.category(char) == "Cc" and char not in "\t\r\n" for char in text):
            break
        return text, "utf-8" if encoding == "utf-8-sig" else encoding
    raise _file_error("不是 Excel(.xlsx)或 CSV 文本文件(CSV 须为 UTF-8 或 GBK 编码);请用模板另存后上传")


def _csv_rows(text: str) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    """Records numbered as Excel numbers them when it opens the file: one record, one row (a quoted
    value over several lines stays in its row), blank lines counted."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[Any]]] = []
    number = 0
    try:
        for number, record in enumerate(reader, start=1):
            rows.append((number, record))
    except csv.Error as error:
        raise ImportRefused([RowError(number + 1, "", f"CSV 格式错误({error});请检查引号是否成对")], "文件") from None
    if not rows:
        raise _file_error("文件为空;第 1 行须为表头(列名)")
    return rows[0][1], rows[1:]


def _workbook_rows(data: bytes) -> tuple[list[Any], list[tuple[int, list[Any]]]]:
    """The first sheet's cells as stored: formulas as their text (never evaluated), dates as datetimes."""
    import openpyxl

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(item.file_size for item in archive.infolist()) > MAX_UNZIPPED:
                raise _file_error("Excel 文件解压后过大;请分成几个文件")
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except ImportRefused:
        raise
    except Exception:  # noqa: BLE001 - openpyxl raises many kinds for a broken file
        raise _file_error("不是有效的 Excel(.xlsx)文件;请在 Excel 中另存为 .xlsx 或 CSV 后上传") from None
    try:
        found = workbook.worksheets[0].iter_rows(values_only=True)
        rows = [(number, list(cells)) for number, cells in enumerate(found, start=1)]
    finally:
        workbook.close()
    if not rows:
        raise _file_error("工作表为空;第 1 行须为表头(列名)")
    return rows[0][1], rows[1:]


def _header_text(header: Any) -> str:
    return "" if header is None else str(header).strip()


def _blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _file_error(message: str) -> ImportRefused:
    return ImportRefused([RowError(0, "", message)], "文件")


# --------------------------------------------------------------------------- headers


@dataclass
class Columns:
    """Which position holds which key, with the header as written (for messages)."""

    positions: dict[str, int] = field(default_factory=dict)
    written: dict[int, str] = field(default_factory=dict)

    def cell(self, cells: Sequence[Any], key: str) -> Any:
        position = self.positions.get(key)
        return cells[position] if position is not None and position < len(cells) else None

    def header(self, key: str, default: str) -> str:
        position = self.positions.get(key)
        return self.written[position] if position is not None else default


def _columns(headers: list[str], known: dict[str, tuple[str, tuple[str, ...]]], extra: dict[str, str],
             required: Sequence[str]) -> Columns:
    """Map each header to a key (a key, its Chinese header, another accepted name, or `title(key)`);
    a repeated, unknown or missing column is refused before any row is read."""
    names: dict[str, str] = {}
    for key, (chinese, others) in known.items():
        for name in (key, chinese, *others):
            names[name.casefold()] = key
    for name, key in extra.items():
        names.setdefault(name.casefold(), key)
    columns = Columns()
    errors: list[RowError] = []
    for position, header in enumerate(headers):
        if not header:
            continue
        keyed = KEYED_HEADER.match(header)
        key = names.get(header.casefold()) or (names.get(keyed["key"]) if keyed else None)
        if key is None:
            errors.append(RowError(1, header, "未知的列;可用的列见下载的模板"))
        elif key in columns.positions:
            errors.append(RowError(1, header, f"与“{columns.written[columns.positions[key]]}”是同一列,重复"))
        else:
            columns.positions[key] = position
            columns.written[position] = header
    for key in required:
        if key not in columns.positions:
            errors.append(RowError(1, known[key][0], f"缺少此列(也可写作 {key})"))
    if errors:
        raise ImportRefused(errors, "文件")
    return columns


def _unnamed(headers: list[str], number: int, cells: Sequence[Any]) -> list[RowError]:
    """A value in a column without a header would be lost: refuse it."""
    return [
        RowError(number, f"第 {position + 1} 列", "有值但该列没有列名")
        for position, cell in enumerate(cells)
        if not _blank(cell) and (position >= len(headers) or not headers[position])
    ]


# --------------------------------------------------------------------------- the register


@dataclass(frozen=True)
class SubjectRow:
    number: int
    code: str
    kind: str
    name: str
    county: str | None


def check_register(session: Session, pack: Pack, sheet: Sheet) -> tuple[list[SubjectRow], list[RowError]]:
    """Every row of a register checked (nothing written): the rows to register, and every error."""
    columns = _columns(sheet.headers, SUBJECT_COLUMNS, {}, SUBJECT_REQUIRED)
    errors: list[RowError] = []
    found: list[SubjectRow] = []
    first_row: dict[str, int] = {}
    for number, cells in sheet.rows:
        errors += _unnamed(sheet.headers, number, cells)
        row_errors: list[RowError] = []

        def problem(key: str, message: str) -> None:
            row_errors.append(RowError(number, columns.header(key, SUBJECT_COLUMNS[key][0]), message))

        kind = _kind(pack, columns.cell(cells, "kind"), lambda message: problem("kind", message))
        code = _code(columns.cell(cells, "subject_id"), lambda message: problem("subject_id", message))
        if code and kind:
            if reason := subjects.subject_id_problem(kind, code):
                problem("subject_id", reason)
            elif code in first_row:
                problem("subject_id", f"主体 {code} 与第 {first_row[code]} 行重复")
        if code:
            first_row.setdefault(code, number)
        name = _text_value(columns.cell(cells, "name"), "名称", lambda message: problem("name", message))
        county = None
        raw_county = columns.cell(cells, "county")
        if not _blank(raw_county):
            county_text = _text_value(raw_county, "区县", lambda message: problem("county", message))
            if county_text and (reason := county_problem(county_text)):
                problem("county", reason)
            elif county_text:
                county = county_name(county_text)
        if not row_errors and code and kind and name:
            found.append(SubjectRow(number, code, kind, name, county))
        errors += row_errors
    registered = _existing_codes(session, [row.code for row in found])
    for row in found:
        if row.code in registered:
            errors.append(RowError(row.number, columns.header("subject_id", "统一社会信用代码"), f"主体 {row.code} 已登记"))
    return found, sorted(errors, key=_order)


def import_register(session: Session, pack: Pack, actor: Actor, data: bytes) -> int:
    """Register every subject of the file in the caller's transaction, or none (ImportRefused)."""
    require(actor, Role.ADMIN, Role.REVIEWER)
    sheet = read_sheet(data)
    rows, errors = check_register(session, pack, sheet)
    if errors:
        raise ImportRefused(errors, "主体名册")
    for row in rows:
        try:
            subjects.register_subject(session, pack, actor, row.code, row.kind, row.name, row.county)
        except Refused as refusal:  # only what changed since the check (a concurrent registration)
            raise ImportRefused([RowError(row.number, "", refusal.message)], "主体名册") from None
    return len(rows)


def _kind(pack: Pack, raw: Any, problem) -> str | None:
    """A subject kind by its key (enterprise) or its Chinese name (企业), in either script."""
    if _blank(raw):
        problem("不能为空")
        return None
    text = to_simplified(str(raw).strip())
    if text in pack.subjects:
        return text
    by_name = {to_simplified(name): key for key, name in pack.subjects.items()}
    if text in by_name:
        return by_name[text]
    problem(f"未知的主体类型 {_shown(raw)};可选:{'、'.join(pack.subjects.values())}")
    return None


def _code(raw: Any, problem) -> str | None:
    """A code as the subject's text; a number cell is refused (Excel keeps 15 significant digits)."""
    if _blank(raw):
        problem("不能为空")
        return None
    if not isinstance(raw, str):
        problem("须以文本格式填写(数字格式会丢失位数,如 18 位身份证号码);请将此列设为“文本”后重新输入")
        return None
    code = normalise_code(raw)
    if len(code) > 18:
        problem(f"{_shown(raw)} 过长,应为 18 位")
        return None
    return code


def _text_value(raw: Any, title: str, problem) -> str | None:
    """A line of text (a name, a county) read as a case's text field is: length and control characters."""
    if _blank(raw):
        problem("不能为空")
        return None
    value = raw if isinstance(raw, str) else str(raw)
    try:
        return str(read_value(EventField(name="text", type=FieldType.TEXT, title=title), value, "·"))
    except CaseError as error:
        problem(_message(error))
        return None


def _existing_codes(session: Session, codes: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(codes), CODE_CHUNK):
        chunk = codes[start:start + CODE_CHUNK]
        found.update(session.scalars(select(t.Subject.id).where(t.Subject.id.in_(chunk))))
    return found


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class EventRow:
    number: int
    subject_id: str
    type: str
    date: dt.date
    facts: dict[str, Any]


def field_headers(pack: Pack) -> dict[str, str]:
    """Every header an event field may have (its name, its title) -> the field's name or, for a title
    that several fields share (企业类别), the title itself: resolved per row by the row's event type."""
    headers: dict[str, str] = {}
    for event_type in pack.events.values():
        for event_field in event_type.fields:
            headers[event_field.name] = event_field.name
            headers[event_field.title] = event_field.title
    return headers


def check_events(session: Session, pack: Pack, sheet: Sheet) -> tuple[list[EventRow], list[RowError]]:
    """Every row of an events file checked (nothing written): the events to record, and every error."""
    columns = _columns(sheet.headers, EVENT_COLUMNS, field_headers(pack), EVENT_REQUIRED)
    field_positions = {key: position for key, position in columns.positions.items() if key not in EVENT_COLUMNS}
    codes = [_code(columns.cell(cells, "subject_id"), lambda message: None) for _, cells in sheet.rows]
    kinds = _kinds(session, [code for code in codes if code])
    by_title = _types_by_title(pack)
    errors: list[RowError] = []
    found: list[EventRow] = []
    first_id: dict[str, int] = {}
    for (number, cells), code in zip(sheet.rows, codes, strict=True):
        errors += _unnamed(sheet.headers, number, cells)
        row_errors: list[RowError] = []

        def problem(key: str, message: str) -> None:
            default = EVENT_COLUMNS[key][0] if key in EVENT_COLUMNS else key
            row_errors.append(RowError(number, columns.header(key, default), message))

        _code(columns.cell(cells, "subject_id"), lambda message: problem("subject_id", message))
        kind = kinds.get(code) if code else None
        if code and kind is None:
            problem("subject_id", f"主体 {code} 不在账本中;请先导入主体名册")
        event_type = _event_type(pack, by_title, columns.cell(cells, "type"), lambda message: problem("type", message))
        if event_type and kind and kind not in event_type.subjects:
            names = "、".join(pack.subjects[name] for name in event_type.subjects)
            problem("type", f"事件类型“{event_type.title}”不适用于{pack.subjects[kind]};适用于:{names}")
        date = _date(columns.cell(cells, "date"), lambda message: problem("date", message))
        if "event_id" in columns.positions and not _blank(raw_id := columns.cell(cells, "event_id")):
            event_id = _text_value(raw_id, "事件编号", lambda message: problem("event_id", message))
            if event_id in first_id:
                problem("event_id", f"事件编号 {event_id} 与第 {first_id[event_id]} 行重复")
            elif event_id:
                first_id[event_id] = number
        facts = _facts(event_type, cells, columns, field_positions, problem) if event_type else {}
        if not row_errors and code and event_type and date:
            found.append(EventRow(number, code, event_type.name, date, facts))
        errors += row_errors
    return found, sorted(errors, key=_order)


def import_events(session: Session, pack: Pack, actor: Actor, data: bytes) -> int:
    """Record every event of the file as profile facts in the caller's transaction, or none (ImportRefused)."""
    require(actor, Role.ADMIN, Role.REVIEWER)
    sheet = read_sheet(data)
    rows, errors = check_events(session, pack, sheet)
    if errors:
        raise ImportRefused(errors, "事件")
    for row in rows:
        try:
            subjects.record_facts(session, pack, actor, row.subject_id, row.facts, row.date, source=SOURCE)
        except Refused as refusal:
            raise ImportRefused([RowError(row.number, "", refusal.message)], "事件") from None
    return len(rows)


def _facts(event_type: EventType, cells: Sequence[Any], columns: Columns, positions: dict[str, int], problem) -> dict[str, Any]:
    """The row's value of each field its type reads, by name or title; a value in another column is refused."""
    facts: dict[str, Any] = {}
    used: set[int] = set()
    for event_field in event_type.fields:
        position = next((positions[key] for key in (event_field.name, event_field.title) if key in positions), None)
        label = event_field.title
        if position is None:
            problem(label, f"缺少此列(事件类型“{event_type.title}”需要,也可写作 {event_field.name})")
            continue
        used.add(position)
        raw = cells[position] if position < len(cells) else None
        if _blank(raw):
            problem(columns.written[position], f"“{event_type.title}”事件缺少此值")
            continue
        try:
            facts[event_field.name] = read_value(event_field, _raw(event_field, raw), "·")
        except CaseError as error:
            problem(columns.written[position], _message(error))
    for key, position in positions.items():
        if position not in used and position < len(cells) and not _blank(cells[position]):
            problem(columns.written[position], f"事件类型“{event_type.title}”不读取此列;请留空")
    return facts


def _raw(event_field: EventField, raw: Any) -> Any:
    """A cell as the case reader takes it: 是/否 for a flag, a number cell for a number, text else."""
    if event_field.type is FieldType.FLAG:
        if isinstance(raw, bool):
            return raw
        return FLAG_WORDS.get(str(raw).strip().lower(), str(raw))
    if event_field.type in (FieldType.MONEY, FieldType.NUMBER, FieldType.INTEGER):
        return raw if isinstance(raw, (int, float, Decimal, str)) and not isinstance(raw, bool) else str(raw)
    if isinstance(raw, float) and raw.is_integer() and abs(raw) < 1e15:
        return str(int(raw))
    return raw if isinstance(raw, str) else str(raw)


def _event_type(pack: Pack, by_title: dict[str, EventType], raw: Any, problem) -> EventType | None:
    if _blank(raw):
        problem("不能为空")
        return None
    text = to_simplified(str(raw).strip())
    found = pack.events.get(text) or by_title.get(text)
    if found is None:
        problem(f"未知的事件类型 {_shown(raw)};事件类型见模板的“事件类型说明”")
    return found


def _types_by_title(pack: Pack) -> dict[str, EventType]:
    return {to_simplified(event_type.title): event_type for event_type in pack.events.values()}


def _date(raw: Any, problem) -> dt.date | None:
    """A date cell of Excel (at midnight), or text YYYY-MM-DD as a case writes it."""
    if _blank(raw):
        problem("不能为空")
        return None
    if isinstance(raw, dt.datetime):
        if raw.time() != dt.time():
            problem(f"{raw.isoformat(sep=' ')} 带有时刻,须为日期")
            return None
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    text = str(raw).strip()
    if DATE_PATTERN.fullmatch(text):
        try:
            return dt.date(*(int(part) for part in text.split("-")))
        except ValueError:
            pass
    problem(f"{_shown(raw)} 不是日期;须写作 YYYY-MM-DD(如 2025-05-01),且须为存在的日期")
    return None


def _kinds(session: Session, codes: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    unique = sorted(set(codes))
    for start in range(0, len(unique), CODE_CHUNK):
        chunk = unique[start:start + CODE_CHUNK]
        found.update(session.execute(select(t.Subject.id, t.Subject.kind).where(t.Subject.id.in_(chunk))).all())
    return found


# --------------------------------------------------------------------------- messages


def _message(error: CaseError) -> str:
    """The case reader's sentence without its "where: " prefix (the page names row and column)."""
    return str(error).removeprefix("·: ")


def _shown(raw: Any) -> str:
    text = str(raw)
    return f"“{text}”" if len(text) <= 40 else f"“{text[:30]}…”(共 {len(text)} 个字符)"


def _order(error: RowError) -> int:
    """By row; within a row, as found: the file's column order (the sort is stable)."""
    return error.row

