"""Engines bench (issue 13): growth of `zhida match` from 1M to 10M and 50M trade-ins on DuckDB
(its default 1 GB memory limit) and Spark local, optionally PostgreSQL, on the same registers.

Each run is one engine on one register in its own process (this script with --worker), calling
the functions `zhida match --engine …` calls (cli._match_elsewhere / engine.match.match):
- duckdb:    zhida.engine.match.match(pack, subjects, events, out, memory_limit)
- spark:     zhida.engine.engines.match_spark(pack, subjects, events, out, master, memory_limit);
             the driver JVM's heap is set by PYSPARK_SUBMIT_ARGS (--driver-memory, default 8g here)
- postgres:  zhida.engine.engines.match_postgres(pack, out, database, subjects, events)
Phases are timed by wrapping the functions these call (zhida itself is untouched).

Peak RSS is the process tree's: the worker's own VmHWM plus, read by the worker at its end, the
VmHWM of every descendant still alive (Spark's JVM lives until the worker exits). The parent also
samples the tree's summed VmRSS every 0.2 s (the simultaneous peak, a lower bound of the sum of peaks).

Registers: `zhida synth` (zhida.synth.synthesise) with --enterprises (default 10 000, so that the
capped enterprise rules are in every run) and N trade-ins by N × 0.4 consumers (2.5 trade-ins each:
50M trade-ins by 20M consumers fits the 20.45M distinct identity numbers synth can make), cached
under --data. Agreement: every engine's row count, money total and total by rule must equal DuckDB's
on the same register, to the 分.

    nice -n 10 python bench/engines_bench.py --sizes 1M,10M,50M --json /tmp/zhida-engines.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = {"1M": 1_000_000, "10M": 10_000_000, "50M": 50_000_000}
CONSUMER_SHARE = 0.4  # consumers per trade-in
MIB = 1024**2


# ---------------------------------------------------------------- in the worker process


def vm_hwm(pid: int | str = "self") -> int:
    """A process's peak resident set (VmHWM) in bytes; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def descendants(root: int) -> list[int]:
    """Every living descendant of `root`, from /proc's parent ids."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def cpu_seconds(pid: int | str = "self", waited: bool = False) -> float:
    """A process's user + system CPU time (and, if `waited`, its waited-for children's), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if waited else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def timed(module, name: str, label: str, phases: dict[str, float]) -> None:
    """Replace module.name by a wrapper adding its time to phases[label]."""
    function = getattr(module, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            phases[label] = phases.get(label, 0.0) + time.perf_counter() - start

    setattr(module, name, wrapper)


def worker(spec: dict) -> dict:
    """One engine on one register; the summary's figures, phases and the tree's peaks."""
    from zhida.rules.library import choose
    from zhida.rules.pack import load_pack

    pack = load_pack(choose("huzhou-2025").path)
    phases: dict[str, float] = {}
    engine, subjects, events, out = spec["engine"], Path(spec["subjects"]), Path(spec["events"]), spec["out"]
    start = time.perf_counter()
    try:
        summary = _match(engine, spec, pack, phases, subjects, events, out)
    except Exception as error:  # noqa: BLE001 — reported with the phases reached
        return {"failed": True, "error": f"{type(error).__name__}: {error}"[:300], "phases": phases,
                "seconds": time.perf_counter() - start, "self_hwm": vm_hwm()}
    seconds = time.perf_counter() - start
    phases["other"] = seconds - sum(phases.values())
    alive = descendants(os.getpid())
    children = {pid: vm_hwm(pid) for pid in alive}
    cpu = cpu_seconds(waited=True) + sum(cpu_seconds(pid, waited=True) for pid in alive)
    return {"cpu": cpu,
        "rows": summary.rows, "total": str(summary.total), "seconds": seconds, "phases": phases,
        "by_rule": {rule: [count, str(amount)] for rule, _, _, count, amount in summary.by_rule},
        "self_hwm": vm_hwm(), "children_hwm": sum(children.values()), "children": len(children),
    }


def _match(engine: str, spec: dict, pack, phases: dict[str, float], subjects: Path, events: Path, out: str):
    """The engine's match function, its phases wrapped."""
    import zhida.engine.engines as engines
    import zhida.engine.match as match_module

    if engine.startswith("duckdb"):
        timed(match_module, "open_register", "checks", phases)
        timed(match_module, "materialise_by_type", "load", phases)
        timed(match_module, "materialise", "load", phases)
        timed(match_module, "in_two_statements", "claims", phases)
        timed(match_module, "run", "query+write", phases)
        timed(match_module, "summary_of", "summary", phases)
        limit = engine.partition("@")[2] or spec["memory_limit"]
        summary = match_module.match(pack, subjects, events, Path(out), memory_limit=limit)
    elif engine == "spark":
        timed(engines, "_stage_checked", "checks+staging", phases)
        timed(engines, "_write_spark", "query+write", phases)
        timed(engines, "_spark_summary", "summary", phases)
        summary = engines.match_spark(pack, str(subjects), str(events), out, spec["master"], spec["memory_limit"])
    else:
        timed(engines, "open_register", "checks", phases)
        timed(engines, "_copy_into_postgres", "COPY", phases)
        timed(engines, "_fetch_into_parquet", "query+fetch", phases)
        timed(engines, "_written_summary", "summary+write", phases)
        summary = engines.match_postgres(pack, Path(out), spec["database"], subjects, events)
    return summary


def synth_worker(spec: dict) -> dict:
    from zhida.rules.library import choose
    from zhida.rules.pack import load_pack
    from zhida.synth import synthesise

    start = time.perf_counter()
    counts = synthesise(load_pack(choose("huzhou-2025").path), spec["enterprises"], spec["transactions"], spec["seed"],
                        Path(spec["directory"]), consumers=spec["consumers"])
    return {**counts, "seconds": time.perf_counter() - start, "self_hwm": vm_hwm()}


# ---------------------------------------------------------------- in the parent


def run_child(spec: dict, env: dict | None = None, timeout: float | None = None) -> dict:
    """This script as --worker in a fresh process, its tree's summed RSS sampled; a failure (or a run past
    `timeout` seconds, then stopped with its process group) is returned, not raised."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})},
                               start_new_session=True)
    sampled = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            total = 0
            for pid in [process.pid, *descendants(process.pid)]:
                try:
                    with open(f"/proc/{pid}/statm") as handle:
                        total += int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
                except (OSError, IndexError, ValueError):
                    pass
            sampled[0] = max(sampled[0], total)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the worker's own group: its JVM with it
        stdout, stderr = process.communicate()
        stderr += f"\nTimeoutError: stopped after {timeout:.0f} s".encode()
    done.set()
    thread.join()
    wall = time.perf_counter() - started
    lines = stdout.decode().strip().splitlines()
    if process.returncode == 0 and lines:
        return {**json.loads(lines[-1]), "wall": wall, "sampled_rss": sampled[0]}  # a caught failure too
    text = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    error = next((line for line in reversed(text) if "Error" in line or "Exception" in line), text[-1] if text else "")
    return {"failed": True, "error": error.strip()[:300], "seconds": wall, "wall": wall, "sampled_rss": sampled[0]}


def ensure_data(root: Path, size: str, enterprises: int, seed: int) -> tuple[Path, dict]:
    """The register of `size` trade-ins under root, made once (spec.json records how)."""
    transactions = SIZES[size]
    wanted = {"enterprises": enterprises, "transactions": transactions, "seed": seed,
              "consumers": int(transactions * CONSUMER_SHARE)}
    directory = root / f"{size}-e{enterprises}-s{seed}"
    stamp = directory / "spec.json"
    if stamp.exists() and json.loads(stamp.read_text()).get("made") and (directory / "events.parquet").exists():
        made = json.loads(stamp.read_text())
        if {k: made[k] for k in wanted} == wanted:
            return directory, made
    print(f"synthesising {size} in {directory} …", flush=True)
    result = run_child({"mode": "synth", "directory": str(directory), **wanted})
    if result.get("failed"):
        raise SystemExit(f"zhida synth {size} failed: {result['error']}")
    made = {**wanted, "made": True, "events": result["events"], "subjects": result["subjects"],
            "synth_seconds": result["seconds"], "synth_hwm": result["self_hwm"],
            "bytes": sum(path.stat().st_size for path in directory.glob("*.parquet"))}
    stamp.write_text(json.dumps(made))
    print(f"  {made['events']:,} events, {made['subjects']:,} subjects in {made['synth_seconds']:.0f} s, "
          f"peak {made['synth_hwm'] / MIB:,.0f} MiB", flush=True)
    return directory, made


def run_engine(engine: str, directory: Path, args) -> dict:
    out_dir = Path(args.data) / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{directory.name}-{engine}.parquet"
    spec = {"mode": "match", "engine": engine, "subjects": str(directory / "subjects.parquet"),
            "events": str(directory / "events.parquet"), "out": str(out), "memory_limit": args.memory_limit,
            "master": args.master, "database": args.database}
    env = {"PYSPARK_SUBMIT_ARGS": f"--driver-memory {args.driver_memory} pyspark-shell"} if engine == "spark" else None
    print(f"  {engine} on {directory.name} …", flush=True)
    result = run_child(spec, env, args.timeout)
    if not result.get("failed"):
        result["peak_rss"] = result["self_hwm"] + result["children_hwm"]
    print("    " + ("FAILED " + result["error"] if result.get("failed") else f"{result['seconds']:.1f} s"), flush=True)
    import shutil

    shutil.rmtree(out, ignore_errors=True) if out.is_dir() else out.unlink(missing_ok=True)
    return result


def agreement(results: dict, size: str) -> str:
    """Rows, total and totals by rule of every engine against DuckDB's on one register."""
    runs = {engine: run for (s, engine), run in results.items() if s == size and not run.get("failed")}
    reference = next((run for engine, run in runs.items() if engine.startswith("duckdb")), None)
    if reference is None:
        return "no DuckDB run to compare with"
    notes = []
    for engine, run in runs.items():
        if run is reference:
            continue

        def by_rule(run: dict) -> dict:
            return {rule: (count, Decimal(amount)) for rule, (count, amount) in run["by_rule"].items()}

        same = (run["rows"] == reference["rows"] and Decimal(run["total"]) == Decimal(reference["total"])
                and by_rule(run) == by_rule(reference))
        notes.append(f"{engine} {'= DuckDB (rows, total, by rule)' if same else 'DIFFERS from DuckDB'}")
    return "; ".join(notes) or "DuckDB only"


def table_rows(results: dict, data: dict) -> list[list[str]]:
    rows = []
    for (size, engine), run in results.items():
        events = data[size]["events"]
        base = results.get(("1M", engine)) or results.get(("1M", engine.partition("@")[0]))
        if run.get("failed"):
            phases = ", ".join(f"{k} {v:.1f}" for k, v in run.get("phases", {}).items())
            rows.append([engine, size, f"{events:,}", f"failed after {run['seconds']:.1f}", "—", "—",
                         f"{run.get('self_hwm', 0) / MIB:,.0f}", f"{run['sampled_rss'] / MIB:,.0f}", "—", "—",
                         f"{phases}; {run['error'].splitlines()[0][:110]}"])
            continue
        growth = "1.00×" if size == "1M" else (
            f"{run['seconds'] / base['seconds']:.2f}× ({SIZES[size] // SIZES['1M']}× events)"
            if base and not base.get("failed") else "—")
        phases = ", ".join(f"{k} {v:.1f}" for k, v in run["phases"].items())
        cpu = f"{run['cpu']:.0f} ({events / run['cpu']:,.0f})" if run.get("cpu") else "—"
        rows.append([engine, size, f"{events:,}", f"{run['seconds']:.1f}", f"{events / run['seconds']:,.0f}", cpu,
                     f"{run['peak_rss'] / MIB:,.0f}", f"{run['sampled_rss'] / MIB:,.0f}", growth,
                     f"{run['rows']:,} / {Decimal(run['total']):,}", phases])
    return rows


HEADERS = ["engine", "transactions", "events", "seconds", "events/s", "CPU s (events per CPU s)", "peak RSS Σ VmHWM (MiB)",
           "peak tree RSS sampled (MiB)", "growth vs 1M", "rows / total (元)", "phases (s)"]


def report(results: dict, data: dict, args) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=220)
    table = Table(title=f"zhida match by engine (DuckDB memory_limit {args.memory_limit}; Spark {args.master}, "
                        f"--driver-memory {args.driver_memory})")
    for header in HEADERS:
        table.add_column(header, justify="right" if header not in ("engine", "phases (s)") else "left")
    rows = table_rows(results, data)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for size in sorted({size for size, _ in results}, key=SIZES.get):
        console.print(f"{size}: {agreement(results, size)}")
    print("\n| " + " | ".join(HEADERS) + " |\n|" + "---|" * len(HEADERS))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print("\n| register | events | subjects | Parquet MiB | synth s | synth peak MiB |\n|---|---:|---:|---:|---:|---:|")
    for size, made in sorted(data.items(), key=lambda item: SIZES[item[0]]):
        print(f"| {size} | {made['events']:,} | {made['subjects']:,} | {made['bytes'] / MIB:,.0f} | "
              f"{made['synth_seconds']:.0f} | {made['synth_hwm'] / MIB:,.0f} |")


