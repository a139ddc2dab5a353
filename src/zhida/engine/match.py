"""免申即享 over a register: every rule over every subject and event, written to a file.

The register is opened and checked (`zhida.engine.register`), the compiled
rule set (`zhida.engine.batch`) runs in DuckDB with a memory limit so that 10M
events stream through and spill to disk rather than fill memory, and the result
is written and renamed onto OUT: a failure leaves no partial output.

Temporary files (the result before it is renamed, DuckDB's spill files) live in
one private directory, `.zhida-tmp-<host>-<pid>-XXXX`, made beside OUT so that
the rename stays on one filesystem, and removed when `match` ends. A run that is
killed cannot remove it: the next run in that directory removes every such
directory whose process is gone (same host, pid not running), or that is more
than a day old (another host's run, whose pid cannot be checked from here).

A spreadsheet written here cannot attack its reader: a text cell that a
spreadsheet would take for a formula (=, +, -, @, tab, CR) gets a leading
apostrophe, as OWASP's CSV-injection guidance says. Amounts are never touched.

The Excel output is for people: Chinese headers (COLUMN_TITLES), each rule's title beside its
id, amounts as numeric cells Excel can sum (the exact Decimal digits in the file, format
#,##0.00). Parquet and CSV keep the keys as the columns' names: they are what `zhida propose`
and other programs read (propose maps the Chinese headers of the Excel output back to keys).
`written(rows, total)` reports the rows written to Excel as they go (a million rows take a
while). The file is left readable by its user's group and others (0644), whatever mode the
private directory's files had.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import duckdb
from sqlglot import exp

from zhida.engine.batch import BatchError, BatchPlan, TypeTable, compile_by_type, compile_pack
from zhida.engine.register import RegisterError, columns_of, held_event_columns, open_register, release_events
from zhida.rules.model import Kind
from zhida.rules.pack import Pack
from zhida.source.script import to_simplified

EXCEL_ROW_LIMIT = 1_048_575  # one row of an Excel sheet is the header
MEMORY_LIMIT = re.compile(r"^(?P<number>\d+(\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)
TEMPORARY_PREFIX = ".zhida-tmp-"
# Up to this many events, each type's rows go to a table of their own (`materialise_by_type`) and the
# query by type runs in one statement (bench/README.md, "Batch 免申即享"). Those tables stay in memory
# (10M trade-ins took 790 MiB of a 1 GB limit, and the final sort then failed), so a larger register is
# read into one table, type after type, which DuckDB spills, and the query by type runs over views of it
# in two statements (`in_two_statements`): the claims, then the final sort.
BY_TYPE_EVENTS = 3_000_000
CLAIMED = "claimed_rows"  # a large register's claims, before the final sort (`in_two_statements`)
STALE_AFTER = 24 * 3600  # seconds: a directory from another host is left alone for a day
# OWASP CSV injection: cells starting with these are formulas to Excel, LibreOffice or Sheets. The full-width
# forms are added because Chinese input methods type them, and some spreadsheet versions accept them too.
FORMULA_START = "=+-@\t\r＝＋－＠"
FILE_MODE = 0o644
# The Excel output's headers (Parquet and CSV keep the keys); "title" is the rule's title, added beside its id.
COLUMN_TITLES = {
    "subject_id": "主体代码", "event_id": "事件编号", "date": "发生日期", "rule": "规则", "title": "政策",
    "article": "条", "kind": "类别", "amount": "金额(元)", "tax_due": "税额(元)", "caps_hit": "触及的上限",
    "in_validity": "在有效期内", "department": "牵头部门", "county": "区县", "carrier": "载体",
}
MONEY_COLUMNS = ("amount", "tax_due")
MONEY_FORMAT = "#,##0.00"
Outcome = TypeVar("Outcome")


@dataclass(frozen=True)
class Summary:
    rows: int
    total: Decimal  # every amount of the output added up, whatever its kind: for checks, not for readers
    by_rule: list[tuple]  # rule, article, department, count, amount
    by_area: list[tuple]  # area, lead department, count, amount, 2025 budget, share of the budget (%)
    by_county: list[tuple]  # county, count, amount
    # kind -> (count, amount): 最高 ceilings, 不低于 floors, exact amounts and tax savings are never
    # one sum (DESIGN.md); by-measure and qualification rows are counted, their amount is NULL.
    by_kind: dict[str, tuple[int, Decimal]]


def check_memory_limit(memory_limit: str) -> str:
    """A size such as 1GB or 512MB; anything else is refused before it reaches DuckDB."""
    size = MEMORY_LIMIT.match(memory_limit.strip())
    if size is None or Decimal(size.group("number")) <= 0:
        raise RegisterError(f"--memory-limit {memory_limit}: 须为内存大小,如 1GB、512MB")
    return memory_limit.strip()


def duckdb_failure(error: duckdb.Error, memory_limit: str) -> str:
    """One line for a DuckDB failure; running out of memory names the option that helps."""
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    if isinstance(error, duckdb.OutOfMemoryException):
        return (f"内存不足:--memory-limit {memory_limit} 不够本次计算(已落盘仍不足);"
                f"请加大上限,如 --memory-limit 4GB。DuckDB:{first}")
    return f"计算失败:{first}"


def connect(memory_limit: str = "1GB", temp_directory: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with its settings passed as configuration, never as SQL text."""
    config = {
        "memory_limit": check_memory_limit(memory_limit),
        "temp_directory": str(temp_directory or Path(tempfile.gettempdir()) / "zhida-duckdb"),
    }
    con = duckdb.connect(config=config)
    # query_progress() stays at -1 unless the progress bar is on; it is not printed. Per-connection
    # options, which DuckDB does not accept in `config`: constant statements, nothing from the caller.
    con.execute("SET enable_progress_bar = true")
    con.execute("SET enable_progress_bar_print = false")
    return con


