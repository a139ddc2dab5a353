"""A reform priced over a whole register: the baseline and the reformed pack in one run (政策沙盘).

Goes in: a `Reform` (zhida.rules.reform: the baseline pack, the reformed pack, the rules it
touches), a register (subjects and events, as `zhida match` reads them), OUT (.parquet or .csv).
Comes out: a `ReformSummary` — cost by rule, area (against each area's budget), department,
county, industry chain and size band, before and after; the document's stated total beside
both; who gains and who loses, how many and by how much (quantiles) — and OUT holding one row
per subject with an entitlement in either run: its baseline, its reformed amount, the difference.

How it runs: the register is opened and checked once (`zhida.engine.register`), read into
DuckDB's storage once (`match.materialise`); the baseline's compiled query (`batch.compile_pack`)
runs over it; the reform's query runs only over the rules it touches and the rules tied to
those by a shared annual cap or a top-up (`linked_rules`), since a cap window mixes no other
rule's claims; every other rule's rows are the baseline's. Both runs are exact DECIMAL to the 分.

Where it runs (`where`, `--engine`): the two queries (and each step of a fit) run on the engine
that holds the register — DuckDB here, PostgreSQL or Spark (`engines.engine_rows`: the register
sent once or read where it is, exact NUMERIC/DECIMAL) — and only their entitlement rows come back
into DuckDB, where the comparison and the summary below are made by the same code whatever the
engine: the same `ReformSummary` and the same differences file.

Money here is budget spending: every amount except a tax preference's (a tax saving is no
spending, as in `match.area_totals`), and never a qualification or a by-measure row, which carry
no amount. Tax savings are shown by rule only.

Sample weights: a `weight` column on the subjects file (a positive decimal, at most six places)
makes the register a sample, as survey microdata are: every amount is multiplied by its
subject's weight, and every count (of entitlements, of subjects, of gainers and losers) is a sum
of weights. The products are exact (DECIMAL(38, 8)); shown rounded to the 分. Without the
column every weight is 1.

Industry chain and size band come from optional subject columns: `industry_chain` (or `chain`,
as `zhida synth` writes it) and `revenue` (营业收入, 元). The size band of an enterprise is its
revenue decile among the enterprises with a revenue, weighted: band k holds the enterprises
whose weighted share of enterprises with a smaller revenue (ties by subject_id) is in
[(k−1)/10, k/10). A register without the column says "未提供".

The fit (`fit`): the value of one parameter at which the reformed spend meets a budget, by
bisection over exact batch runs of the linked rules only, each step reported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pyarrow as pa
import sqlglot
from sqlglot import exp

from zhida.engine import register as register_module
from zhida.engine.engines import Rows, Where, engine_rows
from zhida.engine.match import copy_to, in_private_directory, materialise, open_written, write_output
from zhida.engine.money_text import MoneyError, read_money
from zhida.engine.register import RegisterError, Source, open_register
from zhida.rules.model import Kind, Layer
from zhida.rules.pack import Pack
from zhida.rules.reform import (
    Parameter,
    Reform,
    ReformError,
    linked_rules,
    parameter_rules,
    parameter_value,
    with_parameter,
)
from zhida.source.script import to_simplified

CENT = Decimal("0.01")
QUANTILES = (("P10", "0.1"), ("P25", "0.25"), ("中位数", "0.5"), ("P75", "0.75"), ("P90", "0.9"))
NOT_GIVEN = "未提供"
WEIGHT_TYPE = "DECIMAL(18, 6)"
REVENUE_TYPE = "DECIMAL(18, 2)"
MAX_FIT_STEPS = 200
MAX_DOUBLINGS = 10  # the bracket grows to at most 1024 times the present value
HERE = Where()  # DuckDB, in this process


@dataclass(frozen=True)
class Line:
    """One row of a comparison: its key, then count and amount before and after (weighted)."""

    key: tuple
    base_count: Decimal
    base_amount: Decimal
    new_count: Decimal
    new_amount: Decimal

    @property
    def change(self) -> Decimal:
        return self.new_amount - self.base_amount


@dataclass(frozen=True)
class AreaLine:
    number: int
    department: str
    budget: Decimal | None
    line: Line

    def share(self, amount: Decimal) -> Decimal | None:
        """`amount` as a percentage of the area's budget, to 0.01%."""
        return (amount / self.budget * 100).quantize(CENT) if self.budget else None


