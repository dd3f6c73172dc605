"""The cost of forced row-level security (migration 0012): before and after, interleaved.

Two databases hold the same generated data: BEFORE at the revision before 0012 (row-level
security on 6 tables, forced on one, the API's role granted everything), AFTER at 0012. This process
serves both with the same code, two ASGI apps side by side, one request at a time, in
batches that alternate between them (ABBA order), so both see the same neighbours on a
shared machine. Per arm: the median wall time of a request (the app and PostgreSQL: the
policies run in PostgreSQL), the CPU of the API's PostgreSQL backends per request, and the
process CPU per request; then the ratio AFTER / BEFORE.

    .venv/bin/python -m bench.rls_cost \\
        --before postgresql://postgres@127.0.0.1:5432/closedloop_rls_before \\
        --after postgresql://postgres@127.0.0.1:5432/closedloop_rls_after \\
        --rounds 8 --batch 100

Scenarios: ``county_pool`` (the harness's pool page as ``deqing.center``) and ``note`` (the
mutation ``addIssueNote`` by ``deqing.center`` on one open issue its county holds: a locked
read, a version bump and an event). The account look-up function of 0012 must exist in the
BEFORE database too (``--install-lookup`` creates it there), since the code calls it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import uvloop

from bench.harness import COUNTY_POOL, backend_cpu, backend_delta
from bench.inprocess import _asgi_post
from closedloop.db.database import SQL_STATEMENTS
from closedloop.http.app import create_app
from closedloop.identity.tokens import mint_token
from closedloop.settings import Settings

ACCOUNT = "deqing.center"
OPEN_ISSUE = """{ issues(filter: {pool: true, states: [ACCEPTED]}, first: 1) {
  nodes { id version } } }"""
NOTE = """mutation($input: AddIssueNoteInput!) { addIssueNote(input: $input) {
  issue { id version } errors { code message } } }"""

# The account look-up of migrations 0012 and 0021, for a database still before it (owned by the
# migrator there: no system role's grants yet).
LOOKUP = """
CREATE OR REPLACE FUNCTION closedloop_principal(login text) RETURNS TABLE (
  id integer, username text, display_name text, role text, region_code text,
  board_id integer, department_id integer, enterprise_id integer, credentials text
) LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT a.id, a.username, a.display_name, a.role, coalesce(a.region_code, e.region_code),
         a.board_id, a.department_id, a.enterprise_id, NULL::text
  FROM account a LEFT JOIN enterprise e ON e.id = a.enterprise_id
  WHERE a.username = login AND a.active
$$;
GRANT EXECUTE ON FUNCTION closedloop_principal(text) TO closedloop_app;
"""


@dataclass
class Arm:
    name: str
    url: str
    app: Any = None
    token: str = ""
    note: dict[str, Any] = field(default_factory=dict)
    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)
    pg: dict[str, list[float]] = field(default_factory=dict)
    statements: dict[str, list[float]] = field(default_factory=dict)

    @property
    def database(self) -> str:
        return self.url.rsplit("/", 1)[1]


async def _post(arm: Arm, query: str, variables: dict[str, Any] | None = None) -> Any:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    status, raw = await _asgi_post(arm.app, body, arm.token)
    data = json.loads(raw)
    if status != 200 or data.get("errors"):
        raise SystemExit(f"{arm.name}: {status} {raw[:500]!r}")
    return data["data"]


async def _request(arm: Arm, scenario: str) -> None:
    if scenario == "county_pool":
        await _post(arm, COUNTY_POOL)
        return
    variables = {"input": {**arm.note, "text": "已电话联系企业", "public": False}}
    result = (await _post(arm, NOTE, variables))["addIssueNote"]
    if result["errors"]:
        raise SystemExit(f"{arm.name}: {result['errors']}")
    arm.note["expectedVersion"] = result["issue"]["version"]


async def _batch(arm: Arm, scenario: str, size: int) -> None:
    pg_before = backend_cpu(arm.database)
    statements = SQL_STATEMENTS._value.get()
    cpu0 = time.process_time()
    walls = []
    for _ in range(size):
        w0 = time.perf_counter()
        await _request(arm, scenario)
        walls.append(time.perf_counter() - w0)
    arm.cpu.setdefault(scenario, []).append((time.process_time() - cpu0) / size)
    arm.pg.setdefault(scenario, []).append(
        backend_delta(pg_before, backend_cpu(arm.database)) / size
    )
    arm.wall.setdefault(scenario, []).extend(walls)
    arm.statements.setdefault(scenario, []).append(
        (SQL_STATEMENTS._value.get() - statements) / size
    )


async def run(args: argparse.Namespace) -> None:
    if args.install_lookup:
        conn = await asyncpg.connect(args.before)
        try:
            await conn.execute(LOOKUP)
        finally:
            await conn.close()
    arms = [Arm("before", args.before), Arm("after", args.after)]
    for arm in arms:
        # One account sends thousands of requests a minute: the rate limiter stays off.
        settings = Settings(
            database_url=arm.url,
            sweep_interval_seconds=0,
            relay_interval_seconds=0,
            rate_limit_points=0,
        )
        arm.app = create_app(settings)
        arm.token = mint_token(settings, ACCOUNT)
    async with (
        arms[0].app.router.lifespan_context(arms[0].app),
        arms[1].app.router.lifespan_context(arms[1].app),
    ):
        for arm in arms:
            found = (await _post(arm, OPEN_ISSUE))["issues"]["nodes"][0]
            arm.note = {"id": found["id"], "expectedVersion": found["version"]}
            for scenario in args.scenarios:
                for _ in range(args.warmup):
                    await _request(arm, scenario)
        for n in range(args.rounds):
            order = arms if n % 2 == 0 else arms[::-1]
            for scenario in args.scenarios:
                for arm in order:
                    await _batch(arm, scenario, args.batch)
    ms = 1000.0
    before, after = arms
    for scenario in args.scenarios:
        print(f"{scenario}: {args.rounds} rounds x {args.batch} requests per arm")
        for arm in arms:
            print(
                f"  {arm.name:6} wall ms median {statistics.median(arm.wall[scenario]) * ms:.3f}"
                f"  PostgreSQL CPU ms/request median {statistics.median(arm.pg[scenario]) * ms:.3f}"
                f"  process CPU ms/request median {statistics.median(arm.cpu[scenario]) * ms:.3f}"
                f"  SQL statements/request {statistics.mean(arm.statements[scenario]):.2f}"
            )
        ratios = [
            statistics.median(after.wall[scenario]) / statistics.median(before.wall[scenario]),
            statistics.median(after.pg[scenario]) / statistics.median(before.pg[scenario]),
            statistics.median(after.cpu[scenario]) / statistics.median(before.cpu[scenario]),
        ]
        print(
            "  after/before: wall {:.3f}, PostgreSQL CPU {:.3f}, process CPU {:.3f}".format(*ratios)
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="database before revision 0012")
    parser.add_argument("--after", required=True, help="the same data at head")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument(
        "--scenarios", nargs="+", default=["county_pool", "note"], choices=["county_pool", "note"]
    )
    parser.add_argument("--install-lookup", action="store_true")
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
