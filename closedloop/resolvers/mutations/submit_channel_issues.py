"""``submitChannelIssues``: a channel system's service account pushes a batch of its records
(at most ``LIST_MAX``, 100); each answers CREATED, ALREADY_SUBMITTED or REJECTED with typed
errors (``closedloop.services.channels.submissions``)."""

from __future__ import annotations

import strawberry

from closedloop.domain.issues import Category
from closedloop.schema.context import Info
from closedloop.schema.issues import Issue
from closedloop.schema.payloads import IssueError, issue_errors
from closedloop.services.channels.submissions import (
    ChannelRecord,
    RecordOutcome,
    submit_records,
)

strawberry.enum(
    RecordOutcome, name="ChannelRecordOutcome", description="渠道记录处理结果 / a record's outcome"
)


@strawberry.input(description="渠道推送的一条记录 / one record a channel system pushes")
class ChannelRecordInput:
    record_id: str = strawberry.field(description="渠道自身的记录号（幂等）/ the channel's id")
    credit_code: str = strawberry.field(description="企业统一社会信用代码 / the enterprise")
    title: str
    content: str
    category: Category | None = None
    tags: list[str] | None = None
    enterprise_name: str | None = strawberry.field(
        default=None, description="新企业名称 / name, when the enterprise is new"
    )
    enterprise_region: str | None = strawberry.field(
        default=None, description="新企业所在区划 / region code, when the enterprise is new"
    )


@strawberry.input
class SubmitChannelIssuesInput:
    records: list[ChannelRecordInput] = strawberry.field(
        description="至多100条；按 recordId 幂等 / at most 100; idempotent on recordId"
    )


@strawberry.type(description="一条记录的结果 / the outcome of one record")
class ChannelRecordResult:
    index: int = strawberry.field(description="在本批中的位置（从0起）/ its place in the batch")
    record_id: str
    outcome: RecordOutcome
    issue: Issue | None
    errors: list[IssueError]


@strawberry.type(description="批量推送结果 / the result of submitChannelIssues")
class SubmitChannelIssuesPayload:
    results: list[ChannelRecordResult]
    created: int
    already_submitted: int
    rejected: int
    errors: list[IssueError]


async def resolve(info: Info, input: SubmitChannelIssuesInput) -> SubmitChannelIssuesPayload:
    ctx = info.context
    records = [
        ChannelRecord(
            record_id=r.record_id,
            credit_code=r.credit_code,
            title=r.title,
            content=r.content,
            category=r.category,
            tags=tuple(r.tags or ()),
            enterprise_name=r.enterprise_name,
            enterprise_region=r.enterprise_region,
        )
        for r in input.records
    ]
    batch = await submit_records(ctx.db, ctx.clock, ctx.settings, ctx.principal, records)
    ids = [r.issue_id for r in batch.results if r.issue_id is not None]
    found = dict(zip(ids, await ctx.loaders.issue.load_many(ids), strict=True))
    results = []
    for index, r in enumerate(batch.results):  # in the batch's order, one per record
        rec = found.get(r.issue_id) if r.issue_id is not None else None
        results.append(
            ChannelRecordResult(
                index=index,
                record_id=r.record_id,
                outcome=r.outcome,
                issue=Issue.from_record(rec) if rec else None,
                errors=issue_errors(info, r.errors),
            )
        )
    count = {o: sum(r.outcome is o for r in batch.results) for o in RecordOutcome}
    return SubmitChannelIssuesPayload(
        results=results,
        created=count[RecordOutcome.CREATED],
        already_submitted=count[RecordOutcome.ALREADY_SUBMITTED],
        rejected=count[RecordOutcome.REJECTED],
        errors=issue_errors(info, batch.errors),
    )
