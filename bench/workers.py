"""Pool-page throughput of ``closedloop serve --workers N`` for N = 1, 2, 4 on this machine.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/closedloop_bench_scale \\
    CLOSEDLOOP_JWT_SECRET=$(python -c 'print("b"*40)') \\
        python -m bench.workers --rounds 3 --duration 20 --connections 32 --processes 2

Each round starts a fresh server for each worker count (the order rotates from round to
round, so the runs interleave), runs ``bench.harness``'s ``county_pool`` scenario against
it (a warm-up, then ``--duration`` seconds) and stops it. The server's CPU is that of the
serve process and all its workers, the reaped ones included (/proc), over the measured
run. Printed: per worker count, the median over the rounds of requests/s, its ratio to one
worker, server CPU per request (ms), server CPU use (cores), p50 and p95 latency. The
rate limit is off (CLOSEDLOOP_RATE_LIMIT_POINTS=0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import IO

from bench.harness import Result, run_scenario, tree_cpu
from bench.served import served
from closedloop.settings import Settings

COUNTS = (1, 2, 4)


def _rotated(round_: int) -> list[int]:
    k = round_ % len(COUNTS)
    return [*COUNTS[k:], *COUNTS[:k]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--scenario", default="county_pool")
    parser.add_argument("--json", type=Path, help="also write every run here")
    parser.add_argument("--logs", type=Path, help="folder for each server's output")
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        raise SystemExit("set DATABASE_URL (a generated bench database)")
    secret = Settings().jwt_secret
    env = {"CLOSEDLOOP_RATE_LIMIT_POINTS": "0", "CLOSEDLOOP_ENVIRONMENT": "test"}
    runs: dict[int, list[Result]] = {n: [] for n in COUNTS}
    for round_ in range(args.rounds):
        for workers in _rotated(round_):
            with contextlib.ExitStack() as stack:
                log: IO[bytes] | int = subprocess.DEVNULL
                if args.logs:
                    path = args.logs / f"serve-{round_ + 1}-{workers}.log"
                    log = stack.enter_context(path.open("wb"))
                server = stack.enter_context(
                    served(database_url, secret, env, workers=workers, output=log)
                )

                def run(url: str, seconds: float) -> Result:
                    return asyncio.run(
                        run_scenario(
                            args.scenario,
                            url,
                            seconds,
                            200_000,
                            args.connections,
                            args.processes,
                            0,
                            None,
                        )
                    )

                run(server.url, args.warmup)
                # The serve process and its workers, and any worker uvicorn restarted
                # meanwhile (reaped children count too).
                cpu0 = tree_cpu(server.process.pid, reaped=True)
                result = run(server.url, args.duration)
                cpu = tree_cpu(server.process.pid, reaped=True) - cpu0
            result.server_cpu_ms_per_req = cpu * 1000 / result.requests
            result.server_cpu_util = cpu / result.seconds
            runs[workers].append(result)
            print(
                f"round {round_ + 1}, {workers} worker(s): {result.rps:.0f} req/s, "
                f"server CPU {result.server_cpu_ms_per_req or 0:.2f} ms/req "
                f"({result.server_cpu_util or 0:.2f} cores), errors {result.errors} "
                f"{(result.first_error or '')[:200]}; load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    base = statistics.median(r.rps for r in runs[1])
    print()
    print(
        "| workers | req/s (median) | × 1 worker | server CPU ms/req | server cores | p50 ms |",
        end="",
    )
    print(" p95 ms |\n|---|---|---|---|---|---|---|")
    for workers in COUNTS:
        rs = runs[workers]
        rps = statistics.median(r.rps for r in rs)
        print(
            f"| {workers} | {rps:.0f} | {rps / base:.2f} "
            f"| {statistics.median(r.server_cpu_ms_per_req or 0 for r in rs):.2f} "
            f"| {statistics.median(r.server_cpu_util or 0 for r in rs):.2f} "
            f"| {statistics.median(r.p50_ms for r in rs):.1f} "
            f"| {statistics.median(r.p95_ms for r in rs):.1f} |"
        )
    if args.json:
        args.json.write_text(
            json.dumps({str(n): [asdict(r) for r in rs] for n, rs in runs.items()}, indent=2)
        )


if __name__ == "__main__":
    main()
