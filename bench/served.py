"""A real API server in its own process, on a scratch database: the one home of starting
one, for the benchmarks (``bench.memory``) and the end-to-end tests that need a separate
process (``tests/api/test_schemathesis.py``; ``tests/live.py`` serves in the test's own
event loop instead).

- ``free_port``: a free loopback port;
- ``scratch_database``: a new database on a PostgreSQL server (its URL), dropped afterwards;
  ``prepare_demo`` migrates it and loads the demo data;
- ``served``: ``uvicorn closedloop.http.app:create_app`` on a free port with background sweeps,
  the relay and the rate limit off, once ``/healthz`` answers; stopped afterwards. With
  ``workers``: ``closedloop serve --workers N`` instead (several processes on the port).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from closedloop.db.database import make_engine
from closedloop.db.migrate import upgrade
from closedloop.services.demo import seed_demo

START_SECONDS = 60.0  # a bound on waiting for the server (a loaded machine), not a figure


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new, empty database on the server ``server_url`` points at (any database of it, as
    a role that may create databases): its URL. Dropped afterwards, connections and all."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_execute(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield url
    finally:
        asyncio.run(_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def prepare_demo(url: str) -> None:
    """Migrate the database at ``url`` and load the demo data."""
    admin = make_engine(url, 2)
    try:
        await upgrade(admin)
        async with admin.begin() as conn:
            await seed_demo(conn)
    finally:
        await admin.dispose()


@dataclass(frozen=True, slots=True)
class Served:
    url: str  # http://127.0.0.1:PORT
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def served(
    database_url: str,
    jwt_secret: str,
    env: Mapping[str, str] | None = None,
    *,
    workers: int | None = None,
    output: IO[bytes] | int | None = None,
) -> Iterator[Served]:
    """The API on ``database_url`` in a uvicorn process of its own, once it answers;
    with ``workers``, ``closedloop serve --workers N``. ``output``: where its standard
    output and error go (inherited by default)."""
    port = free_port()
    environment = {
        **os.environ,
        "CLOSEDLOOP_DATABASE_URL": database_url,
        "CLOSEDLOOP_JWT_SECRET": jwt_secret,
        "CLOSEDLOOP_SWEEP_INTERVAL_SECONDS": "0",
        "CLOSEDLOOP_RELAY_INTERVAL_SECONDS": "0",
        # One account sends every request: the per-account rate limit would answer 429.
        "CLOSEDLOOP_RATE_LIMIT_POINTS": "0",
        **(env or {}),
    }
    if workers is None:
        command = [sys.executable, "-m", "uvicorn", "closedloop.http.app:create_app", "--factory"]
        command += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
    else:
        command = [str(Path(sys.executable).parent / "closedloop"), "serve", "--port", str(port)]
        command += ["--workers", str(workers), "--no-access-log"]
    process = subprocess.Popen(command, env=environment, stdout=output, stderr=output)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_SECONDS
        while not _answers(url):
            if process.poll() is not None:
                raise RuntimeError(f"the server exited ({process.returncode})")
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.1)
        yield Served(url, process)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
