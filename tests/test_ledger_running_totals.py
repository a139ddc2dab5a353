"""Running totals on the budget rows: `committed` and `paid` kept by budgets.move at every award
status change, equal to the full SUM (budgets.totals) to the 分 for the area, rule and county rows;
a new allocation starts from what is already committed; migration 0003 fills them from the awards;
`zhida audit verify` names a row whose totals no longer match the recount. Both databases.

The definitions (budgets.py, from DESIGN.md "Budgets count cash"): committed = cash awards in
publicity, held, payable, in_batch, paid, failed; paid = cash awards in paid. A cancelled award
(objection upheld) is released; a failed payment stays committed (it will be retried).
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy import select, update
from typer.testing import CliRunner

from zhida.cli import app as cli_app
from zhida.ledger import audit, budgets, review
from zhida.ledger import tables as t
from zhida.ledger.access import Actor, Refused, Role
from zhida.ledger.accounts import actor_of, add_user
from zhida.ledger.database import connect, sessions, transaction, upgrade
from zhida.ledger.identity import credit_code_check, organisation_code_check
from zhida.ledger.payments import make_batch, mark, retry

D = Decimal
GRANTED = dt.date(2025, 9, 1)  # a Monday: 公示 of 5 working days ends Mon 8 Sep
AFTER_PUBLICITY = dt.date(2025, 9, 9)
WUXING, NANXUN = "吴兴区", "南浔区"


def credit_code(body: str) -> str:
    """A valid 统一社会信用代码 for an organisation code body of 8 characters (GB 32100 / GB 11714)."""
    first_17 = "91330500" + body + organisation_code_check(body)
    return first_17 + credit_code_check(first_17)


FIRMS = {WUXING: credit_code("10000001"), NANXUN: credit_code("10000002")}


@pytest.fixture
def ledger(ledger_engine, pack):
    """Area 一 (市科技局, 17.25亿元) seeded, an allocation to lab-new and one to 吴兴区, two firms,
    a reviewer of 市科技局, finance and admin."""
    factory = sessions(ledger_engine)
    with transaction(factory) as session:
        budgets.seed_budgets(session, pack)
        actors = {
            "admin": actor_of(add_user(session, "admin1", "password-1", Role.ADMIN)),
            "keji": actor_of(add_user(session, "keji1", "password-1", Role.REVIEWER, department="市科技局")),
            "finance": actor_of(add_user(session, "caizheng", "password-1", Role.FINANCE)),
        }
        for county, code in FIRMS.items():
            subject = t.Subject(id=code, kind="enterprise", name=f"{county}测试企业", county=county)
            session.add(subject)
            audit.record(session, "admin1", "subject.add", subject)
    with transaction(factory) as session:
        budgets.set_budget(session, pack, 1, D("10000000.00"), actors["admin"], rule_id="lab-new")
        budgets.set_budget(session, pack, 1, D("20000000.00"), actors["admin"], county=WUXING)
    return factory, actors


def grant(session, pack, reviewer: Actor, rule_id: str, county: str, amount: str, verdict: str = "ceiling") -> t.Award:
    return review.award(session, pack, reviewer, subject_id=FIRMS[county], rule_id=rule_id, year=2025, carrier=None,
                        verdict=verdict, ceiling=D("50000000.00") if verdict == "ceiling" else None,
                        amount=None if verdict == "qualification" else D(amount), trace=[], today=GRANTED)


def running(session) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    """(rule, county) -> (committed, paid) of area 一's rows, as kept."""
    rows = session.scalars(select(t.Budget).where(t.Budget.area == 1).execution_options(populate_existing=True))
    return {(row.rule_id, row.county): (row.committed, row.paid) for row in rows}


def recounted(session) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    """The same, by the full SUM."""
    found = {}
    for row in session.scalars(select(t.Budget).where(t.Budget.area == 1)):
        spent = budgets.totals(session, 1, row.rule_id or None, row.county or None)
        found[(row.rule_id, row.county)] = (spent.committed, spent.paid)
    return found


