"""The Huzhou 2025 money rules written for OpenFisca-core, for the batch benchmark only.

Runs in its own virtualenv (bench/requirements.txt); zhida never imports this file and
OpenFisca is not a dependency of zhida.

Model
-----
- `claim` (the person entity): one row of events.parquet, i.e. one dated event of a subject.
- `subject` (group entity): the enterprise, incubator, bank, institution or consumer; it holds
  `subject_kind`, projected onto its claims.
- `subject_year`, `carrier_year` (group entities): the holders of the annual caps: a subject in a
  calendar year, and (an incubator, one of its carriers, a year).
- Every rule `r` is two or three variables on `claim`: `r__eligible` (its event type, subject
  kind and condition: the rows the rule produces), optionally `r__raw` / `r__claim` (before the
  cap), and `r` (the amount in 元, float32 as every OpenFisca float). Rates and caps are
  OpenFisca parameters. The whole register is one simulation for the period 2025; validity is
  checked on each claim's date (2025-01-01 .. 2025-12-31), as zhida does.

Annual caps (innovation voucher 20万, export credit insurance 100万, high-tech first/renewal,
HR service, agri-mortgage risk, incubation carrier 30万)
-----------
OpenFisca's group reductions (`sum`, `max` …) give one value per group, not a running total.
The loader therefore ranks the claims in zhida's claim order (subject_id, date, event_id) — one
Arrow sort of three key columns, given to OpenFisca as the input `claim_order` — and
`capped_running_total` does the cumulative sum per holder in a formula: claims sorted by the
holder's id (members_entity_id of the group population) and then by `claim_order`, a cumulative
sum minus the cumulative sum before the holder's first claim gives the running total S_i, and
claim i keeps min(S_i, cap) − min(S_i − a_i, cap). The sum is taken in
float64 (a float32 cumulative sum over 300k claims would be off by whole yuan); the result is
stored float32 like every OpenFisca float.

Rounding: `round_` (numpy.round, half to even on the binary float), to 2 decimals, where zhida
rounds half up on exact decimals.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from openfisca_core.entities import build_entity
from openfisca_core.indexed_enums import Enum, EnumArray
from openfisca_core.model_api import YEAR, Variable, min_, round_, where
from openfisca_core.parameters import ParameterNode
from openfisca_core.simulations import SimulationBuilder
from openfisca_core.taxbenefitsystems import TaxBenefitSystem

PERIOD = "2025"
VALID_FROM = np.datetime64("2025-01-01")
VALID_TO = np.datetime64("2025-12-31")

# ---------------------------------------------------------------- entities

Claim = build_entity("claim", "claims", "事件(申领)", is_person=True)
MEMBER = [{"key": "member", "plural": "members"}]  # one role: every claim of a group is alike
Subject = build_entity("subject", "subjects", "主体", roles=MEMBER)
SubjectYear = build_entity("subject_year", "subject_years", "主体×年度(年度上限)", roles=MEMBER)
CarrierYear = build_entity("carrier_year", "carrier_years", "孵化载体×年度(载体年度上限)", roles=MEMBER)
ENTITIES = [Claim, Subject, SubjectYear, CarrierYear]

# ---------------------------------------------------------------- parameters


def _p(value) -> dict:
    return {"values": {"2025-01-01": {"value": value}}}


PARAMETERS = {
    "trade_in": {
        "nev_amount": _p(15000), "fuel_amount": _p(13000),
        "appliance_grade_1_rate": _p(0.20), "appliance_grade_2_rate": _p(0.15), "appliance_item_cap": _p(2000),
        "furniture_ordinary_rate": _p(0.15), "furniture_efficient_rate": _p(0.20), "furniture_item_cap": _p(2000),
        "digital_price_limit": _p(6000), "digital_rate": _p(0.15), "digital_item_cap": _p(500),
    },
    "science": {
        "innovation_voucher_rate": _p(0.5), "innovation_voucher_annual_cap": _p(200000),
        "high_tech_first_amount": _p(200000), "high_tech_first_annual_cap": _p(200000),
        "high_tech_renewal_amount": _p(100000), "high_tech_renewal_annual_cap": _p(100000),
        "rd_intensity_threshold": _p(0.05),
        "carrier_annual_cap": _p(300000),
        "lab_amount": _p(10000000),
    },
    "services": {
        "software_exempt_rate": _p(0.25), "software_half_rate": _p(0.125), "key_software_reduced_relief": _p(0.15),
        "key_software_reduced_rate": _p(0.10), "hr_service_amount": _p(500000), "hr_service_annual_cap": _p(500000),
        "hr_park_amount": _p(2000000),
    },
    "opening": {"export_insurance_rate": _p(0.6), "export_insurance_annual_cap": _p(1000000)},
    "rural": {"agri_risk_amount": _p(1000000), "agri_risk_annual_cap": _p(1000000)},
}

# ---------------------------------------------------------------- enumerations (the choice fields)


class EventType(Enum):
    lab_recognition = "lab_recognition"
    rd_institution_rating = "rd_institution_rating"
    high_tech_recognition = "high_tech_recognition"
    science_project = "science_project"
    rd_report = "rd_report"
    innovation_voucher = "innovation_voucher"
    incubator_recognition = "incubator_recognition"
    incubation_cultivation = "incubation_cultivation"
    science_award = "science_award"
    patent_award = "patent_award"
    trade_in_car = "trade_in_car"
    trade_in_appliance = "trade_in_appliance"
    trade_in_furniture = "trade_in_furniture"
    trade_in_digital = "trade_in_digital"
    software_income_tax = "software_income_tax"
    hr_service_support = "hr_service_support"
    hr_park_new = "hr_park_new"
    export_credit_insurance = "export_credit_insurance"
    agri_mortgage_loan = "agri_mortgage_loan"


class SubjectKind(Enum):
    enterprise = "enterprise"
    incubator = "incubator"
    institution = "institution"
    bank = "bank"
    consumer = "consumer"


class Vehicle(Enum):
    none = ""
    nev = "新能源汽车"
    fuel = "燃油车"


class Grade(Enum):
    none = ""
    grade_1 = "一级"
    grade_2 = "二级"
    grade_3 = "三级及以下"


class Recognition(Enum):
    none = ""
    first = "首次认定"
    renewal = "重新认定"


class Plan(Enum):
    none = ""
    key_rd = "市级重点研发计划"
    tackling = "科技攻关计划"
    public_welfare = "公益性技术研究"
    natural_science = "市自然科学资金项目"


class CarrierType(Enum):
    none = ""
    incubator = "科技企业孵化器"
    maker_space = "众创空间"


class Level(Enum):
    none = ""
    national = "国家级"
    provincial = "省级"


class FirmType(Enum):
    none = ""
    high_tech = "高新技术企业(首次认定)"
    national_sme = "国家科技型中小企业(首次认定)"
    provincial_sme = "省级科技型中小企业"


class Award(Enum):
    none = ""
    national_top = "国家最高科学技术奖"
    national_special = "国家科学技术奖特等奖"
    national_first = "国家科学技术奖一等奖"
    national_second = "国家科学技术奖二等奖"
    provincial_grand = "省科学技术大奖"
    provincial_ip = "省知识产权大奖"
    provincial_first = "省科学技术奖一等奖"
    provincial_second = "省科学技术奖二等奖"
    provincial_third = "省科学技术奖三等奖"


class Medal(Enum):
    none = ""
    gold = "金奖"
    silver = "银奖"
    excellence = "优秀奖"


class SoftwareStatus(Enum):
    none = ""
    qualified = "符合条件的软件企业"
    key = "国家鼓励的重点软件企业"


ENUM_FIELDS = {
    "vehicle": Vehicle, "grade": Grade, "recognition": Recognition, "plan": Plan, "carrier_type": CarrierType,
    "level": Level, "firm_type": FirmType, "award": Award, "medal": Medal, "status": SoftwareStatus,
}
MONEY_FIELDS = ("price", "rd_expense", "revenue", "service_fee", "taxable_income", "premium", "loan")
INTEGER_FIELDS = ("stars", "patents", "profit_year")
FLAG_FIELDS = ("efficient", "in_incubation", "lead_unit", "first_inventor_unit", "qualified")
# Fields that no rule reads (platform: every new lab gets the ceiling; category: any of the 3 kinds).
EVENT_COLUMNS = ("event_id", "subject_id", "type", "date", "carrier", *ENUM_FIELDS, *MONEY_FIELDS, *INTEGER_FIELDS, *FLAG_FIELDS)

# ---------------------------------------------------------------- input variables

VARIABLES: list[type] = []


def variable(cls: type) -> type:
    VARIABLES.append(cls)
    return cls


def _input(name: str, value_type, entity=Claim, **extra) -> None:
    VARIABLES.append(type(name, (Variable,), {"value_type": value_type, "entity": entity, "definition_period": YEAR, **extra}))


_input("event_type", Enum, possible_values=EventType, default_value=EventType.rd_report)
_input("claim_date", __import__("datetime").date)
_input("claim_order", int)  # rank of the claim in (subject_id, date, event_id) order: the order caps accumulate in
_input("subject_kind", Enum, entity=Subject, possible_values=SubjectKind, default_value=SubjectKind.enterprise)
for _name, _enum in ENUM_FIELDS.items():
    _input(_name, Enum, possible_values=_enum, default_value=_enum.none)
for _name in MONEY_FIELDS:
    _input(_name, float)
for _name in INTEGER_FIELDS:
    _input(_name, int)
for _name in FLAG_FIELDS:
    _input(_name, bool)


@variable
class claimant_kind(Variable):
    value_type = Enum
    possible_values = SubjectKind
    default_value = SubjectKind.enterprise
    entity = Claim
    definition_period = YEAR

    def formula(claim, period):
        return claim.subject("subject_kind", period)


@variable
class in_validity(Variable):
    value_type = bool
    entity = Claim
    definition_period = YEAR

    def formula(claim, period):
        date = claim("claim_date", period)
        return (date >= VALID_FROM) & (date <= VALID_TO)


def of_type(claim, period, event_type: EventType, *kinds: SubjectKind):
    """The claim is an event of this type, filed by a subject of one of these kinds."""
    kind = claim("claimant_kind", period)
    allowed = np.zeros(claim.count, dtype=bool)
    for k in kinds:
        allowed |= kind == k
    return (claim("event_type", period) == event_type) & allowed


def capped_running_total(claim, period, holder: str, amounts: np.ndarray, cap: float) -> np.ndarray:
    """min(S_i, cap) − min(S_i − a_i, cap), S_i the running total of the holder's claims in claim order."""
    group = claim.simulation.populations[holder].members_entity_id
    order = np.lexsort((claim("claim_order", period), group))  # by holder, then (date, event_id)
    a = amounts[order].astype(np.float64)
    g = group[order]
    total = np.cumsum(a)
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    before_group = (total - a)[starts][np.cumsum(np.r_[True, g[1:] != g[:-1]]) - 1]
    running = total - before_group
    capped = np.minimum(running, cap) - np.minimum(running - a, cap)
    out = np.empty_like(capped)
    out[order] = capped
    return out


