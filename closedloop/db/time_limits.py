"""The time-limit clock in SQL: the rule of ``closedloop.domain.sla`` (red from the limit on,
yellow from the yellow point on, green before) as SQLAlchemy expressions over an issue's
columns (``t.issue.c`` or a selectable with the same columns). Every query, sweep, dashboard
and report builds its light and overdue conditions here; the yellow point itself is written
by the domain when a clock starts (``warn_at``). Also the rating window's close
(``issues.rating_window_closes``), the sweeper's condition for closing unrated issues.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from closedloop.domain.issues import OPEN_STATES, Light

OPEN_VALUES = tuple(sorted(s.value for s in OPEN_STATES))


def running(c: Any) -> sa.ColumnElement[bool]:
    """A clock runs (a stopped clock keeps its window but has no kind)."""
    clause: sa.ColumnElement[bool] = c.clock_kind.is_not(None)
    return clause


def open_and_running(c: Any) -> sa.ColumnElement[bool]:
    return sa.and_(c.state.in_(OPEN_VALUES), running(c))


def red(c: Any, now: dt.datetime) -> sa.ColumnElement[bool]:
    """The window's limit has come (``sla.light``: ``now >= due_at``)."""
    clause: sa.ColumnElement[bool] = c.due_at <= now
    return clause


def past_yellow_point(c: Any, now: dt.datetime) -> sa.ColumnElement[bool]:
    """Yellow or red (``sla.light``: ``now >= warn_at``)."""
    clause: sa.ColumnElement[bool] = c.warn_at <= now
    return clause


def has_light(c: Any, light: Light, now: dt.datetime) -> sa.ColumnElement[bool]:
    """The window shows ``light`` at ``now`` (whether a clock runs is asked separately)."""
    if light is Light.RED:
        return red(c, now)
    if light is Light.YELLOW:
        return sa.and_(past_yellow_point(c, now), sa.not_(red(c, now)))
    return sa.not_(past_yellow_point(c, now))


def lit(c: Any, now: dt.datetime) -> sa.ColumnElement[bool]:
    """An open issue whose running clock is yellow or red."""
    return sa.and_(open_and_running(c), past_yellow_point(c, now))


def overdue_open(c: Any, now: dt.datetime) -> sa.ColumnElement[bool]:
    """An open issue whose running clock is past its limit (red)."""
    return sa.and_(open_and_running(c), red(c, now))


def next_light_change(c: Any, now: dt.datetime) -> sa.ColumnElement[dt.datetime]:
    """When the window's light next changes after ``now`` (its yellow point or its limit,
    whichever comes first of those still ahead; NULL when both have come): until then
    ``has_light`` answers as at ``now``."""
    ahead: sa.ColumnElement[dt.datetime] = sa.func.least(
        sa.case((c.warn_at > now, c.warn_at), else_=None),
        sa.case((c.due_at > now, c.due_at), else_=None),
    )
    return ahead


def lit_light(c: Any, now: dt.datetime) -> sa.ColumnElement[Any]:
    """``'RED'`` or ``'YELLOW'`` for a lit issue, ``NULL`` otherwise."""
    return sa.case(
        (sa.and_(lit(c, now), red(c, now)), Light.RED.value),
        (lit(c, now), Light.YELLOW.value),
        else_=None,
    )


def rating_window_closed(c: Any, now: dt.datetime, window_days: int) -> sa.ColumnElement[bool]:
    """The issue's rating window has closed at ``now`` (``issues.rating_window_closes``:
    ``window_days`` calendar days after its resolution)."""
    clause: sa.ColumnElement[bool] = c.resolved_at <= now - dt.timedelta(days=window_days)
    return clause
