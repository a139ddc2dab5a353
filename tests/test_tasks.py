"""Tasks (責任分解): every provision of the Huzhou document without a number is a task of its area's
lead department, so that nothing in the document is silently dropped (DESIGN.md).

The expectations are written by hand from policies/huzhou-2025/document.txt; the coverage tests
cut the text into sentences and clauses with readers of their own.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest
from conftest import DEPARTMENTS

from zhida.rules.pack import load_pack
from zhida.source import Document, TaskKind, parse_file, parse_text
from zhida.source.export import document_to_dict
from zhida.web.app import create_app

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient` is deprecated")
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / "policies" / "huzhou-2025"
DOCUMENT = PACK / "document.txt"
TEXT = DOCUMENT.read_text(encoding="utf-8")

# What a task does, read from the document (Traditional script, as written): each task names one.
ACTIONS = re.compile(
    "推進|推動|實施|建設|打造|培育|支持|鼓勵|加快|完善|深化|建立|健全|優化|落實|發揮|引導|提升|加大|加強|開展"
    "|探索|爭取|爭創|迭代|強化|擴大|用好|辦好|發展|構建|取消|允許|制定|指導|安排|開通|延續|繼續|持續|聚焦|研究"
    "|簡化|提高|開辟|助力|推廣|規范|做實|保障|申報|統籌|推薦|設立|營造|推開|消除|啟動|促進|參與|挖掘|搶抓|謀劃"
    "|拓展|實行|打通|達到|開工|全面|深入|應保盡保|給予|補貼|補助|貼息|優惠|費率|享受|退稅|提級保障"
)
# The only words of the articles that are in no task, amount, rate or indicator: what opens a
# clause with a number (its subject 對…/…的, its procedure, its occasion) and dates. Hand-checked.
MODIFIERS = [
    (1, "對市級星級評定結果為四星、五星的新型研發機構"),  # ,分別給予最高30萬元、50萬元獎勵
    (2, "對首次認定的高新技術企業"),  # ,每家給予最高20萬元獎勵
    (2, "對重新通過認定的高新技術企業"),  # ,每家給予最高10萬元獎勵
    (2, "根據具體項目管理辦法"),  # ,分別給予最高50萬元、10萬元、10萬元和2萬元項目補助
    (4, "對新認定的國家級、省級科技企業孵化器"),
    (4, "對新獲得國家備案、省級備案的眾創空間依托主體"),
    (4, "企業孵化期內"),
    (4, "眾創空間和科技企業孵化器每培育1家高新技術企業(首次認定)、國家科技型中小企業(首次認定)、省級科技型中小企業的"),
    (5, "對以第一項目完成單位獲得國家最高科學技術獎"),
    (5, "國家科學技術獎(包括國家自然科學獎、國家技術發明獎、國家科學技術進步獎)特等獎、一等獎、二等獎的"),
    (5, "對以第一發明人完成單位獲得中國專利(含外觀設計)金獎、銀獎、優秀獎的"),
    (5, "對獲得省科學技術大獎個人所在工作單位或團隊主要支持單位、省知識產權大獎的單位"),
    (5, "對以第一承擔單位獲得省科學技術獎(包括省自然科學獎、省技術發明獎、省科學技術進步獎)一等獎、二等獎、三等獎的"),
    (13, "2025年"),
    (14, "2025年"),
    (21, "以國家服務型制造示范城市建設為契機"),  # ,新增培育建設省級工業設計中心3家以上
    (23, "2025年"),
]


@pytest.fixture(scope="module")
def document() -> Document:
    return parse_file(DOCUMENT)


def _covered(document: Document, start: int, end: int) -> bool:
    pieces = (*document.amounts, *document.rates, *document.indicators, *document.tasks)
    return any(piece.span.start < end and start < piece.span.end for piece in pieces)


def _tasks(document: Document, article: int) -> list[tuple[str, str]]:
    return [(task.kind.value, task.text) for task in document.tasks if task.article == article]


# --- nothing dropped ----------------------------------------------------------------


def test_every_sentence_of_every_article_is_covered(document):
    """Each sentence after an article's heading holds an amount, a rate, an indicator or a task."""
    dropped = [
        (article.number, sentence.text)
        for article in document.articles
        for sentence in article.sentences[1:]
        if not _covered(document, sentence.span.start, sentence.span.end)
    ]
    assert len(document.articles) == 52
    assert dropped == []


