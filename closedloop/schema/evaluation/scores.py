"""Targets, recorded values, indicator scores, scoreboards and score history."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from closedloop import i18n
from closedloop.domain.issues import RatingGrade
from closedloop.domain.schemes import (
    RATING_GRADES,
    Label,
    Scheme,
    Source,
)
from closedloop.domain.scoring import (
    ChecksInput,
    Counters,
    ExternalInput,
    IndicatorResult,
    PointsInput,
    RateInput,
    ResultStatus,
)
from closedloop.schema.context import Info
from closedloop.schema.evaluation.args import localized
from closedloop.schema.evaluation.schemes import INPUT_KINDS, EvaluationPeriod, ScoringScheme
from closedloop.schema.freshness import DataFreshness
from closedloop.schema.tenancy import Department, Region, can_read_center_of
from closedloop.services.evaluation.scores import GroupScores, ScoredTarget
from closedloop.services.evaluation.targets import Target, TargetKind

# --- targets -------------------------------------------------------------------------------


@strawberry.type(description="评价对象：部门或地区 / a scored department or region")
class ScoreTarget:
    kind: TargetKind
    region_code: str = strawberry.field(description="地区，或部门所属地区 / the region")
    department_id: strawberry.Private[int | None]
    known: strawberry.Private[Target | None]

    @classmethod
    def of(cls, target: Target) -> ScoreTarget:
        return cls(
            kind=target.kind,
            region_code=target.region_code,
            department_id=target.department_id,
            known=target,
        )

    @classmethod
    def from_row(cls, kind: TargetKind, region_code: str, department_id: int | None) -> ScoreTarget:
        return cls(kind=kind, region_code=region_code, department_id=department_id, known=None)

    @strawberry.field(description="组内标识：区划代码或部门键 / region code or department key")
    async def key(self, info: Info) -> str:
        if self.known is not None:
            return self.known.key
        if self.department_id is None:
            return self.region_code
        rec = await info.context.loaders.department.load(self.department_id)
        return rec.key if rec else ""

    @strawberry.field
    async def name(self, info: Info) -> str:
        if self.known is not None:
            label = Label(self.known.name_zh, self.known.name_en)
            return localized(info, label)
        if self.department_id is not None:
            dept = await info.context.loaders.department.load(self.department_id)
            return localized(info, Label(dept.name_zh, dept.name_en)) if dept else ""
        rec = await info.context.loaders.region.load(self.region_code)
        return rec.name if rec else self.region_code

    @strawberry.field(description="16 个重点部门之一（地区恒为 true）/ one of the 16 key ones")
    async def is_key(self, info: Info) -> bool:
        if self.known is not None:
            return self.known.is_key
        if self.department_id is None:
            return True
        rec = await info.context.loaders.department.load(self.department_id)
        return bool(rec and rec.is_key)

    @strawberry.field
    async def region(self, info: Info) -> Region | None:
        rec = await info.context.loaders.region.load(self.region_code)
        return Region.from_record(rec) if rec else None

    @strawberry.field
    async def department(self, info: Info) -> Department | None:
        if self.department_id is None or not can_read_center_of(info, self.region_code):
            return None
        rec = await info.context.loaders.department.load(self.department_id)
        return Department.from_record(rec) if rec else None


# --- recorded values -------------------------------------------------------------------------


@strawberry.type(description="检查项是否达标 / whether a check is met")
class CheckValue:
    key: str
    met: bool


@strawberry.type(description="外部录入的数值 / a value an evaluator recorded")
class IndicatorValue:
    kind: str = strawberry.field(description="POINTS | CHECKS | RATE | RANK")
    points: Decimal | None
    checks: list[CheckValue] | None
    numerator: Decimal | None = strawberry.field(description="如已兑付资金 / e.g. funds paid")
    denominator: Decimal | None = strawberry.field(description="如预算资金 / e.g. funds budgeted")
    rank: int | None

    @classmethod
    def of(cls, value: ExternalInput) -> IndicatorValue:
        out = cls(
            kind=INPUT_KINDS[type(value)],
            points=None,
            checks=None,
            numerator=None,
            denominator=None,
            rank=None,
        )
        if isinstance(value, PointsInput):
            out.points = Decimal(value.points)
        elif isinstance(value, ChecksInput):
            out.checks = [CheckValue(key=k, met=v) for k, v in value.met.items()]
        elif isinstance(value, RateInput):
            out.numerator = Decimal(value.numerator)
            out.denominator = None if value.denominator is None else Decimal(value.denominator)
        else:
            out.rank = value.rank
        return out


# --- scores --------------------------------------------------------------------------------


@strawberry.type(description="单项指标得分 / one indicator's result")
class IndicatorScore:
    key: str
    name: str
    source: Source
    status: ResultStatus
    max_points: Decimal
    rate: Decimal | None = strawberry.field(description="百分比，两位小数 / percentage")
    numerator: Decimal | None
    denominator: Decimal | None
    rank: int | None = strawberry.field(description="组内名次，或外部名次 / rank")
    points: Decimal
    deduction: Decimal
    input: IndicatorValue | None = strawberry.field(description="外部录入值 / the recorded value")
    status_reason: str | None = strawberry.field(
        description="无可计算数据或待录入的原因（如“办理问题总数为 0”）；已计分为空"
        " / why there is nothing to measure or the input is pending; null when scored"
    )

    @strawberry.field
    def status_label(self, info: Info) -> str:
        return i18n.label(self.status, info.context.locale, "IndicatorStatus")


@strawberry.type(description="加减分项 / a red or black list adjustment")
class ScoreAdjustment:
    key: str
    name: str
    count: int
    points: Decimal


@strawberry.type(description="评价档次计数 / ratings of one grade")
class GradeCount:
    grade: RatingGrade
    count: int


@strawberry.type(description="计分所用的计数 / the counters behind the rates")
class ScoreCounters:
    total: int = strawberry.field(description="问题总数")
    proactive: int = strawberry.field(description="主动发现问题数")
    handled: int = strawberry.field(description="办理问题总数")
    resolved: int = strawberry.field(description="办结问题数")
    overdue_resolved: int = strawberry.field(description="超时办结问题数")
    recurred: int = strawberry.field(description="重发复发数")
    responded_on_time: int = strawberry.field(description="按时响应数")
    unrated_resolved: int = strawberry.field(description="未评价办结数（默认好评）")
    rated: int
    satisfied_ratings: int
    good_ratings: int = strawberry.field(description="好评数（含未评价）")
    resolutions: int = strawberry.field(
        description="参评办结数：方案计入的每次评价及未评价的办结 / resolutions counted"
    )
    ratings: list[GradeCount] = strawberry.field(
        description="按方案计入的评价（每次办结的评价，或每个问题的最后一次）/ as the scheme counts"
    )

    @classmethod
    def of(cls, c: Counters, satisfied: frozenset[str]) -> ScoreCounters:
        return cls(
            total=c.total,
            proactive=c.proactive,
            handled=c.handled,
            resolved=c.resolved,
            overdue_resolved=c.overdue_resolved,
            recurred=c.recurred,
            responded_on_time=c.responded_on_time,
            unrated_resolved=c.unrated_resolved,
            rated=c.rated(),
            satisfied_ratings=c.satisfied_ratings(satisfied),
            good_ratings=c.good_ratings(satisfied),
            resolutions=c.resolutions(),
            ratings=[
                GradeCount(grade=RatingGrade(g), count=c.ratings.get(g, 0)) for g in RATING_GRADES
            ],
        )


@strawberry.type(description="一个评价对象的得分 / a target's score")
class TargetScore:
    target: ScoreTarget
    rank: int = strawberry.field(description="按总分的组内名次（并列同名次）/ rank by total")
    subtotal: Decimal = strawberry.field(description="各指标得分之和 / sum of the indicators")
    total: Decimal = strawberry.field(description="含加减分，不低于 0 / with adjustments")
    indicators: list[IndicatorScore]
    adjustments: list[ScoreAdjustment]
    counters: ScoreCounters


def _indicator_score(
    info: Info, scheme: Scheme, r: IndicatorResult, value: ExternalInput | None
) -> IndicatorScore:
    ind = scheme.indicator(r.key)
    return IndicatorScore(
        key=r.key,
        name=localized(info, r.label),
        source=ind.source,
        status=r.status,
        max_points=r.max_points,
        rate=r.rate,
        numerator=r.numerator,
        denominator=r.denominator,
        rank=r.rank,
        points=r.points,
        deduction=r.deduction,
        input=IndicatorValue.of(value) if value is not None else None,
        status_reason=None if r.reason is None else localized(info, r.reason),
    )


def target_score(info: Info, scheme: Scheme, e: ScoredTarget) -> TargetScore:
    s = e.score
    return TargetScore(
        target=ScoreTarget.of(e.target),
        rank=s.rank,
        subtotal=s.subtotal,
        total=s.total,
        indicators=[_indicator_score(info, scheme, r, e.external.get(r.key)) for r in s.indicators],
        adjustments=[
            ScoreAdjustment(
                key=a.key, name=localized(info, a.label), count=a.count, points=a.points
            )
            for a in s.adjustments
        ],
        counters=ScoreCounters.of(e.counters, scheme.satisfied_grades),
    )


@strawberry.type(description="评价结果：组内排名 / the ranked scores of a peer group")
class Scoreboard:
    scheme: ScoringScheme
    target_kind: TargetKind
    region: Region = strawberry.field(description="部门所属地区，或被比较地区的上级 / the group")
    period: EvaluationPeriod
    entries: list[TargetScore]
    freshness: DataFreshness


@strawberry.type(description="某期得分 / a target's score in one period")
class ScoreHistoryPoint:
    period: EvaluationPeriod
    peers: int = strawberry.field(description="组内对象数 / targets ranked")
    score: TargetScore


@strawberry.type(description="评价对象的历史得分 / a target's score across periods")
class ScoreHistory:
    scheme: ScoringScheme
    target: ScoreTarget
    points: list[ScoreHistoryPoint] = strawberry.field(description="由远及近 / oldest first")
    freshness: DataFreshness


def scoreboard(info: Info, board: GroupScores) -> Scoreboard:
    return Scoreboard(
        scheme=ScoringScheme.of(info, board.scheme),
        target_kind=board.group.kind,
        region=Region.from_record(board.group.region),
        freshness=DataFreshness.of(board.freshness, info.context.clock.now()),
        period=EvaluationPeriod.of(board.period),
        entries=[target_score(info, board.scheme, e) for e in board.entries],
    )
