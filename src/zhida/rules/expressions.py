"""Conditions and amounts as SQL expressions, limited to a whitelist and type-checked at load.

A rule's `when`, `amount` and `tax_due` are written in the SQL that a department's
data staff already know (DESIGN.md, "Rules are data that quote the law"). They are
parsed once by sqlglot; the same tree is evaluated for one case (zhida.engine.evaluate)
and compiled for a batch (zhida.engine.batch). One language, one meaning: whatever
could compute differently in the two is refused here, at load, naming rule and key.

What is checked, and why:
- size first: at most MAX_LENGTH characters and MAX_NESTING levels of parentheses,
  CASE and NOT before sqlglot parses (its parser recurses per level), then a tree
  at most MAX_DEPTH deep, so nothing downstream can hit Python's recursion limit;
- the whitelist (ALLOWED): arithmetic + - *, comparisons, AND/OR/NOT, CASE/IF, IN,
  BETWEEN, LEAST/GREATEST, COALESCE, literals and the event's own fields.
  Division is refused: DuckDB and Spark divide decimals into doubles, so the batch
  could not promise the 分;
- types, bottom-up: a field is a number (money, number, integer), text (choice,
  text) or a truth value (flag). Arithmetic, ordering, BETWEEN and LEAST/GREATEST
  take numbers; = and <> take two values of one type; AND/OR/NOT take truth
  values; CASE/IF/COALESCE branches and IN items share one type. SQL would cast
  '5' to 5 silently, the calculator would not: so neither is allowed to;
- CASE and IF must have an ELSE: SQL yields NULL without one, which no amount means;
- a comparison, IN or BETWEEN used as an operand of another must be in parentheses:
  `a = b = TRUE` is read by sqlglot, refused by DuckDB and PostgreSQL;
- number literals are plain decimals (no 1e3: DuckDB reads that as a DOUBLE), with
  |x| < 10^15 and at most 6 decimals, the precision of a `number` field;
- every number must fit DECIMAL(38), the widest exact decimal of DuckDB, PostgreSQL
  and Spark: digits are counted from the declared column types (money DECIMAL(18,2),
  number DECIMAL(18,6), integer BIGINT) as SQL counts them (+ adds a digit, * adds
  digits and scales), so `price * price * price` is refused before it can overflow;
- a `when` must be a truth value; an amount or a tax due must be a number that
  cannot be negative (a simple sign analysis: literals, money and number fields,
  integers declared with a minimum >= 0 are non-negative; + and * of non-negative
  terms are; so are LEAST/COALESCE/CASE/IF whose every term is, and GREATEST with
  at least one such term, e.g. GREATEST(price - 100, 0); - and unary minus may be
  negative).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

import sqlglot
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

# What a rule may say: arithmetic, comparisons, AND/OR/NOT, CASE, IN, BETWEEN,
# LEAST/GREATEST, COALESCE, literals and field references.
ALLOWED = (
    exp.Add, exp.Sub, exp.Mul, exp.Neg, exp.Paren,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE,
    exp.And, exp.Or, exp.Not,
    exp.Case, exp.If, exp.In, exp.Between,
    exp.Least, exp.Greatest, exp.Coalesce,
    exp.Literal, exp.Boolean, exp.Column, exp.Identifier,
)
# Refused with a reason of their own, because a rule writer would reasonably expect them to work.
REFUSED = {
    exp.Div: "除法:批量计算(DuckDB、Spark)会把小数相除变为浮点数,无法保证精确到分;请改写为乘以小数,如 price * 0.5",
}

MAX_LENGTH = 2000  # characters; the longest rule in the Huzhou pack has under 100
MAX_NESTING = 20  # parentheses, CASE and NOT open at once, counted on tokens before parsing
MAX_DEPTH = 50  # levels of the parsed tree
MAX_LITERAL = Decimal("1e15")  # a literal's absolute value stays below this
MAX_DECIMALS = 6  # a literal's digits after the point, as a `number` field holds
MAX_DIGITS = 38  # DECIMAL(38): the widest exact decimal in DuckDB, PostgreSQL and Spark

# Constructs whose keyword sqlglot does not position: found by their keyword instead.
KEYWORDS = {exp.Subquery: "(SELECT", exp.Select: "SELECT", exp.Any: "ANY", exp.All: "ALL", exp.Exists: "EXISTS"}


class ExpressionError(ValueError):
    """An expression that does not parse, uses something outside the whitelist, or is ill-typed."""


class ValueType(StrEnum):
    """What an expression computes; the value is its name in messages."""

    NUMBER = "数字"
    TEXT = "文字"
    BOOLEAN = "真假值"


class Expected(StrEnum):
    """What a rule's key must compute; the value is its name in messages."""

    CONDITION = "条件"  # when: a truth value
    MONEY = "金额"  # amount, tax_due: a number that cannot be negative


