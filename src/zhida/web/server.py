"""How the app meets the network: error answers, the two ASGI middlewares, and the uvicorn server.

    error_response, http_error, validation_error, server_error
        every error in one Chinese sentence: JSON `{"detail": ...}` under /api/ and for the schema,
        an error page (pages.render, error.html) for everything else
    BodyLimit        no request body over MAX_BODY_BYTES reaches the app: 413, by its Content-Length
                     before anything runs, else while it is read (a chunked body is cut off at the limit)
    SecurityHeaders  SECURITY_HEADERS on every response, errors and static files included
    BoundedHttp      uvicorn's httptools protocol with the request head bounded: at most MAX_HEAD_BYTES
                     (431) within HEAD_SECONDS of its first byte (408); a body that stops arriving for
                     BODY_IDLE_SECONDS is dropped
    server_config, prepare_server_process, run
        uvicorn as `zhida serve` runs it: no `server` banner, BoundedHttp, the heap frozen, a 1 ms GIL
        switch interval

A server that stays up: an unexpected error is a 500 with a Chinese message and
`Connection: close`, its traceback logged; the keep-alive connection is closed cleanly,
not reset. The handlers and middlewares are registered by create_app (zhida.web.app);
what acts on the whole process (prepare_server_process) belongs to the server's start.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import sys
from typing import Any

import uvicorn
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from zhida.web.api import MAX_BODY_BYTES
from zhida.web.site import render

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    # Scripts and styles only from the app's own files (no inline code); Swagger UI's CSS draws its
    # icons as data: images.
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
}
logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- errors, body limit, headers


_HEADINGS = {
    400: "提交的内容无法解析",
    404: "页面不存在",
    405: "不支持的请求方式",
    413: "提交的内容过大",
    422: "请求有误",
    500: "服务器内部错误",
}


def _wants_json(request: Request) -> bool:
    """The API and its schema answer errors in JSON; everything else is a page a person reads."""
    return request.url.path.startswith("/api/") or request.url.path == request.app.openapi_url


def error_response(request: Request, status: int, message: str, *, close: bool = False) -> Response:
    """One error in Chinese: JSON `{"detail": ...}` for the API, an HTML page otherwise.

    `close` adds `Connection: close`, after a 500. A 413 keeps the connection: uvicorn reads and
    drops the rest of the body, so a client that sends its whole body before reading the answer
    gets the 413 rather than a reset.
    """
    headers = {"connection": "close"} if close else {}
    if _wants_json(request):
        return JSONResponse({"detail": message}, status_code=status, headers=headers)
    context = {"error": message, "heading": _HEADINGS.get(status, "出错了"), "status": status}
    page = render(request, "error.html", context, status)
    page.headers.update(headers)
    return page


def body_too_large_message(request: Request, limit: int = MAX_BODY_BYTES) -> str:
    what = "表单" if not _wants_json(request) else "请求体"
    return f"{what}过大:最多 {limit // (1024 * 1024)} MB({limit} 字节),未予处理"


class BodyTooLarge(HTTPException):
    """The body passed MAX_BODY_BYTES while it was being read; answered by `http_error` as a 413."""

    def __init__(self) -> None:
        super().__init__(status_code=413)


class BodyLimit:
    """ASGI middleware: no request body over `limit` bytes reaches the app.

    A declared Content-Length over the limit is answered at once, before the app runs. Otherwise
    (a chunked body, or a Content-Length that lies) the bytes are counted as they are received and
    the read stops with BodyTooLarge at the first chunk past the limit: the body is never held whole.
    """

    def __init__(self, app: ASGIApp, limit: int, larger: tuple[tuple[re.Pattern[str], int], ...] = ()) -> None:
        self.app = app
        self.limit = limit
        self.larger = larger  # (path pattern, limit): routes that take files, each with its own bound

    def _limit(self, path: str) -> int:
        for pattern, limit in self.larger:
            if pattern.fullmatch(path):
                return limit
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            request = Request(scope)
            await error_response(request, 413, body_too_large_message(request, limit))(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        await self.app(scope, limited, send)


class SecurityHeaders:
    """ASGI middleware: SECURITY_HEADERS on every response (pages, API, docs, static files, errors)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def http_error(request: Request, error: HTTPException) -> Response:
    """404, 405, 413 … in Chinese (Starlette's own are English)."""
    if error.status_code == 413:
        return error_response(request, 413, body_too_large_message(request))
    what = "请求" if _wants_json(request) else "表单"
    messages = {
        # Starlette's form parser: more than 1000 fields, or a multipart body that does not parse
        400: f"{what}无法解析:字段过多(最多 1000 个)或格式有误,未予处理",
        404: f"没有这个地址:{request.url.path}",
        405: f"{request.url.path} 不接受 {request.method} 请求",
    }
    message = messages.get(error.status_code, f"请求未能处理(HTTP {error.status_code})")
    response = error_response(request, error.status_code, message)
    response.headers.update(error.headers or {})
    return response


