"""Subscription frames made once per group (``closedloop.http.fanout``), over real sockets:
the bytes each socket gets are those a server running every operation alone sends; a group
runs its selection once per event; nothing out of scope is sent; a socket that stops
reading is dropped alone, its backlog bounded, the others served in order; frames wait
while the process answers requests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.http import fanout as fanout_module
from closedloop.http.fanout import IN_FLIGHT, RAW_SEND, Fanout, Seat
from closedloop.identity.tokens import mint_token
from closedloop.settings import Settings
from tests.api.engine_events import connections_opened, statements
from tests.api.issue_helpers import step, submit
from tests.conftest import Api
from tests.live import WAIT, LiveServer, live_server, message, socket, until

pytestmark = pytest.mark.usefixtures("clean_issues")

# Labels (locale), the viewer's actions (role and policy), nested regions, the timeline:
# what a shared execution could get wrong if the group were too wide.
RICH = """subscription Watch($id: ID) { issueEvents(issueId: $id) {
  issue { id number state stateLabel title version light viewerActions
          holdingRegion { code name } originRegion { name } enterprise { name }
          lastEvent { type } timeline(first: 3) { type public message } }
  event { id type typeLabel public message actorName occurredAt payload toState } } }"""
SMALL = "subscription { issueEvents { issue { number } event { type public } } }"


@pytest.fixture
async def servers(
    db: Database, settings: Settings, clock: FrozenClock
) -> AsyncIterator[tuple[LiveServer, LiveServer]]:
    """One server that fans frames out, one that runs every operation alone."""
    async with (
        live_server(settings, db, clock) as shared,
        live_server(settings, db, clock) as alone,
    ):
        alone.runtime.fanout = None
        yield shared, alone


def _bus_count(server: LiveServer) -> int:
    bus = server.runtime.bus
    return bus.subscribers if bus is not None else 0


async def _open(
    stack: AsyncExitStack,
    server: LiveServer,
    username: str,
    op_id: str,
    query: str,
    variables: dict[str, Any] | None = None,
) -> ClientConnection:
    ws = await stack.enter_async_context(
        socket(server, mint_token(server.runtime.settings, username))
    )
    ack = await message(ws)
    assert ack["type"] == "connection_ack", ack
    payload = {"query": query, "variables": variables or {}, "operationName": None}
    if query is RICH:
        payload["operationName"] = "Watch"
    await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))
    return ws


async def _frames(ws: ClientConnection, n: int) -> list[str]:
    """The next ``n`` raw frames, as the socket received them."""
    out: list[str] = []
    async with asyncio.timeout(WAIT):
        while len(out) < n:
            out.append(str(await ws.recv()))
    return out


async def _silent(ws: ClientConnection, seconds: float = 0.3) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), seconds)
    except TimeoutError:
        return True
    return False


def _group_of(fanout: Fanout, op_id: str) -> Any:
    for group in fanout._groups.values():
        for seat in group.seats:
            if seat.operation.id == op_id:
                return group
    raise AssertionError(f"no seat {op_id}")


def _seat(fanout: Fanout, op_id: str) -> Seat:
    for group in fanout._groups.values():
        for seat in group.seats:
            if seat.operation.id == op_id:
                return seat
    raise AssertionError(f"no seat {op_id}")


async def test_every_socket_gets_the_bytes_it_would_get_alone_made_once_per_group(
    servers: tuple[LiveServer, LiveServer], api: Api
) -> None:
    shared, alone = servers
    issue = await submit(api)
    variables = {"id": None}
    async with AsyncExitStack() as stack:
        first = await _open(stack, shared, "xinshi.center", "a", RICH, variables)
        second = await _open(stack, shared, "xinshi.center", "b-二", RICH, variables)
        third = await _open(stack, shared, "xinshi.center", "a", RICH, variables)
        firm = await _open(stack, shared, "ent.xinshi-silk", "a", RICH, variables)
        sibling = await _open(stack, shared, "changxing.center", "a", RICH, variables)
        reference = await _open(stack, alone, "xinshi.center", "a", RICH, variables)
        firm_alone = await _open(stack, alone, "ent.xinshi-silk", "a", RICH, variables)
        await until(lambda: _bus_count(shared) == 5 and _bus_count(alone) == 2)
        fanout = shared.runtime.fanout
        assert fanout is not None
        assert fanout.groups == 3  # one per account: xinshi, the enterprise, the sibling
        # One event at a time: the selection reads the issue as it is when it runs
        # (``lastEvent``), so both servers run it before the next command.
        expected: list[str] = []
        steps: list[tuple[str, dict[str, Any]]] = [
            ("addIssueNote", {"text": "内部研判", "public": False}),
            ("acceptIssue", {}),
        ]
        for name, extra in steps:
            issue = await step(api, name, issue, "xinshi.center", **extra)
            (frame,) = await _frames(reference, 1)
            expected.append(frame)
            assert await _frames(first, 1) == [frame]
            assert await _frames(third, 1) == [frame]
            renamed = frame.replace('{"id":"a",', '{"id":"b-二",', 1)
            assert renamed != frame
            assert await _frames(second, 1) == [renamed]
        types = [json.loads(f)["payload"]["data"]["issueEvents"]["event"]["type"] for f in expected]
        assert types == ["NOTE", "ACCEPTED"]
        # The enterprise reads the public entry only, and gets what it would alone.
        firm_expected = await _frames(firm_alone, 1)
        assert json.loads(firm_expected[0])["payload"]["data"]["issueEvents"]["event"]["type"] == (
            "ACCEPTED"
        )
        assert await _frames(firm, 1) == firm_expected
        assert await _silent(firm)
        assert await _silent(sibling)  # out of scope: nothing
        # The selection ran once per event for the three xinshi sockets.
        assert _group_of(fanout, "b-二").frames == 2
        # uvicorn's connections: every frame above went straight to their transports.
        assert all(seat.write is not None for g in fanout._groups.values() for seat in g.seats)
    await until(lambda: _bus_count(shared) == 0 and fanout.groups == 0)


async def test_a_mutation_costs_the_same_statements_for_one_socket_or_ten(
    servers: tuple[LiveServer, LiveServer], api: Api, db: Database
) -> None:
    """And, its connections warm, opens no connection for ten sockets: the feed and the
    group read through the pools."""
    shared, _ = servers
    costs = []
    opened: list[str] = []
    for n in (1, 10):
        issue = await submit(api)
        async with AsyncExitStack() as stack:
            sockets = [await _open(stack, shared, "xinshi.center", str(i), SMALL) for i in range(n)]
            outsider = await _open(stack, shared, "changxing.center", "x", SMALL)
            await until(lambda n=n: _bus_count(shared) == n + 1)  # type: ignore[misc]
            await api.gql("{ viewer { username } }", as_="xinshi.center")  # the account is known
            with statements(db) as sent, connections_opened(db) as opened:
                await step(api, "acceptIssue", issue, "xinshi.center")
                for ws in sockets:
                    frame = json.loads((await _frames(ws, 1))[0])
                    assert frame["payload"]["data"]["issueEvents"] == {
                        "issue": {"number": issue["number"]},
                        "event": {"type": "ACCEPTED", "public": True},
                    }
            assert await _silent(outsider)
            costs.append(len(sent))
        await until(lambda: _bus_count(shared) == 0)
    assert costs[0] == costs[1], costs
    assert opened == [], "ten sockets: no connection opened"


async def test_a_socket_that_stops_reading_is_dropped_alone_its_backlog_bounded(
    servers: tuple[LiveServer, LiveServer], api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared, _ = servers
    fanout = shared.runtime.fanout
    assert fanout is not None
    fanout.queue_size = 3
    issue = await submit(api)
    async with AsyncExitStack() as stack:
        fast = await _open(stack, shared, "xinshi.center", "fast", SMALL)
        slow = await _open(stack, shared, "xinshi.center", "slow", SMALL)
        await until(lambda: _bus_count(shared) == 2)
        seat = _seat(fanout, "slow")
        # Its transport is full: a send waits until the gate opens (as uvicorn's waits
        # until the transport drains).
        gate = asyncio.Event()
        written: list[str] = []
        longest = 0

        async def full(text: str) -> None:
            nonlocal longest
            longest = max(longest, len(seat.backlog or ()))
            await gate.wait()
            written.append(json.loads(text)["payload"]["data"]["issueEvents"]["event"]["type"])

        monkeypatch.setattr(seat, "send", full)
        monkeypatch.setattr(seat, "write", lambda frame: False)  # declined: the transport is full

        async def note(i: int) -> None:
            nonlocal issue
            issue = await step(
                api, "addIssueNote", issue, "xinshi.center", text=f"n{i}", public=True
            )

        # Behind but within bounds: the backlog drains in order once the transport does.
        for i in range(3):
            await note(i)
            frame = json.loads((await _frames(fast, 1))[0])
            assert frame["payload"]["data"]["issueEvents"]["event"]["type"] == "NOTE"
        assert seat.backlog is not None and len(seat.backlog) == 2  # one in the transport
        gate.set()
        await until(lambda: len(written) == 3 and seat.backlog is None)
        # Stopped again, and further behind than the bound: cut off alone.
        gate.clear()
        for i in range(3, 3 + 1 + fanout.queue_size + 1):
            await note(i)
            frame = json.loads((await _frames(fast, 1))[0])  # the other keeps up, in order
            assert frame["payload"]["data"]["issueEvents"]["event"]["type"] == "NOTE"
        assert longest <= fanout.queue_size
        dropped = json.loads((await _frames(slow, 1))[0])
        assert dropped["id"] == "slow" and dropped["type"] == "next", dropped
        assert dropped["payload"]["errors"][0]["extensions"]["code"] == "SUBSCRIPTION_DROPPED"
        assert json.loads((await _frames(slow, 1))[0]) == {"id": "slow", "type": "complete"}
        assert _bus_count(shared) == 1
        await note(99)  # the other still gets every event
        frame = json.loads((await _frames(fast, 1))[0])
        assert frame["payload"]["data"]["issueEvents"]["event"]["type"] == "NOTE"


async def test_a_transport_that_stops_taking_data_gets_its_frames_in_order_through_send(
    servers: tuple[LiveServer, LiveServer], api: Api
) -> None:
    shared, _ = servers
    fanout = shared.runtime.fanout
    assert fanout is not None
    issue = await submit(api)
    notes = "subscription { issueEvents { event { message } } }"
    async with AsyncExitStack() as stack:
        ws = await _open(stack, shared, "xinshi.center", "p", notes)
        await until(lambda: _bus_count(shared) == 1)
        seat = _seat(fanout, "p")
        assert seat.write is not None
        connection = seat.handler.websocket.ws.scope[RAW_SEND].__self__  # uvicorn's protocol
        # As asyncio tells it when the transport's buffer passes its high-water mark: the
        # direct writer declines, the first frame waits in uvicorn's ``send``, the next in the
        # backlog.
        connection.pause_writing()

        async def note(text: str) -> None:
            nonlocal issue
            issue = await step(api, "addIssueNote", issue, "xinshi.center", text=text, public=True)

        await note("n0")
        await note("n1")
        await until(lambda: seat.backlog is not None and len(seat.backlog) == 1)
        assert await _silent(ws, 0.2)
        connection.resume_writing()
        frames = [json.loads(f) for f in await _frames(ws, 2)]
        assert [f["payload"]["data"]["issueEvents"]["event"]["message"] for f in frames] == [
            "n0",
            "n1",
        ]
        await until(lambda: seat.backlog is None)
        await note("n2")  # straight to the transport again
        (frame,) = await _frames(ws, 1)
        assert json.loads(frame)["payload"]["data"]["issueEvents"]["event"]["message"] == "n2"


async def test_frames_wait_while_the_process_answers_requests(
    servers: tuple[LiveServer, LiveServer], api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Off the requests' path: a frame is written once no HTTP request is in flight (or
    ``DEFER`` passed)."""
    shared, _ = servers
    monkeypatch.setattr(fanout_module, "DEFER", WAIT)
    issue = await submit(api)
    async with AsyncExitStack() as stack:
        ws = await _open(stack, shared, "xinshi.center", "1", SMALL)
        await until(lambda: _bus_count(shared) == 1)
        IN_FLIGHT.enter()  # a request is being answered
        try:
            await step(api, "acceptIssue", issue, "xinshi.center")
            assert await _silent(ws, 0.5)
        finally:
            IN_FLIGHT.leave()
        frame = json.loads((await _frames(ws, 1))[0])
        assert frame["payload"]["data"]["issueEvents"]["event"]["type"] == "ACCEPTED"


