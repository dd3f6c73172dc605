"""The HTTP surface: health, readiness, metrics, limits, masking, introspection, CORS."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.http.app import Runtime, create_app
from closedloop.identity.tokens import TokenVerifier
from closedloop.services import tenancy
from closedloop.settings import Settings
from tests.conftest import Api


async def test_healthz_and_readyz(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["migrations"] == "head"


async def test_metrics_exposes_request_counters(api: Api) -> None:
    await api.client.get("/healthz")
    text = (await api.client.get("/metrics")).text
    assert "closedloop_http_requests_total" in text


async def test_graphiql_on_get(api: Api) -> None:
    response = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_depth_limit(api: Api) -> None:
    deep = '{ region(code: "33") { ' + "children { " * 14 + "code" + " }" * 14 + " } }"
    body = (await api.post(deep, as_="admin")).json()
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_DEEP"


async def test_alias_limit(api: Api) -> None:
    many = "{ " + " ".join(f"a{i}: viewer {{ username }}" for i in range(40)) + " }"
    body = (await api.post(many, as_="admin")).json()
    assert body["errors"][0]["extensions"]["code"] == "TOO_MANY_ALIASES"


async def test_token_limit(api: Api) -> None:
    huge = "{ viewer { " + " ".join(["username"] * 5000) + " } }"
    body = (await api.post(huge, as_="admin")).json()
    assert body["errors"][0]["extensions"]["code"] == "TOO_MANY_TOKENS"


async def test_batching_is_off(api: Api) -> None:
    response = await api.client.post("/graphql", json=[{"query": "{ viewer { username } }"}] * 2)
    assert response.status_code == 400


async def _client_for(settings: Settings, db: Database, clock: FrozenClock) -> httpx.AsyncClient:
    app: Starlette = create_app(settings, database=db, clock=clock)
    app.state.runtime = Runtime(settings, db, clock, TokenVerifier(settings))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_unexpected_errors_are_masked(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    async def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("SELECT secret FROM internals")

    monkeypatch.setattr(tenancy, "list_regions", fail)
    response = await api.post("{ regions { totalCount } }", as_="admin")
    text = response.text
    assert "Unexpected error" in text
    assert "secret" not in text and "Traceback" not in text


async def test_introspection_can_be_switched_off(
    db: Database, settings: Settings, clock: FrozenClock
) -> None:
    off = settings.model_copy(update={"introspection": False})
    async with await _client_for(off, db, clock) as client:
        response = await client.post("/graphql", json={"query": "{ __schema { types { name } } }"})
    assert "introspection" in response.text.lower()
    async with await _client_for(settings, db, clock) as client:
        response = await client.post("/graphql", json={"query": "{ __schema { types { name } } }"})
    assert response.json()["data"]["__schema"]["types"]


async def test_cors_origins_are_configurable(
    db: Database, settings: Settings, clock: FrozenClock
) -> None:
    portal = settings.model_copy(update={"cors_origins": ["https://portal.example"]})
    async with await _client_for(portal, db, clock) as client:
        response = await client.options(
            "/graphql",
            headers={
                "Origin": "https://portal.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert response.headers["access-control-allow-origin"] == "https://portal.example"
        other = await client.options(
            "/graphql",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in other.headers
