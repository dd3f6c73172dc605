"""Dashboards kept and shared: computed once for every caller that asks the same while
nothing it reads has changed, and once for all the callers that ask at the same moment.

Why: a province's cockpit for a quarter costs ~110 ms of CPU (API and PostgreSQL) even on
the rollup; sixteen at once on two cores queued for most of a second, although all sixteen
answers were the same. (bench/RESULTS.md, "Province dashboard at 16 concurrent requests".)

What a kept answer depends on, and how each is checked before it is served again:

- the issues of its slices (the rollup's figures and the live lights): the slices' state
  (``rollup.check``: any dirty mark, the largest refresh generation), read on the primary
  at every request and compared with the state read just before the answer was computed.
  Equal and clean: no write reached those slices since (``rollup.SliceState``). This holds
  across processes and hosts: the state lives in the database.
- the clock (lights): the answer keeps the first instant after its computation at which a
  light of its population changes (``figures.lights_change_statement``); it is served only
  before that instant.
- the red and black lists: an entry written, or an account that added one renamed or
  moved, raises the generation of the entry's slice (migration 0020), so the same check
  covers them;
- who asks: the key holds the caller's issue scope (``queries.scope_key``), besides the
  region and the period; the caller's right to the region is checked before the cache is
  looked at, at every request (a region out of scope is not there).

The region's own record and its children (reference data) are read at every request,
outside this cache.

Single flight: callers that find no servable answer join the computation already running
for their key, and take its answer if it read the slices' state after they began to read
theirs (the state of an instant within their own request, as their own computation would
have read) or read the same state as theirs; otherwise they wait for it to end and run
the next one. The computation is its own task: a caller that gives up (its request
budget) does not cancel it for the others.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from closedloop.caches import BoundedCache
from closedloop.services.evaluation.rollup import SliceState

V = TypeVar("V")

MAX_ENTRIES = 512
MAX_BYTES = 64 * 1024 * 1024
# A kept province dashboard with its units and months: tens of kB of Python objects.
ENTRY_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Kept(Generic[V]):
    value: V
    state: SliceState  # the slices' state read before the value was computed
    computed_at: dt.datetime  # the request clock the lights were counted at
    valid_until: dt.datetime | None  # the next light change (None: none ahead)

    def serves(self, state: SliceState, now: dt.datetime) -> bool:
        """Whether this answer is exactly what computing it again at ``now``, in ``state``,
        would give."""
        if state.dirty or self.state.dirty or state != self.state:
            return False
        return self.computed_at <= now and self.lights_hold(now)

    def lights_hold(self, now: dt.datetime) -> bool:
        """No light of its issues has changed between its computation and ``now``."""
        return self.valid_until is None or now < self.valid_until


@dataclass
class _Flight(Generic[V]):
    task: asyncio.Task[Kept[V]]
    checked_at: float | None = None  # monotonic time at which its state was read


class Keeper(Generic[V]):
    """Kept answers per key, and the computations running per key."""

    def __init__(self, name: str, max_entries: int = MAX_ENTRIES) -> None:
        self._kept: BoundedCache[Hashable, Kept[V]] = BoundedCache(
            name, max_entries, MAX_BYTES, lambda key, kept: ENTRY_BYTES
        )
        self._flights: dict[Hashable, _Flight[V]] = {}

    def kept(self, key: Hashable, state: SliceState, now: dt.datetime) -> Kept[V] | None:
        found = self._kept.get(key)
        return found if found is not None and found.serves(state, now) else None

    def forget(self) -> None:
        self._kept.clear()

    async def get(
        self,
        key: Hashable,
        state: SliceState,
        since: float,
        now: dt.datetime,
        compute: Callable[[Callable[[], None]], Awaitable[Kept[V]]],
    ) -> Kept[V]:
        """A servable kept answer for ``key``, else one computed by ``compute`` (which
        calls the function it is given just before it reads the slices' state). ``state``:
        the slices' state the caller read, having started to read it at ``since``
        (``time.monotonic``)."""
        while True:
            found = self.kept(key, state, now)
            if found is not None:
                return found
            flight = self._flights.get(key)
            if flight is None:
                flight = self._start(key, compute)
            result = await asyncio.shield(flight.task)
            # Read after the caller began to read: the state of an instant within the
            # caller's request, as computing it itself would have been.
            during = flight.checked_at is not None and flight.checked_at >= since
            if (during and result.lights_hold(now)) or result.serves(state, now):
                return result
            # Its state was read before the caller's and differs: something may have
            # changed in between. The next flight reads it after the caller.

    def _start(
        self, key: Hashable, compute: Callable[[Callable[[], None]], Awaitable[Kept[V]]]
    ) -> _Flight[V]:
        flight: _Flight[V]

        def checking() -> None:
            flight.checked_at = time.monotonic()

        async def run() -> Kept[V]:
            try:
                kept = await compute(checking)
                if not kept.state.dirty:
                    self._kept[key] = kept
                return kept
            finally:
                if self._flights.get(key) is flight:
                    del self._flights[key]

        flight = _Flight(asyncio.get_running_loop().create_task(run(), name=f"dashboard {key}"))
        flight.task.add_done_callback(_retrieve)
        self._flights[key] = flight
        return flight


def _retrieve(task: asyncio.Task[object]) -> None:
    """Every caller may have given up: the outcome is still taken (no 'never retrieved')."""
    if not task.cancelled():
        task.exception()
