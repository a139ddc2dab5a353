"""`zhida calc CASE --pack A --pack B`: one case under several documents at once, and a county overlay.

The other packs are FICTIONAL fixtures (tests/data/packs). Clauses:

    huzhou-2025 第(二)條:  對首次認定的高新技術企業,每家給予最高20萬元獎勵
    huzhou-2025 第(三十)條: 市、區兩級對短期出口信用保險保費給予不低于60%的補助,單家企業保費補助金額不超過100萬元
    zhejiang 第(一)条:    对首次认定的高新技术企业,省级给予10万元奖励,可与市、县同类奖励叠加享受   (stacks)
    zhejiang 第(二)条:    省级对短期出口信用保险保费给予50%的补助 … 按就高原则执行,不重复享受      (higher)
    anji 第(一)条:        县级对短期出口信用保险保费的补助比例提高到70% … 合计 … 仍不超过100万元
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from zhida.cli import app

runner = CliRunner()
PACKS = Path(__file__).parent / "data" / "packs"
PROVINCE = str(PACKS / "zhejiang-2025-fictional")
ANJI = str(PACKS / "anji-2025-overlay")


def _case(tmp_path: Path, county: str | None = "安吉县") -> Path:
    subject = {"id": "91330500MA2B3C4D5E", "kind": "enterprise", "name": "湖州某外贸企业"}
    if county:
        subject["county"] = county
    case = {"subject": subject, "events": [
        {"id": "e1", "type": "export_credit_insurance", "date": "2025-05-01", "premium": "100万"},
        {"id": "h1", "type": "high_tech_recognition", "date": "2025-06-01", "recognition": "首次认定"},
    ]}
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(case, allow_unicode=True), encoding="utf-8")
    return path


def _amounts(pack: dict) -> dict[tuple[str, str], str]:
    return {(item["event"], item["rule"]): item["amount"] for item in pack["entitlements"]}


def test_two_packs_in_one_run(tmp_path):
    result = runner.invoke(app, ["calc", str(_case(tmp_path)), "--pack", "huzhou-2025", "--pack", PROVINCE, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    city, province = data["packs"]
    assert city["pack"] == "huzhou-2025" and province["pack"] == "zhejiang-2025-fictional"
    # City: 60% × 1,000,000 = 600,000 (floor); province 50% = 500,000, 就高 → dropped.
    # High-tech: city 最高20万, province 10万 叠加享受 → both.
    assert _amounts(city) == {("e1", "export-credit-insurance"): "600000.00", ("h1", "high-tech-first"): "200000.00"}
    assert _amounts(province) == {("e1", "zj-export-credit-insurance"): "0.00", ("h1", "zj-high-tech-first"): "100000.00"}
    assert {item["pack"] for item in province["entitlements"]} == {"zhejiang-2025-fictional"}
    assert [(o["event"], o["mode"], o["dropped"]) for o in data["overlaps"]] == [
        ("e1", "higher", ["zhejiang-2025-fictional/zj-export-credit-insurance"]),
        ("h1", "stacks", []),
    ]
    assert data["totals"] == {"ceiling": "200000.00", "floor": "600000.00", "exact": "100000.00", "tax": "0.00"}


def test_the_table_names_each_pack_and_the_overlaps(tmp_path):
    result = runner.invoke(app, ["calc", str(_case(tmp_path)), "--pack", "huzhou-2025", "--pack", PROVINCE],
                           terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "huzhou-2025  关于推动经济高质量发展若干政策(2025年版)" in result.output
    assert "zhejiang-2025-fictional" in result.output
    assert "重叠 e1:就高不重复" in result.output and "重叠 h1:叠加享受" in result.output
    assert "至少 600,000.00 元" in result.output and "应得 100,000.00 元" in result.output


def test_an_overlay_pays_its_county_only(tmp_path):
    # 安吉县: the county raises 60% to 70%: 700,000 − 600,000 paid by the city = 100,000 by the county.
    anji = runner.invoke(app, ["calc", str(_case(tmp_path)), "--pack", ANJI, "--json"])
    assert anji.exit_code == 0, anji.output
    items = json.loads(anji.output)["entitlements"]
    insurance = [(item["pack"], item["layer"], item["amount"]) for item in items if item["event"] == "e1"]
    assert insurance == [("huzhou-2025", "base", "600000.00"), ("anji-2025-overlay", "county", "100000.00")]
    # 德清县: the city's 60% only.
    other = runner.invoke(app, ["calc", str(_case(tmp_path, "德清县")), "--pack", ANJI, "--json"])
    items = json.loads(other.output)["entitlements"]
    assert [(item["layer"], item["amount"]) for item in items if item["event"] == "e1"] == [("base", "600000.00")]


def test_bad_pack_sets_are_refused(tmp_path):
    case = str(_case(tmp_path))
    twice = runner.invoke(app, ["calc", case, "--pack", "huzhou-2025", "--pack", "huzhou-2025"])
    assert twice.exit_code == 2 and "--pack 重复" in twice.output
    unknown = runner.invoke(app, ["calc", case, "--pack", "huzhou-2025", "--pack", "no-such-pack"])
    assert unknown.exit_code == 2 and "--pack no-such-pack: 没有这个政策包" in unknown.output
    # An overlay already holds its base: giving both is refused by engine.several.check_together.
    both = runner.invoke(app, ["calc", case, "--pack", "huzhou-2025", "--pack", ANJI])
    assert both.exit_code == 2 and "Traceback" not in both.output, both.output


def test_the_fixture_packs_pass_check():
    # The province's 「可与市、县同类奖励叠加享受」 and 「按就高原则执行，不重复享受」 are covered by the
    # `stacking:` clauses that read them; the overlay is checked against the county's own text.
    province = runner.invoke(app, ["check", "--pack", PROVINCE], terminal_width=200)
    assert province.exit_code == 0, province.output
    assert "受益句 3 句,已覆盖 3 句(100%)" in province.output
    anji = runner.invoke(app, ["check", "--pack", ANJI], terminal_width=200)
    assert anji.exit_code == 0, anji.output
    assert "区县承接方案 anji-2025-overlay(安吉县)" in anji.output and "受益句 2 句,已覆盖 2 句(100%)" in anji.output
