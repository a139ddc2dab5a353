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
from ledger_helpers import ledger_app
from test_finance_pages import cell_text, signed_in
from test_reform import VOUCHERS, write_register
from test_web_packs import make_test_copy

from zhida.ledger.access import Role
from zhida.rules.pack import load_pack
from zhida.rules.reform import apply_reform
from zhida.web.app import create_app
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
