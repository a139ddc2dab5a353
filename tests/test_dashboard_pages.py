"""The leadership dashboard on SQLite and PostgreSQL: the charts' JSON is the budget report, the
tables show the same figures, the targets' progress is counted by department and county.

Awards as in test_finance_pages (hand-computed there): 甲 120,000.00 and 乙 50,000.00 under (三) 创新券
(第一部分, 市科技局; 吴兴区, 南浔区), 丙 300,000.00 under (三十) 出口信用保险 (第五部分, 市商务局; 长兴县).
Budgets from the document: 一、…全市财政预算安排17.25亿元 (1,725,000,000.00); all areas 支持总额为233.9亿元.
"""

from __future__ import annotations

import json
import re

import pytest

from test_finance_pages import A, B, C, award_three, cell_text, end_publicity, hidden, payment_ids, signed_in
from zhida.ledger.budgets import budget_report, report_json
from zhida.ledger.database import reading
from ledger_helpers import ledger_app


@pytest.fixture
def ledger(pack, ledger_url, tmp_path):
    ledger = ledger_app(pack, ledger_url, tmp_path / "files")
    yield ledger
    ledger.close()


def embedded(html: str) -> dict:
    """The charts' data as the page embeds it for static/dashboard.js."""
    found = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', html, re.S)
    assert found, "the page embeds no chart data"
    return json.loads(found[1])


def report_now(ledger) -> dict:
    with reading(ledger.state.factory) as session:
        return report_json(budget_report(session, ledger.state.pack))


def row(rows: list[dict], key: str) -> dict:
    return next(entry for entry in rows if entry["key"] == key)


def test_budget_execution_matches_the_report(ledger):
    awards = award_three(ledger)
    client = signed_in(ledger, "leader")
    page = client.get("/dashboard")
    assert page.status_code == 200
    data = embedded(page.text)
    assert data["report"] == report_now(ledger)
    report = data["report"]
    assert report["document_total"] == "23390000000.00"  # 支持总额为233.9亿元
    assert report["committed"] == "470000.00" and report["paid"] == "0.00"
    area1 = row(report["areas"], "1")
    assert (area1["document_budget"], area1["committed"], area1["left"]) == (
        "1725000000.00", "170000.00", "1724830000.00")  # 17.25亿元 − 170,000
    assert row(report["areas"], "5")["committed"] == "300000.00"
    assert row(report["departments"], "市科技局")["committed"] == "170000.00"
    assert [(row(report["counties"], name)["committed"]) for name in ("吴兴区", "南浔区", "长兴县", "德清县")] == [
        "120000.00", "50000.00", "300000.00", "0.00"]
    assert data["top_rules"] == ["export-credit-insurance", "innovation-voucher"]
    assert [(award["id"], award["amount"], award["county"]) for award in data["top_awards"]] == [
        (awards[C], "300000.00", "长兴县"), (awards[A], "120000.00", "吴兴区"), (awards[B], "50000.00", "南浔区")]
    # The tables show the same figures, exact, with thousands separators.
    text = cell_text(page.text)
    assert "合计 23,390,000,000.00 23,390,000,000.00 470,000.00 0.00 23,389,530,000.00" in text
    assert "1,725,000,000.00 1,725,000,000.00 170,000.00 0.00 1,724,830,000.00" in text
    assert "湖州丙外贸有限公司 长兴县 短期出口信用保险保费补助 市商务局 300,000.00 公示中" in text
    # The charts are drawn by the vendored ECharts and our script, both from /static (CSP script-src 'self').
    assert '<script src="/static/vendor/echarts/echarts.min.js"></script>' in page.text
    assert '<script src="/static/charts.js"></script>' in page.text and '<script src="/static/dashboard.js"></script>' in page.text
    assert client.get("/static/charts.js").status_code == 200
    for chart in ("chart-areas", "chart-departments", "chart-counties", "chart-rules",
                  "chart-target-departments", "chart-target-counties"):
        assert f'id="{chart}"' in page.text
    assert client.get("/static/vendor/echarts/echarts.min.js").status_code == 200
    assert client.get("/dashboard/data.json").json() == data