@dataclass(frozen=True)
class Side:
    """Gainers or losers: how many (weighted), the total change, and its distribution."""

    count: Decimal
    amount: Decimal
    smallest: Decimal | None
    quantiles: dict[str, Decimal | None]
    largest: Decimal | None


@dataclass(frozen=True)
class ReformSummary:
    title: str
    weighted: bool
    subjects: Decimal  # subjects in the register (weighted)
    spend: Line  # budget spending in total, key ()
    by_rule: list[Line]  # key (rule, title, article, kind): every amount, tax savings included
    by_area: list[AreaLine]
    by_department: list[Line]
    by_county: list[Line]
    by_chain: list[Line] | None  # None: the register has no industry chain column
    by_size_band: list[Line] | None  # key (band, lowest revenue, highest revenue); None: no revenue
    stated_total: Decimal | None  # the document's 支持總額 (233.9億元 for Huzhou)
    gainers: Side
    losers: Side
    unchanged: Decimal
    rows_written: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Budget:
    """What a fit aims at: an area's budget (`area` set) or an amount for the parameter's rules."""

    yuan: Decimal
    area: int | None
    label: str


@dataclass(frozen=True)
class FitStep:
    value: Decimal
    spend: Decimal

    def gap(self, budget: Budget) -> Decimal:
        return self.spend - budget.yuan


@dataclass(frozen=True)
class FitResult:
    parameter: Parameter
    budget: Budget
    baseline_value: Decimal
    value: Decimal | None  # the parameter's value whose spend meets the budget (None: none in range)
    spend: Decimal | None
    other: FitStep | None  # the step beyond it (spend above the budget), when the fit stopped on a step
    steps: tuple[FitStep, ...]
    rules: tuple[str, ...]  # the rules whose spend is compared with the budget
    message: str  # Simplified: how the fit ended


# ---------------------------------------------------------------- running a reform


def run_reform(
    reform: Reform, subjects: Path | str, events: Path | str, out: Path, memory_limit: str = "1GB",
    *, where: Where = HERE, baseline: Baseline | None = None,
) -> ReformSummary:
    """The reform priced over the register; the per-subject differences written to OUT.
    `where`: the engine the entitlement queries run on (DuckDB here by default, PostgreSQL, Spark).
    `baseline`: the baseline's rows kept from an earlier run over the same pack and register (the
    sandbox page's cache), so that only the rules the reform touches are run."""
    _check_out(out, where)
    return in_private_directory(
        out, memory_limit, lambda con, private: _run(con, reform, subjects, events, out, private, where, baseline)
    )


@dataclass
class Baseline:
    """The baseline's entitlement rows for one pack and register: `rows` None until a run computes them,
    after which `computed` is called with them (to keep them for the next run)."""

    rows: pa.Table | None = None
    computed: Callable[[pa.Table], None] | None = None


def _check_out(out: Path, where: Where) -> None:
    if out.suffix.lower() not in (".parquet", ".csv"):
        raise RegisterError(f"{out}: 逐主体差异须输出为 .parquet 或 .csv")
    where.check()


def _run(
    con, reform: Reform, subjects, events, out: Path, private: Path, where: Where, baseline: Baseline | None
) -> ReformSummary:
    with _opened(con, reform.baseline, subjects, events, private, where) as (facts, rows):
        _price(con, rows, reform, baseline)
    return summarise(con, reform, facts, out, private)


@dataclass(frozen=True)
class Facts:
    weighted: bool
    chain: bool
    revenue: bool


@contextmanager
def _opened(con, pack: Pack, subjects, events, private: Path, where: Where) -> Iterator[tuple[Facts, Rows]]:
    """The register opened and checked once — files in DuckDB, as `zhida match` does, or named tables and
    paths Spark reads by the engine itself — with `subject_facts` in DuckDB, and the engine's `Rows`."""
    if where.tables is not None:
        subjects, events = where.tables
    if not where.reads_itself(str(subjects), str(events)):
        # DuckDB reads the register by event type (engine_rows), as `zhida match` does; the others get it whole
        facts = open_facts(con, pack, Path(subjects), Path(events), materialised=where.engine != "duckdb")
        with engine_rows(con, pack, where, private) as rows:
            yield facts, rows
        return
    with engine_rows(con, pack, where, private, (str(subjects), str(events))) as rows:
        # a table has no row numbers: a message names the first offending subject by its subject_id
        yield _facts(con, lambda subject: f"{subjects}: 主体 {subject}", Path(str(subjects))), rows


