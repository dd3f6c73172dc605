"""Callback verification (回访验收): a reproducible random sample of resolved issues.

For a region and period, the population is the issues the region's center held when
they were resolved in that period (settled-in-channel matters and merged duplicates
excluded). Each issue's place in the draw is SHA-256(seed, issue id), the seed being
"<region>:<period>" unless given: the same inputs always draw the same sample, and
anybody can re-derive it. The sample holds ceil(rate x population) issues.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.enforcer import can_on_region
from closedloop.authz.roles import Action
from closedloop.db import tables as t
from closedloop.domain.errors import IssueCommandError, IssueErrorCode
from closedloop.domain.periods import InvalidPeriod, Period, parse_period
from closedloop.domain.regions import is_valid_code
from closedloop.services.issues.unit_of_work import CommandTx

E = IssueErrorCode
DEFAULT_RATE = Decimal("0.2")


def draw_order(seed: str, issue_id: int) -> str:
    return hashlib.sha256(f"{seed}:{issue_id}".encode()).hexdigest()


def sample_size(rate: Decimal, population: int) -> int:
    return min(population, math.ceil(rate * population))


def pick(seed: str, rate: Decimal, ids: list[int]) -> list[int]:
    """The pure draw: the first ceil(rate x n) ids in hash order."""
    ordered = sorted(ids, key=lambda i: draw_order(seed, i))
    return sorted(ordered[: sample_size(rate, len(ids))])


@dataclass(frozen=True)
class DrawSample:
    region: str
    period: str
    rate: Decimal | None = None


def _period(text: str) -> Period:
    try:
        return parse_period(text)
    except InvalidPeriod as exc:
        raise IssueCommandError(E.INVALID_PERIOD, "period", text) from exc


async def existing_sample(conn: AsyncConnection, region: str, label: str) -> int | None:
    row = await conn.execute(
        sa.select(t.callback_sample.c.id).where(
            t.callback_sample.c.region_code == region, t.callback_sample.c.period_label == label
        )
    )
    found = row.scalar_one_or_none()
    return int(found) if found is not None else None


async def draw(tx: CommandTx, cmd: DrawSample) -> int:
    if not is_valid_code(cmd.region) or not can_on_region(
        tx.principal, Action.ISSUE_VERIFY, cmd.region
    ):
        raise IssueCommandError(E.REGION_NOT_FOUND, "region")
    period = _period(cmd.period)
    rate = cmd.rate if cmd.rate is not None else DEFAULT_RATE
    if not Decimal("0") < rate <= Decimal("1"):
        raise IssueCommandError(E.INVALID, "rate", "0 < rate ≤ 1")
    found = await existing_sample(tx.conn, cmd.region, period.label)
    if found is not None:
        return found  # drawn once per region and period; the draw is reproducible anyway
    c = t.issue.c
    ids = list(
        (
            await tx.conn.execute(
                sa.select(c.id).where(
                    c.holding_region_code == cmd.region,
                    c.state.in_(["RESOLVED", "CLOSED"]),
                    c.handling_level != "ORIGINAL_CHANNEL",
                    c.resolved_at >= period.start_at,
                    c.resolved_at < period.end_at,
                )
            )
        ).scalars()
    )
    seed = f"{cmd.region}:{period.label}"
    chosen = pick(seed, rate, ids)
    sample_id = (
        await tx.conn.execute(
            t.callback_sample.insert()
            .values(
                region_code=cmd.region,
                period_label=period.label,
                period_start=period.start,
                period_end=period.end,
                rate=rate,
                seed=seed,
                population=len(ids),
                drawn_by=tx.principal.account_id,
                drawn_at=tx.now,
            )
            .returning(t.callback_sample.c.id)
        )
    ).scalar_one()
    if chosen:
        await tx.conn.execute(
            t.callback_item.insert(), [{"sample_id": sample_id, "issue_id": i} for i in chosen]
        )
    return int(sample_id)


@dataclass(frozen=True, slots=True)
class SampleRecord:
    id: int
    region_code: str
    period_label: str
    rate: Decimal
    seed: str
    population: int
    drawn_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ItemRecord:
    issue_id: int
    outcome: str | None
    note: str | None
    verified_at: dt.datetime | None


async def load_sample(
    conn: AsyncConnection, sample_id: int
) -> tuple[SampleRecord, list[ItemRecord]] | None:
    row = (
        (
            await conn.execute(
                sa.select(t.callback_sample).where(t.callback_sample.c.id == sample_id)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    items = await conn.execute(
        sa.select(t.callback_item)
        .where(t.callback_item.c.sample_id == sample_id)
        .order_by(t.callback_item.c.issue_id)
    )
    return (
        SampleRecord(
            row["id"],
            row["region_code"],
            row["period_label"],
            row["rate"],
            row["seed"],
            row["population"],
            row["drawn_at"],
        ),
        [
            ItemRecord(r["issue_id"], r["outcome"], r["note"], r["verified_at"])
            for r in items.mappings()
        ],
    )
