"""``activateScoringScheme``: the province admin puts a draft version in force from a period
that has not ended; every API process scores that period and later ones with it at once."""

from __future__ import annotations

from closedloop.domain.schemes import SchemeVersionError
from closedloop.schema.context import Info
from closedloop.schema.payloads import unit_pk
from closedloop.schema.schemes import (
    ActivateScoringSchemeInput,
    ScoringSchemePayload,
    ScoringSchemeVersion,
    scheme_errors,
)
from closedloop.services.schemes import versions


async def resolve(info: Info, input: ActivateScoringSchemeInput) -> ScoringSchemePayload:
    ctx = info.context
    try:
        rec = await versions.activate(
            ctx.db,
            ctx.clock,
            ctx.principal,
            unit_pk(input.id, "ScoringSchemeVersion") or -1,  # malformed: matches nothing
            input.effective_from,
            input.expected_version,
            input.idempotency_key,
        )
    except SchemeVersionError as exc:
        return ScoringSchemePayload(scheme_version=None, errors=scheme_errors(info, exc))
    ctx.scheme_catalog.changed(rec.scheme_key)  # this process at once; the others by NOTIFY
    return ScoringSchemePayload(scheme_version=ScoringSchemeVersion.from_record(rec), errors=[])
