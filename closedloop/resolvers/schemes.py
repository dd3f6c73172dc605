"""Root fields of scoring schemes as data: ``scoringSchemes`` (the stored versions in the
caller's scope, newest first, a connection with ``totalCount``) and the two mutations (one
module each in ``closedloop.resolvers.mutations``). ``validateScoringScheme`` (rules) checks
a document with the same check as ``uploadScoringScheme``; ``schemesInForce`` (evaluation)
answers which scheme scores a period."""

from __future__ import annotations

import strawberry

from closedloop.resolvers.fields import signed_in_mutation
from closedloop.resolvers.mutations import activate_scoring_scheme, upload_scoring_scheme
from closedloop.schema.context import Info
from closedloop.schema.paging import as_int_id, paging
from closedloop.schema.relay import Connection, encode_cursor, make_connection
from closedloop.schema.schemes import (
    ScoringSchemeFilterInput,
    ScoringSchemePayload,
    ScoringSchemeVersion,
)
from closedloop.services.schemes import versions


@strawberry.type
class SchemeQuery:
    @strawberry.field(
        description="评价方案版本（可见范围内，新的在前）/ stored scoring scheme versions"
    )
    async def scoring_schemes(
        self,
        info: Info,
        filter: ScoringSchemeFilterInput | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> Connection[ScoringSchemeVersion]:
        size, before_id = paging(info.context.locale, first, after, as_int_id)
        p = info.context.principal
        if p.is_anonymous:
            return make_connection([], [], size, 0, after=after is not None)
        f = filter or ScoringSchemeFilterInput()
        cmd = versions.SchemeVersionFilter(scheme_key=f.scheme_key, state=f.state)
        rows, total = await versions.list_versions(info.context.db, p, cmd, size + 1, before_id)
        return make_connection(
            [ScoringSchemeVersion.from_record(r) for r in rows],
            [encode_cursor(str(r.id)) for r in rows],
            size,
            total,
            after=after is not None,
        )


@strawberry.type
class SchemeMutation:
    upload_scoring_scheme: ScoringSchemePayload = signed_in_mutation(
        upload_scoring_scheme, "上传评价方案版本（草稿）/ upload a scheme version as a draft"
    )
    activate_scoring_scheme: ScoringSchemePayload = signed_in_mutation(
        activate_scoring_scheme,
        "启用评价方案版本（省级管理员）/ put a version in force from a period",
    )
