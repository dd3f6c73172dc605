"""Every region scoreboard's counters over many groups and periods, as JSON lines: run it
with two source trees on copies of the same database and compare the files (issue 18: a
change to the region statement must give the same counters).

    PYTHONPATH=/path/to/tree python bench/region_counters.py \\
        --database-url postgresql://postgres@127.0.0.1:5432/closedloop_bench_1m > out.jsonl

Groups: the province's cities, each city's counties and some counties' towns (as
``province.monitor``), 湖州's counties as ``huzhou.evaluator`` and 德清's towns as
``deqing.evaluator``; for each, single quarters and years of 2025 and 2026, the four
quarters of 2026 and its twelve months as one history, under both rating counts. Only the
service's ``group_counters`` is called (the application role, row-level security on).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
from collections.abc import Sequence

from bench.scope_plans import app_database, principal
from closedloop.authz.roles import Action
from closedloop.db.database import Database
from closedloop.domain.periods import Period, parse_period
from closedloop.domain.schemes import RatingCount
from closedloop.domain.scoring import Counters
from closedloop.services.evaluation.attribution import group_counters
from closedloop.services.evaluation.scores import readable_region
from closedloop.services.evaluation.targets import TargetKind, peer_group, region_record

PERIODS = (
    *(f"2026-Q{q}" for q in range(1, 5)),
    *(f"2025-Q{q}" for q in range(1, 5)),
    "2025",
    "2026",
    "2026-Q1,2026-Q2,2026-Q3,2026-Q4",
    ",".join(f"2026-{m:02d}" for m in range(1, 13)),
)
TOWN_GROUPS = ("330521", "330522", "330106", "330282")


async def groups(db: Database) -> list[str]:
    """The province, its cities, and a few counties."""
    async with db.read_reference() as conn:
        province = await region_record(conn, "33")
        assert province is not None
        found = await peer_group(conn, TargetKind.REGION, province)
    return ["33", *(x.key for x in found.targets), *TOWN_GROUPS]


def _plain(c: Counters) -> dict[str, object]:
    out: dict[str, object] = {f.name: getattr(c, f.name) for f in dataclasses.fields(c)}
    out["ratings"] = dict(sorted(c.ratings.items()))
    return out


async def amain(url: str, as_users: Sequence[str]) -> int:
    async with app_database(url, "closedloop_app") as db:
        cases = [("province.monitor", g) for g in await groups(db)]
        cases += [(u, r) for u in as_users for r in (("3305",) if "huzhou" in u else ("330521",))]
        for user, code in cases:
            who = await principal(db, user)
            region = await readable_region(db, who, code, Action.SCORE_READ)
            if region is None:
                print(f"{user} may not read {code}", file=sys.stderr)
                continue
            async with db.read_reference() as ref:
                group = await peer_group(ref, TargetKind.REGION, region)
            for text in PERIODS:
                periods: list[Period] = [parse_period(p) for p in text.split(",")]
                for count in RatingCount:
                    async with db.read(who) as conn:
                        boards = await group_counters(conn, who, group, periods, count)
                    line = {
                        "as": user,
                        "region": code,
                        "periods": text,
                        "rating_count": count.value,
                        "counters": [{k: _plain(v) for k, v in sorted(b.items())} for b in boards],
                    }
                    print(json.dumps(line, sort_keys=True, ensure_ascii=False))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument(
        "--as", dest="as_users", nargs="*", default=["huzhou.evaluator", "deqing.evaluator"]
    )
    args = parser.parse_args()
    return asyncio.run(amain(args.database_url, args.as_users))


if __name__ == "__main__":
    raise SystemExit(main())
