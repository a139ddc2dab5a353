"""免申即享 under several packs at once: a register matched against the city's and the province's documents.

In: packs that `check_together` accepts (a county overlay brings its city's rules), a register
(subjects, events) holding the events of all of them, an output file. Out: the rows `zhida match`
writes for one pack, in the same columns, then `pack` (the document that pays the row), `layer`
(base / county) and what stacking decided: `stacking` (stacks, higher, or undeclared where two
packs pay with no `stacking:` between them; NULL where no other pack pays for the event),
`dropped` (就高不重复 gave this row 0) and `stacking_note` (the trace's words). Every row is what
`calculate_several` says for its subject, to the 分 (tests/test_match_several.py).

How, exactly and at SQL speed:
1. The register is opened once for all packs (`register_pack`): a subject kind or an event type is
   known if some pack declares it, an event carries the fields of every pack declaring its type,
   and a choice field takes the values all of them allow (as `cases_from_data` checks an event in
   each pack).
2. Each pack's compiled query (`compile_pack`) runs over those same tables. Its branches read only
   its own event types and its join keeps only its own subject kinds (and an overlay's county), so
   it sees the case `cases_from_data` gives that pack, and it gives `calculate(pack, case)`
   (tests/test_batch.py, tests/test_overlays.py).
3. A subject with an event for which two packs have rows is re-evaluated in Python with
   `calculate_several` (its register rows read back by a join on the subjects found, no text
   pasted), and its rows replace the SQL rows.

Why the SQL rows stand for every other subject: `calculate_several` changes an entitlement only
for an event on which rules of two packs both have an entitlement (`_decide`: stacked, the lower
dropped and its caps given back) or which two packs both pay (`_undecided`: noted). Each pack's
caps are counted in that pack's own tally, and events are taken in date order in every pack as in
the calculator. A subject none of whose events has rows from two packs is therefore given, pack by
pack, exactly `calculate(pack, case)`: its SQL rows. The subjects re-evaluated are a superset of
those stacking touches (an overlap of two rows paying 0 is one too): one more is slower, never wrong.

Limit: an event type two packs declare for different subject kinds is opened with the fields of
both, so the register must carry both packs' fields for it (a case would need only its packs').
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from zhida.engine.batch import BatchPlan, compile_pack, event_columns
from zhida.engine.case import CaseError
from zhida.engine.match import (
    COLUMN_TITLES,
    area_totals,
    county_and_kind_totals,
    copy_to,
    in_private_directory,
    materialise,
    open_written,
    run,
    write_output,
)
from zhida.engine.register import RegisterError, open_register
from zhida.engine.several import Several, calculate_several, check_together, stacking_lines
from zhida.rules.model import CapScope, EventField, EventType, Rule
from zhida.rules.pack import Pack
from zhida.source.script import to_simplified

UNDECLARED = "undeclared"  # two packs pay for one event and no `stacking:` decides between them
# The Excel headers of the added columns (Parquet and CSV keep the keys).
SEVERAL_COLUMN_TITLES = {
    **COLUMN_TITLES,
    "pack": "政策包", "layer": "层级", "stacking": "重叠处理", "dropped": "不予兑现", "stacking_note": "重叠说明",
}
ADDED_COLUMNS = ("pack", "layer", "stacking", "dropped", "stacking_note")
ORDER_COLUMNS = ("pack_order", "rule_order")  # sort keys, not written
FLUSH_ROWS = 50_000  # rows of re-evaluated subjects written to Parquet at a time


@dataclass(frozen=True)
class SeveralSummary:
    rows: int
    total: Decimal  # every amount added up, whatever its kind: for checks, not for readers
    by_pack: list[tuple]  # pack (the document that pays), layer, kind, count, amount — kinds never summed
    by_rule: list[tuple]  # pack, rule, article, department, count, amount
    by_area: list[tuple]  # selected pack, area, lead department, count, amount, budget, share (%)
    by_county: list[tuple]  # county, count, amount
    by_kind: dict[str, tuple[int, Decimal]]
    by_stacking: list[tuple]  # stacking (stacks / higher / undeclared …), rows, rows dropped
    reevaluated: int  # subjects re-evaluated with calculate_several


def match_several(
    packs: list[Pack] | tuple[Pack, ...],
    subjects: Path,
    events: Path,
    out: Path,
    progress: Callable[[float], None] | None = None,
    memory_limit: str = "1GB",
    written: Callable[[int, int], None] | None = None,
    reevaluated: Callable[[int, int], None] | None = None,
) -> SeveralSummary:
    """The register under every pack, the overlaps decided; PackError for packs that cannot go
    together, BatchError for a pack the batch cannot compute, RegisterError for bad input."""
    packs = tuple(packs)
    check_together(packs)
    union = register_pack(packs)
    plans = [compile_pack(pack) for pack in packs]

    def body(con: duckdb.DuckDBPyConnection, private: Path) -> SeveralSummary:
        return _match(con, packs, plans, union, subjects, events, out, private, progress, written, reevaluated)

    return in_private_directory(out, memory_limit, body)


def register_pack(packs: tuple[Pack, ...]) -> Pack:
    """One pack's worth of subject kinds and event types, read by `open_register` for all the packs."""
    subjects: dict[str, str] = {}
    events: dict[str, EventType] = {}
    for pack in packs:
        for kind, title in pack.subjects.items():
            subjects.setdefault(kind, title)
        for event in pack.events.values():
            known = events.get(event.name)
            events[event.name] = event if known is None else _merged(known, event)
    union = dataclasses.replace(packs[0], subjects=subjects, events=events, id="+".join(pack.id for pack in packs))
    event_columns(union)  # one type per field name over all the packs' event types, or BatchError
    return union