# FieldType (zhida.rules.model) by its value: model imports this module, so it cannot be imported here.
FIELD_VALUE_TYPES = {
    "money": ValueType.NUMBER,
    "number": ValueType.NUMBER,
    "integer": ValueType.NUMBER,
    "choice": ValueType.TEXT,
    "text": ValueType.TEXT,
    "flag": ValueType.BOOLEAN,
}
# (integer digits, decimals) of each numeric field type, as the batch's tables declare it.
FIELD_DIGITS = {"money": (16, 2), "number": (12, 6), "integer": (19, 0)}
NON_NEGATIVE_FIELD_TYPES = {"money", "number"}  # the case format refuses negatives for these


@dataclass(frozen=True)
class Expression:
    """A parsed, checked expression, the fields it reads, and its SQL split around those fields.

    `template` alternates SQL text and field names ("0.5 * ", "service_fee", ""), so that a
    trace can show the expression with values filled in without copying the tree each time.
    """

    text: str
    tree: exp.Expression
    fields: frozenset[str]
    template: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inferred:
    """What the checker knows of one node: its type and, for numbers, sign and size."""

    type: ValueType
    negative_at: exp.Expression | None = None  # the subtraction or minus that may make it negative
    digits: int = 0  # integer digits it may need
    scale: int = 0  # digits after the point, as SQL types it


def parse(
    text: str,
    where: str,
    fields: Mapping[str, str],
    expected: Expected | None = None,
    non_negative: Collection[str] = (),
) -> Expression:
    """Parse `text`, check it against the whitelist and the declared fields, and infer its type.

    `where` names the rule and key (e.g. "rule high-tech-first, amount") for messages;
    `fields` maps each field of the event to its FieldType; `non_negative` names the
    integer fields declared with a minimum >= 0; `expected` is what the key must compute
    (None: any well-typed expression).
    """
    text = str(text)
    tree = _parse_bounded(text, where)
    for node in tree.walk():
        if not isinstance(node, ALLOWED):
            reason = REFUSED.get(type(node))
            if reason:
                raise ExpressionError(f"{where}: 表达式 {text!r} 第 {_column(node, text)} 列不允许{reason}")
            raise ExpressionError(
                f"{where}: 表达式 {text!r} 第 {_column(node, text)} 列使用了不允许的 {_describe(node)};"
                f"只允许加减乘、比较、AND/OR/NOT、CASE、IN、BETWEEN、LEAST/GREATEST、COALESCE 和字段"
            )
        if isinstance(node, exp.Column):
            if node.table:
                raise ExpressionError(f"{where}: 表达式 {text!r} 第 {_column(node, text)} 列不能引用表 {node.table!r}")
            if node.name not in fields:
                known = "、".join(sorted(fields)) or "(无)"
                raise ExpressionError(
                    f"{where}: 表达式 {text!r} 第 {_column(node, text)} 列引用了未声明的字段 {node.name!r};可用字段:{known}"
                )
    inferred = _Checker(text, where, fields, frozenset(non_negative)).infer(tree)
    _check_expected(inferred, expected, text, where)
    used = frozenset(column.name for column in tree.find_all(exp.Column))
    return Expression(text=text, tree=tree, fields=used, template=_template(tree))


