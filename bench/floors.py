"""Hand-written floors for the batch benchmark: the same 42 rules of the Huzhou pack, written
once by hand for speed, producing the same entitlements table as zhida's match (same 12 columns,
same types, same order: subject_id, date, event_id, rule order), from the same Parquet files.

- `floor_sql`: one hand-written DuckDB query. It exploits what a rule compiler cannot assume in
  general: in this pack each event matches at most one rule, so one CASE over the event type
  picks the rule and its amount in a single scan (no UNION of 42 branches), and only the claims
  under an annual cap go through a window.
- `floor_numpy`: the same in numpy with integer 分 (pyarrow reads and writes the files; amounts
  are read straight from the decimal128 buffers and written back to decimal128 the same way).

Neither checks its input (zhida's match does: that cost is reported as its own phase).
Both depend only on numpy, pyarrow and duckdb, never on zhida.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# (rule id, order in the pack, article, kind, department, cap id or "")
RULES = [
    ("lab-new", 0, 1, "ceiling", "市科技局", ""),
    ("rd-institution-four-star", 1, 1, "ceiling", "市科技局", ""),
    ("rd-institution-five-star", 2, 1, "ceiling", "市科技局", ""),
    ("high-tech-first", 3, 2, "ceiling", "市科技局", "high-tech-first-per-firm"),
    ("high-tech-renewal", 4, 2, "ceiling", "市科技局", "high-tech-renewal-per-firm"),
    ("plan-key-rd", 5, 2, "ceiling", "市科技局", ""),
    ("plan-tackling", 6, 2, "ceiling", "市科技局", ""),
    ("plan-public-welfare", 7, 2, "ceiling", "市科技局", ""),
    ("plan-natural-science", 8, 2, "ceiling", "市科技局", ""),
    ("rd-intensity-list", 9, 2, "qualification", "市科技局", ""),
    ("innovation-voucher", 10, 3, "ceiling", "市科技局", "innovation-voucher-annual"),
    ("incubator-national", 11, 4, "ceiling", "市科技局", ""),
    ("incubator-provincial", 12, 4, "ceiling", "市科技局", ""),
    ("maker-space-filing", 13, 4, "ceiling", "市科技局", ""),
    ("cultivate-high-tech", 14, 4, "exact", "市科技局", "incubation-carrier-annual"),
    ("cultivate-national-sme", 15, 4, "exact", "市科技局", "incubation-carrier-annual"),
    ("cultivate-provincial-sme", 16, 4, "exact", "市科技局", "incubation-carrier-annual"),
    ("award-national-top", 17, 5, "ceiling", "市科技局", ""),
    ("award-national-special", 18, 5, "ceiling", "市科技局", ""),
    ("award-national-first", 19, 5, "ceiling", "市科技局", ""),
    ("award-national-second", 20, 5, "ceiling", "市科技局", ""),
    ("patent-gold", 21, 5, "ceiling", "市科技局", ""),
    ("patent-silver", 22, 5, "ceiling", "市科技局", ""),
    ("patent-excellence", 23, 5, "ceiling", "市科技局", ""),
    ("award-provincial-grand", 24, 5, "ceiling", "市科技局", ""),
    ("award-provincial-ip", 25, 5, "ceiling", "市科技局", ""),
    ("award-provincial-first", 26, 5, "ceiling", "市科技局", ""),
    ("award-provincial-second", 27, 5, "ceiling", "市科技局", ""),
    ("award-provincial-third", 28, 5, "ceiling", "市科技局", ""),
    ("trade-in-nev", 29, 17, "ceiling", "市发展改革委", ""),
    ("trade-in-fuel", 30, 17, "ceiling", "市发展改革委", ""),
    ("appliance-grade-1", 31, 17, "exact", "市发展改革委", "appliance-item"),
    ("appliance-grade-2", 32, 17, "exact", "市发展改革委", "appliance-item"),
    ("furniture-ordinary", 33, 17, "exact", "市发展改革委", "furniture-item"),
    ("furniture-efficient", 34, 17, "exact", "市发展改革委", "furniture-item"),
    ("digital-products", 35, 17, "exact", "市发展改革委", "digital-item"),
    ("software-two-three", 36, 21, "tax", "市发展改革委", ""),
    ("key-software-five-ten", 37, 21, "tax", "市发展改革委", ""),
    ("hr-service-institution", 38, 21, "ceiling", "市发展改革委", "hr-service-per-institution"),
    ("hr-park-new", 39, 21, "ceiling", "市发展改革委", ""),
    ("export-credit-insurance", 40, 30, "floor", "市商务局", "export-insurance-annual"),
    ("agri-mortgage-risk", 41, 40, "ceiling", "市农业农村局", "agri-risk-per-bank"),
]
RESEARCHER = "('enterprise', 'institution')"

# ---------------------------------------------------------------- DuckDB

_PICK = f"""CASE e.type
      WHEN 'trade_in_appliance' THEN CASE WHEN s.kind = 'consumer' THEN CASE e.grade WHEN '一级' THEN 31 WHEN '二级' THEN 32 END END
      WHEN 'trade_in_digital' THEN CASE WHEN s.kind = 'consumer' AND e.price <= 6000 THEN 35 END
      WHEN 'trade_in_furniture' THEN CASE WHEN s.kind = 'consumer' THEN CASE WHEN e.efficient THEN 34 ELSE 33 END END
      WHEN 'trade_in_car' THEN CASE WHEN s.kind = 'consumer' THEN CASE e.vehicle WHEN '新能源汽车' THEN 29 WHEN '燃油车' THEN 30 END END
      WHEN 'rd_report' THEN CASE WHEN s.kind = 'enterprise' AND e.revenue > 0 AND e.rd_expense > 0.05 * e.revenue THEN 9 END
      WHEN 'innovation_voucher' THEN CASE WHEN s.kind = 'enterprise' THEN 10 END
      WHEN 'export_credit_insurance' THEN CASE WHEN s.kind = 'enterprise' THEN 40 END
      WHEN 'high_tech_recognition' THEN CASE WHEN s.kind = 'enterprise' THEN CASE e.recognition WHEN '首次认定' THEN 3 WHEN '重新认定' THEN 4 END END
      WHEN 'software_income_tax' THEN CASE WHEN s.kind = 'enterprise' THEN
          CASE WHEN e.status = '符合条件的软件企业' AND e.profit_year <= 5 THEN 36 WHEN e.status = '国家鼓励的重点软件企业' THEN 37 END END
      WHEN 'incubation_cultivation' THEN CASE WHEN s.kind = 'incubator' AND e.in_incubation THEN
          CASE e.firm_type WHEN '高新技术企业(首次认定)' THEN 14 WHEN '国家科技型中小企业(首次认定)' THEN 15 WHEN '省级科技型中小企业' THEN 16 END END
      WHEN 'incubator_recognition' THEN CASE WHEN s.kind = 'incubator' THEN
          CASE WHEN e.carrier_type = '科技企业孵化器' AND e.level = '国家级' THEN 11
               WHEN e.carrier_type = '科技企业孵化器' AND e.level = '省级' THEN 12
               WHEN e.carrier_type = '众创空间' AND e.level IN ('国家级', '省级') THEN 13 END END
      WHEN 'science_project' THEN CASE WHEN s.kind IN {RESEARCHER} THEN
          CASE e.plan WHEN '市级重点研发计划' THEN 5 WHEN '科技攻关计划' THEN 6 WHEN '公益性技术研究' THEN 7 WHEN '市自然科学资金项目' THEN 8 END END
      WHEN 'science_award' THEN CASE WHEN s.kind IN {RESEARCHER} THEN
          CASE WHEN e.award = '省科学技术大奖' THEN 24 WHEN e.award = '省知识产权大奖' THEN 25 WHEN e.lead_unit THEN
            CASE e.award WHEN '国家最高科学技术奖' THEN 17 WHEN '国家科学技术奖特等奖' THEN 18 WHEN '国家科学技术奖一等奖' THEN 19
              WHEN '国家科学技术奖二等奖' THEN 20 WHEN '省科学技术奖一等奖' THEN 26 WHEN '省科学技术奖二等奖' THEN 27
              WHEN '省科学技术奖三等奖' THEN 28 END END END
      WHEN 'patent_award' THEN CASE WHEN s.kind IN {RESEARCHER} AND e.first_inventor_unit THEN
          CASE e.medal WHEN '金奖' THEN 21 WHEN '银奖' THEN 22 WHEN '优秀奖' THEN 23 END END
      WHEN 'lab_recognition' THEN CASE WHEN s.kind = 'enterprise' THEN 0 END
      WHEN 'rd_institution_rating' THEN CASE WHEN s.kind IN {RESEARCHER} THEN CASE e.stars WHEN 4 THEN 1 WHEN 5 THEN 2 END END
      WHEN 'hr_service_support' THEN CASE WHEN s.kind = 'enterprise' AND e.qualified THEN 38 END
      WHEN 'hr_park_new' THEN CASE WHEN s.kind IN {RESEARCHER} AND e.level IN ('国家级', '省级') THEN 39 END
      WHEN 'agri_mortgage_loan' THEN CASE WHEN s.kind = 'bank' AND e.loan > 0 THEN 41 END
    END"""

# The amount before any annual cap, rounded half up to the 分 (DuckDB's ROUND on a DECIMAL).
_AMOUNT = """CASE WHEN NOT valid THEN 0 ELSE CASE r
      WHEN 31 THEN ROUND(LEAST(0.20 * price, 2000), 2) WHEN 32 THEN ROUND(LEAST(0.15 * price, 2000), 2)
      WHEN 33 THEN ROUND(LEAST(0.15 * price, 2000), 2) WHEN 34 THEN ROUND(LEAST(0.20 * price, 2000), 2)
      WHEN 35 THEN ROUND(LEAST(0.15 * price, 500), 2) WHEN 29 THEN 15000 WHEN 30 THEN 13000
      WHEN 10 THEN ROUND(0.5 * service_fee, 2) WHEN 40 THEN ROUND(0.6 * premium, 2)
      WHEN 36 THEN ROUND(CASE WHEN profit_year <= 2 THEN 0.25 ELSE 0.125 END * taxable_income, 2)
      WHEN 37 THEN ROUND(CASE WHEN profit_year <= 5 THEN 0.25 ELSE 0.15 END * taxable_income, 2)
      WHEN 21 THEN 300000 * patents WHEN 22 THEN 150000 * patents WHEN 23 THEN 100000 * patents
      WHEN 0 THEN 10000000 WHEN 1 THEN 300000 WHEN 2 THEN 500000 WHEN 3 THEN 200000 WHEN 4 THEN 100000
      WHEN 5 THEN 500000 WHEN 6 THEN 100000 WHEN 7 THEN 100000 WHEN 8 THEN 20000
      WHEN 11 THEN 300000 WHEN 12 THEN 100000 WHEN 13 THEN 50000 WHEN 14 THEN 30000 WHEN 15 THEN 5000 WHEN 16 THEN 3000
      WHEN 17 THEN 5000000 WHEN 18 THEN 3000000 WHEN 19 THEN 2000000 WHEN 20 THEN 1000000 WHEN 24 THEN 1000000
      WHEN 25 THEN 300000 WHEN 26 THEN 500000 WHEN 27 THEN 300000 WHEN 28 THEN 100000
      WHEN 38 THEN 500000 WHEN 39 THEN 2000000 WHEN 41 THEN ROUND(LEAST(loan, 1000000), 2) END END"""
_ITEM_HIT = """CASE WHEN valid THEN CASE
      WHEN r IN (31, 34) AND 0.20 * price > 2000 THEN (CASE r WHEN 31 THEN 'appliance-item' ELSE 'furniture-item' END)
      WHEN r IN (32, 33) AND 0.15 * price > 2000 THEN (CASE r WHEN 32 THEN 'appliance-item' ELSE 'furniture-item' END)
      WHEN r = 35 AND 0.15 * price > 500 THEN 'digital-item' END END"""
_TAX_DUE = """CASE WHEN valid THEN CASE r
      WHEN 36 THEN ROUND(CASE WHEN profit_year <= 2 THEN 0 ELSE 0.125 * taxable_income END, 2)
      WHEN 37 THEN ROUND(CASE WHEN profit_year <= 5 THEN 0 ELSE 0.10 * taxable_income END, 2) END END"""


CAPPED_TYPES = ("high_tech_recognition", "innovation_voucher", "incubator_recognition", "incubation_cultivation",
                "hr_service_support", "export_credit_insurance", "agri_mortgage_loan")  # every rule of these types has an annual cap
# The annual caps in two levels, as the pack stacks them (rule order -> (cap id, yuan, per carrier)): a
# high-tech firm's first or renewed recognition, then its status cap; a maker space's own cap, then the
# 30万 a carrier may receive per year for all its incubation awards.
LEVEL_1 = {3: ("high-tech-first-per-firm", 200000, False), 4: ("high-tech-renewal-per-firm", 100000, False),
           10: ("innovation-voucher-annual", 200000, False), 13: ("maker-space-per-carrier", 50000, True),
           38: ("hr-service-per-institution", 500000, False), 40: ("export-insurance-annual", 1000000, False),
           41: ("agri-risk-per-bank", 1000000, False)}
LEVEL_2 = {3: ("high-tech-status-per-firm", 200000, False), 4: ("high-tech-status-per-firm", 200000, False),
           **{r: ("incubation-carrier-annual", 300000, True) for r in range(11, 17)}}
TAX_YEARS = (2020, 2025)  # the software rules (36, 37) are valid by the tax year, not the filing date


def _level(level: dict, previous: str, k: int, source: str) -> str:
    """One level of annual caps: c_k (cap id), l_k (limit), g_k (carrier) by rule; a_k what the cap keeps of a_(k-1)."""
    cap_id = " ".join(f"WHEN {r} THEN '{cap}'" for r, (cap, _, _) in level.items())
    limit = " ".join(f"WHEN {r} THEN {yuan}" for r, (_, yuan, _) in level.items())
    carried = ", ".join(str(r) for r, (_, _, per_carrier) in level.items() if per_carrier)
    return f"""SELECT *, CAST(CASE WHEN c{k} IS NULL THEN {previous}
      ELSE LEAST(t{k}, l{k}) - LEAST(t{k} - {previous}, l{k}) END AS DECIMAL(18, 2)) AS a{k}
  FROM (SELECT *, SUM({previous}) OVER (PARTITION BY c{k}, subject_id, g{k}, YEAR(date) ORDER BY date, event_id, r
                                        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS t{k}
        FROM (SELECT *, CASE r {cap_id} END AS c{k}, CASE r {limit} END AS l{k},
                CASE WHEN r IN ({carried}) THEN CAST(carrier AS VARCHAR) END AS g{k} FROM {source}))"""


def floor_sql_query(subjects: Path, events: Path) -> str:
    rules = ", ".join(f"({order}, '{rid}', {article}, '{kind}', '{dept}')" for rid, order, article, kind, dept, _ in RULES)
    capped_types = ", ".join(f"'{t}'" for t in CAPPED_TYPES)

    def claims(where: str) -> str:
        # Two scans split on the event type (pushed into the Parquet reader), so that no CTE is read
        # twice: DuckDB would materialise it, 10M rows at a time.
        return f"""SELECT subject_id, event_id, date, county, r, valid, carrier,
      CAST({_AMOUNT} AS DECIMAL(18, 2)) AS a0, {_ITEM_HIT} AS item_hit, CAST({_TAX_DUE} AS DECIMAL(18, 2)) AS tax_due
    FROM (
      SELECT e.subject_id, e.event_id, e.date, s.county, e.carrier, e.price, e.service_fee, e.premium, e.taxable_income,
        e.profit_year, e.patents, e.loan,
        CASE WHEN e.type = 'software_income_tax' THEN e.tax_year BETWEEN {TAX_YEARS[0]} AND {TAX_YEARS[1]}
             ELSE e.date BETWEEN DATE '2025-01-01' AND DATE '2025-12-31' END AS valid,
        {_PICK} AS r
      FROM read_parquet('{events}') AS e JOIN read_parquet('{subjects}') AS s ON s.subject_id = e.subject_id
      WHERE {where}
    ) WHERE r IS NOT NULL"""

    return f"""
WITH plain AS (
  SELECT subject_id, event_id, date, county, r, valid, CASE WHEN r = 9 THEN NULL ELSE a0 END AS amount, tax_due,
    COALESCE(item_hit, '') AS caps_hit, CAST(NULL AS VARCHAR) AS carrier
  FROM ({claims(f"e.type NOT IN ({capped_types})")})
),
level_1 AS ({_level(LEVEL_1, "a0", 1, f"({claims(f'e.type IN ({capped_types})')})")}),
level_2 AS ({_level(LEVEL_2, "a1", 2, "level_1")}),
capped AS (
  SELECT subject_id, event_id, date, county, r, valid, a2 AS amount, tax_due,
    CONCAT_WS(',', CASE WHEN a1 < a0 THEN c1 END, CASE WHEN a2 < a1 THEN c2 END) AS caps_hit, COALESCE(g1, g2) AS carrier
  FROM level_2
)
SELECT c.subject_id, c.event_id, c.date, m.rule, m.article, m.kind, c.amount, c.tax_due, c.caps_hit, c.valid AS in_validity,
  m.department, c.county, c.carrier
FROM (SELECT * FROM plain UNION ALL SELECT * FROM capped) AS c
JOIN (VALUES {rules}) AS m(rule_order, rule, article, kind, department) ON m.rule_order = c.r
ORDER BY c.subject_id, c.date, c.event_id, c.r"""


def floor_sql(subjects: Path, events: Path, out: Path, memory_limit: str | None = None) -> dict:
    """The hand-written query; `memory_limit` (e.g. 1GB, zhida's default) makes DuckDB spill beside OUT."""
    import duckdb

    start = time.perf_counter()
    config = {"memory_limit": memory_limit, "temp_directory": str(out.parent / "floor-spill")} if memory_limit else {}
    con = duckdb.connect(config=config)
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"COPY ({floor_sql_query(subjects, events)}) TO '{out}' (FORMAT parquet)")
    rows = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]
    return {"rows": rows, "phases": {"query+write": time.perf_counter() - start}}