# ---------------------------------------------------------------- rule variables
def _bool(name: str, formula) -> None:
    VARIABLES.append(type(name, (Variable,), {"value_type": bool, "entity": Claim, "definition_period": YEAR, "formula": formula}))


def _money(name: str, formula) -> None:
    VARIABLES.append(type(name, (Variable,), {"value_type": float, "entity": Claim, "definition_period": YEAR, "formula": formula}))


def fixed_amount(rule_id: str, eligible, amount):
    """A ceiling award: `amount(parameters)` yuan for each eligible claim in the validity period."""
    _bool(f"{rule_id}__eligible", lambda claim, period: eligible(claim, period))

    def formula(claim, period, parameters):
        ok = claim(f"{rule_id}__eligible", period) & claim("in_validity", period)
        return where(ok, amount(claim, period, parameters(period)), 0)

    _money(rule_id, formula)


# (十七) 消费品以旧换新: trade-ins, written out by hand.
CONSUMER = (SubjectKind.consumer,)
ENTERPRISE = (SubjectKind.enterprise,)
RESEARCHER = (SubjectKind.enterprise, SubjectKind.institution)
DEPT_DEV = "市发展改革委"
DEPT_SCI = "市科技局"


@variable
class trade_in_nev__eligible(Variable):
    value_type = bool
    entity = Claim
    definition_period = YEAR

    def formula(claim, period):
        return of_type(claim, period, EventType.trade_in_car, *CONSUMER) & (claim("vehicle", period) == Vehicle.nev)


