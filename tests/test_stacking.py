"""One case under several packs at once, and `stacking:` where two packs pay for one event.

The provincial pack is a FICTIONAL fixture (tests/data/packs/zhejiang-2025-fictional). Clauses:

    huzhou-2025 第(二)條:  對首次認定的高新技術企業,每家給予最高20萬元獎勵
    huzhou-2025 第(三十)條: 市、區兩級對短期出口信用保險保費給予不低于60%的補助,單家企業保費補助金額不超過100萬元
    zhejiang 第(一)条:    对首次认定的高新技术企业,省级给予10万元奖励,可与市、县同类奖励叠加享受   (stacks)
    zhejiang 第(二)条:    省级对短期出口信用保险保费给予50%的补助,单家企业全年最高补助80万元。
                          同一企业同一保单已享受市、县保费补助的,按就高原则执行,不重复享受   (higher)
"""

from __future__ import annotations

import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from zhida.engine.case import CaseError
from zhida.engine.output import result_to_dict
from zhida.engine.several import calculate_several, check_together
from zhida.rules.library import choose
from zhida.rules.model import Kind, StackingMode
from zhida.rules.pack import PackError, load_pack

PACKS = Path(__file__).parent / "data" / "packs"
PROVINCE = PACKS / "zhejiang-2025-fictional"


@pytest.fixture(scope="module")
def huzhou():
    return load_pack(choose("huzhou-2025").path)


@pytest.fixture(scope="module")
def province():
    return load_pack(PROVINCE)


def _data(*events, county=None):
    subject = {"id": "91330500MA2B3C4D5E", "kind": "enterprise", "name": "湖州某外贸企业"}
    if county:
        subject["county"] = county
    return {"subject": subject, "events": list(events)}


def _insurance(event_id, date, premium):
    return {"id": event_id, "type": "export_credit_insurance", "date": date, "premium": premium}


def _paid(several):
    return {
        pack.id: [(item.event.id, item.rule.reference, item.amount, item.dropped is not None) for item in result.entitlements]
        for pack, result in several.results
    }


def test_higher_pays_only_the_higher(huzhou, province):
    # City 60% × 1,000,000 = 600,000; province 50% × 1,000,000 = 500,000 (under its 80万元 cap).
    # 就高: 600,000 > 500,000, the province's benefit is not paid.
    several = calculate_several([huzhou, province], _data(_insurance("e1", "2025-05-01", "100万")))
    assert _paid(several) == {
        "huzhou-2025": [("e1", "huzhou-2025/export-credit-insurance", Decimal("600000.00"), False)],
        "zhejiang-2025-fictional": [("e1", "zhejiang-2025-fictional/zj-export-credit-insurance", Decimal("0.00"), True)],
    }
    assert several.totals[Kind.FLOOR] == Decimal("600000.00") and several.totals[Kind.CEILING] == Decimal("0.00")
    (overlap,) = several.overlaps
    assert overlap.mode is StackingMode.HIGHER and overlap.dropped == ("zhejiang-2025-fictional/zj-export-credit-insurance",)
    dropped = several.results[1][1].entitlements[0]
    assert dropped.trace[0] == "来源:基础政策 zhejiang-2025-fictional《关于推动经济高质量发展若干政策（2025年版）》第 2 条,省商务厅"
    assert "金额(最高额) = 0.5 * 实缴保费 = 0.5 * 1,000,000.00 = 500,000.00 元" in dropped.trace
    assert dropped.dropped == (
        "就高不重复:huzhou-2025/export-credit-insurance 兑现 600,000.00 元,本项 500,000.00 元 不重复享受,不予兑现"
        "(依据 zhejiang-2025-fictional 第 2 条:同一企业同一保单已享受市、县保费补助的,按就高原则执行,不重复享受)"
    )
    assert dropped.trace[-2:] == (dropped.dropped, "本项兑现 0.00 元")
    kept = several.results[0][1].entitlements[0]
    assert kept.trace[-1] == "不低于 600,000.00 元"
    assert kept.trace[-2].startswith("就高不重复:huzhou-2025/export-credit-insurance 合计 600,000.00 元 较高,")


def test_stacks_pays_both(huzhou, province):
    # City: 首次认定 最高20萬元; province: 10万元, 可与市、县同类奖励叠加享受 → both.
    event = {"id": "h1", "type": "high_tech_recognition", "date": "2025-06-01", "recognition": "首次认定"}
    several = calculate_several([huzhou, province], _data(event))
    assert _paid(several) == {
        "huzhou-2025": [("h1", "huzhou-2025/high-tech-first", Decimal("200000.00"), False)],
        "zhejiang-2025-fictional": [("h1", "zhejiang-2025-fictional/zj-high-tech-first", Decimal("100000.00"), False)],
    }
    assert several.totals[Kind.CEILING] == Decimal("200000.00") and several.totals[Kind.EXACT] == Decimal("100000.00")
    (overlap,) = several.overlaps
    assert overlap.mode is StackingMode.STACKS and overlap.dropped == ()
    line = ("叠加享受:zhejiang-2025-fictional/zj-high-tech-first 与 huzhou-2025/high-tech-first 同时兑现"
            "(依据 zhejiang-2025-fictional 第 1 条:可与市、县同类奖励叠加享受)")
    for _, result in several.results:
        assert line in result.entitlements[0].trace