def _parse_bounded(text: str, where: str) -> exp.Expression:
    """sqlglot's tree for `text`, refusing any text too long or too deep before its parser recurses."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"{where}: 表达式长 {len(text)} 个字符,超过 {MAX_LENGTH} 个字符的上限")
    try:
        tokens = DuckDB().tokenize(text)
    except (TokenError, ParseError) as error:
        raise ExpressionError(f"{where}: 无法解析表达式 {text!r}:{_first_line(error)}") from None
    if (nesting := _nesting(tokens)) > MAX_NESTING:
        raise ExpressionError(
            f"{where}: 表达式嵌套过深({nesting} 层括号、CASE 或 NOT,上限 {MAX_NESTING} 层);请拆分或简化"
        )
    try:
        tree = sqlglot.parse_one(text, read="duckdb")
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        position = f"(第 {first['line']} 行第 {first['col']} 列)" if "line" in first and "col" in first else ""
        raise ExpressionError(f"{where}: 无法解析表达式 {text!r}{position}") from None
    except TokenError as error:
        raise ExpressionError(f"{where}: 无法解析表达式 {text!r}:{_first_line(error)}") from None
    except RecursionError:  # defensive: _nesting should have refused it already
        raise ExpressionError(f"{where}: 表达式嵌套过深,无法解析;请拆分或简化") from None
    if (depth := _depth(tree)) > MAX_DEPTH:
        raise ExpressionError(f"{where}: 表达式层次过深({depth} 层,上限 {MAX_DEPTH} 层);请拆分或简化")
    return tree


def _nesting(tokens: list) -> int:
    """The most parentheses, CASEs and consecutive NOTs open at one point."""
    depth = deepest = nots = 0
    for token in tokens:
        if token.token_type in (TokenType.L_PAREN, TokenType.CASE):
            depth += 1
        elif token.token_type in (TokenType.R_PAREN, TokenType.END):
            depth -= 1
        nots = nots + 1 if token.token_type is TokenType.NOT else 0
        deepest = max(deepest, depth + nots)
    return deepest


def _depth(tree: exp.Expression) -> int:
    """The tree's depth, counted without recursion."""
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.iter_expressions())
    return deepest


def _check_expected(inferred: Inferred, expected: Expected | None, text: str, where: str) -> None:
    if expected is Expected.CONDITION and inferred.type is not ValueType.BOOLEAN:
        raise ExpressionError(f"{where}: 条件须为真假值,而表达式 {text!r} 是{inferred.type.value}")
    if expected is Expected.MONEY:
        if inferred.type is not ValueType.NUMBER:
            raise ExpressionError(f"{where}: 金额须为数字,而表达式 {text!r} 是{inferred.type.value}")
        if inferred.negative_at is not None:
            culprit = inferred.negative_at
            cause = (
                f"字段 {culprit.name} 是没有声明非负下限(minimum)的整数"
                if isinstance(culprit, exp.Column)
                else f"{_sql(culprit)} 使用了减法或负号"
            )
            raise ExpressionError(
                f"{where}: 金额不能为负,而表达式 {text!r} 可能为负:第 {_column(culprit, text)} 列的 "
                f"{cause};如需下限为零,可写 GREATEST(…, 0)"
            )


COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
ORDERINGS = (exp.GT, exp.GTE, exp.LT, exp.LTE)
PREDICATES = (*COMPARISONS, exp.In, exp.Between, exp.Not, exp.And, exp.Or)


