"""Load a policy pack: the document, its event types and its rules, cross-checked.

    policies/huzhou-2025/
      document.txt     the text verbatim          policy.yaml   metadata
      events.yaml      subject kinds, event types  rules/*.yaml  the rules of each area
      events-*.yaml    more event types (optional)  tests/*.yaml  cases with hand-computed results

A county's 承接落实方案 is a pack that extends its city's (`extends:` and `county:` in policy.yaml):

    tests/data/packs/anji-2025-overlay/
      policy.yaml      extends: huzhou-2025, county: 安吉县, budgets: [...]
      document.txt     the county's text                 rules/*.yaml  top-ups and county-only rules
      events*.yaml     new event types (optional)

`load_pack` on it loads the base through `zhida.rules.library` and returns one Pack holding the
base's rules (layer `base`, quoting the base document) and the county's (layer `county`, quoting
the county document, applied to subjects of that county only). docs/packs.md describes the forms.

Every problem is reported as one `PackError` naming the file and the rule (or the line).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from zhida.rules import library
from zhida.rules.expressions import Expected, ExpressionError, parse
from zhida.rules.model import (
    WITHOUT_AMOUNT,
    AreaFile,
    Cap,
    CapScope,
    CountyBudget,
    EventType,
    FieldType,
    Kind,
    Layer,
    Name,
    NotABenefit,
    Rule,
    RuleSpec,
    StackingMode,
)
from zhida.source import Document, parse_file
from zhida.source.errors import DocumentError
from zhida.source.script import canonical, to_simplified

COUNTY_NAME = re.compile(r"[\u4e00-\u9fff]{1,12}(?:县|区|市)")


class PackError(ValueError):
    """A policy pack that cannot be loaded; the message names the file and the rule."""


class EventsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    subjects: dict[Name, str]  # kind -> Simplified Chinese name
    events: tuple[EventType, ...]


class MoreEvents(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    events: tuple[EventType, ...]


class OverlayEvents(BaseModel):
    """An overlay's events.yaml: new subject kinds (optional) and new event types."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subjects: dict[Name, str] = {}
    events: tuple[EventType, ...] = ()


@dataclass(frozen=True)
class CountyLayer:
    """What a county overlay adds to its base: its document, county, budgets and marks.

    Its rules sit in `Pack.rules` with `layer == Layer.COUNTY`, after the base's."""

    id: str  # the overlay pack's id
    path: Path
    county: str  # Simplified: 安吉县
    document: Document  # the county's own text; its rules' clause spans point into it
    budgets: tuple[CountyBudget, ...]
    not_benefits: tuple[tuple[NotABenefit, tuple[int, int]], ...]


