"""The pool's count is answered from ``ix_issue_pool`` alone (migration 0008): every column
that row-level security and the visibility predicate read is in the index. Should a policy
start reading a column the index does not include, the count goes back to visiting the
heap for every open issue of the region, and this test fails."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from closedloop.authz.roles import Principal, Role
from closedloop.db import driver
from closedloop.db.database import Database
from closedloop.services.issues import queries

POOL_KEEPERS = [
    Principal(
        account_id=1, username="c", display_name="c", role=Role.CENTER_STAFF, region_code="330521"
    ),
    Principal(
        account_id=2,
        username="b",
        display_name="b",
        role=Role.BOARD_HANDLER,
        region_code="330521",
        board_id=7,
    ),
    Principal(
        account_id=3,
        username="d",
        display_name="d",
        role=Role.DEPARTMENT_HANDLER,
        region_code="330521",
        department_id=9,
    ),
]


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", []) for n in _nodes(child))]


async def _size_unknown_to_the_planner(db: Database) -> None:
    """Make the emptied issue table look never analysed. An empty table that autovacuum or
    autoanalyze has seen counts 0 pages, and there a disabled sequential scan costs exactly
    the penalty that ``enable_indexscan = off`` also puts on index-only scans (PostgreSQL
    15-17), so the cheaper of the two is the sequential scan. A never-analysed table is
    planned as 10 pages. Analysed first, so that autoanalyze has nothing left to redo."""
    async with db.admin.begin() as conn:
        await conn.execute(sa.text("ANALYZE issue"))
        await conn.execute(
            sa.text("UPDATE pg_class SET reltuples = -1 WHERE oid = 'issue'::regclass")
        )


@pytest.mark.usefixtures("clean_issues")
@pytest.mark.parametrize("principal", POOL_KEEPERS, ids=lambda p: p.role.value)
async def test_the_pool_count_is_an_index_only_scan(db: Database, principal: Principal) -> None:
    await _size_unknown_to_the_planner(db)
    statement = queries.count_statement(
        principal, queries.IssueFilter(pool=True), dt.datetime.now(dt.UTC)
    )
    async with db.reader(principal) as reader:
        # The test tables are nearly empty: every other scan is made to cost more than
        # any index-only scan, so the planner takes one exactly when the index covers the
        # statement.
        await reader.execute(
            "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off;"
            " SET LOCAL enable_indexscan = off"
        )
        sql, args = driver.sql_and_args(reader, statement)
        rows = await driver.fetch_sql(reader, "EXPLAIN (FORMAT JSON) " + sql, *args)
    plan = rows[0][0][0]["Plan"]  # the engine decodes json columns
    scans = [
        (n["Node Type"], n.get("Index Name"))
        for n in _nodes(plan)
        if n.get("Relation Name") == "issue"
    ]
    assert scans == [("Index Only Scan", "ix_issue_pool")]