def open_facts(con, pack: Pack, subjects: Path, events: Path, materialised: bool = True) -> Facts:
    """Open and check the register, then the `subject_facts` table (weight, chain, size band); with
    `materialised`, the register read into DuckDB's storage (`match.materialise`)."""
    counts = open_register(con, pack, subjects, events)
    source = Source(subjects, "raw_subjects", subjects.suffix.lower().lstrip("."))
    facts = _facts(con, lambda row: f"{subjects}: 第 {source.line(row)} 行", subjects)
    if materialised:
        materialise(con, types=counts)  # the types open_register counted: not counted again
    return facts


def _facts(con, located: Callable[[object], str], path: Path) -> Facts:
    """`subject_facts` from `raw_subjects` (a register's subjects with a `_row` key), its optional columns
    checked; `located(_row)` says where a bad value is (a file's line, a table's subject)."""
    columns = register_module.columns_of(con, "raw_subjects")
    chain = "industry_chain" if "industry_chain" in columns else "chain" if "chain" in columns else None
    wanted = {name: sql_type for name, sql_type in (("weight", WEIGHT_TYPE), ("revenue", REVENUE_TYPE)) if name in columns}
    for name, sql_type in wanted.items():
        column = exp.column(name, quoted=True)
        condition = register_module.cast_problem(column, columns[name], sql_type, path, name)
        bad = None if condition is None else register_module.first_bad_row(con, "raw_subjects", condition, column)
        if bad is not None:
            shown, word = register_module.shown_value(bad[1]), register_module.sql_type_name(sql_type)
            raise RegisterError(f"{located(bad[0])},列 {name}: '{shown}' 不是 {word}")

    def converted(name: str) -> exp.Expression:
        return register_module.converted_column(name, columns[name], wanted[name])

    if "weight" in columns:
        bad = register_module.first_bad_row(
            con, "raw_subjects",
            exp.or_(exp.column("weight", quoted=True).is_(exp.null()), exp.LTE(this=converted("weight"), expression=exp.Literal.number(0))),
            exp.column("weight", quoted=True),
        )
        if bad is not None:
            raise RegisterError(f"{located(bad[0])},列 weight: '{bad[1]}' 不是正数(样本权重须大于 0)")
    if "revenue" in columns:
        bad = register_module.first_bad_row(
            con, "raw_subjects", exp.LT(this=converted("revenue"), expression=exp.Literal.number(0)),
            exp.column("revenue", quoted=True),
        )
        if bad is not None:
            raise RegisterError(f"{located(bad[0])},列 revenue: '{bad[1]}' 不能为负数")
    one = exp.cast(exp.Literal.number(1), "DECIMAL(38, 6)")
    weight = exp.cast(converted("weight"), "DECIMAL(38, 6)") if "weight" in columns else one
    chain_value = exp.cast(exp.column(chain, quoted=True), "VARCHAR") if chain else exp.cast(exp.null(), "VARCHAR")
    revenue = exp.cast(converted("revenue"), REVENUE_TYPE) if "revenue" in columns else exp.cast(exp.null(), REVENUE_TYPE)
    query = exp.select(
        exp.alias_(exp.cast(exp.column("subject_id", quoted=True), "VARCHAR"), "subject_id"),
        exp.alias_(exp.cast(exp.column("kind", quoted=True), "VARCHAR"), "subject_kind"),
        exp.alias_(weight, "weight"),
        exp.alias_(chain_value, "chain"),
        exp.alias_(revenue, "revenue"),
    ).from_(exp.to_table("raw_subjects"))
    con.sql(query.sql(dialect="duckdb")).create("facts_raw")
    con.execute(SIZE_BANDS)
    return Facts("weight" in columns, chain is not None, "revenue" in columns)


