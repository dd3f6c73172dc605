"""The scheme versions in force, as one API process knows them.

Each process keeps the active versions (parsed once each) and reads them again only after
a change: the trigger of migration 0023 sends a NOTIFY on ``closedloop_scheme_changes`` when
an activation commits, the event bus hears it (``changed``) and the next score reads the
versions once more. While the bus is not listening (a change could go unheard) every
look-up reads them (one small statement); after an outage the bus calls ``changed`` too.

Scores of a period use the version in force for it (``closedloop.domain.schemes.in_force``);
a key without one is served from the package's or CLOSEDLOOP_SCHEME_DIR's files.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

import sqlalchemy as sa

from closedloop.db.database import Database
from closedloop.db.scheme_tables import scoring_scheme_version
from closedloop.domain.periods import Period
from closedloop.domain.schemes import (
    ActiveVersion,
    Scheme,
    VersionState,
    available_schemes,
    in_force,
    load_scheme,
    scheme_from_json,
)

Versions = Mapping[str, tuple[ActiveVersion, ...]]


class SchemeCatalog:
    def __init__(self, db: Database, live: Callable[[], bool] = lambda: False) -> None:
        self._db = db
        self._live = live
        self._versions: Versions = MappingProxyType({})
        self._parsed: dict[int, Scheme] = {}
        self._generation = 0  # bumped by every change heard
        self._read_at: int | None = None  # the generation the versions were read at
        self._lock = asyncio.Lock()
        self.reads = 0  # how often the versions were read (tests, /metrics)

    def listen(self, live: Callable[[], bool]) -> None:
        """``live``: whether changes are being heard (the event bus is connected)."""
        self._live = live

    def changed(self, scheme_key: str | None = None) -> None:
        """A version was activated (or the bus reconnected): read them again when next
        needed."""
        self._generation += 1

    @property
    def generation(self) -> int:
        """How many changes were heard (tests wait on it)."""
        return self._generation

    def _fresh(self) -> bool:
        return self._read_at == self._generation and self._live()

    async def versions(self) -> Versions:
        if self._fresh():
            return self._versions
        async with self._lock:
            if self._fresh():
                return self._versions
            generation = self._generation
            self._versions = await self._read()
            self._read_at = generation
            self.reads += 1
            return self._versions

    async def _read(self) -> Versions:
        c = scoring_scheme_version.c
        async with self._db.system_transaction() as conn:
            rows = (
                await conn.execute(
                    sa.select(
                        c.id,
                        c.scheme_key,
                        c.version_label,
                        c.effective_from,
                        c.effective_period,
                        sa.cast(c.document, sa.Text).label("document"),
                    ).where(c.state == VersionState.ACTIVE.value)
                )
            ).mappings()
            found: dict[str, list[ActiveVersion]] = {}
            for r in rows:
                scheme = self._parsed.get(r["id"])
                if scheme is None:
                    scheme = scheme_from_json(r["document"], origin=f"version {r['id']}")
                    self._parsed[r["id"]] = scheme
                found.setdefault(r["scheme_key"], []).append(
                    ActiveVersion(
                        id=r["id"],
                        version_label=r["version_label"],
                        effective_from=r["effective_from"],
                        effective_period=r["effective_period"],
                        scheme=scheme,
                    )
                )
        return MappingProxyType({k: tuple(v) for k, v in found.items()})

    async def in_force(self, key: str, periods: Sequence[Period]) -> list[Scheme]:
        """The scheme of ``key`` in force for each period (``UnknownScheme`` when a period
        has none: a key only uploaded, before its first version takes effect)."""
        versions = (await self.versions()).get(key, ())
        schemes: list[Scheme] = []
        for period in periods:
            found = in_force(versions, period)
            schemes.append(found.scheme if found is not None else load_scheme(key))
        return schemes

    async def scheme(self, key: str, period: Period) -> Scheme:
        return (await self.in_force(key, [period]))[0]

    async def version_in_force(self, key: str, period: Period) -> ActiveVersion | None:
        return in_force((await self.versions()).get(key, ()), period)

    async def keys(self) -> tuple[str, ...]:
        """Every scheme key served: the files' and the activated versions'."""
        return tuple(sorted({*available_schemes(), *(await self.versions())}))
