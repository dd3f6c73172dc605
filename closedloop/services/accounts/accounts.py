"""Account administration: create, change, deactivate (one unit of work each).

Scope: an ADMIN manages the accounts of its own subtree (``account.manage`` on how the
account's region relates to its own; an enterprise user's region is its enterprise's) and
grants roles only at regions of that subtree: it can never place an account, itself
included, above its own scope. An account outside the scope answers exactly like a
missing one. The last active province ADMIN of a province can be neither deactivated nor
demoted. Every change appends its audit entry (before -> after) in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.roles import Action, Role
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.accounts import (
    AccountError,
    Binding,
    check_binding,
    check_name,
    check_username,
    is_province_admin,
)
from closedloop.domain.accounts import AccountErrorCode as E
from closedloop.domain.clock import Clock
from closedloop.domain.regions import is_valid_code, level_of
from closedloop.services.accounts import audit
from closedloop.services.accounts.records import (
    ACCOUNT_COLUMNS,
    AccountRecord,
    account_scope,
    enterprise_scope,
    lock_account,
    region_exists,
    unit_region,
)
from closedloop.services.accounts.unit import (
    Actor,
    may,
    open_unit,
    permitted,
    remember,
    replayed,
)


@dataclass(frozen=True, slots=True)
class AccountBinding:
    """(role, region[, board or department]) of a staff account, (enterprise) of an
    enterprise user. Ids are decoded; -1 names nothing (a malformed global id)."""

    role: Role
    region_code: str | None = None
    board_id: int | None = None
    department_id: int | None = None
    enterprise_id: int | None = None


@dataclass(frozen=True, slots=True)
class NewAccount:
    username: str
    display_name: str
    binding: AccountBinding


@dataclass(frozen=True, slots=True)
class AccountChange:
    """What an update changes; ``None``: unchanged. A new ``binding`` replaces the whole
    binding (a new region needs its board or department again)."""

    display_name: str | None = None
    binding: AccountBinding | None = None
    active: bool | None = None


def answer(account_id: int) -> sa.Select[tuple[object, ...]]:
    """The account row an idempotent replay answers with."""
    return sa.select(*ACCOUNT_COLUMNS).where(t.account.c.id == account_id)


async def _check_binding(
    conn: AsyncConnection, actor: Actor, b: AccountBinding, *, channel: bool = False
) -> None:
    """The binding is well formed, everything it names exists, and the actor may grant
    it: every check before any write. A CHANNEL account only with its credentials
    (``channel``: ``closedloop.services.channels.clients``)."""
    if (b.role is Role.CHANNEL) != channel:
        raise AccountError(E.CHANNEL_ACCOUNT_RESERVED, "role")
    level = None
    if b.region_code is not None:
        if not is_valid_code(b.region_code):
            raise AccountError(E.INVALID_REGION_CODE, "regionCode")
        level = level_of(b.region_code)
    check_binding(
        Binding(
            role=b.role.value,
            region_level=level,
            board=b.board_id is not None,
            department=b.department_id is not None,
            enterprise=b.enterprise_id is not None,
        )
    )
    if b.enterprise_id is not None:
        # Only an enterprise the actor administers (out of scope answers like missing).
        found = await conn.execute(
            sa.select(t.enterprise.c.id).where(
                t.enterprise.c.id == b.enterprise_id,
                enterprise_scope(actor, Action.ENTERPRISE_MANAGE),
            )
        )
        if found.first() is None:
            raise AccountError(E.ENTERPRISE_NOT_FOUND, "enterpriseId")
        return
    assert b.region_code is not None  # check_binding: a staff account has a region
    if not await region_exists(conn, b.region_code):
        raise AccountError(E.REGION_NOT_FOUND, "regionCode")
    if not may(actor, Action.ACCOUNT_MANAGE, b.region_code):
        code = E.ABOVE_OWN_SCOPE if b.role is Role.ADMIN else E.REGION_OUT_OF_SCOPE
        raise AccountError(code, "regionCode")
    for unit_id, table, field, missing in (
        (b.board_id, t.board, "boardId", E.BOARD_NOT_FOUND),
        (b.department_id, t.department, "departmentId", E.DEPARTMENT_NOT_FOUND),
    ):
        if unit_id is None:
            continue
        region = await unit_region(conn, table, unit_id) if unit_id > 0 else None
        if region is None:
            raise AccountError(missing, field)
        if region != b.region_code:
            raise AccountError(E.UNIT_OF_ANOTHER_REGION, field)


async def _keep_a_province_admin(
    conn: AsyncConnection, before: AccountRecord, after: AccountRecord
) -> None:
    """The last active ADMIN of a province stays one."""
    if not is_province_admin(before.role, before.region_code, before.active):
        return
    if is_province_admin(after.role, after.region_code, after.active):
        return
    c = t.account.c
    # Serialise concurrent demotions of a province's admins: each waits for the other.
    await conn.execute(
        sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"province-admins|{before.region_code}"},
    )
    others = await conn.execute(
        sa.select(sa.func.count()).where(
            c.role == Role.ADMIN.value,
            c.region_code == before.region_code,
            c.active,
            c.id != before.id,
        )
    )
    if not others.scalar_one():
        raise AccountError(E.LAST_PROVINCE_ADMIN, "active" if not after.active else "role")


async def create_account(
    db: Database, clock: Clock, actor: Actor, cmd: NewAccount, key: str | None = None
) -> AccountRecord:
    async with open_unit(db, actor) as conn:
        rec = await add_account(conn, clock.now(), actor, cmd, key)
        await conn.commit()
    return rec


async def add_account(
    conn: AsyncConnection,
    now: dt.datetime,
    actor: Actor,
    cmd: NewAccount,
    key: str | None = None,
    *,
    channel: str | None = None,
) -> AccountRecord:
    """``create_account`` inside the caller's unit of work (which commits). ``channel``: a
    channel system's account, whose use case writes its credentials in the same unit
    (``closedloop.services.channels.clients``); its audit entry names the channel."""
    permitted(actor, Action.ACCOUNT_MANAGE)
    username = check_username(cmd.username.strip())
    display_name = check_name(cmd.display_name, "displayName")
    assert display_name is not None
    first = await replayed(conn, actor, key, "createAccount", cmd, now, answer(0))
    if first is not None:
        return AccountRecord.from_row(first)
    b = cmd.binding
    await _check_binding(conn, actor, b, channel=channel is not None)
    new_id = (
        await conn.execute(
            pg_insert(t.account)
            .values(
                username=username,
                display_name=display_name,
                role=b.role.value,
                region_code=b.region_code,
                board_id=b.board_id,
                department_id=b.department_id,
                enterprise_id=b.enterprise_id,
            )
            .on_conflict_do_nothing(index_elements=[t.account.c.username])
            .returning(t.account.c.id)
        )
    ).scalar_one_or_none()
    if new_id is None:
        raise AccountError(E.USERNAME_TAKEN, "username")
    rec = AccountRecord.from_row((await conn.execute(answer(new_id))).mappings().one())
    await audit.append(
        conn,
        now=now,
        actor=actor,
        action=audit.AuditAction.ACCOUNT_CREATED,
        object_kind=audit.AuditObject.ACCOUNT,
        object_id=new_id,
        region_code=await _region_of(conn, rec),
        after=rec.snapshot() | ({"channel": channel} if channel is not None else {}),
    )
    await remember(conn, actor, key, new_id, answer(new_id))
    return rec


async def _region_of(conn: AsyncConnection, rec: AccountRecord) -> str:
    """The region an account belongs to: its own, or its enterprise's."""
    if rec.region_code is not None:
        return rec.region_code
    region: str = (
        await conn.execute(
            sa.select(t.enterprise.c.region_code).where(t.enterprise.c.id == rec.enterprise_id)
        )
    ).scalar_one()
    return region


