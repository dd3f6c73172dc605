"""Fill ``issue_similarity_key`` for issues that have none (benchmark data, backfills).

    python -m bench.generator.similarity_keys --database-url postgresql://postgres@.../db

On intake ``closedloop.services.learning.similar.write_keys`` writes an issue's MinHash band
keys and its enterprise key; issues loaded another way (``python -m bench generate``, an
import predating the table) have none, so duplicate and recurrence look-ups never find
them. This fills the table with exactly what ``write_keys`` would have written:
``candidate_keys(IssueText(title, content, str(enterprise_id), frozenset(tags)))``, deduplicated,
one row ``(key, county_code = origin_region_code[:6], created_at, issue_id)`` per key.

Two layers:

- pure: ``key_rows`` / ``batch_keys`` turn issue rows into key rows (no I/O);
- loading: ``load_similarity_keys`` reads the issues in id order in batches, computes the
  keys in worker processes (``workers``, default 2, at ``os.nice(10)``: the machine is
  shared) and COPYs them (asyncpg ``copy_records_to_table``) over one connection in one
  transaction, then ANALYZEs the table.

Modes, decided from what is there:

- the table is empty (or ``replace``: emptied first): a bulk load. The table's indexes and
  primary key are dropped inside the transaction and rebuilt from their own definitions
  after the COPY (one sorted build instead of ~33 random b-tree insertions per issue); as a
  superuser the per-row foreign-key triggers are skipped (every ``issue_id`` is read from
  ``issue`` in the same transaction).
- otherwise: incremental; only the issues without any key are read, the indexes stay.

Connect with the database's owner or a superuser (the URL's own user, never the
application role: row-level security would hide the issues).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from closedloop.domain.similarity import IssueText, candidate_keys

TABLE = "issue_similarity_key"
COLUMNS = ("key", "county_code", "created_at", "issue_id")
DEFAULT_BATCH = 10_000
DEFAULT_WORKERS = 2
NICENESS = 10
APPLICATION_NAME = "closedloop-similarity-keys"  # in pg_stat_activity

# One issue as read from the database: id, title, content, enterprise id, tags, origin region,
# created at.
IssueRow = tuple[int, str, str, int, Sequence[str], str, dt.datetime]
# What a worker sends back per issue: id, county, created at, its distinct keys (compact to
# pickle; expanded into COPY rows by ``expand``).
IssueKeys = tuple[int, str, dt.datetime, tuple[int, ...]]
KeyRow = tuple[int, str, dt.datetime, int]


# --- pure --------------------------------------------------------------------------------------


def county_of(region_code: str) -> str:
    return region_code[:6]


def issue_keys(row: IssueRow) -> IssueKeys:
    """The distinct candidate keys of one issue, as ``similar.write_keys`` computes them."""
    issue_id, title, content, enterprise_id, tags, origin, created_at = row
    text = IssueText(title, content, str(enterprise_id), frozenset(tags or ()))
    return issue_id, county_of(origin), created_at, tuple(sorted(set(candidate_keys(text))))


def batch_keys(rows: Sequence[IssueRow]) -> list[IssueKeys]:
    return [issue_keys(r) for r in rows]


def expand(found: Iterable[IssueKeys]) -> list[KeyRow]:
    """COPY rows in ``COLUMNS`` order."""
    return [
        (key, county, created_at, issue_id)
        for issue_id, county, created_at, keys in found
        for key in keys
    ]


def key_rows(rows: Sequence[IssueRow]) -> list[KeyRow]:
    """``issue_similarity_key`` rows for some issues (what the loader writes)."""
    return expand(batch_keys(rows))


# --- loading -------------------------------------------------------------------------------------


@dataclass
class LoadReport:
    issues: int = 0
    rows: int = 0
    mode: str = ""
    seconds: float = 0.0
    read_seconds: float = 0.0  # fetching issue batches
    wait_seconds: float = 0.0  # waiting for the workers' keys
    copy_seconds: float = 0.0
    index_seconds: float = 0.0  # rebuilding the indexes (bulk mode)
    commit_analyze_seconds: float = 0.0
    table_bytes: int = 0
    index_bytes: dict[str, int] | None = None

    def lines(self) -> list[str]:
        per = self.rows / self.issues if self.issues else 0.0
        mib = 1024 * 1024
        indexes = ", ".join(f"{k} {v / mib:,.0f} MiB" for k, v in (self.index_bytes or {}).items())
        return [
            f"{self.mode}: {self.issues:,} issues, {self.rows:,} keys ({per:.1f} per issue)"
            f" in {self.seconds:.1f} s (reading {self.read_seconds:.1f} s, waiting for keys"
            f" {self.wait_seconds:.1f} s, COPY {self.copy_seconds:.1f} s, indexes"
            f" {self.index_seconds:.1f} s, commit + ANALYZE {self.commit_analyze_seconds:.1f} s)",
            f"table {self.table_bytes / mib:,.0f} MiB; indexes: {indexes or '-'}",
        ]


def _nice() -> None:
    with contextlib.suppress(OSError):  # not permitted: run at the normal priority
        os.nice(NICENESS)


def plain_url(url: str) -> str:
    """asyncpg wants ``postgresql://``; accept SQLAlchemy's driver-qualified forms too."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


