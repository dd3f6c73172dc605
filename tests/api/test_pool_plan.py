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
from closedloop.db.database import Database, set_scope
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


@pytest.mark.usefixtures("clean_issues")
@pytest.mark.parametrize("principal", POOL_KEEPERS, ids=lambda p: p.role.value)
async def test_the_pool_count_is_an_index_only_scan(db: Database, principal: Principal) -> None:
    statement = queries.count_statement(
        principal, queries.IssueFilter(pool=True), dt.datetime.now(dt.UTC)
    )
    async with db.engine.connect() as probe:
        app_role = (await probe.execute(sa.text("SELECT current_user"))).scalar_one()
    # One owner's transaction, rolled back at the end. The lock keeps autovacuum and
    # autoanalyze off the table meanwhile (it conflicts with itself), so the statistics set
    # here are the ones the planner reads. Never analysed (reltuples = -1) makes the nearly
    # empty table count as 10 pages; all of them visible lets an index-only scan skip the
    # heap. Sequential and bitmap scans are switched off and plain index scans are not: with
    # every page visible an index-only scan is the cheapest plan exactly when the index
    # covers every column the statement and the row-level policies read, and a plain index
    # scan is all that is left otherwise.
    async with db.admin.connect() as conn, conn.begin():
        await conn.execute(sa.text("LOCK TABLE issue IN SHARE UPDATE EXCLUSIVE MODE"))
        await conn.execute(
            sa.text(
                "UPDATE pg_class SET reltuples = -1, relallvisible = 2147483647"
                " WHERE oid = 'issue'::regclass"
            )
        )
        await conn.execute(sa.text(f'SET LOCAL ROLE "{app_role}"'))
        await set_scope(conn, principal)
        await conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        await conn.execute(sa.text("SET LOCAL enable_bitmapscan = off"))
        sql, args = driver.sql_and_args(conn, statement)
        rows = await driver.fetch_sql(conn, "EXPLAIN (FORMAT JSON) " + sql, *args)
        await conn.rollback()
    plan = rows[0][0][0]["Plan"]  # the engine decodes json columns
    scans = [
        (n["Node Type"], n.get("Index Name"))
        for n in _nodes(plan)
        if n.get("Relation Name") == "issue"
    ]
    assert scans == [("Index Only Scan", "ix_issue_pool")]


def _pool_where(principal: Principal) -> str:
    clauses = queries.filter_clauses(
        queries.IssueFilter(pool=True), principal, dt.datetime.now(dt.UTC)
    )
    return str(sa.and_(*clauses).compile(compile_kwargs={"literal_binds": True}))


def test_a_pool_its_caller_reads_whole_is_not_scoped_twice() -> None:
    """A center reads every issue its region holds, so its pool (``holding_region = its
    region``) says nothing more: the scope's ranges on the origin and holding regions, said
    again, were taken by the planner as a second, rare condition, and in a national data set
    (10M issues, 德清 1.7% of them) the pool page became a bitmap scan and a sort of all
    2,541 open issues (5.2 ms in PostgreSQL) instead of 51 rows of ``ix_issue_pool``
    (0.09 ms; bench/RESULTS.md, 10M)."""
    center, board, department = POOL_KEEPERS
    assert "origin_region_code" not in _pool_where(center)
    assert "holding_region_code = '330521'" in _pool_where(center)
    # A handler reads only what its own unit holds there: its scope stays in the statement.
    assert "board_id = 7" in _pool_where(board)
    assert "department_id = 9" in _pool_where(department)
    # Without an account the scope is nothing, said explicitly.
    nobody = Principal(
        account_id=None, username="", display_name="", role=None, region_code="330521"
    )
    assert "false" in _pool_where(nobody).lower()