@variable
class trade_in_nev(Variable):
    value_type = float
    entity = Claim
    definition_period = YEAR
    label = "新能源汽车最高补贴1.5万元/辆"

    def formula(claim, period, parameters):
        ok = claim("trade_in_nev__eligible", period) & claim("in_validity", period)
        return where(ok, parameters(period).trade_in.nev_amount, 0)


@variable
class trade_in_fuel__eligible(Variable):
    value_type = bool
    entity = Claim
    definition_period = YEAR

    def formula(claim, period):
        return of_type(claim, period, EventType.trade_in_car, *CONSUMER) & (claim("vehicle", period) == Vehicle.fuel)


@variable
class trade_in_fuel(Variable):
    value_type = float
    entity = Claim
    definition_period = YEAR
    label = "燃油车最高补贴1.3万元/辆"

    def formula(claim, period, parameters):
        ok = claim("trade_in_fuel__eligible", period) & claim("in_validity", period)
        return where(ok, parameters(period).trade_in.fuel_amount, 0)


@variable
class appliance_grade_1__eligible(Variable):
    value_type = bool
    entity = Claim
    definition_period = YEAR

    def formula(claim, period):
        return of_type(claim, period, EventType.trade_in_appliance, *CONSUMER) & (claim("grade", period) == Grade.grade_1)


@variable
class appliance_grade_1__raw(Variable):
    value_type = float
    entity = Claim
    definition_period = YEAR

    def formula(claim, period, parameters):
        return parameters(period).trade_in.appliance_grade_1_rate * claim("price", period)


@variable
class appliance_grade_1(Variable):
    value_type = float
    entity = Claim
    definition_period = YEAR
    label = "一级能效家电按20%补贴,最高2000元/件"

    def formula(claim, period, parameters):
        p = parameters(period).trade_in
        ok = claim("appliance_grade_1__eligible", period) & claim("in_validity", period)
        return where(ok, round_(min_(claim("appliance_grade_1__raw", period), p.appliance_item_cap), 2), 0)


@variable
class appliance_grade_2__eligible(Variable):
    value_type = bool
    entity = Claim
    definition_period = YEAR

    def formula(claim, period):
        return of_type(claim, period, EventType.trade_in_appliance, *CONSUMER) & (claim("grade", period) == Grade.grade_2)


@variable
class appliance_grade_2__raw(Variable):
    value_type = float
    entity = Claim
    definition_period = YEAR

    def formula(claim, period, parameters):
        return parameters(period).trade_in.appliance_grade_2_rate * claim("price", period)


@variable
class appliance_grade_2(Variable):
    value_type = float
    entity = Claim
    definition_period = YEAR
    label = "二级能效家电按15%补贴,最高2000元/件"

    def formula(claim, period, parameters):
        p = parameters(period).trade_in
        ok = claim("appliance_grade_2__eligible", period) & claim("in_validity", period)
        return where(ok, round_(min_(claim("appliance_grade_2__raw", period), p.appliance_item_cap), 2), 0)


@variable
class furniture_ordinary__eligible(Variable):
    value_type = bool
    entity = Claim
    definition_period = YEAR

    def formula(claim, period):
        return of_type(claim, period, EventType.trade_in_furniture, *CONSUMER) & ~claim("efficient", period)


