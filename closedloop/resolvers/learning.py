"""Root fields of learning from every case (举一反三): the tag library, tag suggestions, top
tags, the shared case library, the callback sample, the library/pool counts."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import strawberry

from closedloop.db import tables as t
from closedloop.schema.callbacks import CallbackSample, resolve_callback_sample
from closedloop.schema.context import Info
from closedloop.schema.evaluation.args import check_region
from closedloop.schema.learning import Case, LibraryStats, Tag, TagCount, province_reader
from closedloop.schema.paging import as_int_id, paging
from closedloop.schema.relay import (
    Connection,
    encode_cursor,
    make_connection,
    to_global_id,
)
from closedloop.services.learning import cases as case_service
from closedloop.services.learning import tags as tag_service
from closedloop.tenancy.scope import in_subtree, issue_visibility


@strawberry.type
class LearningQuery:
    @strawberry.field(description="标签库 / the tag library of the caller's province")
    async def tags(self, info: Info, province: str | None = None) -> list[Tag]:
        p = info.context.principal
        if p.is_anonymous or p.region_code is None:
            return []
        code = province or p.region_code[:2]
        check_region(info, code, "province")
        library = await info.context.loaders.tag_library.load(code)
        return [
            Tag(
                id=to_global_id("Tag", r.id),
                name=r.name,
                path=r.path,
                parent_id=to_global_id("Tag", r.parent_id) if r.parent_id else None,
                keywords=list(r.keywords),
            )
            for r in library
        ]

    @strawberry.field(description="标签推荐 / tags the library suggests for a text")
    async def suggest_tags(self, info: Info, text: str) -> list[str]:
        p = info.context.principal
        if p.is_anonymous or p.region_code is None:
            return []
        library = await info.context.loaders.tag_library.load(p.region_code[:2])
        return [t.path for t in tag_service.suggest(library, text)]

    @strawberry.field(description="热点标签 TOP N / the most frequent tags in a scope")
    async def top_tags(
        self,
        info: Info,
        region: str,
        created_from: dt.datetime | None = None,
        created_to: dt.datetime | None = None,
        first: int = 10,
    ) -> list[TagCount]:
        check_region(info, region, "region")
        p = info.context.principal
        async with info.context.db.read(p) as conn:
            rows = await tag_service.top_tags(conn, p, region, created_from, created_to, first)
        return [TagCount(tag=r.tag, count=r.count) for r in rows]

    @strawberry.field(description="典型案例库（全省共享，只读）/ the province's model cases")
    async def cases(
        self,
        info: Info,
        tag: str | None = None,
        text: str | None = None,
        region_within: str | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> Connection[Case]:
        locale = info.context.locale
        if region_within is not None:
            check_region(info, region_within, "regionWithin")
        size, after_id = paging(locale, first, after, as_int_id)
        province = province_reader(info)
        if province is None:
            return make_connection([], [], size, 0, after=after is not None)
        async with info.context.db.read(info.context.principal) as conn:
            rows, total = await case_service.list_cases(
                conn, province, tag, text, region_within, size + 1, after_id
            )
        return make_connection(
            [Case.from_record(r) for r in rows],
            [encode_cursor(str(r.id)) for r in rows],
            size,
            total,
            after=after is not None,
        )

    @strawberry.field(description="回访抽样 / the callback sample of a region and period")
    async def callback_sample(self, info: Info, region: str, period: str) -> CallbackSample | None:
        return await resolve_callback_sample(info, region, period)

    @strawberry.field(description="问题库与问题池计数 / library and pool counts for a scope")
    async def library_stats(self, info: Info, region: str) -> LibraryStats:
        check_region(info, region, "region")
        p = info.context.principal
        c = t.issue.c
        q = sa.select(
            sa.func.count(),
            sa.func.count().filter(c.handling_level == "ORIGINAL_CHANNEL"),
            sa.func.count().filter(c.state == "MERGED"),
        ).where(issue_visibility(p), in_subtree(c.origin_region_code, region))
        async with info.context.db.read(p) as conn:
            total, settled, merged = (await conn.execute(q)).one()
        return LibraryStats(
            library=total, settled_in_channel=settled, merged=merged, pool=total - settled - merged
        )
