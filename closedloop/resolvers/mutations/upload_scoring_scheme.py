"""``uploadScoringScheme``: a province admin or evaluator stores a scheme document as a
draft version (checked as ``validateScoringScheme`` checks it; each problem with its path)."""

from __future__ import annotations

from closedloop.domain.schemes import SchemeVersionError
from closedloop.schema.context import Info
from closedloop.schema.schemes import (
    ScoringSchemePayload,
    ScoringSchemeVersion,
    UploadScoringSchemeInput,
    scheme_errors,
)
from closedloop.services.schemes import versions


async def resolve(info: Info, input: UploadScoringSchemeInput) -> ScoringSchemePayload:
    ctx = info.context
    cmd = versions.UploadScheme(document=input.document, version_label=input.version_label)
    try:
        rec = await versions.upload(ctx.db, ctx.clock, ctx.principal, cmd, input.idempotency_key)
    except SchemeVersionError as exc:
        return ScoringSchemePayload(scheme_version=None, errors=scheme_errors(info, exc))
    return ScoringSchemePayload(scheme_version=ScoringSchemeVersion.from_record(rec), errors=[])
