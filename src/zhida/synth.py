"""A synthetic Huzhou register: enterprises, incubators, institutions, banks and consumers,
with a year of events, deterministic for a seed.

Why these rates (per subject per year; see bench/README.md for the table):
- every enterprise files one R&D report (研发费用, 营业收入) — the 5% intensity bound
  of article (二) is made dense (ratios drawn around 5%, some exactly 5%);
- 4% of the firms of the eight chains and 1.5% of the others are high-tech; 0.8% of
  the others are recognised for the first time in the year (about 800 in 100 000, the
  order of Huzhou's yearly new recognitions), a third of the high-tech firms renew
  (recognition lasts three years);
- 3% of firms use innovation vouchers, 3 times a year on average, fees around
  25 000元 (lognormal, a long tail), so a few reach the 20萬元 annual cap of article (三);
- 5% of firms export and insure about 4 policies a year, premiums around 12 000元
  with a long tail, so the largest exporters reach the 100萬元 cap of article (三十);
- 1% are software firms filing the income-tax preference, 1% win a city science
  project; rarer events (awards, labs, parks, patents, HR support) at well under 1%;
- incubators cultivate about 8 firms a year over two carriers (the 30萬元 carrier cap);
- consumer trade-ins: appliances 45%, digital products 30%, furniture 20%, cars 5%,
  with prices dense around 6000元 (the digital bound), 10000元 and 13333.33元
  (where 20% and 15% reach the 2000元 cap) and around 3333.33元 (15% = 500元).
2% of dates fall just outside 2025, so the validity rule is exercised.
Organisations carry valid 统一社会信用代码 (GB 32100) of their county; consumers valid, distinct
居民身份证号码 (GB 11643: their county's 地址码, born 1950-2005) and a name (居民N), so that a
register passes the ledger's identity checks (`zhida propose`).

Files written (Parquet): subjects.parquet, events.parquet — the tables `zhida match` reads.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from zhida.engine.batch import arrow_types_by_field, event_columns
from zhida.ledger.identity import ID_CHECK_CHARACTERS, ID_NUMBER_WEIGHTS
from zhida.rules.model import FieldType
from zhida.rules.pack import Pack

COUNTIES = ("吴兴区", "南浔区", "德清县", "长兴县", "安吉县", "南太湖新区")
COUNTY_WEIGHTS = (0.20, 0.15, 0.18, 0.20, 0.15, 0.12)
# Administrative division codes in the 统一社会信用代码; 南太湖新区 registers at city level (330500).
DIVISION_CODES = ("330502", "330503", "330521", "330522", "330523", "330500")
# The document names "八大新興產業鏈" without listing them; these labels follow Huzhou's plans.
CHAINS = (
    "新能源汽车及关键零部件", "半导体及光电", "生物医药", "高端装备",
    "数字产业", "新材料", "绿色智能家居", "现代纺织和服装", "传统产业",
)
CHAIN_WEIGHTS = (0.08, 0.06, 0.06, 0.09, 0.08, 0.07, 0.08, 0.08, 0.40)
USCC_CHARACTERS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORGANIZATION_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
# 居民身份证号码 (GB 11643-1999) of consumers: the 地址码 of their county (南太湖新区 was carved out of
# 吴兴区 and has no code of its own for residents), a birth date 1950-2005, a 3-digit 顺序码.
ID_REGIONS = {"吴兴区": "330502", "南浔区": "330503", "德清县": "330521", "长兴县": "330522", "安吉县": "330523",
              "南太湖新区": "330502"}
FIRST_BIRTH = dt.date(1950, 1, 1)
BIRTH_DAYS = (dt.date(2006, 1, 1) - FIRST_BIRTH).days  # 20 454 days: 1950-01-01 to 2005-12-31
PERSON_SPACE = BIRTH_DAYS * 1000  # (birth date, 顺序码) pairs: 20 454 000 distinct consumers
PERSON_STRIDE = 7_368_787  # coprime to PERSON_SPACE: n -> n * stride mod space is a bijection
CHUNK = 1_000_000
YEAR_START = dt.date(2025, 1, 1)


def credit_code(division: str, serial: int) -> str:
    """A 统一社会信用代码 (GB 32100-2015) for an enterprise (登记管理部门 9, 类别 1).

    The 9-character organisation code carries its own check digit (GB 11714), the
    18th character the code's (weights 3^i mod 31 over a 31-character alphabet).
    """
    body = f"{serial:08d}"
    total = sum(int(character) * weight for character, weight in zip(body, ORGANIZATION_WEIGHTS, strict=True))
    check = 11 - total % 11
    organisation = body + ("X" if check == 10 else "0" if check == 11 else str(check))
    code = "91" + division + organisation
    total = sum(USCC_CHARACTERS.index(character) * weight for character, weight in zip(code, USCC_WEIGHTS, strict=True))
    return code + USCC_CHARACTERS[(31 - total % 31) % 31]


def credit_code_is_valid(code: str) -> bool:
    if len(code) != 18 or any(character not in USCC_CHARACTERS for character in code):
        return False
    total = sum(USCC_CHARACTERS.index(character) * weight for character, weight in zip(code[:17], USCC_WEIGHTS, strict=True))
    return code[17] == USCC_CHARACTERS[(31 - total % 31) % 31]


def resident_id_numbers(numbers: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Valid, distinct 居民身份证号码 for consumer numbers (< PERSON_SPACE), with the given 地址码.

    Consumer n gets (birth day, 顺序码) = divmod(n * PERSON_STRIDE mod PERSON_SPACE, 1000): a bijection,
    so two consumers never share a number, and neighbours are born years apart."""
    spread = numbers.astype(np.int64) * PERSON_STRIDE % PERSON_SPACE
    births = np.datetime64(FIRST_BIRTH.isoformat()) + (spread // 1000).astype("timedelta64[D]")
    body = np.char.add(np.char.add(regions.astype(str), np.char.replace(births.astype(str), "-", "")),
                       np.char.zfill((spread % 1000).astype(str), 3))
    digits = np.frombuffer(body.astype("S17").tobytes(), dtype=np.uint8).reshape(-1, 17).astype(np.int64) - ord("0")
    total = digits @ np.array(ID_NUMBER_WEIGHTS, dtype=np.int64)
    checks = np.array(list(ID_CHECK_CHARACTERS))[(12 - total % 11) % 11]
    return np.char.add(body, checks)


def synthesise(
    pack: Pack, enterprises: int, transactions: int, seed: int, out: Path, consumers: int | None = None
) -> dict[str, int]:
    """Write subjects.parquet and events.parquet to `out`; return row counts.

    `consumers` defaults to transactions / 1.3; fewer (more trade-ins each) let a register of more
    transactions than there are distinct identity numbers (PERSON_SPACE / 1.3, about 26.6M) be made."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    columns = event_columns(pack)
    schema = _events_schema(columns)
    subjects = _organisations(rng, enterprises)
    if consumers is None:
        consumers = max(1, int(transactions / 1.3)) if transactions else 0
    elif transactions and consumers < 1:
        raise ValueError("consumers 须至少为 1(有交易时)")
    if consumers > PERSON_SPACE:
        raise ValueError(f"最多 {PERSON_SPACE} 名消费者(身份证号码的出生日期与顺序码组合),请减少 transactions")
    regions = np.empty(consumers, dtype="U6")  # each consumer's 地址码, for the ids the transactions carry
    with pq.ParquetWriter(out / "subjects.parquet", _SUBJECTS_SCHEMA) as writer:
        writer.write_table(pa.Table.from_pydict(subjects, schema=_SUBJECTS_SCHEMA))
        for start in range(0, consumers, CHUNK):
            ids = np.arange(start, min(start + CHUNK, consumers))
            writer.write_table(_consumer_subjects(rng, ids, regions))
    event_count = 0
    with pq.ParquetWriter(out / "events.parquet", schema) as writer:
        table = _organisation_events(rng, pack, subjects, schema)
        writer.write_table(table)
        event_count += table.num_rows
        for start in range(0, transactions, CHUNK):
            table = _transactions(rng, start, min(start + CHUNK, transactions), regions, schema)
            writer.write_table(table)
            event_count += table.num_rows
    return {"subjects": len(subjects["subject_id"]) + consumers, "events": event_count}


_SUBJECTS_SCHEMA = pa.schema(
    [
        ("subject_id", pa.string()), ("kind", pa.string()), ("name", pa.string()), ("county", pa.string()),
        ("chain", pa.string()), ("high_tech", pa.bool_()), ("revenue", pa.decimal128(18, 2)),
        ("rd_expense", pa.decimal128(18, 2)),
    ]
)
def _events_schema(columns: dict[str, FieldType]) -> pa.Schema:
    fields = [("event_id", pa.string()), ("subject_id", pa.string()), ("type", pa.string()), ("date", pa.date32())]
    types = arrow_types_by_field()
    return pa.schema(fields + [(name, types[kind]) for name, kind in columns.items()])


def cents_to_decimal(cents: np.ndarray) -> pa.Array:
    """Integer 分 as an exact decimal128(18, 2) column, without passing through float or str."""
    cents = np.asarray(cents, dtype=np.int64)
    words = np.zeros((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = np.where(cents < 0, -1, 0)  # two's complement sign extension
    return pa.Array.from_buffers(pa.decimal128(18, 2), len(cents), [None, pa.py_buffer(words.tobytes())])


def _organisations(rng: np.random.Generator, enterprises: int) -> dict[str, list]:
    """Enterprises plus, in proportion, incubators (0.5%), institutions (1%) and banks (0.1%)."""
    counts = {
        "enterprise": enterprises,
        "incubator": max(1, enterprises // 200),
        "institution": max(1, enterprises // 100),
        "bank": max(1, enterprises // 1000),
    }
    kinds = np.concatenate([np.full(count, kind) for kind, count in counts.items()])
    total = len(kinds)
    county_index = rng.choice(len(COUNTIES), size=total, p=COUNTY_WEIGHTS)
    chain = rng.choice(len(CHAINS), size=total, p=CHAIN_WEIGHTS)
    high_tech = rng.random(total) < np.where(chain < 8, 0.04, 0.015)
    revenue = np.round(rng.lognormal(np.log(20_000_000), 1.2, total) * 100).astype(np.int64)
    # R&D intensity around the 5% bound of article (二), 2% of firms exactly at it.
    ratio = np.clip(rng.normal(0.035, 0.02, total), 0, 0.3)
    ratio = np.where(rng.random(total) < 0.02, 0.05, ratio)
    rd_expense = np.round(revenue * ratio).astype(np.int64)
    codes = [credit_code(DIVISION_CODES[c], serial) for serial, c in enumerate(county_index, start=10_000_000)]
    return {
        "subject_id": codes,
        "kind": kinds.tolist(),
        "name": [f"湖州{CHAINS[c][:2]}{index:06d}有限公司" for index, c in enumerate(chain)],
        "county": [COUNTIES[c] for c in county_index],
        "chain": [CHAINS[c] for c in chain],
        "high_tech": high_tech.tolist(),
        "revenue": cents_to_decimal(revenue),
        "rd_expense": cents_to_decimal(rd_expense),
    }


def _consumer_subjects(rng: np.random.Generator, ids: np.ndarray, regions: np.ndarray) -> pa.Table:
    """Consumers `ids`: a county each (its 地址码 kept in `regions`), an identity number and a name."""
    county = rng.choice(len(COUNTIES), size=len(ids), p=COUNTY_WEIGHTS)
    n = len(ids)
    regions[ids] = np.array([ID_REGIONS[name] for name in COUNTIES])[county]
    return pa.Table.from_pydict(
        {
            "subject_id": pa.array(resident_id_numbers(ids, regions[ids]), pa.string()),
            "kind": pa.array(np.full(n, "consumer"), pa.string()),
            "name": pa.array(np.char.add("居民", ids.astype(str)), pa.string()),
            "county": pa.array(np.array(COUNTIES)[county], pa.string()),
            "chain": pa.nulls(n, pa.string()),
            "high_tech": pa.nulls(n, pa.bool_()),
            "revenue": pa.nulls(n, pa.decimal128(18, 2)),
            "rd_expense": pa.nulls(n, pa.decimal128(18, 2)),
        },
        schema=_SUBJECTS_SCHEMA,
    )


def _dates(rng: np.random.Generator, n: int) -> np.ndarray:
    """Days of 2025, 2% of them a few days outside it (the validity rule)."""
    days = rng.integers(0, 365, n)
    outside = rng.random(n) < 0.02
    days = np.where(outside, np.where(rng.random(n) < 0.5, -rng.integers(1, 10, n), 364 + rng.integers(1, 10, n)), days)
    return np.datetime64(YEAR_START.isoformat()) + days.astype("timedelta64[D]")


class _Events:
    """Event rows gathered column by column, then laid out on the wide schema."""

    def __init__(self, schema: pa.Schema):
        self.schema = schema
        self.parts: list[pa.Table] = []

    def add(self, rng: np.random.Generator, event_type: str, subject_ids: np.ndarray, prefix: str, values: dict):
        n = len(subject_ids)
        if n == 0:
            return
        data = {
            "event_id": pa.array(np.char.add(prefix, np.arange(n).astype(str)), pa.string()),
            "subject_id": pa.array(subject_ids, pa.string()),
            "type": pa.array(np.full(n, event_type), pa.string()),
            "date": pa.array(_dates(rng, n), pa.date32()),
        }
        for field in self.schema:
            if field.name in data:
                continue
            value = values.get(field.name)
            if value is None:
                data[field.name] = pa.nulls(n, field.type)
            elif isinstance(value, pa.Array):
                data[field.name] = value
            else:
                data[field.name] = pa.array(value, field.type)
        self.parts.append(pa.Table.from_pydict(data, schema=self.schema))

    def table(self) -> pa.Table:
        return pa.concat_tables(self.parts) if self.parts else self.schema.empty_table()


def _repeat(rng: np.random.Generator, ids: np.ndarray, share: float, mean: float) -> np.ndarray:
    """A share of `ids`, each repeated 1 + Poisson(mean - 1) times."""
    chosen = ids[rng.random(len(ids)) < share]
    return np.repeat(chosen, 1 + rng.poisson(max(mean - 1, 0), len(chosen)))


def _organisation_events(
    rng: np.random.Generator, pack: Pack, subjects: dict[str, list], schema: pa.Schema
) -> pa.Table:
    ids = np.array(subjects["subject_id"])
    kinds = np.array(subjects["kind"])
    high_tech = np.array(subjects["high_tech"])
    firms, incubators = ids[kinds == "enterprise"], ids[kinds == "incubator"]
    institutions, banks = ids[kinds == "institution"], ids[kinds == "bank"]
    events = _Events(schema)
    firm_mask = kinds == "enterprise"
    events.add(rng, "rd_report", firms, "RD", {
        "rd_expense": subjects["rd_expense"].filter(pa.array(firm_mask)),
        "revenue": subjects["revenue"].filter(pa.array(firm_mask)),
    })
    first = firms[(~high_tech[firm_mask]) & (rng.random(len(firms)) < 0.008)]
    renew = firms[high_tech[firm_mask] & (rng.random(len(firms)) < 1 / 3)]
    events.add(rng, "high_tech_recognition", first, "HT1-", {"recognition": np.full(len(first), "首次认定")})
    events.add(rng, "high_tech_recognition", renew, "HT2-", {"recognition": np.full(len(renew), "重新认定")})
    vouchers = _repeat(rng, firms, 0.03, 3.0)
    events.add(rng, "innovation_voucher", vouchers, "IV", {"service_fee": cents_to_decimal(_lognormal_cents(rng, 25_000, 1.0, len(vouchers)))})
    exporters = _repeat(rng, firms, 0.05, 4.0)
    events.add(rng, "export_credit_insurance", exporters, "EX", {"premium": cents_to_decimal(_lognormal_cents(rng, 12_000, 1.2, len(exporters)))})
    software = firms[rng.random(len(firms)) < 0.01]
    events.add(rng, "software_income_tax", software, "SW", {
        "status": rng.choice(["符合条件的软件企业", "国家鼓励的重点软件企业"], len(software), p=[0.8, 0.2]),
        "taxable_income": cents_to_decimal(_lognormal_cents(rng, 3_000_000, 1.0, len(software))),
        "profit_year": rng.integers(1, 9, len(software)),
        # Most firms settle the 2025 tax year in spring 2026; some still file 2024 in 2025.
        "tax_year": rng.choice([2024, 2025], len(software), p=[0.3, 0.7]),
    })
    researchers = np.concatenate([firms, institutions])
    projects = researchers[rng.random(len(researchers)) < 0.01]
    events.add(rng, "science_project", projects, "SP", {
        "plan": rng.choice(["市级重点研发计划", "科技攻关计划", "公益性技术研究", "市自然科学资金项目"], len(projects), p=[0.2, 0.3, 0.3, 0.2]),
    })
    awards = researchers[rng.random(len(researchers)) < 0.002]
    award_values = list(pack.events["science_award"].field("award").values)
    events.add(rng, "science_award", awards, "SA", {"award": rng.choice(award_values, len(awards)), "lead_unit": rng.random(len(awards)) < 0.7})
    patents = researchers[rng.random(len(researchers)) < 0.003]
    events.add(rng, "patent_award", patents, "PA", {
        "medal": rng.choice(["金奖", "银奖", "优秀奖"], len(patents), p=[0.1, 0.2, 0.7]),
        "patents": rng.integers(1, 4, len(patents)),
        "first_inventor_unit": rng.random(len(patents)) < 0.8,
    })
    labs = researchers[rng.random(len(researchers)) < 0.0005]
    events.add(rng, "lab_recognition", labs, "LB", {"platform": rng.choice(["全国重点实验室", "省实验室", "全省重点实验室", "技术创新中心"], len(labs))})
    rated = institutions[rng.random(len(institutions)) < 0.3]
    events.add(rng, "rd_institution_rating", rated, "RI", {"stars": rng.integers(3, 6, len(rated))})
    hr = firms[rng.random(len(firms)) < 0.0005]
    events.add(rng, "hr_service_support", hr, "HR", {"qualified": rng.random(len(hr)) < 0.9})
    parks = researchers[rng.random(len(researchers)) < 0.0002]
    events.add(rng, "hr_park_new", parks, "HP", {"level": rng.choice(["国家级", "省级"], len(parks))})
    recognised = incubators[rng.random(len(incubators)) < 0.1]
    events.add(rng, "incubator_recognition", recognised, "IR", {
        "carrier": np.char.add("载体", rng.integers(1, 3, len(recognised)).astype(str)),
        "carrier_type": rng.choice(["科技企业孵化器", "众创空间"], len(recognised)),
        "level": rng.choice(["国家级", "省级"], len(recognised), p=[0.3, 0.7]),
    })
    cultivated = np.repeat(incubators, rng.poisson(8, len(incubators)))
    events.add(rng, "incubation_cultivation", cultivated, "IC", {
        "carrier": np.char.add("载体", rng.integers(1, 3, len(cultivated)).astype(str)),
        "firm_type": rng.choice(["高新技术企业(首次认定)", "国家科技型中小企业(首次认定)", "省级科技型中小企业"], len(cultivated), p=[0.4, 0.3, 0.3]),
        "in_incubation": rng.random(len(cultivated)) < 0.9,
    })
    loans = _repeat(rng, banks, 0.6, 2.0)
    events.add(rng, "agri_mortgage_loan", loans, "AL", {"loan": cents_to_decimal(_lognormal_cents(rng, 2_000_000, 1.0, len(loans)))})
    return events.table()


def _lognormal_cents(rng: np.random.Generator, median_yuan: float, sigma: float, n: int) -> np.ndarray:
    return np.round(rng.lognormal(np.log(median_yuan), sigma, n) * 100).astype(np.int64)


def _prices_near(rng: np.random.Generator, n: int, edges: list[float], median: float) -> np.ndarray:
    """Prices in 分: half near the `edges` (±3%, some exactly on them), half lognormal around `median`."""
    near = rng.random(n) < 0.5
    edge = np.array(edges)[rng.integers(0, len(edges), n)]
    around = edge * (1 + rng.uniform(-0.03, 0.03, n))
    around = np.where(rng.random(n) < 0.1, edge, around)
    spread = rng.lognormal(np.log(median), 0.6, n)
    return np.round(np.where(near, around, spread) * 100).astype(np.int64)


def _transactions(rng: np.random.Generator, start: int, stop: int, regions: np.ndarray, schema: pa.Schema) -> pa.Table:
    n = stop - start
    numbers = np.arange(start, stop)
    buyer = numbers * 10 // 13 % len(regions)
    consumer = resident_id_numbers(buyer, regions[buyer])
    category = rng.choice(4, n, p=[0.45, 0.30, 0.20, 0.05])
    events = _Events(schema)
    for index, (event_type, values) in enumerate(
        [
            ("trade_in_appliance", lambda k: {
                "grade": rng.choice(["一级", "二级", "三级及以下"], k, p=[0.5, 0.35, 0.15]),
                "price": cents_to_decimal(_prices_near(rng, k, [10_000, 13_333.33, 9_999.99], 3_500)),
            }),
            ("trade_in_digital", lambda k: {
                "category": rng.choice(["手机", "平板", "智能手表(手环)"], k, p=[0.6, 0.25, 0.15]),
                "price": cents_to_decimal(_prices_near(rng, k, [6_000, 3_333.33, 5_999.99], 3_000)),
            }),
            ("trade_in_furniture", lambda k: {
                "efficient": rng.random(k) < 0.3,
                "price": cents_to_decimal(_prices_near(rng, k, [10_000, 13_333.33], 5_000)),
            }),
            ("trade_in_car", lambda k: {"vehicle": rng.choice(["新能源汽车", "燃油车"], k, p=[0.6, 0.4])}),
        ]
    ):
        mask = category == index
        chosen = numbers[mask]
        before = len(events.parts)
        events.add(rng, event_type, consumer[mask], "T", values(int(mask.sum())))
        if len(events.parts) > before:  # event ids are the transaction numbers, unique over all chunks
            part = events.parts[-1]
            events.parts[-1] = part.set_column(0, "event_id", pa.array(np.char.add("T", chosen.astype(str)), pa.string()))
    return events.table()
