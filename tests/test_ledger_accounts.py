"""Accounts: sign-in with a session cookie and CSRF, throttling, bearer tokens, users (admin), and
`zhida users …` — every test on SQLite and PostgreSQL (the `ledger_url` fixture).

Issue 10, 角色: "Passwords hashed with argon2; session cookies for the web (HttpOnly, SameSite,
CSRF token on forms), bearer tokens for system-to-system calls; login attempts throttled."
"""

from __future__ import annotations

import datetime as dt
import warnings

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from zhida.cli import app as cli
from zhida.ledger import accounts, audit
from zhida.ledger import tables as t
from zhida.ledger.access import Role
from zhida.ledger.database import transaction
from zhida.web.app import create_app, open_ledger_state

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient` is deprecated")
    from fastapi.testclient import TestClient

PASSWORD = "correct-horse-9"
SUBJECT = "91330500MA2B3C4D5E"  # an enterprise's 统一社会信用代码, as the subject of an applicant
# The pack's lead departments in Simplified: 由市X局牵头实施, one per area that has rules.
LEADS = "市交通运输局、市人力社保局、市农业农村局、市发展改革委、市商务局、市科技局、市经信局"


@pytest.fixture
def state(pack, ledger_url, tmp_path):
    ledger = open_ledger_state(pack, ledger_url, files=tmp_path / "files")
    yield ledger
    ledger.factory.kw["bind"].dispose()


@pytest.fixture
def client(pack, state):
    with TestClient(create_app(pack, state)) as client:
        yield client


def add(state, username: str, role: Role, **fields) -> int:
    with transaction(state.factory) as session:
        return accounts.add_user(session, username, PASSWORD, role, **fields).id


def add_subject(state, code: str = SUBJECT) -> None:
    with transaction(state.factory) as session:
        subject = t.Subject(id=code, kind="enterprise", name="湖州某科技有限公司", county="吴兴区")
        session.add(subject)
        audit.record(session, "admin", "subject.add", subject)


def log_in(client, username: str, password: str = PASSWORD):
    return client.post("/api/v1/login", json={"username": username, "password": password})


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# --------------------------------------------------------------------------- sessions and CSRF


def test_login_sets_an_httponly_samesite_cookie_and_answers_the_csrf_token(state, client, pack):
    add(state, "kj-reviewer", Role.REVIEWER, department="市科技局")
    answer = log_in(client, "kj-reviewer")
    assert answer.status_code == 200
    body = answer.json()
    assert {key: body[key] for key in ("username", "role", "department", "subject_id")} == {
        "username": "kj-reviewer", "role": "reviewer", "department": "市科技局", "subject_id": None,
    }
    assert len(body["csrf"]) >= 32
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("zhida_session=")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/"} <= attributes
    assert "secure" not in attributes  # plain http: a Secure cookie would never come back
    assert answer.headers["cache-control"] == "no-store"
    # Over https the cookie is Secure.
    with TestClient(create_app(pack, state), base_url="https://testserver") as secure:
        secure_cookie = log_in(secure, "kj-reviewer").headers["set-cookie"]
    assert "secure" in {part.strip().lower() for part in secure_cookie.split(";")}


def test_a_cookie_write_needs_the_csrf_token(state, client):
    add(state, "finance-1", Role.FINANCE)
    csrf = log_in(client, "finance-1").json()["csrf"]
    without = client.post("/api/v1/tokens", json={"name": "export"})
    assert without.status_code == 403
    assert without.json()["detail"] == "缺少或错误的 X-CSRF-Token:表单须带本次登录的 CSRF 令牌"
    # Change the last character to one it is not (a fixed "x" equals it one time in 64).
    altered = csrf[:-1] + ("y" if csrf.endswith("x") else "x")
    wrong = client.post("/api/v1/tokens", json={"name": "export"}, headers={"X-CSRF-Token": altered})
    assert wrong.status_code == 403
    right = client.post("/api/v1/tokens", json={"name": "export"}, headers={"X-CSRF-Token": csrf})
    assert right.status_code == 201 and right.json()["username"] == "finance-1"
    # A read needs no CSRF token, and /me hands it back to a reloaded page.
    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["csrf"] == csrf


def test_logout_deletes_the_session(state, client):
    add(state, "leader", Role.LEADERSHIP)
    csrf = log_in(client, "leader").json()["csrf"]
    assert client.post("/api/v1/logout").status_code == 403  # a cookie's logout carries CSRF too
    answer = client.post("/api/v1/logout", headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 200 and 'zhida_session=""' in answer.headers["set-cookie"]
    with transaction(state.factory) as session:
        assert session.scalar(select(func.count()).select_from(t.Credential)) == 0
    client.cookies.clear()
    assert client.get("/api/v1/me").status_code == 401


# --------------------------------------------------------------------------- bearer tokens


def test_a_bearer_token_works_without_csrf_until_revoked(state, client):
    add(state, "admin", Role.ADMIN)
    add(state, "exchange", Role.FINANCE)
    csrf = log_in(client, "admin").json()["csrf"]
    issued = client.post("/api/v1/tokens", json={"name": "bank-feed", "username": "exchange"},
                         headers={"X-CSRF-Token": csrf})
    assert issued.status_code == 201
    token = issued.json()["token"]
    with transaction(state.factory) as session:
        stored = session.scalars(select(t.Credential).where(t.Credential.kind == "token")).one()
        assert stored.token_hash == accounts.token_hash(token) and stored.name == "bank-feed"
    client.cookies.clear()
    # A system calls with the token alone: a write needs no CSRF token.
    assert client.get("/api/v1/me", headers=bearer(token)).json()["username"] == "exchange"
    second = client.post("/api/v1/tokens", json={"name": "second"}, headers=bearer(token))
    assert second.status_code == 201 and second.json()["username"] == "exchange"
    # The same name again is refused, so a retried request cannot make two tokens.
    again = client.post("/api/v1/tokens", json={"name": "second"}, headers=bearer(token))
    assert again.status_code == 409 and "second" in again.json()["detail"]
    revoked = client.delete("/api/v1/tokens/bank-feed", headers=bearer(token) | {"Idempotency-Key": "r1"})
    assert revoked.status_code == 200 and revoked.json() == {"username": "exchange", "name": "bank-feed", "revoked": True}
    after = client.get("/api/v1/me", headers=bearer(token))
    assert after.status_code == 401 and after.json()["detail"] == "令牌无效或已撤销"
    assert after.headers["www-authenticate"] == "Bearer"
    unknown = client.get("/api/v1/me", headers=bearer("not-a-token-anyone-was-given"))
    assert unknown.status_code == 401 and unknown.json()["detail"] == "令牌无效或已撤销"
    # A session token is not a bearer token.
    session_token = log_in(client, "admin").cookies["zhida_session"]
    client.cookies.clear()
    assert client.get("/api/v1/me", headers=bearer(session_token)).status_code == 401


def test_leadership_cannot_add_users_nor_issue_tokens_for_others(state, client):
    add(state, "leader", Role.LEADERSHIP)
    add(state, "kj-reviewer", Role.REVIEWER, department="市科技局")
    csrf = {"X-CSRF-Token": log_in(client, "leader").json()["csrf"]}
    created = client.post("/api/v1/users", headers=csrf | {"Idempotency-Key": "u1"},
                          json={"username": "mole", "password": PASSWORD, "role": "admin"})
    # Refused either by the role check of the route or by the read-only rule for leadership.
    assert created.status_code == 403 and "leader" in created.json()["detail"]
    assert client.get("/api/v1/users").status_code == 403
    other = client.post("/api/v1/tokens", json={"name": "x", "username": "kj-reviewer"}, headers=csrf)
    assert other.status_code == 403 and "leader" in other.json()["detail"]
    revoke = client.delete("/api/v1/tokens/x", params={"username": "kj-reviewer"}, headers=csrf | {"Idempotency-Key": "d1"})
    assert revoke.status_code == 403
    with transaction(state.factory) as session:
        assert session.scalar(select(func.count()).select_from(t.User)) == 2
        assert session.scalar(select(func.count()).select_from(t.Credential).where(t.Credential.kind == "token")) == 0


def test_an_applicant_sees_only_itself(state, client):
    add_subject(state)
    add(state, "admin", Role.ADMIN)
    add(state, "firm", Role.APPLICANT, subject_id=SUBJECT, display_name="湖州某科技有限公司")
    log_in(client, "firm")
    me = client.get("/api/v1/me").json()
    assert {key: me[key] for key in ("username", "role", "subject_id", "department", "display_name")} == {
        "username": "firm", "role": "applicant", "subject_id": SUBJECT, "department": None,
        "display_name": "湖州某科技有限公司",
    }
    assert "password_hash" not in me
    users = client.get("/api/v1/users")
    assert users.status_code == 403 and "admin" not in users.text.replace("管理员", "")


# --------------------------------------------------------------------------- throttling


def test_the_sixth_attempt_within_15_minutes_is_refused_even_with_the_right_password(state, client):
    add(state, "kj-reviewer", Role.REVIEWER, department="市科技局")
    for _ in range(5):
        wrong = log_in(client, "kj-reviewer", "wrong-password")
        assert wrong.status_code == 401 and wrong.json()["detail"] == "用户名或密码错误"
    locked = log_in(client, "kj-reviewer", PASSWORD)
    assert locked.status_code == 429
    assert "set-cookie" not in locked.headers
    # The five failures came within a second: the oldest leaves the 15-minute window in 900 s or less.
    assert 890 <= int(locked.headers["retry-after"]) <= 900
    assert locked.json()["detail"].startswith("登录失败次数过多:15 分钟内已失败 5 次,请于北京时间 ")
    assert locked.json()["detail"].endswith("(约 15 分钟后)再试")
    with transaction(state.factory) as session:
        attempts = session.scalars(select(t.LoginAttempt.succeeded).where(t.LoginAttempt.username == "kj-reviewer")).all()
    assert attempts == [False] * 5  # the locked attempt was never verified, so never counted


def test_the_lock_lifts_when_the_oldest_failure_is_15_minutes_old(state):
    add(state, "kj-reviewer", Role.REVIEWER, department="市科技局")
    start = dt.datetime(2025, 6, 2, 1, 0, 0)  # UTC; 09:00 北京时间
    for minute in range(5):  # failures at 09:00, 09:01, 09:02, 09:03, 09:04
        with transaction(state.factory) as session:
            assert accounts.log_in(session, "kj-reviewer", "wrong", now=start + dt.timedelta(minutes=minute)) is None
    # At 09:10 the oldest failure (09:00) leaves the window at 09:15: 300 s to wait.
    with pytest.raises(accounts.Throttled) as caught, transaction(state.factory) as session:
        accounts.log_in(session, "kj-reviewer", PASSWORD, now=start + dt.timedelta(minutes=10))
    assert caught.value.retry_after == 300
    assert caught.value.message == "登录失败次数过多:15 分钟内已失败 5 次,请于北京时间 09:15:00 后(约 5 分钟后)再试"
    # At 09:15:01 four failures are left in the window: the right password gets in.
    with transaction(state.factory) as session:
        signed = accounts.log_in(session, "kj-reviewer", PASSWORD, now=start + dt.timedelta(minutes=15, seconds=1))
    assert signed is not None and signed.actor.username == "kj-reviewer"
    # A success starts the count again: one more failure does not lock.
    with transaction(state.factory) as session:
        assert accounts.log_in(session, "kj-reviewer", "wrong", now=start + dt.timedelta(minutes=16)) is None
    with transaction(state.factory) as session:
        assert accounts.log_in(session, "kj-reviewer", PASSWORD, now=start + dt.timedelta(minutes=17)) is not None


def test_attempts_older_than_the_window_are_forgotten(state):
    # Guesses at many usernames must not grow login_attempts for ever: only the 15 minutes that
    # count are kept.
    start = dt.datetime(2025, 6, 2, 1, 0, 0)
    for number in range(3):  # 09:00, 09:01, 09:02: three unknown usernames
        with transaction(state.factory) as session:
            assert accounts.log_in(session, f"guess-{number}", "wrong", now=start + dt.timedelta(minutes=number)) is None
    with transaction(state.factory) as session:  # 09:15:30: 09:00 is out of the window, 09:01 and 09:02 are not
        accounts.log_in(session, "guess-3", "wrong", now=start + dt.timedelta(minutes=15, seconds=30))
    with transaction(state.factory) as session:
        kept = sorted(session.scalars(select(t.LoginAttempt.username)))
    assert kept == ["guess-1", "guess-2", "guess-3"]


def test_an_unknown_user_is_answered_and_throttled_like_a_wrong_password(state, client):
    add(state, "kj-reviewer", Role.REVIEWER, department="市科技局")
    known = log_in(client, "kj-reviewer", "wrong-password")
    unknown = log_in(client, "nobody", "wrong-password")
    assert (unknown.status_code, unknown.json()) == (known.status_code, known.json()) == (401, {"detail": "用户名或密码错误"})
    for _ in range(4):
        assert log_in(client, "nobody", "wrong-password").status_code == 401
    sixth = log_in(client, "nobody", "wrong-password")
    assert sixth.status_code == 429 and sixth.json()["detail"].startswith("登录失败次数过多:15 分钟内已失败 5 次")
    # Another username is not locked by it.
    assert log_in(client, "kj-reviewer").status_code == 200


# --------------------------------------------------------------------------- users


def test_passwords_are_stored_as_argon2id_never_plain(state, client):
    add(state, "admin", Role.ADMIN)
    csrf = log_in(client, "admin").json()["csrf"]
    created = client.post("/api/v1/users", headers={"X-CSRF-Token": csrf, "Idempotency-Key": "new-finance"},
                          json={"username": "finance-2", "password": "s3cret-Pa55", "role": "finance"})
    assert created.status_code == 201 and "s3cret" not in created.text
    with transaction(state.factory) as session:
        hashes = session.scalars(select(t.User.password_hash).order_by(t.User.id)).all()
        states = session.scalars(select(t.AuditEntry.state)).all()
        stored = session.scalars(select(t.IdempotentRequest)).one()
    assert all(value.startswith("$argon2id$") for value in hashes) and len(hashes) == 2
    assert accounts.HASHER.verify(hashes[1], "s3cret-Pa55")
    everywhere = " ".join([*hashes, *states, stored.request_hash, str(stored.response)])
    assert "s3cret-Pa55" not in everywhere and PASSWORD not in everywhere


def test_a_new_user_is_created_once_per_idempotency_key(state, client):
    add(state, "admin", Role.ADMIN)
    headers = {"X-CSRF-Token": log_in(client, "admin").json()["csrf"]}
    body = {"username": "kj-2", "password": PASSWORD, "role": "reviewer", "department": "市科技局"}
    missing = client.post("/api/v1/users", headers=headers, json=body)
    assert missing.status_code == 428 and "Idempotency-Key" in missing.json()["detail"]
    first = client.post("/api/v1/users", headers=headers | {"Idempotency-Key": "add-kj-2"}, json=body)
    replay = client.post("/api/v1/users", headers=headers | {"Idempotency-Key": "add-kj-2"}, json=body)
    assert first.status_code == replay.status_code == 201
    assert replay.json()["id"] == first.json()["id"] and replay.headers["idempotent-replayed"] == "true"
    other = client.post("/api/v1/users", headers=headers | {"Idempotency-Key": "add-kj-2"},
                        json=body | {"department": "市经信局"})
    assert other.status_code == 422 and other.json()["detail"] == "Idempotency-Key add-kj-2 已用于另一个请求;新的请求须用新的值"
    other_password = client.post("/api/v1/users", headers=headers | {"Idempotency-Key": "add-kj-2"},
                                 json=body | {"password": "another-password"})
    assert other_password.status_code == 422  # the password is in the fingerprint, as an argon2 digest
    with transaction(state.factory) as session:
        assert session.scalars(select(t.User.username).order_by(t.User.id)).all() == ["admin", "kj-2"]
        assert session.scalar(select(func.count()).select_from(t.AuditEntry).where(t.AuditEntry.action == "user.add")) == 2
        assert audit.verify(session) == []
    listed = client.get("/api/v1/users").json()
    assert [(user["username"], user["department"]) for user in listed] == [("admin", None), ("kj-2", "市科技局")]


def test_a_reviewer_belongs_to_a_lead_department_and_an_applicant_to_a_known_subject(state, client):
    add(state, "admin", Role.ADMIN)
    headers = {"X-CSRF-Token": log_in(client, "admin").json()["csrf"]}

    def create(key: str, **body):
        return client.post("/api/v1/users", headers=headers | {"Idempotency-Key": key},
                           json={"password": PASSWORD} | body)

    # 市财政局 pays; it leads no article of the document.
    treasury = create("a", username="cz", role="reviewer", department="市财政局")
    assert treasury.status_code == 422
    assert treasury.json()["detail"] == f"部门 市财政局 不是本政策包任何条款的牵头部门;可选:{LEADS}"
    unknown = create("b", username="firm", role="applicant", subject_id=SUBJECT)
    assert unknown.status_code == 422
    assert unknown.json()["detail"] == f"主体 {SUBJECT} 尚未登记:请先登记主体,再为其添加用户"
    short = create("c", username="short", role="finance", password="1234567")
    assert short.status_code == 422 and short.json()["detail"] == "密码须为 8 至 256 个字符"
    assert "1234567" not in short.text
    add_subject(state)
    # A refusal is not kept, so the same key succeeds once the cause is fixed.
    assert create("b", username="firm", role="applicant", subject_id=SUBJECT).status_code == 201
    assert create("d", username="jx", role="reviewer", department="市经信局").status_code == 201


# --------------------------------------------------------------------------- the command line


def test_cli_adds_a_user_who_can_then_log_in(state, client, ledger_url):
    runner = CliRunner()
    added = runner.invoke(cli, ["users", "add", "sw-reviewer", "--role", "reviewer", "--department", "市商务局",
                                "--display-name", "市商务局审核", "--password-stdin", "--database", ledger_url],
                          input=f"{PASSWORD}\n")
    assert added.exit_code == 0, added.output
    assert "已新建用户 sw-reviewer" in added.stdout
    answer = log_in(client, "sw-reviewer")
    assert answer.status_code == 200 and answer.json()["department"] == "市商务局"
    duplicate = runner.invoke(cli, ["users", "add", "sw-reviewer", "--role", "finance", "--password-stdin",
                                    "--database", ledger_url], input=f"{PASSWORD}\n")
    assert duplicate.exit_code == 2 and duplicate.stderr.strip() == "用户名 sw-reviewer 已存在"
    bad_role = runner.invoke(cli, ["users", "add", "x", "--role", "boss", "--database", ledger_url])
    assert bad_role.exit_code == 2 and "--role boss 不是已知角色" in bad_role.stderr.replace("\n", "")
    token = runner.invoke(cli, ["users", "token", "sw-reviewer", "--name", "ci", "--database", ledger_url])
    assert token.exit_code == 0
    issued = token.stdout.strip()
    client.cookies.clear()
    assert client.get("/api/v1/me", headers=bearer(issued)).json()["username"] == "sw-reviewer"
    with transaction(state.factory) as session:
        assert session.scalar(select(t.User.display_name).where(t.User.username == "sw-reviewer")) == "市商务局审核"
        assert audit.verify(session) == []


def test_cli_asks_for_the_password_twice_and_takes_none_on_the_command_line(state, client, ledger_url):
    runner = CliRunner()
    mismatch = runner.invoke(cli, ["users", "add", "leader", "--role", "leadership", "--database", ledger_url],
                             input=f"{PASSWORD}\nsomething-else\n{PASSWORD}\n{PASSWORD}\n")
    assert mismatch.exit_code == 0, mismatch.output
    assert PASSWORD not in mismatch.output  # hidden input is not echoed
    assert log_in(client, "leader").status_code == 200
    argument = runner.invoke(cli, ["users", "add", "other", "--role", "finance", "--password", PASSWORD,
                                   "--database", ledger_url])
    assert argument.exit_code == 2 and "--password" in argument.output  # no such option
    empty = runner.invoke(cli, ["users", "add", "other", "--role", "finance", "--password-stdin",
                                "--database", ledger_url], input="")
    assert empty.exit_code == 2 and empty.stderr.strip() == "--password-stdin:标准输入为空,请在第一行给出密码"


def test_an_unknown_username_is_still_verified_against_a_hash(state, monkeypatch):
    # Answering an unknown username without an argon2 verification would be measurably faster.
    verified = []

    class Recording:
        def __getattr__(self, name):
            return getattr(real, name)

        def verify(self, stored, given):
            verified.append(stored)
            return real.verify(stored, given)

    real = accounts.HASHER
    monkeypatch.setattr(accounts, "HASHER", Recording())
    with transaction(state.factory) as session:
        assert accounts.log_in(session, "nobody", "some-password") is None
    assert len(verified) == 1 and verified[0].startswith("$argon2id$")


def test_an_expired_session_and_a_bearer_logout(state, client):
    add(state, "finance-1", Role.FINANCE)
    with transaction(state.factory) as session:
        user = accounts.user_named(session, "finance-1")
        stale, credential = accounts.issue(session, user, "session", now=t.utcnow() - dt.timedelta(hours=13))
        token, _ = accounts.issue(session, user, "token", "feed")
    client.cookies.set("zhida_session", stale)
    assert client.get("/api/v1/me").json() == {"detail": "请先登录"}
    client.cookies.clear()
    # A system signs out by deleting its own token.
    assert client.post("/api/v1/logout", headers=bearer(token)).status_code == 200
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
