"""The calculator page (/calc) through Starlette's TestClient: money as a Chinese user writes it, the
amount read back beside the field, Chinese messages naming the field (422, never 500), traces in
field titles with thousands separators, and results at a GET address that can be bookmarked and shared.

The case: 第三條 (三) 按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元 (創新券).
"""

from __future__ import annotations

import html as html_lib
import re
import warnings
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from zhida.rules.pack import load_pack
from zhida.web.app import create_app

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient` is deprecated")
    from fastapi.testclient import TestClient

PACK = Path(__file__).resolve().parents[1] / "policies" / "huzhou-2025"
FEE_FIELD = "第 1 个事件(使用“创新券”(科研仪器服务))的“实际发生服务费用”"


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(load_pack(PACK))) as client:
        yield client


def voucher(fee: str, **more: str) -> dict[str, str]:
    return {"subject": "enterprise", "e0_type": "innovation_voucher", "e0_date": "2025-03-01", "e0_service_fee": fee,
            "action": "calculate", **more}


def error_box(page: str) -> str:
    match = re.search(r'<div class="error"[^>]*>(.*?)</div>', page, re.S)
    return html_lib.unescape(match[1]) if match else ""


def result_text(page: str) -> str:
    section = page[page.index('<section class="result">'):]
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section)))


def readback(page: str, name: str) -> str:
    match = re.search(rf'<output id="{name}-readback"[^>]*>(.*?)</output>', page, re.S)
    return match[1] if match else ""


# --------------------------------------------------------------------------- money as people write it


@pytest.mark.parametrize("fee", ["300000", "300,000", "30万", "30萬", "30 万元", "0.003亿"])
def test_30_wan_is_300000(client, fee):
    # 50% × 300,000 = 150,000, under the 200,000 a year: 最高可得 150,000.00
    response = client.get("/calc", params=voucher(fee))
    assert response.status_code == 200, error_box(response.text)
    text = result_text(response.text)
    assert "最高可得 150,000.00 元" in text
    assert readback(response.text, "e0_service_fee") == "= 300,000.00 元(30 万元)"
    # the trace names the field by its title, amounts thousands separated
    assert "实际发生服务费用 = 300,000.00 元" in text
    assert "金额(最高额) = 0.5 * 实际发生服务费用 = 0.5 * 300,000.00 = 150,000.00 元" in text
    assert "service_fee" not in text
    assert f'value="{fee}"' in response.text  # what was typed stays as typed


def test_the_annual_cap_in_the_trace(client):
    # 0.5亿 = 50,000,000; 50% = 25,000,000, cut to 單個企業全年最高補助20萬元
    text = result_text(client.get("/calc", params=voucher("0.5亿")).text)
    assert "单个主体年度上限 200,000.00 元(单个企业全年最高补助20万元):本主体 2025 年已累计 0.00 元," \
           "尚余 200,000.00 元,25,000,000.00 元 → 200,000.00 元" in text
    assert "最高可得 200,000.00 元" in text


@pytest.mark.parametrize(
    ("fee", "words"),
    [
        ("1e27", ["无法识别的金额 '1e27'", "不接受科学计数法", "超出上限"]),
        ("1e3", ["无法识别的金额 '1e3'", "如 1e3 请写作 1000"]),
        ("abc", ["无法识别的金额 'abc'"]),
        ("30w", ["无法识别的金额 '30w'"]),
        ("-5", ["不能为负数"]),
        ("1,0,0", ["千位分隔符须每三位一个"]),
        ("1" * 20000, ["超出上限", "(共 20000 个字符)"]),
        ("30.1234567万", ["金额最多精确到分"]),
    ],
)
def test_bad_money_is_a_422_naming_the_field(client, fee, words):
    response = client.get("/calc", params=voucher(fee))
    assert response.status_code == 422
    message = error_box(response.text)
    assert message.startswith(FEE_FIELD), message
    for word in words:
        assert word in message, message
    assert len(message) < 300  # one sentence, never the whole input
    assert 'name="e0_type" value="innovation_voucher"' in response.text  # the form is shown again
    assert readback(response.text, "e0_service_fee") == ""  # nothing read back from what does not read
    assert '<section class="result">' not in response.text


def test_a_date_that_does_not_exist(client):
    response = client.get("/calc", params=voucher("30万", e0_date="2025-02-30"))
    assert response.status_code == 422
    assert "第 1 个事件(使用“创新券”(科研仪器服务))的发生日期: 日期格式须为 YYYY-MM-DD,且须为存在的日期" in error_box(response.text)


def test_a_missing_amount(client):
    response = client.get("/calc", params=voucher(""))
    assert response.status_code == 422
    assert error_box(response.text) == "第 1 个事件(使用“创新券”(科研仪器服务)): 缺少“实际发生服务费用”"


# --------------------------------------------------------------------------- the form


def test_the_form_speaks_chinese_and_runs_no_inline_code(client):
    query = {"subject": "enterprise", "e0_type": "innovation_voucher", "e0_date": "2025-03-01", "e0_service_fee": "30万"}
    page = client.get("/calc", params=query).text
    assert re.search(r'<form id="calc" method="get" action="/calc" novalidate', page)
    assert re.search(r'<input type="text" id="e0_service_fee" name="e0_service_fee" value="30万" '
                     r'inputmode="decimal"', page)
    assert '<label for="e0_service_fee">实际发生服务费用(元)</label>' in page
    assert 'aria-describedby="e0_service_fee-readback"' in page
    assert readback(page, "e0_service_fee") == "= 300,000.00 元(30 万元)"  # read back before any calculation too
    assert 'type="number"' not in page  # a number input would drop 30万 before the server saw it
    assert '<script src="/static/calc.js" defer></script>' in page
    assert '<link rel="stylesheet" href="/static/calc.css">' in page
    assert not re.search(r"<script(?![^>]*\bsrc=)", page) and " style=" not in page and "onclick" not in page
    assert '<section class="result">' not in page


def test_the_static_files_are_served(client):
    script = client.get("/static/calc.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "([万萬亿億]?)" in script.text  # the units zhida.engine.money_text reads
    assert "eval(" not in script.text and "innerHTML" not in script.text
    assert client.get("/static/calc.css").status_code == 200


def test_adding_and_removing_rows_answer_with_the_form_s_address(client):
    response = client.get("/calc", params={"subject": "enterprise", "action": "add", "new_type": "innovation_voucher"},
                          follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == \
        "/calc?subject=enterprise&e0_type=innovation_voucher&e0_date=2025-01-01&e0_service_fee="
    query = {"subject": "enterprise", "e0_type": "innovation_voucher", "e0_date": "2025-03-01", "e0_service_fee": "30万",
             "e1_type": "high_tech_recognition", "e1_date": "2025-05-01", "e1_recognition": "首次认定",
             "action": "remove:0"}
    response = client.get("/calc", params=query, follow_redirects=False)
    assert response.status_code == 303
    assert dict(parse_qsl(urlsplit(response.headers["location"]).query)) == {
        "subject": "enterprise", "e0_type": "high_tech_recognition", "e0_date": "2025-05-01", "e0_recognition": "首次认定"}
    five = {"subject": "enterprise", "action": "add", "new_type": "high_tech_recognition"}
    for index in range(5):
        five |= {f"e{index}_type": "high_tech_recognition", f"e{index}_date": "2025-05-01"}
    response = client.get("/calc", params=five)
    assert response.status_code == 422 and "最多计算 5 个事件" in error_box(response.text)


def test_a_result_has_a_tidy_address_to_share(client):
    # The form sends its select box and buttons too: the answer is the tidy address of the result.
    asked = {"new_type": "high_tech_recognition", **voucher("30万")}
    response = client.get("/calc", params=asked, follow_redirects=False)
    assert response.status_code == 303
    shared = response.headers["location"]
    assert shared == "/calc?subject=enterprise&e0_type=innovation_voucher&e0_date=2025-03-01" \
                     "&e0_service_fee=30%E4%B8%87&action=calculate"
    page = client.get(shared)
    assert page.status_code == 200 and "最高可得 150,000.00 元" in result_text(page.text)
    link = html_lib.escape(shared)  # & is &amp; in an attribute
    assert f'<input type="text" id="share-url" value="http://testserver{link}" readonly>' in page.text
    assert f'<a href="{link}" class="share-open">打开</a>' in page.text
    assert "复制链接" in page.text


def test_an_older_form_post_is_answered_at_the_get_address(client):
    form = {"subject_kind": "enterprise", "subject_name": "湖州某科技有限公司", "action": "calculate",
            "e0_type": "innovation_voucher", "e0_date": "2025-03-01", "e0_service_fee": "30万"}
    response = client.post("/calc", data=form, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/calc?subject=enterprise&name=")
    page = client.post("/calc", data=form)
    assert page.status_code == 200 and "最高可得 150,000.00 元" in result_text(page.text)


def test_the_script_switch_keeps_the_result(client):
    shared = ("/calc?subject=enterprise&e0_type=innovation_voucher&e0_date=2025-03-01"
              "&e0_service_fee=30%E4%B8%87&action=calculate")
    page = client.get(shared).text
    switch = html_lib.unescape(re.search(r'<a class="switch" href="([^"]+)"', page)[1])
    assert switch.startswith("/lang?to=zh-Hant&next=")
    try:
        traditional = client.get(switch)
        assert traditional.status_code == 200 and str(traditional.url).endswith(shared)
        assert "計算結果" in traditional.text and "最高可得 150,000.00 元" in result_text(traditional.text)
        assert readback(traditional.text, "e0_service_fee") == "= 300,000.00 元(30 萬元)"
        assert 'data-wan="萬元"' in traditional.text  # the live read-back's words are converted with the page
        assert 'value="30万"' in traditional.text  # what the user typed stays as typed
    finally:
        client.cookies.clear()


def test_an_unknown_kind_or_event_type(client):
    response = client.get("/calc", params={"subject": "alien"})
    assert response.status_code == 422 and "未知的主体类型 'alien'" in error_box(response.text)
    response = client.get("/calc", params={"subject": "enterprise", "e0_type": "x'<b>", "action": "calculate"})
    assert response.status_code == 422 and "未知的事件类型" in error_box(response.text) and "<b>" not in response.text


# --------------------------------------------------------------------------- in a real browser


def test_a_person_types_30_wan_and_shares_the_result():
    """Chromium: 30万 is read back as 300,000.00 元 while typing, the result is 150,000.00 元, and the
    shared address opens the same result in a fresh browser context (its own cookies)."""
    from browser_helpers import OUTSIDE, chromium, live, new_page, shot

    OUTSIDE.clear()
    with live(create_app(load_pack(PACK))) as base, chromium() as browser:
        page = new_page(browser, 420, 900)  # a phone-sized screen
        problems: list[str] = []
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(base + "/calc?subject=enterprise")
        page.select_option("select[name=new_type]", "innovation_voucher")
        page.get_by_role("button", name="添加").click()
        page.fill("input[name=e0_date]", "2025-03-01")
        fee = page.get_by_label("实际发生服务费用(元)")
        fee.press_sequentially("1e27")
        readback = page.locator("#e0_service_fee-readback")
        assert readback.inner_text().startswith("无法识别的金额")
        fee.fill("")
        fee.press_sequentially("30万")
        assert readback.inner_text() == "= 300,000.00 元(30 万元)"  # live, before any request
        page.locator("button.primary", has_text="计算").click()
        page.wait_for_load_state()
        assert page.locator("p.total-ceiling strong").inner_text() == "150,000.00"
        assert readback.inner_text() == "= 300,000.00 元(30 万元)"  # rendered by the server this time
        assert "实际发生服务费用 = 300,000.00 元" in page.locator("ol.trace").inner_text()
        assert page.get_by_role("button", name="复制链接").is_visible()  # calc.js ran (CSP: script-src 'self')
        shot(page, "calc-30-wan")
        shared = page.locator("#share-url").input_value()
        assert shared == page.url and "e0_service_fee=30%E4%B8%87" in shared

        fresh = new_page(browser)
        fresh.goto(shared)
        assert fresh.locator("p.total-ceiling strong").inner_text() == "150,000.00"
        assert fresh.get_by_label("实际发生服务费用(元)").input_value() == "30万"
        shot(fresh, "calc-shared")
        fresh.context.close()
        page.context.close()
    assert problems == [] and OUTSIDE == []