@dataclass(frozen=True)
class Pack:
    """A loaded policy pack: the parsed document and its rules, ready to evaluate.

    For a county overlay, `document` is the base's (the city's) and `county_layer` holds the
    county's; `id` is the overlay's id while each rule's `pack` names the document it implements."""

    path: Path
    document: Document
    subjects: dict[str, str]
    events: dict[str, EventType]
    rules: tuple[Rule, ...]
    not_benefits: tuple[tuple[NotABenefit, tuple[int, int]], ...]
    id: str = ""
    county_layer: CountyLayer | None = None

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def rules_for(self, event: str) -> tuple[Rule, ...]:
        """The rules an event of this type is matched against, in the pack's order."""
        return self._rules_by_event.get(event, ())

    @cached_property
    def _rules_by_event(self) -> dict[str, tuple[Rule, ...]]:
        # Built once per pack: scanning all 118 rules for every event was a sixth of a small case's time.
        by_event: dict[str, list[Rule]] = {}
        for rule in self.rules:
            by_event.setdefault(rule.spec.event, []).append(rule)
        return {event: tuple(rules) for event, rules in by_event.items()}

    @property
    def county(self) -> str | None:
        """The county an overlay serves; None for a pack that extends none."""
        return self.county_layer.county if self.county_layer is not None else None

    @property
    def base_id(self) -> str:
        """The id of the document the base layer implements (the pack itself unless it is an overlay)."""
        return next((rule.pack for rule in self.rules if rule.layer is Layer.BASE), self.id)

    def document_of(self, rule: Rule) -> Document:
        """The document a rule quotes: the county's for a county rule, else the base's."""
        if rule.layer is Layer.COUNTY and self.county_layer is not None:
            return self.county_layer.document
        return self.document

    def applies(self, rule: Rule, county: str | None) -> bool:
        """Whether a rule applies to a subject of `county`: base rules to all, county rules to that county's."""
        if rule.layer is Layer.BASE:
            return True
        return county is not None and to_simplified(county) == self.county

    def county_view(self) -> Pack | None:
        """The county layer alone, as a pack of one document (its text, rules and marks), for the
        tools that read one document at a time (`zhida.rules.coverage`); None for a base pack."""
        layer = self.county_layer
        if layer is None:
            return None
        rules = tuple(rule for rule in self.rules if rule.layer is Layer.COUNTY)
        return Pack(layer.path, layer.document, self.subjects, self.events, rules, layer.not_benefits, id=layer.id)

    def top_ups(self, rule_id: str) -> tuple[Rule, ...]:
        """The county rules that raise the base rule `rule_id`."""
        return tuple(rule for rule in self.rules if rule.spec.tops_up == rule_id)


def load_pack(path: str | Path) -> Pack:
    """A pack from its folder: a base pack, or a county overlay together with the base it extends."""
    path = Path(path)
    metadata = _metadata(path)
    if metadata.get("extends") is None:
        for key in ("county", "budgets"):
            if key in metadata:
                raise PackError(f"{path / 'policy.yaml'}: 第 {_line(path, key)} 行:{key} 只用于区县承接方案(须同时写明 extends)")
        return _load_base(path)
    return _load_overlay(path, metadata)


def _load_base(path: Path) -> Pack:
    pack_id = path.name
    document = parse_file(path / "document.txt")
    events_file = _read_model(path / "events.yaml", EventsFile)
    events = {event.name: event for event in events_file.events}
    # More event types may sit in events-*.yaml files (e.g. one per area), without `subjects:`.
    for extra in sorted(path.glob("events-*.yaml")):
        for event in _read_model(extra, MoreEvents).events:
            if event.name in events:
                raise PackError(f"{extra}: 事件类型 {event.name} 已在别处定义")
            events[event.name] = event
    _check_events(path, events, events_file.subjects)
    rules: list[Rule] = []
    not_benefits: list[tuple[NotABenefit, tuple[int, int]]] = []
    rule_files = sorted((path / "rules").glob("*.yaml"))
    if not rule_files:
        raise PackError(f"{path / 'rules'}: 没有规则文件(*.yaml)")
    for rule_file in rule_files:
        area_file = _read_model(rule_file, AreaFile)
        caps = {cap.id: cap for cap in area_file.caps}
        for cap in area_file.caps:
            _find_clause(document, cap.clause, f"{rule_file.name}: 上限 {cap.id}")
        for spec in area_file.rules:
            if spec.tops_up is not None:
                raise PackError(f"{rule_file}: 规则 {spec.id}: tops_up 只用于区县承接方案(policy.yaml 须写明 extends 和 county)")
            rule = _load_rule(spec, caps, events, events_file.subjects, document, area_file.area, rule_file.name, pack_id)
            _check_stacking(rule, document, rule_file, path)
            rules.append(rule)
        for mark in area_file.not_benefits:
            span = _find_clause(document, mark.clause, f"{rule_file.name}: not_benefits")
            not_benefits.append((mark, span))
    _check_unique(rules, path / "rules")
    return Pack(path, document, dict(events_file.subjects), events, tuple(rules), tuple(not_benefits), id=pack_id)