def test_every_goal_sentence_is_covered(document):
    dropped = [
        (area.number, sentence.text)
        for area in document.areas
        for sentence in area.goals
        if not _covered(document, sentence.span.start, sentence.span.end)
    ]
    assert dropped == []


def test_the_only_words_left_out_open_a_clause_with_a_number(document):
    """Clause by clause (cut at , ; : 。): what is in no piece is a benefit's subject, procedure or date."""
    left_out = []
    for article in document.articles:
        for sentence in article.sentences[1:]:
            position = sentence.span.start
            for piece in re.split("([,;:。])", sentence.text):
                if piece and piece not in ",;:。" and not _covered(document, position, position + len(piece)):
                    left_out.append((article.number, piece))
                position += len(piece)
    assert left_out == MODIFIERS


def test_the_heading_is_the_title_not_a_task(document):
    heading = document.article(1).sentences[0]
    assert heading.text == "(一)推動高能級科創平臺提質增效。"
    assert not _covered(document, heading.span.start, heading.span.end)


def test_every_task_acts_or_grants(document):
    assert [task.text for task in document.tasks if not ACTIONS.search(task.text)] == []


def test_every_task_is_owned_by_its_areas_lead_department(document):
    assert {(task.area, task.department) for task in document.tasks} == set(DEPARTMENTS.items())


def test_task_text_is_the_text_at_its_span_inside_its_sentence(document):
    sentences = {
        sentence.index: sentence
        for area in document.areas
        for sentence in (*area.goals, *(s for article in area.articles for s in article.sentences))
    }
    for task in document.tasks:
        assert TEXT[task.span.start : task.span.end] == task.text
        sentence = sentences[task.sentence]
        assert sentence.span.start <= task.span.start < task.span.end <= sentence.span.end


# --- hand-checked tasks of a few articles ---------------------------------------------


def test_tasks_of_article_1(document):
    """(一) 支持企業牽頭或參與建設…,對新認定的給予相應補助,最高獎勵1000萬元: the 相應補助 has no number."""
    assert _tasks(document, 1) == [
        ("benefit", "支持企業牽頭或參與建設國家實驗室、全國重點實驗室、省實驗室、全省重點實驗室和技術創新中心,對新認定的給予相應補助"),
        ("task", "支持科研院所申報省級新型研發機構"),
        ("task", "建立新型研發機構考核評價體系"),
    ]


def test_article_4_has_no_task(document):
    """(四) grants amounts only: 最高30萬元、10萬元 … 單個孵化載體單年度內獎勵額度最高30萬元."""
    assert _tasks(document, 4) == []


def test_tasks_of_article_16(document):
    """(十六) 落實中小企業無還本續貸政策,階段性拓展至中型企業 and 實施轉型企業貸款補助、綠色普惠貸款貼息: benefits."""
    assert _tasks(document, 16) == [
        ("benefit", "落實中小企業無還本續貸政策,階段性拓展至中型企業"),
        ("task", "引導金融機構加大對制造業的支持力度,擴大制造業中長期貸款、信用貸款規模,用好碳減排支持工具等央行貨幣政策工具"),
        ("benefit", "落實綠色金融政策2.0.實施轉型企業貸款補助、綠色普惠貸款貼息"),
        ("task", "積極探索“綠證+綠貸”創新模式,將企業綠色轉型、節能技改、可再生能源項目實施、綠證申購等舉措納入融資主體ESG評價體系,引導金融機構創新與ESG評分掛鉤的貸款產品"),
        ("task", "用好股票回購增持再貸款工具,支持上市公司做大做強"),
    ]
    # 力爭新增無還本續貸150億元左右 is the article's target
    assert [i.name for i in document.indicators if i.article == 16] == ["新增無還本續貸"]


