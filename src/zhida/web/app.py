"""The web calculator and the JSON API, over one loaded policy pack.

    create_app(pack)          the FastAPI app; the pack lives on `app.state.pack`, nothing global
    create_default_app()      the same over the Huzhou 2025 pack of this repository (for
                              `uvicorn --factory zhida.web.app:create_default_app`)
    run(app, host, port)      serve it with uvicorn as `zhida serve` does (no `server` banner)

API (documented at /docs):
    POST /api/v1/calculate?traditional=false   one case -> entitlements, total, unmatched events
    GET  /api/v1/rules | /api/v1/events | /api/v1/subjects | /api/v1/articles/{n} | /api/v1/health

Money never passes through float: the request body is read raw and decoded with
`json.loads(raw, parse_float=Decimal)`; amounts come back as decimal strings.
Every error a user can cause is a 422 (404 for an unknown article) whose `detail`
is one Chinese sentence naming the field.

Bounded work, a server that stays up:
    - a request body over MAX_BODY_BYTES is refused with 413: by its Content-Length before
      anything runs, else while it is read (a chunked body is cut off at the limit);
    - a case of more than MAX_CASE_EVENTS events is refused with 422 before any checking;
    - parsing, checking and computing a case run in a worker thread (COMPUTE_THREADS), not on
      the event loop, so a big case does not hold up other requests; only a body of at most
      INLINE_BODY_BYTES (a few events, under 1 ms) is computed in place. The form likewise;
    - an unexpected error is a 500 with a Chinese message and `Connection: close`, its traceback
      logged; the keep-alive connection is closed cleanly, not reset;
    - every response carries SECURITY_HEADERS; the pages and /docs use no inline script or style
      and load nothing from outside the app (Swagger UI is vendored under static/swagger).

Pages (Simplified Chinese; `?lang=zh-Hant` for Traditional):
    GET  /             choose a subject kind
    GET  /calc         the calculator form for one kind
    POST /calc         add or remove an event row, switch script, or calculate
The form is plain HTML: each button posts the whole form back and the server
re-renders it (one more event row, or the result under the form).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import re
import sys
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import anyio
import uvicorn
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.datastructures import FormData, Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zhida.engine.calculate import VERDICTS, calculate
from zhida.engine.case import (
    DATE_SCHEMA_PATTERN,
    MAX_TEXT,
    MONEY_SCHEMA_PATTERN,
    NUMBER_DIGITS,
    NUMBER_SCHEMA_PATTERN,
    CaseError,
    case_from_data,
    read_case_json,
)
from zhida.engine.evaluate import EvaluationError
from zhida.engine.output import result_to_dict
from zhida.rules.model import EventType, FieldType, Rule
from zhida.rules.pack import Pack, load_pack
from zhida.source.script import to_simplified, to_traditional

TITLE = "zhida 政策直达 API"
TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
MAX_EVENTS = 5  # event rows one calculator form holds
MAX_BODY_BYTES = 1024 * 1024  # 1 MB: a case of MAX_CASE_EVENTS events with room to spare
MAX_CASE_EVENTS = 1000
# One worker thread for calculations: the GIL runs one at a time anyway, and every other thread
# holding it makes the event loop wait for a switch interval (5 ms) on each wake-up. Measured with
# bench/api_bench.py: health p50 under the largest cases ~1 ms with one thread, ~24 ms with two.
COMPUTE_THREADS = 1
# A case this small (a few events, ~25 µs each) is computed on the event loop: under 1 ms, less than
# the hop to the thread and back costs. bench/api_bench.py, 3-event cases, 50 clients: p99 16 ms and
# 0.26 ms of server CPU a request this way, 21-23 ms and 0.40 ms with every case sent to the thread.
INLINE_BODY_BYTES = 4096
LIMITS_TEXT = (
    f"请求体最大 1 MB({MAX_BODY_BYTES} 字节),超过时答 413;"
    f"一个案例最多 {MAX_CASE_EVENTS} 个事件,超过时答 422。"
)
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
CENT = Decimal("0.01")
KIND_LABELS = {kind.value: label for kind, label in VERDICTS.items()}


def default_pack_path() -> Path:
    return Path(__file__).resolve().parents[3] / "policies" / "huzhou-2025"


def create_default_app() -> FastAPI:
    """The app over this repository's Huzhou 2025 pack (a factory for `uvicorn --factory`)."""
    return create_app(load_pack(default_pack_path()))


