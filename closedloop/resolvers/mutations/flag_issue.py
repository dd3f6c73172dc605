"""``flagIssue``: a leader puts the issue on its tier's seven problem lists."""

from __future__ import annotations

import strawberry

from closedloop.domain.issues import ProblemListKind
from closedloop.schema.context import Info
from closedloop.schema.payloads import IssuePayload, issue_pk, not_found, run_command
from closedloop.services.issues import tiers


@strawberry.input
class FlagIssueInput:
    id: strawberry.ID
    expected_version: int
    kind: ProblemListKind
    note: str | None = None
    idempotency_key: str | None = None


async def resolve(info: Info, input: FlagIssueInput) -> IssuePayload:
    issue_id = issue_pk(input.id)
    if issue_id is None:
        return not_found(info)
    return await run_command(
        info,
        "flagIssue",
        strawberry.asdict(input),
        lambda tx: tiers.flag(tx, issue_id, input.expected_version, input.kind, input.note),
    )
