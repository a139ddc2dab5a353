"""One whole story across the roles, in a real headless Chromium against the app on loopback.

The focused browser tests (test_browser_self, _console, _dashboard, _import, test_calc_page) each
try one area; this module follows one enterprise's claim from its profile to its money, through
every role's own pages, each role in its own browser context (its own cookies):

 1. every role logs in through the /login form and lands on its home;
 2. the enterprise keeps its service fees typed as 30万, sees its candidate, applies with a PDF;
 3. 市科技局's reviewer opens the case (trace and clause side by side), is refused above the
    ceiling with the reason on the page, then approves within it;
 4. 公示 passes (the ledger's release_due on the day after the period);
 5. finance makes a batch and marks the payment paid;
 6. the applicant sees 已兑现;
 7. leadership's dashboard draws every chart (pixels read), with no console error;
 8. the 简/繁 switch; 9. the calculator reads 30万 as 300000; 10. a bad events spreadsheet.

The steps are the tests below, in file order (pytest keeps it), over one module-scoped server; a
step whose earlier step failed is skipped rather than failing for the wrong reason.

Amounts by hand from (三) 創新券 (lead department 市科技局):
    "按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元"
    service fees 30万 = 300,000.00 元 → 50% = 150,000.00 元 (under the 200,000 元 annual cap):
    最高可得 150,000.00 元. 16万 (160,000.00 元) is above it and refused; 15万 is approved.

Screenshots: tests/screenshots/journey-NN-<page>.png, numbered in the order the pages are visited.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re

import openpyxl
import pytest
from sqlalchemy import func, select

from browser_helpers import OUTSIDE, chromium, live, new_page, shot, sign_in, watch
from ledger_helpers import code, ledger_app
from zhida.ledger import review
from zhida.ledger import tables as t
from zhida.ledger.access import Role
from zhida.ledger.database import reading, transaction

FIRM = code(701, "330521")  # 德清县
FIRM_NAME = "湖州长风科技有限公司"
HOMES = {"qiye": "/me", "kejiju": "/console", "finance": "/finance", "leader": "/dashboard"}
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
CLAUSE = "按实际发生服务费用给予最高50%比例的补助,单个企业全年最高补助20万元"


class Story:
    """What the steps share: the server, one signed-in page per role, and what each step found."""

    def __init__(self, base: str, ledger, browser):
        self.base, self.ledger, self.browser = base, ledger, browser
        self.pages: dict[str, object] = {}
        self.problems: dict[str, list[str]] = {}
        self.done: set[int] = set()
        self.application: int | None = None
        self._shots = itertools.count(1)

    def after(self, step: int) -> None:
        if step not in self.done:
            pytest.skip(f"step {step} of the story did not pass")

    def snap(self, page, name: str) -> None:
        shot(page, f"journey-{next(self._shots):02d}-{name}")


@pytest.fixture(scope="module")
def story(pack, tmp_path_factory):
    folder = tmp_path_factory.mktemp("journey")
    ledger = ledger_app(pack, f"sqlite:///{folder / 'ledger.db'}", folder / "files")
    ledger.subject(FIRM, name=FIRM_NAME, county="德清县")
    ledger.user("qiye", Role.APPLICANT, subject_id=FIRM)
    OUTSIDE.clear()
    try:
        with live(ledger.client.app) as base, chromium() as browser:
            yield Story(base, ledger, browser)
    finally:
        ledger.close()


@pytest.fixture(scope="module")
def invoice(tmp_path_factory):
    path = tmp_path_factory.mktemp("upload") / "科研仪器服务费发票.pdf"
    path.write_bytes(PDF)
    return path


def unexpected(problems: list[str], *statuses: int) -> list[str]:
    """The problems left once the failed loads of pages answered with an expected 4xx are set aside
    (a refused form is re-rendered with its status: Chromium logs that as a console error)."""
    expected = tuple(f"status of {status}" for status in statuses)
    return [text for text in problems if not any(mark in text for mark in expected)]


def main_text(page) -> str:
    return page.locator("main").inner_text()


# --------------------------------------------------------------------------- 1. every role signs in


def test_01_each_role_signs_in_and_lands_home(story):
    for username, home in HOMES.items():
        page = new_page(story.browser)
        story.pages[username] = page
        story.problems[username] = watch(page)
        sign_in(page, story.base, username)
        assert page.url == story.base + home, (username, page.url)
        assert page.locator("h1").first.is_visible()
    # the login form, as anyone signed out sees it
    fresh = new_page(story.browser)
    fresh.goto(story.base + "/login")
    assert fresh.get_by_role("button", name="登录").is_visible()
    story.snap(fresh, "login")
    fresh.context.close()
    story.done.add(1)


# --------------------------------------------------------------------------- 2. the enterprise applies


def test_02_enterprise_keeps_a_profile_sees_its_candidate_and_applies(story, invoice):
    story.after(1)
    page = story.pages["qiye"]
    story.snap(page, "me-empty")
    page.get_by_role("link", name="维护档案").click()
    page.get_by_label("这些数值所属的日期").fill("2025-03-01")
    page.locator("summary", has_text="创新券").click()  # its group is folded until it holds a value
    page.get_by_label("实际发生服务费用(元)").fill("30万")
    page.get_by_role("button", name="保存").click()
    assert "已保存" in page.locator(".notice").inner_text()
    assert "300,000.00 元" in main_text(page)  # 30万 read back in 元
    story.snap(page, "me-profile")
    page.get_by_role("link", name="返回我的政策").click()
    voucher = page.locator("article.candidate", has_text="创新券补助")
    text = voucher.inner_text()
    # 300,000.00 × 50% = 150,000.00 ≤ 200,000 (单个企业全年最高补助20万元)
    assert "最高可得 150,000.00 元" in text and "市科技局" in text and CLAUSE in text
    story.snap(page, "me-candidates")
    voucher.get_by_role("link", name="申请").click()
    assert page.get_by_label("实际发生服务费用(元)").input_value() == "300000.00"  # from the profile
    page.get_by_label("附件(可多选)").set_input_files(str(invoice))
    story.snap(page, "me-apply")
    page.get_by_role("button", name="提交申请").click()
    found = re.search(r"/me/applications/(\d+)\?done=submitted$", page.url)
    assert found, page.url
    story.application = int(found[1])
    text = main_text(page)
    assert "申请已提交" in text and "待审核" in text and "150,000.00 元" in text and invoice.name in text
    story.snap(page, "me-application-submitted")
    assert story.problems["qiye"] == []
    story.done.add(2)


# --------------------------------------------------------------------------- 3. the reviewer decides


def test_03_reviewer_is_refused_above_the_ceiling_then_approves_within_it(story, invoice):
    story.after(2)
    page, number = story.pages["kejiju"], story.application
    page.locator(".console-nav").get_by_role("link", name="申请审核").click()
    row = page.locator("table.queue tbody tr", has_text=FIRM_NAME)
    assert row.count() == 1 and "创新券补助" in row.inner_text() and "待审核" in row.inner_text()
    story.snap(page, "console-queue")
    page.get_by_role("link", name=str(number), exact=True).click()
    assert page.url.startswith(f"{story.base}/console/applications/{number}")
    # the calculator's trace and the clause, side by side (two boxes on one row at desktop width)
    trace, clause = page.locator(".trace-box"), page.locator(".clause-box")
    assert "实际发生服务费用 = 300,000.00 元" in trace.inner_text()
    assert CLAUSE in clause.inner_text()
    left, right = trace.bounding_box(), clause.bounding_box()
    assert left["x"] + left["width"] <= right["x"] and abs(left["y"] - right["y"]) < 2, (left, right)
    assert invoice.name in page.locator("ul.attachments").inner_text()
    story.snap(page, "console-case")
    # 16万 = 160,000.00 元 > 最高可得 150,000.00 元: refused, with the reason on the page
    page.get_by_role("radio", name="核准").check()
    page.get_by_label("核定金额(元,核准时填写)").fill("16万")
    page.get_by_role("button", name="提交决定").click()
    error = page.locator(".error").inner_text()
    assert "核定金额 160,000.00 元超过计算的最高可得 150,000.00 元(创新券补助)" in error, error
    assert page.get_by_label("核定金额(元,核准时填写)").input_value() == "16万"  # kept as typed
    story.snap(page, "console-refused")
    page.get_by_label("核定金额(元,核准时填写)").fill("15万")
    page.get_by_role("button", name="提交决定").click()
    assert re.search(rf"/console/applications/{number}\?done=", page.url), page.url
    assert f"申请 {number} 已核准,核定 150,000.00 元" in page.locator(".notice").inner_text()
    story.snap(page, "console-approved")
    assert unexpected(story.problems["kejiju"], 409) == []
    story.done.add(3)


# --------------------------------------------------------------------------- 4. 公示 passes


def test_04_publicity_passes_and_the_award_becomes_payable(story):
    story.after(3)
    page, number = story.pages["qiye"], story.application
    page.goto(f"{story.base}/me/applications/{number}")
    decision = page.locator(".decision").inner_text()
    assert "核定 150,000.00 元" in decision and "公示中" in decision
    page.get_by_role("link", name="查看公示").click()
    row = page.locator("tr", has_text=FIRM_NAME)
    assert "150,000.00" in row.inner_text() and "创新券补助" in row.inner_text()
    story.snap(page, "publicity")
    # Time is moved, not waited for: the 公示 lasts five working days from today's decision and the
    # app has no clock to set, so the ledger's own release_due runs as on the day after the period
    # ends (what make_batch, the demo seed and a daily job do on that day). Nothing else changes.
    with transaction(story.ledger.state.factory) as session:
        award = session.scalar(select(t.Award).where(t.Award.application_id == number))
        until = award.publicity_until  # five working days: never sooner than four days from today
        assert award.status == "publicity" and until >= dt.date.today() + dt.timedelta(days=4), until
    assert until.isoformat() in row.inner_text()  # 公示截止, as the public list shows it
    finance = story.pages["finance"]
    finance.goto(story.base + "/finance")
    assert "待拨付\n0 笔\n0.00 元" in finance.locator("section.cards").inner_text()  # in 公示: not payable
    with transaction(story.ledger.state.factory) as session:
        released = review.release_due(session, until + dt.timedelta(days=1))
        assert [row.id for row in released] == [award.id]
    page.goto(f"{story.base}/me/applications/{number}")
    assert "待拨付" in page.locator(".decision").inner_text()
    story.done.add(4)


# --------------------------------------------------------------------------- 5. finance pays


def test_05_finance_makes_a_batch_and_marks_it_paid(story):
    story.after(4)
    page = story.pages["finance"]
    page.goto(story.base + "/finance")
    assert "待拨付\n1 笔\n150,000.00 元" in page.locator("section.cards").inner_text()
    story.snap(page, "finance")
    page.get_by_role("button", name="生成拨付批次").click()
    assert re.search(r"/finance/batches/\d+\?done=made$", page.url), page.url
    row = page.locator("table.payments tbody tr")
    assert row.count() == 1 and FIRM_NAME in row.inner_text() and "150,000.00" in row.inner_text()
    story.snap(page, "finance-batch")
    row.get_by_role("button", name=re.compile("^已拨付")).click()
    page.wait_for_load_state()
    cards = page.locator("section.cards").inner_text()
    assert "已拨付\n1 笔\n150,000.00 元" in cards and "待银行回单\n0 笔" in cards
    assert "已拨付" in page.locator("table.payments tbody tr").inner_text()
    story.snap(page, "finance-batch-paid")
    assert story.problems["finance"] == []
    story.done.add(5)


# --------------------------------------------------------------------------- 6. the applicant is paid


def test_06_the_applicant_sees_it_paid(story):
    story.after(5)
    page, number = story.pages["qiye"], story.application
    page.goto(f"{story.base}/me/applications/{number}")
    assert page.locator(".cards .figure").first.inner_text() == "已兑现"
    assert "核定 150,000.00 元 · 已兑现" in page.locator(".decision").inner_text()
    story.snap(page, "me-application-paid")
    page.get_by_role("link", name="我的申报").first.click()
    assert "已兑现" in page.locator("table.data tbody tr", has_text="创新券补助").inner_text()
    story.snap(page, "me-applications")
    assert story.problems["qiye"] == []
    story.done.add(6)


# --------------------------------------------------------------------------- 7. leadership's charts

# Every chart's canvas: its size, and how many distinct colours a sample of its pixels holds
# (a blank canvas has one: transparent).
CANVASES = """() => [...document.querySelectorAll('.chart')].map(chart => {
  const canvas = chart.querySelector('canvas');
  if (!canvas) { return [chart.id, 'no canvas']; }
  if (!canvas.width || !canvas.height) { return [chart.id, 'empty']; }
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const colours = new Set();
  for (let i = 0; i < data.length && colours.size < 50; i += 4 * 7) {
    colours.add(data[i] + ',' + data[i + 1] + ',' + data[i + 2] + ',' + data[i + 3]);
  }
  return [chart.id, colours.size];
})"""


# Pixels of the committed and paid colours of static/dashboard.js (#b42318, #0e7a4d) in one chart.
BAR_PIXELS = """id => {
  const canvas = document.querySelector('#' + id + ' canvas');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const found = {committed: 0, paid: 0};
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] === 0xb4 && data[i + 1] === 0x23 && data[i + 2] === 0x18) { found.committed += 1; }
    if (data[i] === 0x0e && data[i + 1] === 0x7a && data[i + 2] === 0x4d) { found.paid += 1; }
  }
  return found;
}"""


def test_07_leadership_sees_every_chart_drawn(story):
    story.after(5)
    page = story.pages["leader"]
    page.goto(story.base + "/dashboard")  # again: now with the paid award
    page.wait_for_function("document.querySelectorAll('.chart').length > 0 && "
                           "[...document.querySelectorAll('.chart')].every(c => c.querySelector('canvas'))")
    drawn = dict(page.evaluate(CANVASES))
    assert len(drawn) == 6, drawn
    assert all(isinstance(count, int) and count > 5 for count in drawn.values()), drawn
    # and the award itself is drawn: the rules' chart holds two bars of 150,000 元 (committed, paid),
    # far more pixels of their colours than the legend's two small swatches
    bars = page.evaluate(BAR_PIXELS, "chart-rules")
    assert bars["committed"] > 2000 and bars["paid"] > 2000, bars
    # the one paid award, by rule: 创新券补助 150,000.00 committed and paid
    rules = page.locator("table.data tr", has_text="创新券补助").first.inner_text()
    assert rules.count("150,000.00") >= 2, rules
    story.snap(page, "dashboard")
    assert story.problems["leader"] == [] and OUTSIDE == []
    story.done.add(7)


# --------------------------------------------------------------------------- 8. the 简/繁 switch


def test_08_the_script_switch(story):
    story.after(3)
    page = story.pages["qiye"]
    page.goto(story.base + "/me")
    assert "可以申请的政策" in main_text(page) and "创新券补助" in main_text(page)
    # 单个企业全年最高补助20万元: 200,000 − the 150,000 granted in 2025 = 50,000 left (50% of the fees is more)
    assert "最高可得 50,000.00 元" in page.locator("article.candidate", has_text="创新券补助").inner_text()
    page.get_by_role("link", name="繁體中文").click()
    page.wait_for_load_state()
    assert page.url == story.base + "/me"
    text = main_text(page)
    assert "可以申請的政策" in text and "創新券補助" in text and "创新券补助" not in text
    assert "最高可得 50,000.00 元" in page.locator("article.candidate", has_text="創新券補助").inner_text()
    assert page.locator("html").get_attribute("lang") == "zh-Hant"
    story.snap(page, "me-traditional")
    page.get_by_role("link", name="简体中文").click()
    page.wait_for_load_state()
    assert "创新券补助" in main_text(page) and "創新券補助" not in main_text(page)
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    story.done.add(8)


# --------------------------------------------------------------------------- 9. 30万 is 300000


def calculate(page, base: str, fee: str) -> tuple[str, str, str]:
    """The calculator for an enterprise with one 创新券 event of `fee`: (read-back, total, trace)."""
    page.goto(base + "/calc?subject=enterprise")
    page.select_option("select[name=new_type]", "innovation_voucher")
    page.get_by_role("button", name="添加").click()
    page.get_by_label("发生日期").fill("2025-03-01")
    page.get_by_label("实际发生服务费用(元)").fill(fee)
    page.locator("button.primary", has_text="计算").click()
    page.wait_for_load_state()
    return (page.locator("#e0_service_fee-readback").inner_text(),
            page.locator("p.total-ceiling strong").inner_text(), page.locator("ol.trace").inner_text())


def test_09_the_calculator_reads_30_wan_as_300000(story):
    story.after(1)
    page = story.pages["qiye"]
    wan = calculate(page, story.base, "30万")
    story.snap(page, "calc-30-wan")
    plain = calculate(page, story.base, "300000")
    assert wan == plain
    assert wan[0] == "= 300,000.00 元(30 万元)" and wan[1] == "150,000.00"
    assert "实际发生服务费用 = 300,000.00 元" in wan[2]
    assert unexpected(story.problems["qiye"]) == []
    story.done.add(9)


# --------------------------------------------------------------------------- 10. a bad spreadsheet


def events_workbook(folder, rows) -> object:
    """An events .xlsx as the template's headers name the columns (codes as text cells)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["主体代码", "事件类型", "发生日期", "实际发生服务费用"])
    for row in rows:
        sheet.append(list(row))
    path = folder / "创新券事件.xlsx"
    book.save(path)
    return path


