"""Single flight: callers asking the same thing at the same moment share one computation,
and never take an answer older than their own request.

Why: sixteen identical requests for a city's county ranking (~400 ms of PostgreSQL each)
queued for 3.6-5.3 s on two cores, all computing the same answer; the province dashboard
had the same problem (bench/RESULTS.md, "A city's scores at 16 concurrent requests",
"Province dashboard at 16 concurrent requests").

The rule: a caller takes the outcome of a computation for its key (its answer, or its
error, the same object for every caller) only if the computation began to read after the
caller began (``since``): it then read the data of an instant within the caller's request,
as the caller's own computation would have, and reflects every write the caller could
have seen. A caller that finds a computation which began to read before it waits for that
one to end and then joins the next one, which all such waiters share (the first to come
back starts it). A computation begins to read when it starts, or later at the instant it
marks itself (a dashboard writes its rollup slices first). A caller may also take an older
answer it can check itself (``accepts``: a kept dashboard read in the caller's own state).

Nothing is kept once a computation ends: this shares computations, it does not cache.
A computation runs as its own task, so a caller that gives up (its request budget) does not
cancel it for the others, and its outcome is retrieved even when every caller has gone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")

# Computes the answer; calls the function it is given at the instant it begins to read, if
# that is later than its start.
Compute = Callable[[Callable[[], None]], Awaitable[V]]


class _Flight(Generic[V]):
    __slots__ = ("reads_from", "task")

    def __init__(self) -> None:
        self.reads_from = time.monotonic()
        self.task: asyncio.Task[V]

    def reading(self) -> None:
        self.reads_from = time.monotonic()

    def serves(self, since: float) -> bool:
        """Began to read after a caller that began at ``since`` (``time.monotonic``)."""
        return self.reads_from >= since


class SingleFlight(Generic[V]):
    """The computations running, one per key at most."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._flights: dict[Hashable, _Flight[V]] = {}

    async def share(
        self,
        key: Hashable,
        since: float,
        compute: Compute[V],
        accepts: Callable[[V, bool], bool] | None = None,
    ) -> V:
        """The outcome of the computation of ``key`` that serves a caller which began at
        ``since`` (``time.monotonic``): the running one if it began to read after that
        instant, else the next one, started by ``compute`` if none runs. ``accepts(answer,
        fresh)``: whether the caller takes an answer (``fresh``: it began to read after the
        caller); by default exactly the fresh ones."""
        while True:
            flight = self._flights.get(key)
            if flight is None:
                flight = self._start(key, compute)
            try:
                answer = await asyncio.shield(flight.task)
            except Exception:
                if flight.serves(since):
                    raise
                continue  # an older computation's error: the next one answers this caller
            fresh = flight.serves(since)
            if accepts(answer, fresh) if accepts is not None else fresh:
                return answer

    def _start(self, key: Hashable, compute: Compute[V]) -> _Flight[V]:
        flight: _Flight[V] = _Flight()

        async def run() -> V:
            try:
                return await compute(flight.reading)
            finally:
                if self._flights.get(key) is flight:
                    del self._flights[key]

        flight.task = asyncio.get_running_loop().create_task(run(), name=self._name)
        flight.task.add_done_callback(_retrieve)
        self._flights[key] = flight
        return flight


def _retrieve(task: asyncio.Task[object]) -> None:
    """Every caller may have given up: the outcome is still taken (no 'never retrieved')."""
    if not task.cancelled():
        task.exception()
