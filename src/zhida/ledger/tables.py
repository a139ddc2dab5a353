"""The ledger's tables: SQLAlchemy 2 models, one per thing the document's mechanism records.

Money is `Money`: NUMERIC(18,2) on PostgreSQL, integer 分 on SQLite (which has no exact decimal
type: its NUMERIC is a float). Either way Python sees a Decimal with two places, and SUM in SQL
stays exact. Times are naive UTC. Identifiers of subjects are their codes (统一社会信用代码 or
居民身份证号码), checked before they reach a table (ledger/identity.py).

States, in the order an award moves through them:
  application: submitted → approved | rejected | returned (→ submitted again) | withdrawn
  award:       publicity → payable → in_batch → paid
                   ↓ objection          ↓ failed → in_batch (retry)
                 held → publicity again | cancelled
  proposal (免申即享): proposed → confirmed (an award) | dismissed
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

CENT = Decimal("0.01")
# An award's statuses by what they count for (the state machine above): a cash award in any of
# COMMITTED counts against its budgets; every LIVE award, cash or not (granted), uses up its caps.
COMMITTED_STATUSES = ("publicity", "held", "payable", "in_batch", "paid", "failed")
PAID_STATUSES = ("paid",)
LIVE_STATUSES = (*COMMITTED_STATUSES, "granted")
# A column whose value follows from other rows (a running total): left out of the audited state.
DERIVED = {"derived": True}


class Money(TypeDecorator):
    """Exact money: NUMERIC(18,2) where the database has it, integer 分 on SQLite."""

    impl = Numeric(18, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, 2, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, (Decimal, int)):
            raise TypeError(f"money must be Decimal or int, not {type(value).__name__}")
        amount = Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
        if dialect.name == "sqlite":
            return int(amount * 100)
        return amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / 100).quantize(CENT)
        return Decimal(value).quantize(CENT)


class Quantity(TypeDecorator):
    """An exact decimal that is not money (a share of a target, a reported value): NUMERIC(24,6)
    where the database has it, text on SQLite."""

    impl = Numeric(24, 6)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(24, 6, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, (Decimal, int)):
            raise TypeError(f"a quantity must be Decimal or int, not {type(value).__name__}")
        exact = Decimal(value)
        return f"{exact:f}" if dialect.name == "sqlite" else exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class Base(DeclarativeBase):
    pass


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# --------------------------------------------------------------------------- people and access


class User(Base):
    """Someone who signs in: an applicant (for one subject), a reviewer (for one department),
    finance, leadership or admin."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))  # applicant, reviewer, finance, leadership, admin
    department: Mapped[str | None] = mapped_column(String(50))  # reviewers: Simplified, e.g. 市科技局
    subject_id: Mapped[str | None] = mapped_column(ForeignKey("subjects.id"))  # applicants
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    disabled: Mapped[bool] = mapped_column(default=False)


class Credential(Base):
    """A web session (cookie, with its CSRF token) or a bearer token; only the hash is kept."""

    __tablename__ = "credentials"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # session | token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(100), default="")
    csrf: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class LoginAttempt(Base):
    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    succeeded: Mapped[bool] = mapped_column()