@variable
class furniture_ordinary__raw(Variable):
    value_type = float
    entity = Claim
    definition_period = YEAR

    def formula(claim, period, parameters):
        return parameters(period).trade_in.furniture_ordinary_rate * claim("price", period)


@variable
class furniture_ordinary(Variable):
    value_type = float
    entity = Claim
    definition_period = YEAR
    label = "普通成品家居按售价15%补贴,最高2000元/件"

    def formula(claim, period, parameters):
        p = parameters(period).trade_in
        ok = claim("furniture_ordinary__eligible", period) & claim("in_validity", period)
        return where(ok, round_(min_(claim("furniture_ordinary__raw", period), p.furniture_item_cap), 2), 0)


@variable
class furniture_efficient__eligible(Variable):
    value_type = bool
    entity = Claim
    definition_period = YEAR

    def formula(claim, period):
        return of_type(claim, period, EventType.trade_in_furniture, *CONSUMER) & claim("efficient", period)


@variable
class furniture_efficient__raw(Variable):
    value_type = float
    entity = Claim
    definition_period = YEAR

    def formula(claim, period, parameters):
        return parameters(period).trade_in.furniture_efficient_rate * claim("price", period)


@variable
class furniture_efficient(Variable):
    value_type = float
    entity = Claim
    definition_period = YEAR
    label = "一级及以上能效、水效家居按售价20%补贴,最高2000元/件"

    def formula(claim, period, parameters):
        p = parameters(period).trade_in
        ok = claim("furniture_efficient__eligible", period) & claim("in_validity", period)
        return where(ok, round_(min_(claim("furniture_efficient__raw", period), p.furniture_item_cap), 2), 0)


@variable
class digital_products__eligible(Variable):
    value_type = bool
    entity = Claim
    definition_period = YEAR

    def formula(claim, period, parameters):
        limit = parameters(period).trade_in.digital_price_limit
        return of_type(claim, period, EventType.trade_in_digital, *CONSUMER) & (claim("price", period) <= limit)


@variable
class digital_products__raw(Variable):
    value_type = float
    entity = Claim
    definition_period = YEAR

    def formula(claim, period, parameters):
        return parameters(period).trade_in.digital_rate * claim("price", period)


@variable
class digital_products(Variable):
    value_type = float
    entity = Claim
    definition_period = YEAR
    label = "单品售价6000元以下的数码产品按15%补贴,最高500元"

    def formula(claim, period, parameters):
        p = parameters(period).trade_in
        ok = claim("digital_products__eligible", period) & claim("in_validity", period)
        return where(ok, round_(min_(claim("digital_products__raw", period), p.digital_item_cap), 2), 0)


# (三) 创新券: 50%, 单个企业全年最高补助20万元 (annual cap per enterprise, in date order).
@variable
class innovation_voucher__eligible(Variable):
    value_type = bool
    entity = Claim
    definition_period = YEAR

    def formula(claim, period):
        return of_type(claim, period, EventType.innovation_voucher, *ENTERPRISE)


@variable
class innovation_voucher__claim(Variable):
    value_type = float
    entity = Claim
    definition_period = YEAR

    def formula(claim, period, parameters):
        ok = claim("innovation_voucher__eligible", period) & claim("in_validity", period)
        rate = parameters(period).science.innovation_voucher_rate
        return where(ok, round_(rate * claim("service_fee", period), 2), 0)


@variable
class innovation_voucher(Variable):
    value_type = float
    entity = Claim
    definition_period = YEAR
    label = "创新券补助:服务费用的50%,单个企业全年最高20万元"

    def formula(claim, period, parameters):
        cap = parameters(period).science.innovation_voucher_annual_cap
        return capped_running_total(claim, period, "subject_year", claim("innovation_voucher__claim", period), cap)


# (三十) 短期出口信用保险: 60%, 单家企业不超过100万元 per year.
@variable
class export_credit_insurance__eligible(Variable):
    value_type = bool
    entity = Claim
    definition_period = YEAR

    def formula(claim, period):
        return of_type(claim, period, EventType.export_credit_insurance, *ENTERPRISE)


@variable
class export_credit_insurance__claim(Variable):
    value_type = float
    entity = Claim
    definition_period = YEAR

    def formula(claim, period, parameters):
        ok = claim("export_credit_insurance__eligible", period) & claim("in_validity", period)
        rate = parameters(period).opening.export_insurance_rate
        return where(ok, round_(rate * claim("premium", period), 2), 0)


@variable
class export_credit_insurance(Variable):
    value_type = float
    entity = Claim
    definition_period = YEAR
    label = "出口信用保险保费补助60%,单家企业每年不超过100万元"

    def formula(claim, period, parameters):
        cap = parameters(period).opening.export_insurance_annual_cap
        return capped_running_total(claim, period, "subject_year", claim("export_credit_insurance__claim", period), cap)


def annual_fixed(rule_id: str, eligible, amount, cap, holder: str = "subject_year"):
    """A fixed award per claim under an annual cap per holder (每家 / 每个载体 … 每年)."""
    _bool(f"{rule_id}__eligible", lambda claim, period: eligible(claim, period))

    def claimed(claim, period, parameters):
        ok = claim(f"{rule_id}__eligible", period) & claim("in_validity", period)
        return where(ok, amount(claim, period, parameters(period)), 0)

    _money(f"{rule_id}__claim", claimed)

    def capped(claim, period, parameters):
        return capped_running_total(claim, period, holder, claim(f"{rule_id}__claim", period), cap(parameters(period)))

    _money(rule_id, capped)


