"""Budgets: the document's figures, allocations within an area, committed/paid/left to the 分,
warnings at 70% and 90%, the report, `zhida budget set`, `zhida report budget` and the HTTP API.

Every test runs on SQLite and PostgreSQL (`ledger_engine` / `ledger_url`).

The document's budgets, one sentence per area (一、…八、), e.g.
  一、… 2025年,全市财政预算安排17.25億元。 -> 1,725,000,000.00 元
  六、… 2025年,全市財政預算安排94.17億元。 -> 9,417,000,000.00 元
and after the eighth: 上述8個領域政策,全市財政2025年預算安排資金除交叉重疊部分外,支持總額為233.9億元.
"""

from __future__ import annotations

import io
import json
import os
import stat
import warnings
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from typer.testing import CliRunner

from zhida.cli import app as cli_app
from zhida.ledger import audit, budgets, sheets
from zhida.ledger import tables as t
from zhida.ledger.access import Actor, Refused, Role
from zhida.ledger.accounts import actor_of, add_user, issue
from zhida.ledger.database import sessions, transaction
from zhida.ledger.identity import credit_code_check, organisation_code_check

with warnings.catch_warnings():
    # Starlette asks for `httpx2` and warns once, on import, when it falls back to the pinned httpx.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient` is deprecated")
    from fastapi.testclient import TestClient

D = Decimal
runner = CliRunner()
DOCUMENT_TOTAL = D("23390000000.00")  # 支持總額為233.9億元
# 一 17.25, 二 6.73, 三 1.72, 四 10.26, 五 2.64, 六 94.17, 七 25.54, 八 75.59 (億元)
AREA_BUDGETS = {1: "1725000000.00", 2: "673000000.00", 3: "172000000.00", 4: "1026000000.00",
                5: "264000000.00", 6: "9417000000.00", 7: "2554000000.00", 8: "7559000000.00"}


def credit_code(body: str) -> str:
    """A valid 统一社会信用代码 for an organisation code body of 8 characters (GB 32100 / GB 11714)."""
    first_17 = "91330500" + body + organisation_code_check(body)
    return first_17 + credit_code_check(first_17)


@pytest.fixture
def factory(ledger_engine, pack):
    factory = sessions(ledger_engine)
    with transaction(factory) as session:
        budgets.seed_budgets(session, pack)
    return factory


def _user(factory, username: str, role: Role, department: str | None = None) -> Actor:
    with transaction(factory) as session:
        return actor_of(add_user(session, username, "password-1", role, department=department))


@pytest.fixture
def admin(factory) -> Actor:
    return _user(factory, "admin1", Role.ADMIN)


def _subject(session, body: str, county: str | None) -> str:
    code = credit_code(body)
    if session.get(t.Subject, code) is None:
        subject = t.Subject(id=code, kind="enterprise", name=f"测试企业{body}", county=county)
        session.add(subject)
        audit.record(session, "admin1", "subject.add", subject)
    return code


def award(factory, pack, actor: Actor, rule_id: str, county: str | None, amount: str | None, status: str,
          cash: bool = True, verdict: str = "ceiling") -> None:
    """An award row as a decision would leave it (inserted directly, its running totals moved as a
    grant to `status` would, audit-recorded)."""
    rule = pack.rule(rule_id)
    with transaction(factory) as session:
        subject = _subject(session, f"{abs(hash((county, rule_id))) % 10**8:08d}", county)
        row = t.Award(subject_id=subject, rule_id=rule_id, article=rule.spec.article, area=rule.area,
                      department=budgets.to_simplified(rule.department), county=county, year=2025,
                      verdict=verdict, cash=cash, amount=None if amount is None else D(amount),
                      clause=rule.spec.clause, trace=[], status=status, decided_by=actor.user_id)
        session.add(row)
        budgets.move(session, row, None, status)
        audit.record(session, actor.username, "award.add", row)


