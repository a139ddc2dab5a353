"""A case: one subject with dated events, read from YAML/JSON and checked against the pack.

    subject: {id: E001, kind: enterprise, name: 湖州某科技有限公司, county: 安吉县}
    events:
      - {id: e1, type: innovation_voucher, date: 2025-03-01, service_fee: 80000}

Each event carries exactly the fields its type declares (`zhida events`). Bad
input gets one `CaseError` naming the case, the event and the field; nothing is
computed from a case that does not check.

Numbers and dates are read from their text, never guessed: JSON numbers and
YAML scalars reach the field as written (`JsonNumber`, or a string), so that
1e400, a 5,000-digit integer, 1_000, 012 or 2025-02-30 is refused by the field
that names it instead of by the parser (or, worse, read as something else).
A money field reads as a Chinese user writes it as well: 300,000, 30万, 0.3亿元
(zhida.engine.money_text, one grammar for the API, `zhida calc` and the pages).
The grammar is policies/huzhou-2025/README.md's "A case". `subject.county` (optional) is the
区县 a county overlay's rules look for (docs/packs.md); Traditional input reads the same.

One case may be read for several packs at once (`cases_from_data`): an event belongs to every
pack that declares its type, carrying the fields each declares; a pack that declares none of a
case's events, or not its subject kind, simply has no case.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from zhida.engine.money_text import (
    MONEY_SCHEMA_PATTERN,  # noqa: F401 - the API's schema reads it from here
    TOO_LARGE,
    MoneyProblem,
    parse_money,
    why_not_a_number,
)
from zhida.rules.model import EventField, FieldType
from zhida.rules.pack import Pack
from zhida.source.script import to_simplified

Value = Decimal | int | str | bool

# Numbers must be less than 10 ** digits, with at most `places` decimals. Money fits the batch's
# DECIMAL(18, 2) with a digit to spare for sums; a number fits its DECIMAL(18, 6).
NUMBER_DIGITS = {FieldType.MONEY: 15, FieldType.NUMBER: 12, FieldType.INTEGER: 9}
NUMBER_PLACES = {FieldType.MONEY: 2, FieldType.NUMBER: 6, FieldType.INTEGER: 0}
MAX_TEXT = 200  # characters of an id, a name or a text field

# ASCII digits only; thousands separators only where they belong (1,000,000.50); no exponent,
# no underscore, no leading zero, no plus sign. A minus sign is read only to say "negative".
# Money has its own grammar, this one and 30万 / 0.3亿 / 元 (zhida.engine.money_text).
NUMBER_PATTERN = re.compile(r"(-?)(0|[1-9][0-9]*|[1-9][0-9]{0,2}(?:,[0-9]{3})+)(?:\.([0-9]+))?")
DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# The same grammar for a JSON schema (the API's OpenAPI document): a number string that is accepted.
# MONEY_SCHEMA_PATTERN (money_text) is the money's.
NUMBER_SCHEMA_PATTERN = r"^(0|[1-9][0-9]{0,11}|[1-9][0-9]{0,2}(,[0-9]{3}){1,3})(\.[0-9]{1,6})?$"
DATE_SCHEMA_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# Characters that change how text is shown without being text: bidirectional overrides and isolates.
_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Every character a short text may not hold, in one class: the control characters (Unicode's Cc, which is
# exactly U+0000-U+001F and U+007F-U+009F), the line and paragraph separators (Zl, Zp: U+2028, U+2029), lone
# surrogates (Cs) and the bidi controls. One search instead of unicodedata.category per character
# (bench/api_bench.py: 40% of checking a case).
_NOT_IN_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff" + "".join(sorted(_BIDI_CONTROLS)) + "]")


class CaseError(ValueError):
    """A case that cannot be evaluated; the message names the case, event and field."""


@dataclass(frozen=True)
class JsonNumber:
    """A number as written in JSON, kept as text so that its field checks it and can be named."""

    text: str


@dataclass(frozen=True)
class Subject:
    id: str
    kind: str
    name: str
    county: str | None = None  # Simplified: 安吉县; None when the case does not say


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


# --------------------------------------------------------------------------- reading files and bodies


class _CaseLoader(yaml.SafeLoader):
    """YAML for a case: only null and true/false are typed, every other scalar stays text.

    YAML 1.1 reads 1_000 as 1000, 012 as 10, yes as true and 2025-02-30 as a crash; left as
    text, each reaches the field that can refuse it by name. A repeated key is refused.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    problem = f"字段 {_key(key_node.value)} 重复出现"
                    raise yaml.constructor.ConstructorError(None, None, problem, key_node.start_mark)
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_CaseLoader.yaml_implicit_resolvers = {}
_CaseLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_CaseLoader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
for _tag in ("int", "float", "timestamp"):  # explicit !!int 1e400 etc. stay text as well
    _CaseLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _CaseLoader.construct_scalar)


