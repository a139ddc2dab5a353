"""The policy sandbox (政策沙盘) for leadership: a reform of several changes, priced beside the rules in force.

    GET  /sandbox?c=…&c=…[&title=…]            leadership and admin: the reform the list of changes makes
                                                (each `c` one change, see `read_step`), priced over the whole
                                                register (zhida.engine.reform): cost by area (against each
                                                area's budget and the document's total), by rule, county,
                                                department, chain and size band; gainers and losers
    GET  /sandbox?c=…&rule=R                    the same, with the form of rule R to add a change
    GET  /sandbox?c=…&rule=R&add=1&rate=…       the form's changes put in the list: 303 to the list's address
    GET  /sandbox?c=…&fit=R.rate&budget=…       the fit: the value of one parameter at which the spend meets
                                                a budget (an area's or a yuan amount), each bisection step shown
    GET  /sandbox/reform.yaml?c=…               the reform as a YAML file (docs/reforms.md)
    POST /sandbox/upload                        a reform YAML uploaded (CSRF, at most MAX_UPLOAD bytes): 303 to
                                                its address, or, when it adds a rule (no address holds one),
                                                priced on the page at once
    POST /sandbox/reform.yaml                   an uploaded reform's text back as a file
    and each of these under /packs/{pack_id}/ for any pack served (the short addresses: the default pack).

The changes, as the address writes them (readable, so a link can be shared):
    innovation-voucher.rate=0.6      a rule's one rate (0.6 or 60%); .amount= (money, or an expression),
                                     .bound= (a number), .when= (a condition), .caps=a,b (the caps it carries)
    innovation-voucher-annual.yuan=250000   a cap's ceiling (money: 25万 and 250,000 are read too)
    remove:trade-in-fuel             a rule withdrawn
    scale:rule-a,rule-b=1.2          a tier's amounts multiplied
A change to the parameter the list already changes replaces it. At most MAX_CHANGES changes.

Nothing is written: leadership may only read (the upload is read and priced, never stored). The baseline
(the rules in force over the register) is the same for every reform of a pack and register: its rows are
kept in the app's BaselineCache (app.state.sandbox_baselines, a few entries, keyed by the pack and the
register files' paths, sizes and modification times), so a second reform prices only what it changes.

The register: the folder ZHIDA_REGISTER names (subjects and events files, as `zhida match` reads them),
else a small synthetic one (zhida.synth, SYNTHETIC_ENTERPRISES enterprises) made once per pack under the
ledger's files folder. Pricing runs in a worker thread (the app's compute limiter), never on the event loop.

The charts' data is embedded as `<script type="application/json" id="sandbox-data">` and drawn by
static/reform.js with the vendored ECharts; the same figures are in the tables below the charts.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
import pyarrow as pa
import yaml
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import QueryParams, UploadFile

from zhida.engine.money_text import MoneyError, read_money
from zhida.engine.reform import Baseline, fit, fit_dict, parse_budget, run_reform, summary_dict
from zhida.engine.register import RegisterError
from zhida.ledger.access import Refused, Role
from zhida.rules.model import WITHOUT_AMOUNT, Layer, Rule
from zhida.rules.pack import Pack
from zhida.rules.reform import (
    Reform,
    ReformError,
    apply_reform,
    parameter_value,
    parse_parameter,
)
from zhida.source.script import to_simplified
from zhida.web.catalogue import ServedPack, clause_text, explicit, served
from zhida.web.dashboard_pages import area_heading, embedded_json
from zhida.web.site import TRADITIONAL, page_lang, render, signed_in_page

router = APIRouter(include_in_schema=False)

REGISTER_VARIABLE = "ZHIDA_REGISTER"
SYNTHETIC_ENTERPRISES = 2000
SYNTHETIC_TRANSACTIONS = 20000
SYNTHETIC_SEED = 20250101
REGISTER_SUFFIXES = (".parquet", ".csv", ".xlsx")
RULE_PARAMETERS = (("rate", "比例"), ("amount", "金额(元)"), ("bound", "界限"))
CAP_FIELD = "cap-"
CHANGE = "c"  # the address's name for one change of the list
MAX_FIELD = 40
MAX_CHANGE_TEXT = 300
MAX_CHANGES = 20
MAX_TITLE = 80
MAX_UPLOAD = 64 * 1024  # a reform of MAX_CHANGES changes is a few KB
MAX_ID = 40  # characters of an unknown id written back
NUMBER = re.compile(r"[+-]?\d{1,15}(?:\.\d{1,8})?")
BASELINES_KEPT = 4
NEWLINE = b"\n"
MEMORY_LIMIT = "1GB"
_making = threading.Lock()


# --------------------------------------------------------------------------- the register


@dataclass(frozen=True)
class Register:
    subjects: Path
    events: Path
    synthetic: int | None  # enterprises of a synthetic register; None: the one ZHIDA_REGISTER names


def sandbox_register(request: Request, site: ServedPack) -> Register:
    """The register the sandbox prices over (see the module docstring); made once if synthetic."""
    named = os.environ.get(REGISTER_VARIABLE)
    if named:
        folder = Path(named)
        return Register(_register_file(folder, "subjects"), _register_file(folder, "events"), None)
    state = request.app.state.ledger
    name = f"synthetic-{SYNTHETIC_ENTERPRISES}-{SYNTHETIC_SEED}"
    folder = Path(state.files) / "sandbox" / (name if site.default else f"{site.id}-{name}")
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


def register_name(register: Register) -> str:
    """Which register, and its size: the page says what it priced over."""
    sizes = "、".join(f"{path.name} {_size(path)}" for path in (register.subjects, register.events) if path.is_file())
    if register.synthetic is not None:
        made = f"({sizes})" if sizes else "(首次测算时生成)"
        return f"演示用合成登记册,{register.synthetic:,} 家企业(另含以旧换新消费者){made}"
    return f"登记册 {register.subjects.parent}({REGISTER_VARIABLE}):{sizes}"


def _size(path: Path) -> str:
    size = path.stat().st_size
    if size < 1024:
        return f"{size} 字节"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


# --------------------------------------------------------------------------- the baseline cache


class BaselineCache:
    """The baseline's rows per (pack, register files as they are), the few most recent: one per app
    (app.state.sandbox_baselines), shared by the worker threads under a lock. `computed` counts the
    baselines run, `reused` the requests that took one from here."""

    def __init__(self, kept: int = BASELINES_KEPT) -> None:
        self.kept = kept
        self.entries: OrderedDict[tuple, pa.Table] = OrderedDict()
        self.computed = 0
        self.reused = 0
        self._lock = threading.Lock()

    @staticmethod
    def key(pack_id: str, register: Register) -> tuple:
        files = []
        for path in (register.subjects, register.events):
            status = path.stat()
            files.append((str(path.resolve()), status.st_size, status.st_mtime_ns))
        return (pack_id, *files)

    def get(self, key: tuple) -> pa.Table | None:
        with self._lock:
            table = self.entries.get(key)
            if table is not None:
                self.entries.move_to_end(key)
                self.reused += 1
            return table

    def put(self, key: tuple, table: pa.Table) -> None:
        with self._lock:
            self.computed += 1
            self.entries[key] = table
            self.entries.move_to_end(key)
            while len(self.entries) > self.kept:
                self.entries.popitem(last=False)


def baselines(request: Request) -> BaselineCache:
    """The app's cache, made by the app factory."""
    return request.app.state.sandbox_baselines


