"""Bearer authentication: anonymous, bad tokens (401, never 500), and RS256 via a JWKS."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette

from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.http.app import Runtime, create_app
from closedloop.identity.tokens import TokenVerifier, mint_token
from closedloop.settings import Settings
from tests.conftest import Api

VIEWER = "{ viewer { isAnonymous username } }"


def _claims(settings: Settings, **over: Any) -> dict[str, Any]:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    base = {
        "sub": "deqing.center",
        "aud": settings.jwt_audience,
        "iss": settings.jwt_issuer,
        "iat": now,
        "exp": now + 600,
    }
    base.update(over)
    return base


async def _post(api: Api, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return await api.client.post("/graphql", json={"query": VIEWER}, headers=headers)


async def test_valid_token_signs_in(api: Api, settings: Settings) -> None:
    response = await _post(api, mint_token(settings, "deqing.center"))
    assert response.json()["data"]["viewer"] == {"isAnonymous": False, "username": "deqing.center"}


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong_signature", "signature"),
        ("expired", "expired"),
        ("wrong_audience", "audience"),
        ("wrong_issuer", "issuer"),
        ("unknown_account", "unknown"),
        ("garbage", "malformed"),
    ],
)
async def test_bad_tokens_get_401_with_a_clear_message(
    api: Api, settings: Settings, case: str, message: str
) -> None:
    secret = settings.jwt_secret
    tokens = {
        "wrong_signature": jwt.encode(_claims(settings), "x" * 40, algorithm="HS256"),
        "expired": jwt.encode(_claims(settings, exp=1_000), secret, algorithm="HS256"),
        "wrong_audience": jwt.encode(_claims(settings, aud="other"), secret, algorithm="HS256"),
        "wrong_issuer": jwt.encode(_claims(settings, iss="other"), secret, algorithm="HS256"),
        "unknown_account": jwt.encode(_claims(settings, sub="nobody"), secret, algorithm="HS256"),
        "garbage": "not.a.token",
    }
    response = await _post(api, tokens[case])
    assert response.status_code == 401
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert message in body["errors"][0]["message"]


async def test_wrong_scheme_is_401(api: Api) -> None:
    response = await api.client.post(
        "/graphql", json={"query": VIEWER}, headers={"Authorization": "Basic abc"}
    )
    assert response.status_code == 401


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[tuple[str, Any]]:
    """A JWKS endpoint on loopback, standing in for an external identity provider."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "k1", "use": "sig", "alg": "RS256"})
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/jwks.json", key
    server.shutdown()
    server.server_close()


async def test_rs256_tokens_verified_against_jwks(
    db: Database, settings: Settings, clock: FrozenClock, jwks_server: tuple[str, Any]
) -> None:
    url, key = jwks_server
    rs_settings = settings.model_copy(update={"jwks_url": url})
    app: Starlette = create_app(rs_settings, database=db, clock=clock)
    app.state.runtime = Runtime(rs_settings, db, clock, TokenVerifier(rs_settings))
    good = jwt.encode(_claims(rs_settings), key, algorithm="RS256", headers={"kid": "k1"})
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(_claims(rs_settings), other_key, algorithm="RS256", headers={"kid": "k1"})
    hs = mint_token(rs_settings, "deqing.center")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        ok = await client.post(
            "/graphql", json={"query": VIEWER}, headers={"Authorization": f"Bearer {good}"}
        )
        assert ok.json()["data"]["viewer"]["username"] == "deqing.center"
        for bad in (forged, hs):
            response = await client.post(
                "/graphql", json={"query": VIEWER}, headers={"Authorization": f"Bearer {bad}"}
            )
            assert response.status_code == 401