class _DuplicateKey(ValueError):
    pass


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different: a repeated field is ambiguous, not "the last one"."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(f"字段 {_key(key)} 重复出现")
        result[key] = value
    return result


# json's messages, in the words of the case's users; others are shown as json says them.
_JSON_MESSAGES = {
    "Expecting value": "此处须为一个 JSON 值(文字须用双引号括起,数字须使用半角数字 0-9)",
    "Expecting property name enclosed in double quotes": "字段名须用双引号括起",
    "Expecting ':' delimiter": "缺少冒号 :",
    "Expecting ',' delimiter": "缺少逗号 ,",
    "Extra data": "JSON 之后还有多余的内容",
    "Unterminated string starting at": "字符串缺少结尾的双引号",
    "Invalid control character at": "字符串中有未转义的控制字符",
    "Invalid \\escape": "无效的转义序列",
    "Invalid \\uXXXX escape": "无效的 \\uXXXX 转义",
    "Illegal trailing comma before end of object": "对象末尾多了一个逗号",
    "Illegal trailing comma before end of array": "列表末尾多了一个逗号",
}


def _json_problem(error: json.JSONDecodeError) -> str:
    return f"第 {error.lineno} 行第 {error.colno} 列,{_JSON_MESSAGES.get(error.msg, error.msg)}"


def _parse_json(raw: str | bytes) -> Any:
    """JSON with numbers (and NaN, Infinity) kept as text; json's errors pass through."""
    return json.loads(
        raw, parse_int=JsonNumber, parse_float=JsonNumber, parse_constant=JsonNumber, object_pairs_hook=_unique_object
    )


def load_case(path: str | Path, pack: Pack) -> Case:
    """Read a case file (.yaml, .yml or .json) and check it."""
    data, shown = read_case_file(path)
    return case_from_data(data, pack, shown)


def read_case_file(path: str | Path) -> tuple[Any, str]:
    """A case file's data, unchecked, and its name as messages show it (for one pack or several)."""
    path = Path(path)
    shown = _display(str(path))
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise CaseError(f"{shown}: 案例文件须为 .yaml、.yml 或 .json")
    try:
        raw = path.read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise CaseError(f"{shown}: 无法读取文件:{_display(str(error.strerror or error))}") from None
    except UnicodeDecodeError:
        raise CaseError(f"{shown}: 无法读取文件:须为 UTF-8 编码的文本") from None
    kind = suffix.lstrip(".").upper()
    try:
        data = _parse_json(raw) if suffix == ".json" else yaml.load(raw, Loader=_CaseLoader)  # a SafeLoader
    except json.JSONDecodeError as error:
        raise CaseError(f"{shown}: 不是有效的 JSON 文件:{_json_problem(error)}") from None
    except _DuplicateKey as error:
        raise CaseError(f"{shown}: 不是有效的 JSON 文件:{error}") from None
    except yaml.YAMLError as error:
        raise CaseError(f"{shown}: 不是有效的 {kind} 文件:{_yaml_problem(error)}") from None
    except RecursionError:
        raise CaseError(f"{shown}: 不是有效的 {kind} 文件:嵌套层数过多") from None
    return data, shown