# ---------------------------------------------------------------- DuckDB, with the input checks


def _schema() -> tuple[list[str], dict[str, dict]]:
    """The pack's subject kinds and event types (with their fields), read from its YAML files, not through zhida."""
    import yaml

    folder = Path(__file__).resolve().parents[1] / "src" / "zhida" / "policies" / "huzhou-2025"
    kinds: list[str] = []
    types: dict[str, dict] = {}
    for path in [folder / "events.yaml", *sorted(folder.glob("events-*.yaml"))]:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        kinds += list(data.get("subjects") or {})
        types |= {event["name"]: event for event in data.get("events") or []}
    return kinds, types


def _quoted(values) -> str:
    return ", ".join("'" + str(value).replace("'", "''") + "'" for value in values)


def _field_problem(field: dict) -> str:
    """The condition that a value of this field is missing or not allowed (zhida's field checks)."""
    name = field["name"]
    problems = [f"{name} IS NULL"]
    if field["type"] in ("money", "number"):
        problems.append(f"{name} < 0")
    elif field["type"] == "integer" and field.get("minimum") is not None:
        problems.append(f"{name} < {field['minimum']}")
    elif field["type"] == "choice":
        problems.append(f"{name} NOT IN ({_quoted(field['values'])})")
    return " OR ".join(problems)


