"""Users, passwords (argon2), signing in (throttled) and the credentials users sign in with.

A credential is a random token shown once; only its SHA-256 is stored, so a copy of the database
signs nobody in. A web session is a credential of kind `session` with a CSRF token beside it; a
system-to-system caller uses a bearer token (kind `token`), named so that it can be revoked.

Signing in, in the order the checks run (`log_in`):
  1. throttle: 5 failures for a username within 15 minutes (since its last success) lock it until
     the oldest of them is 15 minutes old, checked before the password, so that a right password
     gets no further than a wrong one during the lock;
  2. verify: an unknown username is verified against a dummy hash, so that neither the answer nor
     its timing tells whether the user exists; both failures are recorded and answered alike;
  3. a session credential with its CSRF token.
Attempts older than the window count for nothing and are deleted as later sign-ins happen.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import Type, hash_secret_raw
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from zhida.ledger import audit
from zhida.ledger import tables as t
from zhida.ledger.access import ROLE_NAMES, Actor, Refused, Role, require
from zhida.rules.pack import Pack
from zhida.source.script import to_simplified

SESSION_HOURS = 12
HASHER = PasswordHasher()
MAX_FAILED_LOGINS = 5
LOGIN_WINDOW = dt.timedelta(minutes=15)
PRUNE_LOCK = int.from_bytes(hashlib.sha256(b"login-attempts:prune").digest()[:8], "big", signed=True)
BEIJING = dt.timedelta(hours=8)  # times are stored in UTC; users read 北京时间
MIN_PASSWORD = 8
MAX_PASSWORD = 256  # argon2 takes any length; a cap keeps one request from being a heavy one
USERNAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
TOKEN_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
WRONG_CREDENTIALS = "用户名或密码错误"


class Throttled(Refused):
    """Too many failed sign-ins: 429, with the seconds until the next attempt may succeed."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(429, message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class SignIn:
    """A successful sign-in: the session token (for the cookie, shown once) and its CSRF token."""

    actor: Actor
    token: str
    csrf: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def lead_departments(pack: Pack) -> frozenset[str]:
    """The departments a reviewer may belong to: every rule's lead department, in Simplified."""
    return frozenset(to_simplified(rule.department) for rule in pack.rules)


def add_user(
    session: Session,
    username: str,
    password: str,
    role: Role,
    *,
    display_name: str = "",
    department: str | None = None,
    subject_id: str | None = None,
    departments: Collection[str] | None = None,
    by: str = "admin",
) -> t.User:
    """A new user, audited; a reviewer needs a department, an applicant a subject that exists.

    `departments` are the lead departments a reviewer may belong to (`lead_departments(pack)`);
    the API and the CLI always pass them. None leaves the department unchecked (fixtures only)."""
    _check_new_user(session, username, password, role, department, subject_id, departments)
    user = t.User(
        username=username,
        display_name=display_name or username,
        password_hash=HASHER.hash(password),
        role=role.value,
        department=department,
        subject_id=subject_id,
    )
    session.add(user)
    audit.record(session, by, "user.add", user)
    return user


def _check_new_user(
    session: Session,
    username: str,
    password: str,
    role: Role,
    department: str | None,
    subject_id: str | None,
    departments: Collection[str] | None,
) -> None:
    if not USERNAME.fullmatch(username):
        raise Refused(422, f"用户名 {username!r} 不可用:须为 1 至 64 个字母、数字或 _ . @ -")
    if session.scalar(select(t.User.id).where(t.User.username == username)) is not None:
        raise Refused(409, f"用户名 {username} 已存在")
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise Refused(422, f"密码须为 {MIN_PASSWORD} 至 {MAX_PASSWORD} 个字符")
    if role is Role.REVIEWER:
        if not department:
            raise Refused(422, "审核部门用户须指定所属部门(如 市科技局)")
        if departments is not None and department not in departments:
            listed = "、".join(sorted(departments))
            raise Refused(422, f"部门 {department} 不是本政策包任何条款的牵头部门;可选:{listed}")
    elif department:
        raise Refused(422, f"只有审核部门用户有所属部门;{ROLE_NAMES[role]}用户不填部门")
    if role is Role.APPLICANT:
        if not subject_id:
            raise Refused(422, "申报主体用户须指定所代表的主体(统一社会信用代码或身份证号码)")
        if session.get(t.Subject, subject_id) is None:
            raise Refused(422, f"主体 {subject_id} 尚未登记:请先登记主体,再为其添加用户")
    elif subject_id:
        raise Refused(422, f"只有申报主体用户代表一个主体;{ROLE_NAMES[role]}用户不填主体")


