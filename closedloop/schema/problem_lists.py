"""Pushes to the tiers' seven problem lists (七张问题清单) as GraphQL: the push node, the
connection of the pushes in scope, an issue's pushes, a dashboard's summary.

Who reads a push: whoever reads its issue's internal records (``issue.read_internal`` in
the policy); every other caller gets what a push that does not exist gives."""

from __future__ import annotations

import datetime as dt

import strawberry

from closedloop import i18n
from closedloop.domain.problem_lists import PushState
from closedloop.domain.regions import is_valid_code
from closedloop.schema.context import Info
from closedloop.schema.errors import PublicError
from closedloop.schema.issues import Issue
from closedloop.schema.node_registry import register_node
from closedloop.schema.paging import as_id, paging
from closedloop.schema.reference import resolve_cached
from closedloop.schema.relay import (
    Connection,
    Node,
    encode_cursor,
    make_connection,
    to_global_id,
)
from closedloop.schema.tenancy import Region
from closedloop.services.issues.problem_list_queries import PushRecord, PushSummary, push_page

strawberry.enum(
    PushState,
    name="ProblemListPushState",
    description="七张问题清单推送状态 / where a push to the seven problem lists stands",
)


@strawberry.type(
    description="推送至本级七张问题清单应用的重大问题 / an issue pushed to its tier's"
    " seven-problem-lists application, and what the application reported back"
)
class ProblemListPush(Node):
    region_code: str = strawberry.field(
        description="清单应用所属层级 / the tier whose application got the push"
    )
    reason: str = strawberry.field(description="推送理由 / why the leader pushed it")
    state: PushState
    pushed_at: dt.datetime
    pushed_by_name: str | None
    reference: str | None = strawberry.field(
        description="清单应用回执编号 / the application's receipt (its own reference)"
    )
    delivered_at: dt.datetime | None = strawberry.field(description="送达时间 / receipt time")
    last_error: str | None = strawberry.field(
        description="最近一次推送失败原因 / why the last delivery attempt failed"
    )
    reported_at: dt.datetime | None = strawberry.field(
        description="清单应用最近回传时间 / when the application last reported"
    )
    report_message: str | None = strawberry.field(
        description="清单应用最近回传说明 / what the application said last"
    )
    issue_id: strawberry.Private[int]

    @classmethod
    def from_record(cls, r: PushRecord) -> ProblemListPush:
        return cls(
            id=to_global_id("ProblemListPush", r.id),
            region_code=r.region_code,
            reason=r.reason,
            state=r.state,
            pushed_at=r.pushed_at,
            pushed_by_name=r.pushed_by_name,
            reference=r.reference,
            delivered_at=r.delivered_at,
            last_error=r.last_error,
            reported_at=r.reported_at,
            report_message=r.report_message,
            issue_id=r.issue_id,
        )

    @strawberry.field
    def state_label(self, info: Info) -> str:
        return i18n.label(self.state, info.context.locale, "ProblemListPushState")

    @strawberry.field(description="清单应用所属层级 / the tier")
    def region(self, info: Info) -> Region | None:
        return resolve_cached(  # type: ignore[return-value]
            "region", self.region_code, lambda: info.context.loaders.region, Region.from_record
        )

    @strawberry.field
    async def issue(self, info: Info) -> Issue | None:
        rec = await info.context.loaders.issue.load(self.issue_id)
        return Issue.from_record(rec) if rec else None


@register_node("ProblemListPush")
async def _push_node(info: Info, key: str) -> ProblemListPush | None:
    pk = as_id(key)
    if pk is None:
        return None
    found = await info.context.loaders.problem_list_push.load(pk)
    return ProblemListPush.from_record(found) if found else None


async def issue_pushes(info: Info, issue_id: int) -> list[ProblemListPush]:
    """An issue's pushes (one per tier), for ``Issue.problemListPushes``."""
    found = await info.context.loaders.problem_list_pushes.load(issue_id)
    return [ProblemListPush.from_record(r) for r in found]


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
