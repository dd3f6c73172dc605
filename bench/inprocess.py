"""CPU per request of a GraphQL request, in-process: the quickest loop for speed work.

Drives the ASGI app directly (no sockets, no HTTP client: what is measured is the app and
its database driver) with one request at a time, and reports the process CPU time
(``time.process_time``) and wall time per request, and the SQL statements per request.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/closedloop_bench \\
        .venv/bin/python -m bench.inprocess --scenario county_pool --requests 300 \\
        [--profile out.prof] [--save-response out.json] [--gc-thresholds 20000,10,10]

The request bodies and accounts are the harness's scenarios (``bench/harness.py``); the
sweeper and the relay are off, and so is the rate limiter unless
``CLOSEDLOOP_RATE_LIMIT_POINTS`` is set.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import uvloop

from bench.harness import SCENARIOS
from closedloop.db.database import SQL_STATEMENTS
from closedloop.http.app import create_app
from closedloop.identity.tokens import mint_token
from closedloop.settings import Settings


async def _asgi_post(app: Any, body: bytes, token: str) -> tuple[int, bytes]:
    """One POST /graphql straight into the ASGI app."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
        "state": {},
        "app": app,
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def _bodies(app: Any, scenario: str, token: str) -> list[bytes]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        bodies = await SCENARIOS[scenario].prepare(client, token)
    return [json.dumps(b).encode() for b in bodies]


def _statements() -> float:
    return float(SQL_STATEMENTS._value.get())


async def run(args: argparse.Namespace) -> None:
    # The rate limiter is off unless CLOSEDLOOP_RATE_LIMIT_POINTS says otherwise: one
    # account sending pages back to back spends its default budget within a second.
    settings = Settings(sweep_interval_seconds=0, relay_interval_seconds=0)
    if "CLOSEDLOOP_RATE_LIMIT_POINTS" not in os.environ:
        settings = settings.model_copy(update={"rate_limit_points": 0})
    app = create_app(settings)
    token = mint_token(settings, SCENARIOS[args.scenario].username)
    async with app.router.lifespan_context(app):
        if args.gc_thresholds:
            # After the server's own tuning (an A/B of the collector's thresholds).
            gc.set_threshold(*(int(t) for t in args.gc_thresholds.split(",")))
        bodies = await _bodies(app, args.scenario, token)
        status, first = await _asgi_post(app, bodies[0], token)
        if status != 200 or b'"errors"' in first:
            raise SystemExit(f"{status}: {first[:2000]!r}")
        if args.save_response:
            args.save_response.write_bytes(first)
        for i in range(args.warmup):
            await _asgi_post(app, bodies[i % len(bodies)], token)
        profiler = cProfile.Profile() if args.profile else None
        cpu: list[float] = []
        wall: list[float] = []
        before = _statements()
        collections = [g["collections"] for g in gc.get_stats()]
        if profiler:
            profiler.enable()
        for i in range(args.requests):
            c0, w0 = time.process_time(), time.perf_counter()
            await _asgi_post(app, bodies[i % len(bodies)], token)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        statements = (_statements() - before) / args.requests
        collected = [g["collections"] - c for g, c in zip(gc.get_stats(), collections, strict=True)]
    ms = 1000.0
    # On a shared machine other processes inflate some stretches: the best batch of 50
    # requests is the steadiest figure for comparing two versions.
    batches = [statistics.mean(cpu[i : i + 50]) for i in range(0, len(cpu) - 49, 50)]
    print(
        f"{args.scenario}: {args.requests} requests, "
        f"CPU ms/request mean {statistics.mean(cpu) * ms:.2f} median "
        f"{statistics.median(cpu) * ms:.2f} best batch of 50 {min(batches, default=0) * ms:.2f}; "
        f"wall ms median {statistics.median(wall) * ms:.2f} "
        f"p95 {sorted(wall)[int(0.95 * len(wall))] * ms:.2f}; "
        f"SQL statements/request {statements:.2f}; response {len(first)} bytes; "
        f"collections per generation {collected} (thresholds {gc.get_threshold()})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="county_pool", choices=sorted(SCENARIOS))
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the measured run")
    parser.add_argument("--save-response", type=Path, help="write the first response body")
    parser.add_argument("--gc-thresholds", help="gc.set_threshold after start, e.g. 20000,10,10")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("set DATABASE_URL (a generated bench database)")
    uvloop.run(run(args))  # the event loop uvicorn runs the server on


if __name__ == "__main__":
    main()
