"""The ledger seen from HTTP: who is asking, and answering each state-changing request once.

    LedgerState            what the ledger routes need, kept on app.state.ledger (nothing global)
    current_actor          the FastAPI dependency: bearer token, or session cookie (+ CSRF on writes)
    once                   runs a change in one transaction, keyed by its Idempotency-Key
    money                  a decimal string of the API read into Decimal, or a 422 naming the field

Every ledger route is a plain `def`: FastAPI runs it in a worker thread, so a request waiting for
a database lock never holds up the event loop.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from zhida.engine.money_text import MoneyError, read_money
from zhida.web.schema import ERROR_SCHEMA
from zhida.ledger import tables as t
from zhida.ledger.access import Actor, Refused, Role
from zhida.ledger.accounts import signed_in
from zhida.ledger.database import reading, transaction
from zhida.rules.pack import Pack

SESSION_COOKIE = "zhida_session"
CSRF_HEADER = "X-CSRF-Token"
IDEMPOTENCY_HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class LedgerState:
    factory: sessionmaker[Session]
    pack: Pack
    files: Path  # where attachments are stored, by their SHA-256


def ledger_state(request: Request) -> LedgerState:
    state = request.app.state.ledger
    if state is None:
        raise Refused(503, "此服务未配置账本数据库(以 zhida serve 启动,或设置 DATABASE_URL)")
    return state


def current_actor(request: Request) -> Actor:
    """The signed-in user, from `Authorization: Bearer …` or the session cookie.

    A cookie rides along with any request the browser makes, so a write that relies on it must also
    carry the session's CSRF token (header X-CSRF-Token); a bearer token cannot be forged that way."""
    actor = _signed_in_actor(request)
    # Leadership reads everything and changes nothing: refused here, before any route's own checks.
    if actor.role is Role.LEADERSHIP and request.method not in SAFE_METHODS and request.url.path not in NO_IDEMPOTENCY_PATHS:
        raise Refused(403, f"领导角色只能查看,不能变更;{actor.username} 的此项请求未执行")
    return actor


def _signed_in_actor(request: Request) -> Actor:
    state = ledger_state(request)
    header = request.headers.get("authorization", "")
    with reading(state.factory) as session:
        if header:
            scheme, _, token = header.partition(" ")
            found = signed_in(session, token.strip(), "token") if scheme.lower() == "bearer" else None
            if found is None:
                raise Refused(401, "令牌无效或已撤销")
            return found[0]
        cookie = request.cookies.get(SESSION_COOKIE)
        found = signed_in(session, cookie, "session") if cookie else None
        if found is None:
            raise Refused(401, "请先登录")
        actor, credential = found
        if request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != credential.csrf:
            raise Refused(403, f"缺少或错误的 {CSRF_HEADER}:表单须带本次登录的 CSRF 令牌")
        return actor


def once(
    request: Request,
    actor: Actor,
    body: BaseModel | dict | None,
    work: Callable[[Session], tuple[int, Any]],
) -> JSONResponse:
    """Run `work` in one transaction, once per Idempotency-Key of this user.

    The same key with the same request answers what the first answered and changes nothing; the
    same key with a different request is refused. A refusal (Refused) rolls the work back and is
    not kept, so a retry after the cause is fixed may succeed."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        raise Refused(428, f"状态变更请求须带 {IDEMPOTENCY_HEADER} 头(同一请求重试时用同一值)")
    return run_once(ledger_state(request), actor, key, _fingerprint(request, body), work)


def run_once(
    state: LedgerState,
    actor: Actor,
    key: str,
    fingerprint: str,
    work: Callable[[Session], tuple[int, Any]],
) -> JSONResponse:
    """`once` for a key that came from anywhere: a header of the API, or a hidden field of a page's form."""
    if not KEY_PATTERN.fullmatch(key):
        raise Refused(422, f"{IDEMPOTENCY_HEADER} 须为 1 至 100 个字母、数字或 . _ : -")
    try:
        with transaction(state.factory) as session:
            earlier = _earlier(session, actor, key, fingerprint)
            if earlier is not None:
                return earlier
            status, payload = work(session)
            session.add(t.IdempotentRequest(user_id=actor.user_id, key=key, request_hash=fingerprint,
                                            status_code=status, response=payload))
    except (IntegrityError, Refused) as error:
        # The same key may have raced in from a second connection and committed first (this one then
        # fails on the unique key, or is refused because the first already changed the state it
        # needed): answer as the first did. Otherwise the refusal stands.
        with transaction(state.factory) as session:
            earlier = _earlier(session, actor, key, fingerprint)
        if earlier is not None:
            return earlier
        if isinstance(error, IntegrityError):
            # Another request committed the same row first (a subject registered twice at once …).
            raise Refused(409, "与同时进行的另一项变更冲突,本请求未写入任何内容;请查看当前状态后重试") from None
        raise
    return JSONResponse(payload, status_code=status)


