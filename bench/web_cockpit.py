"""Cockpit first load in headless chromium: bytes transferred, time to the first chart,
GraphQL requests; and the built bundle's gzipped size.

    DATABASE_URL=... closedloop serve --demo --port 8731   # a running server with data
    .venv/bin/python -m bench.web_cockpit --url http://127.0.0.1:8731 --runs 5

Each run is a fresh browser context (empty cache): open /cockpit, pick the demo account,
wait for the first chart to finish drawing. Figures are medians over the runs.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Request, sync_playwright

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WEB = Path(__file__).resolve().parent.parent / "closedloop" / "web"


def bundle_gzip(page: str) -> tuple[int, int]:
    """Raw and gzipped bytes of the JS and CSS a built page loads (entry + preloads)."""
    html = (WEB / page).read_text("utf-8")
    raw = zipped = 0
    for name in re.findall(r'(?:src|href)="/static/(assets/[^"]+\.(?:js|css))"', html):
        body = (WEB / name).read_bytes()
        raw += len(body)
        zipped += len(gzip.compress(body, 9, mtime=0))
    return raw, zipped


def one_run(browser: Browser, url: str, account: str) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    transferred = {"bytes": 0}
    graphql = {"n": 0}

    def finished(event: dict[str, Any]) -> None:
        transferred["bytes"] += int(event.get("encodedDataLength", 0))

    cdp.on("Network.loadingFinished", finished)

    def request(r: Request) -> None:
        if r.url.endswith("/graphql") and r.method == "POST":
            graphql["n"] += 1

    page.on("request", request)
    page.goto(url + "/cockpit")
    page.wait_for_selector(f"[data-account='{account}']")
    signin_ready = page.evaluate("performance.now()")
    clicked = page.evaluate("performance.now()")
    page.click(f"[data-account='{account}']")
    page.wait_for_function("window.__closedloopFirstChart !== undefined", timeout=30_000)
    first_chart = page.evaluate("window.__closedloopFirstChart")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)
    result = {
        "signin_page_ms": signin_ready,
        "click_to_first_chart_ms": first_chart - clicked,
        "bytes": transferred["bytes"],
        "graphql_posts": graphql["n"],
    }
    context.close()
    return result


def gql(url: str, token: str, query: str, variables: dict[str, Any]) -> Any:
    body = json.dumps({"query": query, "variables": variables}).encode()
    req = urllib.request.Request(
        url + "/graphql",
        body,
        {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())["data"]


def demo_token(url: str, username: str) -> str:
    body = json.dumps({"username": username}).encode()
    req = urllib.request.Request(
        url + "/auth/demo-token", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req) as r:
        token: str = json.loads(r.read())["token"]
        return token


MUTATE = (
    """mutation($input: %sInput!) { %s(input: $input) { issue { id version } errors { code } } }"""
)


def act(url: str, token: str, name: str, input_: dict[str, Any]) -> dict[str, Any]:
    kind = name[0].upper() + name[1:]
    out = gql(url, token, MUTATE % (kind, name), {"input": input_})[name]
    assert out["errors"] == [], out
    issue: dict[str, Any] = out["issue"]
    return issue


def live_run(browser: Browser, url: str) -> float:
    """ms from the escalation's response to the county cockpit showing it (no reload)."""
    ent, town = demo_token(url, "ent.xinshi-silk"), demo_token(url, "xinshi.center")
    issue = act(url, ent, "submitIssue", {"title": "延迟测量", "content": "bench"})
    issue = act(url, town, "acceptIssue", {"id": issue["id"], "expectedVersion": issue["version"]})
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(url + "/cockpit")
    page.click("[data-account='deqing.center']")
    page.wait_for_selector("[data-testid='live'][data-live='true']")
    cell = "[data-figure='byTier.COUNTY.open']"
    page.wait_for_selector(cell)
    held = int(page.inner_text(cell))
    page.evaluate(
        """([sel, n]) => { window.__seen = new Promise(resolve => {
            new MutationObserver((_, obs) => {
              if (document.querySelector(sel).textContent == n) {
                obs.disconnect(); resolve(performance.now()); }
            }).observe(document.body, {subtree: true, childList: true, characterData: true});
        }); }""",
        [cell, str(held + 1)],
    )
    act(
        url,
        town,
        "escalateIssue",
        {"id": issue["id"], "expectedVersion": issue["version"], "reason": "bench"},
    )
    answered: float = page.evaluate("performance.now()")
    seen: float = page.evaluate("window.__seen")
    context.close()
    return seen - answered


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8731")
    parser.add_argument("--account", default="deqing.center")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=FLAGS)
        one_run(browser, args.url, args.account)  # warm the server (not the browser)
        runs = [one_run(browser, args.url, args.account) for _ in range(args.runs)]
        live = [live_run(browser, args.url) for _ in range(args.runs)]
        browser.close()
    for key in runs[0]:
        values = [r[key] for r in runs]
        shown = [round(v, 1) for v in values]
        print(f"{key:26} median {statistics.median(values):10.1f}   runs {shown}")
    shown_live = [round(v) for v in live]
    label = "escalation_to_cockpit_ms"
    print(f"{label:26} median {statistics.median(live):10.1f}   runs {shown_live}")
    for page in ("index.html", "graphiql.html"):
        raw, zipped = bundle_gzip(page)
        print(f"bundle {page:14} {raw / 1024:8.1f} KiB raw  {zipped / 1024:8.1f} KiB gzip -9")


if __name__ == "__main__":
    main()
