"""Which time limit applies (the most specific rule by region prefix, then category), and
starting an issue's clock on it; the clock's rule itself is ``closedloop.domain.sla``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.db import tables as t
from closedloop.domain import sla
from closedloop.domain.issues import ClockKind
from closedloop.domain.sla import TimeLimit
from closedloop.services.issues.records import IssueRecord
from closedloop.services.issues.unit_of_work import CommandTx

DEFAULT = (2, 15, False)


@dataclass(frozen=True, slots=True)
class Limits:
    assign: TimeLimit
    reply: TimeLimit

    def of(self, kind: ClockKind) -> TimeLimit:
        return self.assign if kind is ClockKind.ASSIGN else self.reply


async def limits_for(conn: AsyncConnection, region_code: str, category: str | None) -> Limits:
    r = t.time_limit_rule.c
    q = (
        sa.select(r.assign_days, r.reply_days, r.working_days)
        .where(
            sa.or_(r.region_code.is_(None), sa.func.starts_with(region_code, r.region_code)),
            sa.or_(r.category.is_(None), r.category == category),
        )
        .order_by(
            sa.func.length(sa.func.coalesce(r.region_code, "")).desc(),
            r.category.is_(None).asc(),
        )
        .limit(1)
    )
    row = (await conn.execute(q)).first()
    assign, reply, working = (row.assign_days, row.reply_days, row.working_days) if row else DEFAULT
    return Limits(TimeLimit(assign, working), TimeLimit(reply, working))


async def start_clock(
    tx: CommandTx, issue: IssueRecord, kind: ClockKind, category: str | None = None
) -> dict[str, Any]:
    """The clock columns of ``issue`` once a clock of ``kind`` starts now, on the limit its
    holding region's rules give for ``category`` (default: the issue's own)."""
    limits = await limits_for(tx.conn, issue.holding_region_code, category or issue.category)
    return sla.started(kind, sla.window(tx.now, limits.of(kind)))
