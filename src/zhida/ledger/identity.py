"""Who a subject is: 统一社会信用代码, 居民身份证号码 and county, checked before anything is recorded.

In: a code or name as the subject typed it. Out: None when it is valid, else one Simplified
Chinese sentence naming what is wrong and where (长度, 非法字符 at position n, 校验码 should be X).

Upper case is the only spelling the checks accept: `credit_code_problem` and
`id_number_problem` refuse a lower-case letter with a message instead of silently accepting
it. Callers normalise input at the boundary with `normalise_code` (strip, full-width to
half-width, upper case) and store the normalised form, so one subject has one spelling.

Check digits (why a single mistyped character is always caught):
- 统一社会信用代码 (GB 32100-2015): 31 characters, weights 3^i mod 31, check (31 - Σ mod 31) mod 31.
  31 is prime and no weight is 0 mod 31, so changing one of the first 17 characters to another
  character of the alphabet changes Σ by w·d with 0 < |d| < 31, never 0 mod 31: every single
  substitution changes the expected check character. Its organisation code (characters 9-17)
  carries a GB 11714 check of its own (mod 11).
- 居民身份证号码 (GB 11643-1999): weights 2^(17-i) mod 11, check (12 - Σ mod 11) mod 11, 10 -> X;
  11 is prime and digits differ by at most 9, so every single substitution is caught too.

`mask_identity` hides identity numbers on 兑前公示 lists; enterprise codes are public and shown.
"""

from __future__ import annotations

import unicodedata
from datetime import date

from zhida.source.script import to_simplified

CREDIT_CODE_CHARACTERS = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100-2015 4.2: no I, O, S, V, Z
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)  # 3^i mod 31
ORGANISATION_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)  # GB 11714-1997
# 登记管理部门代码 (first character). GB 32100-2015 Table 1 names 1 机构编制, 5 民政, 9 工商, Y 其他;
# the national code centre assigned more later (外交, 司法行政, 文化, 宗教, 工会, 中央军委改革和编制办公室,
# 农业 …) and published lists disagree on which letter is which, so every character any of them
# assigns is accepted: refusing a real 律师事务所 (3…) or 工会 (8…) code would be worse.
REGISTRATION_AUTHORITIES = frozenset("123456789ABCDEFGNY")
ID_NUMBER_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # 2^(17-i) mod 11
ID_CHECK_CHARACTERS = "0123456789X"
EARLIEST_BIRTH = date(1900, 1, 1)
COUNTIES = ("吴兴区", "南浔区", "德清县", "长兴县", "安吉县", "南太湖新区")


def normalise_code(text: str) -> str:
    """The one stored spelling of a typed code: trimmed, full-width folded (NFKC), upper case."""
    return unicodedata.normalize("NFKC", text).strip().upper()


def credit_code_check(first_17: str) -> str:
    """The 18th character of a 统一社会信用代码 whose first 17 characters are given (all in the alphabet)."""
    total = sum(CREDIT_CODE_CHARACTERS.index(c) * w for c, w in zip(first_17, CREDIT_CODE_WEIGHTS, strict=True))
    return CREDIT_CODE_CHARACTERS[(31 - total % 31) % 31]