def floor_checks(con, subjects: Path, events: Path) -> None:
    """zhida's input checks for a Parquet register whose columns already have the right types, hand-written
    in as few scans as a person would: blank keys and unknown kinds of subjects in one scan, blank keys and
    every type's field problems in one scan of the events, the types by GROUP BY, one GROUP BY per id for
    duplicates, one join for events whose subject is missing or of a kind the type does not apply to.
    Raises ValueError at the first problem (a floor names no line)."""
    kinds, types = _schema()
    blank = "regexp_full_match({0}, '[\\s\\p{{Z}}]*')"
    read_s = f"read_parquet('{subjects}', file_row_number = true)"
    read_e = f"read_parquet('{events}', file_row_number = true)"
    found = con.execute(f"""SELECT
        MIN(file_row_number) FILTER (WHERE subject_id IS NULL OR {blank.format('subject_id')}),
        MIN(file_row_number) FILTER (WHERE kind IS NULL OR kind NOT IN ({_quoted(kinds)}))
      FROM {read_s}""").fetchone()
    if any(row is not None for row in found):
        raise ValueError(f"subjects: bad key or kind at {found}")
    present = dict(con.execute(f"SELECT type, MIN(file_row_number) FROM {read_e} GROUP BY type").fetchall())
    unknown = [row for name, row in present.items() if name not in types]
    if unknown:
        raise ValueError(f"events: unknown type at row {min(unknown)}")
    probes = [f"MIN(file_row_number) FILTER (WHERE event_id IS NULL OR {blank.format('event_id')})",
              f"MIN(file_row_number) FILTER (WHERE subject_id IS NULL OR {blank.format('subject_id')})",
              "MIN(file_row_number) FILTER (WHERE date IS NULL)"]
    for name in present:
        fields = types[name].get("fields") or []
        if fields:
            problem = " OR ".join(f"({_field_problem(field)})" for field in fields)
            probes.append(f"MIN(file_row_number) FILTER (WHERE type = '{name}' AND ({problem}))")
    found = con.execute(f"SELECT {', '.join(probes)} FROM {read_e}").fetchone()
    if any(row is not None for row in found):
        raise ValueError(f"events: bad key or field at {found}")
    for path, key in ((events, "event_id"), (subjects, "subject_id")):
        if con.execute(f"SELECT {key} FROM read_parquet('{path}') GROUP BY {key} HAVING count(*) > 1 LIMIT 1").fetchone():
            raise ValueError(f"{path}: duplicate {key}")
    applies = ", ".join(f"('{name}', '{kind}')" for name, event in types.items() for kind in event["subjects"])
    found = con.execute(f"""SELECT e.file_row_number FROM {read_e} AS e
        LEFT JOIN read_parquet('{subjects}') AS s ON s.subject_id = e.subject_id
        LEFT JOIN (VALUES {applies}) AS a(type, kind) ON a.type = e.type AND a.kind = s.kind
        WHERE s.subject_id IS NULL OR a.type IS NULL LIMIT 1""").fetchone()
    if found:
        raise ValueError(f"events: subject missing or of another kind at row {found[0]}")


