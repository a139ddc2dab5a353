"""Working days in China, for the end of a 兑前公示 period (default 5 working days).

In: a publication date, a number of working days and a `Holidays` table. Out: the last day
of the period. A working day is Monday to Friday, minus the State Council's public holidays
(`rest_days`), plus the weekend days it makes working days (调休, `work_days`).

The State Council announces each year's table in November of the year before, so the table
is data: `CHINA_2025_2026` is copied by hand from the two notices. A date outside the years
a table covers falls back to plain Monday to Friday — a period that crosses into a year not
yet announced may end too early by the holidays it does not know; add the year's notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

DEFAULT_PUBLICITY_DAYS = 5


@dataclass(frozen=True)
class Holidays:
    """Exceptions to Monday-Friday: public holidays off, and weekend days worked (调休)."""

    rest_days: frozenset[date]
    work_days: frozenset[date]

    def __post_init__(self) -> None:
        both = self.rest_days & self.work_days
        if both:
            raise ValueError(f"日期{min(both).isoformat()}不能既是放假日又是调休上班日")
        weekdays = sorted(day for day in self.work_days if day.weekday() < 5)
        if weekdays:
            raise ValueError(f"调休上班日{weekdays[0].isoformat()}不是周末：周一至周五本来就上班")


def is_working_day(day: date, holidays: Holidays) -> bool:
    """Whether `day` is a working day: a weekday not on holiday, or a weekend day worked (调休)."""
    if day in holidays.work_days:
        return True
    return day.weekday() < 5 and day not in holidays.rest_days


def add_working_days(start: date, days: int, holidays: Holidays) -> date:
    """The last day of a period of `days` working days published on `start`.

    The period starts on the first working day after publication (the publication day itself
    never counts, whatever time it was published) and ends at the end of the `days`-th working
    day: published Wed 2025-09-24, 5 days -> Thu 25, Fri 26, Sun 28 (调休), Mon 29, Tue 30.
    """
    if days < 1:
        raise ValueError(f"公示期应至少为1个工作日，实为{days}")
    day, counted = start, 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day, holidays):
            counted += 1
    return day


def _span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# 国务院办公厅关于2025年部分节假日安排的通知 (国办发明电〔2024〕12号, 2024-11-12), the first under the
# revised 全国年节及纪念日放假办法 (春节 and 劳动节 one day longer each).
_REST_2025 = [
    date(2025, 1, 1),  # 元旦
    *_span(date(2025, 1, 28), date(2025, 2, 4)),  # 春节, 8 days
    *_span(date(2025, 4, 4), date(2025, 4, 6)),  # 清明节
    *_span(date(2025, 5, 1), date(2025, 5, 5)),  # 劳动节
    *_span(date(2025, 5, 31), date(2025, 6, 2)),  # 端午节
    *_span(date(2025, 10, 1), date(2025, 10, 8)),  # 国庆节、中秋节
]
_WORK_2025 = [
    date(2025, 1, 26),  # Sun, 春节
    date(2025, 2, 8),  # Sat, 春节
    date(2025, 4, 27),  # Sun, 劳动节
    date(2025, 9, 28),  # Sun, 国庆节
    date(2025, 10, 11),  # Sat, 国庆节
]
# 国务院办公厅关于2026年部分节假日安排的通知 (dated 2025-11-04, published by 新华社 that day). The dates
# below were checked against the published text; its document number (国办发明电〔2025〕7号, as the
# brief gives it) was not: confirm it on gov.cn before citing it elsewhere.
_REST_2026 = [
    *_span(date(2026, 1, 1), date(2026, 1, 3)),  # 元旦
    *_span(date(2026, 2, 15), date(2026, 2, 23)),  # 春节, 9 days
    *_span(date(2026, 4, 4), date(2026, 4, 6)),  # 清明节
    *_span(date(2026, 5, 1), date(2026, 5, 5)),  # 劳动节
    *_span(date(2026, 6, 19), date(2026, 6, 21)),  # 端午节
    *_span(date(2026, 9, 25), date(2026, 9, 27)),  # 中秋节
    *_span(date(2026, 10, 1), date(2026, 10, 7)),  # 国庆节
]
_WORK_2026 = [
    date(2026, 1, 4),  # Sun, 元旦
    date(2026, 2, 14),  # Sat, 春节
    date(2026, 2, 28),  # Sat, 春节
    date(2026, 5, 9),  # Sat, 劳动节
    date(2026, 9, 20),  # Sun, 国庆节
    date(2026, 10, 10),  # Sat, 国庆节
]
CHINA_2025_2026 = Holidays(
    rest_days=frozenset(_REST_2025 + _REST_2026),
    work_days=frozenset(_WORK_2025 + _WORK_2026),
)
