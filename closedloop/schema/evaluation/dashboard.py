"""The cockpit (驾驶舱): figures, child regions, states, tiers, units, top tags, trend."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Hashable
from decimal import Decimal
from typing import ClassVar

import strawberry

from closedloop import i18n
from closedloop.caches import BoundedCache
from closedloop.domain.issues import IssueState
from closedloop.domain.regions import RegionLevel
from closedloop.schema import issue_list
from closedloop.schema.context import Info
from closedloop.schema.evaluation.records import ListEntry
from closedloop.schema.evaluation.schemes import EvaluationPeriod
from closedloop.schema.execution.memo import pure
from closedloop.schema.freshness import DataFreshness
from closedloop.schema.issues import Issue
from closedloop.schema.problem_lists import ProblemListSummary
from closedloop.schema.relay import Connection
from closedloop.schema.tenancy import Region
from closedloop.services.evaluation import dashboard as dashboard_service
from closedloop.services.evaluation.dashboard import Figures, UnitFigures
from closedloop.services.evaluation.targets import ListKind
from closedloop.services.issues.problem_list_queries import push_summary
from closedloop.services.issues.queries import IssueOrder

# --- dashboard -------------------------------------------------------------------------------


@strawberry.type(description="驾驶舱指标 / counts and rates of a set of issues")
class DashboardFigures:
    total: int = strawberry.field(description="问题总数（不含合并的重复件）")
    proactive: int
    handled: int
    resolved: int
    open: int = strawberry.field(description="未办结 / still open")
    merged: int = strawberry.field(description="合并的重复件 / merged duplicates")
    overdue_resolved: int
    recurred: int
    unrated_resolved: int
    good_ratings: int
    yellow_lights: int = strawberry.field(description="黄灯（按请求时间）/ yellow, as of now")
    red_lights: int
    resolution_rate: Decimal | None = strawberry.field(description="办结率 %")
    satisfaction_rate: Decimal | None = strawberry.field(description="满意率 %（未评价视为好评）")
    overdue_rate: Decimal | None = strawberry.field(description="超时办结率 %")
    recurrence_rate: Decimal | None = strawberry.field(description="重发复发率 %")
    proactive_rate: Decimal | None = strawberry.field(description="主动发现率 %")

    @classmethod
    def of(cls, f: Figures) -> DashboardFigures:
        c = f.counters
        return cls(
            total=c.total,
            proactive=c.proactive,
            handled=c.handled,
            resolved=c.resolved,
            open=f.open,
            merged=f.merged,
            overdue_resolved=c.overdue_resolved,
            recurred=c.recurred,
            unrated_resolved=c.unrated_resolved,
            good_ratings=f.good_ratings(),
            yellow_lights=f.yellow,
            red_lights=f.red,
            resolution_rate=f.resolution_rate(),
            satisfaction_rate=f.satisfaction_rate(),
            overdue_rate=f.overdue_rate(),
            recurrence_rate=f.recurrence_rate(),
            proactive_rate=f.proactive_rate(),
        )


@strawberry.type(description="下级地区一行 / one child region of the dashboard")
class DashboardRegionRow:
    region: Region
    figures: DashboardFigures


@strawberry.type(description="按状态计数 / issues in one state")
class DashboardStateCount:
    state: IssueState
    count: int

    @strawberry.field
    @pure
    def label(self, info: Info) -> str:
        return i18n.label(self.state, info.context.locale, "IssueState")


@strawberry.type(description="按承办层级 / issues by the tier holding them now")
class DashboardTierRow:
    tier: RegionLevel
    figures: DashboardFigures

    @strawberry.field
    @pure
    def label(self, info: Info) -> str:
        return i18n.label(self.tier, info.context.locale, "RegionLevel")


@strawberry.type(description="板块或部门（辖区内同类合计）/ a board or department key")
class DashboardUnitRow:
    key: str
    name_zh: strawberry.Private[str]
    name_en: strawberry.Private[str]
    figures: DashboardFigures

    @classmethod
    def of(cls, u: UnitFigures) -> DashboardUnitRow:
        return cls(
            key=u.key,
            name_zh=u.name_zh,
            name_en=u.name_en,
            figures=DashboardFigures.of(u.figures),
        )

    @strawberry.field
    @pure
    def name(self, info: Info) -> str:
        return self.name_en if info.context.locale == i18n.EN else self.name_zh


@strawberry.type(description="打开热点标签下问题的筛选条件 / the issues filter behind a figure")
class DashboardIssueFilter:
    tags_any: list[str]
    origin_within: str
    created_from: dt.datetime
    created_to: dt.datetime
    states: list[IssueState]


LIVE_STATES: list[IssueState] = [s for s in IssueState if s is not IssueState.MERGED]


@strawberry.type(description="热点标签 / one of the top tags, with the issues behind it")
class DashboardTag:
    tag: str
    count: int
    filter: DashboardIssueFilter = strawberry.field(
        description="传给 issues(filter:) 即得同一批问题 / pass to issues(filter:)"
    )

    @strawberry.field(description="该标签下的问题 / the issues behind the count")
    async def issues(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Issue]:
        f = self.filter
        return await issue_list.issues(
            info,
            issue_list.IssueFilterInput(
                tags_any=f.tags_any,
                origin_within=f.origin_within,
                created_from=f.created_from,
                created_to=f.created_to,
                states=f.states,
            ),
            IssueOrder.CREATED_AT_DESC,
            first,
            after,
        )


@strawberry.type(description="月度趋势 / one month of the trend")
class DashboardTrendPoint:
    month: str = strawberry.field(description="YYYY-MM")
    figures: DashboardFigures


@strawberry.type(description="驾驶舱 / a region's cockpit for a period")
class Dashboard:
    region: Region
    period: EvaluationPeriod
    as_of: dt.datetime = strawberry.field(description="亮灯计算时间 / lights as of")
    freshness: DataFreshness
    totals: DashboardFigures = strawberry.field(
        description="辖区内企业在本期提出的问题 / issues of the subtree created in the period"
    )
    local: DashboardFigures = strawberry.field(
        description="登记在本级（不属任何下级）的企业的问题 / issues of the region itself"
    )
    children: list[DashboardRegionRow] = strawberry.field(
        description="下级地区，totals = Σ children + local / drill-down"
    )
    by_state: list[DashboardStateCount]
    by_tier: list[DashboardTierRow]
    boards: list[DashboardUnitRow]
    departments: list[DashboardUnitRow]
    top_tags: list[DashboardTag]
    red_list: list[ListEntry] = strawberry.field(description="本期红榜（最新 50 条）")
    black_list: list[ListEntry] = strawberry.field(description="本期黑榜（最新 50 条）")
    red_count: int
    black_count: int
    trend: list[DashboardTrendPoint] = strawberry.field(
        description="月度趋势：本期各月，不足 12 个月时向前补足 / monthly, at least 12 months"
    )
    bounds: strawberry.Private[tuple[dt.datetime, dt.datetime]]
    # What the kept dashboard's completed fields are kept by (``execution.memo``): the
    # fields below, made of the kept answer, the region, its children and the period, and
    # the locale their labels are in. ``as_of``, ``freshness`` (the request's clock) and
    # ``problem_lists`` (read per request) are not among them.
    memo_key: strawberry.Private[Hashable | None] = None
    memo_fields: ClassVar[frozenset[str]] = frozenset(
        {
            "region",
            "period",
            "totals",
            "local",
            "children",
            "by_state",
            "by_tier",
            "boards",
            "departments",
            "top_tags",
            "red_list",
            "black_list",
            "red_count",
            "black_count",
            "trend",
        }
    )

    @strawberry.field(
        description="本期各层级推送七张问题清单的问题及回传状态 / the issues the region's tiers"
        " pushed to their seven problem lists in the period, by reported state"
    )
    async def problem_lists(self, info: Info) -> ProblemListSummary:
        principal = info.context.principal
        async with info.context.loaders.reader.use() as conn:
            found = await push_summary(conn, principal, self.region.code, *self.bounds)
        return ProblemListSummary.from_summary(found)


class _Same:
    """An object as a key by identity (a kept answer: its fields are not hashable)."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.value is self.value


