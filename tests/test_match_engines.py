"""`zhida match --engine postgres|spark`: through the CLI, the same rows, in the same order, and the
same summary as `--engine duckdb`, on a register where every rule and every cap of the Huzhou pack
is exercised. PostgreSQL at 127.0.0.1:5432 (database `test`) and Spark local run for real; in CI
(CI=true) a missing engine fails (conftest.unavailable). Spark runs in the one session of conftest.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from casegen import random_cases
from conftest import POSTGRES, postgres_connection
from typer.testing import CliRunner

from zhida.cli import app
from zhida.engine.batch import SQL_TYPES, cases_to_arrow, compile_pack
from zhida.engine.case import case_from_data
from zhida.rules.pack import load_pack

PACK = load_pack(Path(__file__).resolve().parents[1] / "policies" / "huzhou-2025")
runner = CliRunner()
# 一、(二) "對研發費用占營收比重高于5%的企業,支持納入科技計劃支持清單": 12 329 777.29 / 246 595 545.73
# is 5.0000001%, above 5% (5% of the revenue is 12 329 777.2865): the enterprise is on the list.
# Spark compared the two at DECIMAL(38, 2), 12 329 777.29 > 12 329 777.29, and left it off.
AT_THE_BOUND = {
    "subject": {"id": "RD-BOUND", "kind": "enterprise", "county": "南浔区"},
    "events": [{"id": "RD-BOUND-1", "type": "rd_report", "date": "2025-09-17",
                "rd_expense": "12329777.29", "revenue": "246595545.73"}],
}


def _covering_cases() -> list:
    """Random cases (seed of test_batch) cut down to subjects that together reach every rule and cap,
    plus 150 others, plus the case at the 5% bound: a register small enough for Spark local."""
    cases = random_cases(PACK, 10_000, seed=20250314)
    subjects, events = cases_to_arrow(PACK, cases)
    con = duckdb.connect()
    con.register("subjects", subjects)
    con.register("events", events)
    rows = con.sql(compile_pack(PACK).sql).fetchall()
    wanted = {rule.id for rule in PACK.rules} | {cap.id for rule in PACK.rules for cap in rule.caps}
    chosen: set[str] = set()
    for subject_id, _, _, rule, *_, caps_hit, _, _, _, _ in rows:
        reached = {rule, *(caps_hit or "").split(",")} & wanted
        if reached:
            chosen.add(subject_id)
            wanted -= reached
    assert not wanted
    chosen |= {case.subject.id for case in cases[:150]}
    return [case for case in cases if case.subject.id in chosen] + [case_from_data(AT_THE_BOUND, PACK)]


@pytest.fixture(scope="module")
def register(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("engines")
    subjects, events = cases_to_arrow(PACK, _covering_cases())
    # a register's event ids are unique over it (a case's only within the case): the subject's id before it
    unique = pc.binary_join_element_wise(events.column("subject_id"), events.column("event_id"), "/")
    events = events.set_column(events.schema.get_field_index("event_id"), "event_id", unique)
    pq.write_table(subjects, folder / "subjects.parquet")
    pq.write_table(events, folder / "events.parquet")
    return folder


def _match(register: Path, out: Path, *options: str, subjects: str | None = None, events: str | None = None):
    arguments = ["match", subjects or str(register / "subjects.parquet"), events or str(register / "events.parquet"),
                 "-o", str(out), *options]
    return runner.invoke(app, arguments, terminal_width=200)


def _rows(out: Path) -> pa.Table:
    """An output read back, its columns' types compared, not their nullability or writer's metadata."""
    table = pq.read_table(out)
    return table.cast(pa.schema([field.with_nullable(True) for field in table.schema])).replace_schema_metadata()


def _summary_lines(output: str) -> list[str]:
    """The summary tables and the totals by kind, not the output file's name; table rows sorted, since
    counties with equal amounts may come in either order."""
    tables, _, totals = output.partition("共 ")
    return sorted(line.rstrip() for line in tables.splitlines()) + [" ".join(totals.split("已写入")[0].split())]


@pytest.fixture(scope="module")
def duckdb_run(register, tmp_path_factory):
    out = tmp_path_factory.mktemp("duckdb") / "out.parquet"
    result = _match(register, out)
    assert result.exit_code == 0, result.output
    table = _rows(out)
    rules = set(table.column("rule").to_pylist())
    assert rules == {rule.id for rule in PACK.rules}  # every rule is reached …
    hit = {cap for caps in table.column("caps_hit").to_pylist() for cap in caps.split(",") if cap}
    assert hit == {cap.id for rule in PACK.rules for cap in rule.caps}  # … and every cap binds
    bound = [row for row in table.to_pylist() if row["subject_id"] == "RD-BOUND"]
    assert [(row["rule"], row["kind"]) for row in bound] == [("rd-intensity-list", "qualification")]
    return _rows(out), result.output


# ---------------------------------------------------------------- PostgreSQL


def test_postgres_gives_duckdbs_rows_and_summary(register, duckdb_run, tmp_path):
    postgres_connection().close()  # reachable, or skipped (failed in CI)
    out = tmp_path / "out.parquet"
    result = _match(register, out, "--engine", "postgres", "--database", POSTGRES)
    assert result.exit_code == 0, result.output
    table, output = duckdb_run
    assert _rows(out).equals(table)  # same schema, rows and order, amounts to the 分
    assert _summary_lines(result.output) == _summary_lines(output)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.parquet"]  # nothing left behind


def test_postgres_writes_the_same_csv_and_excel(register, tmp_path, monkeypatch):
    postgres_connection().close()
    monkeypatch.setenv("DATABASE_URL", POSTGRES.replace("postgresql://", "postgresql+psycopg://"))
    for name in ("duckdb.csv", "postgres.csv", "postgres.xlsx"):
        engine = name.split(".")[0]
        result = _match(register, tmp_path / name, "--engine", engine)
        assert result.exit_code == 0, result.output
    assert (tmp_path / "postgres.csv").read_bytes() == (tmp_path / "duckdb.csv").read_bytes()
    assert (tmp_path / "postgres.xlsx").stat().st_size > 0


@pytest.fixture
def postgres_tables(register):
    """The register as two tables of a schema of its own in PostgreSQL, typed as the pack's fields."""
    from psycopg import sql

    schema = f"register_{uuid.uuid4().hex[:8]}"
    plan = compile_pack(PACK)
    types = {"event_id": "VARCHAR", "subject_id": "VARCHAR", "type": "VARCHAR", "date": "DATE", "kind": "VARCHAR",
             "county": "VARCHAR"} | {name: SQL_TYPES[kind] for name, kind in plan.event_columns.items()}
    with postgres_connection() as connection:  # psycopg: commits and closes at the end of the block
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        for table in ("subjects", "events"):
            data = pq.read_table(register / f"{table}.parquet")
            name = sql.Identifier(schema, table)
            columns = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(column), sql.SQL(types[column])) for column in data.column_names)
            connection.execute(sql.SQL("CREATE TABLE {} ({})").format(name, columns))
            statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                name, sql.SQL(", ").join(map(sql.Identifier, data.column_names)))
            with connection.cursor().copy(statement) as copy:
                for row in data.to_pylist():
                    copy.write_row(list(row.values()))
    yield schema
    with postgres_connection() as connection:
        connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def test_postgres_reads_named_tables_where_they_are(postgres_tables, duckdb_run, tmp_path):
    schema = postgres_tables
    out = tmp_path / "out.parquet"
    result = runner.invoke(app, ["match", "-o", str(out), "--engine", "postgres", "--database", POSTGRES,
                                 "--subjects-table", f"{schema}.subjects", "--events-table", f"{schema}.events"],
                           terminal_width=200)
    assert result.exit_code == 0, result.output
    table, output = duckdb_run
    assert _rows(out).equals(table)
    assert _summary_lines(result.output) == _summary_lines(output)