def read_case_json(raw: bytes) -> Any:
    """The request body as Python data, numbers kept as `JsonNumber`; ValueError in Chinese."""
    if not raw.strip():
        raise ValueError("请求体为空:须为 JSON 格式的案例 {\"subject\": {...}, \"events\": [...]}")
    try:
        return _parse_json(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"请求体不是有效的 JSON:{_json_problem(error)}") from None
    except _DuplicateKey as error:
        raise ValueError(f"请求体不是有效的 JSON:{error}") from None
    except RecursionError:
        raise ValueError("请求体不是有效的 JSON:嵌套层数过多") from None
    except ValueError:  # UnicodeDecodeError among them
        raise ValueError("请求体不是有效的 JSON:须为 UTF-8 编码的 JSON 文本") from None


# --------------------------------------------------------------------------- checking a case


def case_from_data(data: Any, pack: Pack, name: str = "案例") -> Case:
    """Check a case already parsed into Python objects (from a file, a request or a form)."""
    if not isinstance(data, dict):
        raise CaseError(f"{name}: 案例须为一个包含 subject 和 events 的对象")
    _no_extra(data, {"subject", "events", "name"}, name)
    title = _optional_text(data.get("name"), f"{name}: 字段 name(案例名称)")
    subject = _subject(data.get("subject"), pack, name)
    events_data = data.get("events")
    if not isinstance(events_data, list):
        raise CaseError(f"{name}: events 须为事件列表,收到 {_shown(events_data)}")
    events: list[Event] = []
    seen: set[str] = set()
    for position, item in enumerate(events_data, start=1):
        event = _event(item, position, subject, pack, name)
        if event.id in seen:
            raise CaseError(f"{name}: 事件编号 {event.id} 重复")
        seen.add(event.id)
        events.append(event)
    return Case(name=title or name, subject=subject, events=tuple(events))


def cases_from_data(data: Any, packs: list[Pack] | tuple[Pack, ...], name: str = "案例") -> dict[str, Case]:
    """One case checked for several packs: by pack id, the case each pack sees.

    An event goes to every pack that declares its type (with the subject's kind), checked there;
    the fields of all those packs' declarations are allowed, each pack reading its own. An event
    no pack declares, or a field none of them declares, is refused as for one pack."""
    if not isinstance(data, dict):
        raise CaseError(f"{name}: 案例须为一个包含 subject 和 events 的对象")
    events_data = data.get("events")
    if not isinstance(events_data, list):
        raise CaseError(f"{name}: events 须为事件列表,收到 {_shown(events_data)}")
    kind = data["subject"].get("kind") if isinstance(data.get("subject"), dict) else None
    kind = to_simplified(kind.strip()) if isinstance(kind, str) else None
    serving = [pack for pack in packs if kind in pack.subjects]
    if not serving:
        return {packs[0].id: case_from_data(data, packs[0], name)}  # refused there, in one pack's words
    cases: dict[str, Case] = {}
    for pack in serving:
        mine = [
            _fields_of(item, pack) for item in events_data if not isinstance(item, dict) or _declares(pack, item, kind)
        ]
        cases[pack.id] = case_from_data({**data, "events": mine}, pack, name)
    ids = "、".join(pack.id for pack in serving)
    for position, item in enumerate(events_data, start=1):
        if isinstance(item, dict) and not any(_declares(pack, item, kind) for pack in serving):
            raise CaseError(
                f"{name}: 第 {position} 个事件:所选政策包({ids})都没有适用于主体类型 {kind} 的事件类型 "
                f"{_shown(item.get('type'))};用 `zhida events` 查看全部事件类型"
            )
    known = {"id", "type", "date"}
    for item in events_data:
        if isinstance(item, dict):
            declared = set(known)
            for pack in serving:
                event_type = pack.events.get(str(item.get("type")))
                declared |= {field.name for field in event_type.fields} if event_type is not None else set()
            _no_extra(item, declared, f"{name}: 事件 {_key(str(item.get('id')))}")
    return cases


