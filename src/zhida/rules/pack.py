"""Load a policy pack: the document, its event types and its rules, cross-checked.

    policies/huzhou-2025/
      document.txt     the text verbatim          policy.yaml   metadata
      events.yaml      subject kinds, event types  rules/*.yaml  the rules of each area
      events-*.yaml    more event types (optional)  tests/*.yaml  cases with hand-computed results

Every problem is reported as one `PackError` naming the file and the rule.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from zhida.rules.expressions import Expected, ExpressionError, parse
from zhida.rules.model import AreaFile, Cap, CapScope, EventType, FieldType, Kind, Name, NotABenefit, Rule, RuleSpec
from zhida.source import Document, parse_file
from zhida.source.script import canonical


class PackError(ValueError):
    """A policy pack that cannot be loaded; the message names the file and the rule."""


class EventsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    subjects: dict[Name, str]  # kind -> Simplified Chinese name
    events: tuple[EventType, ...]


class MoreEvents(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    events: tuple[EventType, ...]


@dataclass(frozen=True)
class Pack:
    """A loaded policy pack: the parsed document and its rules, ready to evaluate."""

    path: Path
    document: Document
    subjects: dict[str, str]
    events: dict[str, EventType]
    rules: tuple[Rule, ...]
    not_benefits: tuple[tuple[NotABenefit, tuple[int, int]], ...]

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def rules_for(self, event: str) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.spec.event == event)


def load_pack(path: str | Path) -> Pack:
    path = Path(path)
    document = parse_file(path / "document.txt")
    events_file = _read_model(path / "events.yaml", EventsFile)
    events = {event.name: event for event in events_file.events}
    # More event types may sit in events-*.yaml files (e.g. one per area), without `subjects:`.
    for extra in sorted(path.glob("events-*.yaml")):
        for event in _read_model(extra, MoreEvents).events:
            if event.name in events:
                raise PackError(f"{extra}: 事件类型 {event.name} 已在别处定义")
            events[event.name] = event
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
            if kind not in events_file.subjects:
                raise PackError(f"{path / 'events.yaml'}: 事件类型 {event.name} 的主体类型 {kind!r} 未在 subjects 中定义")
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
            rules.append(_load_rule(spec, caps, events, events_file.subjects, document, area_file.area, rule_file.name))
        for mark in area_file.not_benefits:
            span = _find_clause(document, mark.clause, f"{rule_file.name}: not_benefits")
            not_benefits.append((mark, span))
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise PackError(f"{path / 'rules'}: 规则编号 {rule.id} 重复")
        seen.add(rule.id)
    return Pack(path, document, dict(events_file.subjects), events, tuple(rules), tuple(not_benefits))


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
    return _load_rule(spec, caps, pack.events, pack.subjects, pack.document, area, file_name)


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
        department=document.areas[area - 1].department,
        clause_span=span,
        valid_from=valid_from,
        valid_to=valid_to,
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
