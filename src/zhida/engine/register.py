"""A register on disk (subjects and events as Parquet, CSV or Excel) opened in DuckDB and checked.

The files are never loaded into Python: DuckDB scans them (out of core for
10M rows), and each check is one query that stops at the first offending row.
A problem is reported once, naming the file, the row (a CSV's line number, an
Excel sheet's row, a Parquet file's row from 1) and the column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from zhida.engine.batch import SQL_TYPES, event_columns
from zhida.rules.model import FieldType
from zhida.rules.pack import Pack

SUBJECT_COLUMNS = {"subject_id": "VARCHAR", "kind": "VARCHAR"}
EVENT_KEYS = {"event_id": "VARCHAR", "subject_id": "VARCHAR", "type": "VARCHAR", "date": "DATE"}


class RegisterError(ValueError):
    """Bad input in a register file; the message names file, row and column."""


@dataclass(frozen=True)
class Source:
    path: Path
    view: str  # the DuckDB view over the file, as read, with a `_row` column
    first_row: int  # what `_row` 0 is called for a reader: 2 for CSV/Excel (header on line 1), 1 for Parquet


def open_register(con: duckdb.DuckDBPyConnection, pack: Pack, subjects: Path, events: Path) -> None:
    """Create the `subjects` and `events` views the batch query reads, after checking both files."""
    subject_source = _source(con, subjects, "raw_subjects")
    event_source = _source(con, events, "raw_events")
    subject_columns = _columns(con, "raw_subjects")
    event_cols = _columns(con, "raw_events")
    for column in SUBJECT_COLUMNS:
        if column not in subject_columns:
            raise RegisterError(f"{subjects}: 缺少列 {column}")
    for column in EVENT_KEYS:
        if column not in event_cols:
            raise RegisterError(f"{events}: 缺少列 {column}")
    fields = event_columns(pack)
    county = "CAST(county AS VARCHAR)" if "county" in subject_columns else "CAST(NULL AS VARCHAR)"
    _check_types(con, subject_source, {**SUBJECT_COLUMNS})
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW subjects AS SELECT CAST(subject_id AS VARCHAR) AS subject_id, "
        f"CAST(kind AS VARCHAR) AS kind, {county} AS county FROM raw_subjects"
    )
    wanted = {**EVENT_KEYS, **{name: SQL_TYPES[kind] for name, kind in fields.items() if name in event_cols}}
    _check_types(con, event_source, wanted)
    selects = [f"CAST({_quote(name)} AS {sql_type}) AS {_quote(name)}" for name, sql_type in wanted.items()]
    selects += [f"CAST(NULL AS {SQL_TYPES[kind]}) AS {_quote(name)}" for name, kind in fields.items() if name not in event_cols]
    con.execute(f"CREATE OR REPLACE TEMP VIEW events AS SELECT {', '.join(selects)}, _row FROM raw_events")
    _check_subjects(con, pack, subject_source)
    _check_events(con, pack, event_source, fields, event_cols)


def _source(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> Source:
    if not path.exists():
        raise RegisterError(f"{path}: 文件不存在")
    suffix = path.suffix.lower()
    literal = "'" + str(path).replace("'", "''") + "'"
    try:
        if suffix == ".parquet":
            relation = f"(SELECT * EXCLUDE (file_row_number), file_row_number AS _row FROM read_parquet({literal}, file_row_number = true))"
            first = 1
        elif suffix == ".csv":
            # Every column as text: the checks below cast, and name the row that does not cast.
            relation = f"(SELECT *, row_number() OVER () - 1 AS _row FROM read_csv({literal}, header = true, all_varchar = true))"
            first = 2
        elif suffix == ".xlsx":
            relation = _excel(con, path, name)
            first = 2
        else:
            raise RegisterError(f"{path}: 只支持 .parquet、.csv 和 .xlsx 文件")
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {relation}")
        con.execute(f"SELECT * FROM {name} LIMIT 0")
    except duckdb.Error as error:
        raise RegisterError(f"{path}: 无法读取:{str(error).splitlines()[0]}") from None
    return Source(path, name, first)


def _excel(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> str:
    """The first sheet of a workbook, all cells as text (a department's spreadsheet, not 10M rows)."""
    import openpyxl
    import pyarrow as pa

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a broken file
        raise RegisterError(f"{path}: 不是有效的 Excel 文件:{error}") from None
    rows = workbook.worksheets[0].iter_rows(values_only=True)
    header = [str(cell).strip() if cell is not None else "" for cell in next(rows, [])]
    columns: dict[str, list] = {column: [] for column in header if column}
    for row in rows:
        for column, cell in zip(header, row, strict=False):
            if column:
                columns[column].append(_cell_text(cell))
    workbook.close()
    table = pa.table({column: pa.array(values, pa.string()) for column, values in columns.items()})
    table = table.append_column("_row", pa.array(range(table.num_rows), pa.int64()))
    con.register(f"{name}_arrow", table)
    return f"{name}_arrow"


def _cell_text(cell) -> str | None:
    if cell is None:
        return None
    if hasattr(cell, "date") and hasattr(cell, "hour"):
        return cell.date().isoformat()
    if isinstance(cell, float):
        # Excel stores numbers as binary floats; repr gives the shortest exact decimal text (0.1 -> "0.1").
        return repr(cell).removesuffix(".0") if cell.is_integer() else repr(cell)
    return str(cell)


def _columns(con: duckdb.DuckDBPyConnection, view: str) -> dict[str, str]:
    return {row[0]: row[1] for row in con.execute(f"DESCRIBE {view}").fetchall()}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _first(con: duckdb.DuckDBPyConnection, view: str, condition: str, columns: str = "_row"):
    return con.execute(f"SELECT {columns} FROM {view} WHERE {condition} ORDER BY _row LIMIT 1").fetchone()


def _check_types(con: duckdb.DuckDBPyConnection, source: Source, wanted: dict[str, str]) -> None:
    view = source.view
    present = _columns(con, view)
    for name, sql_type in wanted.items():
        if name not in present:
            continue
        actual = present[name]
        if actual.replace(" ", "") == sql_type.replace(" ", ""):
            continue  # a typed file (Parquet) already holds this type: nothing to cast
        column = _quote(name)
        if sql_type.startswith("DECIMAL") and actual in ("DOUBLE", "FLOAT", "REAL"):
            raise RegisterError(f"{source.path}: 列 {name} 是浮点数({actual}),金额须为精确的小数(DECIMAL)或文本")
        bad = _first(con, view, f"{column} IS NOT NULL AND TRY_CAST({column} AS {sql_type}) IS NULL", f"_row, {column}")
        if bad is None and sql_type.startswith("DECIMAL") and actual == "VARCHAR":
            # More than two decimals would be rounded by the cast: refuse rather than round silently.
            bad = _first(
                con, view,
                f"TRY_CAST({column} AS DECIMAL(38, 10)) <> TRY_CAST({column} AS {sql_type})",
                f"_row, {column}",
            )
        if bad is not None:
            raise RegisterError(f"{source.path}: 第 {bad[0] + source.first_row} 行,列 {name}: '{bad[1]}' 不是 {_type_name(sql_type)}")


def _type_name(sql_type: str) -> str:
    return {"DATE": "日期(YYYY-MM-DD)", "BIGINT": "整数", "BOOLEAN": "true/false", "VARCHAR": "文本"}.get(
        sql_type, "金额(最多两位小数)" if sql_type == SQL_TYPES[FieldType.MONEY] else "数字"
    )


def _check_subjects(con: duckdb.DuckDBPyConnection, pack: Pack, source: Source) -> None:
    kinds = ", ".join(f"'{kind}'" for kind in pack.subjects)
    bad = _first(con, source.view, "subject_id IS NULL", "_row")
    if bad is not None:
        raise RegisterError(f"{source.path}: 第 {bad[0] + source.first_row} 行,列 subject_id: 为空")
    bad = _first(con, source.view, f"CAST(kind AS VARCHAR) NOT IN ({kinds}) OR kind IS NULL", "_row, kind")
    if bad is not None:
        raise RegisterError(
            f"{source.path}: 第 {bad[0] + source.first_row} 行,列 kind: 未知的主体类型 '{bad[1]}';可选:{'、'.join(pack.subjects)}"
        )
    duplicate = con.execute(
        f"SELECT subject_id FROM {source.view} GROUP BY subject_id HAVING count(*) > 1 LIMIT 1"
    ).fetchone()
    if duplicate is not None:
        row = _first(con, source.view, f"subject_id = '{_escape(duplicate[0])}'", "_row")
        raise RegisterError(f"{source.path}: 第 {row[0] + source.first_row} 行,列 subject_id: 主体 {duplicate[0]} 重复")


def _check_events(
    con: duckdb.DuckDBPyConnection, pack: Pack, source: Source, fields: dict[str, FieldType], present: dict[str, str]
) -> None:
    where = source.path
    for key in EVENT_KEYS:
        bad = _first(con, "events", f"{_quote(key)} IS NULL", "_row")
        if bad is not None:
            raise RegisterError(f"{where}: 第 {bad[0] + source.first_row} 行,列 {key}: 为空")
    types = ", ".join(f"'{name}'" for name in pack.events)
    bad = _first(con, "events", f"type NOT IN ({types})", "_row, type")
    if bad is not None:
        raise RegisterError(f"{where}: 第 {bad[0] + source.first_row} 行,列 type: 未知的事件类型 '{bad[1]}'")
    duplicate = con.execute("SELECT event_id FROM events GROUP BY event_id HAVING count(*) > 1 LIMIT 1").fetchone()
    if duplicate is not None:
        rows = con.execute(
            f"SELECT _row FROM events WHERE event_id = '{_escape(duplicate[0])}' ORDER BY _row LIMIT 2"
        ).fetchall()
        raise RegisterError(
            f"{where}: 第 {rows[1][0] + source.first_row} 行,列 event_id: 事件编号 {duplicate[0]} 重复"
            f"(第 {rows[0][0] + source.first_row} 行已出现)"
        )
    present_types = {row[0] for row in con.execute("SELECT DISTINCT type FROM events").fetchall()}
    for event_type in pack.events.values():
        if event_type.name not in present_types or not event_type.fields:
            continue
        for field in event_type.fields:
            if field.name not in present:
                raise RegisterError(f"{where}: 缺少列 {field.name}(事件类型 {event_type.name} 需要)")
        # One scan per event type: the first row missing each field, and the first with a bad value.
        probes = []
        for field in event_type.fields:
            probes.append((field, "missing", f"{_quote(field.name)} IS NULL"))
            if (condition := _invalid(field)) is not None:
                probes.append((field, "invalid", condition))
        firsts = con.execute(
            "SELECT " + ", ".join(f"min(_row) FILTER (WHERE {condition})" for _, _, condition in probes)
            + f" FROM events WHERE type = '{event_type.name}'"
        ).fetchone()
        found = [(row, field, problem) for row, (field, problem, _) in zip(firsts, probes, strict=True) if row is not None]
        if not found:
            continue
        row, field, problem = min(found, key=lambda item: item[0])
        label = f"{field.name}({field.title})"
        if problem == "missing":
            raise RegisterError(f"{where}: 第 {row + source.first_row} 行,列 {label}: {event_type.name} 事件缺少此值")
        value = con.execute(f"SELECT {_quote(field.name)} FROM events WHERE _row = {row}").fetchone()[0]
        raise RegisterError(f"{where}: 第 {row + source.first_row} 行,列 {label}: '{value}' {_why(field)}")
    # One join for both: an event whose subject is not in the register, or of a kind its type does not apply to.
    mismatch = " OR ".join(
        f"(e.type = '{t.name}' AND s.kind NOT IN ({', '.join(repr(k) for k in t.subjects)}))" for t in pack.events.values()
    )
    bad = con.execute(
        "SELECT e._row, e.subject_id, e.type, s.kind FROM events e LEFT JOIN subjects s ON s.subject_id = e.subject_id "
        f"WHERE s.subject_id IS NULL OR {mismatch} ORDER BY e._row LIMIT 1"
    ).fetchone()
    if bad is not None and bad[3] is None:
        raise RegisterError(f"{where}: 第 {bad[0] + source.first_row} 行,列 subject_id: 主体 {bad[1]} 不在主体表中")
    if bad is not None:
        raise RegisterError(f"{where}: 第 {bad[0] + source.first_row} 行,列 type: 事件类型 {bad[2]} 不适用于主体类型 {bad[3]}")


def _invalid(field) -> str | None:
    column = _quote(field.name)
    if field.type in (FieldType.MONEY, FieldType.NUMBER):
        return f"{column} < 0"
    if field.type is FieldType.INTEGER and field.minimum is not None:
        return f"{column} < {field.minimum}"
    if field.type is FieldType.CHOICE:
        return f"{column} NOT IN ({', '.join(repr(value) for value in field.values)})"
    return None


def _why(field) -> str:
    if field.type in (FieldType.MONEY, FieldType.NUMBER):
        return "不能为负数"
    if field.type is FieldType.INTEGER:
        return f"不能小于 {field.minimum}"
    return f"不是可选值;可选:{'、'.join(field.values)}"


def _escape(value: str) -> str:
    return str(value).replace("'", "''")
