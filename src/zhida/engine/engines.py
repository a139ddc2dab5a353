"""免申即享 where the register lives: the compiled rule set run inside PostgreSQL or on Spark.

`zhida match --engine duckdb|postgres|spark`. The rules are compiled once (a sqlglot tree) and
rendered for the engine (`BatchPlan.sql_for`); nothing is pasted into SQL text: statements are
sqlglot trees or psycopg.sql compositions of identifiers, values are COPY data. A match compiles
the plan by event type (`plan_by_type_in`: the types present counted in the engine, each a view of
its rows), as DuckDB does: only the rules of those types, and the claims no annual cap counts past
the windows. Reforms (`engine_rows`) run `compile_pack`'s whole query.

PostgreSQL (`match_postgres`), at DATABASE_URL or --database:
- register files: opened and checked in DuckDB exactly as `zhida match` does (engine/register.py),
  then streamed with COPY (CSV written by DuckDB: decimals as their exact digits, NULL apart from
  '') into temporary tables `subjects` and `events` of the session, which the query reads;
- named tables (`--subjects-table`, `--events-table`, `name` or `schema.name`): read where they
  are, through temporary views that cast each column to its field's type, after the checks of
  `check_tables` (see there: what is checked on tables, which have no row numbers).
  The query runs in PostgreSQL with NUMERIC money; its rows are fetched through a server-side
  cursor into a local Parquet file, from which the same output (Parquet/CSV/xlsx) and the same
  summary as DuckDB's are made (engine/match.py).

Spark (`match_spark`), on --master (default local[*]):
- register files given as plain paths are checked in DuckDB as above and handed to Spark as checked
  Parquet; a path with a scheme (file://, hdfs://, s3a://, …) is read by Spark itself (Parquet, or
  CSV with a header, as text) and checked there by `check_exact` and `check_tables` (the checks of
  named PostgreSQL tables);
- the query runs with spark.sql.decimalOperations.allowPrecisionLoss=false (DECIMAL, never double);
- the output is a Parquet dataset (a directory of part files, as Spark writes) at OUT, any path
  Spark writes: written beside OUT first and renamed onto it, so a failure leaves no partial OUT;
- the summary is computed by Spark over the written output (the same tables as DuckDB's).

Several queries over one register (`engine_rows`, for `zhida reform --engine` and its fit): the
register is opened and checked once as above and kept by the engine (PostgreSQL: one session and
its temporary tables; Spark: one session and its views); each query's rows are fetched into a
table of the caller's DuckDB connection, where the reform's comparison is made (engine/reform.py).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from zhida.engine.batch import SQL_TYPES, BatchError, BatchPlan, TypeTable, compile_by_type, compile_pack, event_columns
from zhida.engine.match import (
    BY_TYPE_EVENTS,
    TEMPORARY_PREFIX,
    Summary,
    host_name,
    summary_of,
    area_totals,
    connect,
    copy_to,
    in_private_directory,
    materialise,
    materialise_by_type,
    materialise_present,
    open_written,
    type_count_query,
    type_counts,
    type_rows,
    remove_stale_temporaries,
    write_output,
)
from zhida.engine.register import (
    EVENT_KEYS,
    SUBJECT_COLUMNS,
    RegisterError,
    check_keys_present,
    held_event_columns,
    open_register,
    subject_mismatch,
)
from zhida.rules.model import FieldType
from zhida.rules.pack import Pack
from zhida.source.script import to_simplified

if TYPE_CHECKING:
    import psycopg

ENGINES = ("duckdb", "postgres", "spark")
# The columns and types of `zhida match`'s output, as DuckDB writes them: every engine's rows are
# written with this schema, so that the files of all engines read alike.
RESULT_SCHEMA = pa.schema([
    ("subject_id", pa.string()), ("event_id", pa.string()), ("date", pa.date32()), ("rule", pa.string()),
    ("article", pa.int32()), ("kind", pa.string()), ("amount", pa.decimal128(18, 2)),
    ("tax_due", pa.decimal128(18, 2)), ("caps_hit", pa.string()), ("in_validity", pa.bool_()),
    ("department", pa.string()), ("county", pa.string()), ("carrier", pa.string()),
])
FETCH_ROWS = 50_000
COPY_CHUNK = 1 << 20
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class EngineError(ValueError):
    """The engine could not be reached or could not run the query; the message says which and why."""


def option_problem(
    engine: str, subjects: str | None, events: str | None, database: str | None,
    subjects_table: str | None, events_table: str | None, master: str | None, usage: str,
) -> str | None:
    """What is wrong with `--engine` and its options taken together, or None: one wording for every
    command that takes them (`zhida match`, `zhida reform`); `usage` is the command's own synopsis."""
    if problem := engine_problem(engine, database, bool(subjects_table or events_table)):
        return problem
    if engine != "spark" and master:
        return "--master 只用于 --engine spark"
    tables = (subjects_table, events_table)
    if any(tables) and not all(tables):
        return "--subjects-table 与 --events-table 须同时给出"
    if all(tables) and (subjects or events):
        return "请给主体表和事件表文件,或给 --subjects-table 与 --events-table,不能同时给"
    if not all(tables) and not (subjects and events):
        return f"缺少主体表或事件表:{usage}"
    return None


