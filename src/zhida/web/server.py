"""How the app meets the network: error answers, the two ASGI middlewares, and the uvicorn server.

    error_response, http_error, validation_error, server_error
        every error in one Chinese sentence: JSON `{"detail": ...}` under /api/ and for the schema,
        an error page (pages.render, error.html) for everything else
    BodyLimit        no request body over MAX_BODY_BYTES reaches the app: 413, by its Content-Length
                     before anything runs, else while it is read (a chunked body is cut off at the limit)
    SecurityHeaders  SECURITY_HEADERS on every response, errors and static files included
    server_config, prepare_server_process, run
        uvicorn as `zhida serve` runs it: no `server` banner, the heap frozen, a 1 ms GIL switch interval

A server that stays up: an unexpected error is a 500 with a Chinese message and
`Connection: close`, its traceback logged; the keep-alive connection is closed cleanly,
not reset. The handlers and middlewares are registered by create_app (zhida.web.app);
what acts on the whole process (prepare_server_process) belongs to the server's start.
"""

from __future__ import annotations

import re

import gc
import logging
import sys
from typing import Any

import uvicorn
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


def server_config(app: ASGIApp, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> uvicorn.Config:
    """How the app is served: uvicorn without its `server: uvicorn` banner."""
    return uvicorn.Config(app, host=host, port=port, server_header=False, **options)


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
