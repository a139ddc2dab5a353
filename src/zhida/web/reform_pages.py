"""The policy sandbox (政策沙盘) for leadership: change one rule's numbers in a form, see what it costs.

    GET /sandbox[?rule=R]                         leadership and admin: choose a rule (grouped by area),
                                                  its present numbers shown in a form
    GET /sandbox?rule=R&rate=…&amount=…&bound=…&cap-C=…  (or &remove=1: the rule withdrawn)
                                                  the same, priced: the reform the changed fields make
                                                  (zhida.rules.reform) beside the rules in force, over the
                                                  whole register (zhida.engine.reform.run_reform): cost by
                                                  area (against each area's budget and the document's
                                                  total), by rule and county; gainers and losers
    GET /sandbox/reform.yaml?…                    the same reform as a YAML file (docs/reforms.md), to keep
                                                  or to run with `zhida reform`

A GET with the parameters in the address: a result can be shared as a link, and nothing is written
(leadership may only read). Money fields take what people write (30万, 300,000); a rate takes 0.6
or 60%. A reform the loader refuses shows its ReformError (the line and the reason) on the page.

The register: the folder ZHIDA_REGISTER names (subjects and events files, as `zhida match` reads
them), else a small synthetic one (zhida.synth, SYNTHETIC_ENTERPRISES enterprises) made once under
the ledger's files folder and labelled on the page as synthetic. Pricing runs in a worker thread
(the app's compute limiter), never on the event loop: about two seconds for the synthetic register.

The charts' data is embedded as `<script type="application/json" id="sandbox-data">` and drawn by
static/reform.js with the vendored ECharts; the same figures are in the tables below the charts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
import yaml
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from zhida.engine.money_text import MoneyError, read_money
from zhida.engine.reform import run_reform, summary_dict
from zhida.engine.register import RegisterError
from zhida.ledger.access import Refused, Role
from zhida.rules.model import Layer, Rule
from zhida.rules.pack import Pack
from zhida.rules.reform import ReformError, apply_reform, parameter_value, parse_parameter
from zhida.source.script import to_simplified
from zhida.web.dashboard_pages import area_heading, embedded_json
from zhida.web.site import render, signed_in_page

router = APIRouter(include_in_schema=False)

REGISTER_VARIABLE = "ZHIDA_REGISTER"
SYNTHETIC_ENTERPRISES = 2000
SYNTHETIC_TRANSACTIONS = 20000
SYNTHETIC_SEED = 20250101
REGISTER_SUFFIXES = (".parquet", ".csv", ".xlsx")
RULE_PARAMETERS = (("rate", "比例"), ("amount", "金额(元)"), ("bound", "界限"))
CAP_FIELD = "cap-"
MAX_FIELD = 40
MAX_TITLE = 80
_making = threading.Lock()


# --------------------------------------------------------------------------- the register


@dataclass(frozen=True)
class Register:
    subjects: Path
    events: Path
    synthetic: int | None  # enterprises of a synthetic register; None: the one ZHIDA_REGISTER names


def sandbox_register(request: Request) -> Register:
    """The register the sandbox prices over (see the module docstring); made once if synthetic."""
    named = os.environ.get(REGISTER_VARIABLE)
    if named:
        folder = Path(named)
        return Register(_register_file(folder, "subjects"), _register_file(folder, "events"), None)
    state = request.app.state.ledger
    folder = Path(state.files) / "sandbox" / f"synthetic-{SYNTHETIC_ENTERPRISES}-{SYNTHETIC_SEED}"
    return Register(folder / "subjects.parquet", folder / "events.parquet", SYNTHETIC_ENTERPRISES)


def _register_file(folder: Path, name: str) -> Path:
    for suffix in REGISTER_SUFFIXES:
        if (folder / (name + suffix)).is_file():
            return folder / (name + suffix)
    raise Refused(503, f"{REGISTER_VARIABLE}={folder}: 该文件夹中没有 {name}.parquet(或 .csv、.xlsx)")


def ensure_synthetic(pack: Pack, register: Register) -> None:
    """Write the synthetic register once (in a worker thread): into a sibling folder, then renamed."""
    if register.synthetic is None or register.events.is_file():
        return
    from zhida.synth import synthesise

    with _making:
        if register.events.is_file():
            return
        folder = register.subjects.parent
        folder.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=".making-", dir=folder.parent))
        try:
            synthesise(pack, register.synthetic, SYNTHETIC_TRANSACTIONS, SYNTHETIC_SEED, building)
            building.rename(folder)
        except OSError:
            if not register.events.is_file():  # another process finished first: its files are the same
                raise
        finally:
            shutil.rmtree(building, ignore_errors=True)


# --------------------------------------------------------------------------- the form


@dataclass(frozen=True)
class Setting:
    """One number of the chosen rule the form shows: its name in the address, label and present value."""

    name: str  # rate / amount / bound / cap-<cap id>
    label: str
    current: Decimal
    hint: str
    money: bool


@dataclass
class Choice:
    """The rule chosen, its settings, what the reader wrote and the reform that makes."""

    rule: Rule
    settings: list[Setting]
    written: dict[str, str] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""
    removed: bool = False


def rule_settings(pack: Pack, rule: Rule) -> list[Setting]:
    """The numbers of `rule` a form may change: its one rate, constant amount, one bound, its caps."""
    found = []
    for attribute, label in RULE_PARAMETERS:
        try:
            parameter = parse_parameter(f"{rule.id}.{attribute}", pack)
            value = parameter_value(pack, parameter)
        except ReformError:
            continue
        hint = {"rate": f"金额:{rule.spec.amount}", "amount": "每项金额", "bound": f"条件:{rule.spec.when}"}[attribute]
        found.append(Setting(attribute, label, value, hint, attribute == "amount"))
    for cap in rule.caps:
        found.append(Setting(CAP_FIELD + cap.id, f"上限 {cap.id}(元)", cap.yuan, to_simplified(cap.clause), True))
    return found


def rule_groups(pack: Pack) -> list[tuple[str, list[tuple[str, str]]]]:
    """The rules a reform may change (the base document's, with a number to change), by area."""
    groups = []
    for area in pack.document.areas:
        rules = [(rule.id, to_simplified(rule.spec.title)) for rule in pack.rules
                 if rule.layer is Layer.BASE and rule.area == area.number and rule_settings(pack, rule)]
        if rules:
            groups.append((area_heading(str(area.number), to_simplified(area.title)), rules))
    return groups


def read_choice(pack: Pack, params: dict[str, str]) -> Choice | None:
    """The rule and changes an address asks for; Refused (422) names a field that cannot be read."""
    rule_id = params.get("rule", "").strip()
    if not rule_id:
        return None
    rule = next((rule for rule in pack.rules if rule.id == rule_id and rule.layer is Layer.BASE), None)
    if rule is None:
        raise Refused(422, f"rule: 政策包中没有编号为 {rule_id[:MAX_FIELD]} 的规则")
    choice = Choice(rule, rule_settings(pack, rule))
    if params.get("remove") == "1":  # the rule withdrawn: what it costs today is saved
        choice.removed = True
        choice.changes.append({"remove": {"rule": rule.id}})
        choice.title = params.get("title", "").strip()[:MAX_TITLE] or f"取消{to_simplified(rule.spec.title)}"
        return choice
    for setting in choice.settings:
        text = params.get(setting.name, "").strip()
        if not text:
            continue
        if len(text) > MAX_FIELD:
            raise Refused(422, f"{setting.label}: 不超过 {MAX_FIELD} 个字符")
        choice.written[setting.name] = text
        value = _read_value(setting, text)
        if value != setting.current:
            choice.changes.append(_change(rule, setting, value))
    title = params.get("title", "").strip()[:MAX_TITLE]
    choice.title = title or _title(rule, choice)
    return choice


def _read_value(setting: Setting, text: str) -> Decimal:
    if setting.money:
        try:
            return read_money(text, setting.label)
        except MoneyError as error:
            raise Refused(422, str(error)) from None
    written = text.replace("%", "").replace("%", "").strip()
    try:
        value = Decimal(written)
    except InvalidOperation:
        raise Refused(422, f"{setting.label}: '{text}' 不是数值") from None
    if not value.is_finite():
        raise Refused(422, f"{setting.label}: '{text}' 不是数值")
    return value / 100 if setting.name == "rate" and written != text else value


def _change(rule: Rule, setting: Setting, value: Decimal) -> dict[str, Any]:
    if setting.name.startswith(CAP_FIELD):
        return {"set": {"cap": setting.name[len(CAP_FIELD):], "yuan": value}}
    return {"set": {"rule": rule.id, setting.name: value}}


def _title(rule: Rule, choice: Choice) -> str:
    parts = []
    for change in choice.changes:
        body = change["set"]
        setting = next(s for s in choice.settings
                       if s.name == (CAP_FIELD + body["cap"] if "cap" in body else next(k for k in body if k != "rule")))
        parts.append(f"{setting.label} {_plain(setting.current)} → {_plain(body.get('yuan', body.get(setting.name)))}")
    return f"{to_simplified(rule.spec.title)}:" + (";".join(parts) if parts else "不变")


def _plain(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class _ReformDumper(yaml.SafeDumper):
    """YAML with a Decimal written as the number it is (0.6, 300000), never through a float."""


def _represent_decimal(dumper: yaml.SafeDumper, value: Decimal) -> yaml.ScalarNode:
    text = _plain(value)
    tag = "tag:yaml.org,2002:float" if "." in text else "tag:yaml.org,2002:int"
    return dumper.represent_scalar(tag, text)


_ReformDumper.add_representer(Decimal, _represent_decimal)


def reform_yaml(pack_id: str, choice: Choice) -> str:
    """The reform of `choice` as a file of docs/reforms.md (zhida reform reads it)."""
    body = {"reform": choice.title, "pack": pack_id, "changes": choice.changes}
    text = yaml.dump(body, Dumper=_ReformDumper, allow_unicode=True, sort_keys=False, default_flow_style=None)
    return "# 政策沙盘导出的改革方案(测算用,非现行政策)\n" + text


# --------------------------------------------------------------------------- the result


def area_rows(pack: Pack, data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every area of the document with its cost before and after (0 when no rule of it pays)."""
    found = {entry["area"]: entry for entry in data["by_area"] if entry["key"][0] < 100}
    rows = []
    for area in pack.document.areas:
        entry = found.get(area.number)
        base = entry["baseline"]["amount"] if entry else "0.00"
        new = entry["reform"]["amount"] if entry else "0.00"
        budget = _text(area.budget)
        rows.append({
            "key": str(area.number), "name": area_heading(str(area.number), to_simplified(area.title)),
            "department": to_simplified(area.department), "budget": budget, "baseline": base, "reform": new,
            "change": entry["change"] if entry else "0.00",
            "share": _percent(Decimal(new), area.budget), "base_share": _percent(Decimal(base), area.budget),
        })
    return rows


def _text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value.quantize(Decimal('0.01'))}"


def _percent(amount: Decimal, whole: Decimal | None) -> str | None:
    """`amount` as a percentage of `whole`, to 0.01% (None without a whole)."""
    if not whole:
        return None
    return f"{(amount / whole * 100).quantize(Decimal('0.01'))}"


def rule_rows(data: dict[str, Any], chosen: str) -> list[dict[str, Any]]:
    """The rules whose count or amount changed, and the chosen rule always."""
    rows = []
    for entry in data["by_rule"]:
        rule_id, title, article, kind = entry["key"]
        moved = entry["change"] != "0.00" or entry["baseline"]["count"] != entry["reform"]["count"]
        if moved or rule_id == chosen:
            rows.append({"rule": rule_id, "title": title, "article": article, "kind": kind, **_line(entry)})
    return rows


def _line(entry: dict[str, Any]) -> dict[str, Any]:
    return {"base_count": entry["baseline"]["count"], "baseline": entry["baseline"]["amount"],
            "new_count": entry["reform"]["count"], "reform": entry["reform"]["amount"], "change": entry["change"]}


def _band(key: list[Any]) -> str:
    """第 3 档(营收 1,200,000.00–2,500,000.00 元), or 未分档 for subjects without a revenue decile."""
    band, low, high = key
    if band is None:
        return "未分档(非企业或无营收)"
    return f"第 {band} 档(营收 {Decimal(low):,.2f}–{Decimal(high):,.2f} 元)"


def result_view(pack: Pack, summary_data: dict[str, Any], chosen: str) -> dict[str, Any]:
    """What the result part of the page and its charts show (amounts as exact decimal strings)."""
    spend = summary_data["spend"]
    stated = summary_data["stated_total"]
    stated_value = Decimal(stated) if stated is not None else None
    return {
        "title": summary_data["title"],
        "subjects": summary_data["subjects"],
        "spend": _line(spend),
        "stated_total": stated,
        "base_share": _percent(Decimal(spend["baseline"]["amount"]), stated_value),
        "reform_share": _percent(Decimal(spend["reform"]["amount"]), stated_value),
        "change_share": _percent(Decimal(spend["change"]), stated_value),
        "areas": area_rows(pack, summary_data),
        "rules": rule_rows(summary_data, chosen),
        "counties": [{"county": entry["key"][0], **_line(entry)} for entry in summary_data["by_county"]],
        "departments": [{"name": entry["key"][0], **_line(entry)} for entry in summary_data["by_department"]],
        "chains": None if summary_data["by_chain"] is None else [
            {"name": entry["key"][0], **_line(entry)} for entry in summary_data["by_chain"]],
        "size_bands": None if summary_data["by_size_band"] is None else [
            {"name": _band(entry["key"]), **_line(entry)} for entry in summary_data["by_size_band"]],
        "quantile_names": list(summary_data["gainers"]["quantiles"]),  # in order: the JSON's keys are sorted
        "gainers": summary_data["gainers"],
        "losers": summary_data["losers"],
        "unchanged": summary_data["unchanged"],
        "notes": summary_data["notes"],
    }


def price(pack: Pack, register: Register, text: str) -> dict[str, Any]:
    """Run in a worker thread: the synthetic register made if need be, the reform priced over it."""
    ensure_synthetic(pack, register)
    reform = apply_reform(text, pack)
    with tempfile.TemporaryDirectory(prefix="zhida-sandbox-") as folder:
        summary = run_reform(reform, register.subjects, register.events, Path(folder) / "differences.parquet")
    return summary_dict(summary)


# --------------------------------------------------------------------------- routes


def _params(request: Request) -> dict[str, str]:
    return {key: value for key, value in request.query_params.items()}


@router.get("/sandbox", response_class=HTMLResponse)
async def sandbox(request: Request) -> HTMLResponse:
    who = signed_in_page(request, Role.LEADERSHIP)
    pack: Pack = request.app.state.pack
    register = sandbox_register(request)
    context: dict[str, Any] = {
        "viewer": who, "groups": rule_groups(pack), "choice": None, "result": None, "payload": None,
        "register": register, "register_name": _register_name(register), "download": None,
        "title_written": request.query_params.get("title", "")[:MAX_TITLE],
    }
    status = 200
    try:
        choice = read_choice(pack, _params(request))
    except Refused as error:
        return render(request, "reform.html", context | {"error": error.message}, error.status)
    context["choice"] = choice
    if choice is not None and choice.changes:
        text = reform_yaml(request.app.state.default_pack, choice)
        context["download"] = "/sandbox/reform.yaml?" + urlencode(_params(request))
        context["reform_text"] = text
        try:
            data = await anyio.to_thread.run_sync(price, pack, register, text,
                                                  limiter=request.app.state.compute_limiter)
        except (ReformError, RegisterError) as error:
            context["error"] = f"无法测算:{error}"
            status = 422
        else:
            result = result_view(pack, data, choice.rule.id)
            context["result"] = result
            context["payload"] = embedded_json(result)
    return render(request, "reform.html", context, status)


@router.get("/sandbox/reform.yaml")
def sandbox_yaml(request: Request) -> Response:
    signed_in_page(request, Role.LEADERSHIP)
    pack: Pack = request.app.state.pack
    choice = read_choice(pack, _params(request))
    if choice is None or not choice.changes:
        raise Refused(422, "请先选择规则并修改至少一个参数")
    text = reform_yaml(request.app.state.default_pack, choice)
    try:
        apply_reform(text, pack)
    except ReformError as error:
        raise Refused(422, f"改革方案不成立:{error}") from None
    return Response(text.encode("utf-8"), media_type="text/yaml; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="reform.yaml"'})


def _register_name(register: Register) -> str:
    if register.synthetic is not None:
        return f"演示用合成登记册,{register.synthetic:,} 家企业(另含以旧换新消费者)"
    return f"登记册 {register.subjects.parent.name}({REGISTER_VARIABLE})"
