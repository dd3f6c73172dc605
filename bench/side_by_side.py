"""Helpers of ``bench/side_by_side.sh`` (issues 7 and 18): fetch one page from a server,
check that the servers return the same rows, and print the side-by-side tables.

    .venv/bin/python bench/side_by_side.py fetch --url http://127.0.0.1:8002 \\
        --scenario county_pool --out DIR/floor.pool.response.json
    .venv/bin/python bench/side_by_side.py report DIR

``report`` reads, for each shape (``pool``, ``nested``) and round N, the harness's
``--json`` of each server (``<server>.<shape>.rN.json``) and the responses
(``<server>.<shape>.response.json``); it normalises the responses (ids to issue ids;
PostGraphile's connections to lists; datetimes to instants) and compares them (the pool page
with the floor's, the nested page with PostGraphile's), then prints each round's table, the
ratios of closedloop to the floor and to PostGraphile per round (server CPU, and server +
PostgreSQL backends CPU) and their medians.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import SCENARIOS, _loopback

SERVERS = ("closedloop", "before", "floor", "postgraphile")
RUN_FILE = re.compile(r"(\w+)\.(\w+)\.r(\d+)\.json")  # <server>.<shape>.r<round>.json


async def fetch(url: str, scenario: str) -> dict[str, Any]:
    from closedloop.identity.tokens import mint_token
    from closedloop.settings import Settings

    sc = SCENARIOS[scenario]
    token = mint_token(Settings(), sc.username)
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        body = (await sc.prepare(client, token))[0]
        resp = await client.post(
            "/graphql", json=body, headers={"Authorization": f"Bearer {token}"}
        )
    resp.raise_for_status()
    data: dict[str, Any] = resp.json()
    return data


def _b64(raw: str) -> str:
    return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()


def issue_id(global_id: str) -> int:
    """closedloop's ``Issue:<id>`` or PostGraphile's ``["issues", <id>]``."""
    raw = _b64(global_id.replace("+", "-").replace("/", "_").rstrip("="))
    if raw.startswith("["):
        return int(json.loads(raw)[1])
    kind, _, key = raw.partition(":")
    assert kind == "Issue", raw
    return int(key)


def instant(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def normalise(response: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    issues = response["data"]["issues"]
    nodes = []
    for n in issues["nodes"]:
        last = n["lastEvent"]
        if isinstance(last, dict) and "nodes" in last:  # PostGraphile's connection
            last = last["nodes"][0] if last["nodes"] else None
        nodes.append(
            {
                "id": issue_id(n["id"]),
                "number": n["number"],
                "title": n["title"],
                "state": n["state"],
                "light": n["light"],
                "dueAt": instant(n["dueAt"]),
                "enterprise": n["enterprise"],
                "board": n["board"],
                "department": n["department"],
                "holdingRegion": n["holdingRegion"],
                "lastEvent": last and {**last, "occurredAt": instant(last["occurredAt"])},
            }
        )
    return issues["totalCount"], nodes


def normalise_nested(response: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    """The nested page, PostGraphile's connections as lists."""

    def items(value: Any) -> list[Any]:
        return list(value["nodes"] if isinstance(value, dict) and "nodes" in value else value)

    issues = response["data"]["issues"]
    nodes = [
        {
            "id": issue_id(n["id"]),
            "number": n["number"],
            "title": n["title"],
            "state": n["state"],
            "enterprise": n["enterprise"],
            "originRegion": n["originRegion"],
            "timeline": [
                {**e, "occurredAt": instant(e["occurredAt"])} for e in items(n["timeline"])
            ],
            "custody": [{**c, "startedAt": instant(c["startedAt"])} for c in items(n["custody"])],
        }
        for n in issues["nodes"]
    ]
    return issues["totalCount"], nodes


def _differences(
    label: str,
    got: tuple[int, list[dict[str, Any]]],
    ref: tuple[int, list[dict[str, Any]]],
) -> str:
    (total, nodes), (ref_total, ref_nodes) = got, ref
    diffs = [
        f"#{i} {k}: {a.get(k)!r} != {b.get(k)!r}"
        for i, (a, b) in enumerate(zip(nodes, ref_nodes, strict=False))
        for k in a
        if a.get(k) != b.get(k)
    ]
    if total != ref_total or len(nodes) != len(ref_nodes) or diffs:
        return (
            f"{label}: DIFFERS: totalCount {total} vs {ref_total},"
            f" {len(nodes)} vs {len(ref_nodes)} nodes; {diffs[:5]}"
        )
    return (
        f"{label}: same rows (totalCount {total}, {len(nodes)} nodes,"
        " every field equal after normalising ids and datetimes)"
    )


