"""Pages of the administration lists (accounts, enterprises, the audit log): newest first
by id, ``limit`` rows below the cursor's id, with the total of the whole filter riding on
each row (one statement; an empty page asks for the total on its own)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

R = TypeVar("R")


async def paged(
    conn: AsyncConnection,
    table: sa.Table,
    where: Sequence[sa.ColumnElement[bool]],
    limit: int,
    before_id: int | None,
    make: Callable[[Mapping[Any, Any]], R],
) -> tuple[list[R], int]:
    key = table.c.id
    counted = sa.select(sa.func.count()).select_from(table).where(*where)
    page = sa.select(table, counted.scalar_subquery().label("total")).where(*where)
    if before_id is not None:
        page = page.where(key < before_id)
    rows = (await conn.execute(page.order_by(key.desc()).limit(limit))).mappings().all()
    if rows:
        return [make(r) for r in rows], int(rows[0]["total"])
    return [], int((await conn.execute(counted)).scalar_one())
