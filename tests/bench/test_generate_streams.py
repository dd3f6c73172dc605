"""``bench generate`` on a real database: a city as the root (the demo enterprises outside
it raise nothing, where a KeyError once stopped the run), with parallel COPY streams
giving the same rows as one stream."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import create_async_engine

from bench.generator.generate import generate
from bench.served import prepare_demo, scratch_database
from closedloop.db.database import async_url
from closedloop.services.evaluation import rollup

NOW = dt.datetime(2026, 11, 22, 4, 0, tzinfo=dt.UTC)
ISSUES = 3000


async def _rows(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        issues = await conn.fetch(
            "SELECT id, number, title, origin_region_code, holding_region_code, state,"
            " enterprise_id, created_at FROM issue ORDER BY id"
        )
        events = await conn.fetch(
            "SELECT issue_id, occurred_at, type, to_state FROM issue_event"
            " ORDER BY issue_id, occurred_at, type"
        )
        outside = await conn.fetchval(
            "SELECT count(*) FROM issue i JOIN enterprise e ON e.id = i.enterprise_id"
            " WHERE e.credit_code IN (SELECT credit_code FROM enterprise e2"
            " JOIN account a ON a.enterprise_id = e2.id WHERE e2.region_code NOT LIKE '3305%')"
        )
        demo_inside = await conn.fetchval(
            "SELECT count(DISTINCT i.enterprise_id) FROM issue i JOIN account a"
            " ON a.enterprise_id = i.enterprise_id"
        )
        rollup = await conn.fetchval("SELECT count(*) FROM issue_rollup")
        dirty = await conn.fetchval("SELECT count(*) FROM issue_rollup_dirty")
        return {
            "issues": [tuple(r) for r in issues],
            "events": [tuple(r) for r in events],
            "outside": outside,
            "demo_inside": demo_inside,
            "rollup": rollup,
            "rollup_rows": await _rollup_rows(conn),
            "dirty": dirty,
        }
    finally:
        await conn.close()


async def _rollup_rows(conn: asyncpg.Connection) -> list[tuple[Any, ...]]:
    rows = await conn.fetch(
        "SELECT month, county_code, dimension, value, name_zh, name_en, total, handled,"
        " resolved, open, merged FROM issue_rollup ORDER BY 1, 2, 3, 4"
    )
    return [tuple(r) for r in rows]


async def _recomputed_alone(url: str) -> list[tuple[Any, ...]]:
    """The rollup as one connection's ``refresh_on`` computes it from every issue."""
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as conn:
            await rollup.mark_all(conn)
            await rollup.refresh_on(conn)
            await conn.commit()
    finally:
        await engine.dispose()
    conn = await asyncpg.connect(url)
    try:
        return await _rollup_rows(conn)
    finally:
        await conn.close()


def _generate(server: str, streams: int) -> tuple[Any, dict[str, Any]]:
    with scratch_database(server, "closedloop_gen") as url:
        asyncio.run(prepare_demo(url))
        report = asyncio.run(
            generate(
                url,
                ISSUES,
                5,
                None,
                now=NOW,
                root="3305",
                batch_size=1000,
                workers=2,
                streams=streams,
            )
        )
        rows = asyncio.run(_rows(url))
        rows["recomputed_alone"] = asyncio.run(_recomputed_alone(url))
        return report, rows


def test_a_city_root_with_parallel_copy_streams(database_url: str) -> None:
    report, rows = _generate(database_url, streams=2)
    assert report.issues == ISSUES and report.streams == 2
    assert len(rows["issues"]) == ISSUES
    assert {r[3][:4] for r in rows["issues"]} == {"3305"}  # every issue raised in 湖州
    assert rows["outside"] == 0  # the demo enterprise in 杭州 raised none
    assert rows["demo_inside"] == 4  # the four demo enterprises in 湖州 did
    assert rows["rollup"] > 0  # the dashboard rollup was computed after the commit
    # ... on one connection per builder, each a share of the counties: the same rows as one
    # connection's refresh over every issue, and no slice left marked
    assert len({r[1] for r in rows["rollup_rows"]}) > 2
    assert rows["rollup_rows"] == rows["recomputed_alone"] and rows["dirty"] == 0
    one_report, one = _generate(database_url, streams=1)
    assert one_report.streams == 1
    assert one["issues"] == rows["issues"] and one["events"] == rows["events"]
