"""The demo ledger of a first run: `zhida serve` on a fresh machine opens onto a city at work.

In: a migrated ledger with its area budgets and no users yet, the pack, and the folder the ledger
keeps its files in. Out (`seed_demo`, one transaction: the whole demo or nothing):
- one user per role with a public password (`password_of`): admin, a reviewer for every lead
  department of the pack, finance, leadership, and four applicants bound to subjects of the register
  (two enterprises, the incubator, a consumer);
- the synthetic register of `zhida synth` (deterministic for a seed; files under FILES/demo/) as
  subjects, each enterprise with its 营业收入 and 研发费用 as imported profile facts;
- applications in every state, each through the ledger's own functions (review.submit, decide,
  withdraw, resubmit, object_to, resolve_objection): pending, returned, resubmitted, rejected with its
  reason, withdrawn, approved and on 公示, held by an objection, cancelled by an upheld one, payable
  after 公示, in a payment batch, paid, failed, and a qualification granted;
- 免申即享: `zhida match` over the register, imported as proposals (proposals.import_proposals), some
  confirmed (review.award: caps, budgets, 公示), one dismissed, the rest waiting for confirmation;
- targets assigned to departments and counties, with progress reports on some (targets.py).

Every amount is the calculator's: an application is approved at its ceiling (or, once, below it),
a proposal at what `zhida match` computed; so caps, budgets' running totals and the audit chain stay
what the ledger's functions make them. The register's subjects and facts are written in bulk with
one audit.record_many, as an import writes them (proposals._write), which keeps start-up quick.

Dates: events are in 2025, the document's year. Awards meant to be payable (and paid, failed, in a
batch) are granted EARLIER_DAYS before `today`, so their 公示 of 5 working days has ended; those meant
to be on 公示 or held are granted `today`, so that the public list shows them now.
A ledger that has any user is in use: nothing is written and the summary says so.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from zhida.ledger import accounts, audit, payments, proposals, review, targets
from zhida.ledger import tables as t
from zhida.ledger.access import ROLE_NAMES, Actor, Role
from zhida.ledger.database import reading, transaction
from zhida.ledger.subjects import PERSON_KINDS, record_facts
from zhida.rules.pack import Pack

DEMO_NOTE = "演示账号,仅用于本机试用(密码公开,勿用于真实数据)"
EARLIER_DAYS = 30  # before today: a 公示 of 5 working days granted then has ended
FACTS_AS_OF = dt.date(2025, 12, 31)  # the register's year-end figures
PROGRESS_AS_OF = dt.date(2025, 9, 30)
PROGRESS_PERIOD = "2025-Q3"
# Reviewer usernames by department (pinyin of the department's short name); another pack's
# departments get reviewer1, reviewer2 …
REVIEWER_NAMES = {
    "市科技局": "kejiju", "市商务局": "shangwuju", "市经信局": "jingxinju", "市发展改革委": "fagaiwei",
    "市农业农村局": "nongyeju", "市交通运输局": "jiaotongju", "市人力社保局": "renshe",
}
# The rules the demo's applications claim (_Demo._applications).
DEMO_RULES = frozenset({
    "innovation-voucher", "plan-key-rd", "high-tech-first", "patent-silver", "award-provincial-second",
    "rd-intensity-list", "equipment-renewal-funds", "export-credit-insurance", "cultivate-high-tech",
    "incubator-national", "appliance-grade-1", "digital-products", "furniture-ordinary",
})
PAGES = {Role.ADMIN: "/console /import /dashboard /sandbox", Role.REVIEWER: "/console", Role.FINANCE: "/finance",
         Role.LEADERSHIP: "/dashboard /sandbox", Role.APPLICANT: "/me"}


def password_of(username: str) -> str:
    """The demo password of a demo user: public, printed at start-up and in the README."""
    return f"demo-{username}"


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: Role
    where: str  # the reviewer's department, or the name of the subject an applicant acts for
    pages: str


@dataclass
class DemoSummary:
    """What `seed_demo` did, or why it did nothing."""

    seeded: bool
    message: str
    users: list[DemoUser] = field(default_factory=list)
    subjects: int = 0
    applications: Counter[str] = field(default_factory=Counter)
    awards: Counter[str] = field(default_factory=Counter)
    proposals: Counter[str] = field(default_factory=Counter)
    progress_reports: int = 0


def in_use(factory: sessionmaker[Session]) -> bool:
    """A ledger with any user is in use: the demo never touches it."""
    with reading(factory) as session:
        return _has_users(session)


def _has_users(session: Session) -> bool:
    return session.scalar(select(func.count()).select_from(t.User)) > 0


def seed_demo(
    factory: sessionmaker[Session], pack: Pack, files: Path, *, enterprises: int = 200, seed: int = 2025,
    today: dt.date | None = None,
) -> DemoSummary:
    """The demo ledger (module docstring) on a ledger without users; on any other, nothing. The demo's
    story is told in the Huzhou 2025 pack's rules: another pack gets none."""
    missing = sorted(DEMO_RULES - {rule.id for rule in pack.rules})
    if missing:
        return DemoSummary(False, f"演示数据基于湖州 2025 政策包,本政策包没有规则 {'、'.join(missing[:3])},未载入")
    if in_use(factory):
        return DemoSummary(False, "账本已有用户,未载入演示数据")
    # The register is made (DuckDB) while the staff's passwords are hashed (argon2): both leave the
    # GIL, so start-up takes the longer of the two, not their sum.
    with ThreadPoolExecutor(max_workers=1) as pool:
        register = pool.submit(_register_files, pack, files / "demo", enterprises, seed)
        with transaction(factory) as session:
            # The audit head's lock serialises two first starts at once; the second then finds users.
            session.scalars(select(t.AuditHead).where(t.AuditHead.id == 1).with_for_update()).one()
            if _has_users(session):
                return DemoSummary(False, "账本已有用户,未载入演示数据")
            demo = _Demo(session, pack, today or dt.date.today())
            demo.staff()
            demo.run(register.result())
            return demo.summary()


