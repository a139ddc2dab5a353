"""The department console's pages (web/console_pages.py) on SQLite and PostgreSQL, driven as a browser
would: a session cookie from /login, forms with their hidden csrf_token and once fields, 303 after a change.

Hand-computed from the document:
- (二) 强化企业科技创新主体地位: "對首次認定的高新技術企業,每家給予最高20萬元獎勵" (rule high-tech-first, lead
  department 市科技局): the ceiling is 200,000.00 元; 200,000.01 元 is refused, 200,000 (or 20万) approved.
- (三) 創新券: "按實際發生服務費用給予最高50%比例的補助" (innovation-voucher): 100,000 元 of fees → 最高 50,000 元.
- 一、…全市財政預算安排17.25億元: area 1's budget 1,725,000,000.00 元.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ledger_helpers import code, ledger_app
from zhida.ledger import tables as t
from zhida.ledger.access import Refused, Role
from zhida.ledger.database import transaction
from zhida.web import console_pages
from zhida.web.console_pages import BEIJING, local_time, read_amount

A = code(201)
B = code(202, "330503")
CLAUSE = "对首次认定的高新技术企业,每家给予最高20万元奖励"


@pytest.fixture
def ledger(pack, ledger_url, tmp_path):
    ledger = ledger_app(pack, ledger_url, tmp_path / "files")
    ledger.subject(A, name="湖州甲科技有限公司", county="吴兴区")
    ledger.subject(B, name="湖州乙贸易有限公司", county="南浔区")
    ledger.user("a", Role.APPLICANT, subject_id=A)
    ledger.user("b", Role.APPLICANT, subject_id=B)
    yield ledger
    ledger.close()


@contextlib.contextmanager
def signed_in(ledger, username: str):
    """A browser of its own (cookie jar) signed in as `username`."""
    with TestClient(ledger.client.app, follow_redirects=False) as client:
        answer = client.post("/login", data={"username": username, "password": "password-" + username})
        assert answer.status_code == 303, answer.text
        yield client


def guard_fields(page: str) -> dict[str, str]:
    """The hidden csrf_token and once of the first guarded form on a page."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    once = re.search(r'name="once" value="([^"]+)"', page)
    assert token and once, "no guarded form on the page"
    return {"csrf_token": html.unescape(token[1]), "once": html.unescape(once[1])}


def high_tech(ledger, user: str = "a", subject: str = A, date: str = "2025-05-01") -> int:
    answer = ledger.post(user, "/api/v1/applications", {"subject_id": subject, "rule": "high-tech-first",
                                                        "event": {"date": date, "recognition": "首次认定"}})
    assert answer.status_code == 201, answer.text
    assert answer.json()["ceiling"] == "200000.00"
    return answer.json()["id"]


def voucher(ledger, user: str, subject: str, fee: str = "100000") -> int:
    answer = ledger.post(user, "/api/v1/applications", {"subject_id": subject, "rule": "innovation-voucher",
                                                        "event": {"date": "2025-03-01", "service_fee": fee}})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def decide(client, number: int, **fields):
    page = client.get(f"/console/applications/{number}")
    assert page.status_code == 200, page.text
    return client.post(f"/console/applications/{number}/decision", data={**guard_fields(page.text), **fields})


def text_of(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


# --------------------------------------------------------------------------- the case and its decision


def test_approve_at_the_ceiling_and_refuse_one_fen_above(ledger):
    number = high_tech(ledger)
    with signed_in(ledger, "kejiju") as client:
        page = client.get(f"/console/applications/{number}")
        assert page.status_code == 200
        words = text_of(page.text)
        # The clause beside the trace, and the calculator's ceiling.
        assert CLAUSE in words and "最高可得 200,000.00 元" in words
        assert "湖州甲科技有限公司" in words and A in words
        # 200,000.01 元: one 分 above 最高20万元 — refused with the ledger's reason, the form kept.
        over = decide(client, number, decision="approve", amount="200,000.01", reason="")
        assert over.status_code == 409
        words = text_of(over.text)
        assert "核定金额 200,000.01 元超过计算的最高可得 200,000.00 元(首次认定高新技术企业奖励);依据:" + CLAUSE in words
        assert 'value="200,000.01"' in over.text and "读作 200,000.01 元(20.000001 万元)" in words
        # 30万 = 300,000 元 is above it too.
        thirty = decide(client, number, decision="approve", amount="30万")
        assert thirty.status_code == 409 and "300,000.00 元超过" in text_of(thirty.text)
        # 20万 = 200,000.00 元: at the ceiling, approved; 303 to the case with the notice.
        done = decide(client, number, decision="approve", amount="20万", reason="按认定文件")
        assert done.status_code == 303
        shown = client.get(done.headers["location"])
        words = text_of(shown.text)
        assert f"申请 {number} 已核准,核定 200,000.00 元" in words and "公示至" in words
        assert "提交决定" not in words  # decided: no form any more
    with transaction(ledger.state.factory) as session:
        award = session.scalar(select(t.Award).where(t.Award.application_id == number))
        assert award.amount == Decimal("200000.00") and award.status == "publicity"


def test_a_budget_warning_follows_the_decision(ledger):
    # Area 1's budget lowered to 250,000 元: 200,000 committed is 80%, past the 70% line, under 90%.
    put = ledger.client.put("/api/v1/budgets", json={"area": 1, "yuan": "250000"}, headers=ledger.headers("admin"))
    assert put.status_code == 200, put.text
    number = high_tech(ledger)
    with signed_in(ledger, "kejiju") as client:
        done = decide(client, number, decision="approve", amount="200000")
        words = text_of(client.get(done.headers["location"]).text)
        assert "预算预警" in words
        assert "已承诺 200,000.00 元,达到预算 250,000.00 元的 70%,尚余 50,000.00 元" in words
        home = text_of(client.get("/console").text)
        assert "已达 70% 预警线" in home and "80.00%" in home


def test_times_are_shown_in_beijing_time():
    assert local_time(dt.datetime(2025, 6, 30, 17, 5)) == "2025-07-01 01:05"  # 17:05 UTC is 01:05 the next day


@pytest.mark.parametrize("typed, read", [("300000", "300000.00"), ("300,000", "300000.00"), ("30万", "300000.00"),
                                         ("30萬", "300000.00"), ("0.3亿", "30000000.00"), ("12.5", "12.50")])
def test_money_as_people_type_it(typed, read):
    assert read_amount(typed) == Decimal(read)


@pytest.mark.parametrize("typed", ["1e27", "1e3", "abc", "三十万", "-5", "0.001", "1.234567891万"])
def test_money_that_is_not_money_names_the_field(typed):
    with pytest.raises(Refused) as refused:
        read_amount(typed)
    assert refused.value.status == 422 and "核定金额" in refused.value.message


def test_bad_amount_and_missing_reason_keep_the_form(ledger):
    number = high_tech(ledger)
    with signed_in(ledger, "kejiju") as client:
        bad = decide(client, number, decision="approve", amount="1e27", reason="核对")
        assert bad.status_code == 422 and "核定金额" in text_of(bad.text) and 'value="1e27"' in bad.text
        bare = decide(client, number, decision="reject", amount="", reason="   ")
        assert bare.status_code == 422 and "理由" in text_of(bare.text)
        assert re.search(r'id="d-reject"[^>]*checked', bare.text)
        returned = decide(client, number, decision="return", reason="请补充认定证书")
        assert returned.status_code == 303
        words = text_of(client.get(returned.headers["location"]).text)
        assert "退回补正" in words and "请补充认定证书" in words
    assert ledger.get("a", f"/api/v1/applications/{number}").json()["status"] == "returned"


def history_of(page: str) -> list[str]:
    """The case page's history, each step without its time."""
    listed = re.search(r'<ol class="history">(.*?)</ol>', page, re.S).group(1)
    return [text_of(item).strip() for item in re.findall(r"</time>(.*?)</li>", listed, re.S)]


def test_the_history_keeps_a_return_after_the_resubmission(ledger):
    # 按实际发生服务费用给予最高50%比例的补助: 100,000 × 50% = 50,000.00, then 80,000 × 50% = 40,000.00.
    number = voucher(ledger, "a", A)
    with signed_in(ledger, "kejiju") as client:
        assert decide(client, number, decision="return", reason="请补充服务合同").status_code == 303
    again = ledger.post("a", f"/api/v1/applications/{number}/resubmit",
                        {"event": {"date": "2025-03-01", "service_fee": "80000"}})
    assert again.status_code == 200, again.text
    with signed_in(ledger, "kejiju") as client:
        steps = history_of(client.get(f"/console/applications/{number}").text)
    assert steps == ["提交申请 · 计算的最高可得 50,000.00 元", "退回补正 · 请补充服务合同",
                     "补正后重新提交 · 计算的最高可得 40,000.00 元"]


def test_hostile_and_unknown_ids_are_404_pages(ledger):
    other = voucher(ledger, "b", B)  # 创新券 is 市科技局's; 市商务局 may not see it
    with signed_in(ledger, "kejiju") as client:
        for path in ("abc", "999999", "%22%3C%3E", "1%27%20OR%201=1", "-1", "１"):
            page = client.get(f"/console/applications/{path}")
            assert page.status_code == 404, path
            assert '"<>' not in page.text
        assert client.get("/console/applications/1/attachments/abc").status_code == 404
    with signed_in(ledger, "shangwuju") as client:
        page = client.get(f"/console/applications/{other}")
        assert page.status_code == 404 and f"没有申请 {other}" in text_of(page.text)


def test_csrf_missing_and_leadership_are_refused(ledger):
    number = high_tech(ledger)
    with signed_in(ledger, "kejiju") as client:
        fields = guard_fields(client.get(f"/console/applications/{number}").text)
        forged = client.post(f"/console/applications/{number}/decision",
                             data={"once": fields["once"], "decision": "approve", "amount": "1000"})
        assert forged.status_code == 403 and "表单已失效" in text_of(forged.text)
    with signed_in(ledger, "leader") as client:
        assert client.get("/console").status_code == 403
        posted = client.post(f"/console/applications/{number}/decision",
                             data={"csrf_token": "x", "once": "k1", "decision": "approve", "amount": "1000"})
        assert posted.status_code == 403
    assert ledger.get("a", f"/api/v1/applications/{number}").json()["status"] == "submitted"
    with TestClient(ledger.client.app, follow_redirects=False) as anonymous:
        answer = anonymous.get("/console/queue")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")


def test_a_double_submit_decides_once(ledger):
    number = high_tech(ledger)
    with signed_in(ledger, "kejiju") as client:
        page = client.get(f"/console/applications/{number}")
        form = {**guard_fields(page.text), "decision": "approve", "amount": "150000"}
        first = client.post(f"/console/applications/{number}/decision", data=form)
        second = client.post(f"/console/applications/{number}/decision", data=form)
        assert first.status_code == second.status_code == 303
    with transaction(ledger.state.factory) as session:
        assert len(session.scalars(select(t.Award).where(t.Award.application_id == number)).all()) == 1


def test_attachment_download(ledger):
    number = voucher(ledger, "a", A)
    pdf = b"%PDF-1.4 test material\n"
    upload = ledger.client.post(f"/api/v1/applications/{number}/attachments", headers=ledger.headers("a"),
                                files={"file": ("服务合同.pdf", pdf, "application/pdf")})
    assert upload.status_code == 201, upload.text
    with signed_in(ledger, "kejiju") as client:
        page = client.get(f"/console/applications/{number}")
        link = re.search(r'href="(/console/applications/\d+/attachments/\d+)"', page.text)[1]
        got = client.get(link)
        assert got.status_code == 200 and got.content == pdf and got.headers["content-type"] == "application/pdf"
    with signed_in(ledger, "shangwuju") as client:
        assert client.get(link).status_code == 404


# --------------------------------------------------------------------------- the queue


def test_queue_filters(ledger):
    first = high_tech(ledger)
    second = voucher(ledger, "b", B)
    third = voucher(ledger, "a", A, "80000")
    with signed_in(ledger, "kejiju") as client:
        def ids(**params) -> list[int]:
            page = client.get("/console/queue", params=params)
            assert page.status_code == 200, page.text
            return [int(n) for n in re.findall(r'<a href="/console/applications/(\d+)">', page.text)]

        assert ids() == [third, second, first]  # newest first
        assert ids(county="南浔区") == [second]
        assert ids(county="南潯區") == [second]  # Traditional reads the same
        assert ids(rule="high-tech-first") == [first]
        assert ids(q="乙贸易") == [second]
        assert ids(q=A) == [third, first]
        assert ids(q="%") == [] and ids(q="_") == []  # LIKE's wildcards are just characters
        today = dt.datetime.now(BEIJING).date()  # dates typed in the filter are Beijing dates
        assert ids(start=today.isoformat(), end=today.isoformat()) == [third, second, first]
        assert ids(start=(today + dt.timedelta(days=1)).isoformat()) == []
        decide(client, first, decision="reject", reason="证书不符")
        assert ids(status="rejected") == [first] and ids(status="submitted") == [third, second]
        words = text_of(client.get("/console/queue").text)
        assert "共 3 条" in words and "湖州乙贸易有限公司" in words and "最高可得 50,000.00" in words
        for params, field in (({"county": "杭州市"}, "区县"), ({"page": "abc"}, "页码"), ({"start": "2025-02-30"}, "提交日期从"),
                              ({"status": "<script>"}, "状态"), ({"rule": "trade-fair-support"}, "政策")):
            bad = client.get("/console/queue", params=params)
            assert bad.status_code == 422 and field in text_of(bad.text), params
            assert "<script>" not in bad.text.split("<main")[1]
    with signed_in(ledger, "shangwuju") as client:
        assert "没有符合条件的申请" in text_of(client.get("/console/queue").text)


def test_queue_search_by_few_or_many_subjects_and_capped_subject_counts(ledger, monkeypatch):
    first = voucher(ledger, "a", A)
    second = voucher(ledger, "b", B)
    third = high_tech(ledger)
    with signed_in(ledger, "kejiju") as client:
        def found(**params) -> tuple[list[int], str]:
            page = client.get("/console/queue", params=params)
            assert page.status_code == 200, page.text
            return [int(n) for n in re.findall(r'<a href="/console/applications/(\d+)">', page.text)], text_of(page.text)

        # Few subjects found: their applications by subject; many: the queue newest first, tested on each.
        for limit in (console_pages.NAMED_SUBJECTS, 1, 0):
            monkeypatch.setattr(console_pages, "NAMED_SUBJECTS", limit)
            assert found(q="湖州")[0] == [third, second, first], limit  # both firms' names hold 湖州
            assert found(q="甲科技")[0] == [third, first] and found(q=B)[0] == [second], limit
            assert found(q="丙")[0] == [], limit
        # A filter on the subject counts up to SUBJECT_COUNT_CAP only, then says "more than".
        monkeypatch.setattr(console_pages, "SUBJECT_COUNT_CAP", 1)
        assert "共 1 条以上" in found(q="湖州")[1] and "共 1 条 " in found(q="乙贸易")[1]
        assert "共 1 条以上" in found(county="吴兴区")[1]
        assert "共 3 条 " in found()[1]  # no subject filter: COUNT_CAP (10,000)


def test_queue_pages_of_fifty(ledger):
    made = [voucher(ledger, "a", A, "100") for _ in range(53)]
    with signed_in(ledger, "kejiju") as client:
        first = client.get("/console/queue")
        rows = re.findall(r'<a href="/console/applications/(\d+)">', first.text)
        assert [int(n) for n in rows] == made[::-1][:50]
        assert "共 53 条" in text_of(first.text) and 'rel="prev"' not in first.text
        following = html.unescape(re.search(r'href="([^"]+)" rel="next"', first.text)[1])
        assert parse_qs(urlsplit(following).query)["page"] == ["2"]
        second = client.get(following)
        assert [int(n) for n in re.findall(r'<a href="/console/applications/(\d+)">', second.text)] == made[::-1][50:]
        assert 'rel="next"' not in second.text and 'rel="prev"' in second.text


# --------------------------------------------------------------------------- home, admin, budget


def test_home_lists_the_department_rules_and_area_budget(ledger):
    number = high_tech(ledger)
    with signed_in(ledger, "kejiju") as client:
        decide(client, number, decision="approve", amount="120000")
        voucher(ledger, "a", A)
        page = client.get("/console")
        assert page.status_code == 200
        words = text_of(page.text)
        # 一、…全市財政預算安排17.25億元
        assert "1,725,000,000.00" in words and "120,000.00" in words and "1,724,880,000.00" in words
        assert "首次认定高新技术企业奖励" in words and 'href="/policy/articles/2"' in page.text
        row = re.search(r"首次认定高新技术企业奖励.*?</tr>", page.text, re.S)[0]
        # 待审核 0 (decided), 已承诺 120,000.00 (on 公示: committed), 已拨付 0.00 (not paid yet).
        assert [c for c in re.findall(r'<td class="num">([^<]*)</td>', row)] == ["0", "120,000.00", "0.00"]
        voucher_row = re.search(r"创新券.*?</tr>", page.text, re.S)[0]
        assert re.findall(r'<td class="num">([^<]*)</td>', voucher_row)[0] == "1"  # the voucher waits
        budget = text_of(client.get("/console/budget").text)
        assert "吴兴区" in budget and "120,000.00" in budget
        assert client.get("/console?department=市商务局").status_code == 200  # a reviewer stays in its own
        assert "首次认定高新技术企业奖励" in text_of(client.get("/console?department=市商务局").text)


def test_admin_sees_every_department_and_may_pick_one(ledger):
    high_tech(ledger)
    with signed_in(ledger, "admin") as client:
        words = text_of(client.get("/console").text)
        assert "首次认定高新技术企业奖励" in words and "全部部门" in words
        one = client.get("/console", params={"department": "市商务局"})
        assert one.status_code == 200 and "首次认定高新技术企业奖励" not in text_of(one.text)
        assert client.get("/console", params={"department": "<b>x</b>"}).status_code == 404
        queue = client.get("/console/queue")
        assert len(re.findall(r'<a href="/console/applications/(\d+)', queue.text)) == 1
        case = client.get(re.search(r'href="(/console/applications/\d+)', queue.text)[1])
        assert case.status_code == 200 and "提交决定" not in case.text  # admin reads; the department decides


# --------------------------------------------------------------------------- 免申即享 proposals


def _proposals(ledger, *amounts: str) -> list[int]:
    with transaction(ledger.state.factory) as session:
        rows = [t.Proposal(subject_id=A, rule_id="high-tech-first", department="市科技局", event_id=f"e{n}",
                           event_date=dt.date(2025, 5, 1), verdict="ceiling", amount=Decimal(amount),
                           status="proposed", source="match.parquet") for n, amount in enumerate(amounts)]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def test_bulk_confirm_with_a_cap_refusal(ledger):
    # Two proposals of 150,000 for one firm: the first fits 每家最高20万元; the second has only 50,000 left.
    first, second, third = _proposals(ledger, "150000", "150000", "1000")
    with signed_in(ledger, "kejiju") as client:
        page = client.get("/console/proposals")
        assert page.status_code == 200 and page.text.count('name="ids"') == 3
        done = client.post("/console/proposals", data={**guard_fields(page.text), "ids": [str(first), str(second)],
                                                       "action": "confirm", "reason": ""})
        assert done.status_code == 303
        words = text_of(client.get(done.headers["location"]).text)
        assert "确认 1 项 · 未能确认 1 项" in words and f"建议 {second}" in words and "尚余 50,000.00 元" in words
        page = client.get("/console/proposals")
        empty = client.post("/console/proposals", data={**guard_fields(page.text), "ids": [str(third)], "action": "dismiss"})
        assert empty.status_code == 422 and "理由" in text_of(empty.text)
        assert re.search(rf'value="{third}"\s+checked', empty.text)
        dismissed = client.post("/console/proposals", data={**guard_fields(page.text), "ids": [str(third)],
                                                            "action": "dismiss", "reason": "登记有误"})
        assert dismissed.status_code == 303
        assert "不予确认 1 项" in text_of(client.get(dismissed.headers["location"]).text)
        hostile = client.post("/console/proposals", data={**guard_fields(page.text), "ids": ['"<>'], "action": "confirm"})
        assert hostile.status_code == 422
    with transaction(ledger.state.factory) as session:
        statuses = {row.id: row.status for row in session.scalars(select(t.Proposal))}
        assert statuses == {first: "confirmed", second: "proposed", third: "dismissed"}
    with signed_in(ledger, "shangwuju") as client:
        assert "没有符合条件的建议" in text_of(client.get("/console/proposals").text)


# --------------------------------------------------------------------------- targets


def test_targets_progress_report(ledger):
    # 年度新增专利密集型产品认定50件以上 (indicator-2), 0.2 of it to 市科技局 in 吴兴区: goal 50 × 0.2 = 10件.
    made = ledger.post("admin", "/api/v1/targets/indicator-2/assignments",
                       {"department": "市科技局", "county": "吴兴区", "share": "0.2"})
    assert made.status_code == 201, made.text
    assignment = made.json()["id"]
    with signed_in(ledger, "kejiju") as client:
        page = client.get("/console/targets", params={"county": "吴兴区"})
        assert page.status_code == 200 and "10件" in text_of(page.text) and "未报送" in text_of(page.text)
        action = f"/console/targets/assignments/{assignment}/progress"
        bad = client.post(action, data={**guard_fields(page.text), "value": "abc", "period": "2025-Q2", "as_of": "2025-06-30"})
        assert bad.status_code == 422 and "累计值" in text_of(bad.text) and 'value="abc"' in bad.text
        # 3件 by 2025-06-30: 181/365 of the year gone, 10 × 181/365 = 4.96 > 3: behind (滞后).
        done = client.post(action, data={**guard_fields(page.text), "value": "3", "period": "2025-Q2", "as_of": "2025-06-30"})
        assert done.status_code == 303
        words = text_of(client.get(done.headers["location"]).text)
        assert "已报送责任分解" in words and "滞后" in words
    with signed_in(ledger, "shangwuju") as client:
        page = client.get("/console/targets")
        assert f"/console/targets/assignments/{assignment}/progress" not in page.text
        other = client.post(f"/console/targets/assignments/{assignment}/progress",
                            data={**guard_fields(page.text), "value": "12", "period": "2025", "as_of": "2025-12-31"})
        assert other.status_code == 403
