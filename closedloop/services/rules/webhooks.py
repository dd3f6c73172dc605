"""Webhook endpoints: where the notifications of a region's subtree are posted (URL, the
HMAC secret shared with the receiver, the event kinds wanted, or all of them). An ADMIN
manages the endpoints of its own subtree; one outside it answers like a missing one.
The secret is write-only: it is never read back through the API (``secretHint`` shows
its last 4 characters). The relay (``closedloop.services.outbox_relay``) posts each
notification to the active endpoints whose region contains the issue's origin region and
that want its kind, besides the province-wide ones of ``CLOSEDLOOP_WEBHOOK_URLS``."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.roles import Action, Principal
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.clock import Clock
from closedloop.domain.rules import RuleError, rule_failure
from closedloop.domain.rules import RuleErrorCode as E
from closedloop.services.accounts import audit
from closedloop.services.accounts.unit import Actor, Operator, permitted, remember, replayed
from closedloop.services.rules.regions import check_region
from closedloop.tenancy.scope import region_scope

SECRET_MIN = 16
SECRET_MAX = 200
URL_MAX = 2000
KIND = re.compile(r"[A-Z][A-Z0-9_]{1,63}")
KINDS_MAX = 50


@dataclass(frozen=True, slots=True)
class WebhookRecord:
    id: int
    region_code: str
    url: str
    secret: str
    event_kinds: tuple[str, ...]
    active: bool
    version: int
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> WebhookRecord:
        values = {name: row[name] for name in cls.__slots__}
        values["event_kinds"] = tuple(values["event_kinds"] or ())
        return cls(**values)

    def snapshot(self) -> dict[str, Any]:
        """What the audit log keeps: never the secret, only whether it changed."""
        return {
            "region_code": self.region_code,
            "url": _redacted(self.url),
            "event_kinds": list(self.event_kinds),
            "active": self.active,
            "secret_hint": secret_hint(self.secret),
        }

    def wants(self, kind: str, region_code: str | None) -> bool:
        if not self.active:
            return False
        if region_code is None or not region_code.startswith(self.region_code):
            return False
        return not self.event_kinds or kind in self.event_kinds


def secret_hint(secret: str) -> str:
    return "…" + secret[-4:]


def _redacted(url: str) -> str:
    """Scheme, host and path: a query string may carry a token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


@dataclass(frozen=True, slots=True)
class WebhookInput:
    region_code: str | None = None
    url: str | None = None
    secret: str | None = None
    event_kinds: tuple[str, ...] | None = None
    active: bool | None = None


COLUMNS = tuple(t.webhook_endpoint.c[name] for name in WebhookRecord.__slots__)


def _answer(endpoint_id: int) -> sa.Select[tuple[object, ...]]:
    return sa.select(*COLUMNS).where(t.webhook_endpoint.c.id == endpoint_id)


def _remembered(endpoint_id: int) -> sa.Select[tuple[object, ...]]:
    """The answer kept with an idempotency key: the secret's last 4 characters only."""
    c = t.webhook_endpoint.c
    columns = [
        sa.func.right(c.secret, 4, type_=sa.Text).label("secret") if col.name == "secret" else col
        for col in COLUMNS
    ]
    return sa.select(*columns).where(c.id == endpoint_id)


def _check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if len(url) > URL_MAX or parts.scheme not in ("https", "http") or not parts.hostname:
        raise RuleError(E.INVALID_URL, "url")
    return url


def _check_secret(secret: str) -> str:
    if not SECRET_MIN <= len(secret) <= SECRET_MAX:
        raise RuleError(E.INVALID_SECRET, "secret", f"{SECRET_MIN}–{SECRET_MAX}")
    return secret


def _check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    if len(kinds) > KINDS_MAX:
        raise RuleError(E.INVALID_EVENT_KIND, "eventKinds", f"≤ {KINDS_MAX}")
    for kind in kinds:
        if KIND.fullmatch(kind) is None:
            raise RuleError(E.INVALID_EVENT_KIND, "eventKinds", kind[:64])
    return tuple(sorted(set(kinds)))


def endpoint_scope(actor: Actor) -> sa.ColumnElement[bool]:
    if isinstance(actor, Operator):
        return sa.true()
    return region_scope(actor, Action.RULES_MANAGE, t.webhook_endpoint.c.region_code)


async def list_endpoints(db: Database, p: Principal) -> list[WebhookRecord]:
    """The endpoints the caller manages (none for anyone else)."""
    async with db.system_transaction() as conn:
        rows = await conn.execute(
            sa.select(*COLUMNS).where(endpoint_scope(p)).order_by(t.webhook_endpoint.c.id)
        )
        return [WebhookRecord.from_row(r) for r in rows.mappings()]


