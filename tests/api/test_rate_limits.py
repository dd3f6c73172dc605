"""Rate limiting in cost points per window: per account, per client address for anonymous
and failed-authentication traffic; 429 with ``Retry-After`` and ``X-RateLimit-*``; the
counters in the process, or shared in Redis when ``CLOSEDLOOP_REDIS_URL`` is set."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from limits.aio.storage import RedisStorage
from starlette.applications import Starlette

from closedloop.db.database import SQL_STATEMENTS, Database
from closedloop.domain.clock import FrozenClock
from closedloop.http.app import Runtime, create_app
from closedloop.identity.accounts import principal_for
from closedloop.identity.tokens import TokenVerifier, mint_token
from closedloop.services.rate_limit import RateLimiter, account_key
from closedloop.settings import Settings
from tests.conftest import Api

POOL = "{ issues(filter: {pool: true}, first: 50) { nodes { id board { name } } } }"  # 3 points
REDIS_URL = os.environ.get("CLOSEDLOOP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@asynccontextmanager
async def app_client(
    settings: Settings, db: Database, clock: FrozenClock
) -> AsyncIterator[httpx.AsyncClient]:
    """An app on ``settings`` with its event bus (as conftest's: accounts stay cached)."""
    app: Starlette = create_app(settings, database=db, clock=clock)
    runtime = Runtime(settings, db, clock, TokenVerifier(settings))
    bus = runtime.open_bus()
    await bus.start()
    app.state.runtime = runtime
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client
    finally:
        await bus.stop()


@pytest.fixture
async def limited(db: Database, settings: Settings, clock: FrozenClock) -> AsyncIterator[Api]:
    budget = settings.model_copy(update={"rate_limit_points": 10, "rate_limit_address_points": 5})
    async with app_client(budget, db, clock) as client:
        yield Api(client, budget)


def _statements() -> float:
    return float(SQL_STATEMENTS._value.get())


async def test_an_account_spends_its_points_then_gets_429(limited: Api) -> None:
    first = await limited.post(POOL, as_="xinshi.center")
    assert first.status_code == 200, first.text
    cost = first.json()["extensions"]["cost"]["requested"]
    assert cost == 1 + 50 + 50
    assert first.headers["X-RateLimit-Limit"] == "10"
    assert first.headers["X-RateLimit-Remaining"] == "8"  # 101 objects: 2 points
    assert int(first.headers["X-RateLimit-Reset"]) > 0
    for remaining in (6, 4, 2, 0):
        ok = await limited.post(POOL, as_="xinshi.center")
        assert ok.status_code == 200 and ok.headers["X-RateLimit-Remaining"] == str(remaining)
    before = _statements()
    refused = await limited.post(POOL, as_="xinshi.center")
    assert _statements() == before  # refused before any SQL (the account was cached)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert refused.json()["data"] is None
    # Another account has its own budget.
    other = await limited.post(POOL, as_="deqing.center")
    assert other.status_code == 200


async def test_anonymous_traffic_spends_its_address_budget(limited: Api) -> None:
    statuses = [(await limited.post("{ viewer { isAnonymous } }")).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


async def test_bad_signatures_are_throttled_per_address(
    db: Database, settings: Settings, clock: FrozenClock
) -> None:
    """500 requests with a badly signed token: 401 until the address's budget (100 points
    by default, one per failed authentication) is spent, then 429; no SQL at all."""
    assert settings.rate_limit_address_points == 100
    on = settings.model_copy(update={"rate_limit_points": 1_000})
    forged = mint_token(Settings(jwt_secret="x" * 40), "xinshi.center")
    async with app_client(on, db, clock) as client:
        before = _statements()
        statuses = []
        for _ in range(500):
            response = await client.post(
                "/graphql",
                json={"query": "{ viewer { username } }"},
                headers={"Authorization": f"Bearer {forged}"},
            )
            statuses.append(response.status_code)
        assert _statements() == before
    assert statuses[:100] == [401] * 100
    assert statuses[100:] == [429] * 400
    assert "Retry-After" in response.headers


async def _redis_answers() -> bool:
    host, _, port = REDIS_URL.removeprefix("redis://").split("/")[0].partition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port or 6379)), 1)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def _redis_delete(key: str) -> None:
    """``DEL key`` over a connection of its own, closed after the answer."""
    host, _, port = REDIS_URL.removeprefix("redis://").split("/")[0].partition(":")
    reader, writer = await asyncio.open_connection(host, int(port or 6379))
    try:
        raw = key.encode()
        writer.write(b"*2\r\n$3\r\nDEL\r\n$%d\r\n%s\r\n" % (len(raw), raw))
        await writer.drain()
        assert (await reader.readline()).startswith(b":")  # the count of keys deleted
    finally:
        writer.close()
        await writer.wait_closed()