# Weighted revenue deciles of the enterprises with a revenue (see the module docstring); exact.
SIZE_BANDS = """
CREATE TEMP TABLE subject_facts AS
WITH ranked AS (
    SELECT subject_id, weight,
           SUM(weight) OVER (ORDER BY revenue, subject_id ROWS UNBOUNDED PRECEDING) - weight AS before,
           SUM(weight) OVER () AS total
    FROM facts_raw WHERE subject_kind = 'enterprise' AND revenue IS NOT NULL
), banded AS (
    SELECT subject_id, 1 + CAST(before * 10 >= total AS INTEGER) + CAST(before * 10 >= total * 2 AS INTEGER)
         + CAST(before * 10 >= total * 3 AS INTEGER) + CAST(before * 10 >= total * 4 AS INTEGER)
         + CAST(before * 10 >= total * 5 AS INTEGER) + CAST(before * 10 >= total * 6 AS INTEGER)
         + CAST(before * 10 >= total * 7 AS INTEGER) + CAST(before * 10 >= total * 8 AS INTEGER)
         + CAST(before * 10 >= total * 9 AS INTEGER) AS size_band
    FROM ranked
)
SELECT f.*, b.size_band FROM facts_raw f LEFT JOIN banded b USING (subject_id)
"""


def _price(con, rows: Rows, reform: Reform, baseline: Baseline | None = None) -> None:
    """`baseline_rows` and `reform_rows`: the baseline's query (or its rows kept in `baseline`), and the
    reform's over the linked rules, each run by the engine (`rows`), the two combined in DuckDB."""
    if baseline is not None and baseline.rows is not None:
        con.register("kept_baseline", baseline.rows)
        con.execute("CREATE TEMP TABLE baseline_rows AS SELECT * FROM kept_baseline")
        con.unregister("kept_baseline")
    else:
        rows(reform.baseline, "baseline_rows")
        if baseline is not None and baseline.computed is not None:
            baseline.computed(con.table("baseline_rows").to_arrow_table())
    linked = linked_rules([*reform.baseline.rules, *reform.reformed.rules], reform.touched)
    rerun = tuple(rule for rule in reform.reformed.rules if rule.id in linked)
    if rerun:
        rows(dataclasses.replace(reform.reformed, rules=rerun), "reform_part")
    else:
        con.sql("SELECT * FROM baseline_rows LIMIT 0").create("reform_part")
    kept = exp.select("*").from_("baseline_rows")
    if linked:
        kept = kept.where(exp.column("rule").isin(*(exp.Literal.string(rule) for rule in sorted(linked))).not_())
    # a view: `priced` reads it once, and the baseline's rows are not copied again
    con.sql(exp.union(kept, exp.select("*").from_("reform_part"), distinct=False).sql(dialect="duckdb")).create_view(
        "reform_rows")


def _rule_info(reform: Reform) -> pa.Table:
    """Each rule of either run with its area (a county document's areas after the city's)."""
    rules = {rule.id: (rule, reform.baseline) for rule in reform.baseline.rules}
    rules |= {rule.id: (rule, reform.reformed) for rule in reform.reformed.rules if rule.id not in rules}
    rows = []
    for rule_id, (rule, pack) in rules.items():
        county_doc = pack.document_of(rule) is not pack.document
        document = pack.document_of(rule)
        area = document.areas[rule.area - 1]
        rows.append((rule_id, to_simplified(rule.spec.title), rule.spec.article, rule.area + (100 if county_doc else 0),
                     to_simplified(area.department)))
    names = ("rule", "title", "rule_article", "area_key", "area_department")
    return pa.table({name: [row[i] for row in rows] for i, name in enumerate(names)})


PRICED = """
CREATE TEMP TABLE priced AS
SELECT r.run, r.subject_id, r.rule, r.kind, r.department, COALESCE(r.county, '(未知)') AS county, r.amount,
       f.weight, f.subject_kind, COALESCE(f.chain, '(未填)') AS chain, f.size_band,
       i.title, i.rule_article, i.area_key, i.area_department,
       r.kind <> 'tax' AND r.amount IS NOT NULL AS spend,
       CAST(r.amount AS DECIMAL(38, 2)) * f.weight AS weighted
FROM (SELECT 'baseline' AS run, * FROM baseline_rows UNION ALL SELECT 'reform' AS run, * FROM reform_rows) r
JOIN subject_facts f USING (subject_id)
JOIN rule_info i USING (rule)
"""

