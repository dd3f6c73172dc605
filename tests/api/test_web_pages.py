"""The pages the package serves: the single-page app on its paths, hashed assets with a
long cache, GraphiQL from the package (no CDN, off with the setting), and demo sign-in
only on a development server run with --demo."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.applications import Starlette

from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.http.app import Runtime, create_app
from closedloop.identity.tokens import TokenVerifier
from closedloop.settings import Settings, UnsafeSettings

# Hosts that appear in the bundled scripts as text, never fetched: XML namespaces that
# React and CodeMirror hand to createElementNS, and links in messages or the GraphiQL UI
# that only open when a person clicks them. A host outside this list fails the test.
TEXT_ONLY_HOSTS = {
    "www.w3.org",  # SVG / MathML / XLink / XML namespace identifiers
    "react.dev",  # React's production error messages
    "github.com",  # GraphiQL's "about" link
    "codemirror.net",  # a key-map help link
    "commonmark.org",  # markdown help link
    "en.wikipedia.org",  # graphql-js's comment on float limits (string literal)
    "yarnpkg.com",  # GraphiQL's duplicate-graphql warning text
    "",  # "http://" + a host the page configures (its own origin), joined at run time
}
URL = re.compile(rb"""https?://([A-Za-z0-9.\-]*)""")
# Any way a page or stylesheet could load something from another host.
LOADS = re.compile(
    rb"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//"""
    rb"""|url\(\s*["']?(?:https?:)?//"""
    rb"""|@import\s+["']?(?:https?:)?//"""
    rb"""|import\s*\(?\s*["'](?:https?:)?//"""
    rb"""|from\s*["'](?:https?:)?//"""
)


def make_app(db: Database, clock: FrozenClock, **overrides: object) -> Starlette:
    settings = Settings(
        environment="test", database_url=None, jwt_secret="t" * 40, demo=False
    ).model_copy(update=overrides)
    application = create_app(settings, database=db, clock=clock)
    application.state.runtime = Runtime(settings, db, clock, TokenVerifier(settings))
    return application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as c:
        yield c


def asset_paths(html: bytes) -> list[str]:
    return [m.decode() for m in re.findall(rb"""(?:src|href)="(/static/[^"]+)\"""", html)]


async def test_pages_answer_with_the_app(client: httpx.AsyncClient) -> None:
    for path in ("/cockpit", "/cockpit/330521", "/track", "/workbench", "/workbench/SXNzdWU6MQ=="):
        r = await client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["cache-control"] == "no-cache"
        assert b'<div id="root">' in r.content
    assets = asset_paths((await client.get("/cockpit")).content)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for path in assets:
        r = await client.get(path)
        assert r.status_code == 200, path
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert r.headers["content-type"].split(";")[0] in ("text/javascript", "text/css")


async def test_static_files_stay_inside_the_build(client: httpx.AsyncClient) -> None:
    for path in (
        "/static/assets/nope.js",
        "/static/../settings.py",
        "/static/assets/../../settings.py",
        "/static/%2e%2e/settings.py",
        "/static/.hidden",
    ):
        assert (await client.get(path)).status_code == 404, path


async def fetch_tree(client: httpx.AsyncClient, html: bytes) -> dict[str, bytes]:
    """The page's assets and every chunk they import, by path."""
    seen: dict[str, bytes] = {}
    todo = asset_paths(html)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        r = await client.get(path)
        assert r.status_code == 200, path
        seen[path] = r.content
        for name in re.findall(rb"""["'`]\./([A-Za-z0-9_\-]+\.(?:js|css))["'`]""", r.content):
            todo.append("/static/assets/" + name.decode())
    return seen


async def test_graphiql_is_served_from_the_package(client: httpx.AsyncClient) -> None:
    r = await client.get("/graphql", headers={"Accept": "text/html"})
    assert r.status_code == 200
    html = r.content
    assert b'id="graphiql"' in html
    assert not URL.search(html), "the GraphiQL page names an http(s) URL"
    assert not LOADS.search(html)
    files = await fetch_tree(client, html)
    assert any(p.endswith(".css") for p in files) and len(files) > 3
    hosts: set[str] = set()
    for path, body in files.items():
        assert not LOADS.search(body), (path, LOADS.search(body))
        hosts |= {h.decode() for h in URL.findall(body)}
    assert hosts <= TEXT_ONLY_HOSTS, hosts - TEXT_ONLY_HOSTS


async def test_graphiql_follows_the_setting(db: Database, clock: FrozenClock) -> None:
    app = make_app(db, clock, graphiql=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await c.get("/graphql", headers={"Accept": "text/html"})
    assert b'id="graphiql"' not in r.content
    assert r.status_code != 200


async def test_demo_sign_in_only_in_development_with_demo(db: Database, clock: FrozenClock) -> None:
    cases = {
        ("development", True): True,
        ("development", False): False,
        ("test", True): False,
    }
    # A production server with --demo does not start at all.
    with pytest.raises(UnsafeSettings):
        make_app(db, clock, environment="production", demo=True)
    for (environment, demo), allowed in cases.items():
        app = make_app(db, clock, environment=environment, demo=demo)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            config = (await c.get("/auth/config")).json()
            r = await c.post("/auth/demo-token", json={"username": "deqing.center"})
            if not allowed:
                assert r.status_code == 403, (environment, demo)
                assert "token" not in r.json()
                assert config["demo"] is False and config["accounts"] == []
                continue
            assert r.status_code == 200
            assert config["demo"] is True
            assert {"deqing.center", "ent.xinshi-silk"} <= {
                a["username"] for a in config["accounts"]
            }
            token = r.json()["token"]
            who = await c.post(
                "/graphql",
                json={"query": "{ viewer { username } }"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert who.json()["data"]["viewer"]["username"] == "deqing.center"
            for bad in ({"username": "nobody"}, {"username": 3}, {}, []):
                r = await c.post("/auth/demo-token", json=bad)
                assert r.status_code == 400 and "username" in r.json()["error"]
            r = await c.post("/auth/demo-token", content=b"{not json")
            assert r.status_code == 400


async def test_oidc_settings_reach_the_sign_in_page(db: Database, clock: FrozenClock) -> None:
    app = make_app(
        db,
        clock,
        oidc_authorization_endpoint="https://id.example.gov.cn/authorize",
        oidc_token_endpoint="https://id.example.gov.cn/token",
        oidc_client_id="portal",
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        config = (await c.get("/auth/config")).json()
    assert config["oidc"] == {
        "authorizationEndpoint": "https://id.example.gov.cn/authorize",
        "tokenEndpoint": "https://id.example.gov.cn/token",
        "clientId": "portal",
        "scope": "openid profile",
        "tokenField": "access_token",
    }
    assert urlsplit(config["oidc"]["authorizationEndpoint"]).scheme == "https"
