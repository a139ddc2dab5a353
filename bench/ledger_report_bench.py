"""The budget report's time over 1,000,000 awards, on SQLite and on PostgreSQL.

    python bench/ledger_report_bench.py [--awards 1000000] [--repeat 3]

Builds a ledger with `--awards` award rows in a temporary SQLite file and in a fresh PostgreSQL
schema (127.0.0.1:5432, database `test`, or ZHIDA_TEST_POSTGRES), both migrated with Alembic and
seeded with the document's eight area budgets, plus one allocation per area to its first cash rule
and one to 吴兴区. The awards are spread over the pack's rules that carry an amount (and, one in
fifty, its tax rules as tax savings), the six counties (one in twenty without a county) and the
award statuses (one in ten cancelled). Rows go in by bulk insert, never through the ORM one by one:
SQLAlchemy Core executemany on SQLite (integer 分, as the Money type stores them), COPY on
PostgreSQL; the bench rows are not audit-recorded (the report does not read the audit log).

Timed, each `--repeat` times in a fresh transaction, median and best reported:
- budget_report(session, pack): the whole report (one grouped scan of the awards);
- totals(session, area=1): committed and paid of area 一 (the most cash rules), the full SUM that a
  decision ran before migration 0003 and that `budgets.recount` still runs;
- budget_room(session, pack, 1, <its first cash rule>, 吴兴区): what a decision runs now, holding the
  area's lock: the three budget rows' running totals (area, rule and county allocation).

The bulk load bypasses `budgets.move`, so the running totals are then filled from `totals` (as
migration 0003 fills them from the awards), and the rooms' committed are checked against the SUMs.

--covering-index adds an index on awards (area, cash, status, rule_id, county, amount) after the
load (an experiment: the migration has no such index), to see what it does for `totals`.

Goal: the report over 1M awards in a few seconds on either database (leadership opens it on demand).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url

from zhida.ledger import budgets
from zhida.ledger import tables as t
from zhida.ledger.access import Actor, Role
from zhida.ledger.database import connect, sessions, transaction, upgrade
from zhida.ledger.identity import COUNTIES, credit_code_check, organisation_code_check
from zhida.rules.model import Kind
from zhida.rules.pack import load_pack
from zhida.source.script import to_simplified

ROOT = Path(__file__).resolve().parents[1]
POSTGRES = os.environ.get("ZHIDA_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
SUBJECTS = 20_000
CHUNK = 50_000
STATUSES = ("publicity", "held", "payable", "in_batch", "paid", "paid", "paid", "paid", "failed", "cancelled")


def credit_code(number: int) -> str:
    body = f"{number:08d}"
    first_17 = "91330500" + body + organisation_code_check(body)
    return first_17 + credit_code_check(first_17)


def award_rows(pack, count: int, seed: int = 10):
    """The awards as plain tuples: (subject, rule, article, area, department, county, verdict, cash, cents, status)."""
    random.seed(seed)
    cash_rules = [rule for rule in pack.rules if rule.amount is not None and rule.spec.kind is not Kind.TAX]
    tax_rules = [rule for rule in pack.rules if rule.spec.kind is Kind.TAX]
    for index in range(count):
        tax = index % 50 == 49
        rule = random.choice(tax_rules if tax else cash_rules)
        county = None if index % 20 == 19 else COUNTIES[index % len(COUNTIES)]
        cents = random.randint(10_000, 4_000_000)  # 100.00 to 40,000.00 元: about 233.9亿元 over 1M awards
        yield (credit_code(index % SUBJECTS), rule.id, rule.spec.article, rule.area, to_simplified(rule.department),
               county, rule.spec.kind.value, not tax, cents, random.choice(STATUSES))


def prepare(engine, pack) -> None:
    """Schema, budgets, one user and the subjects (the awards' foreign keys)."""
    upgrade(engine)
    factory = sessions(engine)
    with transaction(factory) as session:
        budgets.seed_budgets(session, pack)
        user = t.User(username="bench", display_name="bench", password_hash="x", role="admin")
        session.add(user)
        session.flush()
        admin = Actor(user.id, "bench", Role.ADMIN)
        for area in pack.document.areas:
            first = first_cash_rule(pack, area.number)
            if first is not None:
                budgets.set_budget(session, pack, area.number, area.budget / 2, admin, rule_id=first.id)
            budgets.set_budget(session, pack, area.number, area.budget / 4, admin, county="吴兴区")
    subjects = [{"id": credit_code(n), "kind": "enterprise", "name": f"企业{n}", "county": COUNTIES[n % 6],
                 "created_at": t.utcnow()} for n in range(SUBJECTS)]
    with engine.begin() as connection:
        connection.execute(insert(t.Subject), subjects)


def first_cash_rule(pack, area: int):
    return next((rule for rule in pack.rules if rule.area == area and rule.amount is not None), None)


def fill_running_totals(factory) -> None:
    """The bulk-loaded awards never went through budgets.move: fill each budget row from `totals`,
    and the award sums (what the report reads) from one grouped scan."""
    with transaction(factory) as session:
        for row in session.scalars(select(t.Budget)):
            counted = budgets.totals(session, row.area, row.rule_id or None, row.county or None)
            row.committed, row.paid = counted.committed, counted.paid
        budgets.rebuild_sums(session)


def load_sqlite(engine, pack, count: int) -> float:
    started = time.perf_counter()
    now = t.utcnow()
    columns = ("subject_id", "rule_id", "article", "area", "department", "county", "verdict", "cash", "amount", "status")
    rows = award_rows(pack, count)
    while True:
        chunk = []
        for row in rows:
            values = dict(zip(columns, row, strict=True))
            values["amount"] = Decimal(values["amount"]) / 100
            values.update(year=2025, clause="", trace=[], decided_by=1, decided_at=now)
            chunk.append(values)
            if len(chunk) == CHUNK:
                break
        if not chunk:
            break
        with engine.begin() as connection:
            connection.execute(insert(t.Award), chunk)
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def load_postgres(engine, pack, count: int) -> float:
    started = time.perf_counter()
    now = t.utcnow()
    columns = ("subject_id", "rule_id", "article", "area", "department", "county", "verdict", "cash", "amount",
               "status", "year", "clause", "trace", "decided_by", "decided_at")
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            statement = f"COPY awards ({', '.join(columns)}) FROM STDIN"  # fixed column names, no input
            with cursor.copy(statement) as copy:
                for row in award_rows(pack, count):
                    amount = Decimal(row[8]) / 100
                    copy.write_row((*row[:8], amount, row[9], 2025, "", "[]", 1, now))
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE awards")
    return time.perf_counter() - started


COVERING_INDEX = "CREATE INDEX ix_bench_awards_budget ON awards (area, cash, status, rule_id, county, amount)"


def add_covering_index(engine) -> None:
    """An experiment, not in the schema: an index that answers `totals` without reading the table."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(COVERING_INDEX)
        connection.exec_driver_sql("VACUUM ANALYZE awards" if engine.dialect.name == "postgresql" else "ANALYZE")


def timed(factory, work, repeat: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        with transaction(factory) as session:
            started = time.perf_counter()
            result = work(session)
            times.append(time.perf_counter() - started)
    return times, result


def run(name: str, url: str, pack, count: int, repeat: int, loader, covering: bool) -> dict:
    engine = connect(url)
    try:
        prepare(engine, pack)
        load_seconds = loader(engine, pack, count)
        if covering:
            add_covering_index(engine)
        factory = sessions(engine)
        fill_running_totals(factory)
        report_times, report = timed(factory, lambda session: budgets.budget_report(session, pack), repeat)
        totals_times, _ = timed(factory, lambda session: budgets.totals(session, 1), repeat)
        rule_id = first_cash_rule(pack, 1).id
        room_times, rooms = timed(factory, lambda session: budgets.budget_room(session, pack, 1, rule_id, "吴兴区"), repeat)
        with transaction(factory) as session:
            summed = [budgets.totals(session, 1).committed, budgets.totals(session, 1, rule_id=rule_id).committed,
                      budgets.totals(session, 1, county="吴兴区").committed]
        if [room.committed for room in rooms] != summed:
            sys.exit(f"{name}: budget_room's running totals {[r.committed for r in rooms]} differ from the SUMs {summed}")
        with engine.connect() as connection:
            stored = connection.execute(text("SELECT COUNT(*) FROM awards")).scalar_one()
    finally:
        engine.dispose()
    return {"name": name, "awards": stored, "load": load_seconds, "report": report_times, "totals": totals_times,
            "room": room_times,
            "committed": report.committed, "paid": report.paid, "tax": report.tax_savings,
            "groups": len(report.rules)}


def postgres_schema_url() -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    url = make_url(POSTGRES).set(drivername="postgresql+psycopg").update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def postgres_admin(statement: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(sql.SQL(statement).format(sql.Identifier(schema)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--awards", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--covering-index", action="store_true",
                        help="add an index on awards (area, cash, status, rule_id, county, amount) before timing")
    arguments = parser.parse_args()
    pack = load_pack(ROOT / "policies" / "huzhou-2025")
    results = []
    if arguments.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            results.append(run("SQLite (file)", url, pack, arguments.awards, arguments.repeat, load_sqlite,
                               arguments.covering_index))
    if arguments.only in (None, "postgresql"):
        url, schema = postgres_schema_url()
        postgres_admin("CREATE SCHEMA {}", schema)
        try:
            results.append(run("PostgreSQL", url, pack, arguments.awards, arguments.repeat, load_postgres,
                               arguments.covering_index))
        finally:
            postgres_admin("DROP SCHEMA {} CASCADE", schema)
    console = Console(width=160)
    extra = ", with the covering index" if arguments.covering_index else ""
    table = Table(title=f"budget report over {arguments.awards:,} awards (median of {arguments.repeat}{extra})")
    for header in ("database", "awards", "bulk load (s)", "budget_report median (s)", "best (s)",
                   "totals(area 1) median (ms)", "budget_room(area 1) median (ms)", "committed (元)",
                   "rules in report"):
        table.add_column(header, justify="right")
    for result in results:
        table.add_row(result["name"], f"{result['awards']:,}", f"{result['load']:.1f}",
                      f"{statistics.median(result['report']):.2f}", f"{min(result['report']):.2f}",
                      f"{statistics.median(result['totals']) * 1000:.0f}",
                      f"{statistics.median(result['room']) * 1000:.1f}", f"{result['committed']:,.2f}",
                      str(result["groups"]))
    console.print(table)
    if len(results) == 2 and (results[0]["committed"], results[0]["paid"], results[0]["tax"]) != (
            results[1]["committed"], results[1]["paid"], results[1]["tax"]):
        sys.exit("the two databases disagree on the report's totals")
    console.print(f"Python {platform.python_version()}, {os.cpu_count()} cores, load average "
                  f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
