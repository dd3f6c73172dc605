"""``issueEvents``: timeline entries pushed through LISTEN/NOTIFY, in the subscriber's scope."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from closedloop import i18n
from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.http.app import GraphQLApp, Runtime, url_of
from closedloop.http.schema import build_schema
from closedloop.identity.accounts import principal_for
from closedloop.identity.tokens import TokenVerifier, mint_token
from closedloop.schema.context import Context
from closedloop.services.event_bus import EventBus
from closedloop.settings import Settings
from tests.api.engine_events import statements
from tests.api.issue_helpers import step, submit
from tests.conftest import Api
from tests.live import until

pytestmark = pytest.mark.usefixtures("clean_issues")

SUBSCRIBE = """subscription($id: ID) { issueEvents(issueId: $id) {
  issue { number } event { type public } } }"""


@pytest.fixture
async def bus(db: Database) -> AsyncIterator[EventBus]:
    events = EventBus(url_of(db))
    await events.start()
    yield events
    await events.stop()


async def _context(
    db: Database, clock: FrozenClock, settings: Settings, bus: EventBus, username: str
) -> Context:
    async with db.read_reference() as conn:
        principal = await principal_for(conn, username)
    assert principal is not None
    return Context(
        principal=principal, db=db, clock=clock, settings=settings, locale=i18n.ZH, bus=bus
    )


async def _collect(stream: Any, n: int) -> list[dict[str, Any]]:
    out = []
    async for result in stream:
        assert not result.errors, result.errors
        out.append(result.data["issueEvents"])
        if len(out) == n:
            break
    return out


async def test_events_reach_subscribers_in_their_scope_only(
    api: Api, db: Database, clock: FrozenClock, settings: Settings, bus: EventBus
) -> None:
    schema = build_schema(settings)
    issue = await submit(api)
    staff = await schema.subscribe(
        SUBSCRIBE, context_value=await _context(db, clock, settings, bus, "xinshi.center")
    )
    enterprise = await schema.subscribe(
        SUBSCRIBE, context_value=await _context(db, clock, settings, bus, "ent.xinshi-silk")
    )
    sibling = await schema.subscribe(
        SUBSCRIBE, context_value=await _context(db, clock, settings, bus, "changxing.center")
    )
    staff_task = asyncio.create_task(_collect(staff, 2))
    ent_task = asyncio.create_task(_collect(enterprise, 1))
    sibling_task = asyncio.create_task(_collect(sibling, 1))
    await asyncio.sleep(0.2)  # let the subscriptions start listening
    issue = await step(api, "addIssueNote", issue, "xinshi.center", text="内部研判", public=False)
    await step(api, "acceptIssue", issue, "xinshi.center")
    staff_seen = await asyncio.wait_for(staff_task, 10)
    ent_seen = await asyncio.wait_for(ent_task, 10)
    assert [e["event"]["type"] for e in staff_seen] == ["NOTE", "ACCEPTED"]
    assert [e["event"]["type"] for e in ent_seen] == ["ACCEPTED"]  # no internal notes
    await asyncio.sleep(0.3)
    assert not sibling_task.done()  # the sibling county hears nothing
    sibling_task.cancel()


async def test_websocket_connections_authenticate_in_connection_init(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    from starlette.applications import Starlette
    from strawberry.exceptions import ConnectionRejectionError

    view = GraphQLApp(build_schema(settings))

    class FakeRequest:
        app = Starlette()

    FakeRequest.app.state.runtime = Runtime(settings, db, clock, TokenVerifier(settings))
    ctx = Context(
        principal=await _anonymous(),
        db=db,
        clock=clock,
        settings=settings,
        locale=i18n.ZH,
        request=FakeRequest(),
    )
    ctx.connection_params = {"Authorization": f"Bearer {mint_token(settings, 'deqing.center')}"}
    await view.on_ws_connect(ctx)
    assert ctx.principal.username == "deqing.center"
    ctx.connection_params = {"Authorization": "Bearer nope"}
    with pytest.raises(ConnectionRejectionError):
        await view.on_ws_connect(ctx)


async def _anonymous() -> Any:
    from closedloop.authz.roles import ANONYMOUS

    return ANONYMOUS


async def _mutation_cost(
    api: Api, db: Database, clock: FrozenClock, settings: Settings, bus: EventBus, n: int
) -> int:
    """Statements from one command until its event reached ``n`` in-scope subscribers; an
    out-of-scope subscriber receives nothing."""
    schema = build_schema(settings)
    issue = await submit(api)
    watchers = [
        asyncio.create_task(
            _collect(
                await schema.subscribe(
                    SUBSCRIBE,
                    context_value=await _context(db, clock, settings, bus, "xinshi.center"),
                ),
                1,
            )
        )
        for _ in range(n)
    ]
    outsider = asyncio.create_task(
        _collect(
            await schema.subscribe(
                SUBSCRIBE,
                context_value=await _context(db, clock, settings, bus, "changxing.center"),
            ),
            1,
        )
    )
    await until(lambda: bus.subscribers == n + 1)
    await asyncio.sleep(0.1)  # every subscriber has read where it starts
    await api.gql("{ viewer { username } }", as_="xinshi.center")  # the account is known
    with statements(db) as sent:
        await step(api, "acceptIssue", issue, "xinshi.center")
        seen = await asyncio.wait_for(asyncio.gather(*watchers), 20)
    assert all(
        s == [{"issue": {"number": issue["number"]}, "event": {"type": "ACCEPTED", "public": True}}]
        for s in seen
    )
    await asyncio.sleep(0.2)
    assert not outsider.done()  # the sibling county hears nothing
    outsider.cancel()
    await until(lambda: bus.subscribers == 0)
    return len(sent)


async def test_a_mutation_costs_the_same_statements_whatever_the_subscribers(
    api: Api, db: Database, clock: FrozenClock, settings: Settings, bus: EventBus
) -> None:
    """The feed reads a command's new events once per process and fans them out: one
    subscriber or twenty in scope, the same statements."""
    one = await _mutation_cost(api, db, clock, settings, bus, 1)
    twenty = await _mutation_cost(api, db, clock, settings, bus, 20)
    assert one == twenty
