"""`zhida reform --engine postgres|spark`: through the CLI, the reforms priced by hand in test_reform.py
give the same summary (JSON) and the same per-subject differences file as `--engine duckdb`.
PostgreSQL at 127.0.0.1:5432 (database `test`) and Spark local run for real; in CI (CI=true) a
missing engine fails (conftest.unavailable). Spark runs in the one session of conftest.

The clauses and the arithmetic are test_reform.py's; each case here asserts one hand-computed figure
beside the comparison, so that three engines agreeing on a wrong number would still fail.
"""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import POSTGRES, postgres_connection
from test_reform import FIT_VOUCHERS, PHONES, RAISE_RATE, VOUCHERS, chains_and_bands_register, write_register
from typer.testing import CliRunner

from zhida.cli import app
from zhida.engine.engines import Where
from zhida.engine.register import RegisterError

runner = CliRunner()

LOWER_CAP = "reform: 创新券全年上限降至5万元\nchanges:\n  - set: {cap: innovation-voucher-annual, yuan: 50000}\n"
REMOVE = "reform: 取消创新券\nchanges:\n  - remove: {rule: innovation-voucher}\n"
BOUND = "reform: 数码产品售价上限提高至8000元\nchanges:\n  - set: {rule: digital-products, bound: 8000}\n"


# name: (reform, register maker, the spend after the reform and its change, computed by hand in test_reform.py)
CASES = {
    # (三) 最高50%比例 -> 60%, E1 weighted 2: 2 × 60000 + 24000.03 + 200000, a change of 2 × 10000 + 4000
    "rate-weighted": (RAISE_RATE, lambda folder: write_register(folder, VOUCHERS, {"E1": "2"}), "344000.03", "24000.00"),
    # 單個企業全年最高補助20萬元 -> 5萬元: 50000 + 20000.03 + 50000
    "lower-cap": (LOWER_CAP, lambda folder: write_register(folder, VOUCHERS), "120000.03", "-150000.00"),
    "remove": (REMOVE, lambda folder: write_register(folder, VOUCHERS), "0.00", "-270000.03"),
    # (十七) 6000元以下 -> 8000元以下: 450.00 + 450.00 + 500 as before, and 8000.00 now gets min(15% × 8000, 500)
    "bound": (BOUND, lambda folder: write_register(folder, PHONES, event_type="trade_in_digital", kind="consumer"),
              "1900.00", "500.00"),
    # ten vouchers of 10000: 60% instead of 50%, 1000 more each
    "chains-and-bands": (RAISE_RATE, chains_and_bands_register, "60000.00", "10000.00"),
}


def _reform(tmp_path: Path, text: str, *options: str, register: tuple[Path, Path] | None = None,
            out: Path | None = None):
    """`zhida reform … --json` with the reform text written to a file; (result, summary or None, OUT)."""
    reform_file = tmp_path / f"reform-{uuid.uuid4().hex[:6]}.yaml"
    reform_file.write_text(text, encoding="utf-8")
    out = out or tmp_path / f"differences-{uuid.uuid4().hex[:6]}.csv"
    paths = [str(path) for path in register] if register else []
    result = runner.invoke(app, ["reform", str(reform_file), *paths, "-o", str(out), "--json", *options],
                           terminal_width=200)
    data = json.loads(result.stdout) if result.exit_code == 0 else None
    return result, data, out


def _on_duckdb(tmp_path: Path, name: str):
    text, make, spend, change = CASES[name]
    register = make(tmp_path / "register")
    result, data, out = _reform(tmp_path, text, register=register)
    assert result.exit_code == 0, result.output
    assert (data["spend"]["reform"]["amount"], data["spend"]["change"]) == (spend, change)  # by hand
    return text, register, data, out.read_bytes()


@pytest.mark.parametrize("name", list(CASES))
def test_postgres_prices_as_duckdb(tmp_path, name):
    postgres_connection().close()  # reachable, or skipped (failed in CI)
    text, register, data, differences = _on_duckdb(tmp_path, name)
    result, found, out = _reform(tmp_path, text, "--engine", "postgres", "--database", POSTGRES, register=register)
    assert result.exit_code == 0, result.output
    assert found == data
    assert out.read_bytes() == differences


