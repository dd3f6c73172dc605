"""Time-limit rules (per region subtree and category; calendar or working days): list,
set, remove. Which rule applies to an issue is ``closedloop.services.issues.time_limits``
(the longest region prefix, then the category); the clock is ``closedloop.domain.sla``.
A rule changes the clocks that start after it, not the running ones."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.roles import Action
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.clock import Clock
from closedloop.domain.issues import Category
from closedloop.domain.rules import RuleError, rule_failure
from closedloop.domain.rules import RuleErrorCode as E
from closedloop.domain.sla import InvalidTimeLimit, check_limit_days
from closedloop.services.accounts import audit
from closedloop.services.accounts.unit import (
    Actor,
    may,
    permitted,
    remember,
    replayed,
)
from closedloop.services.rules.regions import check_region
from closedloop.tenancy.scope import in_subtree


@dataclass(frozen=True, slots=True)
class TimeLimitRuleRecord:
    id: int
    region_code: str | None
    category: str | None
    assign_days: int
    reply_days: int
    working_days: bool
    version: int

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> TimeLimitRuleRecord:
        return cls(**{name: row[name] for name in cls.__slots__})

    def snapshot(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("id", "version")}


@dataclass(frozen=True, slots=True)
class SetTimeLimitRule:
    region_code: str
    category: Category | None
    assign_days: int
    reply_days: int
    working_days: bool


COLUMNS = tuple(t.time_limit_rule.c[name] for name in TimeLimitRuleRecord.__slots__)


def _answer(rule_id: int) -> sa.Select[tuple[object, ...]]:
    return sa.select(*COLUMNS).where(t.time_limit_rule.c.id == rule_id)


async def list_rules(conn: AsyncConnection, region_within: str | None) -> list[TimeLimitRuleRecord]:
    """The published rules (reference data: every signed-in caller reads them), the
    province-wide default first; ``region_within``: the rules of that subtree and the ones
    above it that apply there."""
    r = t.time_limit_rule.c
    q = sa.select(*COLUMNS)
    if region_within is not None:
        q = q.where(
            sa.or_(
                r.region_code.is_(None),
                in_subtree(r.region_code, region_within),
                sa.func.starts_with(region_within, r.region_code),
            )
        )
    q = q.order_by(sa.func.coalesce(r.region_code, ""), sa.func.coalesce(r.category, ""))
    return [TimeLimitRuleRecord.from_row(row) for row in (await conn.execute(q)).mappings()]


async def set_rule(
    db: Database,
    clock: Clock,
    actor: Actor,
    cmd: SetTimeLimitRule,
    expected_version: int | None = None,
    key: str | None = None,
) -> TimeLimitRuleRecord:
    """Create the rule of (region, category), or change it (``expectedVersion`` then
    guards a concurrent change)."""
    permitted(actor, Action.RULES_MANAGE, rule_failure)
    try:
        check_limit_days(cmd.assign_days, cmd.reply_days)
    except InvalidTimeLimit as exc:
        raise RuleError(E.INVALID_TIME_LIMIT, exc.field, exc.detail) from exc
    now = clock.now()
    async with db.system_transaction() as conn:
        first = await replayed(
            conn, actor, key, "setTimeLimitRule", cmd, now, _answer(0), rule_failure
        )
        if first is not None:
            return TimeLimitRuleRecord.from_row(first)
        await check_region(conn, actor, cmd.region_code)
        r = t.time_limit_rule.c
        category = cmd.category.value if cmd.category is not None else None
        found = (
            (
                await conn.execute(
                    sa.select(*COLUMNS)
                    .where(
                        r.region_code == cmd.region_code,
                        r.category.is_(None) if category is None else r.category == category,
                    )
                    .with_for_update()
                )
            )
            .mappings()
            .first()
        )
        before = TimeLimitRuleRecord.from_row(found) if found else None
        if before is None and expected_version is not None:
            raise RuleError(E.VERSION_CONFLICT, "expectedVersion")
        if before is not None and expected_version not in (None, before.version):
            raise RuleError(E.VERSION_CONFLICT, "expectedVersion")
        values = {
            "assign_days": cmd.assign_days,
            "reply_days": cmd.reply_days,
            "working_days": cmd.working_days,
        }
        if before is None:
            rule_id = (
                await conn.execute(
                    pg_insert(t.time_limit_rule)
                    .values(region_code=cmd.region_code, category=category, **values)
                    .returning(r.id)
                )
            ).scalar_one()
        else:
            rule_id = before.id
            await conn.execute(
                t.time_limit_rule.update()
                .where(r.id == rule_id)
                .values(version=before.version + 1, **values)
            )
        after = TimeLimitRuleRecord.from_row(
            (await conn.execute(_answer(rule_id))).mappings().one()
        )
        if before is not None and before.snapshot() == after.snapshot():
            return before  # nothing changed: no new version, nothing audited
        await audit.append(
            conn,
            now=now,
            actor=actor,
            action=audit.AuditAction.TIME_LIMIT_RULE_SET,
            object_kind=audit.AuditObject.TIME_LIMIT_RULE,
            object_id=rule_id,
            region_code=cmd.region_code,
            before=before.snapshot() if before else None,
            after=after.snapshot(),
        )
        await remember(conn, actor, key, rule_id, _answer(rule_id))
        await conn.commit()
    return after


async def remove_rule(
    db: Database,
    clock: Clock,
    actor: Actor,
    rule_id: int,
    expected_version: int | None = None,
) -> TimeLimitRuleRecord:
    """Remove a regional rule: the rule above it applies again. The province-wide default
    (no region) is not removed here."""
    permitted(actor, Action.RULES_MANAGE, rule_failure)
    now = clock.now()
    async with db.system_transaction() as conn:
        r = t.time_limit_rule.c
        found = (
            (
                await conn.execute(
                    sa.select(*COLUMNS)
                    .where(r.id == rule_id, r.region_code.is_not(None))
                    .with_for_update()
                )
            )
            .mappings()
            .first()
        )
        before = TimeLimitRuleRecord.from_row(found) if found else None
        if before is None or before.region_code is None:
            raise RuleError(E.NOT_FOUND, "id")
        if not may(actor, Action.RULES_MANAGE, before.region_code):
            # The rules are published: saying it is out of scope reveals nothing.
            raise RuleError(E.REGION_OUT_OF_SCOPE, "id")
        if expected_version not in (None, before.version):
            raise RuleError(E.VERSION_CONFLICT, "expectedVersion")
        await conn.execute(t.time_limit_rule.delete().where(r.id == rule_id))
        await audit.append(
            conn,
            now=now,
            actor=actor,
            action=audit.AuditAction.TIME_LIMIT_RULE_REMOVED,
            object_kind=audit.AuditObject.TIME_LIMIT_RULE,
            object_id=rule_id,
            region_code=before.region_code,
            before=before.snapshot(),
        )
        await conn.commit()
    return before
