"""`zhida propose` (免申即享 proposals from `zhida match` output) and `zhida payments …`.

    zhida propose OUT.parquet --subjects SUBJECTS.parquet --user U   import, one transaction, a summary
    zhida payments batch --user U [--department D]                   a batch of the payable awards
    zhida payments export BATCH -o FILE --user U                     the bank file (.csv or .xlsx)
    zhida payments mark PAYMENT --paid | --failed REASON --user U    the bank's answer

--user names the ledger user the command acts as (its role decides what it may do); the audit
chain records that user.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from decimal import Decimal
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from zhida.cli_ledger import (
    DATABASE_OPTION, PACK_OPTION, USER_OPTION, acting, fail, ledger_session, open_pack, payments_app, write_file,
)
from zhida.engine.calculate import VERDICTS
from zhida.ledger import payments, proposals
from zhida.ledger import tables as t
from zhida.rules.model import Kind


def propose(
    entitlements: Path = typer.Argument(..., help="zhida match 的输出(.parquet 或 .csv)"),
    subjects: Path | None = typer.Option(
        None, "--subjects", help="登记主体表(subject_id, kind, name, county):账本中尚无的主体从此登记"
    ),
    user: str = USER_OPTION,
    database: str | None = DATABASE_OPTION,
    pack_choice: str | None = PACK_OPTION,
) -> None:
    """免申即享:把 zhida match 算出的应享金额导入为待部门确认的建议(全部成功或全部不写)"""
    pack = open_pack(pack_choice)
    try:
        with ledger_session(database) as session:
            started = time.perf_counter()
            print("导入开始", flush=True)  # the kill tests wait for this line
            summary = proposals.import_proposals(session, pack, acting(session, user), entitlements, subjects)
    except IntegrityError:  # another import committed the same proposals or subjects meanwhile
        fail("另一个导入同时写入了相同的建议或主体;本次导入未写入任何内容,请重新运行(已导入的会计为已存在)")
    _print_summary(summary, time.perf_counter() - started)


def _print_summary(summary: proposals.ImportSummary, seconds: float) -> None:
    console = Console(highlight=False, markup=False, emoji=False)
    table = Table(title="按部门汇总(金额按性质分列,不相加)")
    for column in ("牵头部门", "性质", "笔数", "金额(元)"):
        table.add_column(column, justify="right" if column in ("笔数", "金额(元)") else "left")
    for (department, verdict), (count, amount) in sorted(summary.by_department.items()):
        table.add_row(department, VERDICTS[Kind(verdict)], str(count), f"{amount:,.2f}")
    if summary.by_department:
        console.print(table)
    skipped = ";".join(f"{proposals.SKIP_REASONS[reason]} {count} 行" for reason, count in sorted(summary.skipped.items()))
    console.print(
        f"{summary.source}:共 {summary.rows} 行;新导入建议 {summary.imported} 条,已存在 {summary.already} 条,"
        f"新建主体 {summary.subjects_created} 个;跳过 {sum(summary.skipped.values())} 行" + (f"({skipped})" if skipped else "")
        + f";用时 {seconds:.1f} 秒",
        soft_wrap=True,  # one line, whatever the terminal's width: scripts grep it
    )


@payments_app.command("batch")
def batch(
    user: str = USER_OPTION,
    department: str | None = typer.Option(None, "--department", help="只拨付此部门的奖补(如 市科技局)"),
    database: str | None = DATABASE_OPTION,
) -> None:
    """把公示期满、待拨付的奖补生成一个拨付批次(财政)"""
    with ledger_session(database) as session:
        print("拨付批次生成开始", flush=True)
        made = payments.make_batch(session, acting(session, user), department=department, today=dt.date.today())
        rows = list(session.scalars(select(t.Payment).where(t.Payment.batch_id == made.id)))
        batch_id = made.id
    total = sum((row.amount for row in rows), start=Decimal("0.00"))
    print(f"拨付批次 {batch_id}:{len(rows)} 笔,合计 {total:,.2f} 元")


@payments_app.command("export")
def export(
    batch_id: int = typer.Argument(..., help="拨付批次编号"),
    out: Path = typer.Option(..., "-o", "--output", help="导出文件(.csv 或 .xlsx)"),
    user: str = USER_OPTION,
    database: str | None = DATABASE_OPTION,
    pack_choice: str | None = PACK_OPTION,
) -> None:
    """导出拨付批次给银行(含完整的统一社会信用代码/身份证号码,仅限财政)"""
    pack = open_pack(pack_choice)
    with ledger_session(database) as session:
        rows = payments.export_rows(session, pack, acting(session, user), batch_id)
        data = payments.export_bytes(out, rows)  # inside: a bad suffix is refused as the ledger refuses
    write_file(out, data)
    print(f"拨付批次 {batch_id}:{len(rows)} 笔,已写入 {out}")


@payments_app.command("mark")
def mark(
    payment_id: int = typer.Argument(..., help="拨付编号"),
    paid: bool = typer.Option(False, "--paid", help="银行已拨付"),
    failed: str | None = typer.Option(None, "--failed", help="拨付失败,并写明银行退回原因"),
    user: str = USER_OPTION,
    database: str | None = DATABASE_OPTION,
) -> None:
    """登记银行回单:--paid,或 --failed 原因"""
    if paid == (failed is not None):
        fail("须且只能给出 --paid 或 --failed 原因 之一")
    with ledger_session(database) as session:
        payment = payments.mark(session, acting(session, user), payment_id, paid, failed)
        status, award_id = payment.status, payment.award_id
    print(f"拨付 {payment_id}(奖补 {award_id}):{payments.PAYMENT_STATUS[status]}", file=sys.stdout)


TOP_LEVEL: list = [propose]  # commands registered directly on `zhida` (propose)
