"""The rule model: event types, caps and rules, as read from a policy pack's YAML.

A rule is data that quotes the law (DESIGN.md): its `clause` must occur in the
document, and its `when` / `amount` are whitelisted SQL expressions over the
fields its event type declares. The YAML shapes are checked by pydantic
(unknown keys refused); the cross-checks (clause in text, fields, caps) are in
`zhida.rules.pack`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from zhida.rules.expressions import Expression


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldType(StrEnum):
    MONEY = "money"  # yuan, exact, never negative
    NUMBER = "number"  # a non-negative decimal quantity
    INTEGER = "integer"  # a count or an index (件数, 获利年度)
    CHOICE = "choice"  # one of `values` (Simplified Chinese)
    FLAG = "flag"  # yes / no
    TEXT = "text"  # an identifier, e.g. the incubation carrier


class EventField(Strict):
    name: str
    type: FieldType
    title: str  # Simplified Chinese label
    unit: str = ""  # 元, 件, 年 ...
    values: tuple[str, ...] = ()  # for CHOICE
    minimum: Decimal | None = None  # for INTEGER / NUMBER, e.g. 获利年度 >= 1


class EventType(Strict):
    name: str
    title: str
    subjects: tuple[str, ...]  # which subject kinds may have this event
    fields: tuple[EventField, ...] = ()

    def field(self, name: str) -> EventField | None:
        return next((field for field in self.fields if field.name == name), None)


class CapScope(StrEnum):
    ITEM = "item"  # 最高補貼2000元/件: each claim on its own
    SUBJECT_YEAR = "subject_year"  # 單個企業全年最高20萬元: summed over the subject's claims in a year
    CARRIER_YEAR = "carrier_year"  # 單個孵化載體單年度內最高30萬元: summed over a carrier's claims in a year


class Cap(Strict):
    id: str
    per: CapScope
    yuan: Decimal = Field(gt=0)
    clause: str
    carrier_field: str | None = None  # for CARRIER_YEAR: the event field naming the carrier


class Kind(StrEnum):
    CEILING = "ceiling"  # 最高X: the most the clause allows; a reviewer may award less
    FLOOR = "floor"  # 不低于X%: the guaranteed minimum
    EXACT = "exact"  # a fixed amount
    QUALIFICATION = "qualification"  # no money: a status or a list (纳入科技计划支持清单)
    TAX = "tax"  # a tax preference: the amount is the saving against the standard rate


class RuleSpec(Strict):
    """A rule as written in YAML, before its expressions are parsed."""

    id: str
    title: str  # Simplified Chinese, short
    article: int
    clause: str
    subject: tuple[str, ...]
    event: str
    kind: Kind
    when: str = "TRUE"
    amount: str | None = None
    tax_due: str | None = None  # for TAX: the tax still owed
    result: str | None = None  # for QUALIFICATION: what the subject obtains
    caps: tuple[str, ...] = ()
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None


class NotABenefit(Strict):
    """An amount in a benefit sentence that no rule pays: a budget, a target or a volume."""

    clause: str
    reason: str  # budget | target | volume | bound
    note: str = ""


class AreaFile(Strict):
    """One `rules/*.yaml` file: the rules of one area."""

    area: int
    caps: tuple[Cap, ...] = ()
    rules: tuple[RuleSpec, ...] = ()
    not_benefits: tuple[NotABenefit, ...] = ()


class Rule(BaseModel):
    """A loaded rule: its spec, parsed expressions, caps, and where it sits in the document."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    spec: RuleSpec
    when: Expression
    amount: Expression | None
    tax_due: Expression | None
    caps: tuple[Cap, ...]
    area: int
    department: str
    clause_span: tuple[int, int]  # offsets into the original document text
    valid_from: dt.date
    valid_to: dt.date

    @property
    def id(self) -> str:
        return self.spec.id
