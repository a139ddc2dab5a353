"""The rule set compiled once into one SQL query over a whole register (免申即享).

Input relations:
    subjects(subject_id, kind, county, ...)
    events(event_id, subject_id, type, date, <every field of every event type>)
Output: one row per entitlement, exactly what `zhida.engine.calculate` says for
each subject's case, to the 分:
    subject_id, event_id, date, rule, article, kind, amount, tax_due, caps_hit,
    in_validity, department, county, carrier (the holder of a per-carrier cap, else NULL)

How the single-case semantics become set operations:
- each rule is one SELECT (its `when` as the WHERE, its `amount` as a column);
  the per-item cap and the rounding to the 分 happen there, as in the calculator;
- an annual cap is a window: over one holder's (subject's or carrier's) claims of
  one year in date order, with S_i the running sum of the amounts before the
  cap, claim i keeps min(S_i, cap) − min(S_{i−1}, cap). That is what "take
  what is left of the cap" gives, claim after claim, without a loop;
- caps stack: each annual cap is one more window over the previous amounts.
  A cap sits at one level for every rule that carries it (its longest chain of
  caps stacked before it in any rule), so that one window sees all its claims,
  as the calculator's cap tally (CapUse) does; a rule passes through the levels it has no
  cap at;
- an event type that declares `tax_year` is valid by its tax year, not its date
  (as in the calculator).
The query is built as one sqlglot tree, never by pasting text: every name and
value from the pack (rule and cap ids, event types, fields, subject kinds, the
department, dates, amounts) enters as a literal or a quoted identifier node, and
the rules' expressions, whitelisted at load time, are checked again and grafted
in as trees. The tree is rendered for DuckDB (`BatchPlan.sql`) and for any other
engine sqlglot writes, such as PostgreSQL and Spark SQL (`BatchPlan.sql_for`).

Exact decimals in every engine: fields are read as DECIMAL(38, s) before any
arithmetic (an 18-digit product overflows in DuckDB), and the numeric branches of
CASE / LEAST / GREATEST / COALESCE are cast to one scale (DuckDB would otherwise
drop decimals). Spark must run with `spark.sql.decimalOperations.allowPrecisionLoss
= false`, or it rounds a product of two wide decimals to 6 places.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property, reduce
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from zhida.engine.calculate import TAX_YEAR_FIELD
from zhida.rules.expressions import ALLOWED, Expression
from zhida.rules.model import WITHOUT_AMOUNT, Cap, CapScope, FieldType, Kind, Layer, Rule
from zhida.rules.pack import Pack
from zhida.source.script import to_simplified, to_traditional

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
MONEY = "DECIMAL(18, 2)"  # every amount of the output, to the 分
TEXT = "VARCHAR"


class BatchError(ValueError):
    """A rule set that cannot be compiled for a batch."""


COMPARISONS = (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.EQ, exp.NEQ)


@dataclass(frozen=True)
class BatchPlan:
    """The compiled query (as a tree, rendered for DuckDB on first use) and the event columns it expects."""

    tree: exp.Expression
    event_columns: dict[str, FieldType]  # field name -> type, over all event types
    # `compile_by_type(…, claimed=T)`: every stage but the final sort, to be run first into table T,
    # which `sql` then reads and sorts (None: `sql` is the whole query).
    claims_tree: exp.Expression | None = None
    pretty: bool = False  # `sql` laid out on lines (compile_pack's, which people read in tests and bench)

    @cached_property
    def sql(self) -> str:
        """DuckDB's text of the query. Rendered only when asked: match runs the tree inside its COPY, and a
        plan by type is only ever run in DuckDB, so it is rendered without copying the tree (half the time)."""
        return self.tree.sql(dialect="duckdb", pretty=self.pretty, copy=self.pretty)

    @cached_property
    def claims(self) -> str | None:
        return None if self.claims_tree is None else self.claims_tree.sql(dialect="duckdb", copy=False)

    def sql_for(self, dialect: str) -> str:
        """The same query for another engine: "postgres", "spark", "trino", "duckdb" …

        For Spark, both sides of each decimal comparison are first cast to one scale: Spark
        compares DECIMAL(38, 2) with DECIMAL(38, 4) by casting both to DECIMAL(38, 2), so the
        product 0.05 * revenue = 12329777.2865 becomes 12329777.29 and rd_expense 12329777.29 >
        12329777.2865 is false (Spark 4.3; tests/test_match_engines.py). Cast to the larger scale,
        nothing is rounded, as for the branches of CASE and LEAST below."""
        tree = self.tree
        if dialect == "spark":
            tree = tree.copy()
            for node in list(tree.find_all(*COMPARISONS)):
                left, right = _scale(node.this), _scale(node.expression)
                if left is not None and right is not None and left != right:
                    for side in (node.this, node.expression):
                        side.replace(_decimal_cast(side.copy(), max(left, right)))
        return tree.sql(dialect=dialect, pretty=True)


def event_columns(pack: Pack) -> dict[str, FieldType]:
    """Every field of every event type, as one wide events table; a name means one type."""
    columns: dict[str, FieldType] = {}
    for event_type in pack.events.values():
        for field in event_type.fields:
            if columns.setdefault(field.name, field.type) is not field.type:
                raise BatchError(f"字段 {field.name} 在不同事件类型中的类型不一致,无法放入同一张事件表")
    return columns


@dataclass(frozen=True)
class TypeTable:
    """Where `compile_by_type` reads one event type: its own table, and the columns its rules read."""

    table: str
    columns: tuple[str, ...]


def compile_pack(pack: Pack) -> BatchPlan:
    """The whole rule set as one query: the rules' claims, the subject kinds, then the annual caps."""
    return _compile(pack, None)[0]


