"""No N+1: a page of issues with its relations costs a fixed number of SQL statements."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from closedloop.db.database import Database
from closedloop.schema.reference import MISSING, REFERENCE
from tests.api.issue_helpers import step, submit, unit_id
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("clean_issues")

POOL_PAGE = """query($first: Int!) { issues(filter: {pool: true}, first: $first) {
  totalCount nodes { id number title state light dueAt
    enterprise { name creditCode } board { name } department { name }
    holdingRegion { name } originRegion { name } lastEvent { type occurredAt actorName } } } }"""


@contextmanager
def counting(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def _statements_for_page(api: Api, db: Database, first: int) -> int:
    await api.gql(POOL_PAGE, {"first": first}, as_="xinshi.center")  # warm the account cache
    # The account is remembered unless a change was heard while it was read (then the read
    # may predate the change): warm until it is, so only the page's statements are counted.
    runtime = api.client._transport.app.state.runtime  # type: ignore[attr-defined]
    for _ in range(3):
        if "xinshi.center" in runtime.principals:
            break
        await api.gql(POOL_PAGE, {"first": first}, as_="xinshi.center")
    assert "xinshi.center" in runtime.principals
    with counting(db) as statements:
        data = await api.gql(POOL_PAGE, {"first": first}, as_="xinshi.center")
    assert len(data["issues"]["nodes"]) == first
    return len(statements)


async def test_issue_page_costs_the_same_statements_whatever_its_size(
    api: Api, db: Database
) -> None:
    talent = await unit_id(api, "330521102", "boards", "TALENT")
    for n in range(12):
        issue = await submit(api, title=f"用工问题{n}")
        if n % 2:
            issue = await step(api, "acceptIssue", issue, "xinshi.center")
            await step(api, "assignIssue", issue, "xinshi.center", boardId=talent)
    small = await _statements_for_page(api, db, 2)
    large = await _statements_for_page(api, db, 12)
    assert small == large
    # One transaction: the scope, then the page with its total and last events in one
    # statement; enterprise, board, department and regions come from the reference cache
    # or one batch each.
    assert large <= 6
    again = await _statements_for_page(api, db, 12)
    assert again == 2, "a warm pool page is two statements"


async def test_sigusr1_makes_the_server_cold(api: Api, db: Database) -> None:
    """The benchmarks' cold start (bench/mixed.py): SIGUSR1 empties the process's caches,
    so the next page reads its reference rows and compiles its statements again, and the
    one after is warm again."""
    import asyncio
    import os
    import signal

    from closedloop.caches import CACHES
    from closedloop.http.cold import install_cold_signal

    await submit(api, title="用工问题")
    assert await _statements_for_page(api, db, 1) >= 2
    assert await _statements_for_page(api, db, 1) == 2
    runtime = api.client._transport.app.state.runtime  # type: ignore[attr-defined]
    uninstall = install_cold_signal(runtime)
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        for _ in range(100):
            await asyncio.sleep(0.01)
            if "xinshi.center" not in runtime.principals:
                break
        assert "xinshi.center" not in runtime.principals
        assert not any(len(cache) for cache in CACHES.values())
        assert REFERENCE.get("region", "330521102") is MISSING
        with counting(db) as statements:
            await api.gql(POOL_PAGE, {"first": 1}, as_="xinshi.center")
        assert len(statements) > 2, "cold: the account and reference rows are read again"
        assert await _statements_for_page(api, db, 1) == 2
    finally:
        uninstall()


async def test_an_empty_page_still_counts(api: Api, db: Database) -> None:
    """The total rides on the page's rows: an empty page asks for it on its own."""
    await submit(api, title="用工问题")
    query = """{ issues(filter: {text: "没有这样的标题"}) { totalCount nodes { id } } }
    """
    data = await api.gql(query, as_="xinshi.center")
    assert data["issues"] == {"totalCount": 0, "nodes": []}
    beyond = await api.gql(POOL_PAGE, {"first": 1}, as_="xinshi.center")
    assert beyond["issues"]["totalCount"] == 1
    cursor_query = """query($after: String) { issues(filter: {pool: true}, first: 5,
      after: $after) { totalCount nodes { id } pageInfo { endCursor } } }"""
    first = await api.gql(cursor_query, {"after": None}, as_="xinshi.center")
    end = first["issues"]["pageInfo"]["endCursor"]
    after_last = await api.gql(cursor_query, {"after": end}, as_="xinshi.center")
    assert after_last["issues"]["nodes"] == []
    assert after_last["issues"]["totalCount"] == 1


NESTED_PAGE = """query($first: Int!) { issues(filter: {pool: true}, first: $first) {
  totalCount nodes { id number title state
    enterprise { name region { name } } originRegion { name }
    timeline { type occurredAt actorName }
    custody { handlingLevel startedAt region { name } } } } }"""


@contextmanager
def checkouts(db: Database) -> Iterator[list[str]]:
    """Connections taken from the request role's pool, and those opened anew."""
    taken: list[str] = []

    def checkout(*args: Any) -> None:
        taken.append("checkout")

    def connect(*args: Any) -> None:
        taken.append("connect")

    pool = db.engine.sync_engine
    event.listen(pool, "checkout", checkout)
    event.listen(pool, "connect", connect)
    try:
        yield taken
    finally:
        event.remove(pool, "checkout", checkout)
        event.remove(pool, "connect", connect)


async def _nested(api: Api, db: Database, first: int, *, cold: bool) -> tuple[int, list[str]]:
    await _statements_for_page(api, db, first)  # the account is remembered
    if cold:
        REFERENCE.clear()
    with counting(db) as statements, checkouts(db) as taken:
        data = await api.gql(NESTED_PAGE, {"first": first}, as_="xinshi.center")
    nodes = data["issues"]["nodes"]
    assert len(nodes) == first
    for node in nodes:
        assert node["enterprise"]["region"]["name"]
        assert node["originRegion"]["name"]
        assert [e["type"] for e in node["timeline"]][:1] == ["SUBMITTED"]
        assert node["custody"] and all(c["region"]["name"] for c in node["custody"])
    return len(statements), taken


async def test_a_nested_page_costs_the_same_statements_whatever_its_size(
    api: Api, db: Database
) -> None:
    """The pool page with each issue's timeline, custody ledger and their regions, the
    enterprise and its region and the origin region: one connection, a fixed number of
    statements (the page with its timelines and ledgers, then the enterprises and regions
    the reference cache lacks), and two with a warm reference cache."""
    talent = await unit_id(api, "330521102", "boards", "TALENT")
    for n in range(12):
        issue = await submit(api, title=f"用工问题{n}")
        if n % 2:
            issue = await step(api, "acceptIssue", issue, "xinshi.center")
            await step(api, "assignIssue", issue, "xinshi.center", boardId=talent)
    small_cold, _ = await _nested(api, db, 2, cold=True)
    large_cold, taken = await _nested(api, db, 12, cold=True)
    assert small_cold == large_cold
    # scope, page (timelines and ledgers on its rows), enterprises, regions (origin,
    # custody and the enterprises' at once)
    assert large_cold <= 4
    assert taken == ["checkout"], "one pooled connection, none opened"
    small, _ = await _nested(api, db, 2, cold=False)
    large, taken = await _nested(api, db, 12, cold=False)
    assert small == large == 2
    assert taken == ["checkout"]