async def update_account(
    db: Database,
    clock: Clock,
    actor: Actor,
    account_id: int,
    expected_version: int | None,
    change: AccountChange,
    key: str | None = None,
    *,
    operation: str = "updateAccount",
) -> AccountRecord:
    permitted(actor, Action.ACCOUNT_MANAGE)
    display_name = check_name(change.display_name, "displayName", required=False)
    now = clock.now()
    async with open_unit(db, actor) as conn:
        cmd = (account_id, expected_version, change)
        first = await replayed(conn, actor, key, operation, cmd, now, answer(0))
        if first is not None:
            return AccountRecord.from_row(first)
        before = await lock_account(conn, actor, account_id) if account_id > 0 else None
        if before is None:
            raise AccountError(E.NOT_FOUND, "id")
        if expected_version is not None and expected_version != before.version:
            raise AccountError(E.VERSION_CONFLICT, "expectedVersion")
        if change.active is False and not before.active:
            raise AccountError(E.ALREADY_INACTIVE, "id")
        after = before
        if display_name is not None:
            after = replace(after, display_name=display_name)
        if change.active is not None:
            after = replace(after, active=change.active)
        if change.binding is not None:
            b = change.binding
            if before.role == Role.CHANNEL.value:  # bound to its channel and region for good
                raise AccountError(E.CHANNEL_ACCOUNT_RESERVED, "binding")
            await _check_binding(conn, actor, b)
            after = replace(
                after,
                role=b.role.value,
                region_code=b.region_code,
                board_id=b.board_id,
                department_id=b.department_id,
                enterprise_id=b.enterprise_id,
            )
        if after == before:  # nothing to change: no new version, nothing audited
            return before
        await _keep_a_province_admin(conn, before, after)
        await conn.execute(
            t.account.update()
            .where(t.account.c.id == account_id)
            .values(
                display_name=after.display_name,
                role=after.role,
                region_code=after.region_code,
                board_id=after.board_id,
                department_id=after.department_id,
                enterprise_id=after.enterprise_id,
                active=after.active,
                version=before.version + 1,
            )
        )
        after = replace(after, version=before.version + 1)
        deactivated = before.active and not after.active
        await audit.append(
            conn,
            now=now,
            actor=actor,
            action=(
                audit.AuditAction.ACCOUNT_DEACTIVATED
                if deactivated
                else audit.AuditAction.ACCOUNT_UPDATED
            ),
            object_kind=audit.AuditObject.ACCOUNT,
            object_id=account_id,
            region_code=await _region_of(conn, after),
            before=before.snapshot(),
            after=after.snapshot(),
        )
        await remember(conn, actor, key, account_id, answer(account_id))
        await conn.commit()
    return after


