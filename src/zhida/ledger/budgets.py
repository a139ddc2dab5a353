"""Budgets: each area's amount as the document states it, and allocations within it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhida.ledger import audit
from zhida.ledger import tables as t
from zhida.rules.pack import Pack
from zhida.source.script import to_simplified


def seed_budgets(session: Session, pack: Pack) -> list[t.Budget]:
    """Each area's budget (一、…全市财政预算安排X亿元) as a row, where none is set yet."""
    added = []
    for area in pack.document.areas:
        if area.budget is None:
            continue
        exists = session.scalar(
            select(t.Budget.id).where(t.Budget.area == area.number, t.Budget.rule_id == "", t.Budget.county == "")
        )
        if exists is None:
            budget = t.Budget(area=area.number, yuan=area.budget, source=f"文件第{area.number}部分:{to_simplified(area.title)}")
            session.add(budget)
            audit.record(session, "zhida", "budget.seed", budget)
            added.append(budget)
    return added
