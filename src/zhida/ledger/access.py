"""Who may do what in the ledger, and the one kind of refusal every ledger function raises.

Roles (issue 10): an applicant sees and acts for its own subject only; a reviewer decides the
articles its department leads; finance pays; leadership reads everything and changes nothing;
admin keeps users, budgets and departments. Nobody decides their own application.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    APPLICANT = "applicant"
    REVIEWER = "reviewer"
    FINANCE = "finance"
    LEADERSHIP = "leadership"
    ADMIN = "admin"


ROLE_NAMES = {
    Role.APPLICANT: "申报主体",
    Role.REVIEWER: "审核部门",
    Role.FINANCE: "财政",
    Role.LEADERSHIP: "领导",
    Role.ADMIN: "管理员",
}


@dataclass(frozen=True)
class Actor:
    """The signed-in user a ledger function acts for."""

    user_id: int
    username: str
    role: Role
    department: str | None = None  # reviewers: Simplified, e.g. 市科技局
    subject_id: str | None = None  # applicants


class Refused(Exception):
    """A request the ledger will not carry out, with one Chinese sentence and the HTTP status that fits.

    404 unknown id (also for another applicant's row: its existence is not disclosed), 403 not
    this role's or department's, 409 not in this state or over a cap or a budget, 422 bad input."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def require(actor: Actor, *roles: Role) -> None:
    if actor.role not in roles:
        allowed = "、".join(ROLE_NAMES[role] for role in roles)
        raise Refused(403, f"此操作仅限{allowed};当前用户 {actor.username} 的角色为{ROLE_NAMES[actor.role]}")


def may_read_subject(actor: Actor, subject_id: str) -> bool:
    """Applicants read only their own subject; every other role reads all (reviewers need the profile)."""
    return actor.role is not Role.APPLICANT or actor.subject_id == subject_id
