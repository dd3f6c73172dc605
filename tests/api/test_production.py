"""Production mode: unsafe settings stop the server with every reason listed; with proper
settings the developer conveniences (GraphiQL, introspection, "Did you mean …") are off
unless switched on, a development-secret token is refused, and the demo never seeds."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from starlette.applications import Starlette
from typer.testing import CliRunner

from closedloop.cli.main import app as cli
from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.http.app import Runtime, create_app
from closedloop.identity.tokens import TokenVerifier, mint_token
from closedloop.settings import DEV_JWT_SECRET, Settings, UnsafeSettings

SECRETS = {
    "CLOSEDLOOP_JWT_SECRET": "p" * 48,
    "CLOSEDLOOP_WEBHOOK_SECRET": "w" * 40,
    "DATABASE_URL": "postgresql://closedloop@db.internal/closedloop",
}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> pytest.MonkeyPatch:
    """A process environment with no closedloop settings and no .env file."""
    import os

    for name in list(os.environ):
        if name.startswith("CLOSEDLOOP_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLOSEDLOOP_ENVIRONMENT", "production")
    # ``serve --demo`` sets CLOSEDLOOP_DEMO itself: set here, it is restored afterwards.
    monkeypatch.setenv("CLOSEDLOOP_DEMO", "false")
    # serve configures the process's logging: not the test runner's.
    monkeypatch.setattr("closedloop.cli.serve.configure_logging", lambda *a, **kw: None)
    return monkeypatch


def test_serve_refuses_unsafe_production_settings_and_says_why(
    environment: pytest.MonkeyPatch,
) -> None:
    started: list[dict[str, Any]] = []
    environment.setattr(uvicorn, "run", lambda *a, **kw: started.append(kw))
    result = CliRunner().invoke(cli, ["serve", "--demo"])
    assert result.exit_code == 2
    assert started == []
    for reason in (
        "CLOSEDLOOP_JWT_SECRET is the development secret",
        "CLOSEDLOOP_WEBHOOK_SECRET is the default",
        "DATABASE_URL is not set",
        "CLOSEDLOOP_DEMO is on",
    ):
        assert reason in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_starts_with_proper_production_settings(environment: pytest.MonkeyPatch) -> None:
    started: list[dict[str, Any]] = []
    environment.setattr(uvicorn, "run", lambda *a, **kw: started.append(kw))
    for name, value in SECRETS.items():
        environment.setenv(name, value)
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 0, result.stderr
    assert len(started) == 1
    # One problem is enough to stop it.
    environment.setenv("CLOSEDLOOP_JWT_SECRET", DEV_JWT_SECRET)
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 2
    assert result.stderr.count("\n  - ") == 1
    assert len(started) == 1


def test_seed_demo_is_refused_in_production(environment: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        environment.setenv(name, value)
    result = CliRunner().invoke(cli, ["seed", "demo"])
    assert result.exit_code == 2
    assert "never seeded in production" in result.stderr


def test_the_application_itself_refuses_unsafe_production_settings() -> None:
    unsafe = Settings(
        environment="production", database_url=None, jwt_secret=DEV_JWT_SECRET, demo=False
    )
    with pytest.raises(UnsafeSettings) as refused:
        create_app(unsafe)
    assert len(refused.value.problems) == 3
    # The same settings are fine for development.
    assert unsafe.model_copy(update={"environment": "development"}).problems() == []


def _production(settings: Settings, **over: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "production",
        "jwt_secret": SECRETS["CLOSEDLOOP_JWT_SECRET"],
        "webhook_secret": SECRETS["CLOSEDLOOP_WEBHOOK_SECRET"],
        "database_url": SECRETS["DATABASE_URL"],
        **over,
    }
    return settings.model_copy(update=values)


@pytest.fixture
async def client_for(db: Database, clock: FrozenClock) -> AsyncIterator[Any]:
    clients: list[httpx.AsyncClient] = []

    def make(settings: Settings) -> httpx.AsyncClient:
        app: Starlette = create_app(settings, database=db, clock=clock)
        app.state.runtime = Runtime(settings, db, clock, TokenVerifier(settings))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


TYPO = "{ viewer { usernam } }"
ENUM_TYPO = "query($o: IssueOrder!) { issues(orderBy: $o, first: 1) { totalCount } }"
INTROSPECTION = "{ __schema { queryType { name } } }"


async def _errors(client: httpx.AsyncClient, query: str, token: str, **variables: Any) -> str:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    return " ".join(e["message"] for e in response.json().get("errors", []))


async def test_production_switches_off_graphiql_introspection_and_suggestions(
    settings: Settings, client_for: Any
) -> None:
    prod = _production(settings)
    token = mint_token(prod, "deqing.center")
    dev_token = mint_token(settings, "deqing.center")
    production, development = client_for(prod), client_for(settings)

    page = await production.get("/graphql", headers={"Accept": "text/html"})
    assert "graphiql" not in page.text.lower()
    assert "graphiql" in (await development.get("/graphql", headers={"Accept": "text/html"})).text

    assert "introspection" in (await _errors(production, INTROSPECTION, token)).lower()
    assert await _errors(development, INTROSPECTION, dev_token) == ""

    hidden = await _errors(production, TYPO, token)
    assert "Cannot query field 'usernam'" in hidden and "Did you mean" not in hidden
    assert "Did you mean 'username'" in await _errors(development, TYPO, dev_token)

    # A misspelt enum value in the variables (a query that passed validation).
    hidden = await _errors(production, ENUM_TYPO, token, o="CREATED_AT_DES")
    assert "CREATED_AT_DES" in hidden and "Did you mean" not in hidden
    assert "Did you mean" in await _errors(development, ENUM_TYPO, dev_token, o="CREATED_AT_DES")


async def test_production_conveniences_can_be_switched_on_explicitly(
    settings: Settings, client_for: Any
) -> None:
    prod = _production(settings, introspection=True, field_suggestions=True, graphiql=True)
    client = client_for(prod)
    token = mint_token(prod, "deqing.center")
    assert await _errors(client, INTROSPECTION, token) == ""
    assert "Did you mean 'username'" in await _errors(client, TYPO, token)
    assert "graphiql" in (await client.get("/graphql", headers={"Accept": "text/html"})).text


async def test_a_development_secret_token_is_refused_in_production(
    settings: Settings, client_for: Any
) -> None:
    client = client_for(_production(settings))
    now = int(dt.datetime.now(dt.UTC).timestamp())
    forged = jwt.encode(
        {"sub": "province.center", "aud": "closedloop", "iss": "closedloop"}
        | {"iat": now, "exp": now + 600},
        DEV_JWT_SECRET,
        algorithm="HS256",
    )
    response = await client.post(
        "/graphql",
        json={"query": "{ issues { totalCount } }"},
        headers={"Authorization": f"Bearer {forged}"},
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == "token signature is invalid"
