"""Pages of the administration lists (accounts, enterprises, the audit log): newest first
by id, ``limit`` rows below the cursor's id, with the total of the whole filter riding on
each row (one statement; an empty page asks for the total on its own). Read through the
request's reader (``closedloop.schema.loaders.RequestReader``) or any transaction."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.db import driver

R = TypeVar("R")


async def paged(
    conn: AsyncConnection | driver.Reader,
    table: sa.Table,
    where: Sequence[sa.ColumnElement[bool]],
    limit: int,
    before_id: int | None,
    make: Callable[[Mapping[Any, Any]], R],
    columns: Sequence[sa.ColumnElement[Any]] | None = None,
) -> tuple[list[R], int]:
    """``columns``: what each row carries (the whole table's row unless said)."""
    key = table.c.id
    counted = sa.select(sa.func.count().label("n")).select_from(table).where(*where)
    shown: Sequence[Any] = [table] if columns is None else columns
    page = sa.select(*shown, counted.scalar_subquery().label("total")).where(*where)
    if before_id is not None:
        page = page.where(key < before_id)
    rows = await driver.rows(conn, page.order_by(key.desc()).limit(limit))
    if rows:
        return [make(r) for r in rows], int(rows[0]["total"])
    (row,) = await driver.rows(conn, counted)
    return [], int(row["n"])
