"""More documents of the family (issue 12): the parser is not fitted to Huzhou or one shape.

tests/data/family/ holds fictional documents (see its README.md) written by hand in the shape of
the yearly 《关于推动经济高质量发展若干政策》, each with a hand-written `<name>.expected.yaml`:

    shaoxing-2024  Traditional, ASCII brackets; area 2's budget stated in article (四) with a
                   其中用于… breakdown; (責任單位:…) at the end of articles; 四、 without 牽頭;
                   an unnumbered heading on line 21; total 28億元 除交叉重疊部分外 < 30.5億元
    quzhou-2026    Simplified, full-width brackets; budgets in articles (三) and (六); a
                   （责任单位：…） on its own line; 四、 without 牵头; 自2026年3月1日起施行,有效期至…

The first tests check each YAML against its raw text with plain string operations; the rest parse
the file and compare with the YAML.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from zhida.cli import app
from zhida.source import Document, parse_file, parse_text

FAMILY = Path(__file__).resolve().parent / "data" / "family"
NAMES = ["shaoxing-2024", "quzhou-2026"]


def _spec(name: str) -> dict:
    return yaml.safe_load((FAMILY / f"{name}.expected.yaml").read_text(encoding="utf-8"))


def _text(name: str) -> str:
    return (FAMILY / f"{name}.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module", params=NAMES)
def family(request) -> tuple[str, dict, Document]:
    name = request.param
    return name, _spec(name), parse_file(FAMILY / f"{name}.txt")


# --- the YAML against the raw text ------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_yaml_is_marked_fictional_and_quotes_the_text(name):
    spec, text = _spec(name), _text(name)
    assert spec["fictional"] is True and spec["document"] == f"{name}.txt"
    for area in spec["areas"]:
        assert area["written"] in text
        for part in area["budget_parts"]:
            assert f"{part['purpose']}{part['written']}" in text
    for article in spec["articles"]:
        assert article["title"] in text
        for department in article["departments"]:
            assert department in text
    for target in spec["targets"]:
        assert target["key"] in text and target["written"] in text
    for benefit in spec["benefits"]:
        assert text.count(benefit["sentence"]) == 1, benefit["sentence"]
    for warning in spec["warnings"]:
        assert warning["contains"] in text.splitlines()[warning["line"] - 1]


@pytest.mark.parametrize("name", NAMES)
def test_yaml_budgets_add_up(name):
    spec = _spec(name)
    for area in spec["areas"]:
        if area["budget_parts"]:  # 其中 A、B、C: the parts make the whole
            assert sum(Decimal(part["value"]) for part in area["budget_parts"]) == Decimal(area["budget"])
    budgets = sum(Decimal(area["budget"]) for area in spec["areas"])
    assert budgets == Decimal(spec["budget_sum"]) > Decimal(spec["stated_total"])  # the overlap


def test_the_two_documents_differ_in_script_and_brackets():
    shaoxing, quzhou = _text("shaoxing-2024"), _text("quzhou-2026")
    assert "（" not in shaoxing and "(責任單位:" in shaoxing and "經濟" in shaoxing
    assert "(" not in quzhou and "（责任单位：" in quzhou and "经济" in quzhou


# --- the parser against the YAML ----------------------------------------------------------------


def test_preamble_year_and_validity(family):
    _, spec, document = family
    expected, preamble = spec["preamble"], document.preamble
    assert preamble.title == expected["title"]
    assert preamble.issuer == expected["issuer"]
    assert preamble.issued == expected["issued"]
    assert preamble.addressees == expected["addressees"]
    assert preamble.implements == expected["implements"]
    assert preamble.year == expected["year"]
    assert (preamble.valid_from, preamble.valid_to) == (expected["valid_from"], expected["valid_to"])


def test_areas_departments_and_budgets(family):
    _, spec, document = family
    parsed = [
        {
            "number": area.number,
            "title": area.title,
            "department": area.department,
            "budget": str(area.budget),
            "budget_in": "goals" if area.budget_article is None else area.budget_article,
            "budget_parts": [
                {"purpose": part.purpose, "value": str(part.value), "written": part.written} for part in area.budget_parts
            ],
            "articles": [article.number for article in area.articles],
        }
        for area in document.areas
    ]
    expected = [{key: value for key, value in area.items() if key != "written"} for area in spec["areas"]]
    assert parsed == expected


def test_budget_spans_quote_the_text(family):
    _, spec, document = family
    for area, expected in zip(document.areas, spec["areas"], strict=True):
        quoted = document.quote(area.budget_span)
        assert expected["written"] in quoted
        for part in area.budget_parts:
            assert document.quote(part.span).endswith(part.purpose + part.written)
            assert part.span.start >= area.budget_span.start and part.span.end <= area.budget_span.end


def test_articles_and_their_own_departments(family):
    _, spec, document = family
    parsed = [
        {"number": a.number, "area": a.area, "title": a.title, "departments": list(a.departments)} for a in document.articles
    ]
    assert parsed == spec["articles"]


def test_stated_total_overlap_is_information_not_a_warning(family):
    _, spec, document = family
    assert document.stated_total == Decimal(spec["stated_total"])
    assert document.total_excludes_overlap is spec["cross_overlap"]
    assert sum(area.budget for area in document.areas) == Decimal(spec["budget_sum"])
    overlap = Decimal(spec["budget_sum"]) - Decimal(spec["stated_total"])
    (note,) = [note for note in document.notes if "除交叉重叠部分外" in note]
    assert f"({overlap:,f} 元):文末写明" in note  # the difference, exactly
    assert not any("支持总额" in warning for warning in document.warnings)


def test_warnings_name_their_lines_and_notes_are_as_written(family):
    _, spec, document = family
    assert len(document.warnings) == len(spec["warnings"]), document.warnings
    for warning, expected in zip(document.warnings, spec["warnings"], strict=True):
        assert warning.startswith(f"第{expected['line']}行「{expected['contains']}")
    assert len(document.notes) == len(spec["notes"]), document.notes
    for expected in spec["notes"]:
        assert sum(expected in note for note in document.notes) == 1, (expected, document.notes)


def test_targets_in_the_unit_the_text_used(family):
    _, spec, document = family
    assert len(document.indicators) == len(spec["targets"]), [i.name for i in document.indicators]
    for target in spec["targets"]:
        here = [i for i in document.indicators if (i.area, i.article) == (target["area"], target["article"])]
        (indicator,) = [i for i in here if target["key"] in i.name]
        assert indicator.written == target["written"], indicator.text
        assert indicator.value == Decimal(target["value"]), indicator.text
        assert indicator.unit == target["unit"], indicator.text
        assert indicator.direction.value == target["direction"], indicator.text
        assert indicator.year == spec["preamble"]["year"], indicator.text
        # The area's lead, or (an area without one) the first 责任单位 of the target's article.
        assert indicator.department == target.get("department", spec["areas"][target["area"] - 1]["department"])


def test_benefit_sentences_sit_in_their_article_with_their_numbers(family):
    """Each benefit sentence is in its article; its amounts and rates are those the YAML lists
    (tiers, amount, cap, threshold), none of them a budget."""
    _, spec, document = family
    for benefit in spec["benefits"]:
        article = document.article(benefit["article"])
        (sentence,) = [s for s in article.sentences if s.text == benefit["sentence"]]
        amounts = [a for a in document.amounts if a.sentence == sentence.index]
        rates = [r for r in document.rates if r.sentence == sentence.index]
        expected_amounts = [*benefit.get("tiers", []), *(benefit[k] for k in ("threshold", "amount", "cap") if k in benefit)]
        assert sorted(a.value for a in amounts) == sorted(Decimal(v) for v in expected_amounts), benefit["sentence"]
        expected_rates = [benefit[k] for k in ("threshold_rate", "rate") if k in benefit]
        assert sorted(r.value for r in rates) == sorted(Decimal(v) for v in expected_rates), benefit["sentence"]
        assert not any(document.is_budget(a) for a in amounts)
        if "cap_per" in benefit:
            (cap,) = [a for a in amounts if a.value == Decimal(benefit["cap"]) and a.qualifier.value == "ceiling"]
            assert cap.per == benefit["cap_per"], benefit["sentence"]
        if "amount_per" in benefit:
            (amount,) = [a for a in amounts if a.value == Decimal(benefit["amount"])]
            assert amount.per == benefit["amount_per"]


def test_budget_amounts_in_articles_are_marked_as_budget(family):
    _, spec, document = family
    budget_amounts = [a.value for a in document.amounts if document.is_budget(a)]
    expected = [Decimal(a["budget"]) for a in spec["areas"]]
    expected += [Decimal(p["value"]) for a in spec["areas"] for p in a["budget_parts"]]
    assert sorted(budget_amounts) == sorted(expected)


def test_notes_and_headings_are_never_tasks(family):
    name, _, document = family
    for task in document.tasks:
        assert "责任单位" not in task.text and "責任單位" not in task.text, task.text
        assert task.text not in ("其中", "加大金融支持力度"), task.text
        assert document.quote(task.span) == task.text
    if name == "shaoxing-2024":
        # line 21 加大金融支持力度 is placed nowhere: not in article (七) nor in (八)
        assert "加大金融支持力度" not in document.article(7).text + document.article(8).text


def test_every_span_quotes_the_original_text(family):
    _, _, document = family
    for article in document.articles:
        assert document.quote(article.span) == article.text
        # an article may run over lines: （二）… then （责任单位：…） on the next
        assert "".join(sentence.text for sentence in article.sentences) == article.text.replace("\n", "")
    for item in (*document.amounts, *document.rates, *document.indicators):
        assert document.quote(item.span) == item.text


# --- validity and year variants, on small documents ---------------------------------------------

BODY = "一、推进科技创新\n(一)支持创新。给予10万元奖励。\n"


def _preamble(*lines: str) -> str:
    return "".join(line + "\n" for line in lines)


@pytest.mark.parametrize(
    "header, closing, expected",
    [
        # 自…起施行,有效期至…
        ("", "本政策自2026年3月1日起施行,有效期至2026年12月31日。", (dt.date(2026, 3, 1), dt.date(2026, 12, 31), 2026)),
        # 有效期2年 from the start: 2026-03-01 … 2028-02-29
        ("", "本政策自2026年3月1日起施行,有效期2年。", (dt.date(2026, 3, 1), dt.date(2028, 2, 29), 2026)),
        # 自印发之日起施行 with the date of issue 2027年1月5日
        ("衢州市人民政府\n2027年1月5日\n", "本政策自印发之日起施行,有效期至2027年12月31日。", (dt.date(2027, 1, 5), dt.date(2027, 12, 31), 2027)),
        # no clause: the edition year of the title (2026年版), although issued in 2025
        ("关于推动经济高质量发展若干政策(2026年版)\n衢州市人民政府\n2025年12月30日\n", "各地要抓好落实。", (dt.date(2026, 1, 1), dt.date(2026, 12, 31), 2026)),
        # no clause and no edition: the year of issue
        ("衢州市人民政府\n2023年2月1日\n", "各地要抓好落实。", (dt.date(2023, 1, 1), dt.date(2023, 12, 31), 2023)),
        # only a start: no end is invented
        ("", "本政策自2026年3月1日起实施。", (dt.date(2026, 3, 1), None, 2026)),
    ],
    ids=["from-until", "from-years", "from-issue", "edition", "issue", "from-only"],
)
def test_validity_variants(header, closing, expected):
    document = parse_text(header + BODY + closing + "\n")
    preamble = document.preamble
    assert (preamble.valid_from, preamble.valid_to, preamble.year) == expected


def test_an_impossible_validity_date_is_a_warning_naming_its_line():
    document = parse_text(BODY + "本政策自2026年2月30日起施行。\n")
    assert document.preamble.valid_from is None
    assert "第3行: 施行日期“自2026年2月30日起施行”不是有效的日期,未读取" in document.warnings


def test_a_document_without_any_lead_line_is_read():
    text = "一、推进科技创新\n(一)支持创新。给予10万元奖励。\n二、扩大开放\n(二)稳外贸。给予5万元奖励。\n"
    document = parse_text(text)
    assert [(area.number, area.title, area.department) for area in document.areas] == [(1, "推进科技创新", ""), (2, "扩大开放", "")]
    assert [task.department for task in document.tasks] == [""] * len(document.tasks)
    assert len(document.notes) == 2


def test_a_budget_breakdown_that_does_not_add_up_is_a_warning():
    text = "一、推进科技创新\n(一)支持创新。市财政2026年预算安排资金5亿元,其中用于平台建设2亿元、用于人才引育2亿元。\n"
    document = parse_text(text)
    assert document.areas[0].budget == Decimal(500_000_000)
    assert [part.value for part in document.areas[0].budget_parts] == [Decimal(200_000_000)] * 2
    assert "第2行: 财政预算 500000000 元的分项之和为 400000000 元,与之不符" in document.warnings


def test_a_total_smaller_than_the_budgets_without_overlap_words_is_a_warning():
    text = BODY.replace("\n(一)", "\n2026年,全市财政预算安排3亿元。\n(一)") + "上述1个领域政策,支持总额为2亿元。\n"
    document = parse_text(text)
    assert document.total_excludes_overlap is False
    assert "各领域财政预算之和为 3亿元(300,000,000 元),与文末支持总额 2亿元(200,000,000 元) 不符" in document.warnings
    assert document.notes == ("领域1「推进科技创新」没有写明牵头单位(标题中没有“由…牵头实施”)",)


# --- zhida parse ----------------------------------------------------------------------------------

runner = CliRunner()


def test_zhida_parse_shows_the_family_document():
    result = runner.invoke(app, ["parse", str(FAMILY / "quzhou-2026.txt")])
    assert result.exit_code == 0, result.output
    output = result.output.replace("\n", "")  # Rich wraps long lines at 80 columns here
    assert "None" not in output
    # 本政策自2026年3月1日起施行，有效期至2026年12月31日。
    assert "有效期 2026-03-01 至 2026-12-31" in output
    assert "1. 推进科技创新  牵头 市科技局  预算 4.2亿元" in output
    # （三）市财政2026年预算安排资金6.5亿元，其中：用于技术改造补助4亿元、…、用于工业设计奖励0.5亿元
    assert "2. 推进先进制造业发展  牵头 市经信局  预算 6.5亿元(见第(3)条)" in output
    assert "预算分项 技术改造补助 4亿元" in output and "预算分项 工业设计奖励 0.5亿元" in output
    assert "4. 推进城乡融合发展  牵头 (未写明)  预算 8.6亿元" in output
    assert "(2) 支持科技成果转化  责任单位 市科技局、市财政局" in output
    # 港口集装箱吞吐量达到90万标箱; 规上工业企业营业收入突破3000亿元
    assert "目标 港口集装箱吞吐量 =90万标箱(900,000标箱) (2026)" in output
    assert "目标 规上工业企业营业收入 >3000亿元(300,000,000,000元) (2026)" in output
    assert "目标 社会消费品零售总额增长 ≈6% (2026)" in output  # 6% is 6%: nothing beside it
    # the budget of （三） is shown with its area, not as an amount of the article
    assert "金额 6.5亿元" not in output
    # 4.2 + 6.5 + 1.2 + 8.6 = 20.5亿元 against 19亿元 除交叉重叠部分外
    assert "各领域预算合计 20.5亿元,文末支持总额 19亿元(除交叉重叠部分外)" in output
    assert "说明: 各领域财政预算之和为 20.5亿元(2,050,000,000 元),比文末支持总额 19亿元(1,900,000,000 元) 多 1.5亿元(150,000,000 元)" in output
    assert "警告" not in output


def test_zhida_parse_json_of_the_family_document():
    result = runner.invoke(app, ["parse", str(FAMILY / "shaoxing-2024.txt"), "--json", "--simplified"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["preamble"]["year"] == 2024
    assert (data["preamble"]["valid_from"], data["preamble"]["valid_to"]) == ("2024-01-01", "2024-12-31")
    area = data["areas"][1]
    assert (area["budget"], area["budget_article"]) == ("1200000000", 4)
    assert [(p["purpose"], p["value"], p["text"]) for p in area["budget_parts"]] == [
        ("技术改造项目补助", "800000000", "8亿元"), ("智能制造示范奖励", "300000000", "3亿元"), ("专精特新企业培育", "100000000", "1亿元"),
    ]
    assert data["areas"][3]["department"] == ""
    assert data["areas"][0]["articles"][1]["departments"] == ["市科技局", "市金融办"]
    assert data["total_excludes_overlap"] is True and len(data["notes"]) == 2
    assert re.match(r"第21行「加大金融支持力度」", data["warnings"][0])
    written = {i["name"]: i["written"] for i in data["indicators"]}
    assert written["宁波舟山港绍兴港区集装箱吞吐量"] == "12万标箱"
    assert sum(a["budget"] for a in data["amounts"]) == 7  # 4 areas' budgets, and (四)'s three parts


def test_an_area_without_a_lead_answers_by_its_articles_units():
    # Quzhou 四、推进城乡融合发展 names no 牵头 department. Article (七) ends 「（责任单位：市农业农村局、
    # 市财政局）」: its target 「全年新建高标准农田5万亩」 is the first unit's, 市农业农村局; article (八) names
    # no unit, so its tasks have no department ("") rather than a guess.
    document = parse_file(FAMILY / "quzhou-2026.txt")
    area = document.areas[3]
    assert area.department == "" and area.answerable(7) == "市农业农村局" and area.answerable(8) == ""
    (farmland,) = [item for item in document.indicators if item.article == 7]
    assert farmland.written == "5万亩" and farmland.department == "市农业农村局"
    assert {task.department for task in document.tasks if task.article == 8} == {""}
