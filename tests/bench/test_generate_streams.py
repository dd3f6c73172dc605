"""``bench generate`` on a real database: a city as the root (the demo enterprises outside
it raise nothing, where a KeyError once stopped the run), with parallel COPY streams
giving the same rows as one stream."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import asyncpg

from bench.generator.generate import generate
from bench.served import prepare_demo, scratch_database

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
        return {
            "issues": [tuple(r) for r in issues],
            "events": [tuple(r) for r in events],
            "outside": outside,
            "demo_inside": demo_inside,
            "rollup": rollup,
        }
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
        return report, asyncio.run(_rows(url))


def test_a_city_root_with_parallel_copy_streams(database_url: str) -> None:
    report, rows = _generate(database_url, streams=2)
    assert report.issues == ISSUES and report.streams == 2
    assert len(rows["issues"]) == ISSUES
    assert {r[3][:4] for r in rows["issues"]} == {"3305"}  # every issue raised in 湖州
    assert rows["outside"] == 0  # the demo enterprise in 杭州 raised none
    assert rows["demo_inside"] == 4  # the four demo enterprises in 湖州 did
    assert rows["rollup"] > 0  # the dashboard rollup was computed after the commit
    one_report, one = _generate(database_url, streams=1)
    assert one_report.streams == 1
    assert one["issues"] == rows["issues"] and one["events"] == rows["events"]
