"""Who is scored against whom: targets (a department or a region) and their peer groups.

Peer groups (DESIGN §5):

- departments: every department of one region's service center, the 16 key ones and the
  "+N" added per region (``is_key`` tells them apart; a client may keep the 16 only);
- regions: the direct children of one region: the cities of the province, the counties of a
  city, the towns of a county. A town has no children, so its region peer group is empty.

Targets are named by a stable key inside their group: the region code, or the department's
catalog key (``TALENT_OFFICE``), so ties in a ranking list in a readable order.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.db import driver
from closedloop.db import tables as t
from closedloop.domain.regions import LEVEL_BY_LENGTH, RegionLevel
from closedloop.services import tenancy
from closedloop.services.tenancy import RegionRecord

# The code length of a region's children, by the region's own code length.
CHILD_CODE_LENGTH: Mapping[int, int] = MappingProxyType({2: 4, 4: 6, 6: 9})


class TargetKind(enum.StrEnum):
    DEPARTMENT = "DEPARTMENT"
    REGION = "REGION"


class ListKind(enum.StrEnum):
    RED = "RED"
    BLACK = "BLACK"


# Red and black list entries feed the scheme's adjustments of these keys.
ADJUSTMENT_OF: Mapping[ListKind, str] = MappingProxyType(
    {ListKind.RED: "RED_LIST", ListKind.BLACK: "BLACK_LIST"}
)


@dataclass(frozen=True, slots=True)
class Target:
    kind: TargetKind
    key: str  # region code, or department key (unique within its region)
    region_code: str  # REGION: the region itself; DEPARTMENT: the department's region
    name_zh: str
    name_en: str
    department_id: int | None = None
    is_key: bool = True

    @property
    def level(self) -> RegionLevel:
        return LEVEL_BY_LENGTH[len(self.region_code)]


@dataclass(frozen=True, slots=True)
class PeerGroup:
    kind: TargetKind
    region: RegionRecord
    targets: tuple[Target, ...]
    # DEPARTMENT groups: board id → department id, for the boards a department leads.
    led_boards: Mapping[int, int] = field(default_factory=dict)

    @property
    def child_length(self) -> int | None:
        return CHILD_CODE_LENGTH.get(len(self.region.code))

    def by_key(self, key: str) -> Target | None:
        return next((x for x in self.targets if x.key == key), None)

    def by_department(self, department_id: int) -> Target | None:
        return next((x for x in self.targets if x.department_id == department_id), None)


def region_target(rec: RegionRecord) -> Target:
    return Target(TargetKind.REGION, rec.code, rec.code, rec.name, rec.name)


async def peer_group(conn: AsyncConnection, kind: TargetKind, region: RegionRecord) -> PeerGroup:
    """The group scored together for ``kind`` in ``region`` (reference data only)."""
    if kind is TargetKind.REGION:
        children = (await tenancy.children_of(conn, [region.code])).get(region.code, [])
        return PeerGroup(kind, region, tuple(region_target(r) for r in children))
    d, b = t.department.c, t.board.c
    departments = (
        await conn.execute(
            sa.select(d.id, d.key, d.name_zh, d.name_en, d.is_key)
            .where(d.region_code == region.code)
            .order_by(d.key)
        )
    ).all()
    targets = tuple(
        Target(TargetKind.DEPARTMENT, r.key, region.code, r.name_zh, r.name_en, r.id, r.is_key)
        for r in departments
    )
    id_of_key = {x.key: x.department_id for x in targets}
    # A board led by a department counts for it (board.lead_department_key, same region).
    boards = (
        await conn.execute(
            sa.select(b.id, b.lead_department_key).where(
                b.region_code == region.code, b.lead_department_key.in_(list(id_of_key))
            )
        )
    ).all()
    led = {int(r.id): id_of_key[r.lead_department_key] for r in boards}
    return PeerGroup(
        kind, region, targets, MappingProxyType({k: v for k, v in led.items() if v is not None})
    )


async def department_target(conn: AsyncConnection, department_id: int) -> Target | None:
    d = t.department.c
    row = (
        await conn.execute(
            sa.select(d.id, d.key, d.region_code, d.name_zh, d.name_en, d.is_key).where(
                d.id == department_id
            )
        )
    ).first()
    if row is None:
        return None
    return Target(
        TargetKind.DEPARTMENT,
        row.key,
        row.region_code,
        row.name_zh,
        row.name_en,
        row.id,
        row.is_key,
    )


async def region_record(conn: AsyncConnection | driver.Reader, code: str) -> RegionRecord | None:
    return (await tenancy.regions_by_code(conn, [code])).get(code)
