"""Where the time of a dashboard or a scoreboard goes (issue 5): each SQL statement the
service sends, explained, with and without row-level security.

    .venv/bin/python -m bench.evaluation_plans \\
        --database-url postgresql://postgres@127.0.0.1:5432/closedloop_bench_1m \\
        [--what dashboard|scores] [--kind DEPARTMENT|REGION] [--region 33] [--period 2026-Q3] \\
        [--as province.monitor] [--repeat 3] [--calls 5] [--mode auto|custom|generic] \\
        [--set jit=off ...] [--no-explain] [--no-plain]

1. Times the service itself ``--calls`` times (``services.evaluation.dashboard.dashboard``
   or ``scores.group_scores`` for ``--kind`` targets), as the application role
   ``closedloop_app``: the wall time of the service, no GraphQL, no HTTP.
2. Captures every statement it sent, and for each one, ``--repeat`` times:
   - ``rls``: ``EXPLAIN (ANALYZE, TIMING OFF)`` as ``closedloop_app`` in the caller's scope
     (row-level security on: the policy's CASE is evaluated for every row read), the plan
     the plan cache settles on after five executions;
   - ``no rls``: the same statement, parameters and plan-cache mode as the URL's own user
     (the owner / a superuser: the policy is not applied; the application's own scope
     predicate still is). The difference is the per-row cost of the policy.
   - one ``EXPLAIN (ANALYZE, BUFFERS)`` with timing, for the plan's nodes (per-node timing
     inflates per-row nodes; the totals above are without it).

``--mode custom|generic`` forces the plan instead of the plan cache's choice (``auto``);
``--set NAME=VALUE`` gives the application role's sessions a PostgreSQL setting (for
experiments such as ``jit=off``, ``work_mem=64MB``, ``plan_cache_mode=force_custom_plan``:
the service's timings show the effect); ``--no-explain`` only times the service.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from bench.scope_plans import (
    Captured,
    app_database,
    capture,
    driver_of,
    is_generic,
    principal,
    sql_literal,
    walk,
)
from closedloop.db.database import Database, async_url
from closedloop.domain.periods import parse_period
from closedloop.domain.schemes import DEFAULT_SCHEME, load_scheme
from closedloop.services.evaluation.dashboard import dashboard
from closedloop.services.evaluation.scores import group_scores
from closedloop.services.evaluation.targets import TargetKind


async def explain(
    conn: AsyncConnection, stmt: Captured, *, timing: bool, name: str, mode: str = "auto"
) -> dict[str, Any]:
    """One EXPLAIN ANALYZE of the prepared statement. ``mode``: ``auto``, the plan cache's
    steady state (five custom plans built first, as after five executions on a pooled
    connection); ``custom`` / ``generic``: forced."""
    drv = await driver_of(conn)
    args = ", ".join(sql_literal(v) for v in stmt.params)
    execute = f"EXECUTE {name}({args})" if stmt.params else f"EXECUTE {name}"
    await drv.execute(f"PREPARE {name} AS {stmt.statement}")
    try:
        forced = {"custom": "force_custom_plan", "generic": "force_generic_plan"}
        await drv.execute(f"SET LOCAL plan_cache_mode = {forced.get(mode, 'auto')}")
        for _ in range(5 if mode == "auto" else 0):  # plain EXPLAIN: a custom plan, counted
            await drv.fetchval(f"EXPLAIN {execute}")
        options = "ANALYZE, BUFFERS, FORMAT JSON" if timing else "ANALYZE, TIMING OFF, FORMAT JSON"
        raw = await drv.fetchval(f"EXPLAIN ({options}) {execute}")
        await drv.execute("SET LOCAL plan_cache_mode = auto")
    finally:
        await drv.execute(f"DEALLOCATE {name}")
    return (json.loads(raw) if isinstance(raw, str | bytes) else raw)[0]  # type: ignore[no-any-return]


def first_line(sql: str) -> str:
    text = " ".join(sql.split())
    return text[:110] + ("…" if len(text) > 110 else "")


def nodes(plan: dict[str, Any]) -> list[str]:
    out = []
    jit = plan.get("JIT")
    if jit:
        timing = jit.get("Timing", {})
        total = timing.get("Total")
        total = total if isinstance(total, int | float) else 0.0
        out.append(f"JIT: {jit.get('Functions')} functions, {total:.1f} ms")
    for depth, node in walk(plan["Plan"]):
        kind = node["Node Type"]
        if kind == "Result" and node.get("Parent Relationship") == "InitPlan":
            continue  # the RLS policy's current_setting() sub-selects
        what = kind
        if node.get("Relation Name"):
            what += f" on {node['Relation Name']}"
        if node.get("Index Name"):
            what += f" using {node['Index Name']}"
        if node.get("Strategy"):
            what += f" ({node['Strategy']})"
        extra = ""
        if node.get("Rows Removed by Filter"):
            extra += f", removed by filter {node['Rows Removed by Filter']}"
        if node.get("Exact Heap Blocks"):
            extra += f", heap blocks {node['Exact Heap Blocks']}"
        if node.get("Workers Launched") is not None:
            extra += f", workers {node['Workers Launched']}"
        if node.get("Sort Method"):
            extra += f", sort {node['Sort Method']} {node.get('Sort Space Used')} kB"
        if node.get("Peak Memory Usage"):
            extra += f", hash mem {node['Peak Memory Usage']} kB"
        if node.get("Disk Usage"):
            extra += f", DISK {node['Disk Usage']} kB"
        hits = node.get("Shared Hit Blocks", 0)
        reads = node.get("Shared Read Blocks", 0)
        out.append(
            f"{'  ' * depth}{what}: rows {node.get('Actual Rows')} x {node.get('Actual Loops')},"
            f" total {node.get('Actual Total Time', 0):.1f} ms, buffers hit {hits} read {reads}"
            + extra
        )
    return out


async def service_calls(
    db: Database, args: argparse.Namespace, into: list[Captured] | None
) -> list[float]:
    who = await principal(db, args.as_user)
    period = parse_period(args.period)
    times: list[float] = []
    for n in range(args.calls):
        now = dt.datetime.now(dt.UTC)
        t0 = time.perf_counter()
        if into is not None and n == args.calls - 1:
            with capture(db.engine, into):
                await _one(db, args, who, period, now)
        else:
            await _one(db, args, who, period, now)
        times.append((time.perf_counter() - t0) * 1000)
    return times


async def _one(db: Database, args: argparse.Namespace, who: Any, period: Any, now: Any) -> None:
    if args.what == "dashboard":
        found = await dashboard(db, who, args.region, period, now)
        if found is None:
            raise SystemExit(f"{args.as_user} may not read the dashboard of {args.region}")
    else:
        boards = await group_scores(
            db, who, [load_scheme(DEFAULT_SCHEME)], TargetKind[args.kind], args.region, [period]
        )
        if boards is None:
            raise SystemExit(f"{args.as_user} may not read the scores of {args.region}")


async def amain(args: argparse.Namespace) -> int:
    admin = create_async_engine(async_url(args.database_url), pool_size=1, max_overflow=0)
    try:
        settings = dict(x.split("=", 1) for x in args.set or [])
        async with app_database(args.database_url, args.app_user, settings) as db:
            who = await principal(db, args.as_user)
            captured: list[Captured] = []
            times = await service_calls(db, args, captured)
            if settings:
                print(f"session settings of the application role: {settings}")
            print(
                f"{args.what} of {args.region} for {args.period} as {args.as_user}"
                f" ({who.role}, {who.region_code}), service wall time over {len(times)} calls:"
                f" median {statistics.median(times):.0f} ms, min {min(times):.0f},"
                f" max {max(times):.0f} (each: {', '.join(f'{x:.0f}' for x in times)})"
            )
            total_rls = total_plain = 0.0
            for n, stmt in enumerate(captured if args.explain else []):
                rls_ms: list[float] = []
                plain_ms: list[float] = []
                generic = False
                for _ in range(args.repeat):
                    async with db.read(who) as conn:
                        plan = await explain(
                            conn, stmt, timing=False, name=f"ev_q{n}", mode=args.mode
                        )
                    rls_ms.append(plan["Execution Time"] + plan["Planning Time"])
                    generic = is_generic(plan)
                    if not args.plain:
                        continue
                    async with admin.connect() as conn:
                        await conn.begin()
                        plan = await explain(
                            conn, stmt, timing=False, name=f"ev_q{n}", mode=args.mode
                        )
                        await conn.rollback()
                    plain_ms.append(plan["Execution Time"] + plan["Planning Time"])
                rls = statistics.median(rls_ms)
                plain = statistics.median(plain_ms) if plain_ms else 0.0
                total_rls += rls
                total_plain += plain
                print(
                    f"\n-- statement {n + 1}: {first_line(stmt.statement)}\n"
                    f"   rls {rls:.1f} ms, no rls {plain:.1f} ms (planning + execution, median of"
                    f" {args.repeat}, no per-node timing; {'generic' if generic else 'custom'}"
                    " plan)"
                )
                if args.nodes and rls >= args.nodes_over:
                    async with db.read(who) as conn:
                        plan = await explain(
                            conn, stmt, timing=True, name=f"ev_q{n}", mode=args.mode
                        )
                    print(
                        f"   with per-node timing: execution {plan['Execution Time']:.1f} ms,"
                        f" planning {plan['Planning Time']:.1f} ms"
                    )
                    for line in nodes(plan):
                        print("     " + line)
            print(
                f"\nsum over statements: rls {total_rls:.0f} ms, no rls {total_plain:.0f} ms"
                f" (the service runs them one after the other on one connection)"
            )
    finally:
        await admin.dispose()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--app-user", default="closedloop_app")
    parser.add_argument("--what", choices=["dashboard", "scores"], default="dashboard")
    parser.add_argument("--region", default=None)
    parser.add_argument("--kind", choices=[k.name for k in TargetKind], default="DEPARTMENT")
    parser.add_argument("--period", default="2026-Q3")
    parser.add_argument("--as", dest="as_user", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument(
        "--mode",
        choices=["auto", "custom", "generic"],
        default="auto",
        help="plan: the plan cache's choice after 5 executions (auto), or forced",
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUE",
        help="a PostgreSQL setting for the application role's sessions (experiments)",
    )
    parser.add_argument("--explain", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--plain",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also explain as the URL's user, without row-level security",
    )
    parser.add_argument("--no-nodes", dest="nodes", action="store_false")
    parser.add_argument("--nodes-over", type=float, default=5.0, help="ms: plan nodes above")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url or DATABASE_URL is required")
    if args.region is None:
        args.region = "33" if args.what == "dashboard" else "3305"
    if args.as_user is None:
        args.as_user = "province.monitor" if args.what == "dashboard" else "huzhou.evaluator"
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
