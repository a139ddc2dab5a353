"""`zhida check` sees benefit sentences, not only numbers: what the detector finds, what it leaves,
and that a grant without any amount, added to the document, fails the check by name."""
# The pack covers every benefit sentence (tests/test_rules.py), so `zhida check` requires it by
# default; `--amounts-only` checks the amounts alone.

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from zhida.cli import app
from zhida.rules.coverage import grant_clauses, sentence_coverage
from zhida.rules.pack import PackError, load_pack
from zhida.source import parse_file
from zhida.source.script import canonical

PACK = Path(__file__).resolve().parents[1] / "policies" / "huzhou-2025"
runner = CliRunner()

# (十二) 支持推動工業領域設備更新和技術改造: the new sentence goes after this one.
ANCHOR = "支持企業運用融資租賃工具開展設備更新。"
NEW_GRANT = "對符合條件的企業給予貸款貼息支持。"


@pytest.fixture(scope="module")
def document():
    return parse_file(PACK / "document.txt")


@pytest.fixture(scope="module")
def grants(document) -> dict[int, list[str]]:
    """Canonical text of each grant clause the detector finds, by article."""
    found: dict[int, list[str]] = {}
    for grant in grant_clauses(document):
        found.setdefault(grant.article, []).append(canonical(document.quote(grant.span)))
    return found


@pytest.mark.parametrize(
    "article, words",
    [
        (16, "实施转型企业贷款补助、绿色普惠贷款贴息"),
        (16, "落实中小企业无还本续贷政策"),
        (17, "提高电动自行车新车购买补贴力度"),
        (17, "简化优化旧房装修、厨卫等局部改造、居家适老化改造等补贴申领程序"),
        (27, "继续落实国际标准集装箱运输车辆通行费优惠政策、国家鲜活农产品运输绿色通道政策"),
        (28, "安排交通运输碳达峰专项资金,重点支持老旧车船淘汰更新"),
        (30, "对我省鼓励进口产品和技术目录内的先进产品技术等给予贴息支持"),
        (30, "落实出口海外仓货物“离境即退税”服务举措"),
        (36, "完善并落实市级政府性担保机构风险补偿和费用补贴机制"),
        (40, "继续实施规模粮油种植补贴、订单良种奖励等常态化补贴政策"),
        (40, "对现代设施农业项目实施贷款贴息"),
        (46, "延续实施阶段性降低失业保险费率政策"),
        (50, "全面落实困难老年人养老服务补贴、养老护理补贴和基本生活补助制度"),
        (22, "并推荐符合条件的企业纳入省“雄鹰行动”培育库"),
        (37, "按实际由市提级保障"),
        # found by reading the document (the issue's list is not complete)
        (6, "制定算力券、语料券等专项政策降低企业成本"),
        (9, "支持符合条件的用人单位开展人才计划自主评审"),
        (15, "开辟“转型升级一站通”绿色通道"),
        (36, "加强符合新质生产力方向的中小企业用地需求保障"),
        (39, "对列入“千项万亿”工程年度实施计划的重大项目用能“应保尽保”"),
        (39, "允许通过购买省外绿证等形式平衡所需能耗"),
    ],
)
def test_the_detector_finds_the_issues_examples(grants, article, words):
    # each example is one grant clause of its article, found with or without an amount
    assert any(words in clause for clause in grants.get(article, [])), grants.get(article)


def test_one_sentence_may_hold_two_grants(grants):
    # (四十) 對現代設施農業項目實施貸款貼息,對參與…抵押貸款的銀行給予風險補助,最高100萬元。
    # Two grants: the bank rule must not hide the loan interest subsidy.
    assert [clause for clause in grants[40] if "贴息" in clause or "风险补助" in clause] == [
        "对现代设施农业项目实施贷款贴息",
        "对参与农业“标准地”使用权和农业生产设施产权抵押贷款的银行给予风险补助",
    ]


