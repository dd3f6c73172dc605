"""Periodic work on the clock: lights turning yellow or red, closing unrated issues after
the rating window (an unrated issue counts as a good rating), and refreshing the
dashboard rollup's changed slices so that dashboard readers rarely have to."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from closedloop.authz.roles import Principal
from closedloop.db import tables as t
from closedloop.db import time_limits
from closedloop.db.database import Database
from closedloop.domain.clock import Clock
from closedloop.domain.issues import IssueState, Light
from closedloop.domain.sla import light
from closedloop.services.evaluation import rollup
from closedloop.services.event_bus import publish
from closedloop.services.issues.records import IssueRecord
from closedloop.services.issues.unit_of_work import SYSTEM_ACTOR, CommandTx
from closedloop.settings import Settings

SYSTEM = Principal(account_id=None, username=None, display_name=SYSTEM_ACTOR, role=None)
BATCH = 500
RANK = {None: 0, Light.GREEN.value: 0, Light.YELLOW.value: 1, Light.RED.value: 2}


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
            issue = IssueRecord.from_row(row)
            assert issue.warn_at is not None and issue.due_at is not None
            current = light(now, issue.warn_at, issue.due_at)
            if RANK[current.value] <= RANK[issue.light_notified]:
                continue
            # Not a user-visible change of the issue: no version bump, no conflicts caused.
            await conn.execute(
                t.issue.update().where(c.id == issue.id).values(light_notified=current.value)
            )
            await tx.event(
                issue,
                "LIGHT_CHANGED",
                public=False,
                payload={
                    "light": current.value,
                    "clock": issue.clock_kind.value if issue.clock_kind else None,
                    "dueAt": issue.due_at.isoformat(),
                },
            )
            word = "黄灯预警" if current is Light.YELLOW else "红灯超时"
            await tx.notify_handler(
                issue,
                f"ISSUE_LIGHT_{current.value}",
                f"问题（{issue.number}）{word}，办理时限 {issue.due_at.isoformat()}",
            )
            report.lights += 1
        window = dt.timedelta(days=settings.rating_window_days)
        unrated = await conn.execute(
            sa.select(t.issue)
            .where(c.state == IssueState.RESOLVED.value, c.resolved_at <= now - window)
            .order_by(c.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
        for row in unrated.mappings().all():
            issue = IssueRecord.from_row(row)
            await tx.update(issue, state=IssueState.CLOSED, closed_at=now)
            await tx.event(
                issue,
                "CLOSED",
                public=True,
                to_state=IssueState.CLOSED,
                message="评价期满未评价，默认好评",
                payload={"defaultGood": True},
            )
            report.closed += 1
        await publish(conn, tx.touched)
        await conn.commit()
    report.rollup_slices = await rollup.refresh(db)
    return report
