"""The demo ledger of a first run (`zhida serve` on a fresh machine), on SQLite and PostgreSQL.

What a first run must show, each through the ledger's own functions: applications and awards in
every state, 免申即享 proposals waiting, 公示 lists, progress on some targets, one demo user per role
who can sign in; an intact audit chain, budgets whose running totals match a recount, and no award
above what the calculator allows. A ledger in use (any user) is never touched.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from zhida.ledger import accounts, audit, budgets, review, targets
from zhida.ledger import tables as t
from zhida.ledger.access import ROLE_NAMES, Role
from zhida.ledger.database import reading, transaction
from zhida.ledger.demo import DEMO_NOTE, password_of, seed_demo
from zhida.rules.model import Kind
from zhida.web.app import open_ledger_state

APPLICATION_STATUSES = {"submitted", "returned", "withdrawn", "rejected", "approved"}
AWARD_STATUSES = {"publicity", "held", "payable", "in_batch", "paid", "failed", "granted", "cancelled"}


@pytest.fixture
def seeded(pack, ledger_url, tmp_path):
    state = open_ledger_state(pack, ledger_url, files=tmp_path / "files")
    summary = seed_demo(state.factory, pack, state.files)
    yield state, summary
    state.factory.kw["bind"].dispose()


def _counts(session, column) -> dict[str, int]:
    return dict(session.execute(select(column, func.count()).group_by(column)).all())


def test_the_demo_ledger_has_every_state_and_stays_whole(seeded, pack):
    state, summary = seeded
    assert summary.seeded
    with reading(state.factory) as session:
        applications = _counts(session, t.Application.status)
        awards = _counts(session, t.Award.status)
        assert APPLICATION_STATUSES <= {status for status, count in applications.items() if count >= 1}, applications
        assert AWARD_STATUSES <= {status for status, count in awards.items() if count >= 1}, awards
        # A returned application sent back in: submitted again, with both decisions in its audit trail.
        resubmitted = session.scalar(
            select(func.count()).select_from(t.AuditEntry).where(t.AuditEntry.action == "application.return")
        )
        assert resubmitted >= 2 and applications["returned"] == 1  # two returned, one of them resubmitted
        assert session.scalar(select(t.Application.reason).where(t.Application.status == "rejected"))
        proposals = _counts(session, t.Proposal.status)
        assert proposals["proposed"] >= 1 and proposals["confirmed"] >= 1 and proposals["dismissed"] >= 1
        assert session.scalar(select(func.count()).select_from(t.PaymentBatch)) == 2
        # 公示 now: awards granted today are on the public list, the held one too.
        listed = review.publicity(session)
        assert {award.status for award, _ in listed} == {"publicity", "held"}
        # Targets: assigned to departments and counties, progress reported on some, not all.
        board = targets.board(session, pack)
        assigned = [line for line in board.lines if not line.implicit]
        reported = [line for line in assigned if line.latest is not None]
        assert {line.county for line in assigned} >= {"", "吴兴区", "南浔区"}
        assert 0 < len(reported) < len(assigned) and len(reported) == summary.progress_reports
        # The register: organisations with their year-end figures, persons from 免申即享.
        kinds = _counts(session, t.Subject.kind)
        assert kinds["enterprise"] == 200 and kinds["incubator"] == 1 and kinds["consumer"] >= 1
        imported = select(func.count()).select_from(t.ProfileFact).where(t.ProfileFact.source == "imported")
        facts = session.scalar(imported)
        assert facts == 2 * 200  # 营业收入 and 研发费用 of each enterprise
        # Payable (and batched, paid, failed) awards were granted before their 公示 ended; those on it, today.
        today = dt.date.today()
        for award in session.scalars(select(t.Award).where(t.Award.cash.is_(True))):
            if award.status in ("payable", "in_batch", "paid", "failed"):
                assert award.publicity_until < today, award.id
            elif award.status in ("publicity", "held"):
                assert award.publicity_until >= today, award.id
        assert audit.verify(session) == []
        assert budgets.recount(session) == []


def test_no_award_is_above_what_the_calculator_allows(seeded):
    state, _ = seeded
    with reading(state.factory) as session:
        rows = session.scalars(select(t.Award)).all()
        for award in rows:
            if award.verdict == Kind.QUALIFICATION.value:
                assert award.amount is None
            elif award.verdict == Kind.CEILING.value:
                assert Decimal(0) < award.amount <= award.ceiling, award.id
            else:  # exact, floor, tax: the calculator's amount itself
                assert award.amount == award.ceiling, award.id
            if award.application_id is not None:
                application = session.get(t.Application, award.application_id)
                assert award.ceiling == application.ceiling
        by_status = {award.status: award for award in rows
                     if award.application_id is not None and award.rule_id == "innovation-voucher"}
        # (三) 创新券 "按實際發生服務費用給予最高50%比例的補助": 60,000 × 50% = 30,000 paid in full;
        # 40,000 × 50% = 20,000, granted at 90% = 18,000 (a department may grant below 最高), its payment failed.
        assert (by_status["paid"].ceiling, by_status["paid"].amount) == (Decimal("30000.00"), Decimal("30000.00"))
        assert (by_status["failed"].ceiling, by_status["failed"].amount) == (Decimal("20000.00"), Decimal("18000.00"))
        # (三十) "對短期出口信用保險保費給予不低于60%的補助": 200,000 × 60% = 120,000 (in a batch);
        # 120,000 × 60% = 72,000 (payable); 90,000 × 60% = 54,000 (held by an objection).
        insurance = {award.status: award.amount for award in rows
                     if award.application_id is not None and award.rule_id == "export-credit-insurance"}
        assert insurance == {"in_batch": Decimal("120000.00"), "payable": Decimal("72000.00"),
                             "held": Decimal("54000.00")}
        # (十七) "一級、二級能效家電分別按20%、15%補貼": a 5,000 元 一级 appliance → 1,000 元, paid.
        appliance = session.scalars(select(t.Award).where(t.Award.rule_id == "appliance-grade-1",
                                                           t.Award.application_id.is_not(None))).one()
        assert (appliance.amount, appliance.status) == (Decimal("1000.00"), "paid")


def test_every_demo_user_signs_in_and_a_second_seed_does_nothing(seeded, pack):
    state, summary = seeded
    roles = {user.role for user in summary.users}
    assert roles == set(Role)
    departments = {user.where for user in summary.users if user.role is Role.REVIEWER}
    assert departments == set(accounts.lead_departments(pack))
    with reading(state.factory) as session:
        applied = {department for (department,) in session.execute(select(t.Application.department).distinct())}
    assert applied <= departments and {"市科技局", "市商务局", "市经信局", "市发展改革委"} <= applied
    names = {user.username for user in summary.users}
    assert {"admin", "kejiju", "shangwuju", "jingxinju", "finance", "leader", "qiye", "fuhuaqi", "jumin"} <= names
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for user in summary.users:
        assert user.password == password_of(user.username)
        # The README's table of demo accounts is the one the seed makes.
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{user.username}` |"))
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[1:3] == [f"`{user.password}`", ROLE_NAMES[user.role]], row
        assert (cells[3] == "—") if not user.where else (user.where.split("(")[0] in cells[3]), row
        with transaction(state.factory) as session:
            signed = accounts.log_in(session, user.username, user.password)
            assert signed is not None and signed.actor.role is user.role, user.username
    assert sum(1 for line in readme.splitlines() if "| `demo-" in line) == len(summary.users)
    with reading(state.factory) as session:
        before = (session.scalar(select(func.count()).select_from(t.User)),
                  session.scalar(select(func.max(t.AuditEntry.seq))))
    again = seed_demo(state.factory, pack, state.files)
    assert not again.seeded and "已有用户" in again.message and again.users == []
    with reading(state.factory) as session:
        assert (session.scalar(select(func.count()).select_from(t.User)),
                session.scalar(select(func.max(t.AuditEntry.seq)))) == before


def test_a_ledger_in_use_is_not_seeded(pack, ledger_url, tmp_path):
    state = open_ledger_state(pack, ledger_url, files=tmp_path / "files")
    try:
        with transaction(state.factory) as session:
            accounts.add_user(session, "owner", "password-owner", Role.ADMIN)
        summary = seed_demo(state.factory, pack, state.files)
        assert not summary.seeded
        with reading(state.factory) as session:
            assert session.scalar(select(func.count()).select_from(t.Subject)) == 0
            assert session.scalar(select(func.count()).select_from(t.User)) == 1
        assert not (tmp_path / "files" / "demo").exists()  # not even the register was made
    finally:
        state.factory.kw["bind"].dispose()


def test_another_pack_gets_no_demo(pack, tmp_path):
    """The demo tells its story in the Huzhou pack's rules; a pack without them is left alone."""
    other = dataclasses.replace(pack, rules=tuple(rule for rule in pack.rules if rule.id != "innovation-voucher"))
    state = open_ledger_state(other, f"sqlite:///{tmp_path / 'ledger.db'}", files=tmp_path / "files")
    try:
        summary = seed_demo(state.factory, other, state.files)
        assert not summary.seeded and "innovation-voucher" in summary.message
        with reading(state.factory) as session:
            assert session.scalar(select(func.count()).select_from(t.User)) == 0
    finally:
        state.factory.kw["bind"].dispose()