def organisation_code_check(first_8: str) -> str:
    """GB 11714 check character of an organisation code body: letters count as ord - 55 (A = 10)."""
    total = sum(_organisation_value(c) * w for c, w in zip(first_8, ORGANISATION_CODE_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def _organisation_value(character: str) -> int:
    return int(character) if character.isdigit() else ord(character) - 55


def id_number_check(first_17: str) -> str:
    """The 18th character of a 居民身份证号码 whose first 17 digits are given."""
    total = sum(int(c) * w for c, w in zip(first_17, ID_NUMBER_WEIGHTS, strict=True))
    return ID_CHECK_CHARACTERS[(12 - total % 11) % 11]


def credit_code_problem(code: str) -> str | None:
    """Why `code` is not a valid 统一社会信用代码 (GB 32100-2015), or None. Lower case is refused."""
    name = "统一社会信用代码"
    if len(code) != 18:
        return f"{name}应为18位，实为{len(code)}位"
    for position, character in enumerate(code, start=1):
        if character not in CREDIT_CODE_CHARACTERS:
            return f"{name}第{position}位“{character}”{_illegal_reason(character)}"
    if code[0] not in REGISTRATION_AUTHORITIES:
        return f"{name}第1位（登记管理部门代码）“{code[0]}”不是已分配的代码"
    organisation_check = organisation_code_check(code[8:16])
    if code[16] != organisation_check:
        return f"{name}第17位（组织机构代码的校验码）应为“{organisation_check}”，实为“{code[16]}”"
    check = credit_code_check(code[:17])
    if code[17] != check:
        return f"{name}第18位（校验码）应为“{check}”，实为“{code[17]}”"
    return None


def _illegal_reason(character: str) -> str:
    if character.upper() in CREDIT_CODE_CHARACTERS:
        return "是小写字母，应为大写"
    return "是非法字符（只允许数字和除I、O、S、V、Z以外的大写字母）"


def id_number_problem(number: str, today: date | None = None) -> str | None:
    """Why `number` is not a valid 居民身份证号码 (GB 11643-1999), or None.

    Checks length, characters, region code (first 6 digits not all 0), birth date
    (characters 7-14: a real date, from 1900 to `today`, default date.today()) and the check
    character. A lower-case 'x' is refused: `normalise_code` first.
    """
    name = "居民身份证号码"
    if len(number) != 18:
        return f"{name}应为18位，实为{len(number)}位"
    for position, character in enumerate(number[:17], start=1):
        if not ("0" <= character <= "9"):
            return f"{name}第{position}位“{character}”应为数字"
    last = number[17]
    if last == "x":
        return f"{name}第18位“x”是小写字母，应为大写X"
    if last not in ID_CHECK_CHARACTERS:
        return f"{name}第18位“{last}”应为数字或X"
    if number[:6] == "000000":
        return f"{name}前6位（地址码）不能全为0"
    problem = _birth_date_problem(number[6:14], today or date.today())
    if problem:
        return f"{name}第7至14位（出生日期）{problem}"
    check = id_number_check(number[:17])
    if last != check:
        return f"{name}第18位（校验码）应为“{check}”，实为“{last}”"
    return None


def _birth_date_problem(digits: str, today: date) -> str | None:
    try:
        born = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return f"“{digits}”不是有效日期"
    if born > today:
        return f"“{digits}”晚于今天（{today.isoformat()}）"
    if born < EARLIEST_BIRTH:
        return f"“{digits}”早于1900年"
    return None


def mask_id_number(number: str) -> str:
    """The publicity-list form: first 3 and last 4 characters kept, the rest '*' (330***********1234).

    A string of 7 characters or fewer is masked whole: it has nothing safe to show.
    """
    if len(number) <= 7:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


def mask_identity(code: str) -> str:
    """`code` as a 兑前公示 list shows it: identity numbers masked, credit codes unchanged.

    A valid 居民身份证号码 is masked (also in the unlikely case it is a valid credit code too:
    personal data wins). A mistyped one — 17 digits then a digit or X, valid as neither — is
    masked as well: it is still somebody's number. Anything else is shown as given.
    """
    if id_number_problem(code) is None:
        return mask_id_number(code)
    if credit_code_problem(code) is None:
        return code
    if len(code) == 18 and all("0" <= c <= "9" for c in code[:17]) and code[17] in ID_CHECK_CHARACTERS:
        return mask_id_number(code)
    return code


def county_problem(name: str) -> str | None:
    """Why `name` is not one of Huzhou's six counties (Simplified or Traditional), or None."""
    if to_simplified(name.strip()) in COUNTIES:
        return None
    return f"“{name}”不是湖州市的区县（应为{'、'.join(COUNTIES)}之一）"


def county_name(name: str) -> str:
    """The Simplified name of a county given in either script; ValueError with the reason otherwise."""
    problem = county_problem(name)
    if problem:
        raise ValueError(problem)
    return to_simplified(name.strip())
