"""免申即享: a small hand-written `zhida match` output becomes proposals, then awards, on both databases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, insert, select

from zhida.ledger import audit
from zhida.ledger import tables as t
from zhida.ledger.access import Refused, Role
from zhida.ledger.accounts import actor_of, add_user
from zhida.ledger.budgets import seed_budgets
from zhida.ledger.database import sessions, transaction
from zhida.ledger.identity import id_number_problem
from zhida.ledger.proposals import confirm_proposals, dismiss_proposals, import_proposals, list_proposals
from zhida.synth import credit_code, resident_id_numbers



def code(serial: int) -> str:
    """A valid 统一社会信用代码 not in the test register."""
    return credit_code("330502", 20000000 + serial)

FIRM = credit_code("330502", 10000001)  # 吴兴区 enterprise
EXPORTER = credit_code("330522", 10000002)  # 长兴县 enterprise
PERSON = str(resident_id_numbers(np.array([7]), np.array(["330521"]))[0])  # 德清县 consumer
TODAY = dt.date(2025, 9, 1)

MATCH_SCHEMA = pa.schema([
    ("subject_id", pa.string()), ("event_id", pa.string()), ("date", pa.date32()), ("rule", pa.string()),
    ("article", pa.int32()), ("kind", pa.string()), ("amount", pa.decimal128(18, 2)), ("tax_due", pa.decimal128(18, 2)),
    ("caps_hit", pa.string()), ("in_validity", pa.bool_()), ("department", pa.string()), ("county", pa.string()),
    ("carrier", pa.string()),
])


def row(subject, event, date, rule, article, kind, amount, caps="", valid=True, department="市科技局", county="吴兴区",
        carrier=None):
    return {"subject_id": subject, "event_id": event, "date": dt.date.fromisoformat(date), "rule": rule, "article": article,
            "kind": kind, "amount": None if amount is None else Decimal(amount), "tax_due": None, "caps_hit": caps,
            "in_validity": valid, "department": department, "county": county, "carrier": carrier}


ROWS = [
    # (三) 按實際發生服務費用給予最高50%比例的補助: 50% × 60 000 = 30 000.00, a ceiling
    row(FIRM, "IV1", "2025-03-01", "innovation-voucher", 3, "ceiling", "30000.00"),
    # (十七) 一級能效 20% × 13 333.33 = 2 666.67 > 每件最高2000元 → 2 000.00, exact
    row(PERSON, "T1", "2025-05-01", "appliance-grade-1", 17, "exact", "2000.00", "appliance-item",
        department="市发展改革委", county="德清县"),
    # (三十) 不低于60% × 2 000 000 = 1 200 000 > 每家最高100萬元 → 1 000 000.00: a floor the cap bound, a ceiling
    row(EXPORTER, "EX1", "2025-06-01", "export-credit-insurance", 30, "floor", "1000000.00", "export-insurance-annual",
        department="市商务局", county="长兴县"),
    # (二) 纳入支持清单: a status, no money — skipped
    row(FIRM, "RD1", "2025-07-01", "rd-intensity-list", 2, "qualification", None),
    # dated 2026: outside the 2025 validity — skipped
    row(FIRM, "IV2", "2026-01-05", "innovation-voucher", 3, "ceiling", None, valid=False),
]
SUBJECTS = [
    {"subject_id": FIRM, "kind": "enterprise", "name": "湖州甲科技有限公司", "county": "吳興區"},
    {"subject_id": EXPORTER, "kind": "enterprise", "name": "湖州乙外贸有限公司", "county": "长兴县"},
    {"subject_id": PERSON, "kind": "consumer", "name": "居民7", "county": "德清县"},
]


def write(tmp_path: Path, rows, name="out.parquet") -> Path:
    path = tmp_path / name
    pq.write_table(pa.Table.from_pylist(rows, schema=MATCH_SCHEMA), path)
    return path


def subjects_file(tmp_path: Path, rows=SUBJECTS) -> Path:
    path = tmp_path / "subjects.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.fixture
def ledger(ledger_engine, pack):
    factory = sessions(ledger_engine)
    with transaction(factory) as session:
        seed_budgets(session, pack)
        users = {
            "admin": add_user(session, "admin", "password-1", Role.ADMIN),
            "keji": add_user(session, "keji", "password-1", Role.REVIEWER, department="市科技局"),
            "fagai": add_user(session, "fagai", "password-1", Role.REVIEWER, department="市发展改革委"),
            "shangwu": add_user(session, "shangwu", "password-1", Role.REVIEWER, department="市商务局"),
            "lead": add_user(session, "lead", "password-1", Role.LEADERSHIP),
        }
        actors = {name: actor_of(user) for name, user in users.items()}
    return factory, actors


def test_consumer_ids_of_synth_are_valid_identity_numbers():
    numbers = resident_id_numbers(np.arange(5000), np.full(5000, "330523"))
    assert len(set(numbers.tolist())) == 5000
    assert all(id_number_problem(str(number)) is None for number in numbers)
    # consumer 0: (0 × stride) mod space = 0 → born 1950-01-01, 顺序码 000; check digit by GB 11643
    assert str(resident_id_numbers(np.array([0]), np.array(["330502"]))[0]) == "330502195001010008"


def test_import_creates_subjects_and_proposals_once(ledger, pack, tmp_path):
    factory, actors = ledger
    out, register = write(tmp_path, ROWS), subjects_file(tmp_path)
    with transaction(factory) as session:
        summary = import_proposals(session, pack, actors["admin"], out, register)
    assert (summary.rows, summary.imported, summary.already, summary.subjects_created) == (5, 3, 0, 3)
    assert dict(summary.skipped) == {"qualification": 1, "outside_validity": 1}
    assert summary.by_department == {
        ("市科技局", "ceiling"): (1, Decimal("30000.00")),
        ("市发展改革委", "exact"): (1, Decimal("2000.00")),
        ("市商务局", "ceiling"): (1, Decimal("1000000.00")),
    }
    with transaction(factory) as session:
        proposals = {p.event_id: p for p in session.scalars(select(t.Proposal))}
        firm = session.get(t.Subject, FIRM)
        assert (firm.kind, firm.name, firm.county) == ("enterprise", "湖州甲科技有限公司", "吴兴区")  # Simplified
        assert session.get(t.Subject, PERSON).kind == "consumer"
        assert audit.verify(session) == []
        # one entry per subject and per proposal, plus the users and budgets written before
        assert session.scalar(select(func.count()).select_from(t.AuditEntry).where(t.AuditEntry.action.in_(
            ["subject.import", "proposal.import"]))) == 6
    assert {k: (p.rule_id, p.department, p.verdict, p.amount, p.status) for k, p in proposals.items()} == {
        "IV1": ("innovation-voucher", "市科技局", "ceiling", Decimal("30000.00"), "proposed"),
        "T1": ("appliance-grade-1", "市发展改革委", "exact", Decimal("2000.00"), "proposed"),
        "EX1": ("export-credit-insurance", "市商务局", "ceiling", Decimal("1000000.00"), "proposed"),
    }
    assert proposals["IV1"].source == str(out)
    with transaction(factory) as session:
        again = import_proposals(session, pack, actors["admin"], out, register)
    assert (again.imported, again.already, again.subjects_created) == (0, 3, 0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rule": "moon-landing"}, "第 3 行,列 rule: 未知的规则 'moon-landing'"),
        ({"amount": Decimal("-1.00")}, "第 3 行,列 amount: 金额 -1.00 为负数"),
        ({"subject_id": FIRM[:17] + ("0" if FIRM[17] != "0" else "1")}, "第 3 行,列 subject_id: "),
        ({"subject_id": PERSON[:17] + ("0" if PERSON[17] != "0" else "1"), "rule": "appliance-grade-1"},
         "第 3 行,列 subject_id: 主体"),
    ],
)
def test_a_bad_row_refuses_the_whole_file(ledger, pack, tmp_path, change, message):
    factory, actors = ledger
    rows = [dict(ROWS[0]), {**ROWS[1], **change}, dict(ROWS[2])]
    out = write(tmp_path, rows)
    with pytest.raises(Refused) as refused, transaction(factory) as session:
        import_proposals(session, pack, actors["admin"], out, subjects_file(tmp_path))
    assert refused.value.status == 422
    assert refused.value.message.startswith(f"{out}: {message}")
    with transaction(factory) as session:
        assert session.scalar(select(func.count()).select_from(t.Proposal)) == 0
        assert session.scalar(select(func.count()).select_from(t.Subject)) == 0


def test_a_mistyped_code_in_the_register_names_the_check_digit(ledger, pack, tmp_path):
    factory, actors = ledger
    wrong = FIRM[:17] + ("0" if FIRM[17] != "0" else "1")
    out = write(tmp_path, [{**ROWS[0], "subject_id": wrong}])
    register = subjects_file(tmp_path, [{**SUBJECTS[0], "subject_id": wrong}])
    with pytest.raises(Refused) as refused, transaction(factory) as session:
        import_proposals(session, pack, actors["admin"], out, register)
    assert refused.value.message == f"{out}: 第 2 行,列 subject_id: 统一社会信用代码第18位（校验码）应为“{FIRM[17]}”，实为“{wrong[17]}”"


def _prior_voucher_award(factory, actors, amount: str) -> None:
    """An innovation-voucher award of `amount` already made to FIRM in 2025 (written directly, audited)."""
    with transaction(factory) as session:
        award = t.Award(subject_id=FIRM, rule_id="innovation-voucher", article=3, area=1, department="市科技局",
                        county="吴兴区", year=2025, verdict="ceiling", cash=True, amount=Decimal(amount),
                        ceiling=Decimal(amount), clause="单个企业全年最高补助20万元", trace=[], status="paid",
                        decided_by=actors["keji"].user_id)
        session.add(award)
        audit.record(session, "keji", "award.grant", award)


def test_confirm_refuses_what_the_annual_cap_no_longer_allows(ledger, pack, tmp_path):
    factory, actors = ledger
    with transaction(factory) as session:
        import_proposals(session, pack, actors["admin"], write(tmp_path, ROWS), subjects_file(tmp_path))
    # (三) 单个企业全年最高补助20万元: 180 000 already awarded leaves 20 000, less than the 30 000 proposed
    _prior_voucher_award(factory, actors, "180000.00")
    with transaction(factory) as session:
        ids = {p.event_id: p.id for p in session.scalars(select(t.Proposal))}
    with transaction(factory) as session:
        outcome = confirm_proposals(session, pack, actors["keji"], [ids["IV1"]], TODAY)
    assert outcome.confirmed == []
    [(proposal_id, reason)] = outcome.refused
    assert proposal_id == ids["IV1"]
    assert "2025 年已核定 180,000.00 元,尚余 20,000.00 元,不能再核定 30,000.00 元" in reason
    with transaction(factory) as session:
        outcome = confirm_proposals(session, pack, actors["shangwu"], [ids["EX1"]], TODAY)
        award = session.get(t.Award, outcome.confirmed[0][1])
        assert (award.amount, award.verdict, award.status, award.cash, award.proposal_id) == (
            Decimal("1000000.00"), "ceiling", "publicity", True, ids["EX1"])
        assert award.publicity_until == dt.date(2025, 9, 8)  # 5 working days after Mon 1 Sep: 2,3,4,5,8 Sep
        statuses = {p.event_id: p.status for p in session.scalars(select(t.Proposal))}
        assert audit.verify(session) == []
    assert statuses == {"IV1": "proposed", "T1": "proposed", "EX1": "confirmed"}


def test_only_the_department_confirms_and_reviewers_see_their_own(ledger, pack, tmp_path):
    factory, actors = ledger
    with transaction(factory) as session:
        import_proposals(session, pack, actors["admin"], write(tmp_path, ROWS), subjects_file(tmp_path))
    with transaction(factory) as session:
        ids = {p.event_id: p.id for p in session.scalars(select(t.Proposal))}
        assert [p.event_id for p in list_proposals(session, actors["keji"])] == ["IV1"]
        assert len(list_proposals(session, actors["lead"])) == 3
        assert [p.event_id for p in list_proposals(session, actors["lead"], department="市商务局")] == ["EX1"]
    with pytest.raises(Refused) as refused, transaction(factory) as session:
        confirm_proposals(session, pack, actors["keji"], [ids["IV1"], ids["T1"]], TODAY)
    assert refused.value.status == 403 and "属于市发展改革委" in refused.value.message
    with transaction(factory) as session:
        assert session.scalar(select(func.count()).select_from(t.Award)) == 0  # nothing of the refused call
    with pytest.raises(Refused) as refused, transaction(factory) as session:
        dismiss_proposals(session, actors["fagai"], [ids["T1"]], " ")
    assert refused.value.status == 422
    with transaction(factory) as session:
        assert dismiss_proposals(session, actors["fagai"], [ids["T1"]], "发票为假").dismissed == [ids["T1"]]
    with transaction(factory) as session:
        assert session.get(t.Proposal, ids["T1"]).reason == "发票为假"
    with pytest.raises(Refused) as refused, transaction(factory) as session:
        confirm_proposals(session, pack, actors["fagai"], [ids["T1"]], TODAY)
    assert refused.value.status == 409 and "dismissed" in refused.value.message


def test_the_database_refuses_a_second_proposal_of_one_event(ledger_engine):
    factory = sessions(ledger_engine)
    with transaction(factory) as session:
        session.add(t.Subject(id=FIRM, kind="enterprise", name="x", county=None))
    values = {"subject_id": FIRM, "rule_id": "innovation-voucher", "department": "市科技局", "event_id": "IV1",
              "event_date": dt.date(2025, 3, 1), "verdict": "ceiling", "amount": Decimal("1.00"), "status": "proposed",
              "source": "x"}
    with transaction(factory) as session:
        session.execute(insert(t.Proposal).values(**values))
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), transaction(factory) as session:
        session.execute(insert(t.Proposal).values(**values))


def test_cli_propose_prints_a_summary_and_refuses_a_bad_file(ledger, pack, ledger_url, tmp_path):
    from typer.testing import CliRunner

    from zhida.cli import app

    out, register = write(tmp_path, ROWS), subjects_file(tmp_path)
    command = ["propose", str(out), "--subjects", str(register), "--user", "admin", "--database", ledger_url]
    result = CliRunner().invoke(app, command, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "新导入建议 3 条,已存在 0 条,新建主体 3 个;跳过 2 行" in result.output
    assert "资格认定(是一种身份,不是金额) 1 行" in result.output and "不在政策有效期内(无金额) 1 行" in result.output
    assert "1,000,000.00" in result.output and "市商务局" in result.output
    again = CliRunner().invoke(app, command, terminal_width=200)
    assert "新导入建议 0 条,已存在 3 条" in again.output
    # The subjects are in the ledger now: `zhida propose OUT` alone is enough.
    alone = CliRunner().invoke(app, ["propose", str(out), "--user", "admin", "--database", ledger_url], terminal_width=200)
    assert alone.exit_code == 0 and "新导入建议 0 条,已存在 3 条" in alone.output
    stranger = write(tmp_path, [{**ROWS[0], "subject_id": code(777), "event_id": "X9"}], "stranger.parquet")
    missing = CliRunner().invoke(app, ["propose", str(stranger), "--user", "admin", "--database", ledger_url],
                                 terminal_width=400)
    assert missing.exit_code == 2 and f"主体 {code(777)} 不在账本中;请用 --subjects 给出登记主体表" in missing.output
    bad = write(tmp_path, [{**ROWS[0], "amount": Decimal("-5.00")}], "bad.parquet")
    refused = CliRunner().invoke(app, ["propose", str(bad), "--subjects", str(register), "--user", "admin",
                                       "--database", ledger_url], terminal_width=400)
    assert refused.exit_code == 2 and f"{bad}: 第 2 行,列 amount: 金额 -5.00 为负数" in refused.output.replace("\n", "")
    unknown = CliRunner().invoke(app, [*command[:5], "nobody", "--database", ledger_url], terminal_width=200)
    assert unknown.exit_code == 2 and "没有可用的用户 nobody" in unknown.output


def test_a_carriers_cap_counts_applications_and_proposals_alike(ledger, pack, tmp_path):
    """(四) "單個孵化載體單年度內獎勵額度最高30萬元": 载体A already has 280,000 元 of awards this year, so
    a 免申即享 proposal of 3万元 for it ("每培育1家高新技術企業(首次認定)…給予…3萬元") is refused with
    what is left (20,000 元), while the same proposal for 载体B of the same operator is confirmed."""
    factory, actors = ledger
    operator = code(500)
    with transaction(factory) as session:
        session.add(t.Subject(id=operator, kind="incubator", name="湖州某孵化器运营有限公司", county="吴兴区"))
        session.flush()
        prior = t.Award(subject_id=operator, rule_id="cultivate-high-tech", article=4, area=1, department="市科技局",
                        county="吴兴区", year=2025, carrier="载体A", verdict="exact", cash=True, amount=Decimal("280000.00"),
                        ceiling=Decimal("280000.00"), clause="", trace=[], status="payable", decided_by=actors["keji"].user_id)
        session.add(prior)
        audit.record(session, "keji", "award.grant", prior)
    rows = [row(operator, f"C{n}", "2025-08-01", "cultivate-high-tech", 4, "exact", "30000.00", carrier=carrier)
            for n, carrier in ((1, "载体A"), (2, "载体B"))]
    with transaction(factory) as session:
        import_proposals(session, pack, actors["admin"], write(tmp_path, rows))
        ids = {p.event_id: p.id for p in session.scalars(select(t.Proposal))}
        assert session.get(t.Proposal, ids["C1"]).carrier == "载体A"
    with transaction(factory) as session:
        outcome = confirm_proposals(session, pack, actors["keji"], [ids["C1"], ids["C2"]], TODAY)
    assert [reason for _, reason in outcome.refused] == [
        "超过单个载体年度上限(单个孵化载体单年度内奖励额度最高30万元):载体 载体A 2025 年已核定 280,000.00 元,"
        "尚余 20,000.00 元,不能再核定 30,000.00 元"
    ]
    with transaction(factory) as session:
        confirmed = session.scalar(select(t.Award).where(t.Award.proposal_id == ids["C2"]))
        assert (confirmed.carrier, confirmed.amount) == ("载体B", Decimal("30000.00"))


def test_a_several_pack_match_is_refused_whole(ledger, pack, tmp_path):
    """`zhida match --pack A --pack B` adds a `pack` column; its rows include amounts another document
    pays and amounts given up to it (就高不重复). The ledger pays its own pack's rules only: such a file is
    refused before anything is written, and says which match to bring instead."""
    factory, actors = ledger
    several = pa.Table.from_pylist(ROWS[:1], schema=MATCH_SCHEMA).append_column("pack", pa.array(["huzhou-2025"]))
    path = tmp_path / "several.parquet"
    pq.write_table(several, path)
    with pytest.raises(Refused) as refused, transaction(factory) as session:
        import_proposals(session, pack, actors["admin"], path, subjects_file(tmp_path))
    assert refused.value.status == 422
    assert str(refused.value).endswith(
        "账本只办理政策包 huzhou-2025,请用 zhida match --pack huzhou-2025 单独匹配的结果")
    with transaction(factory) as session:
        assert session.scalar(select(func.count()).select_from(t.Proposal)) == 0
        assert session.scalar(select(func.count()).select_from(t.Subject)) == 0
