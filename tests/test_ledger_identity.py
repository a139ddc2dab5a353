"""Identity codes, counties and working days of the ledger, with the arithmetic done by hand."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhida.ledger.identity import (
    COUNTIES,
    CREDIT_CODE_CHARACTERS,
    ID_CHECK_CHARACTERS,
    county_name,
    county_problem,
    credit_code_check,
    credit_code_problem,
    id_number_check,
    id_number_problem,
    mask_id_number,
    mask_identity,
    normalise_code,
)
from zhida.ledger.workdays import CHINA_2025_2026, Holidays, add_working_days, is_working_day
from zhida.synth import DIVISION_CODES, credit_code

TODAY = date(2026, 11, 29)

# 913305021234567882: 9 工商, 1 企业, 330502 吴兴区, organisation code 12345678-8, check 2.
# GB 11714 over 12345678, weights 3 7 9 10 5 8 4 2:
#   3 + 14 + 27 + 40 + 25 + 48 + 28 + 16 = 201; 201 mod 11 = 3; 11 - 3 = 8 -> '8'.
# GB 32100 over 91330502123456788 (values = the digits), weights 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28:
#   9 + 3 + 27 + 81 + 0 + 130 + 0 + 34 + 20 + 58 + 75 + 52 + 40 + 144 + 70 + 240 + 224 = 1207;
#   1207 mod 31 = 1207 - 38 * 31 = 29; (31 - 29) mod 31 = 2 -> '2'.
VALID_CREDIT_CODE = "913305021234567882"
# GB 11643-1999's own example, 11010519491231002X, weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2:
#   7 + 9 + 0 + 5 + 0 + 20 + 2 + 9 + 24 + 27 + 7 + 18 + 30 + 5 + 0 + 0 + 4 = 167;
#   167 mod 11 = 2; (12 - 2) mod 11 = 10 -> 'X'.
VALID_ID_NUMBER = "11010519491231002X"


def test_hand_computed_codes_are_valid():
    assert credit_code_problem(VALID_CREDIT_CODE) is None
    assert credit_code_check(VALID_CREDIT_CODE[:17]) == "2"
    assert id_number_problem(VALID_ID_NUMBER, today=TODAY) is None
    assert id_number_check(VALID_ID_NUMBER[:17]) == "X"


def test_a_published_looking_code_is_not_valid():
    # 91330500MA2B3C4D5E: its organisation code MA2B3C4D-5 fails GB 11714 (letters count ord - 55):
    #   M=22, A=10, 2, B=11, 3, C=12, 4, D=13 ->
    #   66 + 70 + 18 + 110 + 15 + 96 + 16 + 26 = 417; 417 mod 11 = 10; 11 - 10 = 1 -> '1', not '5'.
    assert credit_code_problem("91330500MA2B3C4D5E") == "统一社会信用代码第17位（组织机构代码的校验码）应为“1”，实为“5”"
    # With the organisation check 1 the code's own check is Y (index 30), computed by the same weights.
    assert credit_code_check("91330500MA2B3C4D1") == "Y"
    assert credit_code_problem("91330500MA2B3C4D1Y") is None


def test_credit_code_wrong_check_digit_names_the_right_one():
    assert credit_code_problem("913305021234567883") == "统一社会信用代码第18位（校验码）应为“2”，实为“3”"


def test_credit_code_wrong_length():
    assert credit_code_problem("91330502123456788") == "统一社会信用代码应为18位，实为17位"
    assert credit_code_problem("") == "统一社会信用代码应为18位，实为0位"


@pytest.mark.parametrize("letter", ["I", "O", "S", "V", "Z"])
def test_credit_code_letters_outside_the_alphabet(letter):
    code = "91330502" + letter + "23456788" + "2"
    assert credit_code_problem(code) == (
        f"统一社会信用代码第9位“{letter}”是非法字符（只允许数字和除I、O、S、V、Z以外的大写字母）"
    )


def test_credit_code_unknown_registration_authority():
    # 0 is assigned to no 登记管理部门; the rest of the code is the valid one's.
    code = "0" + VALID_CREDIT_CODE[1:17]
    assert credit_code_problem(code + credit_code_check(code)) == (
        "统一社会信用代码第1位（登记管理部门代码）“0”不是已分配的代码"
    )


def test_lower_case_is_refused_and_normalise_code_is_how_callers_accept_it():
    assert credit_code_problem("91330500ma2b3c4d1y") == "统一社会信用代码第9位“m”是小写字母，应为大写"
    assert normalise_code(" 91330500ma2b3c4d1y\n") == "91330500MA2B3C4D1Y"
    # Full-width input (typed with a Chinese IME) folds to half-width.
    assert normalise_code("９１３３０５０２１２３４５６７８８２") == VALID_CREDIT_CODE
    assert id_number_problem("11010519491231002x", today=TODAY) == "居民身份证号码第18位“x”是小写字母，应为大写X"
    assert id_number_problem(normalise_code("11010519491231002x"), today=TODAY) is None


def test_id_number_wrong_check_digit_length_and_characters():
    assert id_number_problem("110105194912310021", today=TODAY) == "居民身份证号码第18位（校验码）应为“X”，实为“1”"
    assert id_number_problem("1101051949123100", today=TODAY) == "居民身份证号码应为18位，实为16位"
    assert id_number_problem("11010519491231A02X", today=TODAY) == "居民身份证号码第15位“A”应为数字"
    assert id_number_problem("11010519491231002Y", today=TODAY) == "居民身份证号码第18位“Y”应为数字或X"


def test_id_number_birth_dates():
    # Check characters computed with the same weights; each number is wrong only in its date.
    assert id_number_problem("33050220270101001X", today=TODAY) == (
        "居民身份证号码第7至14位（出生日期）“20270101”晚于今天（2026-11-29）"
    )
    assert id_number_problem("33050220270101001X", today=date(2027, 1, 1)) is None  # born today
    assert id_number_problem("330502194902300016", today=TODAY) == (
        "居民身份证号码第7至14位（出生日期）“19490230”不是有效日期"
    )
    assert id_number_problem("330502189912310019", today=TODAY) == (
        "居民身份证号码第7至14位（出生日期）“18991231”早于1900年"
    )


def test_id_number_region_not_all_zero():
    assert id_number_problem("000000194912310021", today=TODAY) == "居民身份证号码前6位（地址码）不能全为0"


def test_masking_for_publicity_lists():
    assert mask_id_number(VALID_ID_NUMBER) == "110***********002X"
    assert len(mask_id_number(VALID_ID_NUMBER)) == 18
    assert mask_identity(VALID_ID_NUMBER) == "110***********002X"
    assert mask_identity(VALID_CREDIT_CODE) == VALID_CREDIT_CODE  # enterprise codes are public
    # A mistyped identity number (wrong check) is still personal data: masked.
    assert mask_identity("110105194912310021") == "110***********0021"
    assert mask_id_number("1234567") == "*******"


def test_counties_in_either_script():
    traditional = ("吳興區", "南潯區", "德清縣", "長興縣", "安吉縣", "南太湖新區")
    assert [county_name(name) for name in traditional] == list(COUNTIES)
    assert [county_name(name) for name in COUNTIES] == list(COUNTIES)
    assert all(county_problem(name) is None for name in traditional)
    assert county_problem("湖州市") == "“湖州市”不是湖州市的区县（应为吴兴区、南浔区、德清县、长兴县、安吉县、南太湖新区之一）"
    with pytest.raises(ValueError, match="“杭州市”不是湖州市的区县"):
        county_name("杭州市")


credit_codes = st.builds(credit_code, st.sampled_from(DIVISION_CODES), st.integers(0, 99_999_999))


@settings(max_examples=200, deadline=None)
@given(credit_codes)
def test_every_synthetic_credit_code_is_valid(code):
    assert credit_code_problem(code) is None


@settings(max_examples=200, deadline=None)
@given(credit_codes, st.integers(0, 17), st.sampled_from(CREDIT_CODE_CHARACTERS))
def test_one_substituted_character_is_always_caught(code, position, character):
    # 31 is prime and every weight 3^i mod 31 is nonzero, so a change d (0 < |d| < 31) of one of
    # the first 17 values shifts the sum by w*d != 0 mod 31: the expected check always changes.
    if character == code[position]:
        character = CREDIT_CODE_CHARACTERS[(CREDIT_CODE_CHARACTERS.index(character) + 1) % 31]
    changed = code[:position] + character + code[position + 1:]
    assert credit_code_problem(changed) is not None
    if position < 17:
        assert credit_code_check(changed[:17]) != code[17]  # the mod-31 check alone catches it


def test_every_substitution_of_the_hand_computed_codes_is_caught():
    # Exhaustive: 18 positions x 30 other characters, and 18 x 10 for the identity number.
    for position in range(18):
        for character in CREDIT_CODE_CHARACTERS.replace(VALID_CREDIT_CODE[position], ""):
            changed = VALID_CREDIT_CODE[:position] + character + VALID_CREDIT_CODE[position + 1:]
            assert credit_code_problem(changed) is not None, changed
        alphabet = ID_CHECK_CHARACTERS if position == 17 else "0123456789"
        for character in alphabet.replace(VALID_ID_NUMBER[position], ""):
            changed = VALID_ID_NUMBER[:position] + character + VALID_ID_NUMBER[position + 1:]
            assert id_number_problem(changed, today=TODAY) is not None, changed


@settings(max_examples=200, deadline=None)
@given(
    st.dates(date(1900, 1, 1), TODAY),
    st.integers(0, 999),
    st.integers(0, 16),
    st.integers(1, 9),
)
def test_one_substituted_digit_of_an_id_number_is_always_caught(born, sequence, position, shift):
    # 11 is prime, every weight 2^(17-i) mod 11 is nonzero and digits differ by 1..9 < 11.
    first_17 = f"330502{born:%Y%m%d}{sequence:03d}"
    number = first_17 + id_number_check(first_17)
    assert id_number_problem(number, today=TODAY) is None
    digit = str((int(number[position]) + shift) % 10)
    changed = number[:position] + digit + number[position + 1:]
    assert id_number_problem(changed, today=TODAY) is not None


# ---- working days (兑前公示) ----


def test_five_working_days_over_a_sunday_worked():
    # 国办发明电〔2024〕12号: 9月28日(周日)上班. Published Wed 2025-09-24:
    # Thu 25 (1), Fri 26 (2), Sat 27 rest, Sun 28 worked (3), Mon 29 (4), Tue 30 (5).
    assert add_working_days(date(2025, 9, 24), 5, CHINA_2025_2026) == date(2025, 9, 30)


def test_five_working_days_over_the_national_day_holiday():
    # Same notice: 10月1日至8日放假, 10月11日(周六)上班. Published Tue 2025-09-30:
    # Oct 1-8 rest, Thu 9 (1), Fri 10 (2), Sat 11 worked (3), Sun 12 rest, Mon 13 (4), Tue 14 (5).
    assert add_working_days(date(2025, 9, 30), 5, CHINA_2025_2026) == date(2025, 10, 14)


def test_five_working_days_over_the_2026_spring_festival():
    # 2026 notice: 2月15日至23日放假, 2月14日(周六)上班. Published Fri 2026-02-13:
    # Sat 14 worked (1), Feb 15-23 rest, Tue 24 (2), Wed 25 (3), Thu 26 (4), Fri 27 (5).
    assert add_working_days(date(2026, 2, 13), 5, CHINA_2025_2026) == date(2026, 2, 27)


def test_plain_week():
    # Mon 2025-03-10, no holiday near: Tue 11, Wed 12, Thu 13, Fri 14, (weekend) Mon 17.
    assert add_working_days(date(2025, 3, 10), 5, CHINA_2025_2026) == date(2025, 3, 17)
    # One working day after a Friday is the Monday.
    assert add_working_days(date(2025, 3, 14), 1, CHINA_2025_2026) == date(2025, 3, 17)


@pytest.mark.parametrize("days", [0, -3])
def test_non_positive_period_refused(days):
    with pytest.raises(ValueError, match=f"公示期应至少为1个工作日，实为{days}"):
        add_working_days(date(2025, 3, 10), days, CHINA_2025_2026)


def test_holiday_table_counts_and_fallback():
    # 2025: 1 + 8 + 3 + 5 + 3 + 8 = 28 days off; 2026: 3 + 9 + 3 + 5 + 3 + 3 + 7 = 33.
    assert sum(day.year == 2025 for day in CHINA_2025_2026.rest_days) == 28
    assert sum(day.year == 2026 for day in CHINA_2025_2026.rest_days) == 33
    assert len(CHINA_2025_2026.work_days) == 11 and all(d.weekday() >= 5 for d in CHINA_2025_2026.work_days)
    assert is_working_day(date(2025, 1, 26), CHINA_2025_2026)  # Sunday worked
    assert not is_working_day(date(2025, 10, 8), CHINA_2025_2026)  # Wednesday off
    # Outside the table (2024's National Day, a Tuesday): plain Monday-Friday, as documented.
    assert is_working_day(date(2024, 10, 1), CHINA_2025_2026)


def test_holidays_table_is_checked():
    with pytest.raises(ValueError, match="2025-09-29不能既是放假日又是调休上班日"):
        Holidays(rest_days=frozenset({date(2025, 9, 29)}), work_days=frozenset({date(2025, 9, 29)}))
    with pytest.raises(ValueError, match="调休上班日2025-09-29不是周末"):
        Holidays(rest_days=frozenset(), work_days=frozenset({date(2025, 9, 29)}))
