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

import sqlglot
from sqlglot import exp

from zhida.rules.model import Cap, CapScope, FieldType, Kind, Rule
from zhida.rules.pack import Pack
from zhida.source.script import to_simplified

SQL_TYPES = {
    FieldType.MONEY: "DECIMAL(18, 2)",
    FieldType.NUMBER: "DECIMAL(18, 6)",
    FieldType.INTEGER: "BIGINT",
    FieldType.CHOICE: "VARCHAR",
    FieldType.FLAG: "BOOLEAN",
    FieldType.TEXT: "VARCHAR",
}
OUTPUT_COLUMNS = (
    "subject_id", "event_id", "date", "rule", "article", "kind", "amount", "tax_due",
    "caps_hit", "in_validity", "department", "county",
)


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
    annual = _annual_caps(pack)
    # Rules without an annual cap (most rows: every trade-in) skip the windows altogether.
    capped = [_branch(rule, order, annual) for order, rule in enumerate(pack.rules) if _has_annual_cap(rule)]
    plain = [_branch(rule, order, annual) for order, rule in enumerate(pack.rules) if not _has_annual_cap(rule)]
    columns = "subject_id, event_id, date, rule, rule_order, article, kind, tax_due, in_validity, department, county"
    selects = []
    stages = []
    if plain:
        stages.append("plain AS (\n" + "\n  UNION ALL\n".join(plain) + "\n)")
        selects.append(f"SELECT {columns}, CAST(a0 AS DECIMAL(18, 2)) AS amount, item_hit AS caps_hit FROM plain")
    if capped:
        stages.append("claims AS (\n" + "\n  UNION ALL\n".join(capped) + "\n)")
        previous = "claims"
        for index, cap in enumerate(annual):
            stages.append(_cap_stage(index, cap, previous))
            previous = f"capped_{index}"
        hits = ", ".join(["item_hit"] + [f"CASE WHEN a{i + 1} < a{i} THEN '{cap.id}' END" for i, cap in enumerate(annual)])
        selects.append(
            f"SELECT {columns}, CAST(a{len(annual)} AS DECIMAL(18, 2)) AS amount, CONCAT_WS(',', {hits}) AS caps_hit "
            f"FROM {previous}"
        )
    union = "\n  UNION ALL\n  ".join(selects)
    select = f"""SELECT subject_id, event_id, date, rule, article, kind, amount, tax_due,
  COALESCE(caps_hit, '') AS caps_hit, in_validity, department, county
FROM (
  {union}
) AS entitlements
ORDER BY subject_id, date, event_id, rule_order"""
    return BatchPlan("WITH " + ",\n".join(stages) + "\n" + select, event_columns(pack))


def _has_annual_cap(rule: Rule) -> bool:
    return any(cap.per is not CapScope.ITEM for cap in rule.caps)


def to_dialect(sql: str, dialect: str) -> str:
    """The same query for another engine: "postgres", "spark", "trino", "hive" …"""
    return sqlglot.transpile(sql, read="duckdb", write=dialect, pretty=True)[0]


def _annual_caps(pack: Pack) -> list[Cap]:
    """The annual caps in stacking order: per subject before per carrier (DESIGN.md)."""
    caps: dict[str, Cap] = {}
    for rule in pack.rules:
        for cap in rule.caps:
            if cap.per is not CapScope.ITEM:
                caps.setdefault(cap.id, cap)
    return sorted(caps.values(), key=lambda cap: (cap.per is CapScope.CARRIER_YEAR, cap.id))


def _branch(rule: Rule, order: int, annual: list[Cap]) -> str:
    """One rule as a SELECT: its condition, its amount after the item cap, rounded to the 分."""
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
    holders = []
    for index, cap in enumerate(annual):
        if cap not in rule.caps:
            holders.append(f"CAST(NULL AS VARCHAR) AS h{index}")
        elif cap.per is CapScope.SUBJECT_YEAR:
            holders.append(f"CONCAT(e.subject_id, '|', CAST(YEAR(e.date) AS VARCHAR)) AS h{index}")
        else:
            holders.append(
                f"CONCAT(e.subject_id, '|', e.{cap.carrier_field}, '|', CAST(YEAR(e.date) AS VARCHAR)) AS h{index}"
            )
    kinds = ", ".join(f"'{kind}'" for kind in rule.spec.subject)
    department = to_simplified(rule.department)
    columns = [
        "e.subject_id", "e.event_id", "e.date", f"'{rule.id}' AS rule", f"{order} AS rule_order",
        f"{rule.spec.article} AS article", f"'{rule.spec.kind.value}' AS kind", f"'{department}' AS department",
        "s.county", f"{validity} AS in_validity", f"{amount} AS a0", f"{tax_due} AS tax_due", f"{item_hit} AS item_hit",
        *holders,
    ]
    return (
        "  SELECT " + ", ".join(columns) + "\n  FROM events AS e JOIN subjects AS s ON s.subject_id = e.subject_id\n"
        f"  WHERE e.type = '{rule.spec.event}' AND s.kind IN ({kinds}) AND ({_sql(rule.when.tree, rule)})"
    )


def _cap_stage(index: int, cap: Cap, previous: str) -> str:
    """min(S_i, cap) − min(S_{i−1}, cap) over each holder's claims of a year, in claim order."""
    running = (
        f"SUM(a{index}) OVER (PARTITION BY h{index} ORDER BY date, event_id, rule_order "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    )
    return f"""capped_{index} AS (
  SELECT *, CASE WHEN h{index} IS NULL OR a{index} IS NULL THEN a{index}
    ELSE LEAST(running_{index}, {cap.yuan}) - LEAST(running_{index} - a{index}, {cap.yuan}) END AS a{index + 1}
  FROM (SELECT *, {running} AS running_{index} FROM {previous}) AS w{index}
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


def cases_to_arrow(pack: Pack, cases) -> tuple["pa.Table", "pa.Table"]:
    """Checked cases (zhida.engine.case.Case) as the subjects and events tables of a batch."""
    import pyarrow as pa

    columns = event_columns(pack)
    arrow_types = arrow_types_by_field()
    subjects = pa.table(
        {
            "subject_id": pa.array([case.subject.id for case in cases], pa.string()),
            "kind": pa.array([case.subject.kind for case in cases], pa.string()),
            "county": pa.array([getattr(case.subject, "county", None) for case in cases], pa.string()),
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
