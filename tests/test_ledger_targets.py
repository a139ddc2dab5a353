"""Targets and tasks by owner (责任分解): assignments, progress reports and status, on both databases.

The indicators used, as the document states them (1-based ids in document order):
- indicator-60 (第四十一条, 市农业农村局牵头): “完成投資50億元以上” — additive, at least 5000000000 元;
- indicator-6 (第二部分目标, 市经信局牵头): “規上工業增加值增長6.5%以上” — a rate, at least 6.5 %;
- indicator-51 (第七部分目标, 市农业农村局牵头): “全市城鄉居民收入倍差控制在1.6以內” — a ratio, at most 1.6;
- indicator-28 (第四部分目标, 市交通运输局牵头): “全市內河集裝箱吞吐量完成90萬標箱” — additive, 900000 标箱;
- indicator-68 (第八部分目标): “確保一般公共預算支出三分之二以上用于民生領域” — at least 2/3;
- indicator-38 (第三十二条): “全年力爭招引1億美元以上外資大項目1—2個” — a range.

Mid-year: 2025-06-30 is day 31+28+31+30+31+30 = 181 of 365, so an additive goal G is on track at
G × 181/365. For 吴兴区's 0.6 of 50亿元: 3000000000 × 181/365 = 1487671232.876…, so 1487671233
is on track and 1487671232 behind. At 2025-03-31 (day 31+28+31 = 90): 3000000000 × 90/365 =
739726027.39…, so 500000000 is behind.
"""

from __future__ import annotations

import datetime as dt
import json
import stat
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from fractions import Fraction

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from typer.testing import CliRunner

from zhida.cli import app as cli
from zhida.ledger import audit, targets
from zhida.ledger import tables as t
from zhida.ledger.access import Refused, Role
from zhida.ledger.accounts import actor_of, add_user, issue
from zhida.ledger.database import sessions, transaction
from zhida.source.model import Direction
from zhida.web.app import create_app, open_ledger_state

runner = CliRunner()
INVESTMENT, GROWTH, INCOME_GAP, CONTAINERS, PEOPLES_SHARE, FOREIGN_PROJECTS = (
    "indicator-60", "indicator-6", "indicator-51", "indicator-28", "indicator-68", "indicator-38")
MID_YEAR = dt.date(2025, 6, 30)


def _users(factory) -> dict[str, t.User]:
    with transaction(factory) as session:
        subject = t.Subject(id="91330500MA2B3C4D5E", kind="enterprise", name="湖州某公司", county="吴兴区")
        session.add(subject)
        audit.record(session, "admin", "subject.add", subject)
        return {
            "admin": add_user(session, "admin", "password-1", Role.ADMIN),
            "farm": add_user(session, "farm", "password-1", Role.REVIEWER, department="市农业农村局"),
            "industry": add_user(session, "industry", "password-1", Role.REVIEWER, department="市经信局"),
            "leader": add_user(session, "leader", "password-1", Role.LEADERSHIP),
            "firm": add_user(session, "firm", "password-1", Role.APPLICANT, subject_id=subject.id),
        }


def _actor(users, name):
    return actor_of(users[name])


# --------------------------------------------------------------------------- pure readings


def test_items_are_numbered_in_document_order(pack):
    items = targets.items(pack)
    assert items[INVESTMENT].text == "完成投资50亿元以上"
    assert items[INVESTMENT].department == "市农业农村局" and items[INVESTMENT].article == 41
    assert items[GROWTH].text == "规上工业增加值增长6.5%以上" and items[GROWTH].department == "市经信局"
    assert items[INCOME_GAP].indicator.direction is Direction.AT_MOST
    assert items["task-1"].kind == "task" and items["task-1"].department == "市科技局"
    assert len(items) == len(pack.document.indicators) + len(pack.document.tasks) == 81 + 179


def test_goals_split_amounts_not_rates(pack):
    items = targets.items(pack)
    # 50亿元 × 0.6 = 30亿元; 6.5% stays 6.5% whatever the share; 倍差 1.6 stays 1.6
    assert targets.goal_of(items[INVESTMENT].indicator, Fraction(6, 10)).low == 3_000_000_000
    assert targets.goal_of(items[GROWTH].indicator, Fraction(1, 2)).low == Fraction(13, 2)
    assert targets.goal_of(items[INCOME_GAP].indicator, Fraction(1, 2)).low == Fraction(8, 5)
    # 所有行政村集体经济年经营性收入达到80万元以上: a level every village must reach, not split
    assert not targets.is_additive(items["indicator-52"].indicator)
    assert targets.is_additive(items[CONTAINERS].indicator)