def test_grant_cancel_pay_fail_retry_keep_totals_to_the_fen(ledger, pack):
    factory, actors = ledger
    keji, finance = actors["keji"], actors["finance"]
    with transaction(factory) as session:
        a1 = grant(session, pack, keji, "lab-new", WUXING, "1000000.01").id
        a2 = grant(session, pack, keji, "lab-new", NANXUN, "250000.50").id
        a3 = grant(session, pack, keji, "plan-key-rd", WUXING, "300000.25").id
        a4 = grant(session, pack, keji, "plan-key-rd", NANXUN, "40000.00").id
        grant(session, pack, keji, "talent-self-review", WUXING, "", verdict="qualification")  # no cash: counts nowhere
    with transaction(factory) as session:
        # 1,000,000.01 + 250,000.50 + 300,000.25 + 40,000.00 = 1,590,000.76 on 公示, nothing paid
        assert running(session) == {
            ("", ""): (D("1590000.76"), D("0.00")),
            ("lab-new", ""): (D("1250000.51"), D("0.00")),  # 1,000,000.01 + 250,000.50
            ("", WUXING): (D("1300000.26"), D("0.00")),  # 1,000,000.01 + 300,000.25
        } == recounted(session)
    with transaction(factory) as session:
        upheld = review.object_to(session, actors["admin"], a2, "该企业不在本区经营", today=GRANTED)
        dismissed = review.object_to(session, actors["admin"], a4, "金额有误", today=GRANTED)
        assert running(session)[("", "")] == (D("1590000.76"), D("0.00"))  # held is still committed
    with transaction(factory) as session:
        review.resolve_objection(session, keji, upheld.id, True, "核实属实,撤销")
        review.resolve_objection(session, keji, dismissed.id, False, "金额无误")
        # a2 cancelled: 1,590,000.76 - 250,000.50 = 1,340,000.26; lab-new 1,250,000.51 - 250,000.50
        assert running(session) == {
            ("", ""): (D("1340000.26"), D("0.00")),
            ("lab-new", ""): (D("1000000.01"), D("0.00")),
            ("", WUXING): (D("1300000.26"), D("0.00")),
        } == recounted(session)
    with transaction(factory) as session:
        batch = make_batch(session, finance, today=AFTER_PUBLICITY)  # a1, a3, a4: payable then in_batch
        payments = {p.award_id: p.id for p in session.scalars(select(t.Payment).where(t.Payment.batch_id == batch.id))}
    assert sorted(payments) == [a1, a3, a4]
    with transaction(factory) as session:
        mark(session, finance, payments[a1], True)
        mark(session, finance, payments[a3], False, "账户已销户")
        mark(session, finance, payments[a4], True)
        # paid: a1 1,000,000.01 + a4 40,000.00 = 1,040,000.01; the failed a3 stays committed
        assert running(session) == {
            ("", ""): (D("1340000.26"), D("1040000.01")),
            ("lab-new", ""): (D("1000000.01"), D("1000000.01")),
            ("", WUXING): (D("1300000.26"), D("1000000.01")),
        } == recounted(session)
    with transaction(factory) as session:
        again = retry(session, finance, [a3])
        payment = session.scalars(select(t.Payment).where(t.Payment.batch_id == again.id)).one()
        mark(session, finance, payment.id, True)
    with transaction(factory) as session:
        assert running(session) == {
            ("", ""): (D("1340000.26"), D("1340000.26")),
            ("lab-new", ""): (D("1000000.01"), D("1000000.01")),
            ("", WUXING): (D("1300000.26"), D("1300000.26")),  # 1,000,000.01 + 300,000.25
        } == recounted(session)
        rooms = {room.which: room for room in budgets.budget_room(session, pack, 1, "lab-new", WUXING)}
        assert (rooms["area"].committed, rooms["area"].left) == (D("1340000.26"), D("1723659999.74"))  # 17.25亿 - …
        assert (rooms["rule"].committed, rooms["rule"].left) == (D("1000000.01"), D("8999999.99"))
        assert (rooms["county"].committed, rooms["county"].left) == (D("1300000.26"), D("18699999.74"))
        assert budgets.recount(session) == []
        assert audit.verify(session) == []


