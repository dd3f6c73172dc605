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

Single flight (``services.single_flight``): callers that find no servable answer share
the computation running for their key if it read the slices' state after they began to
read theirs (it marks that instant: after its refresh), or if it read the same state as
theirs and its lights still hold; otherwise they wait for it to end and share the next one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from closedloop.caches import BoundedCache
from closedloop.services.evaluation.rollup import SliceState
from closedloop.services.single_flight import Compute, SingleFlight

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


class Keeper(Generic[V]):
    """Kept answers per key, and the computations running per key."""

    def __init__(self, name: str, max_entries: int = MAX_ENTRIES) -> None:
        self._kept: BoundedCache[Hashable, Kept[V]] = BoundedCache(
            name, max_entries, MAX_BYTES, lambda key, kept: ENTRY_BYTES
        )
        self._flights: SingleFlight[Kept[V]] = SingleFlight(name)

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
        compute: Compute[Kept[V]],
    ) -> Kept[V]:
        """A servable kept answer for ``key``, else one computed by ``compute`` (which
        calls the function it is given just before it reads the slices' state). ``state``:
        the slices' state the caller read, having started to read it at ``since``
        (``time.monotonic``)."""
        found = self.kept(key, state, now)
        if found is not None:
            return found

        async def keeping(reading: Callable[[], None]) -> Kept[V]:
            kept = await compute(reading)
            if not kept.state.dirty:
                self._kept[key] = kept
            return kept

        def accepts(kept: Kept[V], fresh: bool) -> bool:
            # Fresh: read within the caller's request, exact unless a light changed since.
            return (fresh and kept.lights_hold(now)) or kept.serves(state, now)

        return await self._flights.share(key, since, keeping, accepts)