def test_a_dropped_benefit_gives_its_cap_back(huzhou, province):
    # e1 2,000,000: city 1,200,000 → 不超過100萬元 → 1,000,000; province 1,000,000 → 80万元 → 800,000;
    #   就高: the city's 1,000,000; the province's 800,000 dropped, its cap room given back.
    # e2 1,000,000: city 600,000, its cap used up → 0; province 500,000 with 800,000 room → 500,000;
    #   就高: the province's 500,000; the city's 0 dropped.
    several = calculate_several(
        [huzhou, province], _data(_insurance("e1", "2025-03-01", "200万"), _insurance("e2", "2025-09-01", "100万"))
    )
    assert _paid(several) == {
        "huzhou-2025": [
            ("e1", "huzhou-2025/export-credit-insurance", Decimal("1000000.00"), False),
            ("e2", "huzhou-2025/export-credit-insurance", Decimal("0.00"), True),
        ],
        "zhejiang-2025-fictional": [
            ("e1", "zhejiang-2025-fictional/zj-export-credit-insurance", Decimal("0.00"), True),
            ("e2", "zhejiang-2025-fictional/zj-export-credit-insurance", Decimal("500000.00"), False),
        ],
    }
    assert several.totals[Kind.CEILING] == Decimal("1500000.00")
    province_e2 = several.results[1][1].entitlements[1]
    assert not any("单个主体年度上限" in line for line in province_e2.trace)  # 800,000 of room, unused


def test_a_county_top_up_counts_with_its_base_rule(province):
    anji = load_pack(PACKS / "anji-2025-overlay")
    # 安吉县: city 600,000 + county 100,000 = 700,000 against the province's 500,000 → the province's dropped.
    several = calculate_several([anji, province], _data(_insurance("e1", "2025-05-01", "100万"), county="安吉县"))
    assert _paid(several)["anji-2025-overlay"] == [
        ("e1", "huzhou-2025/export-credit-insurance", Decimal("600000.00"), False),
        ("e1", "anji-2025-overlay/anji-export-credit-insurance", Decimal("100000.00"), False),
    ]
    (overlap,) = several.overlaps
    assert overlap.kept == ("huzhou-2025/export-credit-insurance", "anji-2025-overlay/anji-export-credit-insurance")
    assert "兑现 700,000.00 元,本项 500,000.00 元 不重复享受" in overlap.reason
    data = [result_to_dict(pack, result) for pack, result in several.results]
    assert [(item["pack"], item["layer_label"]) for item in data[0]["entitlements"]] == [
        ("huzhou-2025", "基础政策"), ("anji-2025-overlay", "区县承接方案"),
    ]
    assert data[1]["entitlements"][0]["dropped"].startswith("就高不重复:huzhou-2025/export-credit-insurance、anji-2025")


def test_an_event_one_pack_does_not_know_goes_to_the_other(huzhou, province):
    # 创新券: 50% × 80,000 = 40,000 (huzhou-2025 第(三)條); the province has no such event.
    voucher = {"id": "v1", "type": "innovation_voucher", "date": "2025-04-01", "service_fee": "80000"}
    several = calculate_several([huzhou, province], _data(voucher))
    assert _paid(several) == {"huzhou-2025": [("v1", "huzhou-2025/innovation-voucher", Decimal("40000.00"), False)],
                              "zhejiang-2025-fictional": []}
    assert several.overlaps == ()


def test_a_case_event_no_pack_knows_is_refused(huzhou, province):
    with pytest.raises(CaseError, match="所选政策包(huzhou-2025、zhejiang-2025-fictional)都没有适用于主体类型 enterprise 的事件类型 'no_such'"
                       .replace("(", r"\(").replace(")", r"\)")):
        calculate_several([huzhou, province], _data({"id": "x", "type": "no_such", "date": "2025-04-01"}))
    with pytest.raises(CaseError, match="多余的字段 bonus"):
        calculate_several([huzhou, province], _data({**_insurance("e1", "2025-05-01", "100万"), "bonus": "1"}))


def test_undeclared_overlaps_are_listed_and_said(tmp_path, huzhou):
    copy = tmp_path / "zhejiang-2025-other"
    shutil.copytree(PROVINCE, copy)
    _edit(copy / "rules" / "2-opening-up.yaml", lambda data: data["rules"][0].pop("stacking"))
    several = calculate_several([huzhou, load_pack(copy)], _data(_insurance("e1", "2025-05-01", "100万")))
    assert [item.amount for _, result in several.results for item in result.entitlements] == [
        Decimal("600000.00"), Decimal("500000.00"),
    ]
    (overlap,) = several.overlaps
    assert overlap.mode is None and "两份文件均未规定可否叠加(stacking),均予列出,由审核部门核定" in overlap.reason
    assert all(overlap.reason in result.entitlements[0].trace for _, result in several.results)


