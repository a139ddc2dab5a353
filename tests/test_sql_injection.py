"""A policy pack cannot inject SQL into the batch query (issue 8).

Two walls. The pack refuses, at load time, any name that is not a plain identifier
(rule, cap, event type, field, carrier field, subject kind), naming the file and key.
And behind that wall the batch compiler builds its query as a tree, so that a hostile
name or value that got past the model anyway comes out of DuckDB, PostgreSQL and
Spark SQL as data, verbatim, and is never executed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import uuid
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import sqlglot
import yaml
from conftest import postgres_connection
from sqlglot import exp
from typer.testing import CliRunner

from zhida.cli import app
from zhida.engine.batch import SQL_TYPES, BatchError, cases_to_arrow, compile_pack
from zhida.engine.calculate import calculate
from zhida.engine.case import case_from_data
from zhida.rules.model import FieldType
from zhida.rules.pack import Pack, PackError, load_pack

ROOT = Path(__file__).resolve().parents[1]
PACK_DIRECTORY = ROOT / "policies" / "huzhou-2025"
PACK = load_pack(PACK_DIRECTORY)

# The issue's cap id: it passed `zhida check` and made `zhida match` print /etc/passwd.
PASSWD = "x' || (SELECT string_agg(column0, ',') FROM read_csv('/etc/passwd', header = false)) || '"
NAME_RULE = "不合规:须以小写英文字母开头,只含小写英文字母、数字和单个 - 或 _,最长 64 个字符"


# --- wall 1: the pack refuses names that are not plain identifiers -------------------------------


def _copy_pack(tmp_path: Path) -> Path:
    target = tmp_path / "pack"
    shutil.copytree(PACK_DIRECTORY, target, ignore=shutil.ignore_patterns("tests"))
    return target


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _index(items: list[dict], key: str, value: str) -> int:
    return next(i for i, item in enumerate(items) if item[key] == value)


AREA_1 = "rules/1-education-science-talent.yaml"
AREA_3 = "rules/3-services.yaml"


def _rule_key(data: dict, rule_id: str, key: str, value) -> None:
    data["rules"][_index(data["rules"], "id", rule_id)][key] = value


def _cap_key(data: dict, cap_id: str, key: str, value) -> None:
    data["caps"][_index(data["caps"], "id", cap_id)][key] = value


def _event(data: dict, name: str) -> dict:
    return data["events"][_index(data["events"], "name", name)]


def _loc(path: str, items: str, key: str, value: str, *rest: str) -> str:
    """The pydantic location of a key, as the loader reports it (items.<index>.key…)."""
    data = yaml.safe_load((PACK_DIRECTORY / path).read_text(encoding="utf-8"))
    return ".".join([items, str(_index(data[items], key, value)), *rest])


@pytest.mark.parametrize(
    "file, change, where, hostile",
    [
        (
            AREA_1,
            lambda d: _cap_key(d, "innovation-voucher-annual", "id", PASSWD),
            _loc(AREA_1, "caps", "id", "innovation-voucher-annual", "id"),
            PASSWD,
        ),
        (
            AREA_1,
            lambda d: _rule_key(d, "high-tech-first", "id", "x' || (SELECT 1) || '"),
            _loc(AREA_1, "rules", "id", "high-tech-first", "id"),
            "x' || (SELECT 1) || '",
        ),
        (
            AREA_1,
            lambda d: _rule_key(d, "high-tech-first", "event", "high_tech_recognition'--"),
            _loc(AREA_1, "rules", "id", "high-tech-first", "event"),
            "high_tech_recognition'--",
        ),
        (
            AREA_1,
            lambda d: _rule_key(d, "high-tech-first", "subject", ["enterprise", 'ent"; DROP TABLE subjects']),
            _loc(AREA_1, "rules", "id", "high-tech-first", "subject", "1"),
            'ent"; DROP TABLE subjects',
        ),
        (
            AREA_1,
            lambda d: _rule_key(d, "innovation-voucher", "caps", ["innovation-voucher-annual]"]),
            _loc(AREA_1, "rules", "id", "innovation-voucher", "caps", "0"),
            "innovation-voucher-annual]",
        ),
        (
            AREA_1,
            lambda d: _cap_key(d, "incubation-carrier-annual", "carrier_field", "carrier) OR (1=1"),
            _loc(AREA_1, "caps", "id", "incubation-carrier-annual", "carrier_field"),
            "carrier) OR (1=1",
        ),
        (
            "events.yaml",
            lambda d: _event(d, "innovation_voucher").update(name="innovation voucher"),
            _loc("events.yaml", "events", "name", "innovation_voucher", "name"),
            "innovation voucher",
        ),
        (
            "events.yaml",
            lambda d: _event(d, "innovation_voucher")["fields"][0].update(name='service_fee"'),
            _loc("events.yaml", "events", "name", "innovation_voucher", "fields", "0", "name"),
            'service_fee"',
        ),
        (
            "events.yaml",
            lambda d: _event(d, "innovation_voucher").update(subjects=["Enterprise"]),
            _loc("events.yaml", "events", "name", "innovation_voucher", "subjects", "0"),
            "Enterprise",
        ),
        (
            AREA_1,
            lambda d: _rule_key(d, "high-tech-first", "id", "r" * 65),
            _loc(AREA_1, "rules", "id", "high-tech-first", "id"),
            "r" * 65,
        ),
    ],
    ids=["cap-id", "rule-id", "rule-event", "rule-subject", "rule-cap", "carrier-field", "event-name",
         "field-name", "event-subject-kind", "too-long"],
)
def test_a_name_that_is_not_an_identifier_is_refused_naming_file_and_key(tmp_path, file, change, where, hostile):
    pack = _copy_pack(tmp_path)
    _edit(pack / file, change)
    with pytest.raises(PackError) as error:
        load_pack(pack)
    assert str(error.value) == f"{pack / file}: {where}: 名称 {hostile!r} {NAME_RULE}"


def test_a_subject_kind_key_that_is_not_an_identifier_is_refused(tmp_path):
    pack = _copy_pack(tmp_path)
    _edit(pack / "events.yaml", lambda d: d["subjects"].update({"bank'--": "银行"}))
    with pytest.raises(PackError, match=r"events\.yaml: subjects\.bank'--\.\[key\]: 名称 .*不合规"):
        load_pack(pack)


def test_a_name_of_64_characters_is_accepted(tmp_path):
    pack = _copy_pack(tmp_path)
    longest = "high-tech-first-" + "x" * 48
    _edit(pack / AREA_1, lambda d: _rule_key(d, "high-tech-first", "id", longest))
    assert load_pack(pack).rule(longest).spec.article == 2


def test_zhida_check_refuses_the_issue_pack_with_exit_2(tmp_path):
    pack = _copy_pack(tmp_path)
    _edit(pack / AREA_1, lambda d: _cap_key(d, "innovation-voucher-annual", "id", PASSWD))
    result = CliRunner().invoke(app, ["check", "--pack", str(pack)], terminal_width=400)
    assert result.exit_code == 2
    assert "1-education-science-talent.yaml" in result.output and "不合规" in result.output
    assert "root:" not in result.output


# --- an apostrophe in a choice value is data all the way through --------------------------------


def test_a_choice_value_with_an_apostrophe_works_end_to_end(tmp_path):
    pack_path = _copy_pack(tmp_path)
    _edit(pack_path / "events.yaml", lambda d: _event(d, "trade_in_appliance")["fields"][0]["values"].append("it's"))
    _edit(pack_path / AREA_3, lambda d: _rule_key(d, "appliance-grade-1", "when", "grade = 'it''s'"))
    pack = load_pack(pack_path)
    case = case_from_data(
        {
            "subject": {"id": "P1", "kind": "consumer"},
            "events": [
                {"id": "a", "type": "trade_in_appliance", "date": "2025-04-01", "grade": "it's", "price": 20000},
                {"id": "b", "type": "trade_in_appliance", "date": "2025-04-02", "grade": "一级", "price": 5000},
            ],
        },
        pack,
    )
    subjects, events = cases_to_arrow(pack, [case])
    con = duckdb.connect()
    con.register("subjects", subjects)
    con.register("events", events)
    rows = [(row[1], row[3], row[6], row[8]) for row in con.sql(compile_pack(pack).sql).fetchall()]
    # 按售价的20%给予补贴,每件最高不超过2000元: 20% of 20000 is 4000, capped at 2000;
    # "一级" no longer meets the edited rule.
    assert rows == [("a", "appliance-grade-1", Decimal("2000.00"), "appliance-item")]
    entitlements = calculate(pack, case).entitlements
    single = [(item.event.id, item.rule.id, item.amount, ",".join(item.caps_hit)) for item in entitlements]
    assert single == rows


# --- wall 2: names and values that got past the model are data, never SQL ------------------------

RULE_IDS = ("x' || (SELECT 1) || '", 'x" || (SELECT 1) || "', "a]; DROP TABLE events; --")
CAP_IDS = ("it's", "back\\slash' --", "q`uote]")
DEPARTMENT = "市'科技局\"]; --"
EVENT = "e' OR '1'='1"
KIND = "k' OR 1=1 --"
FEE = 'fee" || (SELECT 1) || "'
CARRIER = "car`rier]\"';"
CHOICE = "it's a ' -- \\ \"choice\";"


def _hostile_pack() -> Pack:
    """Three rules whose names and values are hostile, built without the model's validation."""
    voucher, appliance, cultivate = (
        PACK.rule(rule_id) for rule_id in ("innovation-voucher", "appliance-grade-1", "cultivate-high-tech")
    )
    fee = exp.Mul(this=exp.Literal.number("0.5"), expression=exp.column(FEE))
    grade = exp.EQ(this=exp.column("grade"), expression=exp.Literal.string(CHOICE))
    rules = (
        voucher.model_copy(update={
            "spec": voucher.spec.model_copy(update={"id": RULE_IDS[0], "event": EVENT, "subject": (KIND,)}),
            "amount": dataclasses.replace(voucher.amount, tree=fee, fields=frozenset({FEE})),
            "caps": tuple(cap.model_copy(update={"id": CAP_IDS[0]}) for cap in voucher.caps),
            "department": DEPARTMENT,
        }),
        appliance.model_copy(update={
            "spec": appliance.spec.model_copy(update={"id": RULE_IDS[1]}),
            "when": dataclasses.replace(appliance.when, tree=grade),
            "caps": tuple(cap.model_copy(update={"id": CAP_IDS[1]}) for cap in appliance.caps),
            "department": DEPARTMENT,
        }),
        cultivate.model_copy(update={
            "spec": cultivate.spec.model_copy(update={"id": RULE_IDS[2]}),
            "caps": tuple(
                cap.model_copy(update={"id": CAP_IDS[2], "carrier_field": CARRIER, "yuan": Decimal(50000)})
                for cap in cultivate.caps
            ),
            "department": DEPARTMENT,
        }),
    )
    return dataclasses.replace(PACK, rules=rules)


