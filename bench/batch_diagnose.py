"""Where zhida's batch path spends its time and memory (the diagnosis behind bench/README.md).

    python bench/batch_diagnose.py --data /tmp/zhida-bench-data --workloads a,b [--memory c]

For each workload (registers made by batch_bench.py):
1. the input checks of zhida.engine.register.open_register, grouped by kind of query;
2. the load into DuckDB's tables and DuckDB's profile of the compiled rule set, as match() runs them, summed per operator
   (thread time; 2 threads run in parallel, so the sum exceeds the wall time);
3. with --memory c: the compiled query on 10M events under memory_limit=1GB (match()'s default),
   as compiled and with one part taken out at a time, each in its own process, to find what does
   not fit.
zhida is only imported and called, never changed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _pack():
    from zhida.rules.library import choose
    from zhida.rules.pack import load_pack

    return load_pack(choose("huzhou-2025").path)


class _TimedConnection:
    """A DuckDB connection that times every execute (open_register only calls execute/register)."""

    def __init__(self, con):
        self.con, self.log = con, []

    def execute(self, sql, *args):
        start = time.perf_counter()
        result = self.con.execute(sql, *args)
        self.log.append((time.perf_counter() - start, " ".join(sql.split())))
        return result

    def __getattr__(self, name):
        return getattr(self.con, name)


def _category(sql: str) -> str:
    if 'GROUP BY "event_id"' in sql:
        return "duplicate event_id (GROUP BY)"
    if "GROUP BY" in sql and "subject_id" in sql:
        return "duplicate subject_id (GROUP BY)"
    if 'LEFT JOIN "subjects"' in sql:
        return "orphan events, event type vs subject kind (JOIN subjects)"
    if "TRY_CAST" in sql:
        return "column type checks (TRY_CAST, one per column)"
    if "REGEXP_FULL_MATCH" in sql:
        return "blank keys (+ unknown event types), one scan per file"
    if "FILTER(" in sql and 'FROM "events"' in sql:
        return "per-field null/range/choice checks (one scan)"
    if sql.startswith("SELECT") and "raw_subjects" in sql:
        return "subject kinds"
    return "views, DESCRIBE, DISTINCT type"


def checks(directory: Path) -> None:
    from zhida.engine.match import connect
    from zhida.engine.register import open_register

    con = _TimedConnection(connect("1GB"))
    start = time.perf_counter()
    open_register(con, _pack(), directory / "subjects.parquet", directory / "events.parquet")
    total = time.perf_counter() - start
    groups: dict[str, list] = {}
    for seconds, sql in con.log:
        entry = groups.setdefault(_category(sql), [0.0, 0])
        entry[0] += seconds
        entry[1] += 1
    print(f"  checks: {total:.2f} s in {len(con.log)} queries")
    for name, (seconds, count) in sorted(groups.items(), key=lambda item: -item[1][0]):
        print(f"    {seconds:6.3f} s  {count:3} × {name}")


def profile(directory: Path) -> None:
    from zhida.engine.match import connect, in_two_statements, materialise, materialise_by_type, plan_by_type
    from zhida.engine.register import held_event_columns, open_register

    pack = _pack()
    con = connect("1GB")
    open_register(con, pack, directory / "subjects.parquet", directory / "events.parquet")
    con.execute("SET preserve_insertion_order = false")
    counts = dict(con.execute("SELECT type, count(*) FROM events GROUP BY type").fetchall())
    start = time.perf_counter()
    plan, tables = plan_by_type(pack, counts)  # as match() does
    if tables:
        materialise_by_type(con, tables)
    else:  # the claims run here into a table; the profile below is the final sort's
        materialise(con, held_event_columns(pack, counts), counts)
        plan = in_two_statements(con, pack, counts)
    print(f"  load ({'one table per event type' if tables else 'one table sorted by type, then the claims'}): "
          f"{time.perf_counter() - start:.2f} s")
    sql = plan.sql
    with tempfile.TemporaryDirectory() as scratch:
        out, trace = Path(scratch) / "out.parquet", Path(scratch) / "profile.json"
        con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet)")  # warm
        con.execute("PRAGMA enable_profiling = 'json'")
        con.execute(f"PRAGMA profiling_output = '{trace}'")
        con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet)")
        con.execute("PRAGMA disable_profiling")
        data = json.loads(trace.read_text())
    operators: dict[str, list] = {}

    def walk(node: dict) -> None:
        name = node.get("name", "?")
        if name in ("TABLE_SCAN", "READ_PARQUET"):
            name += " " + node.get("extra_info", {}).get("Filename(s)", "").rsplit("/", 1)[-1]
        entry = operators.setdefault(name, [0.0, 0, 0])
        entry[0] += node.get("timing", 0.0)
        entry[1] += 1
        entry[2] += node.get("intermediate_rows", 0) or 0
        for child in node.get("children", []):
            walk(child)

    for node in data.get("operator", []):
        walk(node)
    query = data.get("query", {})
    print(f"  compiled query: {query.get('total_time', 0):.2f} s wall, {query.get('total_rows_scanned', 0):,} rows scanned, "
          f"peak buffer memory {data.get('system', {}).get('peak_buffer_memory', 0) / 2**20:,.0f} MiB")
    for name, (seconds, count, rows) in sorted(operators.items(), key=lambda item: -item[1][0])[:8]:
        print(f"    {seconds:6.3f} s thread time  {count:3} × {name:32} rows out {rows:,}")


MEMORY_VARIANTS = {
    "as compiled": lambda sql: sql,
    "without the final ORDER BY": lambda sql: sql[: sql.rindex("ORDER BY")],
    "without the 42 joins to subjects (county NULL, kinds not checked)": lambda sql: re.sub(
        r"s\.kind IN \([^)]*\)", "TRUE",
        sql.replace("FROM events AS e JOIN subjects AS s ON s.subject_id = e.subject_id", "FROM events AS e")
        .replace("s.county", "CAST(NULL AS VARCHAR) AS county"),
    ),
}


def memory_variant(directory: Path, variant: str, limit: str) -> None:
    """One variant in this process: its outcome and this process's peak RSS."""
    import duckdb

    from zhida.engine.batch import compile_pack

    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{limit}'")
    con.execute(f"SET temp_directory = '{tempfile.gettempdir()}/zhida-duckdb'")
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{directory / 'events.parquet'}')")
    con.execute(f"CREATE VIEW subjects AS SELECT subject_id, kind, county FROM read_parquet('{directory / 'subjects.parquet'}')")
    sql = MEMORY_VARIANTS[variant](compile_pack(_pack()).sql)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        try:
            con.execute(f"COPY ({sql}) TO '{Path(scratch) / 'out.parquet'}' (FORMAT parquet)")
            outcome = "ok"
        except duckdb.Error as error:
            outcome = "FAILED: " + str(error).splitlines()[0][:90]
    seconds = time.perf_counter() - start
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 2**20
    print(f"    memory_limit {limit:>6}, {variant:<66} {seconds:6.1f} s, peak RSS {peak:6.2f} GiB: {outcome}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("/tmp/zhida-bench-data"))
    parser.add_argument("--workloads", default="a,b")
    parser.add_argument("--memory", default="", help="workload to run the memory experiment on (c)")
    parser.add_argument("--variant", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        memory_variant(args.data / args.memory, args.variant[0], args.variant[1])
        return
    for name in [w for w in args.workloads.split(",") if w]:
        print(f"workload {name}:")
        checks(args.data / name)
        profile(args.data / name)
    if args.memory:
        print(f"workload {args.memory}: the compiled query alone (no checks), each run in a fresh process")
        for variant in MEMORY_VARIANTS:
            for limit in ("1GB",) if variant != "as compiled" else ("1GB", "2GB", "2500MB"):
                subprocess.run([sys.executable, __file__, "--data", str(args.data), "--memory", args.memory, "--variant", variant, limit],
                               check=True)


if __name__ == "__main__":
    main()
