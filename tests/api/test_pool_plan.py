"""Counts in a scope are answered from indexes alone. The pool's from ``ix_issue_pool``
(migration 0008), a region's whole library from ``ix_issue_origin`` and
``ix_issue_holding_state`` (0026, one disjoint share each): every column that row-level
security and the visibility predicate read is in the index. Should a policy start reading a
column the indexes do not include, a count goes back to visiting the heap for every issue,
and these tests fail."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from closedloop.authz.roles import Principal, Role
from closedloop.db import driver
from closedloop.db import tables as t
from closedloop.db.database import Database, set_scope
from closedloop.domain.issues import IssueState
from closedloop.services.issues import queries
from tests.api.evaluation_helpers import insert_issues

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
    assert await _issue_scans(db, principal, statement) == [("Index Only Scan", "ix_issue_pool")]


@pytest.mark.usefixtures("clean_issues")
async def test_a_regions_whole_count_is_two_index_only_scans(db: Database) -> None:
    """What a county center's library counts: raised in the county, or held there. As one
    OR it was a bitmap scan visiting every counted issue's heap page (750 ms for 德清 at 10M
    issues); as two disjoint shares each is an index-only scan of its region's index."""
    center = POOL_KEEPERS[0]
    statement = queries.count_statement(center, queries.IssueFilter(), dt.datetime.now(dt.UTC))
    scans = await _issue_scans(db, center, statement)
    # Each region index includes the other's region (0026), so either can answer the held
    # share from the index alone, and so can the region scores' covering index on (origin,
    # created_at) (0030); on this nearly empty table they cost about the same and the
    # planner's pick follows their sizes, which the tests run before leave behind. What
    # matters: two shares, neither visiting the heap.
    regional = ("ix_issue_origin", "ix_issue_holding_state", "ix_issue_origin_created")
    assert len(scans) == 2, scans
    assert all(kind == "Index Only Scan" and index in regional for kind, index in scans), scans


async def _issue_scans(
    db: Database, principal: Principal, statement: sa.Select[Any]
) -> list[tuple[str, str | None]]:
    # The lock keeps autovacuum and autoanalyze off the table while the transaction lasts
    # (it conflicts with itself), so the statistics set here are the ones the planner reads.
    # Never analysed (reltuples = -1) makes the nearly empty table count as 10 pages; all of
    # them visible lets an index-only scan skip the heap. Sequential and bitmap scans are
    # switched off and plain index scans are not: with every page visible an index-only scan
    # is the cheapest plan exactly when the index covers every column the statement and the
    # row-level policies read, and a plain index scan is all that is left otherwise.
    plan = await _explain_as(
        db,
        principal,
        statement,
        as_owner=(
            "LOCK TABLE issue IN SHARE UPDATE EXCLUSIVE MODE",
            "UPDATE pg_class SET reltuples = -1, relallvisible = 2147483647"
            " WHERE oid = 'issue'::regclass",
        ),
        settings=("SET LOCAL enable_seqscan = off", "SET LOCAL enable_bitmapscan = off"),
    )
    return [
        (n["Node Type"], n.get("Index Name"))
        for n in _nodes(plan)
        if n.get("Relation Name") == "issue"
    ]


async def _explain_as(
    db: Database,
    principal: Principal,
    statement: sa.Select[Any],
    *,
    as_owner: tuple[str, ...] = (),
    settings: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The plan of ``statement`` as the application's role in ``principal``'s scope (its
    row-level policies included), in one owner's transaction rolled back at the end:
    ``as_owner`` runs first, as the owner; ``settings`` after the scope."""
    async with db.engine.connect() as probe:
        app_role = (await probe.execute(sa.text("SELECT current_user"))).scalar_one()
    async with db.admin.connect() as conn, conn.begin():
        for sql in as_owner:
            await conn.execute(sa.text(sql))
        await conn.execute(sa.text(f'SET LOCAL ROLE "{app_role}"'))
        await set_scope(conn, principal)
        for sql in settings:
            await conn.execute(sa.text(sql))
        # IN lists (the scores' statements) expanded into parameters, as SQLAlchemy runs them.
        compiled = statement.compile(
            dialect=conn.dialect, compile_kwargs={"render_postcompile": True}
        )
        args = [compiled.params[name] for name in compiled.positiontup or []]
        rows = await driver.fetch_sql(conn, "EXPLAIN (FORMAT JSON) " + compiled.string, *args)
        await conn.rollback()
    plan: dict[str, Any] = rows[0][0][0]["Plan"]  # the engine decodes json columns
    return plan


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


FILTERS = [
    queries.IssueFilter(),
    queries.IssueFilter(pool=True),
    queries.IssueFilter(states=[IssueState.SUBMITTED]),
    queries.IssueFilter(origin_within="330521102"),
]


@pytest.mark.usefixtures("clean_issues")
async def test_counts_in_shares_equal_the_rows_the_scope_reads(db: Database) -> None:
    """The shares are disjoint and cover the scope: for callers of every kind and several
    filters, the count is the number of rows the page's predicate finds, under row-level
    security, among issues raised and held inside and outside the caller's region, handed
    up to the city, and handled by a board."""
    async with db.admin.connect() as conn:
        board = (
            await conn.execute(sa.text("SELECT min(id) FROM board WHERE region_code = '330521'"))
        ).scalar_one()
    held = [
        ("330521", "330521"),
        ("330521102", "330521102"),
        ("330521102", "3305"),  # handed up to the city
        ("330502", "330521"),  # raised elsewhere in the city, held in 德清
        ("330502", "330502"),
        ("330102", "330102"),  # another city
    ]
    rows: list[dict[str, Any]] = []
    for origin, holding in held:
        for state in ("SUBMITTED", "IN_PROGRESS", "CLOSED"):
            rows.append(
                {"origin_region_code": origin, "holding_region_code": holding, "state": state}
            )
            rows.append(
                {
                    "origin_region_code": origin,
                    "holding_region_code": holding,
                    "state": state,
                    "board_id": board if holding == "330521" else None,
                }
            )
    await insert_issues(db, rows)
    callers = [
        *POOL_KEEPERS[:1],
        dataclasses.replace(POOL_KEEPERS[1], board_id=board),  # a board that exists
        Principal(
            account_id=4, username="l", display_name="l", role=Role.LEADER, region_code="3305"
        ),
        Principal(
            account_id=5,
            username="t",
            display_name="t",
            role=Role.CENTER_STAFF,
            region_code="330521102",
        ),
        Principal(
            account_id=6,
            username="p",
            display_name="p",
            role=Role.PROVINCE_MONITOR,
            region_code="33",
        ),
    ]
    now = dt.datetime.now(dt.UTC)
    checked = 0
    for caller in callers:
        for f in FILTERS:
            listed = sa.select(t.issue.c.id).where(*queries.filter_clauses(f, caller, now))
            async with db.read(caller) as conn:
                counted = (await conn.execute(queries.count_statement(caller, f, now))).scalar_one()
                found = len((await conn.execute(listed)).all())
            assert counted == found, (caller.role, caller.region_code, f)
            checked += found
    assert checked > 50  # the callers do read rows