def set_(factory, pack, actor, area, yuan, rule_id=None, county=None):
    with transaction(factory) as session:
        row = budgets.set_budget(session, pack, area, D(yuan), actor, rule_id=rule_id, county=county)
        return row.yuan


def refusal(factory, pack, actor, area, yuan, rule_id=None, county=None) -> Refused:
    with pytest.raises(Refused) as caught:
        set_(factory, pack, actor, area, yuan, rule_id, county)
    return caught.value


def report(factory, pack) -> budgets.Report:
    with transaction(factory) as session:
        return budgets.budget_report(session, pack)


# --------------------------------------------------------------------------- the document's budgets


def test_seeded_report_shows_eight_areas_totalling_the_documents_233_9_yi(factory, pack):
    result = report(factory, pack)
    assert [row.key for row in result.areas] == [str(n) for n in range(1, 9)]
    assert {int(row.key): row.allocated for row in result.areas} == {n: D(v) for n, v in AREA_BUDGETS.items()}
    assert {int(row.key): row.document_budget for row in result.areas} == {n: D(v) for n, v in AREA_BUDGETS.items()}
    # 17.25 + 6.73 + 1.72 + 10.26 + 2.64 + 94.17 + 25.54 + 75.59 = 233.90 億元
    assert result.budget_total == DOCUMENT_TOTAL == result.document_total
    assert result.committed == result.paid == result.tax_savings == D("0.00")
    assert result.left == DOCUMENT_TOTAL
    assert all(row.level == "none" and row.committed == 0 for row in result.areas)
    assert result.warnings == []
    # The lead departments, in Simplified (一、…由市科技局牵头实施; 三、and 六、both 市发展改革委)
    assert [row.department for row in result.areas] == [
        "市科技局", "市经信局", "市发展改革委", "市交通运输局", "市商务局", "市发展改革委", "市农业农村局", "市人力社保局"]
    departments = {row.key: row.allocated for row in result.departments}
    assert departments["市发展改革委"] == D("9589000000.00")  # 1.72 + 94.17 億元


def test_area_budget_sentences_are_quoted_from_the_document(pack):
    assert budgets.area_clause(pack, 1) == "2025年,全市财政预算安排17.25亿元。"
    assert budgets.area_clause(pack, 6) == "2025年,全市财政预算安排94.17亿元。"


def test_seeding_twice_adds_nothing(factory, pack):
    with transaction(factory) as session:
        assert budgets.seed_budgets(session, pack) == []
        assert len(session.scalars(select(t.Budget)).all()) == 8


# --------------------------------------------------------------------------- committed, paid, left


@pytest.fixture
def awards(factory, pack, admin):
    """Area 一 (市科技局): lab-new and high-tech-first in three counties; area 二 and a tax saving."""
    award(factory, pack, admin, "lab-new", "吴兴区", "1000000.00", "publicity")
    award(factory, pack, admin, "lab-new", "南浔区", "500000.50", "paid")
    award(factory, pack, admin, "lab-new", "吴兴区", "10000.01", "held")
    award(factory, pack, admin, "high-tech-first", "吴兴区", "200000.25", "failed")  # retried later: committed
    award(factory, pack, admin, "high-tech-first", "吴兴区", "300000.00", "cancelled")  # released
    award(factory, pack, admin, "high-tech-first", "德清县", "99999.99", "in_batch")
    award(factory, pack, admin, "rd-intensity-list", "德清县", None, "payable", cash=False, verdict="qualification")
    award(factory, pack, admin, "export-credit-insurance", "南浔区", "1000.00", "payable", cash=True, verdict="floor")
    # 市发展改革委's software tax holiday: revenue forgone, reported beside the cash
    award(factory, pack, admin, "software-two-three", "长兴县", "12345.67", "payable", cash=False, verdict="tax")