def price(pack_id: str, pack: Pack, register: Register, text: str, cache: BaselineCache) -> dict[str, Any]:
    """Run in a worker thread: the reform in `text` priced over the register (zhida.engine.reform.run_reform
    on DuckDB), the baseline's rows from `cache` when it holds them for this pack and these register
    files, and put there when it does not."""
    ensure_synthetic(pack, register)
    reform = apply_reform(text, pack)
    with tempfile.TemporaryDirectory(prefix="zhida-sandbox-") as folder:
        summary = run_reform(reform, register.subjects, register.events, Path(folder) / "differences.parquet",
                             MEMORY_LIMIT, baseline=kept_baseline(pack_id, register, cache))
    return summary_dict(summary)


def kept_baseline(pack_id: str, register: Register, cache: BaselineCache) -> Baseline:
    """The cache's baseline rows for this pack and register, or a place for the run to put them."""
    key = cache.key(pack_id, register)
    return Baseline(cache.get(key), lambda rows: cache.put(key, rows))


def fit_reform(
    pack_id: str, pack: Pack, register: Register, text: str, parameter_text: str, budget_text: str, cache: BaselineCache
) -> dict[str, Any]:
    """Run in a worker thread: the fit of zhida.engine.reform (as `zhida reform --fit` runs it); its steps
    run only the rules the parameter moves, and the price at the found value takes the cached baseline."""
    ensure_synthetic(pack, register)
    reform = apply_reform(text, pack)
    parameter = parse_parameter(parameter_text, reform.reformed)
    budget = parse_budget(budget_text, pack)
    with tempfile.TemporaryDirectory(prefix="zhida-sandbox-fit-") as folder:
        result, _ = fit(reform, parameter, budget, register.subjects, register.events,
                        Path(folder) / "differences.parquet", memory_limit=MEMORY_LIMIT,
                        baseline=kept_baseline(pack_id, register, cache))
    data = fit_dict(result)
    data["label"] = budget.label
    data["steps"] = [step | {"gap": str(Decimal(step["spend"]) - budget.yuan)} for step in data["steps"]]
    return data


# --------------------------------------------------------------------------- the changes


