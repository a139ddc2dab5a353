"""The department console in a real headless Chromium: reviewer kejiju (市科技局) opens the queue and a
case, types an amount above the cap and is refused with the reason, then approves within it; at
desktop and phone width.

From (二): "對首次認定的高新技術企業,每家給予最高20萬元獎勵" (high-tech-first): 最高可得 200,000.00 元.
30万 typed = 300,000.00 元 > 200,000.00 元: refused, naming the ceiling and the rule; 20万 approved.
"""

from __future__ import annotations

import re

import pytest

from browser_helpers import OUTSIDE, live, new_page, shot, sign_in
from ledger_helpers import code, ledger_app
from zhida.ledger.access import Role

FIRMS = {"desktop": (code(401), "湖州丁科技有限公司"), "phone": (code(402), "湖州戊科技有限公司")}


@pytest.fixture(scope="module")
def served(pack, tmp_path_factory):
    folder = tmp_path_factory.mktemp("console")
    ledger = ledger_app(pack, f"sqlite:///{folder / 'ledger.db'}", folder / "files")
    for name, (subject, title) in FIRMS.items():  # one firm per run: 每家最高20万元 is spent by the first
        ledger.subject(subject, name=title, county="安吉县")
        ledger.user(f"firm-{name}", Role.APPLICANT, subject_id=subject)
    try:
        with live(ledger.client.app) as url:
            yield url, ledger
    finally:
        ledger.close()


@pytest.mark.parametrize("width,height,name", [(1280, 900, "desktop"), (390, 844, "phone")])
def test_reviewer_refused_above_the_cap_then_approves(served, browser, width, height, name):
    base, ledger = served
    subject, title = FIRMS[name]
    made = ledger.post(f"firm-{name}", "/api/v1/applications", {"subject_id": subject, "rule": "high-tech-first",
                                                            "event": {"date": "2025-05-01", "recognition": "首次认定"}})
    assert made.status_code == 201, made.text
    number = made.json()["id"]
    page = new_page(browser, width, height)
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    refusal = "the server responded with a status of 409"  # the refused decision's page: expected
    sign_in(page, base, "kejiju")
    assert page.url == base + "/console"
    assert "1,725,000,000.00" in page.locator("main").inner_text()  # 全市財政預算安排17.25億元
    shot(page, f"console-home-{name}")
    page.locator(".console-nav").get_by_role("link", name="申请审核").click()
    page.get_by_label("主体名称或代码").fill(title[2:5])
    page.get_by_role("button", name="筛选").click()
    row = page.locator("table.queue tbody tr", has_text=title).first
    assert "首次认定高新技术企业奖励" in row.inner_text() and "待审核" in row.inner_text()
    row.scroll_into_view_if_needed()
    shot(page, f"console-queue-{name}")
    page.get_by_role("link", name=str(number), exact=True).click()
    main = page.locator("main").inner_text()
    assert "对首次认定的高新技术企业,每家给予最高20万元奖励" in main and "最高可得 200,000.00 元" in main
    page.get_by_role("radio", name="核准").check()
    page.get_by_label("核定金额(元,核准时填写)").fill("30万")
    page.get_by_role("button", name="提交决定").click()
    error = page.locator(".error").inner_text()
    assert "核定金额 300,000.00 元超过计算的最高可得 200,000.00 元(首次认定高新技术企业奖励)" in error
    assert page.get_by_label("核定金额(元,核准时填写)").input_value() == "30万"  # the form kept as typed
    assert "300,000.00 元(30 万元)" in page.locator("#amount-hint").inner_text()
    shot(page, f"console-refused-{name}")
    page.get_by_label("核定金额(元,核准时填写)").fill("20万")
    page.get_by_role("button", name="提交决定").click()
    assert re.search(rf"/console/applications/{number}\?done=", page.url), page.url
    assert f"申请 {number} 已核准,核定 200,000.00 元" in page.locator(".notice").inner_text()
    shot(page, f"console-approved-{name}")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert [text for text in problems if refusal not in text] == [] and OUTSIDE == []
    page.context.close()