def test_a_new_allocation_starts_from_what_is_committed(ledger, pack):
    factory, actors = ledger
    with transaction(factory) as session:
        grant(session, pack, actors["keji"], "plan-key-rd", NANXUN, "40000.00")
        grant(session, pack, actors["keji"], "lab-new", NANXUN, "12345.67")
    # a new allocation below what its scope already has committed is refused, and leaves no row
    with pytest.raises(Refused) as refused, transaction(factory) as session:
        budgets.set_budget(session, pack, 1, D("50000.00"), actors["admin"], county=NANXUN)
    assert refused.value.status == 409
    assert refused.value.message.startswith("第一部分南浔区分配不能设为 50,000.00 元:已承诺 52,345.67 元")
    with transaction(factory) as session:
        assert (1, "", NANXUN) not in {(r.area, r.rule_id, r.county) for r in session.scalars(select(t.Budget))}
    with transaction(factory) as session:
        by_rule = budgets.set_budget(session, pack, 1, D("500000.00"), actors["admin"], rule_id="plan-key-rd")
        by_county = budgets.set_budget(session, pack, 1, D("500000.00"), actors["admin"], county=NANXUN)
        assert (by_rule.committed, by_rule.paid) == (D("40000.00"), D("0.00"))
        assert (by_county.committed, by_county.paid) == (D("52345.67"), D("0.00"))  # 40,000.00 + 12,345.67
    with transaction(factory) as session:  # and from then on it moves with its awards
        grant(session, pack, actors["keji"], "plan-key-rd", NANXUN, "0.01")
    with transaction(factory) as session:
        assert running(session)[("plan-key-rd", "")] == (D("40000.01"), D("0.00"))
        assert running(session)[("", NANXUN)] == (D("52345.68"), D("0.00"))
        assert running(session) == recounted(session)
        assert audit.verify(session) == []


def test_a_refused_grant_moves_nothing(ledger, pack):
    factory, actors = ledger
    with pytest.raises(Refused) as refused, transaction(factory) as session:
        grant(session, pack, actors["keji"], "lab-new", WUXING, "10000000.01")  # over lab-new's 10,000,000.00
    assert refused.value.status == 409 and "剩余 10,000,000.00 元" in refused.value.message
    with transaction(factory) as session:
        assert set(running(session).values()) == {(D("0.00"), D("0.00"))}


def test_a_paid_award_never_unpays(ledger, pack):
    factory, actors = ledger
    with transaction(factory) as session:
        row = grant(session, pack, actors["keji"], "lab-new", WUXING, "100.00")
        with pytest.raises(ValueError, match="never un-pays"):
            budgets.move(session, row, "paid", "cancelled")


def test_recount_names_a_row_edited_past_zhida(ledger, pack, ledger_url):
    factory, actors = ledger
    with transaction(factory) as session:
        grant(session, pack, actors["keji"], "lab-new", WUXING, "1000.00")
        area_id = session.scalar(select(t.Budget.id).where(t.Budget.area == 1, t.Budget.rule_id == "", t.Budget.county == ""))
    runner = CliRunner()
    intact = runner.invoke(cli_app, ["audit", "verify", "--database", ledger_url])
    assert intact.exit_code == 0, intact.output
    with transaction(factory) as session:
        session.execute(update(t.Budget).where(t.Budget.id == area_id).values(committed=D("999.99")))
    with transaction(factory) as session:
        # derived columns are outside the chain: the chain itself is intact …
        assert audit.verify(session) == []
        # … and the recount names the row, the kept and the recounted sums
        [problem] = budgets.recount(session)
    assert str(problem) == (f"budgets:{area_id}: 第一部分预算的累计数与逐笔重算不符:已承诺记为 999.99 元,"
                            "重算为 1,000.00 元;已拨付记为 0.00 元,重算为 0.00 元")
    edited = runner.invoke(cli_app, ["audit", "verify", "--database", ledger_url])
    assert edited.exit_code == 1
    assert str(problem) in edited.output


def test_concurrent_grants_in_one_area_lose_no_yuan(ledger, pack, ledger_engine):
    """Eight decisions at once against area 一 (each its own subject, so only the budget rows are
    shared): the area row's lock lines them up, and no increment is lost."""
    factory, actors = ledger
    codes = [credit_code(f"2000{n:04d}") for n in range(8)]
    with transaction(factory) as session:
        for code in codes:
            subject = t.Subject(id=code, kind="enterprise", name="并发测试企业", county=WUXING)
            session.add(subject)
            audit.record(session, "admin1", "subject.add", subject)

    def one(n: int) -> None:
        with transaction(factory) as session:
            review.award(session, pack, actors["keji"], subject_id=codes[n], rule_id="lab-new", year=2025, carrier=None,
                         verdict="ceiling", ceiling=D("5000000.00"), amount=D("1000.01") * (n + 1), trace=[], today=GRANTED)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(8)))
    with transaction(factory) as session:
        # 1,000.01 × (1 + 2 + … + 8) = 1,000.01 × 36 = 36,000.36 on each of the three rows
        assert running(session) == {key: (D("36000.36"), D("0.00")) for key in (("", ""), ("lab-new", ""), ("", WUXING))}
        assert running(session) == recounted(session)


