"""``resolveIssue``: resolve with a reply to the enterprise (records overdue resolution)."""

from __future__ import annotations

import strawberry

from closedloop.schema.context import Info
from closedloop.schema.payloads import IssuePayload, issue_pk, not_found, run_command
from closedloop.services.issues import commands


@strawberry.input
class ResolveIssueInput:
    id: strawberry.ID
    expected_version: int
    reply: str
    idempotency_key: str | None = None


async def resolve(info: Info, input: ResolveIssueInput) -> IssuePayload:
    issue_id = issue_pk(input.id)
    if issue_id is None:
        return not_found(info)
    return await run_command(
        info,
        "resolveIssue",
        strawberry.asdict(input),
        lambda tx: commands.resolve(tx, issue_id, input.expected_version, input.reply),
    )
