"""Self-service in a real headless Chromium: an enterprise keeps a profile, sees its candidates,
applies with an uploaded file and sees the application's status, at desktop and phone width.

From (三) 創新券: "按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元":
300,000 元 of service fees (typed as 30万) → 最高可得 150,000.00 元.
"""

from __future__ import annotations

import re

import pytest

from browser_helpers import OUTSIDE, live, new_page, shot, sign_in
from ledger_helpers import code, ledger_app
from zhida.ledger.access import Role

SUBJECTS = {"desktop": code(301), "phone": code(302)}  # one enterprise per run: each starts with no profile


@pytest.fixture(scope="module")
def base(pack, tmp_path_factory):
    folder = tmp_path_factory.mktemp("self")
    ledger = ledger_app(pack, f"sqlite:///{folder / 'ledger.db'}", folder / "files")
    for name, subject in SUBJECTS.items():
        ledger.subject(subject, name=f"湖州丙科技有限公司({name})", county="德清县")
        ledger.user(f"qiye-{name}", Role.APPLICANT, subject_id=subject)
    try:
        with live(ledger.client.app) as url:
            yield url, ledger
    finally:
        ledger.close()


@pytest.fixture(scope="module")
def invoice(tmp_path_factory):
    path = tmp_path_factory.mktemp("upload") / "服务费发票.pdf"
    path.write_bytes(b"%PDF-1.4\n% invoice for the innovation voucher\n")
    return path


@pytest.mark.parametrize("width,height,name", [(1280, 900, "desktop"), (390, 844, "phone")])
def test_keep_profile_see_candidates_apply_and_track(base, browser, invoice, width, height, name):
    base, ledger = base
    page = new_page(browser, width, height)
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    sign_in(page, base, f"qiye-{name}")
    assert page.url == base + "/me"
    page.get_by_role("link", name="维护档案").click()
    page.get_by_label("这些数值所属的日期").fill("2025-03-01")
    page.locator("summary", has_text="创新券").click()  # its group, folded until it has a value
    page.get_by_label("实际发生服务费用(元)").fill("30万")
    shot(page, f"self-profile-{name}")
    page.get_by_role("button", name="保存").click()
    assert "已保存" in page.locator(".notice").inner_text()
    assert "300,000.00 元" in page.locator("main").inner_text()
    page.get_by_role("link", name="返回我的政策").click()
    voucher = page.locator("article.candidate", has_text="创新券补助")
    assert "最高可得 150,000.00 元" in voucher.inner_text() and "市科技局" in voucher.inner_text()
    shot(page, f"self-me-{name}")
    voucher.get_by_role("link", name="申请").click()
    assert page.get_by_label("实际发生服务费用(元)").input_value() == "300000.00"  # from the profile
    page.get_by_label("附件(可多选)").set_input_files(str(invoice))
    shot(page, f"self-apply-{name}")
    page.get_by_role("button", name="提交申请").click()
    found = re.search(r"/me/applications/(\d+)\?done=submitted$", page.url)
    assert found, page.url
    main = page.locator("main").inner_text()
    assert "申请已提交" in main and "待审核" in main and "150,000.00 元" in main and "服务费发票.pdf" in main
    shot(page, f"self-application-{name}")
    page.get_by_role("link", name="我的申报").first.click()
    assert "待审核" in page.locator("table.data").inner_text()
    shot(page, f"self-applications-{name}")
    # Nothing wider than the screen on a phone (tables scroll inside their .table-wrap).
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    # 市科技局 approves 120,000 (within 最高 150,000) through its API: the award goes on 兑前公示.
    decided = ledger.post("kejiju", f"/api/v1/applications/{found[1]}/decision",
                          {"decision": "approve", "amount": "120000"})
    assert decided.status_code == 200, decided.text
    page.goto(f"{base}/me/applications/{found[1]}")
    assert "公示中" in page.locator(".decision").inner_text()
    page.get_by_role("link", name="查看公示").click()
    row = page.locator("tr", has_text=f"湖州丙科技有限公司({name})")
    assert "120,000.00" in row.inner_text() and SUBJECTS[name] in row.inner_text()
    shot(page, f"self-publicity-{name}")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert problems == [] and OUTSIDE == []
    page.context.close()