@pytest.mark.parametrize("name", ["rate-weighted", "bound", "chains-and-bands"])  # Spark local is slow: three
def test_spark_prices_as_duckdb(quick_spark, tmp_path, name):
    text, register, data, differences = _on_duckdb(tmp_path, name)
    result, found, out = _reform(tmp_path, text, "--engine", "spark", "--master", "local[2]", register=register)
    assert result.exit_code == 0, result.output
    assert found == data
    assert out.read_bytes() == differences
    leftovers = [path.name for path in tmp_path.iterdir() if path.name.startswith(".zhida-tmp-")]
    assert not leftovers  # Spark's part files were written in the private directory, removed after


def test_the_fit_on_postgres_is_duckdbs(tmp_path):
    postgres_connection().close()
    register = write_register(tmp_path / "register", FIT_VOUCHERS)
    options = ("--fit", "innovation-voucher.rate", "--budget", "24万")
    result, data, out = _reform(tmp_path, RAISE_RATE, *options, register=register)
    assert result.exit_code == 0, result.output
    # S(r) = 100000r + 60000r + min(500000r, 200000) = 240000: r = 0.3636 -> 239976.00 (test_reform.py)
    assert (data["fit"]["value"], data["fit"]["spend"]) == ("0.3636", "239976.00")
    found_result, found, found_out = _reform(tmp_path, RAISE_RATE, *options, "--engine", "postgres",
                                             "--database", POSTGRES, register=register)
    assert found_result.exit_code == 0, found_result.output
    assert found == data  # the same steps, value, spend and summary
    assert found_out.read_bytes() == out.read_bytes()


@pytest.fixture
def voucher_tables(tmp_path):
    """VOUCHERS (E1 weighted 2) as two tables of a schema of their own in PostgreSQL, exact NUMERIC."""
    schema = f"reform_{uuid.uuid4().hex[:8]}"
    with postgres_connection() as connection:  # psycopg: commits and closes at the end of the block
        _create_tables(connection, schema)
    yield schema
    with postgres_connection() as connection:
        connection.execute(_sql("DROP SCHEMA {} CASCADE", schema))


def _sql(statement: str, schema: str):
    from psycopg import sql

    return sql.SQL(statement).format(sql.Identifier(schema))


def _create_tables(connection, schema: str) -> None:
    connection.execute(_sql("CREATE SCHEMA {}", schema))
    connection.execute(_sql("CREATE TABLE {}.subjects (subject_id TEXT, kind TEXT, county TEXT, weight NUMERIC(18, 6))",
                            schema))
    connection.execute(_sql("CREATE TABLE {}.events (event_id TEXT, subject_id TEXT, type TEXT, date DATE, "
                            "service_fee NUMERIC(18, 2))", schema))
    for subject in ("E1", "E2", "E3"):
        connection.execute(_sql("INSERT INTO {}.subjects VALUES (%s, 'enterprise', '吴兴区', %s)", schema),
                           (subject, Decimal(2) if subject == "E1" else Decimal(1)))
    for subject, event, date, fee in VOUCHERS:
        connection.execute(_sql("INSERT INTO {}.events VALUES (%s, %s, 'innovation_voucher', %s, %s)", schema),
                           (event, subject, date, Decimal(fee)))


def _tables(schema: str) -> tuple[str, ...]:
    return ("--engine", "postgres", "--database", POSTGRES,
            "--subjects-table", f"{schema}.subjects", "--events-table", f"{schema}.events")


def test_postgres_reads_named_tables_where_they_are(voucher_tables, tmp_path):
    _, _, data, differences = _on_duckdb(tmp_path, "rate-weighted")
    result, found, out = _reform(tmp_path, RAISE_RATE, *_tables(voucher_tables))
    assert result.exit_code == 0, result.output
    assert found == data and found["spend"]["change"] == "24000.00"
    assert out.read_bytes() == differences


def test_a_named_table_with_a_bad_weight_is_refused_by_its_subject(voucher_tables, tmp_path):
    def refused(*statements: str) -> str:
        with postgres_connection() as connection:
            for statement in statements:
                connection.execute(_sql(statement, voucher_tables))
        out = tmp_path / "d.csv"
        result, _, _ = _reform(tmp_path, RAISE_RATE, *_tables(voucher_tables), out=out)
        assert result.exit_code == 2, result.output
        assert not out.exists() and not [path for path in tmp_path.iterdir() if path.name.startswith(".zhida-tmp-")]
        return result.output

    assert f"{voucher_tables}.subjects: 主体 E2,列 weight: '0.000000' 不是正数" in refused(
        "UPDATE {}.subjects SET weight = 0 WHERE subject_id = 'E2'")
    assert "列 weight 是浮点数" in refused("ALTER TABLE {}.subjects ALTER COLUMN weight TYPE DOUBLE PRECISION")
    # the checks of `zhida match` on named tables, with the first bad row's key
    assert "列 kind: 未知的主体类型 'alien'(主体 E3)" in refused(
        "ALTER TABLE {}.subjects ALTER COLUMN weight TYPE NUMERIC(18, 6)",
        "UPDATE {}.subjects SET kind = 'alien' WHERE subject_id = 'E3'")