@dataclass(frozen=True)
class Step:
    """One change of the list: as the address writes it, as the reform file writes it, and in words."""

    text: str  # innovation-voucher.rate=0.6, remove:trade-in-fuel, scale:a,b=1.2
    key: str  # what it changes (innovation-voucher.rate): a later change of the same replaces it
    change: dict[str, Any]
    label: str


@dataclass(frozen=True)
class Setting:
    """One number of a rule the form shows: its name in the address, label and present value."""

    name: str  # rate / amount / bound / cap-<cap id> / scale
    label: str
    current: Decimal
    hint: str
    money: bool


def _shown(text: str) -> str:
    return text if len(text) <= MAX_ID else text[:MAX_ID] + "…"


def _base_rule(pack: Pack, rule_id: str, where: str) -> Rule:
    rule = next((rule for rule in pack.rules if rule.id == rule_id), None)
    if rule is None:
        raise Refused(422, f"{where}:政策包 {pack.id} 中没有编号为 {_shown(rule_id)} 的规则")
    if rule.layer is not Layer.BASE:
        raise Refused(422, f"{where}:规则 {_shown(rule_id)} 属于区县承接方案;改革暂只支持基础政策的规则")
    return rule


def _caps(pack: Pack) -> dict[str, Any]:
    return {cap.id: cap for rule in pack.rules for cap in rule.caps}


def read_number(text: str, where: str, percent: bool = False) -> Decimal:
    """A plain decimal (at most 15 digits before the point, 8 after; a rate may end in %), never negative."""
    written = text.strip()
    is_percent = percent and written.endswith(("%", "%"))
    if is_percent:
        written = written[:-1].strip()
    if not NUMBER.fullmatch(written):
        raise Refused(422, f"{where}:'{_shown(text)}' 不是数值(写如 0.6{'、60%' if percent else ''};至多 15 位整数、8 位小数)")
    value = Decimal(written)
    if value < 0:
        raise Refused(422, f"{where}:不能为负数")
    return value / 100 if is_percent else value


def _money(text: str, where: str) -> Decimal:
    try:
        return read_money(text, where)
    except MoneyError as error:
        raise Refused(422, str(error)) from None


def read_step(pack: Pack, text: str, where: str) -> Step:
    """One change as the address writes it (see the module docstring); Refused (422) names what is wrong."""
    text = text.strip()
    if len(text) > MAX_CHANGE_TEXT:
        raise Refused(422, f"{where}:不超过 {MAX_CHANGE_TEXT} 个字符")
    if text.startswith("remove:"):
        rule = _base_rule(pack, text[len("remove:"):].strip(), where)
        return Step(f"remove:{rule.id}", f"remove:{rule.id}", {"remove": {"rule": rule.id}},
                    f"取消 {to_simplified(rule.spec.title)}({rule.id})")
    if text.startswith("scale:"):
        names, equals, by_text = text[len("scale:"):].rpartition("=")
        if not equals or not names.strip():
            raise Refused(422, f"{where}:须写如 scale:规则编号,规则编号=1.2")
        rules = [_base_rule(pack, name.strip(), where) for name in names.split(",")]
        for rule in rules:
            if rule.spec.kind in WITHOUT_AMOUNT:
                raise Refused(422, f"{where}:规则 {rule.id} 没有金额,不能按倍数调整")
        by = read_number(by_text, where)
        ids = ",".join(rule.id for rule in rules)
        body: dict[str, Any] = {"rule": rules[0].id} if len(rules) == 1 else {"rules": [rule.id for rule in rules]}
        titles = "、".join(to_simplified(rule.spec.title) for rule in rules)
        return Step(f"scale:{ids}={_plain(by)}", f"scale:{ids}", {"scale": body | {"by": by}},
                    f"{titles} 金额 × {_plain(by)}")
    target, equals, value = text.partition("=")
    name, dot, attribute = target.strip().rpartition(".")
    if not equals or not dot:
        raise Refused(422, f"{where}:'{_shown(text)}' 须写如 规则编号.rate=0.6、上限编号.yuan=250000、"
                           "remove:规则编号 或 scale:规则编号=1.2")
    return _set_step(pack, name, attribute, value.strip(), where)