def _check_events(path: Path, events: dict[str, EventType], subjects: dict[str, str]) -> None:
    field_types: dict[str, tuple[str, object]] = {}
    for event in events.values():
        for field in event.fields:
            # A register holds every event type in one table: a field name must mean one type throughout.
            first = field_types.setdefault(field.name, (event.name, field.type))
            if first[1] is not field.type:
                raise PackError(
                    f"{path}: 字段 {field.name} 在事件类型 {first[0]} 中为 {first[1]},在 {event.name} 中为 {field.type};"
                    "同名字段须为同一类型"
                )
        for kind in event.subjects:
            if kind not in subjects:
                raise PackError(f"{path / 'events.yaml'}: 事件类型 {event.name} 的主体类型 {kind!r} 未在 subjects 中定义")


def _check_unique(rules: list[Rule], where: Path) -> None:
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise PackError(f"{where}: 规则编号 {rule.id} 重复")
        seen.add(rule.id)


# --------------------------------------------------------------------------- county overlays


def _load_overlay(path: Path, metadata: dict) -> Pack:
    """A county's 承接落实方案 over the pack it extends (docs/packs.md, "County overlays")."""
    policy = path / "policy.yaml"
    county = _county(path, metadata)
    base_entry = _base_entry(path, metadata["extends"])
    base = load_pack(base_entry.path)
    if base.county_layer is not None:
        raise PackError(
            f"{policy}: 第 {_line(path, 'extends')} 行:{base.id} 本身是区县承接方案({base.county}),"
            "只能扩展基础政策包"
        )
    overlay_id = path.name
    try:
        document = parse_file(path / "document.txt")
    except (OSError, DocumentError) as error:
        raise PackError(f"{path / 'document.txt'}: 区县文件无法读取:{error}") from None
    subjects, events = _overlay_events(path, base)
    base_caps = {cap.id for rule in base.rules for cap in rule.caps}
    rules: list[Rule] = []
    not_benefits: list[tuple[NotABenefit, tuple[int, int]]] = []
    rule_files = sorted((path / "rules").glob("*.yaml"))
    if not rule_files:
        raise PackError(f"{path / 'rules'}: 没有规则文件(*.yaml)")
    raised: dict[str, str] = {}  # base rule id -> the county rule raising it
    for rule_file in rule_files:
        area_file = _read_overlay_rules(rule_file, base)
        caps = {cap.id: cap for cap in area_file.caps}
        for cap in area_file.caps:
            if cap.id in base_caps:
                raise PackError(f"{rule_file}: 上限 {cap.id} 与 {base.id} 的上限同名;区县上限须另起名称")
            _find_clause(document, cap.clause, f"{rule_file.name}: 上限 {cap.id}")
        for spec in area_file.rules:
            rule = _load_county_rule(spec, caps, base, events, subjects, document, area_file.area, rule_file, overlay_id)
            if spec.tops_up is not None:
                if spec.tops_up in raised:
                    raise PackError(
                        f"{rule_file}: 规则 {spec.id}: 基础规则 {spec.tops_up} 已由 {raised[spec.tops_up]} 加码;"
                        "同一基础规则只能有一条加码规则"
                    )
                raised[spec.tops_up] = spec.id
            rules.append(rule)
        for mark in area_file.not_benefits:
            not_benefits.append((mark, _find_clause(document, mark.clause, f"{rule_file.name}: not_benefits")))
    _check_unique([*base.rules, *rules], path / "rules")
    budgets = _budgets(path, metadata, document, rules)
    layer = CountyLayer(overlay_id, path, county, document, budgets, tuple(not_benefits))
    return Pack(
        path, base.document, subjects, events, (*base.rules, *rules), base.not_benefits, id=overlay_id, county_layer=layer
    )


