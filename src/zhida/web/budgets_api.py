"""The ledger API: budgets, allocations and the budget report.

    GET /api/v1/budgets   the budget report (ledger/budgets.py `budget_report`) as JSON, every amount
                          an exact decimal string; leadership, admin, finance and reviewers (all rows:
                          budget execution is not secret inside the government); applicants 403
    PUT /api/v1/budgets   {area, rule_id?, county?, yuan}: set an area's budget (admin) or an
                          allocation within it (admin, or the area's lead department); one
                          transaction per Idempotency-Key
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from zhida.ledger.access import Actor, Role, require
from zhida.ledger.budgets import budget_report, report_json, set_budget, warnings
from zhida.ledger.database import transaction
from zhida.web.access import current_actor, ledger_state, money, once

router = APIRouter(prefix="/api/v1")
READERS = (Role.LEADERSHIP, Role.ADMIN, Role.FINANCE, Role.REVIEWER)


class BudgetChange(BaseModel):
    """An area's budget (rule_id and county empty) or an allocation within the area."""

    model_config = ConfigDict(extra="forbid")
    area: int = Field(description="领域编号 1…8(一…八)")
    rule_id: str | None = Field(default=None, max_length=64, description="按规则分配时:规则 id")
    county: str | None = Field(default=None, max_length=20, description="按区县分配时:区县名称(如 吴兴区)")
    yuan: str = Field(description="金额(元),十进制字符串,最多两位小数", examples=["1725000000", "50000000.50"])


@router.get("/budgets", tags=["账本:预算"], summary="预算执行报表:按领域、部门、区县、规则")
def read_budgets(request: Request, actor: Annotated[Actor, Depends(current_actor)]) -> JSONResponse:
    require(actor, *READERS)
    state = ledger_state(request)
    with transaction(state.factory) as session:
        report = budget_report(session, state.pack)
    return JSONResponse(report_json(report))


@router.put("/budgets", tags=["账本:预算"], summary="设定领域预算,或领域内按规则、按区县的分配")
def put_budget(request: Request, change: BudgetChange, actor: Annotated[Actor, Depends(current_actor)]) -> JSONResponse:
    state = ledger_state(request)
    yuan = money(change.yuan, "yuan")

    def work(session) -> tuple[int, dict]:
        row = set_budget(session, state.pack, change.area, yuan, actor, rule_id=change.rule_id, county=change.county)
        due = [w for w in warnings(session, state.pack) if w.area == row.area]
        return 200, {
            "area": row.area, "rule_id": row.rule_id or None, "county": row.county or None,
            "yuan": f"{row.yuan:f}", "source": row.source, "set_by": actor.username,
            "warnings": [w.message for w in due],
        }

    return once(request, actor, change, work)
