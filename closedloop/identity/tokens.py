"""JWT bearer tokens: HS256 with a shared secret in development, RS256 via JWKS in production."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import jwt

from closedloop.settings import Settings


class TokenError(Exception):
    """A token that is present but unusable (answers HTTP 401)."""


MAX_VERIFIED = 10_000


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._jwks = (
            jwt.PyJWKClient(settings.jwks_url, cache_keys=True) if settings.jwks_url else None
        )
        # Tokens whose signature, audience and issuer have been checked, with their claims:
        # a client sends the same token with every request, and checking the signature
        # again each time costs more than a small GraphQL query. The time claims are
        # checked on every use.
        self._verified: dict[str, dict[str, Any]] = {}

    def verify(self, token: str) -> dict[str, Any]:
        claims = self._verified.get(token)
        if claims is not None and _current(claims, time.time()):
            return claims
        claims = self._verify(token)
        if len(self._verified) >= MAX_VERIFIED:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            if self._jwks is not None:
                key: Any = self._jwks.get_signing_key_from_jwt(token).key
                algorithms = ["RS256"]
            else:
                key = self.settings.jwt_secret
                algorithms = ["HS256"]
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                options={"require": ["exp", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("token expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenError("token audience is not accepted") from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenError("token issuer is not accepted") from exc
        except jwt.InvalidSignatureError as exc:
            raise TokenError("token signature is invalid") from exc
        except jwt.PyJWKClientError as exc:
            raise TokenError(f"token signing key not found: {exc}") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"token is invalid: {exc}") from exc
        return claims


def _current(claims: dict[str, Any], now: float) -> bool:
    """Still inside the window pyjwt checked: not expired, not before ``nbf`` or ``iat``."""
    return bool(claims["exp"] > now and claims.get("nbf", 0) <= now and claims.get("iat", 0) <= now)


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