def test_committed_and_paid_by_area_rule_and_county(factory, pack, awards):
    with transaction(factory) as session:
        # area 一: 1,000,000.00 + 500,000.50 + 10,000.01 + 200,000.25 + 99,999.99 = 1,810,000.75
        assert budgets.totals(session, 1) == budgets.Totals(D("1810000.75"), D("500000.50"))
        # lab-new: 1,000,000.00 + 500,000.50 + 10,000.01 = 1,510,000.51
        assert budgets.committed(session, 1, rule_id="lab-new") == D("1510000.51")
        assert budgets.paid(session, 1, rule_id="lab-new") == D("500000.50")
        # high-tech-first: 200,000.25 (failed) + 99,999.99 (in_batch); the cancelled 300,000 is released
        assert budgets.committed(session, 1, rule_id="high-tech-first") == D("300000.24")
        assert budgets.paid(session, 1, rule_id="high-tech-first") == D("0.00")
        # 吴兴区 in area 一: 1,000,000.00 + 10,000.01 + 200,000.25 = 1,210,000.26
        assert budgets.committed(session, 1, county="吴兴区") == D("1210000.26")
        assert budgets.committed(session, 1, rule_id="lab-new", county="吴兴区") == D("1010000.01")
        assert budgets.committed(session, 5) == D("1000.00")
        # the tax saving is no cash: area 三 has nothing committed
        assert budgets.totals(session, 3) == budgets.Totals(D("0.00"), D("0.00"))


def test_report_rows_by_area_department_county_and_rule(factory, pack, awards):
    result = report(factory, pack)
    areas = {row.key: row for row in result.areas}
    assert (areas["1"].committed, areas["1"].paid, areas["1"].left) == (D("1810000.75"), D("500000.50"), D("1723189999.25"))
    # 1,810,000.75 / 1,725,000,000.00 = 0.104927…% -> 0.10
    assert areas["1"].share == D("0.10") and areas["1"].level == "none"
    assert areas["3"].committed == D("0.00") and areas["3"].tax_savings == D("12345.67")
    assert areas["5"].committed == D("1000.00") and areas["5"].left == D("263999000.00")
    departments = {row.key: row for row in result.departments}
    assert departments["市科技局"].committed == D("1810000.75")
    assert departments["市发展改革委"].tax_savings == D("12345.67") and departments["市发展改革委"].committed == 0
    counties = {row.key: row for row in result.counties}
    assert [row.key for row in result.counties] == ["吴兴区", "南浔区", "德清县", "长兴县", "安吉县", "南太湖新区"]
    assert counties["吴兴区"].committed == D("1210000.26")
    # 南浔区: 500,000.50 (lab-new, paid) + 1,000.00 (export-credit-insurance, payable)
    assert (counties["南浔区"].committed, counties["南浔区"].paid) == (D("501000.50"), D("500000.50"))
    assert counties["德清县"].committed == D("99999.99")
    assert counties["长兴县"].committed == 0 and counties["长兴县"].tax_savings == D("12345.67")
    assert all(row.allocated is None for row in result.counties)  # no county allocation set
    rules = {row.key: row for row in result.rules}
    assert set(rules) == {"lab-new", "high-tech-first", "rd-intensity-list", "export-credit-insurance", "software-two-three"}
    assert rules["lab-new"].committed == D("1510000.51") and rules["lab-new"].allocated is None
    # totals: 1,810,000.75 + 1,000.00 = 1,811,000.75; left 23,390,000,000.00 - 1,811,000.75
    assert (result.committed, result.paid, result.tax_savings) == (D("1811000.75"), D("500000.50"), D("12345.67"))
    assert result.left == D("23388188999.25")
    assert result.committed == sum((row.committed for row in result.areas), D(0))
    assert result.committed == sum((row.committed for row in result.counties), D(0))


# --------------------------------------------------------------------------- warnings at 70% and 90%


