"""``recordIndicator``: an evaluator records an external indicator input for a department or
a region in its scope; the new record supersedes the current one, whose history stays.

The input and payload types live with the other evaluation types in
``closedloop.schema.evaluation`` (which registers the shared enums before any type uses
them); that module imports this one for its root type, so this one imports it when a
request runs, never at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from closedloop.domain.scoring import (
    ChecksInput,
    ExternalInput,
    PointsInput,
    RankInput,
    RateInput,
)
from closedloop.schema.context import Info
from closedloop.schema.payloads import unit_pk
from closedloop.services.evaluation import records
from closedloop.services.evaluation.errors import EvaluationError as Failure

if TYPE_CHECKING:
    from closedloop.schema.evaluation import (
        IndicatorValueInput,
        RecordIndicatorInput,
        RecordIndicatorPayload,
    )


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
    from closedloop.schema import evaluation as schema

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
        new_id = await records.record_indicator(
            ctx.db, ctx.clock, ctx.principal, cmd, input.idempotency_key
        )
    except Failure as exc:
        return schema.RecordIndicatorPayload(
            record=None, errors=[schema.evaluation_error(info, exc)]
        )
    row = await schema.evaluation_loaders(info).record.load(new_id)
    return schema.RecordIndicatorPayload(
        record=schema.IndicatorRecord.from_row(row) if row else None, errors=[]
    )
