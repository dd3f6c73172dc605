"""External indicator records and red/black list entries (nodes), and the evaluation
mutation error."""

from __future__ import annotations

import datetime as dt

import strawberry

from closedloop import i18n
from closedloop.authz.enforcer import can_on_region
from closedloop.authz.roles import Action
from closedloop.domain.periods import InvalidPeriod, Period, PeriodKind, parse_period
from closedloop.domain.schemes import (
    ScoringError,
)
from closedloop.schema.context import Info
from closedloop.schema.evaluation.args import localized
from closedloop.schema.evaluation.loaders import evaluation_loaders
from closedloop.schema.evaluation.schemes import EvaluationPeriod
from closedloop.schema.evaluation.scores import IndicatorValue, ScoreTarget
from closedloop.schema.execution.memo import pure
from closedloop.schema.issues import Issue
from closedloop.schema.node_registry import register_node
from closedloop.schema.payloads import UserError
from closedloop.schema.relay import Node, to_global_id
from closedloop.services.evaluation.errors import EvaluationError as EvaluationFailure
from closedloop.services.evaluation.errors import EvaluationErrorCode
from closedloop.services.evaluation.record_queries import (
    IndicatorRecordRow,
    ListEntryRow,
    decode_value,
    history_key,
)
from closedloop.services.evaluation.targets import ListKind

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
    async def indicator_name(self, info: Info) -> str | None:
        """As the scheme in force for the record's period names it."""
        period = Period(self.row.period_label, self.period.kind, self.period.start, self.period.end)
        try:
            scheme = await info.context.scheme_catalog.scheme(self.scheme, period)
            return localized(info, scheme.indicator(self.indicator_key).label)
        except ScoringError:  # the scheme changed since: the key still names it
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
    @pure
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
