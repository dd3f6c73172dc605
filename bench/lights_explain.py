"""EXPLAIN (ANALYZE, BUFFERS) of a dashboard's lights statement (``figures.lights_statement``)
for any root, as ``bench/national.py`` builds it: the root ``''`` is the country (its
children the provinces), as a national monitor's request would read it.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/closedloop_bench_national \\
        .venv/bin/python -m bench.lights_explain --root '' [--period 2026-Q3] [--rollup]

Read-only (EXPLAIN ANALYZE of a SELECT); ``jit = off`` and ``work_mem = 64MB`` as on the
API's connections.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os

import asyncpg
import sqlalchemy as sa
import uvloop
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from closedloop.authz.roles import Principal, Role
from closedloop.db import tables as t
from closedloop.domain.periods import parse_period
from closedloop.services.evaluation import rollup
from closedloop.services.evaluation.attribution import instant_bucket
from closedloop.services.evaluation.dashboard import _population, trend_months
from closedloop.services.evaluation.figures import lights_statement
from closedloop.services.evaluation.targets import CHILD_CODE_LENGTH

NOW = dt.datetime(2026, 12, 6, 16, tzinfo=dt.UTC)


async def run(args: argparse.Namespace) -> None:
    period = parse_period(args.period)
    months = trend_months(period)
    monitor = Principal(0, "national.monitor", "全国监测", Role.PROVINCE_MONITOR, args.root)
    c = t.issue.c
    child = CHILD_CODE_LENGTH.get(len(args.root), 2)
    statements: dict[str, sa.Executable] = {
        "lights": lights_statement(
            _population(monitor, args.root, months[0].start_at, months[-1].end_at),
            sa.func.left(c.origin_region_code, child),
            NOW,
            instant_bucket(c.created_at, months),
            period.start_at,
        )
    }
    if args.rollup:
        statements["rollup"] = rollup.read_statement(args.root, child, period, months)
    conn = await asyncpg.connect(os.environ["DATABASE_URL"])
    try:
        await conn.execute("SET jit = off; SET work_mem = '64MB'")
        for name, statement in statements.items():
            compiled = statement.compile(  # type: ignore[attr-defined]
                dialect=asyncpg_dialect(),  # type: ignore[no-untyped-call]
                compile_kwargs={"render_postcompile": True},
            )
            values = [compiled.params[n] for n in compiled.positiontup]
            rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + compiled.string, *values)
            print(f"=== {name}, root {args.root!r}, {args.period}")
            print("\n".join(r[0] for r in rows))
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="")
    parser.add_argument("--period", default=os.environ.get("BENCH_QUARTER", "2026-Q3"))
    parser.add_argument("--rollup", action="store_true", help="the rollup read too")
    args = parser.parse_args()
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
