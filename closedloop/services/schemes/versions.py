"""Scheme versions: upload a draft (validated by ``check_document``, the one check behind
``validateScoringScheme`` too), activate it from a period (the province admin: policy
``scheme.activate``), list and read them in scope (``scheme.read``). Every change is
appended to the audit log in its own transaction. The table is the system role's: the
policy is checked here and the rows are read and written as the system (migration 0023).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.enforcer import allowed_targets, can_on_region
from closedloop.authz.roles import Action, Principal
from closedloop.db.database import Database
from closedloop.db.scheme_tables import scoring_scheme_version
from closedloop.domain.accounts import AccountError
from closedloop.domain.clock import Clock
from closedloop.domain.periods import InvalidPeriod, parse_period
from closedloop.domain.schemes import (
    InvalidScheme,
    Scheme,
    SchemeErrorCode,
    SchemeVersionError,
    VersionState,
    check_document,
    check_effective_from,
    check_version_label,
)
from closedloop.services.accounts import audit
from closedloop.services.accounts.paging import paged
from closedloop.services.accounts.unit import remember, replayed
from closedloop.tenancy.scope import region_scope

E = SchemeErrorCode
c = scoring_scheme_version.c


@dataclass(frozen=True, slots=True)
class SchemeVersionRecord:
    id: int
    scheme_key: str
    version_label: str
    document: str  # JSON text, as validated
    region_code: str
    state: str
    effective_from: dt.date | None
    effective_period: str | None
    uploaded_by_name: str
    uploaded_at: dt.datetime
    activated_by_name: str | None
    activated_at: dt.datetime | None
    version: int

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> SchemeVersionRecord:
        return cls(**{name: row[name] for name in cls.__slots__})

    def snapshot(self) -> dict[str, Any]:
        """What the audit log keeps (the document is the row's, by id)."""
        return {
            "scheme_key": self.scheme_key,
            "version_label": self.version_label,
            "state": self.state,
            "effective_period": self.effective_period,
        }


@dataclass(frozen=True, slots=True)
class UploadScheme:
    document: Any  # decoded JSON, as the API received it
    version_label: str


@dataclass(frozen=True, slots=True)
class SchemeVersionFilter:
    scheme_key: str | None = None
    state: VersionState | None = None


COLUMNS = (
    *(c[name] for name in SchemeVersionRecord.__slots__ if name != "document"),
    sa.cast(c.document, sa.Text).label("document"),
)


def _answer(version_id: int) -> sa.Select[Any]:
    return sa.select(*COLUMNS).where(c.id == version_id)


def _province(p: Principal) -> str:
    """The province whose schemes the caller works on (a region code's first two digits)."""
    return (p.region_code or "")[:2]


def _may_at_all(p: Principal, action: Action) -> None:
    if p.role is None or p.account_id is None or not allowed_targets(p.role, action):
        raise SchemeVersionError(E.PERMISSION_DENIED)


def version_scope(p: Principal) -> sa.ColumnElement[bool]:
    return region_scope(p, Action.SCHEME_READ, c.region_code)


def decoded(document: str) -> Any:
    """A stored document's JSON as the API hands it back."""
    return json.loads(document)


def validate(document: Any) -> Scheme:
    """The scheme of a document, or ``SchemeVersionError`` listing every problem."""
    try:
        return check_document(json.dumps(document, ensure_ascii=False), origin="document")
    except (InvalidScheme, TypeError, ValueError, RecursionError) as exc:
        problems = exc.problems if isinstance(exc, InvalidScheme) else ()
        raise SchemeVersionError(E.INVALID_SCHEME, "document", problems) from exc


async def _replayed(
    conn: AsyncConnection,
    p: Principal,
    key: str | None,
    operation: str,
    cmd: object,
    now: dt.datetime,
    answer: sa.Select[Any],
) -> Mapping[str, Any] | None:
    try:
        return await replayed(conn, p, key, operation, cmd, now, answer)
    except AccountError as exc:  # the idempotency key was used for another request
        raise SchemeVersionError(E.IDEMPOTENCY_KEY_REUSED, "idempotencyKey") from exc


async def upload(
    db: Database, clock: Clock, p: Principal, cmd: UploadScheme, key: str | None = None
) -> SchemeVersionRecord:
    """Store a valid document as a draft of its scheme (``scheme.upload`` at the province)."""
    _may_at_all(p, Action.SCHEME_UPLOAD)
    province = _province(p)
    if not can_on_region(p, Action.SCHEME_UPLOAD, province):
        raise SchemeVersionError(E.PERMISSION_DENIED)
    label = check_version_label(cmd.version_label)
    scheme = validate(cmd.document)
    now = clock.now()
    async with db.system_transaction() as conn:
        first = await _replayed(conn, p, key, "uploadScoringScheme", cmd, now, _answer(0))
        if first is not None:
            return SchemeVersionRecord.from_row(first)
        taken = await conn.execute(
            sa.select(c.id).where(c.scheme_key == scheme.key, c.version_label == label)
        )
        if taken.first() is not None:
            raise SchemeVersionError(E.VERSION_LABEL_TAKEN, "versionLabel")
        version_id = (
            await conn.execute(
                scoring_scheme_version.insert()
                .values(
                    scheme_key=scheme.key,
                    version_label=label,
                    document=cmd.document,
                    region_code=province,
                    uploaded_by_name=p.username or p.display_name,
                    uploaded_at=now,
                )
                .returning(c.id)
            )
        ).scalar_one()
        rec = SchemeVersionRecord.from_row(
            (await conn.execute(_answer(version_id))).mappings().one()
        )
        await audit.append(
            conn,
            now=now,
            actor=p,
            action=audit.AuditAction.SCHEME_UPLOADED,
            object_kind=audit.AuditObject.SCORING_SCHEME,
            object_id=version_id,
            region_code=province,
            after=rec.snapshot(),
        )
        await remember(conn, p, key, version_id, _answer(version_id))
        await conn.commit()
    return rec


async def activate(
    db: Database,
    clock: Clock,
    p: Principal,
    version_id: int,
    effective_from: str,
    expected_version: int | None = None,
    key: str | None = None,
) -> SchemeVersionRecord:
    """Put a draft in force from a period that has not ended (``scheme.activate`` on the
    version's province: its admin alone). A version of the same scheme already in force
    from that very period is superseded. The row's trigger announces the change to every
    API process (migration 0023)."""
    _may_at_all(p, Action.SCHEME_ACTIVATE)
    try:
        period = parse_period(effective_from)
    except InvalidPeriod as exc:
        raise SchemeVersionError(E.INVALID_PERIOD, "effectiveFrom") from exc
    now = clock.now()
    check_effective_from(period, now)
    async with db.system_transaction() as conn:
        first = await _replayed(
            conn, p, key, "activateScoringScheme", (version_id, period.label), now, _answer(0)
        )
        if first is not None:
            return SchemeVersionRecord.from_row(first)
        found = (
            (
                await conn.execute(
                    _answer(version_id)
                    .where(version_scope(p))
                    .with_for_update(of=scoring_scheme_version)
                )
            )
            .mappings()
            .first()
        )
        if found is None:  # missing or out of the caller's scope: the same answer
            raise SchemeVersionError(E.NOT_FOUND, "id")
        before = SchemeVersionRecord.from_row(found)
        if not can_on_region(p, Action.SCHEME_ACTIVATE, before.region_code):
            raise SchemeVersionError(E.PERMISSION_DENIED)
        if expected_version not in (None, before.version):
            raise SchemeVersionError(E.VERSION_CONFLICT, "expectedVersion")
        if before.state != VersionState.DRAFT:
            raise SchemeVersionError(E.NOT_A_DRAFT, "id")
        replaced = (
            (
                await conn.execute(
                    sa.select(*COLUMNS)
                    .where(
                        c.scheme_key == before.scheme_key,
                        c.state == VersionState.ACTIVE.value,
                        c.effective_from == period.start,
                    )
                    .with_for_update(of=scoring_scheme_version)
                )
            )
            .mappings()
            .first()
        )
        if replaced is not None:
            old = SchemeVersionRecord.from_row(replaced)
            await conn.execute(
                scoring_scheme_version.update()
                .where(c.id == old.id)
                .values(state=VersionState.SUPERSEDED.value, version=old.version + 1)
            )
            await _audit(
                conn, now, p, audit.AuditAction.SCHEME_SUPERSEDED, old, await _read(conn, old.id)
            )
        await conn.execute(
            scoring_scheme_version.update()
            .where(c.id == version_id)
            .values(
                state=VersionState.ACTIVE.value,
                effective_from=period.start,
                effective_period=period.label,
                activated_by_name=p.username or p.display_name,
                activated_at=now,
                version=before.version + 1,
            )
        )
        after = await _read(conn, version_id)
        await _audit(conn, now, p, audit.AuditAction.SCHEME_ACTIVATED, before, after)
        await remember(conn, p, key, version_id, _answer(version_id))
        await conn.commit()
    return after


async def _read(conn: AsyncConnection, version_id: int) -> SchemeVersionRecord:
    return SchemeVersionRecord.from_row((await conn.execute(_answer(version_id))).mappings().one())


async def _audit(
    conn: AsyncConnection,
    now: dt.datetime,
    p: Principal,
    action: audit.AuditAction,
    before: SchemeVersionRecord,
    after: SchemeVersionRecord,
) -> None:
    await audit.append(
        conn,
        now=now,
        actor=p,
        action=action,
        object_kind=audit.AuditObject.SCORING_SCHEME,
        object_id=after.id,
        region_code=after.region_code,
        before=before.snapshot(),
        after=after.snapshot(),
    )


async def list_versions(
    db: Database, p: Principal, f: SchemeVersionFilter, limit: int, before_id: int | None
) -> tuple[list[SchemeVersionRecord], int]:
    """Newest first, in the caller's scope (``scheme.read``), with the filter's total."""
    where = [version_scope(p)]
    if f.scheme_key is not None:
        where.append(c.scheme_key == f.scheme_key)
    if f.state is not None:
        where.append(c.state == f.state.value)
    async with db.system_transaction() as conn:
        return await paged(
            conn,
            scoring_scheme_version,
            where,
            limit,
            before_id,
            SchemeVersionRecord.from_row,
            columns=COLUMNS,
        )


async def versions_by_id(
    db: Database, p: Principal, ids: Sequence[int]
) -> dict[int, SchemeVersionRecord]:
    async with db.system_transaction() as conn:
        rows = await conn.execute(sa.select(*COLUMNS).where(c.id.in_(ids), version_scope(p)))
        return {r["id"]: SchemeVersionRecord.from_row(r) for r in rows.mappings()}
