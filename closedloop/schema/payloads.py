"""Mutation payloads: the changed object plus ``errors: [UserError!]!`` for expected failures."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.permission import BasePermission

from closedloop.domain.errors import IssueCommandError, IssueErrorCode
from closedloop.schema.context import Info
from closedloop.schema.issues import Issue
from closedloop.schema.relay import from_global_id
from closedloop.services.issues.records import IssueRecord
from closedloop.services.issues.unit_of_work import Handler, IssueCommands


@strawberry.interface(description="可预期的业务错误 / an expected failure")
class UserError:
    message: str = strawberry.field(description="按 Accept-Language 的说明 / localized message")
    field: str | None = strawberry.field(description="出错的输入字段 / the input field at fault")


@strawberry.type(description="诉求操作错误 / an issue command error")
class IssueError(UserError):
    code: IssueErrorCode


@strawberry.type(description="诉求操作结果 / the result of an issue mutation")
class IssuePayload:
    issue: Issue | None
    errors: list[IssueError]
    replayed: bool = strawberry.field(
        default=False, description="重复请求，返回首次结果 / an idempotent replay"
    )


class SignedIn(BasePermission):
    message = "需要登录 / Authentication required"
    error_extensions = {"code": "UNAUTHENTICATED"}  # noqa: RUF012

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return not info.context.principal.is_anonymous


def issue_pk(global_id: str) -> int | None:
    decoded = from_global_id(global_id)
    if decoded is None or decoded[0] != "Issue" or not decoded[1].isdigit():
        return None
    return int(decoded[1])


def unit_pk(global_id: str | None, type_name: str) -> int | None:
    """A board/department ID; a malformed one maps to an id that matches nothing."""
    if global_id is None:
        return None
    decoded = from_global_id(global_id)
    if decoded is None or decoded[0] != type_name or not decoded[1].isdigit():
        return -1
    return int(decoded[1])


def issue_errors(info: Info, errors: list[IssueCommandError]) -> list[IssueError]:
    locale = info.context.locale
    return [IssueError(code=e.code, message=e.message(locale), field=e.field) for e in errors]


async def run_command(
    info: Info, operation: str, data: dict[str, Any], handler: Handler
) -> IssuePayload:
    """Run ``handler`` in one unit of work and read the issue back in the caller's scope."""
    ctx = info.context
    fields = dict(data)
    key = fields.pop("idempotency_key", None)
    commands = IssueCommands(ctx.db, ctx.clock, ctx.settings)
    result = await commands.run(ctx.principal, operation, fields, key, handler)
    issue = None
    if result.first is not None:  # a replay answers with the issue as the first request did
        issue = Issue.from_record(IssueRecord.from_row(result.first))
    elif result.issue_id is not None:
        rec = await ctx.loaders.issue.load(result.issue_id)
        issue = Issue.from_record(rec) if rec else None
    return IssuePayload(
        issue=issue, errors=issue_errors(info, result.errors), replayed=result.replayed
    )


def not_found(info: Info) -> IssuePayload:
    err = IssueCommandError(IssueErrorCode.NOT_FOUND, "id")
    return IssuePayload(issue=None, errors=issue_errors(info, [err]))
