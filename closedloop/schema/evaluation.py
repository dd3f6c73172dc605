"""Evaluation in GraphQL (晾晒评价): schemes, scores and their history, the cockpit
(``dashboard``), external indicator records and red/black list entries.

Scope: ``scores``, ``scoreHistory``, ``indicatorRecords`` and ``listEntries`` need
``score.read`` on the region, ``dashboard`` needs ``dashboard.read``; a region outside the
caller's scope answers exactly like an unknown one (``null`` / empty). Malformed input (a
region code, a period, a scheme) is a typed error (``PublicError`` with its code).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader

from closedloop import i18n
from closedloop.authz.enforcer import can_on_region
from closedloop.authz.roles import Action, Principal
from closedloop.db.database import Database
from closedloop.domain.issues import IssueState, RatingGrade
from closedloop.domain.periods import InvalidPeriod, Period, PeriodKind, parse_period
from closedloop.domain.regions import RegionLevel, is_valid_code
from closedloop.domain.schemes import (
    DEFAULT_SCHEME,
    RATING_GRADES,
    ChecksRule,
    Indicator,
    Label,
    Scheme,
    Source,
    UnknownScheme,
    available_schemes,
    load_scheme,
)
from closedloop.domain.scoring import (
    RESULT_STATUS_LABELS,
    ChecksInput,
    Counters,
    ExternalInput,
    IndicatorResult,
    PointsInput,
    RankInput,
    RateInput,
    ResultStatus,
    input_kind,
)
from closedloop.resolvers import issues as issue_resolvers
from closedloop.resolvers.mutations import add_list_entry, record_indicator
from closedloop.schema.context import Info
from closedloop.schema.errors import PublicError
from closedloop.schema.issues import Issue
from closedloop.schema.node_registry import register_node
from closedloop.schema.payloads import SignedIn, UserError
from closedloop.schema.relay import Connection, Node, from_global_id, to_global_id
from closedloop.schema.tenancy import Department, Region, can_read_center_of
from closedloop.services.evaluation import dashboard as dashboard_service
from closedloop.services.evaluation import records as record_service
from closedloop.services.evaluation import scores as score_service
from closedloop.services.evaluation.dashboard import Figures, UnitFigures
from closedloop.services.evaluation.errors import EvaluationError as EvaluationFailure
from closedloop.services.evaluation.errors import EvaluationErrorCode
from closedloop.services.evaluation.records import (
    IndicatorRecordRow,
    ListEntryRow,
    decode_value,
    history_key,
)
from closedloop.services.evaluation.scores import GroupScores, ScoredTarget
from closedloop.services.evaluation.targets import ListKind, Target, TargetKind
from closedloop.services.issues.queries import IssueOrder

strawberry.enum(TargetKind, name="EvaluationTargetKind", description="评价对象类型 / target kind")
strawberry.enum(ListKind, name="ListEntryKind", description="红黑榜 / red or black list")
strawberry.enum(ResultStatus, name="IndicatorStatus", description="指标计分状态 / status")
strawberry.enum(Source, name="IndicatorSource", description="指标来源 / where a value comes from")
strawberry.enum(PeriodKind, name="PeriodKind", description="统计周期类型 / period kind")
strawberry.enum(
    EvaluationErrorCode, name="EvaluationErrorCode", description="评价操作错误 / evaluation errors"
)

i18n.register(
    "EvaluationTargetKind",
    {"DEPARTMENT": ("部门", "Department"), "REGION": ("地区", "Region")},
)
i18n.register("ListEntryKind", {"RED": ("红榜", "Red list"), "BLACK": ("黑榜", "Black list")})
i18n.register(
    "IndicatorStatus", {s.value: (label.zh, label.en) for s, label in RESULT_STATUS_LABELS.items()}
)
i18n.register(
    "IndicatorSource",
    {"PLATFORM": ("平台计算", "Computed by the platform"), "EXTERNAL": ("外部录入", "Recorded")},
)
i18n.register(
    "PeriodKind",
    {
        "MONTH": ("月度", "Month"),
        "QUARTER": ("季度", "Quarter"),
        "YEAR": ("年度", "Year"),
        "RANGE": ("自定义区间", "Date range"),
    },
)

HISTORY_DEFAULT = 6


def _text(info: Info, label: Label) -> str:
    return label.en if info.context.locale == i18n.EN else label.zh


# --- argument checks (typed errors) ----------------------------------------------------------


def check_region(info: Info, code: str, field: str = "region") -> None:
    if not is_valid_code(code):
        raise PublicError(
            "INVALID_REGION_CODE", f"{field}={code!r}", info.context.locale, field=field
        )


def scheme_arg(info: Info, key: str) -> Scheme:
    try:
        return load_scheme(key)
    except UnknownScheme as exc:
        detail = exc.en if info.context.locale == i18n.EN else exc.zh
        raise PublicError("UNKNOWN_SCHEME", detail, info.context.locale, field="scheme") from exc


def period_arg(info: Info, text: str, field: str = "period") -> Period:
    try:
        return parse_period(text)
    except InvalidPeriod as exc:
        detail = exc.en if info.context.locale == i18n.EN else exc.zh
        raise PublicError("INVALID_PERIOD", detail, info.context.locale, field=field) from exc


# --- loaders kept per request (no N+1 on history and superseding links) ----------------------


RecordKey = tuple[str, str, str, str, int | None, dt.date, dt.date]


class EvaluationLoaders:
    def __init__(self, db: Database, principal: Principal) -> None:
        async def history(keys: list[RecordKey]) -> list[list[IndicatorRecordRow]]:
            async with db.read(principal) as conn:
                found = await record_service.record_history(conn, keys)
            return [found.get(k, []) for k in keys]

        async def records(ids: list[int]) -> list[IndicatorRecordRow | None]:
            async with db.read(principal) as conn:
                found = await record_service.records_by_id(conn, ids)
            return [found.get(i) for i in ids]

        async def entries(ids: list[int]) -> list[ListEntryRow | None]:
            async with db.read(principal) as conn:
                found = await record_service.entries_by_id(conn, ids)
            return [found.get(i) for i in ids]

        self.history: DataLoader[RecordKey, list[IndicatorRecordRow]] = DataLoader(history)
        self.record: DataLoader[int, IndicatorRecordRow | None] = DataLoader(records)
        self.entry: DataLoader[int, ListEntryRow | None] = DataLoader(entries)


def evaluation_loaders(info: Info) -> EvaluationLoaders:
    found = info.context.extras.get("evaluation_loaders")
    if not isinstance(found, EvaluationLoaders):
        found = EvaluationLoaders(info.context.db, info.context.principal)
        info.context.extras["evaluation_loaders"] = found
    return found


# --- schemes and periods ---------------------------------------------------------------------


@strawberry.type(description="统计周期 / an evaluation period")
class EvaluationPeriod:
    label: str = strawberry.field(description="如 2026-03、2026-Q1、2026、2026-01-01..2026-03-31")
    kind: PeriodKind
    start: dt.date = strawberry.field(description="第一天（含）/ first day, inclusive")
    end: dt.date = strawberry.field(description="结束日（不含）/ the day after the last")
    last_day: dt.date = strawberry.field(description="最后一天（含）/ last day, inclusive")
    starts_at: dt.datetime = strawberry.field(description="北京时间零点 / midnight in Beijing")
    ends_at: dt.datetime

    @classmethod
    def of(cls, p: Period) -> EvaluationPeriod:
        return cls(
            label=p.label,
            kind=p.kind,
            start=p.start,
            end=p.end,
            last_day=p.last_day,
            starts_at=p.start_at,
            ends_at=p.end_at,
        )

    @strawberry.field
    def kind_label(self, info: Info) -> str:
        return i18n.label(self.kind, info.context.locale, "PeriodKind")


@strawberry.type(description="检查项 / one check of a check-based indicator")
class SchemeCheck:
    key: str
    name: str


@strawberry.type(description="评价指标 / an indicator of a scheme")
class SchemeIndicator:
    key: str
    name: str
    group: str
    max_points: Decimal
    source: Source
    input_kind: str | None = strawberry.field(
        description="外部指标的录入方式 POINTS | CHECKS | RATE | RANK / what an evaluator records"
    )
    checks: list[SchemeCheck]
    rate_numerator: str | None = strawberry.field(description="比率分子 / the rate's numerator")
    rate_denominator: str | None
    provider: str | None


INPUT_KINDS: dict[type[Any], str] = {
    PointsInput: "POINTS",
    ChecksInput: "CHECKS",
    RateInput: "RATE",
    RankInput: "RANK",
}


def _scheme_indicator(info: Info, ind: Indicator) -> SchemeIndicator:
    kind = input_kind(ind)
    checks = ind.rule.checks if isinstance(ind.rule, ChecksRule) else ()
    return SchemeIndicator(
        key=ind.key,
        name=_text(info, ind.label),
        group=_text(info, ind.group),
        max_points=ind.points,
        source=ind.source,
        input_kind=INPUT_KINDS[kind] if kind is not None else None,
        checks=[SchemeCheck(key=c.key, name=_text(info, c.label)) for c in checks],
        rate_numerator=ind.rate.numerator if ind.rate else None,
        rate_denominator=ind.rate.denominator if ind.rate else None,
        provider=_text(info, ind.provider) if ind.provider else None,
    )


@strawberry.type(description="评价方案 / a scoring scheme (data, not code)")
class ScoringScheme:
    key: str
    name: str
    max_total: Decimal
    satisfied_grades: list[RatingGrade] = strawberry.field(
        description="计为满意的评价档次 / grades counted as satisfied"
    )
    indicators: list[SchemeIndicator]

    @classmethod
    def of(cls, info: Info, s: Scheme) -> ScoringScheme:
        return cls(
            key=s.key,
            name=_text(info, s.label),
            max_total=s.max_total,
            satisfied_grades=[RatingGrade(g) for g in RATING_GRADES if g in s.satisfied_grades],
            indicators=[_scheme_indicator(info, i) for i in s.indicators],
        )


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
            return _text(info, label)
        if self.department_id is not None:
            dept = await info.context.loaders.department.load(self.department_id)
            return _text(info, Label(dept.name_zh, dept.name_en)) if dept else ""
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
    ratings: list[GradeCount]

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
        name=_text(info, r.label),
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
            ScoreAdjustment(key=a.key, name=_text(info, a.label), count=a.count, points=a.points)
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


def scoreboard(info: Info, board: GroupScores) -> Scoreboard:
    return Scoreboard(
        scheme=ScoringScheme.of(info, board.scheme),
        target_kind=board.group.kind,
        region=Region.from_record(board.group.region),
        period=EvaluationPeriod.of(board.period),
        entries=[target_score(info, board.scheme, e) for e in board.entries],
    )


# --- indicator records and list entries ------------------------------------------------------


@strawberry.type(description="外部指标录入记录 / an external indicator input, with who and when")
class IndicatorRecord(Node):
    scheme: str
    indicator_key: str
    period: EvaluationPeriod
    value: IndicatorValue | None
    recorded_by_name: str | None
    recorded_at: dt.datetime
    current: bool = strawberry.field(description="当前有效（未被新记录取代）/ not superseded")
    row: strawberry.Private[IndicatorRecordRow]

    @classmethod
    def from_row(cls, r: IndicatorRecordRow) -> IndicatorRecord:
        decoded = decode_value(r.value)
        period = Period(
            r.period_label,
            _period_kind(r.period_label),
            r.period_start,
            r.period_end,
        )
        return cls(
            id=to_global_id("IndicatorRecord", r.id),
            scheme=r.scheme,
            indicator_key=r.indicator_key,
            period=EvaluationPeriod.of(period),
            value=IndicatorValue.of(decoded) if decoded is not None else None,
            recorded_by_name=r.recorded_by_name,
            recorded_at=r.recorded_at,
            current=r.superseded_by is None,
            row=r,
        )

    @strawberry.field
    def indicator_name(self, info: Info) -> str | None:
        try:
            return _text(info, load_scheme(self.scheme).indicator(self.indicator_key).label)
        except Exception:  # a scheme file changed since: the key still names it
            return None

    @strawberry.field
    def target(self) -> ScoreTarget:
        return ScoreTarget.from_row(
            self.row.target_kind, self.row.region_code, self.row.department_id
        )

    @strawberry.field(description="取代本记录的新记录 / the record that superseded this one")
    async def superseded_by(self, info: Info) -> IndicatorRecord | None:
        if self.row.superseded_by is None:
            return None
        found = await evaluation_loaders(info).record.load(self.row.superseded_by)
        return IndicatorRecord.from_row(found) if found else None

    @strawberry.field(description="同一对象、指标、周期的全部记录，新的在前 / all versions")
    async def history(self, info: Info) -> list[IndicatorRecord]:
        rows = await evaluation_loaders(info).history.load(history_key(self.row))
        return [IndicatorRecord.from_row(r) for r in rows]


def _period_kind(label: str) -> PeriodKind:
    try:
        return parse_period(label).kind
    except InvalidPeriod:
        return PeriodKind.RANGE


@strawberry.type(description="红黑榜条目 / a red or black list entry")
class ListEntry(Node):
    kind: ListKind
    reason: str
    listed_on: dt.date
    added_at: dt.datetime
    added_by_name: str | None
    row: strawberry.Private[ListEntryRow]

    @classmethod
    def from_row(cls, r: ListEntryRow) -> ListEntry:
        return cls(
            id=to_global_id("ListEntry", r.id),
            kind=r.kind,
            reason=r.reason,
            listed_on=r.listed_on,
            added_at=r.added_at,
            added_by_name=r.added_by_name,
            row=r,
        )

    @strawberry.field
    def kind_label(self, info: Info) -> str:
        return i18n.label(self.kind, info.context.locale, "ListEntryKind")

    @strawberry.field
    def target(self) -> ScoreTarget:
        return ScoreTarget.from_row(
            self.row.target_kind, self.row.region_code, self.row.department_id
        )

    @strawberry.field(description="相关诉求（超出范围时为 null）/ the issue behind it")
    async def issue(self, info: Info) -> Issue | None:
        if self.row.issue_id is None:
            return None
        rec = await info.context.loaders.issue.load(self.row.issue_id)
        return Issue.from_record(rec) if rec else None

    @strawberry.field(description="相关典型案例 ID / the model case behind it")
    def case_id(self) -> strawberry.ID | None:
        return to_global_id("Case", self.row.case_id) if self.row.case_id is not None else None


@register_node("IndicatorRecord")
async def _record_node(info: Info, key: str) -> IndicatorRecord | None:
    if not key.isdigit():
        return None
    found = await evaluation_loaders(info).record.load(int(key))
    if found is None or not can_on_region(
        info.context.principal, Action.SCORE_READ, found.region_code
    ):
        return None
    return IndicatorRecord.from_row(found)


@register_node("ListEntry")
async def _entry_node(info: Info, key: str) -> ListEntry | None:
    if not key.isdigit():
        return None
    found = await evaluation_loaders(info).entry.load(int(key))
    if found is None or not can_on_region(
        info.context.principal, Action.SCORE_READ, found.region_code
    ):
        return None
    return ListEntry.from_row(found)


@strawberry.type(description="评价操作错误 / an evaluation mutation error")
class EvaluationError(UserError):
    code: EvaluationErrorCode


def evaluation_error(info: Info, exc: EvaluationFailure) -> EvaluationError:
    return EvaluationError(code=exc.code, message=exc.message(info.context.locale), field=exc.field)


# --- mutation inputs and payloads ----------------------------------------------------------
# Here rather than in the resolver modules: strawberry converts an enum the first time a type
# uses it, so the types must come after the registrations above (the resolvers in
# closedloop.resolvers.mutations.record_indicator / add_list_entry only run them).


@strawberry.input(description="检查项 / one check and whether it is met")
class IndicatorCheckInput:
    key: str
    met: bool


@strawberry.input(description="录入值：只填一种 / exactly one kind of value")
class IndicatorValueInput:
    points: Decimal | None = strawberry.field(default=None, description="得分 / points 0..max")
    checks: list[IndicatorCheckInput] | None = strawberry.field(
        default=None, description="全部检查项 / every check of the indicator"
    )
    numerator: Decimal | None = strawberry.field(
        default=None, description="比率分子，如已兑付资金 / e.g. funds paid"
    )
    denominator: Decimal | None = strawberry.field(
        default=None, description="比率分母，如预算资金 / e.g. funds budgeted"
    )
    rank: int | None = strawberry.field(default=None, description="外部排名 / rank, 1 = best")


@strawberry.input
class RecordIndicatorInput:
    indicator: str = strawberry.field(description="指标键，须为外部指标 / an EXTERNAL indicator")
    target_kind: TargetKind
    period: str = strawberry.field(description="2026-03 | 2026-Q1 | 2026 | 2026-01-01..2026-03-31")
    value: IndicatorValueInput
    department_id: strawberry.ID | None = strawberry.field(
        default=None, description="部门对象时必填 / for a DEPARTMENT target"
    )
    region_code: str | None = strawberry.field(
        default=None, description="地区对象时必填 / for a REGION target"
    )
    scheme: str = DEFAULT_SCHEME
    idempotency_key: str | None = None


@strawberry.type(description="录入外部指标结果 / the result of recordIndicator")
class RecordIndicatorPayload:
    record: IndicatorRecord | None
    errors: list[EvaluationError]


@strawberry.input
class AddListEntryInput:
    kind: ListKind
    target_kind: TargetKind
    reason: str = strawberry.field(description="理由（必填）/ why, required")
    department_id: strawberry.ID | None = strawberry.field(
        default=None, description="部门对象时必填 / for a DEPARTMENT target"
    )
    region_code: str | None = strawberry.field(
        default=None, description="地区对象时必填 / for a REGION target"
    )
    issue_id: strawberry.ID | None = strawberry.field(
        default=None, description="相关诉求 / the issue behind it"
    )
    case_id: strawberry.ID | None = strawberry.field(
        default=None, description="相关典型案例 / the model case behind it"
    )
    listed_on: dt.date | None = strawberry.field(
        default=None, description="列入日期，默认今天（北京时间）/ defaults to today"
    )
    idempotency_key: str | None = None


@strawberry.type(description="红黑榜录入结果 / the result of addListEntry")
class AddListEntryPayload:
    entry: ListEntry | None
    errors: list[EvaluationError]


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
    def label(self, info: Info) -> str:
        return i18n.label(self.state, info.context.locale, "IssueState")


@strawberry.type(description="按承办层级 / issues by the tier holding them now")
class DashboardTierRow:
    tier: RegionLevel
    figures: DashboardFigures

    @strawberry.field
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
        return await issue_resolvers.issues(
            info,
            issue_resolvers.IssueFilterInput(
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


def dashboard_of(d: dashboard_service.Dashboard) -> Dashboard:
    live = list(LIVE_STATES)
    return Dashboard(
        region=Region.from_record(d.region),
        period=EvaluationPeriod.of(d.period),
        as_of=d.as_of,
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
    )


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
    @strawberry.field(description="评价方案 / the shipped scoring schemes")
    def scoring_schemes(self, info: Info) -> list[ScoringScheme]:
        return [ScoringScheme.of(info, load_scheme(k)) for k in available_schemes()]

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
        s = scheme_arg(info, scheme)
        p = period_arg(info, period)
        ctx = info.context
        boards = await score_service.group_scores(
            ctx.db, ctx.principal, s, target_kind, region, [p]
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
        s = scheme_arg(info, scheme)
        p = period_arg(info, period)
        if not 1 <= periods <= 36:
            raise PublicError(
                "INVALID_ARGUMENT", "periods must be 1..36", info.context.locale, field="periods"
            )
        key = _history_target(info, target_kind, target)
        ctx = info.context
        points = await score_service.target_history(
            ctx.db, ctx.principal, s, target_kind, region, key, p, periods
        )
        if not points:
            return None
        return ScoreHistory(
            scheme=ScoringScheme.of(info, s),
            target=ScoreTarget.of(points[-1].entry.target),
            points=[
                ScoreHistoryPoint(
                    period=EvaluationPeriod.of(x.period),
                    peers=x.peers,
                    score=target_score(info, s, x.entry),
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
        return dashboard_of(found) if found else None

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
        s = scheme_arg(info, scheme)
        p = period_arg(info, period)
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


__all__ = [
    "Dashboard",
    "EvaluationError",
    "EvaluationMutation",
    "EvaluationQuery",
    "IndicatorRecord",
    "ListEntry",
    "Scoreboard",
]
