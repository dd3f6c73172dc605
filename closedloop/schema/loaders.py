"""Per-request DataLoaders. Every batch of a request reads through the request's one
connection (``RequestReader``): one read-only transaction in the caller's scope, opened on
first use on the driver's direct path and held until the operation is answered
(``Loaders.release``). Batches of concurrent resolvers take turns on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from functools import cached_property
from typing import Any, TypeVar

import structlog
from strawberry.dataloader import DataLoader

from closedloop.authz.roles import Action, Principal
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.db.driver import Reader
from closedloop.identity import channel_clients
from closedloop.schema.reference import MISSING, REFERENCE
from closedloop.services import tenancy
from closedloop.services.accounts import audit
from closedloop.services.accounts import queries as account_queries
from closedloop.services.accounts.audit import AuditRecord
from closedloop.services.accounts.records import AccountRecord
from closedloop.services.issues import problem_list_queries, records
from closedloop.services.issues.problem_list_queries import PushRecord
from closedloop.services.issues.records import (
    CustodyRecord,
    EnterpriseRecord,
    EventRecord,
    IssueRecord,
    RatingRecord,
)
from closedloop.services.learning import similar, tags
from closedloop.services.learning.similar import Candidate
from closedloop.services.learning.tags import TagRecord
from closedloop.services.tenancy import CenterRecord, RegionRecord, UnitRecord
from closedloop.tenancy.scope import Internal, internal_entries, issue_visibility

log = structlog.get_logger("closedloop.loaders")

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
R = TypeVar("R")
T = TypeVar("T")


class RequestReader:
    """The request's one connection: a read-only transaction in the caller's scope
    (``Database.reader``: ``BEGIN`` and the scope in one round trip), opened by the first
    batch that needs it. Reference rows (regions, boards, departments, centers, tags) are
    read in it too: row-level security does not guard them, so the scope changes nothing
    there. A statement that fails ends the transaction (the next batch opens another)."""

    def __init__(self, db: Database, principal: Principal) -> None:
        self.db = db
        self.principal = principal
        self._turn = asyncio.Lock()
        self._held: AsyncExitStack | None = None
        self._reader: Reader | None = None
        self._ended = False
        self.opened = 0  # transactions opened (tests)

    @asynccontextmanager
    async def use(self) -> AsyncIterator[Reader]:
        async with self._turn:
            if self._ended:
                # A batch still scheduled when the answer was given up (the budget ran
                # out) must not open a connection nobody would give back.
                raise RuntimeError("the request was answered")
            if self._reader is None:
                held = AsyncExitStack()
                self._reader = await held.enter_async_context(self.db.reader(self.principal))
                self._held = held
                self.opened += 1
            try:
                yield self._reader
            except BaseException:
                await self._close()
                raise

    async def release(self, *, final: bool = False) -> None:
        """End the transaction and return the connection to the pool (idempotent); the
        next batch opens another, unless ``final`` (the operation is answered)."""
        self._ended = self._ended or final
        async with self._turn:
            await self._close()

    async def _close(self) -> None:
        held, self._held, self._reader = self._held, None, None
        if held is None:
            return
        try:
            await held.aclose()
        except Exception as exc:
            # A connection whose rollback failed (its backend was terminated, a statement
            # was cut off) is invalidated, never pooled again (``Database.reader``). The
            # answer is already made, or fails with the error that broke the connection.
            log.warning("loaders.release_failed", error=type(exc).__name__)


def resolve_loaded(
    loaders: Loaders, name: str, key: K, convert: Callable[[R], T]
) -> T | Awaitable[T | None] | None:
    """The converted value now when the request already holds it (a page primed it, or an
    earlier batch of this request loaded it); otherwise an awaitable through the loader
    ``name``. A field resolved this way costs no task and no await when its value is at
    hand."""
    value = loaders.held(name, key)
    if value is not MISSING:
        return convert(value) if value is not None else None
    loader: DataLoader[K, R | None] = getattr(loaders, name)

    async def load() -> T | None:
        rec = await loader.load(key)
        return convert(rec) if rec is not None else None

    return load()


Fetch = Callable[[Reader, Sequence[K]], Awaitable[dict[K, V]]]


def batch(
    reader: RequestReader,
    fetch: Fetch[K, V],
    default: Callable[[], Any] = lambda: None,
    cache_as: str | None = None,
    *,
    reference: bool = False,
) -> DataLoader[K, Any]:
    """A loader whose batches read through the request's connection. ``cache_as`` also
    fills the process-wide reference cache with what was found, and for ``reference`` rows
    (which no scope hides) with what was not: a row one caller's scope hides is not absent
    for the next caller."""

    async def load(keys: list[K]) -> list[Any]:
        async with reader.use() as conn:
            found = await fetch(conn, keys)
        values = [found.get(k, default()) for k in keys]
        if cache_as is not None:
            for key, value in zip(keys, values, strict=True):
                if value is not None or reference:
                    REFERENCE.put(cache_as, key, value)
        return values

    return DataLoader(load_fn=load)


def batch_records(
    reader: RequestReader,
    principal: Principal,
    issues: DataLoader[int, IssueRecord | None],
    fetch: Callable[
        [Reader, Principal, Sequence[IssueRecord]], Awaitable[dict[int, list[Candidate]]]
    ],
) -> DataLoader[int, list[Candidate]]:
    """A loader keyed by issue id that computes from the issue records themselves, taken
    from the request's issue loader (a page that asks for these fields read whole rows
    and primed it: ``ISSUE_FIELD_COLUMNS``)."""

    async def load(keys: list[int]) -> list[list[Candidate]]:
        found = [r for r in await issues.load_many(keys) if r is not None]
        async with reader.use() as conn:
            result = await fetch(conn, principal, found)
        return [result.get(k, []) for k in keys]

    return DataLoader(load_fn=load)


async def _libraries(conn: Reader, provinces: Sequence[str]) -> dict[str, list[TagRecord]]:
    return {p: await tags.library(conn, p) for p in provinces}


async def _reads_internal(conn: Reader, principal: Principal, keys: Sequence[int]) -> set[int]:
    """The issues among ``keys`` whose internal timeline entries ``principal`` reads."""
    found = await records.issues_by_id(conn, keys, issue_visibility(principal))
    return {
        k
        for k, rec in found.items()
        if records.reads_issue(principal, rec, Action.ISSUE_READ_INTERNAL)
    }


class Loaders:
    """The request's loaders, each built on first use (a request needs a few of them)."""

    def __init__(self, db: Database, principal: Principal) -> None:
        self.db = db
        self.principal = principal
        self.reader = RequestReader(db, principal)
        # Whose internal timeline entries the caller reads (the policy's issue.read_internal).
        self.internal = internal_entries(principal)
        self.public_only = self.internal is Internal.NONE
        # Values primed before their loader was built, by loader name.
        self._primed: dict[str, dict[Any, Any]] = {}

    async def release(self, *, final: bool = False) -> None:
        """Give back the request's connection (``RequestReader.release``)."""
        await self.reader.release(final=final)

    def prime(self, name: str, values: dict[Any, Any]) -> None:
        """Values this request already has (a page's rows): the loader ``name`` answers
        them without a batch. Kept as a plain dict until the loader is first used."""
        built: DataLoader[Any, Any] | None = self.__dict__.get(name)
        if built is not None:
            built.prime_many(values)
        else:
            self._primed.setdefault(name, {}).update(values)

    def held(self, name: str, key: Any) -> Any:
        """The value for ``key`` this request already has, else MISSING."""
        primed = self._primed.get(name)
        if primed is not None and key in primed:
            return primed[key]
        built: DataLoader[Any, Any] | None = self.__dict__.get(name)
        future = built.cache_map.get(key) if built is not None and built.cache else None
        if (
            future is not None
            and future.done()
            and not future.cancelled()
            and future.exception() is None
        ):
            return future.result()
        return MISSING

    def _primed_loader(self, name: str, loader: DataLoader[K, V]) -> DataLoader[K, V]:
        primed = self._primed.pop(name, None)
        if primed:
            loader.prime_many(primed)
        return loader

    @cached_property
    def issue(self) -> DataLoader[int, IssueRecord | None]:
        visible = issue_visibility(self.principal)
        loader: DataLoader[int, IssueRecord | None] = batch(
            self.reader, lambda c, k: records.issues_by_id(c, k, visible)
        )
        return self._primed_loader("issue", loader)

    @cached_property
    def events(self) -> DataLoader[int, list[EventRecord]]:
        public_only = self.public_only
        principal = self.principal
        if self.internal is not Internal.SOME:
            loader: DataLoader[int, list[EventRecord]] = batch(
                self.reader,
                lambda c, k: records.events_for(c, k, public_only),
                default=list,
            )
            return self._primed_loader("events", loader)

        async def per_issue(conn: Reader, keys: Sequence[int]) -> dict[int, Any]:
            found = await records.events_for(conn, keys, False)
            internal = await _reads_internal(conn, principal, keys)
            return {
                k: [e for e in events if e.public or k in internal] for k, events in found.items()
            }

        return batch(self.reader, per_issue, default=list)

    @cached_property
    def last_event(self) -> DataLoader[int, EventRecord | None]:
        public_only = self.public_only
        principal = self.principal
        if self.internal is not Internal.SOME:
            loader: DataLoader[int, EventRecord | None] = batch(
                self.reader, lambda c, k: records.last_events(c, k, public_only)
            )
            return self._primed_loader("last_event", loader)

        async def per_issue(conn: Reader, keys: Sequence[int]) -> dict[int, Any]:
            every = await records.last_events(conn, keys, False)
            public = await records.last_events(conn, keys, True)
            internal = await _reads_internal(conn, principal, keys)
            return {k: (every if k in internal else public).get(k) for k in keys}

        return self._primed_loader("last_event", batch(self.reader, per_issue))

    @cached_property
    def custody(self) -> DataLoader[int, list[CustodyRecord]]:
        return self._primed_loader("custody", batch(self.reader, records.custody_for, default=list))

    @cached_property
    def ratings(self) -> DataLoader[int, list[RatingRecord]]:
        return batch(self.reader, records.ratings_for, default=list)

    @cached_property
    def problem_list_push(self) -> DataLoader[int, PushRecord | None]:
        principal = self.principal
        return batch(self.reader, lambda c, k: problem_list_queries.pushes_by_id(c, principal, k))

    @cached_property
    def problem_list_pushes(self) -> DataLoader[int, list[PushRecord]]:
        principal = self.principal
        return batch(
            self.reader,
            lambda c, k: problem_list_queries.pushes_for_issues(c, principal, k),
            default=list,
        )

    @cached_property
    def duplicates(self) -> DataLoader[int, list[Candidate]]:
        return batch_records(self.reader, self.principal, self.issue, similar.duplicate_candidates)

    @cached_property
    def recurrences(self) -> DataLoader[int, list[Candidate]]:
        return batch_records(self.reader, self.principal, self.issue, similar.recurrence_candidates)

    @cached_property
    def tag_library(self) -> DataLoader[str, list[TagRecord]]:
        return batch(self.reader, _libraries, default=list, reference=True)

    @cached_property
    def enterprise(self) -> DataLoader[int, EnterpriseRecord | None]:
        # Enterprises are under row-level security: read in the caller's scope (asked for
        # by the enterprise id of an issue the caller sees, so a cached row shows nothing
        # that caller's own read would not).
        loader: DataLoader[int, EnterpriseRecord | None] = batch(
            self.reader, records.enterprises_by_id, cache_as="enterprise"
        )
        return self._primed_loader("enterprise", loader)

    @cached_property
    def account(self) -> DataLoader[int, AccountRecord | None]:
        p = self.principal
        return batch(self.reader, lambda conn, ids: account_queries.accounts_by_id(conn, p, ids))

    @cached_property
    def account_channel(self) -> DataLoader[int, str | None]:
        # Row-level security shows the credentials row of an account the caller reads.
        return batch(self.reader, channel_clients.channels_of)

    @cached_property
    def audit_entry(self) -> DataLoader[int, AuditRecord | None]:
        p = self.principal
        return batch(self.reader, lambda conn, ids: audit.entries_by_id(conn, p, ids))

    @cached_property
    def region(self) -> DataLoader[str, RegionRecord | None]:
        return batch(self.reader, tenancy.regions_by_code, cache_as="region", reference=True)

    @cached_property
    def children(self) -> DataLoader[str, list[RegionRecord]]:
        return batch(self.reader, tenancy.children_of, default=list, reference=True)

    @cached_property
    def center_by_region(self) -> DataLoader[str, CenterRecord | None]:
        return batch(self.reader, tenancy.centers_by_region, reference=True)

    @cached_property
    def center(self) -> DataLoader[int, CenterRecord | None]:
        return batch(self.reader, tenancy.centers_by_id, reference=True)

    @cached_property
    def boards_by_region(self) -> DataLoader[str, list[UnitRecord]]:
        return batch(
            self.reader,
            lambda c, k: tenancy.units_by_region(c, t.board, k),
            default=list,
            reference=True,
        )

    @cached_property
    def departments_by_region(self) -> DataLoader[str, list[UnitRecord]]:
        return batch(
            self.reader,
            lambda c, k: tenancy.units_by_region(c, t.department, k),
            default=list,
            reference=True,
        )

    @cached_property
    def board(self) -> DataLoader[int, UnitRecord | None]:
        return batch(
            self.reader,
            lambda c, k: tenancy.units_by_id(c, t.board, k),
            cache_as="board",
            reference=True,
        )

    @cached_property
    def department(self) -> DataLoader[int, UnitRecord | None]:
        return batch(
            self.reader,
            lambda c, k: tenancy.units_by_id(c, t.department, k),
            cache_as="department",
            reference=True,
        )
