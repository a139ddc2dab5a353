"""Users, passwords (argon2) and the credentials they sign in with.

A credential is a random token shown once; only its SHA-256 is stored, so a copy of the database
signs nobody in. A web session is a credential of kind `session` with a CSRF token beside it; a
system-to-system caller uses a bearer token (kind `token`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhida.ledger import audit
from zhida.ledger import tables as t
from zhida.ledger.access import Actor, Refused, Role

SESSION_HOURS = 12
HASHER = PasswordHasher()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(
    session: Session,
    username: str,
    password: str,
    role: Role,
    *,
    display_name: str = "",
    department: str | None = None,
    subject_id: str | None = None,
    by: str = "admin",
) -> t.User:
    """A new user; a reviewer needs a department, an applicant a subject."""
    if session.scalar(select(t.User.id).where(t.User.username == username)) is not None:
        raise Refused(409, f"用户名 {username} 已存在")
    if role is Role.REVIEWER and not department:
        raise Refused(422, "审核部门用户须指定所属部门(如 市科技局)")
    if role is Role.APPLICANT and not subject_id:
        raise Refused(422, "申报主体用户须指定所代表的主体(统一社会信用代码或身份证号码)")
    if len(password) < 8:
        raise Refused(422, "密码至少 8 位")
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


def password_matches(user: t.User, password: str) -> bool:
    try:
        return HASHER.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def issue(session: Session, user: t.User, kind: str, name: str = "") -> tuple[str, t.Credential]:
    """A new credential for `user`: the token (to hand out once) and its stored row."""
    token = secrets.token_urlsafe(32)
    expires = t.utcnow() + dt.timedelta(hours=SESSION_HOURS) if kind == "session" else None
    credential = t.Credential(
        token_hash=token_hash(token),
        kind=kind,
        user_id=user.id,
        name=name,
        csrf=secrets.token_urlsafe(24) if kind == "session" else "",
        expires_at=expires,
    )
    session.add(credential)
    return token, credential


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
