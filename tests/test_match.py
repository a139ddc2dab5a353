"""`zhida synth` and `zhida match` end to end on real files, and bad registers refused."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import duckdb
import openpyxl
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import zhida.engine.match as match_module
import zhida.engine.register as register_module
from zhida.cli import app
from zhida.engine.calculate import calculate
from zhida.engine.case import Case, Event, Subject
from zhida.rules.pack import load_pack
from zhida.source.script import to_simplified
from zhida.synth import COUNTIES, credit_code, credit_code_is_valid

PACK = load_pack(Path(__file__).resolve().parents[1] / "policies" / "huzhou-2025")
runner = CliRunner()


@pytest.fixture(scope="module")
def register(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("register")
    result = runner.invoke(app, ["synth", "-o", str(out), "--enterprises", "2000", "--transactions", "5000", "--seed", "7"])
    assert result.exit_code == 0, result.output
    return out


def test_synth_is_deterministic_and_plausible(register, tmp_path):
    again = tmp_path / "again"
    runner.invoke(app, ["synth", "-o", str(again), "--enterprises", "2000", "--transactions", "5000", "--seed", "7"])
    for name in ("subjects.parquet", "events.parquet"):
        assert pq.read_table(register / name).equals(pq.read_table(again / name))
    subjects = pq.read_table(register / "subjects.parquet").to_pylist()
    organisations = [s for s in subjects if s["kind"] != "consumer"]
    assert all(credit_code_is_valid(s["subject_id"]) for s in organisations)
    assert {s["county"] for s in subjects} == set(COUNTIES)
    events = pq.read_table(register / "events.parquet")
    assert len(set(events.column("event_id").to_pylist())) == events.num_rows
    prices = [p for p, t in zip(events.column("price").to_pylist(), events.column("type").to_pylist()) if t == "trade_in_digital"]
    assert Decimal("6000.00") in prices  # dense at the 以下 bound of (十七)


def test_credit_code_check_digits():
    # GB 32100-2015: weights 3^i mod 31; a changed character breaks the check digit
    code = credit_code("330502", 12345678)
    assert len(code) == 18 and code.startswith("91330502") and credit_code_is_valid(code)
    assert not credit_code_is_valid(code[:10] + ("1" if code[10] != "1" else "2") + code[11:])


def test_match_equals_the_calculator_subject_by_subject(register, tmp_path):
    out = tmp_path / "out.parquet"
    result = runner.invoke(app, ["match", str(register / "subjects.parquet"), str(register / "events.parquet"), "-o", str(out)],
                           terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "按规则汇总" in result.output and "按区县汇总" in result.output and "占预算" in result.output
    rows = pq.read_table(out).to_pylist()
    con = duckdb.connect()
    subjects = {row[0]: row[1] for row in con.execute(f"SELECT subject_id, kind FROM '{register}/subjects.parquet'").fetchall()}
    events = con.execute(f"SELECT * FROM '{register}/events.parquet'").fetchall()
    columns = [d[0] for d in con.description]
    by_subject: dict[str, list[Event]] = {}
    for row in events:
        data = dict(zip(columns, row, strict=True))
        fields = {f.name: data[f.name] for f in PACK.events[data["type"]].fields}
        by_subject.setdefault(data["subject_id"], []).append(Event(data["event_id"], data["type"], data["date"], fields))
    expected = []
    for subject_id, subject_events in by_subject.items():
        case = Case(subject_id, Subject(subject_id, subjects[subject_id], subject_id), tuple(subject_events))
        for item in calculate(PACK, case).entitlements:
            expected.append((subject_id, item.event.id, item.rule.id, item.amount, ",".join(item.caps_hit)))
    got = [(r["subject_id"], r["event_id"], r["rule"], r["amount"], r["caps_hit"]) for r in rows]
    assert sorted(got, key=str) == sorted(expected, key=str)
    assert {r["county"] for r in rows} <= set(COUNTIES)


def test_match_writes_csv_and_excel(register, tmp_path):
    for name in ("out.csv", "out.xlsx"):
        out = tmp_path / name
        result = runner.invoke(app, ["match", str(register / "subjects.parquet"), str(register / "events.parquet"), "-o", str(out)])
        assert result.exit_code == 0, result.output
    with open(tmp_path / "out.csv", encoding="utf-8") as handle:
        csv_rows = list(csv.DictReader(handle))
    workbook = openpyxl.load_workbook(tmp_path / "out.xlsx", read_only=True)
    excel_rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    workbook.close()
    assert len(excel_rows) == len(csv_rows) + 1
    # Excel is for people: Chinese headers, the rule's title beside its id, amounts as numeric cells
    assert excel_rows[0][:8] == ("主体代码", "事件编号", "发生日期", "规则", "政策", "条", "类别", "金额(元)")
    assert {row[4] for row in excel_rows[1:]} <= {to_simplified(rule.spec.title) for rule in PACK.rules}
    # the same amounts in both: exact text in CSV, the same decimal in the numeric cell ("" = a qualification)
    assert [r["amount"] and Decimal(r["amount"]) for r in csv_rows] == [
        "" if row[7] is None else Decimal(repr(row[7])) for row in excel_rows[1:]]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.csv", "out.xlsx"]  # no temporary files left behind


EVENTS_HEADER = "event_id,subject_id,type,date,grade,price,vehicle,category,efficient\n"
SUBJECTS = "subject_id,kind,county\nC1,consumer,吴兴区\nC2,consumer,德清县\n"


def _bad(tmp_path: Path, events: str, subjects: str = SUBJECTS):
    (tmp_path / "subjects.csv").write_text(subjects, encoding="utf-8")
    (tmp_path / "events.csv").write_text(events, encoding="utf-8")
    out = tmp_path / "out.parquet"
    result = runner.invoke(app, ["match", str(tmp_path / "subjects.csv"), str(tmp_path / "events.csv"), "-o", str(out)])
    assert result.exit_code == 2
    assert not out.exists() and not list(tmp_path.glob(".zhida-tmp-*"))
    return result.output


@pytest.mark.parametrize(
    "events, message",
    [
        ("event_id,subject_id,date\nT1,C1,2025-05-01\n", "events.csv: 缺少列 type"),
        (EVENTS_HEADER + "T1,C1,trade_in_appliance,2025-05-01,一级,abc,,,\n", "第 2 行,列 price: 'abc' 不是 金额"),
        (EVENTS_HEADER + "T1,C1,trade_in_appliance,2025-05-01,一级,100,,,\nT1,C2,trade_in_appliance,2025-05-02,一级,100,,,\n",
         "第 3 行,列 event_id: 事件编号 T1 重复(第 2 行已出现)"),
        (EVENTS_HEADER + "T1,C1,trade_in_appliance,2025-05-01,一级,100,,,\nT2,C1,trade_in_appliance,2025-05-01,一级,-5,,,\n",
         "第 3 行,列 price(售价): '-5.00' 不能为负数"),
        (EVENTS_HEADER + "T1,C1,trade_in_boat,2025-05-01,,,,,\n", "第 2 行,列 type: 未知的事件类型 'trade_in_boat'"),
        (EVENTS_HEADER + "T1,C1,trade_in_appliance,2025-02-30,一级,100,,,\n", "第 2 行,列 date: '2025-02-30' 不是 日期"),
        (EVENTS_HEADER + "T1,C9,trade_in_car,2025-05-01,,,新能源汽车,,\n", "第 2 行,列 subject_id: 主体 C9 不在主体表中"),
        (EVENTS_HEADER + "T1,C1,trade_in_appliance,2025-05-01,,100,,,\n", "第 2 行,列 grade(能效等级): trade_in_appliance 事件缺少此值"),
        (EVENTS_HEADER + "T1,C1,trade_in_appliance,2025-05-01,四级,100,,,\n", "第 2 行,列 grade(能效等级): '四级' 不是可选值"),
        (EVENTS_HEADER + "T1,C1,trade_in_appliance,2025-05-01,一级,100.001,,,\n", "第 2 行,列 price: '100.001' 不是 金额(最多两位小数)"),
        ("event_id,subject_id,type,date\nT1,C1,trade_in_appliance,2025-05-01\n", "缺少列 grade(事件类型 trade_in_appliance 需要)"),
        (EVENTS_HEADER + "T1,C1,high_tech_recognition,2025-05-01,,,,,\n", "缺少列 recognition"),
        # `efficient` is a field of trade_in_furniture, absent here: not held, so checked in the file itself.
        (EVENTS_HEADER + "T1,C1,trade_in_appliance,2025-05-01,一级,100,,,maybe\n", "第 2 行,列 efficient: 'maybe' 不是 true/false"),
    ],
)
@pytest.mark.parametrize("held", [True, False], ids=["held", "in-the-file"])
def test_bad_events_are_refused_naming_file_row_and_column(tmp_path, events, message, held, monkeypatch):
    # A small register is held in memory and checked there; a large one (above HOLD_EVENTS) in its files:
    # the same refusal either way.
    monkeypatch.setattr(register_module, "HOLD_EVENTS", 3_000_000 if held else 0)
    output = _bad(tmp_path, events)
    assert message in output, output
    assert "events.csv" in output


def test_bad_subjects_are_refused(tmp_path):
    output = _bad(tmp_path, EVENTS_HEADER, "subject_id,kind\nC1,consumer\nC2,alien\n")
    assert "subjects.csv: 第 3 行,列 kind: 未知的主体类型 'alien'" in output
    output = _bad(tmp_path, EVENTS_HEADER, "subject_id,county\nC1,吴兴区\n")
    assert "subjects.csv: 缺少列 kind" in output
    output = _bad(tmp_path, EVENTS_HEADER + "T1,C1,high_tech_recognition,2025-05-01,,,,,\n".replace(",,,,,", ""), SUBJECTS)
    assert "events.csv" in output


@pytest.mark.parametrize("held", [True, False], ids=["held", "in-the-file"])
def test_the_register_is_counted_by_type_once_when_opened(tmp_path, held, monkeypatch):
    # match reads the types present from open_register (the plan by type needs them) instead of counting again.
    monkeypatch.setattr(register_module, "HOLD_EVENTS", 3_000_000 if held else 0)
    (tmp_path / "subjects.csv").write_text(SUBJECTS, encoding="utf-8")
    (tmp_path / "events.csv").write_text(
        EVENTS_HEADER + "T1,C1,trade_in_appliance,2025-05-01,一级,100,,,\nT2,C2,trade_in_appliance,2025-05-02,二级,300,,,\n"
        "T3,C2,trade_in_car,2025-06-01,,,新能源汽车,,\n", encoding="utf-8")
    con = duckdb.connect()
    counts = register_module.open_register(con, PACK, tmp_path / "subjects.csv", tmp_path / "events.csv")
    assert counts == {"trade_in_appliance": 2, "trade_in_car": 1}
    assert counts == match_module.type_counts(con)


def test_broken_file_and_wrong_suffix(tmp_path):
    (tmp_path / "subjects.parquet").write_bytes(b"PAR1 not really")
    (tmp_path / "events.csv").write_text(EVENTS_HEADER, encoding="utf-8")
    result = runner.invoke(app, ["match", str(tmp_path / "subjects.parquet"), str(tmp_path / "events.csv"), "-o", str(tmp_path / "o.parquet")])
    assert result.exit_code == 2 and "subjects.parquet: 无法读取" in result.output
    result = runner.invoke(app, ["match", str(tmp_path / "events.csv"), str(tmp_path / "events.csv"), "-o", str(tmp_path / "o.txt")])
    assert result.exit_code == 2 and "输出文件须为" in result.output


def test_match_totals_each_kind_apart(tmp_path):
    # 數碼產品…按15%補貼,最高補貼500元 (exact): 15% × 2000 = 300.00;
    # 對出口信用保險…給予不低于實繳保費60%的補助 (floor): 60% × 10000 = 6000.00.
    # The two are never added into one 合计: a floor and an exact amount mean different things.
    subjects = tmp_path / "subjects.csv"
    subjects.write_text("subject_id,kind,county\nC1,consumer,吴兴区\nE1,enterprise,德清县\n", encoding="utf-8")
    events = tmp_path / "events.csv"
    events.write_text(
        "event_id,subject_id,type,date,category,price,premium\n"
        "d1,C1,trade_in_digital,2025-06-18,手机,2000,\n"
        "x1,E1,export_credit_insurance,2025-06-18,,,10000\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["match", str(subjects), str(events), "-o", str(tmp_path / "out.parquet")],
                           terminal_width=300)
    assert result.exit_code == 0, result.output
    text = result.output.replace("\n", "")
    assert "定额合计 300.00 元" in text and "保底合计 6,000.00 元" in text
    assert "6,300.00" not in text


def test_a_large_register_path_writes_the_same_table(register, tmp_path, monkeypatch):
    # Above BY_TYPE_EVENTS match reads the register into one table sorted by type, copying only the
    # keys and the fields of the types present, and runs the plan by type in two statements (the
    # claims into a table, then the final sort): on this register,
    # where every rule and cap occurs and which the test above checks against the calculator
    # subject by subject, it must write the same table as the plan by type, row for row.
    by_type, large = tmp_path / "by_type.parquet", tmp_path / "large.parquet"
    subjects, events = register / "subjects.parquet", register / "events.parquet"
    summary = match_module.match(PACK, subjects, events, by_type)
    monkeypatch.setattr(match_module, "BY_TYPE_EVENTS", 0)
    assert _totals(match_module.match(PACK, subjects, events, large)) == _totals(summary)
    assert _same_table(large, by_type)
    # and from a register holding only trade-ins, where most columns are never copied
    trade_ins = tmp_path / "trade_ins.parquet"
    table = pq.read_table(events)
    pq.write_table(table.filter(pc.starts_with(table.column("type"), "trade_in_")), trade_ins)
    monkeypatch.setattr(match_module, "BY_TYPE_EVENTS", 3_000_000)
    expected = match_module.match(PACK, subjects, trade_ins, by_type)
    monkeypatch.setattr(match_module, "BY_TYPE_EVENTS", 0)
    assert _totals(match_module.match(PACK, subjects, trade_ins, large)) == _totals(expected) and expected.rows > 0
    assert _same_table(large, by_type)


def test_a_register_checked_in_its_files_writes_the_same_table(register, tmp_path, monkeypatch):
    # Up to HOLD_EVENTS events the register's columns that rules read are held in memory and the checks and
    # the query read them there; above it everything is read from the files. On the every-rule register the
    # two write the same table, for the plan by type and for the large register's path.
    subjects, events = register / "subjects.parquet", register / "events.parquet"
    held, in_files = tmp_path / "held.parquet", tmp_path / "in_files.parquet"
    for by_type_events in (3_000_000, 0):
        monkeypatch.setattr(match_module, "BY_TYPE_EVENTS", by_type_events)
        monkeypatch.setattr(register_module, "HOLD_EVENTS", 3_000_000)
        summary = match_module.match(PACK, subjects, events, held)
        monkeypatch.setattr(register_module, "HOLD_EVENTS", 0)
        assert _totals(match_module.match(PACK, subjects, events, in_files)) == _totals(summary)
        assert _same_table(in_files, held) and summary.rows > 0


def _same_table(written: Path, wanted: Path) -> bool:
    """Row for row, column for column, of the same types (DuckDB may know a column NOT NULL in one plan only)."""
    written_table, wanted_table = pq.read_table(written), pq.read_table(wanted)
    return (written_table.schema.types == wanted_table.schema.types
            and written_table.schema.names == wanted_table.schema.names
            and written_table.to_pylist() == wanted_table.to_pylist())


def _totals(summary: match_module.Summary) -> tuple:
    return summary.rows, summary.total, summary.by_rule, summary.by_kind