def _earlier(session: Session, actor: Actor, key: str, fingerprint: str) -> JSONResponse | None:
    stored = session.scalar(
        select(t.IdempotentRequest).where(t.IdempotentRequest.user_id == actor.user_id, t.IdempotentRequest.key == key)
    )
    if stored is None:
        return None
    if stored.request_hash != fingerprint:
        raise Refused(422, f"{IDEMPOTENCY_HEADER} {key} 已用于另一个请求;新的请求须用新的值")
    return JSONResponse(stored.response, status_code=stored.status_code, headers={"Idempotent-Replayed": "true"})


def _fingerprint(request: Request, body: BaseModel | dict | None) -> str:
    data = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    return fingerprint_of([request.method, request.url.path, str(request.url.query), data])


def fingerprint_of(data: Any) -> str:
    """What a request asked for, as one digest: the same key must come back with the same request."""
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def money(text: str, field: str) -> Decimal:
    """An amount of the API as a case's money field reads it (300000, 300,000.50, 30万, 0.3亿) in 元
    with two decimals, or a 422 naming the field (zhida.engine.money_text)."""
    try:
        return read_money(text, field)
    except MoneyError as error:
        raise Refused(422, str(error)) from None


_ERROR = {"application/json": {"schema": ERROR_SCHEMA}}
# What any ledger route may answer besides its success (each with {"detail": one Chinese sentence}).
LEDGER_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "请求体无法解析(不是 JSON 或表单)", "content": _ERROR},
    401: {"description": "未登录,或令牌无效", "content": _ERROR},
    403: {"description": "此角色或部门无权进行此操作(含 CSRF 令牌缺失)", "content": _ERROR},
    404: {"description": "没有此编号,或无权查看", "content": _ERROR},
    409: {"description": "状态不允许,或超过上限、预算", "content": _ERROR},
    413: {"description": "请求体或附件过大", "content": _ERROR},
    422: {"description": "输入有误:一句话指出字段", "content": _ERROR},
    428: {"description": "状态变更请求缺少 Idempotency-Key 头", "content": _ERROR},
    429: {"description": "登录失败次数过多,稍后再试", "content": _ERROR},
    503: {"description": "服务未配置账本数据库", "content": _ERROR},
}
WRITE_METHODS = ("post", "put", "patch", "delete")


def document_idempotency(schema: dict[str, Any], paths: set[str]) -> None:
    """Add the Idempotency-Key header to every write of the ledger's `paths` in an OpenAPI schema.

    The header is read by `once`, not declared on each route, so it is written into the schema here."""
    header = {
        "name": IDEMPOTENCY_HEADER,
        "in": "header",
        "required": True,
        "schema": {"type": "string", "pattern": KEY_PATTERN.pattern, "minLength": 1, "maxLength": 100},
        "description": "同一请求重试时用同一值:第二次起返回第一次的结果,不重复执行",
    }
    for path, operations in schema.get("paths", {}).items():
        if path not in paths:
            continue
        for method, operation in operations.items():
            if method in WRITE_METHODS and path not in NO_IDEMPOTENCY_PATHS:
                operation.setdefault("parameters", []).append(dict(header))


# Sign-in and sign-out create or end a session, and a new token's answer holds its secret (which must
# not be kept for a replay): credentials, not ledger state, so no Idempotency-Key; a user may do
# these for itself whatever its role.
NO_IDEMPOTENCY_PATHS = {"/api/v1/login", "/api/v1/logout", "/api/v1/tokens"}


def refused_response(request: Request, error: Refused) -> JSONResponse:
    """The exception handler for Refused: its status and its sentence, as every API error is shaped."""
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else {}
    retry_after = getattr(error, "retry_after", None)  # accounts.Throttled: when to sign in again
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse({"detail": error.message}, status_code=error.status, headers=headers)
