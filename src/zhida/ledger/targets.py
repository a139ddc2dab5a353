"""Targets and tasks by owner (责任分解): assignments, progress reports, and status against the target.

What goes in: the pack's indicators and tasks (each an `Item`, id `indicator-N` / `task-N`, N the
1-based position in document order), the `assignments` table (an item given to a department, and a
county or '' for the city level, with a share 0 < share <= 1) and the `progress_reports` table
(a value reported for an assignment, never overwritten). What comes out: a `Board`, one `Line` per
assignment with its goal, its latest report and its `Status`, rolled up per item, department and
county.

Readings decided here (the document does not state them):
- An item nobody assigned is the lead department's, wholly (share 1), at city level; an item
  assigned only in part leaves the remainder (1 - total share) there too. Such a line is shown as
  `implicit`; it has no id, so nobody reports on it until it is assigned.
- The goal of an assignment: for an additive target (an amount or a count: 元, 标箱, 家, 个, 户,
  人, 亩 …) the indicator's value × the share, since counties' contributions add up to the city's;
  for a level (a rate or ratio: unit % or '' — 增长6.5%以上, 倍差1.6以内, 三分之二以上 — or a
  standard every part must reach: 低保年标准, 所有行政村…) the value itself, since half of a growth
  rate means nothing: each owner must reach the level, and the share is its part of the responsibility.
- A reported value is the cumulative figure for the year up to `as_of` (for a level: the level at
  `as_of`). The latest report (by as_of, then by order of reporting) counts.
- Met: ≥ for 以上/不低于/达/完成/新增 X (EQUAL and ABOUT read as a level to reach: no tolerance is
  stated, so none is invented), > for 超过/突破, ≤ for 以内/以下, < for 低于, within [low, high]
  for a range (1—2个; above the high end is `above_range`). Not met, additive and to be reached:
  `on_track` when the value is at least the goal × the share of the year elapsed at as_of (days
  elapsed counting as_of itself / days in the year), else `behind`; at the year's end or later
  nothing is on track any more. Not met otherwise (a level, an upper bound): `behind`.
- Tasks have no number: `reported` (with the latest note) or `not_reported`.
All arithmetic is exact (Fraction; values in from Decimal strings), so 三分之二 compares exactly.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhida.ledger import audit
from zhida.ledger import tables as t
from zhida.ledger.access import Actor, Refused, Role, require
from zhida.ledger.identity import county_problem
from zhida.rules.pack import Pack
from zhida.source.model import Direction, Indicator
from zhida.source.script import to_simplified

QUANTITY = re.compile(r"[+-]?\d{1,18}(\.\d{1,6})?")
PERIOD = re.compile(r"(?P<year>\d{4})(?:-(?P<month>0[1-9]|1[0-2])|-Q(?P<quarter>[1-4]))?")
LEVEL_UNITS = ("%", "")
LEVEL_WORDS = ("標準", "标准", "所有")  # a standard or "every …": each part must reach it
MAX_TEXT = 2000
CITY = "市级"
DEFAULT_NOTE = "未分解(或未分解完)的目标任务,其余份额视为由牵头部门在市级整体承担"


class Status(StrEnum):
    MET = "met"
    ON_TRACK = "on_track"
    ABOVE_RANGE = "above_range"
    BEHIND = "behind"
    NOT_REPORTED = "not_reported"
    REPORTED = "reported"


STATUS_NAMES = {
    Status.MET: "已完成",
    Status.ON_TRACK: "进度正常",
    Status.ABOVE_RANGE: "超出区间",
    Status.BEHIND: "滞后",
    Status.NOT_REPORTED: "未报送",
    Status.REPORTED: "已报送",
}
# Worst first: an item, department or county is as well as its worst line.
SEVERITY = (Status.BEHIND, Status.NOT_REPORTED, Status.ABOVE_RANGE, Status.ON_TRACK, Status.REPORTED, Status.MET)
TO_REACH = (Direction.AT_LEAST, Direction.EQUAL, Direction.ABOUT, Direction.OVER, Direction.RANGE)


@dataclass(frozen=True)
class Item:
    """An indicator or a task of the pack, as an owner sees it (Simplified)."""

    id: str
    kind: str  # indicator | task
    text: str
    article: int | None
    area: int
    department: str
    indicator: Indicator | None = None


@dataclass(frozen=True)
class Goal:
    low: Fraction  # the goal (the low end of a range)
    high: Fraction | None  # the high end of a range
    direction: Direction
    additive: bool


@dataclass(frozen=True)
class Latest:
    report_id: int
    value: Decimal
    period: str
    as_of: dt.date
    note: str


@dataclass(frozen=True)
class Line:
    """One owner of one item: an assignment, or the lead department's implicit remainder."""

    item: Item
    assignment_id: int | None
    department: str
    county: str  # '' = city level
    share: Fraction
    goal: Goal | None  # None for a task
    latest: Latest | None
    status: Status

    @property
    def implicit(self) -> bool:
        return self.assignment_id is None