def _set_step(pack: Pack, name: str, attribute: str, value: str, where: str) -> Step:
    if attribute == "yuan":
        caps = _caps(pack)
        if name not in caps:
            raise Refused(422, f"{where}:政策包 {pack.id} 中没有编号为 {_shown(name)} 的上限")
        yuan = _money(value, f"{where}(上限 {name})")
        if yuan <= 0:
            raise Refused(422, f"{where}:上限 {name} 须大于 0 元")
        return Step(f"{name}.yuan={_plain(yuan)}", f"{name}.yuan", {"set": {"cap": name, "yuan": yuan}},
                    f"上限 {name}:{_plain(caps[name].yuan)} → {_plain(yuan)} 元")
    rule = _base_rule(pack, name, where)
    title = f"{to_simplified(rule.spec.title)}({rule.id})"
    if attribute in ("rate", "bound"):
        number = read_number(value, f"{where}({rule.id}.{attribute})", percent=attribute == "rate")
        label = "比例" if attribute == "rate" else "界限"
        return Step(f"{rule.id}.{attribute}={_plain(number)}", f"{rule.id}.{attribute}",
                    {"set": {"rule": rule.id, attribute: number}},
                    f"{title} {label}:{_present(pack, rule, attribute)} → {_plain(number)}")
    if attribute == "amount":
        amount: Decimal | str = _expression(value, where) if re.search(r"[A-Za-z_*/()]", value) else _money(value, f"{where}({rule.id}.amount)")
        shown = _plain(amount) if isinstance(amount, Decimal) else amount
        return Step(f"{rule.id}.amount={shown}", f"{rule.id}.amount", {"set": {"rule": rule.id, "amount": amount}},
                    f"{title} 金额:{rule.spec.amount} → {shown}")
    if attribute == "when":
        condition = _expression(value, where)
        return Step(f"{rule.id}.when={condition}", f"{rule.id}.when", {"set": {"rule": rule.id, "when": condition}},
                    f"{title} 条件:{rule.spec.when} → {condition}")
    if attribute == "caps":
        caps = [cap.strip() for cap in value.split(",") if cap.strip()]
        known = _caps(pack)
        for cap in caps:
            if cap not in known:
                raise Refused(422, f"{where}:政策包 {pack.id} 中没有编号为 {_shown(cap)} 的上限")
        return Step(f"{rule.id}.caps={','.join(caps)}", f"{rule.id}.caps", {"set": {"rule": rule.id, "caps": caps}},
                    f"{title} 上限:[{'、'.join(rule.spec.caps)}] → [{'、'.join(caps)}]")
    raise Refused(422, f"{where}:规则不能设置 {_shown(attribute)};可设置 rate、amount、bound、when、caps,上限设置 yuan")


def _expression(value: str, where: str) -> str:
    if not value:
        raise Refused(422, f"{where}:表达式不能为空")
    return value


def _present(pack: Pack, rule: Rule, attribute: str) -> str:
    try:
        return _plain(parameter_value(pack, parse_parameter(f"{rule.id}.{attribute}", pack)))
    except ReformError:
        return "—"


def read_steps(pack: Pack, texts: list[str]) -> list[Step]:
    """The address's changes, in order; a later change of the same parameter replaces the earlier."""
    if len(texts) > MAX_CHANGES:
        raise Refused(422, f"改动过多:共 {len(texts)} 项,至多 {MAX_CHANGES} 项")
    steps: list[Step] = []
    for number, text in enumerate(texts, 1):
        steps = merged(steps, [read_step(pack, text, f"第 {number} 项改动")])
    return steps


def merged(steps: list[Step], more: list[Step]) -> list[Step]:
    """`steps` with `more` put in: each replaces a change of the same parameter where it stood, else is added."""
    result = list(steps)
    for step in more:
        at = next((index for index, old in enumerate(result) if old.key == step.key), None)
        if at is None:
            result.append(step)
        else:
            result[at] = step
    return result


def reform_text(pack_id: str, title: str, steps: list[Step]) -> str:
    """The reform of the list as a file of docs/reforms.md (zhida reform reads it)."""
    body = {"reform": title, "pack": pack_id, "changes": [step.change for step in steps]}
    text = yaml.dump(body, Dumper=_ReformDumper, allow_unicode=True, sort_keys=False, default_flow_style=None)
    return "# 政策沙盘导出的改革方案(测算用,非现行政策)\n" + text


def default_title(steps: list[Step]) -> str:
    title = ";".join(step.label for step in steps)
    return title if len(title) <= MAX_TITLE else f"{steps[0].label[:MAX_TITLE - 12]}…等 {len(steps)} 项改动"


def _plain(value: Decimal | Any) -> str:
    if not isinstance(value, Decimal):
        return str(value)
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class _ReformDumper(yaml.SafeDumper):
    """YAML with a Decimal written as the number it is (0.6, 300000), never through a float."""


def _represent_decimal(dumper: yaml.SafeDumper, value: Decimal) -> yaml.ScalarNode:
    text = _plain(value)
    tag = "tag:yaml.org,2002:float" if "." in text else "tag:yaml.org,2002:int"
    return dumper.represent_scalar(tag, text)


_ReformDumper.add_representer(Decimal, _represent_decimal)


# --------------------------------------------------------------------------- the form of one rule


