"""`zhida draft`: a pack skeleton from a document of the family, and `zhida check`'s TODO gate.

Every expectation is read by hand from the quoted clause: the amounts, tiers and caps a drafted
rule must carry, and what is left TODO. tests/data/jiaxing-2026.txt and tests/data/family/*.txt are
fictional documents; tests/data/drafted/jiaxing-2026/ and quzhou-2026/ are the packs drafted from
them with their TODOs filled by hand (bench/README.md records how long that took).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from zhida.cli import app
from zhida.engine.calculate import calculate
from zhida.engine.case import case_from_data
from zhida.rules.coverage import coverage, sentence_coverage
from zhida.rules.draft import draft, todos
from zhida.rules.pack import load_pack
from zhida.source import parse_file
from zhida.source.script import canonical

DATA = Path(__file__).parent / "data"
JIAXING = DATA / "jiaxing-2026.txt"
FILLED = DATA / "drafted" / "jiaxing-2026"
HUZHOU = Path(__file__).parents[1] / "src" / "zhida" / "policies" / "huzhou-2025" / "document.txt"
FAMILY = sorted((DATA / "family").glob("*.expected.yaml"))

runner = CliRunner()


def _draft(document: Path, out: Path) -> Path:
    result = runner.invoke(app, ["draft", str(document), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _rules(pack: Path) -> dict[str, dict]:
    """Every drafted rule by id, with its area file's caps by id under "_caps"."""
    rules: dict[str, dict] = {}
    for path in sorted((pack / "rules").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        caps = {cap["id"]: cap for cap in data.get("caps", [])}
        for rule in data.get("rules", []):
            rules[rule["id"]] = {**rule, "_caps": [caps[cap_id] for cap_id in rule.get("caps", [])], "_file": path.name}
    return rules


def _quoting(rules: dict[str, dict], words: str) -> list[dict]:
    return [rule for rule in rules.values() if words in rule["clause"]]


@pytest.fixture(scope="module")
def jiaxing(tmp_path_factory) -> Path:
    return _draft(JIAXING, tmp_path_factory.mktemp("draft") / "jiaxing-2026")


@pytest.fixture(scope="module")
def huzhou(tmp_path_factory) -> Path:
    return _draft(HUZHOU, tmp_path_factory.mktemp("draft") / "huzhou-2025")


# --- the files ---------------------------------------------------------------------------------


def test_document_is_copied_byte_for_byte_and_policy_metadata_read(jiaxing):
    assert (jiaxing / "document.txt").read_bytes() == JIAXING.read_bytes()
    policy = yaml.safe_load((jiaxing / "policy.yaml").read_text(encoding="utf-8"))
    # 嘉兴市人民政府 / 2026年2月20日 / （浙政发〔2026〕2号） / 均为2026年全年实施有效
    assert policy == {
        "title": "关于推动经济高质量发展若干政策（2026年版）",
        "issuer": "嘉兴市人民政府",
        "issued": dt.date(2026, 2, 20),
        "implements": "浙政发〔2026〕2号",
        "valid_from": dt.date(2026, 1, 1),
        "valid_to": dt.date(2026, 12, 31),
        "script": "simplified",
        "drafted": True,
    }
    # One file per area: rules/<area>-<slug>.yaml
    assert sorted(path.name for path in (jiaxing / "rules").glob("*.yaml")) == [
        "1-science-innovation.yaml", "2-manufacturing.yaml", "3-consumption-opening-up.yaml",
        "4-investment-urban-rural.yaml", "5-livelihood.yaml",
    ]


def test_gbk_document_is_copied_as_its_bytes_and_quoted_as_text(tmp_path):
    source = tmp_path / "jiaxing-gbk.txt"
    source.write_bytes(JIAXING.read_text(encoding="utf-8").encode("gb18030"))
    pack = _draft(source, tmp_path / "pack")
    assert (pack / "document.txt").read_bytes() == source.read_bytes()
    _fill_jiaxing(pack)
    assert len(load_pack(pack).rules) == 16  # clauses (UTF-8 YAML) found in the decoded GB18030 text


def test_huzhou_policy_is_traditional(huzhou):
    policy = yaml.safe_load((huzhou / "policy.yaml").read_text(encoding="utf-8"))
    assert (policy["issuer"], policy["issued"], policy["implements"], policy["script"]) == (
        "湖州市人民政府", dt.date(2025, 3, 14), "浙政發〔2025〕3號", "traditional",
    )


def test_every_clause_is_quoted_verbatim(jiaxing, huzhou):
    for pack in (jiaxing, huzhou):
        text = (pack / "document.txt").read_text(encoding="utf-8")
        for path in (pack / "rules").glob("*.yaml"):
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            for item in [*data.get("rules", []), *data.get("caps", []), *data.get("not_benefits", [])]:
                assert item["clause"] in text, (path.name, item["clause"])


# --- Jiaxing: skeletons read by hand from the text ---------------------------------------------


def test_tiers_of_an_enumeration_become_one_rule_each(jiaxing):
    # （一）对新认定的全国重点实验室、省级重点实验室，分别给予最高80万元、40万元奖励。
    rules = _quoting(_rules(jiaxing), "分别给予最高80万元、40万元奖励")
    assert [(r["id"], r["kind"], r["amount"], r["when"]) for r in rules] == [
        ("article1-1-tier1", "ceiling", "800000", "category = '全国重点实验室'"),
        ("article1-1-tier2", "ceiling", "400000", "category = '省级重点实验室'"),
    ]
    assert {r["article"] for r in rules} == {1}
    events = yaml.safe_load((jiaxing / "events.yaml").read_text(encoding="utf-8"))["events"]
    event = next(e for e in events if e["name"] == "article1_1")
    assert event["fields"] == [{"name": "category", "type": "choice", "title": "类别", "values": ["全国重点实验室", "省级重点实验室"]}]


def test_chinese_numeral_amount(jiaxing):
    # 对新认定的省级新型研发机构，给予最高二十万元奖励 -> a ceiling of 200,000 元
    (rule,) = _quoting(_rules(jiaxing), "给予最高二十万元奖励")
    assert (rule["kind"], rule["amount"], rule.get("when", "TRUE")) == ("ceiling", "200000", "TRUE")


def test_rate_with_an_annual_cap(jiaxing):
    # （三）按服务费用30%补贴，单个企业全年最高补助30万元: 30% of the fee, 300,000 元 per enterprise a year
    (rule,) = _quoting(_rules(jiaxing), "按服务费用30%补贴")
    assert (rule["kind"], rule["amount"]) == ("exact", "0.3 * base_amount")
    assert [(c["per"], c["yuan"], c["clause"]) for c in rule["_caps"]] == [("subject_year", 300000, "单个企业全年最高补助30万元")]
    events = yaml.safe_load((jiaxing / "events.yaml").read_text(encoding="utf-8"))["events"]
    fields = next(e for e in events if e["name"] == rule["event"])["fields"]
    assert fields == [{"name": "base_amount", "type": "money", "title": "服务费用", "unit": "元"}]


def test_threshold_left_todo_and_item_cap(jiaxing):
    # （五）对设备投资额2000万元以上的技术改造项目，按设备投资额的10%给予补助，最高补助500万元。
    (rule,) = _quoting(_rules(jiaxing), "按设备投资额的10%给予补助")
    assert rule["when"] == "TODO"  # 2000万元以上 needs a field: the draft cannot name it
    assert rule["amount"] == "0.1 * base_amount"
    assert [(c["per"], c["yuan"], c["clause"]) for c in rule["_caps"]] == [("item", 5000000, "最高补助500万元")]
    line = next(line for line in (jiaxing / "rules" / rule["_file"]).read_text(encoding="utf-8").splitlines() if "when: TODO" in line)
    assert "20000000" in line and "以上" in line  # the hint names the bound, inclusive


def test_floor_rate_left_todo(jiaxing):
    # （九）对企业投保短期出口信用保险的保费，给予不低于50%的补助: a floor; the base (保费) is in another clause
    (rule,) = _quoting(_rules(jiaxing), "给予不低于50%的补助")
    assert (rule["kind"], rule["amount"]) == ("floor", "TODO")


def test_two_benefits_of_one_sentence(jiaxing):
    # （十二）…每家给予最高60万元补助；对新增的认知障碍照护床位，每张给予最高5000元补助。
    rules = _rules(jiaxing)
    assert [(r["amount"], r["kind"]) for r in _quoting(rules, "每家给予最高60万元补助")] == [("600000", "ceiling")]
    assert [(r["amount"], r["kind"]) for r in _quoting(rules, "每张给予最高5000元补助")] == [("5000", "ceiling")]
    assert not _quoting(rules, "每家给予最高60万元补助；")  # cut at ；


def test_per_unit_exact_amount(jiaxing):
    # （七）报废旧车并购买新能源汽车的，补贴1万元/辆: 10,000 元 exactly, a consumer's
    (rule,) = _quoting(_rules(jiaxing), "补贴1万元/辆")
    assert (rule["kind"], rule["amount"], rule["subject"]) == ("exact", "10000", ["consumer"])


def test_draft_in_memory_lists_every_benefit_sentence():
    result = draft(parse_file(JIAXING))
    # 13 sentences grant: (一)×2 (二) (三) (四) (五) (六) (七)×2 (八) (九) (十一) (十二: one sentence, two rules)
    assert len(result.benefit_sentences) == 13
    assert len(result.rules) == 16  # 13 + a second tier in (一) and (四) + the second benefit of (十二)
    assert all(rule.department for rule in result.rules)
    assert {rule.article: rule.department for rule in result.rules}[5] == "市经信局"


# --- Huzhou ------------------------------------------------------------------------------------


def test_huzhou_tiers_of_star_rated_institutions(huzhou):
    # 對市級星級評定結果為四星、五星的新型研發機構,分別給予最高30萬元、50萬元獎勵
    rules = _quoting(_rules(huzhou), "分別給予最高30萬元、50萬元獎勵")
    assert [(r["amount"], r["when"], r["kind"]) for r in rules] == [
        ("300000", "category = '四星'", "ceiling"), ("500000", "category = '五星'", "ceiling"),
    ]


def test_huzhou_four_plans_in_one_enumeration(huzhou):
    # 實施市級重點研發計劃、科技攻關計劃、公益性技術研究和市自然科學資金項目,…分別給予最高50萬元、10萬元、10萬元和2萬元項目補助
    rules = _quoting(_rules(huzhou), "分別給予最高50萬元、10萬元、10萬元和2萬元項目補助")
    assert [(r["amount"], r["when"]) for r in rules] == [
        ("500000", "category = '市级重点研发计划'"), ("100000", "category = '科技攻关计划'"),
        ("100000", "category = '公益性技术研究'"), ("20000", "category = '市自然科学资金项目'"),
    ]


def test_huzhou_voucher_rate_and_annual_cap(huzhou):
    # 按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元
    (rule,) = _quoting(_rules(huzhou), "按實際發生服務費用給予最高50%比例的補助")
    assert (rule["kind"], rule["amount"]) == ("ceiling", "0.5 * base_amount")
    assert [(c["per"], c["yuan"], c["clause"]) for c in rule["_caps"]] == [("subject_year", 200000, "單個企業全年最高補助20萬元")]


def test_huzhou_carrier_cap_of_its_own_sentence(huzhou):
    # 單個孵化載體單年度內獎勵額度最高30萬元: a sentence of its own, capping the article's awards per carrier
    caps = [cap for rule in _rules(huzhou).values() for cap in rule["_caps"] if cap["clause"] == "單個孵化載體單年度內獎勵額度最高30萬元"]
    assert caps and all((cap["per"], cap["yuan"]) == ("carrier_year", 300000) for cap in caps)


def test_huzhou_cap_clause_written_twice_is_quoted_where_it_stands(huzhou):
    # (十七) writes 最高補貼2000元/件 twice (家电, 家居): the pack finds a clause by its first occurrence,
    # so the second cap quotes back to the clause before it.
    text = (huzhou / "document.txt").read_text(encoding="utf-8")
    (rule,) = _quoting(_rules(huzhou), "按售價15%或20%(一級及以上能效、水效家居)補貼")[:1]
    (cap,) = rule["_caps"]
    assert cap["clause"] == "按售價15%或20%(一級及以上能效、水效家居)補貼,最高補貼2000元/件"
    assert text.find(cap["clause"]) == text.find("按售價15%或20%")


def test_huzhou_carrier_cap_names_its_field(huzhou):
    data = yaml.safe_load((huzhou / "rules" / "1-science-talent.yaml").read_text(encoding="utf-8"))
    (cap,) = [cap for cap in data["caps"] if cap["per"] == "carrier_year"]
    assert cap["carrier_field"] == "carrier"


def test_huzhou_appliance_rate_tiers_with_item_cap(huzhou):
    # 一級、二級能效家電分別按20%、15%補貼,最高補貼2000元/件
    rules = _quoting(_rules(huzhou), "一級、二級能效家電分別按20%、15%補貼,最高補貼2000元/件")
    assert [rule["kind"] for rule in rules] == ["exact", "exact"]
    assert [rule["amount"] for rule in rules] == ["TODO", "TODO"]  # no 按X before the rates: the base is unknown
    assert [[(c["per"], c["yuan"]) for c in rule["_caps"]] for rule in rules] == [[("item", 2000)], [("item", 2000)]]


def test_huzhou_export_insurance_floor_and_enterprise_cap(huzhou):
    # 市、區兩級對短期出口信用保險保費給予不低于60%的補助,單家企業保費補助金額不超過100萬元
    (rule,) = _quoting(_rules(huzhou), "給予不低于60%的補助")
    assert rule["kind"] == "floor"
    assert [(c["per"], c["yuan"]) for c in rule["_caps"]] == [("subject_year", 1000000)]


def test_huzhou_grant_without_number_is_by_measure(huzhou):
    # 落實企業研發投入后補助政策: a grant whose amount the document does not state
    (rule,) = _quoting(_rules(huzhou), "落實企業研發投入后補助政策")
    assert (rule["kind"], rule["amount_by"]) == ("by_measure", "TODO")


def test_huzhou_qualification(huzhou):
    # 對研發費用占營收比重高于5%的企業,支持納入科技計劃支持清單: a status, its condition TODO (高于 excludes 5%)
    (rule,) = _quoting(_rules(huzhou), "支持納入科技計劃支持清單")
    assert (rule["kind"], rule["result"], rule["when"]) == ("qualification", "纳入科技计划支持清单", "TODO")


# --- the family documents ----------------------------------------------------------------------


@pytest.mark.parametrize("expected", FAMILY, ids=lambda path: path.name.removesuffix(".expected.yaml"))
def test_family_benefits_have_skeletons(expected):
    """Each hand-listed benefit sentence gets a rule that quotes it, with its tiers, amount or rate."""
    data = yaml.safe_load(expected.read_text(encoding="utf-8"))
    result = draft(parse_file(expected.parent / data["document"]))
    for benefit in data.get("benefits", []):
        words = canonical(benefit["sentence"]).rstrip("。;")
        rules = [r for r in result.rules if r.article == benefit["article"] and canonical(r.clause) in words]
        assert rules, benefit["sentence"]
        paid = [rule.values[0] for rule in rules if rule.values]
        if "tiers" in benefit:
            assert paid == [Decimal(value) for value in benefit["tiers"]], benefit["sentence"]
        if "amount" in benefit:
            assert paid == [Decimal(benefit["amount"])], benefit["sentence"]
        if "rate" in benefit:
            assert paid == [Decimal(benefit["rate"]) / 100], benefit["sentence"]
        if not {"tiers", "amount", "rate", "cap"} & set(benefit):
            assert [rule.kind.value for rule in rules] == ["by_measure"], benefit["sentence"]


def test_family_budget_in_an_article_is_not_a_benefit():
    # Shaoxing (四) 市財政2024年預算安排資金12億元,其中用于技術改造項目補助8億元…: money of the city
    result = draft(parse_file(DATA / "family" / "shaoxing-2024.txt"))
    marks = [mark for area in result.areas for mark in area.not_benefits if "預算安排資金12億元" in mark.clause]
    assert [(mark.reason, "其中用于技術改造項目補助8億元" in mark.clause) for mark in marks] == [("budget", True)]
    assert not [rule for rule in result.rules if "預算" in rule.clause]


# --- zhida check and TODOs ---------------------------------------------------------------------


def test_check_refuses_a_draft_and_lists_its_todos(jiaxing):
    found = todos(jiaxing)
    assert [(todo.file, todo.item, todo.key) for todo in found] == [
        ("rules/2-manufacturing.yaml", "article5-1", "when"),
        ("rules/2-manufacturing.yaml", "article6-1", "when"),
        ("rules/3-consumption-opening-up.yaml", "article9-1", "amount"),
    ]
    for todo in found:
        line = (jiaxing / todo.file).read_text(encoding="utf-8").splitlines()[todo.line - 1]
        assert line.strip().startswith(f"{todo.key}: TODO")
    result = runner.invoke(app, ["check", "--pack", str(jiaxing)])
    assert result.exit_code == 1
    assert "还有 3 处 TODO 未填写" in result.output
    assert "rules/2-manufacturing.yaml" in result.output and "article6-1" in result.output


def test_todos_ignores_comments_and_names_lines(tmp_path):
    (tmp_path / "rules").mkdir()
    (tmp_path / "policy.yaml").write_text("# TODO in a comment is no value\nissuer: TODO  # 从文件中抄写\n", encoding="utf-8")
    (tmp_path / "rules" / "1-a.yaml").write_text(
        "area: 1\nrules:\n  - id: a-1\n    when: \"x # TODO\"\n    amount: TODO\nnot_benefits:\n  - clause: x\n    reason: TODO\n",
        encoding="utf-8",
    )
    assert [(t.file, t.line, t.item, t.key, t.hint) for t in todos(tmp_path)] == [
        ("policy.yaml", 2, None, "issuer", "从文件中抄写"),
        ("rules/1-a.yaml", 4, "a-1", "when", ""),  # inside quotes: a value (an analyst's placeholder)
        ("rules/1-a.yaml", 5, "a-1", "amount", ""),
        ("rules/1-a.yaml", 8, None, "reason", ""),
    ]


def _fill_jiaxing(pack: Path) -> None:
    """The three fills of the Jiaxing draft, as written by hand in tests/data/drafted/jiaxing-2026."""
    def replace(name: str, pairs: list[tuple[str, str]]) -> None:
        path = pack / name
        text = path.read_text(encoding="utf-8")
        for old, new in pairs:
            lines = [line for line in text.splitlines() if old in line]
            assert len(lines) == 1, (name, old)
            text = text.replace(lines[0], new)
        path.write_text(text, encoding="utf-8")

    replace("rules/2-manufacturing.yaml", [
        ("20000000(在事件中", "    when: base_amount >= 20000000"),  # 2000万元以上 includes the bound
        ("0.01(在事件中", "    when: fee_rate <= 0.01"),  # 不超过1% includes it
    ])
    replace("rules/3-consumption-opening-up.yaml", [("amount: TODO", '    amount: "0.5 * premium"')])
    replace("events.yaml", [
        ('title: "担保额"', (
            '      - {name: base_amount, type: money, title: "担保额", unit: 元}\n'
            '      - {name: fee_rate, type: number, title: "年化担保费率"}'
        )),
        ('title: "企业投保短期出口信用保险的保费"', (
            '    title: "企业投保短期出口信用保险的保费"\n'
            '    fields:\n      - {name: premium, type: money, title: "保费", unit: 元}'
        )),
    ])


def test_a_fresh_draft_filled_loads_and_covers_everything(tmp_path):
    pack = _draft(JIAXING, tmp_path / "jiaxing-2026")
    _fill_jiaxing(pack)
    assert todos(pack) == []
    loaded = load_pack(pack)
    assert len(loaded.rules) == 16
    assert coverage(loaded).ok and sentence_coverage(loaded).ok
    result = runner.invoke(app, ["check", "--pack", str(pack)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("pack", "sentences"), [(FILLED, 13), (DATA / "drafted" / "quzhou-2026", 12)], ids=["jiaxing", "quzhou"])
def test_hand_filled_pack_loads_and_passes_check(pack, sentences):
    assert todos(pack) == []
    policy = yaml.safe_load((pack / "policy.yaml").read_text(encoding="utf-8"))
    assert policy["fictional"] is True and policy["drafted"] is True
    result = runner.invoke(app, ["check", "--pack", str(pack)])
    assert result.exit_code == 0, result.output
    assert f"受益句 {sentences} 句,已覆盖 {sentences} 句(100%)" in result.output


def test_hand_filled_pack_pays_what_the_clause_says():
    pack = load_pack(FILLED)
    case = case_from_data({
        "subject": {"id": "E1", "kind": "enterprise"},
        "events": [
            # 设备投资额 3000万元 >= 2000万元: 10% = 300万元, under 最高补助500万元
            {"id": "t1", "type": "article5_1", "date": "2026-04-01", "base_amount": "30000000"},
            # 设备投资额 8000万元: 10% = 800万元, capped at 500万元
            {"id": "t2", "type": "article5_1", "date": "2026-05-01", "base_amount": "80000000"},
            # 设备投资额 1999万元: below 2000万元以上, nothing
            {"id": "t3", "type": "article5_1", "date": "2026-06-01", "base_amount": "19990000"},
            # 服务费用 60万元 × 30% = 18万元; then 50万元 × 30% = 15万元, only 30 − 18 = 12万元 left this year
            {"id": "v1", "type": "article3_1", "date": "2026-03-01", "base_amount": "600000"},
            {"id": "v2", "type": "article3_1", "date": "2026-07-01", "base_amount": "500000"},
        ],
    }, pack)
    paid = {entitlement.event.id: entitlement.amount for entitlement in calculate(pack, case).entitlements}
    assert paid == {
        "t1": Decimal("3000000.00"), "t2": Decimal("5000000.00"),
        "v1": Decimal("180000.00"), "v2": Decimal("120000.00"),
    }


# --- refusals ----------------------------------------------------------------------------------


def test_refuses_an_existing_folder_and_leaves_it_untouched(tmp_path):
    out = tmp_path / "pack"
    out.mkdir()
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    result = runner.invoke(app, ["draft", str(JIAXING), "-o", str(out)])
    assert result.exit_code == 2
    assert "目录已存在" in result.output and "--force" in result.output
    assert [path.name for path in out.iterdir()] == ["keep.txt"]
    forced = runner.invoke(app, ["draft", str(JIAXING), "-o", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert (out / "document.txt").read_bytes() == JIAXING.read_bytes() and not (out / "keep.txt").exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["pack"]  # no temporary folder left


@pytest.mark.parametrize(("content", "words"), [
    (None, "文件不存在"),
    (b"\x00\x01binary", "二进制"),
    ("随便写几句话，没有领域，也没有条目。".encode(), "没有找到政策领域"),
])
def test_refuses_a_missing_or_broken_document_writing_nothing(tmp_path, content, words):
    document = tmp_path / "document.txt"
    if content is not None:
        document.write_bytes(content)
    out = tmp_path / "out" / "pack"
    result = runner.invoke(app, ["draft", str(document), "-o", str(out)])
    assert result.exit_code == 2
    assert "无法起草" in result.output and words in result.output
    assert not out.exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
