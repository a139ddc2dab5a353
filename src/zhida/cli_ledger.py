"""The ledger's commands, registered on `zhida` by cli.py: `zhida db …`, `zhida audit …`, and the
`zhida report …` group that the budget and target commands add to.

Every command works on DATABASE_URL (or --database), default the SQLite file zhida.db in the
current folder, migrated first; bad input gives one Chinese sentence and exit code 2.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from zhida.cli_packs import PACK_OPTION, open_pack  # noqa: F401 — the ledger commands import them from here
from zhida.ledger import audit, budgets
from zhida.ledger import tables as t
from zhida.ledger.access import Actor, Refused
from zhida.ledger.accounts import actor_of
from zhida.ledger.database import DatabaseError, connect, database_url, reading, sessions, transaction, upgrade

db_app = typer.Typer(help="账本数据库:创建与迁移", no_args_is_help=True)
audit_app = typer.Typer(help="审计链", no_args_is_help=True)
report_app = typer.Typer(help="报表:预算执行、目标进度", no_args_is_help=True)
users_app = typer.Typer(help="用户与令牌", no_args_is_help=True)
budget_app = typer.Typer(help="预算与分配", no_args_is_help=True)
targets_app = typer.Typer(help="目标与任务的责任分解", no_args_is_help=True)
payments_app = typer.Typer(help="拨付批次", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ledger's command groups to `zhida` (the commands come from the cli_* modules)."""
    from zhida import cli_accounts, cli_budget, cli_payments, cli_targets  # noqa: F401 — they add commands

    for group, name in (
        (db_app, "db"), (audit_app, "audit"), (report_app, "report"), (users_app, "users"),
        (budget_app, "budget"), (targets_app, "targets"), (payments_app, "payments"),
    ):
        app.add_typer(group, name=name)
    for command in cli_payments.TOP_LEVEL:
        app.command()(command)

DATABASE_OPTION = typer.Option(None, "--database", help="数据库地址(默认取 DATABASE_URL,否则当前目录的 zhida.db)")
USER_OPTION = typer.Option(..., "--user", help="以此账本用户的身份操作(其角色决定可做之事)")
FILE_MODE = 0o644


def fail(message: str, code: int = 2) -> None:
    Console(stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True).print(message)
    raise typer.Exit(code)


def open_ledger(database: str | None) -> tuple[Engine, sessionmaker[Session]]:
    """The ledger at `database` (or DATABASE_URL, or ./zhida.db), migrated to the newest schema."""
    try:
        engine = connect(database_url(database))
        upgrade(engine)
    except DatabaseError as error:
        fail(str(error))
    except Exception as error:  # noqa: BLE001 — an unreachable server or a broken file: one sentence
        fail(f"无法打开账本数据库 {database_url(database)}:{type(error).__name__}: {str(error).splitlines()[0]}")
    return engine, sessions(engine)


def refused(error: Refused) -> None:
    fail(error.message, 2)


@contextmanager
def ledger_session(database: str | None, *, read_only: bool = False) -> Iterator[Session]:
    """A transaction on the ledger for one command: a refusal becomes one sentence and exit 2; the
    connections are closed. The commit happens when the with-block ends: print after it."""
    engine, factory = open_ledger(database)
    try:
        with (reading if read_only else transaction)(factory) as session:
            yield session
    except Refused as error:
        refused(error)
    finally:
        engine.dispose()


def show_report(as_json: bool, xlsx: Path | None, *, data: Callable[[], Any], terminal: Callable[[], None],
                write: Callable[[Path], None], written: str) -> None:
    """A report's output: the workbook when --xlsx, then the JSON (--json), else the terminal's tables,
    else the line `written` saying what went into the workbook."""
    if xlsx is not None:
        write(xlsx)
    if as_json:
        print(json.dumps(data(), ensure_ascii=False, indent=2))
    elif xlsx is None:
        terminal()
    else:
        print(written)


def write_file(path: Path, data: bytes) -> None:
    """A file a command writes (a report's workbook, the bank's batch file), written beside PATH and renamed
    over it: a reader never sees half of it, and a failure leaves nothing behind. Mode 0644: readable by
    the group and others (the bank's upload tool may run as another user)."""
    try:
        handle, temporary = tempfile.mkstemp(dir=path.resolve().parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        fail(f"无法写入 {path}:{error.strerror or error}")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        fail(f"无法写入 {path}:{error.strerror or error}")


def acting(session: Session, username: str) -> Actor:
    """The ledger user named by --user, as the actor a command acts as (its role decides what it may do)."""
    user = session.scalar(select(t.User).where(t.User.username == username))
    if user is None or user.disabled:
        raise Refused(404, f"--user: 没有可用的用户 {username}(先用 zhida users add 添加)")
    return actor_of(user)


@db_app.command("upgrade")
def db_upgrade(database: str | None = DATABASE_OPTION) -> None:
    """创建账本数据库,或把它迁移到最新结构"""
    engine, _ = open_ledger(database)
    engine.dispose()
    print(f"账本数据库已是最新结构:{engine.url.render_as_string(hide_password=True)}")


@audit_app.command("verify")
def audit_verify(database: str | None = DATABASE_OPTION) -> None:
    """逐条核对审计链与各表:指出被改动、插入或删除的记录;完好时退出码 0,否则 1"""
    with ledger_session(database) as session:
        problems = audit.verify(session) + budgets.recount(session)  # running totals vs SUM
        entries = session.query(audit.t.AuditEntry).count()
    if not problems:
        print(f"审计链完好:{entries} 条记录,各表与链上最后状态一致")
        return
    for problem in problems:
        print(str(problem))
    fail(f"审计链发现 {len(problems)} 处问题", 1)
