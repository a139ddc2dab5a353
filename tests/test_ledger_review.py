"""Applications, decisions and awards through the HTTP API, on SQLite and PostgreSQL.

Hand-computed from (三) 創新券: "按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元"
(rule innovation-voucher, lead department 市科技局).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ledger_helpers import code, ledger_app
from zhida.ledger import audit, review
from zhida.ledger import tables as t
from zhida.ledger.access import Role
from zhida.ledger.database import transaction
from zhida.ledger.workdays import CHINA_2025_2026, add_working_days

A = code(101)
B = code(102, "330503")


@pytest.fixture
def ledger(pack, ledger_url, tmp_path):
    ledger = ledger_app(pack, ledger_url, tmp_path / "files")
    ledger.subject(A, name="湖州甲科技有限公司", county="吴兴区")
    ledger.subject(B, name="湖州乙科技有限公司", county="南浔区")
    ledger.user("a", Role.APPLICANT, subject_id=A)
    ledger.user("b", Role.APPLICANT, subject_id=B)
    yield ledger
    ledger.close()


def voucher(ledger, user: str, subject: str, fee: str, date: str = "2025-03-01"):
    return ledger.post(user, "/api/v1/applications",
                       {"subject_id": subject, "rule": "innovation-voucher", "event": {"date": date, "service_fee": fee}})


def test_the_annual_cap_counts_every_approved_award(ledger):
    # 300,000 元 of service fees: 50% → 最高 150,000 元.
    first = voucher(ledger, "a", A, "300000")
    assert first.status_code == 201, first.text
    assert first.json()["ceiling"] == "150000.00" and first.json()["status"] == "submitted"
    # The reviewer awards less than the ceiling (最高: the department decides within it).
    decided = ledger.post("kejiju", f"/api/v1/applications/{first.json()['id']}/decision",
                          {"decision": "approve", "amount": "120000", "reason": "按核定服务费"})
    assert decided.status_code == 200, decided.text
    award = decided.json()["award"]
    assert award["amount"] == "120000.00" and award["status"] == "publicity"
    assert award["publicity_until"] == add_working_days(dt.date.today(), 5, CHINA_2025_2026).isoformat()
    # A second claim the same year: 200,000 × 50% = 100,000, but only 200,000 − 120,000 = 80,000 is left.
    second = voucher(ledger, "a", A, "200000", "2025-06-01")
    assert second.json()["ceiling"] == "80000.00"
    trace = ledger.get("a", f"/api/v1/applications/{second.json()['id']}").json()["trace"]
    assert any("已累计 120,000.00 元" in line and "尚余 80,000.00 元" in line for line in trace)
    over = ledger.post("kejiju", f"/api/v1/applications/{second.json()['id']}/decision",
                       {"decision": "approve", "amount": "90000"})
    assert over.status_code == 409 and "超过计算的最高可得 80,000.00 元" in over.json()["detail"]
    exact = ledger.post("kejiju", f"/api/v1/applications/{second.json()['id']}/decision",
                        {"decision": "approve", "amount": "80000"})
    assert exact.status_code == 200 and exact.json()["award"]["amount"] == "80000.00"
    # The cap is spent: a third claim computes 0 and cannot be approved.
    third = voucher(ledger, "a", A, "10000", "2025-09-01")
    assert third.json()["ceiling"] == "0.00"
    zero = ledger.post("kejiju", f"/api/v1/applications/{third.json()['id']}/decision", {"decision": "approve"})
    assert zero.status_code == 422 and "大于 0" in zero.json()["detail"]
    with transaction(ledger.state.factory) as session:
        assert session.scalar(select(func.sum(t.Award.amount)).where(t.Award.subject_id == A)) == 200000
        assert audit.verify(session) == []


def test_a_cap_is_checked_again_at_decision(ledger):
    # Two claims submitted before either is decided each see 150,000 and 100,000 …
    first = voucher(ledger, "a", A, "300000").json()
    second = voucher(ledger, "a", A, "200000", "2025-06-01").json()
    assert (first["ceiling"], second["ceiling"]) == ("150000.00", "100000.00")
    assert ledger.post("kejiju", f"/api/v1/applications/{first['id']}/decision", {"decision": "approve"}).status_code == 200
    # … but the second is decided after the first took 150,000: the ceiling is recomputed to 50,000.
    late = ledger.post("kejiju", f"/api/v1/applications/{second['id']}/decision", {"decision": "approve", "amount": "100000"})
    assert late.status_code == 409 and "超过计算的最高可得 50,000.00 元" in late.json()["detail"]
    ok = ledger.post("kejiju", f"/api/v1/applications/{second['id']}/decision", {"decision": "approve", "amount": "50000"})
    assert ok.json()["ceiling"] == "50000.00" and ok.json()["award"]["amount"] == "50000.00"


def test_reject_return_resubmit_and_withdraw(ledger):
    app = voucher(ledger, "a", A, "100000").json()
    no_reason = ledger.post("kejiju", f"/api/v1/applications/{app['id']}/decision", {"decision": "return"})
    assert no_reason.status_code == 422 and "理由" in no_reason.json()["detail"]
    returned = ledger.post("kejiju", f"/api/v1/applications/{app['id']}/decision",
                           {"decision": "return", "reason": "请补充服务合同与发票"})
    assert returned.json()["status"] == "returned" and returned.json()["reason"] == "请补充服务合同与发票"
    again = ledger.post("a", f"/api/v1/applications/{app['id']}/resubmit", {"event": {"date": "2025-03-01", "service_fee": "90000"}})
    assert again.json()["status"] == "submitted" and again.json()["ceiling"] == "45000.00"
    rejected = ledger.post("kejiju", f"/api/v1/applications/{app['id']}/decision", {"decision": "reject", "reason": "服务机构不在目录内"})
    assert rejected.json()["status"] == "rejected"
    late = ledger.post("a", f"/api/v1/applications/{app['id']}/withdraw")
    assert late.status_code == 409 and "不能撤回" in late.json()["detail"]
    other = voucher(ledger, "a", A, "100000").json()
    assert ledger.post("a", f"/api/v1/applications/{other['id']}/withdraw").json()["status"] == "withdrawn"


def test_bad_claims_are_refused_by_field(ledger):
    outside = voucher(ledger, "a", A, "100000", "2026-03-01")
    assert outside.status_code == 422 and "有效期" in outside.json()["detail"]
    negative = voucher(ledger, "a", A, "-5")
    assert negative.status_code == 422 and "service_fee" in negative.json()["detail"]
    unknown = ledger.post("a", "/api/v1/applications", {"subject_id": A, "rule": "no-such-rule", "event": {"date": "2025-03-01"}})
    assert unknown.status_code == 422 and "no-such-rule" in unknown.json()["detail"]
    wrong_kind = ledger.post("a", "/api/v1/applications", {"subject_id": A, "rule": "incubator-national",
                                                          "event": {"date": "2025-03-01"}})
    assert wrong_kind.status_code == 422
    floats = ledger.post("a", "/api/v1/applications", {"subject_id": A, "rule": "innovation-voucher",
                                                      "event": {"date": "2025-03-01", "service_fee": 0.1}})
    assert floats.status_code == 422
    money = ledger.post("kejiju", "/api/v1/applications/1/decision", {"decision": "approve", "amount": "1e27"})
    assert money.status_code == 422 and "amount" in money.json()["detail"]


def test_role_boundaries(ledger):
    app = voucher(ledger, "a", A, "100000").json()
    # An applicant cannot read another's application by id (nor learn that it exists).
    assert ledger.get("b", f"/api/v1/applications/{app['id']}").status_code == 404
    assert ledger.get("b", "/api/v1/applications").json()["applications"] == []
    # An applicant cannot apply for another subject.
    assert voucher(ledger, "b", A, "100000").status_code == 404
    # 市商务局 cannot decide an article 市科技局 leads; leadership and finance cannot decide at all.
    for user in ("shangwuju", "leader", "finance", "admin"):
        response = ledger.post(user, f"/api/v1/applications/{app['id']}/decision", {"decision": "approve"})
        assert response.status_code in (403, 404), (user, response.text)
    # A reviewer cannot submit an application …
    assert voucher(ledger, "kejiju", A, "100000").status_code == 403
    # … and should one carry a reviewer's name (an account whose role changed), its reviewer cannot decide it.
    with transaction(ledger.state.factory) as session:
        reviewer = session.scalar(select(t.User).where(t.User.username == "kejiju"))
        session.get(t.Application, app["id"]).submitted_by = reviewer.id
    own = ledger.post("kejiju", f"/api/v1/applications/{app['id']}/decision", {"decision": "approve"})
    assert own.status_code == 403 and "本人" in own.json()["detail"]
    # Leadership reads everything, with identity numbers masked; changes nothing.
    assert ledger.get("leader", f"/api/v1/applications/{app['id']}").status_code == 200
    assert ledger.post("leader", "/api/v1/subjects", {"id": code(999), "kind": "enterprise", "name": "x"}).status_code == 403
    # Unsigned requests get 401.
    assert ledger.client.get(f"/api/v1/applications/{app['id']}").status_code == 401


def test_a_replayed_decision_grants_once(ledger):
    app = voucher(ledger, "a", A, "100000").json()
    path = f"/api/v1/applications/{app['id']}/decision"
    body = {"decision": "approve", "amount": "30000"}
    first = ledger.post("kejiju", path, body, key="decide-1")
    again = ledger.post("kejiju", path, body, key="decide-1")
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    different = ledger.post("kejiju", path, {"decision": "approve", "amount": "40000"}, key="decide-1")
    assert different.status_code == 422
    missing = ledger.client.post(path, json=body, headers={"Authorization": f"Bearer {ledger.tokens['kejiju']}"})
    assert missing.status_code == 428
    with transaction(ledger.state.factory) as session:
        assert session.scalar(select(func.count()).select_from(t.Award)) == 1


def test_objection_holds_then_release_makes_payable(ledger):
    app = voucher(ledger, "a", A, "100000").json()
    award = ledger.post("kejiju", f"/api/v1/applications/{app['id']}/decision", {"decision": "approve"}).json()["award"]
    listed = ledger.client.get("/api/v1/publicity").json()["awards"]
    assert [(row["subject"], row["amount"], row["benefit"]) for row in listed] == [("湖州甲科技有限公司", "50000.00", "创新券补助")]
    objection = ledger.post("b", f"/api/v1/awards/{award['id']}/objections", {"text": "该企业服务合同系关联交易"})
    assert objection.status_code == 201
    assert ledger.get("kejiju", f"/api/v1/awards/{award['id']}").json()["status"] == "held"
    until = dt.date.fromisoformat(award["publicity_until"])
    with transaction(ledger.state.factory) as session:
        assert review.release_due(session, until + dt.timedelta(days=1)) == []  # held: not payable
    dismissed = ledger.post("kejiju", f"/api/v1/objections/{objection.json()['id']}/resolution",
                            {"upheld": False, "note": "经核查为独立第三方机构"})
    assert dismissed.json()["resolution"] == "dismissed"
    with transaction(ledger.state.factory) as session:
        assert review.release_due(session, until) == []  # the last day of 公示 is still 公示
        assert [row.id for row in review.release_due(session, until + dt.timedelta(days=1))] == [award["id"]]
    assert ledger.get("kejiju", f"/api/v1/awards/{award['id']}").json()["status"] == "payable"


def test_an_upheld_objection_frees_the_cap(ledger):
    app = voucher(ledger, "a", A, "400000").json()
    award = ledger.post("kejiju", f"/api/v1/applications/{app['id']}/decision", {"decision": "approve"}).json()["award"]
    assert award["amount"] == "200000.00"
    objection = ledger.post("b", f"/api/v1/awards/{award['id']}/objections", {"text": "重复申报"}).json()
    ledger.post("kejiju", f"/api/v1/objections/{objection['id']}/resolution", {"upheld": True, "note": "确属重复申报"})
    assert ledger.get("kejiju", f"/api/v1/awards/{award['id']}").json()["status"] == "cancelled"
    assert voucher(ledger, "a", A, "100000", "2025-07-01").json()["ceiling"] == "50000.00"


def test_identity_numbers_are_masked_except_to_the_person_and_their_reviewer(ledger, pack):
    person = "11010519491231002X"  # GB 11643's own example: Σ = 167, 167 mod 11 = 2 → check X
    ledger.subject(person, kind="resident", name="张三", county="德清县")
    ledger.user("zhang", Role.APPLICANT, subject_id=person)
    assert ledger.get("zhang", f"/api/v1/subjects/{person}").json()["id"] == person
    assert ledger.get("leader", f"/api/v1/subjects/{person}").json()["id"] == "110***********002X"
    assert ledger.get("a", f"/api/v1/subjects/{person}").status_code == 404


def test_candidates_from_a_profile(ledger, pack):
    facts = ledger.post("a", f"/api/v1/subjects/{A}/facts", {"as_of": "2025-05-01", "facts": {"service_fee": "300000"}})
    assert facts.status_code == 201 and facts.json()["added"][0]["source"] == "declared"
    found = ledger.get("a", f"/api/v1/subjects/{A}/candidates").json()["candidates"]
    by_rule = {item["rule"]: item for item in found}
    assert by_rule["innovation-voucher"]["status"] == "eligible"
    assert by_rule["innovation-voucher"]["amount"] == "150000.00"
    assert by_rule["innovation-voucher"]["department"] == "市科技局"
    assert by_rule["high-tech-first"]["status"] == "needs_facts"
    assert by_rule["high-tech-first"]["reason"] == "需补充:认定类型"  # fields by their titles, not their keys
    # Every rule is listed: one an enterprise cannot claim says so.
    assert len(found) == len(pack.rules)
    assert by_rule["incubator-national"]["status"] == "not_for_kind"
    assert by_rule["incubator-national"]["reason"] == "仅适用于孵化载体运营主体"
    # (二) "聚焦八大新興產業鏈,支持企業組建創新聯合體": a benefit without an amount, listed with where
    # the amount comes from; 實施核心技術“揭榜掛帥”項目 reads no fact and is dated by the profile (2025).
    ledger.post("a", f"/api/v1/subjects/{A}/facts", {"as_of": "2025-05-01", "facts": {"emerging_chain": True}})
    by_rule = {item["rule"]: item for item in ledger.get("a", f"/api/v1/subjects/{A}/candidates").json()["candidates"]}
    for rule in ("innovation-consortium", "jiebang-guashuai"):
        assert by_rule[rule]["status"] == "by_measure" and by_rule[rule]["amount"] is None
        assert by_rule[rule]["amount_by"].startswith("市科技局配套政策文件")
    # 對首次認定的高新技術企業…給予…獎勵: a renewal is not a first recognition, said in the trace's words
    ledger.post("a", f"/api/v1/subjects/{A}/facts", {"as_of": "2025-05-01", "facts": {"recognition": "重新认定"}})
    by_rule = {item["rule"]: item for item in ledger.get("a", f"/api/v1/subjects/{A}/candidates").json()["candidates"]}
    assert by_rule["high-tech-first"]["status"] == "not_met"
    assert by_rule["high-tech-first"]["reason"].startswith("条件 认定类型 = '首次认定' 不成立"), by_rule["high-tech-first"]
    unknown = ledger.post("a", f"/api/v1/subjects/{A}/facts", {"as_of": "2025-05-01", "facts": {"nonsense": "1"}})
    assert unknown.status_code == 422 and "nonsense" in unknown.json()["detail"]


def test_attachments_are_stored_by_hash_and_checked_by_content(ledger):
    app = voucher(ledger, "a", A, "100000").json()
    path = f"/api/v1/applications/{app['id']}/attachments"
    pdf = b"%PDF-1.7\n" + b"x" * 1000
    stored = ledger.client.post(path, files={"file": ("合同.pdf", pdf, "application/pdf")}, headers=ledger.headers("a"))
    assert stored.status_code == 201, stored.text
    import hashlib

    assert stored.json()["sha256"] == hashlib.sha256(pdf).hexdigest() and stored.json()["size"] == len(pdf)
    assert (ledger.state.files / stored.json()["sha256"][:2] / stored.json()["sha256"]).read_bytes() == pdf
    fake = ledger.client.post(path, files={"file": ("发票.pdf", b"MZ\x90\x00", "application/pdf")}, headers=ledger.headers("a"))
    assert fake.status_code == 422 and "不是 .pdf" in fake.json()["detail"]
    exe = ledger.client.post(path, files={"file": ("a.exe", b"MZ", "application/octet-stream")}, headers=ledger.headers("a"))
    assert exe.status_code == 422
    other = ledger.client.post(path, files={"file": ("合同.pdf", pdf, "application/pdf")}, headers=ledger.headers("b"))
    assert other.status_code == 404


def test_decisions_warn_at_70_and_90_percent_of_the_budget(ledger):
    # Area 一's budget set to 100,000 元 for the test; two subjects so that no annual cap binds.
    with transaction(ledger.state.factory) as session:
        budget = session.scalar(select(t.Budget).where(t.Budget.area == 1, t.Budget.rule_id == "", t.Budget.county == ""))
        budget.yuan = Decimal("100000")
        audit.record(session, "admin", "budget.set", budget)
    first = voucher(ledger, "a", A, "139998").json()  # 最高 69,999 元: 69.999% committed, no warning
    decided = ledger.post("kejiju", f"/api/v1/applications/{first['id']}/decision", {"decision": "approve"}).json()
    assert decided["award"]["amount"] == "69999.00" and decided["budget_warnings"] == []
    second = voucher(ledger, "b", B, "2").json()  # 1 元 more: exactly 70% (达到 includes the bound)
    decided = ledger.post("kejiju", f"/api/v1/applications/{second['id']}/decision", {"decision": "approve"}).json()
    assert decided["budget_warnings"] == [
        "第一部分(推进教育科技人才一体发展)预算已承诺 70,000.00 元,达到预算 100,000.00 元的 70%,尚余 30,000.00 元"
    ]
    third = voucher(ledger, "b", B, "40000", "2025-05-01").json()  # 20,000 元 more: 90%
    decided = ledger.post("kejiju", f"/api/v1/applications/{third['id']}/decision", {"decision": "approve"}).json()
    assert decided["budget_warnings"][0].endswith("达到预算 100,000.00 元的 90%,尚余 10,000.00 元")


def test_a_department_sets_its_publicity_period(ledger):
    # 市科技局 publishes for 7 working days instead of 5.
    assert ledger.client.put("/api/v1/departments/市科技局", json={"publicity_days": 7},
                             headers=ledger.headers("admin")).json() == {"name": "市科技局", "publicity_days": 7}
    app = voucher(ledger, "a", A, "100000").json()
    award = ledger.post("kejiju", f"/api/v1/applications/{app['id']}/decision", {"decision": "approve"}).json()["award"]
    assert award["publicity_until"] == add_working_days(dt.date.today(), 7, CHINA_2025_2026).isoformat()
    unknown = ledger.client.put("/api/v1/departments/市不存在局", json={"publicity_days": 7}, headers=ledger.headers("admin"))
    assert unknown.status_code == 404 and "牵头部门" in unknown.json()["detail"]
    too_long = ledger.client.put("/api/v1/departments/市科技局", json={"publicity_days": 31}, headers=ledger.headers("admin"))
    assert too_long.status_code == 422
    not_admin = ledger.client.put("/api/v1/departments/市科技局", json={"publicity_days": 3}, headers=ledger.headers("kejiju"))
    assert not_admin.status_code == 403


def test_leadership_changes_nothing_on_any_route(ledger):
    """Every write route of the ledger, whatever its body: leadership is refused before anything runs."""
    schema = ledger.client.get("/openapi.json").json()
    writes = [
        (method, path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in ("post", "put", "patch", "delete")
        # The calculator is public, for the default pack and for each pack by id.
        and path not in ("/api/v1/login", "/api/v1/logout", "/api/v1/tokens", "/api/v1/calculate",
                         "/api/v1/packs/{pack_id}/calculate", "/api/v1/packs/calculate")
    ]
    assert len(writes) >= 15
    with transaction(ledger.state.factory) as session:
        before = session.scalar(select(func.count()).select_from(t.AuditEntry))
    for method, path in writes:
        url = path.replace("{application_id}", "1").replace("{award_id}", "1").replace("{objection_id}", "1") \
            .replace("{payment_id}", "1").replace("{assignment_id}", "1").replace("{batch_id}", "1") \
            .replace("{subject_id}", A).replace("{item}", "indicator-1").replace("{name}", "市科技局")
        response = ledger.client.request(method.upper(), url, json={}, headers=ledger.headers("leader"))
        assert response.status_code == 403, (method, url, response.text)
        assert "领导角色只能查看" in response.json()["detail"], (method, url)
    with transaction(ledger.state.factory) as session:
        assert session.scalar(select(func.count()).select_from(t.AuditEntry)) == before


def test_a_bad_code_is_refused_with_one_sentence_that_names_it(ledger):
    # 91330502100000008X: the check character of this body is Y, not X (GB 32100 mod 31).
    wrong = ledger.post("admin", "/api/v1/subjects", {"id": "91330502100000008X", "kind": "enterprise", "name": "湖州某公司"})
    assert wrong.status_code == 422
    assert wrong.json()["detail"] == "id: 统一社会信用代码第18位（校验码）应为“Y”，实为“X”"
    person = ledger.post("admin", "/api/v1/subjects", {"id": "110105194912310021", "kind": "resident", "name": "李四"})
    assert person.json()["detail"] == "id: 居民身份证号码第18位（校验码）应为“X”，实为“1”"
    bracket = ledger.post("admin", "/api/v1/subjects", {"id": "9133\\'\"]);--", "kind": "enterprise", "name": "x"})
    assert bracket.status_code == 422 and bracket.json()["detail"].startswith("id: 统一社会信用代码")


def test_the_awards_list_shows_each_role_its_own(ledger):
    for user, subject in (("a", A), ("b", B)):
        app = voucher(ledger, user, subject, "100000").json()
        ledger.post("kejiju", f"/api/v1/applications/{app['id']}/decision", {"decision": "approve"})
    mine = ledger.get("a", "/api/v1/awards").json()["awards"]
    assert [(row["subject"], row["amount"]) for row in mine] == [("湖州甲科技有限公司", "50000.00")]
    assert len(ledger.get("kejiju", "/api/v1/awards").json()["awards"]) == 2
    assert ledger.get("shangwuju", "/api/v1/awards").json()["awards"] == []
    assert len(ledger.get("leader", "/api/v1/awards", status="publicity").json()["awards"]) == 2
    assert ledger.get("leader", "/api/v1/awards", status="paid").json()["awards"] == []