# (二) 高新技术企业: first recognition 20万 / renewal 10万, 每家 (once per firm and year).
annual_fixed(
    "high_tech_first",
    lambda c, p: of_type(c, p, EventType.high_tech_recognition, *ENTERPRISE) & (c("recognition", p) == Recognition.first),
    lambda c, p, P: P.science.high_tech_first_amount, lambda P: P.science.high_tech_first_annual_cap,
)
annual_fixed(
    "high_tech_renewal",
    lambda c, p: of_type(c, p, EventType.high_tech_recognition, *ENTERPRISE) & (c("recognition", p) == Recognition.renewal),
    lambda c, p, P: P.science.high_tech_renewal_amount, lambda P: P.science.high_tech_renewal_annual_cap,
)
annual_fixed(
    "hr_service_institution",
    lambda c, p: of_type(c, p, EventType.hr_service_support, *ENTERPRISE) & c("qualified", p),
    lambda c, p, P: P.services.hr_service_amount, lambda P: P.services.hr_service_annual_cap,
)
annual_fixed(
    "agri_mortgage_risk",
    lambda c, p: of_type(c, p, EventType.agri_mortgage_loan, SubjectKind.bank) & (c("loan", p) > 0),
    lambda c, p, P: P.rural.agri_risk_amount, lambda P: P.rural.agri_risk_annual_cap,
)


# (四) 孵化载体培育企业: 3万 / 0.5万 / 0.3万 per firm, 单个孵化载体单年度最高30万元 (all three share the cap).
def _cultivation(c, p, firm_type):
    return of_type(c, p, EventType.incubation_cultivation, SubjectKind.incubator) & c("in_incubation", p) & (
        c("firm_type", p) == firm_type
    )


_CULTIVATION = {
    "cultivate_high_tech": (FirmType.high_tech, 30000),
    "cultivate_national_sme": (FirmType.national_sme, 5000),
    "cultivate_provincial_sme": (FirmType.provincial_sme, 3000),
}


def _cultivation_eligible(firm_type):
    return lambda claim, period: _cultivation(claim, period, firm_type)


for _rule_id, (_firm, _amount) in _CULTIVATION.items():
    _bool(f"{_rule_id}__eligible", _cultivation_eligible(_firm))


@variable
class cultivation__claim(Variable):
    value_type = float
    entity = Claim
    definition_period = YEAR

    def formula(claim, period):
        valid = claim("in_validity", period)
        amounts = [where(claim(f"{rid}__eligible", period) & valid, amount, 0) for rid, (_, amount) in _CULTIVATION.items()]
        return amounts[0] + amounts[1] + amounts[2]


@variable
class cultivation(Variable):
    value_type = float
    entity = Claim
    definition_period = YEAR

    def formula(claim, period, parameters):
        cap = parameters(period).science.carrier_annual_cap
        return capped_running_total(claim, period, "carrier_year", claim("cultivation__claim", period), cap)




def _share_of(rule_id: str, total: str):
    """The shared capped total, on the claims of one of the three cultivation rules."""
    return lambda claim, period: where(claim(f"{rule_id}__eligible", period), claim(total, period), 0)


for _rule_id in _CULTIVATION:
    _money(_rule_id, _share_of(_rule_id, "cultivation"))
    _money(f"{_rule_id}__claim", _share_of(_rule_id, "cultivation__claim"))


# (二十一) 软件企业所得税: the tax foregone (amount) and the tax still due.
@variable
class software_two_three__eligible(Variable):
    value_type = bool
    entity = Claim
    definition_period = YEAR

    def formula(claim, period):
        return (
            of_type(claim, period, EventType.software_income_tax, *ENTERPRISE)
            & (claim("status", period) == SoftwareStatus.qualified)
            & (claim("profit_year", period) <= 5)
        )


@variable
class software_two_three(Variable):
    value_type = float
    entity = Claim
    definition_period = YEAR
    label = "软件企业所得税“两免三减半”(减免税额)"

    def formula(claim, period, parameters):
        p = parameters(period).services
        ok = claim("software_two_three__eligible", period) & claim("in_validity", period)
        income = claim("taxable_income", period)
        relief = where(claim("profit_year", period) <= 2, p.software_exempt_rate * income, p.software_half_rate * income)
        return where(ok, round_(relief, 2), 0)


@variable
class software_two_three__tax_due(Variable):
    value_type = float
    entity = Claim
    definition_period = YEAR

    def formula(claim, period, parameters):
        p = parameters(period).services
        income = claim("taxable_income", period)
        return where(claim("profit_year", period) <= 2, 0, round_(p.software_half_rate * income, 2))


@variable
class key_software_five_ten__eligible(Variable):
    value_type = bool
    entity = Claim
    definition_period = YEAR

    def formula(claim, period):
        return of_type(claim, period, EventType.software_income_tax, *ENTERPRISE) & (
            claim("status", period) == SoftwareStatus.key
        )


@variable
class key_software_five_ten(Variable):
    value_type = float
    entity = Claim
    definition_period = YEAR
    label = "重点软件企业所得税“五免后减按10%”(减免税额)"

    def formula(claim, period, parameters):
        p = parameters(period).services
        ok = claim("key_software_five_ten__eligible", period) & claim("in_validity", period)
        income = claim("taxable_income", period)
        relief = where(claim("profit_year", period) <= 5, p.software_exempt_rate * income, p.key_software_reduced_relief * income)
        return where(ok, round_(relief, 2), 0)


