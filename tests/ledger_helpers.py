"""A ledger app with one user per role, for the HTTP tests of the ledger (both databases)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from fastapi.testclient import TestClient

from zhida.ledger import accounts
from zhida.ledger.access import Role
from zhida.ledger.database import transaction
from zhida.synth import credit_code
from zhida.web.access import LedgerState
from zhida.web.app import create_app, open_ledger_state

KEYS = itertools.count(1)


def code(serial: int, division: str = "330502") -> str:
    """A valid 统一社会信用代码 (GB 32100) of a Huzhou enterprise."""
    return credit_code(division, serial)


@dataclass
class Ledger:
    client: TestClient
    state: LedgerState
    tokens: dict[str, str] = field(default_factory=dict)

    def user(self, username: str, role: Role, department: str | None = None, subject_id: str | None = None) -> str:
        with transaction(self.state.factory) as session:
            user = accounts.add_user(session, username, "password-" + username, role, department=department,
                                     subject_id=subject_id)
            session.flush()
            token, _ = accounts.issue(session, user, "token", "tests")
        self.tokens[username] = token
        return token

    def close(self) -> None:
        """Close the client and every pooled connection (an open psycopg connection left to the
        garbage collector is a ResourceWarning, which the suite treats as an error)."""
        self.client.close()
        self.state.factory.kw["bind"].dispose()

    def headers(self, username: str, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens[username]}"}
        headers["Idempotency-Key"] = key or f"k{next(KEYS)}"
        return headers

    def post(self, username: str, path: str, body=None, key: str | None = None):
        return self.client.post(path, json=body, headers=self.headers(username, key))

    def get(self, username: str, path: str, **params):
        return self.client.get(path, params=params, headers={"Authorization": f"Bearer {self.tokens[username]}"})

    def subject(self, subject_id: str, kind: str = "enterprise", name: str = "湖州测试有限公司", county: str = "吴兴区"):
        response = self.post("admin", "/api/v1/subjects", {"id": subject_id, "kind": kind, "name": name, "county": county})
        assert response.status_code == 201, response.text
        return response.json()


def ledger_app(pack, url: str, files) -> Ledger:
    state = open_ledger_state(pack, url, files=files)
    ledger = Ledger(TestClient(create_app(pack, state)), state)
    ledger.user("admin", Role.ADMIN)
    ledger.user("kejiju", Role.REVIEWER, department="市科技局")
    ledger.user("shangwuju", Role.REVIEWER, department="市商务局")
    ledger.user("leader", Role.LEADERSHIP)
    ledger.user("finance", Role.FINANCE)
    return ledger
