"""A case: one subject with dated events, read from YAML/JSON and checked against the pack.

    subject: {id: E001, kind: enterprise, name: 湖州某科技有限公司}
    events:
      - {id: e1, type: innovation_voucher, date: 2025-03-01, service_fee: 80000}

Each event carries exactly the fields its type declares (`zhida events`). Bad
input gets one `CaseError` naming the case, the event and the field; nothing is
computed from a case that does not check.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from zhida.rules.model import EventField, FieldType
from zhida.rules.pack import Pack
from zhida.source.script import to_simplified

Value = Decimal | int | str | bool


class CaseError(ValueError):
    """A case that cannot be evaluated; the message names the case, event and field."""


@dataclass(frozen=True)
class Subject:
    id: str
    kind: str
    name: str


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    date: dt.date
    values: dict[str, Value]


@dataclass(frozen=True)
class Case:
    name: str
    subject: Subject
    events: tuple[Event, ...]


def load_case(path: str | Path, pack: Pack) -> Case:
    """Read a case file (.yaml, .yml or .json) and check it."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CaseError(f"{path}: 无法读取文件:{error}") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(raw, parse_float=Decimal)
        elif path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(raw)
        else:
            raise CaseError(f"{path}: 案例文件须为 .yaml、.yml 或 .json")
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise CaseError(f"{path}: 不是有效的 {path.suffix.lstrip('.').upper()} 文件:{_first_line(error)}") from None
    return case_from_data(data, pack, str(path))


def read_case_json(raw: bytes) -> Any:
    """The request body as Python data, numbers with a fraction as Decimal; ValueError in Chinese."""
    if not raw.strip():
        raise ValueError("请求体为空:须为 JSON 格式的案例 {\"subject\": {...}, \"events\": [...]}")
    try:
        return json.loads(raw, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise ValueError(f"请求体不是有效的 JSON:第 {error.lineno} 行第 {error.colno} 列,{error.msg}") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValueError("请求体不是有效的 JSON:须为 UTF-8 编码的 JSON 文本") from None


def case_from_data(data: Any, pack: Pack, name: str = "案例") -> Case:
    """Check a case already parsed into Python objects (from a file or a request)."""
    if not isinstance(data, dict):
        raise CaseError(f"{name}: 案例须为一个包含 subject 和 events 的对象")
    _no_extra(data, {"subject", "events", "name"}, name)
    subject = _subject(data.get("subject"), pack, name)
    events_data = data.get("events")
    if not isinstance(events_data, list):
        raise CaseError(f"{name}: events 须为事件列表")
    events: list[Event] = []
    seen: set[str] = set()
    for position, item in enumerate(events_data, start=1):
        event = _event(item, position, subject, pack, name)
        if event.id in seen:
            raise CaseError(f"{name}: 事件编号 {event.id} 重复")
        seen.add(event.id)
        events.append(event)
    return Case(name=str(data.get("name") or name), subject=subject, events=tuple(events))


def _subject(data: Any, pack: Pack, name: str) -> Subject:
    if not isinstance(data, dict):
        raise CaseError(f"{name}: 缺少 subject(主体),须包含 id 和 kind")
    _no_extra(data, {"id", "kind", "name"}, f"{name}: subject")
    for key in ("id", "kind"):
        if data.get(key) in (None, ""):
            raise CaseError(f"{name}: subject 缺少字段 {key}")
    kind = data["kind"]
    if kind not in pack.subjects:
        known = "、".join(f"{key}({title})" for key, title in pack.subjects.items())
        raise CaseError(f"{name}: subject.kind 未知的主体类型 {kind!r};可选:{known}")
    return Subject(id=str(data["id"]), kind=kind, name=str(data.get("name") or data["id"]))


def _event(data: Any, position: int, subject: Subject, pack: Pack, name: str) -> Event:
    where = f"{name}: 第 {position} 个事件"
    if not isinstance(data, dict):
        raise CaseError(f"{where}: 须为一个对象")
    for key in ("id", "type", "date"):
        if data.get(key) in (None, ""):
            raise CaseError(f"{where}: 缺少字段 {key}")
    event_id = str(data["id"])
    where = f"{name}: 事件 {event_id}"
    event_type = pack.events.get(data["type"])
    if event_type is None:
        raise CaseError(f"{where}: 未知的事件类型 {data['type']!r};用 `zhida events` 查看全部事件类型")
    if subject.kind not in event_type.subjects:
        raise CaseError(f"{where}: 事件类型 {event_type.name} 不适用于主体类型 {subject.kind}")
    date = _date(data["date"], f"{where} 的字段 date")
    declared = {field.name for field in event_type.fields}
    _no_extra(data, {"id", "type", "date"} | declared, where)
    values: dict[str, Value] = {}
    for field in event_type.fields:
        if field.name not in data or data[field.name] is None:
            raise CaseError(f"{where}: 缺少字段 {field.name}({field.title})")
        values[field.name] = _value(field, data[field.name], f"{where} 的字段 {field.name}({field.title})")
    return Event(id=event_id, type=event_type.name, date=date, values=values)


def _value(field: EventField, raw: Any, where: str) -> Value:
    if field.type in (FieldType.MONEY, FieldType.NUMBER):
        number = _decimal(raw, where)
        if number < 0:
            raise CaseError(f"{where}: 不能为负数,收到 {raw}")
        if field.type is FieldType.MONEY and number != number.quantize(Decimal("0.01")):
            raise CaseError(f"{where}: 金额最多精确到分(两位小数),收到 {raw}")
        return number
    if field.type is FieldType.INTEGER:
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise CaseError(f"{where}: 须为整数,收到 {raw!r}")
        try:
            number = int(raw)
        except ValueError:
            raise CaseError(f"{where}: 须为整数,收到 {raw!r}") from None
        if field.minimum is not None and number < field.minimum:
            raise CaseError(f"{where}: 不能小于 {field.minimum},收到 {number}")
        return number
    if field.type is FieldType.FLAG:
        if not isinstance(raw, bool):
            raise CaseError(f"{where}: 须为 true 或 false,收到 {raw!r}")
        return raw
    if not isinstance(raw, str) or not raw.strip():
        raise CaseError(f"{where}: 须为文字,收到 {raw!r}")
    if field.type is FieldType.CHOICE:
        value = to_simplified(raw.strip())  # Traditional input reads the same
        if value not in field.values:
            raise CaseError(f"{where}: {raw!r} 不是可选值;可选:{'、'.join(field.values)}")
        return value
    return raw.strip()


def _decimal(raw: Any, where: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
        raise CaseError(f"{where}: 须为数字,收到 {raw!r}")
    try:
        # str() of a float is its shortest round-trip form: 0.1 -> "0.1", not 0.1000000000000000055…
        number = Decimal(str(raw).strip().replace(",", ""))
    except InvalidOperation:
        raise CaseError(f"{where}: 须为数字,收到 {raw!r}") from None
    if not number.is_finite():
        raise CaseError(f"{where}: 须为有限的数字,收到 {raw!r}")
    return number


def _date(raw: Any, where: str) -> dt.date:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    try:
        return dt.date.fromisoformat(str(raw))
    except ValueError:
        raise CaseError(f"{where}: 日期格式须为 YYYY-MM-DD,收到 {raw!r}") from None


def _no_extra(data: dict, allowed: set[str], where: str) -> None:
    extra = sorted(str(key) for key in data if key not in allowed)
    if extra:
        raise CaseError(f"{where}: 多余的字段 {'、'.join(extra)};允许的字段:{'、'.join(sorted(allowed))}")


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__
