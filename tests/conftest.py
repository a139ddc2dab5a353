from __future__ import annotations

import os
from pathlib import Path

import pytest

from zhida.source import Document, parse_file

ROOT = Path(__file__).resolve().parents[1]
HUZHOU = ROOT / "policies" / "huzhou-2025" / "document.txt"
# 一、…(由市科技局牽頭實施) … 八、…(由市人力社保局牽頭實施): the lead department of each area, by hand
DEPARTMENTS = {
    1: "市科技局",
    2: "市經信局",
    3: "市發展改革委",
    4: "市交通運輸局",
    5: "市商務局",
    6: "市發展改革委",
    7: "市農業農村局",
    8: "市人力社保局",
}


@pytest.fixture(scope="session")
def huzhou() -> Document:
    return parse_file(HUZHOU)


POSTGRES = os.environ.get("ZHIDA_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def unavailable(reason: str):
    """Skip a test whose engine is missing here; in CI (CI=true) it must run, so fail instead."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run this test: {reason}")
    pytest.skip(reason)


def postgres_connection():
    psycopg = pytest.importorskip("psycopg")
    try:
        return psycopg.connect(POSTGRES, connect_timeout=3)
    except psycopg.OperationalError as error:
        unavailable(f"PostgreSQL not reachable at {POSTGRES}: {error}")


@pytest.fixture(scope="session")
def spark():
    """One Spark session in local mode for every Spark test (starting one takes seconds)."""
    pyspark_sql = pytest.importorskip("pyspark.sql")
    try:
        session = (
            pyspark_sql.SparkSession.builder.master("local[2]")
            .appName("zhida-test")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.decimalOperations.allowPrecisionLoss", "false")  # exact, as batch.py says
            .getOrCreate()
        )
    except Exception as error:  # noqa: BLE001 — no Java, no Spark: any error means "unavailable"
        unavailable(f"Spark local mode does not start: {error}")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def quick_spark(spark):
    """The Spark session, with few shuffle partitions: small registers on two local cores."""
    before = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "4")
    yield spark
    spark.conf.set("spark.sql.shuffle.partitions", before)


PACK_DIR = ROOT / "policies" / "huzhou-2025"


@pytest.fixture(scope="session")
def pack():
    from zhida.rules.pack import load_pack

    return load_pack(PACK_DIR)


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request, tmp_path):
    """An empty ledger database on each engine: a SQLite file, or a PostgreSQL schema of its own
    (so that tests, and helpers running them side by side, never see each other's rows)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    from uuid import uuid4

    from psycopg import sql
    from sqlalchemy.engine import make_url

    schema = f"ledger_{uuid4().hex[:12]}"
    with postgres_connection() as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = make_url(POSTGRES).set(drivername="postgresql+psycopg").update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with postgres_connection() as connection:
        connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def ledger_engine(ledger_url):
    """A migrated ledger database (see `ledger_url`), disposed of after the test."""
    from zhida.ledger.database import connect, upgrade

    engine = connect(ledger_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Playwright, one per test module (tests/browser_helpers.py)."""
    from browser_helpers import chromium

    with chromium() as instance:
        yield instance