SUBJECT_DIFFERENCES = """
CREATE TEMP TABLE subject_diff AS
SELECT subject_id, subject_kind AS kind, county, chain AS industry_chain, size_band, weight,
       CAST(COALESCE(SUM(amount) FILTER (WHERE run = 'baseline' AND spend), 0) AS DECIMAL(38, 2)) AS baseline,
       CAST(COALESCE(SUM(amount) FILTER (WHERE run = 'reform' AND spend), 0) AS DECIMAL(38, 2)) AS reform,
       CAST(COALESCE(SUM(amount) FILTER (WHERE run = 'reform' AND spend), 0)
          - COALESCE(SUM(amount) FILTER (WHERE run = 'baseline' AND spend), 0) AS DECIMAL(38, 2)) AS difference,
       CAST(COALESCE(SUM(amount) FILTER (WHERE run = 'baseline' AND kind = 'tax'), 0) AS DECIMAL(38, 2)) AS tax_baseline,
       CAST(COALESCE(SUM(amount) FILTER (WHERE run = 'reform' AND kind = 'tax'), 0) AS DECIMAL(38, 2)) AS tax_reform
FROM priced GROUP BY ALL ORDER BY subject_id
"""

# Parsed once: `_compare` builds seven queries from copies of them.
COMPARED = tuple(sqlglot.parse_one(text) for text in (
    "COALESCE(SUM(weight) FILTER (WHERE run = 'baseline'), 0)",
    "COALESCE(SUM(weighted) FILTER (WHERE run = 'baseline'), 0)",
    "COALESCE(SUM(weight) FILTER (WHERE run = 'reform'), 0)",
    "COALESCE(SUM(weighted) FILTER (WHERE run = 'reform'), 0)",
))

SIDE = """
WITH side AS (
    SELECT difference, weight,
           SUM(weight) OVER (ORDER BY difference, subject_id ROWS UNBOUNDED PRECEDING) AS cumulative,
           SUM(weight) OVER () AS total
    FROM subject_diff WHERE sign(difference) = ?
)
SELECT COALESCE(SUM(weight), 0), COALESCE(SUM(CAST(difference AS DECIMAL(38, 2)) * weight), 0), MIN(difference),
       MIN(difference) FILTER (WHERE cumulative >= 0.1 * total), MIN(difference) FILTER (WHERE cumulative >= 0.25 * total),
       MIN(difference) FILTER (WHERE cumulative >= 0.5 * total), MIN(difference) FILTER (WHERE cumulative >= 0.75 * total),
       MIN(difference) FILTER (WHERE cumulative >= 0.9 * total), MAX(difference)
FROM side
"""


def _compare(con, keys: list[str], only_spend: bool, order: list[str] | None = None) -> list[Line]:
    """Counts and amounts before and after, grouped by `keys` (columns of `priced`, named here)."""
    query = exp.select(*(exp.column(key) for key in keys), *(aggregate.copy() for aggregate in COMPARED))
    query = query.from_("priced")
    if only_spend:
        query = query.where("spend")
    if keys:
        query = query.group_by(*(exp.column(key) for key in keys)).order_by(*(exp.column(key) for key in order or keys))
    return [
        Line(tuple(row[: len(keys)]), *(Decimal(value) for value in row[len(keys):]))
        for row in con.execute(query.sql(dialect="duckdb", copy=False)).fetchall()
    ]


