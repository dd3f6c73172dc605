"""Bulk import throughput: a hotline file of N records into a scratch database.

Makes a scratch database on the server at ``--server-url`` (migrated, demo data loaded),
optionally fills it with ``--issues`` generated issues first (the database size the import
runs against), writes a 12345 hotline CSV of ``--rows`` records (most for the county's
known enterprises, every tenth for a new enterprise the file registers, a few bad rows),
imports it as ``deqing.center`` and prints rows/s for the whole import (both passes), the
importer's CPU and the CPU of the PostgreSQL backends serving this database (sampled from
``/proc`` every half second: the server must be local; autovacuum of the database counts,
the server's shared writers do not), then imports it again (every record already imported:
the idempotent re-run). With ``--into URL``
it imports into that (migrated, seeded) database instead, e.g. a generated one of 1M
issues; the records stay there.

    PYTHONPATH=. .venv/bin/python -m bench.import_rate --rows 100000 --issues 0
    PYTHONPATH=. .venv/bin/python -m bench.import_rate --rows 100000 \\
        --into postgresql://postgres@127.0.0.1:5432/closedloop_bench_1m
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import os
import resource
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.served import prepare_demo, scratch_database
from closedloop.db import tables as t
from closedloop.db.database import Database, as_user, make_engine
from closedloop.domain.clock import SystemClock
from closedloop.domain.issues import Channel
from closedloop.services.demo import DEMO_ENTERPRISES, credit_code
from closedloop.services.issues.import_records import KNOWN_COLUMNS
from closedloop.services.issues.importer import import_issues
from closedloop.settings import Settings

TOPICS = (
    "道路破损",
    "用电报装",
    "用工招聘",
    "税费咨询",
    "排污许可",
    "消防验收",
    "物流通行",
    "融资贷款",
)
CATEGORIES = ("COMPLAINT", "SERVICE_REQUEST", "CONSULTATION", "SUGGESTION")


def write_file(path: Path, rows: int) -> None:
    known = [credit_code(e.base17) for e in DEMO_ENTERPRISES if e.region_code[:6] == "330521"]
    start = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(KNOWN_COLUMNS)
        for i in range(rows):
            topic = TOPICS[i % len(TOPICS)]
            record = [f"12345-BENCH-{i:07d}", "", "", "", "", "", CATEGORIES[i % 4], "", ""]
            if i % 10 == 0:  # a new enterprise, registered by this record
                record[1] = credit_code(f"91330521MA{i // 10:07d}")
                record[2] = f"德清测试企业{i // 10}有限公司"
                record[3] = "330521102"
            else:
                record[1] = known[i % len(known)]
            record[4] = f"{topic}问题反映{i}"
            record[5] = (
                f"第{i}号来电：企业反映{topic}相关事项，已持续{i % 30 + 1}天，"
                f"影响生产经营，请求有关部门协调处理。联系人王先生。"
            )
            record[7] = f"{topic};热线"
            record[8] = (start + dt.timedelta(minutes=i)).isoformat()
            if i % 1000 == 999:
                record[4] = ""  # a bad row: no title
            out.writerow(record)


class BackendCpu:
    """CPU seconds of the PostgreSQL processes serving one database, summed over every
    backend seen while sampling (a backend that exits counts up to its last sample)."""

    def __init__(self, admin: AsyncEngine) -> None:
        self.admin = admin
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.task: asyncio.Task[None] | None = None

    async def sample(self) -> None:
        async with self.admin.connect() as conn:
            pids = (
                await conn.execute(
                    sa.text(
                        "SELECT pid FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            ).scalars()
            for pid in pids:
                seconds = process_cpu(pid)
                if seconds is not None:
                    self.first.setdefault(pid, seconds if self.task is None else 0.0)
                    self.last[pid] = seconds

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            await self.sample()

    async def __aenter__(self) -> BackendCpu:
        await self.sample()
        self.task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        await self.sample()

    @property
    def seconds(self) -> float:
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


def importer_cpu() -> float:
    """CPU seconds of this process and of its children that have ended (the import's
    worker process, which it shuts down before it returns)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def process_cpu(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(url: str, rows: int, path: Path) -> None:
    settings = Settings()
    admin = make_engine(url, 2)
    db = Database(
        make_engine(as_user(url, settings.app_db_user, None), 4),
        admin,
        make_engine(as_user(url, settings.system_db_user, None), 2),
    )
    try:
        async with admin.connect() as conn:
            before = (await conn.execute(sa.select(sa.func.count()).select_from(t.issue))).scalar()
        for attempt in ("first", "again"):
            async with BackendCpu(admin) as server:
                began, cpu = time.perf_counter(), importer_cpu()
                report = await import_issues(
                    db,
                    SystemClock(),
                    settings,
                    channel=Channel.HOTLINE_12345,
                    path=path,
                    username="deqing.center",
                )
                seconds = time.perf_counter() - began
                cpu = importer_cpu() - cpu
            print(
                f"{attempt}: {rows} records against {before} issues in {seconds:.1f} s"
                f" = {rows / seconds:,.0f} rows/s (importer CPU {cpu:.1f} s,"
                f" PostgreSQL CPU {server.seconds:.1f} s,"
                f" load average {os.getloadavg()[0]:.1f}); imported {report.imported},"
                f" already imported {report.skipped_existing}, bad {len(report.errors)}",
                flush=True,
            )
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--issues", type=int, default=0, help="generated issues first")
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--into", help="import into this database instead of a scratch one")
    args = parser.parse_args()
    if args.into:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "12345.csv"
            write_file(path, args.rows)
            asyncio.run(run(args.into, args.rows, path))
        return
    with scratch_database(args.server_url, "bench_import") as url:
        asyncio.run(prepare_demo(url))
        if args.issues:
            from bench.generator.generate import generate

            asyncio.run(generate(url, args.issues, 1, None))
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "12345.csv"
            write_file(path, args.rows)
            asyncio.run(run(url, args.rows, path))


if __name__ == "__main__":
    main()
