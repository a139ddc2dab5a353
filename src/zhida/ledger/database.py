"""Where the ledger lives: a SQLite file by default, PostgreSQL when DATABASE_URL names one.

Writes are serialised where it matters, the same way on both:
- SQLite: every transaction begins IMMEDIATE (one writer at a time, others wait up to 30 s);
- PostgreSQL: a decision locks its subject's row, then its area's budget row, then the audit head,
  always in that order (no deadlock), with SELECT … FOR UPDATE.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_FILE = "zhida.db"
MIGRATIONS = Path(__file__).with_name("migrations")


class DatabaseError(ValueError):
    """A database address that cannot be used, said in one sentence."""


def database_url(explicit: str | None = None) -> str:
    """The address to use: an explicit one, else DATABASE_URL, else a SQLite file in the current folder."""
    url = explicit or os.environ.get("DATABASE_URL") or f"sqlite:///{DEFAULT_FILE}"
    try:
        parsed = make_url(url)
    except Exception as error:  # sqlalchemy raises ArgumentError with the text in it
        raise DatabaseError(f"DATABASE_URL 无法解析:{error}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseError(f"DATABASE_URL 须为 sqlite:/// 或 postgresql:// 地址,而不是 {parsed.get_backend_name()}")
    return parsed.render_as_string(hide_password=False)


def connect(url: str | None = None) -> Engine:
    """An engine for the ledger (not yet migrated: see `upgrade`)."""
    address = database_url(url)
    if address.startswith("sqlite"):
        engine = create_engine(address, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(address, pool_size=10, max_overflow=30, pool_pre_ping=True)


def _sqlite_connect(dbapi_connection, _record) -> None:
    # Let SQLAlchemy, not the driver, say when a transaction begins, so that it can begin IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection) -> None:
    # A reading transaction (see `reading`) begins DEFERRED: under WAL it never waits for a writer.
    if connection.get_execution_options().get("zhida_reading"):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` with the package's Alembic migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: committed whole, or rolled back whole."""
    with factory() as session, session.begin():
        yield session


@contextmanager
def reading(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction that only reads: on SQLite it does not queue behind writers (WAL readers see the
    last commit); elsewhere it is an ordinary transaction."""
    with factory() as session, session.begin():
        session.connection(execution_options={"zhida_reading": True})
        yield session
