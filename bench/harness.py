"""Load harness: named GraphQL scenarios against a running closedloop server (loopback only).

    .venv/bin/python bench/harness.py --server-pid PID [--scenario county_pool] \\
        [--url http://127.0.0.1:8000] [--duration 30] [--connections 16] [--processes 1]

For each scenario: a check request (must answer without errors), a warm-up, then a measured
run bounded by ``--duration`` seconds and ``--max-requests``. It prints requests/s,
latency percentiles, the server's CPU per request (utime + stime of ``--server-pid`` and its
descendants, from /proc), PostgreSQL's CPU per request (``--pg-pid``: the whole cluster, the
backends that exited meanwhile included; and the API's own backends, those whose title
matches ``--pg-match`` and live throughout), new connections the server opened (the
database's ``pg_stat_database.sessions``, ``--database-url``), SQL statements per request (the
server's ``closedloop_sql_statements_total`` on /metrics, before and after), and the client's
own CPU use (near 1.0 core per client process means the client, not the server, is the
limit: add ``--processes``).

Tokens are minted with ``Settings().jwt_secret``: run with the server's
``CLOSEDLOOP_JWT_SECRET``. Scenarios live in ``SCENARIOS``: a name, an account, and a
``prepare`` coroutine returning the request bodies to cycle through; or a flow (``FLOWS``),
chains of dependent mutations by several accounts, each mutation timed as one request
(``workflow_mutations`` writes issues: run it against a benchmark database only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench import mixed_ops

Body = dict[str, Any]

# --- scenarios ---------------------------------------------------------------------------

# A portal's natural nested page (issue 18): the pool with each issue's timeline and custody
# ledger and their regions, the enterprise with its region, and the origin region.
COUNTY_POOL_NESTED = """{ issues(filter: {pool: true}, first: 50) { totalCount nodes { id number
  title state enterprise { name region { name } } originRegion { name }
  timeline { type occurredAt actorName }
  custody { handlingLevel startedAt region { name } } } } }"""

COUNTY_POOL = """{ issues(filter: {pool: true}, first: 50) { totalCount nodes { id number title
  state light dueAt enterprise { name creditCode } board { name } department { name }
  holdingRegion { name } lastEvent { type occurredAt actorName } } } }"""

ISSUE_WITH_TIMELINE = """query($id: ID!) { issue(id: $id) { id number title content state
  light dueAt createdAt channel category tags rating overdue enterprise { name creditCode }
  originRegion { name } holdingRegion { name } board { name } department { name }
  timeline { type typeLabel occurredAt actorName fromState toState public message } } }"""

ENTERPRISE_OWN = """{ issues(first: 20) { totalCount nodes { id number title state light dueAt
  createdAt rating holdingRegion { name } lastEvent { type occurredAt } } } }"""

# The same page for PostGraphile v4 (bench/postgraphile): its connection filtered to the pool
# (held by 德清 330521, open states), newest first, with the related rows and the last event.
# Aliases give the fields closedloop's names; the ids are PostGraphile's own node ids and the
# last event is a one-element connection. ``light`` is bench/postgraphile's computed field.
COUNTY_POOL_POSTGRAPHILE = """{ issues(first: 50, orderBy: [CREATED_AT_DESC, ID_DESC],
  filter: {holdingRegionCode: {equalTo: "330521"},
    state: {in: ["SUBMITTED", "ACCEPTED", "ASSIGNED", "IN_PROGRESS", "REOPENED"]}}) {
  totalCount nodes { id: nodeId number title state light dueAt
    enterprise { name creditCode } board { name: nameZh } department { name: nameZh }
    holdingRegion: regionByHoldingRegionCode { name }
    lastEvent: issueEvents(orderBy: ID_DESC, first: 1) { nodes { type occurredAt actorName } }
  } } }"""

COUNTY_POOL_NESTED_POSTGRAPHILE = """{ issues(first: 50, orderBy: [CREATED_AT_DESC, ID_DESC],
  filter: {holdingRegionCode: {equalTo: "330521"},
    state: {in: ["SUBMITTED", "ACCEPTED", "ASSIGNED", "IN_PROGRESS", "REOPENED"]}}) {
  totalCount nodes { id: nodeId number title state
    enterprise { name region: regionByRegionCode { name } }
    originRegion: regionByOriginRegionCode { name }
    timeline: issueEvents(orderBy: ID_ASC, first: 100) { nodes { type occurredAt actorName } }
    custody: issueCustodies(orderBy: ID_ASC, first: 100) { nodes { handlingLevel startedAt
      region: regionByRegionCode { name } } } } } }"""

DASHBOARD = """query($region: String!, $period: String!) { dashboard(region: $region,
  period: $period) { asOf totals { ...F } local { ...F } children { region { code name }
  figures { ...F } } byState { state count label } byTier { tier label figures { ...F } }
  boards { key name figures { ...F } } departments { key name figures { ...F } }
  topTags { tag count } redList { id reason listedOn } blackList { id reason listedOn }
  redCount blackCount trend { month figures { ...F } } } }
