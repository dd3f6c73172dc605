"""The time-limit clock, table by table: adding calendar and Chinese working days, the
window and its yellow point, the light, lateness, the clock columns."""

from __future__ import annotations

import datetime as dt

import pytest

from closedloop.domain.issues import ClockKind, Light
from closedloop.domain.sla import (
    CHINA,
    DEFAULT_RULE,
    LimitRule,
    Limits,
    TimeLimit,
    Window,
    add_days,
    is_late,
    light,
    light_to_tell,
    limits_for,
    reached,
    running_light,
    running_limit,
    started,
    stopped,
    window,
    window_until,
    yellow_point,
)


def bj(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=CHINA)


@pytest.mark.parametrize(
    ("start", "limit", "due"),
    [
        # Calendar days: plain days, whatever the weekday or holiday.
        (bj(2024, 9, 27, 9), TimeLimit(1), bj(2024, 9, 28, 9)),
        (bj(2024, 9, 30, 23, 30), TimeLimit(2), bj(2024, 10, 2, 23, 30)),
        (bj(2024, 9, 27, 9), TimeLimit(0), bj(2024, 9, 27, 9)),
        # Working days (2024 National Day): Sunday 29 September was a make-up workday,
        # 1-7 October a holiday; the same wall-clock time on the N-th working day.
        (bj(2024, 9, 27, 9), TimeLimit(1, working_days=True), bj(2024, 9, 29, 9)),
        (bj(2024, 9, 27, 9), TimeLimit(2, working_days=True), bj(2024, 9, 30, 9)),
        (bj(2024, 9, 27, 9), TimeLimit(3, working_days=True), bj(2024, 10, 8, 9)),
        (bj(2024, 9, 27, 9), TimeLimit(0, working_days=True), bj(2024, 9, 27, 9)),
        # A start on a holiday counts from the next working day on.
        (bj(2024, 10, 3, 15), TimeLimit(1, working_days=True), bj(2024, 10, 8, 15)),
        # Beyond the calendar's years: Monday to Friday (2100-01-01 is a Friday).
        (bj(2100, 1, 1, 9), TimeLimit(1, working_days=True), bj(2100, 1, 4, 9)),
    ],
)
def test_add_days(start: dt.datetime, limit: TimeLimit, due: dt.datetime) -> None:
    assert add_days(start, limit) == due
    assert add_days(start.astimezone(dt.UTC), limit) == due  # the zone of the start is moot


def test_working_days_are_counted_in_beijing_time() -> None:
    # 2024-09-27 20:00 UTC is already Saturday the 28th in Beijing: the next working day
    # is the make-up Sunday, 04:00 Beijing time.
    start = dt.datetime(2024, 9, 27, 20, tzinfo=dt.UTC)
    assert add_days(start, TimeLimit(1, working_days=True)) == bj(2024, 9, 29, 4)


@pytest.mark.parametrize(
    ("start", "due", "yellow"),
    [
        (bj(2026, 3, 1), bj(2026, 3, 4), bj(2026, 3, 3)),
        (bj(2026, 3, 1, 0), bj(2026, 3, 1, 3), bj(2026, 3, 1, 2)),
        (bj(2026, 3, 1), bj(2026, 3, 1), bj(2026, 3, 1)),
    ],
)
def test_yellow_comes_at_two_thirds(
    start: dt.datetime, due: dt.datetime, yellow: dt.datetime
) -> None:
    assert yellow_point(start, due) == yellow
    assert window_until(start, due) == Window(start, yellow, due)


def test_a_window_runs_to_the_limit() -> None:
    start = bj(2024, 9, 27, 9)
    w = window(start, TimeLimit(3, working_days=True))
    assert (w.started_at, w.due_at) == (start, bj(2024, 10, 8, 9))
    assert w.warn_at == yellow_point(start, w.due_at)


WARN, DUE = bj(2026, 3, 3), bj(2026, 3, 4)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (bj(2026, 3, 1), Light.GREEN),
        (WARN - dt.timedelta(microseconds=1), Light.GREEN),
        (WARN, Light.YELLOW),
        (DUE - dt.timedelta(microseconds=1), Light.YELLOW),
        (DUE, Light.RED),
        (bj(2027, 1, 1), Light.RED),
    ],
)
def test_light(now: dt.datetime, expected: Light) -> None:
    assert light(now, WARN, DUE) is expected


