"""The policy browser (/policy, /policy/articles/{n}, /policy/search): values checked by hand against the document."""

from __future__ import annotations

import re
import warnings
from html.parser import HTMLParser
from pathlib import Path

import pytest

from browser_helpers import OUTSIDE, chromium, live, new_page, shot
from zhida.rules.pack import load_pack
from zhida.web.app import create_app
from zhida.web.policy_pages import MAX_QUERY, policy_book

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient` is deprecated")
    from fastapi.testclient import TestClient

PACK = Path(__file__).resolve().parents[1] / "policies" / "huzhou-2025"


@pytest.fixture(scope="module")
def app():
    return create_app(load_pack(PACK))


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as client:
        yield client


class _Text(HTMLParser):
    """The text a reader sees (tags dropped), and the elements' ids and links."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.links: list[str] = []
        self.marks: list[str] = []
        self._in_mark = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "a" and "href" in attributes:
            self.links.append(attributes["href"])
        self._in_mark = tag == "mark"

    def handle_endtag(self, tag):
        if tag == "mark":
            self._in_mark = False

    def handle_data(self, data):
        self.parts.append(data)
        if self._in_mark:
            self.marks.append(data)


def read(html: str) -> _Text:
    parser = _Text()
    parser.feed(html)
    parser.text = re.sub(r"\s+", " ", "".join(parser.parts))
    return parser


def main_of(html: str) -> str:
    return html[html.index('<main id="main">') :]


# ------------------------------------------------------------------ /policy


def table_rows(html: str, table_class: str) -> list[list[list[str]]]:
    """The rows of a table: each cell as the list of its text pieces (a figure and the note under it)."""
    table = re.search(rf'<table class="data {table_class}">(.*?)</table>', html, re.S)[1]
    return [
        [[piece.strip() for piece in re.split(r"<[^>]+>", cell) if piece.strip()]
         for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)
    ]


def test_contents_lists_areas_departments_and_budgets(client):
    response = client.get("/policy")
    assert response.status_code == 200
    page = read(main_of(response.text))
    header, *areas, total = table_rows(response.text, "budgets")
    assert len(areas) == 8
    # 一、推進教育科技人才一體發展(由市科技局牽頭實施) … 2025年,全市財政預算安排17.25億元。 (一)…(九)
    assert areas[0] == [["一、推进教育科技人才一体发展"], ["市科技局"], ["17.25亿元", "1,725,000,000.00 元"],
                        ["1,725,000,000.00"], ["9"]]
    # 六、全力擴大有效投資(由市發展改革委牽頭實施) … 全市財政預算安排94.17億元; (三十四)…(三十九)
    assert areas[5] == [["六、全力扩大有效投资"], ["市发展改革委"], ["94.17亿元", "9,417,000,000.00 元"],
                        ["9,417,000,000.00"], ["6"]]
    # 八、保障和改善民生(由市人力社保局牽頭實施) … 75.59億元; (四十五)…(五十二)
    assert areas[7] == [["八、保障和改善民生"], ["市人力社保局"], ["75.59亿元", "7,559,000,000.00 元"],
                        ["7,559,000,000.00"], ["8"]]
    # 上述8個領域政策 … 支持總額為233.9億元 = 17.25+6.73+1.72+10.26+2.64+94.17+25.54+75.59
    assert total == [["支持总额(文件所列)"], [], ["233.9亿元", "23,390,000,000.00 元"], ["23,390,000,000.00"], ["52"]]
    assert "各领域预算之和 23,390,000,000.00 元,与文件所列支持总额一致" in page.text
    articles = sorted({int(link.rsplit("/", 1)[1]) for link in page.links if link.startswith("/policy/articles/")})
    assert articles == list(range(1, 53))
    assert [link for link in page.links if re.fullmatch(r"#area-\d", link)] == [f"#area-{n}" for n in range(1, 9)]


def test_area_targets_in_the_documents_own_units(client):
    text = read(main_of(client.get("/policy").text)).text
    # 四、… 全市內河集裝箱吞吐量完成90萬標箱 (the parser keeps 900000 標箱; the page shows the document's unit)
    assert "内河集装箱吞吐量 = 90万标箱" in text
    # 二、… 規上工業增加值增長6.5%以上
    assert "规上工业增加值增长 ≥ 6.5%" in text
    # 八、… 確保一般公共預算支出三分之二以上用于民生領域
    assert "≥ 三分之二" in text
    assert "900000" not in text


def test_contents_is_built_once_per_pack(app, client):
    client.get("/policy")
    book = policy_book(app)
    client.get("/policy/articles/2")
    client.get("/policy/search", params={"q": "审核"})
    assert policy_book(app) is book and app.state.policy_book is book


# ------------------------------------------------------------------ /policy/articles/{n}


def test_article_shows_text_rules_and_department(client):
    response = client.get("/policy/articles/2")
    assert response.status_code == 200
    page = read(main_of(response.text))
    # (二)強化企業科技創新主體地位。 in 一、(由市科技局牽頭實施), budget 17.25億元
    assert "(二)强化企业科技创新主体地位" in page.text
    assert "牵头部门 市科技局" in page.text and "17.25亿元" in page.text
    # 對首次認定的高新技術企業,每家給予最高20萬元獎勵;對重新通過認定的高新技術企業,每家給予最高10萬元獎勵
    assert "对首次认定的高新技术企业,每家给予最高20万元奖励" in page.text
    titles = re.findall(
        r'<article class="item rule" id="rule-[^"]+">\s*<header>\s*'
        r'<h3><span class="rule-number">规则 \d+</span> ([^<]+)</h3>\s*<span class="verdict">([^<]+)<',
        response.text,
    )
    assert ("首次认定高新技术企业奖励", "最高可得") in titles
    assert ("重新认定高新技术企业奖励", "最高可得") in titles
    # 支持企業建立研發準備金制度,落實企業研發投入后補助政策: no amount here, the department's measures set it
    assert ("企业研发投入后补助", "按企业研发投入后补助政策(省、市相关政策及市科技局配套政策文件)执行") in titles
    # 對研發費用占營收比重高于5%的企業,支持納入科技計劃支持清單: a status, no money
    assert ("研发费用占营收比重高于5%纳入科技计划支持清单", "资格") in titles
    assert len(titles) == 10
    assert "/calc?subject=enterprise" in page.links and "/calc?subject=institution" in page.links
    # the sentence quoted by a rule links to the rule, numbered as the rules are listed
    assert re.search(r'<a class="rule-ref" href="#rule-high-tech-first" title="首次认定高新技术企业奖励">规则 1</a>', response.text)
    # … and listed in the order of the text: 首次認定, 重新通過認定, then 聚焦八大新興產業鏈 …
    assert titles[:3] == [("首次认定高新技术企业奖励", "最高可得"), ("重新认定高新技术企业奖励", "最高可得"),
                          ("组建创新联合体支持", "按市科技局配套政策文件执行")]


def test_article_targets_and_tasks(client):
    text = read(main_of(client.get("/policy/articles/32").text)).text
    # (三十二) … 全年力爭招引1億美元以上外資大項目1—2個
    assert "招引1亿美元以上外资大项目 1—2个" in text
    text = read(main_of(client.get("/policy/articles/40").text)).text
    # 推動農創客、現代“新農人”分別達到1萬、4萬名: both in 名, as written
    assert "农创客 = 1万名" in text and "4万名" in text
    assert "工作任务" in text


@pytest.mark.parametrize("number", ["999", "0", "53", "%27%3C", "1e1", "%EF%BC%92", "-1", "2.0"])
def test_unknown_or_hostile_article_is_a_404_page_in_chinese(client, number):
    response = client.get(f"/policy/articles/{number}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "文件中没有这一条:条款编号为 1 至 52 的整数" in response.text
    assert "'<" not in response.text


def test_first_and_last_articles_exist(client):
    assert "(一)推动高能级科创平台提质增效" in client.get("/policy/articles/1").text
    last = client.get("/policy/articles/52").text
    assert "(五十二)支持推进“弱有众扶”" in last and 'rel="next"' not in last


# ------------------------------------------------------------------ /policy/search


def hits(client, query: str) -> list[tuple[str, str]]:
    response = client.get("/policy/search", params={"q": query})
    assert response.status_code == 200
    found = re.findall(r'<a class="place" href="([^"]+)">.*?</a>\s*<p>(.*?)</p>', response.text, re.S)
    return [(url, re.sub(r"<[^>]+>", "", sentence)) for url, sentence in found]


def test_search_finds_the_same_sentences_in_either_script(client):
    # (十五) … 實行審核發照“一條龍”服務: the one sentence of the document with 審核
    simplified = hits(client, "审核")
    assert simplified == hits(client, "審核")
    assert len(simplified) == 1 and simplified[0][0] == "/policy/articles/15#s86"
    assert "实行审核发照" in simplified[0][1]
    # 高新技術企業: (二) 首次認定的… (四) 每培育1家… (七)做深做實科技金融大文章 … 鼓勵科技型中小企業、高新技術企業…
    high_tech = hits(client, "高新技术企业")
    assert high_tech == hits(client, "高新技術企業")
    articles = [url.split("#")[0] for url, _ in high_tech]
    assert articles == ["/policy/articles/2", "/policy/articles/4", "/policy/articles/7"]


def test_search_marks_every_match_and_all_words(client):
    response = client.get("/policy/search", params={"q": "高新技术企业 奖励"})
    page = read(main_of(response.text))
    # the words must all be in one sentence: 奖励 drops (七)
    assert "共 2 句" in page.text
    assert page.marks.count("高新技术企业") == 3 and page.marks.count("奖励") == 3


def test_search_shows_hits_in_traditional_as_the_document_writes_them(client):
    response = client.get("/policy/search", params={"q": "审核", "lang": "zh-Hant"})
    page = read(main_of(response.text))
    assert page.marks == ["審核"]
    assert "實行審核發照“一條龍”服務" in page.text and "審覈" not in response.text


@pytest.mark.parametrize(
    "query",
    ['<script>alert("x")</script>', "'><img src=x onerror=alert(1)>", "{{ 7*7 }}", "%s%n", "\\'\"", "<mark>审核</mark>"],
)
def test_hostile_search_is_just_text(client, query):
    response = client.get("/policy/search", params={"q": query})
    assert response.status_code == 200
    body = main_of(response.text)
    assert "<script>alert" not in body and "<img" not in body and "<mark>审核</mark>" not in body
    assert "49" not in read(body).text.replace("2025", "")  # no template evaluated the query


def test_empty_and_huge_searches(client):
    response = client.get("/policy/search", params={"q": "   "})
    assert response.status_code == 200 and "请输入要搜索的字词" in response.text
    huge = "审核<script>" * 1000  # 10,000 characters, 14 KB
    response = client.get("/policy/search", params={"q": huge})
    assert response.status_code == 422
    assert f"搜索词过长:最多 {MAX_QUERY} 个字,现有 10000 个字" in response.text
    assert "<mark>" not in response.text and "<script>" not in response.text
    response = client.get("/policy/search", params={"q": "一 二 三 四 五 六"})
    assert response.status_code == 422 and "搜索词最多 5 个" in response.text
    assert client.get("/policy/search", params={"q": "x" * MAX_QUERY}).status_code == 200


def test_no_hit_says_so(client):
    response = client.get("/policy/search", params={"q": "火星殖民"})
    assert response.status_code == 200 and "没有找到" in response.text


# ------------------------------------------------------------------ Traditional


def test_script_switch_shows_the_document_in_traditional(app):
    with TestClient(app) as reader:
        switched = reader.get("/lang", params={"to": "zh-Hant", "next": "/policy"}, follow_redirects=False)
        assert switched.status_code == 303 and switched.headers["location"] == "/policy"
        html = reader.get("/policy").text
    text = read(main_of(html)).text
    assert '<html lang="zh-Hant">' in html
    # the document's own words, kept: 關于推動經濟高質量發展若干政策 … 一、推進教育科技人才一體發展
    assert "關于推動經濟高質量發展若干政策" in text
    assert "一、推進教育科技人才一體發展 市科技局 17.25億元" in text
    assert "支持總額(文件所列) 233.9億元" in text
    # the page's own words, converted: 目录与预算 -> 目錄與預算, 牵头部门 -> 牽頭部門
    assert "目錄與預算" in text and "牽頭部門" in text
    assert "经济" not in html and "关于" not in html and "關於" not in html


def test_traditional_article_keeps_the_clause_as_written(client):
    html = client.get("/policy/articles/15", params={"lang": "zh-Hant"}).text
    assert "實行審核發照“一條龍”服務" in html and "審覈" not in html
    html = client.get("/policy/articles/2", params={"lang": "zh-Hant"}).text
    # 落實企業研發投入后補助政策: the document writes 后 (OpenCC alone: 後)
    assert "落實企業研發投入后補助政策" in html and "投入後" not in html


# ------------------------------------------------------------------ in a browser


def test_policy_browser_in_chromium(app):
    with live(app) as base, chromium() as browser:
        page = new_page(browser)
        page.goto(base + "/policy")
        assert page.locator("table.budgets tbody tr").count() == 8
        shot(page, "policy-contents")
        page.get_by_role("link", name="(二)强化企业科技创新主体地位").click()
        page.wait_for_url("**/policy/articles/2")
        assert page.locator("article.rule").count() == 10
        shot(page, "policy-article-2")
        page.get_by_label("全文搜索").fill("審核")
        page.get_by_label("全文搜索").press("Enter")
        page.wait_for_url("**/policy/search?q=*")
        assert page.locator("mark").all_inner_texts() == ["审核"]
        shot(page, "policy-search")
        page.get_by_role("link", name="繁體中文").click()
        page.wait_for_load_state()
        assert page.locator("mark").all_inner_texts() == ["審核"]
        assert "經濟" in page.locator("header.top").inner_text()
        phone = new_page(browser, 390, 844)
        phone.goto(base + "/policy/articles/23")
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width  # nothing wider than the phone
        shot(phone, "policy-article-23-phone")
        phone.goto(base + "/policy")
        shot(phone, "policy-contents-phone")
    assert OUTSIDE == []
