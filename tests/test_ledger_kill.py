"""A bulk operation killed (SIGKILL) at any moment leaves all of it or none of it, and an intact chain.

A real process does the work: `zhida propose` for a bulk import of 20 000 proposals (20 000 new
subjects, 40 000 audit entries), and a short script for a bulk confirmation of 2 000 and a payment
batch of 2 000. It is killed (SIGKILL) at several moments after it says it has started, and once
just after it has committed; then the database must hold either nothing of that operation or all of
it (counts and statuses), and `audit.verify` must find nothing wrong. SQLite (a file) and
PostgreSQL (a schema of its own) alike.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select

from test_ledger_proposals import MATCH_SCHEMA
from zhida.ledger import audit
from zhida.ledger import tables as t
from zhida.ledger.access import Role
from zhida.ledger.accounts import actor_of, add_user
from zhida.ledger.budgets import seed_budgets
from zhida.ledger.database import sessions, transaction
from zhida.ledger.proposals import import_proposals
from zhida.synth import resident_id_numbers

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / "policies" / "huzhou-2025"
CLI = "import sys; from zhida.cli import app; sys.argv[0] = 'zhida'; app()"
SCRIPT = """
import datetime as dt, os, sys
from sqlalchemy import select
from zhida.ledger import payments, proposals
from zhida.ledger import tables as t
from zhida.ledger.accounts import actor_of
from zhida.ledger.database import connect, sessions, transaction
from zhida.rules.pack import load_pack

operation, username, pack_path = sys.argv[1:4]
pack = load_pack(pack_path)
factory = sessions(connect(os.environ["DATABASE_URL"]))
print("started", flush=True)
with transaction(factory) as session:
    actor = actor_of(session.scalars(select(t.User).where(t.User.username == username)).one())
    if operation == "confirm":
        ids = list(session.scalars(select(t.Proposal.id).where(t.Proposal.status == "proposed")))
        proposals.confirm_proposals(session, pack, actor, ids, dt.date(2025, 9, 1))
    else:
        payments.make_batch(session, actor, today=dt.date(2025, 9, 9))
