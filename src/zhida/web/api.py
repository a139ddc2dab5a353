"""The JSON API under /api/v1, and the limits that bound the work of one request.

    POST /api/v1/calculate?traditional=false   one case -> entitlements, totals by kind, unmatched events,
                                               and the pack it was computed under (`pack`, its id;
                                               `pack_document`: title, issuer, issued, fictional)
    GET  /api/v1/rules | /api/v1/events | /api/v1/subjects | /api/v1/articles/{n} | /api/v1/health
    GET  /api/v1/packs                         every pack served: id, title, issuer, date, validity,
                                               extends, fictional, default, rules, addresses
    GET  /api/v1/packs/{pack_id}               one of them
    POST /api/v1/packs/calculate?pack=A&pack=B one case under several packs at once (engine.several):
                                               each pack's result, the overlaps that `stacking:`
                                               decided, and the totals over all, by kind
    …    /api/v1/packs/{pack_id}/calculate …   every path above, over that pack; the short paths
                                               are aliases of the default pack's (the same bytes)

`api_router(pack)` builds the router of the short paths, `api_router(pack, ids)` the one under
/api/v1/packs/{pack_id}; the handlers read the pack a request means (catalogue.served) from
app.state (nothing global). The documented request schema is the default pack's (zhida.web.schema).
An unknown pack id is a 404 whose detail names it.

Money never passes through float: the request body is read raw and decoded with
`json.loads(raw, parse_float=Decimal)`; amounts come back as decimal strings.
Every error a user can cause is a 422 (404 for an unknown article) whose `detail`
is one Chinese sentence naming the field.

Limits (documented in LIMITS_TEXT, at /docs):
    - a request body over MAX_BODY_BYTES is refused with 413 (enforced by zhida.web.server.BodyLimit);
    - a case of more than MAX_CASE_EVENTS events is refused with 422 before any checking;
    - parsing, checking and computing a case run in a worker thread (COMPUTE_THREADS), not on
      the event loop, so a big case does not hold up other requests; only a body of at most
      INLINE_BODY_BYTES (a few events, under 1 ms) is computed in place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from zhida.engine.calculate import calculate
from zhida.engine.case import CaseError, case_from_data, read_case_json
from zhida.engine.evaluate import EvaluationError
from zhida.engine.output import result_to_dict, several_to_dict
from zhida.engine.several import calculate_several
from zhida.rules.pack import Pack, PackError
from zhida.source.numerals import format_value
from zhida.source.script import to_simplified, to_traditional
from zhida.web.catalogue import PACK_PARAM, ServedPack, served, unknown_pack
from zhida.web.schema import ERROR_SCHEMA, calculate_openapi

# --------------------------------------------------------------------------- limits

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


# --------------------------------------------------------------------------- handlers


def _detail(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


async def calculate_case(
    request: Request,
    traditional: bool = Query(False, description="true 时以繁体输出,条文按原文引用"),
) -> Response:
    site = served(request)
    raw = await request.body()  # BodyLimit stops the read at MAX_BODY_BYTES
    if len(raw) <= INLINE_BODY_BYTES:
        return answer_case(site, raw, traditional)
    limiter = request.app.state.compute_limiter
    return await anyio.to_thread.run_sync(answer_case, site, raw, traditional, limiter=limiter)


def answer_case(site: ServedPack, raw: bytes, traditional: bool) -> Response:
    """Parse, check and compute one case into its response: CPU work, run in a worker thread.

    The answer names the pack it was computed under: `pack` its id (as the engine writes it) and
    `pack_document` what the document is (title, issuer, date, fictional): the family's documents
    share their titles, so the issuer and date say which one it is."""
    def compute(data: Any) -> dict[str, Any]:
        result = calculate(site.pack, case_from_data(data, site.pack, "案例"))
        answer = result_to_dict(site.pack, result, traditional=traditional)
        return {"pack": answer.pop("pack", site.id), "pack_document": site.reference(traditional), **answer}

    return _answer(raw, traditional, compute)


def _answer(raw: bytes, traditional: bool, compute: Callable[[Any], dict[str, Any]]) -> Response:
    """A case body read (its size checked first) and computed; a bad one is a 422 naming the field."""
    try:
        data = read_case_json(raw)
        check_event_count(data)
    except ValueError as error:
        return _detail(422, str(error))
    try:
        return JSONResponse(compute(data))
    except (CaseError, EvaluationError, PackError) as error:
        return _detail(422, to_traditional(str(error)) if traditional else str(error))


MAX_PACKS_AT_ONCE = 8  # the province, a city, a county: a handful, never the whole library


async def calculate_several_case(
    request: Request,
    pack: list[str] = Query(..., description="政策包编号,至少 2 个,如 pack=huzhou-2025&pack=…(见 GET /api/v1/packs)"),
    traditional: bool = Query(False, description="true 时以繁体输出,条文按原文引用"),
) -> Response:
    served_packs: dict[str, ServedPack] = request.app.state.packs
    for chosen in pack:
        if chosen not in served_packs:
            return _detail(404, unknown_pack(chosen, served_packs))
    if not 2 <= len(pack) <= MAX_PACKS_AT_ONCE or len(set(pack)) < len(pack):
        return _detail(422, f"pack 须为 2 至 {MAX_PACKS_AT_ONCE} 个互不相同的政策包编号;收到:{'、'.join(pack)}")
    sites = [served_packs[chosen] for chosen in pack]
    raw = await request.body()  # BodyLimit stops the read at MAX_BODY_BYTES
    limiter = request.app.state.compute_limiter
    return await anyio.to_thread.run_sync(answer_several, sites, raw, traditional, limiter=limiter)


def answer_several(sites: list[ServedPack], raw: bytes, traditional: bool) -> Response:
    """One case under several packs: each pack's result names its document as `answer_case` does."""
    by_id = {site.id: site for site in sites}

    def compute(data: Any) -> dict[str, Any]:
        answer = several_to_dict(calculate_several([site.pack for site in sites], data, "案例"), traditional)
        answer["packs"] = [
            {"pack": result["pack"], "pack_document": by_id[result["pack"]].reference(traditional), **result}
            for result in answer["packs"]
        ]
        return answer

    return _answer(raw, traditional, compute)