@dataclass(frozen=True)
class Board:
    lines: tuple[Line, ...]
    by_item: dict[str, Status] = field(default_factory=dict)
    by_department: dict[str, Counter[Status]] = field(default_factory=dict)
    by_county: dict[str, Counter[Status]] = field(default_factory=dict)
    note: str = DEFAULT_NOTE


# --------------------------------------------------------------------------- items


def items(pack: Pack) -> dict[str, Item]:
    """Every indicator, then every task, keyed by its stable id."""
    found: dict[str, Item] = {}
    for number, indicator in enumerate(pack.document.indicators, start=1):
        key = f"indicator-{number}"
        found[key] = Item(key, "indicator", to_simplified(indicator.text), indicator.article, indicator.area,
                          to_simplified(indicator.department), indicator)
    for number, task in enumerate(pack.document.tasks, start=1):
        key = f"task-{number}"
        department = to_simplified(task.department)
        found[key] = Item(key, "task", to_simplified(task.text), task.article, task.area, department)
    return found


def item_of(pack: Pack, item_id: str) -> Item:
    known = items(pack)
    if item_id not in known:
        indicators, tasks = len(pack.document.indicators), len(pack.document.tasks)
        raise Refused(404, f"没有目标或任务 {item_id}(应为 indicator-1…indicator-{indicators} 或 task-1…task-{tasks})")
    return known[item_id]


# --------------------------------------------------------------------------- goals and status


def is_additive(indicator: Indicator) -> bool:
    """An amount or a count that owners' parts add up to; a rate, a ratio or a standard does not."""
    return indicator.unit not in LEVEL_UNITS and not any(word in indicator.text for word in LEVEL_WORDS)


def goal_of(indicator: Indicator, share: Fraction) -> Goal:
    additive = is_additive(indicator)
    factor = share if additive else Fraction(1)
    high = Fraction(indicator.value_high) * factor if indicator.value_high is not None else None
    return Goal(Fraction(indicator.value) * factor, high, indicator.direction, additive)


def elapsed(as_of: dt.date, year: int) -> Fraction:
    """The share of `year` gone by at the end of `as_of` (as_of itself counted)."""
    if as_of.year < year:
        return Fraction(0)
    if as_of.year > year:
        return Fraction(1)
    days = (dt.date(year + 1, 1, 1) - dt.date(year, 1, 1)).days
    return Fraction(as_of.timetuple().tm_yday, days)


def assess(goal: Goal, value: Decimal, as_of: dt.date, year: int) -> Status:
    """The status of `value` reported at `as_of` against `goal` (the readings in the module docstring)."""
    reached = Fraction(value)
    low = goal.low
    if goal.direction is Direction.RANGE and goal.high is not None and reached > goal.high:
        return Status.ABOVE_RANGE
    met = {
        Direction.AT_MOST: reached <= low,
        Direction.UNDER: reached < low,
        Direction.OVER: reached > low,
    }.get(goal.direction, reached >= low)
    if met:
        return Status.MET
    if goal.additive and goal.direction in TO_REACH:
        gone = elapsed(as_of, year)
        if gone < 1 and reached >= low * gone:
            return Status.ON_TRACK
    return Status.BEHIND


# --------------------------------------------------------------------------- the board