def test_warning_levels_include_the_bound():
    # 达到70%: exactly 70.00% warns (DESIGN.md: 以上 includes the bound); the level compares exactly.
    limit = D("1000000.00")
    assert budgets.level(limit, D("699999.99")) == "none"
    assert budgets.level(limit, D("700000.00")) == "70%"
    assert budgets.level(limit, D("899999.99")) == "70%"
    assert budgets.level(limit, D("900000.00")) == "90%"
    assert budgets.level(D("0.00"), D("0.00")) == "none"
    assert budgets.level(None, D("5.00")) == "none"
    # 69.995% shows as 70.00 but has not reached 70%
    assert budgets.share(D("100000.00"), D("69995.00")) == D("70.00")
    assert budgets.level(D("100000.00"), D("69995.00")) == "none"


def test_warnings_at_the_boundaries_of_allocations(factory, pack, admin):
    set_(factory, pack, admin, 1, "1000000.00", rule_id="lab-new")
    set_(factory, pack, admin, 1, "200000.00", county="安吉县")
    award(factory, pack, admin, "lab-new", "吴兴区", "699999.99", "publicity")
    with transaction(factory) as session:
        assert budgets.warnings(session, pack) == []
    award(factory, pack, admin, "lab-new", "吴兴区", "0.01", "payable")  # now exactly 700,000.00 = 70.00%
    award(factory, pack, admin, "high-tech-first", "安吉县", "180000.00", "paid")  # 180,000 / 200,000 = 90.00%
    with transaction(factory) as session:
        found = budgets.warnings(session, pack)
    assert [(w.which, w.key, w.level) for w in found] == [("county", "安吉县", "90%"), ("rule", "lab-new", "70%")]
    assert "已承诺 700,000.00 元" in found[1].message and "70.00%" in found[1].message
    result = report(factory, pack)
    assert [(w.which, w.key, w.level) for w in result.warnings] == [(w.which, w.key, w.level) for w in found]
    rules = {row.key: row for row in result.rules}
    assert (rules["lab-new"].allocated, rules["lab-new"].left, rules["lab-new"].level) == (D("1000000.00"), D("300000.00"), "70%")
    counties = {row.key: row for row in result.counties}
    assert (counties["安吉县"].allocated, counties["安吉县"].share, counties["安吉县"].level) == (D("200000.00"), D("90.00"), "90%")
    # The workbook's 预警 sheet (the CLI's --xlsx and the leadership's download are one workbook) lists both.
    book = load_workbook(io.BytesIO(sheets.xlsx_bytes(sheets.budget_tables(result))))
    listed = [[cell.value for cell in row][:4] for row in book["预警"].iter_rows(min_row=2)]
    assert listed == [[1, "区县分配", "安吉县", "达到90%"], [1, "规则分配", "lab-new", "达到70%"]]


def test_rooms_name_the_binding_budget(factory, pack, admin, awards):
    set_(factory, pack, admin, 1, "2000000.00", rule_id="lab-new")
    set_(factory, pack, admin, 1, "1500000.00", county="吴兴区")
    with transaction(factory) as session:
        rooms = budgets.budget_room(session, pack, 1, "lab-new", "吴兴区")
    assert [(r.which, r.limit, r.committed, r.left) for r in rooms] == [
        ("area", D("1725000000.00"), D("1810000.75"), D("1723189999.25")),
        ("rule", D("2000000.00"), D("1510000.51"), D("489999.49")),
        ("county", D("1500000.00"), D("1210000.26"), D("289999.74")),
    ]
    assert rooms[0].source == "2025年,全市财政预算安排17.25亿元。"
    binding = budgets.tightest(rooms)
    assert binding.which == "county" and binding.label == "第一部分吴兴区分配"
    assert rooms[1].label == "规则 lab-new(" + pack.rule("lab-new").spec.title + ")分配"
    assert budgets.over_budget(rooms, D("289999.74")) is None  # exactly what is left fits
    assert budgets.over_budget(rooms, D("289999.75")) == (
        "金额 289,999.75 元超出第一部分吴兴区分配的剩余额度:预算 1,500,000.00 元,已承诺 1,210,000.26 元,"
        "剩余 289,999.74 元(依据:由 admin1(管理员)设定)")


