"""Channel push throughput: a channel system's service account pushing batches of 100
records through ``submitChannelIssues`` against a real server on a large database.

    .venv/bin/python -m bench.channel_push \\
        --database-url postgresql://postgres@127.0.0.1:5432/closedloop_bench \\
        [--batches 30] [--batch-size 100] [--concurrency 1 4] [--rounds 3] [--region 330521]

The database must already hold the data set (``python -m bench generate``) at the latest
migration. The run creates one channel service account (HOTLINE_12345, ``--region``), starts
``uvicorn closedloop.http.app:create_app`` on a free loopback port (background sweeps and the
relay off, rate limit off), takes a client-credentials token at ``/oauth/token`` and pushes
``--batches`` batches of ``--batch-size`` new records (existing enterprises of the region,
new record ids) with ``--concurrency`` requests in flight; then the same batches again (the
retry a channel makes after a lost answer: every record ALREADY_SUBMITTED, nothing added).
Concurrency levels alternate within each round (interleaved runs). Prints one Markdown row
per run and the medians; every run adds ``batches × batch-size`` issues to the database.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from bench.served import served
from closedloop.db import tables as t
from closedloop.db.database import Database, make_engine
from closedloop.domain.clock import SystemClock
from closedloop.services.channels.clients import NewCredentials, create_channel_account
from closedloop.tenancy.scope import in_subtree

JWT_SECRET = "channel-push-bench-secret-" + "x" * 24
PUSH = """mutation($input: SubmitChannelIssuesInput!) { submitChannelIssues(input: $input) {
  created alreadySubmitted rejected results { outcome issue { id } } } }"""


async def _setup(url: str, region: str, wanted: int) -> tuple[NewCredentials, list[str], int]:
    db = Database(make_engine(url, 2))
    try:
        creds = await create_channel_account(
            db, SystemClock(), channel="HOTLINE_12345", region_code=region, display_name="bench"
        )
        async with db.system_transaction() as conn:
            codes = list(
                (
                    await conn.execute(
                        sa.select(t.enterprise.c.credit_code)
                        .where(in_subtree(t.enterprise.c.region_code, region))
                        .order_by(t.enterprise.c.id)
                        .limit(wanted)
                    )
                ).scalars()
            )
            issues = int(
                (await conn.execute(sa.select(sa.func.count()).select_from(t.issue))).scalar_one()
            )
    finally:
        await db.dispose()
    return creds, codes, issues


async def _token(http: httpx.AsyncClient, creds: NewCredentials) -> str:
    response = await http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        },
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def _batches(run: str, codes: list[str], batches: int, size: int) -> list[list[dict[str, Any]]]:
    out = []
    for b in range(batches):
        batch = []
        for i in range(size):
            n = b * size + i
            batch.append(
                {
                    "recordId": f"bench-{run}-{n:06d}",
                    "creditCode": codes[n % len(codes)],
                    "title": f"热线工单{n}：企业用工需求对接",
                    "content": "企业扩产后缺少熟练工约30人，希望协助组织专场招聘并对接职业培训。",
                    "category": "SERVICE_REQUEST",
                    "tags": ["招工", "人才"],
                }
            )
        out.append(batch)
    return out


async def _push_all(
    http: httpx.AsyncClient, token: str, batches: list[list[dict[str, Any]]], concurrency: int
) -> tuple[float, dict[str, int]]:
    """Seconds for every batch, ``concurrency`` in flight, and the outcome counts."""
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)
    counts = {"created": 0, "alreadySubmitted": 0, "rejected": 0}
    headers = {"Authorization": f"Bearer {token}"}

    async def worker() -> None:
        while not queue.empty():
            batch = queue.get_nowait()
            response = await http.post(
                "/graphql",
                json={"query": PUSH, "variables": {"input": {"records": batch}}},
                headers=headers,
                timeout=120,
            )
            body = response.json()
            if response.status_code != 200 or "errors" in body:
                raise RuntimeError(response.text[:500])
            for key in counts:
                counts[key] += body["data"]["submitChannelIssues"][key]

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, counts


async def _run(args: argparse.Namespace) -> None:
    wanted = args.batches * args.batch_size
    creds, codes, before = await _setup(args.database_url, args.region, wanted)
    print(f"issues in the database before: {before:,}; enterprises used: {len(codes):,}")
    rows: dict[int, list[tuple[float, float]]] = {c: [] for c in args.concurrency}
    with served(args.database_url, JWT_SECRET) as server:
        limits = httpx.Limits(max_connections=max(args.concurrency) + 2)
        async with httpx.AsyncClient(base_url=server.url, limits=limits) as http:
            warm = _batches(f"warm-{uuid.uuid4().hex[:6]}", codes, 2, args.batch_size)
            await _push_all(http, await _token(http, creds), warm, 1)
            print("| round | concurrency | new issues/s | retry records/s | created | retried |")
            print("|---|---|---|---|---|---|")
            for round_ in range(1, args.rounds + 1):
                levels = args.concurrency if round_ % 2 else list(reversed(args.concurrency))
                for level in levels:
                    token = await _token(http, creds)  # tokens live 15 minutes
                    run = uuid.uuid4().hex[:8]
                    batches = _batches(run, codes, args.batches, args.batch_size)
                    seconds, counts = await _push_all(http, token, batches, level)
                    assert counts["created"] == wanted, counts
                    again, retry = await _push_all(http, token, batches, level)
                    assert retry["alreadySubmitted"] == wanted, retry
                    rate, retry_rate = wanted / seconds, wanted / again
                    rows[level].append((rate, retry_rate))
                    print(
                        f"| {round_} | {level} | {rate:,.0f} | {retry_rate:,.0f} |"
                        f" {counts['created']} | {retry['alreadySubmitted']} |"
                    )
    print()
    print("| concurrency | median new issues/s | median retry records/s |")
    print("|---|---|---|")
    for level, values in rows.items():
        print(
            f"| {level} | {statistics.median(v[0] for v in values):,.0f} |"
            f" {statistics.median(v[1] for v in values):,.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--region", default="330521")
    asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
