"""The single flight's rule (closedloop.services.single_flight) without a database: a caller
takes the outcome of a computation that began to read after it began, never an older one's,
answer or error."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from closedloop.services.single_flight import SingleFlight

PATIENCE = 30  # a wrong implementation fails instead of hanging; nothing here is timed


class Source:
    """A computation per call: reads ``value`` and ``fail`` once begun, then waits for
    ``release``; raises instead of answering if ``fail`` was read true."""

    def __init__(self) -> None:
        self.value = 1
        self.computed = 0
        self.fail = False
        self.read = asyncio.Event()
        self.release = asyncio.Event()

    async def compute(self, reading: Callable[[], None]) -> int:
        self.computed += 1
        reading()
        found, failing = self.value, self.fail
        self.read.set()
        await self.release.wait()
        if failing:
            raise LookupError(f"failed at {found}")
        return found


async def test_a_later_caller_shares_the_next_computation() -> None:
    flights: SingleFlight[int] = SingleFlight("test")
    source = Source()
    first = asyncio.ensure_future(flights.share("k", time.monotonic(), source.compute))
    await asyncio.wait_for(source.read.wait(), PATIENCE)
    source.value = 2  # a write the running computation did not read
    later = [
        asyncio.ensure_future(flights.share("k", time.monotonic(), source.compute))
        for _ in range(3)
    ]
    await asyncio.sleep(0)
    source.release.set()
    assert await asyncio.wait_for(first, PATIENCE) == 1
    assert await asyncio.wait_for(asyncio.gather(*later), PATIENCE) == [2, 2, 2]
    assert source.computed == 2


async def test_an_older_computations_error_is_not_a_later_callers() -> None:
    flights: SingleFlight[int] = SingleFlight("test")
    source = Source()
    source.fail = True
    early = [
        asyncio.ensure_future(flights.share("k", time.monotonic(), source.compute))
        for _ in range(2)
    ]
    await asyncio.wait_for(source.read.wait(), PATIENCE)
    later = asyncio.ensure_future(flights.share("k", time.monotonic(), source.compute))
    await asyncio.sleep(0)
    source.fail = False
    # The computation read before ``fail`` changed: it fails; its callers share the error.
    source.release.set()
    outcomes = await asyncio.wait_for(asyncio.gather(*early, return_exceptions=True), PATIENCE)
    assert isinstance(outcomes[0], LookupError) and outcomes[1] is outcomes[0]
    assert await asyncio.wait_for(later, PATIENCE) == 1
    assert source.computed == 2