def test_rows_keep_running_totals_equal_to_the_sums(factory, pack, admin, awards):
    """Each budget row carries committed and paid (budgets.move), equal to `totals` to the 分; an
    allocation set after the awards starts from their sum and moves with the ones after it."""
    set_(factory, pack, admin, 1, "2000000.00", rule_id="lab-new")
    set_(factory, pack, admin, 1, "1500000.00", county="南浔区")
    award(factory, pack, admin, "lab-new", "南浔区", "0.01", "paid")
    with transaction(factory) as session:
        kept = {(row.area, row.rule_id, row.county): (row.committed, row.paid)
                for row in session.scalars(select(t.Budget)) if row.committed or row.area == 1}
        assert budgets.recount(session) == []
        assert audit.verify(session) == []
    assert kept == {
        # 1,810,000.75 committed and 500,000.50 paid (above) + the 0.01 paid since
        (1, "", ""): (D("1810000.76"), D("500000.51")),
        (1, "lab-new", ""): (D("1510000.52"), D("500000.51")),
        (1, "", "南浔区"): (D("500000.51"), D("500000.51")),  # 500,000.50 + 0.01, both paid
        (5, "", ""): (D("1000.00"), D("0.00")),  # the floor award of export-credit-insurance
    }


# --------------------------------------------------------------------------- setting and refusing


def test_unknown_area_rule_county_are_named(factory, pack, admin):
    assert "领域 9 不存在" in refusal(factory, pack, admin, 9, "1").message
    assert "no-such-rule" in refusal(factory, pack, admin, 1, "1", rule_id="no-such-rule").message
    error = refusal(factory, pack, admin, 2, "1", rule_id="high-tech-first")
    assert error.status == 422 and "high-tech-first 属于第一部分" in error.message and "不属于第二部分" in error.message
    error = refusal(factory, pack, admin, 1, "1", county="西湖区")
    assert error.status == 422 and "西湖区" in error.message
    assert "不能同时" in refusal(factory, pack, admin, 1, "1", rule_id="lab-new", county="吴兴区").message


def test_bad_money_is_refused(factory, pack, admin):
    assert "负数" in refusal(factory, pack, admin, 1, "-0.01", rule_id="lab-new").message
    assert "分" in refusal(factory, pack, admin, 1, "1.001", rule_id="lab-new").message
    assert "10^16" in refusal(factory, pack, admin, 1, "1E+16").message
    with transaction(factory) as session:
        with pytest.raises(Refused):
            budgets.set_budget(session, pack, 1, 1.5, admin, rule_id="lab-new")  # a float is no money
    assert set_(factory, pack, admin, 1, "1.500", rule_id="lab-new") == D("1.50")  # exact to the 分: accepted


def test_allocations_of_one_kind_never_sum_over_the_area(factory, pack, admin):
    # 五、… 2025年,全市财政预算安排2.64亿元 = 264,000,000.00
    set_(factory, pack, admin, 5, "200000000.00", rule_id="export-credit-insurance")
    set_(factory, pack, admin, 5, "64000000.00", rule_id="trade-fair-support")  # exactly the budget: fits
    error = refusal(factory, pack, admin, 5, "0.01", rule_id="named-fair-support")
    assert error.status == 409 and "各规则已分配 264,000,000.00 元" in error.message and "超出 0.01 元" in error.message
    # setting an allocation again replaces it (200,000,000 -> 199,999,999.99 leaves 0.01)
    set_(factory, pack, admin, 5, "199999999.99", rule_id="export-credit-insurance")
    set_(factory, pack, admin, 5, "0.01", rule_id="named-fair-support")
    # counties are the other kind: they share the area's budget separately (市、区两级)
    set_(factory, pack, admin, 5, "264000000.00", county="吴兴区")
    assert "各区县已分配 264,000,000.00 元" in refusal(factory, pack, admin, 5, "1", county="南浔区").message
    # and the area's budget cannot drop below either kind's sum
    error = refusal(factory, pack, admin, 5, "263999999.99")
    assert error.status == 409 and "各规则已分配 264,000,000.00 元" in error.message


