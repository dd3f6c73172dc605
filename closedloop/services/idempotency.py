"""Idempotency keys: a retried mutation with the same key returns the first result and
changes nothing; the same key with a different input is refused.

"The first result" is what the first request returned, not the object as it is now: the
row the first request answered with (an issue, a sample, an entry) is kept with the key as
JSON (``to_jsonb``, in the same transaction) and a replay reads it back as a row of the
same columns (``jsonb_to_record``), so the payload is built by the same code from the
same values, whatever has changed since.

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
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.db import tables as t


def request_hash(operation: str, payload: dict[str, Any]) -> str:
    canonical = json.dumps([operation, payload], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Replay:
    """The key was used before: with the same input (``result_id``, and ``first``: the row
    the first request answered with) or not (``reused``)."""

    result_id: int | None
    reused: bool
    first: dict[str, Any] | None = None


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
            sa.select(c.request_hash, c.issue_id, c.result).where(
                c.account_id == account_id, c.key == key
            )
        )
    ).one()
    if row.request_hash != digest:
        return Replay(None, reused=True)
    return Replay(row.issue_id, reused=False, first=row.result)


async def record_result(
    conn: AsyncConnection,
    account_id: int,
    key: str,
    result_id: int | None,
    answer: sa.Select[Any] | None = None,
) -> None:
    """Remember what the first request produced: its id, and the row it answers with
    (``answer``: a select of one row of one table, read now, inside the transaction)."""
    c = t.idempotency_key.c
    values: dict[str, Any] = {"issue_id": result_id}
    if answer is not None:
        row = answer.subquery("first")
        values["result"] = sa.select(sa.func.to_jsonb(row.table_valued())).scalar_subquery()
    await conn.execute(
        t.idempotency_key.update().where(c.account_id == account_id, c.key == key).values(**values)
    )


async def first_row(
    conn: AsyncConnection, answer: sa.Select[Any], first: dict[str, Any]
) -> dict[str, Any]:
    """The remembered row, typed again as a row of ``answer`` (the select it was read with:
    dates, enums, arrays and numbers come back as they went in)."""
    dialect = conn.dialect
    columns = ", ".join(
        f"{dialect.identifier_preparer.quote(c.name)} {c.type.compile(dialect=dialect)}"
        for c in answer.selected_columns
    )
    query = sa.text(f"SELECT * FROM jsonb_to_record(:first) AS first({columns})")
    rows = await conn.execute(
        query.bindparams(sa.bindparam("first", type_=JSONB)), {"first": first}
    )
    return dict(rows.mappings().one())