# --------------------------------------------------------------------------- zhida serve


@pytest.fixture
def served(monkeypatch):
    """`zhida serve` up to the point where uvicorn would start: the app it would run is kept."""
    started = []
    monkeypatch.setattr("zhida.web.server.run", lambda app, host, port: started.append((app, host, port)))
    return started


def _serve(*arguments: str):
    from zhida.cli import app

    return CliRunner().invoke(app, ["serve", *arguments])


def test_zhida_serve_prints_the_demo_users_on_a_fresh_ledger_only(tmp_path, served):
    database = f"sqlite:///{tmp_path / 'zhida.db'}"
    first = _serve("--database", database, "--port", "8123")
    assert first.exit_code == 0, first.output
    assert DEMO_NOTE in first.output and "http://127.0.0.1:8123/login" in first.output
    for username, role in (("admin", "管理员"), ("kejiju", "审核部门"), ("finance", "财政"), ("leader", "领导"),
                           ("qiye", "申报主体")):
        row = next(line for line in first.output.splitlines() if line.split()[:1] == [username])
        assert row.split()[1:3] == [password_of(username), role], row
    assert re.search(r"kejiju\s+demo-kejiju\s+审核部门\s+市科技局", first.output)
    assert len(served) == 1 and served[0][0].state.ledger is not None
    served[0][0].state.ledger.factory.kw["bind"].dispose()
    second = _serve("--database", database)
    assert second.exit_code == 0, second.output
    assert "演示" not in second.output and "demo-" not in second.output
    served[1][0].state.ledger.factory.kw["bind"].dispose()


