"""Region, service center, board and department types.

The region tree is public geography for any signed-in caller; a region's center,
boards and departments are tenant data and answer only inside the caller's scope.
"""

from __future__ import annotations

import strawberry

from closedloop import i18n
from closedloop.authz.enforcer import can, can_on_region
from closedloop.authz.roles import Action, Target
from closedloop.schema.context import Info
from closedloop.schema.enums import RegionLevel
from closedloop.schema.execution.memo import pure
from closedloop.schema.node_registry import register_node
from closedloop.schema.relay import Node, to_global_id
from closedloop.services.tenancy import CenterRecord, RegionRecord, UnitRecord


def can_read_regions(info: Info) -> bool:
    return can(info.context.principal, Action.REGION_READ, Target.UNRELATED)


def can_read_center_of(info: Info, region_code: str) -> bool:
    return can_on_region(info.context.principal, Action.CENTER_READ, region_code)


@strawberry.type(description="行政区划 / an administrative region")
class Region(Node):
    code: str
    name: str
    level: RegionLevel
    parent_code: str | None

    @classmethod
    def from_record(cls, rec: RegionRecord) -> Region:
        return cls(
            id=to_global_id("Region", rec.code),
            code=rec.code,
            name=rec.name,
            level=rec.level,
            parent_code=rec.parent_code,
        )

    @strawberry.field(description="层级名称（按 Accept-Language）/ localized level label")
    @pure
    def level_label(self, info: Info) -> str:
        return i18n.label(self.level, info.context.locale, "RegionLevel")

    @strawberry.field
    async def parent(self, info: Info) -> Region | None:
        if self.parent_code is None:
            return None
        rec = await info.context.loaders.region.load(self.parent_code)
        return Region.from_record(rec) if rec else None

    @strawberry.field
    async def children(self, info: Info) -> list[Region]:
        recs = await info.context.loaders.children.load(self.code)
        return [Region.from_record(r) for r in recs]

    @strawberry.field(description="企业综合服务中心 (null outside the caller's scope)")
    async def center(self, info: Info) -> Center | None:
        if not can_read_center_of(info, self.code):
            return None
        rec = await info.context.loaders.center_by_region.load(self.code)
        return Center.from_record(rec) if rec else None

    @strawberry.field(description="增值服务板块 (empty outside the caller's scope)")
    async def boards(self, info: Info) -> list[Board]:
        if not can_read_center_of(info, self.code):
            return []
        return [
            Board.from_record(r)
            for r in await info.context.loaders.boards_by_region.load(self.code)
        ]

    @strawberry.field(description="部门 16+N (empty outside the caller's scope)")
    async def departments(self, info: Info) -> list[Department]:
        if not can_read_center_of(info, self.code):
            return []
        recs = await info.context.loaders.departments_by_region.load(self.code)
        return [Department.from_record(r) for r in recs]


@strawberry.type(description="企业综合服务中心 / a region's enterprise service center")
class Center(Node):
    name: str
    region_code: strawberry.Private[str]

    @classmethod
    def from_record(cls, rec: CenterRecord) -> Center:
        return cls(id=to_global_id("Center", rec.id), name=rec.name, region_code=rec.region_code)

    @strawberry.field
    async def region(self, info: Info) -> Region:
        rec = await info.context.loaders.region.load(self.region_code)
        assert rec is not None
        return Region.from_record(rec)

    @strawberry.field
    async def boards(self, info: Info) -> list[Board]:
        return [
            Board.from_record(r)
            for r in await info.context.loaders.boards_by_region.load(self.region_code)
        ]

    @strawberry.field
    async def departments(self, info: Info) -> list[Department]:
        recs = await info.context.loaders.departments_by_region.load(self.region_code)
        return [Department.from_record(r) for r in recs]


@strawberry.type(description="增值服务板块 / a service board of a center")
class Board(Node):
    key: str
    name_zh: str
    name_en: str
    region_code: str

    @classmethod
    def from_record(cls, rec: UnitRecord) -> Board:
        return cls(
            id=to_global_id("Board", rec.id),
            key=rec.key,
            name_zh=rec.name_zh,
            name_en=rec.name_en,
            region_code=rec.region_code,
        )

    @strawberry.field(description="名称（按 Accept-Language）/ localized name")
    def name(self, info: Info) -> str:
        return self.name_en if info.context.locale == i18n.EN else self.name_zh


@strawberry.type(description="部门 / a government department (16+N)")
class Department(Node):
    key: str
    name_zh: str
    name_en: str
    region_code: str
    is_key: bool = strawberry.field(description="one of the 16 scored key departments")

    @classmethod
    def from_record(cls, rec: UnitRecord) -> Department:
        return cls(
            id=to_global_id("Department", rec.id),
            key=rec.key,
            name_zh=rec.name_zh,
            name_en=rec.name_en,
            region_code=rec.region_code,
            is_key=rec.is_key,
        )

    @strawberry.field(description="名称（按 Accept-Language）/ localized name")
    def name(self, info: Info) -> str:
        return self.name_en if info.context.locale == i18n.EN else self.name_zh


@register_node("Region")
async def _region_node(info: Info, key: str) -> Region | None:
    if not can_read_regions(info):
        return None
    rec = await info.context.loaders.region.load(key)
    return Region.from_record(rec) if rec else None


@register_node("Center")
async def _center_node(info: Info, key: str) -> Center | None:
    if not key.isdigit():
        return None
    rec = await info.context.loaders.center.load(int(key))
    return Center.from_record(rec) if rec and can_read_center_of(info, rec.region_code) else None


@register_node("Board")
async def _board_node(info: Info, key: str) -> Board | None:
    if not key.isdigit():
        return None
    rec = await info.context.loaders.board.load(int(key))
    return Board.from_record(rec) if rec and can_read_center_of(info, rec.region_code) else None


@register_node("Department")
async def _department_node(info: Info, key: str) -> Department | None:
    if not key.isdigit():
        return None
    rec = await info.context.loaders.department.load(int(key))
    if rec is None or not can_read_center_of(info, rec.region_code):
        return None
    return Department.from_record(rec)