def floor_sql_checked(subjects: Path, events: Path, out: Path) -> dict:
    """`floor_sql` after `floor_checks`: the hand-written floor when it, too, checks its input."""
    import duckdb

    start = time.perf_counter()
    con = duckdb.connect()
    floor_checks(con, subjects, events)
    checked = time.perf_counter()
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"COPY ({floor_sql_query(subjects, events)}) TO '{out}' (FORMAT parquet)")
    rows = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]
    return {"rows": rows, "phases": {"checks": checked - start, "query+write": time.perf_counter() - checked}}


# ---------------------------------------------------------------- numpy, integer 分

EVENT_COLUMNS = [
    "event_id", "subject_id", "type", "date", "carrier", "price", "grade", "efficient", "vehicle", "rd_expense", "revenue",
    "service_fee", "premium", "recognition", "status", "taxable_income", "profit_year", "in_incubation", "firm_type",
    "carrier_type", "level", "plan", "award", "lead_unit", "medal", "first_inventor_unit", "patents", "stars", "qualified", "loan",
    "tax_year",
]
D2025_FROM = (np.datetime64("2025-01-01") - np.datetime64("1970-01-01")).astype(np.int64)
D2025_TO = (np.datetime64("2025-12-31") - np.datetime64("1970-01-01")).astype(np.int64)


