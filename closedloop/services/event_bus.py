"""Issue events and account changes fan out to every API process through LISTEN/NOTIFY.

A command that changes issues sends one NOTIFY (transactional: delivered on commit) with
the issue ids it touched. Each process holds one listening connection and hands the ids
to its local subscribers: the event feed (``closedloop.services.event_feed``) reads the
new events once and hands each subscriber those its scope reads, so a notification never
carries data past the scope rules.

A trigger on ``account`` (migration 0011) sends the username of every account inserted,
changed or deleted on a second channel; the process drops what it remembers about that
account (``on_account``), so a deactivation bites at the next request in every process.

Faults: when the listening connection is lost, the bus reconnects with a growing pause
(``RECONNECT_FIRST`` doubling up to ``RECONNECT_CAP``). Notifications sent in between are
lost, so afterwards every subscriber gets ``CATCH_UP`` (read everything since the last
event you saw) and ``on_resync`` runs (forget every account: any of them may have
changed). ``connected`` is what ``/readyz`` reports. A subscriber whose queue is full
(it stopped reading) is dropped alone: its stream ends with ``SubscriberDropped`` and
the others still get every notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Callable
from typing import Any, Final

import asyncpg
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

CHANNEL = "closedloop_issue_events"
ACCOUNT_CHANNEL = "closedloop_account_changes"  # written by the trigger of migration 0011
SCHEME_CHANNEL = "closedloop_scheme_changes"  # written by the trigger of migration 0023
QUEUE_SIZE = 1000
RECONNECT_FIRST = 0.05  # seconds
RECONNECT_CAP = 5.0
CATCH_UP: Final = None  # what a subscriber receives after the bus was disconnected

log = structlog.get_logger("closedloop.events")

Notice = list[int] | None  # touched issue ids, or CATCH_UP


class SubscriberDropped(Exception):
    """The subscriber did not keep up: its queue filled and it was cut off."""


# A notification's payload must stay under 8,000 bytes: ids go out in notifications of at
# most this many (a bigint is at most 20 characters and ", ").
IDS_PER_NOTICE = 300


async def publish(conn: AsyncConnection, issue_ids: set[int]) -> None:
    """The touched ids, in one statement: one notification, or several for a bulk
    import's batch (each a sorted list, as subscribers expect)."""
    if issue_ids:
        ids = sorted(issue_ids)
        await conn.execute(
            sa.text(
                "SELECT pg_notify(:channel, payload)"
                " FROM unnest(CAST(:payloads AS text[])) AS p(payload)"
            ),
            {
                "channel": CHANNEL,
                "payloads": [
                    json.dumps(ids[i : i + IDS_PER_NOTICE])
                    for i in range(0, len(ids), IDS_PER_NOTICE)
                ],
            },
        )


class _Subscriber:
    __slots__ = ("counted", "dropped", "queue")

    def __init__(self, size: int, counted: bool) -> None:
        self.queue: asyncio.Queue[Notice] = asyncio.Queue(maxsize=size)
        self.dropped = False
        self.counted = counted


