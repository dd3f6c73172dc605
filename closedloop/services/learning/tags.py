"""The hierarchical tag library (标签库): loading, suggestions on intake, top tags."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.roles import Principal
from closedloop.db import driver
from closedloop.db import tables as t
from closedloop.tenancy.scope import in_subtree, issue_visibility

SEPARATOR = "›"


@dataclass(frozen=True, slots=True)
class TagRecord:
    id: int
    province_code: str
    parent_id: int | None
    name: str
    path: str
    keywords: tuple[str, ...]


def default_library() -> dict[str, Any]:
    text = (resources.files("closedloop") / "data" / "tags_zhejiang.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


async def load_library(conn: AsyncConnection, data: dict[str, Any] | None = None) -> int:
    """Upsert a tag tree (idempotent). Returns how many tags the library holds."""
    data = data or default_library()
    province = data["province"]

    async def put(node: dict[str, Any], parent_id: int | None, parent_path: str) -> int:
        path = f"{parent_path}{SEPARATOR}{node['name']}" if parent_path else node["name"]
        tag_id = (
            await conn.execute(
                pg_insert(t.tag)
                .values(
                    province_code=province,
                    parent_id=parent_id,
                    name=node["name"],
                    path=path,
                    keywords=list(node.get("keywords", [])),
                )
                .on_conflict_do_update(
                    constraint="uq_tag_province_path",
                    set_={"keywords": list(node.get("keywords", [])), "parent_id": parent_id},
                )
                .returning(t.tag.c.id)
            )
        ).scalar_one()
        count = 1
        for child in node.get("children", []):
            count += await put(child, int(tag_id), path)
        return count

    total = 0
    for root in data["tags"]:
        total += await put(root, None, "")
    return total


async def library(conn: AsyncConnection | driver.Reader, province: str) -> list[TagRecord]:
    rows = await driver.rows(
        conn, sa.select(t.tag).where(t.tag.c.province_code == province).order_by(t.tag.c.id)
    )
    return [
        TagRecord(
            r["id"], r["province_code"], r["parent_id"], r["name"], r["path"], tuple(r["keywords"])
        )
        for r in rows
    ]


def suggest(tags: list[TagRecord], text: str, limit: int = 5) -> list[TagRecord]:
    """Tags whose name or keywords occur in the text, most specific and most hits first."""
    scored: list[tuple[int, int, TagRecord]] = []
    for tag in tags:
        words = {tag.name, *tag.keywords}
        hits = sum(1 for w in words if w and w in text)
        if hits:
            scored.append((hits, tag.path.count(SEPARATOR), tag))
    scored.sort(key=lambda s: (-s[0], -s[1], s[2].id))
    return [s[2] for s in scored[:limit]]


@dataclass(frozen=True, slots=True)
class TagCount:
    tag: str
    count: int


async def top_tags(
    conn: AsyncConnection,
    principal: Principal,
    region: str,
    created_from: dt.datetime | None,
    created_to: dt.datetime | None,
    limit: int,
) -> list[TagCount]:
    """The most frequent tags of issues originating in ``region``'s subtree (merged ones
    are counted in their primary only)."""
    c = t.issue.c
    tag = sa.func.unnest(c.tags).label("tag")
    where = [
        issue_visibility(principal),
        in_subtree(c.origin_region_code, region),
        c.state != "MERGED",
    ]
    if created_from is not None:
        where.append(c.created_at >= created_from)
    if created_to is not None:
        where.append(c.created_at < created_to)
    inner = sa.select(tag).where(*where).subquery()
    q = (
        sa.select(inner.c.tag, sa.func.count().label("n"))
        .group_by(inner.c.tag)
        .order_by(sa.func.count().desc(), inner.c.tag.collate("C"))
        .limit(limit)
    )
    return [TagCount(r.tag, int(r.n)) for r in await conn.execute(q)]
