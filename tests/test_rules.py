"""The rule pack: what it holds, what it refuses, and its coverage of the document."""

from __future__ import annotations

import shutil
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from conftest import DEPARTMENTS

from zhida.rules.coverage import coverage, sentence_coverage
from zhida.rules.expressions import ExpressionError, parse
from zhida.rules.model import WITHOUT_AMOUNT, CapScope, FieldType, Kind
from zhida.rules.pack import PackError, load_pack

PACK = Path(__file__).resolve().parents[1] / "policies" / "huzhou-2025"


@pytest.fixture(scope="module")
def pack():
    return load_pack(PACK)


def test_every_rule_quotes_its_article(pack):
    # 42 rules of the amounts (41 formulas and the 5% list), 63 benefits whose amount this document
    # leaves to implementing measures, 13 more qualifications (納入…培育庫, 提級保障 …)
    assert Counter(rule.spec.kind.value for rule in pack.rules) == {
        "ceiling": 30, "exact": 8, "floor": 1, "tax": 2, "qualification": 14, "by_measure": 63,
    }
    for rule in pack.rules:
        article = pack.document.article(rule.spec.article)
        start, end = rule.clause_span
        assert article.span.start <= start < end <= article.span.end, rule.id
        # the quote is the document's own words, in its own (Traditional) script
        assert pack.document.text[start:end] == rule.spec.clause, rule.id


def test_rules_by_article(pack):
    money: dict[int, int] = {}
    without: dict[int, int] = {}
    for rule in pack.rules:
        counts = without if rule.spec.kind in WITHOUT_AMOUNT else money
        counts[rule.spec.article] = counts.get(rule.spec.article, 0) + 1
    # (一) lab + 四星/五星; (二) 2 high-tech + 4 plans; (三) voucher; (四) 2 incubators + 眾創空間 +
    # 3 cultivation rewards; (五) 4 national + 3 patent + 2 grand + 3 provincial; (十七) 2 cars +
    # 2 appliances + 2 furniture + digital; (二十一) 2 tax + 2 HR; (三十) insurance; (四十) bank.
    assert money == {1: 3, 2: 6, 3: 1, 4: 6, 5: 12, 17: 7, 21: 4, 30: 1, 40: 1}
    # Without an amount, e.g. (十六) 無還本續貸, 轉型企業貸款補助, 綠色普惠貸款貼息, 股票回購增持再貸款;
    # (三十) 展會, 電商, 離境即退稅, 進口貼息, 匯率避險; (五十) 三項困難老年人補貼 + 愛心卡.
    assert without == {
        2: 4, 3: 1, 6: 2, 7: 1, 9: 4, 10: 1, 11: 1, 12: 3, 15: 3, 16: 4, 17: 2, 18: 2, 19: 2, 20: 2,
        21: 1, 22: 1, 23: 3, 26: 1, 27: 3, 28: 2, 29: 1, 30: 5, 31: 2, 32: 1, 33: 2, 36: 3, 37: 1,
        38: 1, 39: 3, 40: 4, 46: 2, 47: 2, 49: 2, 50: 4, 51: 1,
    }


def test_departments_and_areas_come_from_the_document(pack):
    # 一、…(由市科技局牽頭實施) … 八、…(由市人力社保局牽頭實施): every area grants something
    assert {(rule.area, rule.department) for rule in pack.rules} == set(DEPARTMENTS.items())


def test_kinds_and_caps(pack):
    assert pack.rule("rd-intensity-list").spec.kind is Kind.QUALIFICATION
    assert pack.rule("export-credit-insurance").spec.kind is Kind.FLOOR  # 不低于60%
    assert pack.rule("cultivate-high-tech").spec.kind is Kind.EXACT  # 3萬元, no 最高
    assert {rule.id for rule in pack.rules if rule.spec.kind is Kind.TAX} == {"software-two-three", "key-software-five-ten"}
    (carrier_cap,) = pack.rule("cultivate-provincial-sme").caps
    # 單個孵化載體單年度內獎勵額度最高30萬元
    assert (carrier_cap.per, carrier_cap.yuan, carrier_cap.carrier_field) == (CapScope.CARRIER_YEAR, Decimal(300000), "carrier")
    (digital_cap,) = pack.rule("digital-products").caps
    assert (digital_cap.per, digital_cap.yuan) == (CapScope.ITEM, Decimal(500))  # 最高補貼500元


