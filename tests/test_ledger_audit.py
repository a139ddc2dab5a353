"""The audit chain names an entry or a row edited, inserted or deleted outside zhida."""

from decimal import Decimal

from sqlalchemy import delete, insert, update

from zhida.ledger import audit
from zhida.ledger import tables as t
from zhida.ledger.database import sessions, transaction


def _three_budgets(factory) -> None:
    # 一、…全市財政預算安排17.25億元 / 二、…6.73億元 / 三、…1.72億元 (the first three areas' budgets)
    for area, yuan in ((1, "1725000000"), (2, "673000000"), (3, "172000000")):
        with transaction(factory) as session:
            budget = t.Budget(area=area, yuan=Decimal(yuan), source="pack")
            session.add(budget)
            audit.record(session, "admin", "budget.set", budget)


def test_an_intact_chain_verifies(ledger_engine):
    factory = sessions(ledger_engine)
    _three_budgets(factory)
    with transaction(factory) as session:
        assert audit.verify(session) == []
        entries = session.query(t.AuditEntry).order_by(t.AuditEntry.seq).all()
        assert [entry.seq for entry in entries] == [1, 2, 3]
        assert entries[0].prev_hash == audit.GENESIS and entries[1].prev_hash == entries[0].hash


def test_an_edited_row_is_named(ledger_engine):
    factory = sessions(ledger_engine)
    _three_budgets(factory)
    with ledger_engine.begin() as connection:
        connection.execute(update(t.Budget).where(t.Budget.area == 2).values(yuan=Decimal("673000001")))
    with transaction(factory) as session:
        problems = audit.verify(session)
    assert [str(problem) for problem in problems] == ["budgets:2: 该行与审计链记录的最后状态不符:在 zhida 之外被改动"]


def test_an_edited_entry_is_named(ledger_engine):
    factory = sessions(ledger_engine)
    _three_budgets(factory)
    with ledger_engine.begin() as connection:
        connection.execute(update(t.AuditEntry).where(t.AuditEntry.seq == 2).values(actor="someone-else"))
    with transaction(factory) as session:
        problems = audit.verify(session)
    assert [problem.where for problem in problems] == ["audit_log seq 2"]
    assert "被改动" in problems[0].what


def test_a_deleted_entry_and_an_inserted_row_are_named(ledger_engine):
    factory = sessions(ledger_engine)
    _three_budgets(factory)
    with ledger_engine.begin() as connection:
        connection.execute(delete(t.AuditEntry).where(t.AuditEntry.seq == 2))
        connection.execute(insert(t.Budget).values(area=4, rule_id="", county="", yuan=100, source="x"))
    with transaction(factory) as session:
        problems = audit.verify(session)
    seq3 = [problem.what for problem in problems if problem.where == "audit_log seq 3"]
    assert len(seq3) == 2 and "序号不连续" in seq3[0] and "链接断开" in seq3[1]
    problems = {problem.where: problem.what for problem in problems}
    assert "被插入" in problems["budgets:4"]
    # The second budget lost its entry, so the chain no longer vouches for it either.
    assert "被插入" in problems["budgets:2"]


def test_a_deleted_tail_and_a_deleted_row_are_named(ledger_engine):
    factory = sessions(ledger_engine)
    _three_budgets(factory)
    with ledger_engine.begin() as connection:
        connection.execute(delete(t.AuditEntry).where(t.AuditEntry.seq == 3))
        connection.execute(delete(t.Budget).where(t.Budget.area == 1))
    with transaction(factory) as session:
        problems = {problem.where: problem.what for problem in audit.verify(session)}
    assert "末尾记录被删除" in problems["audit_head"]
    assert "被删除" in problems["budgets:1"]
    assert "被插入" in problems["budgets:3"]  # its entry was the deleted tail


def test_zhida_audit_verify_names_the_edited_row_and_exits_1(ledger_url, pack, tmp_path):
    from typer.testing import CliRunner

    from zhida.cli import app
    from zhida.web.app import open_ledger_state

    state = open_ledger_state(pack, ledger_url, files=tmp_path / "files")  # seeds the 8 area budgets, audited
    runner = CliRunner()
    intact = runner.invoke(app, ["audit", "verify", "--database", ledger_url])
    assert intact.exit_code == 0 and "审计链完好:8 条记录" in intact.output
    with state.factory.kw["bind"].begin() as connection:
        # 三、…全市財政預算安排1.72億元, raised by a hand in the database to 17.2億元
        connection.execute(update(t.Budget).where(t.Budget.area == 3).values(yuan=Decimal("1720000000")))
    state.factory.kw["bind"].dispose()
    edited = runner.invoke(app, ["audit", "verify", "--database", ledger_url])
    assert edited.exit_code == 1
    assert "budgets:3: 该行与审计链记录的最后状态不符:在 zhida 之外被改动" in edited.output