def _merged(first: EventType, second: EventType) -> EventType:
    """An event type two packs declare: the kinds of both, the fields of both, a choice's values both allow."""
    fields = {field.name: field for field in first.fields}
    for field in second.fields:
        known = fields.get(field.name)
        fields[field.name] = field if known is None else _narrowest(known, field)
    subjects = tuple(dict.fromkeys((*first.subjects, *second.subjects)))
    return first.model_copy(update={"subjects": subjects, "fields": tuple(fields.values())})


def _narrowest(first: EventField, second: EventField) -> EventField:
    values = tuple(value for value in first.values if value in second.values)
    minimums = [value for value in (first.minimum, second.minimum) if value is not None]
    return first.model_copy(update={"values": values, "minimum": max(minimums) if minimums else None})


def _match(
    con: duckdb.DuckDBPyConnection,
    packs: tuple[Pack, ...],
    plans: list[BatchPlan],
    union: Pack,
    subjects: Path,
    events: Path,
    out: Path,
    private: Path,
    progress: Callable[[float], None] | None,
    written: Callable[[int, int], None] | None,
    reevaluated: Callable[[int, int], None] | None,
) -> SeveralSummary:
    open_register(con, union, subjects, events)
    con.execute("SET preserve_insertion_order = false")
    materialise(con)
    for order, plan in enumerate(plans):
        # Through DuckDB's relation API, as zhida.engine.match does: the query text is pasted nowhere.
        con.sql(plan.sql).create_view(f"entitlements_{order}", replace=True)
    columns = [row[0] for row in con.execute(exp.Describe(this=_table("entitlements_0")).sql(dialect="duckdb")).fetchall()]
    batch = private / "batch.parquet"
    run(con, copy_to(_every_pack(packs, columns), batch, "parquet"), progress)
    _create(con, "overlapping", _overlapping(batch), table=True)
    several = private / "several.parquet"
    count = _reevaluate(con, packs, several, events, reevaluated)
    result = private / "result.parquet"
    con.execute(copy_to(_combined(con, batch, several, columns), result, "parquet"))
    open_written(con, result)
    summary = _summary(con, packs, count)
    titles = {(rule.pack, rule.id): to_simplified(rule.spec.title) for pack in packs for rule in pack.rules}
    write_output(con, result, out, private, summary.rows, ("pack", "rule"), titles, written, SEVERAL_COLUMN_TITLES)
    return summary


# ---------------------------------------------------------------- the SQL rows


