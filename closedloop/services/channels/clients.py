"""Channel systems' service accounts and their OAuth 2.0 client credentials.

An operator creates one per channel system and region (``closedloop channels create``): an
account of role CHANNEL named by its client id, bound to the channel, and a random secret
shown once; only its scrypt hash is kept (``closedloop.identity.client_secrets``). The
system exchanges id and secret for a short-lived access token at ``POST /oauth/token``
(RFC 6749 §4.4, ``grant_type=client_credentials``) and calls the GraphQL API with it."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from closedloop import i18n
from closedloop.authz.roles import Role
from closedloop.db.database import Database
from closedloop.domain.accounts import AccountError
from closedloop.domain.clock import Clock
from closedloop.domain.issues import Channel
from closedloop.domain.regions import is_valid_code
from closedloop.identity import channel_clients
from closedloop.identity.accounts import principal_for
from closedloop.identity.client_secrets import (
    decoy_hash,
    hash_secret,
    new_secret,
    verify_secret,
)
from closedloop.identity.tokens import mint_channel_token
from closedloop.services.accounts.accounts import AccountBinding, NewAccount, add_account
from closedloop.services.accounts.unit import Operator
from closedloop.settings import Settings

CLIENT_ID_MAX = 128
OPERATOR = Operator("closedloop channels")


class ChannelClientError(ValueError):
    """An operator's request that cannot be done (unknown channel, region or client)."""


class InvalidClient(Exception):
    """Client authentication failed (RFC 6749 ``invalid_client``): unknown id, wrong
    secret, or an account that is no longer active. Which one is never said."""


@dataclass(frozen=True, slots=True)
class NewCredentials:
    client_id: str
    client_secret: str  # shown once; only its hash is stored
    account_id: int


async def create_channel_account(
    db: Database, clock: Clock, *, channel: str, region_code: str, display_name: str
) -> NewCredentials:
    try:
        bound = Channel(channel.strip().upper())
    except ValueError:
        keys = ", ".join(c.value for c in Channel)
        raise ChannelClientError(f"unknown channel {channel} (one of {keys})") from None
    if not is_valid_code(region_code):
        raise ChannelClientError(f"malformed region code {region_code}")
    name = display_name.strip()
    if not name:
        raise ChannelClientError("a display name is required")
    secret = new_secret()
    hashed = await asyncio.to_thread(hash_secret, secret)
    client_id = f"{bound.value.lower().replace('_', '-')}-{region_code}-{secrets.token_hex(4)}"
    # The account through the administration service (its checks, its audit entry) and
    # its credentials in one unit of work: never an account no secret can sign in.
    async with db.system_transaction() as conn:
        try:
            account = await add_account(
                conn,
                clock.now(),
                OPERATOR,
                NewAccount(client_id, name, AccountBinding(Role.CHANNEL, region_code=region_code)),
            )
        except AccountError as exc:
            raise ChannelClientError(exc.message(i18n.EN)) from None
        await channel_clients.add_client(
            conn,
            account_id=account.id,
            channel=bound.value,
            client_id=client_id,
            secret_hash=hashed,
            now=clock.now(),
        )
        await conn.commit()
    return NewCredentials(client_id, secret, account.id)


async def rotate_secret(db: Database, clock: Clock, client_id: str) -> str:
    """A new secret for a client; the old one stops working at once (tokens already issued
    live out their few minutes)."""
    secret = new_secret()
    hashed = await asyncio.to_thread(hash_secret, secret)
    async with db.system_transaction() as conn:
        if not await channel_clients.set_secret(conn, client_id, hashed, clock.now()):
            raise ChannelClientError(f"unknown client {client_id}")
        await conn.commit()
    return secret


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
    async with db.read_reference() as conn:
        principal = await principal_for(conn, client.client_id)
    if principal is None or principal.role is not Role.CHANNEL:
        raise InvalidClient  # deactivated
    return mint_channel_token(settings, client.client_id, client.client_id)