class EventBus:
    """One LISTEN connection per process, kept open; subscribers get the touched issue ids."""

    def __init__(
        self,
        url: str,
        *,
        on_account: Callable[[str], None] | None = None,
        on_resync: Callable[[], None] | None = None,
        on_scheme: Callable[[str], None] | None = None,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._on_account = on_account
        self._on_resync = on_resync
        self._on_scheme = on_scheme
        self._queue_size = queue_size
        self._conn: asyncpg.Connection | None = None
        self._subscribers: set[_Subscriber] = set()
        self._listeners = 0  # streams listening through a feed (``count_listener``)
        self._reconnecting: asyncio.Task[None] | None = None
        self._stopped = False
        self._changed = asyncio.Condition()
        self.reconnects = 0  # successful reconnections since start (for /metrics and tests)

    @property
    def subscribers(self) -> int:
        """Streams listening: subscriptions of the bus's own, and those of feeds reading
        through one (``closedloop.services.event_feed``)."""
        return sum(1 for s in self._subscribers if s.counted) + self._listeners

    def count_listener(self, change: int) -> None:
        self._listeners += change

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def start(self) -> None:
        """Connect and listen; the first connection must succeed (the server does not start
        without its database)."""
        self._stopped = False
        await self._connect()

    async def stop(self) -> None:
        self._stopped = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnecting
            self._reconnecting = None
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def wait_connected(self, reconnects: int) -> None:
        """Until the bus has reconnected ``reconnects`` times since start (tests, readiness)."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.connected and self.reconnects >= reconnects)

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self._dsn)
        try:
            await conn.add_listener(CHANNEL, self._on_issue_notify)
            await conn.add_listener(ACCOUNT_CHANNEL, self._on_account_notify)
            await conn.add_listener(SCHEME_CHANNEL, self._on_scheme_notify)
        except BaseException:
            conn.terminate()
            raise
        conn.add_termination_listener(self._on_terminated)
        self._conn = conn

    def _on_terminated(self, conn: Any) -> None:
        if conn is not self._conn or self._stopped:
            return
        self._conn = None
        log.warning("events.listen_connection_lost")
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.get_running_loop().create_task(
                self._reconnect(), name="event-bus-reconnect"
            )

    async def _reconnect(self) -> None:
        pause = RECONNECT_FIRST
        attempts = 0
        while not self._stopped:
            attempts += 1
            try:
                await self._connect()
            except Exception as exc:  # refused, reset, timed out, not yet accepting
                log.warning("events.reconnect_failed", attempt=attempts, error=type(exc).__name__)
                await asyncio.sleep(pause)
                pause = min(pause * 2, RECONNECT_CAP)
                continue
            self.reconnects += 1
            log.info("events.reconnected", attempts=attempts)
            # Whatever was sent while nobody listened is lost: everyone catches up.
            if self._on_resync is not None:
                self._on_resync()
            self._deliver(CATCH_UP)
            async with self._changed:
                self._changed.notify_all()
            return

    def _on_issue_notify(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        try:
            ids = [int(i) for i in json.loads(payload)]
        except (ValueError, TypeError):
            log.warning("events.bad_payload")
            return
        self._deliver(ids)

    def _on_account_notify(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        if self._on_account is not None:
            self._on_account(payload)

    def _on_scheme_notify(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        if self._on_scheme is not None:
            self._on_scheme(payload)

    def _deliver(self, notice: Notice) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber.queue.put_nowait(notice)
            except asyncio.QueueFull:
                # Cut off this one alone; the others still get every notice.
                subscriber.dropped = True
                self._subscribers.discard(subscriber)
                log.warning("events.subscriber_dropped", queued=subscriber.queue.qsize())

    def subscribe(self, *, counted: bool = True) -> AsyncGenerator[Notice, None]:
        """Touched issue ids as they are committed, or ``CATCH_UP`` after an outage:
        everything delivered from this call on (the subscription is registered at once, not
        when first read). Notices that are waiting when the subscriber reads come as one:
        the ids of them all, in order, or ``CATCH_UP`` if one of them is (it reads
        everything since the newest event read). Raises ``SubscriberDropped`` once this
        subscriber fell too far behind. A feed's own subscription is not ``counted`` (its
        listeners are)."""
        subscriber = _Subscriber(self._queue_size, counted)
        self._subscribers.add(subscriber)
        return self._notices(subscriber)

    async def _notices(self, subscriber: _Subscriber) -> AsyncGenerator[Notice, None]:
        try:
            while True:
                if subscriber.dropped:  # its queue is full: it wakes up at once
                    raise SubscriberDropped
                notice = await subscriber.queue.get()
                # Commands committed together are read together: one statement for the
                # feed, and their frames reach a socket in one write (``http.fanout``).
                queue = subscriber.queue
                while not queue.empty():
                    waiting = queue.get_nowait()
                    notice = None if notice is None or waiting is None else notice + waiting
                yield notice
        finally:
            self._subscribers.discard(subscriber)
