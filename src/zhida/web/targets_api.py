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

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from zhida.ledger import targets
from zhida.ledger.access import Actor, Role, require
from zhida.ledger.database import reading
from zhida.web.access import current_actor, ledger_state, once

class Problem(BaseModel):
    detail: str


# Every refusal is {"detail": one Chinese sentence} (web/access.py); documented so clients expect it.
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": description}
    for status, description in (
        (400, "请求无法解析"), (401, "未登录或令牌无效"), (403, "无此权限(申报主体、领导只读、非本部门)"), (404, "没有此目标任务或责任分解"),
        (409, "重复分解,或份额合计超过 1"), (422, "输入有误(指明字段)"), (428, "缺少 Idempotency-Key"),
        (413, "请求体过大"), (503, "未配置账本数据库"),
    )
}
router = APIRouter(prefix="/api/v1", tags=["目标任务责任分解"], responses=ERRORS)
ItemPath = Annotated[str, Path(max_length=20, description="indicator-N 或 task-N")]
READERS = (Role.REVIEWER, Role.FINANCE, Role.LEADERSHIP, Role.ADMIN)


class AssignmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    department: StrictStr = Field(max_length=50, description="部门(简体或繁体),如 市交通运输局")
    county: StrictStr = Field(default="", max_length=20, description="区县;空为市级")
    share: StrictStr = Field(max_length=30, description="份额,十进制字符串,0 < share <= 1,如 \"0.6\"")


class ProgressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: StrictStr = Field(max_length=30, description="截至 as_of 的累计值(比率为当时水平),十进制字符串,不用指数写法")
    period: StrictStr = Field(max_length=20, description="报告期:2025、2025-06 或 2025-Q2")
    as_of: StrictStr = Field(max_length=10, description="截至日期,如 2025-06-30")
    note: StrictStr = Field(default="", max_length=targets.MAX_TEXT)
    evidence: StrictStr = Field(default="", max_length=targets.MAX_TEXT)


@router.get("/targets")
def list_targets(
    request: Request,
    actor: Annotated[Actor, Depends(current_actor)],
    department: str | None = None,
    county: str | None = None,
    area: int | None = None,
) -> JSONResponse:
    """每个目标与任务:目标值、单位、方向、责任分解、最新进度与状态(county=市级 只看市级承担的部分)"""
    require(actor, *READERS)
    state = ledger_state(request)
    with reading(state.factory) as session:
        result = targets.board(session, state.pack, department=department, county=county, area=area)
    return JSONResponse(targets.as_json(result))


@router.post("/targets/{item}/assignments", status_code=201)
def add_assignment(
    item: ItemPath, body: AssignmentIn, request: Request, actor: Annotated[Actor, Depends(current_actor)]
) -> JSONResponse:
    """把目标或任务分解给部门(及区县),附份额"""
    require(actor, Role.ADMIN, Role.REVIEWER)
    state = ledger_state(request)

    def work(session):
        row = targets.assign(session, state.pack, item, body.department, body.county, body.share, actor)
        return 201, targets.assignment_json(row)

    return once(request, actor, body, work)


@router.post("/assignments/{assignment_id}/progress", status_code=201)
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


@router.get("/assignments/{assignment_id}/progress")
def progress_history(
    assignment_id: int, request: Request, actor: Annotated[Actor, Depends(current_actor)]
) -> JSONResponse:
    """责任分解的全部进度报送,按报送先后"""
    require(actor, *READERS)
    state = ledger_state(request)
    with reading(state.factory) as session:
        reports = targets.history(session, assignment_id)
        payload = [targets.report_json(report) for report in reports]
    return JSONResponse(payload)