@variable
class key_software_five_ten__tax_due(Variable):
    value_type = float
    entity = Claim
    definition_period = YEAR

    def formula(claim, period, parameters):
        p = parameters(period).services
        income = claim("taxable_income", period)
        return where(claim("profit_year", period) <= 5, 0, round_(p.key_software_reduced_rate * income, 2))


# (二) 研发费用占营收比重高于5%: a qualification, no amount.
@variable
class rd_intensity_list__eligible(Variable):
    value_type = bool
    entity = Claim
    definition_period = YEAR

    def formula(claim, period, parameters):
        revenue = claim("revenue", period)
        threshold = parameters(period).science.rd_intensity_threshold
        return of_type(claim, period, EventType.rd_report, *ENTERPRISE) & (revenue > 0) & (
            claim("rd_expense", period) > threshold * revenue
        )


# The ceiling awards of articles (一)(二)(四)(五)(二十一): a fixed sum when the event and condition match.
def _choice(event_type, kinds, field, value, *flags):
    def eligible(c, p):
        ok = of_type(c, p, event_type, *kinds) & (c(field, p) == value)
        for flag in flags:
            ok = ok & c(flag, p)
        return ok

    return eligible


def _const(yuan):
    return lambda c, p, P: yuan


fixed_amount("lab_new", lambda c, p: of_type(c, p, EventType.lab_recognition, *RESEARCHER), lambda c, p, P: P.science.lab_amount)
fixed_amount("rd_institution_four_star",
             lambda c, p: of_type(c, p, EventType.rd_institution_rating, *RESEARCHER) & (c("stars", p) == 4), _const(300000))
fixed_amount("rd_institution_five_star",
             lambda c, p: of_type(c, p, EventType.rd_institution_rating, *RESEARCHER) & (c("stars", p) == 5), _const(500000))
for _rid, _plan, _yuan in [("plan_key_rd", Plan.key_rd, 500000), ("plan_tackling", Plan.tackling, 100000),
                           ("plan_public_welfare", Plan.public_welfare, 100000), ("plan_natural_science", Plan.natural_science, 20000)]:
    fixed_amount(_rid, _choice(EventType.science_project, RESEARCHER, "plan", _plan), _const(_yuan))
fixed_amount("incubator_national", lambda c, p: of_type(c, p, EventType.incubator_recognition, SubjectKind.incubator)
             & (c("carrier_type", p) == CarrierType.incubator) & (c("level", p) == Level.national), _const(300000))
fixed_amount("incubator_provincial", lambda c, p: of_type(c, p, EventType.incubator_recognition, SubjectKind.incubator)
             & (c("carrier_type", p) == CarrierType.incubator) & (c("level", p) == Level.provincial), _const(100000))
fixed_amount("maker_space_filing", lambda c, p: of_type(c, p, EventType.incubator_recognition, SubjectKind.incubator)
             & (c("carrier_type", p) == CarrierType.maker_space) & (c("level", p) != Level.none), _const(50000))
for _rid, _award, _yuan, _lead in [
    ("award_national_top", Award.national_top, 5000000, True), ("award_national_special", Award.national_special, 3000000, True),
    ("award_national_first", Award.national_first, 2000000, True), ("award_national_second", Award.national_second, 1000000, True),
    ("award_provincial_grand", Award.provincial_grand, 1000000, False), ("award_provincial_ip", Award.provincial_ip, 300000, False),
    ("award_provincial_first", Award.provincial_first, 500000, True), ("award_provincial_second", Award.provincial_second, 300000, True),
    ("award_provincial_third", Award.provincial_third, 100000, True),
]:
    fixed_amount(_rid, _choice(EventType.science_award, RESEARCHER, "award", _award, *(["lead_unit"] if _lead else [])), _const(_yuan))
for _rid, _medal, _yuan in [("patent_gold", Medal.gold, 300000), ("patent_silver", Medal.silver, 150000),
                            ("patent_excellence", Medal.excellence, 100000)]:
    fixed_amount(_rid, _choice(EventType.patent_award, RESEARCHER, "medal", _medal, "first_inventor_unit"),
                 lambda c, p, P, yuan=_yuan: yuan * c("patents", p))
fixed_amount("hr_park_new", lambda c, p: of_type(c, p, EventType.hr_park_new, *RESEARCHER) & (c("level", p) != Level.none),
             lambda c, p, P: P.services.hr_park_amount)

