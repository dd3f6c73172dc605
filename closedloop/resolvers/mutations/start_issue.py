"""``startIssue``: the assigned board or department starts work."""

from __future__ import annotations

import strawberry

from closedloop.schema.context import Info
from closedloop.schema.payloads import IssuePayload, issue_pk, not_found, run_command
from closedloop.services.issues import commands


@strawberry.input
class StartIssueInput:
    id: strawberry.ID
    expected_version: int
    idempotency_key: str | None = None


async def resolve(info: Info, input: StartIssueInput) -> IssuePayload:
    issue_id = issue_pk(input.id)
    if issue_id is None:
        return not_found(info)
    return await run_command(
        info,
        "startIssue",
        strawberry.asdict(input),
        lambda tx: commands.start(tx, issue_id, input.expected_version),
    )
