"""`zhida match` over several packs at once: the register under the city's and the province's documents.

The provincial pack is a FICTIONAL fixture (tests/data/packs/zhejiang-2025-fictional), as is the
安吉县 overlay (tests/data/packs/anji-2025-overlay). Clauses:

    huzhou-2025 第(二)條:  對首次認定的高新技術企業,每家給予最高20萬元獎勵
    huzhou-2025 第(三)條:  按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元
    huzhou-2025 第(十七)條: 一級、二級能效家電分別按20%、15%補貼,最高補貼2000元/件
    huzhou-2025 第(三十)條: 市、區兩級對短期出口信用保險保費給予不低于60%的補助,單家企業保費補助金額不超過100萬元
    zhejiang 第(一)条:    对首次认定的高新技术企业,省级给予10万元奖励,可与市、县同类奖励叠加享受   (stacks)
    zhejiang 第(二)条:    省级对短期出口信用保险保费给予50%的补助,单家企业全年最高补助80万元。
                          同一企业同一保单已享受市、县保费补助的,按就高原则执行,不重复享受   (higher)
    anji 第1条:           在市级补助基础上,县级对短期出口信用保险保费的补助比例提高到70%
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import random
import shutil
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from zhida.cli import app
from zhida.engine.batch import cases_to_arrow
from zhida.engine.several import STACKING_LINE_STARTS, calculate_several, stacking_lines
from zhida.engine.several_batch import match_several
from zhida.rules.library import choose
from zhida.rules.pack import PackError, load_pack

PACKS = Path(__file__).parent / "data" / "packs"
PROVINCE = PACKS / "zhejiang-2025-fictional"
ANJI = PACKS / "anji-2025-overlay"
runner = CliRunner()
TODAY = [  # the columns `zhida match` writes for one pack, in their order
    "subject_id", "event_id", "date", "rule", "article", "kind", "amount", "tax_due", "caps_hit",
    "in_validity", "department", "county", "carrier",
]
ADDED = ["pack", "layer", "stacking", "dropped", "stacking_note"]


@pytest.fixture(scope="module")
def huzhou():
    return load_pack(choose("huzhou-2025").path)


@pytest.fixture(scope="module")
def province():
    return load_pack(PROVINCE)


@pytest.fixture(scope="module")
def anji():
    return load_pack(ANJI)


SUBJECTS = """subject_id,kind,county
H1,enterprise,吴兴区
H2,enterprise,德清县
V1,enterprise,南浔区
C1,consumer,吴兴区
"""
EVENTS = """event_id,subject_id,type,date,premium,recognition,service_fee,grade,price
e1,H1,export_credit_insurance,2025-05-01,1000000,,,,
h1,H1,high_tech_recognition,2025-06-01,,首次认定,,,
e2,H2,export_credit_insurance,2025-03-01,2000000,,,,
e3,H2,export_credit_insurance,2025-09-01,1000000,,,,
v1,V1,innovation_voucher,2025-04-01,,,80000,,
t1,C1,trade_in_appliance,2025-05-01,,,,一级,4000
"""


def _register(tmp_path: Path, subjects: str = SUBJECTS, events: str = EVENTS) -> tuple[Path, Path]:
    (tmp_path / "subjects.csv").write_text(subjects, encoding="utf-8")
    (tmp_path / "events.csv").write_text(events, encoding="utf-8")
    return tmp_path / "subjects.csv", tmp_path / "events.csv"


def _rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def _paid(rows):
    return [(r["subject_id"], r["event_id"], r["pack"], r["rule"], r["amount"], r["stacking"], r["dropped"]) for r in rows]


def test_a_register_under_the_city_and_the_province(tmp_path, huzhou, province):
    subjects, events = _register(tmp_path)
    out = tmp_path / "out.parquet"
    summary = match_several([huzhou, province], subjects, events, out)
    rows = _rows(out)
    assert list(rows[0]) == TODAY + ADDED
    Y = Decimal
    assert _paid(rows) == [
        # 一级能效 20% × 4,000 = 800 (under 2000元/件); a consumer: the province has no such subject kind.
        ("C1", "t1", "huzhou-2025", "appliance-grade-1", Y("800.00"), None, False),
        # higher: city 60% × 1,000,000 = 600,000 > province 50% × 1,000,000 = 500,000 → the province's not paid.
        ("H1", "e1", "huzhou-2025", "export-credit-insurance", Y("600000.00"), "higher", False),
        ("H1", "e1", "zhejiang-2025-fictional", "zj-export-credit-insurance", Y("0.00"), "higher", True),
        # stacks: 最高20萬元 (city) and 10万元 (province), both paid.
        ("H1", "h1", "huzhou-2025", "high-tech-first", Y("200000.00"), "stacks", False),
        ("H1", "h1", "zhejiang-2025-fictional", "zj-high-tech-first", Y("100000.00"), "stacks", False),
        # e2 2,000,000: city 1,200,000 → 不超過100萬元 → 1,000,000; province 1,000,000 → 80万元 → 800,000: dropped,
        #   its cap given back. e3 1,000,000: city 600,000, cap used → 0; province 500,000 of 800,000 room → kept.
        ("H2", "e2", "huzhou-2025", "export-credit-insurance", Y("1000000.00"), "higher", False),
        ("H2", "e2", "zhejiang-2025-fictional", "zj-export-credit-insurance", Y("0.00"), "higher", True),
        ("H2", "e3", "huzhou-2025", "export-credit-insurance", Y("0.00"), "higher", True),
        ("H2", "e3", "zhejiang-2025-fictional", "zj-export-credit-insurance", Y("500000.00"), "higher", False),
        # no overlap: 50% × 80,000 = 40,000, the SQL row as it is.
        ("V1", "v1", "huzhou-2025", "innovation-voucher", Y("40000.00"), None, False),
    ]
    by_event = {(r["event_id"], r["pack"]): r for r in rows}
    assert by_event["e1", "zhejiang-2025-fictional"]["stacking_note"] == (
        "就高不重复:huzhou-2025/export-credit-insurance 兑现 600,000.00 元,本项 500,000.00 元 不重复享受,不予兑现"
        "(依据 zhejiang-2025-fictional 第 2 条:同一企业同一保单已享受市、县保费补助的,按就高原则执行,不重复享受)"
    )
    assert by_event["e1", "huzhou-2025"]["stacking_note"].startswith(
        "就高不重复:huzhou-2025/export-credit-insurance 合计 600,000.00 元 较高,")
    assert by_event["h1", "huzhou-2025"]["stacking_note"] == (
        "叠加享受:zhejiang-2025-fictional/zj-high-tech-first 与 huzhou-2025/high-tech-first 同时兑现"
        "(依据 zhejiang-2025-fictional 第 1 条:可与市、县同类奖励叠加享受)")
    assert by_event["e2", "huzhou-2025"]["caps_hit"] == "export-insurance-annual"
    assert by_event["e2", "zhejiang-2025-fictional"]["caps_hit"] == "zj-export-insurance-annual"
    assert by_event["v1", "huzhou-2025"]["stacking_note"] is None and by_event["v1", "huzhou-2025"]["layer"] == "base"
    # Only the two subjects with an event both packs have rows for went through calculate_several.
    assert summary.reevaluated == 2
    # By the rules' kinds, as one pack's match sums them: floor (city insurance) 600,000 + 1,000,000 + 0;
    # ceiling 200,000 + 40,000 + the province's 0 + 0 + 500,000; exact 100,000 + 800.
    assert summary.by_kind == {"ceiling": (5, Y("740000.00")), "exact": (2, Y("100800.00")),
                               "floor": (3, Y("1600000.00"))}
    assert summary.by_stacking == [("higher", 6, 3), ("stacks", 2, 0)]
    assert [row[:3] for row in summary.by_pack] == [
        ("huzhou-2025", "base", "ceiling"), ("huzhou-2025", "base", "exact"), ("huzhou-2025", "base", "floor"),
        ("zhejiang-2025-fictional", "base", "ceiling"), ("zhejiang-2025-fictional", "base", "exact"),
    ]
    # The province's areas and budgets: 一、省科技厅 10亿元; 二、省商务厅 5亿元 (the 500,000 paid on e3).
    assert [row for row in summary.by_area if row[0] == "zhejiang-2025-fictional"] == [
        ("zhejiang-2025-fictional", 1, "省科技厅", 1, Y("100000.00"), Y(1000000000), Y("0.01")),
        ("zhejiang-2025-fictional", 2, "省商务厅", 3, Y("500000.00"), Y(500000000), Y("0.10")),
    ]
    _agrees_with_calculate_several([huzhou, province], subjects, events, rows)


def _case_data(subjects: Path, events: Path) -> dict[str, dict]:
    """The register's subjects as the cases `calculate_several` reads (empty cells left out)."""
    with subjects.open(encoding="utf-8") as handle:
        cases = {row["subject_id"]: {"subject": {"id": row["subject_id"], "kind": row["kind"], "county": row["county"]},
                                     "events": []} for row in csv.DictReader(handle)}
    with events.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            event = {"id" if key == "event_id" else key: value for key, value in row.items() if value and key != "subject_id"}
            cases[row["subject_id"]]["events"].append(event)
    return cases


