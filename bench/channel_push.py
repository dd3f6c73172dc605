"""Channel push throughput: a channel system's service account pushing batches of 100
records through ``submitChannelIssues`` against a real server on a large database.

    .venv/bin/python -m bench.channel_push \\
        --database-url postgresql://postgres@127.0.0.1:5432/closedloop_bench \\
        [--batches 30] [--batch-size 100] [--concurrency 1 2] [--rounds 3] [--region 330521] \\
        [--request-budget 60]

The database must already hold the data set (``python -m bench generate``) at the latest
migration. The run creates one channel service account (HOTLINE_12345, ``--region``),
starts ``uvicorn closedloop.http.app:create_app`` on a free loopback port (background
sweeps and the relay off, rate limit off, the request budget ``--request-budget``
seconds), takes a client-credentials token at ``/oauth/token`` and pushes ``--batches``
batches of ``--batch-size`` new records (existing enterprises of the region, new record
ids) with ``--concurrency`` requests in flight; then the same batches again (the retry a
channel makes after a lost answer: every record ALREADY_SUBMITTED, nothing added); then,
for comparison, ``--singles`` such records one by one through ``submitIssue`` as
``deqing.center`` (the same rules; one request and one transaction per record).
Concurrency levels alternate within each round (interleaved runs). Prints one Markdown row
per run and the medians; every run adds ``batches x batch-size + singles`` issues.
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
from closedloop.identity.tokens import mint_token
from closedloop.services.accounts.unit import Operator
from closedloop.services.channels.clients import (
    ChannelCredentials,
    NewChannelAccount,
    create_channel_account,
)
from closedloop.settings import Settings
from closedloop.tenancy.scope import in_subtree

JWT_SECRET = "channel-push-bench-secret-" + "x" * 24
SUBMIT = """mutation($input: SubmitIssueInput!) { submitIssue(input: $input) {
  issue { id } errors { code } } }"""
PUSH = """mutation($input: SubmitChannelIssuesInput!) { submitChannelIssues(input: $input) {
  created alreadySubmitted rejected results { outcome issue { id } } } }"""


async def _setup(url: str, region: str, wanted: int) -> tuple[ChannelCredentials, list[str], int]:
    db = Database(make_engine(url, 2))
    try:
        cmd = NewChannelAccount("HOTLINE_12345", region, "bench")
        creds = await create_channel_account(db, SystemClock(), Operator("bench"), cmd)
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


async def _token(http: httpx.AsyncClient, creds: ChannelCredentials) -> str:
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


async def _submit_singles(
    http: httpx.AsyncClient, token: str, records: list[dict[str, Any]], concurrency: int
) -> float:
    """Seconds to submit ``records`` one by one through ``submitIssue`` (a staff account of
    the same region taking the same channel's records in), ``concurrency`` in flight."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for record in records:
        queue.put_nowait(record)
    headers = {"Authorization": f"Bearer {token}"}

    async def worker() -> None:
        while not queue.empty():
            r = queue.get_nowait()
            single = {
                "title": r["title"],
                "content": r["content"],
                "category": r["category"],
                "tags": r["tags"],
                "channel": "HOTLINE_12345",
                "creditCode": r["creditCode"],
                "externalId": r["recordId"],
            }
            response = await http.post(
                "/graphql",
                json={"query": SUBMIT, "variables": {"input": single}},
                headers=headers,
                timeout=120,
            )
            body = response.json()
            if response.status_code != 200 or "errors" in body:
                raise RuntimeError(response.text[:500])
            if body["data"]["submitIssue"]["errors"]:
                raise RuntimeError(str(body["data"]["submitIssue"]["errors"]))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def _run(args: argparse.Namespace) -> None:
    wanted = args.batches * args.batch_size
    creds, codes, before = await _setup(args.database_url, args.region, wanted)
    print(f"issues in the database before: {before:,}; enterprises used: {len(codes):,}")
    rows: dict[int, list[tuple[float, float, float]]] = {c: [] for c in args.concurrency}
    staff = mint_token(Settings(jwt_secret=JWT_SECRET), "deqing.center")
    singles = args.singles
    env = {
        # A batch on the loaded machine is measured, not cut off by the 10 s default.
        "CLOSEDLOOP_REQUEST_TIMEOUT_SECONDS": str(args.request_budget),
        "CLOSEDLOOP_LOG_LEVEL": "warning",
    }
    with served(args.database_url, JWT_SECRET, env) as server:
        limits = httpx.Limits(max_connections=max(args.concurrency) + 2)
        async with httpx.AsyncClient(base_url=server.url, limits=limits) as http:
            warm = _batches(f"warm-{uuid.uuid4().hex[:6]}", codes, 2, args.batch_size)
            await _push_all(http, await _token(http, creds), warm, 1)
            print(
                "| round | concurrency | batches: new issues/s | batches: retry records/s"
                " | one by one (submitIssue): issues/s | batches ÷ one by one |"
            )
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
                    one = _batches(f"one-{run}", codes, 1, singles)[0]
                    single_seconds = await _submit_singles(http, staff, one, level)
                    rate, retry_rate = wanted / seconds, wanted / again
                    single_rate = singles / single_seconds
                    rows[level].append((rate, retry_rate, single_rate))
                    print(
                        f"| {round_} | {level} | {rate:,.0f} | {retry_rate:,.0f} |"
                        f" {single_rate:,.0f} | {rate / single_rate:.2f} |"
                    )
    print()
    print(
        "| concurrency | median batches: new issues/s | median retry records/s"
        " | median one by one: issues/s | ratio of medians |"
    )
    print("|---|---|---|---|---|")
    for level, values in rows.items():
        batch, retry_rate, single = (statistics.median(v[i] for v in values) for i in range(3))
        print(
            f"| {level} | {batch:,.0f} | {retry_rate:,.0f} | {single:,.0f} | {batch / single:.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--request-budget", type=float, default=60.0)
    parser.add_argument("--singles", type=int, default=500, help="submitIssue calls per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--region", default="330521")
    asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