def compile_by_type(
    pack: Pack, present: Collection[str], claimed: str | None = None
) -> tuple[BatchPlan, dict[str, TypeTable]]:
    """The query of `compile_pack` for a register that holds only the event types `present`, each
    type read from its own table (`events_t<n>`, n its place in the pack) instead of `events`.

    Why: with one branch per rule, every branch would scan the whole wide `events` table (118 rules,
    82 columns); a type's table holds only its rows and the columns its rules read. The rules over
    absent types are left out (they would claim nothing); the rule order, the caps' levels and the
    output are those of `compile_pack`. Returns the plan and, per present type with rules, its table.

    `claimed`: the plan in two statements (`BatchPlan.claims`, then `sql` over table `claimed`). On
    10M events under a 1 GB memory limit, one statement would hold the join's table of millions of
    subjects while the final sort fills memory (DuckDB runs out of memory); in two, the join's output
    is written (and spilled) before the sort starts (bench/README.md, "Batch 免申即享").
    """
    names = {name: f"events_t{number}" for number, name in enumerate(pack.events) if name in set(present)}
    return _compile(pack, names, claimed)


def _compile(
    pack: Pack, tables: dict[str, str] | None, claimed: str | None = None
) -> tuple[BatchPlan, dict[str, TypeTable]]:
    if not pack.rules:
        raise BatchError("政策包中没有规则,无法生成批量查询")
    _check_top_ups(pack)
    levels = cap_levels(pack.rules)
    depth = max(levels.values(), default=0)
    field_types = event_columns(pack)
    by_tax_year = {name for name, event in pack.events.items() if event.field(TAX_YEAR_FIELD) is not None}
    every: list[exp.Select] = []  # every branch, in the pack's order
    capped: list[exp.Select] = []  # the branches of rules with an annual cap
    plain: list[exp.Select] = []  # the others, which no window needs to see
    read: dict[str, dict[str, None]] = {}
    for order, rule in enumerate(pack.rules):
        if tables is not None and rule.spec.event not in tables:
            continue
        source = "events" if tables is None else tables[rule.spec.event]
        branch = _branch(rule, order, levels, depth, field_types, rule.spec.event in by_tax_year, _raised(pack, rule), source)
        every.append(branch)
        (capped if _annual(rule) else plain).append(branch)
        columns = read.setdefault(rule.spec.event, dict.fromkeys(("event_id", "subject_id", "type", "date")))
        columns.update(dict.fromkeys(column.name for column in branch.find_all(exp.Column) if column.table == "e"))
    if not capped and not plain:
        raise BatchError("登记表中没有任何规则适用的事件类型")
    if tables is None:
        # Every claim through the cap stages, whose input is read twice and so materialised: for
        # other engines as before, and for DuckDB on a large register (match) a break between the
        # join to subjects and the final sort that keeps 10M events within a 1 GB memory limit.
        stages: list[tuple[str, exp.Expression]] = [("claims", _union(every)), ("eligible", _eligible(pack))]
        for level in range(1, depth + 1):
            stages.append((f"capped_{level}", _cap_stage(level, depth, stages[-1][0])))
    else:
        stages = _claim_stages(pack, depth, capped, plain)
    sources = {name: TypeTable(tables[name], tuple(columns)) for name, columns in read.items()} if tables else {}
    if claimed is not None:
        claims = exp.select(exp.Star()).from_(_table(stages[-1][0]), copy=False)
        for name, stage in stages:
            claims = claims.with_(name, as_=stage, copy=False)
        final = _final(depth, claimed)
        return BatchPlan(final, event_columns(pack), claims), sources
    tree = _final(depth, stages[-1][0])
    for name, stage in stages:
        tree = tree.with_(name, as_=stage, copy=False)
    return BatchPlan(tree, event_columns(pack), pretty=tables is None), sources