# --------------------------------------------------------------------------- catalogue
# Everything that depends only on the pack is built once, in create_app, and kept on
# app.state: the JSON of the catalogue endpoints as bytes, the OpenAPI schema of a case,
# the article titles the result page shows.


@dataclass(frozen=True)
class Catalogue:
    rules_json: bytes
    events_json: bytes
    subjects_json: bytes
    health_json: bytes
    document_title: str  # Simplified
    article_titles: dict[int, str]  # Simplified
    default_date: str  # first day of the document's validity, for new event rows
    kinds: dict[str, tuple[EventType, ...]] = field(default_factory=dict)  # subject kind -> its event types


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _clause(pack: Pack, rule: Rule) -> str:
    """The clause as the document has it (original script)."""
    return pack.document.text[rule.clause_span[0] : rule.clause_span[1]]


def rule_to_dict(pack: Pack, rule: Rule) -> dict[str, Any]:
    spec = rule.spec
    return {
        "id": rule.id,
        "title": spec.title,
        "article": spec.article,
        "kind": spec.kind.value,
        "event": spec.event,
        "subject": list(spec.subject),
        "when": rule.when.text,
        "amount": rule.amount.text if rule.amount is not None else None,
        "result": spec.result,
        "caps": [
            {"id": cap.id, "per": cap.per.value, "yuan": _money(cap.yuan), "clause": to_simplified(cap.clause)}
            for cap in rule.caps
        ],
        "clause": to_simplified(_clause(pack, rule)),
        "department": to_simplified(rule.department),
        "area": rule.area,
        "valid_from": rule.valid_from.isoformat(),
        "valid_to": rule.valid_to.isoformat(),
    }


def event_type_to_dict(event: EventType) -> dict[str, Any]:
    return {
        "name": event.name,
        "title": event.title,
        "subjects": list(event.subjects),
        "fields": [
            {
                "name": f.name,
                "type": f.type.value,
                "title": f.title,
                "unit": f.unit,
                "values": list(f.values),
                "minimum": None if f.minimum is None else str(f.minimum),
            }
            for f in event.fields
        ],
    }


