"""Channel systems' client credentials (table ``channel_client``, migration 0014): which
channel a service account is bound to, and the hash of its secret."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.db import tables as t


@dataclass(frozen=True, slots=True)
class ChannelClient:
    account_id: int
    channel: str
    client_id: str
    secret_hash: str


async def channel_of(conn: AsyncConnection, account_id: int) -> str | None:
    """The channel a service account is bound to (the caller's own row: row-level security
    shows an account nothing else)."""
    found = await conn.execute(
        sa.select(t.channel_client.c.channel).where(t.channel_client.c.account_id == account_id)
    )
    return found.scalar_one_or_none()


async def client_by_id(conn: AsyncConnection, client_id: str) -> ChannelClient | None:
    """A client by its id (read as the system: no caller exists yet)."""
    c = t.channel_client.c
    row = (
        await conn.execute(
            sa.select(c.account_id, c.channel, c.client_id, c.secret_hash).where(
                c.client_id == client_id
            )
        )
    ).first()
    return (
        ChannelClient(row.account_id, row.channel, row.client_id, row.secret_hash) if row else None
    )


async def add_client(
    conn: AsyncConnection,
    *,
    account_id: int,
    channel: str,
    client_id: str,
    secret_hash: str,
    now: dt.datetime,
) -> None:
    await conn.execute(
        t.channel_client.insert().values(
            account_id=account_id,
            channel=channel,
            client_id=client_id,
            secret_hash=secret_hash,
            created_at=now,
            secret_set_at=now,
        )
    )


async def set_secret(
    conn: AsyncConnection, client_id: str, secret_hash: str, now: dt.datetime
) -> bool:
    """Replaces a client's secret hash (the old secret stops working at once)."""
    result = await conn.execute(
        t.channel_client.update()
        .where(t.channel_client.c.client_id == client_id)
        .values(secret_hash=secret_hash, secret_set_at=now)
    )
    return bool(result.rowcount)
