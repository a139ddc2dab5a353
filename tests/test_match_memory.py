"""A register too large for --memory-limit: one message naming the option, exit 2, nothing written.

DuckDB spills to disk under its limit, but not everything can spill; its out-of-memory error was
reported as 无法读取 (the files are readable) or as a bare 计算失败.
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from zhida.cli import app
from zhida.rules.pack import load_pack
from zhida.synth import synthesise

PACK = load_pack(Path(__file__).resolve().parents[1] / "src" / "zhida" / "policies" / "huzhou-2025")
runner = CliRunner()


def test_a_register_over_the_memory_limit_names_the_option(tmp_path):
    synthesise(PACK, 200, 200_000, 2025, tmp_path / "register")
    out = tmp_path / "entitlements.parquet"
    result = runner.invoke(app, ["match", str(tmp_path / "register" / "subjects.parquet"),
                                 str(tmp_path / "register" / "events.parquet"), "-o", str(out),
                                 "--memory-limit", "8MB"], terminal_width=400)
    assert result.exit_code == 2, result.output
    assert "内存不足:--memory-limit 8MB 不够本次计算" in result.output and "无法读取" not in result.output
    assert not out.exists()
    assert [path.name for path in tmp_path.iterdir()] == ["register"]  # no private directory left behind
