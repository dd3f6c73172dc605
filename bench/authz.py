"""Casbin check latency with the shipped policy (issue 4: p99 under 1 ms).

    python -m bench.authz [--rounds 200]

Measures the raw ``Enforcer.enforce`` (what a cold check costs) and the memoised
``closedloop.authz.enforcer.allowed`` the API actually calls, over every
role x action x target of the policy.
"""

from __future__ import annotations

import argparse
import statistics
import time
from importlib import resources

from closedloop.authz.enforcer import allowed, get_enforcer
from closedloop.authz.roles import Action, Role, Target


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(rounds: int) -> dict[str, dict[str, float]]:
    enforcer = get_enforcer()
    combos = [(r, a, t) for r in Role for a in Action for t in Target]
    raw: list[float] = []
    memo: list[float] = []
    for _ in range(rounds):
        for role, action, target in combos:
            start = time.perf_counter_ns()
            enforcer.enforce(role.value, action.value, target.value)
            raw.append((time.perf_counter_ns() - start) / 1e6)
            start = time.perf_counter_ns()
            allowed(role, action, target)
            memo.append((time.perf_counter_ns() - start) / 1e6)
    out = {}
    for name, samples in (("enforce (raw casbin)", raw), ("allowed (memoised)", memo)):
        out[name] = {
            "checks": float(len(samples)),
            "p50_ms": statistics.median(samples),
            "p99_ms": percentile(samples, 0.99),
            "max_ms": max(samples),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    rules = (resources.files("closedloop") / "authz" / "policy.csv").read_text().splitlines()
    print(f"policy rules: {len(rules)}")
    print(f"{'check':<24}{'checks':>10}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for name, row in measure(args.rounds).items():
        print(
            f"{name:<24}{int(row['checks']):>10}{row['p50_ms']:>10.4f}{row['p99_ms']:>10.4f}"
            f"{row['max_ms']:>10.3f}"
        )


if __name__ == "__main__":
    main()
