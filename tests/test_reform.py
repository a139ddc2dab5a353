"""Reforms (政策沙盘) priced by hand on small registers written here.

The clauses quoted are from src/zhida/policies/huzhou-2025/document.txt; each test shows its
arithmetic under the clause it changes. The reforms are illustrative, not policy.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from zhida.cli import app
from zhida.engine.reform import Budget, fit, parse_budget, run_reform
from zhida.rules.pack import load_pack
from zhida.rules.reform import ReformError, apply_reform, parse_parameter

ROOT = Path(__file__).resolve().parents[1]
PACK = load_pack(ROOT / "src" / "zhida" / "policies" / "huzhou-2025")
runner = CliRunner()

# (三) 按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元
VOUCHERS = [
    # subject, event, date, service_fee
    ("E1", "v1", "2025-03-01", "100000"),  # 50% = 50000;    60% = 60000
    ("E2", "v2", "2025-03-01", "40000.05"),  # 50% = 20000.025 -> 20000.03; 60% = 24000.03
    ("E3", "v3", "2025-03-01", "350000"),  # 50% = 175000; 60% = 210000 -> cap 200000 at once
    ("E3", "v4", "2025-06-01", "100000"),  # 50% = 50000, cap leaves 25000; 60%: cap leaves 0
]
# Baseline: 50000 + 20000.03 + (175000 + 25000) = 270000.03


def write_register(folder: Path, events: list[tuple], weights: dict[str, str] | None = None,
                   event_type: str = "innovation_voucher", kind: str = "enterprise") -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    subjects, table = folder / "subjects.csv", folder / "events.csv"
    ids = sorted({row[0] for row in events})
    with subjects.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["subject_id", "kind", "county", *(["weight"] if weights else [])])
        for subject in ids:
            writer.writerow([subject, kind, "吴兴区", *([weights.get(subject, "1")] if weights else [])])
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if event_type == "innovation_voucher":
            writer.writerow(["event_id", "subject_id", "type", "date", "service_fee"])
            writer.writerows([(event, subject, event_type, date, fee) for subject, event, date, fee in events])
        else:
            writer.writerow(["event_id", "subject_id", "type", "date", "category", "price"])
            writer.writerows([(event, subject, event_type, date, "手机", price) for subject, event, date, price in events])
    return subjects, table


def reform(text: str):
    return apply_reform(text, PACK)


def priced(tmp_path: Path, text: str, events=VOUCHERS, weights=None, **kind):
    subjects, table = write_register(tmp_path / "register", events, weights, **kind)
    out = tmp_path / "differences.parquet"
    return run_reform(reform(text), subjects, table, out), out


def by_subject(out: Path) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    return {row["subject_id"]: (row["baseline"], row["reform"], row["difference"]) for row in pq.read_table(out).to_pylist()}


RAISE_RATE = """
reform: 创新券补助比例由50%提高至60%
changes:
  - set: {rule: innovation-voucher, rate: 0.6}
"""


def test_raise_the_voucher_rate_with_the_annual_cap_binding_for_one(tmp_path):
    summary, out = priced(tmp_path, RAISE_RATE)
    assert summary.spend.base_amount == Decimal("270000.03")
    # 60000 + 24000.03 + 200000 (E3: 210000 cut to the 20萬 cap, its second voucher gets nothing)
    assert summary.spend.new_amount == Decimal("284000.03")
    assert summary.spend.change == Decimal("14000.00")
    assert by_subject(out) == {
        "E1": (Decimal("50000.00"), Decimal("60000.00"), Decimal("10000.00")),
        "E2": (Decimal("20000.03"), Decimal("24000.03"), Decimal("4000.00")),
        "E3": (Decimal("200000.00"), Decimal("200000.00"), Decimal("0.00")),
    }
    assert (summary.gainers.count, summary.losers.count, summary.unchanged) == (2, 0, 1)
    assert summary.gainers.amount == Decimal("14000.00")
    assert (summary.gainers.smallest, summary.gainers.largest) == (Decimal("4000.00"), Decimal("10000.00"))
    assert summary.gainers.quantiles["中位数"] == Decimal("4000.00")  # the lower of two: cumulative weight 1 >= 0.5 × 2
    [line] = [line for line in summary.by_rule if line.key[0] == "innovation-voucher"]
    assert (line.base_count, line.new_count) == (4, 4)
    [area] = summary.by_area
    assert area.number == 1 and area.budget == Decimal(1725000000)  # 2025年,全市財政預算安排17.25億元
    assert summary.stated_total == Decimal(23390000000)  # 支持總額為233.9億元
    assert summary.by_chain is None and summary.by_size_band is None  # the register has neither column
    assert any("未提供" in note for note in summary.notes)


def test_the_same_rate_written_as_an_amount_gives_the_same_reform():
    by_rate = reform(RAISE_RATE).reformed.rule("innovation-voucher")
    by_amount = reform(
        "reform: 同上\nchanges:\n  - set: {rule: innovation-voucher, amount: 0.6 * service_fee}\n"
    ).reformed.rule("innovation-voucher")
    assert by_rate.spec.amount == by_amount.spec.amount == "0.6 * service_fee"
    assert by_rate.quoted == "按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元"  # still quoted


def test_lowering_the_cap_so_that_it_binds(tmp_path):
    summary, out = priced(tmp_path, """
