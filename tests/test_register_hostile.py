"""Hostile and careless registers: refused with one message naming file, row and column, exit 2, nothing written.

Each refusal here used to be silent or a traceback: 1.5 years rounded to 2 by a cast, money
rounded to the 分 without a word, a blank id accepted, a repeated header renamed price_1, a
ragged CSV line reported as "Error when sniffing file", a quote in a path or a choice value
breaking the SQL, and --memory-limit pasted into a SET statement.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import signal
import subprocess
import sys
import time
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from zhida.cli import app
from zhida.engine.match import COLUMN_TITLES, match
from zhida.engine.register import RegisterError
from zhida.rules.model import EventField, FieldType
from zhida.rules.pack import load_pack

PACK = load_pack(Path(__file__).resolve().parents[1] / "policies" / "huzhou-2025")
runner = CliRunner()

SUBJECTS = "subject_id,kind,county\nC1,consumer,吴兴区\nE1,enterprise,德清县\n"
APPLIANCE = "event_id,subject_id,type,date,grade,price\n"
SOFTWARE = "event_id,subject_id,type,date,status,taxable_income,tax_year,profit_year\n"
SOFTWARE_ROW = "T1,E1,software_income_tax,2025-05-01,符合条件的软件企业,100000,2025,"


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _run(subjects: Path, events: Path, out: Path, *options: str):
    return runner.invoke(app, ["match", str(subjects), str(events), "-o", str(out), *options])


def _refused(tmp_path: Path, events: Path, subjects: Path | None = None, *options: str) -> str:
    """Run `zhida match`; assert exit 2 and that the output directory holds nothing; return the message."""
    subjects = subjects or _write(tmp_path, "subjects.csv", SUBJECTS)
    out = tmp_path / "out" / "result.csv"
    result = _run(subjects, events, out, *options)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
    return result.output


def _xlsx(path: Path, rows: list[list]) -> Path:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    workbook.save(path)
    return path


def _replace_in_zip(path: Path, member: str, old: bytes, new: bytes) -> None:
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    assert old in members[member]
    members[member] = members[member].replace(old, new)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _software_parquet(path: Path, profit_years: pa.Array, incomes: pa.Array | None = None) -> Path:
    count = len(profit_years)
    table = pa.table({
        "event_id": [f"T{i}" for i in range(1, count + 1)],
        "subject_id": ["E1"] * count,
        "type": ["software_income_tax"] * count,
        "date": pa.array([date(2025, 5, 1)] * count, pa.date32()),
        "status": ["符合条件的软件企业"] * count,
        "taxable_income": pa.array([Decimal("100000.00")] * count, pa.decimal128(18, 2)) if incomes is None else incomes,
        "tax_year": pa.array([2025] * count, pa.int64()),
        "profit_year": profit_years,
    })
    pq.write_table(table, path)
    return path


# ---------------------------------------------------------------- integers with a fraction


def test_an_integer_with_a_fraction_in_csv_is_refused_not_rounded(tmp_path):
    rows = SOFTWARE_ROW + "1\n" + SOFTWARE_ROW.replace("T1", "T2") + "1.5\n"
    events = _write(tmp_path, "events.csv", SOFTWARE + rows)
    assert "events.csv: 第 3 行,列 profit_year: '1.5' 不是 整数" in _refused(tmp_path, events)


def test_an_integer_with_a_fraction_in_excel_is_refused(tmp_path):
    header = SOFTWARE.strip().split(",")
    row = ["T1", "E1", "software_income_tax", "2025-05-01", "符合条件的软件企业", 100000, 2025, 1.5]
    events = _xlsx(tmp_path / "events.xlsx", [header, row])
    assert "events.xlsx: 第 2 行,列 profit_year: '1.5' 不是 整数" in _refused(tmp_path, events)


@pytest.mark.parametrize("arrow_type", [pa.float64(), pa.decimal128(10, 1)], ids=["double", "decimal"])
def test_an_integer_with_a_fraction_in_typed_parquet_is_refused(tmp_path, arrow_type):
    values = [1.0, 1.5] if arrow_type == pa.float64() else [Decimal("1"), Decimal("1.5")]
    events = _software_parquet(tmp_path / "events.parquet", pa.array(values, arrow_type))
    # Parquet rows are counted from 1: the second row holds 1.5
    assert "events.parquet: 第 2 行,列 profit_year: '1.5' 不是 整数" in _refused(tmp_path, events)


def test_a_whole_number_written_with_a_point_is_an_integer(tmp_path):
    events = _write(tmp_path, "events.csv", SOFTWARE + SOFTWARE_ROW + "2.0\n")
    result = _run(_write(tmp_path, "subjects.csv", SUBJECTS), events, tmp_path / "out.parquet")
    assert result.exit_code == 0, result.output


# ---------------------------------------------------------------- money with more than two decimals


@pytest.mark.parametrize("price", ["100.00000000001", "0.30000000000000004", "100.001"])
def test_money_text_with_more_than_two_decimals_is_refused(tmp_path, price):
    events = _write(tmp_path, "events.csv", APPLIANCE + f"T1,C1,trade_in_appliance,2025-05-01,一级,{price}\n")
    assert f"events.csv: 第 2 行,列 price: '{price}' 不是 金额(最多两位小数)" in _refused(tmp_path, events)


def test_money_in_a_parquet_decimal_with_four_places_is_refused_when_it_uses_them(tmp_path):
    incomes = pa.array([Decimal("1.2300"), Decimal("1.2345")], pa.decimal128(18, 4))
    events = _software_parquet(tmp_path / "events.parquet", pa.array([1, 1], pa.int64()), incomes)
    assert "events.parquet: 第 2 行,列 taxable_income: '1.2345' 不是 金额(最多两位小数)" in _refused(tmp_path, events)


def test_money_as_an_excel_float_sum_is_refused(tmp_path):
    header = APPLIANCE.strip().split(",")
    events = _xlsx(tmp_path / "events.xlsx", [header, ["T1", "C1", "trade_in_appliance", "2025-05-01", "一级", 0.125]])
    # Excel stores =0.1+0.2 with 17 digits; openpyxl would write 0.3, so the stored text is set by hand.
    _replace_in_zip(events, "xl/worksheets/sheet1.xml", b"<v>0.125</v>", b"<v>0.30000000000000004</v>")
    assert "events.xlsx: 第 2 行,列 price: '0.30000000000000004' 不是 金额(最多两位小数)" in _refused(tmp_path, events)


def test_money_with_trailing_zeros_is_exact_and_computed(tmp_path):
    # 第十七條: 一級能效家電按20%補貼 — 20% of 1000.10 is 200.02
    events = _write(tmp_path, "events.csv", APPLIANCE + "T1,C1,trade_in_appliance,2025-05-01,一级, 1000.1000 \n")
    out = tmp_path / "out.parquet"
    result = _run(_write(tmp_path, "subjects.csv", SUBJECTS), events, out)
    assert result.exit_code == 0, result.output
    rows = pq.read_table(out).to_pylist()
    assert [(r["rule"], r["amount"]) for r in rows] == [("appliance-grade-1", Decimal("200.02"))]


def _pack_with(event: str, field: EventField):
    """The Huzhou pack with one more field on one event type (no Huzhou field is a number, none has a quote)."""
    event_type = PACK.events[event]
    changed = event_type.model_copy(update={"fields": (*event_type.fields, field)})
    return dataclasses.replace(PACK, events={**PACK.events, event: changed})


def test_a_number_with_more_than_six_decimals_is_refused(tmp_path):
    pack = _pack_with("trade_in_appliance", EventField(name="floor_area", type=FieldType.NUMBER, title="面积"))
    subjects = _write(tmp_path, "subjects.csv", SUBJECTS)
    header = APPLIANCE.strip() + ",floor_area\n"
    events = _write(tmp_path, "events.csv", header + "T1,C1,trade_in_appliance,2025-05-01,一级,100,1.0000001\n")
    with pytest.raises(RegisterError) as refused:
        match(pack, subjects, events, tmp_path / "out" / "o.parquet")
    assert "events.csv: 第 2 行,列 floor_area: '1.0000001' 不是 数字(最多六位小数)" in str(refused.value)
    assert list((tmp_path / "out").iterdir()) == []
    events.write_text(header + "T1,C1,trade_in_appliance,2025-05-01,一级,100,1.000001\n", encoding="utf-8")
    assert match(pack, subjects, events, tmp_path / "out" / "o.parquet").total == Decimal("20.00")


# ---------------------------------------------------------------- blank keys


@pytest.mark.parametrize("blank", ['""', "   ", "\u3000"], ids=["empty", "spaces", "ideographic-space"])
def test_a_blank_event_id_is_refused(tmp_path, blank):
    events = _write(tmp_path, "events.csv", APPLIANCE + f"{blank},C1,trade_in_appliance,2025-05-01,一级,100\n")
    assert "events.csv: 第 2 行,列 event_id: 为空" in _refused(tmp_path, events)


@pytest.mark.parametrize(
    "blank", ["", "   ", "\u3000", "\t", "\u00a0", None], ids=["empty", "spaces", "ideographic", "tab", "nbsp", "null"]
)
def test_a_blank_id_in_a_parquet_file_is_found_whatever_its_statistics_say(tmp_path, blank):
    # Parquet keys are cleared by the file's statistics when every row group's smallest and largest values
    # start with printable ASCII (register._never_blank_in_file). A blank id among ordinary ones puts a
    # space, a control character or a character above ASCII first in its row group's bounds, so the column
    # is read and the row named; here in the second of three row groups.
    ids = [f"T{i:03}" for i in range(30)]
    ids[14] = blank
    assert "events.parquet: 第 15 行,列 event_id: 为空" in _refused(tmp_path, _appliances_parquet(tmp_path, ids))


def test_ids_that_the_statistics_clear_are_not_refused(tmp_path):
    # The same file without the blank: every bound starts with T, and the match runs: each of the 30 grade-1
    # appliances is one claim, "一級、二級能效家電分別按20%、15%補貼,最高補貼2000元/件" (20% of 100 元 = 20.00).
    events = _appliances_parquet(tmp_path, [f"T{i:03}" for i in range(30)])
    result = _run(_write(tmp_path, "subjects.csv", SUBJECTS), events, tmp_path / "out.parquet")
    assert result.exit_code == 0, result.output
    written = pq.read_table(tmp_path / "out.parquet")
    assert written.num_rows == 30 and set(written.column("amount").to_pylist()) == {Decimal("20.00")}


def _appliances_parquet(folder: Path, ids: list) -> Path:
    """Grade-1 appliance trade-ins of 100 元 by consumer C1, one per id, in row groups of 10 rows."""
    n = len(ids)
    table = pa.table({
        "event_id": ids, "subject_id": ["C1"] * n, "type": ["trade_in_appliance"] * n,
        "date": [date(2025, 5, 1)] * n, "grade": ["一级"] * n, "price": pa.array([Decimal(100)] * n, pa.decimal128(18, 2)),
    })
    pq.write_table(table, folder / "events.parquet", row_group_size=10)
    return folder / "events.parquet"


def test_a_blank_type_and_subject_are_refused(tmp_path):
    events = _write(tmp_path, "events.csv", APPLIANCE + "T1,C1, ,2025-05-01,一级,100\n")
    assert "events.csv: 第 2 行,列 type: 为空" in _refused(tmp_path, events)
    events = _write(tmp_path, "events.csv", APPLIANCE + "T1,  ,trade_in_appliance,2025-05-01,一级,100\n")
    assert "events.csv: 第 2 行,列 subject_id: 为空" in _refused(tmp_path, events)
    subjects = _write(tmp_path, "subjects.csv", SUBJECTS + " ,consumer,吴兴区\n")
    assert "subjects.csv: 第 4 行,列 subject_id: 为空" in _refused(tmp_path, events, subjects)


# ---------------------------------------------------------------- headers


def test_a_repeated_csv_header_is_refused_not_renamed(tmp_path):
    header = APPLIANCE.strip() + ",Price\n"
    events = _write(tmp_path, "events.csv", header + "T1,C1,trade_in_appliance,2025-05-01,一级,100,200\n")
    assert "events.csv: 第 1 行,列 Price: 列名重复(第 6 列与第 7 列)" in _refused(tmp_path, events)


def test_a_repeated_excel_header_is_refused(tmp_path):
    header = [*APPLIANCE.strip().split(","), "price"]
    events = _xlsx(tmp_path / "events.xlsx", [header, ["T1", "C1", "trade_in_appliance", "2025-05-01", "一级", 100, 200]])
    assert "events.xlsx: 第 1 行,列 price: 列名重复(第 6 列与第 7 列)" in _refused(tmp_path, events)


def test_an_excel_value_without_a_column_name_is_refused(tmp_path):
    header = APPLIANCE.strip().split(",")
    row = ["T1", "C1", "trade_in_appliance", "2025-05-01", "一级", 100, "备注"]
    events = _xlsx(tmp_path / "events.xlsx", [header, row])
    assert "events.xlsx: 第 2 行,第 7 列: 有值 '备注' 但该列没有列名" in _refused(tmp_path, events)


def test_a_csv_with_a_byte_order_mark_reads(tmp_path):
    # Excel's "CSV UTF-8" starts the file with a BOM; the first column is still event_id
    events = tmp_path / "events.csv"
    events.write_bytes(("\ufeff" + APPLIANCE + "T1,C1,trade_in_appliance,2025-05-01,一级,100\n").encode("utf-8"))
    result = _run(_write(tmp_path, "subjects.csv", SUBJECTS), events, tmp_path / "out.parquet")
    assert result.exit_code == 0, result.output


# ---------------------------------------------------------------- ragged lines, bytes that are not UTF-8


@pytest.mark.parametrize(
    "line, count",
    [("T2,C1,trade_in_appliance,2025-05-01,一级,100,extra", 7), ("T2,C1,trade_in_appliance,2025-05-01,一级", 5)],
    ids=["too-many", "too-few"],
)
def test_a_csv_line_with_the_wrong_number_of_fields_is_named(tmp_path, line, count):
    events = _write(tmp_path, "events.csv", APPLIANCE + "T1,C1,trade_in_appliance,2025-05-01,一级,100\n" + line + "\n")
    assert f"events.csv: 第 3 行: 有 {count} 个字段,表头有 6 个" in _refused(tmp_path, events)


def test_invalid_utf8_is_named_by_line_and_byte(tmp_path):
    head = APPLIANCE + "T1,C1,trade_in_appliance,2025-05-01,一级,100\nT2,C1,trade_in_appliance,2025-05-01,"
    head = head.encode("utf-8")
    events = tmp_path / "events.csv"
    events.write_bytes(head + b"\xbc\xb6,100\n")  # 级 in GBK, as a Windows export writes it
    output = _refused(tmp_path, events)
    assert f"events.csv: 第 3 行(文件第 {len(head) + 1} 个字节): 不是 UTF-8 编码的文本" in output


def test_csv_rows_are_named_by_their_line_across_blank_lines_and_multiline_values(tmp_path):
    events = _write(
        tmp_path, "events.csv",
        APPLIANCE.strip() + ",note\n"
        + 'T1,C1,trade_in_appliance,2025-05-01,一级,100,"two\nlines"\n'  # lines 2 and 3
        + "\n"  # line 4, blank
        + "T2,C1,trade_in_appliance,2025-05-01,一级,abc,\n",  # line 5
    )
    subjects = _write(tmp_path, "subjects.csv", SUBJECTS)
    assert "events.csv: 第 5 行,列 price: 'abc' 不是 金额" in _refused(tmp_path, events, subjects)


# ---------------------------------------------------------------- quotes: paths, choice values, options


def test_memory_limit_is_a_size_not_sql(tmp_path):
    target = tmp_path / "x.csv"
    events = _write(tmp_path, "events.csv", APPLIANCE + "T1,C1,trade_in_appliance,2025-05-01,一级,100\n")
    injection = f"1GB'; COPY (SELECT 42) TO '{target}'; SET memory_limit='1GB"
    output = _refused(tmp_path, events, None, "--memory-limit", injection)
    assert f"--memory-limit {injection}: 须为内存大小,如 1GB、512MB" in output
    assert not target.exists()
    assert "须为内存大小" in _refused(tmp_path, events, None, "--memory-limit", "0GB")


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".xlsx"])
def test_paths_with_a_quote_are_read_and_written(tmp_path, suffix):
    folder = tmp_path / "it's"
    folder.mkdir()
    subjects = _write(folder, "sub'jects.csv", SUBJECTS)
    events = _write(folder, "ev'ents.csv", APPLIANCE + "T1,C1,trade_in_appliance,2025-05-01,一级,1000.10\n")
    out = folder / "o'ut" / f"result'{suffix}"
    result = _run(subjects, events, out)
    assert result.exit_code == 0, result.output
    if suffix == ".parquet":
        rows = [(r["event_id"], r["rule"], str(r["amount"])) for r in pq.read_table(out).to_pylist()]
    elif suffix == ".csv":
        import csv

        with out.open(newline="", encoding="utf-8") as handle:
            rows = [(r["event_id"], r["rule"], r["amount"]) for r in csv.DictReader(handle)]
    else:
        sheet = openpyxl.load_workbook(out, read_only=True).worksheets[0]
        header, *body = list(sheet.iter_rows(values_only=True))
        index = {key: header.index(title) for key, title in COLUMN_TITLES.items()}  # Excel: Chinese headers
        rows = [(r[index["event_id"]], r[index["rule"]], f"{r[index['amount']]:.2f}") for r in body]
    assert rows == [("T1", "appliance-grade-1", "200.02")]
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]


def test_a_choice_value_with_a_quote_is_checked_as_a_value(tmp_path):
    events = _write(tmp_path, "events.csv", APPLIANCE + "T1,C1,trade_in_appliance,2025-05-01,it's,100\n")
    assert "events.csv: 第 2 行,列 grade(能效等级): 'it's' 不是可选值;可选:一级、二级" in _refused(tmp_path, events)


def test_a_pack_choice_value_with_a_quote_matches_the_register(tmp_path):
    note = EventField(name="note", type=FieldType.CHOICE, title="备注", values=("it's", 'say "hi"'))
    pack = _pack_with("trade_in_car", note)
    subjects = _write(tmp_path, "subjects.csv", SUBJECTS)
    header = "event_id,subject_id,type,date,vehicle,note\n"
    rows = 'T1,C1,trade_in_car,2025-05-01,新能源汽车,it\'s\nT2,C1,trade_in_car,2025-05-02,新能源汽车,"say ""hi"""\n'
    events = _write(tmp_path, "events.csv", header + rows)
    summary = match(pack, subjects, events, tmp_path / "out" / "o.parquet")
    # (十七) 新能源汽車最高補貼1.5萬元/輛: both cars are claimed, the extra field changes nothing
    assert (summary.rows, summary.total) == (2, Decimal("30000.00"))
    events.write_text(header + "T1,C1,trade_in_car,2025-05-01,新能源汽车,its\n", encoding="utf-8")
    with pytest.raises(RegisterError, match="第 2 行,列 note\\(备注\\): 'its' 不是可选值"):
        match(pack, subjects, events, tmp_path / "out" / "o.parquet")


