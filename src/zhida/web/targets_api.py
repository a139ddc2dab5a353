"""The ledger API: targets and tasks by owner (责任分解), progress reports.

    GET  /api/v1/targets                          every item with its goal, owners, latest progress
                                                  and status (?department=&county=&area=)
    POST /api/v1/targets/{item}/assignments       give an item to a department (and a county)
    POST /api/v1/assignments/{id}/progress        report progress (kept beside earlier reports)
    GET  /api/v1/assignments/{id}/progress        the reports of an assignment, oldest first

Reviewers, finance, leadership and admin read; writes are admin's or the department's own reviewers'
(ledger/targets.py decides); applicants get 403 on all of it. Every write takes an Idempotency-Key.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from zhida.ledger import targets
from zhida.ledger.access import Actor, Role, require
from zhida.ledger.database import transaction
from zhida.web.access import current_actor, ledger_state, once

router = APIRouter(prefix="/api/v1")
READERS = (Role.REVIEWER, Role.FINANCE, Role.LEADERSHIP, Role.ADMIN)


class AssignmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    department: str = Field(max_length=50, description="部门(简体或繁体),如 市交通运输局")
    county: str = Field(default="", max_length=20, description="区县;空为市级")
    share: str = Field(max_length=30, description="份额,十进制字符串,0 < share <= 1,如 \"0.6\"")


class ProgressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str = Field(max_length=30, description="截至 as_of 的累计值(比率为当时水平),十进制字符串,不用指数写法")
    period: str = Field(max_length=20, description="报告期:2025、2025-06 或 2025-Q2")
    as_of: str = Field(max_length=10, description="截至日期,如 2025-06-30")
    note: str = Field(default="", max_length=targets.MAX_TEXT)
    evidence: str = Field(default="", max_length=targets.MAX_TEXT)


@router.get("/targets", tags=["targets"])
def list_targets(
    request: Request,
    actor: Annotated[Actor, Depends(current_actor)],
    department: str | None = None,
    county: str | None = None,
    area: int | None = None,
) -> JSONResponse:
    """每个目标与任务:目标值、单位、方向、责任分解、最新进度与状态"""
    require(actor, *READERS)
    state = ledger_state(request)
    with transaction(state.factory) as session:
        result = targets.board(session, state.pack, department=department, county=county, area=area)
    return JSONResponse(targets.as_json(result))


@router.post("/targets/{item}/assignments", tags=["targets"], status_code=201)
def add_assignment(
    item: str, body: AssignmentIn, request: Request, actor: Annotated[Actor, Depends(current_actor)]
) -> JSONResponse:
    """把目标或任务分解给部门(及区县),附份额"""
    require(actor, Role.ADMIN, Role.REVIEWER)
    state = ledger_state(request)

    def work(session):
        row = targets.assign(session, state.pack, item, body.department, body.county, body.share, actor)
        return 201, targets.assignment_json(row)

    return once(request, actor, body, work)


@router.post("/assignments/{assignment_id}/progress", tags=["targets"], status_code=201)
def add_progress(
    assignment_id: int, body: ProgressIn, request: Request, actor: Annotated[Actor, Depends(current_actor)]
) -> JSONResponse:
    """报送责任分解的进度(不覆盖以前的报送)"""
    require(actor, Role.ADMIN, Role.REVIEWER)

    def work(session):
        report = targets.report_progress(session, assignment_id, body.value, body.period, body.as_of, actor,
                                         note=body.note, evidence=body.evidence)
        return 201, targets.report_json(report)

    return once(request, actor, body, work)


@router.get("/assignments/{assignment_id}/progress", tags=["targets"])
def progress_history(
    assignment_id: int, request: Request, actor: Annotated[Actor, Depends(current_actor)]
) -> JSONResponse:
    """责任分解的全部进度报送,按报送先后"""
    require(actor, *READERS)
    state = ledger_state(request)
    with transaction(state.factory) as session:
        reports = targets.history(session, assignment_id)
        payload = [targets.report_json(report) for report in reports]
    return JSONResponse(payload)