def _expected(packs, cases: dict[str, dict]) -> list[tuple]:
    rows = []
    for subject_id, data in cases.items():
        several = calculate_several(packs, data, subject_id)
        for _, result in several.results:
            for item in result.entitlements:
                rows.append((subject_id, item.event.id, item.rule.pack, item.rule.id, item.amount,
                             ",".join(item.caps_hit), item.dropped is not None, ";".join(stacking_lines(item)) or None))
    return rows


def _got(rows) -> list[tuple]:
    return [(r["subject_id"], r["event_id"], r["pack"], r["rule"], r["amount"], r["caps_hit"], r["dropped"],
             r["stacking_note"]) for r in rows]


def _agrees_with_calculate_several(packs, subjects, events, rows):
    assert sorted(_got(rows), key=str) == sorted(_expected(packs, _case_data(subjects, events)), key=str)


def _random_register(tmp_path: Path, pack, count: int, seed: int, counties: list[str | None]):
    """Random cases of every event type of `pack`, written as a register (event ids made unique), and
    each case as `calculate_several` reads it."""
    from casegen import random_cases

    rng = random.Random(seed)
    cases = []
    for case in random_cases(pack, count, seed):
        subject = dataclasses.replace(case.subject, county=rng.choice(counties))
        events = tuple(dataclasses.replace(event, id=f"{subject.id}-{event.id}") for event in case.events)
        cases.append(dataclasses.replace(case, subject=subject, events=events))
    # Enterprises insured several times in the year, so that the caps given back by 就高 matter.
    for number in range(40):
        premiums = [Decimal(rng.randrange(1, 250)) * 10000 for _ in range(rng.randint(1, 4))]
        cases.append(_insured(pack, f"X{number:03d}", rng.choice(counties), premiums, rng))
    subjects, events = cases_to_arrow(pack, cases)
    pq.write_table(subjects, tmp_path / "subjects.parquet")
    pq.write_table(events, tmp_path / "events.parquet")
    data = {
        case.subject.id: {
            "subject": {"id": case.subject.id, "kind": case.subject.kind,
                        **({"county": case.subject.county} if case.subject.county else {})},
            "events": [{"id": e.id, "type": e.type, "date": e.date, **e.values} for e in case.events],
        }
        for case in cases
    }
    return tmp_path / "subjects.parquet", tmp_path / "events.parquet", data


