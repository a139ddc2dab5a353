"""The calculator pages: choose a subject kind, add dated events, read the result, share its link.

    GET  /                     choose a subject kind
    GET  /calc?subject=KIND    the calculator form for one kind; with its fields in the query
                               (e0_type, e0_date, e0_<field>, …) and action=add / remove:N the
                               form with one row more or less, with action=calculate the result
    POST /calc                 an older form's post: answered with 303 to the same GET address
    GET  /docs                 Swagger UI from the app's own static files (static/swagger), offline
    GET  /packs                the documents served (title, issuer, date, validity, rules, 虚构 for a
                               fictional one); ?open=ID&to=calc|policy[&subject=KIND] is the document
                               chooser of the pages (a plain GET form): 303 to that pack's page
    GET  /packs/{id}/, /packs/{id}/calc
                               the same calculator over another pack (app.py includes this router
                               under /packs/{pack_id} too); the short addresses are the default pack's

Every address a page writes keeps its pack: links, the form's action, the 303s and the link to
share start with the page's root (`_root`: /packs/<id>, or '' at the default pack's short
addresses), and a result names the document it was computed under (title, issuer, year).

Everything a calculation needs is in its address, so a result can be bookmarked, reloaded and
shared (the page shows its link). The form is plain HTML sent with GET (`novalidate`: the server's
Chinese messages, never the browser's bubbles); add and remove answer with a 303 to the tidy
address of the new form. Money fields accept what zhida.engine.money_text reads (300,000, 30万,
0.3亿) and show the amount read back in 元 and 万元 beside the field: rendered by the server, and
kept up to date while typing by static/calc.js. Checking, computing and rendering run in a worker
thread, as the API's cases do. The 简/繁 switch is the site's (/lang, a cookie), and the page is
converted whole (site.render); what the user typed and the quoted clause are kept as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from zhida.engine.calculate import SUMMED, VERDICTS, calculate
from zhida.engine.case import CaseError, case_from_data
from zhida.engine.evaluate import EvaluationError
from zhida.engine.money_text import FORMS, MoneyProblem, describe, parse_money
from zhida.engine.output import result_to_dict
from zhida.ledger.access import Refused
from zhida.rules.model import EventType, FieldType, Rule
from zhida.rules.pack import Pack
from zhida.source.script import to_simplified
from zhida.web.catalogue import Catalogue, ServedPack, clause_text, explicit, served, unknown_pack
from zhida.web.site import render

MAX_EVENTS = 5  # event rows one calculator form holds
OTHER_COUNTY = "其他区县"  # a county overlay's form: the subject is not in its county (its base rules only)
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


@dataclass
class Form:
    """The calculator form as the address holds it: subject kind and name, event rows, the action asked."""

    kind: str
    name: str
    rows: list[Row]
    action: str = ""
    county: str = ""  # a county overlay's form only: its county, or OTHER_COUNTY

    def query(self, action: str = "") -> list[tuple[str, str]]:
        """The address of this form (with `action`): the same pairs always, so it is canonical."""
        pairs = [("subject", self.kind)] + ([("name", self.name)] if self.name else [])
        pairs += [("county", self.county)] if self.county else []
        for index, row in enumerate(self.rows):
            pairs += [(f"e{index}_type", row.type.name), (f"e{index}_date", row.date)]
            for f in row.type.fields:
                value = row.values[f.name]
                if f.type is not FieldType.FLAG:
                    pairs.append((f"e{index}_{f.name}", str(value)))
                elif value:
                    pairs.append((f"e{index}_{f.name}", "1"))
        return pairs + ([("action", action)] if action else [])


class FormError(ValueError):
    pass


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


def _read_form(pack: Pack, data: Any) -> Form:
    """The form from an address's query (or an older form's post, whose names it also reads)."""
    kind = _clean(data.get("subject") or data.get("subject_kind"))
    if kind not in pack.subjects:
        known = "、".join(f"{key}({title})" for key, title in pack.subjects.items())
        if not kind:
            raise FormError(f"请先选择主体类型({'、'.join(pack.subjects.values())})")
        raise FormError(f"未知的主体类型 {kind!r};可选:{known}")
    name = _clean(data.get("name") or data.get("subject_name"))
    county = _read_county(pack, data)
    rows: list[Row] = []
    for index in range(MAX_EVENTS):
        type_name = data.get(f"e{index}_type")
        if type_name is None:
            break
        event = pack.events.get(_clean(type_name))
        if event is None:
            raise FormError(f"第 {index + 1} 个事件:未知的事件类型 {_clean(type_name)!r}")
        values: dict[str, str | bool] = {}
        for f in event.fields:
            key = f"e{index}_{f.name}"
            values[f.name] = data.get(key) is not None if f.type is FieldType.FLAG else _clean(data.get(key))
        rows.append(Row(event, _clean(data.get(f"e{index}_date")), values))
    return Form(kind, name, rows, _clean(data.get("action")), county)


def _read_county(pack: Pack, data: Any) -> str:
    """Where the subject is, on a county overlay's form: its county (the default) or another one.
    The county's own rules apply to that county's subjects only; other forms have no such field."""
    if pack.county is None:
        return ""
    county = to_simplified(_clean(data.get("county"))) or pack.county  # a Traditional page sends 安吉縣
    if county not in (pack.county, OTHER_COUNTY):
        raise FormError(f"所在区县只能选择 {pack.county} 或 {OTHER_COUNTY},而不是 {county!r}")
    return county


def _case_data(form: Form) -> dict[str, Any]:
    events = []
    for index, row in enumerate(form.rows, start=1):
        item: dict[str, Any] = {"id": f"e{index}", "type": row.type.name, "date": row.date or None}
        for f in row.type.fields:
            value = row.values[f.name]
            item[f.name] = value if f.type is FieldType.FLAG else (value or None)  # "" -> missing
        events.append(item)
    subject = {"id": "S1", "kind": form.kind, "name": form.name or "申请主体"}
    if form.county and form.county != OTHER_COUNTY:
        subject["county"] = form.county
    return {"subject": subject, "events": events}


def _root(request: Request) -> str:
    """Where the calculator of this request's pack is: /packs/<id>, or '' at the short addresses."""
    return served(request).root(explicit(request))