# zhida's rule id, order in the pack (its output order within an event), article, kind, department, cap
OUTPUT_RULES = [
    ("lab-new", 1, "ceiling", DEPT_SCI, None), ("rd-institution-four-star", 1, "ceiling", DEPT_SCI, None),
    ("rd-institution-five-star", 1, "ceiling", DEPT_SCI, None),
    ("high-tech-first", 2, "ceiling", DEPT_SCI, ("annual", "high-tech-first-per-firm")),
    ("high-tech-renewal", 2, "ceiling", DEPT_SCI, ("annual", "high-tech-renewal-per-firm")),
    ("plan-key-rd", 2, "ceiling", DEPT_SCI, None), ("plan-tackling", 2, "ceiling", DEPT_SCI, None),
    ("plan-public-welfare", 2, "ceiling", DEPT_SCI, None), ("plan-natural-science", 2, "ceiling", DEPT_SCI, None),
    ("rd-intensity-list", 2, "qualification", DEPT_SCI, None),
    ("innovation-voucher", 3, "ceiling", DEPT_SCI, ("annual", "innovation-voucher-annual")),
    ("incubator-national", 4, "ceiling", DEPT_SCI, None), ("incubator-provincial", 4, "ceiling", DEPT_SCI, None),
    ("maker-space-filing", 4, "ceiling", DEPT_SCI, None),
    ("cultivate-high-tech", 4, "exact", DEPT_SCI, ("annual", "incubation-carrier-annual")),
    ("cultivate-national-sme", 4, "exact", DEPT_SCI, ("annual", "incubation-carrier-annual")),
    ("cultivate-provincial-sme", 4, "exact", DEPT_SCI, ("annual", "incubation-carrier-annual")),
    ("award-national-top", 5, "ceiling", DEPT_SCI, None), ("award-national-special", 5, "ceiling", DEPT_SCI, None),
    ("award-national-first", 5, "ceiling", DEPT_SCI, None), ("award-national-second", 5, "ceiling", DEPT_SCI, None),
    ("patent-gold", 5, "ceiling", DEPT_SCI, None), ("patent-silver", 5, "ceiling", DEPT_SCI, None),
    ("patent-excellence", 5, "ceiling", DEPT_SCI, None), ("award-provincial-grand", 5, "ceiling", DEPT_SCI, None),
    ("award-provincial-ip", 5, "ceiling", DEPT_SCI, None), ("award-provincial-first", 5, "ceiling", DEPT_SCI, None),
    ("award-provincial-second", 5, "ceiling", DEPT_SCI, None), ("award-provincial-third", 5, "ceiling", DEPT_SCI, None),
    ("trade-in-nev", 17, "ceiling", DEPT_DEV, None), ("trade-in-fuel", 17, "ceiling", DEPT_DEV, None),
    ("appliance-grade-1", 17, "exact", DEPT_DEV, ("item", "appliance-item", 2000)),
    ("appliance-grade-2", 17, "exact", DEPT_DEV, ("item", "appliance-item", 2000)),
    ("furniture-ordinary", 17, "exact", DEPT_DEV, ("item", "furniture-item", 2000)),
    ("furniture-efficient", 17, "exact", DEPT_DEV, ("item", "furniture-item", 2000)),
    ("digital-products", 17, "exact", DEPT_DEV, ("item", "digital-item", 500)),
    ("software-two-three", 21, "tax", DEPT_DEV, None), ("key-software-five-ten", 21, "tax", DEPT_DEV, None),
    ("hr-service-institution", 21, "ceiling", DEPT_DEV, ("annual", "hr-service-per-institution")),
    ("hr-park-new", 21, "ceiling", DEPT_DEV, None),
    ("export-credit-insurance", 30, "floor", "市商务局", ("annual", "export-insurance-annual")),
    ("agri-mortgage-risk", 40, "ceiling", "市农业农村局", ("annual", "agri-risk-per-bank")),
]


def tax_benefit_system() -> TaxBenefitSystem:
    system = TaxBenefitSystem(ENTITIES)
    system.add_variables(*VARIABLES)
    system.parameters = ParameterNode("", data=PARAMETERS)
    return system


# ---------------------------------------------------------------- loading the register, running, writing


