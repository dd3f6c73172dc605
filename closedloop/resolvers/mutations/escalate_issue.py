"""``escalateIssue``: up to the holding region's direct parent (at the province: its task force)."""

from __future__ import annotations

import strawberry

from closedloop.schema.context import Info
from closedloop.schema.payloads import IssuePayload, issue_pk, not_found, run_command
from closedloop.services.issues import tiers


@strawberry.input
class EscalateIssueInput:
    id: strawberry.ID
    expected_version: int
    reason: str
    to_region: str | None = strawberry.field(
        default=None, description="须为直接上级；省级不填则转省级专班 / the direct parent"
    )
    idempotency_key: str | None = None


async def resolve(info: Info, input: EscalateIssueInput) -> IssuePayload:
    issue_id = issue_pk(input.id)
    if issue_id is None:
        return not_found(info)
    return await run_command(
        info,
        "escalateIssue",
        strawberry.asdict(input),
        lambda tx: tiers.escalate(
            tx, issue_id, input.expected_version, input.reason, input.to_region
        ),
    )
