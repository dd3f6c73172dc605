"""``delegateIssue``: down into the holder's subtree, with a deadline inside its own."""

from __future__ import annotations

import datetime as dt

import strawberry

from closedloop.schema.context import Info
from closedloop.schema.payloads import IssuePayload, issue_pk, not_found, run_command
from closedloop.services.issues import tiers


@strawberry.input
class DelegateIssueInput:
    id: strawberry.ID
    expected_version: int
    to_region: str
    due_at: dt.datetime
    reason: str | None = None
    idempotency_key: str | None = None


async def resolve(info: Info, input: DelegateIssueInput) -> IssuePayload:
    issue_id = issue_pk(input.id)
    if issue_id is None:
        return not_found(info)
    return await run_command(
        info,
        "delegateIssue",
        strawberry.asdict(input),
        lambda tx: tiers.delegate(
            tx, issue_id, input.expected_version, input.to_region, input.due_at, input.reason
        ),
    )
