"""``bench/national.py`` on two databases in turn (A B, B A, A B …) and their ratios.

    python -m bench.national_ab --a postgresql://…/closedloop_bench_1m_copy \\
        --b postgresql://…/closedloop_bench_national --runs 3 --out bench/out/ab-5m \\
        -- --rounds 2 --requests 3 [--reads-only]

A shared machine's load changes from minute to minute: a size compared with another in
runs far apart compares the loads as much as the sizes. Each run is its own process
(``python -m bench.national``, the arguments after ``--``), the order swapped every run;
per scenario the median of the runs' medians on each side, the runs in brackets, and B ÷ A
of those medians; and the 1-minute load average at each run's start.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any


def _run(url: str, out: Path, rest: list[str]) -> dict[str, Any]:
    env = {**os.environ, "DATABASE_URL": url}
    cmd = [sys.executable, "-m", "bench.national", *rest, "--json", str(out)]
    subprocess.run(cmd, env=env, check=True)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", required=True, help="database URL of A (the reference)")
    parser.add_argument("--b", required=True, help="database URL of B")
    parser.add_argument("--runs", type=int, default=3, help="pairs of runs")
    parser.add_argument("--out", required=True, help="a directory for each run's figures")
    parser.add_argument(
        "--b-args", default="", help="more bench.national arguments for B only (--province 51)"
    )
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="-- bench.national's arguments")
    args = parser.parse_args()
    rest = [a for a in args.rest if a != "--"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}
    for i in range(args.runs):
        order = ("a", "b") if i % 2 == 0 else ("b", "a")
        for side in order:
            url = args.a if side == "a" else args.b
            more = shlex.split(args.b_args) if side == "b" else []
            print(f"--- run {i + 1} {side.upper()}", flush=True)
            runs[side].append(_run(url, out / f"{side}-{i + 1}.json", rest + more))
    _report(runs)


def _report(runs: dict[str, list[dict[str, Any]]]) -> None:
    def medians(side: str, name: str) -> list[float]:
        return [r["figures"][name]["wall_ms_median"] for r in runs[side]]

    names = list(runs["a"][0]["figures"])
    print(f"{'scenario':28s} {'A ms':>9s} {'B ms':>9s} {'B/A':>6s}  runs A | runs B")
    for name in names:
        a, b = medians("a", name), medians("b", name)
        ma, mb = statistics.median(a), statistics.median(b)
        print(
            f"{name:28s} {ma:9.1f} {mb:9.1f} {mb / ma:6.2f}  "
            f"{[round(x, 1) for x in a]} | {[round(x, 1) for x in b]}"
        )
    for side in ("a", "b"):
        loads = [round(r["load_before"][0], 1) for r in runs[side]]
        print(f"load average at the start of each {side.upper()} run: {loads}")


if __name__ == "__main__":
    main()