def summarise(con, reform: Reform, facts: Facts, out: Path, private: Path) -> ReformSummary:
    con.execute("SET preserve_insertion_order = true")  # the differences file in subject_id order
    con.register("rule_info", _rule_info(reform))
    con.execute(PRICED)
    con.execute(SUBJECT_DIFFERENCES)
    by_rule = _compare(con, ["rule", "title", "rule_article", "kind"], only_spend=False, order=["rule_article", "rule"])
    spend = _compare(con, [], only_spend=True)[0]
    by_area = _areas(reform, _compare(con, ["area_key", "area_department"], only_spend=True))
    by_department = _compare(con, ["department"], only_spend=True)
    by_county = _compare(con, ["county"], only_spend=True)
    by_chain = _compare(con, ["chain"], only_spend=True) if facts.chain else None
    by_size_band = _size_bands(con) if facts.revenue else None
    gainers, losers = _side(con, 1), _side(con, -1)
    subjects = Decimal(con.execute("SELECT COALESCE(SUM(weight), 0) FROM subject_facts").fetchall()[0][0])
    notes = []
    if not facts.chain:
        notes.append(f"主体表无 industry_chain(或 chain)列:按产业链的分布{NOT_GIVEN}")
    if not facts.revenue:
        notes.append(f"主体表无 revenue 列:按规模(营收十分位)的分布{NOT_GIVEN}")
    if reform.proposals:
        notes.append(f"新增的提案规则 {'、'.join(sorted(reform.proposals))} 不是现行条文,其条文为提案文字")
    result = private / "differences.parquet"
    con.execute(copy_to(exp.select("*").from_("subject_diff"), result, "parquet"))
    rows = con.execute("SELECT count(*) FROM subject_diff").fetchall()[0][0]
    open_written(con, result)
    write_output(con, result, out, private, rows, (), {})
    return ReformSummary(
        title=reform.title, weighted=facts.weighted, subjects=subjects, spend=spend, by_rule=by_rule,
        by_area=by_area, by_department=by_department, by_county=by_county, by_chain=by_chain,
        by_size_band=by_size_band, stated_total=reform.baseline.document.stated_total, gainers=gainers,
        losers=losers, unchanged=subjects - gainers.count - losers.count, rows_written=rows, notes=tuple(notes),
    )


def _areas(reform: Reform, lines: list[Line]) -> list[AreaLine]:
    """Area lines beside each area's budget (areas of a county document numbered after the city's)."""
    pack = reform.baseline
    found = []
    for line in lines:
        key, department = line.key
        if key > 100 and pack.county_layer is not None:
            area = pack.county_layer.document.areas[key - 101]
        else:
            area = pack.document.areas[key - 1]
        found.append(AreaLine(key if key < 100 else key - 100, department, area.budget, line))
    return found


def _size_bands(con) -> list[Line]:
    lines = _compare(con, ["size_band"], only_spend=True)
    query = "SELECT size_band, MIN(revenue), MAX(revenue) FROM subject_facts WHERE size_band IS NOT NULL GROUP BY 1"
    ranges = {band: (low, high) for band, low, high in con.execute(query).fetchall()}
    return [
        dataclasses.replace(line, key=(line.key[0], *ranges.get(line.key[0], (None, None)))) for line in lines
    ]


def _side(con, sign: int) -> Side:
    row = con.execute(SIDE, [sign]).fetchall()[0]
    return Side(
        count=Decimal(row[0]), amount=Decimal(row[1]), smallest=row[2],
        quantiles={name: value for (name, _), value in zip(QUANTILES, row[3:8], strict=True)}, largest=row[8],
    )


