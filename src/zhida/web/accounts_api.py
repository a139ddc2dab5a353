"""The ledger API for accounts: sign in and out, who am I, bearer tokens, users (admin).

    POST   /api/v1/login            {username, password} -> session cookie zhida_session + CSRF token
    POST   /api/v1/logout           deletes the credential the request came with (cookie or token)
    GET    /api/v1/me               the signed-in user (and, over a cookie, its CSRF token again)
    POST   /api/v1/tokens           {name, username?} -> a bearer token, shown once
    DELETE /api/v1/tokens/{name}    ?username= (admin, for another user) revokes it
    POST   /api/v1/users            (admin) a new user            GET /api/v1/users  (admin) all users

Every state-changing request takes an Idempotency-Key (web/access.once), with three exceptions,
each because replaying a stored answer would be wrong:
- login and logout change no ledger state, only who is signed in; a retried login makes another
  session (the earlier one expires unused), a retried logout finds nothing left to delete;
- POST /tokens: its answer holds a secret, and a stored answer to replay would keep the secret in
  the database, which holds only token hashes. A retry cannot make two tokens either: a token's
  name is unique for its user, so the retry is refused (409) and names the token.
POST /users goes through `once`; the password enters its fingerprint only as an argon2 digest.

A session cookie rides along with any request the browser makes, so every write over it carries
the CSRF token the login answered (header X-CSRF-Token); a bearer token needs none.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from zhida.ledger import accounts
from zhida.ledger.access import Actor, Refused, Role, require
from zhida.ledger.database import transaction
from zhida.web.access import SESSION_COOKIE, current_actor, ledger_state, once

router = APIRouter(prefix="/api/v1", tags=["账户"])
NO_STORE = {"Cache-Control": "no-store"}  # answers that carry a secret are never cached


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str  # no Field limits: a validation error would echo the password back


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, description="令牌名称,撤销时用;同一用户内唯一")
    username: str | None = Field(None, description="为哪个用户签发(默认为自己;为他人签发仅限管理员)")


class UserBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str  # its length is checked by add_user, whose refusal does not echo it
    role: Role
    department: str | None = Field(None, max_length=50, description="审核部门用户必填,简体,如 市科技局")
    subject_id: str | None = Field(None, max_length=18, description="申报主体用户必填:已登记的主体代码")
    display_name: str = Field("", max_length=100)


ActorDependency = Annotated[Actor, Depends(current_actor)]


def _presented_token(request: Request) -> tuple[str, str] | None:
    """The credential the request came with, as (kind, token): bearer header first, then cookie."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "token", token.strip()
    cookie = request.cookies.get(SESSION_COOKIE)
    return ("session", cookie) if cookie else None


@router.post("/login", summary="登录:设置会话 Cookie,返回 CSRF 令牌")
def login(request: Request, body: LoginBody) -> JSONResponse:
    state = ledger_state(request)
    if len(body.password) > accounts.MAX_PASSWORD:
        raise Refused(422, f"密码至多 {accounts.MAX_PASSWORD} 个字符")
    with transaction(state.factory) as session:
        signed = accounts.log_in(session, body.username, body.password)
        earlier = request.cookies.get(SESSION_COOKIE)
        if signed is not None and earlier:
            accounts.log_out(session, earlier)  # a new sign-in replaces the browser's old session
    if signed is None:  # committed above: the failure counts towards the throttle
        raise Refused(401, accounts.WRONG_CREDENTIALS)
    actor = signed.actor
    response = JSONResponse(
        {"username": actor.username, "role": actor.role.value, "department": actor.department,
         "subject_id": actor.subject_id, "csrf": signed.csrf},
        headers=NO_STORE,
    )
    response.set_cookie(
        SESSION_COOKIE,
        signed.token,
        max_age=accounts.SESSION_HOURS * 3600,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout", summary="退出登录:删除本次请求所用的会话或令牌")
def logout(request: Request) -> JSONResponse:
    presented = _presented_token(request)
    if presented is None:
        raise Refused(401, "请先登录")
    try:
        current_actor(request)  # a cookie's logout needs its CSRF token like any other write
    except Refused as error:
        if error.status != 401 or presented[0] != "session":
            raise
    with transaction(ledger_state(request).factory) as session:
        accounts.log_out(session, presented[1])
    response = JSONResponse({"detail": "已退出登录"})
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=request.url.scheme == "https")
    return response


@router.get("/me", summary="当前用户")
def me(request: Request, actor: ActorDependency) -> JSONResponse:
    with transaction(ledger_state(request).factory) as session:
        user = accounts.user_named(session, actor.username)
        data = accounts.user_to_dict(user)
        presented = _presented_token(request)
        if presented is not None and presented[0] == "session":
            found = accounts.signed_in(session, presented[1], "session")
            data["csrf"] = found[1].csrf if found else None
    return JSONResponse(data, headers=NO_STORE)


@router.post("/tokens", status_code=201, summary="签发系统间调用的令牌(只显示一次)")
def create_token(request: Request, body: TokenBody, actor: ActorDependency) -> JSONResponse:
    username = body.username or actor.username
    with transaction(ledger_state(request).factory) as session:
        token = accounts.issue_token(session, actor, username, body.name)
    return JSONResponse(
        {"username": username, "name": body.name, "token": token,
         "detail": "请立即保存此令牌:它只显示这一次,调用时放在 Authorization: Bearer 头中"},
        status_code=201,
        headers=NO_STORE,
    )


@router.delete("/tokens/{name}", summary="撤销令牌")
def delete_token(
    request: Request,
    name: str,
    actor: ActorDependency,
    username: Annotated[str | None, Query(description="令牌所属用户(默认为自己)")] = None,
) -> JSONResponse:
    owner = username or actor.username

    def work(session) -> tuple[int, dict]:
        accounts.revoke_token(session, actor, owner, name)
        return 200, {"username": owner, "name": name, "revoked": True}

    return once(request, actor, None, work)


@router.post("/users", status_code=201, summary="新建用户(仅限管理员)")
def create_user(request: Request, body: UserBody, actor: ActorDependency) -> JSONResponse:
    require(actor, Role.ADMIN)
    state = ledger_state(request)
    key = request.headers.get("Idempotency-Key", "")
    fingerprint = body.model_dump(mode="json") | {
        "password": accounts.password_fingerprint(body.password, f"{actor.user_id}:{key}:{body.username}")
    }

    def work(session) -> tuple[int, dict]:
        user = accounts.add_user(
            session, body.username, body.password, body.role,
            display_name=body.display_name, department=body.department, subject_id=body.subject_id,
            departments=accounts.lead_departments(state.pack), by=actor.username,
        )
        return 201, accounts.user_to_dict(user)

    return once(request, actor, fingerprint, work)


@router.get("/users", summary="全部用户(仅限管理员)")
def users(request: Request, actor: ActorDependency) -> list[dict]:
    with transaction(ledger_state(request).factory) as session:
        return [accounts.user_to_dict(user) for user in accounts.list_users(session, actor)]
