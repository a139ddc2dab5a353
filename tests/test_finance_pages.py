"""The finance pages on SQLite and PostgreSQL: a batch of the payable awards, the bank's answers
(paid; failed with its reason), a retry, and who may do what.

The awards, computed by hand from the document:
- (三) 创新券 "按实际发生服务费用给予最高50%比例的补助,单个企业全年最高补助20万元" (市科技局):
  甲 (吴兴区) 300,000 元 of fees → 最高 150,000, approved 120,000.00; 乙 (南浔区) 100,000 → 50,000.00.
- (三十) "市、区两级对短期出口信用保险保费给予不低于60%的补助,单家企业保费补助金额不超过100万元"
  (市商务局): 丙 (长兴县) 500,000 元 of premium × 60% = 300,000.00.
Cash committed: 120,000 + 50,000 + 300,000 = 470,000.00 元.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select

from ledger_helpers import code, ledger_app
from zhida.ledger import audit, payments
from zhida.ledger import tables as t
from zhida.ledger.access import Role
from zhida.ledger.accounts import actor_of
from zhida.ledger.database import transaction
from zhida.web import finance_pages

A = code(201)
B = code(202, "330503")
C = code(203, "330522")


@pytest.fixture
def ledger(pack, ledger_url, tmp_path):
    ledger = ledger_app(pack, ledger_url, tmp_path / "files")
    yield ledger
    ledger.close()


def award_three(ledger) -> dict[str, int]:
    """The three awards of the module docstring, decided by their departments (in 公示); award ids by subject."""
    ledger.subject(A, name="湖州甲科技有限公司", county="吴兴区")
    ledger.subject(B, name="湖州乙科技有限公司", county="南浔区")
    ledger.subject(C, name="湖州丙外贸有限公司", county="长兴县")
    for user, subject in (("a", A), ("b", B), ("c", C)):
        ledger.user(user, Role.APPLICANT, subject_id=subject)
    claims = (
        ("a", A, "innovation-voucher", {"date": "2025-03-01", "service_fee": "300000"}, "kejiju", "120000"),
        ("b", B, "innovation-voucher", {"date": "2025-04-01", "service_fee": "100000"}, "kejiju", "50000"),
        ("c", C, "export-credit-insurance", {"date": "2025-05-01", "premium": "500000"}, "shangwuju", "300000"),
    )
    awards = {}
    for user, subject, rule, event, reviewer, amount in claims:
        applied = ledger.post(user, "/api/v1/applications", {"subject_id": subject, "rule": rule, "event": event})
        assert applied.status_code == 201, applied.text
        decided = ledger.post(reviewer, f"/api/v1/applications/{applied.json()['id']}/decision",
                              {"decision": "approve", "amount": amount})
        assert decided.status_code == 200, decided.text
        awards[subject] = decided.json()["award"]["id"]
    return awards


def end_publicity(ledger) -> None:
    """Every award's 公示 ended long ago (as if the five working days had passed)."""
    with transaction(ledger.state.factory) as session:
        for award in session.scalars(select(t.Award).where(t.Award.status == "publicity")):
            award.publicity_until = dt.date(2000, 1, 1)
            audit.record(session, "admin", "award.test", award)


