"""JWT bearer tokens: HS256 with a shared secret in development, RS256 via JWKS in production.

Every way a token can be unusable is a ``TokenError`` with a plain message of our own
(HTTP 401): the library's messages can quote internals ("'utf-8' codec can't decode byte
0xb7"), so they are never passed on. A token must name an account (a short printable
``sub``), and may not live longer than ``max_token_lifetime_minutes``.

A channel system's access token (``mint_channel_token``, issued by the client-credentials
endpoint) is HS256 under a key derived from ``jwt_secret`` for that purpose alone, with its
own issuer (``channel_token_issuer``): the issuer picks the key and the one algorithm,
whether or not an external identity provider signs everyone else's tokens.

The identity provider's keys (JWKS) are fetched asynchronously with httpx and kept by key
id; a token signed with a key id not seen yet refetches the set, at most once per
``JWKS_REFRESH_SECONDS`` (so a stream of made-up key ids cannot hammer the provider).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import secrets
import time
from typing import Any

import cachetools
import httpx
import jwt

from closedloop.settings import Settings


class TokenError(Exception):
    """A token that is present but unusable (answers HTTP 401)."""


class KeysUnavailable(Exception):
    """The identity provider's keys cannot be fetched (answers HTTP 503: not the caller's
    fault, and a client must not take it for a rejected token)."""


MAX_VERIFIED = 10_000
MAX_SUBJECT_LENGTH = 128
JWKS_REFRESH_SECONDS = 30.0
JWKS_TIMEOUT_SECONDS = 5.0

_MESSAGES: list[tuple[type[jwt.InvalidTokenError], str]] = [
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token is not valid yet"),
    (jwt.InvalidAudienceError, "token audience is not accepted"),
    (jwt.InvalidIssuerError, "token issuer is not accepted"),
    (jwt.InvalidSignatureError, "token signature is invalid"),
    (jwt.InvalidAlgorithmError, "token algorithm is not accepted"),
    (jwt.InvalidIssuedAtError, "token issued-at time (iat) is not a number"),
    (jwt.exceptions.InvalidSubjectError, "token subject (sub) is not an account name"),
    (jwt.DecodeError, "token is malformed"),
]


def plain_message(exc: jwt.InvalidTokenError) -> str:
    """Our message for a library error (its own text is never shown)."""
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"token lacks the required claim '{exc.claim}'"
    for kind, message in _MESSAGES:
        if isinstance(exc, kind):
            return message
    return "token is invalid"


class JwksKeys:
    """The provider's signing keys by key id, fetched without blocking the event loop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -JWKS_REFRESH_SECONDS
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK:
        found = self._keys.get(kid)
        if found is not None:
            return found
        async with self._lock:
            found = self._keys.get(kid)  # fetched while this caller waited
            if found is None and time.monotonic() - self._fetched_at >= JWKS_REFRESH_SECONDS:
                await self._refresh()
                found = self._keys.get(kid)
        if found is None:
            raise TokenError("token signing key is not known to the identity provider")
        return found

    async def _refresh(self) -> None:
        try:
            async with httpx.AsyncClient(timeout=JWKS_TIMEOUT_SECONDS) as client:
                response = await client.get(self.url)
                response.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            raise KeysUnavailable("the identity provider's keys cannot be fetched") from exc
        self._fetched_at = time.monotonic()
        self._keys = {k.key_id: k for k in keys.keys if k.key_id}


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._jwks = JwksKeys(settings.jwks_url) if settings.jwks_url else None
        # Tokens whose signature, audience, issuer and lifetime have been checked, with
        # their claims: a client sends the same token with every request, and checking the
        # signature again each time costs more than a small GraphQL query. The time claims
        # are checked on every use. The least recently used goes first when it is full.
        self._verified: cachetools.LRUCache[str, dict[str, Any]] = cachetools.LRUCache(MAX_VERIFIED)

    async def verify(self, token: str) -> dict[str, Any]:
        claims = self._verified.get(token)
        if claims is not None and _current(claims, time.time(), self.settings.jwt_leeway_seconds):
            return claims
        claims = await self._verify(token)
        self._verified[token] = claims
        return claims

    def external(self, claims: dict[str, Any]) -> bool:
        """Whether the token comes from the external identity provider (not a channel
        system's token, not a development token)."""
        return self._jwks is not None and claims["iss"] != self.settings.channel_token_issuer

    def account_name(self, claims: dict[str, Any]) -> str:
        """The account a verified token names: ``idp_account_claim`` for the identity
        provider's tokens, ``sub`` for ours."""
        name: str = claims[self.settings.idp_account_claim if self.external(claims) else "sub"]
        return name

    def forget(self, subject: str) -> int:
        """Drops every verified token of account ``subject`` (its account changed): the
        next use is checked again. Returns how many were dropped."""
        stale = [
            token
            for token, claims in self._verified.items()
            if self.account_name(claims) == subject
        ]
        for token in stale:
            del self._verified[token]
        return len(stale)

    def clear(self) -> None:
        """Forgets every verified token: each is checked again at its next use."""
        self._verified.clear()

    async def _verify(self, token: str) -> dict[str, Any]:
        settings = self.settings
        issuer = settings.jwt_issuer
        try:
            if _unverified_issuer(token) == settings.channel_token_issuer:
                key: Any = channel_token_key(settings)
                algorithms = ["HS256"]
                issuer = settings.channel_token_issuer
            elif self._jwks is not None:
                kid = jwt.get_unverified_header(token).get("kid")
                if not isinstance(kid, str):
                    raise TokenError("token header names no signing key (kid)")
                key = await self._jwks.key(kid)
                algorithms = ["RS256"]
            else:
                key = settings.jwt_secret
                algorithms = ["HS256"]
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=settings.jwt_audience,
                issuer=issuer,
                leeway=settings.jwt_leeway_seconds,
                options={"require": ["exp", "sub", "aud", "iss"]},
            )
        except jwt.InvalidTokenError as exc:
            raise TokenError(plain_message(exc)) from None
        except jwt.PyJWTError as exc:  # a key that does not fit the algorithm, say
            raise TokenError("token is invalid") from exc
        _check_subject(claims["sub"])
        if self.external(claims) and settings.idp_account_claim != "sub":
            claim = settings.idp_account_claim
            if not _is_account_name(claims.get(claim)):
                raise TokenError(f"token claim '{claim}' does not name an account")
        _check_lifetime(claims, time.time(), settings.max_token_lifetime_minutes * 60)
        return claims