async def active_endpoints(conn: AsyncConnection) -> list[WebhookRecord]:
    """Every active endpoint (the relay's view, as the system)."""
    rows = await conn.execute(
        sa.select(*COLUMNS).where(t.webhook_endpoint.c.active).order_by(t.webhook_endpoint.c.id)
    )
    return [WebhookRecord.from_row(r) for r in rows.mappings()]


async def _audit(
    conn: AsyncConnection,
    now: dt.datetime,
    actor: Actor,
    action: audit.AuditAction,
    before: WebhookRecord | None,
    after: WebhookRecord,
) -> None:
    await audit.append(
        conn,
        now=now,
        actor=actor,
        action=action,
        object_kind=audit.AuditObject.WEBHOOK_ENDPOINT,
        object_id=after.id,
        region_code=after.region_code,
        before=before.snapshot() if before else None,
        after=after.snapshot(),
    )


async def add_endpoint(
    db: Database, clock: Clock, actor: Actor, new: WebhookInput, key: str | None = None
) -> WebhookRecord:
    permitted(actor, Action.RULES_MANAGE, rule_failure)
    if new.region_code is None or new.url is None or new.secret is None:
        field = "regionCode" if new.region_code is None else "url" if new.url is None else "secret"
        raise RuleError(E.REQUIRED, field)
    url = _check_url(new.url)
    secret = _check_secret(new.secret)
    kinds = _check_kinds(new.event_kinds or ())
    now = clock.now()
    async with db.system_transaction() as conn:
        first = await replayed(
            conn, actor, key, "addWebhookEndpoint", new, now, _remembered(0), rule_failure
        )
        if first is not None:
            return WebhookRecord.from_row(first)
        await check_region(conn, actor, new.region_code)
        endpoint_id = (
            await conn.execute(
                t.webhook_endpoint.insert()
                .values(
                    region_code=new.region_code,
                    url=url,
                    secret=secret,
                    event_kinds=list(kinds),
                    active=True if new.active is None else new.active,
                    created_at=now,
                )
                .returning(t.webhook_endpoint.c.id)
            )
        ).scalar_one()
        rec = WebhookRecord.from_row((await conn.execute(_answer(endpoint_id))).mappings().one())
        await _audit(conn, now, actor, audit.AuditAction.WEBHOOK_ADDED, None, rec)
        await remember(conn, actor, key, endpoint_id, _remembered(endpoint_id))
        await conn.commit()
    return rec


async def update_endpoint(
    db: Database,
    clock: Clock,
    actor: Actor,
    endpoint_id: int,
    expected_version: int | None,
    change: WebhookInput,
    key: str | None = None,
) -> WebhookRecord:
    """Change an endpoint (``active: false`` switches it off; it stays on record)."""
    permitted(actor, Action.RULES_MANAGE, rule_failure)
    now = clock.now()
    async with db.system_transaction() as conn:
        cmd = (endpoint_id, expected_version, change)
        first = await replayed(
            conn, actor, key, "updateWebhookEndpoint", cmd, now, _remembered(0), rule_failure
        )
        if first is not None:
            return WebhookRecord.from_row(first)
        found = (
            (
                await conn.execute(
                    _answer(endpoint_id).where(endpoint_scope(actor)).with_for_update()
                )
            )
            .mappings()
            .first()
        )
        if found is None:
            raise RuleError(E.NOT_FOUND, "id")
        before = WebhookRecord.from_row(found)
        if expected_version not in (None, before.version):
            raise RuleError(E.VERSION_CONFLICT, "expectedVersion")
        values: dict[str, Any] = {}
        if change.url is not None:
            values["url"] = _check_url(change.url)
        if change.secret is not None:
            values["secret"] = _check_secret(change.secret)
        if change.event_kinds is not None:
            values["event_kinds"] = list(_check_kinds(change.event_kinds))
        if change.active is not None:
            values["active"] = change.active
        if change.region_code is not None and change.region_code != before.region_code:
            await check_region(conn, actor, change.region_code)
            values["region_code"] = change.region_code
        if not values:
            return before
        await conn.execute(
            t.webhook_endpoint.update()
            .where(t.webhook_endpoint.c.id == endpoint_id)
            .values(version=before.version + 1, **values)
        )
        after = WebhookRecord.from_row((await conn.execute(_answer(endpoint_id))).mappings().one())
        await _audit(conn, now, actor, audit.AuditAction.WEBHOOK_CHANGED, before, after)
        await remember(conn, actor, key, endpoint_id, _remembered(endpoint_id))
        await conn.commit()
    return after


async def endpoint_by_id(db: Database, p: Principal, endpoint_id: int) -> WebhookRecord | None:
    """One endpoint the caller manages; None for one out of scope, as for a missing one."""
    async with db.system_transaction() as conn:
        row = (await conn.execute(_answer(endpoint_id).where(endpoint_scope(p)))).mappings().first()
    return WebhookRecord.from_row(row) if row else None