def _union(branches: list[exp.Select]) -> exp.Expression:
    return reduce(lambda left, right: exp.union(left, right, distinct=False, copy=False), branches)


def _claim_stages(
    pack: Pack, depth: int, capped: list[exp.Select], plain: list[exp.Select]
) -> list[tuple[str, exp.Expression]]:
    """The stages before `_final`: the claims of capped rules through the windows, the others around them.

    Why split: a claim no annual cap counts needs no window, and the capped stages read their input
    twice (passing and windowed), which the engines materialise; only the capped claims are, then
    (none on a register of trade-ins). The last stage has every column `_final` reads.
    """
    if depth == 0:
        return [("claims", _union(plain)), ("eligible", _eligible(pack))]
    stages: list[tuple[str, exp.Expression]] = []
    if capped:
        stages += [("claims", _union(capped)), ("eligible", _eligible(pack))]
        for level in range(1, depth + 1):
            stages.append((f"capped_{level}", _cap_stage(level, depth, stages[-1][0])))
    if not plain:
        return stages
    levels = [f"{x}{j}" for j in range(1, depth + 1) for x in "clg"]
    names = [*BASE_COLUMNS, "county", *[f"a{j}" for j in range(depth + 1)], *levels]
    stages += [("plain_claims", _union(plain)), ("plain", _eligible(pack, "plain_claims"))]
    passed = exp.select(
        *(_alias(_column("a0"), name) if name[0] == "a" and name[1:].isdigit() else _column(name) for name in names)
    ).from_(_table("plain"), copy=False)
    if capped:
        kept = exp.select(*(_column(name) for name in names)).from_(_table(f"capped_{depth}"), copy=False)
        passed = exp.union(kept, passed, distinct=False, copy=False)
    return [*stages, ("claimed", passed)]


def _raised(pack: Pack, rule: Rule) -> Rule | None:
    """The base rule a county top-up raises, or None."""
    return pack.rule(rule.spec.tops_up) if rule.spec.tops_up is not None else None


def _check_top_ups(pack: Pack) -> None:
    """A top-up the batch computes as the calculator does: one shared annual cap at most.

    With one annual cap C and R the room left before an event, the calculator pays the base
    min(x, R) and the top-up min(y − min(x, R), R − min(x, R)) = min(max(x, y), R) − min(x, R):
    exactly what the cap's window keeps of a top-up claim of max(y − x, 0) ordered after its
    base claim (x, y: the base's and the county's amounts after item caps, rounded). With two
    stacked annual caps the calculator's second cap would see y − (the base's final amount),
    which no window over the first cap's input knows: such a top-up is refused.
    """
    for rule in pack.rules:
        raised = _raised(pack, rule)
        if raised is None:
            continue
        own = [cap.id for cap in _annual(rule)]
        if len(_annual(raised)) > 1 or own != [cap.id for cap in _annual(raised)]:
            raise BatchError(
                f"规则 {rule.id}:加码规则所加码的 {raised.id} 有多个年度上限,或加码规则另有年度上限,"
                "批量匹配无法与逐案计算一致;请逐案计算(zhida calc)"
            )