_EXPECTED = {"int_parsing": "须为整数", "bool_parsing": "须为 true 或 false", "missing": "不能缺少"}


async def validation_error(request: Request, error: RequestValidationError) -> Response:
    """A bad path or query parameter: one Chinese sentence naming it (FastAPI's own is an English list)."""
    first = error.errors()[0]
    where = {"path": "路径参数", "query": "查询参数"}.get(str(first["loc"][0]), "参数")
    name = ".".join(str(part) for part in first["loc"][1:])
    expected = _EXPECTED.get(first["type"], "不符合要求")
    value = f" {first['input']!r}" if first["type"] != "missing" else ""
    return error_response(request, 422, f"{where} {name}{value} {expected}")


async def server_error(request: Request, error: Exception) -> Response:
    """The last resort: a Chinese 500 that closes the connection, so a keep-alive client is not reset.

    Starlette's ServerErrorMiddleware calls this, sends the answer and re-raises; the server
    closes the connection after it. The traceback is logged here, with the request line (uvicorn
    logs it once more as "Exception in ASGI application", without the request).
    """
    logger.error("%s %s 出错", request.method, request.url.path, exc_info=error)
    message = "服务器内部错误:请求未能完成,已记录;请稍后重试或联系维护人员"
    try:
        response = error_response(request, 500, message, close=True)
    except Exception:  # noqa: BLE001 - a page that cannot render falls back to JSON rather than failing twice
        response = JSONResponse({"detail": message}, status_code=500, headers={"connection": "close"})
    # ServerErrorMiddleware sends this outside every other middleware: add the headers here.
    response.headers.update(SECURITY_HEADERS)
    return response


# --------------------------------------------------------------------------- the server

# The request line and headers together. A browser sends a few KB; nginx's default buffers hold 32 KB.
MAX_HEAD_BYTES = 64 * 1024
HEAD_SECONDS = 10.0  # from the first byte of a request to the blank line that ends its headers
BODY_IDLE_SECONDS = 30.0  # the longest wait for the next piece of a body the server is ready to read
# After a 408 or 431, what the client still sends is read and dropped for this long (at most DRAINED_BYTES)
# before the connection is closed: closed at once with unread bytes, the client would get a reset, and
# most clients then lose the answer.
LINGER_SECONDS = 2.0
DRAINED_BYTES = 16 * 1024 * 1024


class BoundedHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol, with limits it does not have itself.

    Why: httptools keeps a header of any length in memory (a 1 MB header and 100,000 headers were
    accepted), and a client that sends its head or its body a byte at a time would hold a connection
    and its memory for as long as it likes. The head is the bytes between the end of the previous
    request on the connection and the end of this one's headers: over MAX_HEAD_BYTES it is answered
    431, not complete within HEAD_SECONDS of its first byte 408, and the connection is closed. A body
    is dropped (the app sees the client leave) once nothing has arrived for BODY_IDLE_SECONDS while
    the server was reading; a body the app has not read yet (reading paused) is never timed out.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.in_head = True
        self.head_bytes = 0
        self.timer: asyncio.TimerHandle | None = None
        self.drained: int | None = None  # bytes dropped since a refusal; None until one

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.drained is not None:  # refused: nothing more is parsed
            self.drained += len(data)
            if self.drained > DRAINED_BYTES:
                self.transport.close()
            return
        if self.in_head:
            self.head_bytes += len(data)
            if self.timer is None:
                self.timer = self.loop.call_later(HEAD_SECONDS, self._head_too_slow)
        else:
            self._watch_body()
        super().data_received(data)
        if self.in_head and self.head_bytes > MAX_HEAD_BYTES and self.drained is None and not self.transport.is_closing():
            self._refuse(431, f"请求头过大:请求行与请求头合计最多 {MAX_HEAD_BYTES // 1024} KB,未予处理")

    def on_headers_complete(self) -> None:
        self.in_head = False
        self._watch_body()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        # What arrives after this is the next request's head, counted from nothing.
        self.in_head = True
        self.head_bytes = 0
        self._stop_timer()
        super().on_message_complete()

    def _watch_body(self) -> None:
        self._stop_timer()
        self.timer = self.loop.call_later(BODY_IDLE_SECONDS, self._body_stopped)

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _head_too_slow(self) -> None:
        self.timer = None
        if self.in_head and self.drained is None and not self.transport.is_closing():
            self._refuse(408, f"请求超时:请求头须在 {HEAD_SECONDS:g} 秒内发完,未予处理")

    def _body_stopped(self) -> None:
        self.timer = None
        if self.in_head or self.transport.is_closing():
            return
        if self.flow.read_paused:  # the app has not read what came yet: not the client's delay
            self._watch_body()
            return
        self.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        """A plain-text answer before any app runs; the connection is then closed (it cannot be resynchronised)
        once the client has stopped sending or LINGER_SECONDS have passed."""
        body = message.encode("utf-8")
        reason = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        lines = [b"HTTP/1.1 %d %s" % (status, reason)]
        lines += [name + b": " + value for name, value in self.server_state.default_headers]  # date, as uvicorn's own
        lines += [b"content-type: text/plain; charset=utf-8", b"content-length: %d" % len(body), b"connection: close"]
        lines += [name.encode("ascii") + b": " + value.encode("ascii") for name, value in SECURITY_HEADERS.items()]
        self._stop_timer()
        self.transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        self.drained = 0
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the answer, then end of stream; the client's rest is still read
        self.timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)


def server_config(app: ASGIApp, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> uvicorn.Config:
    """How the app is served: uvicorn without its `server: uvicorn` banner, the request head bounded
    (BoundedHttp; `http=` another protocol only for comparison, bench/api_bench.py)."""
    return uvicorn.Config(app, host=host, port=port, server_header=False, **{"http": BoundedHttp, **options})


def prepare_server_process() -> None:
    """Tune this process for serving, once the app is made: the event loop must not wait on the rest.

    - Freeze the heap (gc.freeze): a full collection walks every tracked object, with the pack
      loaded a 30-50 ms pause of every thread, event loop included, about every ten largest cases.
      Frozen objects are skipped by the collector and still freed by reference counting.
    - GIL switch interval 1 ms instead of 5: while the calculation thread holds the GIL, each
      wake-up of the event loop waits up to one interval. bench/api_bench.py: health p99 while the
      largest cases are computed 12-15 ms instead of 27-48 ms.
    Both act on the whole process, so they belong to the server's start, never to create_app.
    """
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(0.001)


def run(app: ASGIApp, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the app in the foreground (`zhida serve`)."""
    prepare_server_process()
    uvicorn.Server(server_config(app, host, port)).run()
