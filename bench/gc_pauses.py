"""Garbage-collector pauses under distinct query texts, in-process: the cost side of
bounded memory (full collections that free evicted cache entries).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/closedloop_bench \\
        .venv/bin/python -m bench.gc_pauses --requests 3000 [--gc-thresholds 20000,50,100]

Drives the ASGI app directly (as ``bench.inprocess``) with ``bench.memory``'s query texts
(all different) as ``deqing.center``, times every collection (``gc.callbacks``, wall time)
and prints, per generation, how many ran, the longest and the total, and the process CPU
per request. The server's own tuning applies unless ``--gc-thresholds`` overrides it.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from typing import Any

import uvloop

from bench.inprocess import _asgi_post
from bench.memory import query_text
from closedloop.http.app import create_app
from closedloop.identity.tokens import mint_token
from closedloop.settings import Settings


async def run(requests: int, thresholds: str | None) -> None:
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started: dict[int, float] = {}

    def timed(phase: str, info: dict[str, Any]) -> None:
        generation = info["generation"]
        if phase == "start":
            started[generation] = time.perf_counter()
        else:
            pauses[generation].append(time.perf_counter() - started[generation])

    settings = Settings(sweep_interval_seconds=0, relay_interval_seconds=0, rate_limit_points=0)
    app = create_app(settings)
    token = mint_token(settings, "deqing.center")
    errors = 0
    async with app.router.lifespan_context(app):
        if thresholds:
            gc.set_threshold(*(int(t) for t in thresholds.split(",")))
        gc.callbacks.append(timed)
        cpu = time.process_time()
        for n in range(requests):
            body = json.dumps({"query": query_text(n)}).encode()
            status, answer = await _asgi_post(app, body, token)
            errors += status != 200 or b'"errors"' in answer
        cpu = time.process_time() - cpu
        gc.callbacks.remove(timed)
    for generation, times in pauses.items():
        longest = max(times, default=0.0) * 1000
        print(
            f"generation {generation}: {len(times)} collections, longest {longest:.0f} ms, "
            f"total {sum(times) * 1000:.0f} ms"
        )
    print(
        f"{requests} requests, {errors} with errors, CPU {cpu / requests * 1000:.2f} ms/request, "
        f"thresholds {gc.get_threshold()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--gc-thresholds", help="gc.set_threshold after start, e.g. 20000,50,100")
    args = parser.parse_args()
    uvloop.run(run(args.requests, args.gc_thresholds))


if __name__ == "__main__":
    main()