reform: 创新券全年上限降至5万元
changes:
  - set: {cap: innovation-voucher-annual, yuan: 50000}
""")
    # E1 50000 = the new cap exactly; E2 20000.03 below it; E3 175000 cut to 50000, then nothing.
    assert by_subject(out)["E3"] == (Decimal("200000.00"), Decimal("50000.00"), Decimal("-150000.00"))
    assert by_subject(out)["E1"][2] == 0 and by_subject(out)["E2"][2] == 0
    assert summary.spend.new_amount == Decimal("120000.03")
    assert (summary.gainers.count, summary.losers.count) == (0, 1)
    assert summary.losers.amount == Decimal("-150000.00")


def test_removing_a_rule(tmp_path):
    summary, _ = priced(tmp_path, "reform: 取消创新券\nchanges:\n  - remove: {rule: innovation-voucher}\n")
    assert summary.spend.new_amount == 0 and summary.spend.change == Decimal("-270000.03")
    assert summary.losers.count == 3 and summary.losers.smallest == Decimal("-200000.00")
    assert summary.losers.largest == Decimal("-20000.03")
    [line] = [line for line in summary.by_rule if line.key[0] == "innovation-voucher"]
    assert (line.base_count, line.new_count, line.new_amount) == (4, 0, 0)


# (十七) 單品售價6000元以下的手機、平板、智能手表(手環)等3類數碼產品,按15%補貼,最高補貼500元
PHONES = [
    ("C1", "p1", "2025-05-01", "2999.99"),  # 15% = 449.9985 -> 450.00
    ("C2", "p2", "2025-05-01", "3000.00"),  # 15% = 450.00
    ("C3", "p3", "2025-05-01", "6000.00"),  # 900 -> 500 (以下 includes 6000)
    ("C4", "p4", "2025-05-01", "8000.00"),  # above 6000: nothing today
    ("C5", "p5", "2025-05-01", "8000.01"),
]


def test_a_bound_moved_changes_who_qualifies(tmp_path):
    summary, out = priced(tmp_path, """
reform: 数码产品售价上限提高至8000元
changes:
  - set: {rule: digital-products, bound: 8000}
""", PHONES, event_type="trade_in_digital", kind="consumer")
    differences = {subject: row[2] for subject, row in by_subject(out).items()}
    # 以下 includes the bound: 8000.00 now qualifies (1200 -> 500), 8000.01 does not.
    # C5 has an entitlement in neither run: it is no row of the differences.
    assert differences == {"C1": 0, "C2": 0, "C3": 0, "C4": Decimal("500.00")}
    assert summary.gainers.count == 1


def test_a_lower_bound_with_yishang_includes_the_bound(tmp_path):
    # A reform paying phones of 3000元以上 only: 以上 includes the bound, so 3000.00 keeps its 450.00.
    summary, out = priced(tmp_path, """
reform: 数码产品补贴限于售价3000元以上6000元以下
changes:
  - set: {rule: digital-products, when: price >= 3000 AND price <= 6000}