fragment F on DashboardFigures { total proactive handled resolved open merged
  overdueResolved recurred unratedResolved goodRatings yellowLights redLights resolutionRate
  satisfactionRate overdueRate recurrenceRate proactiveRate }"""

SCORES = """query($kind: EvaluationTargetKind!, $region: String!, $period: String!) {
  scores(targetKind: $kind, region: $region, period: $period) { targetKind
  period { label } entries { rank subtotal total target { kind key name isKey }
  indicators { key status rate numerator denominator rank points deduction }
  adjustments { key count points } counters { total handled resolved overdueResolved
  goodRatings respondedOnTime } } } }"""

# Periods inside the generated data (two years up to the generation time, 2024-11-22 to
# 2026-11-22 for closedloop_bench_1m): a full quarter and a full year.
BENCH_QUARTER = os.environ.get("BENCH_QUARTER", "2026-Q3")
BENCH_YEAR = os.environ.get("BENCH_YEAR", "2025")

ISSUE_IDS = """query($after: String) { issues(filter: {holdingRegion: "330521"}, first: 100,
  after: $after) { pageInfo { hasNextPage endCursor } nodes { id } } }"""


async def _post(client: httpx.AsyncClient, token: str, body: Body) -> dict[str, Any]:
    resp = await client.post("/graphql", json=body, headers={"Authorization": f"Bearer {token}"})
    resp.raise_for_status()
    data: dict[str, Any] = resp.json()
    if data.get("errors"):
        raise RuntimeError(f"GraphQL errors: {data['errors']}")
    return data


async def _fixed(body: Body) -> list[Body]:
    return [body]


async def _timeline_bodies(client: httpx.AsyncClient, token: str) -> list[Body]:
    """Up to 500 issues held by 德清 (a mix of open and finished), one request each."""
    ids: list[str] = []
    after = None
    while len(ids) < 500:
        data = await _post(client, token, {"query": ISSUE_IDS, "variables": {"after": after}})
        page = data["data"]["issues"]
        ids += [n["id"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    if not ids:
        raise RuntimeError("no issues held by 330521: generate data first")
    return [{"query": ISSUE_WITH_TIMELINE, "variables": {"id": i}} for i in ids]


@dataclass(frozen=True)
class Scenario:
    description: str
    username: str
    prepare: Callable[[httpx.AsyncClient, str], Awaitable[list[Body]]]
    # A flow scenario runs chains of dependent requests as several accounts (``FLOWS``);
    # ``prepare`` then returns one body: the flow's parameters.
    flow: str | None = None
    accounts: tuple[str, ...] = ()


# --- flows: chains of dependent requests, each request timed and counted -------------------

Send = Callable[[str, str, Body], Awaitable[Body]]
WORKFLOW_ACCOUNTS = ("ent.xinshi-silk", "xinshi.center", "xinshi.talent")
BOARDS = """query($code: String!) { region(code: $code) { boards { id key } } }"""


class FlowError(RuntimeError):
    """A step answered with errors: the rest of this chain is abandoned."""


def mutation_body(name: str, input_: Body) -> Body:
    type_name = name[0].upper() + name[1:] + "Input"
    query = (
        f"mutation($input: {type_name}!) {{ {name}(input: $input) {{"
        " issue { id version state } errors { code message } } }"
    )
    return {"query": query, "variables": {"input": input_}}


async def _workflow_params(client: httpx.AsyncClient, token: str) -> list[Body]:
    data = await _post(client, token, {"query": BOARDS, "variables": {"code": "330521102"}})
    talent = next(b["id"] for b in data["data"]["region"]["boards"] if b["key"] == "TALENT")
    return [{"boardId": talent}]


async def workflow(send: Send, params: Body) -> None:
    """One issue's whole life through the API, seven mutations by three accounts: an
    enterprise of 新市 submits, the town's center accepts and assigns it to its talent
    board, the board starts, notes and resolves it, the enterprise rates it."""
    issue = await send(
        "ent.xinshi-silk",
        "submitIssue",
        {
            "title": "招不到熟练挡车工",
            "content": "企业扩产后缺少熟练挡车工约30人，希望协助招聘。",
        },
    )
    for account, name, extra in (
        ("xinshi.center", "acceptIssue", {}),
        ("xinshi.center", "assignIssue", {"boardId": params["boardId"]}),
        ("xinshi.talent", "startIssue", {}),
        ("xinshi.talent", "addIssueNote", {"text": "已推送招聘会信息", "public": True}),
        ("xinshi.talent", "resolveIssue", {"reply": "已组织专场招聘会。"}),
        ("ent.xinshi-silk", "rateIssue", {"grade": "SATISFIED"}),
    ):
        step = {"id": issue["id"], "expectedVersion": issue["version"], **extra}
        issue = await send(account, name, step)


FLOWS: dict[str, Callable[[Send, Body], Awaitable[None]]] = {"workflow": workflow}


def _sender(client: httpx.AsyncClient, tokens: dict[str, str], shard: Shard | None) -> Send:
    """Posts one mutation as an account, times it into ``shard``, returns its issue."""

    async def send(account: str, name: str, input_: Body) -> Body:
        headers = {"Authorization": f"Bearer {tokens[account]}"}
        t0 = time.perf_counter()
        resp = await client.post("/graphql", json=mutation_body(name, input_), headers=headers)
        elapsed = time.perf_counter() - t0
        payload = resp.json() if resp.status_code == 200 else {}
        result = (payload.get("data") or {}).get(name) or {}
        ok = resp.status_code == 200 and not payload.get("errors") and not result.get("errors")
        if shard is not None:
            shard.latencies.append(elapsed)
            shard.errors += not ok
            if not ok and shard.first_error is None:
                shard.first_error = f"{name}: {resp.status_code} {resp.text[:300]}"
        if not ok:
            raise FlowError(f"{name}: {resp.text[:300]}")
        issue: Body = result["issue"]
        return issue

    return send


SCENARIOS: dict[str, Scenario] = {
    "county_pool": Scenario(
        "德清 county center's pool: first 50 open issues it holds, with related objects",
        "deqing.center",
        lambda client, token: _fixed({"query": COUNTY_POOL}),
    ),
    "county_pool_postgraphile": Scenario(
        "the county pool page as PostGraphile v4 asks for it (bench/postgraphile)",
        "deqing.center",
        lambda client, token: _fixed({"query": COUNTY_POOL_POSTGRAPHILE}),
    ),
    "county_pool_nested": Scenario(
        "the pool page with timelines, custody ledgers, enterprises and regions (issue 18)",
        "deqing.center",
        lambda client, token: _fixed({"query": COUNTY_POOL_NESTED}),
    ),
    "county_pool_nested_postgraphile": Scenario(
        "the nested pool page as PostGraphile v4 asks for it (bench/postgraphile)",
        "deqing.center",
        lambda client, token: _fixed({"query": COUNTY_POOL_NESTED_POSTGRAPHILE}),
    ),
    "issue_with_timeline": Scenario(
        "one issue by id with its full timeline (cycling over 500 issues held by 德清)",
        "deqing.center",
        _timeline_bodies,
    ),
    "enterprise_own_issues": Scenario(
        "an enterprise's own issues (ent.deqing-geo), newest 20",
        "ent.deqing-geo",
        lambda client, token: _fixed({"query": ENTERPRISE_OWN}),
    ),
    "province_dashboard": Scenario(
        f"the province's cockpit (region 33) for a quarter ({BENCH_QUARTER}; $BENCH_QUARTER)",
        "province.monitor",
        lambda client, token: _fixed(
            {"query": DASHBOARD, "variables": {"region": "33", "period": BENCH_QUARTER}}
        ),
    ),
    "province_dashboard_year": Scenario(
        f"the province's cockpit (region 33) for a year ({BENCH_YEAR}; $BENCH_YEAR)",
        "province.monitor",
        lambda client, token: _fixed(
            {"query": DASHBOARD, "variables": {"region": "33", "period": BENCH_YEAR}}
        ),
    ),
    "workflow_mutations": Scenario(
        "a mix of workflow mutations: whole issue lives (submit, accept, assign, start, note,"
        " resolve, rate) in 新市 by its enterprise, center and talent board",
        "xinshi.center",
        _workflow_params,
        flow="workflow",
        accounts=WORKFLOW_ACCOUNTS,
    ),
    "city_department_scores": Scenario(
        f"the scores of every department of 湖州 (3305) for a quarter ({BENCH_QUARTER})",
        "huzhou.evaluator",
        lambda client, token: _fixed(
            {
                "query": SCORES,
                "variables": {
                    "kind": "DEPARTMENT",
                    "region": "3305",
                    "period": BENCH_QUARTER,
                },
            }
        ),
    ),
}


def _mix_scenario(what: str, account: str, query: str, variables: Body) -> Scenario:
    body = {"query": query, "variables": {**variables, "period": mixed_ops.QUARTER}}
    return Scenario(
        f"{what}, as the mixed workload asks it (bench/mixed_ops.py)",
        account,
        lambda client, token: _fixed(body),
    )


# The mixed workload's own cockpit and scores requests (bench/mixed_ops.py), alone.
SCENARIOS.update(
    {
        "mix_scores_department": _mix_scenario(
            "湖州 (3305)'s department scores for a quarter",
            "huzhou.evaluator",
            mixed_ops.SCORES,
            {"kind": "DEPARTMENT", "region": "3305"},
        ),
        "mix_scores_region": _mix_scenario(
            "湖州 (3305)'s county scores for a quarter",
            "huzhou.evaluator",
            mixed_ops.SCORES,
            {"kind": "REGION", "region": "3305"},
        ),
        "mix_cockpit_province": _mix_scenario(
            "the province's cockpit for a quarter",
            "province.monitor",
            mixed_ops.DASHBOARD,
            {"region": "33"},
        ),
        "mix_cockpit_city": _mix_scenario(
            "湖州 (3305)'s cockpit for a quarter",
            "huzhou.center",
            mixed_ops.DASHBOARD,
            {"region": "3305"},
        ),
    }
)

# --- measuring the server ------------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Stat:
    comm: str
    ppid: int
    cpu: float  # utime + stime, seconds
    reaped: float  # cutime + cstime: children that exited and were waited for


def _stat(pid: int) -> Stat | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    f = raw[raw.rindex(")") + 2 :].split()
    # f[0] is field 3 (state); utime, stime, cutime, cstime are fields 14 to 17.
    return Stat(
        comm,
        int(f[1]),
        (int(f[11]) + int(f[12])) / TICKS,
        (int(f[13]) + int(f[14])) / TICKS,
    )


def _all_stats() -> dict[int, Stat]:
    out: dict[int, Stat] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                out[int(entry)] = st
    return out


def tree_cpu(root: int, reaped: bool = False) -> float:
    """CPU seconds of a process and its live descendants (uvicorn workers). ``reaped``:
    also the children it has reaped (a postmaster's exited backends)."""
    stats = _all_stats()
    total, stack = 0.0, [root]
    if reaped and root in stats:
        total += stats[root].reaped
    while stack:
        pid = stack.pop()
        if pid in stats:
            total += stats[pid].cpu
        stack += [p for p, st in stats.items() if st.ppid == pid]
    return total


def backend_cpu(match: str) -> dict[int, float]:
    """CPU seconds of each live ``postgres`` process whose title contains ``match`` (user
    and database are in a backend's title)."""
    out: dict[int, float] = {}
    for pid, st in _all_stats().items():
        if st.comm != "postgres":
            continue
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if match in title:
            out[pid] = st.cpu
    return out


def backend_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """Backends alive at both ends only: exact when the pool keeps its connections."""
    return sum(after[pid] - before[pid] for pid in before.keys() & after.keys())


async def pg_sessions(database_url: str | None) -> int | None:
    """Sessions ever opened on the database (PostgreSQL ≥ 14): connection churn."""
    if not database_url:
        return None
    import asyncpg  # type: ignore[import-untyped,unused-ignore]

    conn = await asyncpg.connect(database_url)
    try:
        value = await conn.fetchval(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        )
    finally:
        await conn.close()
    return int(value) if value is not None else None


async def sql_statements(client: httpx.AsyncClient) -> float:
    text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith("closedloop_sql_statements_total "):
            return float(line.split()[1])
    raise RuntimeError("closedloop_sql_statements_total not found on /metrics")


# --- load ----------------------------------------------------------------------------------


@dataclass
class Shard:
    """What one client process measured."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0


async def _drive(
    url: str,
    token: str,
    bodies: list[Body],
    connections: int,
    start_at: float,
    seconds: float,
    max_requests: int,
    offset: int,
    flow: str | None = None,
    tokens: dict[str, str] | None = None,
) -> Shard:
    shard = Shard()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    encoded = [json.dumps(b).encode() for b in bodies]
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30.0) as client:
        # Open the connections before the clock starts.
        await asyncio.gather(*(client.get("/healthz") for _ in range(connections)))
        await asyncio.sleep(max(0.0, start_at - time.time()))
        cpu0, wall0 = time.process_time(), time.perf_counter()
        deadline = wall0 + seconds
        issued = 0

        async def worker(k: int) -> None:
            nonlocal issued
            i = offset + k
            while issued < max_requests and time.perf_counter() < deadline:
                issued += 1
                body = encoded[i % len(encoded)]
                i += connections
                t0 = time.perf_counter()
                try:
                    resp = await client.post("/graphql", content=body, headers=headers)
                    ok = resp.status_code == 200 and b'"errors"' not in resp.content
                    if not ok and shard.first_error is None:
                        shard.first_error = f"{resp.status_code} {resp.text[:300]}"
                except httpx.HTTPError as exc:
                    ok = False
                    shard.first_error = shard.first_error or repr(exc)
                shard.latencies.append(time.perf_counter() - t0)
                shard.errors += not ok

        async def chains() -> None:
            assert flow is not None and tokens is not None
            send = _sender(client, tokens, shard)
            while len(shard.latencies) < max_requests and time.perf_counter() < deadline:
                # A failed step is counted by the sender; the next chain starts afresh.
                with contextlib.suppress(FlowError):
                    await FLOWS[flow](send, bodies[0])

        runner = chains if flow else None
        await asyncio.gather(*(runner() if runner else worker(k) for k in range(connections)))
        shard.cpu_seconds = time.process_time() - cpu0
        shard.wall_seconds = time.perf_counter() - wall0
    return shard


def _shard_process(args: tuple[Any, ...]) -> Shard:
    return asyncio.run(_drive(*args))


@dataclass
class Result:
    scenario: str
    connections: int
    processes: int
    seconds: float
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_ms_per_req: float | None
    server_cpu_util: float | None  # cores busy
    postgres_cpu_ms_per_req: float | None  # the whole cluster, exited backends included
    backend_cpu_ms_per_req: float | None  # the API's backends alive throughout
    sql_per_req: float
    new_pg_sessions: int | None  # connections the server opened meanwhile (pool churn)
    client_cpu_util: float  # cores busy, all client processes
    first_error: str | None = None


def _pct(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))] * 1000


async def run_scenario(
    name: str,
    url: str,
    seconds: float,
    max_requests: int,
    connections: int,
    processes: int,
    warmup: float,
    server_pid: int | None,
    pg_pid: int | None = None,
    database_url: str | None = None,
    pg_match: str = "closedloop_app",
) -> Result:
    from closedloop.identity.tokens import mint_token
    from closedloop.settings import Settings

    scenario = SCENARIOS[name]
    settings = Settings()
    token = mint_token(settings, scenario.username)
    tokens = {a: mint_token(settings, a) for a in scenario.accounts} or None
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        bodies = await scenario.prepare(client, token)
        if scenario.flow and tokens:
            await FLOWS[scenario.flow](_sender(client, tokens, None), bodies[0])
            checked: Body = {"flow": scenario.flow, "completed": 1}
        else:
            checked = await _post(client, token, bodies[0])
        print(f"[{name}] {scenario.description}; {len(bodies)} distinct request(s)")
        print(f"[{name}] check: {json.dumps(checked)[:300]}")

        async def load(duration: float, limit: int) -> list[Shard]:
            per = [
                connections // processes + (i < connections % processes) for i in range(processes)
            ]
            start_at = time.time() + 0.5 + 0.2 * processes
            jobs = [
                (
                    url,
                    token,
                    bodies,
                    per[i],
                    start_at,
                    duration,
                    limit // processes,
                    sum(per[:i]),
                    scenario.flow,
                    tokens,
                )
                for i in range(processes)
            ]
            if processes == 1:
                return [await _drive(*jobs[0])]
            ctx = multiprocessing.get_context("spawn")
            loop = asyncio.get_running_loop()
            with ctx.Pool(processes) as pool:
                shards = await loop.run_in_executor(None, pool.map, _shard_process, jobs)
            return list(shards)

        if warmup > 0:
            await load(warmup, max_requests)
        sessions0 = await pg_sessions(database_url)
        sql0 = await sql_statements(client)
        cpu0 = tree_cpu(server_pid) if server_pid else None
        pg0 = tree_cpu(pg_pid, reaped=True) if pg_pid else None
        be0 = backend_cpu(pg_match)
        shards = await load(seconds, max_requests)
        cpu1 = tree_cpu(server_pid) if server_pid else None
        pg1 = tree_cpu(pg_pid, reaped=True) if pg_pid else None
        be1 = backend_cpu(pg_match)
        sql1 = await sql_statements(client)
        sessions1 = await pg_sessions(database_url)
    latencies = sorted(x for s in shards for x in s.latencies)
    n = len(latencies)
    elapsed = max(s.wall_seconds for s in shards)
    server_cpu = (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None
    return Result(
        scenario=name,
        connections=connections,
        processes=processes,
        seconds=round(elapsed, 2),
        requests=n,
        errors=sum(s.errors for s in shards),
        rps=n / elapsed if elapsed else 0.0,
        p50_ms=_pct(latencies, 0.50),
        p95_ms=_pct(latencies, 0.95),
        p99_ms=_pct(latencies, 0.99),
        max_ms=latencies[-1] * 1000 if latencies else float("nan"),
        server_cpu_ms_per_req=server_cpu * 1000 / n if server_cpu is not None and n else None,
        server_cpu_util=server_cpu / elapsed if server_cpu is not None and elapsed else None,
        postgres_cpu_ms_per_req=(
            (pg1 - pg0) * 1000 / n if pg0 is not None and pg1 is not None and n else None
        ),
        backend_cpu_ms_per_req=backend_delta(be0, be1) * 1000 / n if n else None,
        sql_per_req=(sql1 - sql0) / n if n else float("nan"),
        new_pg_sessions=(
            sessions1 - sessions0 - 1 if sessions0 is not None and sessions1 is not None else None
        ),
        client_cpu_util=sum(s.cpu_seconds for s in shards) / elapsed if elapsed else 0.0,
        first_error=next((s.first_error for s in shards if s.first_error), None),
    )


def print_table(results: list[Result]) -> None:
    def f(v: float | int | None, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    head = (
        f"{'scenario':<22} {'conn':>4} {'proc':>4} {'requests':>8} {'err':>4} {'req/s':>7}"
        f" {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} {'srv CPU ms/req':>14}"
        f" {'srv cores':>9} {'PG ms/req':>9} {'backends ms/req':>15} {'SQL/req':>7}"
        f" {'new PG conns':>12}"
        f" {'client cores':>12}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r.scenario:<22} {r.connections:>4} {r.processes:>4} {r.requests:>8} {r.errors:>4}"
            f" {r.rps:>7.1f} {r.p50_ms:>7.1f} {r.p95_ms:>7.1f} {r.p99_ms:>7.1f} {r.max_ms:>7.1f}"
            f" {f(r.server_cpu_ms_per_req, '.2f'):>14} {f(r.server_cpu_util, '.2f'):>9}"
            f" {f(r.postgres_cpu_ms_per_req, '.2f'):>9}"
            f" {f(r.backend_cpu_ms_per_req, '.2f'):>15} {r.sql_per_req:>7.2f}"
            f" {f(r.new_pg_sessions, 'd'):>12}"
            f" {r.client_cpu_util:>12.2f}"
        )
        if r.first_error:
            print(f"  first error: {r.first_error}")


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="server (loopback only)")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=sorted(SCENARIOS),
        help="repeatable; default: county_pool",
    )
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds (≤ 600)")
    parser.add_argument("--max-requests", type=int, default=200_000, help="cap per measured run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--processes", type=int, default=1, help="client processes")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument("--server-pid", type=int, help="server process, for its CPU time")
    parser.add_argument(
        "--pg-pid",
        type=int,
        help="the PostgreSQL postmaster (local), for the cluster's CPU time incl. exited backends",
    )
    parser.add_argument(
        "--pg-match",
        default="closedloop_app",
        help="backends whose process title contains this are the API's (user or database)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="the server's database (default $DATABASE_URL), to count new connections",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--label",
        help="name the results after the server (e.g. floor): 'label:scenario'",
    )
    args = parser.parse_args(argv)
    if not _loopback(args.url) or (
        args.database_url and not _loopback(args.database_url.replace("postgresql", "http", 1))
    ):
        parser.error("the harness only runs against loopback addresses")
    if not 0 < args.duration <= 600 or args.warmup > 120:
        parser.error("--duration must be in (0, 600] and --warmup ≤ 120")
    if not 1 <= args.processes <= args.connections:
        parser.error("need 1 ≤ processes ≤ connections")
    results = []
    for name in args.scenario or ["county_pool"]:
        results.append(
            asyncio.run(
                run_scenario(
                    name,
                    args.url.rstrip("/"),
                    args.duration,
                    args.max_requests,
                    args.connections,
                    args.processes,
                    args.warmup,
                    args.server_pid,
                    args.pg_pid,
                    args.database_url,
                    args.pg_match,
                )
            )
        )
    if args.label:
        for r in results:
            r.scenario = f"{args.label}:{r.scenario}"
    print()
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 1 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