def match(
    pack: Pack,
    subjects: Path,
    events: Path,
    out: Path,
    progress: Callable[[float], None] | None = None,
    memory_limit: str = "1GB",
    written: Callable[[int, int], None] | None = None,
) -> Summary:
    return in_private_directory(
        out, memory_limit, lambda con, private: _match(con, pack, subjects, events, out, private, progress, written)
    )


def in_private_directory(
    out: Path, memory_limit: str, body: Callable[[duckdb.DuckDBPyConnection, Path], Outcome]
) -> Outcome:
    """Check OUT, make the private directory beside it, run `body(con, private)` on a fresh DuckDB
    connection spilling there, and remove the directory whatever happens (see the module docstring)."""
    suffix = out.suffix.lower()
    if suffix not in (".parquet", ".csv", ".xlsx"):
        raise RegisterError(f"{out}: 输出文件须为 .parquet、.csv 或 .xlsx")
    memory_limit = check_memory_limit(memory_limit)
    if out.is_dir():
        raise RegisterError(f"{out}: 是一个目录,输出须为文件")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(out.parent)
        private = Path(tempfile.mkdtemp(prefix=f"{TEMPORARY_PREFIX}{host_name()}-{os.getpid()}-", dir=out.parent))
    except OSError as error:
        raise RegisterError(f"{out}: 无法写入:{error.strerror or error}") from None
    try:
        con = connect(memory_limit, private / "duckdb")
        try:
            return body(con, private)
        finally:
            con.close()
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _match(
    con: duckdb.DuckDBPyConnection,
    pack: Pack,
    subjects: Path,
    events: Path,
    out: Path,
    private: Path,
    progress: Callable[[float], None] | None,
    written: Callable[[int, int], None] | None = None,
) -> Summary:
    counts = open_register(con, pack, subjects, events)
    # Row numbers were needed for the checks' messages; the query orders what it writes itself.
    con.execute("SET preserve_insertion_order = false")
    plan, tables = plan_by_type(pack, counts)
    if tables:
        materialise_by_type(con, tables)
        release_events(con)  # the per-type tables hold what the query reads: free the memory for it
    else:  # a large register, or one where no rule reads any event type present
        materialise(con, held_event_columns(pack, counts), counts)
        plan = in_two_statements(con, pack, counts)
    result = private / "result.parquet"
    # Always through Parquet first: the summary reads it back, and CSV/Excel are written from it. The plan's
    # tree goes inside the COPY (one statement to parse and bind: a view of it first cost 0.05 s on (b)).
    run(con, copy_to(plan.tree, result, "parquet"), progress)
    open_written(con, result)
    summary = summary_of(con, pack)
    titles = {(rule.id,): to_simplified(rule.spec.title) for rule in pack.rules}
    write_output(con, result, out, private, summary.rows, ("rule",), titles, written)
    return summary