def test_nothing_below_what_is_committed(factory, pack, admin, awards):
    error = refusal(factory, pack, admin, 1, "1000000.00")
    assert "第一部分" in error.message and "已承诺 1,810,000.75 元" in error.message
    set_(factory, pack, admin, 1, "2000000.00", rule_id="lab-new")
    error = refusal(factory, pack, admin, 1, "1510000.50", rule_id="lab-new")
    assert error.status == 409 and "已承诺 1,510,000.51 元" in error.message
    assert set_(factory, pack, admin, 1, "1510000.51", rule_id="lab-new") == D("1510000.51")  # exactly committed: allowed
    error = refusal(factory, pack, admin, 1, "1210000.25", county="吴兴区")
    assert "第一部分吴兴区分配" in error.message and "已承诺 1,210,000.26 元" in error.message
    with transaction(factory) as session:
        allocation = session.scalars(select(t.Budget).where(t.Budget.rule_id == "lab-new")).one()
        assert allocation.yuan == D("1510000.51")  # the refused sets changed nothing
        assert session.scalars(select(t.Budget).where(t.Budget.county == "吴兴区")).one_or_none() is None


def test_who_may_set(factory, pack, admin):
    technology = _user(factory, "kjj", Role.REVIEWER, department="市科技局")
    finance = _user(factory, "czj", Role.FINANCE)
    leader = _user(factory, "leader", Role.LEADERSHIP)
    # the lead department allocates within its own area ...
    assert set_(factory, pack, technology, 1, "3000000", rule_id="lab-new") == D("3000000.00")
    assert set_(factory, pack, technology, 1, "3000000", county="德清县") == D("3000000.00")
    # ... but not the area's budget (the document's figure), nor another area
    assert refusal(factory, pack, technology, 1, "1").status == 403
    assert refusal(factory, pack, technology, 2, "1", county="德清县").status == 403
    assert refusal(factory, pack, finance, 1, "1", rule_id="lab-new").status == 403
    assert refusal(factory, pack, leader, 1, "1", rule_id="lab-new").status == 403
    assert set_(factory, pack, admin, 1, "1800000000") == D("1800000000.00")


def test_every_set_is_audited(factory, pack, admin):
    set_(factory, pack, admin, 1, "1000000", rule_id="lab-new")
    set_(factory, pack, admin, 1, "2000000", rule_id="lab-new")
    refusal(factory, pack, admin, 1, "-1", rule_id="lab-new")
    with transaction(factory) as session:
        entries = session.scalars(select(t.AuditEntry).where(t.AuditEntry.action == "budget.set")).all()
        assert [(entry.actor, json.loads(entry.state)["yuan"]) for entry in entries] == [("admin1", "1000000"), ("admin1", "2000000")]
        assert len(session.scalars(select(t.AuditEntry).where(t.AuditEntry.action == "budget.seed")).all()) == 8
        assert audit.verify(session) == []


# --------------------------------------------------------------------------- CLI


def _cli(*args: str):
    result = runner.invoke(cli_app, list(args))
    result.flat = result.output.replace("\n", "")  # Rich wraps long messages at the terminal's width
    return result