def password_matches(user: t.User, password: str) -> bool:
    try:
        return HASHER.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_fingerprint(password: str, salt: str) -> str:
    """An argon2 digest of `password`, the same for the same salt: what an idempotency fingerprint
    may hold in place of a password without being a weaker copy of it than users.password_hash."""
    digest = hash_secret_raw(
        password.encode(),
        hashlib.sha256(salt.encode()).digest()[:16],
        time_cost=HASHER.time_cost,
        memory_cost=HASHER.memory_cost,
        parallelism=HASHER.parallelism,
        hash_len=32,
        type=Type.ID,
    )
    return digest.hex()


@cache
def _dummy_hash() -> str:
    return HASHER.hash(secrets.token_urlsafe(16))


def log_in(session: Session, username: str, password: str, now: dt.datetime | None = None) -> SignIn | None:
    """A session for `username`, or None for a wrong password or an unknown user (recorded alike).

    Raises Throttled while the username is locked (see the module docstring). The caller commits
    the transaction even when the answer is None: the failure must be counted."""
    now = now or t.utcnow()
    _serialise_attempts(session, username)
    user = session.scalar(select(t.User).where(t.User.username == username))
    _throttle(session, username, now)
    _forget_old_attempts(session, now)
    if user is None or user.disabled:
        _verify_dummy(password)
        ok = False
    else:
        ok = password_matches(user, password)
    session.add(t.LoginAttempt(username=username, at=now, succeeded=ok))
    if not ok or user is None:
        return None
    token, credential = issue(session, user, "session", now=now)
    return SignIn(actor_of(user), token, credential.csrf)


def _serialise_attempts(session: Session, username: str) -> None:
    """One sign-in per username at a time, so that parallel guesses cannot slip past the count.

    SQLite already runs one writer at a time (BEGIN IMMEDIATE); PostgreSQL takes a transaction
    lock keyed by the username (known or not: unknown usernames are throttled alike)."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"login:{username}".encode()).digest()[:8], "big", signed=True)
        session.execute(select(func.pg_advisory_xact_lock(key)))


def _forget_old_attempts(session: Session, now: dt.datetime) -> None:
    """Delete attempts older than the window: they no longer count, and guesses at many usernames
    would otherwise grow the table without end.

    On PostgreSQL one sign-in at a time prunes (a try-lock: the others skip it rather than wait,
    and two deletes of the same rows in different orders cannot deadlock)."""
    if session.get_bind().dialect.name == "postgresql":
        if not session.scalar(select(func.pg_try_advisory_xact_lock(PRUNE_LOCK))):
            return
    session.execute(delete(t.LoginAttempt).where(t.LoginAttempt.at <= now - LOGIN_WINDOW))


def _verify_dummy(password: str) -> None:
    try:
        HASHER.verify(_dummy_hash(), password)
    except VerificationError:
        pass


def _throttle(session: Session, username: str, now: dt.datetime) -> None:
    since = now - LOGIN_WINDOW
    last_success = session.scalar(
        select(t.LoginAttempt.at)
        .where(t.LoginAttempt.username == username, t.LoginAttempt.succeeded.is_(True), t.LoginAttempt.at > since)
        .order_by(t.LoginAttempt.at.desc())
        .limit(1)
    )
    failures = list(
        session.scalars(
            select(t.LoginAttempt.at)
            .where(
                t.LoginAttempt.username == username,
                t.LoginAttempt.succeeded.is_(False),
                t.LoginAttempt.at > max(since, last_success or since),
            )
            .order_by(t.LoginAttempt.at)
        )
    )
    if len(failures) < MAX_FAILED_LOGINS:
        return
    # The lock ends when enough failures have left the window to bring the count under the limit.
    until = failures[len(failures) - MAX_FAILED_LOGINS] + LOGIN_WINDOW
    seconds = max(1, math.ceil((until - now).total_seconds()))
    local = (until + BEIJING).strftime("%H:%M:%S")
    raise Throttled(
        f"登录失败次数过多:15 分钟内已失败 {len(failures)} 次,请于北京时间 {local} 后"
        f"(约 {math.ceil(seconds / 60)} 分钟后)再试",
        seconds,
    )


def log_out(session: Session, token: str) -> bool:
    """Delete the credential `token` stands for; False when there was none."""
    result = session.execute(delete(t.Credential).where(t.Credential.token_hash == token_hash(token)))
    return result.rowcount > 0


def issue(
    session: Session, user: t.User, kind: str, name: str = "", now: dt.datetime | None = None
) -> tuple[str, t.Credential]:
    """A new credential for `user`: the token (to hand out once) and its stored row."""
    token = secrets.token_urlsafe(32)
    now = now or t.utcnow()
    expires = now + dt.timedelta(hours=SESSION_HOURS) if kind == "session" else None
    credential = t.Credential(
        token_hash=token_hash(token),
        kind=kind,
        user_id=user.id,
        name=name,
        csrf=secrets.token_urlsafe(24) if kind == "session" else "",
        created_at=now,
        expires_at=expires,
    )
    session.add(credential)
    return token, credential


def user_named(session: Session, username: str) -> t.User:
    user = session.scalar(select(t.User).where(t.User.username == username))
    if user is None:
        raise Refused(404, f"用户 {username} 不存在")
    return user


def _may_manage_tokens(actor: Actor, username: str) -> None:
    """Admin manages anyone's tokens; every other user only its own."""
    if actor.role is not Role.ADMIN and actor.username != username:
        raise Refused(403, f"只有管理员可以为其他用户签发或撤销令牌;当前用户 {actor.username} 只能管理自己的令牌")


