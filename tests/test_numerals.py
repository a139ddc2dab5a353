"""Numerals and money: exact, in Arabic and Chinese writing (property tests with hypothesis)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import cn2an
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from zhida.source import parse_text
from zhida.source.numerals import format_value, parse_number, scale

# Amounts as the family writes them: up to 8 integer digits and 2 decimals (0.3萬元, 233.9億元).
money_values = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999999.99"), places=2)
multipliers = st.sampled_from([("", 1), ("万", 10_000), ("萬", 10_000), ("亿", 100_000_000), ("億", 100_000_000)])


@given(money_values, multipliers)
def test_arabic_money_is_exact(value, multiplier):
    word, factor = multiplier
    written = format_value(value)
    assert parse_number(written + word) == value * factor
    assert scale(parse_number(written), word) == value * factor


@given(st.integers(min_value=0, max_value=99_999_999))
def test_chinese_integers_round_trip(number):
    assert parse_number(cn2an.an2cn(number)) == number


@given(st.integers(min_value=1, max_value=9_999), multipliers)
def test_chinese_money_in_a_sentence(number, multiplier):
    word, factor = multiplier
    text = _document(f"给予最高{cn2an.an2cn(number)}{word}元奖励。")
    [amount] = parse_text(text).amounts[1:]  # the first is the area budget
    assert amount.value == number * factor
    assert amount.qualifier.value == "ceiling"


@given(money_values, multipliers)
def test_arabic_money_in_a_sentence(value, multiplier):
    word, factor = multiplier
    assume(value * factor < 10**15)  # amounts are read below 10^15 元 (docs/parse-json.md)
    text = _document(f"单个企业全年最高补助{format_value(value)}{word}元。")
    [amount] = parse_text(text).amounts[1:]
    assert amount.value == value * factor
    assert amount.per == "企业全年"


@given(st.integers(min_value=1, max_value=99), st.integers(min_value=1, max_value=99))
def test_fractions(denominator, numerator):
    written = f"{cn2an.an2cn(denominator)}分之{cn2an.an2cn(numerator)}"
    assert parse_number(written) == Fraction(numerator, denominator)


@pytest.mark.parametrize(
    "written, value",
    [
        ("二十一", Decimal(21)),
        ("五十二", Decimal(52)),  # (五十二)支持推進“弱有眾扶”
        ("三分之二", Fraction(2, 3)),  # 一般公共預算支出三分之二以上用于民生領域
        ("1.5萬", Decimal(15000)),  # 新能源汽車最高補貼1.5萬元/輛
        ("233.9億", Decimal("23390000000")),  # 支持總額為233.9億元
        ("0.3萬", Decimal(3000)),  # 省級科技型中小企業…0.3萬元
        ("两千", Decimal(2000)),
        ("一点五", Decimal("1.5")),
        ("一千零一", Decimal(1001)),
    ],
)
def test_known_numerals(written, value):
    assert parse_number(written) == value


def test_not_a_number():
    with pytest.raises(ValueError):
        parse_number("分")


def test_format_value_never_uses_exponents():
    assert format_value(Decimal("1.5") * 10_000) == "15000"
    assert format_value(Decimal("233.9") * 100_000_000) == "23390000000"
    assert format_value(Decimal("6.50")) == "6.5"
    assert format_value(Fraction(2, 3)) == "2/3"


def _document(article_body: str) -> str:
    return (
        "一、测试领域(由市科技局牵头实施)\n"
        "2025年,全市财政预算安排1亿元。\n"
        f"(一)测试条目。{article_body}\n"
    )


@given(st.text(alphabet="零〇一二两兩三四五六七八九十百千万萬亿億点點分之0123456789.", min_size=1, max_size=40))
def test_any_run_of_numeral_characters_reads_or_raises_value_error(written):
    """The parser turns ValueError into a warning naming the line: nothing else may escape."""
    try:
        value = parse_number(written)
    except ValueError:
        return
    assert isinstance(value, (Decimal, Fraction))


def test_runs_longer_than_twenty_characters_are_refused():
    assert parse_number("九" * 20) == Decimal("9" * 20)  # cn2an reads a run of digits digit by digit
    with pytest.raises(ValueError, match="过长"):
        parse_number("九" * 21)
    with pytest.raises(ValueError, match="过长"):
        parse_number("9" * 30_000)


def test_zero_denominator_is_refused():
    with pytest.raises(ValueError, match="分母为零"):
        parse_number("零分之一")
