"""The skeleton of the Huzhou document: preamble, 8 areas, 52 articles, budgets.

Every expected value below is read off ../shared/source/huzhou-2025-economic-policies.txt.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import yaml
from conftest import HUZHOU, ROOT

SHARED_SOURCE = ROOT.parent / "shared" / "source" / "huzhou-2025-economic-policies.txt"

# (一)…(五十二): the title is the words up to the first 。 of each article.
TITLES = [
    "推動高能級科創平臺提質增效",  # 1
    "強化企業科技創新主體地位",  # 2
    "推進產學研合作和科技成果轉化",  # 3
    "提升科創孵化載體質效",  # 4
    "加大科技創新獎勵",  # 5
    "支持科技領域重大項目建設",  # 6
    "做深做實科技金融大文章",  # 7
    "促進高等教育高質量發展",  # 8
    "打通人才有序流動通道",  # 9
    "因地制宜布局新質生產力產業賽道",  # 10
    "支持未來產業先導區建設",  # 11
    "支持推動工業領域設備更新和技術改造",  # 12
    "加快數實融合發展",  # 13
    "支持企業高質量發展",  # 14
    "加強個體工商戶精準培育",  # 15
    "深化制造業金融服務",  # 16
    "更大力度支持消費品以舊換新",  # 17
    "持續做旺消費",  # 18
    "推動文化產業高質量發展",  # 19
    "降低全社會物流成本",  # 20
    "推動生產性服務業高質量發展",  # 21
    "做強服務業平臺和主體",  # 22
    "加快全國一流內河樞紐港建設",  # 23
    "支持通用航空和低空經濟發展",  # 24
    "加快建設“軌道上的湖州”",  # 25
    "推動工程項目勘察設計招標創新",  # 26
    "持續實施交通便利政策",  # 27
    "穩步推進交通惠民",  # 28
    "提升開放平臺能級",  # 29
    "積極培育外貿新模式",  # 30
    "提升展會影響力",  # 31
    "大力吸引和利用高質量外資",  # 32
    "提升產業鏈供應鏈國際競爭力",  # 33
    "更大力度營造投資環境",  # 34
    "全力爭取國家政策支持",  # 35
    "加大對民間投資支持",  # 36
    "迭代要素“蓄水池”機制",  # 37
    "優化用地要素保障",  # 38
    "強化用能要素保障",  # 39
    "全面推進鄉村振興",  # 40
    "推進以縣城為重要載體的城鎮化建設",  # 41
    "積極推進農業轉移人口市民化",  # 42
    "深入實施城鄉有機更新",  # 43
    "推進土地綜合整治",  # 44
    "推進基本公共服務一體化均等化",  # 45
    "支持推進“勞有所得”",  # 46
    "支持推進“幼有善育”",  # 47
    "支持推進“學有優教”",  # 48
    "支持推進“住有宜居”",  # 49
    "支持推進“老有康養”",  # 50
    "支持推進“病有良醫”",  # 51
    "支持推進“弱有眾扶”",  # 52
]

# "一、推進教育科技人才一體發展(由市科技局牽頭實施)" … and "2025年,全市財政預算安排17.25億元。"
AREAS = [
    (1, "推進教育科技人才一體發展", "市科技局", "17.25億元", Decimal("1725000000"), range(1, 10)),
    (2, "加快先進制造業發展", "市經信局", "6.73億元", Decimal("673000000"), range(10, 17)),
    (3, "推進服務業高質量發展", "市發展改革委", "1.72億元", Decimal("172000000"), range(17, 23)),
    (4, "推進全國一流內河樞紐港和交通強市建設", "市交通運輸局", "10.26億元", Decimal("1026000000"), range(23, 29)),
    (5, "推進高水平對外開放", "市商務局", "2.64億元", Decimal("264000000"), range(29, 34)),
    (6, "全力擴大有效投資", "市發展改革委", "94.17億元", Decimal("9417000000"), range(34, 40)),
    (7, "推進城鄉融合發展", "市農業農村局", "25.54億元", Decimal("2554000000"), range(40, 45)),
    (8, "保障和改善民生", "市人力社保局", "75.59億元", Decimal("7559000000"), range(45, 53)),
]


def test_the_pack_holds_the_document_verbatim():
    if not SHARED_SOURCE.exists():
        pytest.skip("../shared is not beside this checkout")
    assert HUZHOU.read_bytes() == SHARED_SOURCE.read_bytes()


def test_preamble(huzhou):
    preamble = huzhou.preamble
    assert preamble.title == "關于推動經濟高質量發展若干政策(2025年版)"
    assert preamble.issuer == "湖州市人民政府"
    assert preamble.issued == dt.date(2025, 3, 14)  # "2025年3月14日"
    assert preamble.addressees == "各區縣人民政府,市政府直屬各單位"
    assert preamble.implements == "浙政發〔2025〕3號"
    # "本文件明確的各項政策除標明具體實施期限外,均為2025年全年實施有效。"
    assert (preamble.valid_from, preamble.valid_to) == (dt.date(2025, 1, 1), dt.date(2025, 12, 31))


def test_metadata_file_agrees_with_the_parsed_preamble(huzhou):
    metadata = yaml.safe_load((ROOT / "policies" / "huzhou-2025" / "policy.yaml").read_text(encoding="utf-8"))
    preamble = huzhou.preamble
    assert metadata["title"] == preamble.title
    assert metadata["issuer"] == preamble.issuer
    assert metadata["issued"] == preamble.issued
    assert metadata["implements"] == preamble.implements
    assert (metadata["valid_from"], metadata["valid_to"]) == (preamble.valid_from, preamble.valid_to)


@pytest.mark.parametrize("number, title, department, written, budget, articles", AREAS, ids=[f"area{a[0]}" for a in AREAS])
def test_area(huzhou, number, title, department, written, budget, articles):
    area = huzhou.areas[number - 1]
    assert area.number == number
    assert area.title == title
    assert area.department == department
    assert area.budget == budget, written
    assert [article.number for article in area.articles] == list(articles)
    assert all(article.area == number for article in area.articles)
    # The budget sentence is one of the area's goal sentences, as written.
    assert any(f"全市財政預算安排{written}" in sentence.text for sentence in area.goals)


def test_eight_areas_and_52_articles_with_their_titles(huzhou):
    assert len(huzhou.areas) == 8
    assert [article.number for article in huzhou.articles] == list(range(1, 53))
    assert [article.title for article in huzhou.articles] == TITLES


def test_budgets_add_up_to_the_stated_total(huzhou):
    # "全市財政2025年預算安排資金除交叉重疊部分外,支持總額為233.9億元"
    # 17.25 + 6.73 + 1.72 + 10.26 + 2.64 + 94.17 + 25.54 + 75.59 = 233.90 (億元)
    assert huzhou.stated_total == Decimal("23390000000")
    assert sum(area.budget for area in huzhou.areas) == Decimal("23390000000")
    assert huzhou.warnings == ()


def test_every_span_quotes_the_original_text(huzhou):
    text = huzhou.text
    for article in huzhou.articles:
        assert text[article.span.start : article.span.end] == article.text
        assert article.text.startswith("(") and article.title in article.text
        assert "".join(sentence.text for sentence in article.sentences) == article.text
        for sentence in article.sentences:
            assert text[sentence.span.start : sentence.span.end] == sentence.text
    for amount in huzhou.amounts:
        assert text[amount.span.start : amount.span.end] == amount.text
    for indicator in huzhou.indicators:
        assert text[indicator.span.start : indicator.span.end] == indicator.text


def test_article_sentences(huzhou):
    # (三) has five sentences, the title first; the third is the voucher clause.
    article = huzhou.article(3)
    assert len(article.sentences) == 5
    assert article.sentences[0].text == "(三)推進產學研合作和科技成果轉化。"
    assert "按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元。" in article.sentences[1].text


def test_a_total_that_disagrees_with_the_budgets_is_a_warning():
    from zhida.source import parse_text

    text = HUZHOU.read_text(encoding="utf-8").replace("支持總額為233.9億元", "支持總額為234.9億元")
    document = parse_text(text)
    assert "各领域财政预算之和为 233.9亿元(23,390,000,000 元),与文末支持总额 234.9亿元(23,490,000,000 元) 不符" \
        in document.warnings