# ---------------------------------------------------------------- a killed run leaves nothing behind


@pytest.fixture(scope="module")
def big_register(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("big-register")
    result = runner.invoke(app, ["synth", "-o", str(folder), "--enterprises", "20000", "--transactions", "200000"])
    assert result.exit_code == 0, result.output
    return folder


def test_a_killed_match_leaves_no_temporary_file(big_register, tmp_path):
    out_dir = tmp_path / "out"
    out = out_dir / "result.csv"
    command = [sys.executable, "-m", "zhida.cli", "match", str(big_register / "subjects.parquet"),
               str(big_register / "events.parquet"), "-o", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not list(out_dir.glob(".zhida-tmp-*")) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # into the checks and the query
        assert process.poll() is None, "match ended before it could be killed: make the register bigger"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()  # reaped: its pid no longer answers
    left = [path.name for path in out_dir.iterdir()]
    assert left and all(name.startswith(".zhida-tmp-") for name in left), left  # the kill did interrupt a run
    result = _run(big_register / "subjects.parquet", big_register / "events.parquet", out)
    assert result.exit_code == 0, result.output
    assert [path.name for path in out_dir.iterdir()] == ["result.csv"]


def test_a_control_character_cannot_reach_an_excel_result(tmp_path):
    # XML 1.0 cannot hold U+0001: openpyxl would raise mid-file; the result is refused before anything is written
    subjects = _write(tmp_path, "subjects.csv", "subject_id,kind,county\nC1,consumer,吴兴\x01区\n")
    events = _write(tmp_path, "events.csv", APPLIANCE + "T1,C1,trade_in_appliance,2025-05-01,一级,100\n")
    out = tmp_path / "out" / "result.xlsx"
    result = _run(subjects, events, out)
    assert result.exit_code == 2, result.output
    assert f"{out}: 第 2 行,列 county: 含有 Excel 不允许的控制字符" in result.output
    assert list(out.parent.iterdir()) == []
    # and the half-written sheet was closed: collected now (the result's traceback held it), it raises nothing
    # (pytest fails a test on an unraisable error)
    del result
    gc.collect()
    assert _run(subjects, events, tmp_path / "out" / "result.csv").exit_code == 0


def test_a_date_with_a_time_of_day_is_refused_not_truncated(tmp_path):
    from datetime import datetime

    header = APPLIANCE.strip().split(",")
    events = _xlsx(tmp_path / "events.xlsx", [
        header,
        ["T1", "C1", "trade_in_appliance", datetime(2025, 5, 1), "一级", 100],  # a date cell: midnight
        ["T2", "C1", "trade_in_appliance", datetime(2025, 5, 1, 10, 30), "一级", 100],
    ])
    assert "events.xlsx: 第 3 行,列 date: '2025-05-01 10:30:00' 不是 日期(YYYY-MM-DD)" in _refused(tmp_path, events)
    table = pa.table({
        "event_id": ["T1"], "subject_id": ["C1"], "type": ["trade_in_appliance"],
        "date": pa.array([datetime(2025, 12, 31, 23, 59)], pa.timestamp("us")), "grade": ["一级"], "price": [100],
    })
    pq.write_table(table, tmp_path / "events.parquet")
    output = _refused(tmp_path, tmp_path / "events.parquet")
    assert "events.parquet: 第 1 行,列 date: '2025-12-31 23:59:00' 不是 日期(YYYY-MM-DD)" in output


def test_only_the_temporaries_of_dead_or_day_old_runs_are_removed(tmp_path):
    from zhida.engine.match import host_name, remove_stale_temporaries

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    here = host_name()
    names = {
        "dead": f".zhida-tmp-{here}-{dead.pid}-abc",
        "alive": f".zhida-tmp-{here}-{os.getpid()}-abc",
        "other-host": f".zhida-tmp-00000000-{dead.pid}-abc",
        "other-host-old": f".zhida-tmp-00000000-{dead.pid}-old",
        "not-ours": ".zhida-tmp-notes",
    }
    for name in names.values():
        (tmp_path / name).mkdir()
    day_ago = time.time() - 25 * 3600
    os.utime(tmp_path / names["other-host-old"], (day_ago, day_ago))
    remove_stale_temporaries(tmp_path)
    left = {path.name for path in tmp_path.iterdir()}
    assert left == {names["alive"], names["other-host"], names["not-ours"]}


def test_parquet_and_excel_inputs_at_paths_with_a_quote(tmp_path):
    folder = tmp_path / "it's"
    folder.mkdir()
    subjects = folder / "sub'jects.parquet"
    pq.write_table(pa.table({"subject_id": ["C1"], "kind": ["consumer"], "county": ["吴兴区"]}), subjects)
    header = APPLIANCE.strip().split(",")
    events = _xlsx(folder / "ev'ents.xlsx", [header, ["T1", "C1", "trade_in_appliance", "2025-05-01", "一级", "1000.10"]])
    out = folder / "result'.parquet"
    result = _run(subjects, events, out)
    assert result.exit_code == 0, result.output
    assert [(r["county"], str(r["amount"])) for r in pq.read_table(out).to_pylist()] == [("吴兴区", "200.02")]
