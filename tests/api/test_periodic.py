"""Once-only background rounds (``closedloop.services.periodic``): a round runs when it is
due and nobody else holds it; while another process runs it, or before its interval has
passed since it last started, it does not."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from closedloop.db.database import Database
from closedloop.services import periodic


@pytest.fixture
async def fresh_sweep_round(db: Database) -> None:
    async with db.admin.begin() as conn:
        await conn.execute(
            sa.text("UPDATE periodic_run SET started_at = NULL WHERE name = 'sweep'")
        )


@pytest.mark.usefixtures("fresh_sweep_round")
async def test_a_round_runs_once_then_waits_out_its_interval(db: Database) -> None:
    ran: list[str] = []

    async def work() -> None:
        ran.append("sweep")

    first = await periodic.run_due(db, "sweep", 3600, work)
    assert first.ran and first.started_at is not None
    again = await periodic.run_due(db, "sweep", 3600, work)
    assert not again.ran and 0 < again.wait <= 3600
    assert ran == ["sweep"]
    # A shorter interval than has passed: due again.
    async with db.admin.begin() as conn:
        await conn.execute(
            sa.text(
                "UPDATE periodic_run SET started_at = now() - interval '2 s' WHERE name = 'sweep'"
            )
        )
    assert (await periodic.run_due(db, "sweep", 1, work)).ran
    assert ran == ["sweep", "sweep"]


@pytest.mark.usefixtures("fresh_sweep_round")
async def test_a_round_another_process_is_running_is_skipped(db: Database) -> None:
    holding = asyncio.Event()
    release = asyncio.Event()
    inner: list[periodic.Round] = []

    async def long_work() -> None:
        holding.set()
        await release.wait()

    async def quick_work() -> None:
        raise AssertionError("ran while another process held the round")

    first = asyncio.create_task(periodic.run_due(db, "sweep", 0, long_work))
    await holding.wait()
    # Interval 0: due at once; but the row is locked by the running round.
    inner.append(await periodic.run_due(db, "sweep", 0, quick_work))
    release.set()
    assert (await first).ran
    assert inner[0] == periodic.Round(ran=False, wait=0)


async def test_an_unknown_round_is_refused(db: Database) -> None:
    async def work() -> None:
        raise AssertionError("unknown rounds do not run")

    with pytest.raises(LookupError):
        await periodic.run_due(db, "no such job", 1, work)


@pytest.mark.usefixtures("fresh_sweep_round")
async def test_a_failed_round_still_counts_as_started(db: Database) -> None:
    async def failing() -> None:
        raise RuntimeError("the sweep failed")

    with pytest.raises(RuntimeError):
        await periodic.run_due(db, "sweep", 3600, failing)

    async def work() -> None:
        raise AssertionError("retried before its interval")

    assert not (await periodic.run_due(db, "sweep", 3600, work)).ran
