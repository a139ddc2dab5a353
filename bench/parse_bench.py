"""Parsing speed: the Huzhou document (goal: under 50 ms) and concatenated corpora (goal: linear).

Baseline, in the same run: decoding the bytes and making the canonical copy (OpenCC + punctuation),
the work every parse must do before it reads anything; the parser's own cost is the difference.

    python bench/parse_bench.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from zhida.source import parse_bytes
from zhida.source.reading import decode
from zhida.source.script import canonical

HUZHOU = Path(__file__).resolve().parents[1] / "policies" / "huzhou-2025" / "document.txt"


def best_and_median(function, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times) * 1000, statistics.median(times) * 1000


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--repeat", type=int, default=20)
    repeat = options.parse_args().repeat
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


if __name__ == "__main__":
    main()