def plan_by_type(pack: Pack, counts: dict[str, int]) -> tuple[BatchPlan | None, dict[str, TypeTable]]:
    """The plan by event type for a register of at most BY_TYPE_EVENTS events, else (None, {})."""
    if sum(counts.values()) > BY_TYPE_EVENTS:
        return None, {}
    try:
        return compile_by_type(pack, counts)
    except BatchError:  # no rule reads any event type present
        return None, {}


def in_two_statements(con: duckdb.DuckDBPyConnection, pack: Pack, counts: dict[str, int]) -> BatchPlan:
    """The plan by type over the materialised register (`materialise`) for a large register: each type's
    rows a view of the table that holds them together (zone maps skip the other types' row groups), the
    claims run first into table `claimed_rows`, and the plan's query the final sort over it.
    `compile_pack`'s query when no rule reads any type present."""
    try:
        plan, tables = compile_by_type(pack, counts, claimed=CLAIMED)
    except BatchError:
        return compile_pack(pack)
    for type_name, table in tables.items():
        _create_view(con, table.table, type_rows(type_name, table))
    assert plan.claims is not None
    # Through the relation API, as the final query below: the plan's text is never pasted into a statement.
    con.sql(plan.claims).create(CLAIMED)
    return plan


def type_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The opened register's events by type: the types present and how many of each."""
    return dict(con.execute(type_count_query().sql(dialect="duckdb", copy=False)).fetchall())


def type_count_query() -> exp.Select:
    """(type, events) of table `events`, for any engine's dialect."""
    event_type, count = exp.column("type", quoted=True), exp.alias_(exp.func("count", exp.Star()), "events")
    return exp.select(event_type, count).from_(_table("events")).group_by(event_type.copy())


def type_rows(type_name: str, table: TypeTable) -> exp.Select:
    """The rows of one event type in `events`, with the columns its rules read (`compile_by_type`)."""
    return (
        exp.select(*(exp.column(name, quoted=True) for name in table.columns))
        .from_(_table("events"))
        .where(exp.EQ(this=exp.column("type", quoted=True), expression=exp.Literal.string(type_name)))
    )


def materialise_present(con: duckdb.DuckDBPyConnection, pack: Pack, counts: dict[str, int]) -> None:
    """`materialise` for a register sent to another engine, whose query is the plan by type: only the
    columns of the types present (`counts`, from `open_register`) go into `checked_events` (what is
    sent), each type's rows together; every column when no rule reads a type present (`compile_pack`'s
    query then runs, reading them all)."""
    ruled = any(rule.spec.event in counts for rule in pack.rules)
    materialise(con, held_event_columns(pack, counts) if ruled else None, counts)


def open_written(con: duckdb.DuckDBPyConnection, result: Path) -> None:
    """The `written` view over the result's Parquet file, which the summary and the other formats read."""
    con.execute("SET preserve_insertion_order = true")  # CSV and Excel keep the query's order
    _create_view(con, "written", exp.select("*").from_(exp.Table(this=_read_parquet(result))))


def write_output(
    con: duckdb.DuckDBPyConnection,
    result: Path,
    out: Path,
    private: Path,
    rows: int,
    title_key: tuple[str, ...],
    titles: dict[tuple, str],
    written: Callable[[int, int], None] | None = None,
    column_titles: dict[str, str] = COLUMN_TITLES,
) -> None:
    """The `written` view in OUT's format, renamed onto OUT (Parquet: the result file itself).

    Excel shows each rule's title beside its id: `titles` by the values of the `title_key` columns."""
    suffix = out.suffix.lower()
    final = result if suffix == ".parquet" else private / f"result{suffix}"
    if suffix == ".csv":
        con.execute(copy_to(_neutralised(con, "written"), final, "csv"))
    elif suffix == ".xlsx":
        _write_excel(con, final, rows, out, title_key, titles, written, column_titles)
    os.chmod(final, FILE_MODE)  # the private directory's files may be the owner's only
    os.replace(final, out)


