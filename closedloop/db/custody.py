"""The custody ledger's late time in SQL: the rule of ``closedloop.domain.custody`` (C4)
as a SQLAlchemy expression over an issue's columns (``t.issue.c``, correlated).

How long an issue has been past its limits: the ledger holds the late time of every limit
that has ended or changed holder (``due_at`` only keeps the latest clock, which a reopening
restarts), and a limit still running late adds the time since the later of its deadline and
the current holder's start (``custody.late_seconds``: that span's ledger row has not
accrued it yet).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from closedloop.db import tables as t
from closedloop.db import time_limits


def late_seconds(c: Any, now: dt.datetime) -> sa.ColumnElement[Any]:
    """Seconds the issue has been late in all, booked and still running, at ``now``."""
    k = t.issue_custody.c
    accrued = (
        sa.select(sa.func.coalesce(sa.func.sum(k.overdue_seconds), 0))
        .where(k.issue_id == c.id)
        .scalar_subquery()
    )
    held_since = (
        sa.select(sa.func.max(k.started_at))
        .where(k.issue_id == c.id, k.ended_at.is_(None))
        .scalar_subquery()
    )
    since = sa.func.greatest(c.due_at, sa.func.coalesce(held_since, c.due_at))
    running = sa.case(
        (time_limits.overdue_open(c, now), sa.func.extract("epoch", now - since)), else_=0
    )
    total: sa.ColumnElement[Any] = accrued + running
    return total
