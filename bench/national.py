"""The reads and the write issue #19 asks to measure on a national data set, at its size.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/closedloop_bench_national \\
        .venv/bin/python -m bench.national --rounds 5 --requests 5 [--json out.json]

One process, one request at a time, the scenarios interleaved round by round (A B C … A B
C …); per scenario the median wall and process-CPU milliseconds per request over every
round, and each round's median (the spread shows the shared machine):

- ``county_pool``: 德清's center, its pool's first 50 issues (``bench/harness.py``), through
  the ASGI app in-process (``bench/inprocess.py``: no sockets, no HTTP client);
- ``province_dashboard``: ``province.monitor``'s cockpit of 浙江 (33) for ``BENCH_QUARTER``
  (``--province 51``: 四川's, as a monitor of 51 added for the purpose),
  as served: kept and shared while its slices do not change (``dashboard_cache``), so
  after the first request a check of the slices' state;
- ``province_dashboard_computed``: the same, the kept dashboards emptied before each
  request (``caches.CACHES["dashboards"]``): what computing it costs at the size;
- ``national_dashboard``: what the same cockpit costs over the whole country. No account
  reads the country (a province monitor sits at a province: ``domain.accounts``), so this
  runs the dashboard's two statements (``rollup.read_statement`` and the lights of
  ``figures.lights_statement``) for the root ``''`` with the provinces as children, on the
  system role, as a national monitor's request would;
- ``city_department_scores``: ``huzhou.evaluator``'s department scores of 湖州 (3305) for
  ``BENCH_QUARTER``;
- ``duplicate_candidates``: ``issue(id) { duplicateCandidates(first: 10) }`` as
  ``deqing.center`` for a new issue (submitted by ``ent.deqing-geo`` when the run starts;
  needs 德清's similarity keys: ``python -m bench.generator.similarity_keys --origin 330521``);
- ``submit_issue``: the mutation ``submitIssue`` by ``ent.xinshi-silk`` (a new issue each
  time: these runs add a few dozen issues to the data set).

``--reads-only``, for a database a generation is still adding to: the generator holds
``enterprise`` and ``issue_number`` in EXCLUSIVE mode until it commits, so a submission waits
for it. Duplicate candidates are then asked for the newest 德清 issue that has keys (the same
read, an existing issue), and ``submit_issue`` is left out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
import uvloop
from sqlalchemy.dialects.postgresql import insert as pg_insert

from bench.harness import BENCH_QUARTER, DASHBOARD, SCENARIOS
from bench.inprocess import _asgi_post
from closedloop import caches
from closedloop.authz.roles import Principal, Role
from closedloop.db import tables as t
from closedloop.db.database import make_engine
from closedloop.domain.periods import parse_period
from closedloop.http.app import create_app
from closedloop.identity.tokens import mint_token
from closedloop.schema.relay import to_global_id
from closedloop.services.evaluation import rollup
from closedloop.services.evaluation.attribution import instant_bucket
from closedloop.services.evaluation.dashboard import _population, trend_months
from closedloop.services.evaluation.figures import lights_statement
from closedloop.settings import Settings

Call = Callable[[int], Awaitable[None]]
DEQING = "330521"

SUBMIT = """mutation($title: String!) { submitIssue(input: {title: $title,
  content: "企业扩产后缺少熟练挡车工约30人，希望协助招聘，并了解本地技能培训补贴政策。"}) {
  issue { id } errors { code } } }"""
DUPLICATES = """query($id: ID!) { issue(id: $id) { id duplicateCandidates(first: 10) {
  score issue { id title } } } }"""
NEW_ISSUE = """mutation { submitIssue(input: {title: "招不到熟练挡车工，希望协助招聘",
  content: "企业扩产后缺少熟练挡车工约30人，希望协助招聘，并了解本地技能培训补贴政策。"}) {
  issue { id } errors { code } } }"""


async def _graphql(app: Any, settings: Settings, username: str, body: dict[str, Any]) -> Call:
    token = mint_token(settings, username)
    raw = json.dumps(body).encode()
    status, first = await _asgi_post(app, raw, token)
    if status != 200 or b'"errors"' in first:
        raise SystemExit(f"{username}: {status}: {first[:1000]!r}")

    async def call(_: int) -> None:
        status, out = await _asgi_post(app, raw, token)
        assert status == 200 and b'"errors"' not in out, out[:500]

    return call


async def _scenario(app: Any, settings: Settings, name: str) -> Call:
    scenario = SCENARIOS[name]
    token = mint_token(settings, scenario.username)
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        bodies = await scenario.prepare(client, token)
    return await _graphql(app, settings, scenario.username, bodies[0])


async def _province(app: Any, settings: Settings, url: str, code: str) -> Call:
    """The cockpit of province ``code`` for ``BENCH_QUARTER``, as its province monitor (the
    demo's ``province.monitor`` for 33; ``monitor.<code>``, added here if absent, for another:
    the demo seeds 浙江's accounts only)."""
    username = "province.monitor"
    if code != "33":
        username = f"monitor.{code}"
        engine = make_engine(url, 1)
        async with engine.begin() as conn:
            await conn.execute(
                pg_insert(t.account)
                .values(
                    username=username,
                    display_name=f"省级监测员 {code}",
                    role=Role.PROVINCE_MONITOR.value,
                    region_code=code,
                )
                .on_conflict_do_nothing(index_elements=[t.account.c.username])
            )
        await engine.dispose()
    body = {"query": DASHBOARD, "variables": {"region": code, "period": BENCH_QUARTER}}
    return await _graphql(app, settings, username, body)


def _computed(call: Call) -> Call:
    async def computed(i: int) -> None:
        kept = caches.CACHES.get("dashboards")
        if kept is not None:
            kept.clear()
        await call(i)

    return computed


async def _submit(app: Any, settings: Settings) -> Call:
    token = mint_token(settings, "ent.xinshi-silk")
    stamp = time.time_ns()

    async def call(i: int) -> None:
        body = {"query": SUBMIT, "variables": {"title": f"用工招聘需求 {stamp}-{i}"}}
        status, out = await _asgi_post(app, json.dumps(body).encode(), token)
        assert status == 200 and b'"errors":[]' in out, out[:500]

    await call(-1)
    return call


async def _duplicates(app: Any, settings: Settings, url: str, existing: bool) -> Call:
    if existing:
        engine = make_engine(url, 1)
        async with engine.connect() as conn:
            newest = (
                await conn.execute(
                    sa.select(sa.func.max(t.issue_similarity_key.c.issue_id)).where(
                        t.issue_similarity_key.c.county_code == DEQING
                    )
                )
            ).scalar()
        await engine.dispose()
        if newest is None:
            raise SystemExit(f"no similarity keys in {DEQING}: run bench.generator.similarity_keys")
        issue = to_global_id("Issue", newest)
    else:
        token = mint_token(settings, "ent.deqing-geo")
        status, out = await _asgi_post(app, json.dumps({"query": NEW_ISSUE}).encode(), token)
        assert status == 200, out[:500]
        issue = json.loads(out)["data"]["submitIssue"]["issue"]["id"]
    return await _graphql(
        app, settings, "deqing.center", {"query": DUPLICATES, "variables": {"id": issue}}
    )


async def _national(url: str, settings: Settings) -> tuple[Call, Callable[[], Awaitable[None]]]:
    engine = make_engine(url, 1)
    period = parse_period(BENCH_QUARTER)
    months = trend_months(period)
    now = dt.datetime.now(dt.UTC)
    monitor = Principal(0, "national.monitor", "全国监测", Role.PROVINCE_MONITOR, "")
    c = t.issue.c
    statements: list[sa.Executable] = [
        rollup.read_statement("", 2, period, months),
        lights_statement(
            _population(monitor, "", months[0].start_at, months[-1].end_at),
            sa.func.left(c.origin_region_code, 2),
            now,
            instant_bucket(c.created_at, months),
            period.start_at,
        ),
    ]

    async def call(_: int) -> None:
        async with engine.connect() as conn:
            for statement in statements:
                (await conn.execute(statement)).all()
            await conn.rollback()

    await call(-1)
    return call, engine.dispose


async def run(args: argparse.Namespace) -> dict[str, Any]:
    url = os.environ["DATABASE_URL"]
    settings = Settings(sweep_interval_seconds=0, relay_interval_seconds=0)
    # No rate limit (one account sends every request) and a generous request budget: these
    # runs measure how long the reads take at the size, not whether they fit 10 s.
    settings = settings.model_copy(update={"rate_limit_points": 0, "request_timeout_seconds": 300})
    app = create_app(settings)
    out: dict[str, Any] = {}
    async with app.router.lifespan_context(app):
        calls: dict[str, Call] = {}
        for name in ("county_pool", "city_department_scores"):
            if name in args.scenarios:
                calls[name] = await _scenario(app, settings, name)
        if "province_dashboard" in args.scenarios:
            calls["province_dashboard"] = await _province(app, settings, url, args.province)
        if "province_dashboard_computed" in args.scenarios:
            calls["province_dashboard_computed"] = _computed(
                await _province(app, settings, url, args.province)
            )
        if "national_dashboard" in args.scenarios:
            calls["national_dashboard"], dispose = await _national(url, settings)
        if "duplicate_candidates" in args.scenarios:
            calls["duplicate_candidates"] = await _duplicates(app, settings, url, args.reads_only)
        if "submit_issue" in args.scenarios and not args.reads_only:
            calls["submit_issue"] = await _submit(app, settings)
        wall: dict[str, list[list[float]]] = {n: [] for n in calls}
        cpu: dict[str, list[list[float]]] = {n: [] for n in calls}
        n = 0
        for r in range(args.rounds):
            order = list(calls)
            order = order[r % len(order) :] + order[: r % len(order)]  # rotate
            for name in order:
                w: list[float] = []
                c: list[float] = []
                for _ in range(args.requests):
                    c0, w0 = time.process_time(), time.perf_counter()
                    await calls[name](n)
                    n += 1
                    c.append((time.process_time() - c0) * 1000)
                    w.append((time.perf_counter() - w0) * 1000)
                wall[name].append(w)
                cpu[name].append(c)
        if "national_dashboard" in calls:
            await dispose()
    for name in calls:
        flat_w = [x for rnd in wall[name] for x in rnd]
        flat_c = [x for rnd in cpu[name] for x in rnd]
        out[name] = {
            "wall_ms_median": statistics.median(flat_w),
            "cpu_ms_median": statistics.median(flat_c),
            "wall_ms_round_medians": [round(statistics.median(x), 1) for x in wall[name]],
            "requests": len(flat_w),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=5, help="per scenario and round")
    parser.add_argument(
        "--scenarios",
        nargs="*",
        default=[
            "county_pool",
            "province_dashboard",
            "province_dashboard_computed",
            "national_dashboard",
            "city_department_scores",
            "duplicate_candidates",
            "submit_issue",
        ],
    )
    parser.add_argument(
        "--province",
        default="33",
        help="the province of the province_dashboard scenarios (default 33, 浙江)",
    )
    parser.add_argument(
        "--reads-only",
        action="store_true",
        help="no writes (a generation holds its locks): duplicates of an existing issue",
    )
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("set DATABASE_URL (a generated bench database)")
    before = os.getloadavg()
    result = uvloop.run(run(args))
    load = os.getloadavg()
    for name, r in result.items():
        print(
            f"{name:28s} wall ms median {r['wall_ms_median']:8.1f}  CPU ms median"
            f" {r['cpu_ms_median']:7.1f}  rounds {r['wall_ms_round_medians']}"
        )
    print(
        f"load average {before[0]:.1f} at the start,"
        f" {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the end"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"figures": result, "load_before": before, "load": load}, f, indent=1)


if __name__ == "__main__":
    main()