def test_validity_is_calendar_2025(pack):
    # 本文件明確的各項政策除標明具體實施期限外,均為2025年全年實施有效。 The national software
    # preferences keep their own terms (DESIGN.md): tax years 2020 (公告2020年第45號) to 2025.
    national = {"software-two-three", "key-software-five-ten"}
    assert {(rule.valid_from.isoformat(), rule.valid_to.isoformat()) for rule in pack.rules if rule.id not in national} == {
        ("2025-01-01", "2025-12-31")
    }
    assert {(pack.rule(rule_id).valid_from.isoformat(), pack.rule(rule_id).valid_to.isoformat()) for rule_id in national} == {
        ("2020-01-01", "2025-12-31")
    }


def test_every_amount_of_a_benefit_sentence_is_covered(pack):
    report = coverage(pack)
    assert report.ok, [c.text for c in report.missing]
    # 30 amounts in articles 1–5, 7 amounts and rates … : 47 in all, counted in the check table
    assert len(report.citations) == 47
    texts = [c.text for c in report.citations if c.article == 17]
    assert texts == ["1.5萬元", "1.3萬元", "20%", "15%", "2000元", "15%", "20%", "2000元", "6000元", "15%", "500元"]


def test_every_benefit_sentence_is_covered(pack):
    report = sentence_coverage(pack)
    assert report.ok, [(s.article, g.text) for s in report.missing for g in s.uncovered]
    # 63 sentences grant something (zhida check prints them per area and article); the
    # not_benefits files name the grants no subject can claim, each with its reason
    assert len(report.sentences) == 63
    marked = {
        grant.text: grant.covered_by for sentence in report.sentences for grant in sentence.grants
        if any(by.startswith("not_benefits") for by in grant.covered_by)
    }
    assert marked == {
        "爭取省級資金對通用機場建設、通用航空短途運輸航線運營分檔進行補助,支持B類飛行服務站建設": ("not_benefits: funds-sought",),
        "爭取省級資金支持低空產業先導區和低空經濟“先飛區”試點": ("not_benefits: funds-sought",),
        "全力爭取超長期特別國債、中央預算內投資等資金支持": ("not_benefits: funds-sought",),
        "全力爭取省重大產業項目用地預支獎勵政策": ("not_benefits: funds-sought",),
        "建立獎補資金穩定增長機制": ("not_benefits: intergovernmental",),
    }
    # (四十) two grants in one sentence, each with its own rule
    (agriculture,) = [s for s in report.sentences if "對現代設施農業項目實施貸款貼息" in s.sentence.text]
    assert [("agri-mortgage-risk" in g.covered_by, len(g.covered_by) > 0) for g in agriculture.grants] == [
        (False, True), (True, True),
    ]


# --- the whitelist refuses what it must, naming rule and position ---------------------------------

FIELDS = {"price": FieldType.MONEY, "grade": FieldType.CHOICE}


@pytest.mark.parametrize(
    "text, construct, column",
    [
        ("(SELECT 1)", "Subquery", 1),
        ("price LIKE '1%'", "Like", 1),
        ("price IS NULL", "Is", 1),
        ("price = NULL", "Null", 9),
        ("ABS(price)", "ABS", 1),
        ("1 + CAST(price AS INT)", "CAST", 5),
        ("ROUND(price, 2)", "ROUND", 1),
        ("0.15 * price + now()", "NOW", 16),
        ("price % 2", "Mod", 1),
        ("'a' || grade", "DPipe", 1),
        ("price * 2 > ANY (SELECT 1)", "Any", 13),
        ("grade = 'a' OR price = (SELECT MAX(price) FROM t)", "Subquery", 24),
    ],
)
def test_whitelist_refuses(text, construct, column):
    with pytest.raises(ExpressionError) as error:
        parse(text, "规则 r1, amount", FIELDS)
    message = str(error.value)
    assert message.startswith("规则 r1, amount:"), message
    assert construct in message and f"第 {column} 列" in message, message


