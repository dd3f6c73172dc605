"""``confirmRecurrence``: staff confirm an issue repeats an earlier resolved one."""

from __future__ import annotations

import strawberry

from closedloop.schema.context import Info
from closedloop.schema.payloads import IssuePayload, issue_pk, not_found, run_command
from closedloop.services.learning import commands


@strawberry.input
class ConfirmRecurrenceInput:
    id: strawberry.ID
    expected_version: int
    previous_id: strawberry.ID
    idempotency_key: str | None = None


async def resolve(info: Info, input: ConfirmRecurrenceInput) -> IssuePayload:
    issue_id = issue_pk(input.id)
    if issue_id is None:
        return not_found(info)
    previous = issue_pk(input.previous_id) or -1
    return await run_command(
        info,
        "confirmRecurrence",
        strawberry.asdict(input),
        lambda tx: commands.link_recurrence(tx, issue_id, input.expected_version, previous),
    )