print("done", flush=True)
"""


def files(folder: Path, n: int, first: int = 0) -> tuple[Path, Path]:
    """A match output of `n` trade-ins (一级能效 20% × 500 = 100.00 元 each) by `n` consumers (numbered
    from `first`), and their register."""
    folder.mkdir(exist_ok=True)
    numbers = np.arange(first, first + n)
    ids = resident_id_numbers(numbers, np.full(n, "330522")).tolist()
    rows = {"subject_id": ids, "event_id": [f"T{i}" for i in numbers], "date": [dt.date(2025, 5, 1)] * n,
            "rule": ["appliance-grade-1"] * n, "article": [17] * n, "kind": ["exact"] * n,
            "amount": [Decimal("100.00")] * n, "tax_due": [None] * n, "caps_hit": [""] * n, "in_validity": [True] * n,
            "department": ["市发展改革委"] * n, "county": ["长兴县"] * n, "carrier": [None] * n}
    out, register = folder / "out.parquet", folder / "subjects.parquet"
    pq.write_table(pa.Table.from_pydict(rows, schema=MATCH_SCHEMA), out)
    pq.write_table(pa.Table.from_pydict({"subject_id": ids, "kind": ["consumer"] * n,
                                         "name": [f"居民{i}" for i in numbers], "county": ["长兴县"] * n}), register)
    return out, register


def users(factory, pack) -> dict:
    with transaction(factory) as session:
        seed_budgets(session, pack)
        made = [add_user(session, "admin", "password-1", Role.ADMIN),
                add_user(session, "fagai", "password-1", Role.REVIEWER, department="市发展改革委"),
                add_user(session, "caizheng", "password-1", Role.FINANCE)]
        return {user.username: actor_of(user) for user in made}


def run_and_kill(command: list[str], url: str, after: float | None, at_line: str | None = None) -> bool:
    """Start `command`, wait for its first line, kill it `after` seconds later (None: let it finish;
    or kill it as soon as it prints a line containing `at_line`). True when it finished by itself."""
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        first = process.stdout.readline()
        assert first, process.stderr.read().decode()
        if at_line is not None:
            while at_line not in (line := process.stdout.readline().decode()):
                assert line, f"ended without printing {at_line!r}: {process.stderr.read().decode()}"
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            return False
        if after is None:
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0, err.decode()
            return True
        time.sleep(after)
        finished = process.poll() is not None
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        return finished
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_a_killed_bulk_import_leaves_all_or_nothing(ledger_engine, ledger_url, pack, tmp_path):
    factory = sessions(ledger_engine)
    users(factory, pack)
    n = 20_000  # ~15 s to import on a quiet machine: the kills below land inside its one transaction
    out, register = files(tmp_path / "big", n)
    command = [sys.executable, "-c", CLI, "propose", str(out), "--subjects", str(register), "--user", "admin"]
    for after in (0.5, 2.5):
        run_and_kill(command, ledger_url, after)
        with transaction(factory) as session:
            proposals, subjects = count(session, t.Proposal), count(session, t.Subject)
            imported = count(session, t.AuditEntry, t.AuditEntry.action == "proposal.import")
            assert audit.verify(session) == []
        assert (proposals, subjects, imported) in ((0, 0, 0), (n, n, n)), after
    # All of it: a smaller import killed the moment it has printed its summary (after the commit).
    small = 2_000
    out, register = files(tmp_path / "small", small, first=n)
    command = [sys.executable, "-c", CLI, "propose", str(out), "--subjects", str(register), "--user", "admin"]
    run_and_kill(command, ledger_url, None, at_line="新导入建议")
    with transaction(factory) as session:
        assert count(session, t.Proposal, t.Proposal.source == str(out)) == small
        assert count(session, t.Subject) in (small, n + small)
        assert audit.verify(session) == []


def test_a_killed_bulk_confirmation_leaves_all_or_nothing(ledger_engine, ledger_url, pack, tmp_path):
    factory = sessions(ledger_engine)
    actors = users(factory, pack)
    n = 2_000
    out, register = files(tmp_path, n)
    with transaction(factory) as session:
        import_proposals(session, pack, actors["admin"], out, register)
    script = tmp_path / "bulk.py"
    script.write_text(SCRIPT, encoding="utf-8")
    for after in (0.3, 1.5, 4.0):
        run_and_kill([sys.executable, str(script), "confirm", "fagai", str(PACK)], ledger_url, after)
        with transaction(factory) as session:
            awards = count(session, t.Award)
            confirmed = count(session, t.Proposal, t.Proposal.status == "confirmed")
            in_publicity = count(session, t.Award, t.Award.status == "publicity", t.Award.amount == Decimal("100.00"))
            assert audit.verify(session) == []
        assert (awards, confirmed, in_publicity) in ((0, 0, 0), (n, n, n)), after


def test_a_killed_payment_batch_leaves_all_or_nothing(ledger_engine, ledger_url, pack, tmp_path):
    factory = sessions(ledger_engine)
    actors = users(factory, pack)
    n = 2_000
    out, register = files(tmp_path, n)
    with transaction(factory) as session:
        import_proposals(session, pack, actors["admin"], out, register)
    with transaction(factory) as session:  # n awards past their 公示, made directly (confirming is not under test)
        awards = [t.Award(subject_id=subject_id, rule_id="appliance-grade-1", article=17, area=3, department="市发展改革委",
                          county="长兴县", year=2025, verdict="exact", cash=True, amount=Decimal("100.00"),
                          ceiling=Decimal("100.00"), clause="一级能效的给予20%补贴", trace=[], status="payable",
                          publicity_until=dt.date(2025, 9, 8), decided_by=actors["fagai"].user_id)
                  for subject_id in session.scalars(select(t.Subject.id))]
        session.add_all(awards)
        audit.record_many(session, "fagai", [("award.grant", award) for award in awards])
    script = tmp_path / "bulk.py"
    script.write_text(SCRIPT, encoding="utf-8")
    outcomes = []
    for after in (0.3, 1.5, None):
        if after is None and outcomes[-1] == 1:
            break  # a kill came after the commit: the batch is made, and a second run would find nothing payable
        run_and_kill([sys.executable, str(script), "batch", "caizheng", str(PACK)], ledger_url, after)
        with transaction(factory) as session:
            batches, pending = count(session, t.PaymentBatch), count(session, t.Payment, t.Payment.status == "pending")
            in_batch = count(session, t.Award, t.Award.status == "in_batch")
            payable = count(session, t.Award, t.Award.status == "payable")
            assert audit.verify(session) == []
        assert (batches, pending, in_batch, payable) in ((0, 0, 0, n), (1, n, n, 0)), after
        outcomes.append(batches)
    assert outcomes[-1] == 1
