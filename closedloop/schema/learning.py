"""Learning from every case (举一反三) in GraphQL: the tag library, top tags, the shared
case library, the library/pool counts; merging, recurrence, case sharing, callbacks."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import strawberry

from closedloop.authz.roles import Role
from closedloop.db import tables as t
from closedloop.domain.regions import is_valid_code
from closedloop.schema.callbacks import CallbackSample, resolve_callback_sample
from closedloop.schema.context import Info
from closedloop.schema.errors import PublicError
from closedloop.schema.node_registry import register_node
from closedloop.schema.paging import as_id, paging
from closedloop.schema.relay import (
    Connection,
    Node,
    encode_cursor,
    make_connection,
    to_global_id,
)
from closedloop.services.learning import cases as case_service
from closedloop.services.learning import tags as tag_service
from closedloop.services.learning.cases import CaseRecord
from closedloop.tenancy.scope import in_subtree, issue_visibility

STAFF = frozenset(Role) - {Role.ENTERPRISE}


@strawberry.type(description="标签库中的标签 / a tag of the province's library")
class Tag:
    id: strawberry.ID
    name: str
    path: str = strawberry.field(description="层级路径，如 人才›技能人才招引")
    parent_id: strawberry.ID | None
    keywords: list[str]


@strawberry.type(description="标签及问题数 / a tag and how many issues carry it")
class TagCount:
    tag: str
    count: int


@strawberry.type(description="典型案例（已隐去企业信息）/ a model case, enterprise removed")
class Case(Node):
    title: str
    problem: str
    solution: str
    tags: list[str]
    region_code: str
    shared_at: dt.datetime

    @classmethod
    def from_record(cls, r: CaseRecord) -> Case:
        return cls(
            id=to_global_id("Case", r.id),
            title=r.title,
            problem=r.problem,
            solution=r.solution,
            tags=list(r.tags),
            region_code=r.region_code,
            shared_at=r.shared_at,
        )


@strawberry.type(description="问题库与问题池 / the issue library and the pool")
class LibraryStats:
    library: int = strawberry.field(description="问题库：全部归集的问题")
    settled_in_channel: int = strawberry.field(description="原渠道办结")
    merged: int = strawberry.field(description="排重合并的重复件")
    pool: int = strawberry.field(description="问题池：进入中心流程的问题")


def _province_reader(info: Info) -> str | None:
    """The case library is shared with every staff tier of the province (一地突破、全域共享):
    a deliberate exception to region scope. Enterprises do not read it."""
    p = info.context.principal
    if p.role not in STAFF or p.region_code is None:
        return None
    return p.region_code[:2]


def _check_region(info: Info, code: str, field: str) -> None:
    if not is_valid_code(code):
        raise PublicError(
            "INVALID_REGION_CODE", f"{field}={code!r}", info.context.locale, field=field
        )


@register_node("Case")
async def _case_node(info: Info, key: str) -> Case | None:
    province = _province_reader(info)
    if province is None or not key.isdigit():
        return None
    async with info.context.db.read_reference() as conn:
        found = (await case_service.cases_by_id(conn, [int(key)])).get(int(key))
    return Case.from_record(found) if found and found.province_code == province else None


@strawberry.type
class LearningQuery:
    @strawberry.field(description="标签库 / the tag library of the caller's province")
    async def tags(self, info: Info, province: str | None = None) -> list[Tag]:
        p = info.context.principal
        if p.is_anonymous or p.region_code is None:
            return []
        code = province or p.region_code[:2]
        _check_region(info, code, "province")
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
        _check_region(info, region, "region")
        p = info.context.principal
        async with info.context.db.read(p) as conn:
            rows = await tag_service.top_tags(
                conn, p, region, created_from, created_to, max(1, min(first, 50))
            )
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
            _check_region(info, region_within, "regionWithin")
        size, after_id = paging(locale, first, after, as_id)
        province = _province_reader(info)
        if province is None:
            return make_connection([], [], size, 0, after=after is not None)
        async with info.context.db.read_reference() as conn:
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
        _check_region(info, region, "region")
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