# --------------------------------------------------------------------------- migration 0003

OLD_BUDGETS = sa.table("budgets", sa.column("area"), sa.column("rule_id"), sa.column("county"),
                       sa.column("yuan", t.Money()), sa.column("source"), sa.column("set_at"))


def test_migration_0003_fills_the_totals_from_the_awards(ledger_url, pack):
    engine = connect(ledger_url)
    try:
        upgrade(engine, "0002")
        now = t.utcnow()
        with engine.begin() as connection:
            connection.execute(sa.insert(t.User), [{"id": 1, "username": "admin1", "display_name": "管理员",
                                                    "password_hash": "x", "role": "admin", "created_at": now,
                                                    "disabled": False}])
            connection.execute(sa.insert(t.Subject), [{"id": code, "kind": "enterprise", "name": "迁移测试企业",
                                                       "county": county, "created_at": now} for county, code in FIRMS.items()])
            connection.execute(sa.insert(OLD_BUDGETS), [
                {"area": 1, "rule_id": "", "county": "", "yuan": D("1725000000.00"), "source": "文件", "set_at": now},
                {"area": 1, "rule_id": "lab-new", "county": "", "yuan": D("10000000.00"), "source": "admin1", "set_at": now},
                {"area": 1, "rule_id": "", "county": WUXING, "yuan": D("20000000.00"), "source": "admin1", "set_at": now},
                {"area": 2, "rule_id": "", "county": "", "yuan": D("673000000.00"), "source": "文件", "set_at": now},
            ])
            rows = [  # (rule, area, county, cash, amount, status)
                ("lab-new", 1, WUXING, True, "1000000.01", "paid"),
                ("lab-new", 1, NANXUN, True, "250000.50", "cancelled"),  # released: nowhere
                ("lab-new", 1, NANXUN, True, "0.99", "failed"),  # committed, not paid
                ("plan-key-rd", 1, WUXING, True, "300000.25", "held"),
                ("plan-key-rd", 1, WUXING, True, "0.01", "in_batch"),
                ("plan-key-rd", 1, None, True, "7.00", "payable"),  # no county: area only
                ("rd-intensity-list", 1, WUXING, False, None, "payable"),  # a qualification: no cash
                ("software-two-three", 1, WUXING, False, "12345.67", "paid"),  # tax saving (area forced to 1): no cash
                ("export-credit-insurance", 2, WUXING, True, "1000.00", "publicity"),  # another area
            ]
            connection.execute(sa.insert(t.Award), [
                {"subject_id": FIRMS[NANXUN if county == NANXUN else WUXING], "rule_id": rule, "article": 1,
                 "area": area, "department": "市科技局", "county": county, "year": 2025, "verdict": "tax" if rule == "software-two-three" else "ceiling",
                 "cash": cash, "amount": None if amount is None else D(amount), "clause": "", "trace": [],
                 "status": status, "decided_by": 1, "decided_at": now}
                for rule, area, county, cash, amount, status in rows])
        upgrade(engine)
        with transaction(sessions(engine)) as session:
            kept = {(row.area, row.rule_id, row.county): (row.committed, row.paid) for row in session.scalars(select(t.Budget))}
            assert budgets.recount(session) == []  # budget rows (0003) and award sums (0006) alike
            grouped = sums(session)
    finally:
        engine.dispose()
    assert kept == {
        # 1,000,000.01 + 0.99 + 300,000.25 + 0.01 + 7.00 = 1,300,008.26; paid 1,000,000.01
        (1, "", ""): (D("1300008.26"), D("1000000.01")),
        (1, "lab-new", ""): (D("1000001.00"), D("1000000.01")),  # 1,000,000.01 + 0.99
        (1, "", WUXING): (D("1300000.27"), D("1000000.01")),  # 1,000,000.01 + 300,000.25 + 0.01
        (2, "", ""): (D("1000.00"), D("0.00")),
    }
    # migration 0006: one row per group of awards; the software tax saving (paid) counts as tax
    assert grouped[(1, "市科技局", NANXUN, "lab-new")] == (D("0.99"), D("0.00"), D("0.00"))  # cancelled 250,000.50 released
    assert grouped[(1, "市科技局", WUXING, "plan-key-rd")] == (D("300000.26"), D("0.00"), D("0.00"))  # 300,000.25 + 0.01
    assert grouped[(1, "市科技局", "", "plan-key-rd")] == (D("7.00"), D("0.00"), D("0.00"))  # no county
    assert grouped[(1, "市科技局", WUXING, "software-two-three")] == (D("0.00"), D("0.00"), D("12345.67"))
    assert grouped[(1, "市科技局", WUXING, "rd-intensity-list")] == (D("0.00"), D("0.00"), D("0.00"))


