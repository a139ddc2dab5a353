"""免申即享 over a register: every rule over every subject and event, written to a file.

The register is opened and checked (`zhida.engine.register`), the compiled
rule set (`zhida.engine.batch`) runs in DuckDB with a memory limit so that 10M
events stream through and spill to disk rather than fill memory, and the result
is written to a temporary file beside OUT and renamed: a failure leaves no
partial output.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb

from zhida.engine.batch import compile_pack
from zhida.engine.register import RegisterError, open_register
from zhida.rules.model import Kind
from zhida.rules.pack import Pack
from zhida.source.script import to_simplified

EXCEL_ROW_LIMIT = 1_048_575  # one row of an Excel sheet is the header


@dataclass(frozen=True)
class Summary:
    rows: int
    total: Decimal
    by_rule: list[tuple]  # rule, article, department, count, amount
    by_area: list[tuple]  # area, lead department, count, amount, 2025 budget, share of the budget (%)
    by_county: list[tuple]  # county, count, amount


def connect(memory_limit: str = "1GB") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET temp_directory = '{tempfile.gettempdir()}/zhida-duckdb'")
    return con


def match(
    pack: Pack,
    subjects: Path,
    events: Path,
    out: Path,
    progress: Callable[[float], None] | None = None,
    memory_limit: str = "1GB",
) -> Summary:
    suffix = out.suffix.lower()
    if suffix not in (".parquet", ".csv", ".xlsx"):
        raise RegisterError(f"{out}: 输出文件须为 .parquet、.csv 或 .xlsx")
    con = connect(memory_limit)
    open_register(con, pack, subjects, events)
    # Row numbers were needed for the checks' messages; the query orders what it writes itself.
    con.execute("SET preserve_insertion_order = false")
    _materialise(con)
    plan = compile_pack(pack)
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".parquet", dir=out.parent)
    os.close(handle)
    try:
        # Always through Parquet first: the summary reads it back, and CSV/Excel are written from it.
        _run(con, f"COPY ({plan.sql}) TO '{temporary}' (FORMAT parquet)", progress)
        summary = _summary(con, pack, temporary)
        if suffix == ".parquet":
            os.replace(temporary, out)
        else:
            final = tempfile.mkstemp(prefix=f".{out.name}.", suffix=suffix, dir=out.parent)
            os.close(final[0])
            try:
                if suffix == ".csv":
                    con.execute(f"COPY (SELECT * FROM read_parquet('{temporary}')) TO '{final[1]}' (FORMAT csv, HEADER)")
                else:
                    _write_excel(con, temporary, Path(final[1]), summary.rows)
                os.replace(final[1], out)
            finally:
                Path(final[1]).unlink(missing_ok=True)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return summary


def _materialise(con: duckdb.DuckDBPyConnection) -> None:
    """Read the checked files once into DuckDB's own storage, events sorted by type.

    The query has one branch per rule, each filtering `events` by type: on a table sorted by
    type, DuckDB's zone maps let each branch skip the other types' row groups instead of
    re-reading and re-casting the whole file (halves the query on 100k enterprises). Beyond the
    memory limit the tables spill to the temporary directory.
    """
    for name, columns, order in (("events", "* EXCLUDE (_row)", " ORDER BY type"), ("subjects", "*", "")):
        con.execute(f"CREATE TEMP TABLE checked_{name} AS SELECT {columns} FROM {name}{order}")
        con.execute(f"DROP VIEW {name}")
        con.execute(f"ALTER TABLE checked_{name} RENAME TO {name}")


def _run(con: duckdb.DuckDBPyConnection, sql: str, progress: Callable[[float], None] | None) -> None:
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


def _summary(con: duckdb.DuckDBPyConnection, pack: Pack, path: str) -> Summary:
    source = f"read_parquet('{path}')"
    rows, total = con.execute(f"SELECT count(*), COALESCE(SUM(amount), 0) FROM {source}").fetchone()
    by_rule = con.execute(
        f"SELECT rule, article, department, count(*), COALESCE(SUM(amount), 0) FROM {source} "
        "GROUP BY ALL ORDER BY article, rule"
    ).fetchall()
    # Departments lead more than one area (市發展改革委 leads 三 and 六): budgets are per area.
    areas: dict[int, list] = {}
    for rule_id, _article, _department, count, amount in by_rule:
        if pack.rule(rule_id).spec.kind is Kind.TAX:
            continue  # tax foregone is not budget spending
        area = pack.rule(rule_id).area
        entry = areas.setdefault(area, [0, Decimal(0)])
        entry[0] += count
        entry[1] += amount
    by_area = []
    for number, (count, amount) in sorted(areas.items()):
        area = pack.document.areas[number - 1]
        share = (amount / area.budget * 100).quantize(Decimal("0.01")) if area.budget else None
        by_area.append((number, to_simplified(area.department), count, amount, area.budget, share))
    by_county = con.execute(
        f"SELECT COALESCE(county, '(未知)'), count(*), COALESCE(SUM(amount), 0) FROM {source} GROUP BY ALL ORDER BY 3 DESC"
    ).fetchall()
    return Summary(rows, Decimal(total), by_rule, by_area, by_county)


def _write_excel(con: duckdb.DuckDBPyConnection, parquet: str, out: Path, rows: int) -> None:
    import openpyxl

    if rows > EXCEL_ROW_LIMIT:
        raise RegisterError(f"{out.name}: 结果有 {rows} 行,超过 Excel 单表上限 {EXCEL_ROW_LIMIT} 行;请输出 .parquet 或 .csv")
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("免申即享")
    result = con.execute(f"SELECT * FROM read_parquet('{parquet}')")
    sheet.append([column[0] for column in result.description])
    while batch := result.fetchmany(10_000):
        for row in batch:
            # Amounts as text: a spreadsheet cell would turn them into binary floats.
            sheet.append([str(value) if isinstance(value, Decimal) else value for value in row])
    workbook.save(out)