def _unverified_issuer(token: str) -> object:
    """The ``iss`` a token claims, read before its signature is checked: it only chooses
    which key and algorithm must then verify it."""
    try:
        return jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        return None  # the real check reports it


def channel_token_key(settings: Settings) -> bytes:
    """The key of channel systems' tokens, derived from ``jwt_secret`` (a development token
    signed with the secret itself never passes for one)."""
    return hmac.new(
        settings.jwt_secret.encode(), b"closedloop channel access tokens", hashlib.sha256
    ).digest()


CREDENTIALS_CLAIM = "crd"


def mint_channel_token(
    settings: Settings, username: str, client_id: str, credentials: str | None
) -> tuple[str, int]:
    """A channel system's access token and its lifetime in seconds. ``credentials``: the
    fingerprint of the secret it is issued under (``Principal.credentials``); the token
    signs the account in only while that secret is the current one."""
    now = int(time.time())
    ttl = settings.channel_token_ttl_minutes * 60
    claims = {
        "sub": username,
        "client_id": client_id,
        "aud": settings.jwt_audience,
        "iss": settings.channel_token_issuer,
        "iat": now,
        "exp": now + ttl,
        "jti": secrets.token_urlsafe(12),
        CREDENTIALS_CLAIM: credentials,
    }
    return jwt.encode(claims, channel_token_key(settings), algorithm="HS256"), ttl


def _is_account_name(value: object) -> bool:
    """A short string of printable characters (no NUL, no controls)."""
    return (
        isinstance(value, str)
        and bool(value)
        and len(value) <= MAX_SUBJECT_LENGTH
        and value.isprintable()
    )


def _check_subject(sub: object) -> None:
    if not _is_account_name(sub):
        raise TokenError("token subject (sub) is not an account name")


def _check_lifetime(claims: dict[str, Any], now: float, limit: float) -> None:
    exp, iat = claims["exp"], claims.get("iat")
    start = iat if isinstance(iat, int | float) else now
    if exp - start > limit:
        raise TokenError(f"token lifetime exceeds the maximum of {int(limit // 60)} minutes")


def _current(claims: dict[str, Any], now: float, leeway: float) -> bool:
    """Still inside the window pyjwt checked: not expired, not before ``nbf`` or ``iat``."""
    return bool(
        claims["exp"] > now - leeway
        and claims.get("nbf", 0) <= now + leeway
        and claims.get("iat", 0) <= now + leeway
    )


def mint_token(settings: Settings, username: str, ttl: dt.timedelta | None = None) -> str:
    """A development token (HS256) for an account."""
    now = dt.datetime.now(dt.UTC)
    ttl = ttl or dt.timedelta(minutes=settings.token_ttl_minutes)
    claims = {
        "sub": username,
        "aud": settings.jwt_audience,
        "iss": settings.jwt_issuer,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
