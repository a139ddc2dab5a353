"""The rule set compiled once into one SQL query over a whole register (免申即享).

Input relations:
    subjects(subject_id, kind, county, ...)
    events(event_id, subject_id, type, date, <every field of every event type>)
Output: one row per entitlement, exactly what `zhida.engine.calculate` says for
each subject's case, to the 分:
    subject_id, event_id, date, rule, article, kind, amount, tax_due, caps_hit,
    in_validity, department, county

How the single-case semantics become set operations:
- each rule is one SELECT (its `when` as the WHERE, its `amount` as a column);
  the per-item cap and the rounding to the 分 happen there, as in the calculator;
- an annual cap is a window: over one holder's (subject's or carrier's) claims of
  one year in date order, with S_i the running sum of the amounts before the
  cap, claim i keeps min(S_i, cap) − min(S_{i−1}, cap). That is what "take
  what is left of the cap" gives, claim after claim, without a loop;
- caps stack: each annual cap is one more window over the previous amounts.
The query is written in DuckDB's dialect and transpiled by sqlglot for
PostgreSQL and Spark SQL (`to_dialect`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from zhida.rules.model import Cap, CapScope, FieldType, Kind, Rule
from zhida.rules.pack import Pack
from zhida.source.script import to_simplified

if TYPE_CHECKING:
    import pyarrow as pa

SQL_TYPES = {
    FieldType.MONEY: "DECIMAL(18, 2)",
    FieldType.NUMBER: "DECIMAL(18, 6)",
    FieldType.INTEGER: "BIGINT",
    FieldType.CHOICE: "VARCHAR",
    FieldType.FLAG: "BOOLEAN",
    FieldType.TEXT: "VARCHAR",
}
class BatchError(ValueError):
    """A rule set that cannot be compiled for a batch."""


@dataclass(frozen=True)
class BatchPlan:
    """The compiled query and the event columns it expects."""

    sql: str  # DuckDB dialect
    event_columns: dict[str, FieldType]  # field name -> type, over all event types


def event_columns(pack: Pack) -> dict[str, FieldType]:
    """Every field of every event type, as one wide events table; a name means one type."""
    columns: dict[str, FieldType] = {}
    for event_type in pack.events.values():
        for field in event_type.fields:
            if columns.setdefault(field.name, field.type) is not field.type:
                raise BatchError(f"字段 {field.name} 在不同事件类型中的类型不一致,无法放入同一张事件表")
    return columns


def compile_pack(pack: Pack) -> BatchPlan:
    depth = max((len(_annual(rule)) for rule in pack.rules), default=0)
    branches = "\n  UNION ALL\n".join(_branch(rule, order, depth) for order, rule in enumerate(pack.rules))
    kinds = ", ".join(f"({order}, '{kind}')" for order, rule in enumerate(pack.rules) for kind in rule.spec.subject)
    stages = [
        f"claims AS (\n{branches}\n)",
        # Subjects are joined once, after the rules, and only for the subject kind and the county.
        "eligible AS (\n  SELECT c.*, s.county FROM claims AS c\n"
        "  JOIN subjects AS s ON s.subject_id = c.subject_id\n"
        f"  JOIN (VALUES {kinds}) AS rule_kinds(rule_order, subject_kind)\n"
        "    ON rule_kinds.rule_order = c.rule_order AND rule_kinds.subject_kind = s.kind\n)",
    ]
    previous = "eligible"
    for level in range(1, depth + 1):
        stages.append(_cap_stage(level, depth, previous))
        previous = f"capped_{level}"
    hits = ", ".join(["item_hit"] + [f"CASE WHEN a{k} < a{k - 1} THEN c{k} END" for k in range(1, depth + 1)])
    select = f"""SELECT subject_id, event_id, date, rule, article, kind, CAST(a{depth} AS DECIMAL(18, 2)) AS amount, tax_due,
  CONCAT_WS(',', {hits}) AS caps_hit, in_validity, department, county
FROM {previous}
ORDER BY subject_id, date, event_id, rule_order"""
    return BatchPlan("WITH " + ",\n".join(stages) + "\n" + select, event_columns(pack))


def to_dialect(sql: str, dialect: str) -> str:
    """The same query for another engine: "postgres", "spark", "trino", "hive" …"""
    return sqlglot.transpile(sql, read="duckdb", write=dialect, pretty=True)[0]


def _annual(rule: Rule) -> list[Cap]:
    """A rule's annual caps in stacking order (per subject, then per carrier), as loaded."""
    return [cap for cap in rule.caps if cap.per is not CapScope.ITEM]


BASE_COLUMNS = (
    "subject_id", "event_id", "date", "rule", "rule_order", "article", "kind", "department",
    "in_validity", "tax_due", "item_hit",
)