def remove_stale_temporaries(directory: Path) -> None:
    """Remove the private directories of runs that were killed (see the module docstring)."""
    host = host_name()
    now = time.time()
    for path in directory.glob(f"{TEMPORARY_PREFIX}*"):
        parts = path.name.removeprefix(TEMPORARY_PREFIX).split("-")
        if len(parts) < 3 or not parts[1].isdigit() or path.is_symlink() or not path.is_dir():
            continue
        try:
            old = now - path.stat().st_mtime > STALE_AFTER
        except OSError:
            continue  # removed meanwhile
        if old or (parts[0] == host and not _running(int(parts[1]))):
            shutil.rmtree(path, ignore_errors=True)


def host_name() -> str:
    """A short, file-name-safe token for this machine (hostnames may hold any character)."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def materialise(
    con: duckdb.DuckDBPyConnection, keep: Collection[str] | None = None, types: Collection[str] | None = None
) -> None:
    """Read the checked files once into DuckDB's own storage, each event type's rows together.

    The query has one branch per rule, each filtering `events` by type: on a table holding each
    type's rows together, DuckDB's zone maps let each branch skip the other types' row groups instead of
    re-reading and re-casting the whole file (halves the query on 100k enterprises). Beyond the
    memory limit the tables spill to the temporary directory.

    `keep`: the event columns to copy (the keys and the fields of the types present); the others
    stay in the `events` view as typed NULLs, which no branch of a present type reads. Copying only
    these (14 of 86 columns for 10M trade-ins) is most of what the load and its spill cost.
    `types`: the event types present (`type_counts`, counted here when not given). Each type's rows are
    appended in turn, one statement each, so that they lie together: no sort of the whole register
    (50M events: a sort that spills).
    """
    columns = {name: sql_type for name, sql_type in columns_of(con, "events").items() if name != "_row"}
    kept = [name for name in columns if keep is None or name in keep]
    query = exp.select(*(exp.column(name, quoted=True) for name in kept)).from_(_table("events"))
    _create_temporary_table(con, "checked_events", query.limit(0))
    for type_name in sorted(type_counts(con) if types is None else types):
        one_type = exp.EQ(this=exp.column("type", quoted=True), expression=exp.Literal.string(type_name))
        append = exp.Insert(this=_table("checked_events"), expression=query.where(one_type))
        con.execute(append.sql(dialect="duckdb", copy=False))
    con.execute(exp.Drop(tables=[_table("events")], kind="VIEW").sql(dialect="duckdb", copy=False))
    nulls = [
        exp.alias_(exp.cast(exp.null(), exp.DataType.build(sql_type, dialect="duckdb")), name, quoted=True)
        for name, sql_type in columns.items() if name not in kept
    ]
    _create_view(con, "events", exp.select(exp.Star(), *nulls).from_(_table("checked_events")))
    _create_temporary_table(con, "checked_subjects", exp.select(exp.Star()).from_(_table("subjects")))
    con.execute(exp.Drop(tables=[_table("subjects")], kind="VIEW").sql(dialect="duckdb", copy=False))
    con.execute(exp.Alter(
        this=_table("checked_subjects"), kind="TABLE", actions=[exp.AlterRename(this=_table("subjects"))]
    ).sql(dialect="duckdb", copy=False))


def _create_temporary_table(con: duckdb.DuckDBPyConnection, name: str, query: exp.Query) -> None:
    create = exp.Create(
        this=_table(name), kind="TABLE",
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]), expression=query,
    )
    con.execute(create.sql(dialect="duckdb", copy=False))


def materialise_by_type(con: duckdb.DuckDBPyConnection, tables: dict[str, TypeTable]) -> None:
    """Each event type's rows, with the columns its rules read, into its own DuckDB table (`compile_by_type`).

    One narrow table per type instead of the whole wide register: each rule's branch scans only its
    own type's rows, and the columns no rule reads are never copied. The tables are held in memory
    (not spilled: measured on 10M events), hence BY_TYPE_EVENTS.
    """
    for type_name, table in tables.items():
        _create_temporary_table(con, table.table, type_rows(type_name, table))


def run(con: duckdb.DuckDBPyConnection, sql: str, progress: Callable[[float], None] | None) -> None:
    """Run `sql`, reporting DuckDB's own progress estimate (0–100) from a watcher thread."""
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.2):
            value = con.query_progress()
            if progress and value >= 0:
                progress(float(value))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        con.execute(sql)
    finally:
        done.set()
        watcher.join()
    if progress:
        progress(100.0)


