"""Several packs, one server: the API under /api/v1/packs/{id}/…, the pages under /packs/{id}/…, the
short addresses as the default pack's, and every result naming the document it comes from.

The second pack is a test copy of huzhou-2025 made here (`make_test_copy`, in a temporary folder,
never shipped): its policy.yaml says `fictional: true` and its title ends 測試副本, and its 創新券
clause is changed from 最高50% to 最高40% (in document.txt and in the rule), so that a result shows
which pack's rules computed it.

The case computed by hand, 第三條(三): 按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元.
An enterprise uses 300,000 元 of 創新券 services on 2025-03-01:
    huzhou-2025        50% x 300,000 = 150,000 元, under the 200,000 元 annual cap -> 最高可得 150,000.00
    huzhou-2025-copy   40% x 300,000 = 120,000 元 (the copy's invented rate)      -> 最高可得 120,000.00

A county overlay served beside its city (tests/data/packs/anji-2025-overlay, fictional): its calculator
asks where the subject is, its rules quote the county's text, its policy browser shows the county's
document. Its (二): 对茶叶企业新建标准化茶叶加工厂的,按设备投资额的10%给予补助,单个企业全年最高补助20万元:
1,000,000 元 of equipment in 安吉县 -> 10% = 100,000 元; in another county, nothing.
"""

from __future__ import annotations

import html as html_lib
import re
import shutil
import warnings
from pathlib import Path
from urllib.parse import quote

import pytest

