"""Payments: a batch of the confirmed 免申即享 awards, one paid, one failed and retried, never paid twice."""

from __future__ import annotations

import csv
import datetime as dt
import io
import stat
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from test_ledger_proposals import EXPORTER, FIRM, PERSON, ROWS, SUBJECTS, TODAY, ledger, subjects_file, write  # noqa: F401
from zhida.cli_ledger import write_file
from zhida.ledger import audit
from zhida.ledger import tables as t
from zhida.ledger.access import Refused, Role
from zhida.ledger.accounts import actor_of, add_user
from zhida.ledger.payments import article_label, csv_bytes, export_bytes, export_rows, make_batch, mark, retry, xlsx_bytes
from zhida.ledger.proposals import confirm_proposals, import_proposals

AFTER_PUBLICITY = dt.date(2025, 9, 9)  # 公示 of awards made Mon 1 Sep ends Mon 8 Sep (5 working days)


@pytest.fixture
def awarded(ledger, pack, tmp_path):
    """The three money rows of ROWS confirmed by their departments: three cash awards in 公示."""
    factory, actors = ledger
    register = [dict(SUBJECTS[0]), {**SUBJECTS[1], "name": "=1+1外贸"}, dict(SUBJECTS[2])]  # a formula-like name
    with transaction_of(factory) as session:
        import_proposals(session, pack, actors["admin"], write(tmp_path, ROWS), subjects_file(tmp_path, register))
        finance = add_user(session, "caizheng", "password-1", Role.FINANCE)
        actors["finance"] = actor_of(finance)
    awards = {}
    with transaction_of(factory) as session:
        ids = {p.event_id: p.id for p in session.scalars(select(t.Proposal))}
        for event, reviewer in (("IV1", "keji"), ("T1", "fagai"), ("EX1", "shangwu")):
            outcome = confirm_proposals(session, pack, actors[reviewer], [ids[event]], TODAY)
            awards[event] = outcome.confirmed[0][1]
    return factory, actors, awards


def transaction_of(factory):
    from zhida.ledger.database import transaction

    return transaction(factory)


def test_batch_mark_retry_and_never_twice(awarded, pack):
    factory, actors, awards = awarded
    finance = actors["finance"]
    with pytest.raises(Refused) as refused, transaction_of(factory) as session:
        make_batch(session, finance, today=dt.date(2025, 9, 8))  # 公示 still running on its last day
    assert (refused.value.status, refused.value.message) == (409, "没有待拨付的奖补")
    with transaction_of(factory) as session:
        batch = make_batch(session, finance, today=AFTER_PUBLICITY)
        payments = {p.award_id: p for p in session.scalars(select(t.Payment).where(t.Payment.batch_id == batch.id))}
    assert {award: (p.amount, p.status) for award, p in payments.items()} == {
        awards["IV1"]: (Decimal("30000.00"), "pending"),
        awards["T1"]: (Decimal("2000.00"), "pending"),
        awards["EX1"]: (Decimal("1000000.00"), "pending"),
    }
    with pytest.raises(Refused) as refused, transaction_of(factory) as session:
        mark(session, finance, payments[awards["EX1"]].id, False, "  ")
    assert refused.value.status == 422 and "银行退回原因" in refused.value.message
    with transaction_of(factory) as session:
        mark(session, finance, payments[awards["IV1"]].id, True)
        mark(session, finance, payments[awards["EX1"]].id, False, "账户已销户")
        statuses = {award.id: award.status for award in session.scalars(select(t.Award))}
    assert statuses == {awards["IV1"]: "paid", awards["T1"]: "in_batch", awards["EX1"]: "failed"}
    with pytest.raises(Refused) as refused, transaction_of(factory) as session:
        mark(session, finance, payments[awards["IV1"]].id, False, "x")
    assert refused.value.status == 409 and "已拨付" in refused.value.message
    # A second payment of a paid award, or of one still pending at the bank: the code refuses it …
    for event, words in (("IV1", "已有已拨付的拨付"), ("T1", "已有待银行回单的拨付")):
        with pytest.raises(Refused) as refused, transaction_of(factory) as session:
            retry(session, finance, [awards[event]])
        assert refused.value.status == 409 and f"奖补 {awards[event]} {words}" in refused.value.message
    # … and so does the database (ux_payments_award_live), should anything get past the code.
    for event in ("IV1", "T1"):
        with pytest.raises(IntegrityError), transaction_of(factory) as session:
            session.execute(insert(t.Payment).values(batch_id=batch.id, award_id=awards[event], amount=Decimal("1.00"),
                                                     status="pending"))
    with transaction_of(factory) as session:
        again = retry(session, finance, [awards["EX1"]])
        payment = session.scalars(select(t.Payment).where(t.Payment.batch_id == again.id)).one()
        mark(session, finance, payment.id, True)
        assert session.get(t.Award, awards["EX1"]).status == "paid"
        # the failed payment stays, with the bank's reason; the live one is the retry's
        history = session.execute(select(t.Payment.status, t.Payment.bank_reason)
                                  .where(t.Payment.award_id == awards["EX1"]).order_by(t.Payment.id)).all()
        assert [tuple(row) for row in history] == [("failed", "账户已销户"), ("paid", None)]
        assert audit.verify(session) == []