def engine_problem(engine: str, database: str | None, named_tables: bool) -> str | None:
    """The engine's name, and PostgreSQL's own options given to another engine (`option_problem`, `Where`)."""
    if engine not in ENGINES:
        return f"--engine {engine}: 可选 duckdb、postgres、spark"
    if engine != "postgres" and (database or named_tables):
        return "--database、--subjects-table、--events-table 只用于 --engine postgres"
    return None


# ---------------------------------------------------------------- PostgreSQL


def match_postgres(
    pack: Pack,
    out: Path,
    database: str | None,
    subjects: Path | None = None,
    events: Path | None = None,
    tables: tuple[str, str] | None = None,
    memory_limit: str = "1GB",
    written: Callable[[int, int], None] | None = None,
) -> Summary:
    """The register (files, or `tables`: named subjects and events tables) matched inside PostgreSQL."""
    names = tuple(table_name(name, option) for name, option in zip(
        tables, ("--subjects-table", "--events-table"), strict=True)) if tables else None
    conninfo = postgres_address(database)

    def body(con: duckdb.DuckDBPyConnection, private: Path) -> Summary:
        if names is None:  # the files are checked before anything is sent
            assert subjects is not None and events is not None
            materialise_present(con, pack, open_register(con, pack, subjects, events))
        with _postgres(conninfo) as pg:
            if names is None:
                _copy_into_postgres(con, pg, "subjects", private)
                _copy_into_postgres(con, pg, "events", private, "checked_events")  # the present types' columns
            else:
                _open_postgres_tables(pg, pack, *names)
            result = private / "result.parquet"
            _fetch_into_parquet(pg, _postgres_plan(pg, pack), result)
        return _written_summary(con, pack, result, out, private, written)

    return in_private_directory(out, memory_limit, body)


def plan_by_type_in(pack: Pack, counts: dict[str, int], view: Callable[[str, exp.Select], None]) -> BatchPlan:
    """The plan by event type (`compile_by_type`) over an engine's `events`: each type present becomes a
    view `events_t<n>` of its rows and the columns its rules read, made by `view(name, query)`.

    Only the rules of the types present are planned, and the claims no annual cap counts pass the
    windows by (on 10M trade-ins, 11 branches instead of 118 and no window over the trade-ins).
    `compile_pack`'s plan when no rule reads any type present (it claims nothing)."""
    try:
        plan, tables = compile_by_type(pack, counts)
    except BatchError:
        return compile_pack(pack)
    for type_name, table in tables.items():
        view(table.table, type_rows(type_name, table))
    return plan


def _postgres_plan(pg: psycopg.Connection, pack: Pack) -> BatchPlan:
    """`plan_by_type_in` PostgreSQL: the types counted there, their views temporary (this session's)."""
    counts = dict(pg.execute(type_count_query().sql(dialect="postgres")).fetchall())

    def view(name: str, query: exp.Select) -> None:
        create = exp.Create(this=_quoted_table(name), kind="VIEW", replace=True,
                            properties=exp.Properties(expressions=[exp.TemporaryProperty()]), expression=query)
        pg.execute(create.sql(dialect="postgres"))

    return plan_by_type_in(pack, counts, view)


def postgres_address(database: str | None) -> str:
    """The PostgreSQL address: --database, else DATABASE_URL; a SQLAlchemy driver suffix is dropped."""
    url = database or os.environ.get("DATABASE_URL")
    if not url:
        raise RegisterError("--engine postgres 需要 PostgreSQL 数据库地址:请给 --database 或设置环境变量 DATABASE_URL")
    scheme, _, rest = url.partition("://")
    if scheme.split("+")[0] not in ("postgresql", "postgres") or not rest:
        raise RegisterError("--engine postgres 的数据库地址须为 postgresql://…(--database 或 DATABASE_URL)")
    return "postgresql://" + rest


def table_name(name: str, option: str) -> tuple[str, ...]:
    """`table` or `schema.table`, each part a plain identifier (letters, digits, _), as parts."""
    parts = tuple(name.split("."))
    if len(parts) > 2 or not all(IDENTIFIER.match(part) for part in parts):
        raise RegisterError(f"{option} {name}: 表名须为 表 或 模式.表,只含字母、数字和下划线,且不以数字开头")
    return parts


@contextmanager
def _postgres(conninfo: str) -> Iterator[psycopg.Connection]:
    import psycopg

    try:
        connection = psycopg.connect(conninfo, connect_timeout=10)
    except psycopg.Error as error:
        raise EngineError(f"无法连接 PostgreSQL({_where(conninfo)}):{_first_line(error)}") from None
    try:
        with connection:
            yield connection
    except psycopg.Error as error:
        raise EngineError(f"PostgreSQL 执行失败:{_first_line(error)}") from None
    finally:
        connection.close()


