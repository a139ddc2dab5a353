"""Batch benchmark (issue 4): zhida's 免申即享 batch path against OpenFisca-core and a hand-written
floor, side by side in one run, on the same generated registers and the same rules.

Engines (each run in its own subprocess, so that peak RSS is one engine's alone: the child's own
VmHWM from /proc/self/status at its end; not ru_maxrss, which Linux carries over from the parent
through fork and exec, so that a small engine would show the orchestrator's size):
- zhida:        zhida.engine.match.match(pack, subjects, events, out): input checks, the compiled
                rule set in DuckDB, the Parquet entitlements table and the summary; end to end.
- openfisca:    bench/openfisca_rules.py, the same 42 rules written for OpenFisca-core, run with
                the interpreter of a bench-only virtualenv (--openfisca-python).
- floor-sql:    one hand-written DuckDB query (bench/floors.py).
- floor-numpy:  hand-written numpy in integer 分 (bench/floors.py).
- floor-sql@1GB: floor-sql under zhida's default memory limit (it spills beside OUT), to see how the
                hand-written query itself grows from (a) to (c) when it may not hold 10M events in memory.
- floor-sql+checks: floor-sql after zhida's input checks hand-written in as few scans as a person
                would (bench/floors.py `floor_checks`): not the goal's floor, which checks nothing; a
                measure of what zhida's checks cost against checks written by hand.
Every engine reads subjects.parquet and events.parquet and writes the same 12-column
entitlements table (OpenFisca's amounts are its float32 values, written as doubles).

Workloads (zhida synth, cached in --data DIR):
  a  1M consumer trade-ins                       --enterprises 1      --transactions 1000000
  b  100k enterprises + 160k trade-ins (~300k events, with the annual caps)
  c  10M trade-ins: peak RSS of zhida's match (goal < 2 GiB) and growth from (a)

Money: each engine's table is joined to zhida's on (event_id, rule); reported are the largest
|amount − zhida| (and tax_due), the rows whose amount differs by at least 0.01 once rounded to
the 分, and rows that one side has and the other has not.

    python bench/batch_bench.py --openfisca-python /tmp/zhida-bench-venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKLOADS = {
    "a": {"title": "(a) 1M trade-ins", "enterprises": 1, "transactions": 1_000_000, "seed": 2025},
    "b": {"title": "(b) 100k enterprises", "enterprises": 100_000, "transactions": 160_000, "seed": 2026},
    "c": {"title": "(c) 10M trade-ins", "enterprises": 1, "transactions": 10_000_000, "seed": 2027},
}
ENGINES = ("zhida", "openfisca", "floor-sql", "floor-numpy", "floor-sql+checks")
GIB = 1024**3
FLOOR_RATIO = 1.3  # issue 13: zhida within 1.3x of the fastest hand-written floor on (a) and (b) (issue 4: 2x)


# ---------------------------------------------------------------- workers (one engine, one run, in a subprocess)


def peak_rss() -> int:
    """This process's peak resident set (VmHWM), in bytes."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def worker(engine: str, subjects: Path, events: Path, out: Path) -> dict:
    if engine.startswith("zhida"):
        return _zhida(subjects, events, out)
    sys.path.insert(0, str(HERE))
    import floors

    start = time.perf_counter()
    run = {"floor-sql": floors.floor_sql, "floor-numpy": floors.floor_numpy, "floor-sql+checks": floors.floor_sql_checked}
    name, _, limit = engine.partition("@")
    result = run[name](subjects, events, out, memory_limit=limit) if limit else run[name](subjects, events, out)
    result["seconds"] = time.perf_counter() - start
    return result


def _zhida(subjects: Path, events: Path, out: Path) -> dict:
    import zhida.engine.match as match_module
    from zhida.rules.pack import load_pack

    return _timed_match(match_module, load_pack)