def to_dialect(sql: str, dialect: str) -> str:
    """DuckDB query text for another engine; a compiled plan renders its tree with `BatchPlan.sql_for`."""
    return sqlglot.transpile(sql, read="duckdb", write=dialect, pretty=True)[0]


def _annual(rule: Rule) -> list[Cap]:
    """A rule's annual caps in stacking order (per subject, then per carrier), as loaded."""
    return [cap for cap in rule.caps if cap.per is not CapScope.ITEM]


def cap_levels(rules: tuple[Rule, ...] | list[Rule]) -> dict[str, int]:
    """The window level (1, 2 …) of every annual cap, the same for every rule that carries it.

    A cap's level is one more than the highest level of any cap stacked before it in some rule.
    A cap shared by rules at different positions (the carrier cap after a maker space's own cap,
    and alone on the incubator awards) then still has one window over all its claims.
    """
    before: dict[str, set[str]] = {}
    for rule in rules:
        annual = [cap.id for cap in _annual(rule)]
        for position, cap_id in enumerate(annual):
            before.setdefault(cap_id, set()).update(annual[:position])
    levels: dict[str, int] = {}

    def level(cap_id: str, path: tuple[str, ...]) -> int:
        if cap_id in path:
            raise BatchError(f"上限 {cap_id} 在不同规则中的叠加顺序相互矛盾({' → '.join((*path, cap_id))}),无法批量计算")
        if cap_id not in levels:
            levels[cap_id] = 1 + max((level(other, (*path, cap_id)) for other in before[cap_id]), default=0)
        return levels[cap_id]

    for cap_id in before:
        level(cap_id, ())
    return levels


BASE_COLUMNS = (
    "subject_id", "event_id", "date", "rule", "rule_order", "article", "kind", "department",
    "in_validity", "tax_due", "item_hit",
)


# --- leaves: every value from the pack becomes a node here, never text ---------------------------


def _column(name: str, table: str | None = None) -> exp.Column:
    """A column the compiler itself names (subject_id, a0, c1 …)."""
    return exp.column(name, table=table)


def _field(name: str) -> exp.Column:
    """An event field named by the pack, on `events AS e`, always a quoted identifier."""
    return exp.column(exp.to_identifier(str(name), quoted=True), table="e")


def _string(value: str) -> exp.Literal:
    return exp.Literal.string(str(value))


