"""The mixed portal workload (issue 18): many accounts across tiers sending a weighted,
seeded mix of pages, cursors, filters, nested reads, dashboards, scores, duplicate
candidates and mutation chains, with live WebSocket subscribers, caches warm or cold;
the reads PostGraphile can serve run against it too (``bench/mixed.sh`` interleaves them).

    python -m bench.mixed setup   --url URL --out DIR           # accounts (through the API)
    python -m bench.mixed prepare --url URL --server closedloop --out DIR
    python -m bench.mixed prepare --url URL2 --server postgraphile --out DIR
    python -m bench.mixed run --url URL --server closedloop --out DIR --label mix-warm \\
        --server-pid PID --duration 30 [--shared-only] [--only OP] [--cold-interval 1] \\
        [--subscribers 20] [--weights write=0,scores=2]
    python -m bench.mixed report DIR

``prepare`` picks every operation's items once (``DIR/plan.json``, seeded) and renders them for
one server (``DIR/<server>.bodies.json``), asking each once: every request must answer without
errors, and the answers of the operations both servers serve are compared (``report``). ``run``
measures one window: each connection picks operations by weight with its own seeded random
generator (``--seed``), a write is the next step of that connection's chain (an enterprise
submits, its town's center accepts, notes and escalates to the county). Per operation:
latencies; for the window: what ``bench/harness.py`` measures (server CPU, PostgreSQL backends'
CPU, statements from ``/metrics``, new PostgreSQL connections). CPU per operation comes from
windows of one operation (``--only``). ``--cold-interval S``: every S seconds the server's
processes are sent ``SIGUSR1``, which empties their caches (``Runtime.empty_caches``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import multiprocessing
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import mixed_ops as ops
from bench.harness import (
    _all_stats,
    _loopback,
    _pct,
    backend_cpu,
    backend_delta,
    pg_sessions,
    sql_statements,
    tree_cpu,
)

Body = dict[str, Any]
EVENTS = "subscription { issueEvents { issue { number } event { id type occurredAt } } }"


def _tokens(accounts: set[str]) -> dict[str, str]:
    from closedloop.identity.tokens import mint_token
    from closedloop.settings import Settings

    settings = Settings()
    return {a: mint_token(settings, a) for a in sorted(accounts)}


def _poster(client: httpx.AsyncClient, tokens: dict[str, str]) -> ops.Post:
    async def post(account: str, body: Body) -> dict[str, Any]:
        if account not in tokens:
            tokens.update(_tokens({account}))
        resp = await client.post(
            "/graphql",
            json=body,
            headers={"Authorization": f"Bearer {tokens[account]}"},
        )
        data: dict[str, Any] = resp.json()
        if resp.status_code != 200 or data.get("errors"):
            raise RuntimeError(f"{account}: {resp.status_code} {resp.text[:400]}")
        return data["data"]  # type: ignore[no-any-return]

    return post


async def setup(args: argparse.Namespace) -> None:
    async with ops.client(args.url) as client:
        accounts = await ops.setup_accounts(_poster(client, {}), args.seed, args.sample)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "accounts.json").write_text(json.dumps(accounts, indent=1))


async def prepare(args: argparse.Namespace) -> None:
    plan_file = args.out / "plan.json"
    now = dt.datetime.now(dt.UTC)
    async with ops.client(args.url) as client:
        post = _poster(client, {})
        if not plan_file.exists():
            if args.server != "closedloop":
                raise SystemExit("the plan is picked through closedloop: prepare it first")
            accounts = json.loads((args.out / "accounts.json").read_text())
            plan_file.write_text(
                json.dumps(await ops.plan(post, accounts, args.seed, args.per_op), indent=1)
            )
        planned = json.loads(plan_file.read_text())
        if any(op not in planned["items"] for op in ops.OPS):  # a plan of an older harness
            accounts = json.loads((args.out / "accounts.json").read_text())
            units = await ops.unit_items(post, accounts, args.seed, args.per_op)
            planned["items"] = {**units, **planned["items"]}
            plan_file.write_text(json.dumps(planned, indent=1))
        items: dict[str, list[Body]] = planned["items"]
        # --ops: render these only, keeping what an earlier prepare rendered of the others
        bodies_file = args.out / f"{args.server}.bodies.json"
        answers_file = args.out / f"{args.server}.answers.json"
        kept = args.ops and bodies_file.exists()
        bodies: dict[str, list[tuple[str, Body]]] = (
            json.loads(bodies_file.read_text()) if kept else {}
        )
        answers: dict[str, list[Any]] = json.loads(answers_file.read_text()) if kept else {}
        for op, listed in items.items():
            if args.server == "postgraphile" and not ops.OPS[op].shared:
                continue
            if args.ops and op not in args.ops:
                continue
            bodies[op], answers[op] = [], []
            for item in listed:
                body = await ops.render(post, args.server, op, item, now)
                bodies.setdefault(op, []).append((item["account"], body))
                if op != "write":
                    answer = await post(item["account"], body)
                    if ops.OPS[op].shared:
                        answers.setdefault(op, []).append(ops.normalise(op, answer))
            print(f"{args.server}: {op}: {len(bodies.get(op, []))} requests", flush=True)
    bodies_file.write_text(json.dumps(bodies))
    answers_file.write_text(json.dumps({op: a for op, a in answers.items() if a}))


# --- a window ----------------------------------------------------------------------------------


def _weights(args: argparse.Namespace, bodies: dict[str, Any]) -> dict[str, float]:
    weights = {op: o.weight for op, o in ops.OPS.items() if op in bodies}
    if args.shared_only:
        weights = {op: w for op, w in weights.items() if ops.OPS[op].shared}
    for part in filter(None, (args.weights or "").split(",")):
        name, _, value = part.partition("=")
        if name not in ops.OPS:
            raise SystemExit(f"unknown operation {name!r}: {', '.join(ops.OPS)}")
        weights[name] = float(value)
    if args.only:
        weights = {args.only: 1.0}
    return {op: w for op, w in weights.items() if w > 0 and op in bodies}


async def _chain_step(
    post: Any, state: Body, rng: random.Random, writes: list[tuple[str, Body]]
) -> str:
    """Sends the next step of this connection's chain; returns the mutation's name."""
    if not state:
        state.update(item=rng.choice(writes)[1], step=0, issue=None)
    item, step, issue = state["item"], state["step"], state["issue"]
    name = ops.WRITE_STEPS[step]
    input_: Body
    if name == "submitIssue":
        account = item["account"]
        input_ = {
            "title": f"扩产用工缺口{rng.randrange(10**6)}",
            "content": "企业扩产后缺少熟练工，希望协助招聘。",
        }
    else:
        account = item["center"]
        input_ = {"id": issue["id"], "expectedVersion": issue["version"]}
        if name == "addIssueNote":
            input_.update(text="已电话联系企业了解情况", public=True)
        elif name == "escalateIssue":
            input_.update(reason="需要县级协调", toRegion=item["county"])
    try:
        data = await post(account, ops.mutation(name, input_))
        result = data[name]
        if result["errors"]:
            raise RuntimeError(f"{name}: {result['errors']}")
    except Exception:
        state.clear()
        raise
    state.update(issue=result["issue"], step=step + 1)
    if state["step"] == len(ops.WRITE_STEPS):
        state.clear()
    return name


async def _drive(job: Body) -> Body:
    bodies: dict[str, list[tuple[str, Body]]] = job["bodies"]
    weights: dict[str, float] = job["weights"]
    names, values = list(weights), list(weights.values())
    tokens = _tokens(
        {a for listed in bodies.values() for a, _ in listed}
        | {b["center"] for _, b in bodies.get("write", [])}
    )
    encoded = {
        op: [(a, json.dumps(b).encode()) for a, b in listed] for op, listed in bodies.items()
    }
    latencies: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    first_error: list[str] = []
    limits = httpx.Limits(
        max_connections=job["connections"], max_keepalive_connections=job["connections"]
    )
    async with httpx.AsyncClient(base_url=job["url"], limits=limits, timeout=60.0) as client:
        await asyncio.gather(*(client.get("/healthz") for _ in range(job["connections"])))
        post = _poster(client, tokens)
        await asyncio.sleep(max(0.0, job["start_at"] - time.time()))
        cpu0 = time.process_time()
        deadline = time.perf_counter() + job["seconds"]

        async def worker(k: int) -> None:
            rng = random.Random(f"{job['seed']}:{job['index']}:{k}")
            chain: Body = {}
            while time.perf_counter() < deadline:
                op = rng.choices(names, values)[0]
                for pid in job["cold_pids"]:  # every request cold: the caches emptied first
                    os.kill(pid, signal.SIGUSR1)
                if job["cold_pids"]:
                    await asyncio.sleep(0.02)  # the server's loop runs the handler
                t0 = time.perf_counter()
                ok = True
                try:
                    if op == "write":
                        op = "write:" + await _chain_step(post, chain, rng, bodies["write"])
                    else:
                        account, body = rng.choice(encoded[op])
                        resp = await client.post(
                            "/graphql",
                            content=body,
                            headers={
                                "Authorization": f"Bearer {tokens[account]}",
                                "Content-Type": "application/json",
                            },
                        )
                        ok = resp.status_code == 200 and b'"errors"' not in resp.content
                        if not ok and not first_error:
                            first_error.append(f"{op}: {resp.status_code} {resp.text[:300]}")
                except Exception as exc:  # counted, the connection goes on
                    ok = False
                    if not first_error:
                        first_error.append(f"{op}: {exc!r}"[:400])
                latencies.setdefault(op, []).append(time.perf_counter() - t0)
                errors[op] = errors.get(op, 0) + (not ok)

        await asyncio.gather(*(worker(k) for k in range(job["connections"])))
        cpu = time.process_time() - cpu0
    return {
        "latencies": latencies,
        "errors": errors,
        "cpu": cpu,
        "first_error": first_error[0] if first_error else None,
    }


def _drive_process(job: Body) -> Body:
    return asyncio.run(_drive(job))


class Subscribers:
    """WebSocket subscribers to ``issueEvents``: each event's delay from its ``occurredAt``."""

    def __init__(self, url: str, accounts: list[str]) -> None:
        self.ws_url = url.replace("http://", "ws://") + "/graphql"
        self.tokens = _tokens(set(accounts))
        self.accounts = accounts
        self.delays: list[float] = []
        self.failures: list[str] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        ready = [asyncio.Event() for _ in self.accounts]
        self.tasks = [
            asyncio.create_task(self._run(a, r)) for a, r in zip(self.accounts, ready, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 60)
        await asyncio.sleep(1.0)  # each subscription has read where it starts

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _run(self, account: str, ready: asyncio.Event) -> None:
        from websockets.asyncio.client import connect

        try:
            async with connect(
                self.ws_url,
                subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                max_queue=None,
            ) as ws:
                await ws.send(
                    json.dumps(
                        {
                            "type": "connection_init",
                            "payload": {"Authorization": f"Bearer {self.tokens[account]}"},
                        }
                    )
                )
                assert json.loads(await ws.recv())["type"] == "connection_ack"
                await ws.send(
                    json.dumps({"id": "1", "type": "subscribe", "payload": {"query": EVENTS}})
                )
                ready.set()
                async for raw in ws:
                    msg = json.loads(raw)
                    if msg.get("type") == "next" and msg["payload"].get("data"):
                        event = msg["payload"]["data"]["issueEvents"]["event"]
                        sent = dt.datetime.fromisoformat(event["occurredAt"]).timestamp()
                        self.delays.append(time.time() - sent)
                    elif msg.get("type") in ("error", "next"):
                        self.failures.append(str(msg)[:300])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failures.append(repr(exc)[:300])
            ready.set()


def caching_pids(root: int) -> list[int]:
    """The processes under ``root`` (itself included) that catch SIGUSR1: the server's
    processes that empty their caches on it (a process that does not would die of it)."""
    stats = _all_stats()
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        stack += [p for p, st in stats.items() if st.ppid == pid]
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
        if int(caught.split()[1], 16) & (1 << (signal.SIGUSR1 - 1)):
            found.append(pid)
    return found


async def _cold(server_pid: int, interval: float, stop: asyncio.Event) -> int:
    pids = caching_pids(server_pid)
    if not pids:
        raise SystemExit(f"no process under {server_pid} catches SIGUSR1: not a closedloop server")
    sent = 0
    while not stop.is_set():
        for pid in pids:
            os.kill(pid, signal.SIGUSR1)
        sent += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
    return sent


def _subscriber_accounts(bodies: dict[str, Any], n: int, seed: int) -> list[str]:
    """Whom the writes concern first (towns, counties), then anyone: province, cities."""
    rng = random.Random(seed)
    writes = [b for _, b in bodies.get("write", [])]
    near = [w["center"] for w in writes] + [f"bench.center.{w['county']}" for w in writes]
    far = ["province.monitor", "huzhou.center", "deqing.center"]
    pool = near + far
    return [pool[i % len(pool)] if i % 2 else rng.choice(pool) for i in range(n)]


async def run(args: argparse.Namespace) -> int:
    bodies = json.loads((args.out / f"{args.server}.bodies.json").read_text())
    weights = _weights(args, bodies)
    if not weights:
        raise SystemExit("no operation to run")
    url = args.url.rstrip("/")
    subs = None
    if args.subscribers and args.server == "closedloop":
        subs = Subscribers(url, _subscriber_accounts(bodies, args.subscribers, args.seed))
        await subs.start()
    cold_pids = caching_pids(args.server_pid) if args.cold_each else []
    if args.cold_each and (not cold_pids or args.connections != 1 or args.processes != 1):
        raise SystemExit("--cold-each: a closedloop server, one connection, one process")
    per = [
        args.connections // args.processes + (i < args.connections % args.processes)
        for i in range(args.processes)
    ]
    start_at = time.time() + 1.0 + 0.5 * args.processes
    jobs = [
        {
            "url": url,
            "bodies": bodies,
            "weights": weights,
            "connections": per[i],
            "start_at": start_at,
            "seconds": args.duration,
            "seed": args.seed,
            "index": i,
            "cold_pids": cold_pids,
        }
        for i in range(args.processes)
    ]
    if args.warmup > 0:
        ctx = multiprocessing.get_context("spawn")
        warm_at = time.time() + 1.0 + 0.5 * args.processes
        warm = [
            {
                **j,
                "seconds": args.warmup,
                "start_at": warm_at,
                "index": j["index"] + 100,
            }
            for j in jobs
        ]
        with ctx.Pool(args.processes) as pool:
            await asyncio.get_running_loop().run_in_executor(None, pool.map, _drive_process, warm)
        start_at = time.time() + 1.0 + 0.5 * args.processes
        jobs = [{**j, "start_at": start_at} for j in jobs]
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        sessions0 = await pg_sessions(args.database_url)
        sql0 = await sql_statements(client)
        stop = asyncio.Event()
        await asyncio.sleep(max(0.0, start_at - time.time() - 0.2))
        cold = (
            asyncio.create_task(_cold(args.server_pid, args.cold_interval, stop))
            if args.cold_interval > 0
            else None
        )
        cpu0, pg0, be0 = (
            tree_cpu(args.server_pid),
            tree_cpu(args.pg_pid, reaped=True) if args.pg_pid else None,
            backend_cpu(args.pg_match),
        )
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(args.processes) as pool:
            shards = await asyncio.get_running_loop().run_in_executor(
                None, pool.map, _drive_process, jobs
            )
        cpu1, pg1, be1 = (
            tree_cpu(args.server_pid),
            tree_cpu(args.pg_pid, reaped=True) if args.pg_pid else None,
            backend_cpu(args.pg_match),
        )
        stop.set()
        resets = await cold if cold else 0
        sql1 = await sql_statements(client)
        sessions1 = await pg_sessions(args.database_url)
    if subs:
        await subs.stop()
    per_op: dict[str, Body] = {}
    everything: list[float] = []
    for op in sorted({op for s in shards for op in s["latencies"]}):
        lat = sorted(x for s in shards for x in s["latencies"].get(op, []))
        everything += lat
        per_op[op] = {
            "requests": len(lat),
            "errors": sum(s["errors"].get(op, 0) for s in shards),
            "p50_ms": _pct(lat, 0.5),
            "p95_ms": _pct(lat, 0.95),
            "p99_ms": _pct(lat, 0.99),
        }
    everything.sort()
    n = len(everything)
    seconds = args.duration
    result: Body = {
        "server": args.server,
        "label": args.label,
        "seed": args.seed,
        "weights": weights,
        "connections": args.connections,
        "seconds": seconds,
        "requests": n,
        "errors": sum(v["errors"] for v in per_op.values()),
        "rps": n / seconds,
        "p50_ms": _pct(everything, 0.5),
        "p95_ms": _pct(everything, 0.95),
        "p99_ms": _pct(everything, 0.99),
        "server_cpu_ms_per_req": (cpu1 - cpu0) * 1000 / n if n else None,
        "postgres_cpu_ms_per_req": (
            (pg1 - pg0) * 1000 / n if n and pg0 is not None and pg1 is not None else None
        ),
        "backend_cpu_ms_per_req": backend_delta(be0, be1) * 1000 / n if n else None,
        "sql_per_req": (sql1 - sql0) / n if n else None,
        "new_pg_sessions": (
            sessions1 - sessions0 - 1 if sessions0 is not None and sessions1 is not None else None
        ),
        "client_cpu_util": sum(s["cpu"] for s in shards) / seconds,
        "cold_resets": resets + (n if args.cold_each else 0),
        "cold_interval": args.cold_interval,
        "cold_each": args.cold_each,
        "ops": per_op,
        "first_error": next((s["first_error"] for s in shards if s["first_error"]), None),
    }
    if subs:
        d = sorted(subs.delays)
        result["subscribers"] = {
            "count": args.subscribers,
            "events": len(d),
            "delay_p50_ms": _pct(d, 0.5),
            "delay_p95_ms": _pct(d, 0.95),
            "delay_max_ms": d[-1] * 1000 if d else None,
            "failures": subs.failures[:3],
        }
    path = args.out / f"{args.server}.{args.label}.r{args.round}.json"
    path.write_text(json.dumps(result, indent=1))
    print(
        f"{args.server} {args.label} r{args.round}: {n} requests ({result['errors']} errors),"
        f" p50/p95/p99 {result['p50_ms']:.1f}/{result['p95_ms']:.1f}/{result['p99_ms']:.1f} ms,"
        f" server CPU {result['server_cpu_ms_per_req'] or float('nan'):.2f} ms/req,"
        f" backends {result['backend_cpu_ms_per_req'] or float('nan'):.2f},"
        f" SQL {result['sql_per_req'] or float('nan'):.2f}/req,"
        f" new PG conns {result['new_pg_sessions']}, cold resets {resets}"
        + (f", first error: {result['first_error']}" if result["first_error"] else "")
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("setup", "prepare", "run"):
        p = sub.add_parser(name)
        p.add_argument("--url", required=True)
        p.add_argument("--out", type=Path, required=True)
        p.add_argument("--seed", type=int, default=1)
    sub.choices["setup"].add_argument(
        "--sample",
        type=int,
        default=20,
        help="counties with board, department, enterprise users",
    )
    prep = sub.choices["prepare"]
    prep.add_argument("--server", choices=("closedloop", "postgraphile"), required=True)
    prep.add_argument("--per-op", type=int, default=12, help="items per operation (about)")
    prep.add_argument("--ops", nargs="+", choices=sorted(ops.OPS), help="render these only")
    r = sub.choices["run"]
    r.add_argument("--server", choices=("closedloop", "postgraphile"), required=True)
    r.add_argument("--label", default="mix")
    r.add_argument("--round", type=int, default=1)
    r.add_argument("--duration", type=float, default=30.0)
    r.add_argument("--warmup", type=float, default=5.0, help="seconds of the same load first")
    r.add_argument("--connections", type=int, default=16)
    r.add_argument("--processes", type=int, default=2)
    r.add_argument("--weights", help="op=weight,… over the default mix (0 drops one)")
    r.add_argument("--shared-only", action="store_true", help="PostGraphile's operations only")
    r.add_argument("--only", choices=sorted(ops.OPS), help="one operation")
    r.add_argument("--subscribers", type=int, default=0, help="WebSocket subscribers")
    r.add_argument(
        "--cold-interval",
        type=float,
        default=0.0,
        help="seconds between cache emptyings (SIGUSR1); 0: warm",
    )
    r.add_argument(
        "--cold-each",
        action="store_true",
        help="empty the caches before every request (one connection)",
    )
    r.add_argument("--server-pid", type=int, required=True)
    r.add_argument("--pg-pid", type=int)
    r.add_argument("--pg-match", default="closedloop_app")
    r.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    rep = sub.add_parser("report")
    rep.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    if args.cmd == "report":
        from bench.mixed_report import report

        return report(args.dir)
    if not _loopback(args.url):
        parser.error("loopback only")
    if args.cmd == "setup":
        asyncio.run(setup(args))
    elif args.cmd == "prepare":
        asyncio.run(prepare(args))
    else:
        if not 0 < args.duration <= 600:
            parser.error("--duration must be in (0, 600]")
        return asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