def test_status_boundaries(pack):
    items = targets.items(pack)
    investment = targets.goal_of(items[INVESTMENT].indicator, Fraction(6, 10))
    assert targets.elapsed(MID_YEAR, 2025) == Fraction(181, 365)
    assert targets.assess(investment, Decimal("1487671233"), MID_YEAR, 2025) is targets.Status.ON_TRACK
    assert targets.assess(investment, Decimal("1487671232"), MID_YEAR, 2025) is targets.Status.BEHIND
    assert targets.assess(investment, Decimal("3000000000"), MID_YEAR, 2025) is targets.Status.MET
    # at the year's end nothing is on track any more
    assert targets.assess(investment, Decimal("2999999999"), dt.date(2025, 12, 31), 2025) is targets.Status.BEHIND
    growth = targets.goal_of(items[GROWTH].indicator, Fraction(1, 2))
    assert targets.assess(growth, Decimal("6.5"), MID_YEAR, 2025) is targets.Status.MET  # 以上 includes 6.5
    assert targets.assess(growth, Decimal("6.4"), MID_YEAR, 2025) is targets.Status.BEHIND  # a rate is never "on track"
    gap = targets.goal_of(items[INCOME_GAP].indicator, Fraction(1))
    assert targets.assess(gap, Decimal("1.6"), MID_YEAR, 2025) is targets.Status.MET  # 以内 includes 1.6
    assert targets.assess(gap, Decimal("1.61"), MID_YEAR, 2025) is targets.Status.BEHIND
    share = targets.goal_of(items[PEOPLES_SHARE].indicator, Fraction(1))  # 三分之二以上
    assert targets.assess(share, Decimal("0.6667"), MID_YEAR, 2025) is targets.Status.MET
    assert targets.assess(share, Decimal("0.6666"), MID_YEAR, 2025) is targets.Status.BEHIND
    projects = targets.goal_of(items[FOREIGN_PROJECTS].indicator, Fraction(1))  # 1—2个
    assert targets.assess(projects, Decimal("2"), MID_YEAR, 2025) is targets.Status.MET
    assert targets.assess(projects, Decimal("3"), MID_YEAR, 2025) is targets.Status.ABOVE_RANGE
    assert targets.assess(projects, Decimal("0"), MID_YEAR, 2025) is targets.Status.BEHIND  # 0 < 1 × 181/365


def test_goal_written_as_the_text_writes_it(pack):
    items = targets.items(pack)
    containers = items[CONTAINERS].indicator
    assert targets.in_text_unit(Fraction(900000), containers) == "90万标箱"
    assert targets.in_text_unit(Fraction(900000) * Fraction(35, 100), containers) == "31.5万标箱"
    assert targets.in_text_unit(Fraction(3_000_000_000), items[INVESTMENT].indicator) == "30亿元"
    assert targets.fraction_text(Fraction(2, 3)) == "2/3" and targets.fraction_text(Fraction(1, 40)) == "0.025"


# --------------------------------------------------------------------------- the ledger, both databases