def _where(conninfo: str) -> str:
    """Host, port and database of an address, never its password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(conninfo)
    except Exception:  # noqa: BLE001 — an address psycopg cannot parse: say nothing more of it
        return "地址无法解析"
    return f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _copy_into_postgres(
    con: duckdb.DuckDBPyConnection, pg: psycopg.Connection, table: str, private: Path, source: str | None = None
) -> None:
    """DuckDB's checked `table` (or `source`) as a temporary PostgreSQL table `table` of the same column
    types, by COPY."""
    from psycopg import sql

    source = source or table
    columns = [(name, sql_type) for name, sql_type, *_ in con.execute(
        exp.Describe(this=_quoted_table(source)).sql(dialect="duckdb")).fetchall()]
    create = exp.Create(
        this=exp.Schema(this=_quoted_table(table), expressions=[
            exp.ColumnDef(this=exp.to_identifier(name, quoted=True), kind=exp.DataType.build(sql_type, dialect="duckdb"))
            for name, sql_type in columns
        ]),
        kind="TABLE", properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
    )
    pg.execute(create.sql(dialect="postgres"))
    staged = private / f"{table}.csv"
    con.execute(copy_to(_quoted_table(source), staged, "csv"))
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, HEADER true)").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(name) for name, _ in columns))
    with pg.cursor().copy(statement) as copy, staged.open("rb") as handle:
        while chunk := handle.read(COPY_CHUNK):
            copy.write(chunk)
    staged.unlink()
    pg.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))


def _fetch_into_parquet(
    pg: psycopg.Connection, plan: BatchPlan | str, result: Path, schema: pa.Schema = RESULT_SCHEMA
) -> None:
    """The query's rows, in its order, streamed from a server-side cursor into one Parquet file."""
    query = plan if isinstance(plan, str) else plan.sql_for("postgres")
    with pg.cursor(name=f"zhida_{uuid.uuid4().hex[:12]}") as cursor, pq.ParquetWriter(result, schema) as writer:
        cursor.execute(query)
        while rows := cursor.fetchmany(FETCH_ROWS):
            writer.write_table(_arrow(rows, schema))


def _arrow(rows: list[tuple], schema: pa.Schema = RESULT_SCHEMA) -> pa.Table:
    columns = list(zip(*rows, strict=True))
    return pa.Table.from_arrays(
        [pa.array(values, field.type) for values, field in zip(columns, schema, strict=True)], schema=schema,
    )


def _written_summary(
    con: duckdb.DuckDBPyConnection, pack: Pack, result: Path, out: Path, private: Path,
    written: Callable[[int, int], None] | None,
) -> Summary:
    """The summary and the output file from the result's Parquet file, exactly as the DuckDB match makes them."""
    open_written(con, result)
    summary = summary_of(con, pack)
    titles = {(rule.id,): to_simplified(rule.spec.title) for rule in pack.rules}
    write_output(con, result, out, private, summary.rows, ("rule",), titles, written)
    return summary


def _open_postgres_tables(
    pg: psycopg.Connection, pack: Pack, subjects: tuple[str, ...], events: tuple[str, ...]
) -> dict[str, dict[str, str]]:
    """Temporary views `subjects` and `events` over the named tables, typed as the query reads them, checked;
    the columns each table has, with their types."""
    present = {}
    for name, table in (("subjects", subjects), ("events", events)):
        found = pg.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = COALESCE(%s, current_schema()) AND table_name = %s",
            (table[0] if len(table) == 2 else None, table[-1]),
        ).fetchall()
        if not found:
            raise RegisterError(f"PostgreSQL 表 {'.'.join(table)} 不存在(或没有列)")
        present[name] = {column: data_type.upper() for column, data_type in found}
    views = tabled_views(pack, present["subjects"], present["events"], ".".join(subjects), ".".join(events))
    def run(query: exp.Expression) -> list[tuple]:
        return pg.execute(query.sql(dialect="postgres")).fetchall()

    check_exact(pack, run, _named_table(events), present["events"], ".".join(events))
    for name, query, table in ((*views[0], subjects), (*views[1], events)):
        source = _named_table(table)
        create = exp.Create(this=_quoted_table(name), kind="VIEW",
                            properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
                            expression=query.from_(source, copy=False))
        pg.execute(create.sql(dialect="postgres"))
    check_tables(pack, run, ".".join(subjects), ".".join(events))
    return present


def _named_table(parts: tuple[str, ...]) -> exp.Table:
    return exp.Table(this=exp.to_identifier(parts[-1], quoted=True),
                     db=exp.to_identifier(parts[0], quoted=True) if len(parts) == 2 else None)


# ---------------------------------------------------------------- tables in an engine, typed and checked


FLOATS = ("DOUBLE", "FLOAT", "REAL")


def tabled_views(
    pack: Pack, subject_columns: dict[str, str], event_columns_present: dict[str, str], subjects: str, events: str
) -> tuple[tuple[str, exp.Select], tuple[str, exp.Select]]:
    """The SELECTs (without FROM) of the `subjects` and `events` views over tables in an engine.

    Every column is cast to its field's type: a key or a field missing is refused (a field as
    `zhida match` does: only when an event of its type is present, see `check_tables`; a field
    column absent entirely is NULL), and a money or number column held as a floating-point type is
    refused (binary fractions are not exact to the 分)."""
    check_keys_present(subject_columns, event_columns_present, subjects, events)
    text = exp.DataType.build("VARCHAR")
    county = _cast(_column("county"), text) if "county" in subject_columns else exp.cast(exp.null(), text)
    subject_view = exp.select(
        exp.alias_(_cast(_column("subject_id"), text), "subject_id", quoted=True),
        exp.alias_(_cast(_column("kind"), text), "kind", quoted=True),
        exp.alias_(county, "county", quoted=True),
    )
    selects = [exp.alias_(_cast(_column(name), exp.DataType.build(sql_type)), name, quoted=True)
               for name, sql_type in EVENT_KEYS.items()]
    for name, kind in event_columns(pack).items():
        to = exp.DataType.build(SQL_TYPES[kind], dialect="duckdb")
        actual = event_columns_present.get(name)
        if actual is None:
            selects.append(exp.alias_(exp.cast(exp.null(), to), name, quoted=True))
            continue
        if kind in (FieldType.MONEY, FieldType.NUMBER) and actual.split("(")[0].strip() in (*FLOATS, "DOUBLE PRECISION"):
            raise RegisterError(f"{events}: 列 {name} 是浮点数({actual}),金额和数字须为精确的小数(NUMERIC/DECIMAL)")
        selects.append(exp.alias_(_cast(_column(name), to), name, quoted=True))
    return ("subjects", subject_view), ("events", exp.select(*selects))