# Dashboards made of a kept answer, by what they are made of: built once, then given each
# request's clock (``as_of``, ``freshness``) and locale (the memo key).
_made: BoundedCache[Hashable, Dashboard] = BoundedCache(
    "kept-dashboards", 256, 16 * 1024 * 1024, lambda key, made: 64 * 1024
)


def dashboard_of(d: dashboard_service.Dashboard, locale: str) -> Dashboard:
    if d.kept is None:
        return _dashboard_of(d)
    made_of = (_Same(d.kept), d.region, tuple(r for r, _ in d.children), d.period)
    made = _made.get(made_of)
    if made is None:
        made = _made[made_of] = _dashboard_of(d)
    return dataclasses.replace(
        made,
        as_of=d.as_of,
        freshness=DataFreshness.of(d.freshness, d.as_of),
        memo_key=(made_of, locale),
    )


def _dashboard_of(d: dashboard_service.Dashboard) -> Dashboard:
    live = list(LIVE_STATES)
    return Dashboard(
        region=Region.from_record(d.region),
        period=EvaluationPeriod.of(d.period),
        as_of=d.as_of,
        freshness=DataFreshness.of(d.freshness, d.as_of),
        totals=DashboardFigures.of(d.totals),
        local=DashboardFigures.of(d.local),
        children=[
            DashboardRegionRow(region=Region.from_record(r), figures=DashboardFigures.of(f))
            for r, f in d.children
        ],
        by_state=[DashboardStateCount(state=s, count=n) for s, n in d.by_state],
        by_tier=[
            DashboardTierRow(tier=lvl, figures=DashboardFigures.of(f)) for lvl, f in d.by_tier
        ],
        boards=[DashboardUnitRow.of(u) for u in d.boards],
        departments=[DashboardUnitRow.of(u) for u in d.departments],
        top_tags=[
            DashboardTag(
                tag=tag,
                count=n,
                filter=DashboardIssueFilter(
                    tags_any=[tag],
                    origin_within=d.region.code,
                    created_from=d.period.start_at,
                    created_to=d.period.end_at,
                    states=live,
                ),
            )
            for tag, n in d.top_tags
        ],
        red_list=[ListEntry.from_row(r) for r in d.red_list],
        black_list=[ListEntry.from_row(r) for r in d.black_list],
        red_count=d.list_counts.get(ListKind.RED, 0),
        black_count=d.list_counts.get(ListKind.BLACK, 0),
        trend=[
            DashboardTrendPoint(month=m.label, figures=DashboardFigures.of(f)) for m, f in d.trend
        ],
        bounds=(d.period.start_at, d.period.end_at),
    )