async def bump_version(conn: AsyncConnection, before: AccountRecord) -> AccountRecord:
    """A new version of a locked account whose own row is unchanged (its credentials
    changed): ``expectedVersion`` sees it, and the account's NOTIFY makes every process
    forget what it remembered of it."""
    await conn.execute(
        t.account.update().where(t.account.c.id == before.id).values(version=before.version + 1)
    )
    return replace(before, version=before.version + 1)


async def deactivate_account(
    db: Database,
    clock: Clock,
    actor: Actor,
    account_id: int,
    expected_version: int | None,
    key: str | None = None,
) -> AccountRecord:
    """Takes effect at once: the account trigger's NOTIFY (migration 0011) makes every API
    process forget it, so its next request, even with a still-valid token, is refused."""
    return await update_account(
        db,
        clock,
        actor,
        account_id,
        expected_version,
        AccountChange(active=False),
        key,
        operation="deactivateAccount",
    )


async def account_id_by_username(conn: AsyncConnection, actor: Actor, username: str) -> int:
    """The id of an account the actor manages, by username (the command line's handle);
    NOT_FOUND otherwise."""
    found = await conn.execute(
        sa.select(t.account.c.id).where(
            t.account.c.username == username, account_scope(actor, Action.ACCOUNT_MANAGE)
        )
    )
    value: int | None = found.scalar_one_or_none()
    if value is None:
        raise AccountError(E.NOT_FOUND, "username")
    return value


async def binding_by_keys(
    conn: AsyncConnection,
    role: Role,
    region_code: str | None,
    *,
    board: str | None = None,
    department: str | None = None,
    credit_code: str | None = None,
) -> AccountBinding:
    """A binding named the command line's way (board and department keys of the region, an
    enterprise's credit code) with its ids looked up; what names nothing stays -1 and is
    reported by the checks of ``create_account``."""
    ids: dict[str, int | None] = {}
    for name, table, unit_key in (
        ("board_id", t.board, board),
        ("department_id", t.department, department),
    ):
        ids[name] = None
        if unit_key is not None:
            found = await conn.execute(
                sa.select(table.c.id).where(
                    table.c.region_code == region_code, table.c.key == unit_key.upper()
                )
            )
            ids[name] = found.scalar_one_or_none() or -1
    enterprise_id = None
    if credit_code is not None:
        found = await conn.execute(
            sa.select(t.enterprise.c.id).where(
                t.enterprise.c.credit_code == credit_code.strip().upper()
            )
        )
        enterprise_id = found.scalar_one_or_none() or -1
    return AccountBinding(
        role=role,
        region_code=region_code,
        board_id=ids["board_id"],
        department_id=ids["department_id"],
        enterprise_id=enterprise_id,
    )