async def test_redis_shares_the_budget_across_processes(
    db: Database, settings: Settings, clock: FrozenClock
) -> None:
    """Two apps (two processes' worth of state) on one Redis spend one budget."""
    if not await _redis_answers():
        pytest.skip(f"no Redis answers at {REDIS_URL} (set CLOSEDLOOP_TEST_REDIS_URL)")
    shared = settings.model_copy(
        update={
            "rate_limit_points": 6,
            "redis_url": REDIS_URL,
            # A window of its own per run, so that earlier runs' counters do not count.
            "rate_limit_window_seconds": 3600 + uuid.uuid4().int % 1000,
        }
    )
    # Redis outlives the run: an earlier run that drew the same window left its counter
    # (seen: 429 on the first request). Start this account's budget from zero.
    async with db.read_reference() as conn:
        talent = await principal_for(conn, "xinshi.talent")
    assert talent is not None and talent.account_id is not None
    await _redis_delete(
        f"{RedisStorage.PREFIX}:{RateLimiter(shared).account.key_for(account_key(talent.account_id))}"
    )
    async with app_client(shared, db, clock) as one, app_client(shared, db, clock) as two:
        a, b = Api(one, shared), Api(two, shared)
        assert (await a.post(POOL, as_="xinshi.talent")).status_code == 200  # 2 of 6
        assert (await b.post(POOL, as_="xinshi.talent")).status_code == 200  # 4 of 6
        last = await a.post(POOL, as_="xinshi.talent")
        assert last.status_code == 200 and last.headers["X-RateLimit-Remaining"] == "0"
        assert (await b.post(POOL, as_="xinshi.talent")).status_code == 429


@pytest.mark.usefixtures("clean_issues")
async def test_subscriptions_run_with_the_rate_limiter_on(
    api: Api, db: Database, clock: FrozenClock, settings: Settings
) -> None:
    """A subscription spends its points once, at the start (no HTTP response to carry the
    headers), and then receives its events."""
    from closedloop import i18n
    from closedloop.http.app import url_of
    from closedloop.http.schema import build_schema
    from closedloop.schema.context import Context
    from closedloop.services.event_bus import EventBus
    from tests.api.issue_helpers import step, submit

    on = settings.model_copy(update={"rate_limit_points": 10})
    schema = build_schema(on)
    bus = EventBus(url_of(db))
    await bus.start()
    try:
        issue = await submit(api)
        async with db.read_reference() as conn:
            principal = await principal_for(conn, "xinshi.center")
        assert principal is not None
        context = Context(principal, db, clock, on, i18n.ZH, bus=bus)
        stream = await schema.subscribe(
            "subscription { issueEvents { event { type } } }", context_value=context
        )

        async def first() -> Any:
            async for result in stream:  # type: ignore[union-attr]
                return result

        task = asyncio.create_task(first())
        await asyncio.sleep(0.2)
        await step(api, "acceptIssue", issue, "xinshi.center")
        result = await asyncio.wait_for(task, 10)
        assert not result.errors, result.errors
        assert result.data["issueEvents"]["event"]["type"] == "ACCEPTED"
        assert schema.limiter is not None and principal.account_id is not None
        left = await schema.limiter.spend(account_key(principal.account_id), 0)
        assert left.remaining == 9  # the subscription's one point
    finally:
        await bus.stop()


async def test_an_unreachable_redis_lets_requests_through(settings: Settings) -> None:
    from closedloop.services.rate_limit import RateLimiter

    down = settings.model_copy(update={"rate_limit_points": 5, "redis_url": "redis://127.0.0.1:1"})
    limiter = RateLimiter(down)
    decision = await asyncio.wait_for(limiter.spend(account_key(1), 3), 10)
    assert decision.allowed and decision.limit == 5
