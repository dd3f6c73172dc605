"""Where a dashboard request's time goes, in-process: per SQL statement (wall time of each
round trip, one request at a time, so that is PostgreSQL's time plus the loopback), the
dashboard service as a whole, and the whole GraphQL request (process CPU and wall).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/closedloop_bench_1m_x \\
        .venv/bin/python -m bench.dashboard_profile --scenario province_dashboard --requests 30

Prints, for the median request: total wall and CPU, the service's wall, the SQL wall by
statement (first 90 characters, the same statement summed over a request), and what is
left for Python. ``--invalidate`` dirties one slice of the period before every request
(德清, 2026-08, marked as a write's trigger would), so every request pays the refresh and
the cold computation.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import time
from typing import Any

import asyncpg
import uvloop
from sqlalchemy import event

from bench.harness import SCENARIOS
from bench.inprocess import _asgi_post, _bodies
from closedloop.http.app import create_app
from closedloop.identity.tokens import mint_token
from closedloop.services.evaluation import dashboard as dashboard_service
from closedloop.settings import Settings

_spent: collections.Counter[str] = collections.Counter()
_count: collections.Counter[str] = collections.Counter()
_service: list[float] = []


def _hook(sync_engine: Any) -> None:
    @event.listens_for(sync_engine, "before_cursor_execute")
    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info.setdefault("t0", []).append(time.perf_counter())

    @event.listens_for(sync_engine, "after_cursor_execute")
    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        t0 = conn.info["t0"].pop()
        key = " ".join(statement.split())[:90]
        _spent[key] += time.perf_counter() - t0
        _count[key] += 1


def _wrap_service() -> None:
    original = dashboard_service.dashboard

    async def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            _service.append(time.perf_counter() - t0)

    dashboard_service.dashboard = timed


async def _dirty(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        # A watched column written to the value it has fires no trigger: mark the slice
        # (德清, 2026-08) as a write would.
        await conn.execute(
            "INSERT INTO issue_rollup_dirty (month, county_code) VALUES ('2026-08-01', '330521')"
        )
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> None:
    settings = Settings(sweep_interval_seconds=0, relay_interval_seconds=0)
    settings = settings.model_copy(update={"rate_limit_points": 0})
    app = create_app(settings)
    token = mint_token(settings, SCENARIOS[args.scenario].username)
    _wrap_service()
    async with app.router.lifespan_context(app):
        db = app.state.runtime.db
        for engine in {id(e): e for e in (db.engine, db.admin, db.system)}.values():
            _hook(engine.sync_engine)
        bodies = await _bodies(app, args.scenario, token)
        for _ in range(args.warmup):
            status, answer = await _asgi_post(app, bodies[0], token)
            if status != 200 or b'"errors"' in answer:
                raise SystemExit(f"{status}: {answer[:2000]!r}")
        per_request: list[dict[str, float]] = []
        cpu: list[float] = []
        wall: list[float] = []
        service: list[float] = []
        for _ in range(args.requests):
            if args.invalidate:
                await _dirty(os.environ["DATABASE_URL"])
            _spent.clear()
            _count.clear()
            _service.clear()
            c0, w0 = time.process_time(), time.perf_counter()
            await _asgi_post(app, bodies[0], token)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
            service.append(sum(_service))
            per_request.append(dict(_spent))
    ms = 1000.0
    keys = sorted(
        {k for r in per_request for k in r},
        key=lambda k: -statistics.median([r.get(k, 0.0) for r in per_request]),
    )
    sql = [sum(r.values()) for r in per_request]
    print(
        f"{args.scenario}{' (invalidated before each)' if args.invalidate else ''}:"
        f" {args.requests} requests one at a time; medians: wall {statistics.median(wall) * ms:.1f}"
        f" ms, process CPU {statistics.median(cpu) * ms:.1f} ms, service wall"
        f" {statistics.median(service) * ms:.1f} ms, SQL wall {statistics.median(sql) * ms:.1f}"
        f" ms in {sum(_count.values())} statements"
    )
    for k in keys:
        values = [r.get(k, 0.0) * ms for r in per_request]
        print(f"  {statistics.median(values):8.2f} ms  x{_count.get(k, 0)}  {k}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="province_dashboard", choices=sorted(SCENARIOS))
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--invalidate", action="store_true")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("set DATABASE_URL (a generated bench database)")
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
