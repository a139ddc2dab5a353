"""The policy sandbox page (/sandbox): leadership changes a rule's numbers and reads the cost, priced
over a tiny register written here (ZHIDA_REGISTER), every figure computed by hand.

(三) 創新券: 按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元 — the register of
test_reform.VOUCHERS (three enterprises of 吴兴区, first area 市科技局):
    E1 100,000      50% = 50,000.00                60% = 60,000.00              (+10,000.00)
    E2 40,000.05    50% = 20,000.025 -> 20,000.03  60% = 24,000.03              (+4,000.00)
    E3 350,000      50% = 175,000.00               60% = 210,000 -> cap 200,000
    E3 100,000      50% = 50,000, cap leaves 25,000    60%: cap leaves 0        (E3: 200,000 both, 0)
Rules in force 270,000.03; at 60% 284,000.03: +14,000.00, two gainers, no loser, one unchanged.

Two changes at once, rate 60% and the cap 全年最高補助20萬元 raised to 25万:
    E1 60,000.00 (+10,000.00)   E2 24,000.03 (+4,000.00)
    E3 210,000 under the cap of 250,000, then 60,000 of which the cap leaves 40,000: 250,000 (+50,000.00)
    334,000.03 in all: +64,000.00, three gainers.
The reforms are illustrative, not policy.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from fastapi.testclient import TestClient
from ledger_helpers import Ledger, ledger_app
from test_finance_pages import cell_text, signed_in
from test_reform import VOUCHERS, write_register
from test_web_packs import make_test_copy

from zhida.ledger.access import Role
from zhida.rules.pack import load_pack
from zhida.rules.reform import apply_reform
from zhida.web.app import create_app, open_ledger_state
from zhida.web.reform_pages import MAX_UPLOAD


@pytest.fixture
def ledger(pack, tmp_path, monkeypatch):
    write_register(tmp_path / "register", VOUCHERS)
    monkeypatch.setenv("ZHIDA_REGISTER", str(tmp_path / "register"))
    ledger = ledger_app(pack, f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path / "files")
    yield ledger
    ledger.close()


def step(text: str) -> tuple[str, str]:
    return ("c", text)


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form guard"
    return found[1]


def upload(client, text: str | bytes, path: str = "/sandbox", name: str = "reform.yaml"):
    token = csrf(client.get(path).text)
    data = text.encode("utf-8") if isinstance(text, str) else text
    return client.post(f"{path}/upload", data={"csrf_token": token, "once": "x"},
                       files={"file": (name, data, "text/yaml")}, follow_redirects=False)


def embedded(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="sandbox-data">(.*?)</script>', html, re.DOTALL)
    assert found, "the page embeds no chart data"
    return json.loads(found[1])


def test_the_form_shows_the_rule_and_its_present_numbers(ledger):
    client = signed_in(ledger, "leader")
    page = client.get("/sandbox")
    assert page.status_code == 200
    assert '<a href="/sandbox" aria-current="page">政策沙盘</a>' in page.text  # leadership's menu
    assert '<optgroup label="一、' in page.text and '<option value="innovation-voucher">创新券补助(innovation-voucher)</option>' in page.text
    assert "sandbox-data" not in page.text  # nothing priced yet
    page = client.get("/sandbox", params={"rule": "innovation-voucher"})
    assert page.status_code == 200
    # 給予最高50%比例的補助 -> rate 0.5; 全年最高補助20萬元 -> the cap innovation-voucher-annual, 200000
    assert 'name="rate" value="0.5"' in page.text
    assert 'name="cap-innovation-voucher-annual" value="200000"' in page.text
    assert "按实际发生服务费用给予最高50%比例的补助" in page.text  # the clause, Simplified
    assert "参数未改动" not in page.text and 'id="no-changes"' in page.text
    page = client.get("/sandbox", params={"rule": "innovation-voucher", "add": "1", "rate": "50%"})
    assert page.status_code == 200 and "参数未改动" in page.text  # 50% is the rate in force: nothing to add


def test_raise_the_voucher_rate_to_sixty_percent(ledger):
    client = signed_in(ledger, "leader")
    form = {"rule": "innovation-voucher", "add": "1", "rate": "60%", "cap-innovation-voucher-annual": "20万"}
    added = client.get("/sandbox", params=form, follow_redirects=False)
    # the form's changed field only, put in the list, written as the address keeps it
    assert added.status_code == 303 and added.headers["location"] == "/sandbox?c=innovation-voucher.rate%3D0.6"
    page = client.get(added.headers["location"])
    assert page.status_code == 200, page.text
    assert "创新券补助(innovation-voucher) 比例:0.5 → 0.6" in page.text  # the list
    data = embedded(page.text)
    assert data["spend"] == {"base_count": "4", "baseline": "270000.03", "new_count": "4", "reform": "284000.03",
                             "change": "14000.00"}
    area = data["areas"][0]
    assert (area["name"], area["budget"], area["baseline"], area["reform"], area["change"]) == (
        "一、推进教育科技人才一体发展", "1725000000.00", "270000.03", "284000.03", "14000.00")
    assert area["share"] == "0.02"  # 284,000.03 / 1,725,000,000 = 0.0165% -> 0.02%
    assert all(row["baseline"] == row["reform"] == "0.00" for row in data["areas"][1:])
    assert [(row["rule"], row["baseline"], row["reform"], row["change"]) for row in data["rules"]] == [
        ("innovation-voucher", "270000.03", "284000.03", "14000.00")]
    assert [(row["county"], row["change"]) for row in data["counties"]] == [("吴兴区", "14000.00")]
    assert [(row["name"], row["change"]) for row in data["departments"]] == [("市科技局", "14000.00")]
    assert data["chains"] is None and data["size_bands"] is None  # the register has neither column
    assert "登记册未提供此列" in page.text
    assert data["stated_total"] == "23390000000.00"  # 支持總額為233.9億元
    gainers = data["gainers"]
    assert (gainers["count"], gainers["amount"], gainers["smallest"], gainers["largest"]) == (
        "2", "14000.00", "4000.00", "10000.00")
    assert data["losers"]["count"] == "0" and data["unchanged"] == "1"
    assert data["quantile_names"] == ["P10", "P25", "中位数", "P75", "P90"]  # the chart's order
    # The tables show the same figures.
    text = cell_text(page.text)
    assert "合计 23,390,000,000.00 270,000.03 284,000.03 14,000.00" in text
    assert "受益 2 14,000.00 4,000.00" in text
    for chart in ("chart-areas", "chart-sides"):
        assert f'id="{chart}"' in page.text
    assert '<script src="/static/reform.js"></script>' in page.text
    assert client.get("/static/reform.js").status_code == 200


def test_lower_the_cap_so_it_binds_and_download_the_reform(ledger):
    # 全年最高補助20萬元 -> 15萬元: E3 175,000 -> 150,000 and its second voucher nothing (was 25,000):
    # E3 loses 50,000.00; E1 50,000.00 and E2 20,000.03 unchanged. 270,000.03 -> 220,000.03.
    client = signed_in(ledger, "leader")
    params = [step("innovation-voucher-annual.yuan=15万")]
    data = embedded(client.get("/sandbox", params=params).text)
    assert (data["spend"]["reform"], data["spend"]["change"]) == ("220000.03", "-50000.00")
    losers = data["losers"]
    assert (losers["count"], losers["amount"], losers["smallest"]) == ("1", "-50000.00", "-50000.00")
    assert data["gainers"]["count"] == "0" and data["unchanged"] == "2"
    download = client.get("/sandbox/reform.yaml", params=params)
    assert download.status_code == 200
    assert download.headers["content-type"] == "text/yaml; charset=utf-8"
    assert download.headers["content-disposition"] == 'attachment; filename="reform.yaml"'
    written = yaml.safe_load(download.text)
    assert written["pack"] == "huzhou-2025"
    assert written["changes"] == [{"set": {"cap": "innovation-voucher-annual", "yuan": 150000}}]
    assert written["reform"] == "上限 innovation-voucher-annual:200000 → 150000 元"
    reform = apply_reform(download.text, ledger.state.pack)  # the file is a reform zhida reform reads
    cap = next(cap for rule in reform.reformed.rules for cap in rule.caps if cap.id == "innovation-voucher-annual")
    assert str(cap.yuan) == "150000"


def test_a_refused_reform_shows_its_reason(ledger):
    client = signed_in(ledger, "leader")
    # 創新券 has no condition to bound: the reform loader refuses it, naming the file's line (the change's).
    page = client.get("/sandbox", params=[step("innovation-voucher.bound=5")])
    assert page.status_code == 422
    assert "无法测算" in page.text and "第 5 行" in page.text and "0 个界限" in page.text
    assert "sandbox-data" not in page.text
    assert client.get("/sandbox/reform.yaml", params=[step("innovation-voucher.bound=5")]).status_code == 422
    # A cap of 0 元 is no cap.
    page = client.get("/sandbox", params=[step("innovation-voucher-annual.yuan=0")])
    assert page.status_code == 422 and "上限 innovation-voucher-annual 须大于 0 元" in page.text
    page = client.get("/sandbox", params={"rule": "innovation-voucher", "add": "1", "cap-innovation-voucher-annual": "三十块"})
    assert page.status_code == 422 and "上限 innovation-voucher-annual(元)" in page.text
    page = client.get("/sandbox", params={"rule": "no-such-rule"})
    assert page.status_code == 422 and "没有编号为 no-such-rule 的规则" in page.text


def test_traditional_and_who_may_see_it(ledger):
    client = signed_in(ledger, "leader")
    page = client.get("/sandbox", params=[step("innovation-voucher.rate=0.6"), ("lang", "zh-Hant")])
    assert page.status_code == 200 and "政策沙盤" in page.text and "測算結果" in page.text
    assert embedded(page.text)["spend"]["change"] == "14000.00"
    assert signed_in(ledger, "admin").get("/sandbox").status_code == 200
    assert signed_in(ledger, "finance").get("/sandbox").status_code == 403
    ledger.client.cookies.clear()
    answer = ledger.client.get("/sandbox", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_every_rule_offered_shows_its_form(ledger):
    client = signed_in(ledger, "leader")
    offered = re.findall(r'<option value="([a-z0-9-]+)">', client.get("/sandbox").text)
    assert "innovation-voucher" in offered and "digital-products" in offered and "high-tech-first" in offered
    for rule in offered:
        page = client.get("/sandbox", params={"rule": rule})
        assert page.status_code == 200 and 'name="rule" value="' + rule + '"' in page.text, rule
    # 單品售價6000元以下 -> the one bound of digital-products; 對首次認定的高新技術企業,每家給予最高20萬元獎勵 -> a constant amount
    assert 'name="bound" value="6000"' in client.get("/sandbox", params={"rule": "digital-products"}).text
    assert 'name="amount" value="200000"' in client.get("/sandbox", params={"rule": "high-tech-first"}).text


def test_a_register_that_cannot_be_read_is_named(ledger, tmp_path, monkeypatch):
    client = signed_in(ledger, "leader")
    monkeypatch.setenv("ZHIDA_REGISTER", str(tmp_path / "nowhere"))
    page = client.get("/sandbox")
    assert page.status_code == 503 and "没有 subjects.parquet" in page.text
    # An events file whose fee is no amount: the register's own check, with its row, on the page (no 500).
    broken = tmp_path / "broken"
    write_register(broken, [("E1", "v1", "2025-03-01", "十万")])
    monkeypatch.setenv("ZHIDA_REGISTER", str(broken))
    page = client.get("/sandbox", params=[step("innovation-voucher.rate=0.6")])
    assert page.status_code == 422 and "无法测算" in page.text and "service_fee" in page.text


def test_withdraw_the_voucher(ledger):
    # remove: {rule: innovation-voucher}: every voucher of the register is saved, 270,000.03 in all;
    # E1 loses 50,000.00, E2 20,000.03, E3 200,000.00 (175,000 + 25,000).
    client = signed_in(ledger, "leader")
    form = {"rule": "innovation-voucher", "add": "1", "rate": "0.9", "remove": "1"}
    added = client.get("/sandbox", params=form, follow_redirects=False)
    assert added.headers["location"] == "/sandbox?c=remove%3Ainnovation-voucher"  # the rate is ignored
    params = [step("remove:innovation-voucher")]
    page = client.get("/sandbox", params=params)
    assert page.status_code == 200, page.text
    data = embedded(page.text)
    assert (data["spend"]["reform"], data["spend"]["change"], data["spend"]["new_count"]) == ("0.00", "-270000.03", "0")
    losers = data["losers"]
    assert (losers["count"], losers["amount"], losers["smallest"], losers["largest"]) == (
        "3", "-270000.03", "-200000.00", "-20000.03")
    assert data["title"] == "取消 创新券补助(innovation-voucher)"
    written = yaml.safe_load(client.get("/sandbox/reform.yaml", params=params).text)
    assert written["changes"] == [{"remove": {"rule": "innovation-voucher"}}]


TWO = [step("innovation-voucher.rate=0.6"), step("innovation-voucher-annual.yuan=250000")]
TWO_YAML = """reform: 创新券 60%,上限 25万
pack: huzhou-2025
changes:
  - set: {rule: innovation-voucher, rate: 0.6}
  - set: {cap: innovation-voucher-annual, yuan: 250000}