def check_event_count(data: Any) -> None:
    """Refuse an oversized case before checking a single event of it (ValueError in Chinese)."""
    events = data.get("events") if isinstance(data, dict) else None
    if isinstance(events, list) and len(events) > MAX_CASE_EVENTS:
        raise ValueError(
            f"案例的事件过多:收到 {len(events)} 个,一个案例最多 {MAX_CASE_EVENTS} 个事件;请分成几个案例提交"
        )


async def list_rules(request: Request) -> Response:
    return _json(served(request).catalogue.rules_json)


async def list_events(request: Request) -> Response:
    return _json(served(request).catalogue.events_json)


async def list_subjects(request: Request) -> Response:
    return _json(served(request).catalogue.subjects_json)


async def health(request: Request) -> Response:
    return _json(served(request).catalogue.health_json)


async def get_article(request: Request, number: int) -> Response:
    pack: Pack = served(request).pack
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
            # Tasks (責任分解) and targets of the article, from the parsed document: nothing it says is dropped.
            "tasks": [
                {
                    "kind": task.kind.value,
                    "text": to_simplified(task.text),
                    "text_original": task.text,
                    "department": to_simplified(task.department),
                    "start": task.span.start,
                    "end": task.span.end,
                }
                for task in pack.document.tasks
                if task.article == number and task.area == article.area
            ],
            "indicators": [
                {
                    "name": to_simplified(indicator.name),
                    "name_original": indicator.name,
                    "value": format_value(indicator.value),
                    "value_high": None if indicator.value_high is None else format_value(indicator.value_high),
                    "unit": to_simplified(indicator.unit),
                    "direction": indicator.direction.value,
                    "year": indicator.year,
                    "department": to_simplified(indicator.department),
                    "text": to_simplified(indicator.text),
                    "text_original": indicator.text,
                }
                for indicator in pack.document.indicators
                if indicator.article == number and indicator.area == article.area
            ],
        }
    )


def pack_summary(site: ServedPack) -> dict[str, Any]:
    """One pack as GET /api/v1/packs lists it: what the document is, and where it is served."""
    preamble = site.pack.document.preamble
    api, pages = site.api_root(), site.root()
    return {
        "id": site.id,
        "title": site.title,
        "title_original": site.entry.title,
        "issuer": site.issuer,
        "issued": site.issued.isoformat() if site.issued else None,
        "valid_from": preamble.valid_from.isoformat() if preamble.valid_from else None,
        "valid_to": preamble.valid_to.isoformat() if preamble.valid_to else None,
        "extends": site.entry.extends,
        "county": site.pack.county,  # the county a 承接落实方案 (an overlay) serves; null for a city's pack
        "fictional": site.entry.fictional,
        "default": site.default,
        "rules": len(site.pack.rules),
        "urls": {
            "api": api,
            "calculate": f"{api}/calculate",
            "rules": f"{api}/rules",
            "events": f"{api}/events",
            "calculator": f"{pages}/",
            "policy": f"{pages}/policy",
        },
    }


async def list_packs(request: Request) -> JSONResponse:
    packs: dict[str, ServedPack] = request.app.state.packs
    return JSONResponse(
        {"default": request.app.state.default_pack, "packs": [pack_summary(site) for site in packs.values()]}
    )