def _every_pack(packs: tuple[Pack, ...], columns: list[str]) -> exp.Query:
    """Every pack's rows with the paying document, its layer and the sort keys; stacking not yet decided."""
    selects = []
    for order, pack in enumerate(packs):
        rules = exp.values(
            [(rule.id, number, rule.pack or pack.id, rule.layer.value) for number, rule in enumerate(pack.rules)],
            alias="m",
            columns=["rule", "rule_order", "pack", "layer"],
        )
        selects.append(
            exp.select(
                *(exp.column(name, table="e", quoted=True) for name in columns),
                exp.column("pack", table="m", quoted=True),
                exp.column("layer", table="m", quoted=True),
                exp.alias_(exp.cast(exp.null(), "VARCHAR"), "stacking", quoted=True),
                exp.alias_(exp.false(), "dropped", quoted=True),
                exp.alias_(exp.cast(exp.null(), "VARCHAR"), "stacking_note", quoted=True),
                exp.alias_(exp.Literal.number(order), "pack_order", quoted=True),
                exp.column("rule_order", table="m", quoted=True),
            )
            .from_(exp.alias_(_table(f"entitlements_{order}"), "e", table=True))
            .join(rules, on=exp.EQ(this=exp.column("rule", table="e", quoted=True), expression=exp.column("rule", table="m", quoted=True)))
        )
    query: exp.Query = selects[0]
    for select in selects[1:]:
        query = exp.union(query, select, distinct=False)
    return query


def _overlapping(batch: Path) -> exp.Select:
    """The subjects with an event for which two packs have rows."""
    events = (
        exp.select(_col("subject_id"))
        .from_(exp.Table(this=_read_parquet(batch)))
        .group_by(_col("subject_id"), _col("event_id"))
        .having(exp.GT(this=exp.Count(this=exp.Distinct(expressions=[_col("pack_order")])), expression=exp.Literal.number(1)))
    )
    return exp.select(_col("subject_id")).distinct().from_(events.subquery("found"))


def _combined(con: duckdb.DuckDBPyConnection, batch: Path, several: Path, columns: list[str]) -> exp.Select:
    """The SQL rows of the subjects without overlap, the re-evaluated rows of the others, in order:
    subject, date, event, then the packs in the order given and each pack's rules in its order."""
    names = [*columns, *ADDED_COLUMNS, *ORDER_COLUMNS]
    types = {row[0]: row[1] for row in con.execute(
        exp.Describe(this=exp.select("*").from_(exp.Table(this=_read_parquet(batch))).subquery()).sql(dialect="duckdb")
    ).fetchall()}
    kept = (
        exp.select(*(_col(name) for name in names))
        .from_(exp.Table(this=_read_parquet(batch)))
        .where(exp.not_(_col("subject_id").isin(query=exp.select(_col("subject_id")).from_(_table("overlapping")))))
    )
    replaced = exp.select(
        *(exp.alias_(exp.cast(_col(name), exp.DataType.build(types[name], dialect="duckdb")), name, quoted=True) for name in names)
    ).from_(exp.Table(this=_read_parquet(several)))
    both = exp.union(kept, replaced, distinct=False).subquery("rows")
    order = ("subject_id", "date", "event_id", "pack_order", "rule_order")
    return (
        exp.select(*(_col(name) for name in [*columns, *ADDED_COLUMNS]))
        .from_(both)
        .order_by(*(exp.Ordered(this=_col(name), nulls_first=False) for name in order))
    )


# ---------------------------------------------------------------- the subjects re-evaluated


ROW_SCHEMA = pa.schema([
    ("subject_id", pa.string()), ("event_id", pa.string()), ("date", pa.date32()), ("rule", pa.string()),
    ("article", pa.int64()), ("kind", pa.string()), ("amount", pa.decimal128(18, 2)),
    ("tax_due", pa.decimal128(18, 2)), ("caps_hit", pa.string()), ("in_validity", pa.bool_()),
    ("department", pa.string()), ("county", pa.string()), ("carrier", pa.string()), ("pack", pa.string()),
    ("layer", pa.string()), ("stacking", pa.string()), ("dropped", pa.bool_()), ("stacking_note", pa.string()),
    ("pack_order", pa.int64()), ("rule_order", pa.int64()),
])


