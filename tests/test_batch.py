"""The batch query says exactly what the single-case calculator says, for every subject."""

from __future__ import annotations

import re

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from casegen import random_cases

from zhida.engine.batch import BatchError, cap_levels, cases_to_arrow, compile_pack, to_dialect
from zhida.engine.calculate import calculate
from zhida.engine.case import case_from_data
from zhida.rules.pack import load_pack

PACK = load_pack(Path(__file__).resolve().parents[1] / "policies" / "huzhou-2025")


def run_batch(cases, sql=None):
    subjects, events = cases_to_arrow(PACK, cases)
    con = duckdb.connect()
    con.register("subjects", subjects)
    con.register("events", events)
    return con.sql(sql or compile_pack(PACK).sql).fetchall()


def calculator_rows(cases):
    rows = []
    for case in cases:
        for item in calculate(PACK, case).entitlements:
            rows.append(
                (case.subject.id, item.event.id, item.event.date, item.rule.id, item.rule.spec.article,
                 item.rule.spec.kind.value, item.amount, item.tax_due, ",".join(item.caps_hit), item.in_validity)
            )
    return rows


def comparable(rows):
    return sorted(tuple(row[:10]) for row in rows)


def test_batch_agrees_with_the_calculator_on_10000_random_cases():
    cases = random_cases(PACK, 10_000, seed=20250314)
    expected = calculator_rows(cases)
    got = run_batch(cases)
    assert len(expected) > 20_000  # the draw reaches many rules, caps and bounds
    assert comparable(got) == comparable(expected)
    # the draw is not trivial: every rule, every cap and both sides of validity occur
    assert {row[3] for row in expected} == {rule.id for rule in PACK.rules}
    hit = {cap for row in expected for cap in row[8].split(",") if cap}
    assert hit == {cap.id for rule in PACK.rules for cap in rule.caps}
    assert {row[9] for row in expected} == {True, False}


def test_annual_cap_accumulates_in_date_order():
    # 按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元:
    # 50% of 300000 = 150000 (Mar), then 50% of 150000 = 75000 but only 50000 is left (Jun),
    # then nothing left (Sep); a 2026 claim gets 0 and uses no cap.
    case = case_from_data(
        {
            "subject": {"id": "E1", "kind": "enterprise"},
            "events": [
                {"id": "c", "type": "innovation_voucher", "date": "2025-09-01", "service_fee": 1000},
                {"id": "a", "type": "innovation_voucher", "date": "2025-03-01", "service_fee": 300000},
                {"id": "b", "type": "innovation_voucher", "date": "2025-06-01", "service_fee": 150000},
                {"id": "d", "type": "innovation_voucher", "date": "2026-01-01", "service_fee": 1000},
            ],
        },
        PACK,
    )
    rows = run_batch([case])
    assert [(r[1], r[6], r[8]) for r in rows] == [
        ("a", Decimal("150000.00"), ""),
        ("b", Decimal("50000.00"), "innovation-voucher-annual"),
        ("c", Decimal("0.00"), "innovation-voucher-annual"),
        ("d", Decimal("0.00"), ""),
    ]


def test_division_is_refused_for_the_batch():
    rule = PACK.rule("innovation-voucher")
    broken = rule.model_copy(update={"amount": rule.amount.__class__(
        text="service_fee / 2", tree=__import__("sqlglot").parse_one("service_fee / 2"), fields=frozenset({"service_fee"}))})
    pack = PACK.__class__(PACK.path, PACK.document, PACK.subjects, PACK.events, (broken,), ())
    with pytest.raises(BatchError, match="innovation-voucher:批量计算不支持除法"):
        compile_pack(pack)


@pytest.mark.parametrize("dialect", ["postgres", "spark", "trino"])
def test_the_query_transpiles(dialect):
    plan = compile_pack(PACK)
    sql = plan.sql_for(dialect)
    assert "SUM(a0) OVER" in sql and "'innovation-voucher-annual'" in sql
    # the tree rendered for the dialect and the DuckDB text transpiled are the same query, except
    # that for Spark both sides of a decimal comparison are cast to one scale (Spark would round
    # the side with more places: BatchPlan.sql_for)
    if dialect != "spark":
        assert sql == to_dialect(plan.sql, dialect)
    else:
        assert sql != to_dialect(plan.sql, dialect)
        # 第(二)條 「對研發費用占營收比重高于5%的企業」: rd_expense > 0.05 * revenue, 4 places against 2: both at 4.
        assert re.search(r"CAST\(CAST\(e\.`rd_expense` AS DECIMAL\(38, 2\)\) AS DECIMAL\(38, 4\)\) >", sql), sql


def test_pack_fields_are_quoted_identifiers_and_pack_values_are_literals():
    plan = compile_pack(PACK)
    assert plan.sql == plan.sql_for("duckdb")
    # numbers are widened before arithmetic (an 18-digit product would overflow in the batch)
    assert "0.5 * CAST(e.\"service_fee\" AS DECIMAL(38, 2))" in plan.sql and "e.type = 'innovation_voucher'" in plan.sql
    assert "CAST(e.\"carrier\" AS TEXT) AS g1" in plan.sql
    assert "(36, 'enterprise')" in plan.sql  # the subject kinds of rule 36, as VALUES rows


