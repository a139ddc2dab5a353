"""Hostile input: the parser answers every text with a Document (warnings naming the line) or a
DocumentError naming the line, never a traceback, and in time linear in the size of the text.

Each document is the Huzhou preamble (lines 1–7) followed by lines of our own, so line numbers
are known: the area heading is line 8, its goal line 9, its first article line 10.
"""

from __future__ import annotations

import io
import time
from decimal import Decimal

import pytest
from conftest import HUZHOU
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from zhida.cli import document_tree
from zhida.source import Document, DocumentError, parse_text
from zhida.source.amounts import MAX_AMOUNT

PREAMBLE = "".join(HUZHOU.read_text(encoding="utf-8").splitlines(keepends=True)[:7])
AREA = "一、测试领域(由市科技局牵头实施)\n"  # line 8
GOAL = "2025年,全市财政预算安排1亿元。\n"  # line 9


def document(*lines: str) -> str:
    """The preamble, one area with its budget, then `lines` from line 10 on."""
    return PREAMBLE + AREA + GOAL + "".join(line + "\n" for line in lines)


def parse(*lines: str) -> Document:
    return parse_text(document(*lines), "hostile.txt")


def amounts_after_budget(parsed: Document) -> list[Decimal]:
    return [amount.value for amount in parsed.amounts[1:]]  # the first is the area's budget


