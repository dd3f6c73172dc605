"""Memory under distinct query texts: a real server, 20,000 requests whose query texts all
differ, the server's resident memory sampled as they go.

    .venv/bin/python -m bench.memory --database-url postgresql://postgres@127.0.0.1:5432/postgres \\
        [--requests 20000] [--every 1000] [--concurrency 4]

It creates a scratch database on that server (migrated, demo data), starts
``uvicorn closedloop.http.app:create_app`` on a free loopback port (background sweeps off),
sends ``--requests`` queries as ``deqing.center`` (a page of issues with a varying
selection, page size and alias, and the operation named after the request number, so no
two texts are equal), reads ``VmRSS`` of the server from /proc every ``--every`` requests,
and prints the curve as a Markdown table (requests, RSS in MB, change since the previous
sample). The database is dropped afterwards. A flat tail means every cache is bounded and
the garbage collector keeps up.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import httpx

from bench.served import prepare_demo, scratch_database, served
from closedloop.identity.tokens import mint_token
from closedloop.settings import Settings

JWT_SECRET = "memory-bench-secret-" + "x" * 24
ISSUES = 30
SUBMIT = """mutation($t: String!, $c: String!) { submitIssue(input: {title: $t, content: $c})
  { errors { code } } }"""
FIELDS = (
    "number",
    "title",
    "state",
    "light",
    "dueAt",
    "createdAt",
    "channel",
    "category",
    "tags",
    "version",
    "enterprise { name }",
    "holdingRegion { name }",
    "board { name }",
    "lastEvent { type occurredAt }",
)


def query_text(n: int) -> str:
    """The n-th query: all different (operation name), and of many shapes (selection,
    page size, alias)."""
    chosen = [f for bit, f in enumerate(FIELDS) if (n * 2654435761 >> bit) & 1] or ["title"]
    return (
        f"query Q{n} {{ p{n % 97}: issues(first: {1 + n % 20}) "
        f"{{ totalCount nodes {{ id {' '.join(chosen)} }} }} }}"
    )


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def drive(base: str, pid: int, requests: int, every: int, concurrency: int) -> None:
    settings = Settings(jwt_secret=JWT_SECRET)
    headers = {"Authorization": f"Bearer {mint_token(settings, 'deqing.center')}"}
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        # Some issues for the pages to show (the demo set has none).
        token = mint_token(settings, "ent.deqing-geo")
        for n in range(ISSUES):
            response = await client.post(
                "/graphql",
                json={"query": SUBMIT, "variables": {"t": f"用工问题{n}", "c": "缺少熟练工人"}},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.json()["data"]["submitIssue"]["errors"] == [], response.text
    samples: list[tuple[int, float]] = [(0, rss_mb(pid))]
    errors = 0
    seen: list[str] = []
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        sent = 0
        while sent < requests:
            batch = range(sent, min(sent + every, requests))
            queue = list(batch)

            async def worker(queue: list[int] = queue) -> int:
                bad = 0
                while queue:
                    n = queue.pop()
                    response = await client.post("/graphql", json={"query": query_text(n)})
                    if response.status_code != 200 or "errors" in response.json():
                        bad += 1
                        if len(seen) < 5:
                            seen.append(f"{response.status_code} {response.text[:300]}")
                return bad

            errors += sum(await asyncio.gather(*(worker() for _ in range(concurrency))))
            sent = batch.stop
            samples.append((sent, rss_mb(pid)))
            print(f"{sent:>6} requests  {samples[-1][1]:7.1f} MB", file=sys.stderr)
    elapsed = time.perf_counter() - started
    print(f"\n{requests} requests in {elapsed:.0f} s, {errors} with errors\n")
    for text in seen:
        print(f"    {text}")
    print("| requests | RSS (MB) | change (MB) |")
    print("| ---: | ---: | ---: |")
    previous = samples[0][1]
    for count, mb in samples:
        print(f"| {count:,} | {mb:.1f} | {mb - previous:+.1f} |")
        previous = mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL server (superuser)")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--every", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    counts = (args.requests, args.every, args.concurrency)

    with scratch_database(args.database_url, "closedloop_mem") as url:
        asyncio.run(prepare_demo(url))
        with served(url, JWT_SECRET) as server:
            asyncio.run(drive(server.url, server.process.pid, *counts))


if __name__ == "__main__":
    main()
