"""Idempotency keys: a retried mutation with the same key returns the first result and
changes nothing; the same key with a different input is refused.

The key is claimed inside the mutation's own transaction (INSERT … ON CONFLICT DO NOTHING),
so a concurrent twin waits for the first to commit, and a failed first attempt releases
the key with its rollback.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.db import tables as t


def request_hash(operation: str, payload: dict[str, Any]) -> str:
    canonical = json.dumps([operation, payload], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Replay:
    """The key was used before: with the same input (``result_id``) or not (``reused``)."""

    result_id: int | None
    reused: bool


async def claim(
    conn: AsyncConnection,
    account_id: int,
    key: str,
    operation: str,
    payload: dict[str, Any],
    now: dt.datetime,
) -> Replay | None:
    """``None`` when this request now owns the key; a ``Replay`` when it was used before."""
    digest = request_hash(operation, payload)
    c = t.idempotency_key.c
    claimed = await conn.execute(
        pg_insert(t.idempotency_key)
        .values(
            account_id=account_id, key=key, operation=operation, request_hash=digest, created_at=now
        )
        .on_conflict_do_nothing()
        .returning(c.key)
    )
    if claimed.first() is not None:
        return None
    row = (
        await conn.execute(
            sa.select(c.request_hash, c.issue_id).where(c.account_id == account_id, c.key == key)
        )
    ).one()
    if row.request_hash != digest:
        return Replay(None, reused=True)
    return Replay(row.issue_id, reused=False)


async def record_result(
    conn: AsyncConnection, account_id: int, key: str, result_id: int | None
) -> None:
    """Remember what the first request produced (an issue, a sample, an entry: its id)."""
    c = t.idempotency_key.c
    await conn.execute(
        t.idempotency_key.update()
        .where(c.account_id == account_id, c.key == key)
        .values(issue_id=result_id)
    )
