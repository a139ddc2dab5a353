"""Bounded work and a server that stays up (zhida.web.api, zhida.web.server): body and case limits, the event loop kept
free while a case is computed, security headers everywhere, a clean 500.

Several tests run the app in a real uvicorn server in a thread, on a socket bound here to a free port
of 127.0.0.1, because what they check (chunked bodies, keep-alive connections, the `server` header,
the event loop) does not exist in Starlette's TestClient.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import re
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import Request

from zhida.rules.pack import Pack, load_pack
from zhida.web import api
from zhida.web.api import MAX_BODY_BYTES, MAX_CASE_EVENTS
from zhida.web import server as server_module
from zhida.web.app import create_app
from zhida.web.server import BodyLimit, BodyTooLarge, server_config

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient` is deprecated")
    from fastapi.testclient import TestClient

PACK = Path(__file__).resolve().parents[1] / "policies" / "huzhou-2025"
ENTERPRISE = {"id": "91330500MA2B3C4D5E", "kind": "enterprise", "name": "湖州某科技有限公司"}
JSON = {"content-type": "application/json"}
EXPECTED_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@pytest.fixture(scope="module")
def pack() -> Pack:
    return load_pack(PACK)


@pytest.fixture(scope="module")
def client(pack):
    with TestClient(create_app(pack)) as client:
        yield client


@contextmanager
def serving(app) -> Iterator[str]:
    """The app in a real uvicorn server (as `zhida serve` configures it) in a thread; yields its base URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(server_config(app, "127.0.0.1", port, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


@pytest.fixture(scope="module")
def live(pack) -> Iterator[str]:
    with serving(create_app(pack)) as base:
        yield base


def voucher_events(count: int) -> list[dict]:
    """`count` innovation vouchers of 1000.00 元 service fee each (50% = 500.00 元 a voucher)."""
    return [
        {"id": f"v{index}", "type": "innovation_voucher", "date": "2025-03-01", "service_fee": "1000.00"}
        for index in range(count)
    ]


def padded(data: dict, size: int) -> bytes:
    """The case as JSON of exactly `size` bytes: blank space before the closing brace is still JSON."""
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    assert len(body) <= size
    return body[:-1] + b" " * (size - len(body)) + b"}"


def largest_case() -> bytes:
    """The largest case accepted: MAX_CASE_EVENTS events in a body of exactly MAX_BODY_BYTES."""
    return padded({"subject": ENTERPRISE, "events": voucher_events(MAX_CASE_EVENTS)}, MAX_BODY_BYTES)


# ------------------------------------------------------------------ body size


def test_the_largest_case_is_computed(client):
    response = client.post("/api/v1/calculate", content=largest_case(), headers=JSON)
    assert response.status_code == 200, response.text
    data = response.json()
    # 按實際發生服務費用給予最高50%比例的補助,單個企業全年最高補助20萬元: 1000 × 500 元 stops at 20万
    assert data["total"] == "200000.00"
    assert len(data["entitlements"]) + len(data["unmatched"]) == MAX_CASE_EVENTS


def test_one_byte_over_the_limit_is_413_in_chinese(client):
    body = padded({"subject": ENTERPRISE, "events": voucher_events(3)}, MAX_BODY_BYTES + 1)
    response = client.post("/api/v1/calculate", content=body, headers=JSON)
    assert response.status_code == 413
    assert response.json() == {"detail": "请求体过大:最多 1 MB(1048576 字节),未予处理"}


def run_body_limit(app, inner, headers: list[tuple[bytes, bytes]], chunks: Iterator[bytes]) -> tuple[list[dict], int]:
    """BodyLimit around the ASGI app `inner`, called directly (no server), with a body of `chunks`.

    `app` is the zhida app the scope belongs to (BodyLimit answers with its error page). Returns the
    messages sent and how many chunks were pulled from the client.
    """
    pulled, sent = 0, []

    async def receive() -> dict:
        nonlocal pulled
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/v1/calculate", "headers": headers,
             "query_string": b"", "app": app}
    asyncio.run(BodyLimit(inner, MAX_BODY_BYTES)(scope, receive, send))
    return sent, pulled


def test_a_declared_length_over_the_limit_is_answered_before_the_app_runs(pack):
    reached = []

    async def inner(scope, receive, send):  # stands for the routes: must not be reached
        reached.append(scope["path"])

    header = [(b"content-length", str(MAX_BODY_BYTES + 1).encode())]
    sent, pulled = run_body_limit(create_app(pack), inner, header, iter([b"{}"]))
    assert reached == [] and pulled == 0
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"]) == {"detail": "请求体过大:最多 1 MB(1048576 字节),未予处理"}


def test_a_streamed_body_is_cut_off_at_the_limit(pack):
    """Without Content-Length the bytes are counted as they come: reading stops at the first chunk past 1 MB."""
    chunk = b" " * 65536
    read: list[int] = []

    async def inner(scope, receive, send):  # reads the whole body, as Request.body() does
        while True:
            message = await receive()
            read.append(len(message["body"]))
            if not message.get("more_body"):
                return

    sixty_four = iter([chunk] * 64)  # a client sending 4 MB
    with pytest.raises(BodyTooLarge):
        run_body_limit(create_app(pack), inner, [(b"transfer-encoding", b"chunked")], sixty_four)
    # 16 chunks are exactly 1 MB, allowed; the 17th is refused as it arrives, never handed to the app
    assert len(read) == MAX_BODY_BYTES // len(chunk) and sum(read) == MAX_BODY_BYTES


def test_a_chunked_body_over_the_limit_is_413_and_the_connection_stays_usable(live):
    """End to end through uvicorn: a chunked upload past 1 MB gets the Chinese 413, then the next request works."""
    host, port = live.removeprefix("http://").split(":")
    with closing(http.client.HTTPConnection(host, int(port), timeout=30)) as connection:
        chunked_over_limit_then_health(connection)


def chunked_over_limit_then_health(connection: http.client.HTTPConnection) -> None:
    body = padded({"subject": ENTERPRISE, "events": voucher_events(3)}, MAX_BODY_BYTES + 1)
    pieces = (body[start : start + 65536] for start in range(0, len(body), 65536))
    connection.request("POST", "/api/v1/calculate", body=pieces, headers=JSON, encode_chunked=True)
    response = connection.getresponse()
    assert response.status == 413
    assert response.getheader("transfer-encoding") is None  # the answer is complete, with a length
    assert json.loads(response.read()) == {"detail": "请求体过大:最多 1 MB(1048576 字节),未予处理"}
    connection.request("GET", "/api/v1/health")  # the same keep-alive connection: uvicorn dropped the rest
    again = connection.getresponse()
    assert again.status == 200 and json.loads(again.read())["status"] == "ok"


def test_the_form_is_under_the_same_limit(client):
    form = b"subject_kind=enterprise&action=calculate&subject_name=" + b"x" * MAX_BODY_BYTES
    response = client.post("/calc", content=form, headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert '<html lang="zh-Hans">' in response.text
    assert "表单过大:最多 1 MB(1048576 字节),未予处理" in response.text


def test_a_chunked_form_over_the_limit_is_413_html(live):
    host, port = live.removeprefix("http://").split(":")
    pieces = iter([b"subject_kind=enterprise&subject_name="] + [b"x" * 65536] * 17)
    with closing(http.client.HTTPConnection(host, int(port), timeout=30)) as connection:
        connection.request("POST", "/calc", body=pieces, encode_chunked=True,
                           headers={"content-type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        html = response.read().decode("utf-8")
    assert response.status == 413 and "表单过大" in html and "<h1>提交的内容过大</h1>" in html


# ------------------------------------------------------------------ events per case


# ------------------------------------------------------------------ the request head, slow clients


def exchange(base: str, raw: bytes, timeout: float = 15) -> tuple[bytes, float]:
    """Send raw bytes on a new connection; everything the server answers until it closes, and how long that took."""
    host, port = base.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=timeout) as connection:
        connection.sendall(raw)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer, time.monotonic() - started


def health(base: str) -> int:
    return httpx.get(f"{base}/api/v1/health", timeout=10).status_code


def test_a_head_over_64_kb_is_431_and_the_server_stays_up(live):
    # httptools alone kept a 1 MB header, or 100,000 headers, in memory and passed them to the app.
    one_large = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 1_000_000 + b"\r\n\r\n"
    many = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(100_000)) + b"\r\n"
    for raw in (one_large, many):
        answer, _ = exchange(live, raw)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 431 ")
        assert b"connection: close" in head and b"x-content-type-options: nosniff" in head
        assert body.decode("utf-8") == "请求头过大:请求行与请求头合计最多 64 KB,未予处理"
    assert health(live) == 200


def test_a_head_just_under_64_kb_is_served(live):
    request = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: "
    ending = b"\r\n\r\n"
    raw = request + b"a" * (server_module.MAX_HEAD_BYTES - len(request) - len(ending)) + ending
    assert len(raw) == 64 * 1024
    answer, _ = exchange(live, raw)
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_a_head_sent_too_slowly_is_408(live, monkeypatch):
    monkeypatch.setattr(server_module, "HEAD_SECONDS", 0.5)
    answer, seconds = exchange(live, b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")  # no blank line: never ends
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ") and b"connection: close" in head
    assert body.decode("utf-8") == "请求超时:请求头须在 0.5 秒内发完,未予处理"
    assert 0.5 <= seconds < 5
    assert health(live) == 200


def test_a_body_that_stops_arriving_is_dropped(live, monkeypatch):
    monkeypatch.setattr(server_module, "BODY_IDLE_SECONDS", 0.5)
    raw = b"POST /api/v1/calculate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    answer, seconds = exchange(live, raw)  # 1 byte of the 100 declared, then nothing
    assert answer == b"" and 0.5 <= seconds < 5  # closed by the server, nothing answered
    assert health(live) == 200


def test_keep_alive_requests_each_get_their_own_head_allowance(live):
    # Three requests of 40 KB heads on one connection: 120 KB in all, each under the 64 KB limit.
    host, port = live.removeprefix("http://").split(":")
    with closing(http.client.HTTPConnection(host, int(port), timeout=30)) as connection:
        for _ in range(3):
            connection.request("GET", "/api/v1/health", headers={"X-Pad": "a" * 40_000})
            response = connection.getresponse()
            assert response.status == 200 and json.loads(response.read())["status"] == "ok"


def test_more_than_1000_events_is_422_before_any_event_is_checked(client):
    # the events are not even valid: the count is refused first, without checking 1,001 events
    body = json.dumps({"subject": ENTERPRISE, "events": [{}] * (MAX_CASE_EVENTS + 1)})
    response = client.post("/api/v1/calculate", content=body, headers=JSON)
    assert response.status_code == 422
    assert response.json() == {"detail": "案例的事件过多:收到 1001 个,一个案例最多 1000 个事件;请分成几个案例提交"}


def test_1000_events_are_checked_as_usual(client):
    body = json.dumps({"subject": ENTERPRISE, "events": [{}] * MAX_CASE_EVENTS})
    response = client.post("/api/v1/calculate", content=body, headers=JSON)
    assert response.status_code == 422
    assert "事件过多" not in response.json()["detail"]  # the first event's own problem instead


def test_the_limits_are_documented(client):
    spec = client.get("/openapi.json").json()
    for text in (spec["info"]["description"], spec["paths"]["/api/v1/calculate"]["post"]["description"]):
        assert "请求体最大 1 MB(1048576 字节),超过时答 413" in text
        assert "一个案例最多 1000 个事件,超过时答 422" in text
    assert "413" in spec["paths"]["/api/v1/calculate"]["post"]["responses"]


# ------------------------------------------------------------------ the event loop


def test_a_case_being_computed_does_not_hold_up_other_requests(pack, monkeypatch):
    """While the largest case is being computed, /api/v1/health still answers at once.

    The calculation is held open until the health answer is in: if it ran on the event loop, the
    loop would be blocked, health would time out, and the test fail.
    """
    started, release = threading.Event(), threading.Event()
    real_calculate = api.calculate

    def held_calculate(pack, case):
        started.set()
        release.wait(10)
        return real_calculate(pack, case)

    monkeypatch.setattr(api, "calculate", held_calculate)
    answers: dict[str, httpx.Response] = {}

    def post_largest_case(base: str) -> None:
        answers["case"] = httpx.post(base + "/api/v1/calculate", content=largest_case(), headers=JSON, timeout=30)

    with serving(create_app(pack)) as base:
        poster = threading.Thread(target=post_largest_case, args=(base,))
        poster.start()
        try:
            assert started.wait(10), "the case never reached the calculation"
            began = time.perf_counter()
            health = httpx.get(base + "/api/v1/health", timeout=2)
            waited = time.perf_counter() - began
        finally:
            release.set()
            poster.join(30)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert waited < 0.2, f"health took {1000 * waited:.0f} ms while a case was computed"
    assert answers["case"].status_code == 200 and answers["case"].json()["total"] == "200000.00"


# ------------------------------------------------------------------ headers


def over_limit(base: str) -> httpx.Response:
    return httpx.post(base + "/api/v1/calculate", content=b" " * (MAX_BODY_BYTES + 1), headers=JSON)


RESPONSES = {
    "index": (lambda base: httpx.get(base + "/"), 200),
    "calculator": (lambda base: httpx.get(base + "/calc", params={"subject": "enterprise"}), 200),
    # a result is a GET address now (shareable); the old POST answers 303 to it
    "form-result": (lambda base: httpx.get(base + "/calc", params={
        "subject": "enterprise", "e0_type": "high_tech_recognition",
        "e0_date": "2025-05-01", "e0_recognition": "首次认定", "action": "calculate"}), 200),
    "form-post": (lambda base: httpx.post(base + "/calc", data={
        "subject_kind": "enterprise", "action": "calculate", "e0_type": "high_tech_recognition",
        "e0_date": "2025-05-01", "e0_recognition": "首次认定"}), 303),
    "health": (lambda base: httpx.get(base + "/api/v1/health"), 200),
    "docs": (lambda base: httpx.get(base + "/docs"), 200),
    "openapi": (lambda base: httpx.get(base + "/openapi.json"), 200),
    "static": (lambda base: httpx.get(base + "/static/site.css"), 200),
    "page-404": (lambda base: httpx.get(base + "/no-such-page"), 404),
    "api-404": (lambda base: httpx.get(base + "/api/v1/articles/99"), 404),
    "422": (lambda base: httpx.post(base + "/api/v1/calculate", content=b"not json", headers=JSON), 422),
    "413": (over_limit, 413),
}


@pytest.mark.parametrize("name", list(RESPONSES))
def test_security_headers_on_every_response(live, name):
    fetch, status = RESPONSES[name]
    response = fetch(live)
    assert response.status_code == status, response.text
    for header, value in EXPECTED_HEADERS.items():
        assert response.headers[header] == value
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "server" not in response.headers  # no `server: uvicorn` banner
    assert "date" in response.headers


@pytest.mark.parametrize("name", ["index", "calculator", "form-result", "page-404", "docs"])
def test_pages_have_no_inline_script_or_style(live, name):
    """What the CSP refuses must not be on the pages: inline <script>/<style>, style="" or on…="" attributes."""
    html = RESPONSES[name][0](live).text
    assert "<style" not in html and not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)
    assert all(re.search(r'\ssrc="/static/', tag) for tag in re.findall(r"<script[^>]*>", html))


def test_docs_load_nothing_from_outside(client):
    html = client.get("/docs").text
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/static/swagger/swagger-ui-bundle.js" in assets and "/static/swagger/swagger-ui.css" in assets
    assert all(asset.startswith("/") and not asset.startswith("//") for asset in assets), assets
    assert "http://" not in html and "https://" not in html
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    assert client.get("/redoc").status_code == 404


# ------------------------------------------------------------------ 500


def failing_app(pack):
    """The zhida app plus two routes that fail as a bug would, one in the API and one page."""
    app = create_app(pack)

    async def broken(request: Request):
        raise RuntimeError("a bug")

    app.add_api_route("/api/v1/broken", broken, methods=["GET"])
    app.add_api_route("/broken", broken, methods=["GET"])
    return app


def test_a_500_closes_the_connection_cleanly(pack, caplog):
    """After a 500 the next request on the same keep-alive connection is answered, not reset."""
    with serving(failing_app(pack)) as base, caplog.at_level(logging.ERROR, logger="zhida.web.server"):
        host, port = base.removeprefix("http://").split(":")
        with closing(http.client.HTTPConnection(host, int(port), timeout=10)) as connection:
            keep_alive_across_a_500(connection)
    [record] = [record for record in caplog.records if record.name == "zhida.web.server"]
    assert "GET /api/v1/broken" in record.getMessage()
    assert record.exc_info is not None and str(record.exc_info[1]) == "a bug"  # the traceback is logged


def keep_alive_across_a_500(connection: http.client.HTTPConnection) -> None:
    """A request, a failing one, another: the 500 says `Connection: close`, so the client opens a new one."""
    connection.request("GET", "/api/v1/health")
    first = connection.getresponse()
    assert first.status == 200 and first.getheader("connection") is None  # a keep-alive connection
    first.read()
    connection.request("GET", "/api/v1/broken")
    failed = connection.getresponse()
    detail = json.loads(failed.read())["detail"]
    assert failed.status == 500 and detail.startswith("服务器内部错误")
    assert failed.getheader("connection") == "close"
    assert failed.getheader("x-frame-options") == "DENY" and failed.getheader("server") is None
    connection.request("GET", "/api/v1/health")  # http.client reconnects, as the 500 said it would
    after = connection.getresponse()
    assert after.status == 200 and json.loads(after.read())["status"] == "ok"


def test_a_500_on_a_page_is_a_chinese_page(pack):
    with TestClient(failing_app(pack), raise_server_exceptions=False) as client:
        response = client.get("/broken")
    assert response.status_code == 500
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["connection"] == "close"
    assert "<h1>服务器内部错误</h1>" in response.text and "RuntimeError" not in response.text