def test_tasks_of_article_25(document):
    """(二十五) the railway article: two tasks around the 全年投資超過65億元 target."""
    assert _tasks(document, 25) == [
        ("task", "加快建設如通蘇湖城際鐵路等項目,力爭開工德清站改擴建工程"),
        ("task", "積極爭取湖州站站房改擴建工程、寧杭高鐵二通道、水鄉旅游線等項目前期取得突破"),
    ]


def test_tasks_of_article_27(document):
    """(二十七) 通行費優惠政策, 綠色通道政策, 差異化收費優惠政策: benefits set by national and provincial policy."""
    assert _tasks(document, 27) == [
        ("benefit", "繼續落實國際標準集裝箱運輸車輛通行費優惠政策、國家鮮活農產品運輸綠色通道政策"),
        ("benefit", "繼續實施市本級、德清縣、長興縣、安吉縣部分高速公路客車差異化收費優惠政策"),
    ]


def test_tasks_of_article_46(document):
    """(四十六) 延續實施階段性降低失業保險費率政策 is a benefit; the other two are the department's work."""
    assert _tasks(document, 46) == [
        ("task", "全面推進市域技能型社會建設,持續構建完善技能培育、技能創富、技能生態三大體系"),
        ("benefit", "延續實施階段性降低失業保險費率政策"),
        ("task", "加強新就業形態就業人員職業傷害保障"),
    ]


def test_tasks_of_article_37(document):
    """(三十七) 對備案固投10億元以上…重大產業項目的要素,按實際由市提級保障: a qualification without money."""
    assert _tasks(document, 37) == [
        ("task", "建立全市重大項目要素保障工作協調機制,迭代優化資源要素“蓄水池”機制,新增能耗、基金要素納入保障范圍,按規定做好指標管理"),
        ("benefit", "按實際由市提級保障"),
    ]


def test_a_threshold_amount_inside_a_task_keeps_the_task(document):
    """六、…持續優化3億元以上項目“三庫三單”…管理機制: 3億元 defines the projects; the clause is work."""
    goal_tasks = [task.text for task in document.tasks if task.area == 6 and task.article is None]
    assert any("持續優化3億元以上項目“三庫三單”和產業項目“雙六率”管理機制" in text for text in goal_tasks)
    assert "省“千項萬億”工程新建項目9月底前全部開工" in goal_tasks


# (clause of the issue, article): benefits without an amount that must be recorded as such.
BENEFITS_WITHOUT_AMOUNT = [
    ("實施轉型企業貸款補助、綠色普惠貸款貼息", 16),
    ("落實中小企業無還本續貸政策,階段性拓展至中型企業", 16),
    ("提高電動自行車新車購買補貼力度", 17),
    ("舊房裝修、廚衛等局部改造、居家適老化改造等補貼", 17),
    ("國際標準集裝箱運輸車輛通行費優惠政策", 27),
    ("鮮活農產品運輸綠色通道政策", 27),
    ("交通運輸碳達峰專項資金,重點支持老舊車船淘汰更新", 28),
    ("給予貼息支持", 30),
    ("出口海外倉貨物“離境即退稅”", 30),
    ("市級政府性擔保機構風險補償和費用補貼機制", 36),
    ("規模糧油種植補貼、訂單良種獎勵", 40),
    ("對現代設施農業項目實施貸款貼息", 40),
    ("延續實施階段性降低失業保險費率政策", 46),
    ("困難老年人養老服務補貼、養老護理補貼和基本生活補助制度", 50),
    ("納入省“雄鷹行動”培育庫", 22),
]


