"""``coordinateIssue``: up the tier's ladder: center coordination, then the joint meeting."""

from __future__ import annotations

import strawberry

from closedloop.domain.issues import HandlingLevel
from closedloop.schema.context import Info
from closedloop.schema.payloads import IssuePayload, issue_pk, not_found, run_command
from closedloop.services.issues import tiers


@strawberry.input
class CoordinateIssueInput:
    id: strawberry.ID
    expected_version: int
    level: HandlingLevel
    reason: str
    idempotency_key: str | None = None


async def resolve(info: Info, input: CoordinateIssueInput) -> IssuePayload:
    issue_id = issue_pk(input.id)
    if issue_id is None:
        return not_found(info)
    return await run_command(
        info,
        "coordinateIssue",
        strawberry.asdict(input),
        lambda tx: tiers.coordinate(
            tx, issue_id, input.expected_version, input.level, input.reason
        ),
    )
