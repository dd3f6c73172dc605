"""``recordIndicator``: an evaluator records an external indicator input for a department or
a region in its scope; the new record supersedes the current one, whose history stays.
"""

from __future__ import annotations

from closedloop.domain.scoring import (
    ChecksInput,
    ExternalInput,
    PointsInput,
    RankInput,
    RateInput,
)
from closedloop.schema.context import Info
from closedloop.schema.evaluation.inputs import (
    IndicatorValueInput,
    RecordIndicatorInput,
    RecordIndicatorPayload,
)
from closedloop.schema.evaluation.loaders import evaluation_loaders
from closedloop.schema.evaluation.records import IndicatorRecord, evaluation_error
from closedloop.schema.payloads import unit_pk
from closedloop.services.evaluation import records
from closedloop.services.evaluation.errors import EvaluationError as Failure


def to_value(v: IndicatorValueInput) -> ExternalInput | None:
    """The one kind of value given; ``None`` when none or several are."""
    given: list[ExternalInput] = []
    if v.points is not None:
        given.append(PointsInput(v.points))
    if v.checks is not None:
        given.append(ChecksInput({c.key: c.met for c in v.checks}))
    if v.numerator is not None or v.denominator is not None:
        # A budget without anything paid is a 0 % fulfilment, not a missing value.
        given.append(RateInput(v.numerator if v.numerator is not None else 0, v.denominator))
    if v.rank is not None:
        given.append(RankInput(v.rank))
    return given[0] if len(given) == 1 else None


async def resolve(info: Info, input: RecordIndicatorInput) -> RecordIndicatorPayload:
    ctx = info.context
    cmd = records.RecordIndicator(
        scheme=input.scheme,
        indicator=input.indicator,
        target=records.TargetRef(
            input.target_kind,
            department_id=unit_pk(input.department_id, "Department"),
            region_code=input.region_code,
        ),
        period=input.period,
        value=to_value(input.value),
    )
    try:
        new_id, first = await records.record_indicator(
            ctx.db, ctx.clock, ctx.principal, cmd, input.idempotency_key, ctx.scheme_catalog
        )
    except Failure as exc:
        return RecordIndicatorPayload(record=None, errors=[evaluation_error(info, exc)])
    # A replay answers with the row as the first request did.
    row = first or await evaluation_loaders(info).record.load(new_id)
    return RecordIndicatorPayload(record=IndicatorRecord.from_row(row) if row else None, errors=[])
