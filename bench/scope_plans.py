"""Query plans of the scope predicate under row-level security (issue 4).

    .venv/bin/python -m bench.scope_plans \\
        --database-url postgresql://postgres@127.0.0.1:5432/closedloop_bench_1m \\
        [--repeat 5] [--generic] [--case pool_page ...]

Runs the API's own statements (``closedloop.services.issues.queries.list_issues`` and
``count_issues``, captured as sent to PostgreSQL) as the application role
``closedloop_app`` (the URL's user is replaced), in a transaction tagged with the
caller's scope exactly as ``Database.read`` does, then replays each captured statement as
``PREPARE`` + ``EXPLAIN (ANALYZE, BUFFERS) EXECUTE`` ``--repeat`` times in the same kind of
transaction. Prints each plan's scan nodes (index or sequential, rows, loops, time) and
the planning and execution times (median and min of the repeats).

The API sends its statements through asyncpg's prepared-statement cache (SQLAlchemy's
asyncpg dialect prepares each statement once per connection), so after five executions
PostgreSQL's plan cache may switch to a *generic* plan (parameters unknown at planning).
Each statement is therefore shown twice: its custom plan (the first five executions) and
the plan after five executions in ``plan_cache_mode = auto`` (what a pooled connection
settles on); ``--generic`` adds the forced generic plan.

The capture/explain helpers (``capture``, ``explain_captured``, ``scan_nodes``) are reused
by ``bench/dashboard_plans.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import statistics
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from closedloop.authz.roles import Principal
from closedloop.db.database import Database, as_user, async_url, make_engine
from closedloop.identity.accounts import principal_for
from closedloop.services.issues.queries import IssueFilter, IssueOrder, count_issues, list_issues

# --- capturing the statements the services send --------------------------------------------


@dataclass(frozen=True)
class Captured:
    statement: str
    params: tuple[Any, ...]


@contextmanager
def capture(engine: AsyncEngine, into: list[Captured]) -> Iterator[None]:
    """Record every statement sent on ``engine`` (the scope's ``set_config`` left out)."""

    def listener(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool
    ) -> None:
        if statement.lstrip().upper().startswith("SELECT SET_CONFIG"):
            return
        into.append(Captured(statement, tuple(parameters or ())))

    event.listen(engine.sync_engine, "before_cursor_execute", listener)
    try:
        yield
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", listener)


def sql_literal(value: Any) -> str:
    """An untyped SQL literal PostgreSQL coerces to the prepared parameter's type."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dt.datetime | dt.date):
        text = value.isoformat()
    elif isinstance(value, list | tuple):
        inner = ",".join(
            "NULL" if v is None else '"' + _plain(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
            for v in value
        )
        text = "{" + inner + "}"
    else:
        text = _plain(value)
    return "'" + text.replace("'", "''") + "'"


def _plain(value: Any) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class Explained:
    plans: list[dict[str, Any]] = field(default_factory=list)  # one per repeat

    @property
    def last(self) -> dict[str, Any]:
        return self.plans[-1]

    def times(self, key: str) -> list[float]:
        return [float(p[key]) for p in self.plans]

    def summary(self) -> str:
        ex, pl = self.times("Execution Time"), self.times("Planning Time")
        return (
            f"execution median {statistics.median(ex):.2f} ms (min {min(ex):.2f}, max"
            f" {max(ex):.2f}); planning median {statistics.median(pl):.2f} ms"
            f" over {len(ex)} runs"
        )


async def driver_of(conn: AsyncConnection) -> Any:
    raw = await conn.get_raw_connection()
    return raw.driver_connection


PLAN_MODES = ("custom", "auto", "generic")


async def explain_captured(
    conn: AsyncConnection, stmt: Captured, *, repeat: int, mode: str, name: str = "bench_q"
) -> Explained:
    """PREPARE the captured statement and EXPLAIN ANALYZE its execution ``repeat`` times
    inside the caller's (scope-tagged) transaction.

    ``mode``: ``custom`` plans with the parameters' values (what the first five executions
    of a prepared statement get); ``auto`` plans it five times first (plain EXPLAIN: custom
    plans, built and counted by the plan cache, not executed), then explains, so PostgreSQL
    has made its choice between the custom and the generic plan (what a pooled connection
    of the API settles on); ``generic`` forces the generic plan.
    """
    drv = await driver_of(conn)
    args = ", ".join(sql_literal(v) for v in stmt.params)
    out = Explained()
    await drv.execute(f"PREPARE {name} AS {stmt.statement}")
    try:
        cache_mode = {"custom": "force_custom_plan", "generic": "force_generic_plan"}
        await drv.execute(f"SET LOCAL plan_cache_mode = {cache_mode.get(mode, 'auto')}")
        execute = f"EXECUTE {name}({args})" if stmt.params else f"EXECUTE {name}"
        if mode == "auto":
            for _ in range(5):  # plain EXPLAIN builds (and counts) a custom plan, cheaply
                await drv.fetchval(f"EXPLAIN {execute}")
        for _ in range(repeat):
            raw = await drv.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {execute}")
            # SQLAlchemy's asyncpg dialect installs a json codec: decoded already.
            out.plans.append((json.loads(raw) if isinstance(raw, str | bytes) else raw)[0])
        await drv.execute("SET LOCAL plan_cache_mode = auto")
    finally:
        await drv.execute(f"DEALLOCATE {name}")
    return out


GENERIC_PARAM = re.compile(r"\(\$\d+\)::")


def is_generic(plan: dict[str, Any]) -> bool:
    """A generic plan compares columns with parameters (``($5)::text``); a custom plan has
    the values inlined (the RLS policy's InitPlans, ``$0``, appear in both)."""
    return any(
        GENERIC_PARAM.search(str(node.get(key, "")))
        for _, node in walk(plan["Plan"])
        for key in ("Index Cond", "Recheck Cond", "Filter", "Hash Cond", "Join Filter")
    )


# --- reading plans ---------------------------------------------------------------------------


def walk(node: dict[str, Any], depth: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    yield depth, node
    for child in node.get("Plans", []):
        yield from walk(child, depth + 1)


def _short(text: str, width: int = 150) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def scan_nodes(plan: dict[str, Any]) -> list[str]:
    """One line per scan node of the plan (and per aggregate/sort, for where time goes)."""
    lines = []
    for depth, node in walk(plan["Plan"]):
        kind = node["Node Type"]
        if "Scan" not in kind and kind not in ("Aggregate", "Sort", "Hash Join", "Nested Loop"):
            continue
        what = kind
        if node.get("Relation Name"):
            what += f" on {node['Relation Name']}"
        if node.get("Index Name"):
            what += f" using {node['Index Name']}"
        if kind == "Aggregate" and node.get("Strategy"):
            what += f" ({node['Strategy']})"
        lines.append(
            f"{'  ' * depth}{what}: rows {node.get('Actual Rows')} x loops"
            f" {node.get('Actual Loops')}, {node.get('Actual Total Time', 0):.2f} ms"
            + (
                f", removed by filter {node['Rows Removed by Filter']}"
                if node.get("Rows Removed by Filter")
                else ""
            )
            + (
                f", heap blocks {node.get('Exact Heap Blocks', 0)}"
                if kind == "Bitmap Heap Scan"
                else ""
            )
        )
        for key in ("Index Cond", "Recheck Cond", "Filter"):
            if node.get(key):
                lines.append(f"{'  ' * depth}    {key}: {_short(node[key])}")
    return lines


def uses_seq_scan_on(plan: dict[str, Any], table: str) -> bool:
    return any(
        n["Node Type"] == "Seq Scan" and n.get("Relation Name") == table
        for _, n in walk(plan["Plan"])
    )


# --- the cases ---------------------------------------------------------------------------------

NOW = dt.datetime.now(dt.UTC)

Run = Callable[[AsyncConnection, Principal], Awaitable[object]]


@dataclass(frozen=True)
class Case:
    name: str
    username: str
    description: str
    run: Run


def _page(f: IssueFilter) -> Run:
    async def run(conn: AsyncConnection, p: Principal) -> object:
        return await list_issues(conn, p, f, IssueOrder.CREATED_AT_DESC, 51, None, NOW)

    return run


def _count(f: IssueFilter) -> Run:
    async def run(conn: AsyncConnection, p: Principal) -> object:
        return await count_issues(conn, p, f, NOW)

    return run


CASES = [
    Case(
        "pool_page",
        "deqing.center",
        "德清 county center's pool, newest 50 (+1): issues(filter: {pool: true}, first: 50)",
        _page(IssueFilter(pool=True)),
    ),
    Case("pool_count", "deqing.center", "its totalCount", _count(IssueFilter(pool=True))),
    Case(
        "county_scope_count",
        "deqing.center",
        "every issue in 德清's scope (origin or holder in 330521): issues { totalCount }",
        _count(IssueFilter()),
    ),
    Case(
        "county_scope_page",
        "deqing.center",
        "德清's scope, newest 50 (+1): issues(first: 50)",
        _page(IssueFilter()),
    ),
    Case(
        "county_scope_count_typical",
        "changxing.center",
        "every issue in 长兴's scope (330522, a county of typical size): issues { totalCount }",
        _count(IssueFilter()),
    ),
    Case(
        "town_scope_count",
        "xinshi.center",
        "every issue in 新市's scope (330521102): issues { totalCount }",
        _count(IssueFilter()),
    ),
    Case(
        "town_scope_page",
        "xinshi.center",
        "新市's scope, newest 50 (+1): issues(first: 50)",
        _page(IssueFilter()),
    ),
    Case(
        "city_scope_count",
        "huzhou.center",
        "every issue in 湖州's scope (3305): issues { totalCount }",
        _count(IssueFilter()),
    ),
    # A search box (issue 18): the mixed workload's keywords, the newest 20 (+1) and the count.
    *(
        Case(
            f"keyword_{size}_{kind}_{n}",
            who,
            f"{size}'s issues with '{word}' in the title or content: {kind}",
            (_page if kind == "page" else _count)(IssueFilter(text=word)),
        )
        for size, who in (("province", "province.monitor"), ("city", "huzhou.leader"))
        for n, word in enumerate(("用地", "环评"))
        for kind in ("page", "count")
    ),
]


@asynccontextmanager
async def app_database(
    database_url: str, app_user: str, settings: dict[str, str] | None = None
) -> AsyncIterator[Database]:
    """A ``Database`` on the application role, as the API builds it. ``settings``: extra
    PostgreSQL session settings (experiments, e.g. ``{"work_mem": "64MB"}``)."""
    if settings:
        server = {"application_name": "closedloop", "timezone": "UTC", **settings}
        engine = create_async_engine(
            async_url(as_user(database_url, app_user, None)),
            pool_size=2,
            max_overflow=2,
            connect_args={"server_settings": server},
        )
    else:
        engine = make_engine(as_user(database_url, app_user, None), 2)
    try:
        yield Database(engine)
    finally:
        await engine.dispose()


async def principal(db: Database, username: str) -> Principal:
    async with db.read_reference() as conn:
        found = await principal_for(conn, username)
    if found is None:
        raise SystemExit(f"no account {username!r}: run `closedloop seed demo`")
    return found


async def run_case(db: Database, case: Case, repeat: int, generic: bool) -> list[str]:
    who = await principal(db, case.username)
    captured: list[Captured] = []
    async with db.read(who) as conn:
        with capture(db.engine, captured):
            result = await case.run(conn, who)
    shown = result if isinstance(result, int) else f"{len(result)} rows"  # type: ignore[arg-type]
    out = [
        f"== {case.name}: {case.description}",
        f"   as {case.username} ({who.role}, region {who.region_code}); the API's answer: {shown}",
    ]
    for n, stmt in enumerate(captured):
        for mode in ("custom", "auto", "generic") if generic else ("custom", "auto"):
            async with db.read(who) as conn:
                explained = await explain_captured(
                    conn, stmt, repeat=repeat, mode=mode, name=f"bench_q{n}"
                )
            kind = "generic" if is_generic(explained.last) else "custom"
            label = {
                "custom": "custom plan (first 5 executions)",
                "auto": f"after 5 executions: the plan cache chose the {kind} plan",
                "generic": "generic plan (forced)",
            }[mode]
            seq = uses_seq_scan_on(explained.last, "issue")
            cost = explained.last["Plan"]["Total Cost"]
            out.append(
                f"-- statement {n + 1}, {label}: {explained.summary()}; est. cost {cost:,.0f};"
                f" {'SEQ SCAN on issue' if seq else 'no seq scan on issue'}"
            )
            out += ["   " + line for line in scan_nodes(explained.last)]
    return out


async def amain(args: argparse.Namespace) -> int:
    cases = [c for c in CASES if not args.case or c.name in args.case]
    async with app_database(args.database_url, args.app_user) as db:
        async with db.read_reference() as conn:
            drv = await driver_of(conn)
            user = await drv.fetchval("SELECT current_user")
            total = await drv.fetchval(
                "SELECT reltuples::bigint FROM pg_class WHERE relname = 'issue'"
            )
        print(f"connected as {user}; issue ≈ {total:,} rows (pg_class.reltuples); now {NOW:%F %T}Z")
        for case in cases:
            for line in await run_case(db, case, args.repeat, args.generic):
                print(line)
            print()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--app-user", default="closedloop_app", help="role the API connects as")
    parser.add_argument("--repeat", type=int, default=5, help="EXPLAIN ANALYZE runs per plan")
    parser.add_argument("--generic", action="store_true", help="also show the forced generic plan")
    parser.add_argument("--case", action="append", choices=[c.name for c in CASES])
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url or DATABASE_URL is required")
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