""", PHONES, event_type="trade_in_digital", kind="consumer")
    rows = by_subject(out)
    assert rows["C1"] == (Decimal("450.00"), Decimal("0.00"), Decimal("-450.00"))
    assert rows["C2"] == (Decimal("450.00"), Decimal("450.00"), Decimal("0.00"))
    assert (summary.gainers.count, summary.losers.count) == (0, 1)


def test_weights_double_a_subjects_contribution(tmp_path):
    summary, out = priced(tmp_path, RAISE_RATE, weights={"E1": "2"})
    # E1 stands for two enterprises: 2 × 50000 + 20000.03 + 200000 before; 2 × 60000 + 24000.03 + 200000 after.
    assert summary.spend.base_amount == Decimal("320000.03")
    assert summary.spend.new_amount == Decimal("344000.03")
    assert summary.subjects == 4 and summary.gainers.count == 3 and summary.unchanged == 1
    assert summary.gainers.amount == Decimal("24000.00")
    [line] = [line for line in summary.by_rule if line.key[0] == "innovation-voucher"]
    assert line.base_count == 5  # E1's voucher counts twice
    assert by_subject(out)["E1"] == (Decimal("50000.00"), Decimal("60000.00"), Decimal("10000.00"))  # per subject: unweighted


def test_a_weight_that_is_not_positive_is_refused(tmp_path):
    with pytest.raises(Exception, match="第 2 行,列 weight"):
        priced(tmp_path, RAISE_RATE, weights={"E1": "0"})


def test_a_reform_naming_what_does_not_exist_is_refused_with_its_line():
    text = "reform: 笔误\nchanges:\n  - set: {rule: innovation-voucher, rate: 0.6}\n  - set: {rule: innovation-vouchers, rate: 0.7}\n"
    with pytest.raises(ReformError, match="第 4 行:规则 innovation-vouchers:政策包 huzhou-2025 中没有这条规则"):
        reform(text)
    with pytest.raises(ReformError, match="第 4 行:没有编号为 no-such-cap 的上限"):
        reform("reform: x\nchanges:\n  - remove: {rule: trade-in-fuel}\n  - set: {cap: no-such-cap, yuan: 1}\n")
    with pytest.raises(ReformError, match="第 4 行:规则 trade-in-fuel:已被本方案前面的改动删去"):
        reform("reform: x\nchanges:\n  - remove: {rule: trade-in-fuel}\n  - remove: {rule: trade-in-fuel}\n")
    # The same whitelist as a pack: a field the event does not have, a function outside the whitelist.
    with pytest.raises(ReformError):
        reform("reform: x\nchanges:\n  - set: {rule: innovation-voucher, amount: 0.6 * price}\n")
    with pytest.raises(Exception, match="第 4 行"):
        reform("reform: x\nchanges:\n  - set:\n      rule: innovation-voucher\n      amount: random() * service_fee\n")


def test_the_cli_refuses_a_bad_reform_with_its_line(tmp_path):
    subjects, events = write_register(tmp_path / "register", VOUCHERS)
    bad = tmp_path / "bad.yaml"
    bad.write_text("reform: 笔误\nchanges:\n  - set: {cap: innovation-voucher-yearly, yuan: 300000}\n", encoding="utf-8")
    result = runner.invoke(app, ["reform", str(bad), str(subjects), str(events), "-o", str(tmp_path / "d.parquet")])
    assert result.exit_code == 2
    assert "第 3 行" in result.output and "innovation-voucher-yearly" in result.output


def test_an_added_rule_quotes_the_document_or_is_a_proposal():
    quoted = reform("""
reform: 新增
changes:
  - add:
      id: voucher-extra
      title: 创新券加码
      article: 3
      clause: 按實際發生服務費用給予最高50%比例的補助
      subject: [enterprise]
      event: innovation_voucher
      kind: ceiling
      amount: 0.1 * service_fee
""")
    assert "voucher-extra" in quoted.touched and not quoted.proposals
    with pytest.raises(ReformError, match="引用的条文在文件中找不到"):
        reform("""
reform: 新增
changes:
  - add: {id: voucher-extra, title: x, article: 3, clause: 文件里没有的话, subject: [enterprise], event: innovation_voucher, kind: ceiling, amount: "1000"}
""")
    proposal = reform("""