def compare(out: Path) -> list[str]:
    notes: list[str] = []

    def load(server: str, shape: str) -> dict[str, Any] | None:
        path = out / f"{server}.{shape}.response.json"
        return json.loads(path.read_text()) if path.exists() else None

    floor = load("floor", "pool")
    for server in ("closedloop", "before", "postgraphile"):
        found = load(server, "pool")
        if floor is not None and found is not None:
            notes.append(
                _differences(
                    f"pool page, {server} vs the floor",
                    normalise(found),
                    normalise(floor),
                )
            )
    theirs = load("postgraphile", "nested")
    for server in ("closedloop", "before"):
        ours = load(server, "nested")
        if ours is not None and theirs is not None:
            notes.append(
                _differences(
                    f"nested page, {server} vs PostGraphile",
                    normalise_nested(ours),
                    normalise_nested(theirs),
                )
            )
    return notes


def _fmt(v: float | None, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def _total_cpu(r: dict[str, Any]) -> float | None:
    """Server CPU + the API's PostgreSQL backends' CPU, per request."""
    server, backends = r.get("server_cpu_ms_per_req"), r.get("backend_cpu_ms_per_req")
    return None if server is None or backends is None else server + backends


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def report(out: Path) -> int:
    # shape -> round -> server -> the harness's figures
    runs: dict[str, dict[int, dict[str, dict[str, Any]]]] = {}
    for path in sorted(out.glob("*.json")):
        found = RUN_FILE.fullmatch(path.name)
        if found is None:
            continue
        server, shape, rnd = found.group(1), found.group(2), int(found.group(3))
        runs.setdefault(shape, {}).setdefault(rnd, {})[server] = json.loads(path.read_text())[0]
    if not runs:
        print(f"no results in {out}")
        return 1
    for shape, rounds in runs.items():
        print(f"### {shape} page")
        print()
        print(
            "| round | server | requests | errors | req/s | p50 ms | p95 ms | p99 ms"
            " | server CPU ms/req | PG backends CPU ms/req¹ | server + PG ms/req"
            " | SQL statements/req | new PG conns | client cores |"
        )
        print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        ratios: dict[str, list[float]] = {}
        for rnd, results in sorted(rounds.items()):
            for server, r in results.items():
                print(
                    f"| {rnd} | {server} | {r['requests']:,} | {r['errors']} | {r['rps']:,.1f}"
                    f" | {r['p50_ms']:,.1f} | {r['p95_ms']:,.1f} | {r['p99_ms']:,.1f}"
                    f" | {_fmt(r['server_cpu_ms_per_req'], '.2f')}"
                    f" | {_fmt(r['backend_cpu_ms_per_req'], '.2f')}"
                    f" | {_fmt(_total_cpu(r), '.2f')} | {_fmt(r['sql_per_req'], '.2f')}"
                    f" | {_fmt(r['new_pg_sessions'], 'd')} | {r['client_cpu_util']:.2f} |"
                )
            # "before": closedloop of another tree (BEFORE_TREE), measured in the same rounds
            for mine, peers in (
                ("closedloop", ("before", "floor", "postgraphile")),
                ("before", ("floor", "postgraphile")),
            ):
                ours = results.get(mine)
                if ours is None:
                    continue
                for peer in peers:
                    theirs = results.get(peer)
                    if theirs is None:
                        continue
                    for what, value in (
                        (
                            "server CPU",
                            _ratio(
                                ours["server_cpu_ms_per_req"],
                                theirs["server_cpu_ms_per_req"],
                            ),
                        ),
                        ("server + PG CPU", _ratio(_total_cpu(ours), _total_cpu(theirs))),
                    ):
                        if value is not None:
                            ratios.setdefault(f"{mine} ÷ {peer}, {what}", []).append(value)
        print()
        print("| ratio | per round | median |")
        print("|---|---|---:|")
        for label, values in ratios.items():
            per_round = " / ".join(f"{v:.2f}×" for v in values)
            print(f"| {label} | {per_round} | **{statistics.median(values):.2f}×** |")
        print()
    print("¹ the backends whose process title matches --pg-match (the servers' own), alive")
    print("  throughout the window; only the measured server sends them work.")
    print()
    for note in compare(out):
        print(f"- {note}")
    for shape, rounds in runs.items():
        for rnd, results in sorted(rounds.items()):
            for server, r in results.items():
                if r.get("first_error"):
                    print(f"- {shape} r{rnd} {server}: first error: {r['first_error']}")
    return 0


# Where the innermost frame of a sample is, by file path (first match wins).
CATEGORIES = (
    ("graphql/validation", "GraphQL validation"),
    ("graphql/language", "GraphQL parsing"),
    ("graphql/", "graphql-core execution"),
    ("strawberry/", "strawberry (resolver wrappers, DataLoader, enums)"),
    ("asyncio/", "asyncio event loop"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("asyncpg/", "asyncpg"),
    ("closedloop/", "closedloop code"),
    ("json/", "JSON encoding"),
    ("jwt/", "JWT"),
    ("cryptography/", "JWT"),
    ("hmac", "JWT"),
    ("uvicorn/", "HTTP (uvicorn, starlette, h11/httptools)"),
    ("starlette/", "HTTP (uvicorn, starlette, h11/httptools)"),
    ("h11/", "HTTP (uvicorn, starlette, h11/httptools)"),
    ("httptools/", "HTTP (uvicorn, starlette, h11/httptools)"),
    ("prometheus_client/", "telemetry (prometheus, logging)"),
    ("structlog/", "telemetry (prometheus, logging)"),
    ("logging/", "telemetry (prometheus, logging)"),
    ("bench/floor.py", "bench/floor.py (the floor's own code)"),
)


# Samples whose stack passes through any of these (file path or function fragments).
INCLUSIVE = (
    ("GraphQL parse + validation", ("graphql/validation", "graphql/language/parser")),
    ("SQLAlchemy (compile, execute, rows)", ("sqlalchemy/",)),
    ("asyncpg", ("asyncpg/",)),
    ("DataLoader batches", ("strawberry/dataloader",)),
    ("building records/objects (from_row, from_record)", ("from_row", "from_record")),
    ("JSON encoding of the response", ("json/encoder", "json/__init__")),
    ("token verification (jwt)", ("jwt/",)),
    ("uvicorn/starlette request handling", ("uvicorn/", "starlette/")),
)


def profile(path: Path) -> int:
    """Summarise a py-spy raw (collapsed) profile: samples by the innermost frame's
    package, and the most frequent innermost functions."""
    by_cat: dict[str, int] = {}
    by_fn: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        leaf = stack.split(";")[-1]
        cat = next((c for key, c in CATEGORIES if key in leaf), None)
        if cat is None:
            inner = leaf[leaf.find("(") + 1 :].split(":")[0]
            parts = inner.split("site-packages/")
            cat = "other: " + (parts[-1].split("/")[0] if len(parts) > 1 else inner)
        by_cat[cat] = by_cat.get(cat, 0) + n
        by_fn[leaf] = by_fn.get(leaf, 0) + n
        for label, keys in INCLUSIVE:
            if any(k in stack for k in keys):
                inclusive[label] = inclusive.get(label, 0) + n
    if not total:
        print(f"no samples in {path}")
        return 1
    print(f"{path.name}: {total} samples, by the innermost frame")
    print()
    print("| share | where |")
    print("|---:|---|")
    for cat, n in sorted(by_cat.items(), key=lambda kv: -kv[1]):
        if n / total >= 0.005:
            print(f"| {100 * n / total:.0f}% | {cat} |")
    print()
    print("inclusive (samples with such a frame anywhere on the stack):")
    print()
    print("| share | what |")
    print("|---:|---|")
    for label, _ in INCLUSIVE:
        if inclusive.get(label):
            print(f"| {100 * inclusive[label] / total:.0f}% | {label} |")
    print()
    print("top innermost functions:")
    for fn, n in sorted(by_fn.items(), key=lambda kv: -kv[1])[:15]:
        print(f"  {100 * n / total:5.1f}%  {fn[:150]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="save one response of a server")
    f.add_argument("--url", required=True)
    f.add_argument("--scenario", default="county_pool", choices=sorted(SCENARIOS))
    f.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("report", help="compare the responses and print the table")
    r.add_argument("dir", type=Path)
    pr = sub.add_parser("profile", help="summarise a py-spy raw profile")
    pr.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    if args.cmd == "profile":
        return profile(args.file)
    if args.cmd == "fetch":
        if not _loopback(args.url):
            parser.error("loopback only")
        data = asyncio.run(fetch(args.url.rstrip("/"), args.scenario))
        args.out.write_text(json.dumps(data, ensure_ascii=False, indent=1))
        return 0
    return report(args.dir)


if __name__ == "__main__":
    sys.exit(main())
