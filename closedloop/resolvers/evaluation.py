"""Root fields of evaluation (晾晒评价): schemes, scores and their history, the cockpit,
external indicator records and red/black list entries; recordIndicator, addListEntry.

Scope: ``scores``, ``scoreHistory``, ``indicatorRecords`` and ``listEntries`` need
``score.read`` on the region, ``dashboard`` needs ``dashboard.read``; a region outside the
caller's scope answers exactly like an unknown one (``null`` / empty). Malformed input (a
region code, a period, a scheme) is a typed error (``PublicError`` with its code)."""

from __future__ import annotations

import strawberry

from closedloop.authz.enforcer import can_on_region
from closedloop.authz.roles import Action
from closedloop.domain.schemes import DEFAULT_SCHEME, UnknownScheme
from closedloop.resolvers.mutations import add_list_entry, record_indicator
from closedloop.schema.context import Info
from closedloop.schema.errors import PublicError
from closedloop.schema.evaluation.args import check_region, period_arg, schemes_in_force
from closedloop.schema.evaluation.dashboard import Dashboard, dashboard_of
from closedloop.schema.evaluation.inputs import (
    AddListEntryInput,
    AddListEntryPayload,
    RecordIndicatorInput,
    RecordIndicatorPayload,
)
from closedloop.schema.evaluation.records import IndicatorRecord, ListEntry
from closedloop.schema.evaluation.schemes import EvaluationPeriod, ScoringScheme
from closedloop.schema.evaluation.scores import (
    Scoreboard,
    ScoreHistory,
    ScoreHistoryPoint,
    ScoreTarget,
    scoreboard,
    target_score,
)
from closedloop.schema.freshness import DataFreshness
from closedloop.schema.payloads import SignedIn
from closedloop.schema.relay import from_global_id
from closedloop.services.evaluation import dashboard as dashboard_service
from closedloop.services.evaluation import record_queries as record_service
from closedloop.services.evaluation import scores as score_service
from closedloop.services.evaluation.targets import ListKind, TargetKind

HISTORY_DEFAULT = 6
# --- root fields -----------------------------------------------------------------------------


def _history_target(info: Info, kind: TargetKind, target: str) -> str | int:
    if kind is TargetKind.REGION:
        check_region(info, target, "target")
        return target
    decoded = from_global_id(target)
    if decoded is None or decoded[0] != "Department" or not decoded[1].isdigit():
        raise PublicError(
            "INVALID_ARGUMENT", "target is not a Department id", info.context.locale, field="target"
        )
    return int(decoded[1])


