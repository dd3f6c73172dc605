"""``addListEntry``: an evaluator puts a department or a region of its scope on the red list
(a model practice, +1) or the black list (weak service, −1), with the reason and the issue
or model case behind it.
"""

from __future__ import annotations

from closedloop.schema.context import Info
from closedloop.schema.evaluation.inputs import AddListEntryInput, AddListEntryPayload
from closedloop.schema.evaluation.loaders import evaluation_loaders
from closedloop.schema.evaluation.records import ListEntry, evaluation_error
from closedloop.schema.payloads import unit_pk
from closedloop.services.evaluation import records
from closedloop.services.evaluation.errors import EvaluationError as Failure


async def resolve(info: Info, input: AddListEntryInput) -> AddListEntryPayload:
    ctx = info.context
    cmd = records.AddListEntry(
        kind=input.kind,
        target=records.TargetRef(
            input.target_kind,
            department_id=unit_pk(input.department_id, "Department"),
            region_code=input.region_code,
        ),
        reason=input.reason,
        # A malformed id matches nothing (-1): it answers like an unknown one.
        issue_id=unit_pk(input.issue_id, "Issue"),
        case_id=unit_pk(input.case_id, "Case"),
        listed_on=input.listed_on,
    )
    try:
        new_id, first = await records.add_list_entry(
            ctx.db, ctx.clock, ctx.principal, cmd, input.idempotency_key
        )
    except Failure as exc:
        return AddListEntryPayload(entry=None, errors=[evaluation_error(info, exc)])
    # A replay answers with the row as the first request did.
    row = first or await evaluation_loaders(info).entry.load(new_id)
    return AddListEntryPayload(entry=ListEntry.from_row(row) if row else None, errors=[])