def _branch(rule: Rule, order: int, depth: int) -> str:
    """One rule as a SELECT over `events`: its condition, its amount after the item cap, rounded to the 分.

    For each level k of annual caps it carries the cap's id (c_k), its limit (l_k) and the
    carrier (g_k, for a per-carrier cap), so that one window per level serves every cap.
    """
    validity = f"(e.date BETWEEN DATE '{rule.valid_from.isoformat()}' AND DATE '{rule.valid_to.isoformat()}')"
    item_caps = [cap for cap in rule.caps if cap.per is CapScope.ITEM]
    if rule.spec.kind is Kind.QUALIFICATION:
        amount, item_hit = "CAST(NULL AS DECIMAL(18, 2))", "CAST(NULL AS VARCHAR)"
    else:
        raw = _sql(rule.amount.tree, rule)
        capped = raw
        for cap in item_caps:
            capped = f"LEAST({capped}, {cap.yuan})"
        amount = f"CASE WHEN {validity} THEN CAST(ROUND({capped}, 2) AS DECIMAL(18, 2)) ELSE CAST(0 AS DECIMAL(18, 2)) END"
        hit = " ".join(f"WHEN {raw} > {cap.yuan} THEN '{cap.id}'" for cap in item_caps)
        item_hit = f"CASE WHEN NOT {validity} THEN CAST(NULL AS VARCHAR) {hit} END" if item_caps else "CAST(NULL AS VARCHAR)"
    tax_due = (
        f"CASE WHEN {validity} THEN CAST(ROUND({_sql(rule.tax_due.tree, rule)}, 2) AS DECIMAL(18, 2)) END"
        if rule.tax_due is not None
        else "CAST(NULL AS DECIMAL(18, 2))"
    )
    levels = []
    annual = _annual(rule)
    for k in range(1, depth + 1):
        cap = annual[k - 1] if k <= len(annual) else None
        if cap is None:
            levels += [f"CAST(NULL AS VARCHAR) AS c{k}", f"CAST(NULL AS DECIMAL(18, 2)) AS l{k}", f"CAST(NULL AS VARCHAR) AS g{k}"]
            continue
        carrier = f"CAST(e.{cap.carrier_field} AS VARCHAR)" if cap.per is CapScope.CARRIER_YEAR else "CAST(NULL AS VARCHAR)"
        levels += [f"'{cap.id}' AS c{k}", f"CAST({cap.yuan} AS DECIMAL(18, 2)) AS l{k}", f"{carrier} AS g{k}"]
    department = to_simplified(rule.department)
    columns = [
        "e.subject_id", "e.event_id", "e.date", f"'{rule.id}' AS rule", f"{order} AS rule_order",
        f"{rule.spec.article} AS article", f"'{rule.spec.kind.value}' AS kind", f"'{department}' AS department",
        f"{validity} AS in_validity", f"{tax_due} AS tax_due", f"{item_hit} AS item_hit", f"{amount} AS a0", *levels,
    ]
    return (
        "  SELECT " + ", ".join(columns) + "\n  FROM events AS e\n"
        f"  WHERE e.type = '{rule.spec.event}' AND ({_sql(rule.when.tree, rule)})"
    )


def _cap_stage(level: int, depth: int, previous: str) -> str:
    """Level `level` of annual caps: min(S_i, cap) − min(S_{i−1}, cap) within each cap, holder and year.

    Only the claims that carry a cap at this level are sorted; the others pass through.
    """
    k = level
    carried = [*BASE_COLUMNS, "county", *[f"a{j}" for j in range(k)], *[f"{x}{j}" for j in range(1, depth + 1) for x in "clg"]]
    keep = ", ".join(carried)
    running = (
        f"SUM(a{k - 1}) OVER (PARTITION BY c{k}, subject_id, g{k}, YEAR(date) "
        "ORDER BY date, event_id, rule_order ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    )
    return f"""capped_{k} AS (
  SELECT {keep}, a{k - 1} AS a{k} FROM {previous} WHERE c{k} IS NULL OR a{k - 1} IS NULL
  UNION ALL
  SELECT {keep}, LEAST(running, l{k}) - LEAST(running - a{k - 1}, l{k}) AS a{k}
  FROM (SELECT {keep}, {running} AS running FROM {previous} WHERE c{k} IS NOT NULL AND a{k - 1} IS NOT NULL) AS w{k}
)"""


def _sql(tree: exp.Expression, rule: Rule) -> str:
    """A rule expression with its fields read from the events table `e`."""
    if tree.find(exp.Div):
        # DuckDB and Spark divide decimals into doubles: the batch would not be exact.
        raise BatchError(f"规则 {rule.id}:批量计算不支持除法(会失去精确到分的保证),请改写为乘法")

    def qualify(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column):
            return exp.column(node.name, table="e")
        return node

    return tree.transform(qualify, copy=True).sql(dialect="duckdb")


def arrow_types_by_field() -> dict:
    """The Arrow column type of each field type: the same as SQL_TYPES, for Parquet files."""
    import pyarrow as pa

    return {
        FieldType.MONEY: pa.decimal128(18, 2),
        FieldType.NUMBER: pa.decimal128(18, 6),
        FieldType.INTEGER: pa.int64(),
        FieldType.CHOICE: pa.string(),
        FieldType.FLAG: pa.bool_(),
        FieldType.TEXT: pa.string(),
    }


def cases_to_arrow(pack: Pack, cases) -> tuple[pa.Table, pa.Table]:
    """Checked cases (zhida.engine.case.Case) as the subjects and events tables of a batch."""
    import pyarrow as pa

    columns = event_columns(pack)
    arrow_types = arrow_types_by_field()
    subjects = pa.table(
        {
            "subject_id": pa.array([case.subject.id for case in cases], pa.string()),
            "kind": pa.array([case.subject.kind for case in cases], pa.string()),
            "county": pa.nulls(len(cases), pa.string()),  # a case has no county
        }
    )
    rows = [(case.subject.id, event) for case in cases for event in case.events]
    data = {
        "event_id": pa.array([event.id for _, event in rows], pa.string()),
        "subject_id": pa.array([subject for subject, _ in rows], pa.string()),
        "type": pa.array([event.type for _, event in rows], pa.string()),
        "date": pa.array([event.date for _, event in rows], pa.date32()),
    }
    for name, field_type in columns.items():
        data[name] = pa.array([event.values.get(name) for _, event in rows], arrow_types[field_type])
    return subjects, pa.table(data)
