"""Parsing speed: the Huzhou document (goal: under 50 ms) and concatenated corpora (goal: linear).

Baseline, in the same run: decoding the bytes and making the canonical copy (OpenCC + punctuation),
the work every parse must do before it reads anything; the parser's own cost is the difference.

Second table: the `zhida parse FILE` command itself, tree and --json output, each run in its own
process so that wall time and peak RSS (from os.wait4) belong to that run alone. A corpus of N
copies repeats the areas 一…八 N times, so the tree must group by position, not by number.

    python bench/parse_bench.py [--repeat N] [--cli-copies 1 10 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from zhida.source import parse_bytes
from zhida.source.reading import decode
from zhida.source.script import canonical, to_simplified

HUZHOU = Path(__file__).resolve().parents[1] / "policies" / "huzhou-2025" / "document.txt"


def best_and_median(function, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        to_simplified.cache_clear()  # a new document is never in the cache: measure the conversion
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times) * 1000, statistics.median(times) * 1000


def run_cli(arguments: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one `zhida parse` process, its output discarded."""
    command = [sys.executable, "-m", "zhida.cli", "parse", *arguments]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().decode()}")
    return elapsed, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def cli_table(one: bytes, copies_list: list[int]) -> Table:
    table = Table(title="zhida parse FILE: one process per run (wall s, peak RSS MiB)")
    for column in ("corpus", "bytes", "tree s", "tree MiB", "tree s per 1× copy", "--json s", "--json MiB", "--json s per 1× copy"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory() as directory:
        for copies in copies_list:
            path = Path(directory) / f"huzhou-{copies}x.txt"
            path.write_bytes(b"\n".join([one] * copies))
            tree_s, tree_mib = run_cli([str(path)])
            json_s, json_mib = run_cli([str(path), "--json"])
            table.add_row(
                f"{copies}×", f"{path.stat().st_size:,}", f"{tree_s:.2f}", f"{tree_mib:.0f}", f"{tree_s / copies:.3f}",
                f"{json_s:.2f}", f"{json_mib:.0f}", f"{json_s / copies:.3f}",
            )
    return table


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--repeat", type=int, default=20)
    options.add_argument("--cli-copies", type=int, nargs="+", default=[1, 10, 100])
    arguments = options.parse_args()
    repeat = arguments.repeat
    one = HUZHOU.read_bytes()
    parse_bytes(one)  # load OpenCC's dictionaries once, as a running service would

    table = Table(title="zhida parse: Huzhou 2025 and concatenated corpora (ms)")
    for column in ("corpus", "characters", "baseline: decode + canonical (median)", "parse (best)", "parse (median)", "parse ms per 1× copy", "goal"):
        table.add_column(column, justify="right")
    for copies in (1, 10, 100):
        data = b"\n".join([one] * copies)
        runs = repeat if copies < 100 else max(3, repeat // 5)
        _, base = best_and_median(lambda: canonical(decode(data, "bench")), runs)
        best, median = best_and_median(lambda: parse_bytes(data, "bench"), runs)
        characters = len(decode(data, "bench"))
        goal = "< 50 ms" if copies == 1 else "linear"
        table.add_row(f"{copies}×", f"{characters:,}", f"{base:.1f}", f"{best:.1f}", f"{median:.1f}", f"{median / copies:.1f}", goal)
    Console(width=150).print(table)
    Console(width=150).print(cli_table(one, arguments.cli_copies))


if __name__ == "__main__":
    main()
