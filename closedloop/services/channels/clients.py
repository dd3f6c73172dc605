"""Channel systems' service accounts and their OAuth 2.0 client credentials.

An ADMIN creates one per channel system and region, in its own subtree, like any account
(``createChannelAccount``; the command line ``closedloop channels create`` as an operator,
through the same use case): an account of role CHANNEL named by its client id, bound to the
channel, and a random secret shown once; only its scrypt hash is kept
(``closedloop.identity.client_secrets``). ``rotateChannelSecret`` replaces the secret; the
old one, and every token issued under it, stop working at once. Both are audited. The
system exchanges id and secret for a short-lived access token at ``POST /oauth/token``
(RFC 6749 §4.4, ``grant_type=client_credentials``) and calls the GraphQL API with it."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.roles import Action, Role
from closedloop.db.database import Database
from closedloop.domain.accounts import AccountError
from closedloop.domain.accounts import AccountErrorCode as E
from closedloop.domain.clock import Clock
from closedloop.domain.issues import Channel
from closedloop.identity import channel_clients
from closedloop.identity.client_secrets import (
    decoy_hash,
    hash_secret,
    new_secret,
    verify_secret,
)
from closedloop.identity.tokens import mint_channel_token
from closedloop.services.accounts import audit
from closedloop.services.accounts.accounts import (
    AccountBinding,
    NewAccount,
    add_account,
    answer,
    bump_version,
)
from closedloop.services.accounts.records import AccountRecord, lock_account
from closedloop.services.accounts.unit import Actor, open_unit, permitted, remember, replayed
from closedloop.settings import Settings

CLIENT_ID_MAX = 128


class InvalidClient(Exception):
    """Client authentication failed (RFC 6749 ``invalid_client``): unknown id, wrong
    secret, or an account that is no longer active. Which one is never said."""


@dataclass(frozen=True, slots=True)
class NewChannelAccount:
    channel: str  # a key of the channel catalog (``Channel``)
    region_code: str
    display_name: str


@dataclass(frozen=True, slots=True)
class ChannelCredentials:
    """A channel account with its client id and, once, its secret: ``None`` when an
    idempotent replay answers (the secret is never shown again: rotate it)."""

    account: AccountRecord
    client_id: str
    channel: str
    client_secret: str | None


def _channel(key: str) -> Channel:
    try:
        return Channel(key.strip().upper())
    except ValueError:
        raise AccountError(E.UNKNOWN_CHANNEL, "channel", key) from None


async def create_channel_account(
    db: Database, clock: Clock, actor: Actor, cmd: NewChannelAccount, key: str | None = None
) -> ChannelCredentials:
    """The account through the administration service (its checks and scope, its audit
    entry naming the channel) and its credentials in one unit of work: never an account
    no secret can sign in."""
    permitted(actor, Action.ACCOUNT_MANAGE)
    bound = _channel(cmd.channel)
    region = cmd.region_code.strip()
    client_id = f"{bound.value.lower().replace('_', '-')}-{region}-{secrets.token_hex(4)}"
    secret = new_secret()
    hashed = await asyncio.to_thread(hash_secret, secret)
    now = clock.now()
    async with open_unit(db, actor) as conn:
        first = await replayed(conn, actor, key, "createChannelAccount", cmd, now, answer(0))
        if first is not None:
            return await _replayed(conn, AccountRecord.from_row(first))
        account = await add_account(
            conn,
            now,
            actor,
            NewAccount(client_id, cmd.display_name, AccountBinding(Role.CHANNEL, region)),
            channel=bound.value,
        )
        await channel_clients.add_client(
            conn,
            account_id=account.id,
            channel=bound.value,
            client_id=client_id,
            secret_hash=hashed,
            now=now,
        )
        await remember(conn, actor, key, account.id, answer(account.id))
        await conn.commit()
    return ChannelCredentials(account, client_id, bound.value, secret)


async def rotate_secret(
    db: Database,
    clock: Clock,
    actor: Actor,
    account_id: int,
    expected_version: int | None,
    key: str | None = None,
) -> ChannelCredentials:
    """A new secret for a channel account the actor manages (out of scope answers like
    missing). The account's version moves on: its row's NOTIFY makes every process forget
    it, and a token issued under the old secret no longer signs it in (``crd`` claim)."""
    permitted(actor, Action.ACCOUNT_MANAGE)
    secret = new_secret()
    hashed = await asyncio.to_thread(hash_secret, secret)
    now = clock.now()
    async with open_unit(db, actor) as conn:
        cmd = ("rotate", account_id, expected_version)
        first = await replayed(conn, actor, key, "rotateChannelSecret", cmd, now, answer(0))
        if first is not None:
            return await _replayed(conn, AccountRecord.from_row(first))
        before = await lock_account(conn, actor, account_id) if account_id > 0 else None
        if before is None:
            raise AccountError(E.NOT_FOUND, "accountId")
        if expected_version is not None and expected_version != before.version:
            raise AccountError(E.VERSION_CONFLICT, "expectedVersion")
        client = await channel_clients.client_of_account(conn, account_id)
        if before.role != Role.CHANNEL.value or client is None:
            raise AccountError(E.NOT_A_CHANNEL_ACCOUNT, "accountId")
        await channel_clients.set_secret(conn, account_id, hashed, now)
        after = await bump_version(conn, before)
        assert before.region_code is not None  # a channel account sits at a region
        await audit.append(
            conn,
            now=now,
            actor=actor,
            action=audit.AuditAction.CHANNEL_SECRET_ROTATED,
            object_kind=audit.AuditObject.ACCOUNT,
            object_id=account_id,
            region_code=before.region_code,
            # Never the secret nor its hash: when, and which version it made.
            before={"version": before.version},
            after={"version": after.version, "secretSetAt": now.isoformat()},
        )
        await remember(conn, actor, key, account_id, answer(account_id))
        await conn.commit()
    return ChannelCredentials(after, client[0], client[1], secret)


async def _replayed(conn: AsyncConnection, account: AccountRecord) -> ChannelCredentials:
    """The answer of a replay: the account and its client, never the secret again."""
    client = await channel_clients.client_of_account(conn, account.id)
    client_id, channel = client if client is not None else (account.username, "")
    return ChannelCredentials(account, client_id, channel, None)


async def issue_token(
    db: Database, settings: Settings, client_id: str, client_secret: str
) -> tuple[str, int]:
    """An access token and its lifetime (seconds) for valid client credentials."""
    client = None
    if 0 < len(client_id) <= CLIENT_ID_MAX and client_id.isprintable():
        async with db.system_transaction() as conn:
            client = await channel_clients.client_by_id(conn, client_id)
    stored = client.secret_hash if client is not None else decoy_hash()
    matches = await asyncio.to_thread(verify_secret, client_secret, stored)
    if client is None or not matches:
        raise InvalidClient
    if client.credentials is None:
        raise InvalidClient  # deactivated
    # Issued under the secret just checked (its fingerprint was read with its hash): a
    # rotation since makes the token worthless at its first use.
    return mint_channel_token(settings, client.client_id, client.client_id, client.credentials)
