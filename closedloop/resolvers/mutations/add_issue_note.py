"""``addIssueNote``: a note on the timeline, internal or public."""

from __future__ import annotations

import strawberry

from closedloop.schema.context import Info
from closedloop.schema.payloads import IssuePayload, issue_pk, not_found, run_command
from closedloop.services.issues import commands


@strawberry.input
class AddIssueNoteInput:
    id: strawberry.ID
    expected_version: int
    text: str
    public: bool = False
    idempotency_key: str | None = None


async def resolve(info: Info, input: AddIssueNoteInput) -> IssuePayload:
    issue_id = issue_pk(input.id)
    if issue_id is None:
        return not_found(info)
    return await run_command(
        info,
        "addIssueNote",
        strawberry.asdict(input),
        lambda tx: commands.add_note(
            tx, issue_id, input.expected_version, input.text, input.public
        ),
    )