@strawberry.type
class EvaluationQuery:
    @strawberry.field(
        description=(
            "某周期生效的评价方案（已启用版本，否则内置方案）/ the scoring schemes in force"
            " for a period: each key's active version, else its shipped scheme"
        )
    )
    async def schemes_in_force(self, info: Info, period: str) -> list[ScoringScheme]:
        p = period_arg(info, period)
        catalog = info.context.scheme_catalog
        found = []
        for key in await catalog.keys():
            try:
                found.append(ScoringScheme.of(info, await catalog.scheme(key, p)))
            except UnknownScheme:
                continue  # only uploaded, not in force yet
        return found

    @strawberry.field(
        description=(
            "评价结果：部门（某地 16+N 个部门）或地区（某地的下级地区）的组内排名；"
            "地区不存在或超出范围时为 null / ranked scores of a peer group"
        ),
        permission_classes=[SignedIn],
    )
    async def scores(
        self,
        info: Info,
        target_kind: TargetKind,
        region: str,
        period: str,
        scheme: str = DEFAULT_SCHEME,
    ) -> Scoreboard | None:
        check_region(info, region)
        p = period_arg(info, period)
        in_force = await schemes_in_force(info, scheme, [p])
        ctx = info.context
        boards = await score_service.group_scores(
            ctx.db, ctx.principal, in_force, target_kind, region, [p]
        )
        return scoreboard(info, boards[0]) if boards else None

    @strawberry.field(
        description=(
            "某评价对象最近若干期的得分与名次（target：地区代码或部门 ID）/ a target's history"
        ),
        permission_classes=[SignedIn],
    )
    async def score_history(
        self,
        info: Info,
        target_kind: TargetKind,
        region: str,
        target: str,
        period: str,
        periods: int = HISTORY_DEFAULT,
        scheme: str = DEFAULT_SCHEME,
    ) -> ScoreHistory | None:
        check_region(info, region)
        p = period_arg(info, period)
        if not 1 <= periods <= 36:
            raise PublicError(
                "INVALID_ARGUMENT", "periods must be 1..36", info.context.locale, field="periods"
            )
        key = _history_target(info, target_kind, target)
        in_force = await schemes_in_force(info, scheme, p.history(periods))
        ctx = info.context
        points = await score_service.target_history(
            ctx.db, ctx.principal, in_force, target_kind, region, key, p, periods
        )
        if not points:
            return None
        return ScoreHistory(
            scheme=ScoringScheme.of(info, in_force[-1]),
            target=ScoreTarget.of(points[-1].entry.target),
            freshness=DataFreshness.of(points[-1].freshness, ctx.clock.now()),
            points=[
                ScoreHistoryPoint(
                    period=EvaluationPeriod.of(x.period),
                    peers=x.peers,
                    score=target_score(info, x.scheme or in_force[-1], x.entry),
                )
                for x in points
            ],
        )

    @strawberry.field(
        description="驾驶舱；地区不存在或超出范围时为 null / a region's cockpit",
        permission_classes=[SignedIn],
    )
    async def dashboard(self, info: Info, region: str, period: str) -> Dashboard | None:
        check_region(info, region)
        p = period_arg(info, period)
        ctx = info.context
        found = await dashboard_service.dashboard(ctx.db, ctx.principal, region, p, ctx.clock.now())
        return dashboard_of(found, ctx.locale) if found else None

    @strawberry.field(
        description="外部指标录入记录（辖区内，本期）/ external inputs recorded in a subtree",
        permission_classes=[SignedIn],
    )
    async def indicator_records(
        self,
        info: Info,
        region: str,
        period: str,
        scheme: str = DEFAULT_SCHEME,
        indicator: str | None = None,
        include_superseded: bool = False,
    ) -> list[IndicatorRecord]:
        check_region(info, region)
        p = period_arg(info, period)
        s = (await schemes_in_force(info, scheme, [p]))[0]
        ctx = info.context
        if not can_on_region(ctx.principal, Action.SCORE_READ, region):
            return []
        async with ctx.db.read(ctx.principal) as conn:
            rows = await record_service.indicator_records(
                conn, s.key, region, p, indicator=indicator, include_superseded=include_superseded
            )
        return [IndicatorRecord.from_row(r) for r in rows]

    @strawberry.field(
        description="红黑榜（辖区内，本期，最新 100 条）/ red and black list entries",
        permission_classes=[SignedIn],
    )
    async def list_entries(
        self, info: Info, region: str, period: str, kind: ListKind | None = None
    ) -> list[ListEntry]:
        check_region(info, region)
        p = period_arg(info, period)
        ctx = info.context
        if not can_on_region(ctx.principal, Action.SCORE_READ, region):
            return []
        async with ctx.db.read(ctx.principal) as conn:
            rows, _ = await record_service.list_entries(conn, region, p, kind)
        return [ListEntry.from_row(r) for r in rows]


@strawberry.type
class EvaluationMutation:
    @strawberry.mutation(
        description="录入外部指标（评价员，范围内；新记录取代旧记录）/ record an external input",
        permission_classes=[SignedIn],
    )
    async def record_indicator(
        self, info: Info, input: RecordIndicatorInput
    ) -> RecordIndicatorPayload:
        return await record_indicator.resolve(info, input)

    @strawberry.mutation(
        description="列入红榜或黑榜（评价员，范围内）/ put a target on the red or black list",
        permission_classes=[SignedIn],
    )
    async def add_list_entry(self, info: Info, input: AddListEntryInput) -> AddListEntryPayload:
        return await add_list_entry.resolve(info, input)
