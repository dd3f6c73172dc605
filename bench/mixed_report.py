"""The tables of the mixed portal workload (``python -m bench.mixed report DIR``): the whole
mix per window and round, closedloop against PostGraphile on the operations both serve
(ratios per round and their medians), each operation's latency inside the mix, each
operation alone (CPU, statements, connections per request; warm, cold, PostGraphile), and
whether both servers answered the same rows."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any

from bench.mixed_ops import OPS

RUN_FILE = re.compile(r"(closedloop|postgraphile)\.([\w-]+)\.r(\d+)\.json")


def _f(v: float | None, spec: str = ".2f") -> str:
    return "–" if v is None else format(v, spec)


def _backends(r: dict[str, Any]) -> float | None:
    """The server's PostgreSQL backends' CPU per request: only those alive throughout the
    window are counted, so none when the server opened connections meanwhile."""
    return None if r.get("new_pg_sessions") else r.get("backend_cpu_ms_per_req")


def _total(r: dict[str, Any]) -> float | None:
    s, b = r.get("server_cpu_ms_per_req"), _backends(r)
    return None if s is None or b is None else s + b


def _median(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _load(out: Path) -> dict[tuple[str, str], dict[int, dict[str, Any]]]:
    runs: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    for path in sorted(out.glob("*.json")):
        m = RUN_FILE.fullmatch(path.name)
        if m:
            runs.setdefault((m.group(1), m.group(2)), {})[int(m.group(3))] = json.loads(
                path.read_text()
            )
    return runs


def _windows(runs: dict[tuple[str, str], dict[int, dict[str, Any]]]) -> None:
    print("### The whole mix, per window")
    print()
    print(
        "| window | server | round | requests | errors | req/s | p50 / p95 / p99 ms"
        " | server CPU ms/req | PG backends ms/req | server + PG | SQL/req | new PG conns"
        " | subscribers: events, delay p50 / p95 ms | cache emptyings |"
    )
    print("|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---:|")
    for (server, label), rounds in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        if label.startswith("solo"):
            continue
        for rnd, r in sorted(rounds.items()):
            subs = r.get("subscribers")
            sub = (
                f"{subs['count']}: {subs['events']:,}, {_f(subs['delay_p50_ms'], '.0f')} /"
                f" {_f(subs['delay_p95_ms'], '.0f')}"
                if subs
                else "–"
            )
            print(
                f"| {label} | {server} | {rnd} | {r['requests']:,} | {r['errors']}"
                f" | {r['rps']:.1f} | {r['p50_ms']:.0f} / {r['p95_ms']:.0f} / {r['p99_ms']:.0f}"
                f" | {_f(r['server_cpu_ms_per_req'])} | {_f(_backends(r))}"
                f" | {_f(_total(r))} | {_f(r['sql_per_req'])} | {_f(r['new_pg_sessions'], 'd')}"
                f" | {sub} | {r['cold_resets']} |"
            )
    print()
    print(
        "PG backends: the server's own PostgreSQL backends alive throughout the window"
        " (– when it opened connections meanwhile: a freshly started server's)."
    )
    print()


def _shared(runs: dict[tuple[str, str], dict[int, dict[str, Any]]]) -> None:
    ours, theirs = (
        runs.get(("closedloop", "shared"), {}),
        runs.get(("postgraphile", "shared"), {}),
    )
    common = sorted(ours.keys() & theirs.keys())
    if not common:
        return
    print("### The operations both serve (same seed, same weights), closedloop ÷ PostGraphile")
    print()
    print("| ratio | per round | median |")
    print("|---|---|---:|")
    for what, get in (
        ("server CPU per request", lambda r: r["server_cpu_ms_per_req"]),
        ("server + PostgreSQL backends CPU per request", _total),
        ("p50 latency", lambda r: r["p50_ms"]),
        ("p95 latency", lambda r: r["p95_ms"]),
        ("p99 latency", lambda r: r["p99_ms"]),
    ):
        values = [_ratio(get(ours[n]), get(theirs[n])) for n in common]
        per = " / ".join(f"{_f(v)}×" for v in values)
        print(f"| {what} | {per} | **{_f(_median(values))}×** |")
    print()


def _per_op_in_mix(runs: dict[tuple[str, str], dict[int, dict[str, Any]]]) -> None:
    labels = [k for k in sorted(runs, key=lambda k: (k[1], k[0])) if not k[1].startswith("solo")]
    if not labels:
        return
    print("### Each operation inside the mix: p50 / p95 / p99 ms (medians over rounds)")
    print()
    print("| operation | " + " | ".join(f"{label} ({server})" for server, label in labels) + " |")
    print("|---|" + "---:|" * len(labels))
    names = sorted({op for k in labels for r in runs[k].values() for op in r["ops"]})
    for op in names:
        cells = []
        for k in labels:
            found = [r["ops"][op] for r in runs[k].values() if op in r["ops"]]
            if not found:
                cells.append("–")
                continue
            p = [_median([x[q] for x in found]) for q in ("p50_ms", "p95_ms", "p99_ms")]
            n = sum(x["requests"] for x in found)
            e = sum(x["errors"] for x in found)
            cells.append(
                " / ".join(_f(v, ".0f") for v in p) + f" ({n:,}" + (f", {e} err)" if e else ")")
            )
        print(f"| {op} | " + " | ".join(cells) + " |")
    print()


def _solo(runs: dict[tuple[str, str], dict[int, dict[str, Any]]]) -> None:
    ops = [op for op in OPS if any(label == f"solo-{op}" for _, label in runs)]
    if not ops:
        return
    print("### Each operation alone: CPU, statements and connections per request (medians)")
    print()
    print(
        "| operation | closedloop server CPU ms | server + PG backends | SQL/req | new PG conns"
        " | p50 / p95 ms | cold¹ server CPU ms | cold server + PG | cold SQL/req"
        " | PostGraphile server CPU ms | PostGraphile server + PG | closedloop ÷ PostGraphile,"
        " server / server + PG |"
    )
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|")

    def med(server: str, label: str, get: Any) -> float | None:
        return _median([get(r) for r in runs.get((server, label), {}).values()])

    for op in ops:
        cpu = med("closedloop", f"solo-{op}", lambda r: r["server_cpu_ms_per_req"])
        tot = med("closedloop", f"solo-{op}", _total)
        sql = med("closedloop", f"solo-{op}", lambda r: r["sql_per_req"])
        conns = med("closedloop", f"solo-{op}", lambda r: r["new_pg_sessions"])
        p50 = med("closedloop", f"solo-{op}", lambda r: r["p50_ms"])
        p95 = med("closedloop", f"solo-{op}", lambda r: r["p95_ms"])
        ccpu = med("closedloop", f"solo-cold-{op}", lambda r: r["server_cpu_ms_per_req"])
        ctot = med("closedloop", f"solo-cold-{op}", _total)
        csql = med("closedloop", f"solo-cold-{op}", lambda r: r["sql_per_req"])
        pcpu = med("postgraphile", f"solo-{op}", lambda r: r["server_cpu_ms_per_req"])
        ptot = med("postgraphile", f"solo-{op}", _total)
        ratios = f"{_f(_ratio(cpu, pcpu))}× / {_f(_ratio(tot, ptot))}×" if pcpu is not None else "–"
        print(
            f"| {op} | {_f(cpu)} | {_f(tot)} | {_f(sql)} | {_f(conns, '.0f')}"
            f" | {_f(p50, '.0f')} / {_f(p95, '.0f')} | {_f(ccpu)} | {_f(ctot)} | {_f(csql)}"
            f" | {_f(pcpu)} | {_f(ptot)} | {ratios} |"
        )
    print()
    print(
        "¹ cold: one connection, the server sent SIGUSR1 (every cache emptied) before each request."
    )
    print()


def _answers(out: Path) -> None:
    a, b = out / "closedloop.answers.json", out / "postgraphile.answers.json"
    if not (a.exists() and b.exists()):
        return
    ours, theirs = json.loads(a.read_text()), json.loads(b.read_text())
    for op, listed in theirs.items():
        mine = ours.get(op, [])
        same = sum(x == y for x, y in zip(mine, listed, strict=False))
        verdict = "same rows" if same == len(listed) == len(mine) else "**DIFFER**"
        print(f"- {op}: {verdict} in {same} of {len(listed)} requests (totals, ids, states…)")
    print()


def report(out: Path) -> int:
    runs = _load(out)
    if not runs:
        print(f"no results in {out}")
        return 1
    _windows(runs)
    _shared(runs)
    _per_op_in_mix(runs)
    _solo(runs)
    _answers(out)
    for (server, label), rounds in sorted(runs.items()):
        for rnd, r in sorted(rounds.items()):
            if r.get("first_error"):
                print(f"- {server} {label} r{rnd}: first error: {r['first_error']}")
    return 0
