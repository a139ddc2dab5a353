"""Conditions and amounts as SQL expressions, limited to a whitelist.

A rule's `when` and `amount` are written in the SQL that a department's data
staff already know (DESIGN.md, "Rules are data that quote the law"). They are
parsed once by sqlglot; the same tree is evaluated for one case (zhida.engine)
and compiled for a batch. Only the constructs below are allowed, so that every
engine computes the same thing and a rule cannot reach outside its event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

# What a rule may say: arithmetic, comparisons, AND/OR/NOT, CASE, IN, BETWEEN,
# LEAST/GREATEST, COALESCE, literals and field references.
ALLOWED = (
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Neg, exp.Paren,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE,
    exp.And, exp.Or, exp.Not,
    exp.Case, exp.If, exp.In, exp.Between,
    exp.Least, exp.Greatest, exp.Coalesce,
    exp.Literal, exp.Boolean, exp.Column, exp.Identifier,
)


# Constructs whose keyword sqlglot does not position: found by their keyword instead.
KEYWORDS = {exp.Subquery: "(SELECT", exp.Select: "SELECT", exp.Any: "ANY", exp.All: "ALL", exp.Exists: "EXISTS"}


class ExpressionError(ValueError):
    """An expression that does not parse or uses something outside the whitelist."""


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


def parse(text: str, where: str, fields: set[str]) -> Expression:
    """Parse `text` and check it against the whitelist and the declared `fields`.

    `where` names the rule and key (e.g. "rule high-tech-first, amount") for messages.
    """
    try:
        tree = sqlglot.parse_one(str(text), read="duckdb")
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        raise ExpressionError(
            f"{where}: 无法解析表达式 {text!r}(第 {first.get('line', '?')} 行第 {first.get('col', '?')} 列)"
        ) from None
    for node in tree.walk():
        if not isinstance(node, ALLOWED):
            raise ExpressionError(
                f"{where}: 表达式 {text!r} 第 {_column(node, text)} 列使用了不允许的 {_describe(node)};"
                f"只允许四则运算、比较、AND/OR/NOT、CASE、IN、BETWEEN、LEAST/GREATEST、COALESCE 和字段"
            )
        if isinstance(node, exp.Column):
            if node.table:
                raise ExpressionError(f"{where}: 表达式 {text!r} 第 {_column(node, text)} 列不能引用表 {node.table!r}")
            if node.name not in fields:
                known = "、".join(sorted(fields)) or "(无)"
                raise ExpressionError(
                    f"{where}: 表达式 {text!r} 第 {_column(node, text)} 列引用了未声明的字段 {node.name!r};可用字段:{known}"
                )
    used = frozenset(column.name for column in tree.find_all(exp.Column))
    return Expression(text=str(text), tree=tree, fields=used, template=_template(tree))


FIELD_MARK = re.compile(r"ZHIDAFIELD_(\w+)")


def _template(tree: exp.Expression) -> tuple[str, ...]:
    """The SQL of `tree` split around its field references: text, field, text, field, …, text."""

    def mark(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column):
            return exp.column(f"ZHIDAFIELD_{node.name}")
        return node

    return tuple(FIELD_MARK.split(tree.transform(mark, copy=True).sql()))


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
    if starts:
        return min(starts) + 1
    found = text.upper().find(node.sql().upper())
    return found + 1 if found >= 0 else 1
