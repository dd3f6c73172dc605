"""Callback samples (回访抽样) in GraphQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import strawberry

from closedloop.authz.enforcer import can_on_region
from closedloop.authz.roles import Action
from closedloop.domain.periods import InvalidPeriod, parse_period
from closedloop.domain.regions import is_valid_code
from closedloop.schema.context import Info
from closedloop.schema.errors import PublicError
from closedloop.schema.issues import Issue
from closedloop.services.learning import callbacks


@strawberry.type(description="回访样本中的一件 / one sampled issue")
class CallbackItem:
    outcome: str | None
    note: str | None
    verified_at: dt.datetime | None
    issue_id: strawberry.Private[int]

    @strawberry.field
    async def issue(self, info: Info) -> Issue | None:
        rec = await info.context.loaders.issue.load(self.issue_id)
        return Issue.from_record(rec) if rec else None


@strawberry.type(description="回访抽样 / a callback sample")
class CallbackSample:
    region_code: str
    period: str
    rate: Decimal
    seed: str = strawberry.field(description="可复现的抽样种子 / reproducible seed")
    population: int
    drawn_at: dt.datetime
    items: list[CallbackItem]


async def load_callback_sample(info: Info, sample_id: int) -> CallbackSample | None:
    async with info.context.db.read(info.context.principal) as conn:
        found = await callbacks.load_sample(conn, sample_id)
    if found is None:
        return None
    sample, items = found
    return CallbackSample(
        region_code=sample.region_code,
        period=sample.period_label,
        rate=sample.rate,
        seed=sample.seed,
        population=sample.population,
        drawn_at=sample.drawn_at,
        items=[
            CallbackItem(
                outcome=i.outcome, note=i.note, verified_at=i.verified_at, issue_id=i.issue_id
            )
            for i in items
        ],
    )


async def resolve_callback_sample(info: Info, region: str, period: str) -> CallbackSample | None:
    locale = info.context.locale
    if not is_valid_code(region):
        raise PublicError("INVALID_REGION_CODE", f"region={region!r}", locale, field="region")
    try:
        label = parse_period(period).label
    except InvalidPeriod as exc:
        raise PublicError("INVALID_PERIOD", period, locale, field="period") from exc
    if not can_on_region(info.context.principal, Action.ISSUE_READ, region):
        return None
    async with info.context.db.read(info.context.principal) as conn:
        sample_id = await callbacks.existing_sample(conn, region, label)
    return await load_callback_sample(info, sample_id) if sample_id else None
