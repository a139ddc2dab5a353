"""Properties of the calculator that hold for any sequence of claims (hypothesis)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from zhida.engine.calculate import calculate
from zhida.engine.case import case_from_data
from zhida.rules.pack import load_pack

PACK = load_pack(Path(__file__).resolve().parents[1] / "policies" / "huzhou-2025")
MONEY = st.decimals(min_value=0, max_value=2_000_000, places=2, allow_nan=False, allow_infinity=False)
DATES = st.dates(min_value=dt.date(2024, 11, 1), max_value=dt.date(2026, 2, 1))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(MONEY, DATES), min_size=1, max_size=8))
def test_vouchers_never_exceed_the_annual_cap(claims):
    # 按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元
    events = [
        {"id": f"v{index:02d}", "type": "innovation_voucher", "date": date.isoformat(), "service_fee": str(fee)}
        for index, (fee, date) in enumerate(claims)
    ]
    result = calculate(PACK, case_from_data({"subject": {"id": "E", "kind": "enterprise"}, "events": events}, PACK))
    paid_2025 = sum(e.amount for e in result.entitlements if e.event.date.year == 2025)
    assert paid_2025 <= Decimal(200000)
    for entitlement in result.entitlements:
        assert entitlement.amount >= 0 and entitlement.amount == entitlement.amount.quantize(Decimal("0.01"))
        if entitlement.event.date.year != 2025:
            assert entitlement.amount == 0 and not entitlement.in_validity
    # without the cap, each claim gets half its fee; the cap only ever takes away
    uncapped = sum(
        (Decimal(fee) / 2).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP") for fee, date in claims if date.year == 2025
    )
    assert paid_2025 == min(uncapped, Decimal(200000))
    assert result.total == paid_2025


@settings(max_examples=150, deadline=None)
@given(MONEY)
def test_digital_products_follow_the_6000_bound(price):
    # 單品售價6000元以下的手機…,按15%補貼,最高補貼500元
    event = {"id": "d", "type": "trade_in_digital", "date": "2025-07-01", "category": "手机", "price": str(price)}
    result = calculate(PACK, case_from_data({"subject": {"id": "C", "kind": "consumer"}, "events": [event]}, PACK))
    if price > 6000:
        assert result.entitlements == () and len(result.unmatched) == 1
    else:
        expected = min((price * Decimal("0.15")).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP"), Decimal(500))
        assert result.total == expected