def test_postgres_named_tables_are_checked(postgres_tables, tmp_path):
    from psycopg import sql

    schema = postgres_tables

    def refused(*statements: str) -> str:
        with postgres_connection() as connection:
            for statement in statements:
                connection.execute(sql.SQL(statement).format(sql.Identifier(schema)))
        result = runner.invoke(app, ["match", "-o", str(tmp_path / "out.parquet"), "--engine", "postgres",
                                     "--database", POSTGRES, "--subjects-table", f"{schema}.subjects",
                                     "--events-table", f"{schema}.events"], terminal_width=200)
        assert result.exit_code == 2, result.output
        assert not (tmp_path / "out.parquet").exists()
        return result.output

    assert f"{schema}.events: 事件 RD-BOUND/RD-BOUND-1,列 revenue: '246595545.731' 不是 金额(最多两位小数)" in refused(
        "ALTER TABLE {}.events ALTER COLUMN revenue TYPE NUMERIC(20, 3)",
        "UPDATE {}.events SET revenue = 246595545.731 WHERE event_id = 'RD-BOUND/RD-BOUND-1'")
    assert "列 revenue 是浮点数(DOUBLE PRECISION)" in refused(
        "ALTER TABLE {}.events ALTER COLUMN revenue TYPE DOUBLE PRECISION")
    with postgres_connection() as connection:
        connection.execute(sql.SQL("ALTER TABLE {}.events ALTER COLUMN revenue TYPE NUMERIC(18, 2)").format(
            sql.Identifier(schema)))
    assert f"{schema}.subjects: 列 kind: 未知的主体类型 'alien'" in refused(
        "UPDATE {}.subjects SET kind = 'alien' WHERE subject_id = 'RD-BOUND'")
    # an R&D report (rd_report, for enterprises) filed by a subject whose kind is changed to consumer
    assert "事件 RD-BOUND/RD-BOUND-1,列 type: 事件类型 rd_report 不适用于主体类型 consumer" in refused(
        "UPDATE {}.subjects SET kind = 'consumer' WHERE subject_id = 'RD-BOUND'")
    assert "事件 RD-BOUND/RD-BOUND-1,列 subject_id: 主体 RD-BOUND 不在主体表中" in refused(
        "DELETE FROM {}.subjects WHERE subject_id = 'RD-BOUND'")