def _reevaluate(
    con: duckdb.DuckDBPyConnection,
    packs: tuple[Pack, ...],
    path: Path,
    events_file: Path,
    reevaluated: Callable[[int, int], None] | None,
) -> int:
    """Every overlapping subject through `calculate_several`, its rows written to `path`; how many."""
    on = exp.EQ(this=exp.column("subject_id", table="s", quoted=True), expression=exp.column("subject_id", table="o", quoted=True))
    subjects_query = (
        exp.select(*(exp.column(name, table="s", quoted=True) for name in ("subject_id", "kind", "county")))
        .from_(exp.alias_(_table("subjects"), "s", table=True))
        .join(exp.alias_(_table("overlapping"), "o", table=True), on=on)
    )
    subjects = {subject_id: (kind, county) for subject_id, kind, county in con.execute(subjects_query.sql(dialect="duckdb")).fetchall()}
    events_query = (
        exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("s")))
        .from_(exp.alias_(_table("events"), "s", table=True))
        .join(exp.alias_(_table("overlapping"), "o", table=True), on=on)
        .order_by(*(exp.column(name, table="s", quoted=True) for name in ("subject_id", "date", "event_id")))
    )
    cursor = con.execute(events_query.sql(dialect="duckdb"))
    names = [column[0] for column in cursor.description]
    fields = _declared_fields(packs)
    orders = [{rule.id: number for number, rule in enumerate(pack.rules)} for pack in packs]
    done = 0
    buffer: list[dict] = []
    if reevaluated:
        reevaluated(0, len(subjects))
    with pq.ParquetWriter(path, ROW_SCHEMA) as writer:
        for subject_id, rows in _by_subject(cursor, names):
            kind, county = subjects[subject_id]
            data = _case_data(subject_id, kind, county, rows, fields)
            try:
                several = calculate_several(packs, data, f"主体 {subject_id}")
            except CaseError as error:
                raise RegisterError(f"{events_file}: {error}") from None
            buffer += _rows(several, packs, orders, county)
            done += 1
            if len(buffer) >= FLUSH_ROWS:
                writer.write_table(pa.Table.from_pylist(buffer, ROW_SCHEMA))
                buffer = []
            if reevaluated and done % 100 == 0:
                reevaluated(done, len(subjects))
        writer.write_table(pa.Table.from_pylist(buffer, ROW_SCHEMA))
    if reevaluated:
        reevaluated(done, len(subjects))
    return done


def _by_subject(cursor: duckdb.DuckDBPyConnection, names: list[str]) -> Iterator[tuple[str, list[dict]]]:
    """The events fetched in batches, grouped by subject (they come sorted by subject)."""
    current: str | None = None
    rows: list[dict] = []
    while batch := cursor.fetchmany(10_000):
        for values in batch:
            row = dict(zip(names, values, strict=True))
            if row["subject_id"] != current and rows:
                yield current, rows
                rows = []
            current = row["subject_id"]
            rows.append(row)
    if rows:
        yield current, rows


def _declared_fields(packs: tuple[Pack, ...]) -> dict[tuple[str, str], list[str]]:
    """(subject kind, event type) -> the fields the packs declaring that type for that kind read."""
    fields: dict[tuple[str, str], list[str]] = {}
    for pack in packs:
        for event in pack.events.values():
            for kind in event.subjects:
                names = fields.setdefault((kind, event.name), [])
                names += [field.name for field in event.fields if field.name not in names]
    return fields


def _case_data(subject_id: str, kind: str, county: str | None, rows: list[dict], fields: dict) -> dict:
    """A subject's register rows as the case `cases_from_data` reads (values as DuckDB typed them)."""
    subject = {"id": subject_id, "kind": kind}
    if county is not None and county.strip():
        subject["county"] = county
    events = [
        {"id": row["event_id"], "type": row["type"], "date": row["date"],
         **{name: row[name] for name in fields.get((kind, row["type"]), [])}}
        for row in rows
    ]
    return {"subject": subject, "events": events}


