"""The server-rendered pages: the calculator in Simplified Chinese (`?lang=zh-Hant` for Traditional), and /docs.

    GET  /             choose a subject kind
    GET  /calc         the calculator form for one kind
    POST /calc         add or remove an event row, switch script, or calculate
    GET  /docs         Swagger UI from the app's own static files (static/swagger), offline

The form is plain HTML: each button posts the whole form back and the server
re-renders it (one more event row, or the result under the form); checking,
computing and rendering a post run in the worker thread, as the API's cases do.
A page is rendered in Simplified; for Traditional the whole page is converted, and
`_Keeper` holds back what must stay as it is: what the user typed and the clause
quoted from the document. `render` is shared with the error pages (zhida.web.server).

Templates and static files are package files of zhida.web (templates/*.html, static/*),
found through importlib.resources; the pages and /docs use no inline script or style and
load nothing from outside the app.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from zhida.engine.calculate import SUMMED, VERDICTS, calculate
from zhida.engine.case import CaseError, case_from_data
from zhida.engine.evaluate import EvaluationError
from zhida.engine.output import result_to_dict
from zhida.rules.model import EventType, FieldType
from zhida.rules.pack import Pack
from zhida.web.catalogue import Catalogue, clause_text
from zhida.web.site import lang_of as _lang
from zhida.web.site import page_lang
from zhida.web.site import render

MAX_EVENTS = 5  # event rows one calculator form holds
KIND_LABELS = {kind.value: label for kind, label in VERDICTS.items()}
# The sub-totals of a result, each a sum of one verdict only (DESIGN.md: sums never mix kinds).
TOTAL_LABELS = {"ceiling": "最高可得", "floor": "至少", "exact": "应得", "tax": "节税"}


# --------------------------------------------------------------------------- calculator

pages = APIRouter(include_in_schema=False)
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ue000-\uf8ff]")  # control and private-use characters


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
    return render(request, "index.html", {"lang": page_lang(request), "kinds": catalogue.kinds})


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
    return render(
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
        return render(request, "index.html", {"lang": page_lang(request), "kinds": catalogue.kinds, "error": message}, 422)
    return _calc_page(request, subject, "", [], page_lang(request))


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
        return render(request, "index.html", {"lang": lang, "kinds": catalogue.kinds, "error": str(error)}, 422)
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
        item["clause_original"] = clause_text(pack, entitlement.rule)
        item["article_title"] = catalogue.article_titles.get(item["article"], "")
        item["event_title"] = titles.get(item["event"], "")
        item["event_number"] = item["event"].removeprefix("e")
        item["kind_name"] = KIND_LABELS.get(item["verdict"], item["verdict"])
    present = {item["verdict"] for item in data["entitlements"]}
    data["subtotals"] = [
        {"verdict": kind.value, "label": TOTAL_LABELS[kind.value], "amount": data["totals"][kind.value]}
        for kind in SUMMED
        if kind.value in present
    ]
    for item in data["unmatched"]:
        item["event_title"] = titles.get(item["event"], "")
        item["event_number"] = item["event"].removeprefix("e")
    return data


# --------------------------------------------------------------------------- docs


async def swagger_page(request: Request) -> HTMLResponse:
    """Swagger UI from the app's own static files: works offline, no inline script (see static/swagger)."""
    template = request.app.state.templates.get_template("docs.html")
    return HTMLResponse(template.render(title=request.app.title, openapi_url=request.app.openapi_url))