def check_tables(pack: Pack, fetch: Callable[[exp.Expression], list[tuple]], subjects: str, events: str) -> None:
    """The register checks of engine/register.py, as queries on the typed `subjects` and `events` views
    of an engine (`fetch` runs one and returns its rows). Tables have no row numbers: a message names
    the table, the column and the first offending row by its key (subject_id, event_id). Checked: keys not empty; subject kinds and event types
    known; subject and event ids unique; every event's subject present and of a kind its type applies
    to; each field of an event type present on its events, not negative (money, numbers), not below its
    minimum (integers), one of its values (choices). A value that does not convert to its column's type
    fails the query itself, and the engine's message is shown."""
    def first(table: str, condition: exp.Expression, *columns: str) -> tuple | None:
        query = exp.select(*(_column(c) for c in columns)).from_(_quoted_table(table)).where(condition)
        rows = fetch(query.order_by(*(_column(c) for c in columns)).limit(1))
        return rows[0] if rows else None

    identified = (("subjects", subjects, SUBJECT_COLUMNS, "subject_id", "主体"),
                  ("events", events, EVENT_KEYS, "event_id", "事件"))
    for table, where, keys, identifier, word in identified:
        for key in keys:
            blank = exp.or_(_column(key).is_(exp.null()), exp.EQ(
                this=exp.Trim(this=_cast(_column(key), exp.DataType.build("VARCHAR"))), expression=exp.Literal.string("")))
            rows = fetch(exp.select(_column(identifier)).from_(_quoted_table(table)).where(blank)
                         .order_by(_column(identifier)).limit(1))
            if rows:
                # the first such row by its key (a table has no row numbers); none when the key itself is blank
                at = f"(如{word} {rows[0][0]})" if key != identifier else ""
                raise RegisterError(f"{where}: 列 {key} 有空值{at}")
    bad = first("subjects", _not_in(_column("kind"), pack.subjects), "subject_id", "kind")
    if bad is not None:
        raise RegisterError(f"{subjects}: 列 kind: 未知的主体类型 '{bad[1]}'(主体 {bad[0]});可选:{'、'.join(pack.subjects)}")
    bad = first("events", _not_in(_column("type"), pack.events), "event_id", "type")
    if bad is not None:
        raise RegisterError(f"{events}: 列 type: 未知的事件类型 '{bad[1]}'(事件 {bad[0]})")
    for table, where, key, word in (("subjects", subjects, "subject_id", "主体"), ("events", events, "event_id", "事件编号")):
        more = exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1))
        rows = fetch(exp.select(_column(key)).from_(_quoted_table(table)).group_by(_column(key)).having(more)
                     .order_by(_column(key)).limit(1))
        if rows:
            raise RegisterError(f"{where}: 列 {key}: {word} {rows[0][0]} 重复")
    _check_event_subjects(pack, fetch, events)
    types = {row[0] for row in fetch(exp.select(_column("type")).distinct().from_(_quoted_table("events")))}
    for event_type in pack.events.values():
        if event_type.name not in types:
            continue
        of_type = exp.EQ(this=_column("type"), expression=exp.Literal.string(event_type.name))
        for field in event_type.fields:
            label = f"{field.name}({field.title})"
            problems = [(_column(field.name).is_(exp.null()), f"{event_type.name} 事件缺少此值")]
            if field.type in (FieldType.MONEY, FieldType.NUMBER):
                problems.append((exp.LT(this=_column(field.name), expression=exp.Literal.number(0)), "不能为负数"))
            elif field.type is FieldType.INTEGER and field.minimum is not None:
                low = exp.LT(this=_column(field.name), expression=exp.Literal.number(str(field.minimum)))
                problems.append((low, f"不能小于 {field.minimum}"))
            elif field.type is FieldType.CHOICE:
                choice = exp.and_(_column(field.name).is_(exp.null()).not_(), _not_in(_column(field.name), field.values))
                problems.append((choice, f"不是可选值;可选:{'、'.join(field.values)}"))
            for condition, why in problems:
                found = first("events", exp.and_(of_type, condition), "event_id", field.name)
                if found is not None:
                    shown = "" if found[1] is None else f"'{found[1]}' "
                    raise RegisterError(f"{events}: 事件 {found[0]},列 {label}: {shown}{why}")


