"""Faults the API survives without a restart: its LISTEN connection lost (reconnect, catch
up, /readyz says so meanwhile), a subscriber that stops reading (dropped alone), every
backend of the API terminated under load (no 500, subscriptions still delivering)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from websockets.exceptions import ConnectionClosed

from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.http.app import url_of
from closedloop.identity.tokens import mint_token
from closedloop.services.event_bus import CATCH_UP, EventBus, SubscriberDropped, publish
from closedloop.settings import Settings
from tests.api.issue_helpers import submit
from tests.conftest import Api
from tests.live import LiveServer, live_server, message, socket, subscribe, until

pytestmark = pytest.mark.usefixtures("clean_issues")

EVENTS = "subscription { issueEvents { issue { number } event { type } } }"
POOL = "{ issues(filter: {pool: true}, first: 5) { totalCount nodes { id number title } } }"


@pytest.fixture
async def server(db: Database, settings: Settings, clock: FrozenClock) -> AsyncIterator[LiveServer]:
    async with live_server(settings, db, clock) as one:
        yield one


async def _terminate(db: Database, where: str, **params: Any) -> int:
    async with db.admin.begin() as conn:
        killed = await conn.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                f" WHERE pid <> pg_backend_pid() AND datname = current_database() AND {where}"
            ),
            params,
        )
        return int(killed.scalar_one())


def _bus(server: LiveServer) -> EventBus:
    bus = server.runtime.bus
    assert bus is not None
    return bus


async def test_the_bus_reconnects_and_subscribers_catch_up(
    server: LiveServer, db: Database, settings: Settings, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = _bus(server)
    username = f"probe.{uuid.uuid4().hex[:8]}"
    async with db.admin.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO account (username, display_name, role, region_code)"
                " SELECT :u, 'probe', role, region_code FROM account"
                " WHERE username = 'xinshi.center'"
            ),
            {"u": username},
        )
    probe = mint_token(settings, username)
    # Reconnection waits for the test's word, so that work happens while nobody listens.
    gate = asyncio.Event()
    connect = bus._connect

    async def gated() -> None:
        await gate.wait()
        await connect()

    monkeypatch.setattr(bus, "_connect", gated)
    async with (
        httpx.AsyncClient(base_url=server.url) as client,
        socket(server, mint_token(settings, "xinshi.center")) as watcher,
        socket(server, probe) as deactivated,
    ):
        await subscribe(watcher, EVENTS)
        await subscribe(deactivated, EVENTS)
        await until(lambda: bus.subscribers == 2)
        assert (await client.get("/readyz")).status_code == 200

        pid = bus._conn.get_server_pid() if bus._conn is not None else 0
        assert await _terminate(db, "pid = :pid", pid=pid) == 1
        await until(lambda: not bus.connected)
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["listening"] is False

        # Missed while disconnected: an issue's events, and a deactivation.
        issue = await submit(api)
        async with db.admin.begin() as conn:
            await conn.execute(
                sa.text("UPDATE account SET active = false WHERE username = :u"), {"u": username}
            )
        # Nothing is cached while changes cannot be heard: the deactivation bites already.
        bearer = {"Authorization": f"Bearer {probe}"}
        refused = await client.post(
            "/graphql", json={"query": "{ viewer { username } }"}, headers=bearer
        )
        assert refused.status_code == 401

        gate.set()
        await bus.wait_connected(1)
        assert (await client.get("/readyz")).status_code == 200
        caught_up = await message(watcher)
        assert caught_up["payload"]["data"]["issueEvents"] == {
            "issue": {"number": issue["number"]},
            "event": {"type": "SUBMITTED"},
        }
        with pytest.raises(ConnectionClosed) as closed:
            await message(deactivated)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4403, "account deactivated")
    async with db.admin.begin() as conn:
        await conn.execute(sa.text("DELETE FROM account WHERE username = :u"), {"u": username})


async def test_a_subscriber_that_stops_reading_is_dropped_alone(db: Database) -> None:
    bus = EventBus(url_of(db), queue_size=3)
    await bus.start()
    try:
        slow = bus.subscribe()
        fast = bus.subscribe()
        first_slow = asyncio.ensure_future(anext(slow))
        seen: list[list[int] | None] = []

        async def read_fast() -> None:
            async for notice in fast:
                seen.append(notice)
                if len(seen) == 20:
                    return

        reader = asyncio.ensure_future(read_fast())
        await until(lambda: bus.subscribers == 2)
        for n in range(1, 21):  # in step with the reader: only the slow one falls behind
            async with db.admin.begin() as conn:
                await publish(conn, {n})
            await until(lambda n=n: len(seen) == n)  # type: ignore[misc]
        await asyncio.wait_for(reader, 20)
        assert seen == [[n] for n in range(1, 21)]  # every one, in order
        assert await first_slow == [1]
        with pytest.raises(SubscriberDropped):
            await anext(slow)
        assert bus.subscribers == 1
    finally:
        await bus.stop()


async def test_terminated_backends_under_load_recover_without_a_500(
    server: LiveServer, db: Database, settings: Settings, api: Api
) -> None:
    bus = _bus(server)
    token = mint_token(settings, "xinshi.center")
    statuses: list[int] = []
    errors: list[Any] = []
    stop = asyncio.Event()
    await submit(api)

    async def load(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            response = await client.post(
                "/graphql", json={"query": POOL}, headers={"Authorization": f"Bearer {token}"}
            )
            statuses.append(response.status_code)
            if response.status_code == 200 and "errors" in response.json():
                errors.append(response.json()["errors"])

    # Generous: on a loaded machine a request that waited for the pool to reconnect may be
    # slow; a request that never returns still fails the test.
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=60) as client,
        socket(server, token) as ws,
    ):
        await subscribe(ws, EVENTS)
        await until(lambda: bus.subscribers == 1)
        workers = [asyncio.ensure_future(load(client)) for _ in range(4)]
        await until(lambda: len(statuses) >= 20)
        killed = await _terminate(db, "usename = :role", role=settings.app_db_user)
        assert killed >= 2  # at least the pool's and the LISTEN connection
        await bus.wait_connected(1)
        after = len(statuses)
        await until(lambda: len(statuses) >= after + 40)
        stop.set()
        await asyncio.gather(*workers)

        # Never a 500; a request whose connection died under it may be told to retry (503).
        assert set(statuses) <= {200, 503}, sorted(set(statuses))
        assert (await client.get("/readyz")).status_code == 200
        issue = await submit(api)  # subscriptions still deliver
        notice = await message(ws)
        assert notice["payload"]["data"]["issueEvents"]["issue"]["number"] == issue["number"]
    # Requests in flight when their backend died may fail (a GraphQL error, or 503 from the
    # account look-up; never a 500); once the pool has replaced its connections every
    # request succeeds.
    tail = statuses[after + 20 :]
    assert tail and all(code == 200 for code in tail)


async def test_notices_waiting_when_read_come_as_one(db: Database) -> None:
    """What a reader finds waiting is one notice: the ids of all, in order; after an outage
    (``CATCH_UP``) everything since the newest event read, which covers the rest."""
    bus = EventBus(url_of(db))
    await bus.start()
    try:
        notices = bus.subscribe()
        first = asyncio.ensure_future(anext(notices))
        await until(lambda: bus.subscribers == 1)
        async with db.admin.begin() as conn:
            await publish(conn, {1})
        assert await first == [1]
        for n in (2, 3, 4):  # committed while the reader is busy elsewhere
            async with db.admin.begin() as conn:
                await publish(conn, {n})
        await until(lambda: all(s.queue.qsize() == 3 for s in bus._subscribers))
        assert await anext(notices) == [2, 3, 4]
        bus._deliver([5])
        bus._deliver(CATCH_UP)
        bus._deliver([6])
        assert await anext(notices) is CATCH_UP
        bus._deliver([7])
        assert await anext(notices) == [7]
    finally:
        await bus.stop()
