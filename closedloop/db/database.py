"""Engines and per-transaction connections, each tagged with the caller's scope.

Three engines (migration 0012 describes the roles):
- ``engine``: the request path's role ``closedloop_app``, under forced row-level security.
  Every transaction on it first writes the caller's scope with ``set_config(..., true)``,
  which the policies read; no value widens it past one caller.
- ``system``: the role ``closedloop_system``, whose policies let it see and write every row:
  the sweeper, the outbox relay, rollup refreshes, seeding (``system_transaction``).
- ``admin``: the URL's own user, the tables' owner: migrations only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa
from prometheus_client import Counter
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from closedloop.db.driver import Reader

if TYPE_CHECKING:
    from closedloop.authz.roles import Principal

SQL_STATEMENTS = Counter("closedloop_sql_statements_total", "SQL statements sent to PostgreSQL")

_SCOPE_SETTINGS = ("role", "region", "enterprise", "board", "department", "account")
_SET_SCOPE = sa.text(
    "SELECT " + ", ".join(f"set_config('closedloop.{s}', :{s}, true)" for s in _SCOPE_SETTINGS)
)


def begin_in_scope(principal: Principal) -> str:
    """``BEGIN READ ONLY`` and the scope as one simple query: one round trip, not two. The
    values are written as escaped literals (a simple query takes no parameters)."""
    scope = scope_params(principal)
    settings = ", ".join(
        f"set_config('closedloop.{s}', {_literal(scope[s])}, true)" for s in _SCOPE_SETTINGS
    )
    return f"BEGIN READ ONLY; SELECT {settings}"


def _literal(value: str) -> str:
    """A string literal; E'' escapes backslashes whatever standard_conforming_strings says."""
    return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def async_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and point them at asyncpg."""
    for prefix in (
        "postgresql+asyncpg://",
        "postgresql+psycopg://",
        "postgresql://",
        "postgres://",
    ):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url}")


def as_user(url: str, user: str, password: str | None) -> str:
    """The same server and database, reached as another role."""
    return (
        make_url(async_url(url))
        .set(username=user, password=password)
        .render_as_string(hide_password=False)
    )


def make_engine(
    url: str, pool_size: int = 10, *, statement_timeout_seconds: float = 0.0
) -> AsyncEngine:
    """An engine; with ``statement_timeout_seconds``, PostgreSQL cancels any statement that
    runs longer and ends any transaction left idle for twice as long (the API's budget)."""
    limits = {}
    if statement_timeout_seconds > 0:
        milliseconds = max(1, round(statement_timeout_seconds * 1000))
        limits = {
            "statement_timeout": str(milliseconds),
            "idle_in_transaction_session_timeout": str(2 * milliseconds),
        }
    engine = create_async_engine(
        async_url(url),
        json_deserializer=orjson.loads,  # jsonb columns (event payloads)
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        connect_args={
            "server_settings": {
                "application_name": "closedloop",
                "timezone": "UTC",
                # asyncpg prepares every statement; after five runs PostgreSQL would switch
                # to a generic plan that cannot see the region prefix or the row-level
                # security scope, and a pool page at 1M issues goes from 0.2 ms to 10 ms.
                "plan_cache_mode": "force_custom_plan",
                # The API's statements are short; JIT compiling them costs more than it
                # saves (0.7 s on a province dashboard). Aggregates get room to sort and
                # hash in memory instead of spilling to disk at the 4 MB default.
                "jit": "off",
                "work_mem": "64MB",
                **limits,
            }
        },
    )
    # Counted for /metrics and the benchmarks (statements per request).
    event.listen(engine.sync_engine, "before_cursor_execute", _count_statement)
    event.listen(engine.sync_engine, "checkout", _refuse_closed)
    return engine


def _refuse_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """A pooled connection whose server went away (backend terminated, server restarted)
    is never handed out: asyncpg notices the closed socket as soon as the server hangs up,
    so this is a flag check, not a round trip (``pool_pre_ping`` would cost one per
    request; see bench/RESULTS.md). The pool discards it and opens another."""
    if dbapi_connection.driver_connection.is_closed():
        raise sa.exc.DisconnectionError("the server closed this pooled connection")


def _count_statement(*args: object) -> None:
    SQL_STATEMENTS.inc()


def scope_params(principal: Principal) -> dict[str, str]:
    return {
        "role": principal.role.value if principal.role and principal.account_id else "",
        "region": principal.region_code or "",
        "enterprise": str(principal.enterprise_id or ""),
        "board": str(principal.board_id or ""),
        "department": str(principal.department_id or ""),
        "account": str(principal.account_id or ""),
    }


async def set_scope(conn: AsyncConnection, principal: Principal) -> None:
    """Tag the current transaction with the caller."""
    await conn.execute(_SET_SCOPE, scope_params(principal))


async def _end_driver_transaction(conn: AsyncConnection, driver: Any) -> None:
    """Roll back a transaction begun on the driver connection. SQLAlchemy does not know of
    it (its reset on return rolls back only its own), so a connection whose rollback did not
    happen (the request's budget cancelled it, the statement timeout and the budget ending
    together, a broken connection) is invalidated: it never goes back to the pool inside an
    open or aborted transaction."""
    if not driver.is_in_transaction():
        return
    try:
        await driver.execute("ROLLBACK")
    except BaseException:
        await conn.invalidate()
        raise


class Database:
    """Owns the engines; hands out short transactions, never a shared session."""

    def __init__(
        self,
        engine: AsyncEngine,
        admin: AsyncEngine | None = None,
        system: AsyncEngine | None = None,
    ) -> None:
        self.engine = engine
        self.admin = admin or engine
        # No system role configured: the owner does the system's work.
        self.system = system or self.admin

    @asynccontextmanager
    async def read(self, principal: Principal) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction in the caller's scope (rolled back at the end)."""
        async with self.engine.connect() as conn:
            await conn.begin()
            await set_scope(conn, principal)
            try:
                yield conn
            finally:
                await conn.rollback()

    @asynccontextmanager
    async def reader(self, principal: Principal) -> AsyncIterator[Reader]:
        """A read-only transaction in the caller's scope, like ``read``, held on the driver
        connection: for hot read paths whose statements go through ``driver.fetch``."""
        async with self.engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            reader = Reader(conn, driver)
            try:
                await reader.execute(begin_in_scope(principal))
                yield reader
            finally:
                await _end_driver_transaction(conn, driver)

    @asynccontextmanager
    async def read_reference(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction with no caller scope: for reference data (regions,
        centers, boards, departments, tags, time limits), which row-level security does
        not guard. Every tenant table answers nothing here."""
        async with self.engine.connect() as conn:
            await conn.begin()
            try:
                yield conn
            finally:
                await conn.rollback()

    @asynccontextmanager
    async def transaction(self, principal: Principal) -> AsyncIterator[AsyncConnection]:
        """A transaction in the caller's scope. Commit explicitly; anything not committed
        is rolled back."""
        async with self.engine.connect() as conn:
            await conn.begin()
            await set_scope(conn, principal)
            try:
                yield conn
            finally:
                if conn.in_transaction():
                    await conn.rollback()

    @asynccontextmanager
    async def system_transaction(self) -> AsyncIterator[AsyncConnection]:
        """A transaction as the system role (every row; no caller scope exists or is
        needed). Commit explicitly; anything not committed is rolled back."""
        async with self.system.connect() as conn:
            await conn.begin()
            try:
                yield conn
            finally:
                if conn.in_transaction():
                    await conn.rollback()

    async def dispose(self) -> None:
        for engine in {id(e): e for e in (self.engine, self.admin, self.system)}.values():
            await engine.dispose()
