"""Enterprise administration: register, change, and import the enterprise registry.

An enterprise is known by its unified social credit code (validated and normalised by
``closedloop.domain.credit_code``, its one home), has a name, the region where it is
registered and a contact (person and phone). An ADMIN registers and changes enterprises of
its own subtree (``enterprise.manage``); one out of scope answers like a missing one.
The registry import is idempotent on the credit code: a row already imported as it is
changes nothing, a changed row updates the enterprise, each with its audit entry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.roles import Action
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.accounts import AccountError, check_name, check_phone
from closedloop.domain.accounts import AccountErrorCode as E
from closedloop.domain.clock import Clock
from closedloop.domain.credit_code import InvalidCreditCode, normalize_credit_code
from closedloop.domain.regions import is_valid_code
from closedloop.services.accounts import audit
from closedloop.services.accounts.records import (
    ENTERPRISE_COLUMNS,
    enterprise_record,
    enterprise_snapshot,
    lock_enterprise,
    region_exists,
)
from closedloop.services.accounts.unit import (
    Actor,
    Operator,
    may,
    open_unit,
    permitted,
    remember,
    replayed,
)
from closedloop.services.issues.records import EnterpriseRecord


@dataclass(frozen=True, slots=True)
class NewEnterprise:
    credit_code: str
    name: str
    region_code: str
    contact_name: str | None = None
    contact_phone: str | None = None


@dataclass(frozen=True, slots=True)
class EnterpriseChange:
    """``None``: unchanged (an empty contact string clears it)."""

    name: str | None = None
    region_code: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None


def _answer(enterprise_id: int) -> sa.Select[tuple[object, ...]]:
    return sa.select(*ENTERPRISE_COLUMNS).where(t.enterprise.c.id == enterprise_id)


def valid_enterprise(new: NewEnterprise) -> NewEnterprise:
    """The enterprise as it will be stored (code normalised, text trimmed), or the
    ``AccountError`` of its first bad field. Pure: no look-up."""
    try:
        code = normalize_credit_code(new.credit_code or "")
    except InvalidCreditCode as exc:
        raise AccountError(E.INVALID_CREDIT_CODE, "creditCode", exc.reason) from exc
    name = check_name(new.name, "name")
    assert name is not None
    region = (new.region_code or "").strip()
    if not region:
        raise AccountError(E.REQUIRED, "regionCode")
    if not is_valid_code(region):
        raise AccountError(E.INVALID_REGION_CODE, "regionCode")
    return NewEnterprise(
        credit_code=code,
        name=name,
        region_code=region,
        contact_name=check_name(new.contact_name, "contactName", required=False),
        contact_phone=check_phone(new.contact_phone),
    )


async def _check_region(conn: AsyncConnection, actor: Actor, region: str) -> None:
    if not await region_exists(conn, region):
        raise AccountError(E.REGION_NOT_FOUND, "regionCode")
    if not may(actor, Action.ENTERPRISE_MANAGE, region):
        raise AccountError(E.REGION_OUT_OF_SCOPE, "regionCode")


async def _audit(
    conn: AsyncConnection,
    actor: Actor,
    now: dt.datetime,
    action: audit.AuditAction,
    before: EnterpriseRecord | None,
    after: EnterpriseRecord,
) -> None:
    await audit.append(
        conn,
        now=now,
        actor=actor,
        action=action,
        object_kind=audit.AuditObject.ENTERPRISE,
        object_id=after.id,
        region_code=after.region_code,
        before=enterprise_snapshot(before) if before is not None else None,
        after=enterprise_snapshot(after),
    )


async def _insert(conn: AsyncConnection, ent: NewEnterprise) -> EnterpriseRecord | None:
    """The new enterprise, or None when its credit code is registered already."""
    row = (
        (
            await conn.execute(
                pg_insert(t.enterprise)
                .values(
                    credit_code=ent.credit_code,
                    name=ent.name,
                    region_code=ent.region_code,
                    contact_name=ent.contact_name,
                    contact_phone=ent.contact_phone,
                )
                .on_conflict_do_nothing(index_elements=[t.enterprise.c.credit_code])
                .returning(*ENTERPRISE_COLUMNS)
            )
        )
        .mappings()
        .first()
    )
    return enterprise_record(row) if row else None


async def register_enterprise(
    db: Database, clock: Clock, actor: Actor, new: NewEnterprise, key: str | None = None
) -> EnterpriseRecord:
    permitted(actor, Action.ENTERPRISE_MANAGE)
    ent = valid_enterprise(new)
    now = clock.now()
    async with open_unit(db, actor) as conn:
        first = await replayed(conn, actor, key, "registerEnterprise", ent, now, _answer(0))
        if first is not None:
            return enterprise_record(first)
        await _check_region(conn, actor, ent.region_code)
        rec = await _insert(conn, ent)
        if rec is None:
            raise AccountError(E.CREDIT_CODE_TAKEN, "creditCode")
        await _audit(conn, actor, now, audit.AuditAction.ENTERPRISE_REGISTERED, None, rec)
        await remember(conn, actor, key, rec.id, _answer(rec.id))
        await conn.commit()
    return rec


async def update_enterprise(
    db: Database,
    clock: Clock,
    actor: Actor,
    enterprise_id: int,
    expected_version: int | None,
    change: EnterpriseChange,
    key: str | None = None,
) -> EnterpriseRecord:
    permitted(actor, Action.ENTERPRISE_MANAGE)
    now = clock.now()
    async with open_unit(db, actor) as conn:
        cmd = (enterprise_id, expected_version, change)
        first = await replayed(conn, actor, key, "updateEnterprise", cmd, now, _answer(0))
        if first is not None:
            return enterprise_record(first)
        before = await lock_enterprise(conn, actor, enterprise_id) if enterprise_id > 0 else None
        if before is None:
            raise AccountError(E.NOT_FOUND, "id")
        if expected_version is not None and expected_version != before.version:
            raise AccountError(E.VERSION_CONFLICT, "expectedVersion")
        merged = valid_enterprise(
            NewEnterprise(
                credit_code=before.credit_code,
                name=before.name if change.name is None else change.name,
                region_code=before.region_code
                if change.region_code is None
                else change.region_code,
                contact_name=before.contact_name
                if change.contact_name is None
                else change.contact_name,
                contact_phone=before.contact_phone
                if change.contact_phone is None
                else change.contact_phone,
            )
        )
        if merged.region_code != before.region_code:
            await _check_region(conn, actor, merged.region_code)
        after = await _apply(conn, actor, now, before, merged)
        await remember(conn, actor, key, enterprise_id, _answer(enterprise_id))
        await conn.commit()
    return after


async def _apply(
    conn: AsyncConnection,
    actor: Actor,
    now: dt.datetime,
    before: EnterpriseRecord,
    ent: NewEnterprise,
) -> EnterpriseRecord:
    """Store the changed fields (nothing when nothing changed) with their audit entry."""
    after = replace(
        before,
        name=ent.name,
        region_code=ent.region_code,
        contact_name=ent.contact_name,
        contact_phone=ent.contact_phone,
    )
    if after == before:
        return before
    after = replace(after, version=before.version + 1)
    await conn.execute(
        t.enterprise.update()
        .where(t.enterprise.c.id == before.id)
        .values(
            name=after.name,
            region_code=after.region_code,
            contact_name=after.contact_name,
            contact_phone=after.contact_phone,
            version=after.version,
        )
    )
    await _audit(conn, actor, now, audit.AuditAction.ENTERPRISE_UPDATED, before, after)
    return after


# --- the registry import ----------------------------------------------------------------


IMPORT_CHUNK = 500  # rows per transaction (and per look-up of known codes)


@dataclass(frozen=True, slots=True)
class ImportRow:
    line: int
    enterprise: NewEnterprise


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # (line, field, error): the rows left out, each with its reason.
    rejected: list[tuple[int, str | None, AccountError]] = field(default_factory=list)


async def import_enterprises(
    db: Database, clock: Clock, operator: Operator, rows: Iterable[ImportRow]
) -> ImportReport:
    """Validate every row, then store the good ones in one transaction: new codes are
    registered, known ones updated when they differ. A bad row (its line and reason in
    the report) is left out; the rest go in."""
    report = ImportReport()
    good: list[ImportRow] = []
    seen: dict[str, int] = {}
    for row in rows:
        try:
            ent = valid_enterprise(row.enterprise)
        except AccountError as exc:
            report.rejected.append((row.line, exc.field, exc))
            continue
        if ent.credit_code in seen:
            twice = AccountError(E.CREDIT_CODE_TAKEN, "creditCode", f"line {seen[ent.credit_code]}")
            report.rejected.append((row.line, twice.field, twice))
            continue
        seen[ent.credit_code] = row.line
        good.append(ImportRow(row.line, ent))
    for start in range(0, len(good), IMPORT_CHUNK):
        await _import_chunk(db, clock.now(), operator, good[start : start + IMPORT_CHUNK], report)
    report.rejected.sort(key=lambda r: r[0])
    return report


async def _import_chunk(
    db: Database, now: dt.datetime, operator: Operator, rows: list[ImportRow], report: ImportReport
) -> None:
    async with open_unit(db, operator) as conn:
        regions = await _existing_regions(conn, {r.enterprise.region_code for r in rows})
        known = await _by_credit_code(conn, [r.enterprise.credit_code for r in rows])
        for row in rows:
            ent = row.enterprise
            if ent.region_code not in regions:
                error = AccountError(E.REGION_NOT_FOUND, "regionCode", ent.region_code)
                report.rejected.append((row.line, error.field, error))
                continue
            before = known.get(ent.credit_code)
            if before is not None:
                after = await _apply(conn, operator, now, before, ent)
                if after is before:
                    report.unchanged += 1
                else:
                    report.updated += 1
                continue
            rec = await _insert(conn, ent)
            if rec is None:  # registered meanwhile by someone else: run the import again
                error = AccountError(E.CREDIT_CODE_TAKEN, "creditCode")
                report.rejected.append((row.line, error.field, error))
                continue
            await _audit(conn, operator, now, audit.AuditAction.ENTERPRISE_REGISTERED, None, rec)
            report.created += 1
        await conn.commit()


async def _existing_regions(conn: AsyncConnection, codes: set[str]) -> set[str]:
    if not codes:
        return set()
    rows = await conn.execute(sa.select(t.region.c.code).where(t.region.c.code.in_(codes)))
    return set(rows.scalars())


async def _by_credit_code(
    conn: AsyncConnection, codes: Sequence[str]
) -> dict[str, EnterpriseRecord]:
    if not codes:
        return {}
    rows = await conn.execute(
        sa.select(*ENTERPRISE_COLUMNS)
        .where(t.enterprise.c.credit_code.in_(list(codes)))
        .with_for_update()
    )
    return {r["credit_code"]: enterprise_record(r) for r in rows.mappings()}
