"""Streaming replicas for the reads that tolerate lag (dashboards, scores, score history,
reports, exports): ``Database.read_tolerant``.

Each process keeps its replicas' state. A replica is in rotation while a check finds it in
recovery (a standby) and no more than ``max_lag_seconds`` behind the primary: lag is
measured on the WAL, so an idle primary does not make a caught-up replica look old (when
the replica has replayed everything the primary had written at the check, its lag is 0;
otherwise it is the age of the last transaction it replayed). A replica that fails a
check, or refuses a connection when a read wants it, is out of rotation until a later
check finds it back; meanwhile the primary serves those reads. Row-level security and
the scope tags are the same on a replica: it is a copy of the primary, policies and roles
included, and the scope is written into each read-only transaction the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
from dataclasses import dataclass

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger("closedloop.replicas")

_PRIMARY_LSN = sa.text("SELECT pg_current_wal_lsn()::text")
_REPLICA_STATE = sa.text(
    "SELECT pg_is_in_recovery() AS standby,"
    " pg_wal_lsn_diff(CAST(CAST(:primary AS text) AS pg_lsn), pg_last_wal_replay_lsn()) AS behind,"
    " extract(epoch FROM now() - pg_last_xact_replay_timestamp()) AS age"
)
# What a read on a replica reports: when the last transaction it replayed committed on the
# primary (its data holds everything committed until then), and whether it has replayed
# a given primary position (a write the same request made just before).
AS_OF = sa.text("SELECT pg_last_xact_replay_timestamp()")
REPLAYED = sa.text(
    "SELECT pg_last_xact_replay_timestamp() AS as_of,"
    " pg_last_wal_replay_lsn() >= CAST(CAST(:lsn AS text) AS pg_lsn) AS replayed"
)


@dataclass
class Replica:
    engine: AsyncEngine
    in_rotation: bool = False
    lag_seconds: float | None = None

    @property
    def name(self) -> str:
        url = self.engine.url
        return f"{url.host}:{url.port}/{url.database}"


class ReplicaSet:
    def __init__(self, engines: list[AsyncEngine], *, max_lag_seconds: float) -> None:
        self.replicas = [Replica(engine) for engine in engines]
        self.max_lag_seconds = max_lag_seconds
        self._turn = itertools.count()

    def choose(self) -> Replica | None:
        """The next replica in rotation (round robin), or None: the primary serves."""
        serving = [r for r in self.replicas if r.in_rotation]
        if not serving:
            return None
        return serving[next(self._turn) % len(serving)]

    def failed(self, replica: Replica, error: BaseException) -> None:
        """A read could not use ``replica``: out of rotation until a check brings it back."""
        if replica.in_rotation:
            log.warning("replica.out_of_rotation", replica=replica.name, error=type(error).__name__)
        replica.in_rotation = False

    async def check(self, primary: AsyncEngine) -> None:
        """Measure each replica's lag; put it in or out of rotation."""
        async with primary.connect() as conn:
            lsn = await conn.scalar(_PRIMARY_LSN)
            await conn.rollback()
        for replica in self.replicas:
            try:
                async with replica.engine.connect() as conn:
                    state = (await conn.execute(_REPLICA_STATE, {"primary": lsn})).one()
                    await conn.rollback()
            except (sa.exc.DBAPIError, OSError) as exc:
                self.failed(replica, exc)
                continue
            if not state.standby:
                lag = None  # not a standby: never read from it
            elif float(state.behind) <= 0:
                lag = 0.0
            else:
                lag = float(state.age) if state.age is not None else None
            fit = lag is not None and lag <= self.max_lag_seconds
            if fit != replica.in_rotation:
                log.info("replica.rotation", replica=replica.name, in_rotation=fit, lag=lag)
            replica.lag_seconds = lag
            replica.in_rotation = fit

    async def watch(self, primary: AsyncEngine, interval: float, stop: asyncio.Event) -> None:
        """Check every ``interval`` seconds until ``stop`` is set (errors logged)."""
        while not stop.is_set():
            try:
                await self.check(primary)
            except Exception:
                log.exception("replica.check_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def dispose(self) -> None:
        for replica in self.replicas:
            await replica.engine.dispose()


@dataclass(frozen=True)
class Freshness:
    """Where a lag-tolerant read was served and how old its data is."""

    replica: str | None  # None: the primary
    as_of: dt.datetime | None  # the replica's last replayed commit; None on the primary

    @property
    def from_replica(self) -> bool:
        return self.replica is not None

    def data_as_of(self, read_at: dt.datetime) -> dt.datetime:
        """How old the data is: a replica's last replayed commit (everything committed
        until then is in); on the primary, ``read_at``, the moment of the read."""
        return self.as_of if self.replica is not None and self.as_of is not None else read_at


PRIMARY = Freshness(None, None)