def rule_settings(pack: Pack, rule: Rule) -> list[Setting]:
    """The numbers of `rule` a form may change: its one rate, constant amount, one bound, caps, a multiple."""
    found = []
    for attribute, label in RULE_PARAMETERS:
        try:
            value = parameter_value(pack, parse_parameter(f"{rule.id}.{attribute}", pack))
        except ReformError:
            continue
        hint = {"rate": f"金额:{rule.spec.amount}", "amount": "每项金额", "bound": f"条件:{rule.spec.when}"}[attribute]
        found.append(Setting(attribute, label, value, hint, attribute == "amount"))
    for cap in rule.caps:
        found.append(Setting(CAP_FIELD + cap.id, f"上限 {cap.id}(元)", cap.yuan, to_simplified(cap.clause), True))
    if rule.spec.kind not in WITHOUT_AMOUNT and rule.spec.amount is not None:
        found.append(Setting("scale", "金额倍数", Decimal(1), "整条规则的金额乘以此数(如 1.2)", False))
    return found


def rule_groups(pack: Pack) -> list[tuple[str, list[tuple[str, str]]]]:
    """The rules a reform may change (the base document's), by area."""
    groups = []
    for area in pack.document.areas:
        rules = [(rule.id, to_simplified(rule.spec.title)) for rule in pack.rules
                 if rule.layer is Layer.BASE and rule.area == area.number]
        if rules:
            groups.append((area_heading(str(area.number), to_simplified(area.title)), rules))
    return groups


def fit_choices(pack: Pack) -> list[tuple[str, str]]:
    """The parameters a fit may solve for: each rule's rate, amount and bound, each cap's yuan."""
    found = []
    for rule in pack.rules:
        if rule.layer is not Layer.BASE:
            continue
        for setting in rule_settings(pack, rule):
            if setting.name in ("rate", "amount", "bound"):
                found.append((f"{rule.id}.{setting.name}", f"{to_simplified(rule.spec.title)} {setting.label}"))
    for cap_id in sorted(_caps(pack)):
        found.append((f"{cap_id}.yuan", f"上限 {cap_id}(元)"))
    return found


def tier_rules(pack: Pack, rule: Rule) -> list[tuple[str, str]]:
    """The other rules of `rule`'s area with an amount: those its form may scale with it, as one tier
    (none when `rule` itself has no amount to scale)."""
    if rule.spec.kind in WITHOUT_AMOUNT or rule.spec.amount is None:
        return []
    return [
        (other.id, to_simplified(other.spec.title)) for other in pack.rules
        if other.id != rule.id and other.layer is Layer.BASE and other.area == rule.area
        and other.spec.kind not in WITHOUT_AMOUNT and other.spec.amount is not None
    ]


def form_steps(pack: Pack, rule: Rule, params: QueryParams) -> tuple[list[Step], dict[str, Any]]:
    """The changes the rule's form asks for (the fields changed from the present values), and what was written.

    Besides the numbers: the caps the rule keeps (checkboxes `keep-cap`, sent with `caps-shown`: an
    unchecked box sends nothing) and the rules of its area scaled with it (`scale-with`, one tier)."""
    if params.get("remove") == "1":
        return [read_step(pack, f"remove:{rule.id}", "取消此规则")], {}
    steps: list[Step] = []
    written: dict[str, Any] = {}
    if params.get("caps-shown") == "1":
        kept = set(params.getlist("keep-cap"))
        written["keep-cap"] = kept
        caps = [cap.id for cap in rule.caps if cap.id in kept]
        if unknown := kept - {cap.id for cap in rule.caps}:
            raise Refused(422, f"上限 {_shown(sorted(unknown)[0])}:不是规则 {rule.id} 的上限")
        if len(caps) < len(rule.caps):
            steps.append(read_step(pack, f"{rule.id}.caps={','.join(caps)}", "携带的上限"))
    tier = [rule_id for rule_id, _ in tier_rules(pack, rule)]
    with_rules = params.getlist("scale-with")
    if unknown := [rule_id for rule_id in with_rules if rule_id not in tier]:
        raise Refused(422, f"同档规则 {_shown(unknown[0])}:不是第 {rule.area} 领域中有金额的其他规则")
    written["scale-with"] = set(with_rules)
    for setting in rule_settings(pack, rule):
        text = params.get(setting.name, "").strip()
        if not text:
            continue
        if len(text) > MAX_FIELD:
            raise Refused(422, f"{setting.label}:不超过 {MAX_FIELD} 个字符")
        written[setting.name] = text
        if setting.name == "scale":
            value = read_number(text, setting.label)
            if value != 1:
                ids = ",".join([rule.id, *(rule_id for rule_id in tier if rule_id in with_rules)])
                steps.append(read_step(pack, f"scale:{ids}={_plain(value)}", setting.label))
            continue
        value = _money(text, setting.label) if setting.money else read_number(text, setting.label, setting.name == "rate")
        if value == setting.current:
            continue
        if setting.name.startswith(CAP_FIELD):
            steps.append(read_step(pack, f"{setting.name[len(CAP_FIELD):]}.yuan={_plain(value)}", setting.label))
        else:
            steps.append(read_step(pack, f"{rule.id}.{setting.name}={_plain(value)}", setting.label))
    return steps, written


