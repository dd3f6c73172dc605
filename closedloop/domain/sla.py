"""The time-limit clock (时限) and its lights (绿灯/黄灯/红灯): the one home of the rule.
Pure; the calendar and the current time are passed in.

A limit counts calendar days by default, or Chinese working days (official holidays and
make-up workdays from the ``chinese_calendar`` package) when the rule says so. A clock
starts with a window (``window``, or ``window_until`` a given deadline) and its issue's
clock columns (``started``), and stops (``stopped``). Yellow comes at 2/3 of the window's
span (``yellow_point``), red at the limit (``light``); an act after the limit is late
(``is_late``). ``closedloop.db.time_limits`` is the same rule in SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from closedloop.domain.issues import ClockKind, Light

CHINA = ZoneInfo("Asia/Shanghai")
YELLOW_AT = Fraction(2, 3)


@dataclass(frozen=True, slots=True)
class TimeLimit:
    days: int
    working_days: bool = False


@dataclass(frozen=True, slots=True)
class Limits:
    """A rule's two limits: from acceptance to assignment, and from assignment to the reply."""

    assign: TimeLimit
    reply: TimeLimit

    def of(self, kind: ClockKind) -> TimeLimit:
        return self.assign if kind is ClockKind.ASSIGN else self.reply


@dataclass(frozen=True, slots=True)
class LimitRule:
    """A row of ``time_limit_rule``: for a region's subtree (``None``: everywhere) and a
    category (``None``: any)."""

    region_code: str | None
    category: str | None
    assign_days: int
    reply_days: int
    working_days: bool

    @property
    def limits(self) -> Limits:
        return Limits(
            TimeLimit(self.assign_days, self.working_days),
            TimeLimit(self.reply_days, self.working_days),
        )


DEFAULT_RULE = LimitRule(None, None, 2, 15, False)


def limits_for(rules: Iterable[LimitRule], region_code: str, category: str | None) -> Limits:
    """The limits of the most specific rule that applies: the longest region prefix first,
    then a rule of the category before one for any; none applies: ``DEFAULT_RULE``."""
    best, best_rank = DEFAULT_RULE, (-1, -1)
    for rule in rules:
        if rule.region_code is not None and not region_code.startswith(rule.region_code):
            continue
        if rule.category is not None and rule.category != category:
            continue
        rank = (len(rule.region_code or ""), 0 if rule.category is None else 1)
        if rank > best_rank:
            best, best_rank = rule, rank
    return best.limits


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


def yellow_point(start: dt.datetime, due: dt.datetime) -> dt.datetime:
    """When a clock running from ``start`` to ``due`` turns yellow: 2/3 of its span."""
    return start + (due - start) * YELLOW_AT.numerator / YELLOW_AT.denominator


def window(start: dt.datetime, limit: TimeLimit) -> Window:
    """The window of a limit started at ``start``."""
    return window_until(start, add_days(start, limit))


def window_until(start: dt.datetime, due: dt.datetime) -> Window:
    """The window of a clock given its deadline (a delegation's ``dueAt``)."""
    return Window(started_at=start, warn_at=yellow_point(start, due), due_at=due)


def started(kind: ClockKind, w: Window) -> dict[str, Any]:
    """An issue's clock columns once a clock of ``kind`` starts on ``w``: no light told yet."""
    return {
        "clock_kind": kind,
        "clock_started_at": w.started_at,
        "warn_at": w.warn_at,
        "due_at": w.due_at,
        "light_notified": None,
    }


def stopped() -> dict[str, Any]:
    """An issue's clock columns once its clock stops (its window stays for the record)."""
    return {"clock_kind": None}


def reached(now: dt.datetime, point: dt.datetime) -> bool:
    """A clock's point (its yellow point or its limit, a deadline) has come at ``now``: the
    one comparison behind the lights, overdue limits and deadlines already past."""
    return now >= point


def light(now: dt.datetime, warn_at: dt.datetime, due_at: dt.datetime) -> Light:
    """Red from the limit on, yellow from the yellow point on, green before."""
    if reached(now, due_at):
        return Light.RED
    if reached(now, warn_at):
        return Light.YELLOW
    return Light.GREEN


# The order of the lights the sweeper tells (none told yet counts as green).
_RANK = {None: 0, Light.GREEN.value: 0, Light.YELLOW.value: 1, Light.RED.value: 2}


def light_to_tell(current: Light | None, told: str | None) -> Light | None:
    """The light to tell now: the current one when it is worse than the last one told
    (``None``: nothing new; lights are told as they worsen, never back)."""
    if current is None or _RANK[current] <= _RANK[told]:  # a StrEnum member is its text
        return None
    return current


def running_limit(
    clock_kind: ClockKind | str | None, due_at: dt.datetime | None
) -> dt.datetime | None:
    """The limit of the clock that runs (``None`` when none does: a stopped clock keeps its
    window for the record, but no limit runs)."""
    return due_at if clock_kind is not None else None


def running_light(
    now: dt.datetime,
    clock_kind: ClockKind | str | None,
    warn_at: dt.datetime | None,
    due_at: dt.datetime | None,
) -> Light | None:
    """The light of the clock that runs at ``now`` (``None`` when none does)."""
    if clock_kind is None or warn_at is None or due_at is None:
        return None
    return light(now, warn_at, due_at)


def is_late(at: dt.datetime, due_at: dt.datetime | None) -> bool:
    """An act at ``at`` is late (overdue) when it comes after the limit."""
    return due_at is not None and at > due_at


# --- the bounds of a time-limit rule ---------------------------------------------------------

MAX_LIMIT_DAYS = 365


class InvalidTimeLimit(ValueError):
    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


def check_limit_days(assign_days: int, reply_days: int) -> None:
    """A rule's limits: whole days from 1 to ``MAX_LIMIT_DAYS`` (a year)."""
    for field, days in (("assignDays", assign_days), ("replyDays", reply_days)):
        if not 1 <= days <= MAX_LIMIT_DAYS:
            raise InvalidTimeLimit(field, f"1–{MAX_LIMIT_DAYS}")