def _declares(pack: Pack, item: dict, kind: Any) -> bool:
    event_type = pack.events.get(item.get("type")) if isinstance(item.get("type"), str) else None
    return event_type is not None and kind in event_type.subjects


def _fields_of(item: Any, pack: Pack) -> Any:
    """An event as one pack reads it: the fields other packs declare for its type left out."""
    if not isinstance(item, dict) or not isinstance(item.get("type"), str) or item["type"] not in pack.events:
        return item
    declared = {"id", "type", "date"} | {field.name for field in pack.events[item["type"]].fields}
    others = {key for key in item if key not in declared}
    return {key: value for key, value in item.items() if key not in others}


def _subject(data: Any, pack: Pack, name: str) -> Subject:
    if not isinstance(data, dict):
        raise CaseError(f"{name}: 缺少 subject(主体),须包含 id 和 kind")
    _no_extra(data, {"id", "kind", "name", "county"}, f"{name}: subject")
    subject_id = _optional_text(data.get("id"), f"{name}: subject.id")
    kind = _optional_text(data.get("kind"), f"{name}: subject.kind")
    for key, value in (("id", subject_id), ("kind", kind)):
        if value is None:
            raise CaseError(f"{name}: subject 缺少字段 {key}")
    if kind not in pack.subjects:
        known = "、".join(f"{key}({title})" for key, title in pack.subjects.items())
        raise CaseError(f"{name}: subject.kind 未知的主体类型 {kind!r};可选:{known}")
    subject_name = _optional_text(data.get("name"), f"{name}: subject.name")
    county = _optional_text(data.get("county"), f"{name}: subject.county(所在区县)")
    return Subject(id=subject_id, kind=kind, name=subject_name or subject_id, county=to_simplified(county) if county else None)


def _event(data: Any, position: int, subject: Subject, pack: Pack, name: str) -> Event:
    where = f"{name}: 第 {position} 个事件"
    if not isinstance(data, dict):
        raise CaseError(f"{where}: 须为一个对象,收到 {_shown(data)}")
    event_id = _optional_text(data.get("id"), f"{where}的字段 id")
    if event_id is None:
        raise CaseError(f"{where}: 缺少字段 id")
    where = f"{name}: 事件 {event_id}"
    type_name = _optional_text(data.get("type"), f"{where} 的字段 type")
    if type_name is None:
        raise CaseError(f"{where}: 缺少字段 type")
    event_type = pack.events.get(type_name)
    if event_type is None:
        raise CaseError(f"{where}: 未知的事件类型 {type_name!r};用 `zhida events` 查看全部事件类型")
    if subject.kind not in event_type.subjects:
        raise CaseError(f"{where}: 事件类型 {event_type.name} 不适用于主体类型 {subject.kind}")
    if data.get("date") in (None, ""):
        raise CaseError(f"{where}: 缺少字段 date")
    date = _date(data["date"], f"{where} 的字段 date")
    declared = {field.name for field in event_type.fields}
    _no_extra(data, {"id", "type", "date"} | declared, where)
    values: dict[str, Value] = {}
    for field in event_type.fields:
        if data.get(field.name) is None:
            raise CaseError(f"{where}: 缺少字段 {field.name}({field.title})")
        values[field.name] = _value(field, data[field.name], f"{where} 的字段 {field.name}({field.title})")
    return Event(id=event_id, type=event_type.name, date=date, values=values)


def read_value(field: EventField, raw: Any, where: str) -> Value:
    """One field's value, checked as a case's would be (a profile fact is read this way)."""
    return _value(field, raw, where)


