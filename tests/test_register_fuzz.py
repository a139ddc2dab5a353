"""Corrupted registers: `match` either computes or refuses with one RegisterError, and writes nothing.

hypothesis takes a small valid register (CSV, from `zhida synth`) and corrupts it the way a
careless export or a hostile user would: a cell replaced by text, a huge number, a formula, quotes
and brackets, a field added or removed from a line, bytes that are not UTF-8, a header repeated.
Whatever comes in, the only failure allowed is a RegisterError whose message names the file, and
after it the output directory holds nothing new.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from zhida.engine.match import match
from zhida.engine.register import RegisterError
from zhida.rules.pack import load_pack
from zhida.synth import synthesise

PACK = load_pack(Path(__file__).resolve().parents[1] / "policies" / "huzhou-2025")

HOSTILE_CELLS = [
    "", " ", "'", "it's", '"', "[/]", "x' || (SELECT 1) || '", "=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1",
    "1e400", "1" * 5000, "１２３", "1_000", "1,0,0", "-0", "0.30000000000000004", "100.00000000001", "1.5",
    "NaN", "inf", "2025-02-30", "20250501", "2025-W18-4", "null", "true", "企业", "\u202e", "\x00",
]


@pytest.fixture(scope="module")
def clean_register(tmp_path_factory) -> tuple[list[list[str]], list[list[str]]]:
    """A valid register as rows of text (header first), from the synthetic Huzhou register."""
    import duckdb

    folder = tmp_path_factory.mktemp("fuzz-register")
    synthesise(PACK, 40, 60, 11, folder)
    con = duckdb.connect()
    tables = []
    for name in ("subjects", "events"):
        result = con.execute("SELECT * FROM read_parquet(?)", [str(folder / f"{name}.parquet")])
        header = [column[0] for column in result.description]
        rows = [["" if value is None else str(value) for value in row] for row in result.fetchall()]
        tables.append([header, *rows])
    return tables[0], tables[1]


def _csv_bytes(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


@st.composite
def corruption(draw):
    """(which table, what to do, where, with what)."""
    table = draw(st.sampled_from(["subjects", "events"]))
    action = draw(st.sampled_from(["cell", "cell", "cell", "drop_field", "add_field", "bad_bytes", "dup_header"]))
    row = draw(st.integers(min_value=0, max_value=30))
    column = draw(st.integers(min_value=0, max_value=30))
    value = draw(st.one_of(st.sampled_from(HOSTILE_CELLS), st.text(max_size=20)))
    return table, action, row, column, value


def _corrupt(rows: list[list[str]], action: str, row: int, column: int, value: str) -> bytes:
    rows = [list(line) for line in rows]
    line = rows[min(row, len(rows) - 1)]
    position = min(column, len(line) - 1)
    if action == "cell":
        line[position] = value
    elif action == "drop_field":
        del line[position]
    elif action == "add_field":
        line.insert(position, value)
    elif action == "dup_header":
        rows[0][position] = rows[0][(position + 1) % len(rows[0])]
    data = _csv_bytes(rows)
    if action == "bad_bytes":
        cut = min(len(data) - 1, 20 + row * 37)
        data = data[:cut] + b"\xff\xfe\xc3" + data[cut:]
    return data


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(change=corruption())
# A formula as the first enterprise's county (column 3): it reaches the output and must be neutralised.
@example(change=("subjects", "cell", 1, 3, '=HYPERLINK("http://x","y")'))
@example(change=("subjects", "cell", 2, 3, "@SUM(A1)"))
def test_a_corrupted_register_is_computed_or_refused_cleanly(clean_register, tmp_path_factory, change):
    subjects_rows, events_rows = clean_register
    table, action, row, column, value = change
    folder = tmp_path_factory.mktemp("corrupted")
    for name, rows in (("subjects", subjects_rows), ("events", events_rows)):
        data = _corrupt(rows, action, row, column, value) if name == table else _csv_bytes(rows)
        (folder / f"{name}.csv").write_bytes(data)
    out_folder = folder / "out"
    out_folder.mkdir()
    out = out_folder / "result.csv"
    try:
        match(PACK, folder / "subjects.csv", folder / "events.csv", out)
    except RegisterError as error:
        assert "subjects.csv" in str(error) or "events.csv" in str(error), str(error)
        assert list(out_folder.iterdir()) == [], "a refused register must leave nothing behind"
        return
    assert [path.name for path in out_folder.iterdir()] == ["result.csv"]
    with out.open(newline="", encoding="utf-8") as handle:
        for line in csv.reader(handle):
            assert not any(cell[:1] in FORMULA_STARTS for cell in line), line  # OWASP CSV injection


FORMULA_STARTS = {"=", "+", "-", "@", "\t", "\r"}