def test_whitelist_refuses_unknown_fields_and_tables():
    with pytest.raises(ExpressionError, match=r"第 8 列引用了未声明的字段 'prices'"):
        parse("0.15 * prices", "r", FIELDS)
    with pytest.raises(ExpressionError, match=r"不能引用表 't'"):
        parse("t.price * 2", "r", FIELDS)
    with pytest.raises(ExpressionError, match=r"无法解析"):
        parse("price >", "r", FIELDS)


def test_whitelist_accepts_the_documented_constructs():
    text = (
        "CASE WHEN grade IN ('一级', '二级') AND NOT price BETWEEN 1 AND 2 THEN LEAST(0.2 * price, 2000) "
        "WHEN price >= 1 OR price <> 3 THEN GREATEST(COALESCE(price, 0) * 0.5 - 1, -1) ELSE (price + 1) END"
    )
    assert parse(text, "r", FIELDS).fields == {"price", "grade"}


# --- a broken pack is refused at load time, naming file and rule ----------------------------------


def _broken_pack(tmp_path: Path, change) -> Path:
    target = tmp_path / "pack"
    shutil.copytree(PACK, target, ignore=shutil.ignore_patterns("tests"))
    path = target / "rules" / "1-education-science-talent.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


def _rule(data, rule_id):
    return next(rule for rule in data["rules"] if rule["id"] == rule_id)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: _rule(d, "high-tech-first").update(clause="每家給予最高30萬元獎勵"), "引用的条文在文件中找不到"),
        (lambda d: _rule(d, "high-tech-first").update(article=3), "引用的条文不在第 3 条中"),
        (lambda d: _rule(d, "high-tech-first").update(article=17), "第 17 条属于第 3 领域"),
        (lambda d: _rule(d, "high-tech-first").update(amount="ABS(200000)"), "high-tech-first, amount"),
        (lambda d: _rule(d, "high-tech-first").update(when="grade = '首次认定'"), "未声明的字段 'grade'"),
        (lambda d: _rule(d, "innovation-voucher").update(caps=["no-such-cap"]), "未定义的上限 'no-such-cap'"),
        (lambda d: _rule(d, "high-tech-first").update(event="no_such_event"), "未知的事件类型"),
        (lambda d: _rule(d, "high-tech-first").update(subject=["martian"]), "未知的主体类型"),
        (lambda d: _rule(d, "high-tech-first").update(colour="red"), "colour"),
        (lambda d: _rule(d, "rd-intensity-list").update(amount="1"), "资格类规则不能有 amount"),
        (lambda d: d["rules"].append(dict(_rule(d, "lab-new"))), "规则编号 lab-new 重复"),
    ],
)
def test_broken_pack_is_refused(tmp_path, change, message):
    with pytest.raises(PackError) as error:
        load_pack(_broken_pack(tmp_path, change))
    assert message in str(error.value)
    assert "1-education-science-talent.yaml" in str(error.value) or "重复" in str(error.value)


def test_a_rule_removed_leaves_its_amounts_uncovered(tmp_path):
    def drop(data):
        data["rules"] = [rule for rule in data["rules"] if rule["id"] != "patent-silver"]

    report = coverage(load_pack(_broken_pack(tmp_path, drop)))
    # 分別給予每件最高不超過30萬元、15萬元、10萬元獎勵: the 15萬元 is now paid by nobody
    assert [(c.article, c.text) for c in report.missing] == [(5, "15萬元")]


def test_a_field_name_means_one_type_across_event_types(tmp_path):
    copy = tmp_path / "pack"
    shutil.copytree(PACK, copy)
    events = copy / "events-areas-1-4.yaml"
    # `price` is money in trade_in_digital; a second event type may not read it as text
    events.write_text(
        events.read_text(encoding="utf-8")
        + "  - name: odd_event\n    title: 测试\n    subjects: [enterprise]\n"
        "    fields:\n      - {name: price, type: text, title: 价格}\n",
        encoding="utf-8",
    )
    with pytest.raises(PackError, match="字段 price 在事件类型 .* 中为 money,在 odd_event 中为 text;同名字段须为同一类型"):
        load_pack(copy)
