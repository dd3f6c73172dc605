"""Browser tests: the served pages in a real headless Chromium (Debian's ``chromium``,
driven by Playwright; never a browser download) against a live server on the test
database with the demo accounts.

Skipped, with the reason, when Playwright or chromium is missing (``.ci/run`` installs
both). ``CLOSEDLOOP_SCREENSHOTS=DIR`` saves each page's screenshot there (docs/screenshots).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from bench.served import free_port
from closedloop.db.database import Database
from closedloop.http.app import create_app
from closedloop.identity.tokens import mint_token
from closedloop.settings import Settings

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    sync_playwright = None

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture(scope="session")
def chromium() -> str:
    if sync_playwright is None:
        pytest.skip("browser tests need Playwright: pip install -e '.[browser]'")
    path = chromium_path()
    if path is None:
        pytest.skip("browser tests need chromium: apt-get install chromium (no downloads)")
    return path


@dataclass
class Live:
    """The live server and a GraphQL client for setting the scene."""

    url: str
    settings: Settings

    def token(self, username: str) -> str:
        return mint_token(self.settings, username)

    def gql(self, query: str, variables: dict[str, Any] | None = None, *, as_: str) -> Any:
        r = httpx.post(
            self.url + "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {self.token(as_)}"},
            timeout=30,
        )
        body = r.json()
        assert r.status_code == 200 and "errors" not in body, body
        return body["data"]

    def do(self, name: str, input_: dict[str, Any], *, as_: str) -> dict[str, Any]:
        """Run an issue mutation; fails on a typed error; the issue's id and version."""
        input_type = name[0].upper() + name[1:] + "Input"
        query = (
            f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ "
            "issue { id version state } errors { code message } } }"
        )
        payload = self.gql(query, {"input": input_}, as_=as_)[name]
        assert payload["errors"] == [], payload["errors"]
        issue: dict[str, Any] = payload["issue"]
        return issue

    def step(self, name: str, issue: dict[str, Any], *, as_: str, **extra: Any) -> dict[str, Any]:
        return self.do(
            name, {"id": issue["id"], "expectedVersion": issue["version"], **extra}, as_=as_
        )


@pytest.fixture(scope="session")
def live(chromium: str, db: Database, database_url: str) -> Iterator[Live]:
    """The app served by uvicorn in a thread, as ``closedloop serve --demo`` runs it (its own
    engines, event bus and LISTEN connection), on the suite's migrated, seeded database."""
    settings = Settings(
        environment="development",
        database_url=database_url,
        demo=True,
        jwt_secret="b" * 40,
        sweep_interval_seconds=0,
        relay_interval_seconds=0,
        rate_limit_points=0,  # the scene-setting client makes many requests from one address
    )
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    yield Live(f"http://127.0.0.1:{port}", settings)
    server.should_exit = True
    thread.join(timeout=30)


# Module scope: Playwright's sync API runs its own loop in this thread while it is open;
# it must be closed before any later module's asyncio tests run.
@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    assert sync_playwright is not None
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Any]:
    """Pages in a fresh context each (no shared storage), closed after the test."""
    contexts = []

    def make(width: int = 1280, height: int = 900) -> Page:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)  # a shared, loaded 2-core machine
        return page

    yield make
    for context in contexts:
        context.close()


def sign_in(page: Page, live: Live, path: str, account: str) -> None:
    page.goto(live.url + path)
    page.click(f"[data-account='{account}']")
    page.wait_for_selector("header.nav")


def screenshot(page: Page, name: str) -> None:
    folder = os.environ.get("CLOSEDLOOP_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
