"""Reform benchmark (issue 13): a reform over workload (b) of batch_bench.py against one match, in one run.

Goal: a reform (baseline and reformed pack over the same register, with its summary and the
per-subject differences written) in under 2x the time of one `zhida match` (input checks, the
compiled query, the Parquet entitlements table and its summary).

Reforms timed (examples/reforms/, illustrative):
  innovation-voucher-60   one rule and its cap: the reform re-runs one rule
  consumer-goods          a bound, a removed rule and a scaled tier over the trade-ins: the largest
                          rules of the register re-run
Each is timed best of --repeat runs, in this process, match and reforms alternating. With
--engine postgres|spark the match is `zhida match --engine` on that engine and the reforms run their
queries there (DATABASE_URL, or --database; Spark local[2]).

    python bench/reform_bench.py [--data DIR] [--repeat 3] [--engine duckdb|postgres|spark]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from batch_bench import ensure_data

from zhida.engine.engines import Where, match_postgres, match_spark
from zhida.engine.match import match
from zhida.engine.reform import run_reform
from zhida.rules.library import choose
from zhida.rules.pack import load_pack
from zhida.rules.reform import read_reform

REFORMS = ("innovation-voucher-60", "consumer-goods")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "zhida-bench")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engine", choices=("duckdb", "postgres", "spark"), default="duckdb")
    parser.add_argument("--database", default=None)
    args = parser.parse_args()
    where = Where(args.engine, args.database, master="local[2]")
    directory = ensure_data(args.data, "b")
    subjects, events = directory / "subjects.parquet", directory / "events.parquet"
    pack = load_pack(choose("huzhou-2025").path)
    reforms = {name: read_reform(HERE.parent / "examples" / "reforms" / f"{name}.yaml", pack) for name in REFORMS}
    best: dict[str, float] = {}
    cpu: dict[str, float] = {}  # CPU seconds of this process (DuckDB's threads included): steadier on a shared machine

    def timed(name: str, run) -> None:
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        best[name] = min(best.get(name, 1e9), time.perf_counter() - start)
        cpu[name] = min(cpu.get(name, 1e9), time.process_time() - start_cpu)

    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        for _ in range(args.repeat):
            timed("match", lambda: one_match(pack, where, subjects, events, out / "match.parquet"))
            for name, reform in reforms.items():
                timed(name, lambda: run_reform(reform, subjects, events, out / f"{name}.parquet", where=where))  # noqa: B023
    print(f"workload (b) {directory} on {args.engine}: best of {args.repeat}")
    print("| run | seconds | × one match | CPU seconds (this process) | × one match |")
    print("|---|---:|---:|---:|---:|")
    for name, seconds in best.items():
        print(f"| {name} | {seconds:.2f} | {seconds / best['match']:.2f} | {cpu[name]:.2f} | {cpu[name] / cpu['match']:.2f} |")


def one_match(pack, where: Where, subjects: Path, events: Path, out: Path) -> None:
    """One `zhida match` on the engine the reforms run on."""
    if where.engine == "postgres":
        match_postgres(pack, out, where.database, subjects, events)
    elif where.engine == "spark":
        match_spark(pack, str(subjects), str(events), str(out), where.master)
    else:
        match(pack, subjects, events, out)


if __name__ == "__main__":
    main()