def test_assign_report_and_status(ledger_engine, pack):
    factory = sessions(ledger_engine)
    users = _users(factory)
    admin, farm, industry = (_actor(users, name) for name in ("admin", "farm", "industry"))
    with transaction(factory) as session:
        wuxing = targets.assign(session, pack, INVESTMENT, "市农业农村局", "吳興區", "0.6", farm)  # Traditional in
        changxing = targets.assign(session, pack, INVESTMENT, "市农业农村局", "长兴县", "0.4", admin)
        growth_wuxing = targets.assign(session, pack, GROWTH, "市经信局", "吴兴区", "0.5", industry)
        growth_nanxun = targets.assign(session, pack, GROWTH, "市经信局", "南浔区", "0.5", industry)
        gap = targets.assign(session, pack, INCOME_GAP, "市农业农村局", "", "1", farm)
    assert wuxing.county == "吴兴区"
    with transaction(factory) as session:
        targets.report_progress(session, wuxing.id, "500000000", "2025-Q1", "2025-03-31", farm)
        targets.report_progress(session, wuxing.id, "1500000000", "2025-Q2", "2025-06-30", farm, note="过半")
        targets.report_progress(session, changxing.id, "2000000000", "2025-06", "2025-06-30", farm)
        targets.report_progress(session, growth_wuxing.id, "6.8", "2025-Q2", "2025-06-30", industry)
        targets.report_progress(session, growth_nanxun.id, "5.9", "2025-Q2", "2025-06-30", industry)
        targets.report_progress(session, gap.id, "1.58", "2025", "2025-06-30", admin)
    with transaction(factory) as session:
        result = targets.board(session, pack)
        history = targets.history(session, wuxing.id)
        audited = session.scalar(select(func.count()).select_from(t.AuditEntry)
                                 .where(t.AuditEntry.entity.in_(("assignment", "progress_report"))))
        assert audit.verify(session) == []
    lines = {(line.item.id, line.county): line for line in result.lines}
    # 1500000000 ≥ 1487671232.87… (3000000000 × 181/365): on track; the Q1 report (behind) is history
    assert lines[(INVESTMENT, "吴兴区")].status is targets.Status.ON_TRACK
    assert lines[(INVESTMENT, "吴兴区")].goal.low == 3_000_000_000
    assert lines[(INVESTMENT, "长兴县")].status is targets.Status.MET  # 2000000000 ≥ 50亿 × 0.4
    assert lines[(GROWTH, "吴兴区")].status is targets.Status.MET  # 6.8 ≥ 6.5
    assert lines[(GROWTH, "南浔区")].status is targets.Status.BEHIND  # 5.9 < 6.5
    assert lines[(INCOME_GAP, "")].status is targets.Status.MET  # 1.58 ≤ 1.6
    assert [(r.value, r.period) for r in history] == [
        (Decimal("500000000"), "2025-Q1"), (Decimal("1500000000"), "2025-Q2")]
    assert audited == 5 + 6
    assert result.by_item[INVESTMENT] is targets.Status.ON_TRACK  # the worse of on track and met
    assert result.by_item[GROWTH] is targets.Status.BEHIND
    # unassigned: the lead department, wholly, at city level
    containers = lines[(CONTAINERS, "")]
    assert containers.implicit and containers.department == "市交通运输局" and containers.share == 1
    assert containers.status is targets.Status.NOT_REPORTED
    assert result.by_county["南浔区"] == {targets.Status.BEHIND: 1}
    assert result.by_department["市经信局"][targets.Status.MET] == 1
    assert result.by_department["市经信局"][targets.Status.BEHIND] == 1


def test_partial_assignment_leaves_the_rest_with_the_lead_department(ledger_engine, pack):
    factory = sessions(ledger_engine)
    users = _users(factory)
    with transaction(factory) as session:
        targets.assign(session, pack, INVESTMENT, "市农业农村局", "德清县", "0.25", _actor(users, "admin"))
        result = targets.board(session, pack, area=7)
    lines = [line for line in result.lines if line.item.id == INVESTMENT]
    assert [(line.county, line.share, line.implicit) for line in lines] == [
        ("德清县", Fraction(1, 4), False), ("", Fraction(3, 4), True)]
    assert lines[1].goal.low == 3_750_000_000  # 50亿 × 3/4
    assert {line.item.area for line in result.lines} == {7}


def test_concurrent_assignments_never_pass_a_total_of_one(ledger_engine, pack):
    # six counties ask for 0.3 each at once: 0.3 × 3 = 0.9 fits, a fourth would make 1.2
    factory = sessions(ledger_engine)
    admin = _actor(_users(factory), "admin")
    counties = ("吴兴区", "南浔区", "德清县", "长兴县", "安吉县", "南太湖新区")

    def one(county):
        try:
            with transaction(factory) as session:
                targets.assign(session, pack, INVESTMENT, "市农业农村局", county, "0.3", admin)
            return "ok"
        except Refused as error:
            return error.message

    with ThreadPoolExecutor(len(counties)) as pool:
        answers = list(pool.map(one, counties))
    assert answers.count("ok") == 3
    assert sorted(answer for answer in answers if answer != "ok") == [
        "indicator-60 的份额合计将为 1.2,超过 1(已分解 0.9)"] * 3
    with transaction(factory) as session:
        # summed in Python: on SQLite a quantity is text, and SQL's SUM of text is a float
        assert sum(session.scalars(select(t.Assignment.share))) == Decimal("0.9")
        assert audit.verify(session) == []


