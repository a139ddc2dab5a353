"""The same compiled rules on PostgreSQL and on Spark SQL give the DuckDB batch result.

Both run for real: PostgreSQL on 127.0.0.1:5432 (database `test`), Spark in local
mode (pyspark, Java 17). In CI (CI=true) a missing engine is a failure, not a skip.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from casegen import random_cases
from conftest import postgres_connection

from zhida.engine.batch import SQL_TYPES, cases_to_arrow, compile_pack
from zhida.rules.pack import load_pack

PACK = load_pack(Path(__file__).resolve().parents[1] / "policies" / "huzhou-2025")
CASES = random_cases(PACK, 600, seed=7)


@pytest.fixture(scope="module")
def tables():
    return cases_to_arrow(PACK, CASES)


@pytest.fixture(scope="module")
def duckdb_rows(tables):
    subjects, events = tables
    con = duckdb.connect()
    con.register("subjects", subjects)
    con.register("events", events)
    rows = con.sql(compile_pack(PACK).sql).fetchall()
    assert len(rows) > 1000
    return sorted(_normal(row) for row in rows)


def _normal(row) -> tuple:
    """Engines differ in how they spell the same value (numeric scale, empty strings)."""
    return tuple(
        value.quantize(Decimal("0.01")) if isinstance(value, Decimal) else value
        for value in row
    )


def test_postgres_gives_the_same_entitlements(tables, duckdb_rows):
    pytest.importorskip("psycopg")
    from psycopg import sql

    connection = postgres_connection()
    schema = sql.Identifier(f"zhida_{uuid.uuid4().hex[:8]}")
    subjects, events = tables
    plan = compile_pack(PACK)
    event_types = {"event_id": "VARCHAR", "subject_id": "VARCHAR", "type": "VARCHAR", "date": "DATE"}
    event_types.update({name: SQL_TYPES[kind] for name, kind in plan.event_columns.items()})
    with connection:
        cursor = connection.cursor()
        cursor.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
        try:
            cursor.execute(sql.SQL("SET search_path TO {}").format(schema))
            subject_types = {"subject_id": "VARCHAR", "kind": "VARCHAR", "county": "VARCHAR"}
            for table, data, types in (("subjects", subjects, subject_types), ("events", events, event_types)):
                names = [sql.Identifier(name) for name in data.column_names]
                definitions = [
                    sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(types[name])) for name in data.column_names
                ]
                table_name = sql.Identifier(table)
                cursor.execute(sql.SQL("CREATE TABLE {} ({})").format(table_name, sql.SQL(", ").join(definitions)))
                copy_statement = sql.SQL("COPY {} ({}) FROM STDIN").format(table_name, sql.SQL(", ").join(names))
                with cursor.copy(copy_statement) as copy:
                    for row in data.to_pylist():
                        copy.write_row([row[name] for name in data.column_names])
            cursor.execute(plan.sql_for("postgres"))
            rows = sorted(_normal(row) for row in cursor.fetchall())
        finally:
            cursor.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(schema))
    assert rows == duckdb_rows


def test_spark_sql_gives_the_same_entitlements(tables, duckdb_rows, tmp_path, spark):
    subjects, events = tables
    pq.write_table(subjects, tmp_path / "subjects.parquet")
    pq.write_table(events, tmp_path / "events.parquet")
    spark.read.parquet(str(tmp_path / "subjects.parquet")).createOrReplaceTempView("subjects")
    spark.read.parquet(str(tmp_path / "events.parquet")).createOrReplaceTempView("events")
    rows = sorted(_normal(tuple(row)) for row in spark.sql(compile_pack(PACK).sql_for("spark")).collect())
    assert rows == duckdb_rows