def machine() -> str:
    import duckdb

    memory = next(int(line.split()[1]) * 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal:"))
    try:
        import pyspark

        spark = pyspark.__version__
    except ImportError:
        spark = "absent"
    return (f"{os.cpu_count()} cores, {memory / 1024**3:.1f} GiB RAM, Python {platform.python_version()}, "
            f"DuckDB {duckdb.__version__}, PySpark {spark}, {platform.platform()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", default="/tmp/zhida-engines-data")
    parser.add_argument("--sizes", default="1M,10M,50M", help="of " + ",".join(SIZES))
    parser.add_argument("--engines", default="duckdb,spark",
                        help="of duckdb, duckdb@LIMIT (another memory_limit, e.g. duckdb@4GB), spark, postgres")
    parser.add_argument("--postgres-sizes", default="1M,10M", help="sizes run on postgres when it is in --engines")
    parser.add_argument("--enterprises", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--memory-limit", default="1GB", help="DuckDB's (zhida match's default 1GB)")
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--database", default=os.environ.get("DATABASE_URL", "postgresql://127.0.0.1:5432/test"))
    parser.add_argument("--json", help="results file: runs already in it are kept, not repeated")
    parser.add_argument("--timeout", type=float, default=None, help="seconds before a run is stopped")
    parser.add_argument("--synth-only", action="store_true")
    parser.add_argument("--report-only", action="store_true", help="print the tables of --json, run nothing")
    args = parser.parse_args()
    if args.worker:
        spec = json.loads(args.worker)
        print(json.dumps(synth_worker(spec) if spec["mode"] == "synth" else worker(spec)))
        return
    print(machine(), flush=True)
    saved = json.loads(Path(args.json).read_text()) if args.json and Path(args.json).exists() else {}
    results = {tuple(key.split("|")): run for key, run in saved.get("runs", {}).items()}
    data = saved.get("data", {})
    for size in [] if args.report_only else args.sizes.split(","):
        directory, data[size] = ensure_data(Path(args.data), size, args.enterprises, args.seed)
        if args.synth_only:
            continue
        for engine in args.engines.split(","):
            if engine == "postgres" and size not in args.postgres_sizes.split(","):
                continue
            if (size, engine) in results:  # measured already (a failure too: delete it from --json to retry)
                continue
            results[(size, engine)] = run_engine(engine, directory, args)
            if args.json:
                Path(args.json).write_text(json.dumps(
                    {"machine": machine(), "data": data, "runs": {"|".join(key): run for key, run in results.items()}}))
    results = dict(sorted(results.items(), key=lambda item: (item[0][1].partition("@")[0] != "duckdb", item[0][1],
                                                             SIZES[item[0][0]])))
    if results:
        report(results, data, args)


if __name__ == "__main__":
    main()