def test_postgres_refusals(register, tmp_path, monkeypatch):
    out = str(tmp_path / "out.parquet")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    cases = [
        (["--engine", "postgres"], "需要 PostgreSQL 数据库地址"),
        (["--engine", "postgres", "--database", "sqlite:///x.db"], "须为 postgresql://"),
        (["--engine", "postgres", "--database", POSTGRES, "--subjects-table", "s; DROP TABLE x",
          "--events-table", "events"], "--subjects-table s; DROP TABLE x: 表名须为"),
        (["--engine", "postgres", "--database", "postgresql://postgres@127.0.0.1:1/none"], "无法连接 PostgreSQL(127.0.0.1:1/none)"),
    ]
    for options, message in cases:
        arguments = ["match", "-o", out, *options]
        if "--subjects-table" not in options:
            arguments[1:1] = [str(register / "subjects.parquet"), str(register / "events.parquet")]
        result = runner.invoke(app, arguments, terminal_width=200)
        assert result.exit_code == 2 and message in result.output, (options, result.output)


def test_postgres_register_files_get_duckdbs_checks(tmp_path):
    # The files are checked in DuckDB before anything reaches PostgreSQL: the same message, naming the line.
    (tmp_path / "subjects.csv").write_text("subject_id,kind,county\nC1,consumer,吴兴区\n", encoding="utf-8")
    (tmp_path / "events.csv").write_text(
        "event_id,subject_id,type,date,grade,price\nT1,C1,trade_in_appliance,2025-05-01,一级,100.001\n", encoding="utf-8")
    result = runner.invoke(app, ["match", str(tmp_path / "subjects.csv"), str(tmp_path / "events.csv"), "-o",
                                 str(tmp_path / "out.parquet"), "--engine", "postgres", "--database", POSTGRES],
                           terminal_width=200)
    assert result.exit_code == 2
    assert "events.csv: 第 2 行,列 price: '100.001' 不是 金额(最多两位小数)" in result.output


