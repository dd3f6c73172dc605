"""Subscriptions at scale (issue 18): the cost of a mutation and the delivery delay with N
subscribers in scope, against a running server (loopback only).

For each N of ``--subscribers``: N graphql-transport-ws sockets subscribe to
``issueEvents`` as ``deqing.center`` (every one in scope of the notes written), plus one out
of scope (``changxing.center``); then ``--mutations`` public notes (``addIssueNote``) are
added one at a time to an issue of 德清's pool, each after the previous one reached every
subscriber (or ``--timeout`` passed); with ``--concurrent K``, each step sends K notes at
once, each to its own issue of the pool, as a busy center's staff would, and the figures
are per note. Printed per N: the server's CPU per mutation, two
ways: **the process total**, from the scheduler's own nanosecond counts
(``/proc/PID/task/*/schedstat`` of ``--server-pid`` and its children: everything the server
did from the first mutation sent until the last event was received by every subscriber,
fan-out included), and **the mutation request**, the server's own count of its CPU while
each mutation's request was in flight (``closedloop_http_request_cpu_seconds_total`` on
``/metrics``, from the request's arrival until its answer was sent: whatever else the
process did meanwhile, fan-out included, is counted too); SQL statements per mutation
(``/metrics``); the delay
from sending the mutation to each subscriber's receipt of its event (p50 / p95 / max); and
whether the outsider heard anything. ``--rounds R`` runs the list of N R times, interleaved
(0 100 1000 0, 0 100 1000 0, ...), and prints the medians per N at the end.

    CLOSEDLOOP_RATE_LIMIT_POINTS=0 closedloop serve --port 8001 &
    .venv/bin/python -m bench.subscribers --url http://127.0.0.1:8001 --server-pid PID \\
        --subscribers 0 100 1000 0 --mutations 30 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from typing import Any

import httpx
from websockets.asyncio.client import connect

from bench.harness import _loopback, mutation_body

PROTOCOL = "graphql-transport-ws"
EVENTS = "subscription { issueEvents { issue { number } event { id type } } }"
POOL = "{ issues(filter: {pool: true}, first: 1) { nodes { id version } } }"


def fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def cpu_ns(pid: int) -> int:
    """Nanoseconds on a CPU of every thread of ``pid`` and its descendants (schedstat: exact,
    where utime and stime count clock ticks)."""
    total = 0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
                with open(f"/proc/{p}/task/{task}/children") as f:
                    pids.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return total


async def metrics(client: httpx.AsyncClient) -> tuple[float, float]:
    """SQL statements so far, and the CPU seconds spent in ``/graphql`` requests."""
    text = (await client.get("/metrics")).text
    sql = cpu = float("nan")
    for line in text.splitlines():
        if line.startswith("closedloop_sql_statements_total "):
            sql = float(line.split()[1])
        elif line.startswith('closedloop_http_request_cpu_seconds_total{path="/graphql"}'):
            cpu = float(line.split()[1])
    return sql, cpu


class Subscriber:
    def __init__(self) -> None:
        self.received: dict[str, float] = {}  # event id -> when it arrived
        self.arrived = asyncio.Event()

    async def run(self, ws_url: str, token: str, ready: asyncio.Event) -> None:
        async with connect(ws_url, subprotocols=[PROTOCOL], max_queue=None) as ws:  # type: ignore[list-item]
            await ws.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
                )
            )
            ack = json.loads(await ws.recv())
            assert ack["type"] == "connection_ack", ack
            await ws.send(
                json.dumps({"id": "1", "type": "subscribe", "payload": {"query": EVENTS}})
            )
            ready.set()
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("type") == "next":
                    data = msg["payload"].get("data")
                    if not data:
                        raise RuntimeError(f"subscription error: {msg}")
                    event_id = data["issueEvents"]["event"]["id"]
                    self.received[event_id] = time.perf_counter()
                    self.arrived.set()


async def measure(args: argparse.Namespace, n: int, tokens: dict[str, str]) -> dict[str, Any]:
    base = args.url.rstrip("/")
    ws_url = base.replace("http://", "ws://") + "/graphql"
    subscribers = [Subscriber() for _ in range(n)]
    outsider = Subscriber()
    tasks: list[asyncio.Task[None]] = []

    async def start(sub: Subscriber, token: str) -> None:
        ready = asyncio.Event()
        task = asyncio.create_task(sub.run(ws_url, token, ready))
        tasks.append(task)
        waiting = asyncio.create_task(ready.wait())
        await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            waiting.cancel()
            task.result()  # raises what ended it

    for sub in subscribers:
        await start(sub, tokens["deqing.center"])
    await start(outsider, tokens["changxing.center"])
    await asyncio.sleep(1.0 + n / 500)  # every subscription has read where it starts
    headers = {"Authorization": f"Bearer {tokens['deqing.center']}"}
    delays: list[float] = []
    missed = 0
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        k = args.concurrent
        pool_query = POOL.replace("first: 1", f"first: {k}")
        pool = (await client.post("/graphql", json={"query": pool_query}, headers=headers)).json()
        issues = pool["data"]["issues"]["nodes"]
        assert len(issues) == k, pool

        async def note(at: int, m: int) -> None:
            body = mutation_body(
                "addIssueNote",
                {
                    "id": issues[at]["id"],
                    "expectedVersion": issues[at]["version"],
                    "text": f"压测备注{m}-{at}",
                    "public": True,
                },
            )
            answer = await client.post("/graphql", json=body, headers=headers)
            result = answer.json()["data"]["addIssueNote"]
            assert not result["errors"], result
            issues[at] = result["issue"]

        (before_sql, before_request), before_cpu = await metrics(client), cpu_ns(args.server_pid)
        for m in range(args.mutations):
            sent = time.perf_counter()
            await asyncio.gather(*(note(at, m) for at in range(k)))
            expected = (m + 1) * k
            deadline = sent + args.timeout
            while True:
                done = [s for s in subscribers if len(s.received) >= expected]
                if len(done) == n or time.perf_counter() > deadline:
                    break
                await asyncio.sleep(0.005)
            for s in subscribers:
                arrivals = sorted(s.received.values())[expected - k : expected]
                delays.extend(t - sent for t in arrivals)
                missed += k - len(arrivals)
            cpu = (cpu_ns(args.server_pid) - before_cpu) / 1e9
        after_sql, after_request = await metrics(client)
        sql, request = after_sql - before_sql, after_request - before_request
    mutations = args.mutations * args.concurrent
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    delays.sort()
    return {
        "subscribers": n,
        "mutations": mutations,
        "server_cpu_ms_per_mutation": 1000 * cpu / mutations,
        "request_cpu_ms_per_mutation": 1000 * request / mutations,
        "sql_per_mutation": sql / mutations,
        "delay_p50_ms": 1000 * statistics.median(delays) if delays else None,
        "delay_p95_ms": 1000 * delays[int(0.95 * (len(delays) - 1))] if delays else None,
        "delay_max_ms": 1000 * delays[-1] if delays else None,
        "missed": missed,
        "outsider_heard": len(outsider.received),
    }


async def main_async(args: argparse.Namespace) -> None:
    from closedloop.identity.tokens import mint_token
    from closedloop.settings import Settings

    settings = Settings()
    tokens = {u: mint_token(settings, u) for u in ("deqing.center", "changxing.center")}
    print(
        "| round | subscribers | server CPU ms/mutation (process total) | of which while the"
        " mutation request ran | SQL/mutation | delay p50 ms | p95 ms | max ms | missed"
        " | out-of-scope heard |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    rows: dict[int, list[dict[str, Any]]] = {}
    for round_ in range(1, args.rounds + 1):
        for n in args.subscribers:
            r = await measure(args, n, tokens)
            rows.setdefault(n, []).append(r)
            print(
                f"| {round_} | {n} | {r['server_cpu_ms_per_mutation']:.2f}"
                f" | {r['request_cpu_ms_per_mutation']:.2f} | {r['sql_per_mutation']:.1f}"
                f" | {fmt(r['delay_p50_ms'])} | {fmt(r['delay_p95_ms'])}"
                f" | {fmt(r['delay_max_ms'])} | {r['missed']} | {r['outsider_heard']} |",
                flush=True,
            )
    print("\n| subscribers | median total ms | median request ms | median delay p95 ms |")
    print("|---:|---:|---:|---:|")
    for n, found in rows.items():
        p95s = [r["delay_p95_ms"] for r in found if r["delay_p95_ms"] is not None]
        total = statistics.median(r["server_cpu_ms_per_mutation"] for r in found)
        request = statistics.median(r["request_cpu_ms_per_mutation"] for r in found)
        p95 = statistics.median(p95s) if p95s else None
        print(f"| {n} | {total:.2f} | {request:.2f} | {fmt(p95)} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8001")
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--subscribers", type=int, nargs="+", default=[0, 100, 1000])
    parser.add_argument("--mutations", type=int, default=30)
    parser.add_argument(
        "--concurrent",
        type=int,
        default=1,
        help="notes sent at once, each to its own issue, per step (a busy center)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per delivery")
    parser.add_argument("--rounds", type=int, default=1, help="times the list of N is run")
    args = parser.parse_args()
    if not _loopback(args.url):
        parser.error("loopback only")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