def _dump(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def build_catalogue(pack: Pack) -> Catalogue:
    valid_from = pack.document.preamble.valid_from
    return Catalogue(
        rules_json=_dump([rule_to_dict(pack, rule) for rule in pack.rules]),
        events_json=_dump([event_type_to_dict(event) for event in pack.events.values()]),
        subjects_json=_dump([{"kind": kind, "name": name} for kind, name in pack.subjects.items()]),
        health_json=_dump({"status": "ok", "rules": len(pack.rules), "events": len(pack.events)}),
        document_title=to_simplified(pack.document.preamble.title),
        article_titles={article.number: to_simplified(article.title) for article in pack.document.articles},
        default_date=(valid_from or dt.date(2025, 1, 1)).isoformat(),
        kinds={
            kind: tuple(event for event in pack.events.values() if kind in event.subjects) for kind in pack.subjects
        },
    )


# --------------------------------------------------------------------------- OpenAPI of a case


def _field_schema(f) -> dict[str, Any]:
    """A field as the case reader accepts it (zhida.engine.case), so the schema promises no more."""
    described = f"{f.title}" + (f"({f.unit})" if f.unit else "")
    if f.type is FieldType.MONEY:
        return {
            "description": f"{described};金额,精确到分,不为负,小于 10^15 元;可写作数字或字符串(如 \"80000.01\"),"
            "不接受科学计数法",
            "anyOf": [
                {"type": "string", "pattern": MONEY_SCHEMA_PATTERN},
                {"type": "number", "minimum": 0, "exclusiveMaximum": 10**15, "multipleOf": 0.01},
            ],
        }
    if f.type is FieldType.NUMBER:
        return {
            "description": f"{described};不为负,小于 10^12,至多六位小数",
            "anyOf": [
                {"type": "string", "pattern": NUMBER_SCHEMA_PATTERN},
                {"type": "number", "minimum": 0, "exclusiveMaximum": 10**12},
            ],
        }
    if f.type is FieldType.INTEGER:
        minimum = int(f.minimum) if f.minimum is not None else 0
        return {"type": "integer", "description": described, "minimum": minimum, "maximum": 10 ** NUMBER_DIGITS[FieldType.INTEGER] - 1}
    if f.type is FieldType.FLAG:
        return {"type": "boolean", "description": described}
    if f.type is FieldType.CHOICE:
        return {"type": "string", "enum": list(f.values), "description": f"{described};繁体输入亦可"}
    return {"type": "string", "minLength": 1, "maxLength": MAX_TEXT, "description": described}


def case_schema(pack: Pack) -> dict[str, Any]:
    """JSON schema of a case, one alternative per event type of the pack."""
    event_schemas = []
    for event in pack.events.values():
        properties: dict[str, Any] = {
            "id": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT, "description": "事件编号,案例内唯一"},
            "type": {"type": "string", "enum": [event.name]},
            "date": {"type": "string", "format": "date", "pattern": DATE_SCHEMA_PATTERN, "description": "发生日期 YYYY-MM-DD"},
        }
        for f in event.fields:
            properties[f.name] = _field_schema(f)
        event_schemas.append(
            {
                "title": f"{event.name}:{event.title}",
                "description": f"{event.title};适用主体:{'、'.join(pack.subjects[k] for k in event.subjects)}",
                "type": "object",
                "properties": properties,
                "required": ["id", "type", "date", *(f.name for f in event.fields)],
                "additionalProperties": False,
            }
        )
    return {
        "title": "案例",
        "type": "object",
        "required": ["subject", "events"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "maxLength": MAX_TEXT, "description": "案例名称(可选)"},
            "subject": {
                "type": "object",
                "required": ["id", "kind"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT,
                           "description": "主体编号,如统一社会信用代码;年度上限按它累计"},
                    "kind": {"type": "string", "enum": list(pack.subjects), "description": "主体类型"},
                    "name": {"type": "string", "maxLength": MAX_TEXT, "description": "主体名称(可选)"},
                },
            },
            "events": {"type": "array", "items": {"anyOf": event_schemas}},
        },
    }


EXAMPLE_CASE = {
    "subject": {"id": "91330500MA2B3C4D5E", "kind": "enterprise", "name": "湖州某科技有限公司"},
    "events": [
        {"id": "h1", "type": "high_tech_recognition", "date": "2025-05-01", "recognition": "首次认定"},
        {"id": "v1", "type": "innovation_voucher", "date": "2025-03-01", "service_fee": "80000.01"},
    ],
}

ERROR_SCHEMA = {
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"type": "string", "description": "一句中文说明,指出出错的事件和字段"}},
}


def _calculate_openapi(pack: Pack) -> dict[str, Any]:
    example = EXAMPLE_CASE if all(e["type"] in pack.events for e in EXAMPLE_CASE["events"]) else None
    content: dict[str, Any] = {"schema": case_schema(pack)}
    if example is not None:
        content["example"] = example
    return {
        "requestBody": {
            "required": True,
            "description": (
                "一个案例:一个主体及其若干带日期的事件;每个事件恰好包含其类型声明的字段(见 GET /api/v1/events)。"
            ),
            "content": {"application/json": content},
        }
    }


# --------------------------------------------------------------------------- API