def board(session: Session, pack: Pack, *, department: str | None = None, county: str | None = None,
          area: int | None = None) -> Board:
    """Every item's lines with their status, filtered; rolled up per item, department and county."""
    if county:
        problem = county_problem(county)
        if problem and county != CITY:
            raise Refused(422, f"county: {problem}")
    wanted_county = None if not county else ("" if county == CITY else to_simplified(county.strip()))
    wanted_department = to_simplified(department.strip()) if department else None
    assignments = session.scalars(select(t.Assignment).order_by(t.Assignment.id)).all()
    latest = _latest_reports(session)
    by_item: dict[str, list[t.Assignment]] = {}
    for row in assignments:
        by_item.setdefault(row.item, []).append(row)
    lines: list[Line] = []
    for item in items(pack).values():
        if area is not None and item.area != area:
            continue
        for line in _lines(item, by_item.get(item.id, []), latest):
            if wanted_department is not None and line.department != wanted_department:
                continue
            if wanted_county is not None and line.county != wanted_county:
                continue
            lines.append(line)
    return _rolled_up(tuple(lines))


def _latest_reports(session: Session) -> dict[int, Latest]:
    latest: dict[int, Latest] = {}
    query = select(t.ProgressReport).order_by(t.ProgressReport.as_of, t.ProgressReport.id)
    for report in session.scalars(query):
        latest[report.assignment_id] = Latest(report.id, report.value, report.period, report.as_of, report.note)
    return latest


def _lines(item: Item, rows: list[t.Assignment], latest: dict[int, Latest]) -> list[Line]:
    lines = [_line(item, row.id, row.department, row.county, Fraction(row.share), latest.get(row.id))
             for row in rows]
    remainder = 1 - sum((Fraction(row.share) for row in rows), Fraction(0))
    if remainder > 0:
        lines.append(_line(item, None, item.department, "", remainder, None))
    return lines


def _line(item: Item, assignment_id: int | None, department: str, county: str, share: Fraction,
          latest: Latest | None) -> Line:
    indicator = item.indicator
    goal = goal_of(indicator, share) if indicator is not None else None
    if latest is None:
        status = Status.NOT_REPORTED
    elif goal is None or indicator is None:
        status = Status.REPORTED
    else:
        status = assess(goal, latest.value, latest.as_of, indicator.year)
    return Line(item, assignment_id, department, county, share, goal, latest, status)


def _rolled_up(lines: tuple[Line, ...]) -> Board:
    by_item: dict[str, Status] = {}
    by_department: dict[str, Counter[Status]] = {}
    by_county: dict[str, Counter[Status]] = {}
    for line in lines:
        current = by_item.get(line.item.id)
        if current is None or SEVERITY.index(line.status) < SEVERITY.index(current):
            by_item[line.item.id] = line.status
        by_department.setdefault(line.department, Counter())[line.status] += 1
        by_county.setdefault(line.county or CITY, Counter())[line.status] += 1
    return Board(lines, by_item, by_department, by_county)


# --------------------------------------------------------------------------- changes


def assign(session: Session, pack: Pack, item_id: str, department: str, county: str, share: str | Decimal,
           actor: Actor) -> t.Assignment:
    """Give `item_id` to `department` (and `county`, '' = city level) with `share` of it.

    Admin, or a reviewer of the item's lead department; the shares of one item never add up past 1."""
    require(actor, Role.ADMIN, Role.REVIEWER)
    item = item_of(pack, item_id)
    if actor.role is Role.REVIEWER and actor.department != item.department:
        raise Refused(403, f"{item_id} 由{item.department}牵头,{actor.department}的审核用户 {actor.username} 不能分解它")
    owner = _department(department)
    place = _county(county)
    portion = quantity(share, "share") if isinstance(share, str) else share
    if not 0 < portion <= 1:
        raise Refused(422, f"share: 份额须大于 0 且不超过 1,而不是 {_plain(portion)}")
    _lock(session)
    rows = session.scalars(select(t.Assignment).where(t.Assignment.item == item_id)).all()
    if any(row.department == owner and row.county == place for row in rows):
        raise Refused(409, f"{item_id} 已分解给{owner}({place or CITY}),不能重复分解")
    total = sum((row.share for row in rows), Decimal(0)) + portion
    if total > 1:
        raise Refused(409, f"{item_id} 的份额合计将为 {_plain(total)},超过 1(已分解 {_plain(total - portion)})")
    row = t.Assignment(item=item_id, department=owner, county=place, share=portion, assigned_by=actor.user_id)
    session.add(row)
    audit.record(session, actor.username, "assignment.add", row)
    return row