_SELECT = (
    "SELECT i.id, i.title, i.content, i.enterprise_id, i.tags, i.origin_region_code,"
    " i.created_at FROM issue i WHERE i.id > $1 {missing} {origin} ORDER BY i.id LIMIT $2"
)
_ORIGIN = "AND i.origin_region_code LIKE $3 || '%'"
_MISSING = f"AND NOT EXISTS (SELECT 1 FROM {TABLE} k WHERE k.issue_id = i.id)"


async def _indexes(conn: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The table's constraints backed by indexes (name, definition) and its other indexes
    (name, CREATE INDEX statement)."""
    constraints = [
        (r["conname"], r["def"])
        for r in await conn.fetch(
            "SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint"
            " WHERE conrelid = $1::regclass AND contype IN ('p', 'u') ORDER BY conname",
            TABLE,
        )
    ]
    owned = {name for name, _ in constraints}
    indexes = [
        (r["indexname"], r["indexdef"])
        for r in await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes"
            " WHERE schemaname = current_schema() AND tablename = $1 ORDER BY indexname",
            TABLE,
        )
        if r["indexname"] not in owned
    ]
    return constraints, indexes


async def load_similarity_keys(
    database_url: str,
    *,
    batch_size: int = DEFAULT_BATCH,
    workers: int = DEFAULT_WORKERS,
    replace: bool = False,
    limit: int | None = None,
    origin: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> LoadReport:
    """Write the similarity keys of every issue that has none (see the module docstring).
    ``limit``: stop after that many issues (trials); ``origin``: only issues raised under
    that region (a county's duplicate look-ups on a national data set, whose keys for
    every issue would take ≈ 33 rows per issue)."""
    import asyncpg  # type: ignore[import-untyped,unused-ignore]

    say = progress or (lambda _msg: None)
    report = LoadReport()
    started = time.perf_counter()
    _nice()  # the COPY encoding in this process competes with the workers too
    settings = {"application_name": APPLICATION_NAME}
    conn = await asyncpg.connect(plain_url(database_url), server_settings=settings)
    reader = await asyncpg.connect(plain_url(database_url), server_settings=settings)
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    pool = concurrent.futures.ProcessPoolExecutor(
        max(1, workers), mp_context=ctx, initializer=_nice
    )
    try:
        tx = conn.transaction()
        await tx.start()
        # Writers of keys (intake) wait; look-ups go on in incremental mode (a bulk load's
        # DROP INDEX blocks them until the commit).
        await conn.execute(f"LOCK TABLE {TABLE} IN SHARE ROW EXCLUSIVE MODE")
        superuser = bool(
            await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        )
        if replace:
            await conn.execute(f"TRUNCATE {TABLE}")
        bulk = not await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {TABLE})")
        constraints: list[tuple[str, str]] = []
        indexes: list[tuple[str, str]] = []
        if bulk:
            report.mode = "bulk load (indexes rebuilt after the COPY)"
            constraints, indexes = await _indexes(conn)
            for name, _ in indexes:
                await conn.execute(f'DROP INDEX "{name}"')
            for name, _ in constraints:
                await conn.execute(f'ALTER TABLE {TABLE} DROP CONSTRAINT "{name}"')
            if superuser:
                await conn.execute("SET LOCAL session_replication_role = replica")
        else:
            report.mode = "incremental (issues without keys only)"
        await conn.execute("SET LOCAL synchronous_commit = off")
        query = _SELECT.format(missing="" if bulk else _MISSING, origin=_ORIGIN if origin else "")
        extra = (origin,) if origin else ()
        # The reader sees the same issues as the writer's snapshot would: it only reads ids
        # that exist; issues added meanwhile get their keys on intake.
        loop = asyncio.get_running_loop()
        flight: deque[asyncio.Future[list[IssueKeys]]] = deque()
        last_id = 0
        requested = 0
        exhausted = False
        wanted = limit if limit is not None else sys.maxsize

        async def read_next() -> None:
            nonlocal last_id, requested, exhausted
            size = min(batch_size, wanted - requested)
            if exhausted or size <= 0:
                exhausted = True
                return
            mark = time.perf_counter()
            rows = await reader.fetch(query, last_id, size, *extra)
            report.read_seconds += time.perf_counter() - mark
            if not rows:
                exhausted = True
                return
            last_id = rows[-1]["id"]
            requested += len(rows)
            batch: list[IssueRow] = [tuple(r) for r in rows]
            flight.append(loop.run_in_executor(pool, batch_keys, batch))

        for _ in range(max(1, workers) + 1):
            await read_next()
        while flight:
            mark = time.perf_counter()
            found = await flight.popleft()
            report.wait_seconds += time.perf_counter() - mark
            await read_next()
            records = expand(found)
            mark = time.perf_counter()
            await conn.copy_records_to_table(TABLE, records=records, columns=list(COLUMNS))
            report.copy_seconds += time.perf_counter() - mark
            report.issues += len(found)
            report.rows += len(records)
            say(
                f"{report.issues:,} issues, {report.rows:,} keys"
                f"  {time.perf_counter() - started:.0f} s"
            )
        if bulk:
            mark = time.perf_counter()
            await conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
            # One core for the builds: the machine is shared.
            await conn.execute("SET LOCAL max_parallel_maintenance_workers = 0")
            for name, definition in constraints:
                say(f"adding {name}")
                await conn.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')
            for name, statement in indexes:
                say(f"creating {name}")
                await conn.execute(statement)
            report.index_seconds = time.perf_counter() - mark
        mark = time.perf_counter()
        await tx.commit()
        say("committed; analyzing")
        await conn.execute(f"ANALYZE {TABLE}")
        report.commit_analyze_seconds = time.perf_counter() - mark
        report.table_bytes = int(await conn.fetchval("SELECT pg_relation_size($1)", TABLE))
        report.index_bytes = {
            r["name"]: int(r["size"])
            for r in await conn.fetch(
                "SELECT indexrelid::regclass::text AS name, pg_relation_size(indexrelid) AS size"
                " FROM pg_index WHERE indrelid = $1::regclass ORDER BY 1",
                TABLE,
            )
        }
    finally:
        pool.shutdown(cancel_futures=True)
        await reader.close()
        await conn.close()  # an uncommitted transaction is rolled back
    report.seconds = time.perf_counter() - started
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.generator.similarity_keys",
        description="Fill issue_similarity_key for every issue that has no keys.",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="the database, as its owner or a superuser (default: $DATABASE_URL)",
    )
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument(
        "--replace", action="store_true", help="delete every existing key first (bulk load)"
    )
    parser.add_argument("--limit", type=int, help="stop after this many issues (a trial)")
    parser.add_argument("--origin", help="only issues raised under this region code prefix")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url or DATABASE_URL is required")
    if args.batch_size < 1 or args.workers < 1:
        parser.error("--batch-size and --workers must be ≥ 1")
    report = asyncio.run(
        load_similarity_keys(
            args.database_url,
            batch_size=args.batch_size,
            workers=args.workers,
            replace=args.replace,
            limit=args.limit,
            origin=args.origin,
            progress=lambda msg: print(msg, file=sys.stderr, flush=True),
        )
    )
    for line in report.lines():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