HOSTILE_PACK = _hostile_pack()
# Column -> (SQL type, values); the events of the three rules, and one of another type that no rule reads.
EVENT_COLUMNS: dict[str, tuple[str, list]] = {
    "event_id": ("VARCHAR", ["v1", "v2", "a1", "a2", "c1", "c2", "x1"]),
    "subject_id": ("VARCHAR", ["S1", "S1", "S2", "S2", "S3", "S3", "S1"]),
    "type": ("VARCHAR", [EVENT, EVENT, "trade_in_appliance", "trade_in_appliance", "incubation_cultivation",
                         "incubation_cultivation", "innovation_voucher"]),
    "date": ("DATE", [dt.date(2025, 3, 1), dt.date(2025, 6, 1), dt.date(2025, 4, 1), dt.date(2025, 4, 2),
                      dt.date(2025, 5, 1), dt.date(2025, 5, 2), dt.date(2025, 7, 1)]),
    FEE: (SQL_TYPES[FieldType.MONEY], [Decimal(300000), Decimal(300000), None, None, None, None, Decimal(9)]),
    "grade": ("VARCHAR", [None, None, CHOICE, "一级", None, None, None]),
    "price": (SQL_TYPES[FieldType.MONEY], [None, None, Decimal(20000), Decimal(20000), None, None, None]),
    CARRIER: ("VARCHAR", [None, None, None, None, "C'1", "C'1", None]),
    "firm_type": ("VARCHAR", [None, None, None, None, "高新技术企业(首次认定)", "高新技术企业(首次认定)", None]),
    "in_incubation": ("BOOLEAN", [None, None, None, None, True, True, None]),
}
SUBJECT_COLUMNS: dict[str, tuple[str, list]] = {
    "subject_id": ("VARCHAR", ["S1", "S2", "S3"]),
    "kind": ("VARCHAR", [KIND, "consumer", "incubator"]),
    "county": ("VARCHAR", [None, None, None]),
}
# subject, event, rule, amount, caps hit, department
EXPECTED = [
    # 50% of 300000 = 150000, twice, under an annual cap of 200000: 150000, then the 50000 left.
    ("S1", "v1", RULE_IDS[0], Decimal("150000.00"), "", DEPARTMENT),
    ("S1", "v2", RULE_IDS[0], Decimal("50000.00"), CAP_IDS[0], DEPARTMENT),
    # 20% of 20000 = 4000, capped at 2000 per item; a2's grade is not the hostile choice.
    ("S2", "a1", RULE_IDS[1], Decimal("2000.00"), CAP_IDS[1], DEPARTMENT),
    # 30000 per firm, the carrier's annual cap lowered to 50000: 30000, then 20000.
    ("S3", "c1", RULE_IDS[2], Decimal("30000.00"), "", DEPARTMENT),
    ("S3", "c2", RULE_IDS[2], Decimal("20000.00"), CAP_IDS[2], DEPARTMENT),
]


