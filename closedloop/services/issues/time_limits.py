"""Which time limit applies: the most specific rule by region prefix, then category."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.db import tables as t
from closedloop.domain.sla import TimeLimit

DEFAULT = (2, 15, False)


@dataclass(frozen=True, slots=True)
class Limits:
    assign: TimeLimit
    reply: TimeLimit


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
