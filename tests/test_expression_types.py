"""A rule's expressions are type-checked at load: what SQL and the calculator would read differently is refused."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import sqlglot
import yaml

from zhida.engine.evaluate import EvaluationError, evaluate
from zhida.rules.expressions import (
    FIELD_VALUE_TYPES,
    MAX_LENGTH,
    MAX_NESTING,
    Expected,
    ExpressionError,
    parse,
)
from zhida.rules.model import FieldType
from zhida.rules.pack import PackError, load_pack

PACK = Path(__file__).resolve().parents[1] / "policies" / "huzhou-2025"
WHERE = "3-services.yaml: 规则 r1, amount"
FIELDS = {
    "price": FieldType.MONEY,
    "share": FieldType.NUMBER,
    "patents": FieldType.INTEGER,  # declared with a minimum of 1 below
    "rank": FieldType.INTEGER,  # no minimum: the case format lets it be negative
    "grade": FieldType.CHOICE,
    "carrier": FieldType.TEXT,
    "efficient": FieldType.FLAG,
}
NON_NEGATIVE = {"patents"}


def refused(text: str, expected: Expected | None = Expected.MONEY) -> str:
    with pytest.raises(ExpressionError) as error:
        parse(text, WHERE, FIELDS, expected, NON_NEGATIVE)
    message = str(error.value)
    assert message.startswith(f"{WHERE}:"), message
    return message


def accepted(text: str, expected: Expected | None = Expected.MONEY) -> None:
    parse(text, WHERE, FIELDS, expected, NON_NEGATIVE)


def test_every_field_type_has_a_value_type():
    assert set(FIELD_VALUE_TYPES) == {str(field_type) for field_type in FieldType}


# --- the key's own type ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected, reason",
    [
        ("'no'", Expected.CONDITION, "条件须为真假值,而表达式 \"'no'\" 是文字"),
        ("price", Expected.CONDITION, "条件须为真假值,而表达式 'price' 是数字"),
        ("1", Expected.CONDITION, "是数字"),
        ("TRUE", Expected.MONEY, "金额须为数字,而表达式 'TRUE' 是真假值"),
        ("'100'", Expected.MONEY, "金额须为数字,而表达式 \"'100'\" 是文字"),
        ("grade", Expected.MONEY, "是文字"),
        ("price > 0", Expected.MONEY, "是真假值"),
    ],
)
def test_a_key_must_have_its_type(text, expected, reason):
    assert reason in refused(text, expected)


# --- operators and their operands --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, reason",
    [
        ("price + grade", "加法只能用于数字,而 grade 是文字"),
        ("price * efficient", "乘法只能用于数字,而 efficient 是真假值"),
        ("grade = 1", "不能比较文字 grade 和数字 1"),
        ("efficient = 'yes'", "不能比较真假值 efficient 和文字 'yes'"),
        ("price = '6000'", "不能比较数字 price 和文字 '6000'"),
        ("grade > '一级'", "文字不能比较大小,只能用 = 或 <>"),
        ("efficient >= TRUE", "真假值不能比较大小"),
        ("efficient AND price", "AND 须用于真假值,而 price 是数字"),
        ("grade OR efficient", "OR 须用于真假值,而 grade 是文字"),
        ("NOT grade", "NOT 须用于真假值,而 grade 是文字"),
        ("grade IN ('一级', 2)", "IN 列表中的 2 是数字,与 grade(文字)类型不同"),
        ("price IN (1, '2')", "IN 列表中的 '2' 是文字"),
        ("grade BETWEEN 'a' AND 'b'", "BETWEEN只能用于数字,而 grade 是文字"),
        ("CASE WHEN grade THEN 1 ELSE 0 END > 0", "WHEN 须用于真假值,而 grade 是文字"),
        ("CASE grade WHEN 1 THEN TRUE ELSE FALSE END", "CASE grade 是文字,WHEN 1 是数字,类型不同"),
        ("IF(price, TRUE, FALSE)", "IF 须用于真假值,而 price 是数字"),
        # DuckDB: "Chained comparisons are not supported"; sqlglot reads a tree: parentheses make them one
        ("efficient = efficient = TRUE", "efficient = efficient 用作另一个比较的一边时须加括号"),
        ("price BETWEEN 0 AND 2 IN (FALSE)", "price BETWEEN 0 AND 2 用作另一个比较的一边时须加括号"),
        ("TRUE = price IN (1)", "price IN (1) 用作另一个比较的一边时须加括号"),
    ],
)
def test_operands_must_have_the_operator_types(text, reason):
    assert reason in refused(text, Expected.CONDITION)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("CASE WHEN efficient THEN price ELSE 'none' END", "CASE 各分支类型须一致,而 price 是数字,'none' 是文字"),
        ("IF(efficient, 1, FALSE)", "IF 的两个结果类型须一致"),
        ("COALESCE(price, grade)", "COALESCE 的各项类型须一致,而 price 是数字,grade 是文字"),
        ("LEAST(price, grade)", "LEAST只能用于数字,而 grade 是文字"),
        ("GREATEST(efficient, 1)", "GREATEST只能用于数字,而 efficient 是真假值"),
    ],
)
def test_branches_must_agree(text, reason):
    assert reason in refused(text)


def test_case_and_if_need_an_else():
    # SQL gives NULL where the calculator used to give 0: neither is allowed to guess.
    assert "CASE 须有 ELSE 分支" in refused("CASE WHEN efficient THEN price END")
    assert "IF 须有第三个参数" in refused("IF(efficient, price)")


def test_division_is_refused_in_both_engines():
    message = refused("price / 2")
    assert "第 1 列不允许除法" in message and "price * 0.5" in message


# --- literals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, reason",
    [
        ("1e400 * price", "数字 1e400 超出允许范围(绝对值须小于 10^15)"),
        ("1000000000000000 * patents", "数字 1000000000000000 超出允许范围"),
        ("1e3 * price", "数字 1e3 须写成普通小数,不能用科学计数法"),
        ("0.1234567 * price", "数字 0.1234567 最多 6 位小数"),
    ],
)
def test_literals_are_plain_bounded_decimals(text, reason):
    assert reason in refused(text)


def test_literals_at_the_bounds_are_accepted():
    accepted("999999999999999 + 0.123456")  # < 10^15, 6 decimals


def test_numbers_must_fit_decimal_38():
    # money is DECIMAL(18, 2): three of them multiplied may need 48 integer digits and 6 decimals
    assert "可能需要 54 位有效数字,超出 DECIMAL(38)" in refused("price * price * price")
    accepted("price * price")  # 32 + 4 digits


# --- sign: an amount cannot be negative ------------------------------------------------------------


@pytest.mark.parametrize(
    "text, culprit",
    [
        ("-price", "第 1 列的 -price 使用了减法或负号"),
        ("0.5 * price + - 3", "第 15 列的 -3 使用了减法或负号"),
        ("price - 100", "price - 100 使用了减法或负号"),
        ("-5", "-5 使用了减法或负号"),
        ("0.15 * price + -1", "-1 使用了减法或负号"),
        ("CASE WHEN efficient THEN 0.2 * price ELSE 0.15 * price - 10 END", "0.15 * price - 10 使用了减法或负号"),
        ("LEAST(price - 100, 2000)", "price - 100 使用了减法或负号"),
        ("GREATEST(price - 100, -1)", "price - 100 使用了减法或负号"),
        ("1000 * rank", "字段 rank 是没有声明非负下限(minimum)的整数"),
    ],
)
def test_an_amount_that_may_be_negative_is_refused(text, culprit):
    message = refused(text)
    assert "金额不能为负" in message and culprit in message, message


@pytest.mark.parametrize(
    "text",
    [
        "0.15 * price",
        "300000 * patents",  # an integer declared with minimum 1
        "GREATEST(price - 100, 0)",  # one non-negative term is enough for the greatest
        "CASE WHEN patents <= 2 THEN 0.25 * price ELSE 0.125 * share END",
        "COALESCE(price, 0) + LEAST(price, 2000)",
        "CASE grade WHEN '一级' THEN 0.2 * price ELSE 0.15 * price END",
    ],
)
def test_non_negative_amounts_are_accepted(text):
    accepted(text)


def test_a_condition_may_subtract():
    accepted("price - 100 > rank AND -rank < 3", Expected.CONDITION)


def test_parenthesized_predicates_compare():
    text = "(efficient = efficient) = TRUE AND (price IN (1, 2)) <> efficient AND NOT grade = '一级'"
    accepted(text, Expected.CONDITION)


# --- size and depth: a clean error, never a RecursionError ------------------------------------------


@pytest.mark.parametrize(
    "text, reason",
    [
        ("(" * 1000 + "price" + ")" * 1000, f"超过 {MAX_LENGTH} 个字符的上限"),
        ("(" * 900 + "price" + ")" * 900, "表达式嵌套过深(900 层"),
        ("CASE WHEN efficient THEN 1 ELSE " * 500 + "0" + " END" * 500, "超过 2000 个字符的上限"),
        ("CASE WHEN efficient THEN 1 ELSE " * 50 + "0" + " END" * 50, "表达式嵌套过深(50 层"),
        ("NOT " * 5000 + "efficient", "超过 2000 个字符的上限"),
        ("NOT " * 400 + "efficient", "表达式嵌套过深(400 层"),
        ("+".join(["price"] * 10_000), "超过 2000 个字符的上限"),
        ("+".join(["price"] * 300), "表达式层次过深(301 层,上限 50 层)"),
        ("LEAST(" * 150 + "price" + ", 1)" * 150, "表达式嵌套过深(150 层"),
    ],
    ids=["parens-1000", "parens-900", "case-500", "case-50", "not-5000", "not-400", "plus-10000", "plus-300",
         "least-150"],
)
def test_size_and_depth_are_bounded(text, reason):
    assert reason in refused(text, None)


def test_nesting_up_to_the_limit_parses():
    accepted("LEAST(" * MAX_NESTING + "price" + ", 1)" * MAX_NESTING)
    assert f"{MAX_NESTING + 1} 层" in refused("LEAST(" * (MAX_NESTING + 1) + "price" + ", 1)" * (MAX_NESTING + 1))


# --- through load_pack: the message names file, rule, key and reason -------------------------------


def _edited_pack(tmp_path: Path, file_name: str, rule_id: str, **changes: str) -> Path:
    target = tmp_path / "pack"
    shutil.copytree(PACK, target, ignore=shutil.ignore_patterns("tests"))
    path = target / "rules" / file_name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    next(rule for rule in data["rules"] if rule["id"] == rule_id).update(changes)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


@pytest.mark.parametrize(
    "file_name, rule_id, changes, message",
    [
        ("1-education-science-talent.yaml", "high-tech-first", {"when": "'no'"},
         "1-education-science-talent.yaml: 规则 high-tech-first, when: 条件须为真假值,而表达式 \"'no'\" 是文字"),
        ("3-services.yaml", "appliance-grade-1", {"amount": "-price"},
         "3-services.yaml: 规则 appliance-grade-1, amount: 金额不能为负"),
        ("3-services.yaml", "appliance-grade-1", {"amount": "price / 5"},
         "3-services.yaml: 规则 appliance-grade-1, amount: 表达式 'price / 5' 第 1 列不允许除法"),
        ("3-services.yaml", "software-two-three", {"tax_due": "0.25 * taxable_income - 1000"},
         "3-services.yaml: 规则 software-two-three, tax_due: 金额不能为负"),
        ("3-services.yaml", "digital-products", {"amount": "TRUE"},
         "3-services.yaml: 规则 digital-products, amount: 金额须为数字,而表达式 'TRUE' 是真假值"),
        ("3-services.yaml", "digital-products", {"amount": "1e400 * price"},
         "3-services.yaml: 规则 digital-products, amount: 表达式 '1e400 * price' 第 1 列:数字 1e400 超出允许范围"),
        ("3-services.yaml", "appliance-grade-2", {"when": "NOT " * 5000 + "grade = '二级'"},
         "3-services.yaml: 规则 appliance-grade-2, when: 表达式长 20012 个字符,超过 2000 个字符的上限"),
        ("3-services.yaml", "appliance-grade-2", {"when": "(" * 1000 + "grade = '二级'" + ")" * 1000},
         "3-services.yaml: 规则 appliance-grade-2, when: 表达式长 2012 个字符"),
        ("3-services.yaml", "appliance-grade-2", {"when": "(" * 500 + "grade = '二级'" + ")" * 500},
         "3-services.yaml: 规则 appliance-grade-2, when: 表达式嵌套过深(500 层"),
        ("3-services.yaml", "appliance-grade-2", {"amount": "CASE WHEN grade = '一级' THEN 0.2 * price END"},
         "3-services.yaml: 规则 appliance-grade-2, amount: 表达式 \"CASE WHEN grade = '一级' THEN 0.2 * price END\" "
         "第 1 列:CASE 须有 ELSE 分支"),
    ],
)
def test_load_pack_names_file_rule_key_and_reason(tmp_path, file_name, rule_id, changes, message):
    with pytest.raises(PackError) as error:
        load_pack(_edited_pack(tmp_path, file_name, rule_id, **changes))
    assert str(error.value).startswith(message), str(error.value)


def test_every_huzhou_rule_loads_typed():
    pack = load_pack(PACK)
    # 41 rules with an amount formula (the 42 rules of the amounts, less one qualification); the
    # by-measure and qualification rules have none to type
    assert sum(1 for rule in pack.rules if rule.amount is not None) == 41
    # 300000 * patents is accepted because 获奖专利件数 is declared with minimum 1
    assert pack.rule("patent-gold").amount.text == "300000 * patents"


# --- evaluate keeps SQL's meaning -------------------------------------------------------------------


def _value(text: str, **values):
    return evaluate(sqlglot.parse_one(text, read="duckdb"), values)


def test_integers_compare_exactly_with_decimals():
    assert _value("patents = 3.0", patents=3) is True
    assert _value("patents < 2.5", patents=2) is True
    assert _value("patents IN (1, 2.0)", patents=2) is True


def test_a_simple_case_compares_with_equals():
    text = "CASE grade WHEN '一级' THEN 0.2 * price WHEN '二级' THEN 0.15 * price ELSE 0 END"
    assert _value(text, grade="二级", price=Decimal("1000.00")) == Decimal("150.0000")
    assert _value(text, grade="三级及以下", price=Decimal("1000.00")) == 0


def test_an_amount_beyond_the_batch_column_is_an_error():
    # DECIMAL(18, 2) holds less than 10^16 元: the batch's CAST fails there, so the calculator does too
    assert _value("price * 2", price=Decimal("4999999999999999.99")) == Decimal("9999999999999999.98")
    with pytest.raises(EvaluationError, match="超出金额的范围"):
        _value("price * 2", price=Decimal("5000000000000000.00"))
    with pytest.raises(EvaluationError, match="超出可精确计算的范围"):
        _value("price * price * 0.5 > 1", price=Decimal("1" * 30 + ".11"))