def sums(session) -> dict[tuple[int, str, str, str], tuple[Decimal, Decimal, Decimal]]:
    """AwardSum as kept: (area, department, county, rule) -> (committed, paid, tax)."""
    rows = session.scalars(select(t.AwardSum).execution_options(populate_existing=True))
    return {(row.area, row.department, row.county, row.rule_id): (row.committed, row.paid, row.tax) for row in rows}


def test_award_sums_follow_every_status_change_and_feed_the_report(ledger, pack):
    factory, actors = ledger
    keji, finance = actors["keji"], actors["finance"]
    with transaction(factory) as session:
        a1 = grant(session, pack, keji, "lab-new", WUXING, "1000000.01").id
        a2 = grant(session, pack, keji, "lab-new", WUXING, "250000.50").id
        grant(session, pack, keji, "talent-self-review", WUXING, "", verdict="qualification")
    with transaction(factory) as session:
        # both lab-new awards are one group: 1,000,000.01 + 250,000.50 = 1,250,000.51 committed
        assert sums(session) == {
            (1, "市科技局", WUXING, "lab-new"): (D("1250000.51"), D("0.00"), D("0.00")),
            (1, "市科技局", WUXING, "talent-self-review"): (D("0.00"), D("0.00"), D("0.00")),  # a group with no cash
        }
        upheld = review.object_to(session, actors["admin"], a2, "该企业不在本区经营", today=GRANTED)
    with transaction(factory) as session:
        review.resolve_objection(session, keji, upheld.id, True, "核实属实,撤销")
        batch = make_batch(session, finance, today=AFTER_PUBLICITY)
        payment = session.scalars(select(t.Payment).where(t.Payment.batch_id == batch.id, t.Payment.award_id == a1)).one()
        mark(session, finance, payment.id, True)
    with transaction(factory) as session:
        # a2 cancelled (released), a1 paid: 1,000,000.01 committed and paid
        assert sums(session)[(1, "市科技局", WUXING, "lab-new")] == (D("1000000.01"), D("1000000.01"), D("0.00"))
        report = budgets.budget_report(session, pack)
        [area_one] = [row for row in report.areas if row.key == "1"]
        assert (area_one.committed, area_one.paid) == (D("1000000.01"), D("1000000.01"))
        assert budgets.recount(session) == []


def test_recount_names_award_sums_edited_past_zhida(ledger, pack):
    factory, actors = ledger
    with transaction(factory) as session:
        grant(session, pack, actors["keji"], "lab-new", WUXING, "1000.00")
    with transaction(factory) as session:
        session.execute(update(t.AwardSum).values(committed=D("999.99")))
    with transaction(factory) as session:
        [problem] = budgets.recount(session)
    assert str(problem) == (f"award_sums:1/市科技局/{WUXING}/lab-new: 市科技局{WUXING}规则 lab-new 的奖励合计与逐笔重算不符:"
                            "已承诺记为 999.99 元,重算为 1,000.00 元;已拨付记为 0.00 元,重算为 0.00 元;"
                            "节税记为 0.00 元,重算为 0.00 元")
    with transaction(factory) as session:
        budgets.rebuild_sums(session)
        assert budgets.recount(session) == []