@pytest.mark.parametrize(("clause", "article"), BENEFITS_WITHOUT_AMOUNT, ids=[c for c, _ in BENEFITS_WITHOUT_AMOUNT])
def test_benefit_without_amount_is_a_benefit_task(document, clause, article):
    assert TEXT.count(clause) == 1
    found = [task for task in document.tasks if clause in task.text]
    assert [(task.article, task.kind) for task in found] == [(article, TaskKind.BENEFIT)]


def test_tasks_per_area(document):
    """Every area has work for its department; the benefits without a number sit where the issue found them."""
    areas_with_benefits = {task.area for task in document.tasks if task.kind is TaskKind.BENEFIT}
    assert areas_with_benefits == set(DEPARTMENTS)
    assert all(sum(task.area == area for task in document.tasks) >= 10 for area in DEPARTMENTS)


# --- a provision added to a copy is never dropped -------------------------------------


def test_a_new_sentence_without_a_number_becomes_a_task():
    added = "大力推進未來產業人才梯隊培育。對新引進的總部企業給予支持。"
    text = TEXT.replace("用好股票回購增持再貸款工具", added + "用好股票回購增持再貸款工具", 1)
    document = parse_text(text)
    assert ("task", "大力推進未來產業人才梯隊培育") in _tasks(document, 16)
    assert ("benefit", "對新引進的總部企業給予支持") in _tasks(document, 16)
    assert {task.department for task in document.tasks if task.article == 16} == {"市經信局"}


def test_a_sentence_without_any_known_verb_is_still_a_task():
    """A sentence with no number at all is a task whatever its words: nothing is dropped."""
    text = TEXT.replace("(四十五)推進基本公共服務一體化均等化。", "(四十五)推進基本公共服務一體化均等化。城鄉一盤棋。", 1)
    document = parse_text(text)
    assert ("task", "城鄉一盤棋") in _tasks(document, 45)


# --- shown by zhida parse --json and the API --------------------------------------------


def test_parse_json_shows_each_articles_tasks_and_indicators(document):
    data = json.loads(json.dumps(document_to_dict(document), ensure_ascii=False))
    articles = {article["number"]: article for area in data["areas"] for article in area["articles"]}
    assert [(t["kind"], t["text"]) for t in articles[46]["tasks"]] == _tasks(document, 46)
    assert {t["department"] for t in articles[46]["tasks"]} == {"市人力社保局"}
    # (五十) 全面推進長期護理保險制度,參保人數達290萬人以上
    assert [(i["name"], i["value"], i["unit"], i["direction"]) for i in articles[50]["indicators"]] == [
        ("長期護理保險參保人數", "2900000", "人", "≥"),
        ("鄉鎮(街道)康養聯合體覆蓋率", "100", "%", "="),
    ]
    assert len(data["tasks"]) == len(document.tasks)
    assert sum(len(a["tasks"]) for a in articles.values()) + sum(
        len(area["goal_tasks"]) for area in data["areas"]
    ) == len(document.tasks)
    # 一、…全社會研發經費支出占生產總值比重達3.5%: a goal's target
    assert [i["name"] for i in data["areas"][0]["goal_indicators"]] == ["全社會研發經費支出占生產總值比重"]


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(load_pack(PACK))) as client:
        yield client


def test_api_article_shows_rules_tasks_and_indicators(client):
    article = client.get("/api/v1/articles/21").json()
    assert article["department"] == "市发展改革委"
    # 符合條件的軟件企業享受所得稅“兩免三減半”: a national tax preference without a number here
    assert {
        "kind": "benefit",
        "text": "符合条件的软件企业享受所得税“两免三减半”",
        "text_original": "符合條件的軟件企業享受所得稅“兩免三減半”",
        "department": "市发展改革委",
    }.items() <= article["tasks"][0].items()
    # 全年新增人力資源服務機構180家,營收總額突破200億元
    revenue = next(i for i in article["indicators"] if i["name_original"] == "人力資源服務機構營收總額")
    assert (revenue["name"], revenue["value"], revenue["unit"], revenue["direction"]) == (
        "人力资源服务机构营收总额", "20000000000", "元", ">",
    )
    assert isinstance(article["rules"], list)
