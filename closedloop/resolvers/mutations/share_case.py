"""``shareCase``: a resolved issue becomes a model case for the whole province."""

from __future__ import annotations

import strawberry

from closedloop.db import tables as t
from closedloop.schema.context import Info
from closedloop.schema.learning import Case
from closedloop.schema.payloads import IssueError, issue_errors, issue_pk, not_found
from closedloop.services.issues.unit_of_work import Answer, IssueCommands
from closedloop.services.learning import cases as case_service
from closedloop.services.learning import commands


@strawberry.input
class ShareCaseInput:
    issue_id: strawberry.ID
    expected_version: int
    title: str | None = None
    problem: str | None = strawberry.field(
        default=None, description="默认取诉求内容（自动隐去企业信息）/ defaults to the content"
    )
    solution: str | None = strawberry.field(
        default=None, description="默认取办结答复 / defaults to the reply"
    )
    tags: list[str] | None = None
    idempotency_key: str | None = None


@strawberry.type(description="分享案例结果 / the result of shareCase")
class CasePayload:
    case: Case | None
    errors: list[IssueError]


async def resolve(info: Info, input: ShareCaseInput) -> CasePayload:
    issue_id = issue_pk(input.issue_id)
    if issue_id is None:
        return CasePayload(case=None, errors=not_found(info).errors)
    cmd = commands.ShareCase(input.title, input.problem, input.solution, input.tags)
    ctx = info.context
    fields = strawberry.asdict(input)
    fields.pop("idempotency_key", None)
    result = await IssueCommands(ctx.db, ctx.clock, ctx.settings).run(
        ctx.principal,
        "shareCase",
        fields,
        input.idempotency_key,
        lambda tx: commands.share_case(tx, issue_id, input.expected_version, cmd),
        answer=Answer(t.model_case, "issue_id"),  # a replay answers with the case as it was
    )
    if result.errors:
        return CasePayload(case=None, errors=issue_errors(info, result.errors))
    if result.first is not None:
        return CasePayload(
            case=Case.from_record(case_service.case_from_row(result.first)), errors=[]
        )
    async with ctx.db.read(ctx.principal) as conn:
        case_id = await case_service.case_id_for_issue(conn, issue_id)
        found = await case_service.cases_by_id(conn, [case_id]) if case_id else {}
    record = found.get(case_id) if case_id else None
    return CasePayload(case=Case.from_record(record) if record else None, errors=[])