@pytest.mark.parametrize(
    "article, sentence",
    [
        (5, "(五)加大科技創新獎勵。"),  # a heading names the article; its sentences grant
        (7, "鼓勵政府性融資擔保機構加大對科技小微企業的科技金融支持力度。"),  # encouragement of guarantors
        (33, "鼓勵建筑企業拓展對外承包工程業務,帶動產品、裝備、標準有序“走出去”。"),  # encouragement
        (29, "支持安吉經濟技術開發區申報國家級經濟技術開發區。"),  # a zone's application, nothing granted
        (23, "推進全市184公里航道設施數字化轉型升級。"),  # a task with a number
        (35, "力爭8個項目納入國家用地保障范圍。"),  # a target, not a list a subject joins
        (50, "優化調整一批老年助餐點位。"),  # a task
        (3, "推動“創新券”通用通兌"),  # the voucher's grant is the clause that 給予…補助, not this task
    ],
)
def test_the_detector_leaves_plain_tasks(document, article, sentence):
    start = document.text.index(sentence)
    end = start + len(sentence)
    hits = [
        document.quote(grant.span) for grant in grant_clauses(document)
        if grant.span.start < end and start < grant.span.end
    ]
    assert document.article(article).span.start <= start < document.article(article).span.end
    assert hits == []


def _covered_copy(tmp_path: Path) -> Path:
    """A copy of the pack whose every grant is covered: the gaps of today's pack are marked
    not_benefits in a file of the copy, so the check starts at 100% whatever is still being written."""
    target = tmp_path / "pack"
    shutil.copytree(PACK, target, ignore=shutil.ignore_patterns("tests"))
    gaps = [grant.text for sentence in sentence_coverage(load_pack(target)).missing for grant in sentence.uncovered]
    marks = [{"clause": text, "reason": "task", "note": "测试用"} for text in gaps]
    if marks:
        (target / "rules" / "9-test-gaps.yaml").write_text(
            yaml.safe_dump({"area": 8, "not_benefits": marks}, allow_unicode=True), encoding="utf-8"
        )
    return target


def _insert(pack: Path, anchor: str, sentence: str) -> None:
    path = pack / "document.txt"
    text = path.read_text(encoding="utf-8")
    assert text.count(anchor) == 1
    path.write_text(text.replace(anchor, anchor + sentence), encoding="utf-8")


def test_a_grant_without_any_number_fails_the_check_by_name(tmp_path):
    pack = _covered_copy(tmp_path)
    before = runner.invoke(app, ["check", "--pack", str(pack)], terminal_width=300)
    assert before.exit_code == 0, before.output
    assert "受益句 " in before.output and "(100%)" in before.output

    _insert(pack, ANCHOR, NEW_GRANT)
    result = runner.invoke(app, ["check", "--pack", str(pack)], terminal_width=300)
    assert result.exit_code == 1, result.output
    # no amount in it, so the amount check still passes: the sentence check is what fails
    assert not [line for line in result.output.splitlines() if line.startswith("未覆盖:")]
    assert "未覆盖的受益句: 第 12 条 对符合条件的企业给予贷款贴息支持。" in result.output
    assert "对符合条件的企业给予贷款贴息支持(给予、贴息)" in result.output
    # per area and per article: (十二) has one benefit sentence more, and it is not covered
    was, now = (_row(output, "(12) 支持推动工业领域设备更新和技术改造") for output in (before.output, result.output))
    assert now == [was[0] + 1, was[1]] and was[0] == was[1]
    was, now = (_row(output, "2. 加快先进制造业发展") for output in (before.output, result.output))
    assert now == [was[0] + 1, was[1]]


def test_amounts_only_leaves_the_sentences_to_a_later_check(tmp_path):
    pack = _covered_copy(tmp_path)
    _insert(pack, ANCHOR, NEW_GRANT)
    result = runner.invoke(app, ["check", "--amounts-only", "--pack", str(pack)], terminal_width=300)
    assert result.exit_code == 0, result.output
    assert "未覆盖的受益句" not in result.output
    assert "已覆盖 " in result.output and "逐条情况见 zhida check(不加 --amounts-only)" in result.output


