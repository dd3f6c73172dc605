"""``rateIssue``: the enterprise rates the resolution once; UNSATISFIED reopens it."""

from __future__ import annotations

import strawberry

from closedloop.domain.issues import RatingGrade
from closedloop.schema.context import Info
from closedloop.schema.payloads import IssuePayload, issue_pk, not_found, run_command
from closedloop.services.issues import commands


@strawberry.input
class RateIssueInput:
    id: strawberry.ID
    expected_version: int
    grade: RatingGrade
    comment: str | None = None
    idempotency_key: str | None = None


async def resolve(info: Info, input: RateIssueInput) -> IssuePayload:
    issue_id = issue_pk(input.id)
    if issue_id is None:
        return not_found(info)
    return await run_command(
        info,
        "rateIssue",
        strawberry.asdict(input),
        lambda tx: commands.rate(tx, issue_id, input.expected_version, input.grade, input.comment),
    )
