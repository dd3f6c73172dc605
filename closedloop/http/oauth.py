"""``POST /oauth/token``: OAuth 2.0 client credentials (RFC 6749 §4.4) for channel systems.

The client authenticates with HTTP Basic (``client_secret_basic``, RFC 6749 §2.3.1: id and
secret form-urlencoded, then base64) or with ``client_id`` and ``client_secret`` in the body
(``client_secret_post``). The body is ``application/x-www-form-urlencoded`` (the standard)
or JSON (what many government gateways send). The answer is
``{"access_token", "token_type": "Bearer", "expires_in"}`` with ``Cache-Control: no-store``;
failures are RFC 6749 §5.2 errors. A failed client authentication spends a point of the
client address's rate-limit budget, like a bad bearer token."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import orjson
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from closedloop.http.throttle import throttled_failure
from closedloop.services.channels.clients import InvalidClient, issue_token

log = structlog.get_logger("closedloop")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _error(status: int, error: str, description: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={**NO_STORE, **headers},
    )


def _form(body: bytes, content_type: str) -> dict[str, str] | None:
    """The body's parameters (each given once), or None when it cannot be read."""
    try:
        if content_type.startswith("application/json"):
            data: Any = orjson.loads(body or b"{}")
            if not isinstance(data, dict):
                return None
            return {str(k): v for k, v in data.items() if isinstance(v, str)}
        parsed = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
    except (ValueError, UnicodeDecodeError):
        return None
    if any(len(values) > 1 for values in parsed.values()):
        return None  # RFC 6749 §3.2: parameters must not be repeated
    return {k: v[0] for k, v in parsed.items()}


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (unquote_plus(client_id), unquote_plus(secret)) if sep else None


async def token(request: Request) -> Response:
    form = _form(await request.body(), request.headers.get("content-type", ""))
    if form is None:
        return _error(400, "invalid_request", "the body is not a form (or JSON object)")
    if form.get("grant_type") != "client_credentials":
        return _error(400, "unsupported_grant_type", "only grant_type=client_credentials")
    basic = _basic(request.headers.get("authorization"))
    in_body = form.get("client_id"), form.get("client_secret")
    if basic is not None and any(in_body):
        return _error(400, "invalid_request", "authenticate the client one way only")
    client_id, secret = basic or in_body
    if not client_id or not secret:
        return _error(401, "invalid_client", "client credentials required", **_CHALLENGE)
    runtime = request.app.state.runtime
    try:
        access_token, ttl = await issue_token(runtime.db, runtime.settings, client_id, secret)
    except InvalidClient:
        log.info("oauth.invalid_client", client_id=client_id[:128])
        throttled = await throttled_failure(request.scope)
        if throttled is not None:
            return throttled
        return _error(401, "invalid_client", "client authentication failed", **_CHALLENGE)
    log.info("oauth.token_issued", client_id=client_id)
    return JSONResponse(
        {"access_token": access_token, "token_type": "Bearer", "expires_in": ttl},
        headers=NO_STORE,
    )


_CHALLENGE = {"WWW-Authenticate": 'Basic realm="closedloop"'}

routes = [Route("/oauth/token", token, methods=["POST"])]
