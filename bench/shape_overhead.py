"""CPU per request of the county pool page with every query-shape limit and the rate limiter
on, against the same with them off, interleaved in one process.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/closedloop_bench \\
        .venv/bin/python -m bench.shape_overhead --rounds 30 --batch 50

"on": the default limits (depth, aliases, tokens, directives, cost 50,000, body cap) and
the in-memory rate limiter with a budget no request reaches (its bookkeeping runs on
every request, nothing is refused); "off": every limit 0 and no rate limiter. Both apps
serve from one database and engine; batches alternate (on, off, off, on, ...) so that
neighbours on the machine weigh on both alike. Prints each side's median CPU per request
(``time.process_time``) and the ratio of medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import uvloop

from bench.harness import COUNTY_POOL, SCENARIOS
from bench.inprocess import _asgi_post
from closedloop.db.setup import open_database
from closedloop.domain.clock import SystemClock
from closedloop.http.app import Runtime, create_app
from closedloop.identity.tokens import TokenVerifier, mint_token
from closedloop.settings import Settings

OFF = {
    "max_query_depth": 0,
    "max_aliases": 0,
    "max_tokens": 0,
    "max_directives": 0,
    "max_query_cost": 0,
    "max_body_bytes": 0,
    "rate_limit_points": 0,
}
ON = {"rate_limit_points": 10**12, "rate_limit_address_points": 10**12}


async def run(args: argparse.Namespace) -> None:
    base = Settings(sweep_interval_seconds=0, relay_interval_seconds=0)
    db, _ = await open_database(base)
    apps: dict[str, Any] = {}
    for name, update in (("on", ON), ("off", OFF)):
        settings = base.model_copy(update=update)
        app = create_app(settings, database=db)
        app.state.runtime = Runtime(settings, db, SystemClock(), TokenVerifier(settings))
        apps[name] = app
    token = mint_token(base, SCENARIOS["county_pool"].username)
    body = json.dumps({"query": COUNTY_POOL}).encode()
    for app in apps.values():
        status, answer = await _asgi_post(app, body, token)
        if status != 200 or b'"errors"' in answer:
            raise SystemExit(f"{status}: {answer[:500]!r}")
        for _ in range(args.warmup):
            await _asgi_post(app, body, token)
    cpu: dict[str, list[float]] = {"on": [], "off": []}
    order = ("on", "off")
    for round_ in range(args.rounds):
        for name in order if round_ % 2 == 0 else order[::-1]:
            app = apps[name]
            started = time.process_time()
            for _ in range(args.batch):
                await _asgi_post(app, body, token)
            cpu[name].append((time.process_time() - started) / args.batch * 1000)
    on, off = statistics.median(cpu["on"]), statistics.median(cpu["off"])
    print(f"rounds {args.rounds} x batch {args.batch} requests per side")
    for name in order:
        values = cpu[name]
        print(
            f"{name:>3}: median {statistics.median(values):.3f} ms CPU/request"
            f"  (best batch {min(values):.3f}, worst {max(values):.3f})"
        )
    print(f"on/off ratio of medians: {on / off:.3f}")
    await _refusal_times(apps["on"], token)
    await db.dispose()


# The region cycle (refused for its depth) and the same cycle within the depth limit
# (refused for its cost: 1,020,101 objects), each a new query text every time so that
# nothing is cached: parse, validate, cost, refuse.
CYCLES = {
    "depth": "{ regions(first: 100, level: COUNTY) { nodes { children { parent { children {"
    " parent { children { code } } } } } } } }",
    "cost": "{ regions(first: 100) { nodes { children { parent { children { code } } } } } }",
}


async def _refusal_times(app: Any, token: str) -> None:
    for name, query in CYCLES.items():
        wall: list[float] = []
        cpu: list[float] = []
        for n in range(50):
            body = json.dumps({"query": f"{query} # {n}"}).encode()
            started, started_cpu = time.perf_counter(), time.process_time()
            status, answer = await _asgi_post(app, body, token)
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            assert status == 200 and b"QUERY_TOO" in answer, answer[:300]
        print(
            f"region cycle refused ({name}): median {statistics.median(cpu):.2f} ms CPU,"
            f" {statistics.median(wall):.2f} ms wall"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=50)
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
