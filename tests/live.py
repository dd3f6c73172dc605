"""Real servers for end-to-end tests: uvicorn serving ``create_app`` in this event loop
(lifespan and all: its own runtime, principal cache and LISTEN connection), and a
graphql-transport-ws client."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect

from closedloop.db.database import Database
from closedloop.domain.clock import Clock
from closedloop.http.app import Runtime, create_app
from closedloop.settings import Settings

PROTOCOL = "graphql-transport-ws"
WAIT = 60.0  # seconds: generous (a loaded CI machine), a bound on waiting, never asserted


class LiveServer:
    def __init__(self, app: Starlette, server: uvicorn.Server, port: int) -> None:
        self.app = app
        self.server = server
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime


@contextlib.asynccontextmanager
async def live_server(
    settings: Settings, db: Database, clock: Clock | None = None
) -> AsyncIterator[LiveServer]:
    """One API instance on a free port; no background sweeper or relay."""
    quiet = settings.model_copy(update={"sweep_interval_seconds": 0})
    app = create_app(quiet, database=db, clock=clock)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started or task.done())
    if task.done():
        task.result()
        raise RuntimeError("the server did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield LiveServer(app, server, port)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT)


async def until(condition: Callable[[], object]) -> None:
    """Poll ``condition`` until it holds; fails the test after ``WAIT`` seconds. (State in
    another process or server has no event to wait on: polling is the honest way.)"""
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def until_healthy(url: str) -> None:
    """Until the server at ``url``, started in another process, answers ``/healthz``; fails
    the test after ``WAIT`` seconds."""
    async with httpx.AsyncClient(base_url=url, timeout=WAIT) as client, asyncio.timeout(WAIT):
        while True:
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def socket(server: LiveServer, token: str | None) -> AsyncIterator[ClientConnection]:
    """A graphql-transport-ws socket after ``connection_init`` (not yet acknowledged)."""
    async with connect(server.ws_url, subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        payload = {"Authorization": f"Bearer {token}"} if token else {}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        yield ws


async def message(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(WAIT):
        found: dict[str, Any] = json.loads(await ws.recv())
    return found


async def subscribe(
    ws: ClientConnection, query: str, variables: dict[str, Any] | None = None
) -> None:
    ack = await message(ws)
    assert ack["type"] == "connection_ack", ack
    payload = {"query": query, "variables": variables or {}}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