def test_figures_follow_each_change_of_the_ledger(ledger):
    awards = award_three(ledger)
    leader = signed_in(ledger, "leader")
    assert embedded(leader.get("/dashboard").text)["report"]["paid"] == "0.00"
    end_publicity(ledger)
    finance = signed_in(ledger, "finance")
    page = finance.get("/finance")
    made = finance.post("/finance/batches", data=hidden(page.text, "/finance/batches"), follow_redirects=False)
    batch = int(re.search(r"/finance/batches/(\d+)", made.headers["location"])[1])
    page = finance.get(f"/finance/batches/{batch}")
    pay = payment_ids(ledger, batch)
    action = f"/finance/batches/{batch}/mark"
    finance.post(action, data=hidden(page.text, action, payment=str(pay[awards[C]]), outcome="paid"))
    # The dashboard kept from before the payment is not shown again: 丙's 300,000.00 is paid now.
    leader = signed_in(ledger, "leader")
    data = embedded(leader.get("/dashboard").text)
    assert data["report"] == report_now(ledger)
    assert data["report"]["paid"] == "300000.00" and row(data["report"]["areas"], "5")["paid"] == "300000.00"
    assert row(data["report"]["counties"], "长兴县")["paid"] == "300000.00"


def test_targets_progress_by_department_and_county(ledger):
    # indicator-28 (第四部分目标, 市交通运输局牵头): "全市内河集装箱吞吐量完成90万标箱" — additive: half of
    # it given to 长兴县 is a goal of 450,000 标箱 (45万标箱); 450,000 reported at 30 June meets it.
    given = ledger.post("admin", "/api/v1/targets/indicator-28/assignments",
                        {"department": "市交通运输局", "county": "长兴县", "share": "0.5"})
    assert given.status_code == 201, given.text
    reported = ledger.post("admin", f"/api/v1/assignments/{given.json()['id']}/progress",
                           {"value": "450000", "period": "2025-Q2", "as_of": "2025-06-30"})
    assert reported.status_code == 201, reported.text
    # indicator-6 (第二部分目标, 市经信局牵头): "规上工业增加值增长6.5%以上" — a level every owner must reach:
    # 吴兴区 reporting 5.0 is behind.
    given = ledger.post("admin", "/api/v1/targets/indicator-6/assignments",
                        {"department": "市经信局", "county": "吴兴区", "share": "0.3"})
    ledger.post("admin", f"/api/v1/assignments/{given.json()['id']}/progress",
                {"value": "5.0", "period": "2025-Q2", "as_of": "2025-06-30"})
    client = signed_in(ledger, "leader")
    page = client.get("/dashboard")
    counties = {entry["name"]: entry for entry in embedded(page.text)["targets"]["counties"]}
    assert counties["长兴县"]["counts"]["met"] == 1 and counties["长兴县"]["total"] == 1
    assert counties["吴兴区"]["counts"]["behind"] == 1 and counties["吴兴区"]["total"] == 1
    # Every other line is the lead departments' at city level, not reported yet (81 indicators + 179 tasks).
    assert counties["市级"]["counts"]["not_reported"] == counties["市级"]["total"] == 81 + 179
    filtered = client.get("/dashboard", params={"county": "长兴县"})
    lines = cell_text(filtered.text[filtered.text.index('id="h-lines"'):])
    assert "1 条" in lines
    assert "市交通运输局 长兴县 0.5 45万标箱 450000标箱 2025-06-30 已完成" in lines
    behind = cell_text(client.get("/dashboard", params={"department": "市经信局", "county": "吴兴区"}).text)
    assert "市经信局 吴兴区 0.3 6.5% 5%" in behind and "滞后" in behind


def test_who_may_see_the_dashboard(ledger):
    anonymous = ledger.client.get("/dashboard", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login?next=%2Fdashboard"
    for user in ("kejiju", "finance"):
        client = signed_in(ledger, user)
        assert client.get("/dashboard").status_code == 403
        assert client.get("/dashboard/data.json").status_code == 403
    assert signed_in(ledger, "admin").get("/dashboard").status_code == 200
    # A hostile filter is just text: escaped, matching nothing.
    hostile = signed_in(ledger, "leader").get("/dashboard", params={"department": "<script>x</script>'\""})
    assert hostile.status_code == 200 and "<script>x" not in hostile.text and "没有符合筛选条件的指标" in hostile.text


def test_traditional_page_keeps_the_data_readable(ledger):
    award_three(ledger)
    page = signed_in(ledger, "leader").get("/dashboard", params={"lang": "zh-Hant"})
    assert "領導駕駛艙" in page.text
    data = embedded(page.text)
    assert data["report"]["committed"] == "470000.00"
    assert row(data["report"]["counties"], "吳興區")["committed"] == "120000.00"


def test_embedded_data_cannot_close_its_element():
    from zhida.web.dashboard_pages import embedded_json

    text = str(embedded_json({"subject": "</script><script>alert(1)</script>&'湖州"}))
    assert "<" not in text and ">" not in text and "&" not in text and "'" not in text
    assert json.loads(text) == {"subject": "</script><script>alert(1)</script>&'湖州"}