@dataclass(frozen=True)
class _Register:
    subjects: Path
    events: Path
    entitlements: Path


def _register_files(pack: Pack, folder: Path, enterprises: int, seed: int) -> _Register:
    """`zhida synth` and `zhida match` over a small register, kept under `folder` (the proposals name it)."""
    from zhida.engine.match import match
    from zhida.synth import synthesise

    synthesise(pack, enterprises, max(20, enterprises // 4), seed, folder)
    register = _Register(folder / "subjects.parquet", folder / "events.parquet", folder / "entitlements.parquet")
    match(pack, register.subjects, register.events, register.entitlements)
    return register


class _Demo:
    """The demo's writes, in the order a city would make them; every actor a demo user."""

    def __init__(self, session: Session, pack: Pack, today: dt.date) -> None:
        self.session = session
        self.pack = pack
        self.today = today
        self.earlier = today - dt.timedelta(days=EARLIER_DAYS)
        self.users: list[DemoUser] = []
        self.actors: dict[str, Actor] = {}
        self.reviewers: dict[str, Actor] = {}  # by department
        self.subjects = 0
        self.reports = 0
        self.facts: dict[str, tuple[Decimal, Decimal]] = {}

    def run(self, register: _Register) -> None:
        rows = self._import_register(register.subjects)
        proposal_summary = proposals.import_proposals(self.session, self.pack, self.actors["admin"],
                                                      register.entitlements, register.subjects)
        self.subjects += proposal_summary.subjects_created
        self._applicants(rows)
        awards = self._applications()
        confirmed = self._proposals()
        self._payments(awards, confirmed)
        self._targets()

    # ----------------------------------------------------------------------- users and subjects

    def _user(self, username: str, role: Role, where: str, display_name: str, *, department: str | None = None,
              subject_id: str | None = None) -> Actor:
        user = accounts.add_user(
            self.session, username, password_of(username), role, display_name=display_name, department=department,
            subject_id=subject_id, departments=accounts.lead_departments(self.pack), by="zhida",
        )
        self.session.flush()
        actor = accounts.actor_of(user)
        self.actors[username] = actor
        self.users.append(DemoUser(username, password_of(username), role, where, PAGES[role]))
        return actor

    def staff(self) -> None:
        self._user("admin", Role.ADMIN, "", "管理员(演示)")
        numbered = 0
        for department in sorted(accounts.lead_departments(self.pack), key=_department_order):
            username = REVIEWER_NAMES.get(department)
            if username is None:
                numbered += 1
                username = f"reviewer{numbered}"
            self.reviewers[department] = self._user(username, Role.REVIEWER, department, f"{department}审核员(演示)",
                                                    department=department)
        self._user("finance", Role.FINANCE, "", "市财政局(演示)")
        self._user("leader", Role.LEADERSHIP, "", "市领导(演示)")

    def _import_register(self, path: Path) -> list[dict[str, Any]]:
        """The register's organisations as subjects, each enterprise's year-end figures as facts
        (persons come in with their 免申即享 proposals, from the same file)."""
        import pyarrow.parquet as pq

        admin = self.actors["admin"]
        rows = [row for row in pq.read_table(path).to_pylist() if row["kind"] not in PERSON_KINDS]
        subjects = [t.Subject(id=row["subject_id"], kind=row["kind"], name=row["name"], county=row["county"])
                    for row in rows]
        self.session.add_all(subjects)
        self.session.flush()
        facts = [
            t.ProfileFact(subject_id=row["subject_id"], field=name, value=f"{row[name]}", source="imported",
                          as_of=FACTS_AS_OF, recorded_by=admin.user_id)
            for row in rows if row["kind"] == "enterprise"
            for name in ("revenue", "rd_expense")
        ]
        self.session.add_all(facts)
        audit.record_many(self.session, admin.username,
                          [("subject.import", row) for row in subjects] + [("profile.fact", fact) for fact in facts])
        self.subjects += len(subjects)
        return rows

    def _applicants(self, rows: list[dict[str, Any]]) -> None:
        """qiye: an enterprise at 5% R&D intensity or more; waimao: another; fuhuaqi: an incubator;
        jumin: a consumer (a person, by 居民身份证号码)."""
        enterprises = [row for row in rows if row["kind"] == "enterprise" and row["revenue"]]
        intense = next(row for row in enterprises if row["rd_expense"] * 20 >= row["revenue"])
        other = next(row for row in enterprises if row is not intense)
        incubator = next(row for row in rows if row["kind"] == "incubator")
        consumer = self.session.scalars(
            select(t.Subject).where(t.Subject.kind == "consumer").order_by(t.Subject.id).limit(1)
        ).one()
        for username, subject_id, name, kind in (
            ("qiye", intense["subject_id"], intense["name"], "enterprise"),
            ("waimao", other["subject_id"], other["name"], "enterprise"),
            ("fuhuaqi", incubator["subject_id"], incubator["name"], "incubator"),
            ("jumin", consumer.id, consumer.name, "consumer"),
        ):
            self._user(username, Role.APPLICANT, f"{name}({self.pack.subjects[kind]})", name, subject_id=subject_id)
        self.facts = {"qiye": (intense["rd_expense"], intense["revenue"])}
        self._profiles()

    def _profiles(self) -> None:
        """What each demo applicant declares about itself, so that /me lists its candidates with amounts."""
        declared = {
            "qiye": {"service_fee": "300000", "recognition": "首次认定", "plan": "市级重点研发计划"},
            "waimao": {"premium": "500000"},
            "fuhuaqi": {"carrier": "载体1", "carrier_type": "科技企业孵化器", "level": "国家级",
                        "firm_type": "高新技术企业(首次认定)", "in_incubation": True},
            "jumin": {"grade": "一级", "price": "5000", "category": "手机"},
        }
        for username, facts in declared.items():
            actor = self.actors[username]
            record_facts(self.session, self.pack, actor, actor.subject_id, facts, dt.date(2025, 6, 30))

    # ----------------------------------------------------------------------- applications

    def _apply(self, username: str, rule_id: str, date: str, **values: Any) -> t.Application:
        actor = self.actors[username]
        event = {"date": date, **values}
        return review.submit(self.session, self.pack, actor, actor.subject_id, rule_id, event)

    def _decide(self, application: t.Application, decision: str, *, reason: str = "", amount: Decimal | None = None,
                today: dt.date | None = None) -> t.Award | None:
        reviewer = self.reviewers[application.department]
        review.decide(self.session, self.pack, reviewer, application.id, decision, amount=amount, reason=reason,
                      today=today or self.today)
        if decision != "approve":
            return None
        return self.session.scalars(select(t.Award).where(t.Award.application_id == application.id)).one()

    def _applications(self) -> dict[str, t.Award]:
        """Applications in every state; returns the awards the payments need, by what becomes of them."""
        awards: dict[str, t.Award] = {}
        # 市科技局 — (三) 创新券: 50% of the service fee, at most 20万元 a subject a year.
        first = self._apply("qiye", "innovation-voucher", "2025-03-10", service_fee="60000")
        awards["paid"] = self._decide(first, "approve", reason="服务合同与发票核验无误", today=self.earlier)
        second = self._apply("qiye", "innovation-voucher", "2025-04-15", service_fee="40000")
        below = (second.ceiling * Decimal("0.9")).quantize(Decimal("0.01"))  # below the ceiling: the department's call
        awards["failed"] = self._decide(second, "approve", amount=below, reason="部分服务费用不属于创新券支持范围,按九成核定",
                                        today=self.earlier)
        third = self._apply("qiye", "innovation-voucher", "2025-06-20", service_fee="50000")
        self._decide(third, "approve", reason="材料齐全")  # today: on 公示
        self._apply("qiye", "innovation-voucher", "2025-09-05", service_fee="20000")  # pending
        plan = self._apply("qiye", "plan-key-rd", "2025-05-08", plan="市级重点研发计划")
        self._decide(plan, "return", reason="请补充项目立项批复文件和项目合同书")
        recognised = self._apply("qiye", "high-tech-first", "2025-07-01", recognition="首次认定")
        self._decide(recognised, "return", reason="请上传高新技术企业证书扫描件")
        review.resubmit(self.session, self.pack, self.actors["qiye"], recognised.id,
                        {"date": "2025-07-01", "recognition": "首次认定"})  # pending again
        patent = self._apply("qiye", "patent-silver", "2025-08-12", medal="银奖", patents=2, first_inventor_unit=True)
        review.withdraw(self.session, self.actors["qiye"], patent.id)
        science = self._apply("qiye", "award-provincial-second", "2025-02-20", award="省科学技术奖二等奖", lead_unit=True)
        self._decide(science, "reject", reason="经核查,获奖证书所列第一完成单位不是申报企业")
        rd_expense, revenue = self.facts["qiye"]
        listed = self._apply("qiye", "rd-intensity-list", "2025-12-31", rd_expense=f"{rd_expense}",
                             revenue=f"{revenue}")
        self._decide(listed, "approve", reason="研发投入强度达到5%")  # a qualification: granted, no money
        # 市经信局 — a benefit whose amount the department's measures set: left for the department.
        self._apply("qiye", "equipment-renewal-funds", "2025-10-09", project="设备更新")
        # 市商务局 — (三十) 出口信用保险: at least 60% of the premium, at most 100万元 a year.
        big = self._apply("waimao", "export-credit-insurance", "2025-03-31", premium="200000")
        awards["in_batch"] = self._decide(big, "approve", reason="保单与缴费凭证核验无误", today=self.earlier)
        small = self._apply("waimao", "export-credit-insurance", "2025-06-30", premium="120000")
        awards["payable"] = self._decide(small, "approve", reason="保单与缴费凭证核验无误", today=self.earlier)
        held = self._apply("waimao", "export-credit-insurance", "2025-09-30", premium="90000")
        held_award = self._decide(held, "approve", reason="保单与缴费凭证核验无误")
        review.object_to(self.session, self.actors["jumin"], held_award.id, "该企业本季度保单已在其他渠道获得补助,请核实",
                         today=self.today)
        self._apply("waimao", "export-credit-insurance", "2025-12-15", premium="50000")  # pending
        # 市科技局 — (四) 孵化载体: a fixed amount per firm cultivated.
        cultivated = self._apply("fuhuaqi", "cultivate-high-tech", "2025-05-20", carrier="载体1",
                                 firm_type="高新技术企业(首次认定)", in_incubation=True)
        self._decide(cultivated, "approve", reason="在孵企业认定证书核验无误")  # on 公示
        self._apply("fuhuaqi", "incubator-national", "2025-11-03", carrier="载体2", carrier_type="科技企业孵化器",
                    level="国家级")  # pending
        # 市发展改革委 — (十七) 以旧换新: a share of the price, at most per item.
        appliance = self._apply("jumin", "appliance-grade-1", "2025-04-05", grade="一级", price="5000")
        awards["jumin_paid"] = self._decide(appliance, "approve", reason="购机发票与旧机回收凭证核验无误",
                                            today=self.earlier)
        self._apply("jumin", "digital-products", "2025-08-18", category="手机", price="4000")  # pending
        furniture = self._apply("jumin", "furniture-ordinary", "2025-10-01", efficient=False, price="8000")
        cancelled = self._decide(furniture, "approve", reason="发票核验无误")
        objection = review.object_to(self.session, self.actors["waimao"], cancelled.id, "该笔家具已退货,发票已作废",
                                     today=self.today)
        review.resolve_objection(self.session, self.reviewers[cancelled.department], objection.id, True,
                                 "经核实已退货,撤销补贴")
        return awards

    # ----------------------------------------------------------------------- 免申即享

    def _proposals(self) -> list[int]:
        """Per department: about half confirmed (some granted earlier, so payable now), one dismissed,
        the rest waiting. Returns the awards confirmed earlier (payable)."""
        payable: list[int] = []
        waiting = self.session.scalars(
            select(t.Proposal).where(t.Proposal.status == "proposed").order_by(t.Proposal.id))
        by_department: dict[str, list[int]] = {}
        for proposal in waiting:
            by_department.setdefault(proposal.department, []).append(proposal.id)
        for department, ids in sorted(by_department.items()):
            reviewer = self.reviewers[department]
            half = len(ids) // 2
            earlier, now = ids[: (half + 1) // 2], ids[(half + 1) // 2: half]
            if earlier:
                outcome = proposals.confirm_proposals(self.session, self.pack, reviewer, earlier, self.earlier)
                payable += [award_id for _, award_id in outcome.confirmed]
            if now:
                proposals.confirm_proposals(self.session, self.pack, reviewer, now, self.today)
            if len(ids) - half > 1:
                proposals.dismiss_proposals(self.session, reviewer, [ids[-1]], "经核查,该笔交易已撤销,不予确认")
        return payable

    # ----------------------------------------------------------------------- payments

    def _payments(self, awards: dict[str, t.Award], confirmed: list[int]) -> None:
        """A paid batch (one payment failed), a batch waiting for the bank, and payable awards left over."""
        finance = self.actors["finance"]
        review.release_due(self.session, self.today)
        cash = set(self.session.scalars(
            select(t.Award.id).where(t.Award.id.in_(confirmed), t.Award.status == "payable")
        ))
        ready = [award_id for award_id in confirmed if award_id in cash]
        first = [awards["paid"].id, awards["failed"].id, awards["jumin_paid"].id, *ready[: len(ready) // 2]]
        batch = payments.make_batch(self.session, finance, award_ids=first, today=self.today)
        batched = select(t.Payment).where(t.Payment.batch_id == batch.id).order_by(t.Payment.id)
        for payment in self.session.scalars(batched):
            if payment.award_id == awards["failed"].id:
                payments.mark(self.session, finance, payment.id, False, "户名与开户行登记信息不符")
            else:
                payments.mark(self.session, finance, payment.id, True)
        second = [awards["in_batch"].id, *ready[len(ready) // 2: len(ready) * 3 // 4]]
        payments.make_batch(self.session, finance, award_ids=second, today=self.today)

    # ----------------------------------------------------------------------- targets

    def _targets(self) -> None:
        """Two indicators and two tasks of each department assigned; progress reported on some."""
        admin = self.actors["admin"]
        items = list(targets.items(self.pack).values())
        for department, reviewer in sorted(self.reviewers.items()):
            indicators = [item for item in items if item.kind == "indicator" and item.department == department][:2]
            tasks = [item for item in items if item.kind == "task" and item.department == department][:2]
            for number, item in enumerate(indicators):
                indicator = item.indicator
                if targets.is_additive(indicator):
                    owners = (("吴兴区", Decimal("0.3"), Fraction(9, 10)), ("南浔区", Decimal("0.2"), Fraction(1, 2)))
                else:
                    owners = (("", Decimal("1"), Fraction(11, 10) if number == 0 else Fraction(4, 5)),)
                for place, share, reached in owners:
                    row = targets.assign(self.session, self.pack, item.id, department, place, share, admin)
                    self.session.flush()
                    if place == "南浔区" and number == 1:
                        continue  # not reported yet
                    goal = targets.goal_of(indicator, Fraction(share))
                    self._report(row.id, goal.low * reached, reviewer, "截至三季度累计")
            for number, item in enumerate(tasks):
                row = targets.assign(self.session, self.pack, item.id, department, "", Decimal("1"), admin)
                self.session.flush()
                if number == 0:
                    self._report(row.id, Fraction(1), reviewer, "已制定实施细则,正在组织申报")

    def _report(self, assignment_id: int, value: Fraction, reviewer: Actor, note: str) -> None:
        amount = (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.01"))
        targets.report_progress(self.session, assignment_id, f"{amount}", PROGRESS_PERIOD, PROGRESS_AS_OF, reviewer,
                                note=note)
        self.reports += 1

    # ----------------------------------------------------------------------- summary

    def summary(self) -> DemoSummary:
        session = self.session
        applications = Counter(dict(session.execute(
            select(t.Application.status, func.count()).group_by(t.Application.status)).all()))
        awards = Counter(dict(session.execute(select(t.Award.status, func.count()).group_by(t.Award.status)).all()))
        proposed = Counter(dict(session.execute(
            select(t.Proposal.status, func.count()).group_by(t.Proposal.status)).all()))
        return DemoSummary(True, "已载入演示数据", self.users, self.subjects, applications, awards, proposed, self.reports)


def _department_order(department: str) -> tuple[int, str]:
    names = list(REVIEWER_NAMES)
    return (names.index(department) if department in names else len(names), department)


# --------------------------------------------------------------------------- the start-up table


def _width(text: str) -> int:
    """Columns `text` takes in a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(character) in ("W", "F") else 1 for character in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def accounts_text(summary: DemoSummary, url: str | None = None) -> str:
    """The demo users as a plain-text table for the terminal, under the note that they are public."""
    header = ("用户名", "密码", "角色", "部门/主体", "页面")
    rows = [header] + [(user.username, user.password, ROLE_NAMES[user.role], user.where or "—", user.pages)
                       for user in summary.users]
    widths = [max(_width(row[column]) for row in rows) for column in range(len(header))]
    lines = [f"已载入演示数据:{DEMO_NOTE}"]
    if url:
        lines.append(f"打开 {url}/login 登录")
    for row in rows:
        lines.append("  " + "  ".join(_pad(cell, width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)
