"""``returnIssue``: the receiving tier hands a delegated issue back, with a reason (counted)."""

from __future__ import annotations

import strawberry

from closedloop.schema.context import Info
from closedloop.schema.payloads import IssuePayload, issue_pk, not_found, run_command
from closedloop.services.issues import tiers


@strawberry.input
class ReturnIssueInput:
    id: strawberry.ID
    expected_version: int
    reason: str
    idempotency_key: str | None = None


async def resolve(info: Info, input: ReturnIssueInput) -> IssuePayload:
    issue_id = issue_pk(input.id)
    if issue_id is None:
        return not_found(info)
    return await run_command(
        info,
        "returnIssue",
        strawberry.asdict(input),
        lambda tx: tiers.return_delegated(tx, issue_id, input.expected_version, input.reason),
    )
