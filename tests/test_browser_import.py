"""/import in a real headless Chromium: a department's register saved from Chinese Excel (GBK CSV) with
one bad row among good ones is uploaded; the page lists the bad rows by the row and column Excel
shows, and nothing is imported; the corrected file then imports all of them. Desktop and phone.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from browser_helpers import OUTSIDE, live, new_page, shot, sign_in
from ledger_helpers import code, ledger_app
from zhida.ledger import tables as t
from zhida.ledger.database import reading

GOOD = [(code(501), "企业", "湖州庚科技有限公司", "吴兴区"), (code(502), "企业", "湖州辛制造有限公司", "长兴县")]
BAD = (code(503)[:-1] + "?", "企业", "湖州壬有限公司", "杭州市")  # a wrong check character, not a Huzhou county


@pytest.fixture(scope="module")
def served(pack, tmp_path_factory):
    folder = tmp_path_factory.mktemp("import")
    ledger = ledger_app(pack, f"sqlite:///{folder / 'ledger.db'}", folder / "files")
    try:
        with live(ledger.client.app) as url:
            yield url, ledger, folder
    finally:
        ledger.close()


def register_file(folder, rows, name: str):
    path = folder / name
    lines = ["统一社会信用代码,主体类型,名称,所在区县"] + [",".join(row) for row in rows]
    path.write_bytes("\r\n".join(lines).encode("gbk"))  # what Chinese Excel saves as "CSV"
    return path


def subjects(ledger) -> int:
    with reading(ledger.state.factory) as session:
        return session.scalar(select(func.count()).select_from(t.Subject))


@pytest.mark.parametrize("width,height,name", [(1280, 900, "desktop"), (390, 844, "phone")])
def test_bad_spreadsheet_shows_row_errors_and_imports_nothing(served, browser, width, height, name):
    base, ledger, folder = served
    before = subjects(ledger)
    page = new_page(browser, width, height)
    sign_in(page, base, "kejiju")
    page.goto(base + "/import")
    assert page.get_by_role("heading", name="数据导入").is_visible()
    page.get_by_label("主体名册文件(.xlsx 或 .csv)").set_input_files(str(register_file(folder, [GOOD[0], BAD, GOOD[1]], "bad.csv")))
    page.get_by_role("button", name="导入主体名册").click()
    page.wait_for_load_state()
    errors = page.locator(".import-errors tbody tr")
    texts = [errors.nth(i).inner_text() for i in range(errors.count())]
    assert any(text.startswith("3\t统一社会信用代码") for text in texts), texts  # row 3 as Excel shows it
    assert any(text.startswith("3\t所在区县") and "杭州市" in text for text in texts), texts
    assert "没有导入任何一行" in page.locator(".error").inner_text()
    shot(page, f"import-errors-{name}")
    assert subjects(ledger) == before  # nothing imported
    if name == "desktop":  # the corrected file imports every row
        page.get_by_label("主体名册文件(.xlsx 或 .csv)").set_input_files(str(register_file(folder, GOOD, "good.csv")))
        page.get_by_role("button", name="导入主体名册").click()
        page.wait_for_load_state()
        assert "已导入 2 个主体" in page.locator(".notice").inner_text()
        assert subjects(ledger) == before + 2
    page.context.close()
    assert OUTSIDE == []
