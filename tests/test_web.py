"""The web calculator and the JSON API (zhida.web), through Starlette's TestClient."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest

from zhida.rules.pack import load_pack
from zhida.web.app import create_app

with warnings.catch_warnings():
    # Starlette asks for `httpx2` and warns once, on import, when it falls back to the pinned httpx.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient` is deprecated")
    from fastapi.testclient import TestClient

PACK = Path(__file__).resolve().parents[1] / "policies" / "huzhou-2025"
ENTERPRISE = {"id": "91330500MA2B3C4D5E", "kind": "enterprise", "name": "湖州某科技有限公司"}
# 對首次認定的高新技術企業,每家給予最高20萬元獎勵 (第二條, 由市科技局牽頭實施)
HIGH_TECH_FIRST = {"id": "h1", "type": "high_tech_recognition", "date": "2025-05-01", "recognition": "首次认定"}


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(load_pack(PACK))) as client:
        yield client


def case(*events: dict) -> dict:
    return {"subject": ENTERPRISE, "events": list(events)}


def post_case(client, data, **params):
    body = data if isinstance(data, str | bytes) else json.dumps(data, ensure_ascii=False)
    return client.post("/api/v1/calculate", content=body, params=params, headers={"content-type": "application/json"})


# ------------------------------------------------------------------ POST /api/v1/calculate


def test_first_high_tech_recognition(client):
    response = post_case(client, case(HIGH_TECH_FIRST))
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["totals"] == {"ceiling": "200000.00", "floor": "0.00", "exact": "0.00", "tax": "0.00"}
    assert data["by_measure"] == 0 and data["total"] == "200000.00"
    [item] = data["entitlements"]
    assert item["rule"] == "high-tech-first"
    assert item["amount"] == "200000.00"
    assert item["article"] == 2
    assert item["department"] == "市科技局"
    assert "首次认定的高新技术企业" in item["clause"]
    assert item["trace"][-1].startswith("最高可得 200,000.00 元")
    assert data["unmatched"] == []
    assert data["subject"] == ENTERPRISE | {"county": None}  # the case names no county (overlays read it)


def test_money_never_passes_through_float(client):
    # 按實際發生服務費用給予最高50%比例的補助: 50% of 80000.01 = 40000.005 -> half-up 40000.01.
    # Through float, 80000.01 * 0.5 = 40000.004999999997 would round to 40000.00.
    for fee in ("80000.01", "\"80000.01\""):
        body = '{"subject": {"id": "E1", "kind": "enterprise"}, "events": [' \
               '{"id": "v1", "type": "innovation_voucher", "date": "2025-03-01", "service_fee": %s}]}' % fee
        response = post_case(client, body)
        assert response.status_code == 200, response.text
        [item] = response.json()["entitlements"]
        assert item["amount"] == "40000.01"
        assert "四舍五入到分:40,000.005 → 40,000.01 元" in item["trace"]
        assert response.json()["totals"]["ceiling"] == "40000.01"


def test_large_amounts_keep_every_digit(client):
    # 符合條件的軟件企業享受所得稅“兩免三減半”: year 1 is exempt, the saving is 25% of the taxable income.
    # A float holds about 16 digits: 987654321098765.43 (under the 10^15 元 ceiling of a case) would
    # arrive as 987654321098765.375, and 25% of it round to …691.34 instead of …691.36.
    body = (
        '{"subject": {"id": "E1", "kind": "enterprise"}, "events": [{"id": "t1", "type": "software_income_tax",'
        ' "date": "2025-05-31", "status": "符合条件的软件企业", "taxable_income": 987654321098765.43,'
        ' "profit_year": 1, "tax_year": 2025}]}'
    )
    response = post_case(client, body)
    assert response.status_code == 200, response.text
    [item] = response.json()["entitlements"]
    assert item["amount"] == "246913580274691.36"  # 0.25 × 987654321098765.43 = 246913580274691.3575


def test_annual_cap_across_events_and_mixed_types(client):
    # 單個企業全年最高補助20萬元: 150000 + (75000 capped to the 50000 left) = 200000, plus the 200000 award.
    response = post_case(
        client,
        case(
            {"id": "v1", "type": "innovation_voucher", "date": "2025-03-01", "service_fee": 300000},
            {"id": "v2", "type": "innovation_voucher", "date": "2025-06-01", "service_fee": "150000"},
            HIGH_TECH_FIRST,
        ),
    )
    data = response.json()
    assert [(e["event"], e["amount"]) for e in data["entitlements"]] == [
        ("v1", "150000.00"),
        ("h1", "200000.00"),
        ("v2", "50000.00"),
    ]
    assert data["entitlements"][2]["caps_hit"] == ["innovation-voucher-annual"]
    assert data["totals"]["ceiling"] == "400000.00"


def test_unmatched_event_has_reasons(client):
    # 研發費用佔營業收入比重高于5%: 5% exactly is not 高于.
    report = {"id": "r1", "type": "rd_report", "date": "2025-06-01", "rd_expense": 5000000, "revenue": 100000000}
    data = post_case(client, case(report)).json()
    assert data["entitlements"] == [] and data["total"] == "0.00"
    assert set(data["totals"].values()) == {"0.00"}
    [unmatched] = data["unmatched"]
    assert unmatched["event"] == "r1"
    assert "不成立" in unmatched["reasons"][0]


def test_traditional(client):
    response = post_case(client, case(HIGH_TECH_FIRST), traditional="true")
    assert response.status_code == 200
    [item] = response.json()["entitlements"]
    assert item["clause"] == "對首次認定的高新技術企業,每家給予最高20萬元獎勵"  # the document, verbatim
    assert item["title"] == "首次認定高新技術企業獎勵"
    assert any("高新技術企業認定" in line for line in item["trace"])
    assert item["amount"] == "200000.00"


@pytest.mark.parametrize(
    ("event", "words"),
    [
        ({"id": "x1", "type": "moon_landing", "date": "2025-05-01"}, ["x1", "未知的事件类型", "moon_landing"]),
        (
            {"id": "h1", "type": "high_tech_recognition", "date": "2025-05-01"},
            ["h1", "缺少字段 recognition", "认定类型"],
        ),
        ({**HIGH_TECH_FIRST, "employees": 30}, ["h1", "多余的字段 employees"]),
        (
            {"id": "v1", "type": "innovation_voucher", "date": "2025-03-01", "service_fee": -1},
            ["v1", "service_fee", "不能为负数"],
        ),
        (
            {"id": "v1", "type": "innovation_voucher", "date": "2025-03-01", "service_fee": "八万元"},
            ["v1", "service_fee", "须为数字"],
        ),
        ({**HIGH_TECH_FIRST, "date": "2025-13-01"}, ["h1", "date", "YYYY-MM-DD", "2025-13-01"]),
        ({**HIGH_TECH_FIRST, "recognition": "第三次认定"}, ["h1", "recognition", "不是可选值"]),
    ],
    ids=["unknown-type", "missing-field", "extra-field", "negative-money", "text-for-number", "bad-date", "bad-choice"],
)
def test_bad_case_is_422_naming_the_field(client, event, words):
    response = post_case(client, case(event))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    for word in words:
        assert word in detail


def test_bad_subject_is_422(client):
    response = post_case(client, {"subject": {"id": "X", "kind": "alien"}, "events": []})
    assert response.status_code == 422
    assert "subject.kind" in response.json()["detail"]


@pytest.mark.parametrize(
    "kind, event",
    [
        # 全面落實困難老年人養老服務補貼…: an elderly person (resident) claims it, never an enterprise,
        # nor a consumer (nothing is bought).
        ("enterprise", {"id": "a1", "type": "elderly_assistance", "date": "2025-09-09", "hardship": True}),
        ("consumer", {"id": "a1", "type": "elderly_assistance", "date": "2025-09-09", "hardship": True}),
        # 市級政府性擔保機構風險補償和費用補貼: a guarantor's, not a bank's.
        ("bank", {"id": "g1", "type": "government_guarantee", "date": "2025-04-01", "municipal": True, "compensated": True}),
        # 個轉企: the 个体工商户 converts; an enterprise already is one.
        ("enterprise", {"id": "g1", "type": "individual_to_enterprise", "date": "2025-04-20", "of_scale": True}),
        # 規模糧油種植補貼: a farm or an agricultural company, not a resident.
        ("resident", {"id": "s1", "type": "grain_oil_planting", "date": "2025-04-15", "at_scale": True}),
    ],
    ids=["enterprise-elderly", "consumer-elderly", "bank-guarantee", "enterprise-individual", "resident-grain"],
)
def test_a_kind_that_may_not_claim_is_refused(client, kind, event):
    response = post_case(client, {"subject": {"id": "X1", "kind": kind}, "events": [event]})
    assert response.status_code == 422, response.text
    assert response.json()["detail"].endswith(f"事件类型 {event['type']} 不适用于主体类型 {kind}")


@pytest.mark.parametrize(
    "body", ['{"subject": {"id": "E1", "kind": "enterprise"}, "events": [', "", "not json", b"\xff\xfe{"]
)
def test_malformed_json_is_422_in_chinese(client, body):
    response = post_case(client, body)
    assert response.status_code == 422
    assert "请求体" in response.json()["detail"]


def test_error_in_traditional(client):
    response = post_case(client, case({**HIGH_TECH_FIRST, "date": "明年"}), traditional="true")
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "日期格式" in detail and "须为" not in detail  # OpenCC s2t: 須爲


# ------------------------------------------------------------------ catalogue endpoints


def test_rules(client):
    rules = client.get("/api/v1/rules").json()
    assert len(rules) == len(load_pack(PACK).rules) and len(rules) >= 42  # the 42 with amounts, and more
    rule = next(rule for rule in rules if rule["id"] == "innovation-voucher")
    assert rule["article"] == 3 and rule["area"] == 1 and rule["kind"] == "ceiling"
    assert rule["event"] == "innovation_voucher" and rule["subject"] == ["enterprise"]
    assert rule["amount"] == "0.5 * service_fee"
    assert rule["clause"] == "按实际发生服务费用给予最高50%比例的补助,单个企业全年最高补助20万元"
    assert rule["department"] == "市科技局"
    assert rule["caps"] == [
        {
            "id": "innovation-voucher-annual",
            "per": "subject_year",
            "yuan": "200000.00",
            "clause": "单个企业全年最高补助20万元",
        }
    ]


def test_events(client):
    events = {event["name"]: event for event in client.get("/api/v1/events").json()}
    voucher = events["innovation_voucher"]
    assert voucher["subjects"] == ["enterprise"]
    assert voucher["fields"] == [
        {
            "name": "service_fee",
            "type": "money",
            "title": "实际发生服务费用",
            "unit": "元",
            "values": [],
            "minimum": None,
        }
    ]
    assert events["high_tech_recognition"]["fields"][0]["values"] == ["首次认定", "重新认定"]


def test_article(client):
    article = client.get("/api/v1/articles/3").json()
    assert article["number"] == 3
    assert article["title"] == "推进产学研合作和科技成果转化"
    assert article["title_original"] == "推進產學研合作和科技成果轉化"
    assert "按实际发生服务费用给予最高50%比例的补助" in article["text"]
    assert "按實際發生服務費用給予最高50%比例的補助" in article["text_original"]
    assert article["area"] == 1 and article["department"] == "市科技局"
    assert "innovation-voucher" in [rule["id"] for rule in article["rules"]]


def test_unknown_article(client):
    response = client.get("/api/v1/articles/99")
    assert response.status_code == 404
    assert "没有第 99 条" in response.json()["detail"]
    three = client.get("/api/v1/articles/three")
    assert three.status_code == 422 and three.json() == {"detail": "路径参数 number 'three' 须为整数"}


def test_bad_query_parameter_is_one_chinese_sentence(client):
    response = post_case(client, case(HIGH_TECH_FIRST), traditional="maybe")
    assert response.status_code == 422
    assert response.json() == {"detail": "查询参数 traditional 'maybe' 须为 true 或 false"}


def test_unknown_address_and_method_in_chinese(client):
    api = client.get("/api/v1/nothing")
    assert api.status_code == 404 and api.json() == {"detail": "没有这个地址:/api/v1/nothing"}
    page = client.get("/nothing")
    assert page.status_code == 404 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>页面不存在</h1>" in page.text and "没有这个地址:/nothing" in error_box(page.text)
    wrong = client.delete("/api/v1/health")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET"
    assert wrong.json() == {"detail": "/api/v1/health 不接受 DELETE 请求"}


def test_health(client):
    health = client.get("/api/v1/health").json()
    assert health["status"] == "ok" and health["rules"] == len(load_pack(PACK).rules)


def test_openapi(client):
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "zhida 政策直达 API"
    operation = spec["paths"]["/api/v1/calculate"]["post"]
    body = operation["requestBody"]["content"]["application/json"]
    assert body["example"]["events"][0]["type"] == "high_tech_recognition"
    assert body["schema"]["properties"]["subject"]["properties"]["kind"]["enum"][0] == "enterprise"
    alternatives = body["schema"]["properties"]["events"]["items"]["anyOf"]
    assert len(alternatives) == len(client.get("/api/v1/events").json())
    assert {"/api/v1/rules", "/api/v1/events", "/api/v1/articles/{number}"} <= set(spec["paths"])
    assert "/calc" not in spec["paths"]
    assert client.get("/docs").status_code == 200


# ------------------------------------------------------------------ pages


def error_box(html: str) -> str:
    match = re.search(r'<div class="error"[^>]*>(.*?)</div>', html, re.S)
    return match[1] if match else ""


def test_index_lists_subject_kinds(client):
    response = client.get("/")
    assert response.status_code == 200
    assert '<html lang="zh-Hans">' in response.text
    assert "惠企政策计算器" in response.text
    kinds = [
        ("enterprise", "企业"), ("individual_business", "个体工商户"), ("farm", "农业经营主体(家庭农场、农民合作社等)"),
        ("incubator", "孵化载体运营主体"), ("institution", "科研院所、医院等单位"), ("bank", "银行"),
        ("guarantor", "政府性融资担保机构"), ("consumer", "消费者"), ("resident", "居民(个人)"),
    ]
    for kind, name in kinds:
        assert f"/calc?subject={kind}" in response.text and name in response.text


def test_calc_page_offers_only_the_kinds_event_types(client):
    html = client.get("/calc", params={"subject": "enterprise"}).text
    assert 'value="high_tech_recognition"' in html and 'value="innovation_voucher"' in html
    assert 'value="incubator_recognition"' not in html  # 孵化載體 events are not an enterprise's
    assert client.get("/calc", params={"subject": "alien"}).status_code == 422


def test_form_adds_rows_up_to_five(client):
    form = {"subject_kind": "enterprise", "action": "add", "new_type": "innovation_voucher"}
    html = client.post("/calc", data=form).text
    assert 'name="e0_type" value="innovation_voucher"' in html
    assert 'name="e0_service_fee" value="" inputmode="decimal"' in html  # text: 30万 is an amount too
    assert 'name="e0_date" value="2025-01-01"' in html
    form = {"subject_kind": "enterprise", "action": "add", "new_type": "high_tech_recognition",
            "e0_type": "innovation_voucher", "e0_date": "2025-03-01", "e0_service_fee": "100"}
    html = client.post("/calc", data=form).text
    assert 'name="e0_service_fee" value="100"' in html  # what was typed stays
    assert '<select name="e1_recognition">' in html
    five = {"subject_kind": "enterprise", "action": "add", "new_type": "high_tech_recognition"}
    for index in range(5):
        five |= {f"e{index}_type": "high_tech_recognition", f"e{index}_date": "2025-05-01"}
    response = client.post("/calc", data=five)
    assert response.status_code == 422 and "最多计算 5 个事件" in error_box(response.text)


def test_form_removes_a_row(client):
    form = {"subject_kind": "enterprise", "action": "remove:0",
            "e0_type": "innovation_voucher", "e0_date": "2025-03-01", "e0_service_fee": "100",
            "e1_type": "high_tech_recognition", "e1_date": "2025-05-01", "e1_recognition": "重新认定"}
    html = client.post("/calc", data=form).text
    assert 'name="e0_type" value="high_tech_recognition"' in html and "e1_type" not in html


HIGH_TECH_FORM = {
    "subject_kind": "enterprise",
    "subject_name": "湖州某科技有限公司",
    "action": "calculate",
    "e0_type": "high_tech_recognition",
    "e0_date": "2025-05-01",
    "e0_recognition": "首次认定",
    "e1_type": "rd_report",
    "e1_date": "2025-06-01",
    "e1_rd_expense": "5000000",
    "e1_revenue": "100000000",
}


def test_form_calculates(client):
    response = client.post("/calc", data=HIGH_TECH_FORM)
    assert response.status_code == 200
    html = response.text
    assert "200,000.00" in html
    assert "对首次认定的高新技术企业,每家给予最高20万元奖励" in html
    assert "依据第 2 条" in html and "市科技局" in html
    assert "推理过程" in html and "认定类型 = 首次认定" in html  # the field by its title
    assert "未获支持的事件" in html and "不成立" in html  # 5% is not 高于5%
    assert 'value="湖州某科技有限公司"' in html


def test_form_in_traditional(client):
    html = client.post("/calc", data={**HIGH_TECH_FORM, "lang": "zh-Hant"}).text
    assert '<html lang="zh-Hant">' in html
    assert "對首次認定的高新技術企業,每家給予最高20萬元獎勵" in html  # quoted verbatim
    assert "計算結果" in html and "牽頭部門" in html and "200,000.00" in html
    assert 'value="湖州某科技有限公司"' in html  # what the user typed is left as typed
    assert "计算结果" not in html
    index = client.get("/", params={"lang": "zh-Hant"}).text
    assert "惠企政策計算器" in index and "企業" in index


def test_form_switches_script_and_keeps_the_result(client):
    html = client.post("/calc", data={**HIGH_TECH_FORM, "action": "", "shown": "1", "switch_lang": "zh-Hant"}).text
    assert "計算結果" in html and "200,000.00" in html
    client.cookies.clear()  # the switch is remembered in a cookie: back to Simplified for the next tests


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("e0_rd_expense", "-1", ["第 1 个事件(年度研发投入)的“研发费用”", "不能为负数"]),
        ("e0_rd_expense", "", ["第 1 个事件(年度研发投入)", "缺少“研发费用”"]),
        ("e0_rd_expense", "12.345", ["“研发费用”", "金额最多精确到分"]),
        ("e0_date", "2025/06/01", ["的发生日期", "YYYY-MM-DD"]),
    ],
)
def test_form_bad_input_is_422_with_the_message(client, field, value, words):
    form = {"subject_kind": "enterprise", "action": "calculate", "e0_type": "rd_report", "e0_date": "2025-06-01",
            "e0_rd_expense": "100", "e0_revenue": "1000", field: value}
    response = client.post("/calc", data=form)
    assert response.status_code == 422
    message = error_box(response.text)
    for word in words:
        assert word in message
    assert 'name="e0_type" value="rd_report"' in response.text  # the form is shown again


def test_form_with_too_many_fields_is_400_in_chinese(client):
    form = "subject_kind=enterprise&" + "&".join(f"f{index}=1" for index in range(1001))  # Starlette stops at 1000
    response = client.post("/calc", content=form, headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert error_box(response.text) == "表单无法解析:字段过多(最多 1000 个)或格式有误,未予处理"


def test_form_unknown_subject_kind(client):
    response = client.post("/calc", data={"subject_kind": "alien", "action": "calculate"})
    assert response.status_code == 422 and "未知的主体类型" in error_box(response.text)


def test_the_item_cap_line_shows_the_amount_as_computed(client):
    # 單品售價6000元以下的手機…按15%補貼,最高補貼500元: 15% × 5999.99 = 899.9985, capped at 500.
    # The trace shows 899.9985 (what the cap saw), not a rounded 900.00.
    body = '{"subject": {"id": "C1", "kind": "consumer"}, "events": [{"id": "d1", "type": "trade_in_digital",' \
           ' "date": "2025-06-18", "category": "手机", "price": "5999.99"}]}'
    response = post_case(client, body)
    assert response.status_code == 200, response.text
    [item] = response.json()["entitlements"]
    assert item["amount"] == "500.00"
    assert any(line.endswith(":899.9985 元 → 500.00 元") for line in item["trace"]), item["trace"]


def result_section(html: str) -> str:
    return html[html.index('<section class="result">'):]


def test_form_shows_sub_totals_never_one_sum(client):
    # 對首次認定的高新技術企業,每家給予最高20萬元獎勵 (最高 200000) and 短期出口信用保險保費給予不低于60%的補助
    # (60% × 100000 = 60000, a floor): two kinds of amount, two sub-totals, no 合计 of 260000.
    form = {
        "subject_kind": "enterprise", "action": "calculate",
        "e0_type": "high_tech_recognition", "e0_date": "2025-05-01", "e0_recognition": "首次认定",
        "e1_type": "export_credit_insurance", "e1_date": "2025-06-01", "e1_premium": "100000",
    }
    html = result_section(client.post("/calc", data=form).text)
    assert re.search(r'class="total total-ceiling">最高可得 <strong>200,000.00</strong> 元', html)
    assert re.search(r'class="total total-floor">至少 <strong>60,000.00</strong> 元', html)
    assert "260,000.00" not in html and "260000.00" not in html and "合计 <strong>" not in html
    assert "total-exact" not in html and "total-tax" not in html  # only the kinds the result holds
    assert "不低于 60,000.00 元" in html


def test_form_labels_a_capped_floor_as_a_ceiling(client):
    # 單家企業保費補助金額不超過100萬元: 60% × 2000000 = 1200000 is cut to 1000000, the most, not the least.
    form = {"subject_kind": "enterprise", "action": "calculate",
            "e0_type": "export_credit_insurance", "e0_date": "2025-09-30", "e0_premium": "2000000"}
    html = result_section(client.post("/calc", data=form).text)
    assert '<div class="amount">最高可得 1,000,000.00 元</div>' in html
    assert "不低于 1,000,000.00" not in html
    assert re.search(r'class="total total-ceiling">最高可得 <strong>1,000,000.00</strong> 元', html)
    assert "total-floor" not in html


def test_a_tax_year_settled_the_next_spring_still_counts(client):
    # 符合條件的軟件企業享受所得稅“兩免三減半”: national policy, by tax year; 2025 settled on 2026-05-31.
    event = {"id": "t1", "type": "software_income_tax", "date": "2026-05-31", "status": "符合条件的软件企业",
             "taxable_income": "400000", "profit_year": 2, "tax_year": 2025}
    data = post_case(client, case(event)).json()
    [item] = data["entitlements"]
    assert (item["amount"], item["tax_due"], item["in_validity"]) == ("100000.00", "0.00", True)  # 25% × 400000
    assert data["totals"]["tax"] == "100000.00" and data["totals"]["ceiling"] == "0.00"
    assert any(line.startswith("解读:国家税收优惠按其自身期限执行") for line in item["trace"])


def test_form_counts_benefits_whose_amount_another_policy_sets(client):
    # A by_measure benefit (金额按…执行) is listed and counted, never added to an amount.
    pack = load_pack(PACK)
    rule = next(
        rule for rule in pack.rules
        if rule.spec.kind.value == "by_measure" and rule.spec.when == "TRUE" and "enterprise" in rule.spec.subject
        and not pack.events[rule.spec.event].fields and len(pack.rules_for(rule.spec.event)) == 1
    )
    form = {"subject_kind": "enterprise", "action": "calculate", "e0_type": rule.spec.event, "e0_date": "2025-05-01",
            "e1_type": "high_tech_recognition", "e1_date": "2025-05-01", "e1_recognition": "首次认定"}
    html = result_section(client.post("/calc", data=form).text)
    assert '<p class="total total-by_measure">另有 <strong>1</strong> 项金额按相关政策执行(不计入上列金额)</p>' in html
    assert re.search(r'class="total total-ceiling">最高可得 <strong>200,000.00</strong> 元', html)
    data = post_case(client, case({"id": "b1", "type": rule.spec.event, "date": "2025-05-01"})).json()
    assert data["by_measure"] == 1 and set(data["totals"].values()) == {"0.00"}
    assert data["entitlements"][0]["verdict"] == "by_measure" and data["entitlements"][0]["amount"] is None