def summary_of(con: duckdb.DuckDBPyConnection, pack: Pack) -> Summary:
    """Totals of the written result (the `written` view), by rule, by area and by county."""
    rows, total = con.execute("SELECT count(*), COALESCE(SUM(amount), 0) FROM written").fetchone()
    by_rule = con.execute(
        "SELECT rule, article, department, count(*), COALESCE(SUM(amount), 0) FROM written "
        "GROUP BY ALL ORDER BY article, rule"
    ).fetchall()
    by_area = area_totals(pack, [(rule_id, count, amount) for rule_id, _, _, count, amount in by_rule])
    by_county, by_kind = county_and_kind_totals(con)
    return Summary(rows, Decimal(total), by_rule, by_area, by_county, by_kind)


def county_and_kind_totals(con) -> tuple[list[tuple], dict[str, tuple[int, Decimal]]]:
    """Rows and amounts of the `written` table by county (largest first) and by kind (never added up)."""
    by_county = con.execute(
        "SELECT COALESCE(county, '(未知)'), count(*), COALESCE(SUM(amount), 0) FROM written GROUP BY ALL ORDER BY 3 DESC"
    ).fetchall()
    by_kind = {
        kind: (count, Decimal(amount))
        for kind, count, amount in con.execute(
            "SELECT kind, count(*), COALESCE(SUM(amount), 0) FROM written GROUP BY kind ORDER BY kind"
        ).fetchall()
    }
    return by_county, by_kind


def area_totals(pack: Pack, by_rule: list[tuple[str, int, Decimal]]) -> list[tuple]:
    """(rule id, count, amount) rows summed per area of the pack's documents, beside each area's budget.

    Departments lead more than one area (市發展改革委 leads 三 and 六): budgets are per area.
    A county overlay's rules count against the areas of the county's document, after the city's.
    Tax foregone is not budget spending."""
    areas: dict[tuple[bool, int], list] = {}
    for rule_id, count, amount in by_rule:
        rule = pack.rule(rule_id)
        if rule.spec.kind is Kind.TAX:
            continue
        entry = areas.setdefault((pack.document_of(rule) is not pack.document, rule.area), [0, Decimal(0)])
        entry[0] += count
        entry[1] += amount
    by_area = []
    for (in_county, number), (count, amount) in sorted(areas.items()):
        document = pack.county_layer.document if in_county and pack.county_layer is not None else pack.document
        area = document.areas[number - 1]
        share = (amount / area.budget * 100).quantize(Decimal("0.01")) if area.budget else None
        by_area.append((number, to_simplified(area.department), count, amount, area.budget, share))
    return by_area


def neutralise(value: str) -> str:
    """A text cell a spreadsheet would run as a formula, made plain text with a leading apostrophe (OWASP)."""
    return "'" + value if value[:1] in FORMULA_START and value else value


def _neutralised(con: duckdb.DuckDBPyConnection, view: str) -> exp.Select:
    """Every text column of `view` with `neutralise` applied in SQL; other columns (amounts, dates) as they are."""
    pattern = exp.Literal.string("^[" + "".join(_regex_class_char(c) for c in FORMULA_START) + "]")
    columns = []
    for name, sql_type, *_ in con.execute(exp.Describe(this=_table(view)).sql(dialect="duckdb", copy=False)).fetchall():
        column = exp.column(name, quoted=True)
        if sql_type == "VARCHAR":
            formula = exp.Anonymous(this="regexp_matches", expressions=[column, pattern])
            quoted = exp.DPipe(this=exp.Literal.string("'"), expression=column)
            column = exp.Case(ifs=[exp.If(this=formula, true=quoted)], default=column)
        columns.append(exp.alias_(column, name, quoted=True))
    return exp.select(*columns).from_(_table(view))


