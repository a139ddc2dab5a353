"""The batch query says exactly what the single-case calculator says, for every subject."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from casegen import random_cases

from zhida.engine.batch import BatchError, cases_to_arrow, compile_pack, to_dialect
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
    # the tree rendered for the dialect and the DuckDB text transpiled are the same query
    assert sql == to_dialect(plan.sql, dialect)


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
                 "taxable_income": "999999999999999.97", "profit_year": 1},
                {"id": "y3", "type": "software_income_tax", "date": "2025-05-31", "status": "符合条件的软件企业",
                 "taxable_income": "999999999999999.97", "profit_year": 3},
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
