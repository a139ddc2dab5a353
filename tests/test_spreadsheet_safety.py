"""A result written as CSV or Excel cannot attack the person who opens it (OWASP: CSV injection).

A register's text (a county, a subject id, an event id) goes into the result as it came. A cell
that starts with =, +, -, @, a tab or a carriage return is a formula to Excel, LibreOffice and
Google Sheets (=HYPERLINK sends the reader's data away); match writes it with a leading
apostrophe, so it is shown as the text it is. Amounts stay exact decimal text.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from zhida.cli import app
from zhida.engine.match import COLUMN_TITLES, neutralise

runner = CliRunner()

HOSTILE = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TEXT_COLUMNS = ("subject_id", "event_id", "county")


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    """A register whose ids and counties are all formulas, matched to .csv and .xlsx."""
    folder = tmp_path_factory.mktemp("hostile-register")
    with (folder / "subjects.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["subject_id", "kind", "county"])
        writer.writerows([value, "consumer", value] for value in HOSTILE)
    with (folder / "events.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["event_id", "subject_id", "type", "date", "grade", "price"])
        writer.writerows([value, value, "trade_in_appliance", "2025-05-01", "一级", "1000.10"] for value in HOSTILE)
    for name in ("out.csv", "out.xlsx"):
        arguments = [str(folder / "subjects.csv"), str(folder / "events.csv"), "-o", str(folder / name)]
        result = runner.invoke(app, ["match", *arguments])
        assert result.exit_code == 0, result.output
    return folder


def test_no_excel_cell_is_a_formula(written):
    workbook = openpyxl.load_workbook(written / "out.xlsx")  # not read-only: data_type is the stored type
    sheet = workbook.worksheets[0]
    rows = list(sheet.iter_rows())
    header = [cell.value for cell in rows[0]]
    assert len(rows) == 1 + len(HOSTILE)
    for row in rows[1:]:
        for cell in row:
            assert cell.data_type != "f", cell.coordinate
            text = cell.value if isinstance(cell.value, str) else ""
            assert not text.startswith(FORMULA_STARTS), (cell.coordinate, text)
    # the text is kept, behind the apostrophe; the amount is exact: (十七) 一級能效家電按20%補貼, 20% of 1000.10
    # A carriage return comes back from the sheet's XML as a line feed (XML end-of-line handling).
    expected = ["'" + value.replace("\r", "\n") for value in HOSTILE]
    column = {key: header.index(title) for key, title in COLUMN_TITLES.items()}  # Chinese headers
    by_event = {row[column["event_id"]].value: row for row in rows[1:]}
    assert sorted(by_event) == sorted(expected)
    for value in expected:
        row = by_event[value]
        assert [row[column[name]].value for name in TEXT_COLUMNS] == [value] * 3
        amount = row[column["amount"]]  # a numeric cell Excel can sum, its exact digits in the file
        assert (amount.data_type, amount.value, amount.number_format) == ("n", 200.02, "#,##0.00")
    workbook.close()


def test_no_csv_cell_starts_a_formula(written):
    with (written / "out.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(HOSTILE)
    for row in rows:
        for name, value in row.items():
            assert not value.startswith(FORMULA_STARTS), (name, value)
    assert sorted(row["county"] for row in rows) == sorted("'" + value for value in HOSTILE)
    assert sorted(row["subject_id"] for row in rows) == sorted("'" + value for value in HOSTILE)
    assert {row["amount"] for row in rows} == {"200.02"}
    assert sum(Decimal(row["amount"]) for row in rows) == Decimal("200.02") * len(HOSTILE)


def test_plain_text_is_left_alone():
    assert neutralise("91330502MA2B3C4D5E") == "91330502MA2B3C4D5E"
    assert neutralise("吴兴区") == "吴兴区"
    assert neutralise("") == ""
    assert neutralise("a=1") == "a=1"  # only the first character makes a formula
    assert neutralise("＝1") == "'＝1"  # the full-width sign Chinese input methods type


def test_a_ledger_list_over_the_excel_row_limit_is_refused_and_leaves_no_open_sheet(monkeypatch):
    # An Excel sheet holds 1,048,576 rows, one of them the header; a longer list is refused (422, download CSV).
    # The sheet already streaming rows is closed: collected afterwards, it raises nothing (pytest fails a test
    # on an unraisable error, which openpyxl's half-written row writer used to be).
    import gc

    from zhida.ledger import sheets
    from zhida.ledger.access import Refused

    monkeypatch.setattr(sheets, "EXCEL_ROW_LIMIT", 2)
    table = sheets.Table("补贴名单", [sheets.Column("主体"), sheets.Column("金额", "money")],
                         [("C1", Decimal("1.00")), ("C2", Decimal("2.00")), ("C3", Decimal("3.00"))])
    with pytest.raises(Refused) as refused:
        sheets.xlsx_bytes([table])
    assert refused.value.status == 422 and "补贴名单超过 Excel 单表上限 2 行" in str(refused.value)
    del refused
    gc.collect()
    assert sheets.xlsx_bytes([sheets.Table("补贴名单", table.columns, table.rows[:2])])  # two rows fit
