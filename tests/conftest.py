"""Test fixtures: a real PostgreSQL (the local server via an environment variable, else an
embedded one), migrated and seeded once per session; an in-process HTTP client."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from bench.served import scratch_database
from closedloop.db.database import Database, as_user, make_engine
from closedloop.db.embedded import EmbeddedPostgres
from closedloop.db.migrate import upgrade
from closedloop.domain.clock import FrozenClock
from closedloop.http.app import Runtime, create_app
from closedloop.identity.tokens import TokenVerifier, mint_token
from closedloop.services.demo import DEMO_ENTERPRISES, credit_code, seed_demo
from closedloop.settings import Settings

DEMO_CREDIT = credit_code(DEMO_ENTERPRISES[0].base17)  # 德清地信科技, 330521001
XINSHI_CREDIT = credit_code(DEMO_ENTERPRISES[1].base17)  # 新市丝绸织造, 330521102
T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # a Monday, 09:00 in Beijing


def cost(objects: int) -> dict[str, Any]:
    """The ``extensions`` every accepted answer carries: its query's cost."""
    return {"extensions": {"cost": {"requested": objects, "maximum": Settings().max_query_cost}}}


COST_1 = cost(1)


def _server_url() -> str | None:
    return os.environ.get("CLOSEDLOOP_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh, empty database for this session; dropped (or its server stopped) afterwards."""
    server = _server_url()
    if server is None:
        # Not pytest's tmp_path: concurrent pytest runs prune each other's base temp dirs.
        folder = Path(tempfile.mkdtemp(prefix="closedloop-pg-"))
        embedded = EmbeddedPostgres(folder / "data")
        url = embedded.start(database="closedloop_test")
        yield url
        embedded.stop()
        shutil.rmtree(folder, ignore_errors=True)
        return
    with scratch_database(server, "closedloop_test") as url:
        yield url


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[Database]:
    admin = make_engine(database_url, pool_size=2)
    await upgrade(admin)
    # The API runs as the application role, under row-level security, and the system's
    # work (seeding here, sweeps, the relay, rollups) as the system role, as in production.
    defaults = Settings()
    app_url = as_user(database_url, defaults.app_db_user, None)
    system_url = as_user(database_url, defaults.system_db_user, None)
    database = Database(
        make_engine(app_url, pool_size=5), admin=admin, system=make_engine(system_url, pool_size=3)
    )
    async with database.system_transaction() as conn:
        await seed_demo(conn)
        await conn.commit()
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
def settings() -> Settings:
    # No rate limit: the suite sends far more than an account's budget (tests/api/
    # test_rate_limits.py turns it on).
    return Settings(
        environment="test",
        database_url=None,
        jwt_secret="t" * 40,
        demo=False,
        rate_limit_points=0,
    )


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
async def app(db: Database, settings: Settings, clock: FrozenClock) -> AsyncIterator[Starlette]:
    application = create_app(settings, database=db, clock=clock)
    # httpx's ASGI transport does not run the lifespan: install the runtime directly, with
    # its event bus (account changes reach the principal cache through it).
    runtime = Runtime(settings, db, clock, TokenVerifier(settings))
    bus = runtime.open_bus()
    await bus.start()
    application.state.runtime = runtime
    yield application
    await bus.stop()


class Api:
    """A GraphQL client over HTTP (in-process ASGI) that signs in as a demo account."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    def token(self, username: str) -> str:
        return mint_token(self.settings, username)

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        as_: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        h = dict(headers or {})
        if as_ is not None:
            h["Authorization"] = f"Bearer {self.token(as_)}"
        return await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=h
        )

    async def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        as_: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The ``data`` of a successful response; fails the test on any GraphQL error."""
        response = await self.post(query, variables, as_=as_, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data


@pytest.fixture
async def api(app: Starlette, settings: Settings) -> AsyncIterator[Api]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(client, settings)


ISSUE_TABLES = (
    "issue_event, issue_custody, problem_list_push, outbox, idempotency_key, issue_number, issue"
)


@pytest.fixture
async def clean_issues(db: Database) -> AsyncIterator[None]:
    """Issue tests start from an empty issue library (reference data stays)."""
    async with db.admin.begin() as conn:
        await conn.execute(sa.text(f"TRUNCATE {ISSUE_TABLES} RESTART IDENTITY CASCADE"))
    yield
