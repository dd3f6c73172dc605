"""Time limits and lights (绿灯/黄灯/红灯). Pure; the calendar and clock are passed in.

A limit counts calendar days by default, or Chinese working days (official holidays and
make-up workdays from the ``chinese_calendar`` package) when the rule says so. Yellow
comes at 2/3 of the limit's span, red at the limit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from zoneinfo import ZoneInfo

from closedloop.domain.issues import Light

CHINA = ZoneInfo("Asia/Shanghai")
YELLOW_AT = Fraction(2, 3)


@dataclass(frozen=True, slots=True)
class TimeLimit:
    days: int
    working_days: bool = False


@dataclass(frozen=True, slots=True)
class Window:
    started_at: dt.datetime
    warn_at: dt.datetime
    due_at: dt.datetime


@lru_cache(maxsize=4096)
def is_workday(day: dt.date) -> bool:
    """Official Chinese working day; outside the library's years, Monday to Friday."""
    import chinese_calendar

    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def add_days(start: dt.datetime, limit: TimeLimit) -> dt.datetime:
    """The moment the limit expires, counted from ``start``."""
    if not limit.working_days:
        return start + dt.timedelta(days=limit.days)
    local = start.astimezone(CHINA)
    day = local.date()
    remaining = limit.days
    while remaining > 0:
        day += dt.timedelta(days=1)
        if is_workday(day):
            remaining -= 1
    # Same wall-clock time on the N-th working day after the start (Beijing time).
    end = dt.datetime.combine(day, local.timetz()).replace(tzinfo=CHINA)
    return end.astimezone(dt.UTC)


def window(start: dt.datetime, limit: TimeLimit) -> Window:
    due = add_days(start, limit)
    warn = start + (due - start) * YELLOW_AT.numerator / YELLOW_AT.denominator
    return Window(started_at=start, warn_at=warn, due_at=due)


def light(now: dt.datetime, warn_at: dt.datetime, due_at: dt.datetime) -> Light:
    if now >= due_at:
        return Light.RED
    if now >= warn_at:
        return Light.YELLOW
    return Light.GREEN


def is_late(at: dt.datetime, due_at: dt.datetime | None) -> bool:
    return due_at is not None and at > due_at
