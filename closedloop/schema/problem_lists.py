"""Pushes to the tiers' seven problem lists (七张问题清单) as GraphQL: the connection of the
pushes in scope and a dashboard's summary (the push itself hangs on its issue:
``schema.issues.ProblemListPush``).

Who reads a push: whoever reads its issue's internal records (``issue.read_internal`` in
the policy); every other caller gets what a push that does not exist gives."""

from __future__ import annotations

import strawberry

from closedloop import i18n
from closedloop.domain.problem_lists import PushState
from closedloop.domain.regions import is_valid_code
from closedloop.schema.context import Info
from closedloop.schema.errors import PublicError
from closedloop.schema.issues import ProblemListPush
from closedloop.schema.paging import as_id, paging
from closedloop.schema.relay import (
    Connection,
    encode_cursor,
    make_connection,
)
from closedloop.services.issues.problem_list_queries import PushSummary, push_page


async def resolve_pushes(
    info: Info,
    region: str | None,
    state: PushState | None,
    first: int | None,
    after: str | None,
) -> Connection[ProblemListPush]:
    locale = info.context.locale
    if region is not None and not is_valid_code(region):
        raise PublicError("INVALID_REGION_CODE", f"region={region!r}", locale, field="region")
    size, after_id = paging(locale, first, after, as_id)
    principal = info.context.principal
    async with info.context.loaders.reader.use() as conn:
        rows, total = await push_page(conn, principal, region, state, size + 1, after_id)
    return make_connection(
        [ProblemListPush.from_record(r) for r in rows],
        [encode_cursor(str(r.id)) for r in rows],
        size,
        total,
        after=after is not None,
    )


@strawberry.type(description="推送状态计数 / pushes standing in one state")
class ProblemListStateCount:
    state: PushState
    count: int

    @strawberry.field
    def state_label(self, info: Info) -> str:
        return i18n.label(self.state, info.context.locale, "ProblemListPushState")


@strawberry.type(
    description="本期推送七张问题清单情况 / the pushes of the region's tiers made in the period"
)
class ProblemListSummary:
    total: int
    by_state: list[ProblemListStateCount] = strawberry.field(
        description="各状态数量（含 0）/ how many stand in each state (zeros included)"
    )
    latest: list[ProblemListPush] = strawberry.field(description="最近的推送 / the latest pushes")

    @classmethod
    def from_summary(cls, s: PushSummary) -> ProblemListSummary:
        return cls(
            total=s.total,
            by_state=[
                ProblemListStateCount(state=p, count=s.by_state.get(p, 0)) for p in PushState
            ],
            latest=[ProblemListPush.from_record(r) for r in s.latest],
        )