def _regex_class_char(char: str) -> str:
    """One character inside an RE2 character class: - and control characters escaped."""
    return {"-": r"\-", "\t": r"\t", "\r": r"\r"}.get(char, char)


def _write_excel(
    con: duckdb.DuckDBPyConnection, path: Path, rows: int, out: Path, title_key: tuple[str, ...],
    titles: dict[tuple, str], written: Callable[[int, int], None] | None = None,
    column_titles: dict[str, str] = COLUMN_TITLES,
) -> None:
    """The `written` view as one sheet at `path`, with Chinese headers and each rule's title (found by
    the `title_key` columns' values); amounts numeric (the Decimal's exact digits); messages name `out`,
    the file the user asked for."""
    import openpyxl
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if rows > EXCEL_ROW_LIMIT:
        raise RegisterError(
            f"{out}: 结果有 {rows} 行,超过 Excel 单表上限 {EXCEL_ROW_LIMIT} 行;请输出 .parquet 或 .csv"
        )
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("免申即享")
    sheet.freeze_panes = "A2"
    result = con.execute("SELECT * FROM written")
    header = [column[0] for column in result.description]
    at_rule = header.index("rule") + 1
    key_at = [header.index(name) for name in title_key]
    keys = header[:at_rule] + ["title"] + header[at_rule:]
    sheet.append([column_titles.get(key, key) for key in keys])
    number = 1
    if written:
        written(0, rows)
    try:
        while batch := result.fetchmany(10_000):
            for row in batch:
                number += 1
                cells = []
                for name, value in zip(header, row, strict=True):
                    if isinstance(value, str):
                        if ILLEGAL_CHARACTERS_RE.search(value):
                            raise RegisterError(
                                f"{out}: 第 {number} 行,列 {name}: 含有 Excel 不允许的控制字符,无法写入;"
                                "请输出 .parquet 或 .csv"
                            )
                        value = neutralise(value)  # a str starting with = would be stored as a formula
                    if name in MONEY_COLUMNS and value is not None:
                        value = WriteOnlyCell(sheet, value=value)  # a Decimal: its exact digits go into the file
                        value.number_format = MONEY_FORMAT
                    cells.append(value)
                    if name == "rule":
                        cells.append(titles.get(tuple(row[i] for i in key_at), ""))
                sheet.append(cells)
                if written and number % 1000 == 1:
                    written(number - 1, rows)
    except BaseException:
        # A refused row leaves the write-only sheet half-written: close it now, or openpyxl's row writer
        # raises "I/O operation on closed file" whenever it is garbage-collected, inside someone else's code.
        sheet.close()
        raise
    if written:
        written(rows, rows)
    workbook.save(path)


# ---------------------------------------------------------------- SQL trees


def _table(name: str) -> exp.Table:
    return exp.Table(this=exp.to_identifier(name, quoted=True))


def _read_parquet(path: Path) -> exp.Expression:
    return exp.Anonymous(this="read_parquet", expressions=[exp.Literal.string(str(path))])


def copy_to(source: exp.Expression, path: Path, file_format: str) -> str:
    """COPY … TO 'path' (FORMAT …): the path a string literal, whatever quotes it holds."""
    params = [exp.CopyParameter(this=exp.var("FORMAT"), expression=exp.var(file_format))]
    if file_format == "csv":
        params.append(exp.CopyParameter(this=exp.var("HEADER")))
    this = exp.Subquery(this=source) if isinstance(source, exp.Query) else source
    copy = exp.Copy(this=this, kind=False, files=[exp.Literal.string(str(path))], params=params)
    return copy.sql(dialect="duckdb", copy=False)  # not copied first: a plan's tree is large, and is not used after


def _create_view(con: duckdb.DuckDBPyConnection, name: str, query: exp.Query) -> None:
    create = exp.Create(
        this=_table(name), kind="VIEW", replace=True,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]), expression=query,
    )
    con.execute(create.sql(dialect="duckdb", copy=False))