@pages.get("/", response_class=HTMLResponse)
async def index(request: Request) -> HTMLResponse:
    catalogue: Catalogue = served(request).catalogue
    return render(request, "index.html", {"kinds": catalogue.kinds})


@pages.get("/calc", response_class=HTMLResponse)
async def calc_page(request: Request) -> Response:
    limiter = request.app.state.compute_limiter
    return await anyio.to_thread.run_sync(answer, request, limiter=limiter)


@pages.post("/calc", response_class=HTMLResponse)
async def calc_post(request: Request) -> Response:
    """A form posted by an older page: the same form at its GET address (the script switch by /lang)."""
    data = await request.form()  # BodyLimit stops the read at MAX_BODY_BYTES
    site = served(request)
    calc = _root(request) + "/calc?"
    try:
        form = _read_form(site.pack, data)
    except FormError as error:
        return render(request, "index.html", {"kinds": site.catalogue.kinds, "error": str(error)}, 422)
    keep = [(key, _clean(data.get(key))) for key in ("new_type", "lang") if data.get(key)]
    switch = _clean(data.get("switch_lang"))
    if switch:
        again = form.query("calculate" if data.get("shown") else "")
        return RedirectResponse("/lang?" + urlencode({"to": switch, "next": calc + urlencode(again)}), 303)
    return RedirectResponse(calc + urlencode(form.query(form.action) + keep), 303)


def answer(request: Request) -> Response:
    """One GET of the calculator: the form, a row more or less (303 to its address), or the result."""
    site = served(request)
    pack, catalogue = site.pack, site.catalogue
    calc = _root(request) + "/calc?"
    query = request.query_params
    try:
        form = _read_form(pack, query)
    except FormError as error:
        return render(request, "index.html", {"kinds": catalogue.kinds, "error": str(error)}, 422)
    lang = [("lang", query["lang"])] if "lang" in query else []  # an address's own script stays with it
    if form.action == "add":
        event = pack.events.get(_clean(query.get("new_type")))
        if event is None or form.kind not in event.subjects:
            return _calc_page(request, form, error=f"请选择{pack.subjects[form.kind]}适用的事件类型", status=422)
        if len(form.rows) >= MAX_EVENTS:
            return _calc_page(request, form, error=f"一次最多计算 {MAX_EVENTS} 个事件", status=422)
        form.rows.append(_blank_row(event, catalogue.default_date))
        return RedirectResponse(calc + urlencode(form.query() + lang), 303)
    if form.action.startswith("remove:"):
        position = form.action.removeprefix("remove:")
        if position.isdigit() and int(position) < len(form.rows):
            del form.rows[int(position)]
        return RedirectResponse(calc + urlencode(form.query() + lang), 303)
    if form.action != "calculate":
        return _calc_page(request, form)
    asked = [pair for pair in parse_qsl(request.url.query, keep_blank_values=True) if pair[0] != "lang"]
    if asked != form.query("calculate"):  # the tidy address, to bookmark and share
        return RedirectResponse(calc + urlencode(form.query("calculate") + lang), 303)
    if not form.rows:
        return _calc_page(request, form, error="请先添加至少一个事件", status=422)
    try:
        result = calculate(pack, case_from_data(_case_data(form), pack, "表单"))
    except (CaseError, EvaluationError) as error:
        return _calc_page(request, form, error=_form_message(str(error), form.rows), status=422)
    return _calc_page(request, form, result=_result_view(request, result, form.rows))


