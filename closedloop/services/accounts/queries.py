"""Reading accounts and enterprises in the caller's scope: the two administration lists
(newest first, with their totals) and look-ups by id for ``node``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.roles import Action, Principal, Role
from closedloop.db import driver
from closedloop.db import tables as t
from closedloop.services.accounts.paging import paged
from closedloop.services.accounts.records import (
    AccountRecord,
    account_scope,
    enterprise_record,
    enterprise_scope,
)
from closedloop.services.accounts.unit import Actor
from closedloop.services.issues.records import EnterpriseRecord
from closedloop.tenancy.scope import in_subtree


@dataclass(frozen=True, slots=True)
class AccountFilter:
    role: Role | None = None
    channel: str | None = None  # channel accounts bound to this channel
    region_within: str | None = None
    enterprise_id: int | None = None
    active: bool | None = None
    username_prefix: str | None = None


@dataclass(frozen=True, slots=True)
class EnterpriseFilter:
    region_within: str | None = None
    credit_code: str | None = None
    name_contains: str | None = None


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_accounts(
    conn: AsyncConnection | driver.Reader,
    p: Actor,
    f: AccountFilter,
    limit: int,
    before_id: int | None,
) -> tuple[list[AccountRecord], int]:
    c = t.account.c
    where = [account_scope(p, Action.ACCOUNT_READ)]
    if f.role is not None:
        where.append(c.role == f.role.value)
    if f.region_within is not None:
        # Enterprise users have no region of their own: their enterprise's counts.
        of_enterprises = sa.select(t.enterprise.c.id).where(
            in_subtree(t.enterprise.c.region_code, f.region_within)
        )
        where.append(
            sa.or_(in_subtree(c.region_code, f.region_within), c.enterprise_id.in_(of_enterprises))
        )
    if f.channel is not None:
        bound = sa.select(t.channel_client.c.account_id).where(
            t.channel_client.c.channel == f.channel
        )
        where.append(c.id.in_(bound))
    if f.enterprise_id is not None:
        where.append(c.enterprise_id == f.enterprise_id)
    if f.active is not None:
        where.append(c.active.is_(f.active))
    if f.username_prefix:
        where.append(c.username.like(_escaped(f.username_prefix) + "%", escape="\\"))
    return await paged(conn, t.account, where, limit, before_id, AccountRecord.from_row)


async def list_enterprises(
    conn: AsyncConnection | driver.Reader,
    p: Principal,
    f: EnterpriseFilter,
    limit: int,
    before_id: int | None,
) -> tuple[list[EnterpriseRecord], int]:
    c = t.enterprise.c
    where = [enterprise_scope(p, Action.ENTERPRISE_READ)]
    if f.region_within is not None:
        where.append(in_subtree(c.region_code, f.region_within))
    if f.credit_code is not None:
        where.append(c.credit_code == f.credit_code)
    if f.name_contains:
        where.append(c.name.like("%" + _escaped(f.name_contains) + "%", escape="\\"))
    return await paged(conn, t.enterprise, where, limit, before_id, enterprise_record)


async def accounts_by_id(
    conn: AsyncConnection | driver.Reader, p: Principal, ids: Sequence[int]
) -> dict[int, AccountRecord]:
    found = await driver.rows(
        conn,
        sa.select(t.account).where(
            driver.any_of(t.account.c.id, ids), account_scope(p, Action.ACCOUNT_READ)
        ),
    )
    return {r["id"]: AccountRecord.from_row(r) for r in found}
