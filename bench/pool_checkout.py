"""What detecting dead pooled connections costs on a request: none, the checkout flag check
the API ships (``closedloop.db.database._refuse_closed``), or SQLAlchemy's
``pool_pre_ping`` (a round trip per checkout). Runs ``bench.inprocess`` with the engine
patched to one variant:

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/closedloop_bench_sessions \\
        .venv/bin/python -m bench.pool_checkout --variant pre_ping --scenario county_pool

Interleave the variants (see bench/RESULTS.md for the figures and the loop used).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import uvloop
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

import closedloop.db.database as database
import closedloop.db.setup as setup
from bench import inprocess
from bench.harness import SCENARIOS

VARIANTS = ("none", "checkout_check", "pre_ping")


def patch(variant: str) -> None:
    original = database.make_engine

    def make_engine(url: str, pool_size: int = 10, **options: Any) -> AsyncEngine:
        engine = original(url, pool_size, **options)
        if variant in ("none", "pre_ping"):
            event.remove(engine.sync_engine, "checkout", database._refuse_closed)
        if variant == "pre_ping":
            pool: Any = engine.sync_engine.pool
            pool._pre_ping = True
        return engine

    database.make_engine = make_engine
    setup.make_engine = make_engine  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", choices=VARIANTS, required=True)
    parser.add_argument("--scenario", default="county_pool", choices=sorted(SCENARIOS))
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("set DATABASE_URL (a generated bench database)")
    patch(args.variant)
    args.profile = None
    args.save_response = None
    print(args.variant, end=": ")
    uvloop.run(inprocess.run(args))


if __name__ == "__main__":
    main()