def _calc_page(
    request: Request, form: Form, *, error: str | None = None, result: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    site = served(request)
    catalogue: Catalogue = site.catalogue
    share = _root(request) + "/calc?" + urlencode(form.query("calculate"))
    return render(
        request,
        "calc.html",
        {
            "kind": form.kind,
            "kind_name": site.pack.subjects[form.kind],
            "subject_name": form.name,
            "county": form.county,
            "counties": (site.pack.county, OTHER_COUNTY) if site.pack.county else (),
            "rows": form.rows,
            "readback": _readback(form.rows),
            "choices": catalogue.kinds[form.kind],
            "max_events": MAX_EVENTS,
            "error": error,
            "result": result,
            "share_path": share,
            "share_url": str(request.base_url).rstrip("/") + share,
            "explicit_lang": request.query_params.get("lang"),
            "forms": FORMS,
            "FieldType": FieldType,
        },
        status,
    )


def _readback(rows: list[Row]) -> dict[str, str]:
    """What each money field that reads means, in 元 and 万元 ("300,000.00 元(30 万元)"), by input name."""
    shown: dict[str, str] = {}
    for index, row in enumerate(rows):
        for f in row.type.fields:
            text = row.values[f.name]
            if f.type is FieldType.MONEY and isinstance(text, str) and text:
                try:
                    shown[f"e{index}_{f.name}"] = describe(parse_money(text))
                except MoneyProblem:
                    pass  # the calculation's message names the field
    return shown


def _form_message(message: str, rows: list[Row]) -> str:
    """A case error in the words of the form: 事件 e2 的字段 premium(保费) -> 第 2 个事件(类型)的“保费”."""
    message = message.removeprefix("表单: ")
    for row in rows:
        for f in row.type.fields:
            message = message.replace(f" 的字段 {f.name}({f.title})", f"的“{f.title}”")
            message = message.replace(f"缺少字段 {f.name}({f.title})", f"缺少“{f.title}”")
    message = message.replace(" 的字段 date", "的发生日期").replace("缺少字段 date", "缺少发生日期")

    def name(match: re.Match) -> str:
        index = int(match[1])
        title = rows[index - 1].type.title if 0 < index <= len(rows) else ""
        return f"第 {index} 个事件({title})" if title else match[0]

    return re.sub(r"事件 e(\d+)", name, message)


def _article_title(pack: Pack, catalogue: Catalogue, rule: Rule) -> str:
    """The title of the article a rule cites, in the document it quotes (a county rule: the county's)."""
    if pack.document_of(rule) is pack.document:
        return catalogue.article_titles.get(rule.spec.article, "")
    try:
        return to_simplified(pack.document_of(rule).article(rule.spec.article).title)
    except KeyError:
        return ""


def _result_view(request: Request, result: Any, rows: list[Row]) -> dict[str, Any]:
    site = served(request)
    pack, catalogue = site.pack, site.catalogue
    data = result_to_dict(pack, result)
    titles = {f"e{index}": row.type.title for index, row in enumerate(rows, start=1)}
    for item, entitlement in zip(data["entitlements"], result.entitlements, strict=True):
        item["clause_original"] = clause_text(pack, entitlement.rule)
        item["article_title"] = _article_title(pack, catalogue, entitlement.rule)
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


# --------------------------------------------------------------------------- the documents served

pack_pages = APIRouter(include_in_schema=False)


@pack_pages.get("/packs", response_class=HTMLResponse)
async def packs_page(
    request: Request, chosen: str | None = Query(None, alias="open"), to: str = "calc", subject: str = ""
) -> Response:
    """The documents served; with ?open=ID (the chooser of the calculator and policy pages), that one."""
    if chosen is not None:
        return _open_pack(request, chosen, to, _clean(subject))
    packs: dict[str, ServedPack] = request.app.state.packs
    context = {"packs": list(packs.values()), "skipped": sorted(request.app.state.skipped_packs)}
    return render(request, "packs.html", context)


def _open_pack(request: Request, chosen: str, to: str, subject: str) -> RedirectResponse:
    """The chooser's answer: 303 to the same page (calculator, with its subject kind if the other
    document has it; or policy) of the pack chosen, at the address naming it, in the page's script."""
    packs: dict[str, ServedPack] = request.app.state.packs
    site = packs.get(chosen)
    if site is None:
        raise Refused(404, unknown_pack(chosen, packs))
    query = [("lang", request.query_params["lang"])] if "lang" in request.query_params else []
    if to == "policy":
        target = site.root() + "/policy"
    elif subject in site.pack.subjects:
        target, query = site.root() + "/calc", [("subject", subject), *query]
    else:
        target = site.root() + "/"
    return RedirectResponse(target + (f"?{urlencode(query)}" if query else ""), 303)


# --------------------------------------------------------------------------- docs


async def swagger_page(request: Request) -> HTMLResponse:
    """Swagger UI from the app's own static files: works offline, no inline script (see static/swagger)."""
    template = request.app.state.templates.get_template("docs.html")
    return HTMLResponse(template.render(title=request.app.title, openapi_url=request.app.openapi_url))