def test_the_largest_amount_a_case_allows_computes_in_the_batch_as_in_the_calculator():
    # 符合條件的軟件企業享受所得稅"兩免三減半": year 1 is exempt, the saving is the full 25%.
    # taxable_income at the case format's maximum (below 10^15 元): 25% × 999999999999999.97
    # = 249999999999999.9925 → 249999999999999.99, nothing due; year 3 pays half the rate: the saving
    # and the tax due are both 12.5% × 999999999999999.97 = 124999999999999.99625 → 125000000000000.00.
    # An 18-digit product would overflow in DuckDB; the fields are widened first.
    case = case_from_data(
        {
            "subject": {"id": "E1", "kind": "enterprise"},
            "events": [
                {"id": "y1", "type": "software_income_tax", "date": "2025-05-31", "status": "符合条件的软件企业",
                 "taxable_income": "999999999999999.97", "profit_year": 1, "tax_year": 2025},
                {"id": "y3", "type": "software_income_tax", "date": "2025-05-31", "status": "符合条件的软件企业",
                 "taxable_income": "999999999999999.97", "profit_year": 3, "tax_year": 2025},
            ],
        },
        PACK,
    )
    rows = run_batch([case])
    assert [(r[1], r[6], r[7]) for r in rows] == [
        ("y1", Decimal("249999999999999.99"), Decimal("0.00")),
        ("y3", Decimal("125000000000000.00"), Decimal("125000000000000.00")),
    ]
    assert comparable(rows) == comparable(calculator_rows([case]))


def test_a_cap_shared_at_different_positions_has_one_window():
    # 單個孵化載體單年度內獎勵額度最高30萬元 stacks after the maker space's own 5萬元 cap, and alone on
    # the incubator and cultivation awards: it sits at one level, so one window sees all its claims.
    levels = cap_levels(PACK.rules)
    assert levels["maker-space-per-carrier"] == 1 and levels["incubation-carrier-annual"] == 2
    assert levels["high-tech-first-per-firm"] == levels["high-tech-renewal-per-firm"] == 1
    assert levels["high-tech-status-per-firm"] == 2
    # a maker space filed twice (5萬元 once), then 9 cultivated firms in the same carrier: 50000 + 8 × 30000
    # = 290000, the 9th 30000 gets the 10000 left; another carrier of the operator has its own 30萬元.
    events = [
        {"id": "m1", "type": "incubator_recognition", "date": "2025-01-15", "carrier": "A", "carrier_type": "众创空间", "level": "省级"},
        {"id": "m2", "type": "incubator_recognition", "date": "2025-01-20", "carrier": "A", "carrier_type": "众创空间", "level": "国家级"},
        *({"id": f"c{n}", "type": "incubation_cultivation", "date": f"2025-0{n}-01", "carrier": "A",
           "firm_type": "高新技术企业(首次认定)", "in_incubation": True} for n in range(1, 10)),
        {"id": "n1", "type": "incubator_recognition", "date": "2025-11-01", "carrier": "B", "carrier_type": "科技企业孵化器", "level": "国家级"},
    ]
    case = case_from_data({"subject": {"id": "F1", "kind": "incubator"}, "events": events}, PACK)
    rows = run_batch([case])
    amounts = {r[1]: r[6] for r in rows}
    assert amounts["m1"] == Decimal("50000.00") and amounts["m2"] == Decimal("0.00")
    assert [amounts[f"c{n}"] for n in range(1, 10)] == [Decimal("30000.00")] * 8 + [Decimal("10000.00")]
    assert amounts["n1"] == Decimal("300000.00")
    assert comparable(rows) == comparable(calculator_rows([case]))


def test_first_recognition_and_renewal_share_the_larger_award():
    # 首次認定 最高20萬元, 重新通過認定 最高10萬元: one or the other in a year, 20萬元 at most together.
    events = [
        {"id": "r1", "type": "high_tech_recognition", "date": "2025-02-01", "recognition": "重新认定"},
        {"id": "h1", "type": "high_tech_recognition", "date": "2025-08-01", "recognition": "首次认定"},
    ]
    case = case_from_data({"subject": {"id": "E1", "kind": "enterprise"}, "events": events}, PACK)
    rows = run_batch([case])
    assert [(r[1], r[6], r[8]) for r in rows] == [
        ("r1", Decimal("100000.00"), ""),
        ("h1", Decimal("100000.00"), "high-tech-status-per-firm"),
    ]
    assert comparable(rows) == comparable(calculator_rows([case]))


def test_tax_preferences_are_valid_by_tax_year_not_filing_date():
    # 兩免三減半 is national policy (公告2020年第45號, from 2020): a 2025 tax year settled in 2026 still counts,
    # a 2026 tax year filed in 2025 does not, nor does 2019.
    events = [
        {"id": f"t{year}", "type": "software_income_tax", "date": date, "status": "符合条件的软件企业",
         "taxable_income": "100000", "profit_year": 1, "tax_year": year}
        for year, date in ((2019, "2025-03-01"), (2025, "2026-05-31"), (2026, "2025-12-31"))
    ]
    case = case_from_data({"subject": {"id": "E1", "kind": "enterprise"}, "events": events}, PACK)
    rows = run_batch([case])
    assert {r[1]: (r[6], r[9]) for r in rows} == {
        "t2019": (Decimal("0.00"), False), "t2025": (Decimal("25000.00"), True), "t2026": (Decimal("0.00"), False),
    }
    assert comparable(rows) == comparable(calculator_rows([case]))


def test_caps_stacked_in_contrary_orders_are_refused():
    first, renewal = PACK.rule("high-tech-first"), PACK.rule("high-tech-renewal")
    swapped = renewal.model_copy(update={"caps": tuple(reversed(renewal.caps))})
    mixed = first.model_copy(update={"caps": (renewal.caps[0], first.caps[1])})
    with pytest.raises(BatchError, match="叠加顺序相互矛盾"):
        cap_levels([mixed, swapped])