@pytest.mark.parametrize(
    ("item", "county", "share", "status", "words"),
    [
        ("indicator-999", "", "0.5", 404, "indicator-999"),
        (INVESTMENT, "", "1.2", 422, "不超过 1"),
        (INVESTMENT, "", "0", 422, "大于 0"),
        (INVESTMENT, "", "5e-1", 422, "指数"),
        (INVESTMENT, "杭州市", "0.5", 422, "杭州市"),
    ],
)
def test_assignment_refusals(ledger_engine, pack, item, county, share, status, words):
    factory = sessions(ledger_engine)
    users = _users(factory)
    with pytest.raises(Refused) as refusal, transaction(factory) as session:
        targets.assign(session, pack, item, "市农业农村局", county, share, _actor(users, "admin"))
    assert refusal.value.status == status and words in refusal.value.message


def test_total_share_over_one_is_refused_and_nothing_written(ledger_engine, pack):
    factory = sessions(ledger_engine)
    users = _users(factory)
    farm = _actor(users, "farm")
    with transaction(factory) as session:
        targets.assign(session, pack, INVESTMENT, "市农业农村局", "吴兴区", "0.6", farm)
    with pytest.raises(Refused) as refusal, transaction(factory) as session:
        targets.assign(session, pack, INVESTMENT, "市农业农村局", "长兴县", "0.5", farm)
    assert refusal.value.status == 409
    assert refusal.value.message == "indicator-60 的份额合计将为 1.1,超过 1(已分解 0.6)"
    with pytest.raises(Refused) as refusal, transaction(factory) as session:
        targets.assign(session, pack, INVESTMENT, "市农业农村局", "吴兴区", "0.1", farm)
    assert refusal.value.status == 409 and "不能重复分解" in refusal.value.message
    with transaction(factory) as session:
        assert session.scalar(select(func.count()).select_from(t.Assignment)) == 1
        assert audit.verify(session) == []


def test_who_may_assign_and_report(ledger_engine, pack):
    factory = sessions(ledger_engine)
    users = _users(factory)
    with transaction(factory) as session:
        row = targets.assign(session, pack, INVESTMENT, "市农业农村局", "吴兴区", "0.6", _actor(users, "farm"))
    for name in ("leader", "firm"):
        with pytest.raises(Refused) as refusal, transaction(factory) as session:
            targets.assign(session, pack, INVESTMENT, "市农业农村局", "长兴县", "0.1", _actor(users, name))
        assert refusal.value.status == 403
    # 市经信局 does not lead 第四十一条 and does not own 吴兴区's share of it
    with pytest.raises(Refused) as refusal, transaction(factory) as session:
        targets.assign(session, pack, INVESTMENT, "市农业农村局", "长兴县", "0.1", _actor(users, "industry"))
    assert refusal.value.status == 403 and "由市农业农村局牵头" in refusal.value.message
    with pytest.raises(Refused) as refusal, transaction(factory) as session:
        targets.report_progress(session, row.id, "1", "2025-06", "2025-06-30", _actor(users, "industry"))
    assert refusal.value.status == 403 and "属于市农业农村局" in refusal.value.message


@pytest.mark.parametrize(
    ("value", "period", "as_of", "words"),
    [
        ("1.5e9", "2025-Q2", "2025-06-30", "value"),
        ("1500000000", "2025-13", "2025-06-30", "period"),
        ("1500000000", "2025-Q3", "2025-06-30", "早于报告期"),
        ("1500000000", "2025-Q2", "2025/06/30", "as_of"),
        ("0.1234567", "2025-Q2", "2025-06-30", "value"),
    ],
)
def test_progress_refusals(ledger_engine, pack, value, period, as_of, words):
    factory = sessions(ledger_engine)
    users = _users(factory)
    farm = _actor(users, "farm")
    with transaction(factory) as session:
        row = targets.assign(session, pack, INVESTMENT, "市农业农村局", "吴兴区", "0.6", farm)
    with pytest.raises(Refused) as refusal, transaction(factory) as session:
        targets.report_progress(session, row.id, value, period, as_of, farm)
    assert refusal.value.status == 422 and words in refusal.value.message
    with transaction(factory) as session:
        assert session.scalar(select(func.count()).select_from(t.ProgressReport)) == 0


