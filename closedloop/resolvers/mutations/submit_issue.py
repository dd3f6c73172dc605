"""``submitIssue``: an enterprise for itself, or staff on behalf of one (by credit code)."""

from __future__ import annotations

import strawberry

from closedloop.domain.issues import Category, Channel
from closedloop.schema.context import Info
from closedloop.schema.payloads import IssuePayload, run_command
from closedloop.services.issues import commands


@strawberry.input
class SubmitIssueInput:
    title: str
    content: str
    channel: Channel | None = strawberry.field(
        default=None, description="渠道；工作人员代录时必填 / required for staff"
    )
    category: Category | None = None
    tags: list[str] | None = None
    credit_code: str | None = strawberry.field(
        default=None, description="代录企业的统一社会信用代码 / the enterprise (staff)"
    )
    enterprise_name: str | None = strawberry.field(
        default=None, description="新企业名称 / name, when the enterprise is new"
    )
    enterprise_region: str | None = strawberry.field(
        default=None, description="新企业所在区划 / region code, when the enterprise is new"
    )
    external_id: str | None = strawberry.field(
        default=None, description="渠道自身的记录号 / the channel's own record id"
    )
    settled_result: str | None = strawberry.field(
        default=None,
        description="原渠道已办结的结果（仅工作人员）/ result of a matter settled in its channel",
    )
    idempotency_key: str | None = None


async def resolve(info: Info, input: SubmitIssueInput) -> IssuePayload:
    cmd = commands.SubmitIssue(
        title=input.title,
        content=input.content,
        channel=input.channel,
        category=input.category,
        tags=list(input.tags or []),
        credit_code=input.credit_code,
        enterprise_name=input.enterprise_name,
        enterprise_region=input.enterprise_region,
        external_id=input.external_id,
        settled_result=input.settled_result,
    )
    return await run_command(
        info, "submitIssue", strawberry.asdict(input), lambda tx: commands.submit(tx, cmd)
    )