def signed_in(ledger, username: str):
    """The app's client with `username`'s session cookie (a page reader, not a bearer)."""
    ledger.client.cookies.clear()
    answer = ledger.client.post("/login", data={"username": username, "password": "password-" + username},
                                follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return ledger.client


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self.forms.append((attributes.get("action", ""), {}))
        elif tag == "input" and self.forms and attributes.get("type") == "hidden":
            self.forms[-1][1][attributes["name"]] = attributes.get("value", "")


def hidden(html: str, action: str, **match: str) -> dict[str, str]:
    """The hidden fields of the first form posting to `action` whose hidden fields include `match`."""
    parser = _Forms()
    parser.feed(html)
    for target, fields in parser.forms:
        if target == action and all(fields.get(name) == value for name, value in match.items()):
            return fields
    raise AssertionError(f"no form to {action} with {match}")


def cell_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def payment_ids(ledger, batch: int) -> dict[int, int]:
    with transaction(ledger.state.factory) as session:
        return dict(session.execute(select(t.Payment.award_id, t.Payment.id).where(t.Payment.batch_id == batch)).all())


def award_status(ledger, user: str, award: int) -> str:
    answer = ledger.get(user, f"/api/v1/awards/{award}")
    assert answer.status_code == 200, answer.text
    return answer.json()["status"]


def test_batch_paid_failed_and_retried(ledger):
    awards = award_three(ledger)
    client = signed_in(ledger, "finance")
    page = client.get("/finance")
    assert page.status_code == 200
    # Still in 公示 (5 working days): nothing is payable, and a batch is refused with the ledger's sentence.
    assert "待拨付</div><div class=\"figure\">0 笔" in page.text
    refused = client.post("/finance/batches", data=hidden(page.text, "/finance/batches") | {"department": ""})
    assert refused.status_code == 409 and "没有待拨付的奖补" in refused.text
    end_publicity(ledger)
    page = client.get("/finance")
    text = cell_text(page.text)
    assert "待拨付 3 笔 470,000.00 元" in text
    assert "市商务局 1 300,000.00" in text and "市科技局 2 170,000.00" in text  # 120,000 + 50,000
    form = hidden(page.text, "/finance/batches") | {"department": ""}
    made = client.post("/finance/batches", data=form, follow_redirects=False)
    assert made.status_code == 303
    batch = int(re.fullmatch(r"/finance/batches/(\d+)\?done=made", made.headers["location"])[1])
    # The same form posted again (a double click) makes no second batch: the same answer.
    again = client.post("/finance/batches", data=form, follow_redirects=False)
    assert again.headers["location"] == made.headers["location"]
    with transaction(ledger.state.factory) as session:
        assert session.scalar(select(func.count()).select_from(t.PaymentBatch)) == 1
    page = client.get(made.headers["location"])
    text = cell_text(page.text)
    assert "已生成拨付批次" in text
    assert "合计 3 笔 470,000.00 元" in text and "待银行回单 3 笔 470,000.00 元" in text
    assert f'href="/export/payments/{batch}.xlsx"' in page.text and f'href="/export/payments/{batch}.csv"' in page.text
    assert f'href="/api/v1/payment-batches/{batch}?format=xlsx"' in page.text
    pay = payment_ids(ledger, batch)
    action = f"/finance/batches/{batch}/mark"
    # 甲: paid. The applicant sees the award paid.
    answer = client.post(action, data=hidden(page.text, action, payment=str(pay[awards[A]]), outcome="paid"),
                         follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].endswith("done=paid")
    assert award_status(ledger, "a", awards[A]) == "paid"
    # 乙: failed without a reason is refused, the page shown again with the message …
    page = client.get(f"/finance/batches/{batch}")
    failing = hidden(page.text, action, payment=str(pay[awards[B]]), outcome="failed")
    blank = client.post(action, data=failing | {"reason": "  "})
    assert blank.status_code == 422 and "拨付失败须填写银行退回原因" in blank.text
    assert award_status(ledger, "b", awards[B]) == "in_batch"
    # … then with the bank's reason (a fresh form: the refused one's key stays refused).
    page = client.get(f"/finance/batches/{batch}")
    failing = hidden(page.text, action, payment=str(pay[awards[B]]), outcome="failed")
    assert client.post(action, data=failing | {"reason": "账户已销户"}, follow_redirects=False).status_code == 303
    assert award_status(ledger, "b", awards[B]) == "failed"
    # 丙: every payment still waiting, marked paid at once.
    page = client.get(f"/finance/batches/{batch}")
    assert "本批次待回单的 1 笔全部登记为已拨付" in page.text
    rest = client.post(f"/finance/batches/{batch}/paid", data=hidden(page.text, f"/finance/batches/{batch}/paid"),
                       follow_redirects=False)
    assert rest.status_code == 303 and award_status(ledger, "c", awards[C]) == "paid"
    text = cell_text(client.get(f"/finance/batches/{batch}").text)
    assert "已拨付 2 笔 420,000.00 元" in text and "拨付失败 1 笔 50,000.00 元" in text and "账户已销户" in text
    # The failure is listed on /finance with its reason, and retried into a new batch.
    page = client.get("/finance")
    text = cell_text(page.text)
    assert "拨付失败 1 笔 50,000.00 元" in text and "已拨付 2 笔 420,000.00 元" in text
    assert f'name="award" value="{awards[B]}" checked' in page.text and "账户已销户" in text
    nothing = client.post("/finance/retry", data=hidden(page.text, "/finance/retry"))
    assert nothing.status_code == 422 and "请至少勾选一项" in nothing.text
    page = client.get("/finance")
    retried = client.post("/finance/retry", data=hidden(page.text, "/finance/retry") | {"award": str(awards[B])},
                          follow_redirects=False)
    assert retried.status_code == 303 and retried.headers["location"].endswith("done=retried")
    second = int(re.search(r"/finance/batches/(\d+)", retried.headers["location"])[1])
    assert second != batch and list(payment_ids(ledger, second)) == [awards[B]]
    page = client.get(f"/finance/batches/{second}")
    assert client.post(f"/finance/batches/{second}/mark", follow_redirects=False, data=hidden(
        page.text, f"/finance/batches/{second}/mark", outcome="paid")).status_code == 303
    assert award_status(ledger, "b", awards[B]) == "paid"
    text = cell_text(client.get("/finance").text)
    assert "已拨付 3 笔 470,000.00 元" in text and "没有拨付失败的奖补" in text
    with transaction(ledger.state.factory) as session:
        assert audit.verify(session) == []


def test_payable_from_both_reads_and_the_latest_failure(ledger):
    """Payable counts awards already released (status payable) and those whose 公示 has ended, in one
    department's row; a failure twice over shows its latest batch and reason; the batches list takes
    the newest first (its limit before the sums)."""
    awards = award_three(ledger)
    end_publicity(ledger)
    with transaction(ledger.state.factory) as session:  # 甲 released already (make_batch's first step)
        session.get(t.Award, awards[A]).status = "payable"
    text = cell_text(signed_in(ledger, "finance").get("/finance").text)
    assert "待拨付 3 笔 470,000.00 元" in text and "市科技局 2 170,000.00" in text  # 120,000 + 50,000
    with transaction(ledger.state.factory) as session:
        finance = actor_of(session.scalar(select(t.User).where(t.User.username == "finance")))
        first = payments.make_batch(session, finance, department="市科技局", today=dt.date.today())
        for payment in session.scalars(select(t.Payment).where(t.Payment.batch_id == first.id)):
            payments.mark(session, finance, payment.id, payment.award_id == awards[A], "账户已销户")
        second = payments.retry(session, finance, [awards[B]])
        payment = session.scalars(select(t.Payment).where(t.Payment.batch_id == second.id)).one()
        payments.mark(session, finance, payment.id, False, "户名与账号不符")
        shown = finance_pages.failures(session, {})
        assert [(row["award"], row["batch"], row["reason"], row["amount"]) for row in shown] == [
            (awards[B], second.id, "户名与账号不符", Decimal("50000.00"))]
        latest = finance_pages.recent_batches(session, limit=1)
        assert [(row["id"], row["count"], row["amount"], row["failed"]) for row in latest] == [
            (second.id, 1, Decimal("50000.00"), 1)]
    text = cell_text(signed_in(ledger, "finance").get("/finance").text)
    assert "待拨付 1 笔 300,000.00 元" in text and "市商务局 1 300,000.00" in text and "市科技局 " not in text
    assert "拨付失败 1 笔 50,000.00 元" in text and "已拨付 1 笔 120,000.00 元" in text
    assert "户名与账号不符" in text and "账户已销户" not in text


def test_only_finance_changes_payments(ledger):
    award_three(ledger)
    end_publicity(ledger)
    anonymous = ledger.client.get("/finance", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login?next=%2Ffinance"
    finance_page = signed_in(ledger, "finance").get("/finance").text
    for user in ("leader", "kejiju", "a"):
        client = signed_in(ledger, user)
        assert client.get("/finance").status_code == 403
        posted = client.post("/finance/batches", data=hidden(finance_page, "/finance/batches"))
        assert posted.status_code == 403 and "财政" in posted.text
    # Finance's own session, with a token that is not its session's: refused, nothing made.
    client = signed_in(ledger, "finance")
    forged = client.post("/finance/batches", data=hidden(finance_page, "/finance/batches") | {"csrf_token": "x"})
    assert forged.status_code == 403 and "表单已失效" in forged.text
    with transaction(ledger.state.factory) as session:
        assert session.scalar(select(func.count()).select_from(t.PaymentBatch)) == 0


def test_unknown_and_hostile_batches_are_404(ledger):
    client = signed_in(ledger, "finance")
    for path in ("/finance/batches/999", "/finance/batches/1%27%22%3Cb%3E", "/finance/batches/%EF%BC%91"):
        answer = client.get(path)
        assert answer.status_code == 404 and "没有拨付批次" in answer.text, path
        assert "<b>" not in answer.text
    page = client.get("/finance")
    posted = client.post("/finance/batches/999/mark", data=hidden(page.text, "/finance/batches") | {
        "payment": "1", "outcome": "paid"})
    assert posted.status_code == 404
