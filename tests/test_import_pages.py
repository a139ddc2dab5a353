"""/import: the register and events from Excel or CSV (UTF-8, UTF-8 with BOM, GBK), all rows or none.

A department saves its register from Chinese Excel as "CSV" (GBK) or keeps it as .xlsx with Chinese
headers; the import puts exactly those subjects and facts in the ledger, or, when any row is bad,
nothing, listing every bad row by the row number Excel shows and the header as written.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re

import openpyxl
import pytest
from sqlalchemy import select

from ledger_helpers import code, ledger_app
from zhida.ledger import tables as t
from zhida.ledger.database import reading
from zhida.ledger.imports import read_sheet

A, B, C = code(101), code(102), code(103)


@pytest.fixture
def ledger(pack, ledger_url, tmp_path):
    ledger = ledger_app(pack, ledger_url, tmp_path / "files")
    yield ledger
    ledger.close()


def sign_in(ledger, username: str = "admin") -> None:
    response = ledger.client.post("/login", data={"username": username, "password": "password-" + username},
                                  follow_redirects=False)
    assert response.status_code == 303, response.text


def upload(ledger, which: str, data: bytes, filename: str):
    """The import form as a person posts it: the page's guard fields, the file."""
    page = ledger.client.get("/import")
    assert page.status_code == 200, page.text
    form = page.text.split(f'action="/import/{which}"')[1]
    fields = dict(re.findall(r'name="(csrf_token|once)" value="([^"]+)"', form)[:2])
    return ledger.client.post(f"/import/{which}", data=fields, files={"file": (filename, data)}, follow_redirects=False)


def subjects_in(ledger) -> list[tuple]:
    with reading(ledger.state.factory) as session:
        return [tuple(row) for row in session.execute(
            select(t.Subject.id, t.Subject.kind, t.Subject.name, t.Subject.county).order_by(t.Subject.id))]


def facts_in(ledger) -> list[tuple]:
    with reading(ledger.state.factory) as session:
        return [tuple(row) for row in session.execute(
            select(t.ProfileFact.subject_id, t.ProfileFact.field, t.ProfileFact.value, t.ProfileFact.source,
                   t.ProfileFact.as_of).order_by(t.ProfileFact.subject_id, t.ProfileFact.field))]


def error_rows(page: str) -> list[tuple[str, str, str]]:
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    cells = re.findall(r"<tr><td class=\"num\">(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", body)
    return [tuple(html.unescape(cell) for cell in row) for row in cells]


REGISTER_CSV = (
    "统一社会信用代码,主体类型,名称,所在区县\r\n"
    f"{A},企业,湖州甲科技有限公司,吴兴区\r\n"
    f"{B},enterprise,\"湖州乙(集团)有限公司\",德清縣\r\n"
)


def test_register_in_gbk_and_events_in_utf8_with_bom(ledger):
    sign_in(ledger)
    answer = upload(ledger, "register", REGISTER_CSV.encode("gbk"), "名册.csv")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/import?imported=register&count=2"
    assert "已导入 2 个主体" in ledger.client.get(answer.headers["location"]).text
    # 德清縣 (Traditional) is stored as the county's Simplified name
    assert subjects_in(ledger) == sorted([(A, "enterprise", "湖州甲科技有限公司", "吴兴区"),
                                          (B, "enterprise", "湖州乙(集团)有限公司", "德清县")])
    events = (
        "事件编号,主体代码,事件类型,发生日期,实际发生服务费用,认定类型\r\n"
        f"E1,{A},innovation_voucher,2025-03-01,\"300,000.50\",\r\n"
        f"E2,{B},高新技术企业认定,2025-04-02,,首次認定\r\n"
    )
    answer = upload(ledger, "events", events.encode("utf-8-sig"), "events.csv")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/import?imported=events&count=2"
    assert facts_in(ledger) == [
        (A, "service_fee", "300000.50", "imported", dt.date(2025, 3, 1)),
        (B, "recognition", "首次认定", "imported", dt.date(2025, 4, 2)),
    ]


def test_register_and_events_from_excel_with_chinese_headers(ledger):
    sign_in(ledger, "kejiju")  # a department's reviewer imports too; the facts' source is still "imported"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["统一社会信用代码", "主体类型", "名称", "所在区县"])
    sheet.append([C, "企业", "=1+1", None])  # a formula is data: the name is the text "=1+1"
    assert upload(ledger, "register", _saved(book), "register.xlsx").status_code == 303
    assert subjects_in(ledger) == [(C, "enterprise", "=1+1", None)]
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["主体代码", "事件类型", "发生日期", "研发费用", "营业收入"])
    sheet.append([C, "年度研发投入", dt.datetime(2025, 6, 30), 1234567.89, 98765432])
    assert upload(ledger, "events", _saved(book), "events.xlsx").status_code == 303
    assert facts_in(ledger) == [
        (C, "rd_expense", "1234567.89", "imported", dt.date(2025, 6, 30)),
        (C, "revenue", "98765432", "imported", dt.date(2025, 6, 30)),
    ]