def _arrow(columns: dict[str, tuple[str, list]]) -> pa.Table:
    types = {
        "VARCHAR": pa.string(), "DATE": pa.date32(), "BOOLEAN": pa.bool_(),
        SQL_TYPES[FieldType.MONEY]: pa.decimal128(18, 2),
    }
    return pa.table({name: pa.array(values, types[sql_type]) for name, (sql_type, values) in columns.items()})


def _picked(rows) -> list[tuple]:
    """subject, event, rule, amount, caps hit, department; engines differ in a numeric's scale."""
    return [(r[0], r[1], r[3], Decimal(r[6]).quantize(Decimal("0.01")), r[8] or "", r[10]) for r in rows]


def test_hostile_names_come_out_of_duckdb_as_data():
    plan = compile_pack(HOSTILE_PACK)
    for hostile in (*RULE_IDS, *CAP_IDS, DEPARTMENT, EVENT, KIND, CHOICE):
        if "'" in hostile:  # escaped: the quote does not end the literal
            assert hostile not in plan.sql and hostile.replace("'", "''") in plan.sql
    con = duckdb.connect()
    con.from_arrow(_arrow(SUBJECT_COLUMNS)).create("subjects")
    con.from_arrow(_arrow(EVENT_COLUMNS)).create("events")
    assert _picked(con.sql(plan.sql).fetchall()) == EXPECTED
    assert con.sql("SELECT count(*) FROM events").fetchall() == [(7,)]


