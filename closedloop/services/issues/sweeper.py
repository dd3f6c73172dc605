"""Periodic work on the clock: lights turning yellow or red, closing unrated issues after
the rating window (an unrated issue counts as a good rating), and refreshing the
dashboard rollup's changed slices so that dashboard readers rarely have to."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from closedloop.authz.roles import Principal
from closedloop.db import tables as t
from closedloop.db import time_limits
from closedloop.db.database import Database
from closedloop.domain import sla
from closedloop.domain.clock import Clock
from closedloop.domain.issues import Command, IssueState, Light
from closedloop.services.evaluation import rollup
from closedloop.services.event_bus import publish
from closedloop.services.issues.records import IssueRecord
from closedloop.services.issues.unit_of_work import SYSTEM_ACTOR, CommandTx, UnitOfWork
from closedloop.settings import Settings

SYSTEM = Principal(account_id=None, username=None, display_name=SYSTEM_ACTOR, role=None)
BATCH = 500
DEFAULT_CLOSE_MESSAGE = "评价期满未评价，默认好评"


@dataclass
class SweepReport:
    lights: int = 0
    closed: int = 0
    rollup_slices: int = 0


async def sweep(db: Database, clock: Clock, settings: Settings) -> SweepReport:
    now = clock.now()
    report = SweepReport()
    c = t.issue.c
    async with db.system_transaction() as conn:
        tx = CommandTx(conn, SYSTEM, now, settings)
        changed = await conn.execute(
            sa.select(t.issue)
            .where(
                time_limits.running(c),
                sa.or_(
                    sa.and_(
                        time_limits.has_light(c, Light.RED, now),
                        sa.func.coalesce(c.light_notified, "") != Light.RED.value,
                    ),
                    sa.and_(
                        time_limits.has_light(c, Light.YELLOW, now), c.light_notified.is_(None)
                    ),
                ),
            )
            .order_by(c.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
        for row in changed.mappings().all():
            report.lights += await tell_light(tx, IssueRecord.from_row(row))
        unrated = await conn.execute(
            sa.select(t.issue)
            .where(
                c.state == IssueState.RESOLVED.value,
                time_limits.rating_window_closed(c, now, settings.rating_window_days),
            )
            .order_by(c.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
        for row in unrated.mappings().all():
            await close_unrated(tx, IssueRecord.from_row(row))
            report.closed += 1
        await publish(conn, tx.touched)
        await conn.commit()
    report.rollup_slices = await rollup.refresh(db)
    return report


async def tell_light(tx: UnitOfWork, issue: IssueRecord) -> bool:
    """The sweeper's step for one issue whose running clock may have changed light: tell
    the light when it is worse than the one told (an internal event and the handler's
    notice); whether it did."""
    current = sla.light_to_tell(
        sla.running_light(tx.now, issue.clock_kind, issue.warn_at, issue.due_at),
        issue.light_notified,
    )
    if current is None:
        return False
    assert issue.clock_kind is not None and issue.due_at is not None
    await tx.set_quietly(issue, light_notified=current.value)
    await tx.event(
        issue,
        "LIGHT_CHANGED",
        public=False,
        payload={
            "light": current.value,
            "clock": issue.clock_kind.value,
            "dueAt": issue.due_at.isoformat(),
        },
    )
    word = "黄灯预警" if current is Light.YELLOW else "红灯超时"
    await tx.notify_handler(
        issue,
        f"ISSUE_LIGHT_{current.value}",
        f"问题（{issue.number}）{word}，办理时限 {issue.due_at.isoformat()}",
    )
    return True


async def close_unrated(tx: UnitOfWork, issue: IssueRecord) -> None:
    """The sweeper's step for a resolved issue left unrated through the rating window: it
    is closed, and the missing rating counts as a good one."""
    to = tx.next_state(Command.CLOSE, issue)
    await tx.update(issue, state=to, closed_at=tx.now)
    await tx.event(
        issue,
        "CLOSED",
        public=True,
        to_state=to,
        message=DEFAULT_CLOSE_MESSAGE,
        payload={"defaultGood": True},
    )
