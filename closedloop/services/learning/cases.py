"""The shared case library: read-only for every tier of the case's province."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.db import tables as t
from closedloop.tenancy.scope import in_subtree


@dataclass(frozen=True, slots=True)
class CaseRecord:
    id: int
    issue_id: int
    province_code: str
    region_code: str
    title: str
    problem: str
    solution: str
    tags: tuple[str, ...]
    shared_by: int | None
    shared_at: dt.datetime


def case_from_row(row: Mapping[Any, Any]) -> CaseRecord:
    data = dict(row)
    data["tags"] = tuple(data["tags"] or ())
    return CaseRecord(**data)


async def list_cases(
    conn: AsyncConnection,
    province: str,
    tag: str | None,
    text: str | None,
    region_within: str | None,
    limit: int,
    after_id: int | None,
) -> tuple[list[CaseRecord], int]:
    c = t.model_case.c
    where = [c.province_code == province]
    if tag:
        where.append(c.tags.any(tag))
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(
            sa.or_(c.title.ilike(pattern), c.problem.ilike(pattern), c.solution.ilike(pattern))
        )
    if region_within:
        where.append(in_subtree(c.region_code, region_within))
    page = sa.select(t.model_case).where(*where)
    if after_id is not None:
        page = page.where(c.id < after_id)
    rows = await conn.execute(page.order_by(c.id.desc()).limit(limit))
    total = await conn.execute(sa.select(sa.func.count()).select_from(t.model_case).where(*where))
    return [case_from_row(r) for r in rows.mappings()], int(total.scalar_one())


async def cases_by_id(conn: AsyncConnection, ids: list[int]) -> dict[int, CaseRecord]:
    rows = await conn.execute(sa.select(t.model_case).where(t.model_case.c.id.in_(ids)))
    return {r["id"]: case_from_row(r) for r in rows.mappings()}


async def case_id_for_issue(conn: AsyncConnection, issue_id: int) -> int | None:
    row = await conn.execute(
        sa.select(t.model_case.c.id).where(t.model_case.c.issue_id == issue_id)
    )
    found = row.scalar_one_or_none()
    return int(found) if found is not None else None