TEXTS = ("STRING", "TEXT", "VARCHAR", "CHARACTER VARYING", "CHARACTER", "CHAR")
NUMBER_TEXT = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"
SCALES = {FieldType.MONEY: 2, FieldType.NUMBER: 6, FieldType.INTEGER: 0}


def check_exact(
    pack: Pack, fetch: Callable[[exp.Expression], list[tuple]], source: exp.Table, present: dict[str, str], where: str
) -> None:
    """No value is rounded on the way in (as engine/register.py): a number held as text must be written
    plainly with no more decimals than its field keeps, a decimal column must hold no more decimals."""
    for name, kind in event_columns(pack).items():
        if kind not in SCALES or name not in present:
            continue
        scale, actual = SCALES[kind], present[name].split("(")[0].strip()
        column = _column(name)
        if actual in TEXTS:
            text = exp.Trim(this=column)
            decimals = rf"\.[0-9]{{{scale}}}[0-9]*[1-9]" if scale else r"\.[0-9]*[1-9]"
            condition = exp.or_(exp.RegexpLike(this=text, expression=exp.Literal.string(NUMBER_TEXT)).not_(),
                                exp.RegexpLike(this=text, expression=exp.Literal.string(decimals)))
        elif actual in ("NUMERIC", "DECIMAL"):
            condition = exp.NEQ(this=column, expression=exp.Round(this=column, decimals=exp.Literal.number(scale)))
        else:
            continue  # integer types; floats are refused by `tabled_views`
        query = exp.select(_column("event_id"), column).from_(source.copy()).where(
            exp.and_(column.is_(exp.null()).not_(), condition)).order_by(_column("event_id")).limit(1)
        rows = fetch(query)
        if rows:
            word = {FieldType.MONEY: "金额(最多两位小数)", FieldType.NUMBER: "数字(最多六位小数)"}.get(kind, "整数")
            raise RegisterError(f"{where}: 事件 {rows[0][0]},列 {name}: '{rows[0][1]}' 不是 {word}")


def _check_event_subjects(pack: Pack, fetch: Callable[[exp.Expression], list[tuple]], events: str) -> None:
    """An event whose subject is not in the register, or of a kind its type does not apply to (tables have
    no row numbers: the first by event_id)."""
    query = subject_mismatch(pack, "event_id")
    rows = fetch(query)
    if not rows:
        return
    event_id, subject_id, event_type, kind = rows[0]
    if kind is None:
        raise RegisterError(f"{events}: 事件 {event_id},列 subject_id: 主体 {subject_id} 不在主体表中")
    raise RegisterError(f"{events}: 事件 {event_id},列 type: 事件类型 {event_type} 不适用于主体类型 {kind}")


def _column(name: str) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=True))


def _cast(value: exp.Expression, to: exp.DataType) -> exp.Cast:
    return exp.Cast(this=value, to=to.copy())


def _quoted_table(name: str) -> exp.Table:
    return exp.Table(this=exp.to_identifier(name, quoted=True))


def _not_in(column: exp.Expression, values) -> exp.Expression:
    return exp.or_(column.is_(exp.null()), column.isin(*(exp.Literal.string(value) for value in values)).not_())


# ---------------------------------------------------------------- Spark


def match_spark(
    pack: Pack, subjects: str, events: str, out: str, master: str = "local[*]", memory_limit: str = "1GB"
) -> Summary:
    """The register matched on Spark; OUT a Parquet dataset (see the module docstring)."""
    if not out.rstrip("/").lower().endswith(".parquet"):
        raise RegisterError(f"{out}: --engine spark 只输出 Parquet(文件名以 .parquet 结尾,Spark 写成一个目录)")
    compile_pack(pack)  # a pack the batch cannot compile is refused before Spark starts
    remote = [path for path in (subjects, events) if not is_local(path)]
    if remote and len(remote) < 2:
        raise RegisterError("--engine spark:主体表和事件表须同为本地文件,或同为 Spark 读取的远程路径(hdfs://、s3a:// …)")
    out = out if not is_local(out) else str(Path(out).resolve())
    private = _private_directory(out)
    try:
        spark, started = _spark_session(master)
        try:
            if remote:
                _open_remote(spark, pack, subjects, events)
            else:
                _stage_checked(pack, Path(subjects), Path(events), private, memory_limit)
                for name in ("subjects", "events"):
                    spark.read.parquet(str(private / f"{name}.parquet")).createOrReplaceTempView(name)
            counts = {row[0]: row[1] for row in spark.sql(type_count_query().sql(dialect="spark")).collect()}
            plan = plan_by_type_in(
                pack, counts, lambda name, query: spark.sql(query.sql(dialect="spark")).createOrReplaceTempView(name)
            )
            _write_spark(spark, spark.sql(plan.sql_for("spark")), out)
            return _spark_summary(pack, spark.read.parquet(out))
        except (RegisterError, EngineError):
            raise
        except Exception as error:  # noqa: BLE001 — Spark raises py4j and analysis errors of many kinds
            raise EngineError(f"Spark 执行失败:{_first_line(error)}") from None
        finally:
            if started:
                spark.stop()
    finally:
        shutil.rmtree(private, ignore_errors=True)


def is_local(path: str) -> bool:
    """A path without a URI scheme: a file here, checked by DuckDB; file://, hdfs://, s3a:// … Spark reads itself."""
    return not SCHEME.match(path)