def _value(field: EventField, raw: Any, where: str) -> Value:
    if field.type in NUMBER_DIGITS:
        number = _number(raw, field.type, where)
        if field.minimum is not None and number < field.minimum:
            raise CaseError(f"{where}: 不能小于 {field.minimum},收到 {number}")
        return number
    if field.type is FieldType.FLAG:
        if not isinstance(raw, bool):
            raise CaseError(f"{where}: 须为 true 或 false,收到 {_shown(raw)}")
        return raw
    text = _text(raw, where)
    if not text:
        raise CaseError(f"{where}: 须为文字,收到 {_shown(raw)}")
    if field.type is FieldType.CHOICE:
        value = to_simplified(text)  # Traditional input reads the same
        if value not in field.values:
            raise CaseError(f"{where}: {_shown(raw)} 不是可选值;可选:{'、'.join(field.values)}")
        return value
    return text


# --------------------------------------------------------------------------- numbers


def _number(raw: Any, field_type: FieldType, where: str) -> Decimal | int:
    """A money, number or integer field, from the text the user wrote (or a Python number)."""
    noun = "整数" if field_type is FieldType.INTEGER else "数字"
    if isinstance(raw, JsonNumber):
        return _number_text(raw.text, field_type, where)
    if isinstance(raw, str):
        return _number_text(raw.strip(), field_type, where)
    if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal):
        raise CaseError(f"{where}: 须为{noun},收到 {_shown(raw)}")
    # A number from Python code (a test, the form): bound it before it becomes text.
    if isinstance(raw, float | Decimal) and not Decimal(raw).is_finite():
        raise CaseError(f"{where}: 须为有限的{noun},收到 {raw}")
    if raw < 0:
        raise CaseError(f"{where}: 不能为负数,收到 {_shown(raw)}")
    if raw >= 10 ** NUMBER_DIGITS[field_type]:
        raise CaseError(f"{where}: {_too_large(field_type)},收到 {_shown(raw)}")
    # str() of a float is its shortest round-trip form: 0.1 -> "0.1", not 0.1000000000000000055…
    text = format(Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw), "f")
    return _number_text(text, field_type, where)


def _number_text(text: str, field_type: FieldType, where: str) -> Decimal | int:
    if field_type is FieldType.MONEY:
        try:
            return parse_money(text)
        except MoneyProblem as problem:
            raise CaseError(problem.sentence(f"{where}: ", _shown(text))) from None
    noun = "整数" if field_type is FieldType.INTEGER else "数字"
    match = NUMBER_PATTERN.fullmatch(text)
    if match is None:
        raise CaseError(f"{where}: 须为{noun}{why_not_a_number(text, NUMBER_DIGITS[field_type])},收到 {_shown(text)}")
    sign, whole, fraction = match[1], match[2].replace(",", ""), match[3] or ""
    if sign and (whole != "0" or fraction.strip("0")):
        raise CaseError(f"{where}: 不能为负数,收到 {_shown(text)}")
    if len(whole) > NUMBER_DIGITS[field_type]:
        raise CaseError(f"{where}: {_too_large(field_type)},收到 {_shown(text)}")
    places = NUMBER_PLACES[field_type]
    if len(fraction) > places:
        if field_type is FieldType.INTEGER:
            raise CaseError(f"{where}: 须为整数,收到 {_shown(text)}")
        raise CaseError(f"{where}: 最多 {places} 位小数,收到 {_shown(text)}")
    if field_type is FieldType.INTEGER:
        return int(whole)
    # The sign is dropped: "-0.00" is zero, and no output ever shows "-0.00".
    return Decimal(f"{whole}.{fraction}" if fraction else whole)


def _too_large(field_type: FieldType) -> str:
    if field_type is FieldType.MONEY:
        return TOO_LARGE
    return f"超出上限:须小于 10^{NUMBER_DIGITS[field_type]}"


# --------------------------------------------------------------------------- text and dates


def _optional_text(raw: Any, where: str) -> str | None:
    """An id, a kind, a type or a name; None when absent or blank."""
    if raw is None:
        return None
    return _text(raw, where) or None