# --------------------------------------------------------------------------- HTTP


@pytest.fixture
def api(ledger_url, pack, tmp_path):
    state = open_ledger_state(pack, ledger_url, files=tmp_path / "files")
    users = _users(state.factory)
    tokens = {}
    with transaction(state.factory) as session:
        for name, user in users.items():
            tokens[name] = issue(session, user, "token")[0]
    client = TestClient(create_app(pack, state))

    def call(method, path, user, body=None, key=None):
        headers = {"Authorization": f"Bearer {tokens[user]}"}
        if key:
            headers["Idempotency-Key"] = key
        return client.request(method, path, json=body, headers=headers)

    yield call
    client.close()
    state.factory.kw["bind"].dispose()


def test_http_assign_report_history_and_list(api):
    made = api("POST", f"/api/v1/targets/{INVESTMENT}/assignments", "farm",
               {"department": "市农业农村局", "county": "吴兴区", "share": "0.6"}, key="a1")
    assert made.status_code == 201 and made.json()["share"] == "0.6"
    assignment = made.json()["id"]
    again = api("POST", f"/api/v1/targets/{INVESTMENT}/assignments", "farm",
                {"department": "市农业农村局", "county": "吴兴区", "share": "0.6"}, key="a1")
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    for key, value, period, as_of in (("p1", "500000000", "2025-Q1", "2025-03-31"),
                                      ("p2", "1487671233", "2025-Q2", "2025-06-30")):
        reported = api("POST", f"/api/v1/assignments/{assignment}/progress", "farm",
                       {"value": value, "period": period, "as_of": as_of, "evidence": "统计月报"}, key=key)
        assert reported.status_code == 201, reported.text
    history = api("GET", f"/api/v1/assignments/{assignment}/progress", "leader").json()
    assert [(r["value"], r["as_of"]) for r in history] == [("500000000", "2025-03-31"), ("1487671233", "2025-06-30")]
    listed = api("GET", "/api/v1/targets?county=吴兴区", "leader").json()
    assert [entry["id"] for entry in listed["items"]] == [INVESTMENT]
    line = listed["items"][0]["assignments"][0]
    assert line["goal"] == "3000000000" and line["goal_text"] == "30亿元"
    assert line["latest"]["value"] == "1487671233" and line["status"] == "on_track"
    by_department = api("GET", "/api/v1/targets?department=市交通运输局", "admin").json()
    assert {entry["department"] for entry in by_department["items"]} == {"市交通运输局"}
    containers = next(entry for entry in by_department["items"] if entry["id"] == CONTAINERS)
    assert containers["assignments"][0]["goal_text"] == "90万标箱" and containers["assignments"][0]["implicit"]


def test_http_refusals(api):
    body = {"department": "市农业农村局", "county": "长兴县", "share": "0.4"}
    assert api("POST", f"/api/v1/targets/{INVESTMENT}/assignments", "leader", body, key="l1").status_code == 403
    assert api("POST", f"/api/v1/targets/{INVESTMENT}/assignments", "industry", body, key="i1").status_code == 403
    assert api("POST", f"/api/v1/targets/{INVESTMENT}/assignments", "firm", body, key="f1").status_code == 403
    assert api("GET", "/api/v1/targets", "firm").status_code == 403
    assert api("POST", f"/api/v1/targets/{INVESTMENT}/assignments", "admin", body).status_code == 428
    unknown = api("POST", "/api/v1/targets/task-999/assignments", "admin", body, key="u1")
    assert unknown.status_code == 404 and "task-999" in unknown.json()["detail"]
    made = api("POST", f"/api/v1/targets/{INVESTMENT}/assignments", "admin", body, key="ok")
    assert made.status_code == 201
    over = api("POST", f"/api/v1/targets/{INVESTMENT}/assignments", "admin",
               {"department": "市农业农村局", "county": "吴兴区", "share": "0.7"}, key="over")
    assert over.status_code == 409 and "1.1" in over.json()["detail"]
    progress = {"value": "1", "period": "2025-Q2", "as_of": "2025-06-30"}
    assignment = made.json()["id"]
    assert api("POST", f"/api/v1/assignments/{assignment}/progress", "leader", progress, key="l2").status_code == 403
    assert api("POST", f"/api/v1/assignments/{assignment}/progress", "industry", progress, key="i2").status_code == 403
    assert api("GET", f"/api/v1/assignments/{assignment}/progress", "firm").status_code == 403