async def get_pack(request: Request) -> JSONResponse:
    return JSONResponse(pack_summary(served(request)))


def _pack_dependency(ids: tuple[str, ...]):
    """The {pack_id} of a path: documented with the ids served, an unknown one answered with a 404."""

    async def chosen_pack(
        request: Request,
        pack_id: str = Path(
            description=f"政策包编号,见 GET /api/v1/packs;本服务现有:{'、'.join(ids)}",
            json_schema_extra={"enum": list(ids)},  # documented, not validated: an unknown id is a 404
        ),
    ) -> None:
        served(request)

    return chosen_pack


def packs_router(default: Pack | None = None) -> APIRouter:
    """GET /api/v1/packs: the list of the packs served; POST /api/v1/packs/calculate: several at once
    (its request body documented with `default`'s case schema)."""
    json_error = {"application/json": {"schema": ERROR_SCHEMA}}
    api = APIRouter(prefix="/api/v1", tags=["政策包"])
    api.add_api_route(
        "/packs",
        list_packs,
        methods=["GET"],
        summary="本服务提供的全部政策包(政策文件)",
        description=(
            "每个政策包的编号、标题(简体 title,原文 title_original)、发文单位、印发日期、有效期、"
            "所扩展的政策包(extends,区县承接方案)、是否虚构(fictional,仅供测试)、是否为默认政策包(default)、"
            "规则数与地址(urls)。/api/v1/calculate 等不带编号的地址即默认政策包的地址;账本(申报、审核、拨付)只办理默认政策包。"
        ),
    )
    api.add_api_route(
        "/packs/calculate",
        calculate_several_case,
        methods=["POST"],
        summary="按几份政策文件同时计算一个案例(如市级与省级)",
        description=(
            "同一主体同时适用几份文件时(如湖州的企业也适用省里的文件):按每个政策包分别计算,结果各自注明政策包;"
            "两个政策包为同一事件兑现时,按规则的 stacking 处理:叠加享受(stacks)两者都兑现,"
            "就高不重复(higher)只兑现较高者,较低者为 0 并说明理由;未规定的重叠照列并注明。"
            "overlaps 列出每个重叠事件的处理,totals 为各政策包按类别的合计(从不跨类别相加)。" + LIMITS_TEXT
        ),
        openapi_extra={"requestBody": calculate_openapi(default)["requestBody"]} if default is not None else None,
        responses={
            404: {"description": "没有这个政策包(detail 写明所给的编号)", "content": json_error},
            413: {"description": f"请求体超过 1 MB({MAX_BODY_BYTES} 字节)", "content": json_error},
            422: {"description": "政策包编号少于 2 个或重复、几个政策包不能同时适用,或案例有误", "content": json_error},
        },
    )
    return api


def api_router(pack: Pack, pack_ids: tuple[str, ...] | None = None) -> APIRouter:
    """The JSON API: over the default pack at /api/v1/…, or, given the ids served, over the pack a path
    names at /api/v1/packs/{pack_id}/…. The handlers read the pack a request means (catalogue.served);
    the documented case schema is `pack`'s."""
    json_error = {"application/json": {"schema": ERROR_SCHEMA}}
    if pack_ids is None:
        api = APIRouter(prefix="/api/v1", tags=["API"])
    else:
        api = APIRouter(
            prefix=f"/api/v1/packs/{{{PACK_PARAM}}}",
            tags=["政策包"],
            dependencies=[Depends(_pack_dependency(pack_ids))],
            responses={404: {"description": "没有这个政策包(detail 写明所给的编号)", "content": json_error}},
        )
        api.add_api_route("", get_pack, methods=["GET"], summary="一个政策包")
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
        openapi_extra=calculate_openapi(pack),
        responses={
            200: {
                "description": "计算结果:entitlements(每项含 verdict:最高可得/不低于/应得/节税/可申请/资格)、"
                "totals(按类别分列:ceiling 最高可得、floor 不低于、exact 应得、tax 节税,从不相加)、"
                "by_measure(金额按相关政策执行的项数)、unmatched;total 为各类金额之和,仅供核对,不代表可得金额"
            },
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
        description=(
            "条款的简体文本与原文、所属领域、牵头部门,引用它的规则(rules),"
            "以及解析出的任务(tasks:kind 为 task 即牵头部门负责的工作,benefit 即未写明金额的优惠,"
            "金额按配套政策或国家、省政策执行)和量化目标(indicators:名称、数值(十进制字符串)、单位、方向、年份)。"
            "字段含义同 docs/parse-json.md 的 tasks[] 与 indicators[]。"
        ),
        responses={
            404: {
                "description": "文件中没有这一条" if pack_ids is None else "文件中没有这一条,或没有这个政策包",
                "content": json_error,
            }
        },
    )
    return api
