"""The web calculator and the JSON API over one loaded policy pack: this room assembles the others.

    create_app(pack, ledger, packs)
                              the FastAPI app over the default pack `pack` (on `app.state.pack`, the
                              ledger's) and any other packs (`packs`, by id): every pack on
                              `app.state.packs` as a catalogue.ServedPack, nothing global
    load_packs(entries, choice)
                              the packs zhida.rules.library finds, loaded: the default one must load
                              (its PackError stops the start), another that does not is skipped
    create_default_app()      the same over every pack found, the newest document the default (for
                              `uvicorn --factory zhida.web.app:create_default_app`)

Addresses over several packs: /api/v1/packs and /api/v1/packs/{id}/… (api.py); /packs, and
/packs/{id}/, /packs/{id}/calc, /packs/{id}/policy… (pages.py, policy_pages.py). The short
addresses (/calc, /policy, /api/v1/calculate …) are the default pack's.

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

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlencode

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from zhida.ledger.access import Refused
from zhida.ledger.budgets import seed_budgets
from zhida.ledger.database import connect, database_url, sessions, transaction, upgrade
from zhida.rules import library
from zhida.rules.library import PackEntry
from zhida.rules.pack import Pack, PackError, load_pack
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
    reform_pages,
    review_api,
    self_pages,
    targets_api,
)
from zhida.web.access import LEDGER_RESPONSES, LedgerState, document_idempotency, refused_response
from zhida.web.api import COMPUTE_THREADS, LIMITS_TEXT, MAX_BODY_BYTES, api_router, packs_router
from zhida.web.catalogue import PACK_PARAM, ServedPack, build_catalogue, served
from zhida.web.pages import pack_pages, pages, swagger_page
from zhida.web.server import BodyLimit, SecurityHeaders, error_response, http_error, server_error, validation_error
from zhida.web.site import STATIC, LoginNeeded, site, template_environment

TITLE = "zhida 政策直达 API"


log = logging.getLogger("zhida.web")


def default_pack_path() -> Path:
    """The default pack's folder: the only pack, or the newest document (zhida.rules.library)."""
    return library.choose(None).path


@dataclass(frozen=True)
class LoadedPacks:
    """The packs found and loaded: the default's id first in `packs`, and why any other was skipped."""

    default: str
    packs: dict[str, Pack]
    skipped: dict[str, str]  # pack id -> the reason it did not load


def load_packs(entries: dict[str, PackEntry] | None = None, choice: str | None = None) -> LoadedPacks:
    """Every pack found (library.find_packs), loaded; `choice` the default, as `--pack` takes it (an
    id or a folder; None: the library's default).

    The default pack must load: its PackError, naming the pack, stops the start. Another pack that
    does not load (an overlay before its loader exists, a broken folder) is skipped and logged."""
    entries = library.find_packs() if entries is None else entries
    chosen = library.choose(choice, entries)
    entries = {chosen.id: chosen, **{pack_id: entry for pack_id, entry in entries.items() if pack_id != chosen.id}}
    packs: dict[str, Pack] = {}
    skipped: dict[str, str] = {}
    default = chosen.id
    for pack_id, entry in entries.items():
        try:
            packs[pack_id] = load_pack(entry.path)
        except (PackError, OSError, ValueError) as error:  # the parser's and yaml's errors are ValueErrors
            if pack_id == default:
                raise PackError(f"默认政策包 {pack_id} 无法载入:{error}") from error
            skipped[pack_id] = str(error)
            log.warning("政策包 %s 未载入,已跳过:%s", pack_id, error)
    return LoadedPacks(default, packs, skipped)


def create_default_app() -> FastAPI:
    """The app over every pack found (the newest document the default) (a factory for `uvicorn --factory`),
    with the ledger, bound to the default pack, at DATABASE_URL or in ./zhida.db, created, migrated and
    given the pack's budgets; on a first start (no users yet) the demo data too, its accounts printed
    (ZHIDA_DEMO=0: none), as `zhida serve`."""
    import os

    from zhida.ledger.demo import accounts_text, seed_demo

    loaded = load_packs()
    pack = loaded.packs[loaded.default]
    ledger = open_ledger_state(pack, database_url())
    if os.environ.get("ZHIDA_DEMO", "1") != "0":
        summary = seed_demo(ledger.factory, pack, ledger.files)
        if summary.seeded:
            print(accounts_text(summary), flush=True)
    return create_app(pack, ledger, loaded.packs, skipped=loaded.skipped)


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