def _cents(column: pa.ChunkedArray) -> np.ndarray:
    """A decimal128(18, 2) column as int64 分 (the low word of each 16-byte value; nulls as 0)."""
    array = column.combine_chunks()
    words = np.frombuffer(array.buffers()[1], dtype=np.int64, count=2 * (array.offset + len(array)))[2 * array.offset :: 2]
    if array.null_count:
        words = np.where(array.is_valid().to_numpy(zero_copy_only=False), words, 0)
    return words


def _codes(column: pa.ChunkedArray, values: list[str]) -> np.ndarray:
    """A text column as codes into `values` (-1: null or another value)."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    dictionary = encoded.dictionary.to_pylist()
    mapping = np.array([values.index(v) if v in values else -1 for v in dictionary] + [-1], dtype=np.int8)
    return mapping[encoded.indices.fill_null(len(dictionary)).to_numpy()]


def _flag(column: pa.ChunkedArray) -> np.ndarray:
    return column.fill_null(False).to_numpy(zero_copy_only=False)


def _int(column: pa.ChunkedArray) -> np.ndarray:
    return column.fill_null(0).to_numpy()


def _decimal(cents: np.ndarray, valid: np.ndarray | None) -> pa.Array:
    words = np.zeros((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    bitmap = None if valid is None else pa.array(valid).buffers()[1]
    return pa.Array.from_buffers(pa.decimal128(18, 2), len(cents), [bitmap, pa.py_buffer(words.tobytes())])


def _half_up(cents: np.ndarray, per_mille: int | np.ndarray) -> np.ndarray:
    """round(cents × rate) to the 分, half up, for cents ≥ 0 and rate = per_mille / 1000."""
    return (cents * per_mille + 500) // 1000


TYPES = [
    "lab_recognition", "rd_institution_rating", "high_tech_recognition", "science_project", "rd_report", "innovation_voucher",
    "incubator_recognition", "incubation_cultivation", "science_award", "patent_award", "trade_in_car", "trade_in_appliance",
    "trade_in_furniture", "trade_in_digital", "software_income_tax", "hr_service_support", "hr_park_new",
    "export_credit_insurance", "agri_mortgage_loan",
]
KINDS = ["enterprise", "incubator", "institution", "bank", "consumer"]
FIXED = {0: 10000000, 1: 300000, 2: 500000, 3: 200000, 4: 100000, 5: 500000, 6: 100000, 7: 100000, 8: 20000, 11: 300000,
         12: 100000, 13: 50000, 14: 30000, 15: 5000, 16: 3000, 17: 5000000, 18: 3000000, 19: 2000000, 20: 1000000,
         24: 1000000, 25: 300000, 26: 500000, 27: 300000, 28: 100000, 29: 15000, 30: 13000, 38: 500000, 39: 2000000}
AWARDS = ["国家最高科学技术奖", "国家科学技术奖特等奖", "国家科学技术奖一等奖", "国家科学技术奖二等奖", "省科学技术大奖", "省知识产权大奖",
          "省科学技术奖一等奖", "省科学技术奖二等奖", "省科学技术奖三等奖"]
AWARD_RULES = np.array([17, 18, 19, 20, 24, 25, 26, 27, 28])
AWARD_NEEDS_LEAD = np.array([True, True, True, True, False, False, True, True, True])


def floor_numpy(subjects_path: Path, events_path: Path, out: Path) -> dict:
    phases = {}
    start = time.perf_counter()
    subjects = pq.read_table(subjects_path, columns=["subject_id", "kind", "county"])
    events = pq.read_table(events_path, columns=EVENT_COLUMNS)
    phases["read"] = time.perf_counter() - start

    start = time.perf_counter()
    n = events.num_rows
    subject = pc.index_in(events["subject_id"], value_set=subjects["subject_id"]).to_numpy()
    kind = _codes(subjects["kind"], KINDS)[subject]
    t = _codes(events["type"], TYPES)
    date = events["date"].combine_chunks().cast(pa.int32()).to_numpy().astype(np.int64)
    valid = (date >= D2025_FROM) & (date <= D2025_TO)
    consumer, enterprise, researcher = kind == 4, kind == 0, (kind == 0) | (kind == 2)
    r = np.full(n, -1, dtype=np.int8)
    cents = np.zeros(n, dtype=np.int64)
    hit = np.zeros(n, dtype=np.int8)  # 0 none, 1 appliance-item, 2 furniture-item, 3 digital-item
    tax = np.zeros(n, dtype=np.int64)

    price = _cents(events["price"])
    # (十七) trade-ins: each branch touches only the rows of its event type.
    rows = np.flatnonzero((t == 11) & consumer)  # appliance: 一级 20%, 二级 15%, cap 2000
    grade = _codes(events["grade"].take(pa.array(rows)), ["一级", "二级"])
    keep = rows[grade >= 0]
    rate = np.where(grade[grade >= 0] == 0, 200, 150)
    raw = price[keep] * rate
    r[keep] = np.where(grade[grade >= 0] == 0, 31, 32)
    cents[keep] = np.minimum((raw + 500) // 1000, 200000)
    hit[keep] = np.where(raw > 200000 * 1000, 1, 0)
    rows = np.flatnonzero((t == 12) & consumer)  # furniture: 15% / 20% (efficient), cap 2000
    efficient = _flag(events["efficient"].take(pa.array(rows)))
    rate = np.where(efficient, 200, 150)
    raw = price[rows] * rate
    r[rows] = np.where(efficient, 34, 33)
    cents[rows] = np.minimum((raw + 500) // 1000, 200000)
    hit[rows] = np.where(raw > 200000 * 1000, 2, 0)
    rows = np.flatnonzero((t == 13) & consumer & (price <= 600000))  # digital ≤ 6000: 15%, cap 500
    raw = price[rows] * 150
    r[rows] = 35
    cents[rows] = np.minimum((raw + 500) // 1000, 50000)
    hit[rows] = np.where(raw > 50000 * 1000, 3, 0)
    rows = np.flatnonzero((t == 10) & consumer)  # cars
    vehicle = _codes(events["vehicle"].take(pa.array(rows)), ["新能源汽车", "燃油车"])
    r[rows[vehicle == 0]] = 29
    r[rows[vehicle == 1]] = 30

    # Organisations: far fewer rows.
    rows = np.flatnonzero((t == 4) & enterprise)  # rd_report: qualification, rd > 5% of revenue
    rd, revenue = _cents(events["rd_expense"])[rows], _cents(events["revenue"])[rows]
    r[rows[(revenue > 0) & (rd * 20 > revenue)]] = 9
    rows = np.flatnonzero((t == 5) & enterprise)
    r[rows] = 10
    cents[rows] = _half_up(_cents(events["service_fee"])[rows], 500)
    rows = np.flatnonzero((t == 17) & enterprise)
    r[rows] = 40
    cents[rows] = _half_up(_cents(events["premium"])[rows], 600)
    rows = np.flatnonzero((t == 2) & enterprise)
    recognition = _codes(events["recognition"].take(pa.array(rows)), ["首次认定", "重新认定"])
    r[rows[recognition == 0]] = 3
    r[rows[recognition == 1]] = 4
    rows = np.flatnonzero((t == 14) & enterprise)
    status = _codes(events["status"].take(pa.array(rows)), ["符合条件的软件企业", "国家鼓励的重点软件企业"])
    year = _int(events["profit_year"].take(pa.array(rows)))
    income = _cents(events["taxable_income"])[rows]
    two_three = (status == 0) & (year <= 5)
    key = status == 1
    r[rows[two_three]] = 36
    r[rows[key]] = 37
    relief = np.where(two_three, np.where(year <= 2, 250, 125), np.where(year <= 5, 250, 150))
    due = np.where(two_three, np.where(year <= 2, 0, 125), np.where(year <= 5, 0, 100))
    cents[rows] = _half_up(income, relief)
    tax[rows] = _half_up(income, due)
    tax_year = _int(events["tax_year"].take(pa.array(rows)))
    valid[rows] = (tax_year >= TAX_YEARS[0]) & (tax_year <= TAX_YEARS[1])  # valid by the tax year, not the date
    rows = np.flatnonzero((t == 7) & (kind == 1))
    ok = _flag(events["in_incubation"].take(pa.array(rows)))
    firm = _codes(events["firm_type"].take(pa.array(rows)), ["高新技术企业(首次认定)", "国家科技型中小企业(首次认定)", "省级科技型中小企业"])
    r[rows[ok & (firm >= 0)]] = 14 + firm[ok & (firm >= 0)]
    rows = np.flatnonzero((t == 6) & (kind == 1))
    carrier_type = _codes(events["carrier_type"].take(pa.array(rows)), ["科技企业孵化器", "众创空间"])
    level = _codes(events["level"].take(pa.array(rows)), ["国家级", "省级"])
    r[rows[(carrier_type == 0) & (level == 0)]] = 11
    r[rows[(carrier_type == 0) & (level == 1)]] = 12
    r[rows[(carrier_type == 1) & (level >= 0)]] = 13
    rows = np.flatnonzero((t == 3) & researcher)
    plan = _codes(events["plan"].take(pa.array(rows)), ["市级重点研发计划", "科技攻关计划", "公益性技术研究", "市自然科学资金项目"])
    r[rows[plan >= 0]] = 5 + plan[plan >= 0]
    rows = np.flatnonzero((t == 8) & researcher)
    award = _codes(events["award"].take(pa.array(rows)), AWARDS)
    lead = _flag(events["lead_unit"].take(pa.array(rows)))
    ok = (award >= 0) & (lead | ~AWARD_NEEDS_LEAD[award])
    r[rows[ok]] = AWARD_RULES[award[ok]]
    rows = np.flatnonzero((t == 9) & researcher)
    medal = _codes(events["medal"].take(pa.array(rows)), ["金奖", "银奖", "优秀奖"])
    first = _flag(events["first_inventor_unit"].take(pa.array(rows)))
    patents = _int(events["patents"].take(pa.array(rows)))
    ok = first & (medal >= 0)
    r[rows[ok]] = 21 + medal[ok]
    cents[rows[ok]] = np.array([300000, 150000, 100000])[medal[ok]] * patents[ok] * 100
    r[np.flatnonzero((t == 0) & enterprise)] = 0
    rows = np.flatnonzero((t == 1) & researcher)
    stars = _int(events["stars"].take(pa.array(rows)))
    r[rows[stars == 4]] = 1
    r[rows[stars == 5]] = 2
    rows = np.flatnonzero((t == 15) & enterprise)
    r[rows[_flag(events["qualified"].take(pa.array(rows)))]] = 38
    rows = np.flatnonzero((t == 16) & researcher)
    r[rows[_codes(events["level"].take(pa.array(rows)), ["国家级", "省级"]) >= 0]] = 39
    rows = np.flatnonzero((t == 18) & (kind == 3))
    loan = _cents(events["loan"])[rows]
    r[rows[loan > 0]] = 41
    cents[rows[loan > 0]] = np.minimum(loan[loan > 0], 1000000 * 100)

    fixed = np.zeros(42, dtype=np.int64)
    for order, yuan in FIXED.items():
        fixed[order] = yuan * 100
    claimed = np.flatnonzero(r >= 0)
    rc = r[claimed].astype(np.int64)
    amount = np.where(fixed[rc] > 0, fixed[rc], cents[claimed])
    amount = np.where(valid[claimed], amount, 0)
    caps_hit = np.full(len(claimed), None, dtype=object)  # the annual caps a claim hit, for the capped claims
    per_carrier = np.zeros(len(claimed), dtype=bool)  # a claim counted under its carrier's cap
    for level in (LEVEL_1, LEVEL_2):
        capped = np.flatnonzero(np.isin(rc, list(level)))
        if not len(capped):
            continue
        rows = claimed[capped]
        names = sorted({cap for cap, _, _ in level.values()})
        cap_code = np.array([names.index(level[x][0]) for x in rc[capped]])
        carried = np.array([level[x][2] for x in rc[capped]])
        carrier = pc.dictionary_encode(events["carrier"].take(pa.array(rows))).combine_chunks().indices.fill_null(-1).to_numpy()
        keys = pa.table({
            "cap": cap_code, "subject": subject[rows], "year": pc.year(events["date"].take(pa.array(rows))),
            "carrier": np.where(carried, carrier, -1), "date": date[rows], "event_id": events["event_id"].take(pa.array(rows)),
            "r": rc[capped],
        })
        order = pc.sort_indices(keys, sort_keys=[(k, "ascending") for k in keys.column_names]).to_numpy()
        group = np.stack([np.asarray(keys[k].to_numpy()) for k in ("cap", "subject", "year", "carrier")], axis=1)[order]
        starts = np.r_[True, (group[1:] != group[:-1]).any(axis=1)]
        a = amount[capped][order]
        total = np.cumsum(a)
        running = total - (total - a)[np.flatnonzero(starts)][np.cumsum(starts) - 1]
        cap = np.array([level[x][1] for x in rc[capped]], dtype=np.int64)[order] * 100
        kept = np.minimum(running, cap) - np.minimum(running - a, cap)
        at = capped[order]
        for position in at[kept < a]:
            name = level[rc[position]][0]
            caps_hit[position] = name if caps_hit[position] is None else caps_hit[position] + "," + name
        for position in at:
            caps_hit[position] = caps_hit[position] or ""
        per_carrier[at] |= carried[order]
        amount[at] = kept
    phases["compute"] = time.perf_counter() - start

    start = time.perf_counter()
    take = pa.array(claimed)
    order = pc.sort_indices(
        pa.table({"s": events["subject_id"].take(take), "d": events["date"].take(take), "e": events["event_id"].take(take), "r": rc}),
        sort_keys=[("s", "ascending"), ("d", "ascending"), ("e", "ascending"), ("r", "ascending")],
    )
    sorted_at = order.to_numpy()
    claimed, rc, amount = claimed[sorted_at], rc[sorted_at], amount[sorted_at]
    caps_hit, per_carrier = caps_hit[sorted_at], per_carrier[sorted_at]
    take = pa.array(claimed)
    item_names = np.array(["", "appliance-item", "furniture-item", "digital-item"], dtype=object)
    caps_hit = np.where(caps_hit == None, item_names[hit[claimed] * valid[claimed]], caps_hit)  # noqa: E711 (elementwise)
    carrier = pc.if_else(pa.array(per_carrier), events["carrier"].take(take), pa.nulls(len(claimed), pa.string()))

    def per_rule(values, arrow_type=pa.string()):
        return pa.DictionaryArray.from_arrays(pa.array(rc.astype(np.int8)), pa.array(values, arrow_type))

    table = pa.table({
        "subject_id": events["subject_id"].take(take),
        "event_id": events["event_id"].take(take),
        "date": events["date"].take(take),
        "rule": per_rule([x[0] for x in RULES]),
        "article": pa.array(np.array([x[2] for x in RULES], dtype=np.int32)[rc]),
        "kind": per_rule([x[3] for x in RULES]),
        "amount": _decimal(amount, rc != 9),
        "tax_due": _decimal(tax[claimed], valid[claimed] & ((rc == 36) | (rc == 37))),
        "caps_hit": pa.array(caps_hit, pa.string()),
        "in_validity": pa.array(valid[claimed]),
        "department": per_rule([x[4] for x in RULES]),
        "county": subjects["county"].take(pa.array(subject[claimed])),
        "carrier": carrier,
    })
    pq.write_table(table, out)
    phases["sort+write"] = time.perf_counter() - start
    return {"rows": table.num_rows, "phases": phases}