def test_zhida_serve_no_demo_leaves_the_ledger_empty(tmp_path, served):
    database = f"sqlite:///{tmp_path / 'zhida.db'}"
    result = _serve("--database", database, "--no-demo")
    assert result.exit_code == 0, result.output
    assert "演示" not in result.output
    state = served[0][0].state.ledger
    try:
        with reading(state.factory) as session:
            assert session.scalar(select(func.count()).select_from(t.User)) == 0
            assert session.scalar(select(func.count()).select_from(t.Budget)) > 0  # budgets seeded all the same
    finally:
        state.factory.kw["bind"].dispose()


def test_the_uvicorn_factory_seeds_a_fresh_ledger_too(tmp_path, monkeypatch, capsys):
    from zhida.web.app import create_default_app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("ZHIDA_DEMO", "0")
    quiet = create_default_app()
    quiet.state.ledger.factory.kw["bind"].dispose()
    assert "demo-" not in capsys.readouterr().out
    monkeypatch.setenv("ZHIDA_DEMO", "1")
    app = create_default_app()
    try:
        printed = capsys.readouterr().out
        assert DEMO_NOTE in printed and "demo-kejiju" in printed
        assert (tmp_path / "zhida.db").exists() and (tmp_path / "zhida-files" / "demo" / "subjects.parquet").exists()
        with reading(app.state.ledger.factory) as session:
            assert session.scalar(select(func.count()).select_from(t.User)) == len(
                [line for line in printed.splitlines() if "demo-" in line])
    finally:
        app.state.ledger.factory.kw["bind"].dispose()

