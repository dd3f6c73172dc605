"""The clock in SQL (closedloop.db.time_limits) answers exactly like the clock in Python
(closedloop.domain.sla) on PostgreSQL, for every light and around both of its edges; so does
the rating window's close (closedloop.domain.issues.rating_window_closes)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TIMESTAMP

from closedloop.db import time_limits
from closedloop.db.database import Database
from closedloop.domain.issues import IssueState, Light, rating_window_closes
from closedloop.domain.sla import light

WARN = dt.datetime(2026, 3, 3, 1, tzinfo=dt.UTC)
DUE = dt.datetime(2026, 3, 4, 1, tzinfo=dt.UTC)
TICK = dt.timedelta(microseconds=1)
MOMENTS = [
    WARN - dt.timedelta(days=1),
    WARN - TICK,
    WARN,
    DUE - TICK,
    DUE,
    DUE + dt.timedelta(days=9),
]
STATES = [IssueState.ACCEPTED, IssueState.RESOLVED]
KINDS = ["REPLY", None]


async def test_the_sql_lights_are_the_python_lights(db: Database) -> None:
    rows = [
        (i, state.value, kind, WARN, DUE, now)
        for i, (state, kind, now) in enumerate(
            (s, k, n) for s in STATES for k in KINDS for n in MOMENTS
        )
    ]
    issues = sa.values(
        sa.column("id", sa.Integer),
        sa.column("state", sa.Text),
        sa.column("clock_kind", sa.Text),
        sa.column("warn_at", TIMESTAMP(timezone=True)),
        sa.column("due_at", TIMESTAMP(timezone=True)),
        sa.column("now", TIMESTAMP(timezone=True)),
        name="issue",
    ).data(rows)
    c = issues.c
    # ``now`` is a column here (one per row) where callers pass a bound value.
    q = sa.select(
        c.id,
        *(time_limits.has_light(c, x, c.now).label(x.value) for x in Light),
        time_limits.lit(c, c.now).label("lit"),
        time_limits.overdue_open(c, c.now).label("overdue_open"),
        time_limits.lit_light(c, c.now).label("lit_light"),
    ).order_by(c.id)
    async with db.admin.connect() as conn:
        found = (await conn.execute(q)).mappings().all()
    assert len(found) == len(rows) == 24
    for row, (_, state, kind, warn, due, now) in zip(found, rows, strict=True):
        expected = light(now, warn, due)
        shown = [x for x in Light if row[x.value]]
        assert shown == [expected], (now, shown)
        is_open = state != IssueState.RESOLVED.value and kind is not None
        assert row["lit"] is (is_open and expected is not Light.GREEN)
        assert row["overdue_open"] is (is_open and expected is Light.RED)
        assert row["lit_light"] == (expected.value if row["lit"] else None)


async def test_the_sql_rating_window_closes_when_the_python_one_does(db: Database) -> None:
    resolved = dt.datetime(2026, 3, 6, 9, tzinfo=dt.UTC)
    rows = [
        (i, resolved, days, now)
        for i, (days, now) in enumerate(
            (d, resolved + dt.timedelta(days=d) + offset)
            for d in (0, 7, 15)
            for offset in (-dt.timedelta(days=1), -TICK, dt.timedelta(0), TICK)
        )
    ]
    issues = sa.values(
        sa.column("id", sa.Integer),
        sa.column("resolved_at", TIMESTAMP(timezone=True)),
        sa.column("days", sa.Integer),
        sa.column("now", TIMESTAMP(timezone=True)),
        name="issue",
    ).data(rows)
    c = issues.c
    async with db.admin.connect() as conn:
        found = {}
        for _, _, days, _ in rows:  # the window's length is a setting: a bound value
            q = sa.select(
                c.id, time_limits.rating_window_closed(c, c.now, days).label("closed")
            ).where(c.days == days)
            found.update({r.id: r.closed for r in await conn.execute(q)})
    assert len(found) == len(rows) == 12
    for i, resolved_at, days, now in rows:
        assert found[i] is (now >= rating_window_closes(resolved_at, days)), (days, now)
