"""What keeping the dashboard rollup exact costs (issue 5): the time to recompute dirty
slices, which a dashboard reader pays when issues changed since the last refresh.

    .venv/bin/python -m bench.rollup \\
        --database-url postgresql://postgres@127.0.0.1:5432/closedloop_bench_1m \\
        [--slices 1 8 32 128] [--samples 20] [--seed 1] [--county 330521] [--full]

For each size N, ``--samples`` times: mark N random slices (month, county) that have issues
dirty, then time ``rollup.refresh_on`` in one transaction as the URL's user, and roll back
(the rollup is left as it was). ``--county`` draws only that county's slices (德清, the
busiest, by default: the worst case for one slice). ``--full`` also times a rebuild of every
slice (rolled back too). Prints p50 / p95 / max per size.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from closedloop.db import tables as t
from closedloop.db.database import async_url
from closedloop.services.evaluation import rollup


async def amain(args: argparse.Namespace) -> int:
    engine = create_async_engine(
        async_url(args.database_url),
        connect_args={"server_settings": {"jit": "off", "work_mem": "64MB"}},
    )
    rng = random.Random(args.seed)
    r = t.issue_rollup.c
    try:
        async with engine.connect() as conn:
            where = [r.dimension == "TOTAL"]
            if args.county:
                where.append(r.county_code == args.county)
            found = await conn.execute(
                sa.select(r.month, r.county_code, r.total).where(*where).order_by(r.month)
            )
            slices = [(row.month, row.county_code, row.total) for row in found]
            await conn.rollback()
        if not slices:
            print("no rollup rows: run `closedloop migrate` and a dashboard (or the sweeper)")
            return 1
        largest = max(s[2] for s in slices)
        print(f"{len(slices)} slices to draw from; issues per slice max {largest:,}")
        print(f"{'slices':>7} {'issues':>9} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        for size in args.slices:
            times: list[float] = []
            issues = 0
            for _ in range(args.samples):
                chosen = rng.sample(slices, min(size, len(slices)))
                issues = sum(s[2] for s in chosen)
                async with engine.connect() as conn:
                    await conn.begin()
                    await conn.execute(
                        t.issue_rollup_dirty.insert(),
                        [{"month": m, "county_code": k} for m, k, _ in chosen],
                    )
                    mark = time.perf_counter()
                    await rollup.refresh_on(conn)
                    times.append((time.perf_counter() - mark) * 1000)
                    await conn.rollback()
            times.sort()
            p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
            print(
                f"{size:>7} {issues:>9,} {statistics.median(times):>8.1f} {p95:>8.1f}"
                f" {times[-1]:>8.1f}"
            )
        if args.full:
            async with engine.connect() as conn:
                await conn.begin()
                mark = time.perf_counter()
                await rollup.mark_all(conn)
                count = await rollup.refresh_on(conn)
                print(f"full rebuild: {count:,} slices in {time.perf_counter() - mark:.1f} s")
                await conn.rollback()
    finally:
        await engine.dispose()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--slices", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--county", default="330521", help="'' for every county")
    parser.add_argument("--full", action="store_true")
    return asyncio.run(amain(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