def _insured(pack, subject_id, county, premiums, rng):
    from zhida.engine.case import Case, Event, Subject

    events = [Event(f"{subject_id}-i{n}", "export_credit_insurance", dt.date(2025, 1 + n * 3, 1),
                    {"premium": premium}) for n, premium in enumerate(premiums)]
    if rng.random() < 0.5:
        events.append(Event(f"{subject_id}-h", "high_tech_recognition", dt.date(2025, 6, 1),
                            {"recognition": rng.choice(["首次认定", "重新认定"])}))
    return Case(subject_id, Subject(subject_id, "enterprise", subject_id, county), tuple(events))


@pytest.mark.parametrize("overlay", [False, True])
def test_every_subject_agrees_with_calculate_several(tmp_path, huzhou, province, anji, overlay):
    # A random register (the 安吉县 overlay's: its county rules, top-ups and tea plants too) under two packs:
    # every row, of the subjects re-evaluated and of those left to SQL alike, is what calculate_several says.
    first = anji if overlay else huzhou
    counties = ["安吉县", "安吉縣", "德清县", None] if overlay else ["吴兴区", None]
    subjects, events, cases = _random_register(tmp_path, first, 600, 20251129, counties)
    out = tmp_path / "out.parquet"
    summary = match_several([first, province], subjects, events, out)
    rows = _rows(out)
    assert sorted(_got(rows), key=str) == sorted(_expected([first, province], cases), key=str)
    assert 0 < summary.reevaluated < len(cases)
    assert {r["stacking"] for r in rows} >= {None, "higher", "stacks"} and any(r["dropped"] for r in rows)
    if overlay:
        assert {(r["pack"], r["layer"]) for r in rows} == {
            ("huzhou-2025", "base"), ("anji-2025-overlay", "county"), ("zhejiang-2025-fictional", "base")}