def _detail(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


async def calculate_case(
    request: Request,
    traditional: bool = Query(False, description="true 时以繁体输出,条文按原文引用"),
) -> Response:
    raw = await request.body()  # BodyLimit stops the read at MAX_BODY_BYTES
    pack: Pack = request.app.state.pack
    if len(raw) <= INLINE_BODY_BYTES:
        return answer_case(pack, raw, traditional)
    limiter = request.app.state.compute_limiter
    return await anyio.to_thread.run_sync(answer_case, pack, raw, traditional, limiter=limiter)


def answer_case(pack: Pack, raw: bytes, traditional: bool) -> Response:
    """Parse, check and compute one case into its response: CPU work, run in a worker thread."""
    try:
        data = read_case_json(raw)
        check_event_count(data)
    except ValueError as error:
        return _detail(422, str(error))
    try:
        result = calculate(pack, case_from_data(data, pack, "案例"))
    except (CaseError, EvaluationError) as error:
        return _detail(422, to_traditional(str(error)) if traditional else str(error))
    return JSONResponse(result_to_dict(pack, result, traditional=traditional))


def check_event_count(data: Any) -> None:
    """Refuse an oversized case before checking a single event of it (ValueError in Chinese)."""
    events = data.get("events") if isinstance(data, dict) else None
    if isinstance(events, list) and len(events) > MAX_CASE_EVENTS:
        raise ValueError(
            f"案例的事件过多:收到 {len(events)} 个,一个案例最多 {MAX_CASE_EVENTS} 个事件;请分成几个案例提交"
        )


async def list_rules(request: Request) -> Response:
    return _json(request.app.state.catalogue.rules_json)


async def list_events(request: Request) -> Response:
    return _json(request.app.state.catalogue.events_json)


async def list_subjects(request: Request) -> Response:
    return _json(request.app.state.catalogue.subjects_json)


async def health(request: Request) -> Response:
    return _json(request.app.state.catalogue.health_json)


async def get_article(request: Request, number: int) -> Response:
    pack: Pack = request.app.state.pack
    try:
        article = pack.document.article(number)
    except KeyError:
        count = len(pack.document.articles)
        return _detail(404, f"文件中没有第 {number} 条;条款编号为 1 至 {count}")
    area = pack.document.areas[article.area - 1]
    return JSONResponse(
        {
            "number": article.number,
            "title": to_simplified(article.title),
            "title_original": article.title,
            "text": to_simplified(article.text),
            "text_original": article.text,
            "area": article.area,
            "area_title": to_simplified(area.title),
            "department": to_simplified(area.department),
            "rules": [
                {"id": rule.id, "title": rule.spec.title, "kind": rule.spec.kind.value, "event": rule.spec.event}
                for rule in pack.rules
                if rule.spec.article == number
            ],
        }
    )


def api_router(pack: Pack) -> APIRouter:
    """The JSON API. The handlers read the pack from app.state; the documented schema is this pack's."""
    api = APIRouter(prefix="/api/v1", tags=["API"])
    json_error = {"application/json": {"schema": ERROR_SCHEMA}}
    api.add_api_route(
        "/calculate",
        calculate_case,
        methods=["POST"],
        summary="计算一个案例可享受的政策",
        description=(
            "按政策包的规则计算一个主体的各项事件可得的奖励、补助、税收优惠或资格,每项附推理过程(trace)、"
            "所依据的条文原文、条款号与牵头部门。金额一律为十进制字符串,请求与响应都不经过浮点数。"
            + LIMITS_TEXT
        ),
        # The body is read raw (never through float), so FastAPI cannot see it: describe it here.
        openapi_extra=_calculate_openapi(pack),
        responses={
            200: {"description": "计算结果:entitlements、total、unmatched"},
            413: {"description": f"请求体超过 1 MB({MAX_BODY_BYTES} 字节)", "content": json_error},
            422: {
                "description": f"案例有误、事件多于 {MAX_CASE_EVENTS} 个,或请求体不是有效的 JSON",
                "content": json_error,
            },
        },
    )
    api.add_api_route(
        "/rules",
        list_rules,
        methods=["GET"],
        summary="全部规则",
        description="每条规则的条件、金额公式、上限、所引条文(简体)、牵头部门与领域。",
    )
    api.add_api_route(
        "/events",
        list_events,
        methods=["GET"],
        summary="全部事件类型",
        description="每类事件的适用主体与须填写的字段。",
    )
    api.add_api_route("/subjects", list_subjects, methods=["GET"], summary="全部主体类型")
    api.add_api_route("/health", health, methods=["GET"], summary="健康检查")
    api.add_api_route(
        "/articles/{number}",
        get_article,
        methods=["GET"],
        summary="一条政策条款",
        description="条款的简体文本与原文、所属领域、牵头部门,以及引用它的规则。",
        responses={404: {"description": "文件中没有这一条", "content": json_error}},
    )
    return api


# --------------------------------------------------------------------------- pages

pages = APIRouter(include_in_schema=False)
_MARK = re.compile("\ue000(\\d+)\ue001")
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ue000-\uf8ff]")  # control and private-use characters


