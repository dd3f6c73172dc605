"""``bench generate`` end to end on a migrated, demo-seeded database: the batches built in
this process (a thread) and in forked builder processes, each handed over as binary COPY
data, load the same rows; and those rows are the ones ``build_batch`` makes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bench import generator_build_cpu as build_cpu
from bench.generator import generate as g
from bench.generator import lifecycle
from bench.served import prepare_demo, scratch_database

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
ISSUES = 2 * g.CHUNK  # two batches of CHUNK: the builder processes take one each
TABLES = ("enterprise", "issue", "issue_event", "issue_custody", "issue_rating")
COLUMNS = (
    g.ENTERPRISE_COLUMNS,
    lifecycle.ISSUE_COLUMNS,
    lifecycle.EVENT_COLUMNS,
    lifecycle.CUSTODY_COLUMNS,
    lifecycle.RATING_COLUMNS,
)

pytestmark = [
    pytest.mark.slow,
    # The generator's look-up of the demo accounts (``_existing_accounts``) uses the
    # DISTINCT ON form SQLAlchemy 2.1 deprecates: not what this test is about.
    pytest.mark.filterwarnings("ignore:Passing expression to ``distinct``"),
]


@pytest.fixture(scope="module")
def template(database_url: str) -> Iterator[str]:
    with scratch_database(database_url, "gen_tpl") as url:
        asyncio.run(prepare_demo(url))
        yield url


def _maintenance(url: str) -> str:
    return make_url(url).set(database="postgres").render_as_string(hide_password=False)


async def _copy_of(template: str, name: str) -> str:
    """A new database ``name`` made from ``template``: its URL."""
    admin = await asyncpg.connect(_maintenance(template))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(template).database}"')
    finally:
        await admin.close()
    return make_url(template).set(database=name).render_as_string(hide_password=False)


async def _drop(template: str, name: str) -> None:
    admin = await asyncpg.connect(_maintenance(template))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _loaded(url: str) -> list[list[tuple[object, ...]]]:
    """The generated tables' rows in the generator's column order (payloads parsed)."""
    conn = await asyncpg.connect(url)
    try:
        out = []
        for table, columns in zip(TABLES, COLUMNS, strict=True):
            rows = await conn.fetch(f"SELECT {', '.join(columns)} FROM {table} ORDER BY id")
            out.append([_comparable(columns, tuple(r)) for r in rows])
        return out
    finally:
        await conn.close()


def _comparable(columns: tuple[str, ...], row: tuple[object, ...]) -> tuple[object, ...]:
    if "payload" not in columns:
        return row
    at = columns.index("payload")
    payload = row[at]
    assert isinstance(payload, str)
    return (*row[:at], json.loads(payload), *row[at + 1 :])


def test_thread_and_builder_processes_load_the_rows_build_batch_makes(template: str) -> None:
    loaded = {}
    for workers in (1, 2):
        name = f"{make_url(template).database}_w{workers}"
        url = asyncio.run(_copy_of(template, name))
        try:
            report = asyncio.run(
                g.generate(url, ISSUES, 1, None, now=NOW, batch_size=g.CHUNK, workers=workers)
            )
            assert report.issues == ISSUES
            loaded[workers] = asyncio.run(_loaded(url))
        finally:
            asyncio.run(_drop(template, name))
    # What the generator builds from the same starting database, in this process.
    name = f"{make_url(template).database}_plan"
    url = asyncio.run(_copy_of(template, name))
    try:
        world, ents, plan = asyncio.run(build_cpu._plan(url, ISSUES))
    finally:
        asyncio.run(_drop(template, name))
    batch = g.build_batch(world, ents, plan, 0, ISSUES, 1, NOW, g.DEFAULT_BUSY)
    built = [
        [_comparable(columns, row) for row in rows]
        for columns, rows in zip(
            COLUMNS[1:], (batch.issues, batch.events, batch.custody, batch.ratings), strict=True
        )
    ]
    assert loaded[1] == loaded[2]
    assert loaded[1][1:] == built
    assert len(built[0]) == ISSUES and len(built[1]) == report.events