def test_subjects_without_overlap_keep_the_sql_rows(tmp_path, huzhou, province):
    # Without any event both packs pay, no subject is re-evaluated: the rows are each pack's batch as it is,
    # and those of huzhou-2025 are exactly what `zhida match --pack huzhou-2025` writes for the same register.
    lines = EVENTS.splitlines()
    events = "\n".join([lines[0], *(line for line in lines[1:] if line.startswith(("v1,", "t1,")))]) + "\n"
    subjects, events_path = _register(tmp_path, events=events)
    out, alone = tmp_path / "out.parquet", tmp_path / "alone.parquet"
    summary = match_several([huzhou, province], subjects, events_path, out)
    assert summary.reevaluated == 0
    result = runner.invoke(app, ["match", str(subjects), str(events_path), "-o", str(alone), "--pack", "huzhou-2025"])
    assert result.exit_code == 0, result.output
    assert [{key: row[key] for key in TODAY} for row in _rows(out)] == _rows(alone)


def test_one_pack_writes_todays_columns(tmp_path):
    subjects, events = _register(tmp_path, events="\n".join(EVENTS.splitlines()[:2]) + "\n")
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["match", str(subjects), str(events), "-o", str(out), "--pack", "huzhou-2025"])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as handle:
        assert next(csv.reader(handle)) == TODAY
    assert "按政策包汇总" not in result.output and "按规则汇总" in result.output


# --------------------------------------------------------------------------- the command


def test_the_command_with_two_packs(tmp_path):
    subjects, events = _register(tmp_path)
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["match", str(subjects), str(events), "-o", str(out),
                                 "--pack", "huzhou-2025", "--pack", str(PROVINCE)], terminal_width=200)
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == TODAY + ADDED
    assert [(r["event_id"], r["pack"], r["amount"], r["dropped"]) for r in rows if r["subject_id"] == "H1"] == [
        ("e1", "huzhou-2025", "600000.00", "false"), ("e1", "zhejiang-2025-fictional", "0.00", "true"),
        ("h1", "huzhou-2025", "200000.00", "false"), ("h1", "zhejiang-2025-fictional", "100000.00", "false"),
    ]
    for words in ("按政策包汇总", "zhejiang-2025-fictional", "就高不重复", "叠加享受", "重叠的主体 2 个",
                  "共 10 条应享记录", "按领域及牵头部门汇总"):
        assert words in result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == ["events.csv", "out.csv", "subjects.csv"]


def test_the_excel_output_names_the_pack_in_chinese(tmp_path):
    import openpyxl

    subjects, events = _register(tmp_path)
    out = tmp_path / "out.xlsx"
    result = runner.invoke(app, ["match", str(subjects), str(events), "-o", str(out),
                                 "--pack", "huzhou-2025", "--pack", str(PROVINCE)])
    assert result.exit_code == 0, result.output
    workbook = openpyxl.load_workbook(out, read_only=True)
    sheet = list(workbook.worksheets[0].iter_rows(values_only=True))
    workbook.close()
    assert sheet[0][-5:] == ("政策包", "层级", "重叠处理", "不予兑现", "重叠说明")
    titles = {(row[3], row[14]): row[4] for row in sheet[1:]}
    assert titles["zj-export-credit-insurance", "zhejiang-2025-fictional"] == "短期出口信用保险保费省级补助"
    assert titles["export-credit-insurance", "huzhou-2025"] == "短期出口信用保险保费补助"