@pytest.mark.parametrize("options, message", [
    (["--engine", "oracle"], "--engine oracle: 可选 duckdb、postgres、spark"),
    (["--master", "local[2]"], "--master 只用于 --engine spark"),
    (["--engine", "spark", "--database", POSTGRES], "只用于 --engine postgres"),
    (["--engine", "postgres", "--subjects-table", "subjects"], "--subjects-table 与 --events-table 须同时给出"),
    (["--engine", "postgres", "--database", "sqlite:///x.db"], "须为 postgresql://"),
    (["--engine", "postgres", "--database", "postgresql://postgres@127.0.0.1:1/none"], "无法连接 PostgreSQL(127.0.0.1:1/none)"),
])
def test_engine_options_refused(tmp_path, options, message):
    register = write_register(tmp_path / "register", VOUCHERS)
    out = tmp_path / "d.csv"
    result, _, _ = _reform(tmp_path, RAISE_RATE, *options, register=register, out=out)
    assert result.exit_code == 2 and message in result.output, result.output
    assert not out.exists()


@pytest.mark.parametrize("where, message", [
    (Where(engine="oracle"), "--engine oracle: 可选 duckdb、postgres、spark"),
    (Where(engine="spark", database=POSTGRES), "只用于 --engine postgres"),
    (Where(engine="duckdb", tables=("s", "e")), "只用于 --engine postgres"),
    (Where(engine="postgres", database="sqlite:///x.db"), "须为 postgresql://"),
])
def test_a_callers_engine_is_refused_in_the_commands_words(where, message):
    # A caller of run_reform (the API, the sandbox page) gets the same refusal as `zhida reform`, before any work.
    with pytest.raises(RegisterError, match=re.escape(message)):
        where.check()


def test_an_unknown_table_is_refused(tmp_path):
    postgres_connection().close()
    out = tmp_path / "d.csv"
    result, _, _ = _reform(tmp_path, RAISE_RATE, "--engine", "postgres", "--database", POSTGRES,
                           "--subjects-table", "no_such_schema.subjects", "--events-table", "no_such_schema.events",
                           out=out)
    assert result.exit_code == 2
    assert "PostgreSQL 表 no_such_schema.subjects 不存在" in result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == [path.name for path in tmp_path.glob("reform-*.yaml")]


def test_a_killed_spark_runs_staging_is_removed_by_the_next_run(tmp_path):
    """Spark writes OUT's dataset beside it first (engines._write_spark); a run killed meanwhile leaves it.
    Its name is a private directory's, so the next run's clean-up (match.remove_stale_temporaries) finds it."""
    from zhida.engine.engines import staging_name
    from zhida.engine.match import remove_stale_temporaries

    dead = 4_194_304 + 7  # above Linux's largest pid: no process has it
    left = tmp_path / staging_name(dead)
    (left / "part-00000.parquet").parent.mkdir()
    (left / "part-00000.parquet").write_bytes(b"")
    kept = tmp_path / staging_name()  # this process's, running
    kept.mkdir()
    remove_stale_temporaries(tmp_path)
    assert not left.exists() and kept.exists()


def test_spark_reads_remote_paths_itself_and_prices_as_duckdb(quick_spark, tmp_path):
    """file:// paths (as hdfs:// or s3a:// would be) are opened and checked by Spark; the subjects'
    chains, revenues and weights come back as exact text, the rows as Arrow (no folder on the driver)."""
    text, register, data, differences = _on_duckdb(tmp_path, "chains-and-bands")
    remote = [Path(path).resolve().as_uri() for path in register]
    result, found, out = _reform(tmp_path, text, "--engine", "spark", "--master", "local[2]", register=remote)
    assert result.exit_code == 0, result.output
    assert found == data
    assert out.read_bytes() == differences