reform: 提案
changes:
  - add: {id: voucher-extra, title: x, article: 3, clause: 提案:每家再补1000元, proposal: true, subject: [enterprise], event: innovation_voucher, kind: ceiling, amount: "1000"}
""")
    rule = proposal.reformed.rule("voucher-extra")
    assert proposal.proposals == {"voucher-extra"} and rule.spec.clause == "提案:每家再补1000元" and rule.area == 1


def test_scaling_a_tier():
    # (一) 分別給予最高30萬元、50萬元獎勵: both tiers × 1.2 = 360000 and 600000
    scaled = reform("reform: 星级机构奖励上浮20%\nchanges:\n  - scale: {rules: [rd-institution-four-star, rd-institution-five-star], by: 1.2}\n")
    assert scaled.reformed.rule("rd-institution-four-star").spec.amount == "1.2 * (300000)"


# The fit: A 100000, B 60000, C 500000 of service fees; S(r) = 100000r + 60000r + min(500000r, 200000).
FIT_VOUCHERS = [("A", "f1", "2025-03-01", "100000"), ("B", "f2", "2025-03-01", "60000"), ("C", "f3", "2025-03-01", "500000")]


def test_the_fit_finds_the_rate_within_one_step(tmp_path):
    subjects, events = write_register(tmp_path / "register", FIT_VOUCHERS)
    base = reform(RAISE_RATE)
    parameter = parse_parameter("innovation-voucher.rate", base.reformed)
    assert parameter.step == Decimal("0.0001")
    # Below r = 0.4 the cap does not bind: 660000 r = 240000 -> r = 0.363636…; on the 0.0001 grid:
    # 0.3636 -> 36360 + 21816 + 181800 = 239976.00 <= 240000; 0.3637 -> 240042.00 > 240000.
    result, summary = fit(base, parameter, Budget(Decimal(240000), None, "预算"), subjects, events, tmp_path / "d.csv")
    assert result.value == Decimal("0.3636") and result.spend == Decimal("239976.00")
    assert result.other.value == Decimal("0.3637") and result.other.spend == Decimal("240042.00")
    assert summary.spend.new_amount == Decimal("239976.00")
    assert len(result.steps) > 3


def test_the_fit_finds_a_cap_within_one_fen(tmp_path):
    subjects, events = write_register(tmp_path / "register", FIT_VOUCHERS)
    base = reform("reform: 现行\nchanges:\n  - set: {rule: innovation-voucher, rate: 0.5}\n")
    parameter = parse_parameter("innovation-voucher-annual.yuan", base.reformed)
    # 50000 + 30000 + min(250000, cap) = 200000 -> cap = 120000
    result, _ = fit(base, parameter, parse_budget("20万", base.reformed), subjects, events, tmp_path / "d.parquet")
    assert abs(result.value - Decimal(120000)) <= Decimal("0.01")
    assert abs(result.spend - Decimal(200000)) <= Decimal("0.01")


def test_budget_by_area_and_by_amount():
    assert parse_budget("1", PACK) == Budget(Decimal(1725000000), 1, parse_budget("1", PACK).label)
    assert parse_budget("一", PACK).area == 1
    assert parse_budget("1.5亿", PACK) == Budget(Decimal("150000000.00"), None, "预算")
    with pytest.raises(ReformError):
        parse_budget("很多", PACK)


def test_the_cli_prints_and_writes(tmp_path):
    subjects, events = write_register(tmp_path / "register", VOUCHERS)
    reform_file = ROOT / "examples" / "reforms" / "innovation-voucher-60.yaml"
    out = tmp_path / "d.csv"
    result = runner.invoke(app, ["reform", str(reform_file), str(subjects), str(events), "-o", str(out)], terminal_width=200)
    assert result.exit_code == 0, result.output
    # 60% with a 30萬 cap: E3 210000 + min(60000, 90000) = 270000; total 60000 + 24000.03 + 270000
    assert "354,000.03" in result.output and "84,000.00" in result.output
    assert out.read_text(encoding="utf-8").splitlines()[0].startswith("subject_id,kind,county")
    fitted = runner.invoke(app, ["reform", str(reform_file), str(subjects), str(events), "-o", str(out),
                                 "--fit", "innovation-voucher.rate", "--budget", "30万"], terminal_width=200)
    assert fitted.exit_code == 0, fitted.output
    assert "innovation-voucher.rate =" in fitted.output
    as_json = runner.invoke(app, ["reform", str(reform_file), str(subjects), str(events), "-o", str(out), "--json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert data["spend"]["change"] == "84000.00" and data["gainers"]["count"] == "3" and data["unchanged"] == "0"
    assert data["by_area"][0]["budget"] == "1725000000.00" and data["stated_total"] == "23390000000.00"


def test_every_example_reform_applies():
    for path in sorted((ROOT / "examples" / "reforms").glob("*.yaml")):
        assert path.read_text(encoding="utf-8").startswith("# Illustrative reform, not policy")
        assert apply_reform(path.read_text(encoding="utf-8"), PACK, path).changes


def chains_and_bands_register(folder: Path) -> tuple[Path, Path]:
    """Ten enterprises, one 10000 元 voucher each, revenues 100 … 1000 元, chains alternating."""
    subjects, events = write_register(folder, [(f"E{i:02d}", f"v{i}", "2025-03-01", "10000") for i in range(1, 11)])
    with subjects.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["subject_id", "kind", "county", "industry_chain", "revenue"])
        for i in range(1, 11):
            writer.writerow([f"E{i:02d}", "enterprise", "德清县", "生物医药" if i % 2 else "高端装备", f"{i * 100}.00"])
    return subjects, events


def test_industry_chain_and_size_bands(tmp_path):
    subjects, events = chains_and_bands_register(tmp_path / "register")
    # Ten enterprises with revenues 100 … 1000 元: enterprise i has i − 1 smaller ones, a share of (i − 1)/10,
    # so it is alone in band i. Chains alternate; each voucher gains 6000 − 5000 = 1000.
    summary = run_reform(reform(RAISE_RATE), subjects, events, tmp_path / "d.parquet")
    bands = {line.key[0]: (line.key[1], line.change) for line in summary.by_size_band}
    assert bands == {i: (Decimal(i * 100), Decimal(1000)) for i in range(1, 11)}
    assert {line.key[0]: line.change for line in summary.by_chain} == {"生物医药": 5000, "高端装备": 5000}
    assert {line.key[0]: line.new_amount for line in summary.by_county} == {"德清县": Decimal(60000)}
    assert summary.gainers.quantiles == dict.fromkeys(("P10", "P25", "中位数", "P75", "P90"), Decimal("1000.00"))


def test_a_negative_revenue_is_refused_with_its_row(tmp_path):
    subjects, events = write_register(tmp_path / "register", VOUCHERS[:1])
    subjects.write_text("subject_id,kind,county,revenue\nE1,enterprise,吴兴区,-5\n", encoding="utf-8")
    with pytest.raises(Exception, match="第 2 行,列 revenue"):
        run_reform(reform(RAISE_RATE), subjects, events, tmp_path / "d.parquet")


def test_a_budget_out_of_reach_has_no_value(tmp_path):
    subjects, events = write_register(tmp_path / "register", FIT_VOUCHERS)
    base = reform(RAISE_RATE)
    parameter = parse_parameter("innovation-voucher.rate", base.reformed)
    # 單個企業全年最高補助20萬元: whatever the rate, three enterprises get at most 3 × 200000 = 600000,
    # reached at r = 4 (100000 × 4 = 400000 -> 200000); the fit stops doubling once the spend stops moving.
    result, summary = fit(base, parameter, parse_budget("1亿", base.reformed), subjects, events, tmp_path / "d.parquet")
    assert result.value is None and "无解" in result.message
    assert [step.spend for step in result.steps][-2:] == [Decimal(600000), Decimal(600000)]
    assert summary.spend.new_amount == Decimal("36000.00") + Decimal("60000.00") + Decimal("200000.00")  # at 0.6


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    result = runner.invoke(app, ["synth", "-o", str(out), "--enterprises", "3000", "--transactions", "6000", "--seed", "11"])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("name", ["innovation-voucher-60", "high-tech-award-300k", "consumer-goods"])
def test_the_reform_run_equals_a_whole_match_of_the_reformed_pack(synthetic, tmp_path, name):
    """Only the touched rules and those sharing a cap with them are re-run: the totals must be what a
    match of the whole reformed pack gives, rule by rule, to the 分."""
    from zhida.engine.match import match

    changed = apply_reform((ROOT / "examples" / "reforms" / f"{name}.yaml").read_text(encoding="utf-8"), PACK)
    subjects, events = synthetic / "subjects.parquet", synthetic / "events.parquet"
    summary = run_reform(changed, subjects, events, tmp_path / "d.parquet")
    whole = match(changed.reformed, subjects, events, tmp_path / "m.parquet")
    baseline = match(PACK, subjects, events, tmp_path / "b.parquet")
    assert {line.key[0]: (line.new_count, line.new_amount) for line in summary.by_rule if line.new_count} == {
        rule: (count, amount) for rule, _, _, count, amount in whole.by_rule
    }
    assert {line.key[0]: (line.base_count, line.base_amount) for line in summary.by_rule if line.base_count} == {
        rule: (count, amount) for rule, _, _, count, amount in baseline.by_rule
    }
    assert summary.by_chain is not None and summary.by_size_band is not None  # synth writes chain and revenue


def test_a_large_register_prices_the_same(synthetic, tmp_path, monkeypatch):
    """Above BY_TYPE_EVENTS a reform reads the register into one table (the types present appended in
    turn, only their fields) and runs compile_pack's query: the same summary as the plan by type."""
    import zhida.engine.engines as engines

    changed = apply_reform((ROOT / "examples" / "reforms" / "innovation-voucher-60.yaml").read_text(encoding="utf-8"), PACK)
    subjects, events = synthetic / "subjects.parquet", synthetic / "events.parquet"
    by_type = run_reform(changed, subjects, events, tmp_path / "by_type.parquet")
    monkeypatch.setattr(engines, "BY_TYPE_EVENTS", 0)
    large = run_reform(changed, subjects, events, tmp_path / "large.parquet")
    assert large == by_type and by_type.spend.change > 0