async def test_frames_made_together_go_to_a_socket_in_one_write(
    servers: tuple[LiveServer, LiveServer], api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events of commands answered while a request was in flight reach each socket in one
    system call, in order; a socket that subscribed later gets only the ones after it."""
    shared, _ = servers
    fanout = shared.runtime.fanout
    assert fanout is not None
    monkeypatch.setattr(fanout_module, "DEFER", WAIT)
    issue = await submit(api)
    notes = "subscription { issueEvents { event { message } } }"
    async with AsyncExitStack() as stack:
        sockets = [await _open(stack, shared, "xinshi.center", str(i), notes) for i in range(3)]
        await until(lambda: _bus_count(shared) == 3)
        writes: list[int] = []
        for i in range(3):
            seat = _seat(fanout, str(i))
            direct = seat.write
            assert direct is not None

            def counted(frame: bytes, direct: Any = direct) -> bool:
                writes.append(frame.count(b'"type":"next"'))
                return bool(direct(frame))

            monkeypatch.setattr(seat, "write", counted)
        IN_FLIGHT.enter()  # a request is being answered: the frames wait, and gather
        try:
            for text in ("m0", "m1", "m2"):
                issue = await step(
                    api, "addIssueNote", issue, "xinshi.center", text=text, public=True
                )
            await until(lambda: _group_of(fanout, "0").frames == 3)
            assert await _silent(sockets[0], 0.2)
        finally:
            IN_FLIGHT.leave()
        for ws in sockets:
            frames = [json.loads(f) for f in await _frames(ws, 3)]
            messages = [f["payload"]["data"]["issueEvents"]["event"]["message"] for f in frames]
            assert messages == ["m0", "m1", "m2"]
        assert writes == [3, 3, 3]  # one write a socket, three frames in it
