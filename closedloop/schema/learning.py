"""Learning from every case (举一反三) in GraphQL: the types of the tag library, top tags,
the shared case library and the library/pool counts. The root fields are in
``closedloop.resolvers.learning``."""

from __future__ import annotations

import datetime as dt

import strawberry

from closedloop.authz.enforcer import can_on_region
from closedloop.authz.roles import Action
from closedloop.schema.context import Info
from closedloop.schema.node_registry import register_node
from closedloop.schema.relay import (
    Node,
    to_global_id,
)
from closedloop.services.learning import cases as case_service
from closedloop.services.learning.cases import CaseRecord


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


def province_reader(info: Info) -> str | None:
    """The case library is shared across the province (一地突破、全域共享): a deliberate
    exception to region scope. The policy's ``case.read`` says which roles read it (every
    staff role, whatever the relation; not enterprises)."""
    p = info.context.principal
    if p.region_code is None:
        return None
    province = p.region_code[:2]
    return province if can_on_region(p, Action.CASE_READ, province) else None


@register_node("Case")
async def _case_node(info: Info, key: str) -> Case | None:
    province = province_reader(info)
    if province is None or not key.isdigit():
        return None
    async with info.context.db.read(info.context.principal) as conn:
        found = (await case_service.cases_by_id(conn, [int(key)])).get(int(key))
    return Case.from_record(found) if found and found.province_code == province else None
