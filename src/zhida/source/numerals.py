"""Numbers as Chinese documents write them: 6.5, 1.5萬, 二十一, 三分之二, 1—2.

All results are exact (Decimal, or Fraction for 三分之二); no float is ever made.
Chinese numerals go through cn2an; fractions and the 萬/億 multipliers are ours
because cn2an returns floats for them.
"""

from __future__ import annotations

from decimal import Decimal, getcontext
from fractions import Fraction

import cn2an

MULTIPLIERS: dict[str, int] = {"": 1, "万": 10_000, "萬": 10_000, "亿": 100_000_000, "億": 100_000_000}

ARABIC = "0123456789"
CHINESE_DIGITS = "零〇一二两兩三四五六七八九"
CHINESE_UNITS = "十百千万萬亿億"
CHINESE_NUMERAL = CHINESE_DIGITS + CHINESE_UNITS + "点點"

# The longest number read, in characters: 九千九百九十九萬九千九百九十九 is 15, 233.9 is 5, and
# 10^15 元 (the largest amount read, see amounts.MAX_AMOUNT) has 16 digits. A longer run is no
# number a policy writes, and cn2an's time grows with the square of its length.
MAX_NUMBER_LENGTH = 20


def chinese_to_decimal(text: str) -> Decimal:
    """二十一 -> 21, 一点五 -> 1.5, 两千 -> 2000. Raises ValueError when `text` is not a numeral."""
    _check_length(text)
    integer, _, fraction = text.replace("點", "点").partition("点")
    value = Decimal(_chinese_integer(integer)) if integer else Decimal(0)
    if fraction:
        digits = "".join(str(_chinese_integer(digit)) for digit in fraction)
        value += Decimal("0." + digits)
    return value


def _chinese_integer(text: str) -> int:
    normalised = text.replace("兩", "两").replace("萬", "万").replace("億", "亿").replace("〇", "零")
    _check_length(text)
    try:
        value = cn2an.cn2an(normalised, "smart")
    except (ValueError, KeyError, IndexError) as error:
        raise ValueError(f"“{text}”不是有效的中文数字") from error
    # cn2an answers some whole numbers with a float; beyond 2^53 a float is no longer exact.
    if isinstance(value, float) and not (value.is_integer() and abs(value) < 2**53):
        raise ValueError(f"“{text}”不是可精确读取的整数")
    return int(value)


def _check_length(text: str) -> None:
    if len(text) > MAX_NUMBER_LENGTH:
        raise ValueError(f"数字“{text[:10]}…”过长({len(text)} 个字符,最多读取 {MAX_NUMBER_LENGTH} 个)")


def parse_number(text: str) -> Decimal | Fraction:
    """A number as written: "6.5", "1,000", "二十一", "三分之二", "1.5万" (multiplier applied)."""
    text = text.strip().replace(",", "")
    if not text:
        raise ValueError("空的数字")
    _check_length(text)
    if "分之" in text:
        denominator, _, numerator = text.partition("分之")
        below = int(parse_number(denominator))
        if below == 0:
            raise ValueError(f"“{text}”的分母为零")
        return Fraction(int(parse_number(numerator)), below)
    multiplier = ""
    if len(text) > 1 and text[-1] in "万萬亿億" and text[-2] in ARABIC:
        multiplier = text[-1]
        text = text[:-1]
    if all(character in ARABIC + "." for character in text) and text.count(".") <= 1 and text.strip("."):
        return scale(Decimal(text), multiplier)
    return scale(chinese_to_decimal(text), multiplier)


def scale(value: Decimal | Fraction, multiplier: str) -> Decimal | Fraction:
    """Apply a 萬/億 multiplier written after the number (1.5 + 萬 -> 15000)."""
    result = value * MULTIPLIERS[multiplier]
    if isinstance(result, Decimal) and result.adjusted() >= getcontext().prec:
        # Beyond the context's precision the product was rounded: no longer the number written.
        raise ValueError(f"数值 {value}{multiplier} 过大,无法精确读取")
    if isinstance(result, Decimal):
        # Keep "15000", not "1.50E+4", for readers and JSON alike.
        return result.quantize(Decimal(1)) if result == result.to_integral_value() else result.normalize()
    return result


def format_value(value: Decimal | Fraction) -> str:
    """A stable text form: "15000", "6.5", "2/3"."""
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return format(value.normalize(), "f")