# --------------------------------------------------------------------------- CLI


def test_cli_assign_report_json_and_xlsx(ledger_url, pack, tmp_path):
    state = open_ledger_state(pack, ledger_url, files=tmp_path / "files")  # migrated
    _users(state.factory)
    state.factory.kw["bind"].dispose()
    base = ["--database", ledger_url]
    done = runner.invoke(cli, ["targets", "assign", INVESTMENT, "--department", "市农业农村局", "--county", "吴兴区",
                               "--share", "0.6", "--user", "farm", *base])
    assert done.exit_code == 0, done.output
    refused = runner.invoke(cli, ["targets", "assign", INVESTMENT, "--department", "市农业农村局", "--county",
                                  "长兴县", "--share", "0.5", "--user", "farm", *base])
    assert refused.exit_code == 2 and "indicator-60 的份额合计将为 1.1" in refused.output
    nobody = runner.invoke(cli, ["targets", "assign", INVESTMENT, "--department", "市农业农村局", "--share", "0.1",
                                 "--user", "ghost", *base])
    assert nobody.exit_code == 2 and "--user: 没有可用的用户 ghost(先用 zhida users add 添加)" in nobody.output
    reported = runner.invoke(cli, ["targets", "report", "1", "--value", "1487671232", "--period", "2025-Q2",
                                   "--as-of", "2025-06-30", "--note", "=HYPERLINK(\"x\")", "--user", "farm", *base])
    assert reported.exit_code == 0, reported.output
    output = runner.invoke(cli, ["report", "targets", "--json", *base])
    assert output.exit_code == 0, output.output
    board = json.loads(output.output)
    investment = next(entry for entry in board["items"] if entry["id"] == INVESTMENT)
    assert investment["value"] == "5000000000" and investment["unit"] == "元" and investment["direction"] == "at_least"
    line = investment["assignments"][0]
    # 1487671232 < 3000000000 × 181/365 = 1487671232.87…: behind
    assert (line["goal"], line["latest"]["value"], line["status"]) == ("3000000000", "1487671232", "behind")
    assert (investment["assignments"][1]["share"], investment["assignments"][1]["implicit"]) == ("0.4", True)
    share = next(entry for entry in board["items"] if entry["id"] == PEOPLES_SHARE)
    assert share["value"] == "2/3" and share["assignments"][0]["goal"] == "2/3"
    assert board["counties"]["吴兴区"] == {"behind": 1}
    workbook = tmp_path / "targets.xlsx"
    written = runner.invoke(cli, ["report", "targets", "--xlsx", str(workbook), *base])
    assert written.exit_code == 0, written.output
    assert stat.S_IMODE(workbook.stat().st_mode) == 0o644
    sheet = load_workbook(workbook)["责任分解"]
    header = [cell.value for cell in sheet[1]]
    rows = [dict(zip(header, (cell.value for cell in row), strict=True)) for row in sheet.iter_rows(min_row=2)]
    wuxing = next(row for row in rows if row["编号"] == INVESTMENT and row["区县"] == "吴兴区")
    assert wuxing["目标值"] == 3000000000 and isinstance(wuxing["目标值"], int | float)
    assert wuxing["最新值"] == 1487671232 and wuxing["份额"] == 0.6
    assert wuxing["备注"] == "'=HYPERLINK(\"x\")" and wuxing["状态"] == "滞后"
    assert wuxing["目标(按原文单位)"] == "30亿元"
    gap = next(row for row in rows if row["编号"] == PEOPLES_SHARE)
    assert gap["目标值"] == pytest.approx(0.666667)
    missing = tmp_path / "missing" / "targets.xlsx"  # written beside its place and renamed: nothing half-written
    refused = runner.invoke(cli, ["report", "targets", "--xlsx", str(missing), *base])
    assert refused.exit_code == 2 and "无法写入" in refused.output and not missing.parent.exists()
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == []
    table = runner.invoke(cli, ["report", "targets", *base], env={"COLUMNS": "240"})
    assert table.exit_code == 0 and "90万标箱" in table.output and "按部门统计" in table.output