@pytest.mark.parametrize(
    ("packs", "message"),
    [
        (["huzhou-2025", str(ANJI)], "政策包 anji-2025-overlay 与 huzhou-2025 都包含 huzhou-2025 的规则"),
        (["huzhou-2025", "huzhou-2025"], "--pack 重复:同一政策包只能给一次"),
    ],
)
def test_an_incompatible_pack_set_is_refused(tmp_path, packs, message):
    subjects, events = _register(tmp_path)
    out = tmp_path / "out.parquet"
    arguments = ["match", str(subjects), str(events), "-o", str(out)]
    for pack in packs:
        arguments += ["--pack", pack]
    result = runner.invoke(app, arguments, terminal_width=300)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_an_event_no_pack_knows_is_refused_by_row(tmp_path):
    subjects, events = _register(tmp_path, events=EVENTS + "x1,H1,no_such,2025-05-01,,,,,\n")
    result = runner.invoke(app, ["match", str(subjects), str(events), "-o", str(tmp_path / "out.parquet"),
                                 "--pack", "huzhou-2025", "--pack", str(PROVINCE)], terminal_width=300)
    assert result.exit_code == 2 and "第 8 行,列 type: 未知的事件类型 'no_such'" in result.output


def test_a_pack_the_batch_cannot_compute_is_refused_not_a_traceback(tmp_path):
    # high-tech-first carries two annual caps (每家 20萬元, and the shared 首次/重新 cap): a top-up of it
    # cannot be computed in SQL as the calculator does (docs/packs.md), with one pack or several.
    copy = tmp_path / "packs" / "anji-2025-overlay"
    shutil.copytree(ANJI, copy)
    path = copy / "rules" / "1-opening-up.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["rules"][0].update(tops_up="high-tech-first", amount="250000", assumption=None)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    subjects, events = _register(tmp_path)
    for packs in ([str(copy)], [str(copy), str(PROVINCE)]):
        arguments = ["match", str(subjects), str(events), "-o", str(tmp_path / "out.parquet")]
        for pack in packs:
            arguments += ["--pack", pack]
        result = runner.invoke(app, arguments, terminal_width=300)
        assert result.exit_code == 2, result.output
        assert "加码规则所加码的 high-tech-first 有多个年度上限" in result.output and "Traceback" not in result.output


def test_the_stacking_lines_are_those_the_traces_hold(huzhou, province, tmp_path):
    # stacking_lines reads the lines calculate_several adds: one per entitlement in an overlap, none elsewhere,
    # for stacks, higher (both sides) and an overlap no `stacking:` decides.
    copy = tmp_path / "zhejiang-2025-other"
    shutil.copytree(PROVINCE, copy)
    path = copy / "rules" / "2-opening-up.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["rules"][0].pop("stacking")
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    case = _case_data(*_register(tmp_path))["H1"]
    case["events"].append({"id": "v1", "type": "innovation_voucher", "date": "2025-04-01", "service_fee": "80000"})
    for packs, modes in (([huzhou, province], {"e1": "higher", "h1": "stacks"}),
                         ([huzhou, load_pack(copy)], {"e1": None, "h1": "stacks"})):
        several = calculate_several(packs, case)
        reasons = {overlap.event: overlap for overlap in several.overlaps}
        assert {event: (o.mode.value if o.mode else None) for event, o in reasons.items()} == modes
        for _, result in several.results:
            for item in result.entitlements:
                lines = stacking_lines(item)
                assert len(lines) == (0 if item.event.id == "v1" else 1)
                if lines and (reasons[item.event.id].mode is None or item.dropped):
                    assert lines == (reasons[item.event.id].reason,)
    assert all(start.endswith(":") for start in STACKING_LINE_STARTS)


def test_packs_that_disagree_are_refused_before_the_register_is_read(tmp_path):
    for name, other, mode in (("province-a", "province-b", "higher"), ("province-b", "province-a", "stacks")):
        copy = tmp_path / name
        shutil.copytree(PROVINCE, copy)
        path = copy / "rules" / "2-opening-up.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["rules"][0]["stacking"].update(mode=mode, **{"with": [f"{other}/zj-export-credit-insurance"]})
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    packs = [load_pack(tmp_path / "province-a"), load_pack(tmp_path / "province-b")]
    with pytest.raises(PackError, match="的规定不一致"):
        match_several(packs, tmp_path / "missing.csv", tmp_path / "missing.csv", tmp_path / "out.parquet")
