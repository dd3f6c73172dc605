"""``EventFeed``: new issue events read once per process and fanned out in memory.

Each process has one feed per event bus. The feed holds one subscription to the bus (the
*pump*) while anyone listens; for every notification (one committed command) it reads the
new events of the touched issues *once*, with each issue's row, as the system role, in one
statement. It then decides, per scope group of subscribers (callers whose scope reads the
same issues), which of those events the group reads: with ``can_see_issue``, the in-memory
form of the same rule as ``issue_visibility`` and the row-level security policies, on the
scope columns the issue rows carry (internal entries need ``issue.read_internal``). So a
mutation costs the same statements whatever the number of subscribers, and no subscriber
receives an event its own scoped read would not have returned. (Over sockets, the
subscriptions of one account with the same document share one stream of this feed, and
its frames: ``closedloop.http.fanout``.)

Order: notifications are handled in the order PostgreSQL delivered them (those that arrived
while the feed was reading are read together, in one statement: ``EventBus.subscribe``), and
each issue's events are read after the newest event of that issue the feed has read
(events of one issue are written under its row lock, in id order), so every subscriber
gets each issue's events in order, once. The per-issue positions are bounded
(``MAX_TRACKED`` issues): the least recently advanced ones are forgotten and their floor
becomes the feed-wide ``floor`` (an event committed so late that more than ``MAX_TRACKED``
other issues moved meanwhile is not delivered; a bus outage is handled by ``CATCH_UP``).

Slow consumers: each subscriber has a bounded queue (``QUEUE_SIZE`` batches, one batch per
notification); a subscriber whose queue is full is cut off alone (its stream ends with
``SubscriberDropped``, the API's ``SUBSCRIPTION_DROPPED``: subscribe again), and nothing
waits for it. After a bus outage (``CATCH_UP``) the feed reads every event since the newest
it has read and delivers them the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from dataclasses import dataclass
from weakref import WeakKeyDictionary

import sqlalchemy as sa
import structlog

from closedloop.authz.roles import Action, Principal
from closedloop.db import driver
from closedloop.db.database import Database
from closedloop.identity.accounts import principal_for
from closedloop.services.event_bus import CATCH_UP, EventBus, Notice, SubscriberDropped
from closedloop.services.issues.queries import scope_key
from closedloop.services.issues.records import (
    EventRecord,
    IssueRecord,
    events_from_composites,
    reads_issue,
)

QUEUE_SIZE = 1000  # batches (one per notification) a subscriber may fall behind
MAX_TRACKED = 100_000  # issues whose newest delivered event the feed remembers
RETRY_PAUSE = 0.5  # seconds after a failed read before the feed catches up
_UNKNOWN = 2**63 - 1  # a listener's start before it was read: nothing is newer

log = structlog.get_logger("closedloop.events")


@dataclass(frozen=True, slots=True)
class FeedItem:
    issue: IssueRecord
    event: EventRecord


class _Listener:
    __slots__ = ("dropped", "principal", "queue", "start")

    def __init__(self, principal: Principal, start: int, size: int) -> None:
        self.principal = principal
        self.start = start
        self.queue: asyncio.Queue[list[FeedItem]] = asyncio.Queue(maxsize=size)
        self.dropped = False


def visible_items(principal: Principal, items: Sequence[FeedItem]) -> list[FeedItem]:
    """The items ``principal``'s own scoped read returns: issues it reads, and of their
    events the public ones, or all where it reads internal entries too."""
    out = []
    internal: dict[int, bool] = {}
    for item in items:
        if not reads_issue(principal, item.issue):
            continue
        if not item.event.public:
            issue_id = item.issue.id
            if issue_id not in internal:
                internal[issue_id] = reads_issue(principal, item.issue, Action.ISSUE_READ_INTERNAL)
            if not internal[issue_id]:
                continue
        out.append(item)
    return out


_NEW_EVENTS = sa.text(
    "SELECT i AS issue, ARRAY(SELECT e FROM issue_event e"
    " WHERE e.issue_id = i.id AND e.id > q.after ORDER BY e.id) AS events"
    " FROM unnest(CAST(:ids AS bigint[]), CAST(:after AS bigint[])) AS q(id, after)"
    " JOIN issue i ON i.id = q.id"
)
_TOUCHED_SINCE = sa.text("SELECT DISTINCT issue_id FROM issue_event WHERE id > :after")
_NEWEST = sa.text("SELECT coalesce(max(id), 0) FROM issue_event")


class EventFeed:
    """The process's fan-out of new issue events (see the module's docstring)."""

    def __init__(self, db: Database, bus: EventBus, queue_size: int = QUEUE_SIZE) -> None:
        self._db = db
        self._bus = bus
        self._queue_size = queue_size
        self._groups: dict[Hashable, set[_Listener]] = {}
        self._pump: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._after: OrderedDict[int, int] = OrderedDict()
        self.floor = 0  # every event up to here has been read (or was there at start)
        self.newest = 0  # the newest event read
        self.reads = 0  # statements run for notifications (tests)

    @property
    def subscribers(self) -> int:
        return sum(len(group) for group in self._groups.values())

    async def subscribe(
        self,
        principal: Principal,
        *,
        counted: bool = True,
        on_listening: Callable[[], None] | None = None,
    ) -> AsyncIterator[list[FeedItem]]:
        """Batches of new events ``principal`` reads, from the first notification after
        it subscribed. Raises ``SubscriberDropped`` once it fell ``queue_size`` batches
        behind. ``on_listening`` is called once its start is known (from then on nothing
        committed is missed); a stream that is not ``counted`` is no listener of the bus's
        count (a subscription group's own stream: its sockets are counted,
        ``closedloop.http.fanout``)."""
        # Registered before anything is awaited: the pump runs while any listener is
        # registered. Nothing reaches it until its start is known.
        listener = _Listener(principal, _UNKNOWN, self._queue_size)
        group = self._groups.setdefault(scope_key(principal), set())
        group.add(listener)
        listening = False
        try:
            await self._start()
            listener.start = await self.newest_event_id()
            # Listening from here on: the bus counts it (``/readyz``, tests wait for it).
            if counted:
                self._bus.count_listener(1)
            listening = counted
            if on_listening is not None:
                on_listening()
            while True:
                if listener.dropped:
                    raise SubscriberDropped
                batch = await listener.queue.get()
                if batch:
                    yield batch
        finally:
            if listening:
                self._bus.count_listener(-1)
            group.discard(listener)
            if not group and self._groups.get(scope_key(principal)) is group:
                del self._groups[scope_key(principal)]
            if not self._groups:
                await self._stop()

    async def newest_event_id(self) -> int:
        """The newest event id: where a new listener starts. Read as the system role, an
        index's last entry (in a caller's scope, row-level security makes ``max(id)`` a
        scan of every event at a million issues); the id itself shows nothing of any event."""
        async with self._db.system_transaction() as conn:
            return int((await conn.execute(_NEWEST)).scalar_one())

    async def _start(self) -> None:
        if self._pump is None or self._pump.done():
            self._ready = asyncio.get_running_loop().create_future()
            self._pump = asyncio.get_running_loop().create_task(self._run(), name="event-feed")
        assert self._ready is not None
        await asyncio.shield(self._ready)

    async def _stop(self) -> None:
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump

    async def _run(self) -> None:
        assert self._ready is not None
        try:
            # Registered before the floor is read: nothing committed after it goes unheard.
            stream = self._bus.subscribe(counted=False)
            self.floor = self.newest = await self.newest_event_id()
            self._after.clear()
        except BaseException as exc:
            self._ready.set_exception(exc)
            raise
        self._ready.set_result(None)
        catching_up = False
        try:
            while True:
                try:
                    if catching_up:
                        self._deliver(await self._read(CATCH_UP), await self._current())
                        catching_up = False
                    async for notice in stream:
                        items = await self._read(notice)
                        # After an outage any account may have changed unheard: what was
                        # missed goes only to listeners whose account still reads as it did
                        # (the others' sockets are being closed, ``http.sessions``).
                        self._deliver(items, await self._current() if notice is CATCH_UP else None)
                except SubscriberDropped:
                    # The feed itself fell behind the bus: listen again, read what it missed.
                    stream = self._bus.subscribe(counted=False)
                    catching_up = True
                except Exception as exc:  # a failed read: catch up once the database answers
                    log.warning("events.feed_read_failed", error=type(exc).__name__)
                    await asyncio.sleep(RETRY_PAUSE)
                    catching_up = True
        finally:
            await stream.aclose()

    async def _read(self, notice: Notice) -> list[FeedItem]:
        async with self._db.system_transaction() as conn:
            if notice is CATCH_UP:
                found = await conn.execute(_TOUCHED_SINCE, {"after": self.newest})
                ids = sorted(int(i) for i in found.scalars())
            else:
                ids = sorted(set(notice))
            if not ids:
                return []
            after = [self._after.get(i, self.floor) for i in ids]
            self.reads += 1
            rows = await driver.rows(conn, _NEW_EVENTS.bindparams(ids=ids, after=after))
        items = []
        for row in rows:
            issue = IssueRecord.from_row(row["issue"])
            events = events_from_composites(row["events"])
            for event in events:
                items.append(FeedItem(issue, event))
            if events:
                self._advance(issue.id, events[-1].id)
        items.sort(key=lambda item: item.event.id)
        return items

    def _advance(self, issue_id: int, event_id: int) -> None:
        self._after[issue_id] = event_id
        self._after.move_to_end(issue_id)
        self.newest = max(self.newest, event_id)
        while len(self._after) > MAX_TRACKED:
            _, forgotten = self._after.popitem(last=False)
            self.floor = max(self.floor, forgotten)

    async def _current(self) -> set[str]:
        """The listeners' accounts that still read as they did when they subscribed."""
        usernames = {
            listener.principal.username
            for group in self._groups.values()
            for listener in group
            if listener.principal.username
        }
        current = set()
        async with self._db.read_reference() as conn:
            for username in sorted(usernames):
                principal = await principal_for(conn, username)
                if principal is not None and all(
                    listener.principal == principal
                    for group in self._groups.values()
                    for listener in group
                    if listener.principal.username == username
                ):
                    current.add(username)
        return current

    def _deliver(self, items: list[FeedItem], current: set[str] | None = None) -> None:
        """Hand each group what it reads; with ``current``, only to those accounts."""
        if not items:
            return
        for group in list(self._groups.values()):
            if not group:
                continue
            visible = visible_items(next(iter(group)).principal, items)
            if not visible:
                continue
            for listener in list(group):
                if current is not None and listener.principal.username not in current:
                    continue
                mine = [i for i in visible if i.event.id > listener.start]
                if not mine:
                    continue
                try:
                    listener.queue.put_nowait(mine)
                except asyncio.QueueFull:
                    # Cut off this one alone; the others still get every batch.
                    listener.dropped = True  # it ends when it next reads
                    group.discard(listener)
                    log.warning("events.subscriber_dropped", queued=listener.queue.qsize())


_FEEDS: WeakKeyDictionary[EventBus, EventFeed] = WeakKeyDictionary()


def feed_for(bus: EventBus, db: Database) -> EventFeed:
    """The process's feed on ``bus`` (made on first use)."""
    feed = _FEEDS.get(bus)
    if feed is None:
        feed = _FEEDS[bus] = EventFeed(db, bus)
    return feed