def test_cli_set_and_report_json(factory, pack, admin, awards, ledger_url):
    result = _cli("budget", "set", "一", "2,000,000.00", "--rule", "lab-new", "--user", "admin1", "--database", ledger_url)
    assert result.exit_code == 0, result.output
    assert "200万元" in result.output and "剩余 489,999.49 元" in result.output
    result = _cli("budget", "set", "1", "1.001", "--rule", "lab-new", "--user", "admin1", "--database", ledger_url)
    assert result.exit_code == 2 and "金额" in result.output
    result = _cli("budget", "set", "1", "100", "--rule", "lab-new", "--user", "admin1", "--database", ledger_url)
    assert result.exit_code == 2 and "已承诺 1,510,000.51 元" in result.flat
    result = _cli("budget", "set", "1", "100", "--rule", "lab-new", "--user", "nobody", "--database", ledger_url)
    assert result.exit_code == 2 and "--user: 没有可用的用户 nobody(先用 zhida users add 添加)" in result.flat
    result = _cli("report", "budget", "--json", "--database", ledger_url)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["document_total"], data["budget_total"]) == ("23390000000.00", "23390000000.00")
    assert (data["committed"], data["paid"], data["tax_savings"]) == ("1811000.75", "500000.50", "12345.67")
    lab = next(row for row in data["rules"] if row["key"] == "lab-new")
    assert (lab["allocated"], lab["committed"], lab["left"], lab["committed_share"], lab["warning"]) == (
        "2000000.00", "1510000.51", "489999.49", "75.50", "70%")  # 1,510,000.51 / 2,000,000 = 75.50002…%
    assert [w["key"] for w in data["warnings"]] == ["lab-new"]


def test_cli_report_terminal(factory, pack, awards, ledger_url):
    result = _cli("report", "budget", "--database", ledger_url)
    assert result.exit_code == 0, result.output
    assert "17.25亿元" in result.output and "市科技局" in result.output
    assert "233.9亿元(23,390,000,000.00 元)" in result.flat


def test_cli_report_xlsx(factory, pack, awards, ledger_url, tmp_path):
    path = tmp_path / "budget.xlsx"
    result = _cli("report", "budget", "--xlsx", str(path), "--database", ledger_url)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    book = load_workbook(path)
    assert book.sheetnames == ["按领域", "按部门", "按区县", "按规则", "合计", "预警"]
    areas = book["按领域"]
    header = [cell.value for cell in areas[1]]
    assert header[:5] == ["领域", "名称", "部门", "文件预算(元)", "预算或分配(元)"]
    allocated = [row[4].value for row in areas.iter_rows(min_row=2)]
    assert all(isinstance(value, (int, float)) for value in allocated)
    assert areas.cell(row=2, column=5).number_format == "#,##0.00"
    assert sum(D(str(value)) for value in allocated) == DOCUMENT_TOTAL
    committed = [D(str(row[5].value)) for row in areas.iter_rows(min_row=2)]
    assert sum(committed) == D("1811000.75")
    counties = {row[0].value: D(str(row[5].value)) for row in book["按区县"].iter_rows(min_row=2)}
    assert counties["吴兴区"] == D("1210000.26")
    totals = {row[0].value: row[1].value for row in book["合计"].iter_rows(min_row=2)}
    assert D(str(totals["文件所列支持总额"])) == DOCUMENT_TOTAL


def test_cli_report_xlsx_to_a_missing_folder_says_so(factory, ledger_url, tmp_path):
    path = tmp_path / "missing" / "budget.xlsx"
    result = _cli("report", "budget", "--xlsx", str(path), "--database", ledger_url)
    assert result.exit_code == 2 and "无法写入" in result.flat and not path.exists()


def test_xlsx_text_is_neutralised(tmp_path):
    from zhida.cli_budget import write_xlsx

    row = budgets.Row("=HYPERLINK(\"x\")", "+1", "-2", None, None, D("0.00"), D("0.00"), None, None, "none", D("0.00"))
    result = budgets.Report([], [], [row], [], None, D("0.00"), D("0.00"), D("0.00"), D("0.00"), D("0.00"))
    path = tmp_path / "hostile.xlsx"
    write_xlsx(result, path)
    cells = [cell.value for cell in load_workbook(path)["按区县"][2][:3]]
    assert cells == ["'=HYPERLINK(\"x\")", "'+1", "'-2"]