# --------------------------------------------------------------------------- refusals


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _stacking(path: Path, **stacking) -> None:
    _edit(path / "rules" / "2-opening-up.yaml", lambda data: data["rules"][0]["stacking"].update(stacking))


def test_an_overlay_and_its_base_together_are_refused(huzhou):
    anji = load_pack(PACKS / "anji-2025-overlay")
    with pytest.raises(PackError, match="政策包 anji-2025-overlay 与 huzhou-2025 都包含 huzhou-2025 的规则"):
        check_together([huzhou, anji])


def test_a_stacking_reference_to_a_missing_rule_is_refused(tmp_path, huzhou):
    copy = tmp_path / "zhejiang-2025-other"
    shutil.copytree(PROVINCE, copy)
    _stacking(copy, **{"with": ["huzhou-2025/no-such-rule"]})
    with pytest.raises(PackError, match="规则 zj-export-credit-insurance: stacking.with huzhou-2025/no-such-rule: 政策包 huzhou-2025 中没有规则 no-such-rule"):
        check_together([huzhou, load_pack(copy)])


def test_two_packs_disagreeing_on_stacking_are_refused(tmp_path):
    first, second = tmp_path / "province-a", tmp_path / "province-b"
    shutil.copytree(PROVINCE, first)
    shutil.copytree(PROVINCE, second)
    _stacking(first, mode="higher", **{"with": ["province-b/zj-export-credit-insurance"]})
    _stacking(second, mode="stacks", **{"with": ["province-a/zj-export-credit-insurance"]})
    with pytest.raises(PackError, match=re.escape("与 province-a/zj-export-credit-insurance 的规定不一致(一方为 higher,一方为 stacks)")):
        check_together([load_pack(first), load_pack(second)])


@pytest.mark.parametrize(
    ("stacking", "message"),
    [
        ({"with": ["zhejiang-2025-fictional/zj-high-tech-first"]}, "是本政策包的规则;stacking 只说明与其他政策包的关系"),
        ({"with": ["nowhere-2025/some-rule"]}, "没有编号为 nowhere-2025 的政策包"),
        ({"with": ["huzhou-2025"]}, "须为“政策包编号/规则编号”"),
        ({"mode": "sometimes"}, "stacking.mode"),
        ({"clause": "不在文件中的一句话"}, "规则 zj-export-credit-insurance: stacking: 引用的条文在文件中找不到"),
        ({"with": ["huzhou-2025/export-credit-insurance", "huzhou-2025/export-credit-insurance"]}, "with 中有重复的规则"),
    ],
)
def test_bad_stacking_is_refused_at_load(tmp_path, stacking, message):
    copy = tmp_path / "zhejiang-2025-fictional"
    shutil.copytree(PROVINCE, copy)
    _stacking(copy, **stacking)
    with pytest.raises(PackError, match=re.escape(message)):
        load_pack(copy)


def test_stacking_higher_needs_an_amount(tmp_path):
    copy = tmp_path / "zhejiang-2025-fictional"
    shutil.copytree(PROVINCE, copy)

    def by_measure(data):
        rule = data["rules"][0]
        rule.update(kind="by_measure", amount_by="省商务厅配套政策")
        rule.pop("amount")
        rule.pop("caps")

    _edit(copy / "rules" / "2-opening-up.yaml", by_measure)
    with pytest.raises(PackError, match="就高须比较金额,by_measure 类规则没有金额"):
        load_pack(copy)


def test_several_as_json_ready_data(huzhou, province):
    from zhida.engine.output import several_to_dict

    event = {"id": "h1", "type": "high_tech_recognition", "date": "2025-06-01", "recognition": "首次认定"}
    several = calculate_several([huzhou, province], _data(_insurance("e1", "2025-05-01", "100万"), event))
    data = several_to_dict(several)
    assert [result["pack"] for result in data["packs"]] == ["huzhou-2025", "zhejiang-2025-fictional"]
    assert [(o["event"], o["mode"], o["mode_label"]) for o in data["overlaps"]] == [
        ("e1", "higher", "就高不重复"), ("h1", "stacks", "叠加享受"),
    ]
    # 600,000 floor (city insurance) + 200,000 ceiling (city high-tech) + 100,000 exact (province high-tech);
    # the province's 500,000 insurance subsidy is dropped.
    assert data["totals"] == {"ceiling": "200000.00", "floor": "600000.00", "exact": "100000.00", "tax": "0.00"}
    province_items = data["packs"][1]["entitlements"]
    assert [(item["rule"], item["amount"], item["dropped"] is not None) for item in province_items] == [
        ("zj-export-credit-insurance", "0.00", True), ("zj-high-tech-first", "100000.00", False),
    ]
    assert several_to_dict(several, traditional=True)["overlaps"][0]["mode_label"] == "就高不重複"


def test_a_hostile_subject_kind_is_refused_in_words(huzhou, province):
    with pytest.raises(CaseError, match="subject.kind"):
        calculate_several([huzhou, province], {"subject": {"id": "x", "kind": ["enterprise"]}, "events": []})
