"""``closedloop serve --workers 4``: a real server of four worker processes on one port,
against the test database. A sweep round runs once per interval whichever worker takes
it; a subscriber on one worker receives an event made on another (LISTEN/NOTIFY);
``/metrics`` adds up every worker's counters."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import re
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from bench.served import served as serve_api
from closedloop.db.database import Database
from closedloop.identity.tokens import mint_token
from closedloop.settings import Settings
from tests.api.issue_helpers import step, submit
from tests.conftest import Api
from tests.live import PROTOCOL, WAIT, message, until

WORKERS = 4
SWEEP_INTERVAL = 1.0  # seconds
WORKER = "x-closedloop-worker"
EVENTS = """subscription($id: ID) { issueEvents(issueId: $id) { event { type } } }"""


@dataclass
class Workers:
    url: str
    log: Path
    pid: int

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"

    def lines(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                found.append(json.loads(line))
        return found

    def workers(self) -> set[int]:
        """The server's child processes (its workers)."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        return {int(pid) for pid in children.split()}


@pytest.fixture(scope="module")
def served(database_url: str, settings: Settings, db: Database) -> Iterator[Workers]:
    """``closedloop serve --workers 4`` (the database migrated and seeded by the ``db``
    fixture), sweeping every second; its JSON log lines go to a file the tests read."""
    env = {
        "CLOSEDLOOP_ENVIRONMENT": "test",
        "CLOSEDLOOP_SWEEP_INTERVAL_SECONDS": str(SWEEP_INTERVAL),
        "CLOSEDLOOP_LOG_FORMAT": "json",
    }
    with tempfile.TemporaryDirectory(prefix="closedloop-workers-") as folder:
        log = Path(folder) / "serve.log"
        with (
            log.open("wb") as out,
            serve_api(database_url, settings.jwt_secret, env, workers=WORKERS, output=out) as api,
        ):
            yield Workers(api.url, log, api.process.pid)


async def _ready(served: Workers) -> None:
    """Until every worker has started (each logs uvicorn's start-up line)."""
    async with httpx.AsyncClient(base_url=served.url) as client:

        async def up() -> bool:
            try:
                return (await client.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        async with asyncio.timeout(WAIT):
            while not await up():  # noqa: ASYNC110  (another process: nothing to wait on)
                await asyncio.sleep(0.1)
    await until(
        lambda: (
            sum("Application startup complete" in str(line.get("event")) for line in served.lines())
            >= WORKERS
        )
    )


async def test_a_sweep_round_runs_once_per_interval_across_workers(served: Workers) -> None:
    await _ready(served)

    def rounds() -> list[dict[str, Any]]:
        return [
            line
            for line in served.lines()
            if line.get("event") == "periodic.ran" and line.get("job") == "sweep"
        ]

    await until(lambda: len(rounds()) >= 2 * WORKERS)
    ran = rounds()
    starts = sorted(dt.datetime.fromisoformat(line["started_at"]) for line in ran)
    # Four workers each sweeping on its own timer would start four rounds per interval.
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(starts)]
    assert min(gaps) >= SWEEP_INTERVAL, gaps
    # Each round that started also finished its sweep (and logged it, in some worker).
    await until(
        lambda: sum(line.get("event") == "sweep.done" for line in served.lines()) >= len(ran)
    )
    assert {line["worker"] for line in ran} <= served.workers()


@pytest.fixture
async def client(served: Workers, settings: Settings) -> AsyncIterator[Api]:
    """One HTTP connection (so one worker) for the GraphQL calls."""
    await _ready(served)
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(base_url=served.url, limits=limits, timeout=WAIT) as http:
        yield Api(http, settings)


async def _worker_of(api: Api) -> str:
    return (await api.client.get("/healthz")).headers[WORKER]


async def _socket_on_another_worker(
    served: Workers, busy: str, stack: contextlib.AsyncExitStack
) -> tuple[ClientConnection, str]:
    """A WebSocket that landed on a worker other than ``busy`` (the kernel spreads new
    connections over the workers; sockets that landed on ``busy`` are closed again)."""
    for _ in range(200):
        ws = await stack.enter_async_context(connect(served.ws_url, subprotocols=[PROTOCOL]))  # type: ignore[list-item]
        assert ws.response is not None
        worker = ws.response.headers[WORKER]
        if worker != busy:
            return ws, worker
        await ws.close()
    raise AssertionError("every WebSocket landed on the same worker")


@pytest.mark.usefixtures("clean_issues")
async def test_a_subscriber_on_one_worker_receives_an_event_made_on_another(
    served: Workers, client: Api, settings: Settings
) -> None:
    issue = await step(client, "acceptIssue", await submit(client), "xinshi.center")
    writer = await _worker_of(client)
    async with contextlib.AsyncExitStack() as stack:
        ws, reader = await _socket_on_another_worker(served, writer, stack)
        token = mint_token(settings, "xinshi.center")
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        assert (await message(ws))["type"] == "connection_ack"
        subscribe = {"query": EVENTS, "variables": {"id": issue["id"]}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
        # The subscription starts listening in its worker at a moment this test cannot
        # see: notes are added (on the writer's worker) until one arrives on the reader's.
        received: list[dict[str, Any]] = []

        async def listen() -> None:
            received.append(await message(ws))

        listening = asyncio.create_task(listen())
        note = 0
        while not listening.done():
            issue = await step(client, "addIssueNote", issue, "xinshi.center", text=f"研判{note}")
            note += 1
            await asyncio.wait([listening], timeout=0.2)
        await listening
        assert await _worker_of(client) == writer != reader
    assert received[0]["type"] == "next", received
    assert received[0]["payload"]["data"]["issueEvents"]["event"]["type"] == "NOTE"


async def test_metrics_add_up_every_workers_requests(served: Workers) -> None:
    await _ready(served)
    seen: set[str] = set()
    sent = 0
    async with asyncio.timeout(WAIT):
        while len(seen) < 2 or sent < 40:
            # A new connection each time, so that the requests spread over the workers.
            async with httpx.AsyncClient(base_url=served.url) as fresh:
                response = await fresh.get("/healthz")
            assert response.status_code == 200
            seen.add(response.headers[WORKER])
            sent += 1

    async def counted() -> float:
        async with httpx.AsyncClient(base_url=served.url) as fresh:
            text = (await fresh.get("/metrics")).text
        pattern = r'closedloop_http_requests_total\{path="/healthz",status="200"\} (\S+)'
        return sum(float(value) for value in re.findall(pattern, text))

    # Each worker counts only what it served; the sum over the workers is every request
    # (the ``/readyz`` probes are counted under their own path).
    total = 0.0
    async with asyncio.timeout(WAIT):
        while (total := await counted()) < sent:  # noqa: ASYNC110  (another process)
            await asyncio.sleep(0.05)
    assert total >= sent
