"""A reform's `rate:` and `bound:` change one number; where a rule has several, the reform is refused.

(二十一) 符合条件的软件企业享受所得税“两免三减半” (two years free, three at half of the 25% rate).
The rule software-two-three writes that as CASE WHEN profit_year <= 2 THEN 0.25 * taxable_income
ELSE 0.125 * taxable_income END: two rates, so `rate: 0.2` would be a guess about which one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from zhida.rules.pack import load_pack
from zhida.rules.reform import ReformError, apply_reform

PACK = load_pack(Path(__file__).resolve().parents[1] / "src" / "zhida" / "policies" / "huzhou-2025")


def test_a_rate_in_an_amount_with_two_rates_is_refused_with_its_line():
    text = "reform: 软件企业减半\nchanges:\n  - set: {rule: software-two-three, rate: 0.2}\n"
    with pytest.raises(ReformError) as refused:
        apply_reform(text, PACK)
    message = str(refused.value)
    assert "第 3 行" in message, message
    assert "software-two-three" in message and "2 个比例" in message


def test_the_only_bound_of_a_condition_is_replaced():
    # status = '符合条件的软件企业' AND profit_year <= 5: one number compared with, so bound: 4 is clear.
    changed = apply_reform("reform: 缩短\nchanges:\n  - set: {rule: software-two-three, bound: 4}\n", PACK)
    rule = next(rule for rule in changed.reformed.rules if rule.spec.id == "software-two-three")
    assert "profit_year <= 4" in rule.spec.when and "profit_year <= 5" not in rule.spec.when


def test_a_rate_alone_in_an_amount_is_replaced():
    # (三) 按实际发生服务费用给予最高50%比例的补助: 0.5 * service_fee becomes 0.6 * service_fee.
    changed = apply_reform("reform: 六成\nchanges:\n  - set: {rule: innovation-voucher, rate: 0.6}\n", PACK)
    rule = next(rule for rule in changed.reformed.rules if rule.spec.id == "innovation-voucher")
    assert rule.spec.amount.replace(" ", "") == "0.6*service_fee"