def test_only_finance_writes_and_leadership_reads(awarded):
    factory, actors, _ = awarded
    for who in ("lead", "keji"):
        with pytest.raises(Refused) as refused, transaction_of(factory) as session:
            make_batch(session, actors[who], today=AFTER_PUBLICITY)
        assert refused.value.status == 403 and "财政" in refused.value.message
    with transaction_of(factory) as session:
        assert session.scalar(select(func.count()).select_from(t.PaymentBatch)) == 0


def test_batch_by_department_and_export(awarded, pack, tmp_path):
    factory, actors, awards = awarded
    with transaction_of(factory) as session:
        batch = make_batch(session, actors["finance"], department="市商务局", today=AFTER_PUBLICITY)
        rows = export_rows(session, pack, actors["finance"], batch.id)
    assert [(r.award_id, r.subject_id, r.amount) for r in rows] == [(awards["EX1"], EXPORTER, Decimal("1000000.00"))]
    with transaction_of(factory) as session:
        second = make_batch(session, actors["finance"], today=AFTER_PUBLICITY)
        rows = export_rows(session, pack, actors["finance"], second.id)
        with pytest.raises(Refused):
            export_rows(session, pack, actors["lead"], second.id)  # full identity numbers: finance only
    assert [(r.number, r.subject_id, r.article, r.amount) for r in rows] == [
        (1, FIRM, "(三)", Decimal("30000.00")), (2, PERSON, "(十七)", Decimal("2000.00"))]
    text = csv_bytes(rows)
    assert text.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))
    assert table[0] == ["批次", "序号", "主体名称", "统一社会信用代码/身份证号码", "政策", "条款", "金额(元)", "状态"]
    assert table[2] == [str(second.id), "2", "居民7", PERSON, "一级能效家电换新补贴", "(十七)", "2000.00", "待银行回单"]
    with transaction_of(factory) as session:
        first_rows = export_rows(session, pack, actors["finance"], batch.id)
    path = tmp_path / "batch.xlsx"
    write_file(path, export_bytes(path, first_rows))
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    sheet = openpyxl.load_workbook(path).active
    cells = [cell.value for cell in sheet[2]]
    assert cells[2] == "'=1+1外贸"  # neutralised: a bank clerk's Excel does not run it
    assert cells[3] == EXPORTER and cells[6] == 1000000 and sheet.cell(row=2, column=7).number_format == "#,##0.00"
    assert xlsx_bytes(first_rows)[:2] == b"PK"