def _county(path: Path, metadata: dict) -> str:
    county = metadata.get("county")
    where = f"{path / 'policy.yaml'}: 第 {_line(path, 'extends')} 行"
    if county is None:
        raise PackError(f"{where}:区县承接方案须写明 county(所适用的区县,如 安吉县)")
    if not isinstance(county, str) or not COUNTY_NAME.fullmatch(to_simplified(county.strip())):
        raise PackError(f"{path / 'policy.yaml'}: 第 {_line(path, 'county')} 行:county 须为一个区县名称(如 安吉县),收到 {county!r}")
    return to_simplified(county.strip())


def _base_entry(path: Path, extends: object) -> library.PackEntry:
    """The pack `extends` names, found as `--pack` finds packs (or beside the overlay), with no cycle."""
    where = f"{path / 'policy.yaml'}: 第 {_line(path, 'extends')} 行"
    if not isinstance(extends, str):
        raise PackError(f"{where}:extends 须为所扩展政策包的编号")
    chain = [path.name]
    entry = _find_entry(extends, path, where)
    while True:
        chain.append(entry.id)
        if entry.id in chain[:-1]:
            raise PackError(f"{where}:扩展关系成环:{' → '.join(chain)}")
        if entry.extends is None:
            break
        entry = _find_entry(entry.extends, entry.path, f"{entry.path / 'policy.yaml'}")
    return _find_entry(extends, path, where)


def _find_entry(pack_id: str, near: Path, where: str) -> library.PackEntry:
    """A pack by id: among the library's packs, else a sibling folder of `near` (fixtures beside each other)."""
    try:
        entries = library.find_packs()
        if pack_id in entries:
            return entries[pack_id]
        sibling = near.parent / pack_id
        if (sibling / "policy.yaml").is_file():
            return library.read_entry(sibling)
        known = "、".join(sorted(entries)) or "(无)"
    except library.PackChoiceError as error:
        raise PackError(f"{where}:{error}") from None
    raise PackError(f"{where}:没有编号为 {pack_id} 的政策包;现有:{known}")


def _overlay_events(path: Path, base: Pack) -> tuple[dict[str, str], dict[str, EventType]]:
    """The base's subject kinds and event types, with the overlay's new ones (never a redefinition)."""
    subjects, events = dict(base.subjects), dict(base.events)
    files = ([path / "events.yaml"] if (path / "events.yaml").is_file() else []) + sorted(path.glob("events-*.yaml"))
    for file in files:
        more = _read_model(file, OverlayEvents)
        for kind, title in more.subjects.items():
            if kind in subjects:
                raise PackError(f"{file}: 主体类型 {kind} 已在 {base.id} 中定义")
            subjects[kind] = title
        for event in more.events:
            if event.name in events:
                raise PackError(f"{file}: 事件类型 {event.name} 已在 {base.id} 或本方案别处定义")
            events[event.name] = event
    _check_events(path, events, subjects)
    return subjects, events


