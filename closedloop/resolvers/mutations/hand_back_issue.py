"""``handBackIssue``: a board or department hands the issue back to the center, with a reason."""

from __future__ import annotations

import strawberry

from closedloop.schema.context import Info
from closedloop.schema.payloads import IssuePayload, issue_pk, not_found, run_command
from closedloop.services.issues import commands


@strawberry.input
class HandBackIssueInput:
    id: strawberry.ID
    expected_version: int
    reason: str
    idempotency_key: str | None = None


async def resolve(info: Info, input: HandBackIssueInput) -> IssuePayload:
    issue_id = issue_pk(input.id)
    if issue_id is None:
        return not_found(info)
    return await run_command(
        info,
        "handBackIssue",
        strawberry.asdict(input),
        lambda tx: commands.hand_back(tx, issue_id, input.expected_version, input.reason),
    )
