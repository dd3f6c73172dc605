"""Who administers (an API principal, or an operator: the command line, the identity
provider's provisioning) and the unit of work each of them runs in."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.enforcer import allowed_targets, can_on_region
from closedloop.authz.roles import Action, Principal
from closedloop.db.database import Database
from closedloop.domain.accounts import AccountError, AccountErrorCode
from closedloop.services import idempotency


@dataclass(frozen=True, slots=True)
class Operator:
    """The system acting for someone with access to the servers (``closedloop accounts``,
    ``closedloop enterprises import``) or for the identity provider (provisioning at first
    sign-in): the whole tree, as the system role. ``name`` is what the audit log records."""

    name: str


Actor = Principal | Operator
# How a use case reports a failure of the unit of work by code name (PERMISSION_DENIED,
# IDEMPOTENCY_KEY_REUSED): as its own error type (accounts: ``AccountError``).
Failure = Callable[[str, str | None], Exception]


def account_failure(code: str, field: str | None) -> Exception:
    return AccountError(AccountErrorCode(code), field)


def actor_name(actor: Actor) -> str:
    if isinstance(actor, Operator):
        return actor.name
    return actor.username or actor.display_name


def actor_id(actor: Actor) -> int | None:
    return None if isinstance(actor, Operator) else actor.account_id


def may(actor: Actor, action: Action, region_code: str) -> bool:
    """The policy (Casbin rows) on how ``region_code`` relates to the actor's region; an
    operator may do everything."""
    if isinstance(actor, Operator):
        return True
    return can_on_region(actor, action, region_code)


def permitted(actor: Actor, action: Action, fail: Failure = account_failure) -> None:
    """The actor's role may do ``action`` somewhere, else PERMISSION_DENIED (before any
    look-up: a role that administers nothing learns nothing)."""
    if isinstance(actor, Operator):
        return
    if actor.role is None or actor.account_id is None or not allowed_targets(actor.role, action):
        raise fail(AccountErrorCode.PERMISSION_DENIED.value, None)


@asynccontextmanager
async def open_unit(db: Database, actor: Actor) -> AsyncIterator[AsyncConnection]:
    """One transaction: in the principal's scope, or as the system for an operator.
    Commit explicitly; anything not committed is rolled back."""
    if isinstance(actor, Operator):
        async with db.system_transaction() as conn:
            yield conn
    else:
        async with db.transaction(actor) as conn:
            yield conn


async def replayed(
    conn: AsyncConnection,
    actor: Actor,
    key: str | None,
    operation: str,
    cmd: object,
    now: dt.datetime,
    answer: sa.Select[Any],
    fail: Failure = account_failure,
) -> Mapping[str, Any] | None:
    """On a retry with the same key: the row the first request answered with (read with
    ``answer``'s columns); None to go ahead. Only signed-in accounts hold keys."""
    if key is None or isinstance(actor, Operator) or actor.account_id is None:
        return None
    payload = {"cmd": repr(cmd)}
    replay = await idempotency.claim(conn, actor.account_id, key, operation, payload, now)
    if replay is None:
        return None
    if replay.reused or replay.first is None:
        raise fail(AccountErrorCode.IDEMPOTENCY_KEY_REUSED.value, "idempotencyKey")
    return await idempotency.first_row(conn, answer, replay.first)


async def remember(
    conn: AsyncConnection, actor: Actor, key: str | None, result_id: int, answer: sa.Select[Any]
) -> None:
    """Keep the answer row with the key, in the change's transaction."""
    if key is None or isinstance(actor, Operator) or actor.account_id is None:
        return
    await idempotency.record_result(conn, actor.account_id, key, result_id, answer)
