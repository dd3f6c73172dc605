"""Token hardening through HTTP: malformed tokens are a plain 401, a subject that is no
account name is a 401 (never a 500), lifetimes beyond the maximum and clock skew beyond
the leeway are refused, and the identity provider's keys are fetched off the event loop."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette

from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.http.app import Runtime, create_app
from closedloop.identity import tokens
from closedloop.identity.tokens import TokenVerifier
from closedloop.settings import Settings
from tests.api.idp_helpers import Provider, provider_fixture  # noqa: F401 (a fixture)
from tests.conftest import Api

VIEWER = "{ viewer { isAnonymous username } }"
PLAIN = {
    "token is malformed",
    "token signature is invalid",
    "token algorithm is not accepted",
    "token is invalid",
}


def _now() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp())


def _claims(settings: Settings, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sub": "deqing.center",
        "aud": settings.jwt_audience,
        "iss": settings.jwt_issuer,
        "iat": _now(),
        "exp": _now() + 600,
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _signed(settings: Settings, header: bytes, payload: bytes) -> str:
    """A token with arbitrary header and payload bytes and a valid HS256 signature."""
    signing_input = f"{_b64(header)}.{_b64(payload)}"
    sig = jwt.algorithms.HMACAlgorithm(jwt.algorithms.HMACAlgorithm.SHA256).sign(
        signing_input.encode(), settings.jwt_secret.encode()
    )
    return f"{signing_input}.{_b64(sig)}"


async def _post(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(
        "/graphql", json={"query": VIEWER}, headers={"Authorization": f"Bearer {token}"}
    )


def _malformed(settings: Settings) -> dict[str, str]:
    hs = b'{"alg":"HS256","typ":"JWT"}'
    good = json.dumps(_claims(settings)).encode()
    none, rs256 = b'{"alg":"none"}', b'{"alg":"RS256"}'
    return {
        "one part": "abc",
        "two parts": "abc.def",
        "four parts": "a.b.c.d",
        "header not utf-8": f"{_b64(bytes([0xB7, 0xFF, 0xFE]))}.{_b64(good)}.c2ln",
        "header not json": f"{_b64(b'{not json')}.{_b64(good)}.c2ln",
        "header a list": f"{_b64(b'[1,2]')}.{_b64(good)}.c2ln",
        "payload not utf-8": _signed(settings, hs, b"\xb7\xb7\xb7"),
        "payload a list": _signed(settings, hs, b"[1, 2]"),
        "payload a string": _signed(settings, hs, b'"deqing.center"'),
        "bad base64": "!!!.@@@.###",
        "alg none": f"{_b64(none)}.{_b64(good)}.",
        "alg RS256 with the secret": f"{_b64(rs256)}.{_b64(good)}.c2ln",
        "exp a string": _signed(
            settings, hs, json.dumps(_claims(settings, exp="tomorrow")).encode()
        ),
        "huge": "a" * 5000 + ".b.c",
    }


@pytest.mark.parametrize("case", list(_malformed(Settings(jwt_secret="t" * 40))))
async def test_malformed_tokens_are_a_plain_401(api: Api, settings: Settings, case: str) -> None:
    response = await _post(api.client, _malformed(settings)[case])
    assert response.status_code == 401, response.text
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["message"] in PLAIN | {"token lacks the required claim 'exp'"}, error
    for internal in ("codec", "utf-8", "byte", "Expecting", "Invalid", "padding"):
        assert internal not in error["message"]


@pytest.mark.parametrize(
    "sub",
    ["deqing\x00.center", "\x00", "", "deqing.center\n", "a" * 500, 42, ["deqing.center"], None],
    ids=["nul inside", "nul only", "empty", "newline", "too long", "number", "list", "missing"],
)
async def test_a_subject_that_is_no_account_name_is_401(
    api: Api, settings: Settings, sub: object
) -> None:
    claims = _claims(settings)
    if sub is None:
        del claims["sub"]
    else:
        claims["sub"] = sub
    token = _signed(settings, b'{"alg":"HS256","typ":"JWT"}', json.dumps(claims).encode())
    response = await _post(api.client, token)
    assert response.status_code == 401, response.text
    message = response.json()["errors"][0]["message"]
    assert "sub" in message


async def test_a_token_valid_until_the_year_3000_is_refused(api: Api, settings: Settings) -> None:
    year_3000 = int(dt.datetime(3000, 1, 1, tzinfo=dt.UTC).timestamp())
    for claims in (_claims(settings, exp=year_3000), _claims(settings, exp=year_3000, iat=None)):
        token = jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
        response = await _post(api.client, token)
        assert response.status_code == 401
        assert "lifetime" in response.json()["errors"][0]["message"]


async def _client(settings: Settings, db: Database, clock: FrozenClock) -> httpx.AsyncClient:
    app: Starlette = create_app(settings, database=db, clock=clock)
    app.state.runtime = Runtime(settings, db, clock, TokenVerifier(settings))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_maximum_lifetime_is_configurable(
    db: Database, settings: Settings, clock: FrozenClock
) -> None:
    two_hours = settings.model_copy(
        update={"max_token_lifetime_minutes": 120, "token_ttl_minutes": 60}
    )
    async with await _client(two_hours, db, clock) as client:
        for lifetime, status in ((110 * 60, 200), (130 * 60, 401)):
            with_iat = _claims(settings, iat=_now() - 60, exp=_now() - 60 + lifetime)
            without_iat = _claims(settings, iat=None, exp=_now() + lifetime)
            for claims in (with_iat, without_iat):
                token = jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
                assert (await _post(client, token)).status_code == status, claims


async def test_clock_skew_leeway_is_configurable(
    db: Database, settings: Settings, clock: FrozenClock
) -> None:
    just_expired = _claims(settings, exp=_now() - 10, iat=_now() - 600)
    issued_ahead = _claims(settings, iat=_now() + 10, exp=_now() + 600)
    for leeway, status in ((30, 200), (0, 401)):
        skewed = settings.model_copy(update={"jwt_leeway_seconds": leeway})
        async with await _client(skewed, db, clock) as client:
            for claims in (just_expired, issued_ahead):
                token = jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
                assert (await _post(client, token)).status_code == status, (leeway, claims)


async def test_verifier_forgets_a_subjects_tokens(settings: Settings) -> None:
    verifier = TokenVerifier(settings)
    mine = jwt.encode(_claims(settings), settings.jwt_secret, algorithm="HS256")
    other = jwt.encode(_claims(settings, sub="huzhou.center"), settings.jwt_secret, "HS256")
    await verifier.verify(mine)
    await verifier.verify(other)
    assert verifier.forget("deqing.center") == 1
    assert verifier.forget("deqing.center") == 0
    assert verifier.forget("huzhou.center") == 1


# --- JWKS -----------------------------------------------------------------------------


def _rs(settings: Settings, key: rsa.RSAPrivateKey, kid: str) -> str:
    return jwt.encode(_claims(settings), key, algorithm="RS256", headers={"kid": kid})


async def test_a_cold_jwks_fetch_does_not_block_the_event_loop(
    db: Database, settings: Settings, clock: FrozenClock, provider: Provider
) -> None:
    key = provider.add_key("k1")
    provider.hold = True
    rs = settings.model_copy(update={"jwks_url": provider.url})

    async def let_go() -> None:
        # Runs on the event loop: it can only release the provider if the fetch that
        # the request is waiting for leaves the loop free.
        await asyncio.to_thread(provider.hit.wait, 10)
        provider.release.set()

    async with await _client(rs, db, clock) as client:
        response, _ = await asyncio.gather(_post(client, _rs(rs, key, "k1")), let_go())
    assert provider.released_in_time is True
    assert response.json()["data"]["viewer"]["username"] == "deqing.center"


async def test_an_unknown_key_id_refetches_the_keys_once(
    db: Database,
    settings: Settings,
    clock: FrozenClock,
    provider: Provider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = provider.add_key("k1")
    rs = settings.model_copy(update={"jwks_url": provider.url})
    async with await _client(rs, db, clock) as client:
        assert (await _post(client, _rs(rs, first, "k1"))).status_code == 200
        assert provider.fetches == 1
        # Rotated at the provider: a token with the new key id refetches the set.
        monkeypatch.setattr(tokens, "JWKS_REFRESH_SECONDS", 0.0)
        second = provider.add_key("k2")
        assert (await _post(client, _rs(rs, second, "k2"))).status_code == 200
        assert provider.fetches == 2
        # Made-up key ids inside the refresh interval do not reach the provider.
        monkeypatch.setattr(tokens, "JWKS_REFRESH_SECONDS", 3600.0)
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        for kid in ("k3", "k4", "k5"):
            response = await _post(client, _rs(rs, stranger, kid))
            assert response.status_code == 401
            assert "signing key" in response.json()["errors"][0]["message"]
        assert provider.fetches == 2
        # A token signed by a stranger under a known key id: its signature is refused.
        forged = await _post(client, _rs(rs, stranger, "k1"))
        assert forged.json()["errors"][0]["message"] == "token signature is invalid"
        no_kid = jwt.encode(_claims(rs), first, algorithm="RS256")
        assert (await _post(client, no_kid)).status_code == 401


async def test_an_unreachable_provider_is_503_not_401(
    db: Database, settings: Settings, clock: FrozenClock, provider: Provider
) -> None:
    key = provider.add_key("k1")
    provider.status = 500
    rs = settings.model_copy(update={"jwks_url": provider.url})
    async with await _client(rs, db, clock) as client:
        response = await _post(client, _rs(rs, key, "k1"))
    assert response.status_code == 503
    assert response.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
