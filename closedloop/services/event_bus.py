"""Issue events fan out to every API process through PostgreSQL LISTEN/NOTIFY.

A command that changes issues sends one NOTIFY (transactional: delivered on commit) with
the issue ids it touched. Each process holds one listening connection and hands the ids
to its local subscribers; a subscriber then reads the new events *in its own caller's
scope*, so a notification never carries data past the scope rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

CHANNEL = "closedloop_issue_events"
log = structlog.get_logger("closedloop.events")


async def publish(conn: AsyncConnection, issue_ids: set[int]) -> None:
    if issue_ids:
        await conn.execute(
            sa.text("SELECT pg_notify(:channel, :payload)"),
            {"channel": CHANNEL, "payload": json.dumps(sorted(issue_ids))},
        )


class EventBus:
    """One LISTEN connection per process; subscribers get the touched issue ids."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: asyncpg.Connection | None = None
        self._queues: set[asyncio.Queue[list[int]]] = set()

    async def start(self) -> None:
        url = make_url(self._url)
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._conn = await asyncpg.connect(dsn)
        await self._conn.add_listener(CHANNEL, self._on_notify)

    async def stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None

    def _on_notify(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        try:
            ids = [int(i) for i in json.loads(payload)]
        except (ValueError, TypeError):
            log.warning("events.bad_payload")
            return
        for queue in list(self._queues):
            queue.put_nowait(ids)

    async def subscribe(self) -> AsyncIterator[list[int]]:
        queue: asyncio.Queue[list[int]] = asyncio.Queue(maxsize=1000)
        self._queues.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.discard(queue)