def _private_directory(out: str) -> Path:
    """The staging directory: beside a local OUT (named as match.py's, so stale ones are removed), else in /tmp."""
    parent = Path(out).parent if is_local(out) else Path(tempfile.gettempdir())
    try:
        parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(parent)
        return Path(tempfile.mkdtemp(prefix=f"{TEMPORARY_PREFIX}{host_name()}-{os.getpid()}-", dir=parent))
    except OSError as error:
        raise RegisterError(f"{out}: 无法写入:{error.strerror or error}") from None


def _stage_checked(pack: Pack, subjects: Path, events: Path, private: Path, memory_limit: str) -> None:
    """Local register files checked in DuckDB (engine/register.py) and written as typed Parquet for Spark."""
    con = connect(memory_limit, private / "duckdb")
    try:
        counts = open_register(con, pack, subjects, events)
        # each type's rows together (Spark's per-type views then skip the others' row groups), not sorted
        materialise_present(con, pack, counts)
        for name, table in (("subjects", "subjects"), ("events", "checked_events")):
            con.execute(copy_to(_quoted_table(table), private / f"{name}.parquet", "parquet"))
    finally:
        con.close()


def _spark_session(master: str) -> tuple[Any, bool]:
    """The active Spark session (a test's, an application's) or a new one on `master`; True if started here."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineError("--engine spark 需要 pyspark:请安装 pyspark(pip install pyspark)并配置 Java 17") from None
    session = SparkSession.getActiveSession()
    started = session is None
    if started:
        try:
            session = (SparkSession.builder.master(master).appName("zhida match")
                       .config("spark.ui.showConsoleProgress", "false").getOrCreate())
        except Exception as error:  # noqa: BLE001 — no Java, a bad master URL …
            raise EngineError(f"无法启动 Spark(--master {master}):{_first_line(error)}") from None
    # Exact decimals: without this Spark rounds a product of two wide decimals to 6 places (batch.py).
    session.conf.set("spark.sql.decimalOperations.allowPrecisionLoss", "false")
    session.conf.set("spark.sql.ansi.enabled", "true")  # an overflow fails instead of becoming NULL
    return session, started


def _write_spark(spark: Any, frame: Any, out: str) -> None:
    """The result written beside OUT, then renamed onto it through Hadoop's FileSystem (local, HDFS, S3 …)."""
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path
    target = hadoop_path(out)
    staging = hadoop_path(target.getParent(), staging_name())
    filesystem = target.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    try:
        frame.write.mode("error").parquet(staging.toString())
        if filesystem.exists(target):
            filesystem.delete(target, True)
        if not filesystem.rename(staging, target):
            raise EngineError(f"{out}: 无法将结果改名为输出路径")
    finally:
        if filesystem.exists(staging):
            filesystem.delete(staging, True)


def staging_name(pid: int | None = None) -> str:
    """The name of Spark's output written beside OUT before its rename, as match.py names its private
    directories (prefix, host, process): a killed run's is removed by the next run's
    `remove_stale_temporaries` (`_private_directory`) when OUT is local."""
    return f"{TEMPORARY_PREFIX}{host_name()}-{pid or os.getpid()}-{uuid.uuid4().hex[:12]}"


def _spark_summary(pack: Pack, written: Any) -> Summary:
    """The tables of `zhida match`'s summary, aggregated by Spark over the written output."""
    from pyspark.sql import functions as F

    def amounts(*keys: str) -> list:
        return written.groupBy(*keys).agg(F.count(F.lit(1)).alias("n"), F.sum("amount").alias("s")).collect()

    def money(value: Decimal | None) -> Decimal:
        return Decimal(0) if value is None else Decimal(value)

    by_rule = sorted(((r["rule"], r["article"], r["department"], r["n"], money(r["s"])) for r in amounts(
        "rule", "article", "department")), key=lambda row: (row[1], row[0]))
    by_area = area_totals(pack, [(rule, count, amount) for rule, _, _, count, amount in by_rule])
    by_county = sorted(((r["county"] if r["county"] is not None else "(未知)", r["n"], money(r["s"]))
                        for r in amounts("county")), key=lambda row: (-row[2], row[0]))
    by_kind = {r["kind"]: (r["n"], money(r["s"])) for r in sorted(amounts("kind"), key=lambda r: r["kind"])}
    rows = sum(count for _, _, _, count, _ in by_rule)
    total = sum((amount for *_, amount in by_rule), Decimal(0))
    return Summary(rows, total, by_rule, by_area, by_county, by_kind)


