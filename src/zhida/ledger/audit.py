"""The audit chain: every state change appends one entry whose hash covers the one before it.

An entry records who did what to which row and the row's whole state after the change, as
canonical JSON. `verify` walks the chain (an edited entry no longer hashes to itself; an inserted
or deleted one breaks the link or the numbering; a deleted tail no longer reaches the head) and
then compares every audited table with the last state the chain recorded for each row (a row
edited, inserted or deleted in the database directly, past zhida, is named).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, inspect, select
from sqlalchemy.orm import Session

from zhida.ledger import tables as t

GENESIS = "0" * 64
# The tables whose rows the chain vouches for, by the name an entry gives them.
AUDITED: dict[str, type[t.Base]] = {
    "user": t.User,
    "department": t.Department,
    "subject": t.Subject,
    "profile_fact": t.ProfileFact,
    "application": t.Application,
    "attachment": t.Attachment,
    "proposal": t.Proposal,
    "award": t.Award,
    "objection": t.Objection,
    "payment_batch": t.PaymentBatch,
    "payment": t.Payment,
    "budget": t.Budget,
    "assignment": t.Assignment,
    "progress_report": t.ProgressReport,
}
ENTITY_NAMES = {model: name for name, model in AUDITED.items()}


@dataclass(frozen=True)
class Problem:
    """One place where the database no longer matches its chain, said in Simplified Chinese."""

    where: str  # audit_log seq N, or table:id
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def record(session: Session, actor: str, action: str, row: t.Base, now: dt.datetime | None = None) -> t.AuditEntry:
    """Append an entry for `row` as it stands now (call after the change, in the same transaction)."""
    session.flush()  # the row's id and defaults, as they will be committed
    head = session.scalars(select(t.AuditHead).where(t.AuditHead.id == 1).with_for_update()).one()
    entity = ENTITY_NAMES[type(row)]
    entry = t.AuditEntry(
        seq=head.seq + 1,
        at=now or t.utcnow(),
        actor=actor,
        action=action,
        entity=entity,
        entity_id=_key(row),
        state=state_of(row),
        prev_hash=head.hash,
    )
    entry.hash = _hash(entry)
    head.seq, head.hash = entry.seq, entry.hash
    session.add(entry)
    return entry


def record_many(session: Session, actor: str, changes: list[tuple[str, t.Base]], chunk: int = 5000) -> None:
    """`record` for each (action, row) in order: the same entries, under one lock of the chain's head and
    with multi-row INSERTs, so that a bulk change of 10^5 rows takes seconds (record flushes and re-reads
    the head per entry, ~5 ms each)."""
    session.flush()  # ids and defaults, as they will be committed
    if not changes:
        return
    head = session.scalars(select(t.AuditHead).where(t.AuditHead.id == 1).with_for_update()).one()
    now = t.utcnow()
    seq, previous = head.seq, head.hash
    entries = []
    for action, row in changes:
        seq += 1
        entry = t.AuditEntry(seq=seq, at=now, actor=actor, action=action, entity=ENTITY_NAMES[type(row)],
                             entity_id=_key(row), state=state_of(row), prev_hash=previous)
        entry.hash = previous = _hash(entry)
        entries.append({column: getattr(entry, column) for column in ENTRY_COLUMNS})
    head.seq, head.hash = seq, previous
    for start in range(0, len(entries), chunk):  # plain rows, not ORM objects
        session.execute(insert(t.AuditEntry), entries[start : start + chunk])
    session.flush()


ENTRY_COLUMNS = ("seq", "at", "actor", "action", "entity", "entity_id", "state", "prev_hash", "hash")


def record_deletion(session: Session, actor: str, action: str, row: t.Base) -> t.AuditEntry:
    """Append an entry saying `row` is gone (before it is deleted, in the same transaction)."""
    entry = record(session, actor, action, row)
    entry.state = "null"
    entry.hash = _hash(entry)
    head = session.get(t.AuditHead, 1)
    head.hash = entry.hash
    return entry


def state_of(row: t.Base) -> str:
    """The row's columns as canonical JSON: sorted keys, money and dates as text.

    Derived columns (tables.DERIVED: a budget's running committed and paid) are left out: they
    follow from the awards, whose every change is recorded, and are checked against their recount
    by `zhida audit verify` (budgets.recount), not by the chain."""
    mapper = inspect(type(row))
    values = {column.key: _plain(getattr(row, column.key)) for column in mapper.column_attrs
              if not column.columns[0].info.get("derived")}
    return json.dumps(values, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def verify(session: Session) -> list[Problem]:
    """Every problem found, in chain order then table order; an empty list means intact."""
    problems: list[Problem] = []
    previous_seq, previous_hash = 0, GENESIS
    latest: dict[tuple[str, str], str] = {}
    for entry in session.scalars(select(t.AuditEntry).order_by(t.AuditEntry.seq)):
        where = f"audit_log seq {entry.seq}"
        if entry.seq != previous_seq + 1:
            problems.append(Problem(where, f"序号不连续:上一条为 {previous_seq},其间的记录被删除"))
        if entry.prev_hash != previous_hash:
            problems.append(Problem(where, "与上一条记录的链接断开:此记录被插入,或其前一条被删除或改动"))
        if _hash(entry) != entry.hash:
            problems.append(Problem(where, "记录内容与其哈希不符:此记录被改动"))
        latest[(entry.entity, entry.entity_id)] = entry.state
        previous_seq, previous_hash = entry.seq, entry.hash
    head = session.get(t.AuditHead, 1)
    if head is None or (head.seq, head.hash) != (previous_seq, previous_hash):
        seq = head.seq if head else "?"
        problems.append(Problem("audit_head", f"链尾应为 seq {seq},实际止于 seq {previous_seq}:末尾记录被删除或链头被改动"))
    problems.extend(_rows_against_chain(session, latest))
    return problems


def _rows_against_chain(session: Session, latest: dict[tuple[str, str], str]) -> list[Problem]:
    problems: list[Problem] = []
    for entity, model in AUDITED.items():
        table = model.__tablename__
        seen: set[str] = set()
        for row in session.scalars(select(model)):
            key = _key(row)
            seen.add(key)
            recorded = latest.get((entity, key))
            if recorded is None or recorded == "null":
                problems.append(Problem(f"{table}:{key}", "该行没有审计记录:在 zhida 之外被插入"))
            elif recorded != state_of(row):
                problems.append(Problem(f"{table}:{key}", "该行与审计链记录的最后状态不符:在 zhida 之外被改动"))
        for (name, key), recorded in latest.items():
            if name == entity and key not in seen and recorded != "null":
                problems.append(Problem(f"{table}:{key}", "审计链记录了此行,但数据库中已不存在:在 zhida 之外被删除"))
    return problems


def _hash(entry: t.AuditEntry) -> str:
    content = json.dumps(
        [entry.seq, entry.at.isoformat(), entry.actor, entry.action, entry.entity, entry.entity_id, entry.state],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256((entry.prev_hash + content).encode()).hexdigest()


def _key(row: t.Base) -> str:
    identity = inspect(row).identity
    return "/".join(str(part) for part in identity)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        # 0.5 as set and 0.500000 as read back from NUMERIC(24,6) are one state
        return f"{value.normalize():f}"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value