def test_one_bad_row_imports_nothing_and_names_row_and_column(ledger):
    sign_in(ledger)
    bad = REGISTER_CSV + f"{C},外星人,湖州丙有限公司,吴兴区\r\n" + f"{A}X,企业,湖州丁有限公司,杭州市\r\n"
    answer = upload(ledger, "register", bad.encode("gb18030"), "名册.csv")
    assert answer.status_code == 422
    assert subjects_in(ledger) == []
    rows = error_rows(answer.text)
    assert rows[0][:2] == ("4", "主体类型") and "未知的主体类型" in rows[0][2]
    assert ("5", "统一社会信用代码") in [row[:2] for row in rows]
    assert ("5", "所在区县") in [row[:2] for row in rows]
    assert "没有导入任何一行" in answer.text


def test_hostile_values_are_row_errors(ledger):
    sign_in(ledger)
    assert upload(ledger, "register", REGISTER_CSV.encode("utf-8"), "r.csv").status_code == 303
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["event_id", "subject_id", "type", "date", "service_fee"])
    sheet.append(["E1", A, "innovation_voucher", "2025-03-01", 1e27])
    sheet.append(["E2", A, "innovation_voucher", "2025-03-01", "=1+1"])
    sheet.append(["E3", B, "innovation_voucher", "2025-02-30", "-5"])
    sheet.append(["E4", B, "']\"<script>", "2025-03-01", "100"])
    sheet.append(["E4", code(999), "innovation_voucher", "2025-03-01", 0.125])
    sheet.append(["E6", A, "innovation_voucher", "2025-03-01", "100"])  # a good row among them
    answer = upload(ledger, "events", _saved(book), "events.xlsx")
    assert answer.status_code == 422
    assert facts_in(ledger) == []
    found = {(row, column): message for row, column, message in error_rows(answer.text)}
    assert "超出上限" in found[("2", "service_fee")]
    assert "'=1+1'" in found[("3", "service_fee")]
    assert "存在的日期" in found[("4", "date")] and "负数" in found[("4", "service_fee")]
    assert "未知的事件类型" in found[("5", "type")]
    assert "<script>" not in answer.text  # the hostile value is shown escaped
    assert "重复" in found[("6", "event_id")] and "不在账本中" in found[("6", "subject_id")]
    assert "两位小数" in found[("6", "service_fee")]  # 0.125 元 is not money: 分 is the last place
    assert not [key for key in found if key[0] == "7"]


def test_binary_and_old_excel_are_refused(ledger):
    sign_in(ledger)
    answer = upload(ledger, "register", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "old.xls")
    assert answer.status_code == 422 and "旧版 Excel" in answer.text
    answer = upload(ledger, "register", bytes(range(256)) * 4, "x.csv")
    assert answer.status_code == 422 and "不是 Excel(.xlsx)或 CSV 文本文件" in answer.text
    assert subjects_in(ledger) == []


def test_templates_have_chinese_headers_and_read_back(ledger, pack):
    sign_in(ledger, "shangwuju")
    response = ledger.client.get("/import/templates/register.xlsx")
    assert response.status_code == 200
    assert "filename*=UTF-8''%E4%B8%BB%E4%BD%93" in response.headers["content-disposition"]  # 主体…
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert [cell.value for cell in book.worksheets[0][1]] == ["统一社会信用代码", "主体类型", "名称", "所在区县"]
    assert book.sheetnames == ["主体名册", "填写说明"]
    events = ledger.client.get("/import/templates/events.csv")
    assert events.content.startswith(b"\xef\xbb\xbf" + "事件编号,主体代码,事件类型,发生日期,".encode())
    # every field of every event type has a column in the template: a filled template reads back
    sheet = read_sheet(events.content)
    for event_type in pack.events.values():
        for event_field in event_type.fields:
            assert event_field.title in sheet.headers
    assert ledger.client.get("/import/templates/other.xlsx").status_code == 404


def test_import_is_for_reviewers_and_admin(ledger):
    sign_in(ledger, "finance")
    assert ledger.client.get("/import").status_code == 403
    anonymous = ledger.client.__class__(ledger.client.app)
    assert anonymous.get("/import", follow_redirects=False).status_code == 303
    anonymous.close()


def test_error_list_is_bounded(ledger):
    """300 bad rows: the page lists the first 200 and says how many there are."""
    sign_in(ledger)
    rows = "".join(f"X{n},enterprise,n{n},\r\n" for n in range(300))
    answer = upload(ledger, "register", ("subject_id,kind,name,county\r\n" + rows).encode(), "r.csv")
    assert answer.status_code == 422
    assert "共 300 处,列出前 200 处" in answer.text and len(error_rows(answer.text)) == 200


def _saved(book) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()