@pytest.mark.parametrize(
    ("now", "point", "expected"),
    [
        (DUE - dt.timedelta(microseconds=1), DUE, False),
        (DUE, DUE, True),  # the limit's own instant is red
        (DUE + dt.timedelta(days=1), DUE, True),
    ],
)
def test_reached(now: dt.datetime, point: dt.datetime, expected: bool) -> None:
    assert reached(now, point) is expected


@pytest.mark.parametrize(
    ("kind", "warn", "due", "limit", "lit"),
    [
        (ClockKind.REPLY, WARN, DUE, DUE, Light.YELLOW),
        ("ASSIGN", WARN, DUE, DUE, Light.YELLOW),  # as a row reads it
        (None, WARN, DUE, None, None),  # stopped: the window stays, no limit runs
        (None, None, None, None, None),  # never started
    ],
)
def test_the_running_limit_and_light(
    kind: ClockKind | str | None,
    warn: dt.datetime | None,
    due: dt.datetime | None,
    limit: dt.datetime | None,
    lit: Light | None,
) -> None:
    assert running_limit(kind, due) == limit
    assert running_light(WARN, kind, warn, due) is lit


@pytest.mark.parametrize(
    ("at", "due", "late"),
    [
        (DUE - dt.timedelta(seconds=1), DUE, False),
        (DUE, DUE, False),  # on the limit is in time
        (DUE + dt.timedelta(seconds=1), DUE, True),
        (DUE, None, False),  # no clock, never late
    ],
)
def test_is_late(at: dt.datetime, due: dt.datetime | None, late: bool) -> None:
    assert is_late(at, due) is late


def test_the_clock_columns() -> None:
    w = window_until(bj(2026, 3, 1), DUE)
    assert started(ClockKind.REPLY, w) == {
        "clock_kind": ClockKind.REPLY,
        "clock_started_at": w.started_at,
        "warn_at": w.warn_at,
        "due_at": DUE,
        "light_notified": None,
    }
    assert stopped() == {"clock_kind": None}


RULES = (
    LimitRule(None, None, 3, 20, False),  # the province-wide default
    LimitRule(None, "APPEAL", 1, 10, False),  # a category anywhere
    LimitRule("3305", None, 2, 12, True),  # a city's own rule, in working days
    LimitRule("330521", None, 2, 5, False),  # a county's, more specific than its city's
    LimitRule("3305", "APPEAL", 4, 8, False),  # the city's rule for a category
)


def days(assign: int, reply: int, working: bool = False) -> Limits:
    return Limits(TimeLimit(assign, working), TimeLimit(reply, working))


@pytest.mark.parametrize(
    ("rules", "region", "category", "expected"),
    [
        ((), "330521", None, DEFAULT_RULE.limits),  # no rule at all: the built-in default
        (RULES, "3306", None, days(3, 20)),  # only the province-wide rule applies
        (RULES, "3306", "APPEAL", days(1, 10)),  # a category beats "any" at the same depth
        (RULES, "330522", None, days(2, 12, True)),  # the city's rule below it
        (RULES, "330521102", None, days(2, 5)),  # the longest prefix wins
        (RULES, "330521102", "APPEAL", days(2, 5)),  # ... even over a category higher up
        (RULES, "330522", "APPEAL", days(4, 8)),  # the city's category rule
        (RULES, "33052", "APPEAL", days(4, 8)),  # a prefix, not a parent, decides
    ],
)
def test_limits_for(
    rules: tuple[LimitRule, ...], region: str, category: str | None, expected: Limits
) -> None:
    assert limits_for(rules, region, category) == expected


def test_limits_of_a_clock_kind() -> None:
    limits = days(2, 15)
    assert (limits.of(ClockKind.ASSIGN), limits.of(ClockKind.REPLY)) == (
        TimeLimit(2),
        TimeLimit(15),
    )


@pytest.mark.parametrize(
    ("current", "told", "tell"),
    [
        (Light.GREEN, None, None),
        (Light.YELLOW, None, Light.YELLOW),
        (Light.RED, None, Light.RED),  # straight to red when the sweeper came late
        (Light.RED, "YELLOW", Light.RED),
        (Light.YELLOW, "YELLOW", None),  # told already
        (Light.YELLOW, "RED", None),  # never back (a new clock clears what was told)
        (None, None, None),  # no clock runs
    ],
)
def test_light_to_tell(current: Light | None, told: str | None, tell: Light | None) -> None:
    assert light_to_tell(current, told) is tell
