"""Once-only background rounds, whatever the number of processes running the loop.

Every API process runs the sweeper and the outbox relay loops (``closedloop.http.app``);
with ``closedloop serve --workers N`` or several hosts behind one address, a round must
still run once per interval, not once per process. Each job has a row in ``periodic_run``
(migration 0014). A process wanting a round locks that row ``FOR UPDATE SKIP LOCKED``:

- the row is locked by another process: that process is running the round; skip it;
- the row's ``started_at`` is less than an interval ago (PostgreSQL's clock, the same for
  every process): the round has run; wait for the rest of the interval;
- otherwise this process stamps ``started_at`` and runs the round while it holds the lock,
  so a round that outlasts the interval is never started twice. The stamp is committed
  whether the round succeeds or not (the next interval retries a failed round).

No election and no leader: any process may take any round, a process that dies releases
its lock with its connection, and nothing holds a session across transactions (so it
works through PgBouncer in transaction mode too).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import sqlalchemy as sa

from closedloop.db import tables as t
from closedloop.db.database import Database

c = t.periodic_run.c


@dataclass(frozen=True)
class Round:
    ran: bool
    # Seconds until the next round is due (what a loop should wait before asking again).
    wait: float
    # When the round that ran started (PostgreSQL's clock).
    started_at: dt.datetime | None = None


async def run_due(
    db: Database, name: str, interval: float, work: Callable[[], Awaitable[object]]
) -> Round:
    """Run ``work`` if the round ``name`` is due and no other process is running it."""
    async with db.system_transaction() as conn:
        row = (
            await conn.execute(
                sa.select(
                    c.started_at,
                    sa.func.extract("epoch", sa.func.now() - c.started_at).label("elapsed"),
                )
                .where(c.name == name)
                .with_for_update(skip_locked=True)
            )
        ).one_or_none()
        if row is None:
            exists = await conn.scalar(
                sa.select(sa.func.count()).select_from(t.periodic_run).where(c.name == name)
            )
            if not exists:
                raise LookupError(f"no periodic job named {name!r} (see migration 0014)")
            return Round(ran=False, wait=interval)  # another process holds the round
        if row.elapsed is not None and float(row.elapsed) < interval:
            return Round(ran=False, wait=max(0.0, interval - float(row.elapsed)))
        started_at = await conn.scalar(
            t.periodic_run.update()
            .where(c.name == name)
            .values(started_at=sa.func.now(), runs=c.runs + 1)
            .returning(c.started_at)
        )
        try:
            await work()
        finally:
            await conn.commit()
    return Round(ran=True, wait=interval, started_at=started_at)