def _number(value: int | Decimal, where: str) -> exp.Literal:
    """A numeric literal made from a number, never from text, so it renders as digits, sign and point."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal) or not Decimal(value).is_finite():
        raise BatchError(f"{where}:{value!r} 不是有限的数值")
    return exp.Literal.number(format(Decimal(value), "f"))


def _date(value: dt.date) -> exp.Cast:
    return _cast(_string(value.isoformat()), "DATE")


# The types as DuckDB reads their names (its VARCHAR is TEXT), so that every dialect is written as
# before; built afresh for each cast (a node belongs to one tree, and copying one is slow).
CAST_TYPES = {
    MONEY: (exp.DType.DECIMAL, (18, 2)),
    TEXT: (exp.DType.TEXT, ()),
    "DATE": (exp.DType.DATE, ()),
}


def _cast(value: exp.Expression, sql_type: str) -> exp.Cast:
    kind, parameters = CAST_TYPES[sql_type]
    to = exp.DataType(this=kind, nested=False)
    if parameters:
        to.set("expressions", [exp.DataTypeParam(this=exp.Literal.number(p)) for p in parameters])
    return exp.Cast(this=value, to=to)


def _null(sql_type: str) -> exp.Cast:
    return _cast(exp.null(), sql_type)


def _money(value: exp.Expression) -> exp.Cast:
    return _cast(value, MONEY)


def _least(left: exp.Expression, right: exp.Expression) -> exp.Least:
    # ignore_nulls: DuckDB's LEAST, as the parser marks it, so that other dialects are written alike.
    return exp.Least(this=left, expressions=[right], ignore_nulls=True)


def _ordered(name: str) -> exp.Ordered:
    return exp.Ordered(this=_column(name), nulls_first=False)  # DuckDB's default, written out for Spark


def _alias(value: exp.Expression, name: str) -> exp.Alias:
    return exp.alias_(value, name, copy=False)


def _table(name: str, alias: str | None = None) -> exp.Table:
    return exp.table_(name, alias=alias)


# --- stages --------------------------------------------------------------------------------------


def _branch(
    rule: Rule,
    order: int,
    levels: dict[str, int],
    depth: int,
    field_types: dict[str, FieldType],
    by_tax_year: bool,
    raised: Rule | None = None,
    source: str = "events",
) -> exp.Select:
    """One rule as a SELECT over `events`: its condition, its amount after the item cap, rounded to the 分.

    For each level k of annual caps it carries the cap's id (c_k), its limit (l_k) and the
    carrier (g_k, for a per-carrier cap), so that one window per level serves every cap.
    A county top-up (`raised`: its base rule) holds where its base rule holds and is valid, and
    claims max(y − x, 0) before the shared cap (see `_check_top_ups`).
    """
    where = f"规则 {rule.id}"

    def validity(of: Rule = rule) -> exp.Paren:
        if by_tax_year:
            # A national tax preference: the tax year, not the filing date, within the rule's years.
            year = _wide(_field(TAX_YEAR_FIELD), FieldType.INTEGER)
            low, high = (_number(date.year, f"{where}: 有效期") for date in (of.valid_from, of.valid_to))
            return exp.paren(exp.Between(this=year, low=low, high=high), copy=False)
        between = exp.Between(this=_column("date", "e"), low=_date(of.valid_from), high=_date(of.valid_to))
        return exp.paren(between, copy=False)

    def before_annual_caps(of: Rule) -> tuple[exp.Expression, exp.Expression]:
        """The formula as written, and after the item caps, rounded to the 分."""
        raw = _expression(of.amount, of, field_types)
        capped = raw
        for cap in (cap for cap in of.caps if cap.per is CapScope.ITEM):
            capped = _least(capped, _number(cap.yuan, f"规则 {of.id}: 上限 {cap.id}"))
        return raw, _money(exp.Round(this=capped, decimals=exp.Literal.number(2)))

    item_caps = [cap for cap in rule.caps if cap.per is CapScope.ITEM]
    amount: exp.Expression = _null(MONEY)
    item_hit: exp.Expression = _null(TEXT)
    if Kind(rule.spec.kind) not in WITHOUT_AMOUNT:
        raw, rounded = before_annual_caps(rule)
        if raised is not None:
            difference = exp.Sub(this=rounded, expression=before_annual_caps(raised)[1])
            rounded = _money(exp.Greatest(this=difference, expressions=[_money(exp.Literal.number(0))]))
        amount = exp.case().when(validity(), rounded, copy=False).else_(_money(exp.Literal.number(0)), copy=False)
        if item_caps:
            item_hit = exp.case().when(exp.not_(validity(), copy=False), _null(TEXT), copy=False)
            for cap in item_caps:
                over = exp.GT(this=raw.copy(), expression=_number(cap.yuan, f"{where}: 上限 {cap.id}"))
                item_hit = item_hit.when(over, _string(cap.id), copy=False)
    tax_due: exp.Expression = _null(MONEY)
    if rule.tax_due is not None:
        owed = _money(exp.Round(this=_expression(rule.tax_due, rule, field_types), decimals=exp.Literal.number(2)))
        tax_due = exp.case().when(validity(), owed, copy=False)
    columns = [
        _column("subject_id", "e"), _column("event_id", "e"), _column("date", "e"),
        _alias(_string(rule.id), "rule"),
        _alias(_number(order, where), "rule_order"),
        _alias(_number(rule.spec.article, f"{where}: article"), "article"),
        _alias(_string(Kind(rule.spec.kind).value), "kind"),
        _alias(_string(to_simplified(rule.department)), "department"),
        _alias(validity(), "in_validity"),
        _alias(tax_due, "tax_due"),
        _alias(item_hit, "item_hit"),
        _alias(amount, "a0"),
        *_levels(rule, levels, depth),
    ]
    condition = exp.and_(
        exp.EQ(this=_column("type", "e"), expression=_string(rule.spec.event)),
        exp.paren(_expression(rule.when, rule, field_types), copy=False),
        copy=False,
    )
    if raised is not None:
        # The calculator tops up only what its base rule paid, in the base's validity.
        condition = exp.and_(
            condition, exp.paren(_expression(raised.when, raised, field_types), copy=False), validity(raised), copy=False
        )
    return exp.select(*columns).from_(_table(source, "e"), copy=False).where(condition, copy=False)


def _levels(rule: Rule, cap_level: dict[str, int], depth: int) -> list[exp.Alias]:
    """c_k, l_k, g_k for each level of annual caps; NULL where this rule has no cap at that level."""
    at = {cap_level[cap.id]: cap for cap in _annual(rule)}
    levels: list[exp.Alias] = []
    for k in range(1, depth + 1):
        if k not in at:
            levels += [_alias(_null(TEXT), f"c{k}"), _alias(_null(MONEY), f"l{k}"), _alias(_null(TEXT), f"g{k}")]
            continue
        cap = at[k]
        carrier = _null(TEXT)
        if cap.per is CapScope.CARRIER_YEAR:
            carrier = _cast(_field(cap.carrier_field), TEXT)
        limit = _money(_number(cap.yuan, f"规则 {rule.id}: 上限 {cap.id}"))
        levels += [_alias(_string(cap.id), f"c{k}"), _alias(limit, f"l{k}"), _alias(carrier, f"g{k}")]
    return levels


def _eligible(pack: Pack, claims: str = "claims") -> exp.Select:
    """Claims whose subject is of a kind the rule is for; subjects are joined once, after the rules.

    A county overlay's rules are for subjects of its county only: their rows of `rule_kinds` name
    it (in Simplified and in Traditional, as the register may write either); a base rule's name ''.
    """
    same_subject = exp.EQ(this=_column("subject_id", "s"), expression=_column("subject_id", "c"))
    same_kind = exp.and_(
        exp.EQ(this=_column("rule_order", "rule_kinds"), expression=_column("rule_order", "c")),
        exp.EQ(this=_column("subject_kind", "rule_kinds"), expression=_column("kind", "s")),
        copy=False,
    )
    if pack.county is None:
        kinds = exp.values(
            [(order, str(kind)) for order, rule in enumerate(pack.rules) for kind in rule.spec.subject],
            alias="rule_kinds",
            columns=["rule_order", "subject_kind"],
        )
    else:
        counties = sorted({pack.county, to_traditional(pack.county)})
        kinds = exp.values(
            [
                (order, str(kind), county)
                for order, rule in enumerate(pack.rules)
                for kind in rule.spec.subject
                for county in (counties if rule.layer is Layer.COUNTY else [""])
            ],
            alias="rule_kinds",
            columns=["rule_order", "subject_kind", "subject_county"],
        )
        same_county = exp.or_(
            exp.EQ(this=_column("subject_county", "rule_kinds"), expression=_string("")),
            exp.EQ(this=_column("subject_county", "rule_kinds"), expression=exp.Trim(this=_column("county", "s"))),
            copy=False,
        )
        same_kind = exp.and_(same_kind, exp.paren(same_county, copy=False), copy=False)
    return (
        exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("c")), _column("county", "s"))
        .from_(_table(claims, "c"), copy=False)
        .join(_table("subjects", "s"), on=same_subject, copy=False)
        .join(kinds, on=same_kind, copy=False)
    )


def _cap_stage(level: int, depth: int, previous: str) -> exp.Union:
    """Level `level` of annual caps: min(S_i, cap) − min(S_{i−1}, cap) within each cap, holder and year.

    Only the claims that carry a cap at this level are sorted; the others pass through.
    """
    k = level
    levels = [f"{x}{j}" for j in range(1, depth + 1) for x in "clg"]
    carried = [*BASE_COLUMNS, "county", *[f"a{j}" for j in range(k)], *levels]

    def keep() -> list[exp.Column]:
        return [_column(name) for name in carried]

    def missing(name: str) -> exp.Is:
        return _column(name).is_(exp.null())

    passing = (
        exp.select(*keep(), _alias(_column(f"a{k - 1}"), f"a{k}"))
        .from_(_table(previous), copy=False)
        .where(exp.or_(missing(f"c{k}"), missing(f"a{k - 1}"), copy=False), copy=False)
    )
    running = exp.Window(
        this=exp.Sum(this=_column(f"a{k - 1}")),
        partition_by=[_column(f"c{k}"), _column("subject_id"), _column(f"g{k}"), exp.Year(this=_column("date"))],
        order=exp.Order(expressions=[_ordered("date"), _ordered("event_id"), _ordered("rule_order")]),
        spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"),
        over="OVER",
    )
    windowed = (
        exp.select(*keep(), _alias(running, "running"))
        .from_(_table(previous), copy=False)
        .where(exp.and_(exp.not_(missing(f"c{k}")), exp.not_(missing(f"a{k - 1}")), copy=False), copy=False)
    )
    kept = exp.Sub(
        this=_least(_column("running"), _column(f"l{k}")),
        expression=_least(exp.Sub(this=_column("running"), expression=_column(f"a{k - 1}")), _column(f"l{k}")),
    )
    capped = exp.select(*keep(), _alias(kept, f"a{k}")).from_(windowed.subquery(f"w{k}", copy=False), copy=False)
    return exp.union(passing, capped, distinct=False, copy=False)


def _final(depth: int, previous: str) -> exp.Select:
    """The output columns, with the caps a claim hit (its item cap, then each annual cap that cut it)."""
    hits: list[exp.Expression] = [_column("item_hit")]
    for k in range(1, depth + 1):
        cut = exp.LT(this=_column(f"a{k}"), expression=_column(f"a{k - 1}"))
        hits.append(exp.case().when(cut, _column(f"c{k}"), copy=False))
    caps_hit = exp.ConcatWs(expressions=[_string(","), *hits], safe=True, coalesce=True)
    # The carrier a per-carrier cap counted the claim under (g_k is NULL at a per-subject level), so
    # that the ledger can go on counting that carrier's cap when the claim is confirmed.
    holders = [_column(f"g{k}") for k in range(1, depth + 1)]
    carrier = exp.Coalesce(this=holders[0], expressions=holders[1:]) if holders else _null(TEXT)
    columns = [
        *(_column(name) for name in ("subject_id", "event_id", "date", "rule", "article", "kind")),
        _alias(_money(_column(f"a{depth}")), "amount"),
        _column("tax_due"),
        _alias(caps_hit, "caps_hit"),
        *(_column(name) for name in ("in_validity", "department", "county")),
        _alias(carrier, "carrier"),
    ]
    return (
        exp.select(*columns)
        .from_(_table(previous), copy=False)
        .order_by(*(_ordered(name) for name in ("subject_id", "date", "event_id", "rule_order")), copy=False)
    )


def _expression(expression: Expression | None, rule: Rule, field_types: dict[str, FieldType]) -> exp.Expression:
    """A rule expression as a tree with its fields read from the events table `e`.

    The pack checked it against the whitelist when it was loaded; it is checked again here because
    this tree goes into SQL as it is: a node outside the whitelist, or a number literal that is not a
    number, would be written out verbatim.
    """
    if expression is None:
        raise BatchError(f"规则 {rule.id}:缺少表达式")
    for node in expression.tree.walk():
        if isinstance(node, exp.Div):
            # DuckDB and Spark divide decimals into doubles: the batch would not be exact.
            raise BatchError(f"规则 {rule.id}:批量计算不支持除法(会失去精确到分的保证),请改写为乘法")
        if not isinstance(node, ALLOWED):
            raise BatchError(f"规则 {rule.id}:表达式使用了不允许的结构 {type(node).__name__}")
        if isinstance(node, exp.Identifier) and not isinstance(node.parent, exp.Column):
            raise BatchError(f"规则 {rule.id}:表达式中的名称 {node.name!r} 不是字段")
        if isinstance(node, exp.Literal) and not node.is_string:
            _number(_decimal(node.this, rule), f"规则 {rule.id}")

    def qualify(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column):
            return _wide(_field(node.name), field_types.get(node.name))
        return node

    return _exact_unions(expression.tree.transform(qualify, copy=True))


# Numbers are read at the widest exact decimal before any arithmetic: engines keep the product of
# two DECIMAL(18, s) at 18 digits, so 0.15 * price would overflow in the batch for a price the case
# format allows (below 10^15) while the calculator, exact at any size, still answered.
WIDE_SCALES = {FieldType.MONEY: 2, FieldType.NUMBER: 6, FieldType.INTEGER: 0}


def _wide(column: exp.Column, field_type: FieldType | None) -> exp.Expression:
    scale = WIDE_SCALES.get(field_type) if field_type is not None else None
    return column if scale is None else _decimal_cast(column, scale)


def _decimal_cast(value: exp.Expression, scale: int) -> exp.Cast:
    to = exp.DataType(this=exp.DType.DECIMAL, nested=False)
    to.set("expressions", [exp.DataTypeParam(this=exp.Literal.number(38)), exp.DataTypeParam(this=exp.Literal.number(scale))])
    return exp.Cast(this=value, to=to)


# Where values of several decimal types meet in one result (CASE, IF, LEAST, GREATEST, COALESCE),
# DuckDB picks a type with the largest integer part and drops decimals that no longer fit in 38
# digits: LEAST(1.50 as DECIMAL(38, 2), 2 as DECIMAL(38, 0)) gives 2. Each branch is therefore cast
# to DECIMAL(38, S) first, S the largest scale among them, which loses nothing.
UNIONS = (exp.Case, exp.If, exp.Least, exp.Greatest, exp.Coalesce)


def _exact_unions(node: exp.Expression) -> exp.Expression:
    """Cast the numeric branches of every CASE / IF / LEAST / GREATEST / COALESCE to one scale (bottom-up)."""
    for child in list(node.iter_expressions()):
        child.replace(_exact_unions(child))
    when_branch = isinstance(node, exp.If) and isinstance(node.parent, exp.Case)  # a WHEN … THEN of a CASE
    if isinstance(node, UNIONS) and not when_branch and (scale := _scale(node)) is not None:
        for branch in _branches(node):
            branch.replace(_decimal_cast(branch.copy(), scale))
    return node


def _branches(node: exp.Expression) -> list[exp.Expression]:
    """The value branches of a union node (not its conditions, nor a simple CASE's operand)."""
    if isinstance(node, exp.Case):
        values = [branch.args["true"] for branch in node.args.get("ifs") or []]
        return values + ([node.args["default"]] if node.args.get("default") is not None else [])
    if isinstance(node, exp.If):
        return [node.args[key] for key in ("true", "false") if node.args.get(key) is not None]
    return [node.this, *node.expressions]


def _scale(node: exp.Expression) -> int | None:
    """Decimal places of a numeric expression as the engines type it; None when it is not numeric."""
    if isinstance(node, exp.Literal):
        return None if node.is_string else max(-Decimal(node.this).as_tuple().exponent, 0)
    if isinstance(node, exp.Cast):
        if not node.to.is_type(exp.DType.DECIMAL):
            return None
        return int(node.to.expressions[1].this.this) if len(node.to.expressions) > 1 else 0
    if isinstance(node, exp.Paren | exp.Neg):
        return _scale(node.this)
    if isinstance(node, exp.Mul | exp.Add | exp.Sub):
        left, right = _scale(node.this), _scale(node.expression)
        if left is None or right is None:
            return None
        return left + right if isinstance(node, exp.Mul) else max(left, right)
    if isinstance(node, UNIONS):
        scales = [_scale(branch) for branch in _branches(node)]
        return None if not scales or None in scales else max(scales)
    return None


def _decimal(text: str, rule: Rule) -> Decimal:
    try:
        return Decimal(text)
    except ArithmeticError:
        raise BatchError(f"规则 {rule.id}:{text!r} 不是数值") from None


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
            "county": pa.array([case.subject.county for case in cases], pa.string()),
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
