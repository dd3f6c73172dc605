"""``drawCallbackSample``: the reproducible 20% (default) sample of a region's resolved issues."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from closedloop.schema.callbacks import CallbackSample, load_callback_sample
from closedloop.schema.context import Info
from closedloop.schema.payloads import IssueError, issue_errors
from closedloop.services.issues.unit_of_work import IssueCommands
from closedloop.services.learning import callbacks


@strawberry.input
class DrawCallbackSampleInput:
    region: str
    period: str = strawberry.field(description="2026-03 / 2026-Q1 / 2026 / 2026-01-01..2026-03-31")
    rate: Decimal | None = strawberry.field(default=None, description="默认 0.2 / default 20%")
    idempotency_key: str | None = None


@strawberry.type(description="抽样结果 / the drawn sample")
class CallbackSamplePayload:
    sample: CallbackSample | None
    errors: list[IssueError]


async def resolve(info: Info, input: DrawCallbackSampleInput) -> CallbackSamplePayload:
    ctx = info.context
    data = {"region": input.region, "period": input.period, "rate": str(input.rate)}
    cmd = callbacks.DrawSample(input.region, input.period, input.rate)
    result = await IssueCommands(ctx.db, ctx.clock, ctx.settings).run(
        ctx.principal,
        "drawCallbackSample",
        data,
        input.idempotency_key,
        lambda tx: callbacks.draw(tx, cmd),
    )
    if result.errors or result.issue_id is None:
        return CallbackSamplePayload(sample=None, errors=issue_errors(info, result.errors))
    return CallbackSamplePayload(
        sample=await load_callback_sample(info, result.issue_id), errors=[]
    )
