"""Channel systems' client credentials (table ``channel_client``, migrations 0017 and 0021):
which channel a service account is bound to, and the hash of its secret."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.db import driver
from closedloop.db import tables as t


@dataclass(frozen=True, slots=True)
class ChannelClient:
    account_id: int
    channel: str
    client_id: str
    secret_hash: str
    # The fingerprint of that secret a token carries (``closedloop_principal``, migration
    # 0021), read in the same statement; None while the account is inactive.
    credentials: str | None = None


async def channel_of(conn: AsyncConnection, account_id: int) -> str | None:
    """The channel a service account is bound to (the caller's own row: row-level security
    shows an account nothing else)."""
    found = await conn.execute(
        sa.select(t.channel_client.c.channel).where(t.channel_client.c.account_id == account_id)
    )
    return found.scalar_one_or_none()


_CLIENT = sa.text(
    "SELECT c.account_id, c.channel, c.client_id, c.secret_hash, p.credentials"
    " FROM channel_client c LEFT JOIN closedloop_principal(c.client_id) p ON p.role = 'CHANNEL'"
    " WHERE c.client_id = :client_id"
)


async def client_by_id(conn: AsyncConnection, client_id: str) -> ChannelClient | None:
    """A client by its id (read as the system: no caller exists yet), with the fingerprint
    of the secret hash read beside it (one statement: the two always belong together)."""
    row = (await conn.execute(_CLIENT, {"client_id": client_id})).first()
    if row is None:
        return None
    return ChannelClient(
        row.account_id, row.channel, row.client_id, row.secret_hash, row.credentials
    )


async def client_of_account(conn: AsyncConnection, account_id: int) -> tuple[str, str] | None:
    """(client id, channel) of a channel account the caller reads (row-level security: its
    own, or an account it reads); None otherwise."""
    c = t.channel_client.c
    found = (
        await conn.execute(sa.select(c.client_id, c.channel).where(c.account_id == account_id))
    ).first()
    return (found.client_id, found.channel) if found else None


async def channels_of(
    conn: AsyncConnection | driver.Reader, account_ids: Sequence[int]
) -> dict[int, str]:
    """The channel of each channel account among ``account_ids`` the caller reads."""
    c = t.channel_client.c
    rows = await driver.rows(
        conn, sa.select(c.account_id, c.channel).where(driver.any_of(c.account_id, account_ids))
    )
    return {r["account_id"]: r["channel"] for r in rows}


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
    conn: AsyncConnection, account_id: int, secret_hash: str, now: dt.datetime
) -> bool:
    """Replaces a client's secret hash (the old secret, and every token issued under it,
    stop working at once)."""
    result = await conn.execute(
        t.channel_client.update()
        .where(t.channel_client.c.account_id == account_id)
        .values(secret_hash=secret_hash, secret_set_at=now)
    )
    return bool(result.rowcount)
