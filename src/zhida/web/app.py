"""The web calculator and the JSON API over one loaded policy pack: this room assembles the others.

    create_app(pack)          the FastAPI app; the pack lives on `app.state.pack`, nothing global
    create_default_app()      the same over the Huzhou 2025 pack of this repository (for
                              `uvicorn --factory zhida.web.app:create_default_app`)

The rooms of the web layer, imported one way (catalogue, schema -> api, pages -> server -> app):
    catalogue.py   what depends only on the pack, built once: the catalogue endpoints' JSON as bytes,
                   titles and event types for the pages (Catalogue, build_catalogue, rule_to_dict)
    schema.py      the OpenAPI schema of a case, which the raw-read body needs written out
                   (case_schema, calculate_openapi, EXAMPLE_CASE, ERROR_SCHEMA)
    api.py         the JSON API under /api/v1 (api_router) and the limits of one request
                   (MAX_BODY_BYTES, MAX_CASE_EVENTS, COMPUTE_THREADS, INLINE_BODY_BYTES, LIMITS_TEXT)
    pages.py       the calculator pages, Traditional by conversion (_Keeper, render), /docs,
                   and where the templates and static files are (TEMPLATES, STATIC)
    server.py      error answers in Chinese, the BodyLimit and SecurityHeaders middlewares, and the
                   uvicorn server as `zhida serve` runs it (server_config, prepare_server_process, run)
The ledger's API (under /api/v1, over app.state.ledger):
    access.py      who is asking (bearer token or session cookie + CSRF), Idempotency-Key, money input
    accounts_api.py, review_api.py, payments_api.py, budgets_api.py, targets_api.py
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from zhida.ledger.access import Refused
from zhida.ledger.budgets import seed_budgets
from zhida.ledger.database import connect, database_url, sessions, transaction, upgrade
from zhida.rules.pack import Pack, load_pack
from zhida.source.script import to_simplified
from zhida.web import (
    accounts_api,
    budgets_api,
    console_pages,
    dashboard_pages,
    exports,
    finance_pages,
    import_pages,
    payments_api,
    policy_pages,
    review_api,
    self_pages,
    targets_api,
)
from zhida.web.access import LEDGER_RESPONSES, LedgerState, document_idempotency, refused_response
from zhida.web.api import COMPUTE_THREADS, LIMITS_TEXT, MAX_BODY_BYTES, api_router
from zhida.web.catalogue import build_catalogue
from zhida.web.pages import pages, swagger_page
from zhida.web.server import BodyLimit, SecurityHeaders, error_response, http_error, server_error, validation_error
from zhida.web.site import STATIC, LoginNeeded, site, template_environment

TITLE = "zhida 政策直达 API"


def default_pack_path() -> Path:
    return Path(__file__).resolve().parents[3] / "policies" / "huzhou-2025"


def create_default_app() -> FastAPI:
    """The app over this repository's Huzhou 2025 pack (a factory for `uvicorn --factory`), with the
    ledger at DATABASE_URL or in ./zhida.db, created, migrated and given the pack's budgets; on a first
    start (no users yet) the demo data too, its accounts printed (ZHIDA_DEMO=0: none), as `zhida serve`."""
    import os

    from zhida.ledger.demo import accounts_text, seed_demo

    pack = load_pack(default_pack_path())
    ledger = open_ledger_state(pack, database_url())
    if os.environ.get("ZHIDA_DEMO", "1") != "0":
        summary = seed_demo(ledger.factory, pack, ledger.files)
        if summary.seeded:
            print(accounts_text(summary), flush=True)
    return create_app(pack, ledger)


def open_ledger_state(pack: Pack, url: str, files: Path | None = None) -> LedgerState:
    """The ledger at `url`, migrated, with the area budgets the document states (once)."""
    engine = connect(url)
    upgrade(engine)
    factory = sessions(engine)
    with transaction(factory) as session:
        seed_budgets(session, pack)
    if files is None:
        files = Path(engine.url.database).resolve().parent / "zhida-files" if url.startswith("sqlite") else Path("zhida-files")
    return LedgerState(factory, pack, files)


def create_app(pack: Pack, ledger: LedgerState | None = None) -> FastAPI:
    """The app over one pack: what depends on the pack is built here once and kept on app.state."""
    app = FastAPI(
        title=TITLE,
        version="1",
        description=(
            f"把《{to_simplified(pack.document.preamble.title)}》变成可执行的规则:"
            "计算一个主体可享受的政策、金额、依据的条文和牵头部门。金额一律为十进制字符串。"
            + LIMITS_TEXT
        ),
        docs_url=None,
        redoc_url=None,
        exception_handlers={
            HTTPException: http_error,
            RequestValidationError: validation_error,
            Exception: server_error,
            Refused: _refused,
            LoginNeeded: _login_needed,
        },
    )
    app.add_middleware(
        BodyLimit,
        limit=MAX_BODY_BYTES,
        larger=(
            (review_api.ATTACHMENT_PATH, review_api.ATTACHMENT_BODY_BYTES),
            (self_pages.UPLOAD_PATH, review_api.ATTACHMENT_BODY_BYTES),
            (import_pages.UPLOAD_PATH, import_pages.UPLOAD_BODY_BYTES),
        ),
    )
    app.add_middleware(SecurityHeaders)  # added last, so outermost: it sees BodyLimit's 413 too
    app.state.compute_limiter = anyio.CapacityLimiter(COMPUTE_THREADS)
    app.state.pack = pack
    app.state.catalogue = build_catalogue(pack)
    app.state.policy_book = policy_pages.build_policy_book(pack)  # built at start, not on the first visit
    app.state.templates = template_environment()
    app.state.ledger = ledger
    app.include_router(api_router(pack))
    ledger_paths: set[str] = set()
    for room in (accounts_api, review_api, payments_api, budgets_api, targets_api):
        app.include_router(room.router, responses=LEDGER_RESPONSES)
        ledger_paths.update(route.path for route in room.router.routes)
    app.openapi = _with_idempotency(app, ledger_paths)
    app.include_router(site)
    app.include_router(pages)
    for room in (policy_pages, self_pages, console_pages, finance_pages, dashboard_pages, import_pages, exports):
        app.include_router(room.router)
    app.add_api_route("/docs", swagger_page, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _refused(request: Request, error: Refused) -> Response:
    """A refusal of the ledger: JSON for the API, the error page (with its sentence) for a page."""
    if request.url.path.startswith("/api/"):
        return refused_response(request, error)
    return error_response(request, error.status, error.message)


def _login_needed(request: Request, error: LoginNeeded) -> Response:
    return RedirectResponse("/login?" + urlencode({"next": error.path}), status_code=303)


def _with_idempotency(app: FastAPI, paths: set[str]):
    """FastAPI's schema, with the Idempotency-Key header every ledger write requires written in."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            document_idempotency(build(), paths)
        return app.openapi_schema

    return openapi
