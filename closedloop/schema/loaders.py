"""Per-request DataLoaders. Each batch runs in its own short transaction, so concurrent
resolvers never share a connection or session."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.dataloader import DataLoader

from closedloop.authz.roles import Principal, Role
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.schema.reference import REFERENCE
from closedloop.services import tenancy
from closedloop.services.issues import records
from closedloop.services.issues.records import (
    CustodyRecord,
    EnterpriseRecord,
    EventRecord,
    IssueRecord,
)
from closedloop.services.learning import similar, tags
from closedloop.services.learning.similar import Candidate
from closedloop.services.learning.tags import TagRecord
from closedloop.services.tenancy import CenterRecord, RegionRecord, UnitRecord
from closedloop.tenancy.scope import issue_visibility

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def batch(
    db: Database,
    principal: Principal | None,
    fetch: Callable[[AsyncConnection, Sequence[K]], Awaitable[dict[K, V]]],
    default: Callable[[], Any] = lambda: None,
    cache_as: str | None = None,
) -> DataLoader[K, Any]:
    """A loader whose batches run in their own transaction: in the caller's scope, or for
    reference data (``principal=None``) without one. ``cache_as`` also fills the
    process-wide reference cache."""

    async def load(keys: list[K]) -> list[Any]:
        reading = db.read(principal) if principal is not None else db.read_reference()
        async with reading as conn:
            found = await fetch(conn, keys)
        values = [found.get(k, default()) for k in keys]
        if cache_as is not None:
            for key, value in zip(keys, values, strict=True):
                REFERENCE.put(cache_as, key, value)
        return values

    return DataLoader(load_fn=load)


def batch_records(
    db: Database,
    principal: Principal,
    issues: DataLoader[int, IssueRecord | None],
    fetch: Callable[
        [AsyncConnection, Principal, Sequence[IssueRecord]], Awaitable[dict[int, list[Candidate]]]
    ],
) -> DataLoader[int, list[Candidate]]:
    """A loader keyed by issue id that computes from the issue records themselves, taken
    from the request's issue loader (a listed page has already primed it)."""

    async def load(keys: list[int]) -> list[list[Candidate]]:
        found = [r for r in await issues.load_many(keys) if r is not None]
        async with db.read(principal) as conn:
            result = await fetch(conn, principal, found)
        return [result.get(k, []) for k in keys]

    return DataLoader(load_fn=load)


async def _libraries(conn: AsyncConnection, provinces: Sequence[str]) -> dict[str, list[TagRecord]]:
    return {p: await tags.library(conn, p) for p in provinces}


class Loaders:
    def __init__(self, db: Database, principal: Principal) -> None:
        visible = issue_visibility(principal)
        # Enterprises see the public part of a timeline only.
        public_only = principal.role is Role.ENTERPRISE
        self.public_only = public_only
        self.issue: DataLoader[int, IssueRecord | None] = batch(
            db, principal, lambda c, k: records.issues_by_id(c, k, visible)
        )
        self.events: DataLoader[int, list[EventRecord]] = batch(
            db, principal, lambda c, k: records.events_for(c, k, public_only), default=list
        )
        self.last_event: DataLoader[int, EventRecord | None] = batch(
            db, principal, lambda c, k: records.last_events(c, k, public_only)
        )
        self.custody: DataLoader[int, list[CustodyRecord]] = batch(
            db, principal, records.custody_for, default=list
        )
        self.duplicates: DataLoader[int, list[Candidate]] = batch_records(
            db, principal, self.issue, similar.duplicate_candidates
        )
        self.recurrences: DataLoader[int, list[Candidate]] = batch_records(
            db, principal, self.issue, similar.recurrence_candidates
        )
        self.tag_library: DataLoader[str, list[TagRecord]] = batch(
            db, None, _libraries, default=list
        )
        self.enterprise: DataLoader[int, EnterpriseRecord | None] = batch(
            db, None, records.enterprises_by_id, cache_as="enterprise"
        )
        self.region: DataLoader[str, RegionRecord | None] = batch(
            db, None, tenancy.regions_by_code, cache_as="region"
        )
        self.children: DataLoader[str, list[RegionRecord]] = batch(
            db, None, tenancy.children_of, default=list
        )
        self.center_by_region: DataLoader[str, CenterRecord | None] = batch(
            db, None, tenancy.centers_by_region
        )
        self.center: DataLoader[int, CenterRecord | None] = batch(db, None, tenancy.centers_by_id)
        self.boards_by_region: DataLoader[str, list[UnitRecord]] = batch(
            db, None, lambda c, k: tenancy.units_by_region(c, t.board, k), default=list
        )
        self.departments_by_region: DataLoader[str, list[UnitRecord]] = batch(
            db, None, lambda c, k: tenancy.units_by_region(c, t.department, k), default=list
        )
        self.board: DataLoader[int, UnitRecord | None] = batch(
            db, None, lambda c, k: tenancy.units_by_id(c, t.board, k), cache_as="board"
        )
        self.department: DataLoader[int, UnitRecord | None] = batch(
            db, None, lambda c, k: tenancy.units_by_id(c, t.department, k), cache_as="department"
        )
