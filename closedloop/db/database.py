"""Engines and per-transaction connections, each tagged with the caller's scope.

Three engines (migration 0012 describes the roles):
- ``engine``: the request path's role ``closedloop_app``, under forced row-level security.
  Every transaction on it first writes the caller's scope with ``set_config(..., true)``,
  which the policies read; no value widens it past one caller.
- ``system``: the role ``closedloop_system``, whose policies let it see and write every row:
  the sweeper, the outbox relay, rollup refreshes, seeding (``system_transaction``).
- ``admin``: the URL's own user, the tables' owner: migrations only.

Behind PgBouncer in transaction mode (``make_engine(..., pgbouncer=True)``) a server
connection belongs to a client only for one transaction: nothing may outlive it. The scope
settings already do not (``set_config(..., true)``). Statements are not kept prepared on
the server (asyncpg's statement cache off; SQLAlchemy's statements prepared unnamed, which
the next statement of the same transaction replaces); the session settings the pooler
does not pass on (``plan_cache_mode``, ``jit``, ``work_mem``, the timeouts) are written
into each transaction instead, with the scope where there is one. LISTEN needs a session:
the event bus connects to PostgreSQL itself (``Database.listen_url``).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import weakref
from collections.abc import AsyncIterator, Coroutine, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa
from prometheus_client import Counter
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.util.concurrency import greenlet_spawn

from closedloop.db.driver import Reader, Template, fetch_alone
from closedloop.db.replicas import AS_OF, PRIMARY, REPLAYED, Freshness, ReplicaSet

if TYPE_CHECKING:
    from closedloop.authz.roles import Principal

SQL_STATEMENTS = Counter("closedloop_sql_statements_total", "SQL statements sent to PostgreSQL")

_SCOPE_SETTINGS = ("role", "region", "enterprise", "board", "department", "account")
_SET_SCOPE = sa.text(
    "SELECT " + ", ".join(f"set_config('closedloop.{s}', :{s}, true)" for s in _SCOPE_SETTINGS)
)
# PostgreSQL settings an engine writes into each transaction (behind PgBouncer), by engine.
_LOCAL_SETTINGS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def begin_in_scope(principal: Principal, local: str = "") -> str:
    """``BEGIN READ ONLY`` and the scope as one simple query: one round trip, not two. The
    values are written as escaped literals (a simple query takes no parameters). ``local``:
    more ``set_config`` calls for the same SELECT (``local_settings``)."""
    scope = scope_params(principal)
    settings = ", ".join(
        f"set_config('closedloop.{s}', {_literal(scope[s])}, true)" for s in _SCOPE_SETTINGS
    )
    return f"BEGIN READ ONLY; SELECT {settings}{', ' + local if local else ''}"


def local_settings(engine: AsyncEngine) -> str:
    """The ``set_config(..., true)`` calls an engine behind PgBouncer makes in each
    transaction (comma-separated; empty for a direct connection)."""
    return _LOCAL_SETTINGS.get(engine.sync_engine, "")


def _set_config_calls(settings: Mapping[str, str]) -> str:
    return ", ".join(f"set_config('{k}', {_literal(v)}, true)" for k, v in settings.items())


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
    url: str,
    pool_size: int = 10,
    *,
    statement_timeout_seconds: float = 0.0,
    pgbouncer: bool = False,
) -> AsyncEngine:
    """An engine; with ``statement_timeout_seconds``, PostgreSQL cancels any statement that
    runs longer and ends any transaction left idle for twice as long (the API's budget).
    ``pgbouncer``: the URL is a PgBouncer in transaction mode (see the module's note)."""
    limits = {}
    if statement_timeout_seconds > 0:
        milliseconds = max(1, round(statement_timeout_seconds * 1000))
        limits = {
            "statement_timeout": str(milliseconds),
            "idle_in_transaction_session_timeout": str(2 * milliseconds),
        }
    tuning = {
        # The API's statements are short; JIT compiling them costs more than it saves
        # (0.7 s on a province dashboard). Aggregates get room to sort and hash in memory
        # instead of spilling to disk at the 4 MB default.
        "jit": "off",
        "work_mem": "64MB",
        **limits,
    }
    # The parameters PgBouncer passes on to the server (it refuses the others).
    server_settings = {"application_name": "closedloop", "timezone": "UTC"}
    connect_args: dict[str, Any] = {"server_settings": server_settings}
    if pgbouncer:
        connect_args.update(
            statement_cache_size=0,  # asyncpg's own statements: unnamed
            prepared_statement_cache_size=0,  # SQLAlchemy's: prepared each time, unnamed
            prepared_statement_name_func=lambda: "",
        )
    else:
        server_settings.update(
            # asyncpg prepares every statement; after five runs PostgreSQL would switch to
            # a generic plan that cannot see the region prefix or the row-level security
            # scope, and a pool page at 1M issues goes from 0.2 ms to 10 ms. (Unnamed
            # statements, behind PgBouncer, are planned for their values every time.)
            plan_cache_mode="force_custom_plan",
            **tuning,
        )
    engine = create_async_engine(
        async_url(url),
        json_deserializer=orjson.loads,  # jsonb columns (event payloads)
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        connect_args=connect_args,
    )
    if pgbouncer:
        _LOCAL_SETTINGS[engine.sync_engine] = _set_config_calls(tuning)
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
    """Tag the current transaction with the caller (and write the engine's transaction
    settings, behind PgBouncer)."""
    local = local_settings(conn.engine)
    statement = sa.text(f"{_SET_SCOPE.text}, {local}") if local else _SET_SCOPE
    await conn.execute(statement, scope_params(principal))


async def _set_local(conn: AsyncConnection) -> None:
    """Behind PgBouncer: the engine's settings, for a transaction with no scope to tag."""
    local = local_settings(conn.engine)
    if local:
        await conn.execute(sa.text(f"SELECT {local}"))


async def _end_driver_transaction(conn: AsyncConnection | Any, driver: Any) -> None:
    """Roll back a transaction begun on the driver connection. SQLAlchemy does not know of
    it (its reset on return rolls back only its own), so a connection whose rollback did not
    happen (the request's budget cancelled it, the statement timeout and the budget ending
    together, a broken connection) is invalidated: it never goes back to the pool inside an
    open or aborted transaction. ``conn``: a SQLAlchemy connection, or the pool's own
    (``PoolProxiedConnection``) one."""
    if not driver.is_in_transaction():
        return
    try:
        await driver.execute("ROLLBACK")
    except BaseException:
        if isinstance(conn, AsyncConnection):
            await conn.invalidate()
        else:
            await greenlet_spawn(conn.invalidate)
        raise


async def _to_completion(cleanup: Coroutine[Any, Any, None]) -> None:
    """Run ``cleanup`` in a task of its own and wait for it even if the caller is cancelled
    meanwhile (the cancellation is raised once it is done): a connection is never left half
    returned to its pool. (What ``AsyncConnection.__aexit__`` does for its ``close``.)"""
    task = asyncio.ensure_future(cleanup)
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError as error:
            if task.done():
                raise
            cancelled = error
        else:
            break
    if cancelled is not None:
        raise cancelled


class Database:
    """Owns the engines; hands out short transactions, never a shared session."""

    def __init__(
        self,
        engine: AsyncEngine,
        admin: AsyncEngine | None = None,
        system: AsyncEngine | None = None,
        *,
        listen_url: str | None = None,
        replicas: ReplicaSet | None = None,
    ) -> None:
        self.engine = engine
        # Where writes go: ``engine`` itself, except in a lag-tolerant view
        # (``lag_tolerant``), whose reads go to a replica.
        self.primary = engine
        self.admin = admin or engine
        # No system role configured: the owner does the system's work.
        self.system = system or self.admin
        # Where the event bus LISTENs: PostgreSQL itself as the request role (a
        # transaction pooler cannot LISTEN); None: the request engine's own URL.
        self.listen_url = listen_url
        # Streaming replicas for the reads that tolerate lag (``read_tolerant``).
        self.replicas = replicas

    @asynccontextmanager
    async def read(self, principal: Principal) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction in the caller's scope (rolled back at the end)."""
        async with self._read_on(self.engine, principal) as conn:
            yield conn

    @asynccontextmanager
    async def _read_on(
        self, engine: AsyncEngine, principal: Principal
    ) -> AsyncIterator[AsyncConnection]:
        async with engine.connect() as conn:
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
        # Straight from the engine's pool (its checkout listeners run, its limits hold), not
        # through a SQLAlchemy connection: nothing here runs SQLAlchemy statements, and the
        # connection object with its greenlet switches cost a pool page about 60 µs.
        sync_engine = self.engine.sync_engine
        pooled = await greenlet_spawn(sync_engine.raw_connection)
        try:
            driver = pooled.driver_connection
            assert driver is not None
            reader = Reader(sync_engine, driver)
            try:
                await reader.execute(begin_in_scope(principal, local_settings(self.engine)))
                yield reader
            finally:
                await _end_driver_transaction(pooled, driver)
        finally:
            # Back to the pool (an invalidated one is discarded there), to the end even if
            # the request is cancelled meanwhile, as SQLAlchemy's connection closes itself.
            await _to_completion(greenlet_spawn(pooled.close))

    async def fetch_alone(self, template: Template, **values: Any) -> list[Any]:
        """One SELECT of reference rows or SECURITY DEFINER functions in one round trip,
        outside any transaction and any caller scope (``driver.fetch_alone``): the hot path
        of a kept dashboard."""
        async with self.engine.connect() as conn:
            return await fetch_alone(conn, template, **values)

    @asynccontextmanager
    async def read_reference(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction with no caller scope: for reference data (regions,
        centers, boards, departments, tags, time limits), which row-level security does
        not guard. Every tenant table answers nothing here."""
        async with self.engine.connect() as conn:
            await conn.begin()
            await _set_local(conn)
            try:
                yield conn
            finally:
                await conn.rollback()

    @asynccontextmanager
    async def transaction(self, principal: Principal) -> AsyncIterator[AsyncConnection]:
        """A transaction in the caller's scope. Commit explicitly; anything not committed
        is rolled back."""
        async with self.primary.connect() as conn:
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
            await _set_local(conn)
            try:
                yield conn
            finally:
                if conn.in_transaction():
                    await conn.rollback()

    @asynccontextmanager
    async def read_tolerant(
        self, principal: Principal, *, after: str | None = None
    ) -> AsyncIterator[tuple[AsyncConnection, Freshness]]:
        """Like ``read``, for a read that tolerates lag (dashboards, scores, reports,
        exports): on a replica in rotation when there is one, else on the primary. The
        freshness says which, and how old a replica's data is. ``after``: a primary WAL
        position (``primary_position``) this read must see, a write the same request made:
        a replica that has not replayed it yet leaves the read to the primary. A replica
        that cannot be reached is taken out of rotation and the primary serves."""
        replica = self.replicas.choose() if self.replicas is not None else None
        if replica is not None:
            async with contextlib.AsyncExitStack() as stack:
                try:
                    conn = await stack.enter_async_context(replica.engine.connect())
                    await conn.begin()
                    await set_scope(conn, principal)
                    if after is None:
                        as_of, replayed = await conn.scalar(AS_OF), True
                    else:
                        row = (await conn.execute(REPLAYED, {"lsn": after})).one()
                        as_of, replayed = row.as_of, bool(row.replayed)
                except (sa.exc.DBAPIError, OSError) as exc:
                    self.replicas.failed(replica, exc)  # type: ignore[union-attr]
                    replayed = False
                if replayed:
                    try:
                        yield conn, Freshness(replica.name, as_of)
                    finally:
                        await conn.rollback()
                    return
        async with self._read_on(self.primary, principal) as conn:
            yield conn, PRIMARY

    async def lag_tolerant(self) -> tuple[Database, Freshness]:
        """This database as a request that marked itself tolerant of lag uses it (the
        ``@lagTolerant`` operation directive): its reads (``read``, ``reader``,
        ``read_reference``) on a replica in rotation, probed now (reachable, and how old
        its data is), its writes and the system's work on the primary. Without a replica
        in rotation, or when the probe fails (the replica leaves the rotation): this
        database itself, and ``PRIMARY``."""
        replica = self.replicas.choose() if self.replicas is not None else None
        if replica is None:
            return self, PRIMARY
        try:
            async with replica.engine.connect() as conn:
                as_of = await conn.scalar(AS_OF)
                await conn.rollback()
        except (sa.exc.DBAPIError, OSError) as exc:
            self.replicas.failed(replica, exc)  # type: ignore[union-attr]
            return self, PRIMARY
        view = copy.copy(self)
        view.engine = replica.engine
        return view, Freshness(replica.name, as_of)

    async def primary_position(self) -> str | None:
        """The primary's current WAL position, for a lag-tolerant read that must see what
        this request just wrote (``read_tolerant(after=...)``); None without replicas."""
        if self.replicas is None:
            return None
        async with self.system.connect() as conn:
            # Where the next WAL record goes: past every commit made so far, flushed or
            # not (an asynchronous commit may not be written yet).
            position: str = await conn.scalar(sa.text("SELECT pg_current_wal_insert_lsn()::text"))
            await conn.rollback()
        return position

    async def dispose(self) -> None:
        for engine in {id(e): e for e in (self.engine, self.admin, self.system)}.values():
            await engine.dispose()
        if self.replicas is not None:
            await self.replicas.dispose()