def _timed_match(match_module, load_pack) -> dict:
    """match() with its phases timed by wrapping the functions it calls (zhida itself is untouched)."""
    args = json.loads(os.environ["ZHIDA_BENCH_ARGS"])
    phases: dict[str, float] = {}

    def timed(name: str, label: str) -> None:
        function = getattr(match_module, name)

        def wrapper(*a, **k):
            start = time.perf_counter()
            try:
                return function(*a, **k)
            finally:
                phases[label] = phases.get(label, 0.0) + time.perf_counter() - start

        setattr(match_module, name, wrapper)

    # The functions match() calls, by phase; a name match.py no longer has is skipped (its time goes to "other").
    for name, label in (("open_register", "checks"), ("materialise", "load"), ("materialise_by_type", "load"),
                        ("in_two_statements", "claims"), ("compile_by_type", "compile"), ("run", "query"), ("summary_of", "summary"),
                        ("write_output", "write")):
        if hasattr(match_module, name):
            timed(name, label)
    start = time.perf_counter()
    pack = load_pack(args["pack"])
    load = time.perf_counter() - start
    start = time.perf_counter()
    limit = {"memory_limit": args["memory_limit"]} if args.get("memory_limit") else {}
    summary = match_module.match(pack, Path(args["subjects"]), Path(args["events"]), Path(args["out"]), **limit)
    seconds = time.perf_counter() - start
    phases["other"] = seconds - sum(phases.values())
    return {"rows": summary.rows, "seconds": seconds, "phases": phases, "pack_load": load}


def run_engine(engine: str, python: str, subjects: Path, events: Path, out: Path) -> dict:
    """One run of one engine in a fresh process: its result and its own peak RSS.

    "zhida" is match() with its default memory_limit; "zhida@4GB" passes memory_limit="4GB".
    A failed run is returned (failed=True, the last line of its error), not raised.
    """
    if engine == "openfisca":
        command = [python, str(HERE / "openfisca_rules.py"), str(subjects), str(events), str(out)]
        env = dict(os.environ)
    else:
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", engine, str(subjects), str(events), str(out)]
        env = dict(os.environ)
        if engine.startswith("zhida"):
            from zhida.rules.library import choose

            env["ZHIDA_BENCH_ARGS"] = json.dumps({
                "pack": str(choose("huzhou-2025").path), "subjects": str(subjects), "events": str(events), "out": str(out),
                "memory_limit": engine.partition("@")[2] or None,
            })
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=env)
        stdout = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    wall = time.perf_counter() - started
    lines = stdout.decode().strip().splitlines()
    if process.returncode == 0 and lines:
        result = json.loads(lines[-1])
        result["process_wall"] = wall
        return result
    # Crashed without a report: wait4's peak (it may include the parent's size, see the top of this file).
    lines = [line for line in stderr.splitlines() if line.strip()]
    error = next((line for line in reversed(lines) if "Error" in line or "Exception" in line), lines[-1] if lines else "")
    return {"failed": True, "error": error.strip(), "seconds": wall, "rows": 0, "phases": {}, "peak_rss": usage.ru_maxrss * 1024,
            "process_wall": wall}


# ---------------------------------------------------------------- data


def ensure_data(root: Path, name: str) -> Path:
    spec = WORKLOADS[name]
    directory = root / name
    stamp = directory / "spec.json"
    wanted = {k: spec[k] for k in ("enterprises", "transactions", "seed")}
    if stamp.exists() and json.loads(stamp.read_text()) == wanted and (directory / "events.parquet").exists():
        return directory
    from zhida.rules.library import choose
    from zhida.rules.pack import load_pack
    from zhida.synth import synthesise

    print(f"synthesising {spec['title']} in {directory} …", flush=True)
    started = time.perf_counter()
    counts = synthesise(load_pack(choose("huzhou-2025").path), spec["enterprises"], spec["transactions"], spec["seed"], directory)
    stamp.write_text(json.dumps(wanted))
    print(f"  {counts['events']:,} events, {counts['subjects']:,} subjects in {time.perf_counter() - started:.1f} s", flush=True)
    return directory