class _Checker:
    """Infers each node's type bottom-up and refuses what SQL and the calculator would read differently."""

    def __init__(self, text: str, where: str, fields: Mapping[str, str], non_negative: frozenset[str]) -> None:
        self.text, self.where, self.fields, self.non_negative = text, where, fields, non_negative

    def fail(self, node: exp.Expression, reason: str) -> ExpressionError:
        return ExpressionError(f"{self.where}: 表达式 {self.text!r} 第 {_column(node, self.text)} 列:{reason}")

    def infer(self, node: exp.Expression) -> Inferred:
        inferred = self._infer(node)
        if inferred.type is ValueType.NUMBER and inferred.digits + inferred.scale > MAX_DIGITS:
            raise self.fail(
                node,
                f"{_sql(node)} 可能需要 {inferred.digits + inferred.scale} 位有效数字,"
                f"超出 DECIMAL({MAX_DIGITS}) 能精确表示的 {MAX_DIGITS} 位",
            )
        return inferred

    def _infer(self, node: exp.Expression) -> Inferred:
        match node:
            case exp.Literal():
                return Inferred(ValueType.TEXT) if node.is_string else self._number_literal(node)
            case exp.Boolean():
                return Inferred(ValueType.BOOLEAN)
            case exp.Column():
                return self._field(node)
            case exp.Paren():
                return self.infer(node.this)
            case exp.Neg():
                inner = self._numbers(node, "负号", [node.this])[0]
                return Inferred(ValueType.NUMBER, node, inner.digits, inner.scale)
            case exp.Add() | exp.Sub() | exp.Mul():
                return self._arithmetic(node)
            case exp.EQ() | exp.NEQ() | exp.GT() | exp.GTE() | exp.LT() | exp.LTE():
                return self._comparison(node)
            case exp.And() | exp.Or():
                self._truths(node, type(node).__name__.upper(), [node.this, node.expression])
                return Inferred(ValueType.BOOLEAN)
            case exp.Not():
                self._truths(node, "NOT", [node.this])
                return Inferred(ValueType.BOOLEAN)
            case exp.Case():
                return self._case(node)
            case exp.If():
                return self._if(node)
            case exp.In():
                return self._in(node)
            case exp.Between():
                if node.args.get("symmetric"):
                    raise self.fail(node, "不支持 BETWEEN SYMMETRIC")
                operands = [node.this, node.args["low"], node.args["high"]]
                self._parenthesized(node, operands)
                self._numbers(node, "BETWEEN", operands)
                return Inferred(ValueType.BOOLEAN)
            case exp.Least() | exp.Greatest():
                return self._least_greatest(node)
            case exp.Coalesce():
                return self._same("COALESCE 的各项", [node.this, *node.expressions], node)
        raise self.fail(node, f"不允许的 {_describe(node)}")

    def _number_literal(self, node: exp.Literal) -> Inferred:
        written = str(node.this)
        try:
            value = Decimal(written)
        except InvalidOperation:
            raise self.fail(node, f"无法读取数字 {written}") from None
        if not value.is_finite() or abs(value) >= MAX_LITERAL:
            raise self.fail(node, f"数字 {written} 超出允许范围(绝对值须小于 10^15)")
        if "e" in written.lower():
            raise self.fail(node, f"数字 {written} 须写成普通小数,不能用科学计数法(DuckDB 会把它读作浮点数)")
        sign, digits, exponent = value.as_tuple()
        scale = max(0, -int(exponent))
        if scale > MAX_DECIMALS:
            raise self.fail(node, f"数字 {written} 最多 {MAX_DECIMALS} 位小数")
        return Inferred(ValueType.NUMBER, None, max(1, len(digits) + int(exponent)), scale)

    def _field(self, node: exp.Column) -> Inferred:
        name = node.name
        field_type = str(self.fields[name])
        value_type = FIELD_VALUE_TYPES[field_type]
        if value_type is not ValueType.NUMBER:
            return Inferred(value_type)
        digits, scale = FIELD_DIGITS[field_type]
        may_be_negative = field_type not in NON_NEGATIVE_FIELD_TYPES and name not in self.non_negative
        return Inferred(ValueType.NUMBER, node if may_be_negative else None, digits, scale)

    def _arithmetic(self, node: exp.Expression) -> Inferred:
        operator = {exp.Add: "加法", exp.Sub: "减法", exp.Mul: "乘法"}[type(node)]
        left, right = self._numbers(node, operator, [node.this, node.expression])
        if isinstance(node, exp.Mul):
            digits, scale = left.digits + right.digits, left.scale + right.scale
        else:
            digits, scale = max(left.digits, right.digits) + 1, max(left.scale, right.scale)
        negative_at = node if isinstance(node, exp.Sub) else left.negative_at or right.negative_at
        return Inferred(ValueType.NUMBER, negative_at, digits, scale)

    def _comparison(self, node: exp.Expression) -> Inferred:
        self._parenthesized(node, [node.this, node.expression])
        left, right = self.infer(node.this), self.infer(node.expression)
        if left.type is not right.type:
            raise self.fail(
                node, f"不能比较{left.type.value} {_sql(node.this)} 和{right.type.value} {_sql(node.expression)}"
            )
        if isinstance(node, ORDERINGS) and left.type is not ValueType.NUMBER:
            raise self.fail(node, f"{left.type.value}不能比较大小,只能用 = 或 <>({_sql(node)})")
        return Inferred(ValueType.BOOLEAN)

    def _case(self, node: exp.Case) -> Inferred:
        subject = self.infer(node.this) if node.this is not None else None
        for branch in node.args.get("ifs") or []:
            if subject is None:
                self._truths(branch, "WHEN", [branch.this])
            elif (value := self.infer(branch.this)).type is not subject.type:
                raise self.fail(
                    branch.this,
                    f"CASE {_sql(node.this)} 是{subject.type.value},WHEN {_sql(branch.this)} 是{value.type.value},类型不同",
                )
        default = node.args.get("default")
        if default is None:
            raise self.fail(node, "CASE 须有 ELSE 分支(没有 ELSE 时 SQL 得 NULL,计算器无从对应)")
        results = [branch.args["true"] for branch in node.args.get("ifs") or []]
        return self._same("CASE 各分支", [*results, default], node)

    def _if(self, node: exp.If) -> Inferred:
        self._truths(node, "IF", [node.this])
        if node.args.get("false") is None:
            raise self.fail(node, "IF 须有第三个参数(否则时的值;缺省时 SQL 得 NULL)")
        return self._same("IF 的两个结果", [node.args["true"], node.args["false"]], node)

    def _in(self, node: exp.In) -> Inferred:
        if any(node.args.get(key) for key in ("query", "unnest", "field")) or not node.expressions:
            raise self.fail(node, "IN 只能跟一列值,如 level IN ('国家级', '省级')")
        self._parenthesized(node, [node.this])
        subject = self.infer(node.this)
        for item in node.expressions:
            value = self.infer(item)
            if value.type is not subject.type:
                raise self.fail(
                    item,
                    f"IN 列表中的 {_sql(item)} 是{value.type.value},与 {_sql(node.this)}({subject.type.value})类型不同",
                )
        return Inferred(ValueType.BOOLEAN)

    def _least_greatest(self, node: exp.Expression) -> Inferred:
        name = "LEAST" if isinstance(node, exp.Least) else "GREATEST"
        items = self._numbers(node, name, [node.this, *node.expressions])
        culprits = [item.negative_at for item in items if item.negative_at is not None]
        # The greatest is non-negative as soon as one term is; the least only if all are.
        if isinstance(node, exp.Greatest):
            negative_at = culprits[0] if len(culprits) == len(items) else None
        else:
            negative_at = culprits[0] if culprits else None
        return Inferred(
            ValueType.NUMBER, negative_at, max(item.digits for item in items), max(item.scale for item in items)
        )

    def _parenthesized(self, node: exp.Expression, operands: list[exp.Expression]) -> None:
        """A predicate used as an operand of another must be in parentheses.

        `a = b = TRUE` or `x BETWEEN 1 AND 2 IN (FALSE)`: sqlglot reads them one way, DuckDB and
        PostgreSQL refuse them or read them another; with parentheses every engine reads one tree.
        """
        for operand in operands:
            if isinstance(operand, PREDICATES):
                raise self.fail(
                    node, f"{_sql(operand)} 用作另一个比较的一边时须加括号,如 ({_sql(operand)});各数据库对连写的理解不同"
                )

    def _numbers(self, node: exp.Expression, operator: str, operands: list[exp.Expression]) -> list[Inferred]:
        inferred = [self.infer(operand) for operand in operands]
        for operand, value in zip(operands, inferred):
            if value.type is not ValueType.NUMBER:
                raise self.fail(node, f"{operator}只能用于数字,而 {_sql(operand)} 是{value.type.value}")
        return inferred

    def _truths(self, node: exp.Expression, operator: str, operands: list[exp.Expression]) -> None:
        for operand in operands:
            value = self.infer(operand)
            if value.type is not ValueType.BOOLEAN:
                raise self.fail(node, f"{operator} 须用于真假值,而 {_sql(operand)} 是{value.type.value}")

    def _same(self, what: str, operands: list[exp.Expression], node: exp.Expression) -> Inferred:
        inferred = [self.infer(operand) for operand in operands]
        first = inferred[0]
        for operand, value in zip(operands[1:], inferred[1:]):
            if value.type is not first.type:
                raise self.fail(
                    node,
                    f"{what}类型须一致,而 {_sql(operands[0])} 是{first.type.value},{_sql(operand)} 是{value.type.value}",
                )
        if first.type is not ValueType.NUMBER:
            return first
        culprits = [value.negative_at for value in inferred if value.negative_at is not None]
        return Inferred(
            ValueType.NUMBER,
            culprits[0] if culprits else None,
            max(value.digits for value in inferred),
            max(value.scale for value in inferred),
        )