def _text(raw: Any, where: str) -> str:
    """A short line of text, stripped; a whole number (YAML `id: 1`, JSON `1`) reads as its digits."""
    if isinstance(raw, JsonNumber) and re.fullmatch(r"-?[0-9]+", raw.text):
        raw = raw.text
    elif isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) < 10**MAX_TEXT:
        raw = str(raw)
    if not isinstance(raw, str):
        raise CaseError(f"{where}: 须为文字,收到 {_shown(raw)}")
    text = raw.strip()
    if len(text) > MAX_TEXT:
        raise CaseError(f"{where}: 过长,最多 {MAX_TEXT} 个字符,收到 {len(text)} 个字符")
    found = _NOT_IN_TEXT.search(text)
    if found is not None:
        char = found.group()
        if unicodedata.category(char) == "Cs":
            raise CaseError(f"{where}: 含有无效的字符 U+{ord(char):04X}(孤立的代理项,不是 Unicode 文字),收到 {_shown(raw)}")
        raise CaseError(f"{where}: 含有不允许的控制字符 U+{ord(char):04X},收到 {_shown(raw)}")
    return text


def _date(raw: Any, where: str) -> dt.date:
    """A calendar date written YYYY-MM-DD (a date object from Python code is taken as it is)."""
    if type(raw) is dt.date:
        return raw
    text = raw.strip() if isinstance(raw, str) else None
    if text is None or not DATE_PATTERN.fullmatch(text):
        raise CaseError(f"{where}: 日期格式须为 YYYY-MM-DD(如 2025-05-01),收到 {_shown(raw)}")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CaseError(f"{where}: 日期格式须为 YYYY-MM-DD,且须为存在的日期,收到 {_shown(raw)}") from None


# --------------------------------------------------------------------------- messages


def _no_extra(data: dict, allowed: set[str], where: str) -> None:
    extra = sorted(_key(key) for key in data if key not in allowed)
    if extra:
        listed = "、".join(extra[:5]) + (f" 等 {len(extra)} 个" if len(extra) > 5 else "")
        raise CaseError(f"{where}: 多余的字段 {listed};允许的字段:{'、'.join(sorted(allowed))}")


def _key(key: Any) -> str:
    """A field name as received, short and printable."""
    if not isinstance(key, str):
        return _shown(key)
    return _display(key) if len(key) <= 40 else f"{_display(key[:30])}…(共 {len(key)} 个字符)"


def _shown(raw: Any) -> str:
    """A received value, short and printable, for a message: never the whole of a 5,000-digit number."""
    if isinstance(raw, JsonNumber):
        text = raw.text
    elif isinstance(raw, bool):
        text = "true" if raw else "false"
    elif raw is None:
        text = "null"
    elif isinstance(raw, list):
        return f"列表(共 {len(raw)} 项)"
    elif isinstance(raw, dict):
        return f"对象(共 {len(raw)} 个字段)"
    elif isinstance(raw, int) and abs(raw) >= 10**40:
        return f"约 {int(raw.bit_length() * 0.30103) + 1} 位的整数"  # str() of it may exceed Python's digit limit
    elif isinstance(raw, str):
        if len(raw) > 40:
            return f"{_display(repr(raw[:30]))}…(共 {len(raw)} 个字符)"
        text = repr(raw)  # escapes control characters and lone surrogates
    else:
        text = repr(raw)
    if len(text) > 40:
        return f"{_display(text[:30])}…(共 {len(text)} 个字符)"
    return _display(text)


def _display(text: str) -> str:
    """Text safe to print and to encode as UTF-8: lone surrogates and controls become escapes."""
    return "".join(
        char.encode("unicode_escape").decode("ascii") if unicodedata.category(char) in ("Cc", "Cs") else char
        for char in text
    )


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or _first_line(error)
    if mark is None:
        return _display(problem)
    return f"第 {mark.line + 1} 行第 {mark.column + 1} 列,{_display(problem)}"


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__
