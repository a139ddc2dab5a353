"""The rule model: event types, caps and rules, as read from a policy pack's YAML.

A rule is data that quotes the law (DESIGN.md): its `clause` must occur in the
document, and its `when` / `amount` are whitelisted SQL expressions over the
fields its event type declares. The YAML shapes are checked by pydantic
(unknown keys refused); the cross-checks (clause in text, fields, caps) are in
`zhida.rules.pack`.

Every name a pack gives (rule, cap, event type, field, subject kind) is a `Name`:
lower-case ASCII words joined by - or _. Names end up as SQL identifiers and
output values; the batch builds its SQL as a tree, so a hostile name could not
inject anything, but a name like `x' || (SELECT …) || '` has no business in a
policy pack and is refused where it is written.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from zhida.rules.expressions import Expression

NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
NAME_MAX_LENGTH = 64


def check_name(value: str) -> str:
    """A pack's identifier, or a Chinese message that says what a name may be."""
    if len(value) > NAME_MAX_LENGTH or not NAME_PATTERN.fullmatch(value):
        # The value goes in as context, not into the template: a brace in it is not a placeholder.
        raise PydanticCustomError(
            "zhida_name",
            "名称 {name} 不合规:须以小写英文字母开头,只含小写英文字母、数字和单个 - 或 _,最长 64 个字符",
            {"name": repr(value)},
        )
    return value


# Rule, cap, event type, field and subject-kind names.
Name = Annotated[str, AfterValidator(check_name)]


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
    name: Name
    type: FieldType
    title: str  # Simplified Chinese label
    unit: str = ""  # 元, 件, 年 ...
    values: tuple[str, ...] = ()  # for CHOICE
    minimum: Decimal | None = None  # for INTEGER / NUMBER, e.g. 获利年度 >= 1


class EventType(Strict):
    name: Name
    title: str
    subjects: tuple[Name, ...]  # which subject kinds may have this event
    fields: tuple[EventField, ...] = ()

    def field(self, name: str) -> EventField | None:
        return next((field for field in self.fields if field.name == name), None)


class CapScope(StrEnum):
    ITEM = "item"  # 最高補貼2000元/件: each claim on its own
    SUBJECT_YEAR = "subject_year"  # 單個企業全年最高20萬元: summed over the subject's claims in a year
    CARRIER_YEAR = "carrier_year"  # 單個孵化載體單年度內最高30萬元: summed over a carrier's claims in a year


class Cap(Strict):
    id: Name
    per: CapScope
    yuan: Decimal = Field(gt=0)
    clause: str
    carrier_field: Name | None = None  # for CARRIER_YEAR: the event field naming the carrier


class Kind(StrEnum):
    CEILING = "ceiling"  # 最高X: the most the clause allows; a reviewer may award less
    FLOOR = "floor"  # 不低于X%: the guaranteed minimum
    EXACT = "exact"  # a fixed amount
    QUALIFICATION = "qualification"  # no money: a status or a list (纳入科技计划支持清单)
    TAX = "tax"  # a tax preference: the amount is the saving against the standard rate
    # A benefit whose amount this document does not state (贴息, 费率 cuts, 按规定给予补助): the amount
    # is set by the lead department's implementing measures or by national/provincial policy
    # (`amount_by`). Listed to the subject with its clause, never added to a sum.
    BY_MEASURE = "by_measure"


# Kinds whose entitlement carries no amount of this document.
WITHOUT_AMOUNT = frozenset({Kind.QUALIFICATION, Kind.BY_MEASURE})


class Layer(StrEnum):
    """Which layer of a pack a rule belongs to (docs/packs.md)."""

    BASE = "base"  # the document the pack (or the pack it extends) makes executable
    COUNTY = "county"  # a county's 承接落实方案 over its city's document, for that county's subjects only


LAYER_NAMES = {Layer.BASE: "基础政策", Layer.COUNTY: "区县承接方案"}


class StackingMode(StrEnum):
    """How a benefit combines with another pack's benefit for the same event."""

    STACKS = "stacks"  # both are paid (可叠加享受)
    HIGHER = "higher"  # only the higher is paid (就高不重复)


