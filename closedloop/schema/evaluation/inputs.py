"""The evaluation mutations' inputs and payloads."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import strawberry

from closedloop.domain.schemes import (
    DEFAULT_SCHEME,
)
from closedloop.schema.evaluation.records import EvaluationError, IndicatorRecord, ListEntry
from closedloop.services.evaluation.targets import ListKind, TargetKind

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
