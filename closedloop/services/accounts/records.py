"""Account rows, the scope predicates of accounts and enterprises, and the look-ups the
administration needs (regions, units, enterprises in scope)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.enforcer import allowed_targets
from closedloop.authz.roles import Action, Target
from closedloop.db import tables as t
from closedloop.services.accounts.unit import Actor, Operator
from closedloop.services.issues.records import EnterpriseRecord
from closedloop.tenancy.scope import region_scope


@dataclass(frozen=True, slots=True)
class AccountRecord:
    id: int
    username: str
    display_name: str
    role: str
    region_code: str | None
    board_id: int | None
    department_id: int | None
    enterprise_id: int | None
    active: bool
    version: int

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> AccountRecord:
        return cls(**{name: row[name] for name in cls.__slots__})

    def snapshot(self) -> dict[str, Any]:
        """What the audit log keeps of it (before and after a change)."""
        return {k: v for k, v in asdict(self).items() if k not in ("id", "version")}


ACCOUNT_COLUMNS = tuple(t.account.c[name] for name in AccountRecord.__slots__)
ENTERPRISE_COLUMNS = tuple(t.enterprise.c[name] for name in EnterpriseRecord.__slots__)


def enterprise_record(row: Mapping[Any, Any]) -> EnterpriseRecord:
    return EnterpriseRecord(**{name: row[name] for name in EnterpriseRecord.__slots__})


def enterprise_snapshot(rec: EnterpriseRecord) -> dict[str, Any]:
    return {k: v for k, v in asdict(rec).items() if k not in ("id", "version")}


def enterprise_scope(actor: Actor, action: Action) -> sa.ColumnElement[bool]:
    """Enterprises the actor may ``action`` (read: also an enterprise user's own)."""
    if isinstance(actor, Operator):
        return sa.true()
    c = t.enterprise.c
    clause = region_scope(actor, action, c.region_code)
    if (
        actor.role is not None
        and actor.enterprise_id is not None
        and Target.OWN in allowed_targets(actor.role, action)
    ):
        clause = sa.or_(clause, c.id == actor.enterprise_id)
    return clause


def account_scope(actor: Actor, action: Action) -> sa.ColumnElement[bool]:
    """Accounts the actor may ``action``: staff by their region, enterprise users by their
    enterprise's region."""
    if isinstance(actor, Operator):
        return sa.true()
    c = t.account.c
    by_enterprise = sa.select(t.enterprise.c.id).where(
        region_scope(actor, action, t.enterprise.c.region_code)
    )
    return sa.or_(
        region_scope(actor, action, c.region_code),
        sa.and_(c.enterprise_id.is_not(None), c.enterprise_id.in_(by_enterprise)),
    )


async def lock_account(
    conn: AsyncConnection, actor: Actor, account_id: int
) -> AccountRecord | None:
    """The account if the actor may manage it, locked; else None (out of scope answers like
    missing)."""
    row = (
        (
            await conn.execute(
                sa.select(*ACCOUNT_COLUMNS)
                .where(t.account.c.id == account_id, account_scope(actor, Action.ACCOUNT_MANAGE))
                .with_for_update(of=t.account)
            )
        )
        .mappings()
        .first()
    )
    return AccountRecord.from_row(row) if row else None


async def lock_enterprise(
    conn: AsyncConnection, actor: Actor, enterprise_id: int
) -> EnterpriseRecord | None:
    row = (
        (
            await conn.execute(
                sa.select(*ENTERPRISE_COLUMNS)
                .where(
                    t.enterprise.c.id == enterprise_id,
                    enterprise_scope(actor, Action.ENTERPRISE_MANAGE),
                )
                .with_for_update(of=t.enterprise)
            )
        )
        .mappings()
        .first()
    )
    return enterprise_record(row) if row else None


async def region_exists(conn: AsyncConnection, code: str) -> bool:
    found = await conn.execute(sa.select(t.region.c.code).where(t.region.c.code == code))
    return found.first() is not None


async def unit_region(conn: AsyncConnection, table: sa.Table, unit_id: int) -> str | None:
    """The region of a board or department (reference data), None when there is none."""
    found = await conn.execute(sa.select(table.c.region_code).where(table.c.id == unit_id))
    region: str | None = found.scalar_one_or_none()
    return region
