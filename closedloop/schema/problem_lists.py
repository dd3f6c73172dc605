"""The seven problem lists (七张问题清单) of a tier."""

from __future__ import annotations

import datetime as dt

import strawberry

from closedloop.authz.enforcer import can_on_region
from closedloop.authz.roles import Action
from closedloop.domain.issues import ProblemListKind
from closedloop.domain.regions import is_valid_code
from closedloop.schema.context import Info
from closedloop.schema.errors import PublicError
from closedloop.schema.issues import Issue
from closedloop.schema.paging import as_id, paging
from closedloop.schema.relay import (
    Connection,
    encode_cursor,
    make_connection,
    to_global_id,
)
from closedloop.services.issues.records import ProblemListRecord, problem_list


@strawberry.type(description="问题清单条目 / an entry of a tier's problem lists")
class ProblemListEntry:
    id: strawberry.ID
    kind: ProblemListKind
    note: str | None
    flagged_at: dt.datetime
    region_code: str
    issue_id: strawberry.Private[int]

    @strawberry.field
    async def issue(self, info: Info) -> Issue | None:
        rec = await info.context.loaders.issue.load(self.issue_id)
        return Issue.from_record(rec) if rec else None


def _entry(r: ProblemListRecord) -> ProblemListEntry:
    return ProblemListEntry(
        id=to_global_id("ProblemListEntry", r.id),
        kind=ProblemListKind(r.kind),
        note=r.note,
        flagged_at=r.flagged_at,
        region_code=r.region_code,
        issue_id=r.issue_id,
    )


async def resolve_problem_lists(
    info: Info, region: str, kind: ProblemListKind | None, first: int | None, after: str | None
) -> Connection[ProblemListEntry]:
    locale = info.context.locale
    if not is_valid_code(region):
        raise PublicError("INVALID_REGION_CODE", f"region={region!r}", locale, field="region")
    size, after_id = paging(locale, first, after, as_id)
    principal = info.context.principal
    if not can_on_region(principal, Action.ISSUE_READ, region):
        return make_connection([], [], size, 0, after=after is not None)
    async with info.context.db.read(principal) as conn:
        rows, total = await problem_list(
            conn, region, kind.value if kind else None, size + 1, after_id
        )
    return make_connection(
        [_entry(r) for r in rows],
        [encode_cursor(str(r.id)) for r in rows],
        size,
        total,
        after=after is not None,
    )
