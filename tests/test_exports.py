"""Exports for people: Chinese headers and rule titles, amounts as numeric cells Excel can sum, CSV
with a BOM, the right rows for the right roles, and `zhida match -o x.xlsx` readable by its user.

Hand-computed from (三) 創新券: "按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元"
(rule innovation-voucher, 市科技局): service fees of 246,913.57 元 → 50% = 123,456.785 → 123,456.79
(half-up to the 分), under the 200,000 元 annual cap.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import stat
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from ledger_helpers import code, ledger_app
from zhida.cli import app as cli
from zhida.ledger import tables as t
from zhida.ledger.accounts import actor_of
from zhida.ledger.database import transaction
from zhida.ledger.payments import make_batch
from zhida.ledger.proposals import read_table
from zhida.ledger.access import Role

A = code(201)
B = code(202, "330503")
HOSTILE_NAME = '=HYPERLINK("http://x","点我")'
BOM = b"\xef\xbb\xbf"


@pytest.fixture
def ledger(pack, ledger_url, tmp_path):
    """One award of 123,456.79 元 (A, in 公示) and one rejected application (B, a formula-like name)."""
    ledger = ledger_app(pack, ledger_url, tmp_path / "files")
    ledger.subject(A, name="湖州甲科技有限公司", county="吴兴区")
    ledger.subject(B, name=HOSTILE_NAME, county="南浔区")
    ledger.user("a", Role.APPLICANT, subject_id=A)
    ledger.user("b", Role.APPLICANT, subject_id=B)
    for user, subject, fee in (("a", A, "246913.57"), ("b", B, "1000")):
        submitted = ledger.post(user, "/api/v1/applications", {"subject_id": subject, "rule": "innovation-voucher",
                                                               "event": {"date": "2025-03-01", "service_fee": fee}})
        assert submitted.status_code == 201, submitted.text
        ledger.__dict__.setdefault("applications", []).append(submitted.json()["id"])
    first, second = ledger.applications
    approved = ledger.post("kejiju", f"/api/v1/applications/{first}/decision", {"decision": "approve", "amount": "123456.79"})
    assert approved.status_code == 200, approved.text
    rejected = ledger.post("kejiju", f"/api/v1/applications/{second}/decision",
                           {"decision": "reject", "reason": "服务合同不符合创新券要求"})
    assert rejected.status_code == 200, rejected.text
    yield ledger
    ledger.close()


def sign_in(ledger, username: str) -> None:
    ledger.client.cookies.clear()
    response = ledger.client.post("/login", data={"username": username, "password": "password-" + username},
                                  follow_redirects=False)
    assert response.status_code == 303, response.text


def workbook(response):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    return openpyxl.load_workbook(io.BytesIO(response.content))


def sheet_xml(response, number: int = 1) -> str:
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return archive.read(f"xl/worksheets/sheet{number}.xml").decode()


def csv_rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.content.startswith(BOM)  # Excel opens the Chinese headers right
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_decisions_xlsx_and_csv(ledger):
    sign_in(ledger, "kejiju")
    response = ledger.client.get("/export/decisions.xlsx")
    assert "filename*=UTF-8''%E5%AE%A1%E6%A0%B8%E5%86%B3%E5%AE%9A" in response.headers["content-disposition"]  # 审核决定
    sheet = workbook(response).worksheets[0]
    rows = list(sheet.iter_rows())
    header = [cell.value for cell in rows[0]]
    assert header == ["决定", "编号", "主体名称", "统一社会信用代码/身份证号码", "区县", "政策", "条款", "牵头部门",
                      "核定金额(元)", "计算上限(元)", "状态", "决定日期", "理由"]
    approved, refused = ([cell.value for cell in row] for row in rows[1:])
    assert approved[:8] == ["核准", approved[1], "湖州甲科技有限公司", A, "吴兴区", "创新券补助", "(三)", "市科技局"]
    amount = rows[1][8]
    assert (amount.data_type, amount.number_format, amount.value) == ("n", "#,##0.00", 123456.79)
    assert "<v>123456.79</v>" in sheet_xml(response)  # the exact Decimal digits, not a binary float's
    assert approved[10] == "公示中"
    assert refused[0] == "驳回" and refused[2] == "'" + HOSTILE_NAME and refused[8] is None
    assert refused[9] == 500 and refused[12] == "服务合同不符合创新券要求"  # ceiling 50% × 1000
    rows = csv_rows(ledger.client.get("/export/decisions.csv"))
    assert [row["核定金额(元)"] for row in rows] == ["123456.79", ""]
    assert rows[1]["主体名称"] == "'" + HOSTILE_NAME  # neutralised: not a formula
    # another department sees none of 市科技局's decisions; an applicant may not export
    sign_in(ledger, "shangwuju")
    assert len(list(workbook(ledger.client.get("/export/decisions.xlsx")).worksheets[0].iter_rows())) == 1
    sign_in(ledger, "a")
    assert ledger.client.get("/export/decisions.xlsx").status_code == 403


def test_publicity_is_public_and_budget_is_for_leadership(ledger):
    ledger.client.cookies.clear()
    rows = csv_rows(ledger.client.get("/export/publicity.csv"))
    assert [(row["主体名称"], row["政策"], row["金额(元)"], row["牵头部门"]) for row in rows] == [
        ("湖州甲科技有限公司", "创新券补助", "123456.79", "市科技局")]
    book = workbook(ledger.client.get("/export/publicity.xlsx"))
    assert book.worksheets[0]["G2"].data_type == "n" and book.worksheets[0]["G2"].value == 123456.79
    assert ledger.client.get("/export/budget.xlsx", follow_redirects=False).status_code == 303  # sign in first
    sign_in(ledger, "kejiju")
    assert ledger.client.get("/export/budget.xlsx").status_code == 403
    sign_in(ledger, "leader")
    response = ledger.client.get("/export/budget.xlsx")
    book = workbook(response)
    assert book.sheetnames == ["按领域", "按部门", "按区县", "按规则", "合计", "预警"]  # the same workbook as the CLI's
    assert [cell.value for cell in book["预警"][1]] == ["领域", "类别", "规则或区县", "预警", "说明"]
    areas = list(book["按领域"].iter_rows())
    assert [cell.value for cell in areas[0]][:7] == ["领域", "名称", "部门", "文件预算(元)", "预算或分配(元)", "已承诺(元)", "已拨付(元)"]
    first = areas[1]  # 一、教育科技人才: 全市財政預算安排 … the only award is committed there
    assert first[0].value == "1" and first[2].value == "市科技局"
    assert (first[5].data_type, first[5].value) == ("n", 123456.79)
    rules = {row[0].value: row for row in book["按规则"].iter_rows(min_row=2)}
    assert rules["innovation-voucher"][1].value == "创新券补助" and rules["innovation-voucher"][5].value == 123456.79
    rows = csv_rows(ledger.client.get("/export/budget.csv"))
    assert rows[0]["分组"] == "按领域" and rows[0]["已承诺(元)"] == "123456.79"
    assert ledger.client.get("/export/budget.pdf").status_code == 404


def test_payment_batch_for_finance(ledger, pack):
    with transaction(ledger.state.factory) as session:
        finance = session.scalar(select(t.User).where(t.User.username == "finance"))
        batch = make_batch(session, actor_of(finance), today=dt.date.today() + dt.timedelta(days=30)).id
    sign_in(ledger, "leader")
    assert ledger.client.get(f"/export/payments/{batch}.xlsx").status_code == 403
    sign_in(ledger, "finance")
    response = ledger.client.get(f"/export/payments/{batch}.xlsx")
    sheet = workbook(response).worksheets[0]
    assert [cell.value for cell in sheet[1]] == ["批次", "序号", "主体名称", "统一社会信用代码/身份证号码", "政策", "条款", "金额(元)", "状态"]
    assert [cell.value for cell in sheet[2]] == [batch, 1, "湖州甲科技有限公司", A, "创新券补助", "(三)", 123456.79, "待银行回单"]
    assert sheet["G2"].data_type == "n" and sheet["G2"].number_format == "#,##0.00"
    rows = csv_rows(ledger.client.get(f"/export/payments/{batch}.csv"))
    assert rows[0]["金额(元)"] == "123456.79"
    assert ledger.client.get(f"/export/payments/{batch + 99}.xlsx").status_code == 404
    assert ledger.client.get("/export/payments/1'%5D.xlsx").status_code == 404  # a hostile id is just an unknown one


def test_match_excel_is_readable_numeric_and_read_back_by_propose(tmp_path: Path):
    """(十七) 一級能效家電按20%補貼: 20% of 1000.10 = 200.02; the file is the user's to share (0644)."""
    (tmp_path / "s.csv").write_text("subject_id,kind,county\nC1,consumer,吴兴区\n", encoding="utf-8")
    (tmp_path / "e.csv").write_text("event_id,subject_id,type,date,grade,price\nT1,C1,trade_in_appliance,2025-05-01,一级,1000.10\n",
                                    encoding="utf-8")
    out = tmp_path / "out.xlsx"
    private = os.umask(0o077)  # files the writer makes in its private directory are then 0600
    try:
        result = CliRunner().invoke(cli, ["match", str(tmp_path / "s.csv"), str(tmp_path / "e.csv"), "-o", str(out)])
    finally:
        os.umask(private)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    sheet = openpyxl.load_workbook(out).worksheets[0]
    header = [cell.value for cell in sheet[1]]
    assert header[:8] == ["主体代码", "事件编号", "发生日期", "规则", "政策", "条", "类别", "金额(元)"]
    amount = sheet.cell(row=2, column=8)
    assert (amount.data_type, amount.value, amount.number_format) == ("n", 200.02, "#,##0.00")
    assert sheet.cell(row=2, column=5).value == "一级能效家电换新补贴"
    # zhida propose reads the Chinese headers back to keys, and the numeric amount as the exact decimal
    row = read_table(out)[0]
    assert (row["subject_id"], row["rule"], row["amount"]) == ("C1", "appliance-grade-1", Decimal("200.02"))