FIELD_MARK = re.compile(r"ZHIDAFIELD_(\w+)")


def _template(tree: exp.Expression) -> tuple[str, ...]:
    """The SQL of `tree` split around its field references: text, field, text, field, …, text."""

    def mark(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column):
            return exp.column(f"ZHIDAFIELD_{node.name}")
        return node

    return tuple(FIELD_MARK.split(tree.transform(mark, copy=True).sql()))


def _sql(node: exp.Expression) -> str:
    return node.sql(dialect="duckdb")


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _describe(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return f"函数 {str(node.this).upper()}"
    if isinstance(node, exp.Func):
        return f"函数 {node.sql_name()}"
    return f"结构 {type(node).__name__}"


def _column(node: exp.Expression, text: str) -> int:
    """1-based column where `node` starts in `text`.

    sqlglot records positions on tokens (identifiers, literals), not on operators:
    a function is found by its name, anything else starts at its first token.
    """
    if isinstance(node, exp.Func) and not isinstance(node, exp.Anonymous):
        found = text.upper().find(node.sql_name().upper())
        if found >= 0:
            return found + 1
    if isinstance(node, exp.Anonymous):
        found = text.upper().find(str(node.this).upper())
        if found >= 0:
            return found + 1
    keyword = KEYWORDS.get(type(node))
    if keyword and (found := text.upper().find(keyword)) >= 0:
        return found + 1
    starts = [child.meta["start"] for child in node.walk() if child.meta and "start" in child.meta]
    if starts and isinstance(node, exp.Neg):  # the minus sign itself carries no position
        return text.rfind("-", 0, min(starts)) + 1 or min(starts) + 1
    if starts:
        return min(starts) + 1
    found = text.upper().find(node.sql().upper())
    return found + 1 if found >= 0 else 1