# --------------------------------------------------------------------------- the result


def area_rows(pack: Pack, data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every area of the document with its cost before and after (0 when no rule of it pays)."""
    found = {entry["area"]: entry for entry in data["by_area"] if entry["key"][0] < 100}
    rows = []
    for area in pack.document.areas:
        entry = found.get(area.number)
        base = entry["baseline"]["amount"] if entry else "0.00"
        new = entry["reform"]["amount"] if entry else "0.00"
        rows.append({
            "key": str(area.number), "name": area_heading(str(area.number), to_simplified(area.title)),
            "department": to_simplified(area.department), "budget": _text(area.budget), "baseline": base,
            "reform": new, "change": entry["change"] if entry else "0.00",
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


def rule_rows(data: dict[str, Any], named: set[str]) -> list[dict[str, Any]]:
    """The rules whose count or amount changed, and the rules the changes name always."""
    rows = []
    for entry in data["by_rule"]:
        rule_id, title, article, kind = entry["key"]
        moved = entry["change"] != "0.00" or entry["baseline"]["count"] != entry["reform"]["count"]
        if moved or rule_id in named:
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


def result_view(pack: Pack, summary_data: dict[str, Any], named: set[str]) -> dict[str, Any]:
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
        "rules": rule_rows(summary_data, named),
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


def _named_rules(reform_changes: list[dict[str, Any]]) -> set[str]:
    named = set()
    for change in reform_changes:
        body = next(iter(change.values()))
        if isinstance(body, dict):
            named |= {str(body[key]) for key in ("rule", "id") if key in body}
            named |= {str(rule) for rule in body.get("rules", []) if isinstance(rule, str)}
    return named


# --------------------------------------------------------------------------- the page


@dataclass
class Page:
    """What one request of the sandbox works on: its pack, register, list and where its links go."""

    request: Request
    site: ServedPack
    register: Register
    root: str  # /packs/<id> or '' (the default pack's short addresses)
    steps: list[Step] = field(default_factory=list)
    title: str = ""

    @property
    def pack(self) -> Pack:
        return self.site.pack

    def query(self, steps: list[Step] | None = None, **more: str) -> list[tuple[str, str]]:
        pairs = [(CHANGE, step.text) for step in (self.steps if steps is None else steps)]
        if self.title:
            pairs.append(("title", self.title))
        lang = self.request.query_params.get("lang")
        if lang:
            pairs.append(("lang", lang))
        return pairs + [(key, value) for key, value in more.items() if value]

    def address(self, steps: list[Step] | None = None, **more: str) -> str:
        pairs = self.query(steps, **more)
        return f"{self.root}/sandbox" + (f"?{urlencode(pairs)}" if pairs else "")

    def context(self, who: Any) -> dict[str, Any]:
        traditional = page_lang(self.request) == TRADITIONAL
        return {
            "viewer": who, "groups": rule_groups(self.pack), "fits": fit_choices(self.pack),
            "register_name": register_name(self.register), "sandbox": f"{self.root}/sandbox",
            "steps": [{"step": step, "drop": self.address([s for s in self.steps if s is not step])}
                      for step in self.steps],
            "hidden": self.query(), "title_written": self.title, "clear": self.address([]),
            "chosen": None, "settings": [], "written": {}, "clause": "", "traditional": traditional,
            "result": None, "payload": None, "download": None, "reform_text": None, "fit": None,
            "uploaded": None, "max_changes": MAX_CHANGES, "max_upload": MAX_UPLOAD // 1024,
        }


def _open(request: Request) -> tuple[Any, Page]:
    who = signed_in_page(request, Role.LEADERSHIP)
    site = served(request)
    page = Page(request, site, sandbox_register(request, site), site.root(explicit(request)))
    return who, page


def _texts(request: Request) -> list[str]:
    return request.query_params.getlist(CHANGE)


async def _priced(page: Page, text: str, context: dict[str, Any]) -> int:
    """Price the reform in `text` into the context; the status of the page (422 when it cannot be priced)."""
    request = page.request
    try:
        data = await anyio.to_thread.run_sync(price, page.site.id, page.pack, page.register, text, baselines(request),
                                              limiter=request.app.state.compute_limiter)
    except (ReformError, RegisterError) as error:
        context["error"] = f"无法测算:{error}"
        return 422
    named = _named_rules((yaml.safe_load(text) or {}).get("changes", []))
    result = result_view(page.pack, data, named)
    context["result"] = result
    context["payload"] = embedded_json(result)
    context["reform_text"] = text
    return 200


async def sandbox_page(request: Request) -> Response:
    who, page = _open(request)
    params = request.query_params
    page.title = params.get("title", "").strip()[:MAX_TITLE]
    context = page.context(who)
    try:
        page.steps = read_steps(page.pack, _texts(request))
        context = page.context(who)
        rule_id = params.get("rule", "").strip()
        if rule_id:
            rule = _base_rule(page.pack, rule_id, "规则")
            more, written = form_steps(page.pack, rule, params)
            if params.get("add") == "1" and more:
                combined = merged(page.steps, more)
                if len(combined) > MAX_CHANGES:
                    raise Refused(422, f"改动过多:至多 {MAX_CHANGES} 项")
                return RedirectResponse(page.address(combined), status_code=303)
            original = clause_text(page.pack, rule)
            context |= {"chosen": rule, "settings": rule_settings(page.pack, rule), "written": written,
                        "tier": tier_rules(page.pack, rule),
                        "clause": original if context["traditional"] else to_simplified(original),
                        "unchanged": params.get("add") == "1"}
    except Refused as error:
        return render(request, "reform.html", context | {"error": error.message}, error.status)
    status = 200
    if params.get("fit") or params.get("budget"):
        try:
            status = await _fitted(page, context)
        except Refused as error:
            context["error"], status = error.message, error.status
    if page.steps and status == 200:
        text = reform_text(page.site.id, page.title or default_title(page.steps), page.steps)
        context["download"] = f"{page.root}/sandbox/reform.yaml?" + urlencode(page.query())
        status = await _priced(page, text, context)
    return render(request, "reform.html", context, status)


async def _fitted(page: Page, context: dict[str, Any]) -> int:
    """The fit the address asks for, over the list's reform, into the context: its steps, the value
    found, the link to the list with it. With an empty list, over the rules in force."""
    params = page.request.query_params
    parameter, budget = params.get("fit", "").strip(), params.get("budget", "").strip()
    context["fit_written"] = {"fit": parameter, "budget": budget}
    if not parameter or not budget:
        context["error"] = "求解须选择参数并写明预算(领域编号或金额)"
        return 422
    if len(parameter) > MAX_CHANGE_TEXT or len(budget) > MAX_FIELD:
        context["error"] = "求解:参数或预算过长"
        return 422
    steps = page.steps
    if not steps:  # a reform must change something: the parameter, set to what it is
        try:
            present = parameter_value(page.pack, parse_parameter(parameter, page.pack))
        except ReformError as error:
            context["error"] = f"无法求解:{str(error).replace('--fit ', '参数 ')}"
            return 422
        steps = [read_step(page.pack, f"{parameter}={_plain(present)}", "求解参数")]
    text = reform_text(page.site.id, page.title or default_title(steps), steps)
    request = page.request
    try:
        data = await anyio.to_thread.run_sync(fit_reform, page.site.id, page.pack, page.register, text, parameter,
                                              budget, baselines(request), limiter=request.app.state.compute_limiter)
    except (ReformError, RegisterError) as error:
        context["error"] = f"无法求解:{str(error).replace('--fit ', '参数 ').replace('--budget ', '预算 ')}"
        return 422
    if data["value"] is not None:
        found = read_step(page.pack, f"{data['parameter']}={data['value']}", "求解结果")
        data["link"] = page.address(merged(page.steps, [found]))
    context["fit"] = data
    return 200


async def sandbox_yaml(request: Request) -> Response:
    who, page = _open(request)
    page.title = request.query_params.get("title", "").strip()[:MAX_TITLE]
    page.steps = read_steps(page.pack, _texts(request))
    if not page.steps:
        raise Refused(422, "改动清单为空:请先加入至少一项改动")
    text = reform_text(page.site.id, page.title or default_title(page.steps), page.steps)
    try:
        apply_reform(text, page.pack)
    except ReformError as error:
        raise Refused(422, f"改革方案不成立:{error}") from None
    return _yaml_file(text)


def _yaml_file(text: str) -> Response:
    return Response(text.encode("utf-8"), media_type="text/yaml; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="reform.yaml"'})


async def _form(request: Request) -> tuple[dict[str, str], bytes, str]:
    """The posted form's fields, and its file's first MAX_UPLOAD + 1 bytes and name."""
    if int(request.headers.get("content-length") or 0) > MAX_UPLOAD + 4096:
        raise Refused(413, f"文件过大:改革方案至多 {MAX_UPLOAD // 1024} KB")
    async with request.form(max_files=1, max_fields=10) as form:
        upload = form.get("file")
        data = await upload.read(MAX_UPLOAD + 1) if isinstance(upload, UploadFile) else b""
        name = (upload.filename or "") if isinstance(upload, UploadFile) else ""
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
    return fields, data, name


def _check_csrf(fields: dict[str, str], who: Any) -> None:
    if not secrets.compare_digest(fields.get("csrf_token", ""), who.csrf):
        raise Refused(403, "表单已失效(登录状态已变化),请刷新页面后重新提交")


async def sandbox_upload(request: Request) -> Response:
    who, page = _open(request)
    context = page.context(who)
    try:
        fields, data, name = await _form(request)
        _check_csrf(fields, who)
        text = _uploaded_text(data, name)
        reform, changes = _read_upload(page, text, name)
        steps = _as_steps(page.pack, changes)
    except Refused as error:
        return render(request, "reform.html", context | {"error": error.message, "upload_error": True}, error.status)
    if steps is not None:
        page.title = reform.title[:MAX_TITLE]
        return RedirectResponse(page.address(steps), status_code=303)
    # A rule added: no address holds it, so the uploaded reform is priced here, its text kept in the page.
    context |= {"uploaded": {"name": name, "changes": [change.description for change in reform.changes]}}
    status = await _priced(page, text, context)
    return render(request, "reform.html", context, status)


def _uploaded_text(data: bytes, name: str) -> str:
    shown = _shown(name or "上传的文件")
    if not data:
        raise Refused(422, "请选择要上传的改革方案文件(.yaml)")
    if len(data) > MAX_UPLOAD:
        raise Refused(413, f"{shown}:文件过大,改革方案至多 {MAX_UPLOAD // 1024} KB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(NEWLINE) + 1
        raise Refused(422, f"{shown}:第 {line} 行:不是 UTF-8 文本") from None


def _read_upload(page: Page, text: str, name: str) -> tuple[Reform, list[Any]]:
    """The uploaded reform applied to the page's pack (ReformError's line and reason, as a 422)."""
    try:
        reform = apply_reform(text, page.pack, Path(_shown(name or "上传的文件")))
    except ReformError as error:
        raise Refused(422, f"改革方案不成立:{error}") from None
    if reform.pack_id is not None and reform.pack_id != page.site.id:
        raise Refused(422, f"{_shown(name)}:此方案为政策包 {_shown(reform.pack_id)} 编写,本页为 {page.site.id}")
    changes = yaml.safe_load(text)["changes"]
    if len(changes) > MAX_CHANGES:
        raise Refused(422, f"{_shown(name)}:改动过多,共 {len(changes)} 项,至多 {MAX_CHANGES} 项")
    return reform, changes


def _as_steps(pack: Pack, changes: list[Any]) -> list[Step] | None:
    """The uploaded changes as the address's list, or None when one adds a rule (an address cannot hold it)."""
    texts = []
    for change in changes:
        action, body = next(iter(change.items()))
        if action == "add":
            return None
        if action == "remove":
            texts.append(f"remove:{body['rule']}")
        elif action == "scale":
            names = [body["rule"]] if "rule" in body else body["rules"]
            texts.append(f"scale:{','.join(map(str, names))}={_yaml_number(body['by'])}")
        elif "cap" in body:
            texts.append(f"{body['cap']}.yuan={_yaml_number(body['yuan'])}")
        else:
            for key in ("amount", "when", "rate", "bound", "caps"):  # the order the loader applies them
                if key in body:
                    value = ",".join(body[key]) if key == "caps" else _yaml_number(body[key])
                    texts.append(f"{body['rule']}.{key}={value}")
    steps: list[Step] = []
    for number, text in enumerate(texts, 1):
        steps.append(read_step(pack, text, f"第 {number} 项改动"))
    if len(steps) > MAX_CHANGES:
        raise Refused(422, f"改动过多:共 {len(steps)} 项,至多 {MAX_CHANGES} 项")
    return steps


def _yaml_number(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


async def uploaded_yaml(request: Request) -> Response:
    """An uploaded reform's text (the page's hidden field) back as a file, checked again."""
    who, page = _open(request)
    fields, _, _ = await _form(request)
    _check_csrf(fields, who)
    text = fields.get("text", "")
    if not text or len(text.encode("utf-8")) > MAX_UPLOAD:
        raise Refused(422, f"改革方案须为 1 字节至 {MAX_UPLOAD // 1024} KB 的文本")
    _read_upload(page, text, "reform.yaml")
    return _yaml_file(text)


for _prefix in ("", "/packs/{pack_id}"):
    router.add_api_route(f"{_prefix}/sandbox", sandbox_page, methods=["GET"], response_class=HTMLResponse)
    router.add_api_route(f"{_prefix}/sandbox/reform.yaml", sandbox_yaml, methods=["GET"])
    router.add_api_route(f"{_prefix}/sandbox/reform.yaml", uploaded_yaml, methods=["POST"])
    router.add_api_route(f"{_prefix}/sandbox/upload", sandbox_upload, methods=["POST"], response_class=HTMLResponse)