# --------------------------------------------------------------------------- HTTP


@pytest.fixture
def client(pack, ledger_url, tmp_path):
    from zhida.web.app import create_app, open_ledger_state

    state = open_ledger_state(pack, ledger_url, files=tmp_path / "files")
    tokens = {}
    with transaction(state.factory) as session:
        for username, role, extra in (("admin1", Role.ADMIN, {}), ("leader", Role.LEADERSHIP, {}),
                                      ("czj", Role.FINANCE, {}), ("kjj", Role.REVIEWER, {"department": "市科技局"}),
                                      ("swj", Role.REVIEWER, {"department": "市商务局"})):
            user = add_user(session, username, "password-1", role, **extra)
            tokens[username] = issue(session, user, "token")[0]
        code = _subject(session, "12345678", "吴兴区")
        user = add_user(session, "firm", "password-1", Role.APPLICANT, subject_id=code)
        tokens["firm"] = issue(session, user, "token")[0]
    with TestClient(create_app(pack, state)) as test_client:
        test_client.tokens = tokens
        yield test_client
    state.factory.kw["bind"].dispose()


def _auth(client, username: str, key: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {client.tokens[username]}"}
    if key:
        headers["Idempotency-Key"] = key
    return headers


def test_http_report_readers_and_applicants(client):
    for username in ("leader", "admin1", "czj", "swj"):
        response = client.get("/api/v1/budgets", headers=_auth(client, username))
        assert response.status_code == 200
        assert response.json()["budget_total"] == "23390000000.00"
        assert len(response.json()["areas"]) == 8
    response = client.get("/api/v1/budgets", headers=_auth(client, "firm"))
    assert response.status_code == 403 and "申报主体" in response.json()["detail"]
    assert client.get("/api/v1/budgets").status_code == 401


def test_http_put_once_per_key(client):
    body = {"area": 1, "rule_id": "lab-new", "yuan": "3,000,000.50"}
    first = client.put("/api/v1/budgets", json=body, headers=_auth(client, "kjj", "set-lab-1"))
    assert first.status_code == 200, first.text
    assert first.json()["yuan"] == "3000000.50" and first.json()["rule_id"] == "lab-new"
    again = client.put("/api/v1/budgets", json=body, headers=_auth(client, "kjj", "set-lab-1"))
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    other = client.put("/api/v1/budgets", json={**body, "yuan": "1"}, headers=_auth(client, "kjj", "set-lab-1"))
    assert other.status_code == 422
    report_ = client.get("/api/v1/budgets", headers=_auth(client, "leader")).json()
    assert next(row for row in report_["rules"] if row["key"] == "lab-new")["allocated"] == "3000000.50"
    assert client.put("/api/v1/budgets", json=body, headers=_auth(client, "kjj")).status_code == 428


def test_http_put_refusals(client):
    def put(username, body, key):
        return client.put("/api/v1/budgets", json=body, headers=_auth(client, username, key))

    response = put("admin1", {"area": 1, "yuan": "1.001"}, "k1")
    assert response.status_code == 422 and "yuan" in response.json()["detail"]
    response = put("admin1", {"area": 1, "yuan": "-5"}, "k2")
    assert response.status_code == 422
    response = put("admin1", {"area": 1, "county": "西湖区", "yuan": "5"}, "k3")
    assert response.status_code == 422 and "西湖区" in response.json()["detail"]
    assert put("swj", {"area": 1, "rule_id": "lab-new", "yuan": "5"}, "k4").status_code == 403
    assert put("leader", {"area": 1, "rule_id": "lab-new", "yuan": "5"}, "k5").status_code == 403
    assert put("firm", {"area": 1, "rule_id": "lab-new", "yuan": "5"}, "k6").status_code == 403
    response = put("admin1", {"area": 5, "rule_id": "trade-fair-support", "yuan": "264000000.01"}, "k7")
    assert response.status_code == 409 and "超出 0.01 元" in response.json()["detail"]