def cents(amount: Decimal) -> Decimal:
    """A weighted amount as shown: to the 分, half up (the exact value stays in the summary)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def summary_dict(summary: ReformSummary) -> dict:
    """The summary as JSON-ready data (`zhida reform --json`, a web page): amounts as exact decimal text."""

    def line(item: Line) -> dict:
        return {
            "key": [_plain(part) for part in item.key],
            "baseline": {"count": _count(item.base_count), "amount": _plain(item.base_amount)},
            "reform": {"count": _count(item.new_count), "amount": _plain(item.new_amount)},
            "change": _plain(item.change),
        }

    def side(item: Side) -> dict:
        return {
            "count": _count(item.count), "amount": _plain(item.amount), "smallest": _plain(item.smallest),
            "quantiles": {name: _plain(value) for name, value in item.quantiles.items()}, "largest": _plain(item.largest),
        }

    return {
        "title": summary.title, "weighted": summary.weighted, "subjects": _count(summary.subjects),
        "spend": line(summary.spend), "stated_total": _plain(summary.stated_total),
        "by_rule": [line(item) for item in summary.by_rule],
        "by_area": [{"area": area.number, "department": area.department, "budget": _plain(area.budget), **line(area.line)}
                    for area in summary.by_area],
        "by_department": [line(item) for item in summary.by_department],
        "by_county": [line(item) for item in summary.by_county],
        "by_chain": None if summary.by_chain is None else [line(item) for item in summary.by_chain],
        "by_size_band": None if summary.by_size_band is None else [line(item) for item in summary.by_size_band],
        "gainers": side(summary.gainers), "losers": side(summary.losers), "unchanged": _count(summary.unchanged),
        "rows_written": summary.rows_written, "notes": list(summary.notes),
    }


def fit_dict(result: FitResult) -> dict:
    return {
        "parameter": result.parameter.written, "budget": str(result.budget.yuan), "area": result.budget.area,
        "baseline_value": str(result.baseline_value), "value": _plain(result.value), "spend": _plain(result.spend),
        "steps": [{"value": str(step.value), "spend": _plain(step.spend)} for step in result.steps],
        "rules": list(result.rules), "message": result.message,
    }


def _plain(value: object) -> object:
    """A Decimal as its exact text, with no more places than it needs beyond the 分 (weighted sums carry
    eight: 84000.00000000 is written 84000.00); other values (text, numbers, None) as they are."""
    if not isinstance(value, Decimal):
        return value
    return str(value.quantize(CENT)) if value == value.quantize(CENT) else str(value.normalize())


def _count(value: Decimal) -> str:
    """A (weighted) count as exact text: 3, or 2.5 for a sample."""
    return str(value.to_integral_value()) if value == value.to_integral_value() else str(value.normalize())


# ---------------------------------------------------------------- the fit


def parse_budget(text: str, pack: Pack) -> Budget:
    """`--budget`: an area's number (1…8) or name (its Chinese numeral or a word of its title), or an amount in 元."""
    written = text.strip()
    areas = pack.document.areas
    numerals = "一二三四五六七八九十"
    for area in areas:
        names = {str(area.number), numerals[area.number - 1] if area.number <= 10 else ""}
        title = to_simplified(area.title)
        if written in names or (len(written) >= 2 and written in title):
            if area.budget is None:
                raise ReformError(f"--budget {text}: 第 {area.number} 领域({title})没有写明预算")
            return Budget(area.budget, area.number, f"第 {area.number} 领域 {title} 预算")
    try:
        yuan = read_money(written, "--budget")
    except MoneyError as error:
        raise ReformError(f"{error};或写领域编号 1–{len(areas)}、领域名称") from None
    if yuan <= 0:
        raise ReformError(f"--budget {text}: 预算须大于 0")
    return Budget(yuan, None, "预算")


def fit(
    reform: Reform,
    parameter: Parameter,
    budget: Budget,
    subjects: Path,
    events: Path,
    out: Path,
    step: Decimal | None = None,
    memory_limit: str = "1GB",
    on_step: Callable[[FitStep], None] | None = None,
    *,
    where: Where = HERE,
    baseline: Baseline | None = None,
) -> tuple[FitResult, ReformSummary]:
    """Bisect the parameter until the reformed spend meets the budget (within one 分 or one step),
    then price the reform at that value over the whole register (OUT: its per-subject differences).
    Every step is one exact run on `where`'s engine, which holds the register between steps."""
    _check_out(out, where)

    def body(con, private: Path) -> tuple[FitResult, ReformSummary]:
        with _opened(con, reform.baseline, subjects, events, private, where) as (facts, rows):
            result = _bisect(con, rows, reform, parameter, budget, step or parameter.step, on_step)
            value = result.value if result.value is not None else result.baseline_value
            fitted = dataclasses.replace(
                reform, reformed=with_parameter(reform.reformed, parameter, value),
                touched=reform.touched | parameter_rules(reform.reformed, parameter),
            )
            _price(con, rows, fitted, baseline)
        return result, summarise(con, fitted, facts, out, private)

    return in_private_directory(out, memory_limit, body)


def _compared_rules(pack: Pack, parameter: Parameter, budget: Budget) -> frozenset[str]:
    """The rules whose spend meets the budget: an area's (its money rules), else the parameter's and those
    tied to them by a shared cap."""
    if budget.area is not None:
        return frozenset(
            rule.id for rule in pack.rules
            if rule.area == budget.area and rule.layer is Layer.BASE and rule.spec.kind is not Kind.TAX
        )
    return linked_rules(pack.rules, parameter_rules(pack, parameter))