class _Keeper:
    """Protects fragments from the Simplified -> Traditional conversion of a whole page.

    `keep(text)` stands for text that must appear as it is in either script: what the
    user typed and the clause quoted verbatim from the document. In Traditional the
    page is rendered with placeholders, converted, and the fragments put back.
    """

    def __init__(self, traditional: bool):
        self.traditional = traditional
        self.kept: list[str] = []

    def __call__(self, value: Any) -> Markup:
        text = str(escape("" if value is None else value))
        if not self.traditional:
            return Markup(text)
        self.kept.append(text)
        return Markup(f"\ue000{len(self.kept) - 1}\ue001")

    def finish(self, html: str) -> str:
        if not self.traditional:
            return html
        return _MARK.sub(lambda match: self.kept[int(match[1])], to_traditional(html))


def _lang(value: str | None) -> str:
    return "zh-Hant" if value in ("zh-Hant", "zh-TW", "zh-HK", "hant", "traditional") else "zh-Hans"


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    app = request.app
    keep = _Keeper(context.get("lang") == "zh-Hant")
    pack: Pack = app.state.pack
    html = app.state.templates.get_template(name).render(
        {
            "document_title": app.state.catalogue.document_title,
            "subjects": pack.subjects,
            "keep": keep,
            "lang": "zh-Hans",
            "error": None,
            **context,
        }
    )
    return HTMLResponse(keep.finish(html), status_code=status)


@dataclass
class Row:
    """One event row of the calculator form, as the user typed it."""

    type: EventType
    date: str
    values: dict[str, str | bool]  # raw text; a flag is a bool

    @property
    def title(self) -> str:
        return self.type.title


def _blank_row(event: EventType, date: str) -> Row:
    values: dict[str, str | bool] = {}
    for f in event.fields:
        if f.type is FieldType.FLAG:
            values[f.name] = False
        elif f.type is FieldType.CHOICE:
            values[f.name] = f.values[0] if f.values else ""
        elif f.type is FieldType.INTEGER and f.minimum is not None:
            values[f.name] = str(int(f.minimum))
        else:
            values[f.name] = ""
    return Row(event, date, values)


def _clean(value: Any) -> str:
    return _UNSAFE.sub("", str(value)).strip() if value is not None else ""


class FormError(ValueError):
    pass


def _read_form(pack: Pack, form) -> tuple[str, str, list[Row]]:
    kind = _clean(form.get("subject_kind"))
    if kind not in pack.subjects:
        known = "、".join(f"{key}({title})" for key, title in pack.subjects.items())
        raise FormError(f"未知的主体类型 {kind!r};可选:{known}")
    name = _clean(form.get("subject_name"))
    rows: list[Row] = []
    for index in range(MAX_EVENTS):
        type_name = form.get(f"e{index}_type")
        if type_name is None:
            break
        event = pack.events.get(_clean(type_name))
        if event is None:
            raise FormError(f"第 {index + 1} 个事件:未知的事件类型 {_clean(type_name)!r}")
        values: dict[str, str | bool] = {}
        for f in event.fields:
            key = f"e{index}_{f.name}"
            if f.type is FieldType.FLAG:
                values[f.name] = form.get(key) is not None
            else:
                values[f.name] = _clean(form.get(key))
        rows.append(Row(event, _clean(form.get(f"e{index}_date")), values))
    return kind, name, rows


