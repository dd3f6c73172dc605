"""``verifyIssue``: record the callback on a sampled issue; NOT_RESOLVED reopens it."""

from __future__ import annotations

import enum

import strawberry

from closedloop.schema.context import Info
from closedloop.schema.payloads import IssuePayload, issue_pk, not_found, run_command
from closedloop.services.learning import commands


@strawberry.enum(description="回访结果 / callback outcome")
class CallbackOutcome(enum.StrEnum):
    CONFIRMED = "CONFIRMED"
    NOT_RESOLVED = "NOT_RESOLVED"
    UNREACHABLE = "UNREACHABLE"


@strawberry.input
class VerifyIssueInput:
    id: strawberry.ID
    expected_version: int
    outcome: CallbackOutcome
    note: str | None = None
    idempotency_key: str | None = None


async def resolve(info: Info, input: VerifyIssueInput) -> IssuePayload:
    issue_id = issue_pk(input.id)
    if issue_id is None:
        return not_found(info)
    return await run_command(
        info,
        "verifyIssue",
        strawberry.asdict(input),
        lambda tx: commands.verify(
            tx, issue_id, input.expected_version, input.outcome.value, input.note
        ),
    )
