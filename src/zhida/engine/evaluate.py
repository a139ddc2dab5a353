"""Evaluate a whitelisted expression tree for one event, exactly (Decimal).

The tree is the one `zhida.rules.expressions.parse` checked, so only the
whitelisted node types reach here. SQL semantics where they matter:
BETWEEN includes both bounds; comparisons between text and numbers are an error.
"""

from __future__ import annotations

from decimal import Decimal

from sqlglot import exp

from zhida.engine.case import Value
from zhida.rules.expressions import Expression


class EvaluationError(ValueError):
    """An expression that cannot be computed for these values (e.g. division by zero)."""


def evaluate(node: exp.Expression, values: dict[str, Value]) -> Value:
    match node:
        case exp.Literal():
            return str(node.this) if node.is_string else Decimal(str(node.this))
        case exp.Boolean():
            return bool(node.this)
        case exp.Column():
            return _number(values[node.name])
        case exp.Paren():
            return evaluate(node.this, values)
        case exp.Neg():
            return -_arithmetic(evaluate(node.this, values), node)
        case exp.Add() | exp.Sub() | exp.Mul() | exp.Div():
            return _binary(node, values)
        case exp.EQ() | exp.NEQ() | exp.GT() | exp.GTE() | exp.LT() | exp.LTE():
            return _compare(node, evaluate(node.this, values), evaluate(node.expression, values))
        case exp.And():
            return _truth(evaluate(node.this, values), node) and _truth(evaluate(node.expression, values), node)
        case exp.Or():
            return _truth(evaluate(node.this, values), node) or _truth(evaluate(node.expression, values), node)
        case exp.Not():
            return not _truth(evaluate(node.this, values), node)
        case exp.Case():
            for branch in node.args.get("ifs") or []:
                if _truth(evaluate(branch.this, values), branch):
                    return evaluate(branch.args["true"], values)
            default = node.args.get("default")
            return evaluate(default, values) if default is not None else Decimal(0)
        case exp.If():
            if _truth(evaluate(node.this, values), node):
                return evaluate(node.args["true"], values)
            return evaluate(node.args["false"], values) if node.args.get("false") is not None else Decimal(0)
        case exp.In():
            subject = evaluate(node.this, values)
            return any(subject == evaluate(item, values) for item in node.expressions)
        case exp.Between():
            subject = evaluate(node.this, values)
            return bool(
                _compare(node, evaluate(node.args["low"], values), subject, "<=")
                and _compare(node, subject, evaluate(node.args["high"], values), "<=")
            )
        case exp.Least() | exp.Greatest():
            items = [_arithmetic(evaluate(item, values), node) for item in [node.this, *node.expressions]]
            return min(items) if isinstance(node, exp.Least) else max(items)
        case exp.Coalesce():
            return evaluate(node.this, values)  # fields are never missing: the first one decides
    raise EvaluationError(f"无法计算 {node.sql()}")


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
    left = _arithmetic(evaluate(node.this, values), node)
    right = _arithmetic(evaluate(node.expression, values), node)
    if isinstance(node, exp.Add):
        return left + right
    if isinstance(node, exp.Sub):
        return left - right
    if isinstance(node, exp.Mul):
        return left * right
    if right == 0:
        raise EvaluationError(f"{node.sql()}:除数为零")
    return left / right


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