class IdempotentRequest(Base):
    """A state-changing request already answered: a retry with the same key gets the same answer."""

    __tablename__ = "idempotent_requests"
    __table_args__ = (UniqueConstraint("user_id", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(100))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[Any] = mapped_column(JSON)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Department(Base):
    """A lead department's own settings (its name is the Simplified form of the document's)."""

    __tablename__ = "departments"
    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    publicity_days: Mapped[int] = mapped_column(Integer, default=5)  # 兑前公示, working days


# --------------------------------------------------------------------------- subjects and profiles


class Subject(Base):
    """An enterprise, incubator, institution, bank (统一社会信用代码) or a person (居民身份证号码)."""

    __tablename__ = "subjects"
    id: Mapped[str] = mapped_column(String(18), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))  # a subject kind of the pack
    name: Mapped[str] = mapped_column(String(200))
    county: Mapped[str | None] = mapped_column(String(20))  # Simplified, one of identity.COUNTIES
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ProfileFact(Base):
    """One thing the rules read about a subject (a field of an event type), with its source and date.

    Facts are never overwritten: the profile is the latest fact per field."""

    __tablename__ = "profile_facts"
    __table_args__ = (Index("ix_profile_subject_field", "subject_id", "field"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    field: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(200))  # as a case writes it: "300000.00", "true", "2025-03-01"
    source: Mapped[str] = mapped_column(String(20))  # declared | imported | confirmed
    as_of: Mapped[dt.date] = mapped_column(Date)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


# --------------------------------------------------------------------------- applications and awards


class Application(Base):
    """A subject's claim of one rule for one event; the calculator's ceiling and trace kept with it."""

    __tablename__ = "applications"
    # A department's queue by status, newest first: the reviewer's pending list and its count (0005);
    # by rule, newest first: the console's queue filtered by rule (0007).
    __table_args__ = (Index("ix_applications_department_status_id", "department", "status", "id"),
                      Index("ix_applications_department_rule_id", "department", "rule_id", "id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    article: Mapped[int] = mapped_column(Integer)
    area: Mapped[int] = mapped_column(Integer)
    department: Mapped[str] = mapped_column(String(50), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    event_date: Mapped[dt.date] = mapped_column(Date)
    event_values: Mapped[Any] = mapped_column(JSON)  # field -> text, as a case writes it
    status: Mapped[str] = mapped_column(String(20), default="submitted")
    verdict: Mapped[str | None] = mapped_column(String(20))  # what the ceiling means (Kind)
    ceiling: Mapped[Decimal | None] = mapped_column(Money)  # at submission (or last recomputation)
    trace: Mapped[Any] = mapped_column(JSON)
    clause: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)  # of a rejection or a return
    submitted_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Attachment(Base):
    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Proposal(Base):
    """免申即享: an entitlement found by `zhida match`, waiting for the department to confirm it."""

    __tablename__ = "proposals"
    __table_args__ = (UniqueConstraint("rule_id", "event_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(50), index=True)
    event_id: Mapped[str] = mapped_column(String(100))
    event_date: Mapped[dt.date] = mapped_column(Date)
    verdict: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal | None] = mapped_column(Money)
    carrier: Mapped[str | None] = mapped_column(String(100))  # whose per-carrier cap the batch counted it under
    status: Mapped[str] = mapped_column(String(20), default="proposed")
    reason: Mapped[str | None] = mapped_column(Text)  # why it was dismissed
    source: Mapped[str] = mapped_column(String(300))  # the file it came from
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Award(Base):
    """A decided amount: from an approved application or a confirmed proposal.

    `year` and `carrier` are what the annual caps count by; `area` and `county` what budgets do."""

    __tablename__ = "awards"
    __table_args__ = (
        Index("ix_awards_subject_year", "subject_id", "year"),
        # Lists by status, newest or oldest first: the 公示 list, release_due, finance's failures (0005).
        Index("ix_awards_status_id", "status", "id"),
        # The largest awards first (the dashboard): walked backwards, not sorted (0006).
        Index("ix_awards_amount", "amount"),
        # Finance's count and sum per stage (and department) read from the index alone (0008).
        Index("ix_awards_cash_status_department_amount", "cash", "status", "department", "amount"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"), unique=True)
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("proposals.id"), unique=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    rule_id: Mapped[str] = mapped_column(String(64), index=True)
    article: Mapped[int] = mapped_column(Integer)
    area: Mapped[int] = mapped_column(Integer, index=True)
    department: Mapped[str] = mapped_column(String(50))
    county: Mapped[str | None] = mapped_column(String(20))
    year: Mapped[int] = mapped_column(Integer)
    carrier: Mapped[str | None] = mapped_column(String(100))
    verdict: Mapped[str] = mapped_column(String(20))
    cash: Mapped[bool] = mapped_column()  # paid by finance and counted in budgets (not a tax saving)
    amount: Mapped[Decimal | None] = mapped_column(Money)
    ceiling: Mapped[Decimal | None] = mapped_column(Money)
    clause: Mapped[str] = mapped_column(Text)
    trace: Mapped[Any] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="publicity")
    publicity_until: Mapped[dt.date | None] = mapped_column(Date)
    decided_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Objection(Base):
    __tablename__ = "objections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    award_id: Mapped[int] = mapped_column(ForeignKey("awards.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    resolution: Mapped[str | None] = mapped_column(String(20))  # upheld (award cancelled) | dismissed
    note: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class PaymentBatch(Base):
    __tablename__ = "payment_batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Payment(Base):
    """One transfer of one award. An award has at most one payment pending or paid at a time (a
    partial unique index), so a retry after a failure can never pay twice."""

    __tablename__ = "payments"
    __table_args__ = (
        Index(
            "ux_payments_award_live",
            "award_id",
            unique=True,
            sqlite_where=text("status IN ('pending', 'paid')"),
            postgresql_where=text("status IN ('pending', 'paid')"),
        ),
        Index("ix_payments_award_id", "award_id"),  # an award's latest failed payment (0008)
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("payment_batches.id"), index=True)
    award_id: Mapped[int] = mapped_column(ForeignKey("awards.id"))
    amount: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | paid | failed
    bank_reason: Mapped[str | None] = mapped_column(Text)
    marked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    marked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


# --------------------------------------------------------------------------- budgets


class Budget(Base):
    """An amount set aside: an area's (rule and county empty), or an allocation within it to one
    rule or one county (市、区两级). Empty strings, not NULL, so that the key is unique."""

    __tablename__ = "budgets"
    __table_args__ = (UniqueConstraint("area", "rule_id", "county"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    area: Mapped[int] = mapped_column(Integer)
    rule_id: Mapped[str] = mapped_column(String(64), default="")
    county: Mapped[str] = mapped_column(String(20), default="")
    yuan: Mapped[Decimal] = mapped_column(Money)
    source: Mapped[str] = mapped_column(String(200))  # the clause, or who set it
    set_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    set_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # Running totals of the cash awards counted against this row (budgets.move keeps them, in the
    # transaction of each award's change; budgets.totals recounts them). Derived, so not audited:
    # the chain records decisions, and `zhida audit verify` checks these against the recount.
    committed: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default=text("0"), info=DERIVED)
    paid: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default=text("0"), info=DERIVED)


class AwardSum(Base):
    """What the awards of one (area, department, county, rule) add up to: committed and paid cash,
    and live tax savings. The budget report and the dashboard read these few hundred rows instead
    of grouping every award (seconds at 1M awards). budgets.move keeps them in the transaction of
    each award's change; `zhida audit verify` checks them against a full recount. Derived, so not
    audited. County '' stands for none, so that the key is unique."""

    __tablename__ = "award_sums"
    __table_args__ = (UniqueConstraint("area", "department", "county", "rule_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    area: Mapped[int] = mapped_column(Integer)
    department: Mapped[str] = mapped_column(String(50))
    county: Mapped[str] = mapped_column(String(20), default="")
    rule_id: Mapped[str] = mapped_column(String(64))
    committed: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default=text("0"))
    paid: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default=text("0"))
    tax: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default=text("0"))


# --------------------------------------------------------------------------- targets and tasks


class Assignment(Base):
    """An indicator or a task of the pack given to a department (and a county), with its share."""

    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("item", "department", "county"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item: Mapped[str] = mapped_column(String(20))  # indicator-N or task-N (1-based, document order)
    department: Mapped[str] = mapped_column(String(50))
    county: Mapped[str] = mapped_column(String(20), default="")  # empty: city level
    share: Mapped[Decimal] = mapped_column(Quantity)  # of the target, 0 < share <= 1
    assigned_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ProgressReport(Base):
    __tablename__ = "progress_reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), index=True)
    value: Mapped[Decimal] = mapped_column(Quantity)
    period: Mapped[str] = mapped_column(String(20))  # 2025-06, 2025-Q2, 2025
    as_of: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[str] = mapped_column(Text, default="")
    reported_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reported_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


# --------------------------------------------------------------------------- audit


class AuditEntry(Base):
    """One state change, chained: hash = sha256(previous hash + this entry's canonical content)."""

    __tablename__ = "audit_log"
    # An application's history (review.application_changes): its entries in order, without reading the chain.
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id", "seq"),)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(30))
    entity_id: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(Text)  # canonical JSON of the entity's row after the change
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's last link, one row: locked to append (so entries line up under concurrency), and
    compared at verification (so a deleted tail is seen)."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
