"""Choosing another document on the calculator, in a real headless Chromium (Debian's `chromium`).

The server serves huzhou-2025 and a fictional test copy of it (test_web_packs.make_test_copy: 測試副本
in its title, 創新券 at 最高40% instead of 第三條(三)'s 按實際發生服務費用給予最高50%比例的補助).
A person opens the calculator, picks the copy in the document chooser (a plain form: no script
needed), adds a 創新券 event of 30万 and reads the result: 300,000 x 40% = 120,000.00 元, under the
copy's title, marked 虚构; the link to share names the copy. Back on the default document, the same
case is 300,000 x 50% = 150,000.00 元 under the real title.

A county overlay (tests/data/packs/anji-2025-overlay, fictional) from the list of documents: its
calculator asks 所在区县 (安吉县 preset); (二) 按设备投资额的10%给予补助,单个企业全年最高补助20万元 on
1,000,000 元 is 100,000.00 元, paid by the county layer; for 其他区县 the event gets nothing.
"""

from __future__ import annotations

import pytest
from test_web_packs import ANJI, COPY, COPY_TITLE, OVERLAYS, SHIPPED, TITLE, make_test_copy

from zhida.rules.pack import load_pack
from zhida.web.app import create_app


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    default = load_pack(SHIPPED)
    copy = load_pack(make_test_copy(tmp_path_factory.mktemp("packs")))
    anji = load_pack(OVERLAYS / ANJI)
    return create_app(default, packs={"huzhou-2025": default, COPY: copy, ANJI: anji})


def fill_voucher(page, fee: str) -> None:
    fill_event(page, "innovation_voucher", "2025-03-01", "实际发生服务费用(元)", fee)


def fill_event(page, event: str, date: str, label: str, amount: str) -> None:
    page.select_option("select[name=new_type]", event)
    page.get_by_role("button", name="添加").click()
    page.fill("input[name=e0_date]", date)
    page.get_by_label(label).fill(amount)
    page.locator("button.primary", has_text="计算").click()
    page.wait_for_load_state()


def test_a_person_chooses_the_other_document_and_sees_it_on_the_result(app):
    from browser_helpers import OUTSIDE, chromium, live, new_page, shot, watch

    OUTSIDE.clear()
    with live(app) as base, chromium() as browser:
        page = new_page(browser)
        problems = watch(page)
        page.goto(base + "/calc?subject=enterprise")
        chooser = page.get_by_label("政策文件")
        assert chooser.input_value() == "huzhou-2025"
        chooser.select_option(COPY)
        page.get_by_role("button", name="切换文件").click()
        page.wait_for_load_state()
        assert page.url == f"{base}/packs/{COPY}/calc?subject=enterprise"
        assert page.get_by_label("政策文件").input_value() == COPY
        assert "只办理默认文件的政策" in page.locator("p.ledger-note").inner_text()

        fill_voucher(page, "30万")
        assert page.locator("p.total-ceiling strong").inner_text() == "120,000.00"  # 300,000 x 40%
        source = page.locator("section.result p.source").inner_text()
        assert source == f"计算依据:《{COPY_TITLE}》(湖州市人民政府,2025年)虚构"
        shared = page.locator("#share-url").input_value()
        assert shared.startswith(f"{base}/packs/{COPY}/calc?") and shared == page.url
        shot(page, "packs-other-document")

        page.get_by_label("政策文件").select_option("huzhou-2025")
        page.get_by_role("button", name="切换文件").click()
        page.wait_for_load_state()
        assert page.url == f"{base}/packs/huzhou-2025/calc?subject=enterprise"
        fill_voucher(page, "30万")
        assert page.locator("p.total-ceiling strong").inner_text() == "150,000.00"  # 300,000 x 50%
        assert page.locator("section.result p.source").inner_text() == f"计算依据:《{TITLE}》(湖州市人民政府,2025年)"

        page.goto(base + "/packs")
        assert page.locator("table.packs tbody tr").count() == 3
        assert page.locator(f"tr#pack-{COPY} .badge.fictional").inner_text() == "虚构"
        shot(page, "packs-list")
        page.context.close()
    assert problems == [] and OUTSIDE == []


def test_a_county_document_asks_where_the_enterprise_is(app):
    from browser_helpers import OUTSIDE, chromium, live, new_page, shot, watch

    OUTSIDE.clear()
    with live(app) as base, chromium() as browser:
        page = new_page(browser)
        problems = watch(page)
        page.goto(base + "/packs")
        page.locator(f"tr#pack-{ANJI}").get_by_role("link", name="计算器").click()
        page.locator(f"a[href=\"/packs/{ANJI}/calc?subject=enterprise\"]").click()
        assert page.get_by_label("所在区县").input_value() == "安吉县"
        fill_event(page, "tea_processing_plant", "2025-05-01", "设备投资额(元)", "100万")
        assert page.locator("p.total-ceiling strong").inner_text() == "100,000.00"  # 1,000,000 x 10%
        meta = page.locator("article.item p.meta").inner_text()
        assert "依据区县承接方案《安吉县关于推动经济高质量发展若干政策的承接落实方案（2025年版）》第 2 条" in meta
        assert "主体所在区县为安吉县" in page.locator("section.result ul.notes").inner_text()
        shot(page, "packs-county-overlay")
        page.get_by_label("所在区县").select_option("其他区县")
        page.locator("button.primary", has_text="计算").click()
        page.wait_for_load_state()
        assert "仅适用于安吉县的主体" in page.locator("div.unmatched").inner_text()
        assert page.locator("p.total-ceiling").count() == 0
        page.context.close()
    assert problems == [] and OUTSIDE == []