def report_progress(session: Session, assignment_id: int, value: str, period: str, as_of: str | dt.date,
                    actor: Actor, note: str = "", evidence: str = "") -> t.ProgressReport:
    """A new progress report for an assignment, by a reviewer of its department or admin; kept beside
    the earlier ones (a correction is a new report, never an edit)."""
    require(actor, Role.ADMIN, Role.REVIEWER)
    assignment = session.get(t.Assignment, assignment_id)
    if assignment is None:
        raise Refused(404, f"没有责任分解记录 {assignment_id}")
    if actor.role is Role.REVIEWER and actor.department != assignment.department:
        raise Refused(403, f"责任分解 {assignment_id} 属于{assignment.department},"
                           f"{actor.department}的审核用户 {actor.username} 不能报送其进度")
    amount = quantity(value, "value")
    date = _date(as_of)
    start = period_start(period)
    if date < start:
        raise Refused(422, f"as_of: 截至日期 {date.isoformat()} 早于报告期 {period} 的开始 {start.isoformat()}")
    for name, text in (("note", note), ("evidence", evidence)):
        if len(text) > MAX_TEXT:
            raise Refused(422, f"{name}: 不超过 {MAX_TEXT} 字")
    _lock(session, assignment)
    report = t.ProgressReport(assignment_id=assignment_id, value=amount, period=period, as_of=date, note=note,
                              evidence=evidence, reported_by=actor.user_id)
    session.add(report)
    audit.record(session, actor.username, "progress.report", report)
    return report


def history(session: Session, assignment_id: int) -> list[t.ProgressReport]:
    if session.get(t.Assignment, assignment_id) is None:
        raise Refused(404, f"没有责任分解记录 {assignment_id}")
    query = select(t.ProgressReport).where(t.ProgressReport.assignment_id == assignment_id)
    return list(session.scalars(query.order_by(t.ProgressReport.id)))


def quantity(text: str, name: str) -> Decimal:
    """A decimal string (no exponent, at most 6 places) as an exact Decimal, or a 422 naming the field."""
    if not isinstance(text, str) or not QUANTITY.fullmatch(text.strip()):
        raise Refused(422, f"{name}: 须为十进制数字字符串,最多 18 位整数、6 位小数,不用指数写法"
                           f"(如 \"450000\" 或 \"0.5\"),而不是 {text!r}")
    return Decimal(text.strip())


def period_start(period: str) -> dt.date:
    """The first day of a reporting period: 2025 (a year), 2025-06 (a month), 2025-Q2 (a quarter)."""
    match = PERIOD.fullmatch(period) if isinstance(period, str) else None
    if match is None:
        raise Refused(422, f"period: 报告期须写作 2025、2025-06 或 2025-Q2,而不是 {period!r}")
    year = int(match["year"])
    if match["month"]:
        return dt.date(year, int(match["month"]), 1)
    if match["quarter"]:
        return dt.date(year, 3 * int(match["quarter"]) - 2, 1)
    return dt.date(year, 1, 1)


def _date(value: str | dt.date) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise Refused(422, f"as_of: 截至日期须写作 2025-06-30,而不是 {value!r}") from None


def _department(name: str) -> str:
    owner = to_simplified((name or "").strip())
    if not owner or len(owner) > 50:
        raise Refused(422, "department: 须为部门名称(如 市交通运输局),不超过 50 字")
    return owner


def _county(name: str | None) -> str:
    if not name or name.strip() in ("", CITY):
        return ""
    problem = county_problem(name)
    if problem:
        raise Refused(422, f"county: {problem}")
    return to_simplified(name.strip())


def _lock(session: Session, row: t.Base | None = None) -> None:
    """Serialise target writers: the subject row (an assignment) first, then the audit head (PostgreSQL),
    so two assignments of one item cannot both pass the total-share check."""
    if row is not None:
        session.refresh(row, with_for_update=True)
    session.scalars(select(t.AuditHead).where(t.AuditHead.id == 1).with_for_update()).one()


def _plain(value: Decimal | Fraction) -> str:
    return fraction_text(Fraction(value))


