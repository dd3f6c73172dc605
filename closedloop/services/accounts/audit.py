"""The audit log: every administrative change, appended in the transaction of the change
(who, when, what, before -> after), and read in scope (``audit.read``: an ADMIN or a
PROVINCE_MONITOR, for changes in its subtree). Neither database role may update or
delete an entry (migration 0014)."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop import i18n
from closedloop.authz.roles import Action, Principal
from closedloop.db import driver
from closedloop.db import tables as t
from closedloop.services.accounts.paging import paged
from closedloop.services.accounts.unit import Actor, actor_id, actor_name
from closedloop.tenancy.scope import in_subtree, region_scope


class AuditAction(enum.StrEnum):
    ACCOUNT_CREATED = "ACCOUNT_CREATED"
    ACCOUNT_UPDATED = "ACCOUNT_UPDATED"
    ACCOUNT_DEACTIVATED = "ACCOUNT_DEACTIVATED"
    ACCOUNT_PROVISIONED = "ACCOUNT_PROVISIONED"
    PROVISIONED_SIGN_IN = "PROVISIONED_SIGN_IN"
    ENTERPRISE_REGISTERED = "ENTERPRISE_REGISTERED"
    ENTERPRISE_UPDATED = "ENTERPRISE_UPDATED"
    TIME_LIMIT_RULE_SET = "TIME_LIMIT_RULE_SET"
    TIME_LIMIT_RULE_REMOVED = "TIME_LIMIT_RULE_REMOVED"
    WEBHOOK_ADDED = "WEBHOOK_ADDED"
    WEBHOOK_CHANGED = "WEBHOOK_CHANGED"
    CHANNEL_SECRET_ROTATED = "CHANNEL_SECRET_ROTATED"
    SCHEME_UPLOADED = "SCHEME_UPLOADED"
    SCHEME_ACTIVATED = "SCHEME_ACTIVATED"
    SCHEME_SUPERSEDED = "SCHEME_SUPERSEDED"


class AuditObject(enum.StrEnum):
    ACCOUNT = "ACCOUNT"
    ENTERPRISE = "ENTERPRISE"
    TIME_LIMIT_RULE = "TIME_LIMIT_RULE"
    WEBHOOK_ENDPOINT = "WEBHOOK_ENDPOINT"
    SCORING_SCHEME = "SCORING_SCHEME"


i18n.register(
    "AuditAction",
    {
        "ACCOUNT_CREATED": ("创建账号", "Account created"),
        "ACCOUNT_UPDATED": ("修改账号", "Account changed"),
        "ACCOUNT_DEACTIVATED": ("停用账号", "Account deactivated"),
        "ACCOUNT_PROVISIONED": ("首次登录自动开通账号", "Account provisioned at first sign-in"),
        "PROVISIONED_SIGN_IN": (
            "自动开通账号的登录",
            "Sign-in of a newly provisioned account",
        ),
        "ENTERPRISE_REGISTERED": ("登记企业", "Enterprise registered"),
        "ENTERPRISE_UPDATED": ("修改企业信息", "Enterprise changed"),
        "TIME_LIMIT_RULE_SET": ("设置时限规则", "Time-limit rule set"),
        "TIME_LIMIT_RULE_REMOVED": ("删除时限规则", "Time-limit rule removed"),
        "WEBHOOK_ADDED": ("新增推送地址", "Webhook endpoint added"),
        "WEBHOOK_CHANGED": ("修改推送地址", "Webhook endpoint changed"),
        "CHANNEL_SECRET_ROTATED": ("更换渠道密钥", "Channel secret rotated"),
        "SCHEME_UPLOADED": ("上传评价方案版本", "Scoring scheme version uploaded"),
        "SCHEME_ACTIVATED": ("启用评价方案版本", "Scoring scheme version activated"),
        "SCHEME_SUPERSEDED": ("评价方案版本被替代", "Scoring scheme version superseded"),
    },
)
i18n.register(
    "AuditObject",
    {
        "ACCOUNT": ("账号", "Account"),
        "ENTERPRISE": ("企业", "Enterprise"),
        "TIME_LIMIT_RULE": ("时限规则", "Time-limit rule"),
        "WEBHOOK_ENDPOINT": ("推送地址", "Webhook endpoint"),
        "SCORING_SCHEME": ("评价方案版本", "Scoring scheme version"),
    },
)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    occurred_at: dt.datetime
    actor_id: int | None
    actor_name: str
    action: str
    object_kind: str
    object_id: int | None
    region_code: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> AuditRecord:
        values = {name: row[name] for name in cls.__slots__}
        # On the driver's direct path (the request's reader) jsonb arrives as its text.
        for name in ("before", "after"):
            if isinstance(values[name], str):
                values[name] = orjson.loads(values[name])
        return cls(**values)


async def append(
    conn: AsyncConnection,
    *,
    now: dt.datetime,
    actor: Actor,
    action: AuditAction,
    object_kind: AuditObject,
    object_id: int | None,
    region_code: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Append one entry in the caller's transaction (it commits or rolls back with the
    change it records). ``region_code``: the region whose subtree the change belongs to
    (an account's or an enterprise's region); who reads the entry follows from it."""
    await conn.execute(
        t.audit_log.insert().values(
            occurred_at=now,
            actor_id=actor_id(actor),
            actor_name=actor_name(actor),
            action=action.value,
            object_kind=object_kind.value,
            object_id=object_id,
            region_code=region_code,
            before=dict(before) if before is not None else None,
            after=dict(after) if after is not None else None,
        )
    )


@dataclass(frozen=True, slots=True)
class AuditFilter:
    action: AuditAction | None = None
    object_kind: AuditObject | None = None
    object_id: int | None = None
    actor_id: int | None = None
    region_within: str | None = None


def audit_scope(p: Principal) -> sa.ColumnElement[bool]:
    return region_scope(p, Action.AUDIT_READ, t.audit_log.c.region_code)


async def entries_by_id(
    conn: AsyncConnection | driver.Reader, p: Principal, ids: Sequence[int]
) -> dict[int, AuditRecord]:
    found = await driver.rows(
        conn, sa.select(t.audit_log).where(driver.any_of(t.audit_log.c.id, ids), audit_scope(p))
    )
    return {r["id"]: AuditRecord.from_row(r) for r in found}


async def list_entries(
    conn: AsyncConnection | driver.Reader,
    p: Principal,
    f: AuditFilter,
    limit: int,
    before_id: int | None,
) -> tuple[list[AuditRecord], int]:
    """Newest first: ``limit`` entries older than ``before_id``, and the filter's total."""
    c = t.audit_log.c
    where = [audit_scope(p)]
    if f.action is not None:
        where.append(c.action == f.action.value)
    if f.object_kind is not None:
        where.append(c.object_kind == f.object_kind.value)
    if f.object_id is not None:
        where.append(c.object_id == f.object_id)
    if f.actor_id is not None:
        where.append(c.actor_id == f.actor_id)
    if f.region_within is not None:
        where.append(in_subtree(c.region_code, f.region_within))
    return await paged(conn, t.audit_log, where, limit, before_id, AuditRecord.from_row)
