"""``triageIssue``: classify (category, tags).

Guided categories leave for their dedicated route; a board or department given here
also assigns the issue.
"""

from __future__ import annotations

import strawberry

from closedloop.domain.issues import Category
from closedloop.schema.context import Info
from closedloop.schema.payloads import IssuePayload, issue_pk, not_found, run_command, unit_pk
from closedloop.services.issues import commands


@strawberry.input
class TriageIssueInput:
    id: strawberry.ID
    expected_version: int
    category: Category
    tags: list[str] | None = None
    board_id: strawberry.ID | None = None
    department_id: strawberry.ID | None = None
    idempotency_key: str | None = None


async def resolve(info: Info, input: TriageIssueInput) -> IssuePayload:
    issue_id = issue_pk(input.id)
    if issue_id is None:
        return not_found(info)
    return await run_command(
        info,
        "triageIssue",
        strawberry.asdict(input),
        lambda tx: commands.triage(
            tx,
            issue_id,
            input.expected_version,
            input.category,
            input.tags,
            unit_pk(input.board_id, "Board"),
            unit_pk(input.department_id, "Department"),
        ),
    )
