"""Parallel COPY streams for the generator: several connections, each in its own
transaction, each taking the next built batch as soon as it is free.

One stream is the generator's own connection (one transaction for everything, as before).
With more, the issues, events, custody and ratings of a batch go over one of ``n`` extra
connections; the enterprises, the ``issue_number`` counters and the sequences stay on the
generator's connection. Nothing is committed until every COPY has succeeded: then the
streams commit, then the generator's connection. A failure before that rolls everything
back; only a failure between those commits (milliseconds) could leave a partial load.

Streams need a superuser: the per-row foreign-key triggers are skipped
(``session_replication_role = replica``), since a stream's issues refer to enterprises the
generator's still uncommitted transaction wrote, which another transaction cannot see.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

Load = Callable[[AsyncConnection], Awaitable[None]]

STREAM_SETUP = (
    "SET LOCAL session_replication_role = replica",
    "SET LOCAL synchronous_commit = off",
)


class CopyStreams:
    """``n`` connections (``own`` alone when ``n`` is 1) that loads run on, one at a time
    each; ``submit`` waits for a free one and returns how long it waited."""

    def __init__(self, engine: AsyncEngine, own: AsyncConnection, n: int) -> None:
        self._engine = engine
        self._own = own
        self.n = max(1, n)
        self._extra: list[AsyncConnection] = []
        self._idle: asyncio.Queue[AsyncConnection] = asyncio.Queue()
        self._running: set[asyncio.Task[None]] = set()
        self._failed: BaseException | None = None

    @property
    def separate(self) -> bool:
        """Whether the loads run outside the generator's own transaction."""
        return self.n > 1

    async def __aenter__(self) -> CopyStreams:
        if not self.separate:
            self._idle.put_nowait(self._own)
            return self
        for _ in range(self.n):
            conn = await self._engine.connect()
            self._extra.append(conn)
            await conn.begin()
            for statement in STREAM_SETUP:
                await conn.execute(sa.text(statement))
            self._idle.put_nowait(conn)
        return self

    async def submit(self, load: Load) -> float:
        mark = time.perf_counter()
        conn = await self._idle.get()
        waited = time.perf_counter() - mark
        self._raise()
        task = asyncio.create_task(self._run(conn, load))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return waited

    async def _run(self, conn: AsyncConnection, load: Load) -> None:
        try:
            await load(conn)
        except BaseException as exc:
            self._failed = self._failed or exc
            raise
        finally:
            self._idle.put_nowait(conn)

    def _raise(self) -> None:
        if self._failed is not None:
            raise self._failed

    async def drain(self) -> float:
        """Wait for every load; the first failure is raised. Returns the seconds waited."""
        mark = time.perf_counter()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        self._raise()
        return time.perf_counter() - mark

    async def commit(self) -> None:
        """Commit the streams' transactions (the generator commits its own)."""
        await self.drain()
        for conn in self._extra:
            await conn.commit()

    @property
    def connections(self) -> Sequence[AsyncConnection]:
        return self._extra or [self._own]

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in list(self._running):
            task.cancel()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        for conn in self._extra:
            if conn.in_transaction():
                await conn.rollback()
            await conn.close()
