"""A register on disk (subjects and events as Parquet, CSV or Excel) opened in DuckDB and checked.

The files are never loaded into Python: DuckDB reads them. A register of up to
HOLD_EVENTS events is read once into DuckDB tables (the columns its rules and
checks read) and checked there; a larger one is checked in its files, each check
a scan that streams out of core (10M rows in a 1 GB limit). Each check is one
query that stops at the first offending row.
A problem is reported once, naming the file, the row (a CSV's line number, an
Excel sheet's row, a Parquet file's row from 1) and the column.

No value is ever changed on the way in: a cast that would round (an integer
written 1.5, money with a third decimal, Excel's 0.30000000000000004) is
refused, not applied. Every query is a sqlglot tree rendered for DuckDB, so a
path, a column name or a choice value with a quote in it stays a value.
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
from sqlglot import exp

from zhida.engine.batch import SQL_TYPES, event_columns
from zhida.rules.model import EventField, EventType, FieldType
from zhida.rules.pack import Pack

SUBJECT_COLUMNS = {"subject_id": "VARCHAR", "kind": "VARCHAR"}
EVENT_KEYS = {"event_id": "VARCHAR", "subject_id": "VARCHAR", "type": "VARCHAR", "date": "DATE"}

# RE2 patterns (DuckDB's regex engine). \p{Z} adds the ideographic space U+3000 that Chinese input methods type.
BLANK = r"[\s\p{Z}]*"
NUMBER_TEXT = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)"
DATE_TEXT = r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")
INTEGER_TYPES = (
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
)
# A register of at most this many events is read once into memory (`_hold`) and checked there; a larger
# one is checked in its files, each check a scan that streams (10M events in a 1 GB limit).
HOLD_EVENTS = 3_000_000
SCALES = {"BIGINT": 0, SQL_TYPES[FieldType.MONEY]: 2, SQL_TYPES[FieldType.NUMBER]: 6}


class RegisterError(ValueError):
    """Bad input in a register file; the message names file, row and column."""


@dataclass(frozen=True)
class Source:
    path: Path
    view: str  # the DuckDB view over the file, as read, with a `_row` column (0 for the first record)
    format: str  # "parquet", "csv" or "xlsx"
    # The view over the file itself when `view` is a table holding some of its columns (`_hold`).
    file_view: str | None = None

    def lines(self, rows: Sequence[int]) -> list[int]:
        """The row numbers a reader sees for `_row` values: Excel's row, Parquet's row from 1, the CSV line.

        A CSV line is found by reading the file up to that record (only when a message is
        written): DuckDB skips blank lines and a quoted value may span lines, so the record
        index alone would point a reader at the wrong line.
        """
        if self.format == "parquet":
            return [row + 1 for row in rows]
        if self.format == "xlsx":
            return [row + 2 for row in rows]
        return _csv_lines(self.path, rows)

    def line(self, row: int) -> int:
        return self.lines([row])[0]


def open_register(con: duckdb.DuckDBPyConnection, pack: Pack, subjects: Path, events: Path) -> dict[str, int]:
    """Create the `subjects` and `events` views the batch query reads, after checking both files.

    Returns the events by type (counted once, before the checks; once they pass, every type is the pack's)."""
    sources = (_source(con, subjects, "raw_subjects"), _source(con, events, "raw_events"))
    try:
        return _check_and_open(con, pack, *sources)
    except duckdb.OutOfMemoryException:
        raise  # the files are readable; the caller names --memory-limit (match.duckdb_failure)
    except duckdb.Error as error:
        # A CSV is scanned lazily, by the first check: a broken line surfaces here.
        raise _unreadable(con, sources, error) from None


def _check_and_open(
    con: duckdb.DuckDBPyConnection, pack: Pack, subject_source: Source, event_source: Source
) -> dict[str, int]:
    subject_columns = columns_of(con, subject_source.view)
    event_cols = columns_of(con, event_source.view)
    check_keys_present(subject_columns, event_cols, subject_source.path, event_source.path)
    fields = event_columns(pack)
    types = _event_types(con, event_source)
    if sum(types.values()) <= HOLD_EVENTS:
        # The held tables are read a few times and dropped: compressing them in DuckDB's automatic checkpoint
        # (a 0.2 s stall on 300k events) costs more than it saves. A constant statement, nothing from the caller.
        con.execute("SET checkpoint_threshold = '1TB'")
        subject_source = _hold(con, subject_source, [*SUBJECT_COLUMNS, "county"], "held_subjects")
        event_source = _hold(con, event_source, held_event_columns(pack, types), "held_events")
    held = columns_of(con, event_source.view)
    unknown_kind = _check_blank_keys(con, subject_source, SUBJECT_COLUMNS, "kind", pack.subjects)
    _check_types(con, subject_source, SUBJECT_COLUMNS)
    county = _varchar(_col("county")) if "county" in subject_columns else exp.cast(exp.null(), "VARCHAR")
    _create_view(con, "subjects", exp.select(
        exp.alias_(_varchar(_col("subject_id")), "subject_id", quoted=True),
        exp.alias_(_varchar(_col("kind")), "kind", quoted=True),
        exp.alias_(county, "county", quoted=True),
    ).from_(_table(subject_source.view)))
    # The first event of an unknown type is found with the blank types; it is reported after the type checks, as before.
    unknown_type = _check_blank_keys(con, event_source, EVENT_KEYS, "type", pack.events)
    wanted = {**EVENT_KEYS, **{name: SQL_TYPES[kind] for name, kind in fields.items() if name in event_cols}}
    _check_types(con, event_source, wanted)
    selects = [
        exp.alias_(converted_column(name, event_cols[name], sql_type), name, quoted=True)
        for name, sql_type in wanted.items() if name in held
    ]
    # A field the file lacks, or that is not held (no event of its types is in the register), reads as NULL.
    selects += [
        exp.alias_(exp.cast(exp.null(), _type(SQL_TYPES[kind])), name, quoted=True)
        for name, kind in fields.items() if name not in held
    ]
    _create_view(con, "events", exp.select(*selects, _col("_row")).from_(_table(event_source.view)))
    _check_subjects(con, pack, subject_source, unknown_kind)
    _check_events(con, pack, event_source, event_cols, unknown_type)
    return types


def check_keys_present(subject_columns: Collection[str], event_columns: Collection[str], subjects: object, events: object) -> None:
    """The subjects' and the events' key columns are there (files here, tables in another engine: `engines`)."""
    for column in SUBJECT_COLUMNS:
        if column not in subject_columns:
            raise RegisterError(f"{subjects}: 缺少列 {column}")
    for column in EVENT_KEYS:
        if column not in event_columns:
            raise RegisterError(f"{events}: 缺少列 {column}")


# ---------------------------------------------------------------- reading the files


def _event_types(con: duckdb.DuckDBPyConnection, source: Source) -> dict[str, int]:
    """The file's events by type, as text (blank and unknown types included: the checks report them)."""
    event_type = _varchar(_col("type"))
    query = exp.select(event_type, exp.func("count", exp.Star())).from_(_table(source.view)).group_by(event_type.copy())
    return dict(_fetch(con, query).fetchall())


def held_event_columns(pack: Pack, types: dict[str, int]) -> list[str]:
    """The event columns a register's rules and checks read: the keys and the fields of the types present."""
    kept = dict.fromkeys(EVENT_KEYS)
    for type_name in types:
        if type_name in pack.events:
            kept.update(dict.fromkeys(field.name for field in pack.events[type_name].fields))
    return list(kept)


def release_events(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the `events` view and the events held in memory, once what the query reads was copied out of them."""
    con.execute(exp.Drop(tables=[_table("events")], kind="VIEW", exists=True).sql(dialect="duckdb", copy=False))
    con.execute(exp.Drop(tables=[_table("held_events")], kind="TABLE", exists=True).sql(dialect="duckdb", copy=False))


def _hold(con: duckdb.DuckDBPyConnection, source: Source, wanted: Sequence[str], table: str) -> Source:
    """The file's `wanted` columns (those it has) and `_row`, read once into a DuckDB table that the checks
    and the query then read instead of the file: every check used to decode the file again (bench/README.md)."""
    present = columns_of(con, source.view)
    columns = [_col(name) for name in wanted if name in present]
    create = exp.Create(
        this=_table(table), kind="TABLE", replace=True,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
        expression=exp.select(*columns, _col("_row")).from_(_table(source.view)),
    )
    con.execute(create.sql(dialect="duckdb", copy=False))
    return Source(source.path, table, source.format, file_view=source.view)


def _source(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> Source:
    if not path.exists():
        raise RegisterError(f"{path}: 文件不存在")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        source = Source(path, name, "parquet")
        relation = _parquet(path)
    elif suffix == ".csv":
        source = Source(path, name, "csv")
        try:
            relation = _csv(path)
        except OSError as error:  # a directory, a file without read permission
            raise RegisterError(f"{path}: 无法读取:{error.strerror or error}") from None
    elif suffix == ".xlsx":
        source = Source(path, name, "xlsx")
        relation = _excel(con, path, name)
    else:
        raise RegisterError(f"{path}: 只支持 .parquet、.csv 和 .xlsx 文件")
    try:
        _create_view(con, name, relation)
        con.execute(exp.select("*").from_(_table(name)).limit(0).sql(dialect="duckdb", copy=False))
    except duckdb.Error as error:
        raise RegisterError(f"{path}: 无法读取:{str(error).splitlines()[0]}") from None
    return source


def _parquet(path: Path) -> exp.Select:
    read = exp.Anonymous(
        this="read_parquet", expressions=[exp.Literal.string(str(path)), _option("file_row_number", exp.true())]
    )
    return exp.select(
        exp.Star(except_=[exp.column("file_row_number")]), exp.alias_(exp.column("file_row_number"), "_row")
    ).from_(exp.Table(this=read))


def _csv(path: Path) -> exp.Select:
    """Every column as text with the dialect stated, not sniffed: the checks cast, and name the row that does not cast.

    The header is read here, so that a repeated name is refused rather than renamed
    (DuckDB would call the second one price_1) and a line with a field too many or too
    few fails in DuckDB's strict mode instead of being padded.
    """
    header = _csv_header(path)
    columns = exp.Struct(
        expressions=[
            exp.PropertyEQ(this=exp.Literal.string(name), expression=exp.Literal.string("VARCHAR")) for name in header
        ]
    )
    read = exp.Anonymous(this="read_csv", expressions=[
        exp.Literal.string(str(path)),
        _option("delim", exp.Literal.string(",")),
        _option("quote", exp.Literal.string('"')),
        _option("escape", exp.Literal.string('"')),
        _option("header", exp.true()),
        _option("auto_detect", exp.false()),
        _option("strict_mode", exp.true()),
        _option("null_padding", exp.false()),
        _option("all_varchar", exp.true()),
        _option("columns", columns),
    ])
    row = exp.Window(this=exp.RowNumber(), over="OVER") - 1
    return exp.select("*", exp.alias_(row, "_row")).from_(exp.Table(this=read))


def _csv_header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle, strict=True), None)
    except (UnicodeDecodeError, csv.Error):
        raise RegisterError(_csv_problem(path) or f"{path}: 第 1 行: 表头无法读取") from None
    if not header:
        raise RegisterError(f"{path}: 文件为空,第 1 行须为表头(列名)")
    _check_header(path, header, blank_allowed=False)
    return header


def _check_header(path: Path, header: Sequence[str], blank_allowed: bool) -> None:
    """Column names are unique ignoring case (DuckDB's own rule for names), and not empty."""
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if not name.strip():
            if blank_allowed:
                continue
            raise RegisterError(f"{path}: 第 1 行,第 {position} 列: 列名为空")
        key = name.strip().casefold()
        if key in seen:
            raise RegisterError(f"{path}: 第 1 行,列 {name}: 列名重复(第 {seen[key]} 列与第 {position} 列)")
        seen[key] = position


def _csv_problem(path: Path) -> str | None:
    """Why DuckDB could not read a CSV, found by streaming it in Python: bytes that are not UTF-8,
    a line with more or fewer fields than the header, a quote left open. None if nothing is found."""
    with path.open("rb") as handle:
        offset = 0
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as error:
                return (
                    f"{path}: 第 {number} 行(文件第 {offset + error.start + 1} 个字节): 不是 UTF-8 编码的文本;"
                    "请以 UTF-8 另存为 CSV"
                )
            offset += len(line)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, strict=True)
        start = 1
        try:
            header = next(reader, [])
            start = reader.line_num + 1
            for record in reader:
                if record and len(record) != len(header):
                    return f"{path}: 第 {start} 行: 有 {len(record)} 个字段,表头有 {len(header)} 个"
                start = reader.line_num + 1
        except csv.Error as error:
            return f"{path}: 第 {start} 行: CSV 格式错误({error})"
    return None


def _csv_lines(path: Path, rows: Sequence[int]) -> list[int]:
    """The first line of each given record (0 = the first after the header), counted as DuckDB counts records."""
    wanted = sorted(set(rows))
    found: dict[int, int] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            next(reader, None)
            start, index = reader.line_num + 1, 0
            for record in reader:
                if record:  # DuckDB skips blank lines
                    if index == wanted[len(found)]:
                        found[index] = start
                        if len(found) == len(wanted):
                            break
                    index += 1
                start = reader.line_num + 1
        except csv.Error:
            pass  # a value beyond Python's field size limit (DuckDB reads it): count records from there on
    return [found.get(row, row + 2) for row in rows]


def _excel(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> exp.Select:
    """The first sheet of a workbook, all cells as text (a department's spreadsheet, not 10M rows).

    Empty rows are skipped; `_row` keeps each row's place on the sheet (sheet row − 2).
    """
    import openpyxl
    import pyarrow as pa

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a broken file
        raise RegisterError(f"{path}: 不是有效的 Excel 文件:{error}") from None
    rows = workbook.worksheets[0].iter_rows(values_only=True)
    try:
        header = [str(cell).strip() if cell is not None else "" for cell in next(rows, [])]
        _check_header(path, header, blank_allowed=True)
        if not any(header):
            raise RegisterError(f"{path}: 第 1 行须为表头(列名)")
        columns: dict[str, list] = {column: [] for column in header if column}
        numbers: list[int] = []
        for number, row in enumerate(rows, start=2):
            cells = [_cell_text(cell) for cell in row]
            if all(cell is None or cell == "" for cell in cells):
                continue
            for position, cell in enumerate(cells, start=1):
                if cell not in (None, "") and (position > len(header) or not header[position - 1]):
                    raise RegisterError(f"{path}: 第 {number} 行,第 {position} 列: 有值 '{shown_value(cell)}' 但该列没有列名")
            for position, column in enumerate(header):
                if column:
                    columns[column].append(cells[position] if position < len(cells) else None)
            numbers.append(number - 2)
    finally:
        rows.close()  # an unfinished row generator keeps the file open past workbook.close()
        workbook.close()
    table = pa.table({column: pa.array(values, pa.string()) for column, values in columns.items()})
    table = table.append_column("_row", pa.array(numbers, pa.int64()))
    arrow_name = f"{name}_arrow"
    con.register(arrow_name, table)
    return exp.select("*").from_(_table(arrow_name))


def _cell_text(cell) -> str | None:
    if cell is None:
        return None
    if hasattr(cell, "date") and hasattr(cell, "hour"):
        # A time of day stays in the text, so that a date column refuses it instead of dropping it.
        return cell.date().isoformat() if cell.time() == cell.min.time() else cell.isoformat(sep=" ")
    if isinstance(cell, float):
        from decimal import Decimal

        # Excel stores numbers as binary floats; repr is the shortest text that reads back to the same
        # float (0.1 -> "0.1", but 0.1 + 0.2 -> "0.30000000000000004", which the money check then refuses).
        return str(int(cell)) if cell.is_integer() else format(Decimal(repr(cell)), "f")
    return str(cell)


def _unreadable(con: duckdb.DuckDBPyConnection, sources: Sequence[Source], error: duckdb.Error) -> RegisterError:
    """One message for a file DuckDB could not scan: the line found by reading it in Python, if it is a CSV."""
    for source in sources:
        try:
            con.execute(exp.select(exp.func("count", exp.Star())).from_(_table(source.view)).sql(dialect="duckdb", copy=False))
        except duckdb.Error as own:
            problem = _csv_problem(source.path) if source.format == "csv" else None
            return RegisterError(problem or f"{source.path}: 无法读取:{str(own).splitlines()[0]}")
    return RegisterError(f"{sources[0].path}、{sources[1].path}: 无法读取:{str(error).splitlines()[0]}")


# ---------------------------------------------------------------- checks


def _check_blank_keys(
    con: duckdb.DuckDBPyConnection, source: Source, keys: dict[str, str], few: str, known: Sequence[str] | dict
) -> int | None:
    """An id, kind, type or date that is missing, empty or only spaces names nothing: refuse it.

    A column the file already types (a Parquet DATE) cannot hold spaces: it is only checked for
    NULL, not cast to text and matched. `few` is a key with few distinct values (an event's type,
    a subject's kind): it is checked on its distinct values, one GROUP BY, instead of row by row,
    and the first row whose value is not in `known` is returned (or None) for a later check to report.
    """
    actual = columns_of(con, source.view)
    scanned = [key for key in keys if key != few and not _never_blank_in_file(con, source, key)]
    conditions = [_blank(_col(key), actual.get(key, "VARCHAR")) for key in scanned]
    probes = [exp.Filter(this=exp.Min(this=_col("_row")), expression=exp.Where(this=c)) for c in conditions]
    firsts = dict.fromkeys(scanned)
    if probes:  # one scan for all keys but `few` that the file's statistics did not clear
        firsts = dict(zip(scanned, _fetch(con, exp.select(*probes).from_(_table(source.view))).fetchone(), strict=True))
    value, first = exp.column("value", quoted=True), exp.column("first", quoted=True)
    values = exp.select(
        exp.alias_(_varchar(_col(few)), "value", quoted=True),
        exp.alias_(exp.Min(this=_col("_row")), "first", quoted=True),
    ).from_(_table(source.view)).group_by(_varchar(_col(few)))
    firsts[few], unknown = _fetch(con, exp.select(
        exp.Filter(this=exp.Min(this=first), expression=exp.Where(this=_blank(value, "VARCHAR"))),
        exp.Filter(this=exp.Min(this=first), expression=exp.Where(this=_not_in(value, known))),
    ).from_(exp.Subquery(this=values, alias=exp.TableAlias(this=exp.to_identifier("v"))))).fetchone()
    found = [(row, key) for key, row in firsts.items() if row is not None]
    if found:
        row, key = min(found)
        raise RegisterError(f"{source.path}: 第 {source.line(row)} 行,列 {key}: 为空")
    return unknown


def _never_blank_in_file(con: duckdb.DuckDBPyConnection, source: Source, key: str) -> bool:
    """True when a Parquet file's own statistics show that text column `key` has no missing, empty or blank
    value, so that no row need be read for it (a regex over every id: 0.04 s on 1M events held in memory).

    Every row group must count no NULL and have both bounds; a value lies between its row group's smallest
    and largest, so its first character lies between theirs. When both are printable ASCII other than the
    space (! to ~), no value is empty or starts with a space of any kind (\\s, \\p{Z}: control characters,
    U+0085, U+00A0 and above), so none is blank. A bound starting with a backslash may be an escaped byte,
    not the text: the column is then read, as is any file without statistics."""
    if source.format != "parquet":
        return False
    column = exp.column("path_in_schema")
    query = (
        exp.select("stats_null_count", "stats_min_value", "stats_max_value")
        .from_(exp.Table(this=exp.Anonymous(this="parquet_metadata", expressions=[exp.Literal.string(str(source.path))])))
        .where(exp.EQ(this=column, expression=exp.Literal.string(key)))
    )
    groups = _fetch(con, query).fetchall()

    def plain(bound: str | None) -> bool:
        return bool(bound) and "!" <= bound[0] <= "~" and bound[0] != "\\"

    return bool(groups) and all(nulls == 0 and plain(low) and plain(high) for nulls, low, high in groups)


def _blank(column: exp.Expression, actual: str) -> exp.Expression:
    """The condition that a key is missing, empty or only spaces (only missing where the type holds no text)."""
    if _never_blank(actual):
        return column.is_(exp.null())
    text = _varchar(column)
    return exp.or_(text.is_(exp.null()), _regexp("regexp_full_match", text, BLANK))


def _never_blank(actual: str) -> bool:
    """A column of this type holds no text, so no value of it is empty or only spaces."""
    return actual in ("DATE", "BOOLEAN", *INTEGER_TYPES, *FLOAT_TYPES) or actual.startswith(("TIMESTAMP", "DECIMAL"))


def _check_types(con: duckdb.DuckDBPyConnection, source: Source, wanted: dict[str, str]) -> None:
    """Every value of the `wanted` columns casts to its type exactly; a column not held is checked in the file."""
    present = columns_of(con, source.view)
    in_file = columns_of(con, source.file_view) if source.file_view else present
    for name, sql_type in wanted.items():
        if name not in in_file:
            continue
        condition = cast_problem(_col(name), in_file[name], sql_type, source.path, name)
        if condition is None:
            continue
        view = source.view if name in present else source.file_view
        bad = first_bad_row(con, view, condition, _col(name))
        if bad is not None:
            raise RegisterError(
                f"{source.path}: 第 {source.line(bad[0])} 行,列 {name}: '{shown_value(bad[1])}' 不是 {sql_type_name(sql_type)}"
            )


def cast_problem(column: exp.Column, actual: str, target: str, path: Path, name: str) -> exp.Expression | None:
    """The condition that finds a value the cast to `target` would not keep exactly; None if every value is kept."""
    if _same_type(actual, target):
        return None
    to = _type(target)
    present = column.is_(exp.null()).not_()
    cast_fails = exp.TryCast(this=_trimmed(column, actual), to=to).is_(exp.null())
    scale = SCALES.get(target)
    if actual == "VARCHAR":
        text = exp.func("trim", column)
        if scale is not None:
            # A number written plainly, with no more decimals than the type keeps (trailing zeros aside):
            # the cast would round 1.5 to an integer 2 and 100.001 to 100.00 without a word.
            shape = _regexp("regexp_full_match", text, NUMBER_TEXT).not_()
            rounded = _regexp("regexp_matches", text, rf"\.[0-9]{{{scale}}}[0-9]*[1-9]")
            return exp.and_(present, exp.or_(shape, rounded, cast_fails))
        if target == "DATE":
            return exp.and_(present, exp.or_(_regexp("regexp_full_match", text, DATE_TEXT).not_(), cast_fails))
        return exp.and_(present, cast_fails)
    if target == "DATE" and actual.startswith("TIMESTAMP"):
        # A date with a time of day is not a date: the cast would drop the time without a word.
        midnight = exp.cast(exp.cast(column, "DATE"), "TIMESTAMP")
        timed = exp.EQ(this=exp.cast(column, "TIMESTAMP"), expression=midnight).not_()
        return exp.and_(present, exp.or_(cast_fails, timed))
    if scale is None or target == "VARCHAR":
        return exp.and_(present, cast_fails)
    if actual in FLOAT_TYPES and target != "BIGINT":
        raise RegisterError(f"{path}: 列 {name} 是浮点数({actual}),{sql_type_name(target)}须为精确的小数(DECIMAL)或文本")
    if actual in FLOAT_TYPES or actual.startswith("DECIMAL"):
        kept = exp.EQ(this=column, expression=exp.Round(this=column, decimals=exp.Literal.number(scale)))
        return exp.and_(present, exp.or_(cast_fails, kept.not_()))
    if actual in INTEGER_TYPES:
        return exp.and_(present, cast_fails)
    raise RegisterError(f"{path}: 列 {name} 的类型是 {actual},不能作为{sql_type_name(target)}")


def _same_type(actual: str, target: str) -> bool:
    return actual.replace(" ", "") == target.replace(" ", "")


def converted_column(name: str, actual: str, target: str) -> exp.Expression:
    """The checked column as its field's type (text trimmed first: the check allowed spaces around a number)."""
    column = _col(name)
    if _same_type(actual, target):
        return column
    return exp.cast(_trimmed(column, actual) if target != "VARCHAR" else column, _type(target))


def _trimmed(column: exp.Expression, actual: str) -> exp.Expression:
    return exp.func("trim", column) if actual == "VARCHAR" else column


def sql_type_name(sql_type: str) -> str:
    names = {
        "DATE": "日期(YYYY-MM-DD)",
        "BIGINT": "整数",
        "BOOLEAN": "true/false",
        "VARCHAR": "文本",
        SQL_TYPES[FieldType.MONEY]: "金额(最多两位小数)",
        SQL_TYPES[FieldType.NUMBER]: "数字(最多六位小数)",
    }
    return names.get(sql_type, "数字")


def _check_subjects(con: duckdb.DuckDBPyConnection, pack: Pack, source: Source, unknown_kind: int | None) -> None:
    """`unknown_kind`: the first `_row` whose kind is not the pack's (found by `_check_blank_keys`)."""
    if unknown_kind is not None:
        value = _value_at(con, source.view, _varchar(_col("kind")), unknown_kind)
        kinds = "、".join(pack.subjects)
        raise RegisterError(
            f"{source.path}: 第 {source.line(unknown_kind)} 行,列 kind: 未知的主体类型 '{shown_value(value)}';可选:{kinds}"
        )
    duplicate = _duplicate(con, source.view, _varchar(_col("subject_id")))
    if duplicate is not None:
        value, rows = duplicate
        first, second = source.lines(rows)
        raise RegisterError(f"{source.path}: 第 {second} 行,列 subject_id: 主体 {value} 重复(第 {first} 行已出现)")


def _check_events(
    con: duckdb.DuckDBPyConnection, pack: Pack, source: Source, present: dict[str, str], unknown_type: int | None
) -> None:
    """`unknown_type`: the first `_row` whose type is not the pack's (found by `_check_blank_keys`'s scan)."""
    where = source.path
    event_type = _col("type")
    if unknown_type is not None:
        value = _value_at(con, "events", event_type, unknown_type)
        raise RegisterError(f"{where}: 第 {source.line(unknown_type)} 行,列 type: 未知的事件类型 '{shown_value(value)}'")
    duplicate = _duplicate(con, "events", _col("event_id"))
    if duplicate is not None:
        value, rows = duplicate
        first, second = source.lines(rows)
        raise RegisterError(f"{where}: 第 {second} 行,列 event_id: 事件编号 {value} 重复(第 {first} 行已出现)")
    types = exp.select(event_type).distinct().from_(_table("events"))
    present_types = {row[0] for row in _fetch(con, types).fetchall()}
    checked: list[EventType] = []  # the types present, in the pack's order, up to the first one missing a column
    missing_column = None
    for kind in pack.events.values():
        if kind.name in present_types and kind.fields:
            absent = next((field.name for field in kind.fields if field.name not in present), None)
            if absent is not None:
                missing_column = f"{source.path}: 缺少列 {absent}(事件类型 {kind.name} 需要)"
                break
            checked.append(kind)
    _check_fields(con, source, checked)
    if missing_column is not None:
        raise RegisterError(missing_column)
    _check_event_subjects(con, pack, source)


def _check_fields(con: duckdb.DuckDBPyConnection, source: Source, kinds: Sequence[EventType]) -> None:
    """Per event type, in the pack's order, one scan of its rows (the type filter is pushed into the
    reader): the first row missing each field, and the first with a bad value. One scan over every
    type was measured slower (each row then evaluates every type's conditions)."""
    for kind in kinds:
        _check_type_fields(con, source, kind)


def _check_type_fields(con: duckdb.DuckDBPyConnection, source: Source, kind: EventType) -> None:
    type_name = kind.name
    probes: list[tuple[EventField, str, exp.Expression]] = []
    for field in kind.fields:
        probes.append((field, "missing", _col(field.name).is_(exp.null())))
        if (condition := _invalid(field)) is not None:
            probes.append((field, "invalid", condition))
    firsts = _fetch(con, exp.select(
        *(exp.Filter(this=exp.Min(this=_col("_row")), expression=exp.Where(this=where)) for _, _, where in probes)
    ).from_(_table("events")).where(exp.EQ(this=_col("type"), expression=exp.Literal.string(type_name)))).fetchone()
    found = [(row, field, problem) for row, (field, problem, _) in zip(firsts, probes, strict=True) if row is not None]
    if not found:
        return
    row, field, problem = min(found, key=lambda item: item[0])
    label = f"{field.name}({field.title})"
    line = source.line(row)
    if problem == "missing":
        raise RegisterError(f"{source.path}: 第 {line} 行,列 {label}: {type_name} 事件缺少此值")
    value = _value_at(con, "events", _col(field.name), row)
    raise RegisterError(f"{source.path}: 第 {line} 行,列 {label}: '{shown_value(value)}' {_why(field)}")


def _check_event_subjects(con: duckdb.DuckDBPyConnection, pack: Pack, source: Source) -> None:
    """An event whose subject is not in the register, or of a kind its type does not apply to."""
    query = subject_mismatch(pack, "_row")
    bad = con.execute(query.sql(dialect="duckdb", copy=False)).fetchone()
    if bad is None:
        return
    line = source.line(bad[0])
    if bad[3] is None:
        raise RegisterError(f"{source.path}: 第 {line} 行,列 subject_id: 主体 {bad[1]} 不在主体表中")
    raise RegisterError(f"{source.path}: 第 {line} 行,列 type: 事件类型 {bad[2]} 不适用于主体类型 {bad[3]}")


def subject_mismatch(pack: Pack, key: str) -> exp.Select:
    """The first event of `events` (by its column `key`) whose subject is not in `subjects`, or whose type
    does not apply to its subject's kind, as (key, subject_id, type, kind): kind NULL for a missing subject.

    One join for both. The kinds each type applies to are a small VALUES table joined on (type, kind):
    a hash probe per event instead of one condition per event type (86 in the Huzhou pack) on every event."""
    kind = exp.column("kind", table="s", quoted=True)
    event_type = exp.column("type", table="e", quoted=True)
    subject = exp.column("subject_id", table="s", quoted=True)
    pairs = [(t.name, subject_kind) for t in pack.events.values() for subject_kind in t.subjects]
    applies = exp.values(
        [exp.tuple_(exp.Literal.string(name), exp.Literal.string(subject_kind)) for name, subject_kind in pairs],
        alias="a", columns=["type", "kind"],
    )
    applies_on = exp.and_(
        exp.EQ(this=exp.column("type", table="a", quoted=True), expression=event_type),
        exp.EQ(this=exp.column("kind", table="a", quoted=True), expression=kind),
    )
    return (
        exp.select(exp.column(key, table="e", quoted=True), exp.column("subject_id", table="e", quoted=True),
                   event_type, kind)
        .from_(exp.alias_(_table("events"), "e", table=True))
        .join(exp.alias_(_table("subjects"), "s", table=True),
              on=exp.EQ(this=subject, expression=exp.column("subject_id", table="e", quoted=True)), join_type="LEFT")
        .join(applies, on=applies_on, join_type="LEFT")
        .where(exp.or_(subject.is_(exp.null()), exp.column("type", table="a", quoted=True).is_(exp.null())))
        .order_by(exp.column(key, table="e", quoted=True)).limit(1)
    )


def _invalid(field: EventField) -> exp.Expression | None:
    column = _col(field.name)
    if field.type in (FieldType.MONEY, FieldType.NUMBER):
        return exp.LT(this=column, expression=exp.Literal.number(0))
    if field.type is FieldType.INTEGER and field.minimum is not None:
        return exp.LT(this=column, expression=exp.Literal.number(str(field.minimum)))
    if field.type is FieldType.CHOICE:
        return _not_in(column, field.values)
    return None


def _why(field: EventField) -> str:
    if field.type in (FieldType.MONEY, FieldType.NUMBER):
        return "不能为负数"
    if field.type is FieldType.INTEGER:
        return f"不能小于 {field.minimum}"
    return f"不是可选值;可选:{'、'.join(field.values)}"


# ---------------------------------------------------------------- SQL trees


def _col(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def _table(name: str) -> exp.Table:
    return exp.Table(this=exp.to_identifier(name, quoted=True))


def _type(sql_type: str) -> exp.DataType:
    return exp.DataType.build(sql_type, dialect="duckdb")


def _varchar(expression: exp.Expression) -> exp.Expression:
    return exp.cast(expression, "VARCHAR")


def _option(name: str, value: exp.Expression) -> exp.EQ:
    """A named argument of a DuckDB table function (read_csv(..., header = TRUE))."""
    return exp.EQ(this=exp.column(name), expression=value)


def _regexp(function: str, text: exp.Expression, pattern: str) -> exp.Expression:
    return exp.Anonymous(this=function, expressions=[text, exp.Literal.string(pattern)])


def _not_in(column: exp.Expression, values: Sequence[str] | dict) -> exp.Expression:
    return exp.or_(column.is_(exp.null()), column.isin(*(exp.Literal.string(value) for value in values)).not_())


def _create_view(con: duckdb.DuckDBPyConnection, name: str, query: exp.Query) -> None:
    create = exp.Create(
        this=_table(name), kind="VIEW", replace=True,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]), expression=query,
    )
    con.execute(create.sql(dialect="duckdb", copy=False))


def columns_of(con: duckdb.DuckDBPyConnection, view: str) -> dict[str, str]:
    return {row[0]: row[1] for row in con.execute(exp.Describe(this=_table(view)).sql(dialect="duckdb", copy=False)).fetchall()}


def _fetch(con: duckdb.DuckDBPyConnection, query: exp.Expression) -> duckdb.DuckDBPyConnection:
    return con.execute(query.sql(dialect="duckdb", copy=False))


def first_bad_row(
    con: duckdb.DuckDBPyConnection, view: str, condition: exp.Expression, *columns: exp.Expression
) -> tuple | None:
    """The first row (by `_row`) meeting `condition`, as (_row, *columns); the scan stops there."""
    query = exp.select(_col("_row"), *columns).from_(_table(view)).where(condition).order_by(_col("_row")).limit(1)
    return _fetch(con, query).fetchone()


def _value_at(con: duckdb.DuckDBPyConnection, view: str, column: exp.Expression, row: int) -> object:
    """The value of `column` on the row whose `_row` is `row` (for a message)."""
    at = exp.EQ(this=_col("_row"), expression=exp.Literal.number(row))
    return _fetch(con, exp.select(column).from_(_table(view)).where(at)).fetchone()[0]


def _duplicate(con: duckdb.DuckDBPyConnection, view: str, column: exp.Expression) -> tuple[str, list[int]] | None:
    """A value of `column` found on more than one row, and the first two of those rows."""
    more_than_one = exp.GT(this=exp.func("count", exp.Star()), expression=exp.Literal.number(1))
    query = exp.select(column).from_(_table(view)).group_by(column).having(more_than_one).limit(1)
    found = _fetch(con, query).fetchone()
    if found is None:
        return None
    same = exp.EQ(this=column, expression=exp.Literal.string(found[0]))
    query = exp.select(_col("_row")).from_(_table(view)).where(same).order_by(_col("_row")).limit(2)
    return found[0], [row[0] for row in _fetch(con, query).fetchall()]


def shown_value(value: object) -> str:
    """A value as quoted in a message: long text cut, so one bad cell does not flood the terminal."""
    text = str(value)
    return text if len(text) <= 60 else text[:60] + "…"