def facts(ledger) -> int:
    with reading(ledger.state.factory) as session:
        return session.scalar(select(func.count()).select_from(t.ProfileFact))


def test_10_a_bad_spreadsheet_shows_its_row_errors_and_imports_nothing(story, tmp_path):
    story.after(1)
    page = story.pages["kejiju"]
    before = facts(story.ledger)
    voucher = "使用“创新券”(科研仪器服务)"
    workbook = events_workbook(tmp_path, [
        (FIRM, voucher, "2025-06-01", "50万"),  # a good row: 500,000 元 of fees
        (FIRM, voucher, "2025-07-01", "1e27"),  # row 3 as Excel shows it: not an amount
    ])
    page.goto(story.base + "/import")
    page.get_by_label("事件文件(.xlsx 或 .csv)").set_input_files(str(workbook))
    page.get_by_role("button", name="导入事件").click()
    page.wait_for_load_state()
    errors = page.locator(".import-errors tbody tr")
    texts = [errors.nth(i).inner_text() for i in range(errors.count())]
    assert len(texts) == 1 and texts[0].startswith("3\t实际发生服务费用"), texts
    assert "没有导入任何一行" in page.locator(".error").inner_text()
    story.snap(page, "import-errors")
    assert facts(story.ledger) == before  # not even the good row
    assert unexpected(story.problems["kejiju"], 409, 422) == [] and OUTSIDE == []
    for page in story.pages.values():
        page.context.close()
    story.done.add(10)