def test_the_cli_refuses_a_bad_fit(tmp_path):
    subjects, events = write_register(tmp_path / "register", VOUCHERS)
    reform_file = str(ROOT / "examples" / "reforms" / "innovation-voucher-60.yaml")
    base = ["reform", reform_file, str(subjects), str(events), "-o", str(tmp_path / "d.parquet")]
    for extra, message in (
        (["--fit", "innovation-voucher.rate"], "--fit 与 --budget 须同时给出"),
        (["--fit", "no-such-rule.rate", "--budget", "30万"], "没有编号为 no-such-rule 的规则"),
        (["--fit", "innovation-voucher.speed", "--budget", "30万"], "规则编号.rate"),
        (["--fit", "innovation-voucher.rate", "--budget", "很多"], "--budget"),
    ):
        result = runner.invoke(app, [*base, *extra], terminal_width=200)
        assert result.exit_code == 2 and message in result.output, result.output


def test_the_fit_of_a_lower_bound_where_spend_falls_as_it_rises(tmp_path):
    # A reform paying phones of B元以上 (no upper bound): 2999.99 -> 450.00, 3000 -> 450.00, the others 500 each.
    subjects, events = write_register(tmp_path / "register", PHONES, event_type="trade_in_digital", kind="consumer")
    base = reform("reform: 数码产品补贴限于售价3000元以上\nchanges:\n  - set: {rule: digital-products, when: price >= 3000}\n")
    parameter = parse_parameter("digital-products.bound", base.reformed)
    assert parameter.step == Decimal("0.01")  # price is money
    # B = 0: 2400.00; B = 3000: 1950.00 (above the budget, so the bracket widens to 6000);
    # B = 6000: 以上 includes the bound, C3 (6000) + C4 + C5 = 1500.00, the budget to the 分.
    result, _ = fit(base, parameter, parse_budget("1500元", base.reformed), subjects, events, tmp_path / "d.parquet")
    assert [(step.value, step.spend) for step in result.steps] == [
        (Decimal(0), Decimal("2400.00")), (Decimal(3000), Decimal("1950.00")), (Decimal(6000), Decimal("1500.00")),
    ]
    assert result.value == 6000 and result.spend == Decimal("1500.00")
