"""``assignIssue``: dispatch to a board or a department of the holding region."""

from __future__ import annotations

import strawberry

from closedloop.schema.context import Info
from closedloop.schema.payloads import IssuePayload, issue_pk, not_found, run_command, unit_pk
from closedloop.services.issues import commands


@strawberry.input
class AssignIssueInput:
    id: strawberry.ID
    expected_version: int
    board_id: strawberry.ID | None = None
    department_id: strawberry.ID | None = None
    idempotency_key: str | None = None


async def resolve(info: Info, input: AssignIssueInput) -> IssuePayload:
    issue_id = issue_pk(input.id)
    if issue_id is None:
        return not_found(info)
    return await run_command(
        info,
        "assignIssue",
        strawberry.asdict(input),
        lambda tx: commands.assign(
            tx,
            issue_id,
            input.expected_version,
            unit_pk(input.board_id, "Board"),
            unit_pk(input.department_id, "Department"),
        ),
    )
