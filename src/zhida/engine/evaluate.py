"""Evaluate a whitelisted expression tree for one event, exactly (Decimal), as SQL would.

The tree is the one `zhida.rules.expressions.parse` checked: whitelisted, well
typed, at most MAX_DEPTH deep (so this recursion stays far from Python's limit).
Whatever SQL and this module could read differently is refused at load there;
what remains is computed here with the batch's meaning (zhida.engine.batch):
- numbers are Decimal, integer fields included, so 3 = 3.0 and 2 < 2.5 compare
  exactly, as DuckDB compares BIGINT with DECIMAL;
- = and <> compare two values of one type; IN is = against each item; BETWEEN
  includes both bounds; AND/OR/NOT on truth values; no division (refused at load);
- CASE and IF always have an ELSE (refused at load without one, since SQL gives
  NULL); a simple CASE (`CASE grade WHEN '一级' THEN …`) compares with =;
- no value is ever NULL: a case carries every field of its event type and the
  register checks the same, so COALESCE is its first argument;
- arithmetic runs with DECIMAL_DIGITS of precision and Inexact trapped: the load
  check bounds every number of a rule to DECIMAL(38), so an inexact step can only
  come from a value beyond the batch's columns, and is an error, never a rounding;
- an amount (a numeric result) must fit DECIMAL(18, 2), the batch's amount column:
  below 10^16 元, or the batch fails too.
"""

from __future__ import annotations

from decimal import Decimal, DecimalException, Inexact, localcontext

from sqlglot import exp

from zhida.engine.case import Value
from zhida.rules.expressions import Expression

DECIMAL_DIGITS = 40  # above the 38 digits a loaded rule's numbers can need
MAX_AMOUNT = Decimal(10) ** 16  # DECIMAL(18, 2) holds amounts below this


class EvaluationError(ValueError):
    """An expression that cannot be computed for these values (e.g. a number out of range)."""


def evaluate(node: exp.Expression, values: dict[str, Value]) -> Value:
    """The value of `node` for one event's `values`; a number is checked to fit the batch's amount column."""
    with localcontext(prec=DECIMAL_DIGITS) as context:
        context.traps[Inexact] = True
        try:
            result = _evaluate(node, values)
        except DecimalException:
            raise EvaluationError(f"{node.sql()}:数值超出可精确计算的范围({DECIMAL_DIGITS} 位有效数字)") from None
    if isinstance(result, Decimal) and abs(result) >= MAX_AMOUNT:
        raise EvaluationError(f"{node.sql()}:结果 {result} 超出金额的范围(须小于 10^16 元)")
    return result


def _evaluate(node: exp.Expression, values: dict[str, Value]) -> Value:
    match node:
        case exp.Literal():
            return str(node.this) if node.is_string else Decimal(str(node.this))
        case exp.Boolean():
            return bool(node.this)
        case exp.Column():
            return _number(values[node.name])
        case exp.Paren():
            return _evaluate(node.this, values)
        case exp.Neg():
            return -_arithmetic(_evaluate(node.this, values), node)
        case exp.Add() | exp.Sub() | exp.Mul():
            return _binary(node, values)
        case exp.EQ() | exp.NEQ() | exp.GT() | exp.GTE() | exp.LT() | exp.LTE():
            return _compare(node, _evaluate(node.this, values), _evaluate(node.expression, values))
        case exp.And():
            return _truth(_evaluate(node.this, values), node) and _truth(_evaluate(node.expression, values), node)
        case exp.Or():
            return _truth(_evaluate(node.this, values), node) or _truth(_evaluate(node.expression, values), node)
        case exp.Not():
            return not _truth(_evaluate(node.this, values), node)
        case exp.Case():
            return _case(node, values)
        case exp.If():
            if node.args.get("false") is None:
                raise EvaluationError(f"{node.sql()}:IF 缺少否则时的值")
            branch = node.args["true"] if _truth(_evaluate(node.this, values), node) else node.args["false"]
            return _evaluate(branch, values)
        case exp.In():
            subject = _evaluate(node.this, values)
            return any(_compare(node, subject, _evaluate(item, values), "=") for item in node.expressions)
        case exp.Between():
            subject = _evaluate(node.this, values)
            return bool(
                _compare(node, _evaluate(node.args["low"], values), subject, "<=")
                and _compare(node, subject, _evaluate(node.args["high"], values), "<=")
            )
        case exp.Least() | exp.Greatest():
            items = [_arithmetic(_evaluate(item, values), node) for item in [node.this, *node.expressions]]
            return min(items) if isinstance(node, exp.Least) else max(items)
        case exp.Coalesce():
            return _evaluate(node.this, values)  # no value is NULL: the first one decides
    raise EvaluationError(f"无法计算 {node.sql()}")


def _case(node: exp.Case, values: dict[str, Value]) -> Value:
    subject = _evaluate(node.this, values) if node.this is not None else None
    for branch in node.args.get("ifs") or []:
        test = _evaluate(branch.this, values)
        holds = _truth(test, branch) if node.this is None else _compare(branch, subject, test, "=")
        if holds:
            return _evaluate(branch.args["true"], values)
    default = node.args.get("default")
    if default is None:
        raise EvaluationError(f"{node.sql()}:CASE 缺少 ELSE 分支")
    return _evaluate(default, values)


def fill(expression: Expression, values: dict[str, Value]) -> str:
    """The expression with each field replaced by its value: `0.5 * service_fee` -> `0.5 * 80000.00`."""
    parts = list(expression.template)
    for index in range(1, len(parts), 2):
        parts[index] = _literal(values[parts[index]])
    return "".join(parts)


def _literal(value: Value) -> str:
    """A value as SQL writes it, as sqlglot would render the literal."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


def _number(value: Value) -> Value:
    return Decimal(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _binary(node: exp.Expression, values: dict[str, Value]) -> Decimal:
    left = _arithmetic(_evaluate(node.this, values), node)
    right = _arithmetic(_evaluate(node.expression, values), node)
    if isinstance(node, exp.Add):
        return left + right
    if isinstance(node, exp.Sub):
        return left - right
    return left * right


def _arithmetic(value: Value, node: exp.Expression) -> Decimal:
    if not isinstance(value, Decimal):
        raise EvaluationError(f"{node.sql()}:{value!r} 不是数字,不能参与运算")
    return value


def _truth(value: Value, node: exp.Expression) -> bool:
    if not isinstance(value, bool):
        raise EvaluationError(f"{node.sql()}:{value!r} 不是真假值")
    return value


OPERATORS = {exp.EQ: "=", exp.NEQ: "<>", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<="}


def _compare(node: exp.Expression, left: Value, right: Value, operator: str | None = None) -> bool:
    operator = operator or OPERATORS[type(node)]
    if isinstance(left, str) != isinstance(right, str) or isinstance(left, bool) != isinstance(right, bool):
        raise EvaluationError(f"{node.sql()}:不能比较 {left!r} 和 {right!r}")
    if operator == "=":
        return left == right
    if operator == "<>":
        return left != right
    if isinstance(left, str | bool):
        raise EvaluationError(f"{node.sql()}:文字不能比较大小")
    return {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[operator]
