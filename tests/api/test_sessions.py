"""Sessions end when access ends: real servers (uvicorn) and real graphql-transport-ws
sockets. A token's expiry closes its socket; deactivating an account (plain SQL, as an
operator would) closes its sockets and makes the next HTTP request a 401 in every process;
a socket without a token is refused at ``connection_init``."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.identity.tokens import mint_token
from closedloop.settings import Settings
from tests.api.issue_helpers import submit
from tests.conftest import Api
from tests.live import (
    PROTOCOL,
    LiveServer,
    live_server,
    message,
    socket,
    subscribe,
    until,
)

pytestmark = pytest.mark.usefixtures("clean_issues")

EVENTS = "subscription { issueEvents { issue { number } event { type } } }"
VIEWER = "{ viewer { username } }"


async def _closed(ws: ClientConnection) -> tuple[int, str, float]:
    """Read until the server closes the socket: its code, reason and when (Unix time)."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await message(ws)
    received = closed.value.rcvd
    assert received is not None, "closed without a close frame"
    return received.code, received.reason, time.time()


@pytest.fixture
async def probe(db: Database) -> AsyncIterator[str]:
    """A fresh staff account shaped like xinshi.center (deleted afterwards)."""
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
    yield username
    async with db.admin.begin() as conn:
        await conn.execute(sa.text("DELETE FROM account WHERE username = :u"), {"u": username})


@pytest.fixture
async def servers(
    db: Database, settings: Settings, clock: FrozenClock
) -> AsyncIterator[tuple[LiveServer, LiveServer]]:
    exact = settings.model_copy(update={"jwt_leeway_seconds": 0})  # expiry is exactly exp
    async with live_server(exact, db, clock) as one, live_server(exact, db, clock) as two:
        yield one, two


async def _viewer(server: LiveServer, token: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url) as client:
        return await client.post(
            "/graphql", json={"query": VIEWER}, headers={"Authorization": f"Bearer {token}"}
        )


async def test_a_socket_without_a_token_is_refused(
    servers: tuple[LiveServer, LiveServer],
) -> None:
    server, _ = servers
    async with socket(server, None) as ws:
        code, reason, _ = await _closed(ws)
    assert (code, reason) == (4403, "Forbidden")
    async with socket(server, "not-a-token") as ws:
        code, _, _ = await _closed(ws)
    assert code == 4403
    # Subscribing without connection_init is refused too (strawberry: 4401).
    async with connect(server.ws_url, subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": EVENTS}}))
        code, _, _ = await _closed(ws)
    assert code == 4401
    # The legacy protocol (no connection_init to refuse) is not offered.
    async with connect(server.ws_url, subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
        code, _, _ = await _closed(ws)
    assert code == 4406


async def test_an_expired_token_closes_its_socket_within_a_second(
    servers: tuple[LiveServer, LiveServer], settings: Settings, probe: str
) -> None:
    server, _ = servers
    token = mint_token(settings, probe, dt.timedelta(seconds=2))
    expires = float(json.loads(_claims(token))["exp"])
    async with socket(server, token) as ws:
        await subscribe(ws, EVENTS)
        await until(lambda: server.runtime.bus is not None and server.runtime.bus.subscribers)
        code, reason, closed_at = await _closed(ws)
    assert (code, reason) == (4401, "token expired")
    assert expires <= closed_at < expires + 1.0
    assert len(server.runtime.sessions) == 0
    assert (await _viewer(server, token)).status_code == 401


async def test_deactivation_closes_sockets_and_bites_at_the_next_request_everywhere(
    servers: tuple[LiveServer, LiveServer], settings: Settings, db: Database, api: Api, probe: str
) -> None:
    one, two = servers
    token = mint_token(settings, probe)
    for server in servers:  # both processes have the account in their cache
        assert (await _viewer(server, token)).json()["data"]["viewer"]["username"] == probe
        assert probe in server.runtime.principals
    async with socket(one, token) as ws:
        await subscribe(ws, EVENTS)
        await until(lambda: one.runtime.bus is not None and one.runtime.bus.subscribers)
        issue = await submit(api)  # the socket works
        event = await message(ws)
        assert event["type"] == "next", event
        assert event["payload"]["data"]["issueEvents"]["issue"]["number"] == issue["number"]

        async with db.admin.begin() as conn:
            await conn.execute(
                sa.text("UPDATE account SET active = false WHERE username = :u"), {"u": probe}
            )
        code, reason, _ = await _closed(ws)
    assert (code, reason) == (4403, "account deactivated")
    # The other process heard it too: its next request with the still-valid token is a 401.
    await until(lambda: probe not in two.runtime.principals)
    for server in servers:
        response = await _viewer(server, token)
        assert response.status_code == 401, response.text
        assert "inactive" in response.json()["errors"][0]["message"]
    # Reactivated: it works again, at once, everywhere.
    async with db.admin.begin() as conn:
        await conn.execute(
            sa.text("UPDATE account SET active = true WHERE username = :u"), {"u": probe}
        )
    for server in servers:
        await until(lambda s=server: probe not in s.runtime.principals)  # type: ignore[misc]
        assert (await _viewer(server, token)).status_code == 200


async def test_a_changed_account_closes_its_sockets(
    servers: tuple[LiveServer, LiveServer], settings: Settings, db: Database, probe: str
) -> None:
    server, _ = servers
    token = mint_token(settings, probe)
    async with socket(server, token) as ws:
        await subscribe(ws, EVENTS)
        await until(lambda: server.runtime.bus is not None and server.runtime.bus.subscribers)
        async with db.admin.begin() as conn:
            await conn.execute(
                sa.text(
                    "UPDATE account SET region_code = (SELECT region_code FROM account"
                    " WHERE username = 'changxing.center') WHERE username = :u"
                ),
                {"u": probe},
            )
        code, reason, _ = await _closed(ws)
    assert (code, reason) == (4403, "account changed")


def _claims(token: str) -> str:
    import base64

    body = token.split(".")[1]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