STACKING_NAMES = {StackingMode.STACKS: "叠加享受", StackingMode.HIGHER: "就高不重复"}
RULE_REFERENCE = re.compile(rf"({NAME_PATTERN.pattern})/({NAME_PATTERN.pattern})")


def check_rule_reference(value: str) -> str:
    """`pack-id/rule-id`: a rule of another pack, named so that nothing is guessed."""
    if len(value) > 2 * NAME_MAX_LENGTH + 1 or not RULE_REFERENCE.fullmatch(value):
        raise PydanticCustomError(
            "zhida_rule_reference",
            "规则引用 {reference} 不合规:须为“政策包编号/规则编号”,如 huzhou-2025/export-credit-insurance",
            {"reference": repr(value)},
        )
    return value


RuleReference = Annotated[str, AfterValidator(check_rule_reference)]


class Stacking(Strict):
    """`stacking:` on a rule: whether it is paid beside other packs' rules for the same event.

    `with` names the other rules (`pack-id/rule-id`); `clause` quotes the words of this rule's
    document that decide it (同一事项不重复享受,按就高原则执行), when the document says so."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    mode: StackingMode
    with_: tuple[RuleReference, ...] = Field(alias="with", min_length=1)
    clause: str | None = None


class RuleSpec(Strict):
    """A rule as written in YAML, before its expressions are parsed."""

    id: Name
    title: str  # Simplified Chinese, short
    article: int
    clause: str
    subject: tuple[Name, ...]
    event: Name
    kind: Kind
    when: str = "TRUE"
    amount: str | None = None
    tax_due: str | None = None  # for TAX: the tax still owed
    result: str | None = None  # for QUALIFICATION: what the subject obtains (BY_MEASURE: optional)
    amount_by: str | None = None  # for BY_MEASURE: where the amount comes from, Simplified (市经信局配套政策)
    assumption: str | None = None  # the reading chosen where the text cannot decide, one sentence, Simplified
    caps: tuple[Name, ...] = ()
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    # In a county overlay: the base rule whose amount this one raises (the county pays the difference).
    tops_up: Name | None = None
    stacking: Stacking | None = None


class Reason(StrEnum):
    """Why a clause that reads like a grant is no benefit a subject can claim (`zhida check`)."""

    BUDGET = "budget"  # money the city sets aside for an area: 全市财政预算安排X亿元
    TARGET = "target"  # a number the city aims at: 发放公租房租赁补贴7460户
    VOLUME = "volume"  # money lent or spent in total, not paid to one subject: 安排40亿元信贷资金
    BOUND = "bound"  # a limit that some rule already applies
    ENCOURAGEMENT = "encouragement"  # 鼓励/支持 with no subject who could claim anything
    TASK = "task"  # work of a department (制定, 优化, 完善 a mechanism): nothing granted yet
    FUNDS_SOUGHT = "funds-sought"  # the city applies for provincial or national money (争取, 申报)
    INTERGOVERNMENTAL = "intergovernmental"  # money between governments (县、区), not to a subject
    NATIONAL_POLICY = "national-policy"  # a national or provincial scheme restated, claimed under its own terms


class NotABenefit(Strict):
    """A clause of a benefit sentence that no rule pays, with the reason (see `Reason`).

    It covers the amounts and the grant words inside its clause; `note` says in Simplified
    Chinese why, where the reason alone does not."""

    clause: str
    reason: Reason
    note: str = ""


class AreaFile(Strict):
    """One `rules/*.yaml` file: the rules of one area."""

    area: int
    caps: tuple[Cap, ...] = ()
    rules: tuple[RuleSpec, ...] = ()
    not_benefits: tuple[NotABenefit, ...] = ()


class CountyBudget(Strict):
    """A county overlay's budget (`budgets:` in its policy.yaml): for one area of the county's
    document, or for one of its rules, in 元, with the clause that states it."""

    area: int | None = None
    rule: Name | None = None
    yuan: Decimal = Field(gt=0)
    clause: str


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
    pack: str = ""  # the id of the pack whose document this rule implements
    layer: Layer = Layer.BASE
    quoted: str = ""  # the clause as the rule's own document prints it (verbatim, its own script)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def reference(self) -> str:
        """`pack-id/rule-id`, as `stacking.with` names it."""
        return f"{self.pack}/{self.spec.id}"