def _case_data(kind: str, name: str, rows: list[Row]) -> dict[str, Any]:
    events = []
    for index, row in enumerate(rows, start=1):
        item: dict[str, Any] = {"id": f"e{index}", "type": row.type.name, "date": row.date or None}
        for f in row.type.fields:
            value = row.values[f.name]
            item[f.name] = value if f.type is FieldType.FLAG else (value or None)  # "" -> missing
        events.append(item)
    return {"subject": {"id": "S1", "kind": kind, "name": name or "申请主体"}, "events": events}


@pages.get("/", response_class=HTMLResponse)
async def index(request: Request, lang: str | None = None) -> HTMLResponse:
    catalogue: Catalogue = request.app.state.catalogue
    return _render(request, "index.html", {"lang": _lang(lang), "kinds": catalogue.kinds})


def _calc_page(
    request: Request,
    kind: str,
    name: str,
    rows: list[Row],
    lang: str,
    *,
    error: str | None = None,
    result: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    catalogue: Catalogue = request.app.state.catalogue
    return _render(
        request,
        "calc.html",
        {
            "lang": lang,
            "kind": kind,
            "kind_name": request.app.state.pack.subjects[kind],
            "subject_name": name,
            "rows": rows,
            "choices": catalogue.kinds[kind],
            "max_events": MAX_EVENTS,
            "error": error,
            "result": result,
            "FieldType": FieldType,
        },
        status,
    )


@pages.get("/calc", response_class=HTMLResponse)
async def calc_form(request: Request, subject: str | None = None, lang: str | None = None) -> HTMLResponse:
    pack: Pack = request.app.state.pack
    if subject not in pack.subjects:
        known = "、".join(pack.subjects.values())
        message = f"请先选择主体类型({known})" if not subject else f"未知的主体类型 {subject!r};可选:{known}"
        catalogue: Catalogue = request.app.state.catalogue
        return _render(request, "index.html", {"lang": _lang(lang), "kinds": catalogue.kinds, "error": message}, 422)
    return _calc_page(request, subject, "", [], _lang(lang))


@pages.post("/calc", response_class=HTMLResponse)
async def calc_post(request: Request) -> HTMLResponse:
    form = await request.form()  # BodyLimit stops the read at MAX_BODY_BYTES
    limiter = request.app.state.compute_limiter
    return await anyio.to_thread.run_sync(answer_form, request, form, limiter=limiter)


def answer_form(request: Request, form: FormData) -> HTMLResponse:
    """One post of the calculator form into its page: checking, computing and rendering, in a worker thread."""
    pack: Pack = request.app.state.pack
    catalogue: Catalogue = request.app.state.catalogue
    lang = _lang(_clean(form.get("switch_lang")) or _clean(form.get("lang")))
    try:
        kind, name, rows = _read_form(pack, form)
    except FormError as error:
        return _render(request, "index.html", {"lang": lang, "kinds": catalogue.kinds, "error": str(error)}, 422)
    action = _clean(form.get("action")) or ("calculate" if form.get("switch_lang") and form.get("shown") else "")
    if action == "add":
        event = pack.events.get(_clean(form.get("new_type")))
        if event is None or kind not in event.subjects:
            message = f"请选择{pack.subjects[kind]}适用的事件类型"
            return _calc_page(request, kind, name, rows, lang, error=message, status=422)
        if len(rows) >= MAX_EVENTS:
            message = f"一次最多计算 {MAX_EVENTS} 个事件"
            return _calc_page(request, kind, name, rows, lang, error=message, status=422)
        rows.append(_blank_row(event, catalogue.default_date))
        return _calc_page(request, kind, name, rows, lang)
    if action.startswith("remove:"):
        position = action.removeprefix("remove:")
        if position.isdigit() and int(position) < len(rows):
            del rows[int(position)]
        return _calc_page(request, kind, name, rows, lang)
    if action != "calculate":
        return _calc_page(request, kind, name, rows, lang)
    if not rows:
        return _calc_page(request, kind, name, rows, lang, error="请先添加至少一个事件", status=422)
    try:
        result = calculate(pack, case_from_data(_case_data(kind, name, rows), pack, "表单"))
    except (CaseError, EvaluationError) as error:
        return _calc_page(request, kind, name, rows, lang, error=_form_message(str(error), rows), status=422)
    view = _result_view(request, result, rows)
    return _calc_page(request, kind, name, rows, lang, result=view)


def _form_message(message: str, rows: list[Row]) -> str:
    """A case error in the words of the form: 事件 e2 -> 第 2 个事件(类型)."""
    message = message.removeprefix("表单: ")

    def name(match: re.Match) -> str:
        index = int(match[1])
        title = rows[index - 1].type.title if 0 < index <= len(rows) else ""
        return f"第 {index} 个事件({title})" if title else match[0]

    return re.sub(r"事件 e(\d+)", name, message)


def _result_view(request: Request, result: Any, rows: list[Row]) -> dict[str, Any]:
    pack: Pack = request.app.state.pack
    catalogue: Catalogue = request.app.state.catalogue
    data = result_to_dict(pack, result)
    titles = {f"e{index}": row.type.title for index, row in enumerate(rows, start=1)}
    for item, entitlement in zip(data["entitlements"], result.entitlements, strict=True):
        item["clause_original"] = _clause(pack, entitlement.rule)
        item["article_title"] = catalogue.article_titles.get(item["article"], "")
        item["event_title"] = titles.get(item["event"], "")
        item["event_number"] = item["event"].removeprefix("e")
        item["kind_name"] = KIND_LABELS.get(item["kind"], item["kind"])
    for item in data["unmatched"]:
        item["event_title"] = titles.get(item["event"], "")
        item["event_number"] = item["event"].removeprefix("e")
    return data


# --------------------------------------------------------------------------- docs


async def swagger_page(request: Request) -> HTMLResponse:
    """Swagger UI from the app's own static files: works offline, no inline script (see static/swagger)."""
    template = request.app.state.templates.get_template("docs.html")
    return HTMLResponse(template.render(title=request.app.title, openapi_url=request.app.openapi_url))


# --------------------------------------------------------------------------- errors and limits


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
    page = _render(request, "error.html", context, status)
    page.headers.update(headers)
    return page



def body_too_large_message(request: Request) -> str:
    what = "表单" if not _wants_json(request) else "请求体"
    return f"{what}过大:最多 1 MB({MAX_BODY_BYTES} 字节),未予处理"


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

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > self.limit:
            request = Request(scope)
            await error_response(request, 413, body_too_large_message(request))(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
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
    except Exception:  # a page that cannot render falls back to JSON rather than failing twice
        response = JSONResponse({"detail": message}, status_code=500, headers={"connection": "close"})
    # ServerErrorMiddleware sends this outside every other middleware: add the headers here.
    response.headers.update(SECURITY_HEADERS)
    return response


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


# --------------------------------------------------------------------------- the app


def create_app(pack: Pack) -> FastAPI:
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
        },
    )
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    app.add_middleware(SecurityHeaders)  # added last, so outermost: it sees BodyLimit's 413 too
    app.state.compute_limiter = anyio.CapacityLimiter(COMPUTE_THREADS)
    app.state.pack = pack
    app.state.catalogue = build_catalogue(pack)
    app.state.templates = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    app.include_router(api_router(pack))
    app.include_router(pages)
    app.add_api_route("/docs", swagger_page, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