def create_app(
    pack: Pack,
    ledger: LedgerState | None = None,
    packs: dict[str, Pack] | None = None,
    *,
    skipped: dict[str, str] | None = None,
) -> FastAPI:
    """The app over the default pack `pack` and the other `packs` (by id; `pack` may be among them):
    what depends on a pack is built here once and kept on app.state. The ledger is the default pack's.
    `skipped` (pack id -> reason) is listed on /packs as not loaded."""
    app = FastAPI(
        title=TITLE,
        version="1",
        description=(
            f"把《{to_simplified(pack.document.preamble.title)}》变成可执行的规则:"
            "计算一个主体可享受的政策、金额、依据的条文和牵头部门。金额一律为十进制字符串。"
            "本服务提供的全部政策包见 GET /api/v1/packs;/api/v1/packs/{pack_id}/… 为某一政策包的接口,"
            "不带编号的 /api/v1/calculate 等即默认政策包的接口。"
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
    app.state.sandbox_baselines = reform_pages.BaselineCache()  # the policy sandbox's baselines, a few
    shelf = serve_packs(pack, packs or {})
    default = next(iter(shelf.values()))
    app.state.packs = shelf
    app.state.default_pack = default.id
    app.state.skipped_packs = dict(skipped or {})
    app.state.pack = pack
    app.state.catalogue = default.catalogue
    # built at start, not on the first visit: one per pack
    # (a county overlay's browser shows the county's own document: its base has its own)
    app.state.policy_books = {
        pack_id: policy_pages.build_policy_book(site.pack.county_view() or site.pack) for pack_id, site in shelf.items()
    }
    app.state.policy_book = app.state.policy_books[default.id]
    app.state.templates = template_environment()
    app.state.ledger = ledger
    app.include_router(packs_router(pack))
    app.include_router(api_router(pack))
    app.include_router(api_router(pack, tuple(shelf)))
    ledger_paths: set[str] = set()
    for room in (accounts_api, review_api, payments_api, budgets_api, targets_api):
        app.include_router(room.router, responses=LEDGER_RESPONSES)
        ledger_paths.update(route.path for route in room.router.routes)
    app.openapi = _with_idempotency(app, ledger_paths)
    app.include_router(site)
    app.include_router(pages)
    app.include_router(pack_pages)
    for room in (policy_pages, self_pages, console_pages, finance_pages, dashboard_pages, reform_pages, import_pages, exports):
        app.include_router(room.router)
    # The calculator and the policy browser of any pack: /packs/{pack_id}/, /calc, /policy …
    for router in (pages, policy_pages.router):
        app.include_router(router, prefix=f"/packs/{{{PACK_PARAM}}}", dependencies=[Depends(_known_pack)])
    app.add_api_route("/docs", swagger_page, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def serve_packs(pack: Pack, packs: dict[str, Pack]) -> dict[str, ServedPack]:
    """Every pack as served, the default (`pack`, under its id in `packs` or its folder's name) first."""
    default_id = next((pack_id for pack_id, other in packs.items() if other is pack), pack.path.name)
    if packs.get(default_id, pack) is not pack:
        raise ValueError(f"政策包编号 {default_id} 重复:默认政策包与 packs 中的另一个")
    ordered = {default_id: pack, **{pack_id: other for pack_id, other in packs.items() if pack_id != default_id}}
    return {
        pack_id: ServedPack(_entry(pack_id, other), other, build_catalogue(other), pack_id == default_id)
        for pack_id, other in ordered.items()
    }


def _entry(pack_id: str, pack: Pack) -> PackEntry:
    """A pack's listing from its policy.yaml, else from the document's own preamble."""
    if (pack.path / "policy.yaml").is_file():
        return replace(library.read_entry(pack.path), id=pack_id)
    preamble = pack.document.preamble
    return PackEntry(pack_id, pack.path, preamble.title, preamble.issuer or "", preamble.issued, None, False)


async def _known_pack(request: Request) -> None:
    """A page under /packs/{pack_id}/: an unknown id is the error page, naming it (404)."""
    served(request)


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
