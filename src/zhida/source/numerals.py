"""Numbers as Chinese documents write them: 6.5, 1.5萬, 二十一, 三分之二, 1—2.

All results are exact (Decimal, or Fraction for 三分之二); no float is ever made.
Chinese numerals go through cn2an; fractions and the 萬/億 multipliers are ours
because cn2an returns floats for them.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import cn2an

MULTIPLIERS: dict[str, int] = {"": 1, "万": 10_000, "萬": 10_000, "亿": 100_000_000, "億": 100_000_000}

ARABIC = "0123456789"
CHINESE_DIGITS = "零〇一二两兩三四五六七八九"
CHINESE_UNITS = "十百千万萬亿億"
CHINESE_NUMERAL = CHINESE_DIGITS + CHINESE_UNITS + "点點"


def chinese_to_decimal(text: str) -> Decimal:
    """二十一 -> 21, 一点五 -> 1.5, 两千 -> 2000. Raises ValueError when `text` is not a numeral."""
    integer, _, fraction = text.replace("點", "点").partition("点")
    value = Decimal(_chinese_integer(integer)) if integer else Decimal(0)
    if fraction:
        digits = "".join(str(_chinese_integer(digit)) for digit in fraction)
        value += Decimal("0." + digits)
    return value


def _chinese_integer(text: str) -> int:
    normalised = text.replace("兩", "两").replace("萬", "万").replace("億", "亿").replace("〇", "零")
    try:
        value = cn2an.cn2an(normalised, "smart")
    except (ValueError, KeyError) as error:
        raise ValueError(f"not a Chinese numeral: {text!r}") from error
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"not a whole Chinese numeral: {text!r}")
    return int(value)


def parse_number(text: str) -> Decimal | Fraction:
    """A number as written: "6.5", "1,000", "二十一", "三分之二", "1.5万" (multiplier applied)."""
    text = text.strip().replace(",", "")
    if not text:
        raise ValueError("empty number")
    if "分之" in text:
        denominator, _, numerator = text.partition("分之")
        return Fraction(int(parse_number(numerator)), int(parse_number(denominator)))
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