def _read_overlay_rules(rule_file: Path, base: Pack) -> AreaFile:
    """An overlay's rule file; a top-up takes its base rule's subject, event and kind unless it states them."""
    try:
        data = yaml.safe_load(rule_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise PackError(f"{rule_file}: 无法读取 YAML:{error}") from None
    for item in (data.get("rules") or []) if isinstance(data, dict) else []:
        if isinstance(item, dict) and isinstance(item.get("tops_up"), str):
            try:
                spec = base.rule(item["tops_up"]).spec
            except KeyError:
                raise PackError(
                    f"{rule_file}: 规则 {item.get('id')}: tops_up 所指的基础规则 {item['tops_up']} 在 {base.id} 中不存在"
                ) from None
            item.setdefault("subject", list(spec.subject))
            item.setdefault("event", spec.event)
            item.setdefault("kind", spec.kind.value)
    try:
        return AreaFile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        raise PackError(f"{rule_file}: {'.'.join(str(part) for part in first['loc'])}: {first['msg']}") from None


def _load_county_rule(
    spec: RuleSpec,
    caps: dict[str, Cap],
    base: Pack,
    events: dict[str, EventType],
    subjects: dict[str, str],
    document: Document,
    area: int,
    rule_file: Path,
    overlay_id: str,
) -> Rule:
    """A county rule quoting the county document; a top-up also carries its base rule's caps."""
    where = f"{rule_file}: 规则 {spec.id}"
    if spec.stacking is not None and spec.tops_up is not None:
        raise PackError(f"{where}: 加码规则随其基础规则叠加或就高,不能另写 stacking")
    if spec.tops_up is None:
        rule = _load_rule(spec, caps, events, subjects, document, area, rule_file.name, overlay_id, Layer.COUNTY)
        _check_stacking(rule, document, rule_file, rule_file.parent.parent)
        return rule
    raised = base.rule(spec.tops_up)  # present: _read_overlay_rules checked it
    if spec.event != raised.spec.event:
        raise PackError(f"{where}: 加码规则的事件 {spec.event} 须与基础规则 {raised.id} 的事件 {raised.spec.event} 相同")
    if not set(spec.subject) <= set(raised.spec.subject):
        raise PackError(f"{where}: 加码规则的主体类型须为基础规则 {raised.id} 主体类型的一部分")
    if raised.spec.kind in WITHOUT_AMOUNT or spec.kind in WITHOUT_AMOUNT:
        raise PackError(f"{where}: 只能为有金额的规则加码,{raised.id} 或本规则没有金额")
    inherited = {cap.id: cap for cap in raised.caps}
    rule = _load_rule(spec, {**caps, **inherited}, events, subjects, document, area, rule_file.name, overlay_id, Layer.COUNTY)
    # The base's caps bind both layers together (市、区两级 … 不超過100萬元): the top-up carries them too.
    own = [cap for cap in rule.caps if cap.id not in inherited]
    order = [CapScope.ITEM, CapScope.SUBJECT_YEAR, CapScope.CARRIER_YEAR]
    together = sorted([*raised.caps, *own], key=lambda cap: order.index(cap.per))
    return rule.model_copy(update={"caps": tuple(together)})


def _budgets(path: Path, metadata: dict, document: Document, rules: list[Rule]) -> tuple[CountyBudget, ...]:
    """The county budgets of policy.yaml, each for one area of the county document or one county rule."""
    raw = metadata.get("budgets") or []
    where = f"{path / 'policy.yaml'}: 第 {_line(path, 'budgets')} 行"
    if not isinstance(raw, list):
        raise PackError(f"{where}:budgets 须为列表")
    budgets: list[CountyBudget] = []
    for position, item in enumerate(raw, start=1):
        try:
            budget = CountyBudget.model_validate(item)
        except ValidationError as error:
            first = error.errors()[0]
            raise PackError(f"{where}:第 {position} 项 {'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
        named = f"{where}:第 {position} 项预算"
        if (budget.area is None) == (budget.rule is None):
            raise PackError(f"{named}须写明 area(领域)或 rule(规则)之一")
        _find_clause(document, budget.clause, named)
        if budget.area is not None:
            area = next((a for a in document.areas if a.number == budget.area), None)
            if area is None:
                raise PackError(f"{named}:区县文件中没有第 {budget.area} 领域")
            if area.budget is not None and area.budget != budget.yuan:
                raise PackError(f"{named}:{budget.yuan} 元与文件所写第 {budget.area} 领域预算 {area.budget} 元不一致")
        elif budget.rule not in {rule.id for rule in rules}:
            raise PackError(f"{named}:rule {budget.rule} 不是本承接方案的规则")
        budgets.append(budget)
    for area in {budget.area for budget in budgets if budget.area is not None}:
        total = next(budget.yuan for budget in budgets if budget.area == area)
        allocated = sum(
            (budget.yuan for budget in budgets for rule in rules if budget.rule == rule.id and rule.area == area),
            Decimal(0),
        )
        if allocated > total:
            raise PackError(f"{where}:第 {area} 领域各规则预算合计 {allocated} 元,超过该领域预算 {total} 元")
    return tuple(budgets)


def _check_stacking(rule: Rule, document: Document, rule_file: Path, pack_path: Path) -> None:
    """`stacking:` as far as one pack can check it: the clause, the references' form and packs."""
    stacking = rule.spec.stacking
    if stacking is None:
        return
    where = f"{rule_file}: 规则 {rule.id}: stacking"
    if stacking.clause is not None:
        _find_clause(document, stacking.clause, where)
    if stacking.mode is StackingMode.HIGHER and rule.spec.kind in WITHOUT_AMOUNT:
        raise PackError(f"{where}: 就高须比较金额,{rule.spec.kind.value} 类规则没有金额")
    if len(set(stacking.with_)) != len(stacking.with_):
        raise PackError(f"{where}: with 中有重复的规则")
    for reference in stacking.with_:
        other = reference.split("/", 1)[0]
        if other == rule.pack:
            raise PackError(f"{where}: {reference} 是本政策包的规则;stacking 只说明与其他政策包的关系")
        _find_entry(other, pack_path, f"{where}: {reference}")


def _metadata(path: Path) -> dict:
    """policy.yaml as a mapping ({} when a test pack has none)."""
    policy = path / "policy.yaml"
    if not policy.is_file():
        return {}
    try:
        data = yaml.safe_load(policy.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise PackError(f"{policy}: 无法读取 YAML:{error}") from None
    if not isinstance(data, dict):
        raise PackError(f"{policy}: 须为键值表(title、issuer、issued …)")
    return data


def _line(path: Path, key: str) -> int | str:
    """The line of a top-level key of policy.yaml, for messages ("?" if it is not there)."""
    try:
        node = yaml.compose((path / "policy.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return "?"
    for key_node, _ in getattr(node, "value", []) if isinstance(node, yaml.MappingNode) else []:
        if key_node.value == key:
            return key_node.start_mark.line + 1
    return "?"


def load_rule_spec(pack: Pack, data: dict | RuleSpec, file_name: str = "(规则)") -> Rule:
    """One rule checked against a loaded pack exactly as `load_pack` checks it.

    For tools and tests that try a rule on its own (a `Pack` holding just it is
    `dataclasses.replace(pack, rules=(rule,))`). Caps may be any cap of the pack's rules.
    """
    try:
        spec = data if isinstance(data, RuleSpec) else RuleSpec.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        raise PackError(f"{file_name}: {'.'.join(str(part) for part in first['loc'])}: {first['msg']}") from None
    try:
        area = pack.document.article(spec.article).area
    except KeyError:
        raise PackError(f"{file_name}: 规则 {spec.id}: 文件中没有第 {spec.article} 条") from None
    caps = {cap.id: cap for rule in pack.rules for cap in rule.caps}
    return _load_rule(spec, caps, pack.events, pack.subjects, pack.document, area, file_name, pack.base_id)


def _read_model(path: Path, model: type[BaseModel]):
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise PackError(f"{path}: 无法读取 YAML:{error}") from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise PackError(f"{path}: {where}: {first['msg']}") from None


def _load_rule(
    spec: RuleSpec,
    caps: dict[str, Cap],
    events: dict[str, EventType],
    subjects: dict[str, str],
    document: Document,
    area: int,
    file_name: str,
    pack_id: str = "",
    layer: Layer = Layer.BASE,
) -> Rule:
    where = f"{file_name}: 规则 {spec.id}"
    try:
        article = document.article(spec.article)
    except KeyError:
        raise PackError(f"{where}: 文件中没有第 {spec.article} 条") from None
    if article.area != area:
        raise PackError(f"{where}: 第 {spec.article} 条属于第 {article.area} 领域,不在本文件的第 {area} 领域")
    span = _find_clause(document, spec.clause, where)
    if not (article.span.start <= span[0] and span[1] <= article.span.end):
        raise PackError(f"{where}: 引用的条文不在第 {spec.article} 条中:{spec.clause}")
    event = events.get(spec.event)
    if event is None:
        raise PackError(f"{where}: 未知的事件类型 {spec.event!r}")
    for kind in spec.subject:
        if kind not in subjects:
            raise PackError(f"{where}: 未知的主体类型 {kind!r}")
        if kind not in event.subjects:
            raise PackError(f"{where}: 事件 {spec.event} 不适用于主体类型 {kind!r}")
    _check_kind(spec, where)
    fields = {field.name: field.type for field in event.fields}
    # The case format lets an integer be negative unless its type declares a minimum >= 0.
    non_negative = {
        field.name for field in event.fields
        if field.type is FieldType.INTEGER and field.minimum is not None and field.minimum >= 0
    }
    try:
        when = parse(spec.when, f"{where}, when", fields, Expected.CONDITION, non_negative)
        amount, tax_due = (
            parse(text, f"{where}, {key}", fields, Expected.MONEY, non_negative) if text is not None else None
            for key, text in (("amount", spec.amount), ("tax_due", spec.tax_due))
        )
    except ExpressionError as error:
        raise PackError(str(error)) from None
    rule_caps = []
    for cap_id in spec.caps:
        cap = caps.get(cap_id)
        if cap is None:
            raise PackError(f"{where}: 未定义的上限 {cap_id!r}")
        if cap.per is CapScope.CARRIER_YEAR and (cap.carrier_field is None or cap.carrier_field not in fields):
            raise PackError(f"{where}: 上限 {cap_id} 按载体计算,但事件 {spec.event} 没有声明载体字段 {cap.carrier_field!r}")
        rule_caps.append(cap)
    # Caps stack in order: per item, then per subject per year, then per carrier per year.
    order = [CapScope.ITEM, CapScope.SUBJECT_YEAR, CapScope.CARRIER_YEAR]
    rule_caps.sort(key=lambda cap: order.index(cap.per))
    preamble = document.preamble
    valid_from = spec.valid_from or preamble.valid_from or dt.date.min
    valid_to = spec.valid_to or preamble.valid_to or dt.date.max
    return Rule(
        spec=spec,
        when=when,
        amount=amount,
        tax_due=tax_due,
        caps=tuple(rule_caps),
        area=area,
        department=document.areas[area - 1].answerable(article.number),
        clause_span=span,
        valid_from=valid_from,
        valid_to=valid_to,
        pack=pack_id,
        layer=layer,
        quoted=document.text[span[0] : span[1]],
    )


def _check_kind(spec: RuleSpec, where: str) -> None:
    if spec.kind is Kind.QUALIFICATION:
        if spec.amount is not None or not spec.result:
            raise PackError(f"{where}: 资格类规则不能有 amount,必须写明 result")
    elif spec.kind is Kind.BY_MEASURE:
        if spec.amount is not None or not spec.amount_by:
            raise PackError(f"{where}: by_measure 类规则不能有 amount,必须写明 amount_by(金额按何种政策执行)")
    elif spec.amount is None:
        raise PackError(f"{where}: {spec.kind.value} 类规则必须有 amount")
    if spec.amount_by is not None and spec.kind is not Kind.BY_MEASURE:
        raise PackError(f"{where}: 只有 by_measure 类规则可以有 amount_by")
    if spec.tax_due is not None and spec.kind is not Kind.TAX:
        raise PackError(f"{where}: 只有 tax 类规则可以有 tax_due")


def _find_clause(document: Document, clause: str, where: str) -> tuple[int, int]:
    """Where `clause` occurs in the document: verbatim, or in either script and width."""
    position = document.text.find(clause)
    if position < 0:
        position = canonical(document.text).find(canonical(clause))
    if position < 0 or not clause:
        raise PackError(f"{where}: 引用的条文在文件中找不到:{clause!r}")
    return position, position + len(clause)
