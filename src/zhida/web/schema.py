"""The OpenAPI schema of a case: what POST /api/v1/calculate documents at /docs and /openapi.json.

    case_schema(pack)          the JSON schema of a case, one alternative per event type of the pack
    calculate_openapi(pack)    the calculate operation's `openapi_extra`: that schema as its request body,
                               with EXAMPLE_CASE when the pack has its event types
    ERROR_SCHEMA               the body of every 4xx of the API: `{"detail": "<one Chinese sentence>"}`

The API reads the request body raw (money never passes through float), so FastAPI cannot derive
the schema from a model: it is written here from the pack, and it promises exactly what the case
reader (zhida.engine.case) accepts, through the same patterns and limits, no more.
"""

from __future__ import annotations

from typing import Any

from zhida.engine.case import (
    DATE_SCHEMA_PATTERN,
    MAX_TEXT,
    MONEY_SCHEMA_PATTERN,
    NUMBER_DIGITS,
    NUMBER_SCHEMA_PATTERN,
)
from zhida.rules.model import EventField, FieldType
from zhida.rules.pack import Pack


def _field_schema(f: EventField) -> dict[str, Any]:
    """A field as the case reader accepts it (zhida.engine.case), so the schema promises no more."""
    described = f"{f.title}" + (f"({f.unit})" if f.unit else "")
    if f.type is FieldType.MONEY:
        return {
            "description": f"{described};金额,精确到分,不为负,小于 10^15 元;可写作数字或字符串(如 \"80000.01\"、\"300,000\"、\"30万\"、\"0.3亿\"),"
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


def calculate_openapi(pack: Pack) -> dict[str, Any]:
    """The request body of POST /api/v1/calculate, which FastAPI cannot see (it is read raw)."""
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
