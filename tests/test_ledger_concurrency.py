"""Caps and budgets hold under concurrency: 100 approvals at once through the HTTP API of a live
server, on SQLite and on PostgreSQL; the sums never exceed either, and every refusal says why.

(三) 創新券: "按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元" — each claim of
10,000 元 of fees has a ceiling of 5,000 元, so the 200,000 元 annual cap takes exactly 40 of them.
"""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from ledger_helpers import code, ledger_app
from zhida.ledger import audit
from zhida.ledger import tables as t
from zhida.ledger.access import Role
from zhida.ledger.database import transaction

CLAIMS = 100


@pytest.fixture
def live(pack, ledger_url, tmp_path):
    ledger = ledger_app(pack, ledger_url, tmp_path / "files")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(ledger.client.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield ledger, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    ledger.close()


def _apply(ledger, user: str, subject: str) -> int:
    response = ledger.post(user, "/api/v1/applications", {"subject_id": subject, "rule": "innovation-voucher",
                                                         "event": {"date": "2025-04-01", "service_fee": "10000"}})
    assert response.status_code == 201 and response.json()["ceiling"] == "5000.00", response.text
    return response.json()["id"]


def _approve_all(ledger, base: str, ids: list[int], key=lambda i: f"approve-{i}") -> list[httpx.Response]:
    def approve(application_id: int) -> httpx.Response:
        with httpx.Client(base_url=base, timeout=120) as client:
            return client.post(f"/api/v1/applications/{application_id}/decision",
                               json={"decision": "approve", "amount": "5000"},
                               headers={"Authorization": f"Bearer {ledger.tokens['kejiju']}",
                                        "Idempotency-Key": key(application_id)})

    with ThreadPoolExecutor(max_workers=CLAIMS) as pool:
        return list(pool.map(approve, ids))


def _approve_claims_of_one_subject(ledger, base: str, subject: str) -> tuple[list[httpx.Response], list[httpx.Response]]:
    """CLAIMS applications of one subject, all approved at once: the answers granted and refused."""
    ledger.subject(subject)
    ledger.user("applicant", Role.APPLICANT, subject_id=subject)
    ids = [_apply(ledger, "applicant", subject) for _ in range(CLAIMS)]
    responses = _approve_all(ledger, base, ids)
    return [r for r in responses if r.status_code == 200], [r for r in responses if r.status_code != 200]


def test_one_subjects_annual_cap_holds(live):
    ledger, base = live
    subject = code(301)
    granted, refused = _approve_claims_of_one_subject(ledger, base, subject)
    assert len(granted) == 40 and len(refused) == 60
    for response in refused:
        assert response.status_code == 409
        assert "单个主体年度上限" in response.json()["detail"] and "尚余 0.00 元" in response.json()["detail"]
    with transaction(ledger.state.factory) as session:
        total = session.scalar(select(func.sum(t.Award.amount)).where(t.Award.subject_id == subject))
        assert total == Decimal("200000.00")
        assert audit.verify(session) == []


def test_a_nearly_spent_budget_holds(live):
    ledger, base = live
    # Area 一's budget (2025年,全市財政預算安排17.25億元) lowered to 100,000 元: room for 20 claims of
    # 5,000, so the budget binds before the subject's 200,000 元 cap would (at 40).
    with transaction(ledger.state.factory) as session:
        budget = session.scalar(select(t.Budget).where(t.Budget.area == 1, t.Budget.rule_id == "", t.Budget.county == ""))
        budget.yuan = Decimal("100000")
        audit.record(session, "admin", "budget.set", budget)
    subject = code(303)
    granted, refused = _approve_claims_of_one_subject(ledger, base, subject)
    assert len(granted) == 20 and len(refused) == 80
    for response in refused:
        assert response.status_code == 409
        detail = response.json()["detail"]
        assert detail == (
            "金额 5,000.00 元超出第一部分(推进教育科技人才一体发展)预算的剩余额度:预算 100,000.00 元,"
            "已承诺 100,000.00 元,剩余 0.00 元(依据:2025年,全市财政预算安排17.25亿元。)"
        )
    with transaction(ledger.state.factory) as session:
        assert session.scalar(select(func.sum(t.Award.amount)).where(t.Award.area == 1)) == Decimal("100000.00")
        assert audit.verify(session) == []


def test_the_same_request_sent_ten_times_at_once_grants_once(live):
    ledger, base = live
    subject = code(302)
    ledger.subject(subject)
    ledger.user("applicant", Role.APPLICANT, subject_id=subject)
    application = _apply(ledger, "applicant", subject)
    responses = _approve_all(ledger, base, [application] * 10, key=lambda i: "one-key")
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["award"]["id"] for r in responses}) == 1
    with transaction(ledger.state.factory) as session:
        assert session.scalar(select(func.count()).select_from(t.Award)) == 1


def test_one_subject_registered_twenty_times_at_once_is_one_subject(live):
    """Twenty different requests (different keys) race to register the same code: one wins, the
    others are refused with a sentence (409), none is a server error."""
    ledger, base = live
    subject = code(304)

    def register(number: int) -> httpx.Response:
        with httpx.Client(base_url=base, timeout=120) as client:
            return client.post("/api/v1/subjects", json={"id": subject, "kind": "enterprise", "name": f"湖州{number}有限公司"},
                               headers={"Authorization": f"Bearer {ledger.tokens['admin']}", "Idempotency-Key": f"r{number}"})

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(register, range(20)))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 19
    assert all("已登记" in r.json()["detail"] or "冲突" in r.json()["detail"] for r in responses if r.status_code == 409)
    with transaction(ledger.state.factory) as session:
        assert session.scalar(select(func.count()).select_from(t.Subject).where(t.Subject.id == subject)) == 1
