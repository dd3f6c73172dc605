"""What a server process does besides answering requests: at start (the schemes checked,
the region tree and demo data loaded, the garbage collector tuned) and all along (the
periodic sweeper and the outbox relay)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import Awaitable, Callable

import sqlalchemy as sa
import structlog

from closedloop.db.database import Database
from closedloop.domain.clock import Clock
from closedloop.domain.schemes import InvalidScheme, use_scheme_directory
from closedloop.schema.shape import scheme_beyond_bounds
from closedloop.services import periodic
from closedloop.services.demo import seed_demo
from closedloop.services.issues.sweeper import sweep
from closedloop.services.learning.tags import load_library
from closedloop.services.outbox_relay import OutboxRelay
from closedloop.settings import Settings
from closedloop.tenancy.seed import load_region_file

log = structlog.get_logger("closedloop")


def start_background(
    db: Database, clock: Clock, settings: Settings, stop: asyncio.Event
) -> list[asyncio.Task[None]]:
    """The periodic sweeper (lights, auto-close, rollup refreshes) and the outbox relay. Every
    process runs both loops; each round runs in one process only, once per interval, however
    many processes there are (``closedloop.services.periodic``)."""
    tasks = []
    if settings.sweep_interval_seconds > 0:

        async def sweep_round() -> None:
            report = await sweep(db, clock, settings)
            log.info(
                "sweep.done",
                lights=report.lights,
                closed=report.closed,
                rollup_slices=report.rollup_slices,
            )

        tasks.append(
            asyncio.create_task(
                _every("sweep", settings.sweep_interval_seconds, db, sweep_round, stop),
                name="sweeper",
            )
        )
    if settings.relay_interval_seconds > 0:
        relay = OutboxRelay(db, clock, settings)

        async def relay_round() -> None:
            # A full batch suggests a backlog: the round goes on until it is delivered.
            while (await relay.deliver_due(RELAY_BATCH)).picked >= RELAY_BATCH:
                if stop.is_set():
                    return

        tasks.append(
            asyncio.create_task(
                _every("relay", settings.relay_interval_seconds, db, relay_round, stop),
                name="relay",
            )
        )
    return tasks


RELAY_BATCH = 100


async def _every(
    name: str,
    interval: float,
    db: Database,
    work: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
) -> None:
    """Ask for the round ``name`` until ``stop`` is set; errors are logged, never raised,
    so a database blip does not end the loop (the next round retries)."""
    while not stop.is_set():
        wait = interval
        try:
            turn = await periodic.run_due(db, name, interval, work)
            wait = turn.wait
            if turn.ran and turn.started_at is not None:
                started = turn.started_at.isoformat()
                log.info("periodic.ran", job=name, worker=os.getpid(), started_at=started)
        except Exception:
            log.exception(f"{name}.failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(wait, 0.01))


def tune_garbage_collector() -> None:
    """Set once the server has started. What is loaded by then (schema, policy, caches)
    moves to the permanent generation, and the youngest generation gets room for a
    request's objects: a pool page holds a few thousand containers until its response is
    written, and at the default threshold (700) every request paid for a collection that
    scanned them, every tenth for a bigger one (≈ 0.5 ms of a 6 ms page). The older
    generations keep Python's own ratios (10, 10): a full collection follows every hundred
    young ones (and only once the survivors grew by a quarter, Python's own rule), so the
    cyclic garbage of evicted cache entries (documents, plans, SQL statements) is freed and
    memory levels off (bench/RESULTS.md, "Memory over distinct queries"); with (50, 100)
    full collections came after 5,000 young ones and memory grew ~100 MB per 1,000
    distinct query texts. A pool page asked again leaves no cyclic garbage, so it rarely
    triggers any collection at all."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)


async def prepare_data(db: Database, *, demo: bool) -> None:
    """Load the shipped Zhejiang tree into an empty database, and the demo set on request."""
    async with db.system_transaction() as conn:
        # Several workers start at once: one loads, the others then find it loaded.
        await conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('closedloop.seed'))"))
        empty = not (await conn.execute(sa.text("SELECT exists(SELECT 1 FROM region)"))).scalar()
        if empty:
            await load_region_file(conn, None)
            await load_library(conn)
        if demo:
            await seed_demo(conn)
        await conn.commit()


def load_schemes(settings: Settings) -> list[str]:
    """Load the scoring schemes (the shipped ones and ``CLOSEDLOOP_SCHEME_DIR``'s) now: what
    is wrong with them, if anything, so start-up stops with it instead of a later query."""
    try:
        use_scheme_directory(settings.scheme_dir)
        problem = scheme_beyond_bounds()
    except InvalidScheme as exc:
        problem = exc.en
    return [f"CLOSEDLOOP_SCHEME_DIR: {problem}"] if problem else []
