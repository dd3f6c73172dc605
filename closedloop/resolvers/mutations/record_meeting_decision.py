"""``recordMeetingDecision``: the leaders' joint meeting: date, chair and decision."""

from __future__ import annotations

import datetime as dt

import strawberry

from closedloop.schema.context import Info
from closedloop.schema.payloads import IssuePayload, issue_pk, not_found, run_command
from closedloop.services.issues import tiers


@strawberry.input
class RecordMeetingDecisionInput:
    id: strawberry.ID
    expected_version: int
    meeting_date: dt.date
    chair: str
    decision: str
    idempotency_key: str | None = None


async def resolve(info: Info, input: RecordMeetingDecisionInput) -> IssuePayload:
    issue_id = issue_pk(input.id)
    if issue_id is None:
        return not_found(info)
    return await run_command(
        info,
        "recordMeetingDecision",
        strawberry.asdict(input),
        lambda tx: tiers.record_meeting(
            tx,
            issue_id,
            input.expected_version,
            input.meeting_date,
            input.chair,
            input.decision,
        ),
    )