def _row(output: str, label: str) -> list[int]:
    """The counts (受益句, 已覆盖) of one row of the coverage table."""
    row = next(line for line in output.splitlines() if label in line)
    return [int(cell) for cell in row.split("│")[2:4]]


def test_a_not_benefits_entry_with_a_reason_covers_it(tmp_path):
    pack = _covered_copy(tmp_path)
    _insert(pack, ANCHOR, NEW_GRANT)
    marks = {"area": 2, "not_benefits": [{"clause": NEW_GRANT.rstrip("。"), "reason": "encouragement"}]}
    (pack / "rules" / "2-not-benefits.yaml").write_text(yaml.safe_dump(marks, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(app, ["check", "--pack", str(pack)], terminal_width=300)
    assert result.exit_code == 0, result.output
    # what is excused is listed with its reason, for a reviewer to judge
    assert "不计为待遇(encouragement):第 12 条 对符合条件的企业给予贷款贴息支持" in result.output
    (sentence,) = [s for s in sentence_coverage(load_pack(pack)).sentences if NEW_GRANT in s.sentence.text]
    assert [grant.covered_by for grant in sentence.grants] == [("not_benefits: encouragement",)]


def test_a_rule_covers_the_grants_its_clause_overlaps():
    report = sentence_coverage(load_pack(PACK))
    # (四) 對新獲得國家備案、省級備案的眾創空間依托主體,給予最高5萬元獎勵。
    (maker,) = [s for s in report.sentences if "眾創空間依托主體" in s.sentence.text]
    (grant,) = maker.grants
    assert maker.covered and grant.text == "給予最高5萬元獎勵" and "maker-space-filing" in grant.covered_by
    # (四十九) 發放公租房租賃補貼7460戶 is a target the parser reads as an indicator
    (rent,) = [s for s in report.sentences if "公租房租賃補貼" in s.sentence.text]
    assert rent.covered and any(by.startswith("indicator: ") for by in rent.grants[0].covered_by)


def test_document_text_is_printed_verbatim(tmp_path):
    pack = _covered_copy(tmp_path)
    _insert(pack, ANCHOR, "對符合條件的[bold]企業[/bold]給予獎勵。")
    result = runner.invoke(app, ["check", "--pack", str(pack)], terminal_width=300)
    assert result.exit_code == 1
    assert "第 12 条 对符合条件的[bold]企业[/bold]给予奖励。" in result.output


def test_a_not_benefits_reason_outside_the_vocabulary_is_refused(tmp_path):
    pack = _covered_copy(tmp_path)
    marks = {"area": 7, "not_benefits": [{"clause": "建立獎補資金穩定增長機制", "reason": "unimportant"}]}
    (pack / "rules" / "7-more.yaml").write_text(yaml.safe_dump(marks, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PackError, match=r"7-more\.yaml: not_benefits\.0\.reason"):
        load_pack(pack)


@pytest.mark.parametrize("piece", ["支持企業", "支持符合條件", "給予,", "納入", "資金"])
def test_a_hostile_sentence_is_read_in_linear_time(tmp_path, piece):
    import time

    text = (PACK / "document.txt").read_text(encoding="utf-8")
    path = tmp_path / "document.txt"
    path.write_text(text.replace(ANCHOR, ANCHOR + piece * (100_000 // len(piece)) + "。"), encoding="utf-8")
    document = parse_file(path)
    started = time.perf_counter()
    found = grant_clauses(document)
    # bounded gaps in every pattern, clauses found by bisection, overlaps merged in one pass
    assert time.perf_counter() - started < 5
    hostile = [grant for grant in found if grant.article == 12 and len(grant.sentence.text) > 90_000]
    assert (len(hostile) > 30_000) if piece == "給予," else hostile == []
