"""Money as a Chinese user writes it: 300000, 300,000.50, 30万, 30萬元, 0.3亿; read exactly or refused.

    read_money(text, field_title)  the amount in 元 (Decimal, two decimals), or MoneyError naming the field
    parse_money(text)              the amount exactly as written, shifted to 元; MoneyProblem says why not
    describe(value)                "300,000.00 元(30 万元)": the read-back shown beside a money field
    amount_text(value)             "300,000.00", "899.9985": an amount of a trace, thousands separated, exact

One grammar for every money field (the case reader zhida.engine.case uses it, so the API, `zhida
calc`, the ledger's amounts and the calculator page agree):

    [-] digits [.digits] [万|萬|亿|億] [元]        spaces allowed before 万/亿 and before 元

Digits are ASCII 0-9 with no leading zero, and thousands separators only every three digits
(1,000,000.50). A unit moves the decimal point in the text (万 four places, 亿 eight), so nothing is
ever rounded: after the move at most two decimals (分) may remain, and the amount is below 10^15 元.
A minus sign is read only to say "negative" (-0 is zero). Exponents (1e3), underscores (1_000),
full-width digits and anything else are refused, with the likely mistake said.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal

MONEY_DIGITS = 15  # whole digits of an amount in 元: below 10^15
MONEY_PLACES = 2  # decimals in 元: 分
MAX_MONEY = Decimal("999999999999999.99")
CENT = Decimal("0.01")
UNIT_PLACES = {"": 0, "万": 4, "萬": 4, "亿": 8, "億": 8}
FORMS = "300000、300,000、30万 或 0.3亿"
EMPTY = "请填写金额"
TOO_LARGE = f"超出上限:金额须小于 10^15 元(至多 {MAX_MONEY} 元)"

_SPACE = "[ \u3000]*"
MONEY_TEXT = re.compile(
    rf"(-?)(0|[1-9][0-9]*|[1-9][0-9]{{0,2}}(?:,[0-9]{{3}})+)(?:\.([0-9]+))?{_SPACE}([万萬亿億]?){_SPACE}(元?)"
)


def _pattern(whole: str, places: int, unit: str) -> str:
    return rf"({whole})(\.[0-9]{{1,{places}}})?{unit}"


# What an API's JSON schema may promise (a subset of the grammar: no minus sign, one space at most),
# with the digit counts that keep each form below 10^15 元 and within 分.
MONEY_SCHEMA_PATTERN = "^({}|{}|{})( ?元)?$".format(
    _pattern(r"0|[1-9][0-9]{0,14}|[1-9][0-9]{0,2}(,[0-9]{3}){1,4}", 2, ""),
    _pattern(r"0|[1-9][0-9]{0,10}|[1-9][0-9]{0,2}(,[0-9]{3}){1,2}|[1-9][0-9]?(,[0-9]{3}){3}", 6, " ?[万萬]"),
    _pattern(r"0|[1-9][0-9]{0,6}|[1-9][0-9]{0,2},[0-9]{3}|[1-9],[0-9]{3},[0-9]{3}", 10, " ?[亿億]"),
)


class MoneyProblem(ValueError):
    """Why a text is not an amount, without the field: `sentence` puts it in the caller's words."""

    def __init__(self, reason: str, unreadable: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.unreadable = unreadable  # not an amount at all (as opposed to one out of bounds)

    def sentence(self, where: str, shown: str) -> str:
        """One sentence: `where` (the field, with its colon), the problem, and the text as `shown`."""
        if self.unreadable:
            return f"{where}无法识别的金额 {shown},须为数字{self.reason};可写成 {FORMS}"
        if self.reason == EMPTY:
            return f"{where}{EMPTY}(如 {FORMS})"
        return f"{where}{self.reason},收到 {shown}"


class MoneyError(ValueError):
    """A money field that does not read: the message names the field and says how to write it."""


def read_money(text: str, field_title: str) -> Decimal:
    """The amount `text` means, in 元 with two decimals; MoneyError names `field_title` otherwise."""
    if not isinstance(text, str):
        raise MoneyError(f"{field_title}:须为金额文字(如 {FORMS})")
    try:
        return parse_money(text).quantize(CENT)
    except MoneyProblem as problem:
        raise MoneyError(problem.sentence(f"{field_title}:", quoted(text))) from None


def parse_money(text: str) -> Decimal:
    """The amount of `text` in 元, exactly as written (30万 -> 300000, 1,000.5 -> 1000.5); never -0."""
    text = text.strip()
    if not text:
        raise MoneyProblem(EMPTY)
    match = MONEY_TEXT.fullmatch(text)
    if match is None:
        raise MoneyProblem(why_not_a_number(text, MONEY_DIGITS), unreadable=True)
    sign, whole, fraction, unit = match[1], match[2].replace(",", ""), match[3] or "", match[4]
    whole, fraction = _shifted(whole, fraction, UNIT_PLACES[unit])
    if sign and (whole != "0" or fraction.strip("0")):
        raise MoneyProblem("不能为负数")
    if len(whole) > MONEY_DIGITS:
        raise MoneyProblem(TOO_LARGE)
    if len(fraction) > MONEY_PLACES:
        moved = f";{match[0].strip()} 即 {int(whole):,}.{fraction} 元" if unit else ""
        raise MoneyProblem(f"金额最多精确到分(两位小数{moved})")
    # The sign is dropped: "-0.00" is zero, and no output ever shows "-0.00".
    return Decimal(f"{whole}.{fraction}" if fraction else whole)


def _shifted(whole: str, fraction: str, places: int) -> tuple[str, str]:
    """The digits with the decimal point moved `places` to the right, in the text: exact at any size."""
    if not places:
        return whole, fraction
    padded = fraction.ljust(places, "0")
    return (whole + padded[:places]).lstrip("0") or "0", padded[places:]


def why_not_a_number(text: str, digits: int) -> str:
    """The likely mistake in a number, in brackets for a message, or ""."""
    if _exponent_beyond(text, digits):
        bound = TOO_LARGE if digits == MONEY_DIGITS else f"超出上限:须小于 10^{digits}"
        return f"(不接受科学计数法,且{bound})"
    if any(char.isdigit() and not char.isascii() for char in text) or any(char in "＋，－．" for char in text):
        return "(须使用半角数字 0-9)"
    if "_" in text:
        return "(不接受下划线分隔,如 1_000 请写作 1000 或 1,000)"
    if re.search(r"[0-9.][eE][-+]?[0-9]", text):
        return "(不接受科学计数法,如 1e3 请写作 1000)"
    if re.fullmatch(r"-?[0-9,]+(\.[0-9]*)?[^0-9]*", text) and "," in text:
        return "(千位分隔符须每三位一个,如 1,000,000.50)"
    if re.fullmatch(r"-?0[0-9]+(\.[0-9]+)?[^0-9]*", text):
        return "(不能以 0 开头)"
    return ""


def _exponent_beyond(text: str, digits: int) -> bool:
    """Whether text is exponent notation (1e26, 1e400) for a number of more than `digits` digits."""
    if not re.fullmatch(r"-?[0-9]+(\.[0-9]*)?[eE][-+]?[0-9]{1,12}", text):
        return False
    number = Decimal(text)  # exact at any exponent, never a float
    return not number.is_zero() and number.adjusted() >= digits


# --------------------------------------------------------------------------- showing amounts


def amount_text(value: Decimal | int) -> str:
    """An amount with thousands separators and at least two decimals, every digit kept: 899.9985."""
    value = Decimal(value)
    if value.is_zero():
        value = value.copy_abs()
    exponent = value.as_tuple().exponent
    places = max(MONEY_PLACES, -exponent) if isinstance(exponent, int) else MONEY_PLACES
    return f"{value:,.{places}f}"


def describe(value: Decimal | int) -> str:
    """The read-back of an amount: "300,000.00 元(30 万元)"."""
    value = Decimal(value).quantize(CENT)
    wan = value.scaleb(-4).normalize()
    return f"{amount_text(value)} 元({abs(wan) if wan.is_zero() else wan:,f} 万元)"


def quoted(text: str, limit: int = 40) -> str:
    """Received text for a message, in quotes, short and printable: never all of a 5,000-digit string."""
    shown = "".join(
        char.encode("unicode_escape").decode("ascii") if unicodedata.category(char) in ("Cc", "Cs") else char
        for char in text[:limit]
    )
    return f"“{shown}…”(共 {len(text)} 个字符)" if len(text) > limit else f"“{shown}”"