def _open_remote(spark: Any, pack: Pack, subjects: str, events: str) -> dict[str, dict[str, str]]:
    """Register files Spark reads itself (Parquet, or CSV with a header as text), typed by casts and checked
    (as views `zhida_raw_subjects` and `zhida_raw_events` as read, `subjects` and `events` typed); their types."""
    from pyspark.sql.utils import AnalysisException

    raw = {}
    for name, path in (("subjects", subjects), ("events", events)):
        lower = path.rstrip("/").lower()
        try:
            if lower.endswith(".parquet"):
                raw[name] = spark.read.parquet(path)
            elif lower.endswith(".csv"):
                raw[name] = spark.read.option("header", "true").option("mode", "FAILFAST").csv(path)
            else:
                raise RegisterError(f"{path}: --engine spark 读取 .parquet 或 .csv(带表头)")
        except AnalysisException as error:
            raise RegisterError(f"{path}: 无法读取:{_first_line(error)}") from None
        raw[name].createOrReplaceTempView(f"zhida_raw_{name}")
    types = {name: {field.name: field.dataType.simpleString().upper() for field in frame.schema.fields}
             for name, frame in raw.items()}
    views = tabled_views(pack, types["subjects"], types["events"], subjects, events)

    def run(query: exp.Expression) -> list[tuple]:
        return [tuple(row) for row in spark.sql(query.sql(dialect="spark")).collect()]

    check_exact(pack, run, _quoted_table("zhida_raw_events"), types["events"], events)
    for (name, query), source in zip(views, ("zhida_raw_subjects", "zhida_raw_events"), strict=True):
        spark.sql(query.from_(_quoted_table(source), copy=False).sql(dialect="spark")).createOrReplaceTempView(name)
    check_tables(pack, run, subjects, events)
    return types


# ---------------------------------------------------------------- several queries over one register (zhida reform)


@dataclass(frozen=True)
class Where:
    """Where a register's queries run (`--engine` and its options): DuckDB here by default."""

    engine: str = "duckdb"
    database: str | None = None  # PostgreSQL: --database, else DATABASE_URL
    tables: tuple[str, str] | None = None  # PostgreSQL: named subjects and events tables
    master: str = "local[*]"  # Spark

    def check(self) -> None:
        """Refuse, before any work, what can be refused without the engine: its name, address, table names."""
        if problem := engine_problem(self.engine, self.database, self.tables is not None):
            raise RegisterError(problem)
        if self.engine == "postgres":
            postgres_address(self.database)
            for name, option in zip(self.tables or (), ("--subjects-table", "--events-table"), strict=False):
                table_name(name, option)

    def reads_itself(self, subjects: str, events: str) -> bool:
        """True when the engine opens and checks the register itself (named tables, paths Spark reads);
        False when register files are checked in DuckDB first, as `zhida match` does."""
        if self.engine == "postgres":
            return self.tables is not None
        if self.engine != "spark" or (is_local(subjects) and is_local(events)):
            return False
        if is_local(subjects) or is_local(events):
            raise RegisterError("--engine spark:主体表和事件表须同为本地文件,或同为 Spark 读取的远程路径(hdfs://、s3a:// …)")
        return True


Rows = Callable[[Pack, str], None]  # the pack's entitlement rows, computed in the engine, as DuckDB table `name`
FACT_COLUMNS = ("weight", "industry_chain", "chain", "revenue")  # subject columns a reform reads (engine/reform.py)
TEXT_FIELD = pa.string()


@contextmanager
def engine_rows(
    con: duckdb.DuckDBPyConnection, pack: Pack, where: Where, private: Path, register: tuple[str, str] | None = None
) -> Iterator[Rows]:
    """The register held by the engine for several queries (a reform's baseline, its reformed rules, a fit's
    steps): each query runs there, exact, and its rows are fetched into a DuckDB table of `con`.

    `register` None: the files are already opened, checked and materialised in `con` (`subjects`,
    `events`) and are sent to the engine once. Otherwise (`Where.reads_itself`): the engine opens and
    checks the named tables or the paths, and the subjects' identifiers and FACT_COLUMNS are fetched
    into DuckDB table `raw_subjects`, as text, with `_row` their subject_id (the key messages name)."""
    if where.engine == "duckdb":
        yield _duckdb_rows(con, pack)
    elif where.engine == "postgres":
        with _postgres(postgres_address(where.database)) as pg:
            if where.tables is None:
                for table in ("subjects", "events"):
                    _copy_into_postgres(con, pg, table, private)
            else:
                names = [table_name(name, option) for name, option in zip(
                    where.tables, ("--subjects-table", "--events-table"), strict=True)]
                present = _open_postgres_tables(pg, pack, *names)

                def fetch_postgres(query: exp.Expression, schema: pa.Schema, path: Path) -> None:
                    _fetch_into_parquet(pg, query.sql(dialect="postgres"), path, schema)

                _subject_text(con, fetch_postgres, _named_table(names[0]), present["subjects"], ".".join(names[0]), private)

            def rows_postgres(part: Pack, name: str) -> None:
                path = private / f"{name}-{uuid.uuid4().hex[:8]}.parquet"
                _fetch_into_parquet(pg, compile_pack(part), path)
                _replace_table(con, name, lambda: con.read_parquet(str(path)))  # read_parquet: a path, never SQL text

            yield rows_postgres
    else:
        with _spark_rows(con, pack, where, private, register) as rows:
            yield rows


