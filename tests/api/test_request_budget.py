"""A request past its budget ends with a typed TIMEOUT error, whichever limit ends it (the
asyncio budget around execution, or PostgreSQL's statement_timeout on the API's
connections); the transaction it held is gone and its connection is back in the pool, clean.

The slow statement is the real ``libraryStats`` read with its region condition swapped for
one that sleeps in PostgreSQL (a test-only path: monkeypatched)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from closedloop.db.database import Database, as_user, make_engine
from closedloop.domain.clock import FrozenClock
from closedloop.http.app import Runtime, create_app
from closedloop.identity.accounts import principal_for
from closedloop.identity.tokens import TokenVerifier, mint_token
from closedloop.resolvers import learning
from closedloop.settings import Settings

STATS = '{ libraryStats(region: "330521") { library pool } }'
SLEEPS = "pg_sleep(60)"


@pytest.fixture
def slow_statement(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        learning, "in_subtree", lambda column, region: sa.text(f"(SELECT true FROM {SLEEPS})")
    )


async def _post(
    db: Database, settings: Settings, clock: FrozenClock, prepared: bool = True
) -> dict[str, Any]:
    """``prepared=False``: with operation extensions, which strawberry's own view answers."""
    app = create_app(settings, database=db, clock=clock)
    app.state.runtime = Runtime(settings, db, clock, TokenVerifier(settings))
    token = mint_token(settings, "deqing.center")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post(
            "/graphql",
            json={"query": STATS} if prepared else {"query": STATS, "extensions": {"x": 1}},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _backends(db: Database) -> list[tuple[str, str]]:
    """(state, query) of the application role's other sessions in this database."""
    async with db.admin.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT state, query FROM pg_stat_activity WHERE datname = current_database()"
                " AND usename = :user AND pid <> pg_backend_pid()"
            ),
            {"user": Settings().app_db_user},
        )
        return [(str(r.state), str(r.query)) for r in rows]


async def _assert_clean(db: Database) -> None:
    """No statement still sleeping (the cancel reaches PostgreSQL asynchronously: wait for
    it), no transaction left open, no connection still checked out."""
    for _ in range(100):
        backends = await _backends(db)
        if not any(SLEEPS in query and state == "active" for state, query in backends):
            break
        await asyncio.sleep(0.1)
    assert not any(SLEEPS in q and s == "active" for s, q in backends), backends
    assert not any(s.startswith("idle in transaction") for s, _ in backends), backends
    pool = db.engine.pool
    assert pool.checkedout() == 0  # type: ignore[attr-defined]


def _assert_timeout(body: dict[str, Any], budget: float) -> None:
    assert body["data"] is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "TIMEOUT", error
    assert error["extensions"]["budgetSeconds"] == budget, error
    assert "Unexpected error" not in error["message"]


@pytest.fixture
async def limited_db(database_url: str, db: Database) -> AsyncIterator[Database]:
    """The application role's engine with a statement timeout shorter than the budget."""
    app_url = as_user(database_url, Settings().app_db_user, None)
    limited = Database(make_engine(app_url, 2, statement_timeout_seconds=0.3), admin=db.admin)
    yield limited
    await limited.engine.dispose()


@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "strawberry"])
async def test_the_budget_ends_a_slow_request_with_a_typed_error(
    db: Database, settings: Settings, clock: FrozenClock, slow_statement: None, prepared: bool
) -> None:
    budget = settings.model_copy(update={"request_timeout_seconds": 0.3})
    _assert_timeout(await _post(db, budget, clock, prepared), 0.3)
    await _assert_clean(db)


async def test_the_statement_timeout_ends_a_slow_statement_with_a_typed_error(
    limited_db: Database, settings: Settings, clock: FrozenClock, slow_statement: None
) -> None:
    budget = settings.model_copy(update={"request_timeout_seconds": 30.0})
    _assert_timeout(await _post(limited_db, budget, clock), 30.0)
    await _assert_clean(limited_db)


async def test_the_connections_serve_the_next_request(
    db: Database,
    limited_db: Database,
    settings: Settings,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After both kinds of timeout, the same pools answer normally."""
    for database, seconds in ((db, 0.3), (limited_db, 30.0)):
        budget = settings.model_copy(update={"request_timeout_seconds": seconds})
        with monkeypatch.context() as patched:
            patched.setattr(
                learning, "in_subtree", lambda c, r: sa.text(f"(SELECT true FROM {SLEEPS})")
            )
            _assert_timeout(await _post(database, budget, clock), seconds)
        body = await _post(database, budget, clock)
        assert "errors" not in body, body
        assert body["data"]["libraryStats"]["library"] >= 0
        await _assert_clean(database)


async def test_the_statement_timeout_follows_the_budget(limited_db: Database) -> None:
    async with limited_db.engine.connect() as conn:
        statement = (await conn.execute(sa.text("SHOW statement_timeout"))).scalar_one()
        idle = (await conn.execute(sa.text("SHOW idle_in_transaction_session_timeout"))).scalar()
    assert (statement, idle) == ("300ms", "600ms")


async def test_a_reader_cancelled_while_rolling_back_never_returns_its_transaction(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The budget can cancel a request just as its statement failed (statement timeout and
    budget end together): the rollback is interrupted, and the connection must not go back
    to the pool inside the aborted transaction (the next request would fail on it)."""
    async with db.read_reference() as conn:
        principal = await principal_for(conn, "deqing.center")
    assert principal is not None
    rolling_back = asyncio.Event()
    real_execute = asyncpg.Connection.execute

    async def slow_rollback(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        if query == "ROLLBACK":
            rolling_back.set()
            await asyncio.sleep(30)
        return await real_execute(self, query, *args, **kwargs)

    async def failing_read() -> None:
        async with db.reader(principal) as reader:
            await reader.execute("SELECT 1 / 0")  # the transaction is aborted

    with monkeypatch.context() as patched:
        patched.setattr(asyncpg.Connection, "execute", slow_rollback)
        task = asyncio.create_task(failing_read())
        await rolling_back.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    for _ in range(3):  # whichever pooled connection comes next
        async with db.reader(principal) as reader:
            await reader.execute("SELECT 1")
    await _assert_clean(db)
