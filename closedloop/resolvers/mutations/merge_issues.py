"""``mergeIssues``: fold near-duplicates into a primary held by the caller's region."""

from __future__ import annotations

import strawberry

from closedloop.schema.context import Info
from closedloop.schema.payloads import IssuePayload, issue_pk, not_found, run_command
from closedloop.services.learning import commands


@strawberry.input
class DuplicateInput:
    id: strawberry.ID
    expected_version: int


@strawberry.input
class MergeIssuesInput:
    primary_id: strawberry.ID
    primary_version: int
    duplicates: list[DuplicateInput]
    reason: str | None = None
    idempotency_key: str | None = None


async def resolve(info: Info, input: MergeIssuesInput) -> IssuePayload:
    primary = issue_pk(input.primary_id)
    if primary is None:
        return not_found(info)
    # An unreadable duplicate id matches no issue: it answers like a missing one.
    dups = [commands.Duplicate(issue_pk(d.id) or -1, d.expected_version) for d in input.duplicates]
    return await run_command(
        info,
        "mergeIssues",
        strawberry.asdict(input),
        lambda tx: commands.merge(tx, primary, input.primary_version, dups, input.reason),
    )