def issue_token(session: Session, actor: Actor, username: str, name: str) -> str:
    """A bearer token for `username` named `name` (unique per user, so a retry cannot make two)."""
    _may_manage_tokens(actor, username)
    if not TOKEN_NAME.fullmatch(name):
        raise Refused(422, f"令牌名称 {name!r} 不可用:须为 1 至 100 个字母、数字或 _ . : -")
    user = user_named(session, username)
    existing = select(t.Credential.token_hash).where(
        t.Credential.user_id == user.id, t.Credential.kind == "token", t.Credential.name == name
    )
    if session.scalar(existing) is not None:
        raise Refused(409, f"用户 {username} 已有名为 {name} 的令牌;请换一个名称,或先撤销它")
    token, _ = issue(session, user, "token", name)
    return token


def revoke_token(session: Session, actor: Actor, username: str, name: str) -> None:
    _may_manage_tokens(actor, username)
    user = user_named(session, username)
    result = session.execute(
        delete(t.Credential).where(
            t.Credential.user_id == user.id, t.Credential.kind == "token", t.Credential.name == name
        )
    )
    if result.rowcount == 0:
        raise Refused(404, f"用户 {username} 没有名为 {name} 的令牌")


def list_users(session: Session, actor: Actor) -> list[t.User]:
    require(actor, Role.ADMIN)
    return list(session.scalars(select(t.User).order_by(t.User.id)))


def signed_in(session: Session, token: str, kind: str) -> tuple[Actor, t.Credential] | None:
    """The actor a token stands for, or None when it is unknown, expired, revoked or of another kind."""
    credential = session.get(t.Credential, token_hash(token))
    if credential is None or credential.kind != kind:
        return None
    if credential.expires_at is not None and credential.expires_at < t.utcnow():
        return None
    user = session.get(t.User, credential.user_id)
    if user is None or user.disabled:
        return None
    return actor_of(user), credential


def actor_of(user: t.User) -> Actor:
    return Actor(user.id, user.username, Role(user.role), user.department, user.subject_id)


def user_to_dict(user: t.User) -> dict:
    """A user as the API shows it: never the password hash."""
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "department": user.department,
        "subject_id": user.subject_id,
        "disabled": user.disabled,
        "created_at": user.created_at.isoformat() if user.created_at else None,
    }
