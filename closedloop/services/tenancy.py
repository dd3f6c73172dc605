"""Read queries for the region tree and each region's center, boards and departments (Core)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.db import driver
from closedloop.db import tables as t
from closedloop.domain.regions import RegionLevel, subtree_upper_bound


@dataclass(frozen=True, slots=True)
class RegionRecord:
    code: str
    name: str
    level: RegionLevel
    parent_code: str | None


@dataclass(frozen=True, slots=True)
class CenterRecord:
    id: int
    region_code: str
    name: str


@dataclass(frozen=True, slots=True)
class UnitRecord:
    """A board or a department of a region's service center."""

    id: int
    region_code: str
    key: str
    name_zh: str
    name_en: str
    is_key: bool = True


def _region(row: Any) -> RegionRecord:
    return RegionRecord(row["code"], row["name"], RegionLevel(row["level"]), row["parent_code"])


_REGION_COLS = (t.region.c.code, t.region.c.name, t.region.c.level, t.region.c.parent_code)


async def regions_by_code(
    conn: AsyncConnection | driver.Reader, codes: Sequence[str]
) -> dict[str, RegionRecord]:
    rows = await driver.rows(
        conn, sa.select(*_REGION_COLS).where(driver.any_of(t.region.c.code, codes))
    )
    return {r["code"]: _region(r) for r in rows}


async def children_of(
    conn: AsyncConnection | driver.Reader, parents: Sequence[str]
) -> dict[str, list[RegionRecord]]:
    rows = await driver.rows(
        conn,
        sa.select(*_REGION_COLS)
        .where(driver.any_of(t.region.c.parent_code, parents))
        .order_by(t.region.c.code),
    )
    out: dict[str, list[RegionRecord]] = defaultdict(list)
    for r in rows:
        out[r["parent_code"]].append(_region(r))
    return out


def family_statement(code: str | sa.BindParameter[str]) -> sa.CompoundSelect[Any]:
    """Rows ``(part, code, name, level, parent_code)``: the region (part 0) and its
    children (part 1); order them by part and code. Reference data: no caller scope
    needed."""
    r = t.region.c
    return sa.union_all(
        sa.select(sa.literal_column("0").label("part"), *_REGION_COLS).where(r.code == code),
        sa.select(sa.literal_column("1").label("part"), *_REGION_COLS).where(r.parent_code == code),
    )


def family_of(rows: Sequence[Any]) -> tuple[RegionRecord | None, list[RegionRecord]]:
    """The region and its children from ``family_statement``'s rows (any other columns
    ignored; a row whose ``code`` is NULL stands for none)."""
    region: RegionRecord | None = None
    children: list[RegionRecord] = []
    for row in rows:
        if row["code"] is None:
            continue
        if row["part"] == 0:
            region = _region(row)
        else:
            children.append(_region(row))
    return region, children


@dataclass(frozen=True, slots=True)
class RegionFilter:
    parent_code: str | None = None
    level: RegionLevel | None = None
    within: str | None = None
    name_contains: str | None = None


def _region_where(f: RegionFilter) -> list[sa.ColumnElement[bool]]:
    clauses: list[sa.ColumnElement[bool]] = []
    if f.parent_code is not None:
        clauses.append(t.region.c.parent_code == f.parent_code)
    if f.level is not None:
        clauses.append(t.region.c.level == f.level.value)
    if f.within is not None:
        clauses.append(t.region.c.code >= f.within)
        clauses.append(t.region.c.code < subtree_upper_bound(f.within))
    if f.name_contains:
        clauses.append(t.region.c.name.contains(f.name_contains, autoescape=True))
    return clauses


async def list_regions(
    conn: AsyncConnection, f: RegionFilter, limit: int, after_code: str | None
) -> tuple[list[RegionRecord], int]:
    where = _region_where(f)
    page = sa.select(*_REGION_COLS).where(*where).order_by(t.region.c.code).limit(limit)
    if after_code is not None:
        page = page.where(t.region.c.code > after_code)
    total = sa.select(sa.func.count()).select_from(t.region).where(*where)
    rows = (await conn.execute(page)).mappings().all()
    count = (await conn.execute(total)).scalar_one()
    return [_region(r) for r in rows], int(count)


async def centers_by_region(
    conn: AsyncConnection | driver.Reader, codes: Sequence[str]
) -> dict[str, CenterRecord]:
    rows = await driver.rows(
        conn, sa.select(t.center).where(driver.any_of(t.center.c.region_code, codes))
    )
    return {r["region_code"]: CenterRecord(r["id"], r["region_code"], r["name"]) for r in rows}


async def centers_by_id(
    conn: AsyncConnection | driver.Reader, ids: Sequence[int]
) -> dict[int, CenterRecord]:
    rows = await driver.rows(conn, sa.select(t.center).where(driver.any_of(t.center.c.id, ids)))
    return {r["id"]: CenterRecord(r["id"], r["region_code"], r["name"]) for r in rows}


def _unit(row: Any) -> UnitRecord:
    return UnitRecord(
        row["id"],
        row["region_code"],
        row["key"],
        row["name_zh"],
        row["name_en"],
        bool(row.get("is_key", True)),
    )


async def units_by_region(
    conn: AsyncConnection | driver.Reader, table: sa.Table, codes: Sequence[str]
) -> dict[str, list[UnitRecord]]:
    rows = await driver.rows(
        conn, sa.select(table).where(driver.any_of(table.c.region_code, codes)).order_by(table.c.id)
    )
    out: dict[str, list[UnitRecord]] = defaultdict(list)
    for r in rows:
        out[r["region_code"]].append(_unit(r))
    return out


async def units_by_id(
    conn: AsyncConnection | driver.Reader, table: sa.Table, ids: Sequence[int]
) -> dict[int, UnitRecord]:
    rows = await driver.rows(conn, sa.select(table).where(driver.any_of(table.c.id, ids)))
    return {r["id"]: _unit(r) for r in rows}