def _encode(column: pa.ChunkedArray, enum) -> EnumArray:
    """A text column as an EnumArray, through Arrow's dictionary (no per-row Python)."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    lookup = {member.value: member.index for member in enum}
    dictionary = encoded.dictionary.to_pylist()
    mapping = np.array([lookup[value] for value in dictionary] + [lookup.get("", 0)], dtype=np.int16)
    indices = encoded.indices.fill_null(len(dictionary)).to_numpy()
    return EnumArray(mapping[indices], enum)


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    return pc.cast(column, pa.float64()).fill_null(0).to_numpy()


def run(subjects_path: Path, events_path: Path, out_path: Path) -> dict:
    timings = {}
    start = time.perf_counter()
    system = tax_benefit_system()
    subjects = pq.read_table(subjects_path, columns=["subject_id", "kind", "county"])
    events = pq.read_table(events_path, columns=list(EVENT_COLUMNS))
    # zhida's claim order: subject, date, event id. The annual caps accumulate in this order, and the
    # output is written in it; the wide table itself is left in file order (ranks only).
    keys = events.select(["subject_id", "date", "event_id"])
    sorted_positions = pc.sort_indices(keys, sort_keys=[(k, "ascending") for k in keys.column_names]).to_numpy()
    rank = np.empty(len(sorted_positions), dtype=np.int32)
    rank[sorted_positions] = np.arange(len(sorted_positions), dtype=np.int32)
    subject_index = pc.index_in(events["subject_id"], value_set=subjects["subject_id"]).to_numpy()
    timings["load"] = time.perf_counter() - start

    start = time.perf_counter()
    n = events.num_rows
    years = pc.year(events["date"]).to_numpy().astype(np.int64)
    builder = SimulationBuilder()
    builder.create_entities(system)
    builder.declare_person_entity("claim", np.arange(n))
    no_roles = np.zeros(n, dtype=np.int8)
    used, member_of = np.unique(subject_index, return_inverse=True)
    builder.join_with_persons(builder.declare_entity("subject", used), member_of, roles=no_roles)
    holder = subject_index.astype(np.int64) * 10_000 + years
    builder.join_with_persons(builder.declare_entity("subject_year", np.unique(holder)), holder, roles=no_roles)
    carrier = pc.dictionary_encode(events["carrier"]).combine_chunks()
    carrier_code = carrier.indices.fill_null(-1).to_numpy().astype(np.int64) + 1
    carrier_holder = (subject_index.astype(np.int64) * (len(carrier.dictionary) + 1) + carrier_code) * 10_000 + years
    builder.join_with_persons(builder.declare_entity("carrier_year", np.unique(carrier_holder)), carrier_holder, roles=no_roles)
    simulation = builder.build(system)
    simulation.set_input("subject_kind", PERIOD, _encode(subjects["kind"].take(pa.array(used)), SubjectKind))
    simulation.set_input("event_type", PERIOD, _encode(events["type"], EventType))
    simulation.set_input("claim_date", PERIOD, events["date"].to_numpy().astype("datetime64[D]"))
    simulation.set_input("claim_order", PERIOD, rank)
    for name, enum in ENUM_FIELDS.items():
        simulation.set_input(name, PERIOD, _encode(events[name], enum))
    for name in MONEY_FIELDS:
        simulation.set_input(name, PERIOD, _floats(events[name]))
    for name in INTEGER_FIELDS:
        simulation.set_input(name, PERIOD, events[name].fill_null(0).to_numpy())
    for name in FLAG_FIELDS:
        simulation.set_input(name, PERIOD, events[name].fill_null(False).to_numpy(zero_copy_only=False))
    timings["build"] = time.perf_counter() - start

    start = time.perf_counter()
    rows, codes, amounts, taxes, hits = [], [], [], [], []
    valid = simulation.calculate("in_validity", PERIOD)
    for code, (rule_id, _article, kind, _dept, cap) in enumerate(OUTPUT_RULES):
        name = rule_id.replace("-", "_")
        eligible = np.flatnonzero(simulation.calculate(f"{name}__eligible", PERIOD))
        rows.append(eligible)
        codes.append(np.full(len(eligible), code, dtype=np.int8))
        if kind == "qualification":
            amounts.append(np.full(len(eligible), np.nan))
        else:
            amounts.append(simulation.calculate(name, PERIOD)[eligible].astype(np.float64))
        if kind == "tax":
            due = simulation.calculate(f"{name}__tax_due", PERIOD)[eligible].astype(np.float64)
            taxes.append(np.where(valid[eligible], due, np.nan))
        else:
            taxes.append(np.full(len(eligible), np.nan))
        hit = np.zeros(len(eligible), dtype=bool)
        if cap is not None and cap[0] == "item":
            hit = valid[eligible] & (simulation.calculate(f"{name}__raw", PERIOD)[eligible] > cap[2])
        elif cap is not None:
            before = simulation.calculate(f"{name}__claim", PERIOD)[eligible]
            hit = simulation.calculate(name, PERIOD)[eligible] < before
        hits.append(hit)
    timings["compute"] = time.perf_counter() - start

    start = time.perf_counter()
    rows, codes = np.concatenate(rows), np.concatenate(codes)
    order = np.lexsort((codes, rank[rows]))  # (subject, date, event_id), then the rule's order in the pack
    rows, codes = rows[order], codes[order]
    amount = np.concatenate(amounts)[order]
    tax = np.concatenate(taxes)[order]
    hit = np.concatenate(hits)[order]
    take = pa.array(rows)
    cap_names = [cap[1] if cap else "" for *_, cap in OUTPUT_RULES]
    hit_codes = np.where(hit, codes, len(OUTPUT_RULES)).astype(np.int8)

    def constant(values, arrow_type=pa.string()):
        return pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(values, arrow_type))

    table = pa.table({
        "subject_id": events["subject_id"].take(take),
        "event_id": events["event_id"].take(take),
        "date": events["date"].take(take),
        "rule": constant([r[0] for r in OUTPUT_RULES]),
        "article": pa.array(np.array([r[1] for r in OUTPUT_RULES], dtype=np.int32)[codes]),
        "kind": constant([r[2] for r in OUTPUT_RULES]),
        "amount": pa.array(amount, from_pandas=True),
        "tax_due": pa.array(tax, from_pandas=True),
        "caps_hit": pa.DictionaryArray.from_arrays(pa.array(hit_codes), pa.array(cap_names + [""])),
        "in_validity": pa.array(valid[rows]),
        "department": constant([r[3] for r in OUTPUT_RULES]),
        "county": subjects["county"].take(pa.array(subject_index[rows])),
    })
    pq.write_table(table, out_path)
    timings["write"] = time.perf_counter() - start
    return {"rows": table.num_rows, "events": n, "phases": timings}


if __name__ == "__main__":
    subjects_arg, events_arg, out_arg = sys.argv[1:4]
    started = time.perf_counter()
    result = run(Path(subjects_arg), Path(events_arg), Path(out_arg))
    result["seconds"] = time.perf_counter() - started
    with open("/proc/self/status") as status:  # peak RSS of this process alone (see batch_bench.peak_rss)
        result["peak_rss"] = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    print(json.dumps(result))
