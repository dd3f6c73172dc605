"""``pushToProblemLists``: a leader pushes a major issue its tier holds to the tier's
七张问题清单 application (流转至本级“七张问题清单”办理); the issue stays in the loop and the
push carries what the application reports back (``closedloop.domain.problem_lists``)."""

from __future__ import annotations

import strawberry

from closedloop.db import tables as t
from closedloop.schema.context import Info
from closedloop.schema.issues import Issue, ProblemListPush
from closedloop.schema.payloads import IssueError, issue_errors, issue_pk, not_found
from closedloop.services.issues import problem_lists
from closedloop.services.issues.problem_list_queries import PushRecord
from closedloop.services.issues.unit_of_work import Answer, IssueCommands


@strawberry.input
class PushToProblemListsInput:
    issue_id: strawberry.ID
    expected_version: int
    reason: str = strawberry.field(
        description="推送理由：为何需要党委、政府重点关注 / why the Party committee and the"
        " government need to attend to it"
    )
    idempotency_key: str | None = None


@strawberry.type(description="推送七张问题清单结果 / the result of pushToProblemLists")
class ProblemListPushPayload:
    push: ProblemListPush | None
    issue: Issue | None
    errors: list[IssueError]
    replayed: bool = strawberry.field(
        default=False, description="重复请求，返回首次结果 / an idempotent replay"
    )


async def resolve(info: Info, input: PushToProblemListsInput) -> ProblemListPushPayload:
    issue_id = issue_pk(input.issue_id)
    if issue_id is None:
        return ProblemListPushPayload(push=None, issue=None, errors=not_found(info).errors)
    ctx = info.context
    fields = strawberry.asdict(input)
    fields.pop("idempotency_key", None)
    result = await IssueCommands(ctx.db, ctx.clock, ctx.settings).run(
        ctx.principal,
        "pushToProblemLists",
        fields,
        input.idempotency_key,
        lambda tx: problem_lists.push(tx, issue_id, input.expected_version, input.reason),
        answer=Answer(t.problem_list_push),
    )
    if result.errors:
        return ProblemListPushPayload(
            push=None, issue=None, errors=issue_errors(info, result.errors)
        )
    push = None
    if result.first is not None:  # a replay answers with the push as the first request did
        first = PushRecord.from_row(result.first, ctx.principal.display_name)
        push = ProblemListPush.from_record(first)
    elif result.issue_id is not None:  # the handler's result: the push's id
        found = await ctx.loaders.problem_list_push.load(result.issue_id)
        push = ProblemListPush.from_record(found) if found else None
    rec = await ctx.loaders.issue.load(issue_id)
    return ProblemListPushPayload(
        push=push,
        issue=Issue.from_record(rec) if rec else None,
        errors=[],
        replayed=result.replayed,
    )