@contextmanager
def _spark_rows(
    con: duckdb.DuckDBPyConnection, pack: Pack, where: Where, private: Path, register: tuple[str, str] | None
) -> Iterator[Rows]:
    spark, started = _spark_session(where.master)
    try:
        if register is None:
            for name in ("subjects", "events"):
                con.execute(copy_to(_quoted_table(name), private / f"{name}.parquet", "parquet"))
                spark.read.parquet(str(private / f"{name}.parquet")).createOrReplaceTempView(name)
        else:
            types = _open_remote(spark, pack, *register)

            def fetch_spark(query: exp.Expression, schema: pa.Schema, path: Path) -> None:
                pq.write_table(_spark_arrow(spark, query.sql(dialect="spark"), schema), path)

            _subject_text(con, fetch_spark, _quoted_table("zhida_raw_subjects"), types["subjects"], register[0], private)

        def rows_spark(part: Pack, name: str) -> None:
            rows = _spark_arrow(spark, compile_pack(part).sql_for("spark"), RESULT_SCHEMA)
            _replace_table(con, name, lambda: con.from_arrow(rows))

        yield rows_spark
    except (ValueError, duckdb.Error):
        raise  # zhida's own errors (RegisterError, EngineError, BatchError …) and the caller's DuckDB's, as they are
    except Exception as error:  # noqa: BLE001 — Spark raises py4j and analysis errors of many kinds
        raise EngineError(f"Spark 执行失败:{_first_line(error)}") from None
    finally:
        if started:
            spark.stop()


def _spark_arrow(spark: Any, sql: str, schema: pa.Schema) -> pa.Table:
    """A query's rows brought to the driver as Arrow (exact decimals), not written to a folder: on a
    cluster the executors cannot write into this machine's private directory."""
    return spark.sql(sql).toArrow().cast(schema)


def _duckdb_rows(con: duckdb.DuckDBPyConnection, pack: Pack) -> Rows:
    """Queries over the opened (not materialised) register, run as `zhida match` runs them: up to
    BY_TYPE_EVENTS events, by event type (`compile_by_type`), each type's table made once with the
    columns the queries so far read (a reformed rule may read another field); beyond, one table."""
    counts = type_counts(con)
    by_type = sum(counts.values()) <= BY_TYPE_EVENTS
    if not by_type:
        materialise(con, held_event_columns(pack, counts), counts)  # a reform's rules read the fields of the pack's types
    made: dict[str, tuple[str, ...]] = {}  # each type's table and the columns it holds
    con.execute("SET preserve_insertion_order = false")  # the rows' order is no one's: the comparison sorts

    def rows(part: Pack, name: str) -> None:
        plan, tables = None, {}
        if by_type:
            try:
                plan, tables = compile_by_type(part, counts)
            except BatchError:
                pass  # no rule of `part` reads a type present: the plain query over `events` claims nothing
        plan = plan or compile_pack(part)
        for type_name, table in tables.items():
            held = made.get(table.table, ())
            if set(table.columns) <= set(held):
                continue
            columns = tuple(dict.fromkeys([*held, *table.columns]))
            con.execute(exp.Drop(tables=[_quoted_table(table.table)], kind="TABLE", exists=True).sql(dialect="duckdb"))
            materialise_by_type(con, {type_name: TypeTable(table.table, columns)})
            made[table.table] = columns
        # The plan's tree inside one CREATE OR REPLACE (a fit's steps replace the table): one statement to parse
        # and bind (a relation over its text took two). The rows' order is no one's here (the comparison sorts):
        # the plan's final sort is dropped (its tree was compiled for this statement alone).
        plan.tree.set("order", None)
        create = exp.Create(this=_quoted_table(name), kind="TABLE", replace=True, expression=plan.tree)
        con.execute(create.sql(dialect="duckdb", copy=False))

    return rows


def _replace_table(
    con: duckdb.DuckDBPyConnection, name: str, relation: Callable[[], duckdb.DuckDBPyRelation]
) -> None:
    """DuckDB table `name` (replacing one of that name: a fit's steps) holding the relation's rows."""
    con.execute(exp.Drop(tables=[_quoted_table(name)], kind="TABLE", exists=True).sql(dialect="duckdb"))
    relation().create(name)


def _subject_text(
    con: duckdb.DuckDBPyConnection, fetch: Callable[[exp.Expression, pa.Schema, Path], None], source: exp.Table,
    present: dict[str, str], where: str, private: Path,
) -> None:
    """DuckDB table `raw_subjects`: subject_id, kind and the FACT_COLUMNS the table has, as exact text (a
    floating-point weight or revenue is refused: binary fractions are not exact), `_row` the subject_id."""
    columns = ["subject_id", "kind", *(name for name in FACT_COLUMNS if name in present)]
    for name in ("weight", "revenue"):
        actual = present.get(name, "").split("(")[0].strip()
        if actual in (*FLOATS, "DOUBLE PRECISION"):
            raise RegisterError(f"{where}: 列 {name} 是浮点数({present[name]}),须为精确的小数(NUMERIC/DECIMAL)或文本")
    text = exp.DataType.build("TEXT")
    query = exp.select(*(exp.alias_(_cast(_column(name), text), name, quoted=True) for name in columns)).from_(source)
    path = private / "subject-text.parquet"
    fetch(query, pa.schema([(name, TEXT_FIELD) for name in columns]), path)
    found = path / "*.parquet" if path.is_dir() else path  # Spark writes a directory of part files
    read = exp.Table(this=exp.func("read_parquet", exp.Literal.string(str(found))))
    query = exp.select(*(_column(name) for name in columns), exp.alias_(_column("subject_id"), "_row", quoted=True))
    con.sql(query.from_(read).sql(dialect="duckdb")).create("raw_subjects")