"""


def test_two_changes_priced_together(ledger):
    # 給予最高50%比例的補助 -> 60%, and 全年最高補助20萬元 -> 25万 (the module docstring): 334,000.03, +64,000.00
    client = signed_in(ledger, "leader")
    first = client.get("/sandbox", params={"rule": "innovation-voucher", "add": "1", "rate": "60%"},
                       follow_redirects=False).headers["location"]
    added = client.get(first + "&rule=innovation-voucher&add=1&cap-innovation-voucher-annual=25万",
                       follow_redirects=False)
    location = added.headers["location"]
    assert location == "/sandbox?c=innovation-voucher.rate%3D0.6&c=innovation-voucher-annual.yuan%3D250000"
    page = client.get(location)
    assert page.status_code == 200, page.text
    data = embedded(page.text)
    assert (data["spend"]["baseline"], data["spend"]["reform"], data["spend"]["change"]) == (
        "270000.03", "334000.03", "64000.00")
    gainers = data["gainers"]
    assert (gainers["count"], gainers["amount"], gainers["smallest"], gainers["largest"]) == (
        "3", "64000.00", "4000.00", "50000.00")
    text = cell_text(page.text)
    assert "创新券补助(innovation-voucher) 比例:0.5 → 0.6" in text
    assert "上限 innovation-voucher-annual:200000 → 250000 元" in text
    # each change can be dropped: the link keeps the other
    drops = re.findall(r'<a class="drop" href="([^"]+)"', page.text)
    assert drops == ["/sandbox?c=innovation-voucher-annual.yuan%3D250000", "/sandbox?c=innovation-voucher.rate%3D0.6"]
    # the same parameter again replaces its change where it stood
    again = client.get(location + "&rule=innovation-voucher&add=1&rate=0.7", follow_redirects=False)
    assert again.headers["location"] == "/sandbox?c=innovation-voucher.rate%3D0.7&c=innovation-voucher-annual.yuan%3D250000"
    written = yaml.safe_load(client.get("/sandbox/reform.yaml", params=TWO).text)
    assert written["changes"] == [{"set": {"rule": "innovation-voucher", "rate": 0.6}},
                                  {"set": {"cap": "innovation-voucher-annual", "yuan": 250000}}]


def test_the_fit_finds_the_rate_that_meets_a_budget(ledger):
    # Over the rules in force the voucher's spend at rate r is E1 100,000r + E2 40,000.05r (each to the 分)
    # + E3 min(450,000r, 200,000). For 300,000 元: r = 0.7142 gives 71,420.00 + 28,568.04 + 200,000
    # = 299,988.04; r = 0.7143 gives 71,430.00 + 28,572.04 + 200,000 = 300,002.04, over it.
    client = signed_in(ledger, "leader")
    page = client.get("/sandbox", params={"fit": "innovation-voucher.rate", "budget": "30万"})
    assert page.status_code == 200, page.text
    assert re.search(r'<strong id="fit-value">0.7142</strong>', page.text)
    assert "299,988.04" in page.text
    rows = re.findall(r"<tr><td class=\"num\">(\d+)</td><td class=\"num\">([^<]+)</td>", page.text)
    assert len(rows) >= 5 and ("0.7142" in [value for _, value in rows])  # every bisection step in the table
    link = re.search(r'<a id="fit-link" href="([^"]+)"', page.text)[1]
    assert link == "/sandbox?c=innovation-voucher.rate%3D0.7142"
    cache = ledger.client.app.state.sandbox_baselines
    assert (cache.computed, cache.reused) == (1, 0)  # the fit priced its value over a baseline, kept
    data = embedded(client.get(link).text)
    assert data["spend"]["reform"] == "299988.04"
    assert (cache.computed, cache.reused) == (1, 1)  # the found value's page took the fit's baseline
    again = client.get("/sandbox", params={"fit": "innovation-voucher.rate", "budget": "30万"})
    assert re.search(r'<strong id="fit-value">0.7142</strong>', again.text) and (cache.computed, cache.reused) == (1, 2)
    page = client.get("/sandbox", params={"fit": "innovation-voucher.rate", "budget": "很多钱"})
    assert page.status_code == 422 and "无法求解" in page.text
    page = client.get("/sandbox", params={"fit": "no-such.rate", "budget": "1"})
    assert page.status_code == 422 and "没有编号为 no-such 的规则" in page.text


def test_upload_a_reform(ledger):
    client = signed_in(ledger, "leader")
    answer = upload(client, TWO_YAML)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith(
        "/sandbox?c=innovation-voucher.rate%3D0.6&c=innovation-voucher-annual.yuan%3D250000&title=")
    assert embedded(client.get(answer.headers["location"]).text)["spend"]["reform"] == "334000.03"
    # A proposal adds 1,000 元 to each of the four vouchers: +4,000.00; no address holds it, priced at once.
    proposal = ("reform: 提案\nchanges:\n  - add: {id: voucher-extra, title: 创新券加码, article: 3, "
                "clause: 提案:每张创新券再补1000元, proposal: true, subject: [enterprise], "
                "event: innovation_voucher, kind: ceiling, amount: \"1000\"}\n")
    answer = upload(client, proposal)
    assert answer.status_code == 200, answer.text
    data = embedded(answer.text)
    assert (data["spend"]["reform"], data["spend"]["change"]) == ("274000.03", "4000.00")
    assert "新增规则 voucher-extra" in answer.text
    token = csrf(answer.text)
    back = client.post("/sandbox/reform.yaml", data={"csrf_token": token, "text": proposal})
    assert back.status_code == 200 and back.text == proposal
    # An added rule that quotes no clause of the document, and is no proposal: refused with its line.
    broken = proposal.replace(", proposal: true", "")
    answer = upload(client, broken)
    assert answer.status_code == 422 and "改革方案不成立" in answer.text and "第 3 行" in answer.text
    assert answer.text.count('role="alert"') == 1


def test_a_broken_or_hostile_upload_is_refused(ledger):
    client = signed_in(ledger, "leader")
    answer = upload(client, "reform: x\nchanges:\n  - set: {rule: innovation-voucher, rate: [1\n")
    assert answer.status_code == 422 and "无法读取 YAML" in answer.text and "line 4" in answer.text
    answer = upload(client, "reform: x\nchanges:\n  - set: {rule: 'x\"]<b>', rate: 0.6}\n")
    assert answer.status_code == 422 and "第 3 行" in answer.text and "x&#34;]&lt;b&gt;" in answer.text
    answer = upload(client, "reform: x\nchanges:\n" + "  - set: {rule: innovation-voucher, rate: 0.6}\n" * 21)
    assert answer.status_code == 422 and "至多 20 项" in answer.text
    answer = upload(client, b"reform: x\n\xff\xfe")
    assert answer.status_code == 422 and "第 2 行:不是 UTF-8" in answer.text
    answer = upload(client, "# " + "x" * MAX_UPLOAD + "\n")
    assert answer.status_code == 413 and "文件过大" in answer.text
    answer = upload(client, "reform: x\npack: another-pack\nchanges:\n  - remove: {rule: innovation-voucher}\n")
    assert answer.status_code == 422 and "政策包 another-pack 编写" in answer.text
    token = csrf(client.get("/sandbox").text)
    answer = client.post("/sandbox/upload", data={"csrf_token": "forged"},
                         files={"file": ("r.yaml", TWO_YAML.encode(), "text/yaml")})
    assert answer.status_code == 403 and token


@pytest.mark.parametrize(("change", "message"), [
    ("no-such-rule.rate=0.6", "没有编号为 no-such-rule 的规则"),
    ('a"]<x>.rate=1', "没有编号为 a&#34;]&lt;x&gt; 的规则"),
    ("innovation-voucher.rate=1e999999", "不是数值"),
    ("innovation-voucher-annual.yuan=1e999999", "innovation-voucher-annual"),
    ("innovation-voucher-annual.yuan=-5", "不能为负数"),
    ("innovation-voucher.rate=-0.5", "不能为负数"),
    ("innovation-voucher.colour=red", "规则不能设置 colour"),
    ("scale:innovation-voucher=abc", "不是数值"),
    ("remove:", "没有编号为  的规则"),
])
def test_hostile_changes_get_one_message(ledger, change, message):
    client = signed_in(ledger, "leader")
    page = client.get("/sandbox", params=[step(change)])
    assert page.status_code == 422 and message in page.text, page.text[-3000:]
    assert page.text.count('role="alert"') == 1 and "sandbox-data" not in page.text


def test_too_many_changes(ledger):
    client = signed_in(ledger, "leader")
    page = client.get("/sandbox", params=[step(f"innovation-voucher.rate=0.{n:02d}") for n in range(21)])
    assert page.status_code == 422 and "共 21 项,至多 20 项" in page.text


def test_the_baseline_is_computed_once_per_register(ledger, tmp_path, monkeypatch):
    client = signed_in(ledger, "leader")
    cache = ledger.client.app.state.sandbox_baselines
    assert client.get("/sandbox", params=TWO).status_code == 200
    assert (cache.computed, cache.reused) == (1, 0)
    data = embedded(client.get("/sandbox", params=[step("remove:innovation-voucher")]).text)
    assert data["spend"]["change"] == "-270000.03"  # another reform over the same baseline, right
    assert (cache.computed, cache.reused) == (1, 1)
    # Another register is another baseline: (三) 創新券 over two vouchers of 10,000: 5,000.00 each.
    other = tmp_path / "other"
    write_register(other, [("E1", "v1", "2025-03-01", "10000"), ("E2", "v2", "2025-03-01", "10000")])
    monkeypatch.setenv("ZHIDA_REGISTER", str(other))
    page = client.get("/sandbox", params=TWO)
    assert embedded(page.text)["spend"]["baseline"] == "10000.00" and cache.computed == 2
    assert "events.csv" in page.text and "字节" in page.text  # the register named, with its size


@pytest.fixture
def two_packs(pack, tmp_path, monkeypatch):
    write_register(tmp_path / "register", VOUCHERS)
    monkeypatch.setenv("ZHIDA_REGISTER", str(tmp_path / "register"))
    copy = load_pack(make_test_copy(tmp_path / "packs"))
    state = open_ledger_state(pack, f"sqlite:///{tmp_path / 'ledger.db'}", files=tmp_path / "files")
    app = create_app(pack, state, packs={"huzhou-2025": pack, "huzhou-2025-copy": copy})
    ledger = Ledger(TestClient(app), state)
    ledger.user("leader", Role.LEADERSHIP)
    yield ledger
    ledger.close()


def test_each_pack_has_its_sandbox(two_packs):
    # The fictional copy pays 40% (按實際發生服務費用給予最高40%比例的補助): E1 40,000.00, E2 16,000.02,
    # E3 140,000 + 40,000 = 180,000 under its 20万 cap: 236,000.02. Raised to 50%: the city's 270,000.03.
    client = signed_in(two_packs, "leader")
    page = client.get("/packs/huzhou-2025-copy/sandbox", params={"rule": "innovation-voucher"})
    assert page.status_code == 200 and 'name="rate" value="0.4"' in page.text
    assert "按实际发生服务费用给予最高40%比例的补助" in page.text  # its own clause
    added = client.get("/packs/huzhou-2025-copy/sandbox", params={"rule": "innovation-voucher", "add": "1", "rate": "0.5"},
                       follow_redirects=False)
    assert added.headers["location"] == "/packs/huzhou-2025-copy/sandbox?c=innovation-voucher.rate%3D0.5"
    data = embedded(client.get(added.headers["location"]).text)
    assert (data["spend"]["baseline"], data["spend"]["reform"]) == ("236000.02", "270000.03")
    written = yaml.safe_load(client.get("/packs/huzhou-2025-copy/sandbox/reform.yaml",
                                        params=[step("innovation-voucher.rate=0.5")]).text)
    assert written["pack"] == "huzhou-2025-copy"
    # the short address stays the default pack's
    assert embedded(client.get("/sandbox", params=[step("innovation-voucher.rate=0.5")]).text)["spend"]["baseline"] == "270000.03"
    assert client.get("/packs/no-such-pack/sandbox").status_code == 404
    cache = two_packs.client.app.state.sandbox_baselines
    assert cache.computed == 2  # one baseline per pack


def test_an_uploaded_scale_and_a_change_of_two_settings_become_an_address(ledger):
    # scale by 1.2: 1.2 * (0.5 * service_fee) = 60%: 284,000.03 as in test_raise_the_voucher_rate_to_sixty_percent.
    # rate 0.6 with no caps (caps: []): E1 60,000.00, E2 24,000.03, E3 210,000 + 60,000: 354,000.03.
    client = signed_in(ledger, "leader")
    answer = upload(client, "reform: 倍数\nchanges:\n  - scale: {rule: innovation-voucher, by: 1.2}\n")
    assert answer.headers["location"].startswith("/sandbox?c=scale%3Ainnovation-voucher%3D1.2&")
    assert embedded(client.get(answer.headers["location"]).text)["spend"]["reform"] == "284000.03"
    answer = upload(client, "reform: 无上限\nchanges:\n  - set: {rule: innovation-voucher, rate: 0.6, caps: []}\n")
    location = answer.headers["location"]
    assert location.startswith("/sandbox?c=innovation-voucher.rate%3D0.6&c=innovation-voucher.caps%3D&")
    page = client.get(location)
    assert embedded(page.text)["spend"]["reform"] == "354000.03"
    assert "上限:[innovation-voucher-annual] → []" in page.text


def test_the_form_drops_a_cap_and_scales_a_tier(ledger):
    # 全年最高補助20萬元 unticked: the voucher carries no cap. At 50% E1 50,000.00, E2 20,000.03 (20,000.025
    # rounded), E3 175,000 + 50,000 = 225,000 where the cap kept 200,000: 295,000.03 in all, +25,000.00.
    client = signed_in(ledger, "leader")
    page = client.get("/sandbox", params={"rule": "innovation-voucher"})
    assert 'name="keep-cap" value="innovation-voucher-annual" checked' in page.text
    assert 'name="scale-with" value="rd-institution-four-star"' in page.text  # a rule of the same area
    kept = client.get("/sandbox", params={"rule": "innovation-voucher", "add": "1", "caps-shown": "1",
                                          "keep-cap": "innovation-voucher-annual"}, follow_redirects=False)
    assert kept.status_code == 200 and 'id="unchanged"' in kept.text  # every cap kept: nothing to add
    dropped = client.get("/sandbox", params={"rule": "innovation-voucher", "add": "1", "caps-shown": "1"},
                         follow_redirects=False)
    assert dropped.headers["location"] == "/sandbox?c=innovation-voucher.caps%3D"
    data = embedded(client.get(dropped.headers["location"]).text)
    assert (data["spend"]["reform"], data["spend"]["change"]) == ("295000.03", "25000.00")
    # 金额倍数 1.2 with two rules of the first area ticked: one change over the three, in the pack's order.
    scaled = client.get("/sandbox", params=[("rule", "innovation-voucher"), ("add", "1"), ("scale", "1.2"),
                                            ("scale-with", "rd-institution-five-star"),
                                            ("scale-with", "rd-institution-four-star")], follow_redirects=False)
    assert scaled.headers["location"] == (
        "/sandbox?c=scale%3Ainnovation-voucher%2Crd-institution-four-star%2Crd-institution-five-star%3D1.2")
    # 1.2 * 50% = 60% on the vouchers: 284,000.03 (test_an_uploaded_scale_…); the institutions have no events here
    assert embedded(client.get(scaled.headers["location"]).text)["spend"]["reform"] == "284000.03"
    hostile = client.get("/sandbox", params=[("rule", "innovation-voucher"), ("add", "1"), ("scale", "1.2"),
                                             ("scale-with", "x'\"><script>")])
    assert hostile.status_code == 422 and "不是第 1 领域中有金额的其他规则" in hostile.text
    assert "<script>" not in hostile.text and "x&#39;&#34;&gt;&lt;script&gt;" in hostile.text  # named, escaped
    other = client.get("/sandbox", params={"rule": "innovation-voucher", "add": "1", "caps-shown": "1",
                                           "keep-cap": "trade-in-annual[0]"})
    assert other.status_code == 422 and "不是规则 innovation-voucher 的上限" in other.text