@pytest.mark.parametrize(
    "tree, message",
    [
        (sqlglot.parse_one("read_csv('/etc/passwd') IS NOT NULL", read="duckdb"), "不允许的结构"),
        (exp.GT(this=exp.column("price"), expression=exp.Literal(this="0 OR 1=1", is_string=False)), "不是数值"),
        (exp.Case(this=exp.to_identifier("x; DROP TABLE events"), ifs=[]), "不是字段"),
    ],
    ids=["function", "number", "identifier"],
)
def test_a_rule_tree_outside_the_whitelist_is_refused_by_the_compiler(tree, message):
    # The pack checks every expression when it loads; the compiler checks again what it grafts into SQL.
    rule = PACK.rule("appliance-grade-1")
    broken = rule.model_copy(update={"when": dataclasses.replace(rule.when, tree=tree)})
    with pytest.raises(BatchError, match=f"规则 appliance-grade-1:.*{message}"):
        compile_pack(dataclasses.replace(PACK, rules=(broken,)))


def test_hostile_names_come_out_of_postgres_as_data():
    pytest.importorskip("psycopg")
    from psycopg import sql

    connection = postgres_connection()
    schema = sql.Identifier(f"zhida_{uuid.uuid4().hex[:8]}")
    with connection:
        cursor = connection.cursor()
        cursor.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
        try:
            cursor.execute(sql.SQL("SET search_path TO {}").format(schema))
            for table, columns in (("subjects", SUBJECT_COLUMNS), ("events", EVENT_COLUMNS)):
                _postgres_table(cursor, sql, table, columns)
            cursor.execute(compile_pack(HOSTILE_PACK).sql_for("postgres"))
            rows = cursor.fetchall()
            cursor.execute("SELECT count(*) FROM events")
            assert cursor.fetchone() == (7,)
        finally:
            cursor.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(schema))
    assert _picked(rows) == EXPECTED


def _postgres_table(cursor, sql, table: str, columns: dict[str, tuple[str, list]]) -> None:
    """Create and fill a table through psycopg's composed SQL: the hostile column names are identifiers."""
    names = [sql.Identifier(name) for name in columns]
    definitions = [
        sql.SQL("{} {}").format(name, sql.SQL(sql_type)) for name, (sql_type, _) in zip(names, columns.values())
    ]
    cursor.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(table), sql.SQL(", ").join(definitions)))
    copy_statement = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), sql.SQL(", ").join(names))
    with cursor.copy(copy_statement) as copy:
        for row in zip(*(values for _, values in columns.values())):
            copy.write_row(row)


def test_hostile_names_come_out_of_spark_sql_as_data(spark):
    from pyspark.sql import types as spark_types

    spark_type = {
        "VARCHAR": spark_types.StringType(), "DATE": spark_types.DateType(), "BOOLEAN": spark_types.BooleanType(),
        SQL_TYPES[FieldType.MONEY]: spark_types.DecimalType(18, 2),
    }
    for table, columns in (("subjects", SUBJECT_COLUMNS), ("events", EVENT_COLUMNS)):
        schema = spark_types.StructType(
            [spark_types.StructField(name, spark_type[sql_type]) for name, (sql_type, _) in columns.items()]
        )
        rows = list(zip(*(values for _, values in columns.values())))
        spark.createDataFrame(rows, schema).createOrReplaceTempView(table)
    got = _picked(spark.sql(compile_pack(HOSTILE_PACK).sql_for("spark")).collect())
    assert got == EXPECTED
