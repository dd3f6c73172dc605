"""Scoring schemes, their indicators and checks, and evaluation periods."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import strawberry

from closedloop import i18n
from closedloop.domain.issues import RatingGrade
from closedloop.domain.periods import Period, PeriodKind
from closedloop.domain.schemes import (
    RATING_GRADES,
    ChecksRule,
    EmptyPolicy,
    Indicator,
    RatingCount,
    Scheme,
    Source,
)
from closedloop.domain.scoring import (
    ChecksInput,
    PointsInput,
    RankInput,
    RateInput,
    input_kind,
)
from closedloop.schema.context import Info
from closedloop.schema.evaluation.args import localized
from closedloop.schema.execution.memo import pure

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
    @pure
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
    when_empty: EmptyPolicy = strawberry.field(
        description="无可计算数据时的得分（方案规定）/ points when there is nothing to measure"
    )


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
        name=localized(info, ind.label),
        group=localized(info, ind.group),
        max_points=ind.points,
        source=ind.source,
        input_kind=INPUT_KINDS[kind] if kind is not None else None,
        checks=[SchemeCheck(key=c.key, name=localized(info, c.label)) for c in checks],
        rate_numerator=ind.rate.numerator if ind.rate else None,
        rate_denominator=ind.rate.denominator if ind.rate else None,
        provider=localized(info, ind.provider) if ind.provider else None,
        when_empty=ind.when_empty,
    )


@strawberry.type(description="评价方案 / a scoring scheme (data, not code)")
class ScoringScheme:
    key: str
    name: str
    max_total: Decimal
    satisfied_grades: list[RatingGrade] = strawberry.field(
        description="计为满意的评价档次 / grades counted as satisfied"
    )
    rating_count: RatingCount = strawberry.field(
        description="问题多次办结时计入哪些评价 / which ratings count when resolved again"
    )
    indicators: list[SchemeIndicator]

    @strawberry.field
    def rating_count_label(self, info: Info) -> str:
        return i18n.label(self.rating_count, info.context.locale, "RatingCount")

    @classmethod
    def of(cls, info: Info, s: Scheme) -> ScoringScheme:
        return cls(
            key=s.key,
            name=localized(info, s.label),
            max_total=s.max_total,
            satisfied_grades=[RatingGrade(g) for g in RATING_GRADES if g in s.satisfied_grades],
            rating_count=s.rating_count,
            indicators=[_scheme_indicator(info, i) for i in s.indicators],
        )