def _rows(several: Several, packs: tuple[Pack, ...], orders: list[dict[str, int]], county: str | None) -> list[dict]:
    """One output row per entitlement, as the batch writes it, with what stacking decided."""
    position = {pack.id: number for number, pack in enumerate(packs)}
    rows = []
    for pack, result in several.results:
        for item in result.entitlements:
            rule = item.rule
            modes = [
                overlap.mode.value if overlap.mode is not None else UNDECLARED
                for overlap in several.overlaps
                if overlap.event == item.event.id and rule.reference in (*overlap.kept, *overlap.dropped)
            ]
            notes = stacking_lines(item)
            rows.append({
                "subject_id": result.case.subject.id, "event_id": item.event.id, "date": item.event.date,
                "rule": rule.id, "article": rule.spec.article, "kind": rule.spec.kind.value,
                "amount": item.amount, "tax_due": item.tax_due, "caps_hit": ",".join(item.caps_hit),
                "in_validity": item.in_validity, "department": to_simplified(rule.department), "county": county,
                "carrier": _carrier(rule, item.event.values), "pack": rule.pack or pack.id, "layer": rule.layer.value,
                "stacking": "、".join(dict.fromkeys(modes)) or None, "dropped": item.dropped is not None,
                "stacking_note": ";".join(notes) or None,
                "pack_order": position[pack.id], "rule_order": orders[position[pack.id]][rule.id],
            })
    return rows


def _carrier(rule: Rule, values: dict) -> str | None:
    """The holder of the rule's first per-carrier cap (the batch's `carrier`), else None."""
    cap = next((cap for cap in rule.caps if cap.per is CapScope.CARRIER_YEAR), None)
    if cap is None or values.get(cap.carrier_field) is None:
        return None
    value = values[cap.carrier_field]
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


# ---------------------------------------------------------------- the summary


def _summary(con: duckdb.DuckDBPyConnection, packs: tuple[Pack, ...], reevaluated: int) -> SeveralSummary:
    """Totals of the written result by paying pack and kind, rule, area, county, kind and stacking."""
    documents = list(dict.fromkeys(rule.pack or pack.id for pack in packs for rule in pack.rules))
    owner = {rule.pack or pack.id: pack for pack in packs for rule in pack.rules}
    rows, total = con.execute("SELECT count(*), COALESCE(SUM(amount), 0) FROM written").fetchone()
    by_pack = con.execute(
        "SELECT pack, layer, kind, count(*), COALESCE(SUM(amount), 0) FROM written GROUP BY ALL ORDER BY layer, kind"
    ).fetchall()
    by_pack.sort(key=lambda row: documents.index(row[0]))
    by_rule = con.execute(
        "SELECT pack, rule, article, department, count(*), COALESCE(SUM(amount), 0) FROM written "
        "GROUP BY ALL ORDER BY article, rule"
    ).fetchall()
    by_rule.sort(key=lambda row: documents.index(row[0]))
    by_area = []
    for pack in packs:
        mine = [(rule, count, amount) for document, rule, _, _, count, amount in by_rule if owner[document] is pack]
        by_area += [(pack.id, *area) for area in area_totals(pack, mine)]
    by_county, by_kind = county_and_kind_totals(con)
    by_stacking = con.execute(
        "SELECT stacking, count(*), count(*) FILTER (WHERE dropped) FROM written "
        "WHERE stacking IS NOT NULL GROUP BY stacking ORDER BY stacking"
    ).fetchall()
    return SeveralSummary(rows, Decimal(total), by_pack, by_rule, by_area, by_county, by_kind, by_stacking, reevaluated)


# ---------------------------------------------------------------- SQL trees


def _col(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def _table(name: str) -> exp.Table:
    return exp.Table(this=exp.to_identifier(name, quoted=True))


def _read_parquet(path: Path) -> exp.Expression:
    return exp.Anonymous(this="read_parquet", expressions=[exp.Literal.string(str(path))])


def _create(con: duckdb.DuckDBPyConnection, name: str, query: exp.Query, table: bool = False) -> None:
    create = exp.Create(
        this=_table(name), kind="TABLE" if table else "VIEW", replace=True,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]), expression=query,
    )
    con.execute(create.sql(dialect="duckdb"))