def _spend_at(
    con, rows: Rows, pack: Pack, parameter: Parameter, budget: Budget, value: Decimal
) -> tuple[Decimal, frozenset[str]]:
    """The weighted spend of the compared rules with the parameter at `value`: one exact batch run."""
    changed = with_parameter(pack, parameter, value)
    compared = _compared_rules(changed, parameter, budget)
    linked = linked_rules(changed.rules, compared)
    rules = tuple(rule for rule in changed.rules if rule.id in linked)
    if not rules:
        return Decimal(0), compared
    rows(dataclasses.replace(changed, rules=rules), "fit_rows")
    total = con.execute(
        "SELECT COALESCE(SUM(CAST(r.amount AS DECIMAL(38, 2)) * f.weight), 0) FROM fit_rows r "
        "JOIN subject_facts f USING (subject_id) WHERE r.kind <> 'tax' AND list_contains(?, r.rule)",
        [sorted(compared)],
    ).fetchall()[0][0]
    return Decimal(total), compared


def _bisect(con, rows: Rows, reform: Reform, parameter: Parameter, budget: Budget, step: Decimal,
            on_step: Callable[[FitStep], None] | None) -> FitResult:
    pack = reform.reformed
    start = parameter_value(pack, parameter)
    steps: list[FitStep] = []
    compared: frozenset[str] = frozenset()

    def spend(value: Decimal) -> Decimal:
        nonlocal compared
        amount, compared = _spend_at(con, rows, pack, parameter, budget, value)
        found = FitStep(value, amount)
        steps.append(found)
        if on_step:
            on_step(found)
        return amount

    def done(value, amount, other, message) -> FitResult:
        return FitResult(parameter, budget, start, value, amount, other, tuple(steps), tuple(sorted(compared)), message)

    low = step if parameter.attribute == "yuan" else Decimal(0)  # a cap of 0 元 is no cap the loader accepts
    high = max(start, Decimal(1) if parameter.attribute == "rate" else step)
    high = _on_grid(high, step, up=True)
    at_low, at_high = spend(low), spend(high)
    rising = at_high >= at_low
    # Widen until the budget lies between the two ends (a ceiling or a bound may need to grow).
    for _ in range(MAX_DOUBLINGS):
        if rising and at_high < budget.yuan:
            low, at_low = high, at_high
        elif not rising and at_high > budget.yuan:
            low, at_low = high, at_high  # a falling spend: the old high end is over the budget too
        else:
            break
        high = high * 2
        at_high = spend(high)
        if at_high == at_low:
            break  # the spend no longer moves (every claim at its cap): doubling again changes nothing
    fits = FitStep(low, at_low) if rising else FitStep(high, at_high)  # the end whose spend is lowest
    over = FitStep(high, at_high) if rising else FitStep(low, at_low)
    if fits.spend > budget.yuan:
        return done(None, None, fits, f"参数取到 {fits.value} 时支出 {cents(fits.spend)} 元仍超过预算,区间内无解")
    if over.spend <= budget.yuan:
        return done(None, None, over, f"参数取到 {over.value} 时支出 {cents(over.spend)} 元仍未达到预算,区间内无解")
    while len(steps) < MAX_FIT_STEPS:
        if abs(fits.spend - budget.yuan) <= CENT:
            return done(fits.value, fits.spend, None, "支出与预算相差不超过 1 分")
        middle = _on_grid((fits.value + over.value) / 2, step, up=False)
        if middle in (fits.value, over.value):
            return done(fits.value, fits.spend, over, f"已到参数精度 {step}:再进一步即超出预算")
        amount = spend(middle)
        if amount <= budget.yuan:
            fits = FitStep(middle, amount)
        else:
            over = FitStep(middle, amount)
    return done(fits.value, fits.spend, over, f"已达最多 {MAX_FIT_STEPS} 步")


def _on_grid(value: Decimal, step: Decimal, up: bool) -> Decimal:
    """`value` on the grid of `step` (a multiple of it), rounded down, or up with `up`."""
    units = (value / step).to_integral_value(rounding="ROUND_CEILING" if up else "ROUND_FLOOR")
    return (units * step).quantize(step) if step < 1 else units * step
