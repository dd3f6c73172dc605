"""CPU of building the generator's rows alone (no COPY, no database writes): plans
``N`` issues on a migrated, demo-seeded database as ``bench generate`` would (seed 1,
``--now 2026-12-01T00:00:00+00:00``), then times ``build_batch`` over all of them ``ROUNDS``
times in this process (``time.process_time``). Run it from each tree to compare versions
(same plan, same rows: the event count is printed as a check):

    cd TREE && PYTHONPATH=$PWD python bench/generator_build_cpu.py N DATABASE_URL [ROUNDS]

Give it a copy of the template database, not the template: planning takes the first ids
from the id sequences (``nextval``), which no rollback gives back, so a template used here
starts later generations at other ids (other rows, other digests).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import sys
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

import bench.generator.generate as g
from closedloop.db import tables as t
from closedloop.db.database import async_url

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


async def _plan(url: str, issues: int) -> tuple[Any, Sequence[Any], Any]:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as conn:
            world = await g.load_world(conn, "33")
            taken = set((await conn.execute(sa.select(t.enterprise.c.credit_code))).scalars())
            own = await g._existing_accounts(conn, max(5, min(300, issues // 2000)), "33")
            rng = random.Random("closedloop-bench/1/plan")
            first = await g._next_id(conn, "enterprise")
            ents = own + g.plan_enterprises(
                world, max(50, issues // 8), rng, first, taken, g.DEFAULT_BUSY
            )
            counters = {
                (r.region_code, r.year): r.last
                for r in await conn.execute(sa.select(t.issue_number))
            }
            plan = g.plan_issues(ents, issues, rng, NOW, await g._next_id(conn, "issue"), counters)
    finally:
        await engine.dispose()
    return world, ents, plan


def main() -> None:
    issues, url = int(sys.argv[1]), sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    world, ents, plan = asyncio.run(_plan(url, issues))
    seconds = []
    events = 0
    for _ in range(rounds):
        started = time.process_time()
        batch = g.build_batch(world, ents, plan, 0, issues, 1, NOW, tuple(g.DEFAULT_BUSY))
        seconds.append(time.process_time() - started)
        events = len(batch.events)
    print(f"build cpu {' '.join(f'{s:.2f}' for s in seconds)} s  events {events:,}")


if __name__ == "__main__":
    main()