def event_count(directory: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(directory / "events.parquet").metadata.num_rows


# ---------------------------------------------------------------- money


def compare(reference: Path, other: Path) -> dict:
    """`other` against zhida's table, joined on (event_id, rule)."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"CREATE VIEW z AS SELECT * FROM read_parquet('{reference}')")
    con.execute(f"CREATE VIEW o AS SELECT * FROM read_parquet('{other}')")
    missing = con.execute("SELECT count(*) FROM z ANTI JOIN o USING (event_id, rule)").fetchone()[0]
    extra = con.execute("SELECT count(*) FROM o ANTI JOIN z USING (event_id, rule)").fetchone()[0]
    # Exact: the reference in integer 分, the other side as the double it wrote (OpenFisca: its float32).
    row = con.execute("""
        SELECT
          max(abs(CAST(o.amount AS DOUBLE) - CAST(z.amount AS DOUBLE))),
          count(*) FILTER (WHERE CAST(round(CAST(o.amount AS DOUBLE) * 100) AS BIGINT) <> CAST(z.amount * 100 AS BIGINT)),
          max(abs(CAST(o.tax_due AS DOUBLE) - CAST(z.tax_due AS DOUBLE))),
          count(*) FILTER (WHERE CAST(round(CAST(o.tax_due AS DOUBLE) * 100) AS BIGINT) <> CAST(z.tax_due * 100 AS BIGINT)),
          count(*) FILTER (WHERE o.caps_hit IS DISTINCT FROM z.caps_hit),
          count(*)
        FROM z JOIN o USING (event_id, rule)""").fetchone()
    worst = con.execute("""
        SELECT rule, event_id, CAST(z.amount AS VARCHAR), CAST(o.amount AS DOUBLE)
        FROM z JOIN o USING (event_id, rule)
        ORDER BY abs(CAST(o.amount AS DOUBLE) - CAST(z.amount AS DOUBLE)) DESC NULLS LAST LIMIT 1""").fetchone()
    by_rule = con.execute("""
        SELECT rule, count(*) FILTER (WHERE CAST(round(CAST(o.amount AS DOUBLE) * 100) AS BIGINT) <> CAST(z.amount * 100 AS BIGINT)),
               max(abs(CAST(o.amount AS DOUBLE) - CAST(z.amount AS DOUBLE)))
        FROM z JOIN o USING (event_id, rule) GROUP BY rule HAVING count(*) FILTER (
          WHERE CAST(round(CAST(o.amount AS DOUBLE) * 100) AS BIGINT) <> CAST(z.amount * 100 AS BIGINT)) > 0
        ORDER BY 2 DESC""").fetchall()
    identical = None
    if con.execute("DESCRIBE o").fetchall() == con.execute("DESCRIBE z").fetchall():
        columns = [c[0] for c in con.execute("DESCRIBE z").fetchall()]
        differs = " OR ".join(f"x.{c} IS DISTINCT FROM y.{c}" for c in columns)
        identical = con.execute(
            f"SELECT count(*) FROM (SELECT * FROM z) x POSITIONAL JOIN (SELECT * FROM o) y WHERE {differs}"
        ).fetchone()[0] == 0 and missing == 0 and extra == 0
    return {
        "missing": missing, "extra": extra, "max_error": row[0] or 0.0, "rows_differing": row[1],
        "max_tax_error": row[2] or 0.0, "tax_rows_differing": row[3], "caps_hit_differing": row[4], "joined": row[5],
        "worst": worst, "by_rule": by_rule, "identical": identical,
    }


# ---------------------------------------------------------------- the run


def machine() -> dict:
    memory = 0
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    import duckdb

    return {
        "nproc": os.cpu_count(), "ram_gib": round(memory / GIB, 1), "python": platform.python_version(),
        "platform": platform.platform(), "duckdb": duckdb.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--openfisca-python", default="/tmp/zhida-bench-venv/bin/python", help="interpreter of the bench venv")
    parser.add_argument("--data", type=Path, default=Path("/tmp/zhida-bench-data"), help="where the registers are generated (cached)")
    parser.add_argument("--workloads", default="a,b,c")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--repeat", type=int, default=3, help="runs per engine on (a) and (b); the best time is reported")
    parser.add_argument("--openfisca-on-c", action="store_true", help="also run OpenFisca on 10M (slow, ~10 GiB)")
    parser.add_argument("--c-memory-limit", default="4GB",
                        help="if match() fails on (c) at its default memory_limit, run it again with this one ('' to skip)")
    parser.add_argument("--json", type=Path, default=None, help="write all results here")
    parser.add_argument("--worker", nargs=4, metavar=("ENGINE", "SUBJECTS", "EVENTS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        engine, subjects, events, out = args.worker
        started = time.perf_counter()
        try:
            result = worker(engine, Path(subjects), Path(events), Path(out))
        except Exception as error:  # reported, not raised: a failure is a result (zhida's OOM on 10M)
            first = str(error).splitlines()[0] if str(error) else ""
            result = {"failed": True, "error": f"{type(error).__name__}: {first}", "seconds": time.perf_counter() - started,
                      "rows": 0, "phases": {}}
        result["peak_rss"] = peak_rss()
        print(json.dumps(result))
        return

    from rich.console import Console

    console = Console(width=200)
    engines = [e for e in args.engines.split(",") if e]
    workloads = [w for w in args.workloads.split(",") if w]
    started = time.perf_counter()
    info = machine()
    console.print(f"machine: {info}")
    results: dict = {"machine": info, "workloads": {}}
    for name in workloads:
        directory = ensure_data(args.data, name)
        events = event_count(directory)
        runs = {}
        todo = [e for e in engines if not (name == "c" and e == "openfisca" and not args.openfisca_on_c)]
        repeat = args.repeat if name != "c" else 1
        for attempt in range(repeat):
            for engine in todo:
                record(runs, name, engine, attempt, repeat, args, directory, console)
        if name == "c" and runs.get("zhida", {}).get("failed") and args.c_memory_limit:
            # match() at its default memory_limit failed: measure it again with a larger limit.
            record(runs, name, f"zhida@{args.c_memory_limit}", 0, 1, args, directory, console)
        reference = next((e for e in runs if e.startswith("zhida") and not runs[e].get("failed")), None)
        for engine, run in runs.items():
            if reference and engine != reference and not run.get("failed"):
                run["money"] = compare(Path(runs[reference]["out"]), Path(run["out"]))
        results["workloads"][name] = {"events": events, "runs": runs, "reference": reference}
    results["total_seconds"] = time.perf_counter() - started
    report(console, results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


def record(runs: dict, name: str, engine: str, attempt: int, repeat: int, args, directory: Path, console) -> None:
    out = args.data / "out" / f"{name}-{engine.replace('@', '-')}.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = run_engine(engine, args.openfisca_python, directory / "subjects.parquet", directory / "events.parquet", out)
    detail = (f"FAILED: {result['error']}" if result.get("failed") else
              f"{result['rows']:,} rows, phases " + ", ".join(f"{k} {v:.2f}" for k, v in result["phases"].items()))
    console.print(
        f"  {WORKLOADS[name]['title']:<22} {engine:<12} run {attempt + 1}/{repeat}: {result['seconds']:7.2f} s, "
        f"peak RSS {result['peak_rss'] / 2**20:7.0f} MiB, {detail}",
        highlight=False, markup=False,
    )
    best = runs.get(engine)
    if best is None:
        runs[engine] = {**result, "out": str(out), "all_seconds": [result["seconds"]], "max_rss": result["peak_rss"]}
        return
    best["all_seconds"].append(result["seconds"])
    best["max_rss"] = max(best["max_rss"], result["peak_rss"])
    if result["seconds"] < best["seconds"] and not result.get("failed"):
        best.update({k: v for k, v in result.items() if k != "peak_rss"})


COLUMNS = ("workload", "engine", "events", "seconds", "events/s", "peak RSS", "max money error (元)", "rows ≠ (≥0.01)",
           "rows missing/extra", "zhida ÷ this (time)")


def rows_of(results: dict) -> list[list[str]]:
    rows = []
    for name, workload in results["workloads"].items():
        runs, reference = workload["runs"], workload.get("reference")
        for engine, run in runs.items():
            title, events = WORKLOADS[name]["title"], f"{workload['events']:,}"
            rss = f"{run['max_rss'] / 2**20:,.0f} MiB"
            if run.get("failed"):
                kind = run["error"].split(":")[0].rsplit(".", 1)[-1]  # e.g. OutOfMemoryException
                rows.append([title, engine, events, f"FAILED ({kind}) after {run['seconds']:.1f} s", "—", rss, "—", "—", "—", "—"])
                continue
            money = run.get("money")
            if engine == reference:
                error, differing, missing, ratio = "exact (reference)", "—", "—", "1.00"
            else:
                error = f"{money['max_error']:.4f}"
                if money["max_tax_error"] > money["max_error"]:
                    error += f" (tax_due {money['max_tax_error']:.4f})"
                differing = f"{money['rows_differing']:,}" + (f" (+ tax_due {money['tax_rows_differing']:,})" if money["tax_rows_differing"] else "")
                missing = f"{money['missing']:,} / {money['extra']:,}"
                ratio = f"{runs[reference]['seconds'] / run['seconds']:.2f}" if reference else "—"
            rows.append([title, engine, events, f"{run['seconds']:.2f}", f"{workload['events'] / run['seconds']:,.0f}", rss, error,
                         differing, missing, ratio])
    return rows


def verdicts(results: dict) -> list[str]:
    lines = []
    w = results["workloads"]
    for name in ("a", "b"):
        runs = w.get(name, {}).get("runs", {})
        title = WORKLOADS[name]["title"]
        z = runs.get("zhida")
        if z is None or z.get("failed"):
            continue
        if "openfisca" in runs and not runs["openfisca"].get("failed"):
            o = runs["openfisca"]["seconds"]
            lines.append(f"{title}: zhida/OpenFisca time = {z['seconds']:.2f}/{o:.2f} s = {z['seconds'] / o:.2f}; goal throughput ≥ OpenFisca's → "
                         + ("MET" if z["seconds"] <= o else "MISSED"))
        floors_run = {e: runs[e]["seconds"] for e in ("floor-sql", "floor-numpy") if e in runs and not runs[e].get("failed")}
        if floors_run:
            engine, floor = min(floors_run.items(), key=lambda item: item[1])
            lines.append(f"{title}: zhida/floor time = {z['seconds']:.2f}/{floor:.2f} s ({engine}) = {z['seconds'] / floor:.2f}; "
                         f"goal ≤ {FLOOR_RATIO} (issue 13) → " + ("MET" if z["seconds"] <= FLOOR_RATIO * floor else "MISSED"))
        checked = runs.get("floor-sql+checks")
        if checked and not checked.get("failed"):
            lines.append(f"{title}: zhida/floor with the same checks = {z['seconds']:.2f}/{checked['seconds']:.2f} s = "
                         f"{z['seconds'] / checked['seconds']:.2f} (for comparison; not the goal's floor)")
    if "c" in w:
        for engine, run in w["c"]["runs"].items():
            if engine.startswith("zhida"):
                state = f"FAILED ({run['error']})" if run.get("failed") else f"{run['seconds']:.2f} s"
                lines.append(f"(c) 10M: {engine}: {state}, peak RSS {run['max_rss'] / GIB:.2f} GiB; goal < 2 GiB → "
                             + ("MET" if run["max_rss"] < 2 * GIB and not run.get("failed") else "MISSED"))
        if "a" in w:
            for engine, ten in w["c"]["runs"].items():
                one = w["a"]["runs"].get(engine) or w["a"]["runs"].get(engine.partition("@")[0])
                if one and not one.get("failed") and not ten.get("failed"):
                    lines.append(f"growth 1M → 10M, {engine}: {one['seconds']:.2f} s → {ten['seconds']:.2f} s = "
                                 f"{ten['seconds'] / one['seconds']:.1f}× for {w['c']['events'] / w['a']['events']:.1f}× the events")
    for name, workload in w.items():
        for engine, run in workload["runs"].items():
            money = run.get("money")
            if not money:
                continue
            if money.get("identical"):
                lines.append(f"{WORKLOADS[name]['title']} {engine}: the whole table is identical to zhida's, row for row and column for column")
            elif money["by_rule"]:
                worst = money["worst"]
                lines.append(f"{WORKLOADS[name]['title']} {engine}: rows ≠ by rule: "
                             + ", ".join(f"{rule} {count:,} (max {error:.4f})" for rule, count, error in money["by_rule"])
                             + f"; worst: {worst[0]} {worst[1]} zhida {worst[2]} vs {worst[3]!r}")
    return lines


def report(console, results: dict) -> None:
    from rich.table import Table

    table = Table(title="Batch: zhida vs OpenFisca-core vs hand-written floors (seconds: best of the runs; RSS: the largest)")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("workload", "engine") else "right")
    previous = None
    for row in rows_of(results):
        if previous is not None and row[0] != previous:
            table.add_section()
        previous = row[0]
        table.add_row(*row)
    console.print(table)
    phases = Table(title="Where the time goes (seconds, in the best run)")
    for column in ("workload", "engine", "phases"):
        phases.add_column(column)
    for name, workload in results["workloads"].items():
        for engine, run in workload["runs"].items():
            phases.add_row(WORKLOADS[name]["title"], engine, ", ".join(f"{k} {v:.2f}" for k, v in run["phases"].items()))
    console.print(phases)
    for line in verdicts(results):
        console.print(line, highlight=False, markup=False)
    console.print(f"total bench time {results['total_seconds']:.0f} s", highlight=False)
    markdown = ["| " + " | ".join(COLUMNS) + " |", "|---|---|" + "---:|" * (len(COLUMNS) - 2)]
    markdown += ["| " + " | ".join(row) + " |" for row in rows_of(results)]
    console.print("\nMarkdown:\n" + "\n".join(markdown), highlight=False, markup=False)


if __name__ == "__main__":
    main()
