"""Engine creation and the per-transaction connection helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import Counter
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

SQL_STATEMENTS = Counter("closedloop_sql_statements_total", "SQL statements sent to PostgreSQL")


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


def make_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        connect_args={"server_settings": {"application_name": "closedloop", "timezone": "UTC"}},
    )
    # Counted for /metrics and the benchmarks (statements per request).
    event.listen(engine.sync_engine, "before_cursor_execute", _count_statement)
    return engine


def _count_statement(*args: object) -> None:
    SQL_STATEMENTS.inc()


class Database:
    """Owns the engine; hands out short transactions, never a shared session."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction (rolled back at the end)."""
        async with self.engine.connect() as conn:
            await conn.begin()
            try:
                yield conn
            finally:
                await conn.rollback()

    async def dispose(self) -> None:
        await self.engine.dispose()
