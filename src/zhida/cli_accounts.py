"""`zhida users …`: add a user, issue a bearer token, list users.

A password never appears on the command line (where `ps` and the shell history would keep it): it
is read as one line from standard input (--password-stdin, for scripts) or asked for twice with the
input hidden. A bearer token is printed once and never stored in the clear.
"""

from __future__ import annotations

import getpass
import sys

import typer

from zhida.cli_ledger import DATABASE_OPTION, fail, ledger_session, open_pack, users_app
from zhida.cli_packs import PACK_OPTION as ANY_PACK
from zhida.ledger import accounts
from zhida.ledger.access import ROLE_NAMES, Actor, Role

PACK_OPTION = typer.Option(None, "--pack", metavar="ID", help=f"{ANY_PACK.help}。审核部门须为其牵头部门")
ROLE_CHOICES = "、".join(f"{role.value}({ROLE_NAMES[role]})" for role in Role)


def _operator() -> str:
    """Who the audit chain names for a command-line change: the operating-system user."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 — no login name in some containers
        return "cli"


def _role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        fail(f"--role {text} 不是已知角色;可选:{ROLE_CHOICES}")
        raise  # unreachable: fail exits


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            fail("--password-stdin:标准输入为空,请在第一行给出密码")
        return line.rstrip("\r\n")
    return typer.prompt("密码", hide_input=True, confirmation_prompt=True)


@users_app.command("add")
def users_add(
    username: str = typer.Argument(..., help="用户名:字母、数字或 _ . @ -,至多 64 个"),
    role: str = typer.Option(..., "--role", help=f"角色:{ROLE_CHOICES}"),
    department: str | None = typer.Option(None, "--department", help="审核部门用户的所属部门(简体),如 市科技局"),
    subject: str | None = typer.Option(None, "--subject", help="申报主体用户所代表的主体代码(须已登记)"),
    display_name: str = typer.Option("", "--display-name", help="显示名称(默认为用户名)"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="从标准输入第一行读取密码(否则提示输入两次)"),
    pack_choice: str | None = PACK_OPTION,
    database: str | None = DATABASE_OPTION,
) -> None:
    """新建用户;密码从标准输入读取或隐藏输入,绝不出现在命令行上"""
    chosen = _role(role)
    departments = accounts.lead_departments(open_pack(pack_choice)) if chosen is Role.REVIEWER else None
    password = _password(password_stdin)
    with ledger_session(database) as session:
        user = accounts.add_user(
            session, username, password, chosen, display_name=display_name, department=department,
            subject_id=subject, departments=departments, by=_operator(),
        )
        user_id = user.id
    where = f",部门 {department}" if department else (f",主体 {subject}" if subject else "")
    print(f"已新建用户 {username}(编号 {user_id},{ROLE_NAMES[chosen]}{where})")


@users_app.command("token")
def users_token(
    username: str = typer.Argument(..., help="为哪个用户签发"),
    name: str = typer.Option(..., "--name", help="令牌名称(同一用户内唯一,撤销时用)"),
    database: str | None = DATABASE_OPTION,
) -> None:
    """为用户签发系统间调用的令牌;令牌只显示这一次"""
    operator = Actor(0, _operator(), Role.ADMIN)  # whoever runs the CLI on the server administers it
    with ledger_session(database) as session:
        token = accounts.issue_token(session, operator, username, name)
    print(token)
    print(f"以上是用户 {username} 的令牌 {name}:只显示这一次,请立即保存;调用时放在 Authorization: Bearer 头中",
          file=sys.stderr)


@users_app.command("list")
def users_list(database: str | None = DATABASE_OPTION) -> None:
    """列出全部用户(不含密码)"""
    operator = Actor(0, _operator(), Role.ADMIN)
    with ledger_session(database) as session:
        for user in accounts.list_users(session, operator):
            extra = user.department or user.subject_id or ""
            state = "(已停用)" if user.disabled else ""
            print(f"{user.id}\t{user.username}\t{user.role}\t{extra}\t{user.display_name}{state}")
