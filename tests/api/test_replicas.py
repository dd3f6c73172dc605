"""Streaming replicas (``CLOSEDLOOP_REPLICA_URLS``) on a primary + replica pair this
module starts itself (``initdb``, ``pg_basebackup -R``): lag-tolerant reads (a dashboard,
scores, score history, exports, any query marked ``@lagTolerant``) go to the replica and
say how old their data is; row-level security and the scope tags answer the same there; a
replica that stops, or lags beyond the bound, leaves the reads to the primary without an
error reaching the client."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from closedloop.authz.roles import ANONYMOUS, Principal
from closedloop.db.database import Database, as_user, make_engine
from closedloop.db.migrate import upgrade
from closedloop.db.replicas import ReplicaSet
from closedloop.domain.clock import FrozenClock
from closedloop.http.app import Runtime, create_app
from closedloop.identity.accounts import principal_for
from closedloop.identity.tokens import TokenVerifier
from closedloop.services.demo import seed_demo
from closedloop.services.evaluation.dashboard import _keeper
from closedloop.settings import Settings
from tests.api.issue_helpers import submit
from tests.conftest import T0, Api
from tests.servers import ReplicaPair, replica_pair

DATABASE = "closedloop"
MAX_LAG = 1.0  # seconds
DASHBOARD = """query($r: String!) { dashboard(region: $r, period: "2026-03") {
  asOf freshness { fromReplica asOf } totals { total } } }"""
SCORES = """{ scores(targetKind: REGION, region: "3305", period: "2026-03") {
  freshness { fromReplica asOf } entries { target { key } } } }"""
POOL = """query Pool{tolerant} {{ issues(filter: {{pool: true}}, first: 50) {{
  totalCount edges {{ node {{ id title holdingRegion {{ code }} }} }} }} }}"""


@pytest.fixture(scope="module")
def pair() -> Iterator[ReplicaPair]:
    with replica_pair() as started:
        yield started


@pytest.fixture(scope="module")
async def replicated(pair: ReplicaPair, settings: Settings) -> AsyncIterator[Database]:
    """The demo database on the primary, migrated and seeded; the API's engines on the
    primary, and the replica as the one replica."""
    conn = await asyncpg.connect(pair.primary_url())
    await conn.execute(f"CREATE DATABASE {DATABASE}")
    await conn.close()
    primary = pair.primary_url(DATABASE)
    admin = make_engine(primary, 2)
    await upgrade(admin)
    replica = make_engine(as_user(pair.replica_url(DATABASE), settings.app_db_user, None), 5)
    database = Database(
        make_engine(as_user(primary, settings.app_db_user, None), 5),
        admin=admin,
        system=make_engine(as_user(primary, settings.system_db_user, None), 3),
        replicas=ReplicaSet([replica], max_lag_seconds=MAX_LAG),
    )
    async with database.system_transaction() as tx:
        await seed_demo(tx)
        await tx.commit()
    yield database
    await database.dispose()


async def _in_rotation(db: Database, wanted: bool = True) -> None:
    """Check the replica until it is (or is not) in rotation (it replays asynchronously)."""
    assert db.replicas is not None
    async with asyncio.timeout(60):
        while True:
            await db.replicas.check(db.system)
            if db.replicas.replicas[0].in_rotation is wanted:
                return
            await asyncio.sleep(0.05)


@pytest.fixture
async def api(replicated: Database, settings: Settings) -> AsyncIterator[Api]:
    clock = FrozenClock(T0 + dt.timedelta(days=20))
    application = create_app(settings, database=replicated, clock=clock)
    runtime = Runtime(settings, replicated, clock, TokenVerifier(settings))
    bus = runtime.open_bus()
    await bus.start()
    application.state.runtime = runtime
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(client, settings)
    await bus.stop()


async def _replayed(db: Database, pair: ReplicaPair) -> dt.datetime:
    """Until the replica has replayed everything the primary has written; its last
    replayed commit."""
    async with db.system.connect() as conn:
        # Where the next record goes: past every commit so far, written out or not.
        lsn = await conn.scalar(sa.text("SELECT pg_current_wal_insert_lsn()::text"))
    replica = await asyncpg.connect(pair.replica_url(DATABASE))
    try:
        async with asyncio.timeout(60):
            while not await replica.fetchval(  # noqa: ASYNC110  (another server's state)
                "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", lsn
            ):
                await asyncio.sleep(0.02)
        replayed: dt.datetime = await replica.fetchval("SELECT pg_last_xact_replay_timestamp()")
        return replayed
    finally:
        await replica.close()


async def test_a_dashboard_read_goes_to_the_replica_and_says_how_old_it_is(
    api: Api, replicated: Database, pair: ReplicaPair
) -> None:
    await submit(api)
    # The first read refreshes the rollup slices on the primary (a write): a replica that
    # has not replayed that refresh yet leaves this read to the primary.
    first = (await api.gql(DASHBOARD, {"r": "330521"}, as_="deqing.center"))["dashboard"]
    replayed = await _replayed(replicated, pair)
    await _in_rotation(replicated)
    # A process that has kept nothing yet computes it, on the replica (a kept dashboard
    # says where it was computed).
    _keeper(replicated).forget()
    data = (await api.gql(DASHBOARD, {"r": "330521"}, as_="deqing.center"))["dashboard"]
    assert data["freshness"]["fromReplica"] is True
    assert dt.datetime.fromisoformat(data["freshness"]["asOf"]) >= replayed
    assert data["totals"] == first["totals"] and data["totals"]["total"] >= 1
    scores = (await api.gql(SCORES, as_="huzhou.center"))["scores"]
    assert scores["freshness"]["fromReplica"] is True and scores["entries"]


async def _pool(api: Api, tolerant: bool) -> dict[str, Any]:
    """The county pool as ``xinshi.center``, marked ``@lagTolerant`` or not: the whole
    response (data and extensions)."""
    query = POOL.format(tolerant=" @lagTolerant" if tolerant else "")
    response = await api.post(query, as_="xinshi.center")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body["errors"]
    return body


async def test_a_query_marked_lag_tolerant_reads_the_replica_and_says_how_old_it_is(
    api: Api, replicated: Database, pair: ReplicaPair
) -> None:
    await submit(api)
    replayed = await _replayed(replicated, pair)
    await _in_rotation(replicated)
    plain, tolerant = await _pool(api, False), await _pool(api, True)
    assert "freshness" not in plain.get("extensions", {})  # unmarked: the primary, as ever
    freshness = tolerant["extensions"]["freshness"]
    assert freshness["fromReplica"] is True
    assert dt.datetime.fromisoformat(freshness["asOf"]) >= replayed
    assert tolerant["data"] == plain["data"] and plain["data"]["issues"]["totalCount"] >= 1
    # The replica stops replaying (still in rotation: no check has run since): a new issue
    # is on the primary only. The marked query does not see it, the unmarked one does.
    owner = await asyncpg.connect(pair.replica_url(DATABASE))
    try:
        await owner.execute("SELECT pg_wal_replay_pause()")
        async with asyncio.timeout(30):
            while not await owner.fetchval("SELECT pg_is_wal_replay_paused()"):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        new = await submit(api, title="新厂房消防验收", content="请求指导消防验收")
        count = plain["data"]["issues"]["totalCount"]
        stale, fresh = await _pool(api, True), await _pool(api, False)
        assert stale["extensions"]["freshness"]["fromReplica"] is True
        assert stale["data"]["issues"]["totalCount"] == count
        assert new["id"] not in {e["node"]["id"] for e in stale["data"]["issues"]["edges"]}
        assert fresh["data"]["issues"]["totalCount"] == count + 1
        assert new["id"] in {e["node"]["id"] for e in fresh["data"]["issues"]["edges"]}
    finally:
        await owner.execute("SELECT pg_wal_replay_resume()")
        await owner.close()


async def test_only_a_query_may_be_marked_lag_tolerant(api: Api) -> None:
    response = await api.post(
        'mutation @lagTolerant { submitIssue(input: {title: "x", content: "y"}) { issue { id } } }',
        as_="ent.xinshi-silk",
    )
    body = response.json()
    assert body.get("data") is None
    assert "lagTolerant" in body["errors"][0]["message"]


async def test_an_export_from_the_replica_says_how_old_its_data_is(
    api: Api, replicated: Database, pair: ReplicaPair
) -> None:
    await submit(api)
    url = "/export/dashboard.csv?region=3305&period=2026-03"
    headers = {"Authorization": f"Bearer {api.token('huzhou.center')}"}
    await api.client.get(url, headers=headers)  # refreshes the rollup slices on the primary
    replayed = await _replayed(replicated, pair)
    await _in_rotation(replicated)
    _keeper(replicated).forget()  # computed again (a kept dashboard reads nothing)
    response = await api.client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["x-data-source"] == "replica"
    as_of = dt.datetime.fromisoformat(response.headers["x-data-as-of"])
    assert as_of >= replayed
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    notes = rows[rows.index(["数据说明"]) + 1 :]
    assert notes[0] == ["项目", "内容"]
    assert notes[1] == ["数据来源", "只读副本（replica）"]
    assert dt.datetime.fromisoformat(notes[2][1]) == as_of.replace(microsecond=0)


async def _visible(db: Database, engine: sa.ext.asyncio.AsyncEngine, who: Principal) -> list[int]:
    reader = Database(engine)
    async with reader.read(who) as conn:
        return list((await conn.execute(sa.text("SELECT id FROM issue ORDER BY id"))).scalars())


async def test_row_level_security_and_scope_tags_answer_the_same_on_the_replica(
    api: Api, replicated: Database, pair: ReplicaPair
) -> None:
    await submit(api)
    await submit(api, as_="ent.changxing-battery", title="电池回收", content="回收渠道")
    await _replayed(replicated, pair)
    assert replicated.replicas is not None
    replica = replicated.replicas.replicas[0].engine
    async with replicated.engine.connect() as conn:
        principals = [
            await principal_for(conn, who)
            for who in ("xinshi.center", "changxing.center", "ent.xinshi-silk", "huzhou.center")
        ]
    seen = set()
    for who in [*principals, ANONYMOUS]:
        assert who is not None
        on_primary = await _visible(replicated, replicated.engine, who)
        on_replica = await _visible(replicated, replica, who)
        assert on_replica == on_primary, who.username
        seen.add(len(on_primary))
    assert len(seen) >= 3  # the scopes differ: the comparison is not of empty lists alone
    assert await _visible(replicated, replica, ANONYMOUS) == []


async def test_a_lagging_replica_leaves_its_reads_to_the_primary(
    api: Api, replicated: Database, pair: ReplicaPair
) -> None:
    owner = await asyncpg.connect(pair.replica_url(DATABASE))
    try:
        await owner.execute("SELECT pg_wal_replay_pause()")
        await submit(api)  # the replica does not replay it
        await _in_rotation(replicated, wanted=False)
        data = (await api.gql(DASHBOARD, {"r": "330521"}, as_="deqing.center"))["dashboard"]
        assert data["freshness"]["fromReplica"] is False
    finally:
        await owner.execute("SELECT pg_wal_replay_resume()")
        await owner.close()
    await _in_rotation(replicated)


async def test_stopping_the_replica_moves_reads_to_the_primary_without_an_error(
    api: Api, replicated: Database, pair: ReplicaPair
) -> None:
    # A first read refreshes any rollup slices left dirty (a write on the primary).
    await api.gql(DASHBOARD, {"r": "330521"}, as_="deqing.center")
    await _replayed(replicated, pair)
    await _in_rotation(replicated)
    _keeper(replicated).forget()  # computed again (a kept dashboard reads nothing)
    first = (await api.gql(DASHBOARD, {"r": "330521"}, as_="deqing.center"))["dashboard"]
    assert first["freshness"]["fromReplica"] is True
    pair.stop("replica")
    try:
        # The next read finds the replica gone, takes it out of rotation and is served by
        # the primary: the client sees an answer, not an error (a query marked lag-tolerant,
        # whose probe of the replica fails, as well as a dashboard computed again).
        pool = await _pool(api, True)
        assert pool["extensions"]["freshness"]["fromReplica"] is False
        _keeper(replicated).forget()
        data = (await api.gql(DASHBOARD, {"r": "330521"}, as_="deqing.center"))["dashboard"]
        assert data["freshness"]["fromReplica"] is False
        assert data["totals"] == first["totals"]
        assert replicated.replicas is not None
        assert not replicated.replicas.replicas[0].in_rotation
    finally:
        pair.start("replica")
    await _in_rotation(replicated)