# --------------------------------------------------------------------------- presenting


def fraction_text(value: Fraction) -> str:
    """An exact value as text: a decimal when it has one (0.5, 450000), else p/q (2/3)."""
    denominator = value.denominator
    places = 0
    while denominator % 2 == 0 or denominator % 5 == 0:
        if denominator % 10 == 0:
            denominator //= 10
        elif denominator % 2 == 0:
            denominator //= 2
        else:
            denominator //= 5
        places += 1
    if denominator != 1:
        return f"{value.numerator}/{value.denominator}"
    scaled = value * 10**places
    return f"{Decimal(int(scaled)).scaleb(-places).normalize():f}"


def in_text_unit(value: Fraction, indicator: Indicator) -> str:
    """`value` written as the text writes its target: 450000 标箱 as 45万标箱 when the text says 90萬標箱."""
    unit = indicator.unit
    for word, scale in (("億", 10**8), ("萬", 10**4)):
        if unit and word + unit in indicator.text:
            return to_simplified(f"{fraction_text(value / scale)}{word}{unit}")
    return to_simplified(f"{fraction_text(value)}{unit}")


def decimal_text(value: Decimal) -> str:
    return f"{value.normalize():f}"


def as_json(result: Board) -> dict[str, Any]:
    """The board as plain JSON: exact numbers as strings, one entry per item with its lines."""
    entries: dict[str, dict[str, Any]] = {}
    for line in result.lines:
        item = line.item
        entry = entries.get(item.id)
        if entry is None:
            entry = entries[item.id] = _item_json(item, result.by_item[item.id])
        entry["assignments"].append(_line_json(line))
    return {
        "note": result.note,
        "items": list(entries.values()),
        "departments": {name: _counts(counts) for name, counts in result.by_department.items()},
        "counties": {name: _counts(counts) for name, counts in result.by_county.items()},
    }


def _item_json(item: Item, status: Status) -> dict[str, Any]:
    indicator = item.indicator
    entry: dict[str, Any] = {
        "id": item.id, "kind": item.kind, "text": item.text, "article": item.article, "area": item.area,
        "department": item.department, "status": status.value, "status_name": STATUS_NAMES[status],
    }
    if indicator is not None:
        entry |= {
            "name": to_simplified(indicator.name),
            "value": fraction_text(Fraction(indicator.value)),
            "value_high": None if indicator.value_high is None else decimal_text(indicator.value_high),
            "unit": to_simplified(indicator.unit),
            "direction": indicator.direction.name.lower(),
            "year": indicator.year,
            "additive": is_additive(indicator),
        }
    entry["assignments"] = []
    return entry


def _line_json(line: Line) -> dict[str, Any]:
    goal, latest = line.goal, line.latest
    indicator = line.item.indicator
    return {
        "id": line.assignment_id,
        "implicit": line.implicit,
        "department": line.department,
        "county": line.county,
        "share": fraction_text(line.share),
        "goal": None if goal is None else fraction_text(goal.low),
        "goal_high": None if goal is None or goal.high is None else fraction_text(goal.high),
        "goal_text": None if goal is None or indicator is None else in_text_unit(goal.low, indicator),
        "latest": None if latest is None else {
            "id": latest.report_id, "value": decimal_text(latest.value), "period": latest.period,
            "as_of": latest.as_of.isoformat(), "note": latest.note,
        },
        "status": line.status.value,
        "status_name": STATUS_NAMES[line.status],
    }


def _counts(counts: Counter[Status]) -> dict[str, int]:
    return {status.value: counts[status] for status in SEVERITY if counts[status]}


def report_json(report: t.ProgressReport) -> dict[str, Any]:
    return {
        "id": report.id, "assignment": report.assignment_id, "value": decimal_text(report.value),
        "period": report.period, "as_of": report.as_of.isoformat(), "note": report.note,
        "evidence": report.evidence, "reported_by": report.reported_by,
        "reported_at": report.reported_at.isoformat(),
    }


def assignment_json(row: t.Assignment) -> dict[str, Any]:
    return {"id": row.id, "item": row.item, "department": row.department, "county": row.county,
            "share": decimal_text(row.share), "assigned_by": row.assigned_by}