# ---------------------------------------------------------------- combinations refused


@pytest.mark.parametrize("options, message", [
    (["--engine", "oracle"], "--engine oracle: 可选 duckdb、postgres、spark"),
    (["--engine", "spark", "--pack", "huzhou-2025", "--pack", "huzhou-2025"], "多个 --pack 同时匹配只在 duckdb 上运行"),
    (["--engine", "postgres", "--pack", "huzhou-2025", "--pack", "huzhou-2025"], "多个 --pack 同时匹配只在 duckdb 上运行"),
    (["--master", "local[2]"], "--master 只用于 --engine spark"),
    (["--engine", "spark", "--database", POSTGRES], "只用于 --engine postgres"),
    (["--engine", "postgres", "--subjects-table", "subjects"], "--subjects-table 与 --events-table 须同时给出"),
])
def test_combinations_refused(register, tmp_path, options, message):
    result = _match(register, tmp_path / "out.parquet", *options)
    assert result.exit_code == 2 and message in result.output, result.output


def test_spark_writes_parquet_only(register, tmp_path):
    result = _match(register, tmp_path / "out.xlsx", "--engine", "spark")
    assert result.exit_code == 2
    assert "--engine spark 只输出 Parquet" in result.output and not (tmp_path / "out.xlsx").exists()


# ---------------------------------------------------------------- Spark


def _spark_rows(out: Path) -> pa.Table:
    """Spark's Parquet dataset (a directory of part files) read as one table."""
    assert out.is_dir() and (out / "_SUCCESS").exists()
    return _rows(out)


def test_spark_gives_duckdbs_rows_and_summary(quick_spark, register, duckdb_run, tmp_path):
    out = tmp_path / "out.parquet"
    result = _match(register, out, "--engine", "spark", "--master", "local[2]")
    assert result.exit_code == 0, result.output
    table, output = duckdb_run
    assert _spark_rows(out).equals(table)  # the same rows in the same order, DECIMAL(18, 2) amounts
    assert _summary_lines(result.output) == _summary_lines(output)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.parquet"]


def test_spark_reads_uris_itself_and_checks_them(quick_spark, register, duckdb_run, tmp_path):
    """file:// paths are read by Spark (as hdfs:// or s3a:// would be): CSV text cast and checked there."""
    con = duckdb.connect()
    for name in ("subjects", "events"):
        con.read_parquet(str(register / f"{name}.parquet")).write_csv(str(tmp_path / f"{name}.csv"), header=True)
    out = tmp_path / "out.parquet"
    result = _match(register, out, "--engine", "spark", subjects=(tmp_path / "subjects.csv").as_uri(),
                    events=(tmp_path / "events.csv").as_uri())
    assert result.exit_code == 0, result.output
    table, output = duckdb_run
    assert _spark_rows(out).equals(table)
    assert _summary_lines(result.output) == _summary_lines(output)
    # the register checks, made in Spark on text: a third decimal in money, an unknown subject kind
    events = (tmp_path / "events.csv").read_text(encoding="utf-8")
    (tmp_path / "bad.csv").write_text(events.replace("246595545.73", "246595545.731"), encoding="utf-8")
    result = _match(register, tmp_path / "bad.parquet", "--engine", "spark", subjects=(tmp_path / "subjects.csv").as_uri(),
                    events=(tmp_path / "bad.csv").as_uri())
    assert result.exit_code == 2
    assert "bad.csv: 事件 RD-BOUND/RD-BOUND-1,列 revenue: '246595545.731' 不是 金额(最多两位小数)" in result.output
    assert not (tmp_path / "bad.parquet").exists()
