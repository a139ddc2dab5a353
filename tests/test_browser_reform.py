"""Leadership uses the policy sandbox in a real headless Chromium, over the synthetic register.

No ZHIDA_REGISTER: the page makes its small synthetic register once (演示用合成登记册, 2,000 家企业)
and says so. Leadership chooses (三) 創新券 from the menu's 政策沙盘, raises the rate 按實際發生服務
費用給予最高50%比例的補助 to 60% in the form, adds a second change (數碼產品 單品售價6000元以下 ->
8000), sees both in the list and in the rules chart, and reads the result: the two charts drawn by the
vendored ECharts (each a <canvas> with more than one colour), figures equal to `zhida reform`'s over
the same files (zhida.engine.reform, exact), the YAML download, no console error (a CSP violation is
one) and no request off this machine. Screenshots at desktop and phone width go to tests/screenshots/.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from browser_helpers import OUTSIDE, SCREENSHOTS, live, new_page, shot, sign_in, watch
from ledger_helpers import ledger_app
from test_browser_dashboard import NOT_BLANK

from zhida.engine.reform import run_reform
from zhida.rules.reform import apply_reform
from zhida.web.reform_pages import SYNTHETIC_ENTERPRISES, SYNTHETIC_SEED

TWO = ("reform: 两项改动\nchanges:\n  - set: {rule: innovation-voucher, rate: 0.6}\n"
       "  - set: {rule: digital-products, bound: 8000}\n")


@pytest.fixture(scope="module")
def site(pack, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sandbox")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("ZHIDA_REGISTER", raising=False)
        ledger = ledger_app(pack, f"sqlite:///{folder / 'ledger.db'}", folder / "files")
        try:
            with live(ledger.client.app) as base:
                yield base, ledger, folder
        finally:
            ledger.close()


def test_leadership_prices_two_changes(site, browser, tmp_path):
    base, ledger, folder = site
    OUTSIDE.clear()
    page = new_page(browser)
    problems = watch(page)
    sign_in(page, base, "leader")
    page.get_by_role("link", name="政策沙盘").click()
    page.wait_for_load_state()
    assert "演示用合成登记册,2,000 家企业" in page.locator("#register-name").inner_text()
    # 1. (三) 創新券: 按實際發生服務費用給予最高50%比例的補助 -> 60%
    page.locator("#f-rule").select_option("innovation-voucher")
    page.get_by_role("button", name="选择规则").click()
    page.wait_for_load_state()
    rate = page.get_by_label("比例(现为 0.5)")
    assert rate.input_value() == "0.5"
    rate.fill("60%")
    page.get_by_role("button", name="加入清单").click()
    page.wait_for_load_state()
    assert "c=innovation-voucher.rate%3D0.6" in page.url  # the list is an address that can be shared
    # 2. 數碼產品 單品售價6000元以下 -> 8000: more purchases qualify
    page.locator("#f-rule").select_option("digital-products")
    page.get_by_role("button", name="选择规则").click()
    page.wait_for_load_state()
    page.get_by_label("界限(现为 6000)").fill("8000")
    page.get_by_role("button", name="加入清单").click()
    page.wait_for_load_state()
    assert page.url.endswith("/sandbox?c=innovation-voucher.rate%3D0.6&c=digital-products.bound%3D8000"), page.url
    items = page.locator("#changes li")
    assert items.count() == 2
    assert "比例:0.5 → 0.6" in items.nth(0).inner_text() and "界限:6000 → 8000" in items.nth(1).inner_text()
    page.wait_for_function("document.querySelectorAll('.chart canvas').length === 3")
    drawn = dict(page.evaluate(NOT_BLANK, ["chart-areas", "chart-rules", "chart-sides"]))
    assert all(isinstance(count, int) and count > 5 for count in drawn.values()), drawn
    charted = page.evaluate("JSON.parse(document.getElementById('sandbox-data').textContent).rules.map(r => r.rule)")
    assert {"innovation-voucher", "digital-products"} <= set(charted)  # both changes in the rules chart
    # The same figures as the engine gives over the same synthetic files.
    register = folder / "files" / "sandbox" / f"synthetic-{SYNTHETIC_ENTERPRISES}-{SYNTHETIC_SEED}"
    summary = run_reform(apply_reform(TWO, ledger.state.pack), register / "subjects.parquet",
                         register / "events.parquet", tmp_path / "out.parquet")
    change = summary.spend.change
    assert change > 0
    assert page.locator("#spend-change").inner_text() == f"{change:,.2f}"
    gainers = page.locator("#table-sides tbody tr").first.inner_text()
    assert gainers.startswith(f"受益\t{summary.gainers.count:,.0f}\t{summary.gainers.amount:,.2f}\t"), gainers
    assert summary.losers.count == Decimal(0)
    # zhida synth writes a chain and a revenue for each enterprise: nine chains, ten revenue deciles
    assert page.locator("#table-chains tbody tr").count() >= 9
    bands = page.locator("#table-bands tbody").inner_text()
    assert "第 1 档(营收 " in bands and "第 10 档(营收 " in bands
    box = page.locator("#chart-rules").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5, steps=4)
    page.wait_for_timeout(300)
    with page.expect_download() as download:
        page.locator("#download").click()
    assert download.value.suggested_filename == "reform.yaml"
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert "- set: {rule: innovation-voucher, rate: 0.6}" in text and "- set: {rule: digital-products, bound: 8000}" in text
    shot(page, "sandbox-desktop")
    # The second change dropped: one change left, the baseline taken from the app's cache.
    page.locator("#changes li").nth(1).get_by_role("link", name="删除").click()
    page.wait_for_load_state()
    assert page.locator("#changes li").count() == 1
    cache = ledger.client.app.state.sandbox_baselines  # the live server's app
    assert (cache.computed, cache.reused) == (1, 3)  # four pages priced (one with the form open), one baseline
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # wide tables scroll in their box
    shot(page, "sandbox-phone")
    # Fit: the voucher rate at which its spend meets 400万, over the list's reform; each step in the table
    page.set_viewport_size({"width": 1280, "height": 900})
    page.locator("#fit-parameter").select_option("innovation-voucher.rate")
    page.get_by_label("预算(领域编号 1–8、领域名称或金额)").fill("400万")
    page.get_by_role("button", name="求解").click()
    page.wait_for_load_state()
    value = page.locator("#fit-value").inner_text()
    assert Decimal("0.5") < Decimal(value) < Decimal("0.6"), value  # 0.5 spends 3.67 million, 0.6 4.28 million
    assert page.locator("#table-fit tbody tr").count() >= 5
    page.locator("section[aria-labelledby=h-fit]").screenshot(path=str(SCREENSHOTS / "sandbox-fit.png"))
    page.locator("#fit-link").click()
    page.wait_for_load_state()
    assert page.locator("#changes li").count() == 1 and f"rate={value}" in page.locator("#changes li").inner_text()
    spend = page.locator(".dash-cards .card").nth(1).inner_text()
    assert spend  # priced at the value found
    # Traditional: the switch keeps the list
    page.get_by_role("link", name="繁體中文").click()
    page.wait_for_load_state()
    assert "政策沙盤" in page.locator("h1").inner_text() and page.locator("#changes li").count() == 1
    shot(page, "sandbox-traditional")
    # The form: the voucher's annual cap unticked, and 金额倍数 1.2 over a tier of two rules of its area
    page.goto(f"{base}/sandbox?rule=innovation-voucher")
    page.locator("input[name=keep-cap][value=innovation-voucher-annual]").uncheck()
    page.locator("details.sandbox-tier summary").click()  # the tier's rules are folded away until asked for
    page.locator("input[name=scale-with][value=rd-institution-four-star]").check()
    page.locator("#p-scale").fill("1.2")
    page.locator("#p-tier").screenshot(path=str(SCREENSHOTS / "sandbox-form-tier.png"))
    page.locator("form.sandbox-params button[type=submit]").click()  # 加入清單: the page is Traditional now
    page.wait_for_load_state()
    assert page.url.endswith("/sandbox?c=innovation-voucher.caps%3D&c=scale%3Ainnovation-voucher%2Crd-institution-four-star"
                             "%3D1.2"), page.url
    assert page.locator("#changes li").count() == 2
    shot(page, "sandbox-form-changes")
    assert problems == [], problems
    assert OUTSIDE == []
    page.context.close()
