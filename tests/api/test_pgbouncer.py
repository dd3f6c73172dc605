"""The API behind PgBouncer in transaction mode (``CLOSEDLOOP_PGBOUNCER``): a server
connection is a client's only for one transaction. The core flows run through a PgBouncer
this test starts (fewer server connections than clients, so they pass from client to
client): submit, accept, resolve, rate; the pool page, many at once, each in its caller's
scope; a subscription event (LISTEN goes to PostgreSQL itself). No statement stays
prepared on a server connection, and the session settings reach every transaction."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa

from closedloop.db.database import Database, as_user, make_engine
from closedloop.settings import Settings
from tests.api.issue_helpers import step, submit, unit_id
from tests.conftest import Api
from tests.live import live_server, message, socket, subscribe
from tests.servers import pgbouncer

pytestmark = pytest.mark.usefixtures("clean_issues")

POOL = "{ issues(filter: {pool: true}, first: 50) { totalCount nodes { id number title } } }"
EVENTS = "subscription($id: ID) { issueEvents(issueId: $id) { event { type } } }"


@pytest.fixture(scope="module")
def bouncer_url(database_url: str) -> AsyncIterator[str]:
    with pgbouncer(database_url) as url:
        yield url


@pytest.fixture
async def bounced(
    bouncer_url: str, database_url: str, settings: Settings
) -> AsyncIterator[Database]:
    """The API's engines through PgBouncer; the event bus listens on the server itself."""

    def engine(user: str | None, pool: int, timeout: float = 0.0) -> sa.ext.asyncio.AsyncEngine:
        url = as_user(bouncer_url, user, None) if user else bouncer_url
        return make_engine(url, pool, statement_timeout_seconds=timeout, pgbouncer=True)

    database = Database(
        engine(settings.app_db_user, 8, settings.request_timeout_seconds),
        admin=engine(None, 2),
        system=engine(settings.system_db_user, 3),
        listen_url=as_user(database_url, settings.app_db_user, None),
    )
    yield database
    await database.dispose()


async def test_the_issue_loop_pool_pages_and_a_subscription_through_pgbouncer(
    bounced: Database, settings: Settings
) -> None:
    async with (
        live_server(settings, bounced) as server,
        httpx.AsyncClient(base_url=server.url, timeout=60) as http,
    ):
        api = Api(http, settings)
        issue = await submit(api)
        async with socket(server, api.token("xinshi.center")) as ws:
            await subscribe(ws, EVENTS, {"id": issue["id"]})
            bus = server.runtime.bus
            assert bus is not None
            while not bus.subscribers:  # noqa: ASYNC110  (a count, no event to wait on)
                await asyncio.sleep(0.01)
            issue = await step(api, "acceptIssue", issue, "xinshi.center")
            pushed = await message(ws)
        assert pushed["payload"]["data"]["issueEvents"]["event"]["type"] == "ACCEPTED"

        talent = await unit_id(api, "330521102", "boards", "TALENT")
        issue = await step(
            api, "triageIssue", issue, "xinshi.center", category="APPEAL", boardId=talent
        )
        issue = await step(api, "startIssue", issue, "xinshi.talent")
        issue = await step(api, "resolveIssue", issue, "xinshi.talent", reply="已办结")
        issue = await step(api, "rateIssue", issue, "ent.xinshi-silk", grade="SATISFIED")
        assert issue["state"] == "CLOSED" and issue["rating"] == "SATISFIED"

        # Pool pages, many at once over few server connections, each in its scope: the
        # town sees its issues, a sibling county none of them.
        await submit(api)
        await submit(api, as_="ent.xinshi-silk", title="用电扩容", content="申请增容")
        callers = ["xinshi.center", "changxing.center"] * 15
        pages = await asyncio.gather(*(api.gql(POOL, as_=who) for who in callers))
        for who, page in zip(callers, pages, strict=True):
            expected = 2 if who == "xinshi.center" else 0
            assert page["issues"]["totalCount"] == expected, (who, page)


async def test_no_statement_stays_prepared_and_settings_reach_each_transaction(
    bounced: Database, settings: Settings
) -> None:
    from closedloop.authz.roles import ANONYMOUS

    for _ in range(3):
        async with bounced.read(ANONYMOUS) as conn:
            prepared = await conn.scalar(sa.text("SELECT count(*) FROM pg_prepared_statements"))
            timeout = await conn.scalar(sa.text("SHOW statement_timeout"))
            jit = await conn.scalar(sa.text("SHOW jit"))
        assert prepared == 0
        assert timeout == f"{round(settings.request_timeout_seconds * 1000)}ms" or timeout == (
            f"{round(settings.request_timeout_seconds)}s"
        )
        assert jit == "off"
    async with bounced.reader(ANONYMOUS) as reader:
        rows = await reader.driver.fetch("SHOW work_mem")
    assert rows[0][0] == "64MB"
    async with bounced.system_transaction() as conn:
        assert await conn.scalar(sa.text("SHOW jit")) == "off"


def test_pgbouncer_needs_a_listen_url() -> None:
    problems = Settings(pgbouncer=True, database_url="postgresql://x@h/db").problems()
    assert any("CLOSEDLOOP_LISTEN_DATABASE_URL" in p for p in problems)
    assert not Settings(
        pgbouncer=True,
        database_url="postgresql://x@h/db",
        listen_database_url="postgresql://x@h2/db",
    ).problems()
    json.dumps(problems)
