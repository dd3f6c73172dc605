"""The pages: built assets (``closedloop/web``, from ``web/``) served without Node, the
offline GraphiQL page, and sign-in support (``/auth/config``, ``/auth/demo-token``)."""

from __future__ import annotations

import datetime as dt
import gzip
import mimetypes
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable

import orjson
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from closedloop import i18n
from closedloop.authz.roles import Role
from closedloop.db import tables as t
from closedloop.identity.tokens import mint_token
from closedloop.services.demo import DEMO_ENTERPRISES, DEMO_STAFF
from closedloop.settings import Settings

# Vite names every asset after its content: cache for a year. Pages always revalidate.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
PAGES = ("/cockpit", "/track", "/workbench")
CALLBACK_PATH = "/signin/callback"


def web_root() -> Traversable:
    return resources.files("closedloop").joinpath("web")


@lru_cache(maxsize=64)
def _read(name: str) -> bytes | None:
    """A built file's bytes (page or asset); None when it is not part of the build."""
    node = web_root()
    for part in name.split("/"):
        if part in ("", ".", "..") or part.startswith("."):
            return None
        node = node.joinpath(part)
    return node.read_bytes() if node.is_file() else None


@lru_cache(maxsize=64)
def _gzipped(name: str) -> bytes | None:
    """The file compressed once (mtime 0: the same bytes every time)."""
    body = _read(name)
    return None if body is None else gzip.compress(body, 9, mtime=0)


def _file(name: str, cache: str, accept_encoding: str) -> Response:
    body = _read(name)
    if body is None:
        return Response("not found", status_code=404, media_type="text/plain")
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    text = media.startswith("text/") or media in ("application/javascript", "image/svg+xml")
    if text:
        media += "; charset=utf-8"
    headers = {"Cache-Control": cache, "Vary": "Accept-Encoding"}
    if text and "gzip" in accept_encoding.lower() and len(body) > 1024:
        zipped = _gzipped(name)
        if zipped is not None and len(zipped) < len(body):
            headers["Content-Encoding"] = "gzip"
            body = zipped
    return Response(body, media_type=media, headers=headers)


def graphiql_page() -> HTMLResponse:
    """GraphiQL bundled into the package (no CDN): works offline and on an intranet."""
    body = _read("graphiql.html")
    if body is None:  # the build is missing: say so rather than a blank page
        return HTMLResponse("GraphiQL is not built (npm run build in web/)", status_code=404)
    return HTMLResponse(body, headers={"Cache-Control": REVALIDATE})


async def page(request: Request) -> Response:
    """Every page path answers with the single-page app; it routes on the path."""
    return _file("index.html", REVALIDATE, request.headers.get("accept-encoding", ""))


async def static(request: Request) -> Response:
    name: str = request.path_params["path"]
    hashed = name.startswith("assets/")
    cache = IMMUTABLE if hashed else REVALIDATE
    return _file(name, cache, request.headers.get("accept-encoding", ""))


def demo_tokens_allowed(settings: Settings) -> bool:
    """Demo sign-in mints tokens without a password: only a development server run with
    ``--demo`` may do that."""
    return settings.demo and settings.environment == "development" and not settings.jwks_url


DEMO_USERNAMES = frozenset([e.key for e in DEMO_ENTERPRISES] + [s.username for s in DEMO_STAFF])


async def auth_config(request: Request) -> Response:
    """What the sign-in page offers: the demo accounts, or the OIDC provider."""
    settings: Settings = request.app.state.runtime.settings
    locale = i18n.negotiate(request.headers.get("accept-language"))
    accounts: list[dict[str, str | None]] = []
    if demo_tokens_allowed(settings):
        names = await _region_names(request, {s.region_code for s in DEMO_STAFF})
        accounts = [
            {
                "username": s.username,
                "displayName": s.display_name,
                "role": s.role.value,
                "roleLabel": i18n.label(s.role, locale, "Role"),
                "regionName": names.get(s.region_code),
            }
            for s in DEMO_STAFF
        ] + [
            {
                "username": e.key,
                "displayName": e.name,
                "role": Role.ENTERPRISE.value,
                "roleLabel": i18n.label(Role.ENTERPRISE, locale, "Role"),
                "regionName": None,
            }
            for e in DEMO_ENTERPRISES
        ]
    oidc = None
    if settings.oidc_authorization_endpoint and settings.oidc_token_endpoint:
        oidc = {
            "authorizationEndpoint": settings.oidc_authorization_endpoint,
            "tokenEndpoint": settings.oidc_token_endpoint,
            "clientId": settings.oidc_client_id,
            "scope": settings.oidc_scope,
            "tokenField": settings.oidc_token_field,
        }
    return JSONResponse(
        {"demo": bool(accounts), "accounts": accounts, "oidc": oidc},
        headers={"Cache-Control": "no-store"},
    )


async def _region_names(request: Request, codes: set[str]) -> dict[str, str]:
    db = request.app.state.runtime.db
    async with db.read_reference() as conn:
        rows = await conn.execute(
            sa.select(t.region.c.code, t.region.c.name).where(t.region.c.code.in_(codes))
        )
        return {code: name for code, name in rows}


async def demo_token(request: Request) -> Response:
    """A token for a demo account — only on a development server started with --demo."""
    settings: Settings = request.app.state.runtime.settings
    if not demo_tokens_allowed(settings):
        return JSONResponse({"error": "demo sign-in is off"}, status_code=403)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        body = None
    username = body.get("username") if isinstance(body, dict) else None
    if not isinstance(username, str) or username not in DEMO_USERNAMES:
        return JSONResponse({"error": "username: not a demo account"}, status_code=400)
    ttl = dt.timedelta(minutes=settings.token_ttl_minutes)
    return JSONResponse(
        {"token": mint_token(settings, username, ttl), "expiresIn": int(ttl.total_seconds())},
        headers={"Cache-Control": "no-store"},
    )


routes = [
    *[Route(p, page) for p in PAGES],
    *[Route(p + "/{rest:path}", page) for p in PAGES],
    Route(CALLBACK_PATH, page),
    Route("/static/{path:path}", static),
    Route("/auth/config", auth_config),
    Route("/auth/demo-token", demo_token, methods=["POST"]),
]
