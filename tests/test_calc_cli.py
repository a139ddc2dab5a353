"""`zhida calc`, `zhida events` and `zhida check` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from zhida.cli import app

runner = CliRunner()

SOFTWARE_AND_VOUCHERS = {
    "subject": {"id": "91330500MA2B3C4D5E", "kind": "enterprise", "name": "湖州某软件有限公司"},
    "events": [
        # 按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元
        {"id": "v1", "type": "innovation_voucher", "date": "2025-03-01", "service_fee": 300000},  # 50% = 150000
        {"id": "v2", "type": "innovation_voucher", "date": "2025-06-01", "service_fee": "150000"},  # 75000 -> 50000 left
        # 符合條件的軟件企業享受所得稅“兩免三減半”: year 3 is taxed at 12.5% instead of 25%
        {"id": "t1", "type": "software_income_tax", "date": "2025-05-31", "status": "符合條件的軟件企業",
         "taxable_income": "1000000.01", "profit_year": 3, "tax_year": 2024},
    ],
}


def write(tmp_path: Path, data, name="case.yaml") -> Path:
    path = tmp_path / name
    if name.endswith(".json"):
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_calc_json(tmp_path):
    result = runner.invoke(app, ["calc", str(write(tmp_path, SOFTWARE_AND_VOUCHERS, "case.json")), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    amounts = [(e["rule"], e["event"], e["amount"]) for e in data["entitlements"]]
    # 25% − 12.5% of 1000000.01 = 125000.00125 -> 125000.00; tax due the same 125000.00
    assert amounts == [
        ("innovation-voucher", "v1", "150000.00"),
        ("software-two-three", "t1", "125000.00"),
        ("innovation-voucher", "v2", "50000.00"),
    ]
    assert data["entitlements"][1]["tax_due"] == "125000.00"
    assert data["entitlements"][2]["caps_hit"] == ["innovation-voucher-annual"]
    # ceilings and tax savings are summed apart; `total` is their plain sum, kept for compatibility
    assert data["totals"] == {"ceiling": "200000.00", "floor": "0.00", "exact": "0.00", "tax": "125000.00"}
    assert data["by_measure"] == 0 and data["total"] == "325000.00"
    assert [e["verdict"] for e in data["entitlements"]] == ["ceiling", "tax", "ceiling"]
    first = data["entitlements"][0]
    assert first["article"] == 3 and first["kind"] == "ceiling" and first["department"] == "市科技局"
    assert first["clause"] == "按实际发生服务费用给予最高50%比例的补助,单个企业全年最高补助20万元"
    # fields by their titles, amounts thousands separated
    assert "金额(最高额) = 0.5 * 实际发生服务费用 = 0.5 * 300,000.00 = 150,000.00 元" in first["trace"]
    assert any("尚余 50,000.00 元" in line for line in data["entitlements"][2]["trace"])


def test_calc_table_and_traditional(tmp_path):
    path = write(tmp_path, SOFTWARE_AND_VOUCHERS)
    result = runner.invoke(app, ["calc", str(path)])
    assert result.exit_code == 0, result.output
    assert "最高可得 200,000.00 元" in result.output and "节税 125,000.00 元" in result.output
    assert "合计" not in result.output and "创新券补助" in result.output
    result = runner.invoke(app, ["calc", str(path), "--traditional", "--json"])
    data = json.loads(result.output)
    assert data["entitlements"][0]["title"] == "創新券補助"
    # the clause is quoted verbatim from the Traditional document
    assert data["entitlements"][0]["clause"] == "按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元"


def _with_event(**changes):
    case = json.loads(json.dumps(SOFTWARE_AND_VOUCHERS))
    case["events"][0].update(changes)
    return case


@pytest.mark.parametrize(
    "case, message",
    [
        (_with_event(type="innovation_coupon"), "事件 v1: 未知的事件类型 'innovation_coupon'"),
        ({**SOFTWARE_AND_VOUCHERS, "events": [{"id": "v1", "type": "innovation_voucher", "date": "2025-03-01"}]},
         "事件 v1: 缺少字段 service_fee(实际发生服务费用)"),
        (_with_event(colour="red"), "事件 v1: 多余的字段 colour"),
        (_with_event(service_fee=-1), "事件 v1 的字段 service_fee(实际发生服务费用): 不能为负数"),
        (_with_event(service_fee="八万"), "事件 v1 的字段 service_fee(实际发生服务费用): 无法识别的金额 '八万',须为数字"),
        (_with_event(service_fee="100.001"), "金额最多精确到分"),
        (_with_event(service_fee="1e26"), "超出上限:金额须小于 10^15 元(至多 999999999999999.99 元)"),
        (_with_event(service_fee="1,0,0"), "千位分隔符须每三位一个"),
        (_with_event(date="20250501"), "事件 v1 的字段 date: 日期格式须为 YYYY-MM-DD"),
        (_with_event(id=["v1"]), "第 1 个事件的字段 id: 须为文字"),
        (_with_event(date="2025-13-01"), "事件 v1 的字段 date: 日期格式须为 YYYY-MM-DD"),
        ({**SOFTWARE_AND_VOUCHERS, "subject": {"id": "x", "kind": "martian"}}, "subject.kind 未知的主体类型 'martian'"),
        ({**SOFTWARE_AND_VOUCHERS, "subject": {"id": "x", "kind": "consumer"}}, "不适用于主体类型 consumer"),
        ({"events": []}, "缺少 subject"),
    ],
)
def test_bad_case_is_refused_with_one_message(tmp_path, case, message):
    path = write(tmp_path, case)
    result = runner.invoke(app, ["calc", str(path), "--json"])
    assert result.exit_code == 2
    assert message in result.output, result.output
    assert str(path) in result.output  # the message names the case
    assert "entitlements" not in result.output  # no partial result


def test_yaml_as_people_write_it(tmp_path):
    # Unquoted dates and numbers, thousands separators, Traditional choice values: read from their text.
    path = tmp_path / "case.yaml"
    path.write_text(
        "subject: {id: 91330500MA2B3C4D5E, kind: enterprise}\n"
        "events:\n"
        "  - {id: v1, type: innovation_voucher, date: 2025-03-01, service_fee: 300000}\n"
        "  - {id: v2, type: innovation_voucher, date: 2025-06-01, service_fee: '150,000.00'}\n"
        "  - {id: h1, type: high_tech_recognition, date: 2025-05-01, recognition: 首次認定}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["calc", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # 按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元; 對首次認定的高新技術企業,每家給予最高20萬元獎勵
    assert [(e["event"], e["amount"]) for e in data["entitlements"]] == [
        ("v1", "150000.00"),
        ("h1", "200000.00"),
        ("v2", "50000.00"),
    ]
    assert data["totals"]["ceiling"] == "400000.00"


def test_a_json_file_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "case.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(SOFTWARE_AND_VOUCHERS, ensure_ascii=False).encode("utf-8"))
    result = runner.invoke(app, ["calc", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["totals"]["tax"] == "125000.00"


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"subject": {"id": "E1", "kind": "enterprise"}, "events": [}', "不是有效的 JSON 文件:第 1 行第 60 列,此处须为一个 JSON 值"),
        ('{"subject": 1, "subject": 2}', "不是有效的 JSON 文件:字段 subject 重复出现"),
        ("[" * 100_000, "嵌套层数过多"),
    ],
)
def test_a_json_file_that_does_not_parse(tmp_path, text, message):
    path = tmp_path / "case.json"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["calc", str(path)])
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_a_file_that_is_not_yaml_or_json(tmp_path):
    broken = tmp_path / "case.yaml"
    broken.write_text("subject: {id: [unclosed\n", encoding="utf-8")
    result = runner.invoke(app, ["calc", str(broken)])
    assert result.exit_code == 2 and "不是有效的 YAML 文件" in result.output
    other = tmp_path / "case.txt"
    other.write_text("hello", encoding="utf-8")
    result = runner.invoke(app, ["calc", str(other)])
    assert result.exit_code == 2 and "须为 .yaml、.yml 或 .json" in result.output
    binary = tmp_path / "case.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    result = runner.invoke(app, ["calc", str(binary)])
    assert result.exit_code == 2 and "case.json" in result.output
    result = runner.invoke(app, ["calc", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "无法读取文件" in result.output


def test_events_lists_fields_units_and_rules():
    result = runner.invoke(app, ["events"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "trade_in_digital" in result.output and "单品售价" in result.output
    assert "digital-products(第17条)" in result.output
    assert "incubation-carrier" not in result.output  # caps are not rules


def test_check_prints_coverage():
    result = runner.invoke(app, ["check"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "受益条款中的金额与比例 47 个,已覆盖 47 个(100%)" in result.output


def test_check_fails_when_an_amount_is_paid_by_no_rule(tmp_path):
    import shutil

    pack = tmp_path / "pack"
    shutil.copytree(Path(__file__).resolve().parents[1] / "policies" / "huzhou-2025", pack)
    rules = pack / "rules" / "5-opening-up.yaml"
    data = yaml.safe_load(rules.read_text(encoding="utf-8"))
    data["rules"], data["caps"] = [], []
    rules.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(app, ["check", "--pack", str(pack)], terminal_width=200)
    # 市、區兩級對短期出口信用保險保費給予不低于60%的補助,單家企業保費補助金額不超過100萬元
    assert result.exit_code == 1
    assert "未覆盖: 第 30 条 60%" in result.output and "未覆盖: 第 30 条 100万元" in result.output
    assert "已覆盖 45 个" in result.output


def test_a_capped_floor_is_shown_as_a_ceiling(tmp_path):
    # 市、區兩級對短期出口信用保險保費給予不低于60%的補助,單家企業保費補助金額不超過100萬元:
    # 60% × 2000000 = 1200000 > 1000000: the cap binds, so 1000000 is the most the firm gets, not the least;
    # 60% × 100000 = 60000 for another firm's premium stays a floor (counties may add).
    case = {
        "subject": {"id": "E1", "kind": "enterprise", "name": "湖州某外贸有限公司"},
        "events": [{"id": "p1", "type": "export_credit_insurance", "date": "2025-09-30", "premium": 2000000}],
    }
    path = write(tmp_path, case, "capped.json")
    data = json.loads(runner.invoke(app, ["calc", str(path), "--json"]).output)
    (item,) = data["entitlements"]
    assert (item["kind"], item["verdict"], item["verdict_label"]) == ("floor", "ceiling", "最高可得")
    assert item["trace"][-1] == "最高可得 1,000,000.00 元(审核部门在此限额内核定)"
    assert not any(line.startswith("不低于") for line in item["trace"])
    assert data["totals"] == {"ceiling": "1000000.00", "floor": "0.00", "exact": "0.00", "tax": "0.00"}
    output = runner.invoke(app, ["calc", str(path)], terminal_width=200).output
    assert "最高可得 1,000,000.00 元" in output and "不低于 1,000,000.00" not in output and "至少" not in output
    case["events"][0]["premium"] = 100000
    path = write(tmp_path, case, "floor.json")
    data = json.loads(runner.invoke(app, ["calc", str(path), "--json"]).output)
    assert data["entitlements"][0]["verdict"] == "floor"
    assert data["entitlements"][0]["trace"][-1] == "不低于 60,000.00 元"
    assert data["totals"]["floor"] == "60000.00" and data["totals"]["ceiling"] == "0.00"
    output = runner.invoke(app, ["calc", str(path)], terminal_width=200).output
    assert "至少 60,000.00 元" in output and "最高可得" not in output


def test_a_by_measure_benefit_is_listed_with_its_source_and_counted(tmp_path):
    # A benefit whose amount another policy sets is listed (金额按…执行) and counted, never summed.
    from zhida.rules.pack import load_pack

    pack = load_pack(Path(__file__).resolve().parents[1] / "policies" / "huzhou-2025")
    rule = next(
        rule for rule in pack.rules
        if rule.spec.kind.value == "by_measure" and rule.spec.when == "TRUE" and "enterprise" in rule.spec.subject
        and not pack.events[rule.spec.event].fields and len(pack.rules_for(rule.spec.event)) == 1
    )
    case = {"subject": {"id": "E1", "kind": "enterprise", "name": "湖州某企业"},
            "events": [{"id": "b1", "type": rule.spec.event, "date": "2025-05-01"}]}
    path = write(tmp_path, case, "measure.json")
    data = json.loads(runner.invoke(app, ["calc", str(path), "--json"]).output)
    assert data["by_measure"] == 1 and set(data["totals"].values()) == {"0.00"} and data["total"] == "0.00"
    output = runner.invoke(app, ["calc", str(path)], terminal_width=300).output
    assert f"可申请:金额按{rule.spec.amount_by}执行" in output
    assert "另有 1 项金额按相关政策执行(不计入上列金额)" in output and "最高可得" not in output
