"""Duplicate-candidate look-up latency (issue 6: p95 ≤ 50 ms at 1,000,000 issues).

    .venv/bin/python -m bench.duplicates \\
        --database-url postgresql://postgres@127.0.0.1:5432/closedloop_bench_1m \\
        [--samples 200] [--seed 1] [--recent-days 30] [--graphql http://127.0.0.1:8004]

Needs the similarity keys (``python -m bench.generator.similarity_keys``).

1. Service: picks ``--samples`` random existing issues (fixed ``--seed``) and, for each, as
   the center of the issue's county (``Principal(role=CENTER_STAFF, region=<county>)``),
   opens ``db.read(principal)`` on the application role ``closedloop_app`` (row-level
   security on), reads the issue and times
   ``closedloop.services.learning.similar.duplicate_candidates(conn, principal, [issue])``
   (``call``), and the whole round (transaction, scope, reading the issue, the call,
   rollback: what the API's DataLoader does; ``round``). One at a time, after a warm-up.
2. GraphQL (``--graphql URL``, a running ``closedloop serve`` with the same
   ``CLOSEDLOOP_JWT_SECRET``): ``issue(id) { duplicateCandidates { score issue { id } } }``
   as ``deqing.center`` for random issues originating in 德清 (330521), one connection
   (``--graphql-as province.center --graphql-origin ''``: random issues of the province).

``--recent-days N`` samples among the issues created in the last N days of the data
instead (new issues: the volume grows over the two years, so recent windows are fuller);
``--county 330521`` among the issues of one region (德清 holds 14% of the generated data).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from closedloop.authz.roles import Principal, Role
from closedloop.db import tables as t
from closedloop.db.database import Database, as_user, make_engine
from closedloop.services.issues.records import issues_by_id
from closedloop.services.learning.similar import county_of, duplicate_candidates
from closedloop.tenancy.scope import issue_visibility

LOOKUP = """query($id: ID!) { issue(id: $id) { id duplicateCandidates { score issue { id } } } }"""


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(name: str, ms: Sequence[float]) -> str:
    return (
        f"{name:<28} n={len(ms):>4}  p50 {pct(ms, 0.5):7.2f}  p95 {pct(ms, 0.95):7.2f}"
        f"  p99 {pct(ms, 0.99):7.2f}  max {max(ms):7.2f}  mean {statistics.fmean(ms):7.2f} ms"
    )


def center_of(county: str) -> Principal:
    return Principal(
        account_id=1,
        username="bench",
        display_name="bench",
        role=Role.CENTER_STAFF,
        region_code=county,
    )


async def pick(
    admin: Any, samples: int, seed: int, recent_days: int | None, origin: str | None = None
) -> list[tuple[int, str]]:
    """(id, origin region) of ``samples`` random issues; reproducible for a seed and data."""
    c = t.issue.c
    where: list[sa.ColumnElement[bool]] = []
    if recent_days is not None:
        newest = sa.select(sa.func.max(c.created_at)).scalar_subquery()
        where.append(c.created_at >= newest - sa.text(f"interval '{int(recent_days)} days'"))
    if origin is not None:
        where.append(c.origin_region_code.startswith(origin))
    async with admin.connect() as conn:
        ids = list((await conn.execute(sa.select(c.id).where(*where).order_by(c.id))).scalars())
        chosen = sorted(random.Random(seed).sample(ids, min(samples, len(ids))))
        rows = await conn.execute(
            sa.select(c.id, c.origin_region_code).where(c.id.in_(chosen)).order_by(c.id)
        )
        out = [(int(r.id), str(r.origin_region_code)) for r in rows]
    random.Random(seed + 1).shuffle(out)  # not in id (time) order
    return out


async def service(
    db: Database, picked: list[tuple[int, str]], warmup: int
) -> tuple[list[float], list[float], list[int], int]:
    calls: list[float] = []
    rounds: list[float] = []
    found: list[int] = []
    missing = 0
    for n, (issue_id, origin) in enumerate(picked):
        who = center_of(county_of(origin))
        t0 = time.perf_counter()
        async with db.read(who) as conn:
            rec = (await issues_by_id(conn, [issue_id], issue_visibility(who))).get(issue_id)
            if rec is None:
                missing += 1
                continue
            t1 = time.perf_counter()
            result = await duplicate_candidates(conn, who, [rec])
            t2 = time.perf_counter()
        t3 = time.perf_counter()
        if n < warmup:
            continue
        calls.append((t2 - t1) * 1000)
        rounds.append((t3 - t0) * 1000)
        found.append(len(result.get(issue_id, [])))
    return calls, rounds, found, missing


def global_id(issue_id: int) -> str:
    return base64.urlsafe_b64encode(f"Issue:{issue_id}".encode()).decode().rstrip("=")


async def graphql(
    url: str, picked: list[tuple[int, str]], warmup: int, username: str
) -> tuple[list[float], list[int]]:
    import httpx

    from closedloop.identity.tokens import mint_token
    from closedloop.settings import Settings

    token = mint_token(Settings(), username)
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    counts: list[int] = []
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        for n, (issue_id, _) in enumerate(picked):
            body = {"query": LOOKUP, "variables": {"id": global_id(issue_id)}}
            t0 = time.perf_counter()
            resp = await client.post("/graphql", json=body, headers=headers)
            elapsed = (time.perf_counter() - t0) * 1000
            resp.raise_for_status()
            data = resp.json()
            if data.get("errors") or data["data"]["issue"] is None:
                raise RuntimeError(f"issue {issue_id}: {str(data)[:300]}")
            if n < warmup:
                continue
            latencies.append(elapsed)
            counts.append(len(data["data"]["issue"]["duplicateCandidates"]))
    return latencies, counts


async def amain(args: argparse.Namespace) -> int:
    from sqlalchemy.ext.asyncio import create_async_engine

    from closedloop.db.database import async_url

    admin = create_async_engine(async_url(args.database_url), pool_size=1, max_overflow=0)
    engine = make_engine(as_user(args.database_url, args.app_user, None), 2)
    db = Database(engine)
    try:
        async with admin.connect() as conn:
            keys = (
                await conn.execute(
                    sa.text(
                        "SELECT reltuples::bigint FROM pg_class"
                        " WHERE relname = 'issue_similarity_key'"
                    )
                )
            ).scalar()
            issues = (
                await conn.execute(
                    sa.text("SELECT reltuples::bigint FROM pg_class WHERE relname = 'issue'")
                )
            ).scalar()
        print(f"issue ≈ {issues:,} rows, issue_similarity_key ≈ {keys:,} rows (reltuples)")
        if not keys or keys <= 0:
            print("no similarity keys: run python -m bench.generator.similarity_keys first")
            return 2
        picked = await pick(
            admin, args.samples + args.warmup, args.seed, args.recent_days, origin=args.county
        )
        calls, rounds, found, missing = await service(db, picked, args.warmup)
        scope = f"issues of the last {args.recent_days} days" if args.recent_days else "issues"
        if args.county:
            scope += f" originating in {args.county}"
        print(
            f"service: {len(calls)} random {scope} (seed {args.seed}, {args.warmup} warm-up),"
            f" each as its county's center; {missing} not found"
        )
        print(summary("duplicate_candidates call", calls))
        print(summary("round (tx + read + call)", rounds))
        print(
            f"candidates per issue: mean {statistics.fmean(found):.2f}, max {max(found)},"
            f" issues with ≥ 1: {sum(1 for f in found if f)}"
        )
        if args.graphql:
            origin = args.graphql_origin or None
            picked_gql = await pick(
                admin, args.samples + args.warmup, args.seed, args.recent_days, origin=origin
            )
            latencies, counts = await graphql(
                args.graphql, picked_gql, args.warmup, args.graphql_as
            )
            print(
                f"GraphQL: {len(latencies)} random issues of {origin or 'every region'}"
                f" as {args.graphql_as}, 1 connection"
            )
            print(summary("issue { duplicateCandidates }", latencies))
            print(f"candidates per issue (first 10): mean {statistics.fmean(counts):.2f}")
    finally:
        await engine.dispose()
        await admin.dispose()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--app-user", default="closedloop_app")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--recent-days", type=int)
    parser.add_argument("--county", help="sample only issues originating in this region")
    parser.add_argument("--graphql", help="a running server (loopback), e.g. http://127.0.0.1:8004")
    parser.add_argument("--graphql-as", default="deqing.center", help="account for GraphQL")
    parser.add_argument(
        "--graphql-origin",
        default="330521",
        help="sample GraphQL issues of this region ('' = all; the account must see them)",
    )
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url or DATABASE_URL is required")
    if args.graphql and not args.graphql.startswith(("http://127.0.0.1", "http://localhost")):
        parser.error("--graphql must be a loopback URL")
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
