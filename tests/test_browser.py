"""The calculator page in a real headless Chromium (Debian's `chromium`, driven by Playwright).

A consumer adds a digital-product purchase and an appliance, fills the form as a person would and
reads the answer: 單品售價6000元以下的手機…,按15%補貼,最高補貼500元 and 一級…能效家電…按20%…補貼,
最高補貼2000元/件. The API documentation at /docs works with every host but 127.0.0.1 blocked
(Swagger UI is served by the app). No page breaks its Content-Security-Policy.
In CI (CI=true) a missing browser is a failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn

from zhida.rules.pack import load_pack
from zhida.web.app import create_app
from zhida.web.server import server_config

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


@pytest.fixture(scope="module")
def server():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(load_pack(Path(__file__).resolve().parents[1] / "policies" / "huzhou-2025"))
    config = server_config(app, "127.0.0.1", port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def page():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser test: chromium is not installed")
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.route("**/*", _only_this_machine)
        yield page
        browser.close()


OUTSIDE: list[str] = []  # every request the page tried to send off this machine


def _only_this_machine(route) -> None:
    """Lets requests to 127.0.0.1 through and aborts (and records) any other: the tests run offline."""
    if urlsplit(route.request.url).hostname == "127.0.0.1":
        route.continue_()
    else:
        OUTSIDE.append(route.request.url)
        route.abort()


@pytest.fixture
def console(page):
    """The console messages and page errors of one test; a CSP violation shows up here."""
    messages: list[str] = []
    on_console = lambda message: messages.append(f"{message.type}: {message.text}")  # noqa: E731
    on_error = lambda error: messages.append(f"pageerror: {error}")  # noqa: E731
    page.on("console", on_console)
    page.on("pageerror", on_error)
    OUTSIDE.clear()
    yield messages
    page.remove_listener("console", on_console)
    page.remove_listener("pageerror", on_error)


def errors(messages: list[str]) -> list[str]:
    """Console errors and page errors: a CSP violation is one ("… violates the following Content Security
    Policy directive …"), and so is any resource that failed to load."""
    return [message for message in messages if message.startswith(("error:", "pageerror:"))]


def test_a_consumer_computes_two_trade_ins(server, page, console):
    page.goto(server + "/")
    assert page.locator("h1").inner_text() == "惠企政策计算器"
    page.get_by_role("link", name="消费者").click()
    page.select_option("select[name=new_type]", "trade_in_digital")
    page.get_by_role("button", name="添加").click()
    page.select_option("select[name=new_type]", "trade_in_appliance")
    page.get_by_role("button", name="添加").click()
    page.fill("input[name=e0_date]", "2025-06-18")
    page.select_option("select[name=e0_category]", "手机")
    page.fill("input[name=e0_price]", "5999.99")  # 15% = 899.9985 -> the 500元 cap
    page.fill("input[name=e1_date]", "2025-06-18")
    page.select_option("select[name=e1_grade]", "一级")
    page.fill("input[name=e1_price]", "8888.88")  # 20% = 1777.776 -> 1777.78, under the 2000元 cap
    page.locator("button.primary", has_text="计算").click()
    # both subsidies are exact amounts (按15%/20%補貼, capped per item): one sub-total, no other kind shown
    total = page.locator("p.total-exact strong").inner_text()
    assert total == "2,277.78"  # 500.00 + 1777.78, thousands separated
    assert page.locator("div.totals p").all_inner_texts() == ["应得 2,277.78 元"]
    body = page.locator("body").inner_text()
    assert "按15%补贴,最高补贴500元" in body  # the clause, in Simplified
    assert "1,777.78" in body and "500.00" in body
    assert "市发展改革委" in body  # 三、…(由市發展改革委牽頭實施)
    # the stylesheet applied (it is a file now, not an inline <style>): the brand bar is red
    assert page.locator("header.top").evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(180, 35, 24)"
    assert errors(console) == [] and OUTSIDE == []
    page.screenshot(path=str(SCREENSHOTS / "calculator.png"), full_page=True)


def test_bad_input_is_answered_on_the_page(server, page):
    page.goto(server + "/calc?subject=consumer")
    page.select_option("select[name=new_type]", "trade_in_digital")
    page.get_by_role("button", name="添加").click()
    # the browser refuses an empty required field itself; a negative price passes `min` only via script
    page.eval_on_selector("input[name=e0_price]", "el => { el.removeAttribute('min'); el.value = '-1'; }")
    page.locator("button.primary", has_text="计算").click()
    assert "不能为负数" in page.locator("body").inner_text()


def test_docs_work_offline(server, page, console):
    page.goto(server + "/docs")
    # Swagger UI lists the operations once it has loaded /openapi.json from the app
    operation = page.locator(".opblock-summary-path", has_text="/api/v1/calculate")
    operation.wait_for(timeout=15_000)
    assert operation.is_visible()
    assert page.locator(".opblock-summary-path", has_text="/api/v1/articles/{number}").is_visible()
    assert "zhida 政策直达 API" in page.locator(".info .title").inner_text()
    assert "最多 1000 个事件" in page.locator(".info").inner_text()  # the limits are documented
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "docs.png"), full_page=False)
    assert OUTSIDE == []  # nothing was even attempted off this machine
    assert errors(console) == [], console
