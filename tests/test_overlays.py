"""County overlays (区县承接落实方案): a pack that extends huzhou-2025 for the subjects of one county.

The overlay is a FICTIONAL fixture (tests/data/packs/anji-2025-overlay, `fictional: true`). The
clauses the amounts below come from:

    huzhou-2025 第(三十)條: 市、區兩級對短期出口信用保險保費給予不低于60%的補助,
                           單家企業保費補助金額不超過100萬元
    anji 第(一)条:        在市级补助基础上,县级对短期出口信用保险保费的补助比例提高到70%,
                           市、县两级合计单家企业保费补助金额仍不超过100万元
    anji 第(二)条:        对茶叶企业新建标准化茶叶加工厂的,按设备投资额的10%给予补助,
                           单个企业全年最高补助20万元

Reading chosen (docs/packs.md): the top-up pays 70% less what the city paid for the same
event, and the city's 100万元 cap binds both layers together (市、区两级 … 不超過100萬元).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from zhida.engine.calculate import calculate
from zhida.engine.case import case_from_data
from zhida.engine.output import result_to_dict
from zhida.rules.library import choose
from zhida.rules.model import Kind, Layer
from zhida.rules.pack import PackError, load_pack

PACKS = Path(__file__).parent / "data" / "packs"
ANJI = PACKS / "anji-2025-overlay"


@pytest.fixture(scope="module")
def anji():
    return load_pack(ANJI)


def _case(pack, county, *events):
    subject = {"id": "91330523MA2B3C4D5E", "kind": "enterprise", "name": "某出口企业"}
    if county is not None:
        subject["county"] = county
    return case_from_data({"subject": subject, "events": list(events)}, pack)


def _insurance(event_id, date, premium):
    return {"id": event_id, "type": "export_credit_insurance", "date": date, "premium": premium}


def _amounts(result):
    return [(item.pack, item.layer, item.rule.id, item.amount) for item in result.entitlements]


def test_the_overlay_holds_the_base_rules_and_the_county_layer(anji):
    huzhou = load_pack(choose("huzhou-2025").path)
    assert anji.id == "anji-2025-overlay" and anji.county == "安吉县" and anji.base_id == "huzhou-2025"
    assert len(anji.rules) == len(huzhou.rules) + 2
    top_up = anji.rule("anji-export-credit-insurance")
    assert (top_up.pack, top_up.layer, top_up.spec.tops_up) == ("anji-2025-overlay", Layer.COUNTY, "export-credit-insurance")
    # Subject, event and kind come from the base rule; its caps are the base rule's (市、区两级 … 100萬元).
    assert top_up.spec.event == "export_credit_insurance" and top_up.spec.kind is Kind.FLOOR
    assert [cap.id for cap in top_up.caps] == ["export-insurance-annual"]
    # The county rule quotes the county's document; the base rule keeps quoting the city's.
    assert top_up.quoted == "在市级补助基础上，县级对短期出口信用保险保费的补助比例提高到70%，市、县两级合计单家企业保费补助金额仍不超过100万元"
    assert anji.document_of(top_up) is anji.county_layer.document
    base = anji.rule("export-credit-insurance")
    assert base.pack == "huzhou-2025" and base.layer is Layer.BASE
    assert anji.document_of(base).text[slice(*base.clause_span)] == base.quoted
    assert "不低于60%" in base.quoted and top_up.department == "县商务局"


def test_county_budgets_are_read_and_checked(anji):
    budgets = {(budget.area, budget.rule): budget.yuan for budget in anji.county_layer.budgets}
    # 全县财政预算安排3000万元,其中出口信用保险保费补助资金500万元; 二、… 全县财政预算安排2000万元
    assert budgets == {
        (1, None): Decimal(30000000),
        (None, "anji-export-credit-insurance"): Decimal(5000000),
        (2, None): Decimal(20000000),
    }


def test_an_anji_enterprise_gets_the_city_floor_and_the_county_top_up(anji):
    # 60% × 1,000,000 = 600,000 (city, under its 100萬元 cap); 70% × 1,000,000 = 700,000,
    # less the 600,000 the city paid = 100,000 (county); together 700,000 ≤ 1,000,000.
    result = calculate(anji, _case(anji, "安吉县", _insurance("e1", "2025-05-01", "100万")))
    assert _amounts(result) == [
        ("huzhou-2025", Layer.BASE, "export-credit-insurance", Decimal("600000.00")),
        ("anji-2025-overlay", Layer.COUNTY, "anji-export-credit-insurance", Decimal("100000.00")),
    ]
    assert result.totals[Kind.FLOOR] == Decimal("700000.00")
    base, county = result.entitlements
    assert base.trace[0] == "来源:基础政策 huzhou-2025《关于推动经济高质量发展若干政策(2025年版)》第 30 条,市商务局"
    assert county.trace[0].startswith("来源:区县承接方案(安吉县) anji-2025-overlay《安吉县关于推动经济高质量发展若干政策的承接落实方案")
    assert any(line.startswith("区县加码:huzhou-2025 第 30 条(市、区两级对短期出口信用保险保费给予不低于60%的补助") and "已付 600,000.00 元" in line
               and "anji-2025-overlay 第 1 条(在市级补助基础上" in line for line in county.trace)
    assert "金额(保底额) = 0.7 * 实缴保费 = 0.7 * 1,000,000.00 = 700,000.00 元" in county.trace
    assert "扣除基础政策已付:700,000.00 元 − 600,000.00 元 = 100,000.00 元" in county.trace
    assert county.trace[-1] == "不低于 100,000.00 元"
    assert result.notes == ("主体所在区县为安吉县:适用基础政策 huzhou-2025 及安吉县承接方案 anji-2025-overlay",)


def test_the_city_cap_binds_both_layers(anji):
    # 1,500,000: city 60% = 900,000; county 70% = 1,050,000 − 900,000 = 150,000, but the cap
    # 不超過100萬元 has 1,000,000 − 900,000 = 100,000 left: the county pays 100,000.
    result = calculate(anji, _case(anji, "安吉县", _insurance("e1", "2025-05-01", "150万")))
    assert [item.amount for item in result.entitlements] == [Decimal("900000.00"), Decimal("100000.00")]
    county = result.entitlements[1]
    assert county.caps_hit == ("export-insurance-annual",) and county.verdict is Kind.CEILING
    # 2,000,000: city 1,200,000 → cap 1,000,000; county 1,400,000 − 1,000,000 = 400,000, cap left 0 → 0.
    result = calculate(anji, _case(anji, "安吉县", _insurance("e1", "2025-05-01", "200万")))
    assert [item.amount for item in result.entitlements] == [Decimal("1000000.00"), Decimal("0.00")]
    assert all(item.verdict is Kind.CEILING for item in result.entitlements)


def test_the_cap_accumulates_over_both_layers_across_events(anji):
    # e1 1,000,000: city 600,000 + county 100,000 = 700,000 of the 1,000,000 cap.
    # e2 500,000: city 300,000 → 300,000 left, all taken; county 350,000 − 300,000 = 50,000, left 0 → 0.
    result = calculate(
        anji, _case(anji, "安吉县", _insurance("e1", "2025-03-01", "100万"), _insurance("e2", "2025-09-01", "50万"))
    )
    assert [item.amount for item in result.entitlements] == [
        Decimal("600000.00"), Decimal("100000.00"), Decimal("300000.00"), Decimal("0.00"),
    ]
    assert result.total == Decimal("1000000.00")


def test_a_deqing_enterprise_gets_the_base_only(anji):
    result = calculate(anji, _case(anji, "德清县", _insurance("e1", "2025-05-01", "100万")))
    assert _amounts(result) == [("huzhou-2025", Layer.BASE, "export-credit-insurance", Decimal("600000.00"))]
    assert result.notes == ("主体所在区县为德清县:安吉县承接方案 anji-2025-overlay 不适用,仅按基础政策 huzhou-2025 计算",)
    # The county-only rule is no rule for it: the event is unmatched and says why.
    tea = {"id": "t1", "type": "tea_processing_plant", "date": "2025-06-01", "equipment_investment": "300万"}
    result = calculate(anji, _case(anji, "德清县", tea))
    assert result.entitlements == ()
    assert result.unmatched[0].reasons == ("新建标准化茶叶加工厂补助:仅适用于安吉县的主体(安吉县承接方案 anji-2025-overlay)",)


def test_a_subject_without_county_gets_the_base_only(anji):
    result = calculate(anji, _case(anji, None, _insurance("e1", "2025-05-01", "100万")))
    assert [item.rule.id for item in result.entitlements] == ["export-credit-insurance"]
    assert result.notes[0].startswith("案例未填写主体所在区县(subject.county)")


def test_a_county_written_in_traditional_is_the_same_county(anji):
    result = calculate(anji, _case(anji, "安吉縣", _insurance("e1", "2025-05-01", "100万")))
    assert result.case.subject.county == "安吉县" and len(result.entitlements) == 2


def test_the_county_only_rule(anji):
    # 10% × 3,000,000 = 300,000 → 单个企业全年最高补助20万元 → 200,000.
    tea = {"id": "t1", "type": "tea_processing_plant", "date": "2025-06-01", "equipment_investment": "300万"}
    result = calculate(anji, _case(anji, "安吉县", tea))
    (item,) = result.entitlements
    assert (item.pack, item.layer, item.amount, item.verdict) == ("anji-2025-overlay", Layer.COUNTY, Decimal("200000.00"), Kind.CEILING)
    assert item.rule.department == "县农业农村局"


def test_the_result_names_pack_and_layer_in_chinese(anji):
    result = calculate(anji, _case(anji, "安吉县", _insurance("e1", "2025-05-01", "100万")))
    data = result_to_dict(anji, result)
    assert data["pack"] == "anji-2025-overlay" and data["subject"]["county"] == "安吉县"
    base, county = data["entitlements"]
    assert (base["pack"], base["layer"], base["layer_label"]) == ("huzhou-2025", "base", "基础政策")
    assert (county["pack"], county["layer"], county["layer_label"]) == ("anji-2025-overlay", "county", "区县承接方案")
    assert county["clause"] == "在市级补助基础上，县级对短期出口信用保险保费的补助比例提高到70%，市、县两级合计单家企业保费补助金额仍不超过100万元"
    assert county["department"] == "县商务局" and county["document"].startswith("安吉县关于推动经济高质量发展")
    assert base["clause"].startswith("市、区两级对短期出口信用保险保费给予不低于60%的补助")
    assert data["notes"] == ["主体所在区县为安吉县:适用基础政策 huzhou-2025 及安吉县承接方案 anji-2025-overlay"]
    assert result_to_dict(anji, result, traditional=True)["entitlements"][1]["layer_label"] == "區縣承接方案"


def test_a_base_pack_alone_keeps_its_traces():
    huzhou = load_pack(choose("huzhou-2025").path)
    result = calculate(huzhou, _case(huzhou, "安吉县", _insurance("e1", "2025-05-01", "100万")))
    (item,) = result.entitlements
    assert item.trace[0].startswith("事件 e1") and result.notes == ()
    assert (item.pack, item.layer) == ("huzhou-2025", Layer.BASE)


# --------------------------------------------------------------------------- bad overlays


def _copy(tmp_path: Path, name: str = "anji-2025-overlay") -> Path:
    target = tmp_path / name
    shutil.copytree(ANJI, target)
    return target


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_extending_an_unknown_pack_is_refused(tmp_path):
    pack = _copy(tmp_path)
    _edit(pack / "policy.yaml", lambda data: data.update(extends="huzhou-2099"))
    with pytest.raises(PackError, match=r"policy\.yaml: 第 \d+ 行:没有编号为 huzhou-2099 的政策包;现有:.*huzhou-2025"):
        load_pack(pack)


def test_topping_up_an_unknown_rule_is_refused(tmp_path):
    pack = _copy(tmp_path)
    _edit(pack / "rules" / "1-opening-up.yaml", lambda data: data["rules"][0].update(tops_up="no-such-rule"))
    with pytest.raises(PackError, match=r"1-opening-up\.yaml: 规则 anji-export-credit-insurance: tops_up 所指的基础规则 no-such-rule 在 huzhou-2025 中不存在"):
        load_pack(pack)


def test_a_cycle_of_overlays_is_refused(tmp_path):
    first, second = _copy(tmp_path, "county-a"), _copy(tmp_path, "county-b")
    _edit(first / "policy.yaml", lambda data: data.update(extends="county-b"))
    _edit(second / "policy.yaml", lambda data: data.update(extends="county-a"))
    with pytest.raises(PackError, match="扩展关系成环:county-a → county-b → county-a"):
        load_pack(first)


def test_an_overlay_of_an_overlay_is_refused(tmp_path):
    _copy(tmp_path, "anji-2025-overlay")
    deeper = _copy(tmp_path, "village")
    _edit(deeper / "policy.yaml", lambda data: data.update(extends="anji-2025-overlay"))
    with pytest.raises(PackError, match=re.escape("anji-2025-overlay 本身是区县承接方案(安吉县),只能扩展基础政策包")):
        load_pack(deeper)


def test_an_overlay_without_county_is_refused(tmp_path):
    pack = _copy(tmp_path)
    _edit(pack / "policy.yaml", lambda data: data.pop("county"))
    # The message points at `extends:`, line 5 of the rewritten policy.yaml (its comment line dropped).
    with pytest.raises(PackError, match=r"policy\.yaml: 第 5 行:区县承接方案须写明 county"):
        load_pack(pack)
    _edit(pack / "policy.yaml", lambda data: data.update(county="Anji"))
    with pytest.raises(PackError, match="county 须为一个区县名称"):
        load_pack(pack)


def test_county_keys_without_extends_are_refused(tmp_path):
    pack = _copy(tmp_path)
    _edit(pack / "policy.yaml", lambda data: data.pop("extends"))
    with pytest.raises(PackError, match="county 只用于区县承接方案"):
        load_pack(pack)


def test_a_county_cap_named_like_a_city_cap_is_refused(tmp_path):
    pack = _copy(tmp_path)
    _edit(pack / "rules" / "2-rural.yaml", lambda data: (data["caps"][0].update(id="export-insurance-annual"),
                                                         data["rules"][0].update(caps=["export-insurance-annual"])))
    with pytest.raises(PackError, match="上限 export-insurance-annual 与 huzhou-2025 的上限同名"):
        load_pack(pack)


def test_a_top_up_on_another_event_is_refused(tmp_path):
    pack = _copy(tmp_path)
    _edit(pack / "rules" / "1-opening-up.yaml", lambda data: data["rules"][0].update(event="tea_processing_plant"))
    with pytest.raises(PackError, match="加码规则的事件 tea_processing_plant 须与基础规则 export-credit-insurance 的事件"):
        load_pack(pack)


def test_two_top_ups_of_one_rule_are_refused(tmp_path):
    pack = _copy(tmp_path)
    _edit(pack / "rules" / "1-opening-up.yaml",
          lambda data: data["rules"].append({**data["rules"][0], "id": "anji-export-again"}))
    with pytest.raises(PackError, match="基础规则 export-credit-insurance 已由 anji-export-credit-insurance 加码"):
        load_pack(pack)


def test_bad_county_budgets_are_refused(tmp_path):
    pack = _copy(tmp_path)
    _edit(pack / "policy.yaml", lambda data: data["budgets"][1].update(rule="export-credit-insurance"))
    with pytest.raises(PackError, match="第 2 项预算:rule export-credit-insurance 不是本承接方案的规则"):
        load_pack(pack)
    _edit(pack / "policy.yaml", lambda data: data["budgets"][1].update(rule="anji-export-credit-insurance", yuan=40000000))
    with pytest.raises(PackError, match="第 1 领域各规则预算合计 40000000 元,超过该领域预算 30000000 元"):
        load_pack(pack)
    _edit(pack / "policy.yaml", lambda data: data["budgets"][0].update(yuan=3000000))
    with pytest.raises(PackError, match="与文件所写第 1 领域预算 30000000 元不一致"):
        load_pack(pack)


def test_a_clause_not_in_the_county_document_is_refused(tmp_path):
    pack = _copy(tmp_path)
    # The city's clause is no clause of the county's document: a county rule quotes the county.
    _edit(pack / "rules" / "1-opening-up.yaml",
          lambda data: data["rules"][0].update(clause="市、區兩級對短期出口信用保險保費給予不低于60%的補助"))
    with pytest.raises(PackError, match="规则 anji-export-credit-insurance: 引用的条文在文件中找不到"):
        load_pack(pack)


def _batch_rows(pack, cases):
    import duckdb

    from zhida.engine.batch import cases_to_arrow, compile_pack

    subjects, events = cases_to_arrow(pack, cases)
    con = duckdb.connect()
    con.register("subjects", subjects)
    con.register("events", events)
    return con.sql(compile_pack(pack).sql).fetchall()


def _calculator_rows(pack, cases):
    return [
        (case.subject.id, item.event.id, item.event.date, item.rule.id, item.rule.spec.article,
         item.rule.spec.kind.value, item.amount, item.tax_due, ",".join(item.caps_hit), item.in_validity)
        for case in cases for item in calculate(pack, case).entitlements
    ]


def test_the_batch_agrees_with_the_calculator_on_an_overlay(anji):
    import dataclasses
    import random

    from casegen import random_cases

    # Random cases of every event type, each subject in 安吉县 (either script), 德清县 or no county;
    # plus the hand-computed insurance cases above, so that the top-up meets the shared cap.
    rng = random.Random(20250410)
    counties = ["安吉县", "安吉縣", "德清县", None]
    cases = [
        dataclasses.replace(case, subject=dataclasses.replace(case.subject, county=rng.choice(counties)))
        for case in random_cases(anji, 3000, seed=20250410)
    ]
    for number, premiums in enumerate([["100万"], ["150万"], ["200万"], ["100万", "50万"]]):
        for county in ("安吉县", "德清县"):
            events = [_insurance(f"e{i}", f"2025-0{i + 3}-01", premium) for i, premium in enumerate(premiums)]
            case = _case(anji, county, *events)
            cases.append(dataclasses.replace(case, subject=dataclasses.replace(case.subject, id=f"H{number}{county}")))
    expected = _calculator_rows(anji, cases)
    got = [row[:10] for row in _batch_rows(anji, cases)]
    assert sorted(got) == sorted(expected)
    top_ups = [row for row in expected if row[3] == "anji-export-credit-insurance"]
    assert {row[6] > 0 for row in top_ups} == {True, False}  # paid, and squeezed to 0 by the city's cap
    assert any(row[3] == "anji-tea-plant" for row in expected)
    assert not any(row[3].startswith("anji-") and row[0].startswith("H") and "德清县" in row[0] for row in got)


def test_the_batch_refuses_a_top_up_it_cannot_compute(tmp_path):
    from zhida.engine.batch import BatchError, compile_pack

    pack = _copy(tmp_path)
    # high-tech-first carries two annual caps (每家 20萬元, and the shared 首次/重新 cap).
    _edit(pack / "rules" / "1-opening-up.yaml",
          lambda data: data["rules"][0].update(tops_up="high-tech-first", amount="250000", assumption=None))
    with pytest.raises(BatchError, match="规则 anji-export-credit-insurance:加码规则所加码的 high-tech-first 有多个年度上限"):
        compile_pack(load_pack(pack))


def test_match_on_an_overlay_register(anji, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from zhida.engine.match import match

    # Two enterprises of a register with a county column: 安吉县 gets 600,000 + 100,000, 德清县 600,000;
    # the tea plant (10% × 3,000,000 → 20万元 cap) only in 安吉县.
    pq.write_table(pa.table({"subject_id": ["A1", "D1"], "kind": ["enterprise"] * 2, "county": ["安吉县", "德清县"]}),
                   tmp_path / "subjects.parquet")
    pq.write_table(pa.table({
        "event_id": ["a", "t", "d", "u"], "subject_id": ["A1", "A1", "D1", "D1"],
        "type": ["export_credit_insurance", "tea_processing_plant"] * 2,
        "date": pa.array([dt.date(2025, 5, 1)] * 4, pa.date32()),
        "premium": pa.array([Decimal(1000000), None, Decimal(1000000), None], pa.decimal128(18, 2)),
        "equipment_investment": pa.array([None, Decimal(3000000), None, Decimal(3000000)], pa.decimal128(18, 2)),
    }), tmp_path / "events.parquet")
    summary = match(anji, tmp_path / "subjects.parquet", tmp_path / "events.parquet", tmp_path / "out.parquet")
    rows = sorted((row["subject_id"], row["rule"], row["amount"]) for row in pq.read_table(tmp_path / "out.parquet").to_pylist())
    assert rows == [
        ("A1", "anji-export-credit-insurance", Decimal("100000.00")),
        ("A1", "anji-tea-plant", Decimal("200000.00")),
        ("A1", "export-credit-insurance", Decimal("600000.00")),
        ("D1", "export-credit-insurance", Decimal("600000.00")),
    ]
    assert summary.total == Decimal("1500000.00")
    # The county's rules are summed under the county document's areas and budgets (县商务局 3000万元 …).
    assert [(department, amount, budget) for _, department, _, amount, budget, _ in summary.by_area] == [
        ("市商务局", Decimal("1200000.00"), Decimal(264000000)),  # 五、… 全市財政預算安排2.64億元
        ("县商务局", Decimal("100000.00"), Decimal(30000000)),
        ("县农业农村局", Decimal("200000.00"), Decimal(20000000)),
    ]


def test_every_amount_of_the_county_document_is_covered(anji):
    from zhida.rules.coverage import coverage, sentence_coverage

    county = anji.county_view()
    assert county.document is anji.county_layer.document and {rule.layer for rule in county.rules} == {Layer.COUNTY}
    assert coverage(county).ok, coverage(county).missing
    assert sentence_coverage(county).missing == ()
    assert load_pack(choose("huzhou-2025").path).county_view() is None