from zhida.rules import library
from zhida.rules.pack import PackError, load_pack
from zhida.web.app import create_app, default_pack_path, load_packs

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient` is deprecated")
    from fastapi.testclient import TestClient

SHIPPED = library.shipped_root() / "huzhou-2025"
COPY = "huzhou-2025-copy"
TITLE = "关于推动经济高质量发展若干政策(2025年版)"
COPY_TITLE = "关于推动经济高质量发展若干政策(2025年版·测试副本)"
COPY_TITLE_ORIGINAL = "關于推動經濟高質量發展若干政策(2025年版·測試副本)"
CLAUSE_50 = "按實際發生服務費用給予最高50%比例的補助"
CLAUSE_40 = "按實際發生服務費用給予最高40%比例的補助"
CASE = {
    "subject": {"id": "S1", "kind": "enterprise", "name": "湖州某科技有限公司"},
    "events": [{"id": "e1", "type": "innovation_voucher", "date": "2025-03-01", "service_fee": "300000"}],
}
RESULT_QUERY = "subject=enterprise&e0_type=innovation_voucher&e0_date=2025-03-01&e0_service_fee=300000&action=calculate"
HOSTILE_IDS = ["nope", '"quoted"', "[1]", "<script>alert(1)</script>", "'; DROP TABLE packs;--", "..%2F..", "x" * 500,
               "湖州-2026", "%00", "huzhou-2025 "]


def make_test_copy(folder: Path) -> Path:
    """A fictional copy of huzhou-2025 at folder/huzhou-2025-copy: 測試副本 in its title, 40% for 創新券."""
    target = folder / COPY
    shutil.copytree(SHIPPED, target, ignore=shutil.ignore_patterns("tests", "README.md"))
    policy = target / "policy.yaml"
    text = policy.read_text(encoding="utf-8")
    text = text.replace("title: 關于推動經濟高質量發展若干政策(2025年版)", f"title: {COPY_TITLE_ORIGINAL}")
    policy.write_text("# A fictional test copy of huzhou-2025 (創新券 at 40%, not 50%): never law.\n" + text
                      + "fictional: true\n", encoding="utf-8")
    for name in ("document.txt", "rules/1-education-science-talent.yaml"):
        path = target / name
        original = path.read_text(encoding="utf-8")
        assert original.count(CLAUSE_50) == 1
        changed = original.replace(CLAUSE_50, CLAUSE_40).replace("amount: 0.5 * service_fee", "amount: 0.4 * service_fee")
        path.write_text(changed, encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def packs(tmp_path_factory):
    default = load_pack(SHIPPED)
    copy = load_pack(make_test_copy(tmp_path_factory.mktemp("packs")))
    return default, copy


@pytest.fixture(scope="module")
def app(packs):
    default, copy = packs
    return create_app(default, packs={"huzhou-2025": default, COPY: copy})


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as client:
        yield client


def text_of(page: str) -> str:
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def source_line(page: str) -> str:
    match = re.search(r'<p class="source">(.*?)</p>', page, re.DOTALL)
    return text_of(match[1]).strip() if match else ""


def error_box(page: str) -> str:
    match = re.search(r'<div class="error"[^>]*>(.*?)</div>', page, re.DOTALL)
    return html_lib.unescape(match[1]) if match else ""


# --------------------------------------------------------------------------- the API


def test_the_api_lists_both_packs(client):
    answer = client.get("/api/v1/packs")
    assert answer.status_code == 200
    data = answer.json()
    assert data["default"] == "huzhou-2025"
    first, second = data["packs"]
    assert first == {
        "id": "huzhou-2025",
        "title": TITLE,
        "title_original": "關于推動經濟高質量發展若干政策(2025年版)",
        "issuer": "湖州市人民政府",
        "issued": "2025-03-14",  # policy.yaml: issued: 2025-03-14
        "valid_from": "2025-01-01",  # 均為2025年全年實施有效
        "valid_to": "2025-12-31",
        "extends": None,
        "county": None,
        "fictional": False,
        "default": True,
        "rules": 118,
        "urls": {
            "api": "/api/v1/packs/huzhou-2025",
            "calculate": "/api/v1/packs/huzhou-2025/calculate",
            "rules": "/api/v1/packs/huzhou-2025/rules",
            "events": "/api/v1/packs/huzhou-2025/events",
            "calculator": "/packs/huzhou-2025/",
            "policy": "/packs/huzhou-2025/policy",
        },
    }
    assert second["id"] == COPY and second["title"] == COPY_TITLE and second["title_original"] == COPY_TITLE_ORIGINAL
    assert second["fictional"] is True and second["default"] is False and second["rules"] == 118
    assert second["urls"]["calculate"] == f"/api/v1/packs/{COPY}/calculate"
    assert client.get(f"/api/v1/packs/{COPY}").json() == second


def test_the_short_paths_are_the_default_pack_s_same_bytes(client):
    """/api/v1/… and /api/v1/packs/huzhou-2025/… answer the same bytes, for a case computed by hand:
    第三條(三) 按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元: 300,000 x 50% = 150,000."""
    short = client.post("/api/v1/calculate", json=CASE)
    named = client.post("/api/v1/packs/huzhou-2025/calculate", json=CASE)
    assert short.status_code == named.status_code == 200
    assert short.content == named.content
    data = short.json()
    assert data["pack"] == "huzhou-2025"
    assert data["pack_document"] == {"title": TITLE, "issuer": "湖州市人民政府", "issued": "2025-03-14", "fictional": False}
    (item,) = data["entitlements"]
    assert (item["rule"], item["verdict"], item["amount"]) == ("innovation-voucher", "ceiling", "150000.00")
    assert "最高50%比例的补助" in item["clause"]
    for path in ("/rules", "/events", "/subjects", "/health", "/articles/3", "/articles/999"):
        assert client.get("/api/v1" + path).content == client.get("/api/v1/packs/huzhou-2025" + path).content, path
    traditional = "/calculate?traditional=true"
    assert client.post("/api/v1" + traditional, json=CASE).content == \
        client.post("/api/v1/packs/huzhou-2025" + traditional, json=CASE).content


def test_another_pack_computes_under_its_own_rules_and_says_so(client):
    """The copy's 創新券 is 最高40%: 300,000 x 40% = 120,000 (under the 20萬 annual cap)."""
    data = client.post(f"/api/v1/packs/{COPY}/calculate", json=CASE).json()
    assert data["pack"] == COPY
    assert data["pack_document"] == {"title": COPY_TITLE, "issuer": "湖州市人民政府", "issued": "2025-03-14",
                                     "fictional": True}
    (item,) = data["entitlements"]
    assert item["amount"] == "120000.00" and "最高40%比例的补助" in item["clause"]
    assert data["totals"]["ceiling"] == "120000.00"
    traditional = client.post(f"/api/v1/packs/{COPY}/calculate?traditional=true", json=CASE).json()
    assert traditional["pack_document"]["title"] == COPY_TITLE_ORIGINAL  # as policy.yaml writes it, not converted back
    article = client.get(f"/api/v1/packs/{COPY}/articles/3").json()
    assert CLAUSE_40 in article["text_original"]
    assert CLAUSE_50 in client.get("/api/v1/articles/3").json()["text_original"]


@pytest.mark.parametrize("pack_id", HOSTILE_IDS)
def test_an_unknown_pack_is_a_404_naming_it(client, pack_id):
    path = quote(pack_id, safe="")
    for answer in (
        client.post(f"/api/v1/packs/{path}/calculate", json=CASE),
        client.get(f"/api/v1/packs/{path}/rules"),
        client.get(f"/api/v1/packs/{path}/articles/3"),
        client.get(f"/api/v1/packs/{path}"),
    ):
        assert answer.status_code == 404, (pack_id, answer.text)
        detail = answer.json()["detail"]
        assert isinstance(detail, str) and ("政策包" in detail or "没有这个地址" in detail)
    for answer in (client.get(f"/packs/{path}/calc", params={"subject": "enterprise"}),
                   client.get(f"/packs/{path}/policy"), client.get(f"/packs/{path}/")):
        assert answer.status_code == 404 and "text/html" in answer.headers["content-type"]
        assert "<script>alert" not in answer.text  # escaped, never echoed as markup
    assert client.get("/packs", params={"open": pack_id, "to": "calc"}).status_code == 404


def test_the_404_names_the_id_and_the_packs_there_are(client):
    detail = client.get('/api/v1/packs/%22quoted%22/rules').json()["detail"]
    assert detail == '没有编号为“"quoted"”的政策包;现有:huzhou-2025、huzhou-2025-copy'
    long = client.get("/api/v1/packs/" + "x" * 500 + "/health").json()["detail"]
    assert long.startswith("没有编号为“" + "x" * 60 + "…”")  # shortened, never the whole address back
    page = client.get("/packs/[1]/policy")
    assert error_box(page.text) == "没有编号为“[1]”的政策包;现有:huzhou-2025、huzhou-2025-copy"
    assert "关于推动经济高质量发展若干政策" in page.text  # the error page is drawn over the default pack


def test_openapi_shows_the_pack_paths(client):
    spec = client.get("/openapi.json").json()
    for path in ("/api/v1/packs", "/api/v1/packs/{pack_id}", "/api/v1/packs/{pack_id}/calculate",
                 "/api/v1/packs/{pack_id}/rules", "/api/v1/packs/{pack_id}/events", "/api/v1/packs/{pack_id}/subjects",
                 "/api/v1/packs/{pack_id}/health", "/api/v1/packs/{pack_id}/articles/{number}", "/api/v1/calculate"):
        assert path in spec["paths"], path
    calculate = spec["paths"]["/api/v1/packs/{pack_id}/calculate"]["post"]
    (parameter,) = [p for p in calculate["parameters"] if p["name"] == "pack_id"]
    assert parameter["in"] == "path" and parameter["schema"]["enum"] == ["huzhou-2025", COPY]
    assert "404" in calculate["responses"] and "requestBody" in calculate
    assert "/packs" not in spec["paths"] and "/packs/{pack_id}/calc" not in spec["paths"]  # pages stay out


# --------------------------------------------------------------------------- the pages


def test_the_packs_page_lists_the_documents(client):
    page = client.get("/packs")
    assert page.status_code == 200
    rows = re.findall(r'<tr id="pack-[^"]+">(.*?)</tr>', page.text, re.DOTALL)
    assert len(rows) == 2
    default, copy = (text_of(row) for row in rows)
    assert f"《{TITLE}》 默认" in default and "虚构" not in default
    assert "湖州市人民政府 2025年3月14日 2025-01-01 至 2025-12-31 118" in default
    assert f"《{COPY_TITLE}》" in copy and "虚构" in copy and "编号 huzhou-2025-copy" in copy
    assert f'href="/packs/{COPY}/"' in page.text and f'href="/packs/{COPY}/policy"' in page.text
    assert "只办理默认文件的政策" in page.text  # the ledger is the default pack's


def test_the_calculator_has_a_document_chooser(client):
    page = client.get("/calc", params={"subject": "enterprise"}).text
    chooser = re.search(r'<form class="pack-chooser" method="get" action="/packs"[^>]*>(.*?)</form>', page, re.DOTALL)[1]
    assert '<option value="huzhou-2025" selected>' in chooser and f'<option value="{COPY}">' in chooser
    assert '<input type="hidden" name="to" value="calc">' in chooser
    assert '<input type="hidden" name="subject" value="enterprise">' in chooser
    chosen = client.get("/packs", params={"open": COPY, "to": "calc", "subject": "enterprise"}, follow_redirects=False)
    assert chosen.status_code == 303 and chosen.headers["location"] == f"/packs/{COPY}/calc?subject=enterprise"
    # a kind the other document does not have: its first page; the policy browser: its contents; the script kept
    assert client.get("/packs", params={"open": COPY, "subject": "nobody"}, follow_redirects=False).headers["location"] \
        == f"/packs/{COPY}/"
    assert client.get("/packs", params={"open": COPY, "to": "policy", "lang": "zh-Hant"},
                      follow_redirects=False).headers["location"] == f"/packs/{COPY}/policy?lang=zh-Hant"
    index = client.get(f"/packs/{COPY}/").text
    assert f'<option value="{COPY}" selected>' in index and f'href="/packs/{COPY}/calc?subject=enterprise"' in index
    assert client.get(f"/packs/{COPY}", follow_redirects=False).headers["location"].endswith(f"/packs/{COPY}/")


def test_the_other_document_s_calculator_keeps_its_pack(client):
    added = client.get(f"/packs/{COPY}/calc", params={"subject": "enterprise", "action": "add",
                                                       "new_type": "innovation_voucher"}, follow_redirects=False)
    assert added.status_code == 303
    assert added.headers["location"] == \
        f"/packs/{COPY}/calc?subject=enterprise&e0_type=innovation_voucher&e0_date=2025-01-01&e0_service_fee="
    form = client.get(added.headers["location"]).text
    assert f'<form id="calc" method="get" action="/packs/{COPY}/calc"' in form
    assert "只办理默认文件的政策" in form
    result = client.get(f"/packs/{COPY}/calc?{RESULT_QUERY}")
    assert result.status_code == 200
    assert "最高可得 120,000.00 元" in text_of(result.text)  # 300,000 x 40%
    assert source_line(result.text) == f"计算依据: 《{COPY_TITLE}》 (湖州市人民政府,2025年) 虚构"
    link = html_lib.escape(f"/packs/{COPY}/calc?{RESULT_QUERY}")
    assert f'value="http://testserver{link}"' in result.text
    assert f'cite="/api/v1/packs/{COPY}/articles/3"' in result.text


def test_the_default_result_names_its_document(client):
    page = client.get(f"/calc?{RESULT_QUERY}").text
    assert "最高可得 150,000.00 元" in text_of(page)  # 300,000 x 50%
    assert source_line(page) == f"计算依据: 《{TITLE}》 (湖州市人民政府,2025年)"
    assert "只办理默认文件的政策" not in page
    assert f'value="http://testserver{html_lib.escape("/calc?" + RESULT_QUERY)}"' in page  # the short address stays
    named = client.get(f"/packs/huzhou-2025/calc?{RESULT_QUERY}").text  # the default pack by its name keeps its name
    assert f'value="http://testserver{html_lib.escape("/packs/huzhou-2025/calc?" + RESULT_QUERY)}"' in named


def test_traditional_pages_keep_the_pack_and_its_title(app):
    with TestClient(app) as reader:  # its own cookies: the switch below is remembered in one
        page = reader.get(f"/packs/{COPY}/calc?{RESULT_QUERY}&lang=zh-Hant").text
        assert f"《{COPY_TITLE_ORIGINAL}》" in page and "湖州市人民政府" in page
        switched = reader.get("/lang", params={"to": "zh-Hant", "next": f"/packs/{COPY}/calc?{RESULT_QUERY}"},
                              follow_redirects=False)
        assert switched.headers["location"] == f"/packs/{COPY}/calc?{RESULT_QUERY}"
        assert "測試副本" in reader.get(switched.headers["location"]).text


def test_the_policy_browser_of_each_pack(app, client):
    contents = client.get(f"/packs/{COPY}/policy").text
    assert f'href="/packs/{COPY}/policy/articles/3"' in contents and 'href="/policy/articles/3"' not in contents
    assert f'action="/packs/{COPY}/policy/search"' in contents and '<span class="badge fictional">虚构</span>' in contents
    article = client.get(f"/packs/{COPY}/policy/articles/3").text
    assert "最高40%比例的补助" in article and "最高50%" not in article
    assert f'href="/packs/{COPY}/calc?subject=enterprise"' in article
    assert "最高50%比例的补助" in client.get("/policy/articles/3").text
    found = client.get(f"/packs/{COPY}/policy/search", params={"q": "创新券"}).text
    assert f'href="/packs/{COPY}/policy/articles/3#s' in found
    books = app.state.policy_books
    assert set(books) == {"huzhou-2025", COPY} and books["huzhou-2025"] is app.state.policy_book
    assert books[COPY] is not books["huzhou-2025"] and books[COPY].pack is app.state.packs[COPY].pack
    assert client.get(f"/packs/{COPY}/policy/articles/99").status_code == 404


def test_one_pack_only_shows_no_chooser(packs):
    with TestClient(create_app(packs[0])) as single:
        assert [pack["id"] for pack in single.get("/api/v1/packs").json()["packs"]] == ["huzhou-2025"]
        page = single.get(f"/calc?{RESULT_QUERY}").text
        assert 'class="pack-chooser"' not in page and source_line(page) == f"计算依据: 《{TITLE}》 (湖州市人民政府,2025年)"
        assert single.get(f"/api/v1/packs/{COPY}/health").status_code == 404


# --------------------------------------------------------------------------- loading the packs


def test_load_packs_skips_a_pack_that_does_not_load_unless_it_is_the_default(tmp_path):
    make_test_copy(tmp_path)
    broken = tmp_path / "half-written"  # a policy.yaml and nothing else yet
    broken.mkdir()
    (broken / "policy.yaml").write_text("# fictional\ntitle: 某市政策(未完成)\nfictional: true\n", encoding="utf-8")
    entries = library.find_packs([library.shipped_root(), tmp_path])
    loaded = load_packs(entries, "huzhou-2025")
    assert loaded.default == "huzhou-2025" and list(loaded.packs) == ["huzhou-2025", COPY]
    assert list(loaded.skipped) == ["half-written"] and "document.txt" in loaded.skipped["half-written"]
    with pytest.raises(PackError, match="默认政策包 half-written 无法载入"):
        load_packs(entries, "half-written")
    by_folder = load_packs(entries, str(tmp_path / COPY))  # --pack FOLDER: that one is the default
    assert by_folder.default == COPY and list(by_folder.packs) == [COPY, "huzhou-2025"]


def test_the_default_pack_path_is_the_library_s():
    assert default_pack_path() == library.choose(None).path
    assert (default_pack_path() / "policy.yaml").is_file()


# --------------------------------------------------------------------------- a county overlay served beside its city

OVERLAYS = Path(__file__).resolve().parent / "data" / "packs"  # fictional fixtures (their policy.yaml says so)
ANJI = "anji-2025-overlay"
TEA = ("subject=enterprise&e0_type=tea_processing_plant&e0_date=2025-05-01&e0_equipment_investment=1000000"
       "&action=calculate")


@pytest.fixture(scope="module")
def overlay_client(packs):
    default = packs[0]
    anji = load_pack(OVERLAYS / ANJI)
    with TestClient(create_app(default, packs={"huzhou-2025": default, ANJI: anji})) as client:
        yield client


def test_every_pack_found_loads_the_overlay_beside_its_base():
    entries = library.find_packs([library.shipped_root(), OVERLAYS])
    loaded = load_packs(entries, "huzhou-2025")
    assert loaded.skipped == {} and loaded.default == "huzhou-2025"
    assert {ANJI, "zhejiang-2025-fictional"} <= set(loaded.packs) and loaded.packs[ANJI].county == "安吉县"


def test_an_overlay_s_calculator_asks_for_the_county(overlay_client):
    """The fictional 安吉县 方案, (二): 对茶叶企业新建标准化茶叶加工厂的,按设备投资额的10%给予补助,
    单个企业全年最高补助20万元. 1,000,000 元 of equipment: 10% = 100,000 元, under the 20万 cap, for an
    enterprise of 安吉县 (the county the form assumes); none for one of another county."""
    listed = overlay_client.get(f"/api/v1/packs/{ANJI}").json()
    assert (listed["extends"], listed["county"], listed["fictional"]) == ("huzhou-2025", "安吉县", True)
    tidy = overlay_client.get(f"/packs/{ANJI}/calc?{TEA}", follow_redirects=False)
    assert tidy.status_code == 303 and "&county=%E5%AE%89%E5%90%89%E5%8E%BF&" in tidy.headers["location"]
    page = overlay_client.get(tidy.headers["location"]).text
    assert '<option value="安吉县" selected>安吉县</option>' in page and '<option value="其他区县">' in page
    assert "最高可得 100,000.00 元" in text_of(page)
    meta = text_of(re.search(r'<p class="meta">(.*?)</p>', page, re.DOTALL)[1])
    assert "依据区县承接方案《安吉县关于推动经济高质量发展若干政策的承接落实方案（2025年版）》第 2 条“支持白茶加工提质”" in meta
    assert "对茶叶企业新建标准化茶叶加工厂的，按设备投资额的10%给予补助" in page  # the county text's own comma
    assert "(安吉县人民政府,2025年) 虚构" in source_line(page)
    elsewhere = overlay_client.get(f"/packs/{ANJI}/calc?{TEA}".replace("&e0_", "&county=%E5%85%B6%E4%BB%96%E5%8C%BA%E5%8E%BF&e0_", 1))
    assert elsewhere.status_code == 200 and "仅适用于安吉县的主体" in text_of(elsewhere.text)
    assert "最高可得" not in text_of(elsewhere.text[elsewhere.text.index('<section class="result">'):]).split("未获支持")[0]
    wrong = overlay_client.get(f"/packs/{ANJI}/calc", params={"subject": "enterprise", "county": "德清县"})
    assert wrong.status_code == 422 and error_box(wrong.text) == "所在区县只能选择 安吉县 或 其他区县,而不是 '德清县'"
    assert 'name="county"' not in overlay_client.get("/calc", params={"subject": "enterprise"}).text  # a city's form
    traditional = overlay_client.get(f"/packs/{ANJI}/calc?{TEA}&lang=zh-Hant", follow_redirects=False)
    assert '<option value="安吉縣" selected>' in overlay_client.get(traditional.headers["location"]).text
    sent_back = f"/packs/{ANJI}/calc?{TEA}".replace("&e0_", "&county=%E5%AE%89%E5%90%89%E7%B8%A3&e0_", 1)  # 安吉縣
    assert "最高可得 100,000.00 元" in text_of(overlay_client.get(sent_back).text)


def test_an_overlay_s_api_answer_and_policy_browser(overlay_client):
    case = {"subject": {"id": "S1", "kind": "enterprise", "county": "安吉县"},
            "events": [{"id": "e1", "type": "tea_processing_plant", "date": "2025-05-01", "equipment_investment": "1000000"}]}
    data = overlay_client.post(f"/api/v1/packs/{ANJI}/calculate", json=case).json()
    assert data["pack"] == ANJI and data["pack_document"]["issuer"] == "安吉县人民政府"
    (item,) = data["entitlements"]
    assert (item["rule"], item["layer"], item["amount"]) == ("anji-tea-plant", "county", "100000.00")
    rules = {rule["id"]: rule for rule in overlay_client.get(f"/api/v1/packs/{ANJI}/rules").json()}
    assert rules["anji-tea-plant"]["clause"].startswith("对茶叶企业新建标准化茶叶加工厂的")  # the county's own text
    assert (rules["anji-tea-plant"]["pack"], rules["innovation-voucher"]["pack"]) == (ANJI, "huzhou-2025")
    contents = overlay_client.get(f"/packs/{ANJI}/policy").text
    assert "<h1>安吉县关于推动经济高质量发展若干政策的承接落实方案（2025年版）</h1>" in contents
    assert 'href="/packs/huzhou-2025/policy">查看所承接的文件' in contents
    article = overlay_client.get(f"/packs/{ANJI}/policy/articles/2").text
    assert "新建标准化茶叶加工厂补助" in article and f'href="/packs/{ANJI}/calc?subject=enterprise"' in article


# --------------------------------------------------------------------------- several packs at once

PROVINCE = Path(__file__).parent / "data" / "packs" / "zhejiang-2025-fictional"  # fictional


def test_one_case_under_the_city_and_the_province(packs):
    """POST /api/v1/packs/calculate?pack=huzhou-2025&pack=zhejiang-2025-fictional. By hand:
    huzhou 第(三十)條 不低于60% × 1,000,000 = 600,000 (floor); province (二) 50% = 500,000, but
    「按就高原则执行，不重复享受」: dropped to 0. High-tech 首次认定: huzhou 最高20萬元 and the province's
    10万元 「可与市、县同类奖励叠加享受」: both."""
    default, _ = packs
    province = load_pack(PROVINCE)
    app = create_app(default, packs={"huzhou-2025": default, "zhejiang-2025-fictional": province})
    case = {"subject": {"id": "S1", "kind": "enterprise", "name": "湖州某外贸企业"}, "events": [
        {"id": "e1", "type": "export_credit_insurance", "date": "2025-05-01", "premium": "1000000"},
        {"id": "h1", "type": "high_tech_recognition", "date": "2025-06-01", "recognition": "首次认定"},
    ]}
    address = "/api/v1/packs/calculate?pack=huzhou-2025&pack=zhejiang-2025-fictional"
    with TestClient(app) as client:
        answer = client.post(address, json=case)
        assert answer.status_code == 200, answer.text
        data = answer.json()
        city, other = data["packs"]
        assert (city["pack"], other["pack"]) == ("huzhou-2025", "zhejiang-2025-fictional")
        assert other["pack_document"]["fictional"] is True and other["pack_document"]["issuer"] == "浙江省人民政府"
        assert [(i["rule"], i["amount"]) for i in city["entitlements"]] == [
            ("export-credit-insurance", "600000.00"), ("high-tech-first", "200000.00")]
        assert [(i["rule"], i["amount"], i["dropped"] is not None) for i in other["entitlements"]] == [
            ("zj-export-credit-insurance", "0.00", True), ("zj-high-tech-first", "100000.00", False)]
        assert [(o["event"], o["mode"]) for o in data["overlaps"]] == [("e1", "higher"), ("h1", "stacks")]
        assert data["totals"] == {"ceiling": "200000.00", "floor": "600000.00", "exact": "100000.00", "tax": "0.00"}
        # Refusals: one pack, the same pack twice, an unknown id, a bad case.
        one = client.post("/api/v1/packs/calculate?pack=huzhou-2025", json=case)
        assert one.status_code == 422 and "至少" not in one.json()["detail"] and "2 至 8" in one.json()["detail"]
        twice = client.post("/api/v1/packs/calculate?pack=huzhou-2025&pack=huzhou-2025", json=case)
        assert twice.status_code == 422
        unknown = client.post("/api/v1/packs/calculate?pack=huzhou-2025&pack=%3Cscript%3E", json=case)
        assert unknown.status_code == 404 and unknown.json()["detail"].startswith("没有编号为“<script>”的政策包")
        broken = client.post(address, json={"subject": case["subject"], "events": [{**case["events"][0], "premium": "-1"}]})
        assert broken.status_code == 422 and "e1" in broken.json()["detail"] and "premium" in broken.json()["detail"], broken.text
        assert "/api/v1/packs/calculate" in client.get("/openapi.json").json()["paths"]