def best_time(text: str, repeat: int = 3) -> float:
    """CPU seconds of the fastest of `repeat` parses: the least disturbed by other work on the machine."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        parse_text(text, "hostile.txt")
        times.append(time.process_time() - start)
    return min(times)


# --- malformed numerals: a warning naming the line, the rest still read ------------------------


def test_ten_ten_as_an_area_number_is_a_warning_not_an_area():
    parsed = parse("(一)测试条目。给予10万元奖励。", "十十、第二领域(由市经信局牵头实施)", "(二)第二条目。")
    assert [area.number for area in parsed.areas] == [1]
    assert "第11行「十十、第二领域(由市经信局牵头实施)」: 领域编号无法读取(“十十”不是有效的中文数字),未作为领域读取" in parsed.warnings
    assert amounts_after_budget(parsed) == [Decimal(100000)]


def test_fifty_ten_ten_as_an_article_number_joins_the_previous_article():
    parsed = parse("(一)测试条目。给予10万元奖励。", "(五十十)又一条。给予5万元奖励。")
    assert [article.number for article in parsed.articles] == [1]
    assert parsed.article(1).text.endswith("(五十十)又一条。给予5万元奖励。")
    assert any(warning.startswith("第11行「(五十十)又一条。给予5万元奖励。」: 条目编号无法读取") for warning in parsed.warnings)
    assert amounts_after_budget(parsed) == [Decimal(100000), Decimal(50000)]


def test_ten_thousand_ten_thousand_yuan_is_a_warning():
    parsed = parse("(一)测试条目。给予十千万元奖励,另给予二十万元补助。")
    assert amounts_after_budget(parsed) == [Decimal(200000)]
    assert "第10行: 金额“十千万元”无法读取(“十千万”不是有效的中文数字),未计入" in parsed.warnings


def test_chinese_numerals_with_wan_inside_are_read_whole():
    parsed = parse("(一)测试条目。给予一万二千元奖励,或一亿二千万元。")
    assert amounts_after_budget(parsed) == [Decimal(12000), Decimal(120000000)]


def test_twenty_five_digit_amount_is_a_warning():
    parsed = parse("(一)测试条目。给予1234567890123456789012345元奖励。")
    assert amounts_after_budget(parsed) == []
    [warning] = parsed.warnings
    assert warning.startswith("第10行: 金额“123456789012345678901234…”无法读取(数字“1234567890…”过长(25 个字符")


def test_amounts_are_read_below_ten_to_the_fifteen_yuan():
    parsed = parse("(一)测试条目。给予999999999999999元,或1000000000000000元,或10000000亿元。")
    assert amounts_after_budget(parsed) == [MAX_AMOUNT - 1]
    assert parsed.warnings == (
        "第10行: 金额“1000000000000000元”超出上限:金额须小于 10^15 元(1000万亿元),未计入",
        "第10行: 金额“10000000亿元”超出上限:金额须小于 10^15 元(1000万亿元),未计入",
    )


def test_thirty_thousand_nines_parse_in_linear_time():
    nines = "九" * 30_000
    parsed = parse(f"(一)测试条目。给予{nines}元奖励。新增{nines}个。{nines}")
    assert amounts_after_budget(parsed) == []
    assert [warning[:20] for warning in parsed.warnings] == ["第10行: 金额“九九九九九九九九九九九"] + ["第10行: 目标数值“九九九九九九九九九"[:20]]
    # Quadratic growth would make 4× the text cost 16× the time; linear costs about 4×.
    small = best_time(document("(一)测试条目。给予" + "九" * 7_500 + "元。" + "九" * 7_500))
    large = best_time(document("(一)测试条目。给予" + "九" * 30_000 + "元。" + "九" * 30_000))
    assert large < 8 * max(small, 0.002), (small, large)


@pytest.mark.parametrize(
    "body",
    [
        lambda n: "给予" + "1元、" * n,  # one clause of n amounts
        lambda n: "1元给" * n,
        lambda n: "新增1个x" * n,  # n targets in one clause
        lambda n: "“1个”" * n,  # n quotations
        lambda n: "全市" + "达到" * n + "5个",
        lambda n: "单个" * n + "最高1元",
    ],
    ids=["enumeration", "amounts-in-one-clause", "targets-in-one-clause", "quotations", "verbs", "carriers"],
)
def test_long_clauses_parse_in_linear_time(body):
    # 16× the text: quadratic growth would cost 256× the time, linear about 16× (measured 20–25×
    # with the allocator's share); 64× leaves room for a busy machine without letting n² through.
    small = best_time(document("(一)测试条目。" + body(1_000)))
    large = best_time(document("(一)测试条目。" + body(16_000)))
    assert large < 64 * max(small, 0.002), (small, large)


def test_a_preamble_line_of_quotation_marks_is_linear():
    small = best_time("《" * 50_000 + "\n" + document("(一)测试条目。"))
    large = best_time("《" * 200_000 + "\n" + document("(一)测试条目。"))
    assert large < 8 * max(small, 0.002), (small, large)


def test_an_impossible_date_of_issue_is_a_warning():
    text = document("(一)测试条目。").replace("2025年3月14日", "2025年十三月四十日")
    parsed = parse_text(text, "hostile.txt")
    assert parsed.preamble.issued is None
    assert parsed.preamble.valid_from.year == 2025  # still from 均為…/the edition year (2025年版)
    assert parsed.warnings == ("第4行「2025年十三月四十日」: 不是有效的发文日期,未读取",)


# Pieces of the family's writing, to be put together in any order.
PIECES = [
    "一、", "十十、", "一百、", "(一)", "(五十十)", "(由市局牵头实施)", "牵头实施)", "九", "十", "千", "万", "亿", "元",
    "美元", "%", "百分之", "分之", "最高", "不低于", "以上", "以下", "每家", "单个企业全年", "、", ",", "。", "\n", "1",
    "0", "9", ".", "—", "至", "个", "人", "标箱", "“", "”", "《", "》印发", "2025年", "13月", "40日",
    "均为0000年全年实施有效", "预算安排", "支持总额为", "零", "点", "两", "第", "年版", "年",
]


@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=60), st.booleans())
def test_any_arrangement_is_a_document_or_a_document_error(pieces, inside_an_article):
    body = "".join(pieces)
    text = document("(一)测试条目。" + body) if inside_an_article else body
    try:
        parsed = parse_text(text, "hostile.txt")
    except DocumentError as error:
        assert str(error).startswith("hostile.txt: ")
        return
    Console(file=io.StringIO(), markup=False, emoji=False).print(document_tree(parsed, False))


# --- area headings -----------------------------------------------------------------------------


def test_areas_past_ninety_nine_are_read():
    parsed = parse(
        "(一)条目。",
        "九十九、第九十九领域(由市经信局牵头实施)", "(二)条目。",
        "一百、第一百领域(由市商务局牵头实施)", "(三)条目。",
        "一百零一、第一百零一领域(由市农业农村局牵头实施)", "(四)条目。",
    )
    assert [(area.number, area.department) for area in parsed.areas] == [
        (1, "市科技局"), (99, "市经信局"), (100, "市商务局"), (101, "市农业农村局"),
    ]
    assert [article.area for article in parsed.articles] == [1, 99, 100, 101]


def test_a_heading_without_lead_department_is_an_area_with_a_note():
    # Issue 12: 二、没有牵头部门的领域 is still an area; it names no lead department ("").
    parsed = parse("(一)测试条目。给予10万元奖励。", "二、没有牵头部门的领域", "(二)第二条目。")
    assert [(area.number, area.title, area.department) for area in parsed.areas] == [
        (1, "测试领域", "市科技局"), (2, "没有牵头部门的领域", ""),
    ]
    assert [article.area for article in parsed.articles] == [1, 2]
    assert "领域2「没有牵头部门的领域」没有写明牵头单位(标题中没有“由…牵头实施”)" in parsed.notes
    assert not any("第11行" in warning for warning in parsed.warnings)


def test_a_sentence_that_starts_like_a_heading_is_a_warning_with_its_line():
    parsed = parse("(一)测试条目。给予10万元奖励。", "二、这一行是一句话,不是标题。", "(二)第二条目。")
    assert [area.number for area in parsed.areas] == [1]
    assert any(
        warning.startswith("第11行「二、这一行是一句话,不是标题。」: 看似领域标题,但不是“一、标题”或“一、标题(由…牵头实施)”的格式")
        for warning in parsed.warnings
    )


def test_an_unnumbered_heading_between_articles_is_placed_nowhere_with_a_warning():
    parsed = parse("(一)测试条目。给予10万元奖励。", "加大金融支持力度", "(二)第二条目。给予5万元奖励。")
    assert parsed.article(1).text == "(一)测试条目。给予10万元奖励。"  # not re-filed under (一)
    assert [article.area for article in parsed.articles] == [1, 1]
    assert any(warning.startswith("第11行「加大金融支持力度」: 看似标题,但没有“一、”或“(一)”式编号") for warning in parsed.warnings)
    assert not any("加大金融支持力度" in task.text for task in parsed.tasks)


def test_a_document_with_areas_but_no_articles_is_refused_saying_so():
    with pytest.raises(DocumentError) as refused:
        parse_text(PREAMBLE + AREA + GOAL, "hostile.txt")
    assert str(refused.value).startswith("hostile.txt: 找到1个政策领域(「测试领域」),但没有找到任何条目")


def test_a_document_whose_only_heading_is_unreadable_is_refused_naming_the_line():
    text = PREAMBLE + "十十、测试领域(由市科技局牵头实施)\n(一)条目。\n"
    with pytest.raises(DocumentError) as refused:
        parse_text(text, "hostile.txt")
    message = str(refused.value)
    assert message.startswith("hostile.txt: 没有找到政策领域")
    assert "第8行「十十、测试领域(由市科技局牵头实施)」: 领域编号无法读取" in message


def test_a_document_without_structure_is_still_refused():
    with pytest.raises(DocumentError, match="hostile.txt: 没有找到政策领域"):
        parse_text(PREAMBLE + "这里没有任何领域。\n", "hostile.txt")


# --- the tree output is linear in the corpus -------------------------------------------------


def _tree(copies: int) -> tuple[Document, str, float]:
    """The document, its tree as printed, and the CPU seconds of the fastest of 3 prints."""
    parsed = parse_text("\n".join([HUZHOU.read_text(encoding="utf-8")] * copies))
    times = []
    for _ in range(3):
        start = time.process_time()
        output = io.StringIO()
        Console(file=output, width=100, markup=False, emoji=False, highlight=False).print(document_tree(parsed, False))
        times.append(time.process_time() - start)
    return parsed, output.getvalue(), min(times)


def test_tree_of_a_corpus_grows_with_the_corpus():
    one, one_tree, one_time = _tree(1)
    eight, eight_tree, eight_time = _tree(8)
    # Area and article numbers repeat in a corpus: each amount is shown once, under its own copy's
    # article (grouping by number showed each under all 8 copies: 64 times the leaves of one).
    for parsed, tree in ((one, one_tree), (eight, eight_tree)):
        assert tree.count("── 金额 ") == sum(1 for amount in parsed.amounts if amount.article is not None)
        assert tree.count("── 比例 ") == sum(1 for rate in parsed.rates if rate.article is not None)
    assert eight_tree.count("\n") < 9 * one_tree.count("\n")
    # Linear is 8× the time of one copy, quadratic 64×; 24× leaves room for a busy machine.
    assert eight_time < 24 * max(one_time, 0.005), (one_time, eight_time)
