"""The `zhida` command, driven through its real entry point."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import HUZHOU, ROOT
from typer.testing import CliRunner

from zhida.cli import app
from zhida.source.script import to_simplified

runner = CliRunner()


def run(*arguments: str):
    return runner.invoke(app, list(arguments))


def test_parse_prints_a_tree_in_the_original_script():
    result = run("parse", str(HUZHOU))
    assert result.exit_code == 0, result.output
    assert "1. 推進教育科技人才一體發展  牵头 市科技局  预算 17.25亿元" in result.output
    assert "(17) 更大力度支持消費品以舊換新" in result.output
    assert "金额 最高1.5万元/輛" in result.output  # 新能源汽車最高補貼1.5萬元/輛
    assert "各领域预算合计 233.9亿元,文末支持总额 233.9亿元" in result.output


def test_parse_simplified():
    result = run("parse", str(HUZHOU), "--simplified")
    assert result.exit_code == 0, result.output
    assert "推进教育科技人才一体发展" in result.output
    assert "推進" not in result.output


@pytest.mark.parametrize("simplified", [False, True])
def test_parse_json(simplified):
    arguments = ["parse", str(HUZHOU), "--json"] + (["--simplified"] if simplified else [])
    result = run(*arguments)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    text = HUZHOU.read_text(encoding="utf-8")
    assert data["script"] == ("simplified" if simplified else "original")
    assert [area["budget"] for area in data["areas"]] == [
        "1725000000", "673000000", "172000000", "1026000000", "264000000", "9417000000", "2554000000", "7559000000",
    ]
    assert data["budget_total"] == data["stated_total"] == "23390000000"
    assert sum(len(area["articles"]) for area in data["areas"]) == 52
    voucher = next(a for a in data["amounts"] if a["per"] in ("企業全年", "企业全年"))
    assert (voucher["value"], voucher["qualifier"], voucher["article"]) == ("200000", "ceiling", 3)
    for amount in data["amounts"]:  # offsets index the original, whatever the script shown
        original = text[amount["start"] : amount["end"]]
        assert amount["text"] == (to_simplified(original) if simplified else original)


def test_json_keys_are_documented():
    documented = set(re.findall(r"`([a-z_]+)`", (ROOT / "docs" / "parse-json.md").read_text(encoding="utf-8")))
    data = json.loads(run("parse", str(HUZHOU), "--json").output)

    def keys(value) -> set[str]:
        if isinstance(value, dict):
            return set(value) | set().union(*(keys(v) for v in value.values()))
        if isinstance(value, list):
            return set().union(*(keys(v) for v in value)) if value else set()
        return set()

    assert keys(data) - documented == set()


def test_demo():
    result = run("demo")
    assert result.exit_code == 0, result.output
    assert "共 8 个领域、52 条政策" in result.output
    assert "推进教育科技人才一体发展" in result.output


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "文件为空"),
        (b"  \n\n ", "文件为空"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "二进制文件"),
        (bytes([0xFF, 0xFE, 0xFD]) * 100, "无法按 UTF-8、GB18030 或 GBK 解码"),
        ("这是一段普通文字,没有任何政策结构。\n第二行。".encode(), "没有找到政策领域"),
    ],
    ids=["empty", "blank", "png", "undecodable", "no-structure"],
)
def test_bad_input_exits_2_with_one_message(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "input.txt"
    path.write_bytes(content)
    result = run("parse", str(path))
    assert result.exit_code == 2
    assert message in result.output
    assert str(path) in result.output
    assert "Traceback" not in result.output


def test_missing_file(tmp_path: Path):
    result = run("parse", str(tmp_path / "nowhere.txt"))
    assert result.exit_code == 2
    assert "文件不存在" in result.output


def test_gbk_file(tmp_path: Path):
    path = tmp_path / "huzhou-gbk.txt"
    path.write_bytes(to_simplified(HUZHOU.read_text(encoding="utf-8")).encode("gbk"))
    result = run("parse", str(path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["areas"][0]["title"] == "推进教育科技人才一体发展"


# --- words from a case, a register, a document or a path print verbatim, never as Rich markup ---

MARKUP_CASE = {
    "subject": {"id": "C1", "kind": "consumer", "name": ":x: [bold]"},
    # 家電…一級能效產品按售價的20%給予補貼: 20% of 1000 = 200
    "events": [{"id": "[/]", "type": "trade_in_appliance", "date": "2025-05-01", "grade": "一级", "price": 1000}],
}


def test_calc_prints_case_words_verbatim(tmp_path: Path):
    path = tmp_path / "case.json"
    path.write_text(json.dumps(MARKUP_CASE, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(app, ["calc", str(path)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert ":x: [bold] 可享受的政策" in result.output
    assert "❌" not in result.output
    assert "│ [/]" in result.output  # the event id in its table cell


def test_calc_unmatched_event_id_verbatim(tmp_path: Path):
    # 一級、二級能效家電分別按20%、15%補貼: a 三級 appliance matches no rule
    case = {**MARKUP_CASE, "events": [{**MARKUP_CASE["events"][0], "grade": "三级及以下"}]}
    path = tmp_path / "case.json"
    path.write_text(json.dumps(case, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(app, ["calc", str(path)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "事件 [/] 无可享受的政策" in result.output


def test_missing_case_path_is_printed_verbatim(tmp_path: Path):
    path = tmp_path / "q[/b].json"
    result = runner.invoke(app, ["calc", str(path)], terminal_width=400)
    assert result.exit_code == 2
    assert str(path) in result.output
    assert f"错误: {path}: 无法读取文件" in result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not a MarkupError


def test_parse_a_file_named_like_markup(tmp_path: Path):
    (tmp_path / "[").mkdir()
    path = tmp_path / "[/].txt"  # a directory "[" holding "].txt": the path reads [/].txt
    path.write_bytes(HUZHOU.read_bytes())
    assert run("parse", str(path)).exit_code == 0
    path.write_text("没有结构的文字。\n", encoding="utf-8")
    result = runner.invoke(app, ["parse", str(path)], terminal_width=400)
    assert result.exit_code == 2
    assert f"错误: {path}: 没有找到政策领域" in result.output


def test_document_words_are_not_markup(tmp_path: Path):
    path = tmp_path / "doc.txt"
    text = HUZHOU.read_text(encoding="utf-8").replace("推進教育科技人才一體發展", "推進[/]教育:x:發展", 1)
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["parse", str(path)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "1. 推進[/]教育:x:發展  牵头 市科技局" in result.output


def test_match_prints_register_words_verbatim(tmp_path: Path):
    (tmp_path / "subjects.csv").write_text("subject_id,kind,county\nC1,consumer,[/]\nC2,consumer,:x:\n", encoding="utf-8")
    (tmp_path / "events.csv").write_text(
        "event_id,subject_id,type,date,grade,price,vehicle,category,efficient\n"
        "T1,C1,trade_in_appliance,2025-05-01,一级,1000,,,\n"
        "T2,C2,trade_in_appliance,2025-05-01,一级,1000,,,\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["match", str(tmp_path / "subjects.csv"), str(tmp_path / "events.csv"), "-o", str(out)],
                           terminal_width=200)
    assert result.exit_code == 0, result.output
    county_rows = result.output.split("按区县汇总")[1]
    assert "│ [/]" in county_rows and "│ :x:" in county_rows
    assert "❌" not in result.output


def test_parse_shows_warnings_naming_the_line(tmp_path: Path):
    path = tmp_path / "doc.txt"
    # (三)…單個企業全年最高補助20萬元 -> an unreadable 十千萬元 in its place
    text = HUZHOU.read_text(encoding="utf-8").replace("單個企業全年最高補助20萬元", "單個企業全年最高補助十千萬元", 1)
    path.write_text(text, encoding="utf-8")
    line = next(number for number, words in enumerate(text.splitlines(), 1) if "十千萬元" in words)
    result = runner.invoke(app, ["parse", str(path)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert f"警告: 第{line}行: 金额“十千萬元”无法读取(“十千万”不是有效的中文数字),未计入" in result.output


def test_a_document_without_validity_says_so_instead_of_none(tmp_path: Path):
    document = tmp_path / "no-validity.txt"
    document.write_text("一、推进某事(由市科技局牵头实施)\n(一)某条。给予奖励。\n", encoding="utf-8")
    result = runner.invoke(app, ["parse", str(document)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "有效期 (未写明)" in result.output and "None" not in result.output


def test_the_huzhou_validity_is_printed_as_dates():
    # 本文件明確的各項政策除標明具體實施期限外,均為2025年全年實施有效。
    result = runner.invoke(app, ["parse", str(HUZHOU)])
    assert "有效期 2025-01-01 至 2025-12-31" in result.output.replace("\n", "")
