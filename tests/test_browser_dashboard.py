"""Finance pays a batch and leadership reads the dashboard, in a real headless Chromium.

The awards of test_finance_pages (hand-computed there): 120,000.00 + 50,000.00 under (三) 创新券 and
300,000.00 under (三十) 出口信用保险, 470,000.00 元 in all. Finance makes the batch and enters the
bank's answers through the pages; leadership then sees the six charts drawn by the vendored ECharts
(each a <canvas> with more than one colour in it), hovers one for its tooltip, and no console error
(a CSP violation is one) nor any request off this machine happens. Screenshots at desktop and phone
width go to tests/screenshots/.
"""

from __future__ import annotations

import re

import pytest

from browser_helpers import OUTSIDE, live, new_page, shot, sign_in, watch
from ledger_helpers import ledger_app
from test_finance_pages import award_three, end_publicity

CHARTS = ("chart-areas", "chart-departments", "chart-counties", "chart-rules",
          "chart-target-departments", "chart-target-counties")


@pytest.fixture(scope="module")
def site(pack, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dashboard")
    ledger = ledger_app(pack, f"sqlite:///{folder / 'ledger.db'}", folder / "files")
    awards = award_three(ledger)
    end_publicity(ledger)
    ledger.post("admin", "/api/v1/targets/indicator-28/assignments",
                {"department": "市交通运输局", "county": "长兴县", "share": "0.5"})
    try:
        with live(ledger.client.app) as base:
            yield base, ledger, awards
    finally:
        ledger.close()


def test_finance_pays_a_batch(site, browser):
    base, ledger, awards = site
    OUTSIDE.clear()
    page = new_page(browser)
    problems = watch(page)
    sign_in(page, base, "finance")
    assert page.url == base + "/finance"
    assert "待拨付\n3 笔\n470,000.00 元" in page.locator("section.cards").inner_text()
    page.get_by_role("button", name="生成拨付批次").click()
    page.wait_for_load_state()
    assert re.search(r"/finance/batches/\d+\?done=made$", page.url)
    assert "已生成拨付批次" in page.locator(".notice").inner_text()
    # The first payment fails (the bank's reason typed, Enter pressed in the field: it is the failure's form) …
    first = page.locator("table.payments tbody tr").first
    first.get_by_label("失败原因").fill("户名不符")
    first.get_by_label("失败原因").press("Enter")
    page.wait_for_load_state()
    assert "已登记为拨付失败" in page.locator(".notice").inner_text()
    assert "户名不符" in page.locator("table.payments tbody tr").first.inner_text()
    # … the next is paid by its own button, the last with the rest of the batch.
    page.locator("table.payments tbody tr").nth(1).get_by_role("button", name=re.compile("^已拨付")).click()
    page.wait_for_load_state()
    page.get_by_role("button", name=re.compile("全部登记为已拨付")).click()
    page.wait_for_load_state()
    cards = page.locator("section.cards").inner_text()
    # in award order: 甲's 120,000 failed; 乙's 50,000 and 丙's 300,000 paid
    assert "已拨付\n2 笔\n350,000.00 元" in cards and "拨付失败\n1 笔\n120,000.00 元" in cards
    shot(page, "finance-batch-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "finance-batch-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    # The failure is retried from /finance and paid: every award is paid.
    page.goto(base + "/finance")
    page.get_by_role("button", name="重新拨付所选").click()
    page.wait_for_load_state()
    page.locator("table.payments").get_by_role("button", name=re.compile("^已拨付")).click()
    page.wait_for_load_state()
    page.goto(base + "/finance")
    assert "已拨付\n3 笔\n470,000.00 元" in page.locator("section.cards").inner_text()
    shot(page, "finance-desktop")
    for award in awards.values():
        assert ledger.get("admin", f"/api/v1/awards/{award}").json()["status"] == "paid"
    assert problems == [] and OUTSIDE == []
    page.context.close()


NOT_BLANK = """ids => ids.map(id => {
  const canvas = document.querySelector('#' + id + ' canvas');
  if (!canvas) { return [id, 'no canvas']; }
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const colours = new Set();
  for (let i = 0; i < data.length && colours.size < 50; i += 4 * 7) {
    colours.add(data[i] + ',' + data[i + 1] + ',' + data[i + 2] + ',' + data[i + 3]);
  }
  return [id, canvas.width > 0 && canvas.height > 0 ? colours.size : 'empty'];
})"""


def test_leadership_sees_the_charts(site, browser):
    base, _, _ = site
    OUTSIDE.clear()
    for width, height, name in ((1280, 900, "dashboard-desktop"), (390, 844, "dashboard-phone")):
        page = new_page(browser, width, height)
        problems = watch(page)
        sign_in(page, base, "leader")
        assert page.url == base + "/dashboard"
        page.wait_for_function("document.querySelectorAll('.chart canvas').length === 6")
        drawn = dict(page.evaluate(NOT_BLANK, list(CHARTS)))
        assert all(isinstance(count, int) and count > 5 for count in drawn.values()), drawn
        # Tooltips on hover are drawn on the canvas: ECharts' HTML ones carry style="" attributes, which the
        # CSP refuses (a console error). The targets' chart uses ECharts' own formatter, the areas' ours.
        for chart in ("chart-areas", "chart-target-departments"):
            page.locator(f"#{chart}").scroll_into_view_if_needed()
            box = page.locator(f"#{chart}").bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.4, steps=4)
            page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.45, steps=4)
            page.wait_for_timeout(300)
        assert "23,390,000,000.00" in page.locator("table.data tfoot").first.inner_text()
        shot(page, name)
        assert problems == [], problems
        page.context.close()
    assert OUTSIDE == []