def test_article_labels_follow_the_document():
    assert [article_label(n) for n in (1, 3, 10, 17, 30, 52)] == ["(一)", "(三)", "(十)", "(十七)", "(三十)", "(五十二)"]


# --------------------------------------------------------------------------- HTTP


def test_http_proposals_and_payments(pack, ledger_url, tmp_path):
    import warnings

    from zhida.ledger.accounts import issue
    from zhida.web.app import create_app, open_ledger_state

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient` is deprecated")
        from fastapi.testclient import TestClient

    state = open_ledger_state(pack, ledger_url, files=tmp_path / "files")
    tokens = {}
    with transaction_of(state.factory) as session:
        for name, role, department in (("admin", Role.ADMIN, None), ("keji", Role.REVIEWER, "市科技局"),
                                       ("fagai", Role.REVIEWER, "市发展改革委"), ("caizheng", Role.FINANCE, None),
                                       ("lead", Role.LEADERSHIP, None)):
            user = add_user(session, name, "password-1", role, department=department)
            tokens[name] = issue(session, user, "token")[0]
        actor = actor_of(session.scalars(select(t.User).where(t.User.username == "admin")).one())
        import_proposals(session, pack, actor, write(tmp_path, ROWS), subjects_file(tmp_path))

    def headers(name, key=None):
        return {"Authorization": f"Bearer {tokens[name]}", **({"Idempotency-Key": key} if key else {})}

    try:
        with TestClient(create_app(pack, state)) as client:
            listed = client.get("/api/v1/proposals", headers=headers("keji")).json()["proposals"]
            assert [(p["event_id"], p["amount"], p["verdict"]) for p in listed] == [("IV1", "30000.00", "ceiling")]
            assert client.get("/api/v1/proposals?department=市商务局", headers=headers("keji")).status_code == 403
            assert len(client.get("/api/v1/proposals", headers=headers("lead")).json()["proposals"]) == 3
            iv1 = listed[0]["id"]
            assert client.post("/api/v1/proposals/confirm", json={"ids": [iv1]}, headers=headers("keji")).status_code == 428
            answer = client.post("/api/v1/proposals/confirm", json={"ids": [iv1]}, headers=headers("keji", "c-1"))
            assert answer.status_code == 200, answer.text
            [confirmed] = answer.json()["confirmed"]
            replay = client.post("/api/v1/proposals/confirm", json={"ids": [iv1]}, headers=headers("keji", "c-1"))
            assert replay.json() == answer.json() and replay.headers["Idempotent-Replayed"] == "true"
            t1 = [p["id"] for p in client.get("/api/v1/proposals?status=proposed", headers=headers("fagai")).json()["proposals"]]
            dismissed = client.post("/api/v1/proposals/dismiss", json={"ids": t1, "reason": "重复申报"}, headers=headers("fagai", "d-1"))
            assert dismissed.json()["dismissed"] == t1
            # the award of IV1 is in 公示 until 8 Sep 2025 at the latest; make it payable as release_due would
            with transaction_of(state.factory) as session:
                award = session.get(t.Award, confirmed["award"])
                award.publicity_until = dt.date(2000, 1, 1)
                audit.record(session, "keji", "award.test", award)
            assert client.post("/api/v1/payment-batches", json={}, headers=headers("lead", "b-0")).status_code == 403
            made = client.post("/api/v1/payment-batches", json={}, headers=headers("caizheng", "b-1"))
            assert made.status_code == 201, made.text
            batch = made.json()
            assert (batch["total"], [p["amount"] for p in batch["payments"]]) == ("30000.00", ["30000.00"])
            assert client.get(f"/api/v1/payment-batches/{batch['id']}", headers=headers("lead")).json()["total"] == "30000.00"
            assert client.get(f"/api/v1/payment-batches/{batch['id']}?format=csv", headers=headers("lead")).status_code == 403
            download = client.get(f"/api/v1/payment-batches/{batch['id']}?format=csv", headers=headers("caizheng"))
            assert download.content.startswith("\ufeff批次".encode()) and FIRM.encode() in download.content
            xlsx = client.get(f"/api/v1/payment-batches/{batch['id']}?format=xlsx", headers=headers("caizheng"))
            assert xlsx.content[:2] == b"PK" and "attachment" in xlsx.headers["content-disposition"]
            payment = batch["payments"][0]["id"]
            failed = client.post(f"/api/v1/payments/{payment}/mark", json={"paid": False}, headers=headers("caizheng", "m-0"))
            assert failed.status_code == 422 and "银行退回原因" in failed.json()["detail"]
            failed = client.post(f"/api/v1/payments/{payment}/mark", json={"paid": False, "bank_reason": "户名不符"},
                                 headers=headers("caizheng", "m-1"))
            assert failed.json()["status"] == "failed"
            again = client.post("/api/v1/payments/retry", json={"award_ids": [confirmed["award"]]}, headers=headers("caizheng", "r-1"))
            assert again.status_code == 201 and again.json()["total"] == "30000.00"
            paid = client.post(f"/api/v1/payments/{again.json()['payments'][0]['id']}/mark", json={"paid": True},
                               headers=headers("caizheng", "m-2"))
            assert paid.json()["status"] == "paid"
            twice = client.post("/api/v1/payments/retry", json={"award_ids": [confirmed["award"]]}, headers=headers("caizheng", "r-2"))
            assert twice.status_code == 409 and "已有已拨付的拨付" in twice.json()["detail"]
        with transaction_of(state.factory) as session:
            assert audit.verify(session) == []
    finally:
        state.factory.kw["bind"].dispose()


def test_cli_batch_export_and_mark(awarded, ledger_url, tmp_path):
    from typer.testing import CliRunner

    from zhida.cli import app

    factory, actors, awards = awarded
    with transaction_of(factory) as session:  # their 公示 over: as release_due would find them on 9 Sep 2025
        for award in session.scalars(select(t.Award)):
            award.publicity_until = dt.date(2000, 1, 1)
            audit.record(session, "test", "award.test", award)
    database = ["--database", ledger_url]
    run = CliRunner().invoke
    denied = run(app, ["payments", "batch", "--user", "lead", *database])
    assert denied.exit_code == 2 and "财政" in denied.output
    made = run(app, ["payments", "batch", "--user", "caizheng", "--department", "市科技局", *database])
    assert made.exit_code == 0, made.output
    assert "1 笔,合计 30,000.00 元" in made.output
    with transaction_of(factory) as session:
        batch_id, payment_id = session.execute(select(t.Payment.batch_id, t.Payment.id)).one()
    out = tmp_path / "bank.csv"
    exported = run(app, ["payments", "export", str(batch_id), "-o", str(out), "--user", "caizheng", *database])
    assert exported.exit_code == 0, exported.output
    assert out.read_bytes().startswith("\ufeff批次".encode()) and FIRM in out.read_text(encoding="utf-8-sig")
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    missing = tmp_path / "missing" / "bank.csv"  # a folder that is not there: one sentence, not a traceback
    refused = run(app, ["payments", "export", str(batch_id), "-o", str(missing), "--user", "caizheng", *database])
    assert refused.exit_code == 2 and "无法写入" in refused.output and not missing.parent.exists()
    both = run(app, ["payments", "mark", str(payment_id), "--paid", "--failed", "x", "--user", "caizheng", *database])
    assert both.exit_code == 2
    failed = run(app, ["payments", "mark", str(payment_id), "--failed", "账户冻结", "--user", "caizheng", *database])
    assert failed.exit_code == 0 and "拨付失败" in failed.output
    with transaction_of(factory) as session:
        assert session.get(t.Award, awards["IV1"]).status == "failed"
        assert session.get(t.Payment, payment_id).bank_reason == "账户冻结"
