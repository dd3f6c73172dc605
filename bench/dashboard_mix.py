"""The province dashboard under concurrent load while issues are being written: every
``--every``-th dashboard request follows an invalidating mutation (an enterprise of 新市
submits an issue: the current month's slice of 德清 is dirty, and so is any dashboard whose
months include it). Loopback only.

    python bench/dashboard_mix.py --url http://127.0.0.1:8012 --server-pid PID \\
        --connections 16 --every 20 --period 2026-Q4 --duration 20 --warmup 5 \\
        [--pg-match "closedloop_app DB "] [--json out.json]

Each of ``--connections`` workers loops: take the next number; when it is a multiple of
``--every``, submit an issue first (timed apart), then ask for the province's cockpit as
``province.monitor`` (the harness's ``DASHBOARD`` query). Reports the dashboard requests'
p50/p95/p99 (all, and those that followed a mutation in their own worker), requests/s, the
mutations' latency, and the server's CPU per dashboard request (the mutations' CPU
included) and the API's PostgreSQL backends' CPU per dashboard request. Writes issues: run
it against a benchmark database only. Tokens are minted with ``Settings().jwt_secret``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from bench.harness import DASHBOARD, _loopback, _pct, backend_cpu, backend_delta, tree_cpu

SUBMIT = """mutation($input: SubmitIssueInput!) { submitIssue(input: $input) {
  issue { id } errors { code message } } }"""


@dataclass
class MixResult:
    label: str
    connections: int
    every: int
    period: str
    seconds: float
    dashboards: int
    mutations: int
    errors: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    after_write_p50_ms: float
    after_write_p95_ms: float
    mutation_p50_ms: float
    server_cpu_ms_per_dashboard: float | None
    backend_cpu_ms_per_dashboard: float | None
    first_error: str | None


async def run(args: argparse.Namespace) -> MixResult:
    from closedloop.identity.tokens import mint_token
    from closedloop.settings import Settings

    settings = Settings()
    reader = {"Authorization": f"Bearer {mint_token(settings, 'province.monitor')}"}
    writer = {"Authorization": f"Bearer {mint_token(settings, 'ent.xinshi-silk')}"}
    body = {"query": DASHBOARD, "variables": {"region": "33", "period": args.period}}
    limits = httpx.Limits(
        max_connections=args.connections, max_keepalive_connections=args.connections
    )
    plain: list[float] = []
    after: list[float] = []
    written: list[float] = []
    errors = 0
    first_error: str | None = None
    numbers = itertools.count(1)
    measuring = False

    async with httpx.AsyncClient(base_url=args.url, limits=limits, timeout=60.0) as client:

        async def dashboard(into: list[float]) -> None:
            nonlocal errors, first_error
            t0 = time.perf_counter()
            resp = await client.post("/graphql", json=body, headers=reader)
            elapsed = time.perf_counter() - t0
            if resp.status_code != 200 or b'"errors"' in resp.content:
                errors += 1
                first_error = first_error or f"{resp.status_code} {resp.text[:300]}"
            if measuring:
                into.append(elapsed)

        async def submit(n: int) -> None:
            nonlocal errors, first_error
            issue = {"title": f"用工缺口 {n}", "content": "扩产后缺少熟练挡车工，希望协助招聘。"}
            t0 = time.perf_counter()
            resp = await client.post(
                "/graphql", json={"query": SUBMIT, "variables": {"input": issue}}, headers=writer
            )
            elapsed = time.perf_counter() - t0
            payload = resp.json() if resp.status_code == 200 else {}
            result = (payload.get("data") or {}).get("submitIssue") or {}
            if resp.status_code != 200 or payload.get("errors") or result.get("errors"):
                errors += 1
                first_error = first_error or f"submit: {resp.status_code} {resp.text[:300]}"
            if measuring:
                written.append(elapsed)

        async def worker(deadline: float) -> None:
            while time.perf_counter() < deadline:
                n = next(numbers)
                if n % args.every == 0:
                    await submit(n)
                    await dashboard(after)
                else:
                    await dashboard(plain)

        await dashboard(plain)  # the check, and the first computation
        if errors:
            raise SystemExit(f"dashboard failed: {first_error}")
        await asyncio.gather(
            *(worker(time.perf_counter() + args.warmup) for _ in range(args.connections))
        )
        measuring = True
        cpu0 = tree_cpu(args.server_pid) if args.server_pid else None
        pg0 = backend_cpu(args.pg_match) if args.pg_match else None
        t0 = time.perf_counter()
        await asyncio.gather(
            *(worker(time.perf_counter() + args.duration) for _ in range(args.connections))
        )
        elapsed = time.perf_counter() - t0
        cpu1 = tree_cpu(args.server_pid) if args.server_pid else None
        pg1 = backend_cpu(args.pg_match) if args.pg_match else None
    every = sorted(plain + after)
    n = len(every)
    return MixResult(
        label=args.label or args.url,
        connections=args.connections,
        every=args.every,
        period=args.period,
        seconds=elapsed,
        dashboards=n,
        mutations=len(written),
        errors=errors,
        rps=n / elapsed,
        p50_ms=_pct(every, 0.50),
        p95_ms=_pct(every, 0.95),
        p99_ms=_pct(every, 0.99),
        after_write_p50_ms=_pct(sorted(after), 0.50),
        after_write_p95_ms=_pct(sorted(after), 0.95),
        mutation_p50_ms=_pct(sorted(written), 0.50),
        server_cpu_ms_per_dashboard=(
            (cpu1 - cpu0) * 1000 / n if cpu0 is not None and cpu1 is not None and n else None
        ),
        backend_cpu_ms_per_dashboard=(
            backend_delta(pg0, pg1) * 1000 / n
            if pg0 is not None and pg1 is not None and n
            else None
        ),
        first_error=first_error,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--server-pid", type=int)
    parser.add_argument("--pg-match", help="the API's PostgreSQL backends (see bench/harness.py)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--every", type=int, default=20, help="1 in N dashboards after a write")
    parser.add_argument("--period", default="2026-Q4", help="whose months include today")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--label")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not _loopback(args.url):
        parser.error("loopback only")
    result = asyncio.run(run(args))
    print(json.dumps(asdict(result)))
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2))


if __name__ == "__main__":
    main()
