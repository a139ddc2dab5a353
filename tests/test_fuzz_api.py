"""schemathesis over the OpenAPI schema of the running app: no request it can make gets a 500.

The app runs for real (uvicorn on a free port of 127.0.0.1, in a thread); schemathesis reads
/openapi.json from it and sends examples that fit the schema (positive) and that break it
(negative: wrong types, missing fields, extra keys). Every answer must be a documented status
with a JSON `detail`, never a 500, and a request the schema forbids must be refused (4xx).

The number of examples per operation is bounded (FUZZ_EXAMPLES, default 60) so CI stays quick;
set ZHIDA_FUZZ_EXAMPLES=2000 for a long run by hand.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings

from zhida.ledger import accounts
from zhida.ledger.access import Role
from zhida.ledger.database import transaction
from zhida.rules.pack import load_pack
from zhida.web.app import create_app, default_pack_path, open_ledger_state

FUZZ_EXAMPLES = int(os.environ.get("ZHIDA_FUZZ_EXAMPLES", "60"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    """The app's ledger on a SQLite file of its own, with an admin whose token the examples carry, so
    that the ledger's routes are fuzzed past sign-in."""
    pack = load_pack(default_pack_path())
    directory = tmp_path_factory.mktemp("fuzz")
    state = open_ledger_state(pack, f"sqlite:///{directory / 'ledger.db'}", files=directory / "files")
    with transaction(state.factory) as session:
        admin = accounts.add_user(session, "fuzz-admin", "password-fuzz", Role.ADMIN)
        session.flush()
        token, _ = accounts.issue(session, admin, "token", "fuzz")
    yield pack, state, {"Authorization": f"Bearer {token}"}
    state.factory.kw["bind"].dispose()


@pytest.fixture(scope="module")
def server_url(ledger):
    pack, state, _ = ledger
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(pack, state), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def api_schema(server_url):
    return schemathesis.openapi.from_url(f"{server_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same examples every run: a CI failure can be replayed
)
def test_no_request_gets_a_server_error(case, server_url, ledger):
    response = case.call(base_url=server_url, headers=ledger[2])
    assert response.status_code < 500, (response.status_code, case.body, response.text[:500])
    if response.status_code >= 400:
        detail = response.json().get("detail")
        assert isinstance(detail, str) and detail, response.text[:500]


@schema.parametrize()
@settings(max_examples=max(FUZZ_EXAMPLES // 2, 10), deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True)
def test_responses_conform_to_the_schema(case, server_url, ledger):
    """The documented checks: no 5xx, documented status codes and content types."""
    case.call_and_validate(
        base_url=server_url,
        headers=ledger[2],
        checks=[
            schemathesis.checks.not_a_server_error,
            schemathesis.checks.status_code_conformance,
            schemathesis.checks.content_type_conformance,
        ],
    )
