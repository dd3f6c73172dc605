"""The dashboard's monthly rollup: exact figures per (Beijing month, origin county) slice.

Why: a province's or a city's cockpit for a quarter summed hundreds of thousands of issues
per request (seconds at 1,000,000 issues). The rollup holds each slice's marginals (total,
town, state, holding tier, board key, department key, tag), so a dashboard reads a few
thousand pre-summed rows whatever the number of issues.

Exact, never stale: a trigger on ``issue`` (migration 0007) appends every slice a write
touches to ``issue_rollup_dirty``, in the writer's transaction. Before reading the rollup,
the reader recomputes the dirty slices (``refresh``): the dirty rows it takes were written
by committed transactions, whose issue rows the recomputation then sees. Refreshes are
serialised by an advisory lock, so two never write the same slice at once. The sweeper
refreshes too, so that readers rarely have to. Each refresh stamps the slices it
recomputed with a new generation (``issue_rollup_slice``, migration 0019): ``check`` tells
a reader whether anything in its slices changed since it last looked.

The slice of an issue: ``closedloop_month(created_at)`` (SQL, Beijing month) and
``left(origin_region_code, 6)``: a county, or a city's / the province's own issues. What
the rollup cannot answer stays live: lights (they depend on the request's clock), a town's
dashboard (finer than a slice, and small), and periods that are not whole months.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.db import driver
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.periods import Period, midnight
from closedloop.domain.regions import subtree_upper_bound
from closedloop.services.evaluation.attribution import MERGED
from closedloop.services.evaluation.figures import (
    STORED_COLUMNS,
    Dimension,
    marginals_statement,
)
from closedloop.tenancy.scope import in_subtree

COUNTY_LENGTH = 6
# Above this many dirty slices one scan of the issues beats one index range per slice.
RANGE_SLICES = 256
_LOCK = sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext("closedloop.issue_rollup")))

Slice = tuple[dt.date, str]


def slice_month(column: Any) -> sa.ColumnElement[dt.date]:
    return sa.func.closedloop_month(column, type_=sa.Date)


def slice_county(column: Any) -> sa.ColumnElement[str]:
    return sa.func.left(column, COUNTY_LENGTH, type_=t.RegionCode)


def whole_months(period: Period) -> bool:
    return period.start.day == 1 and period.end.day == 1


def serves(region_code: str, period: Period) -> bool:
    """Whether the rollup answers this dashboard (a county or above, whole months)."""
    return len(region_code) <= COUNTY_LENGTH and whole_months(period)


def _next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _in_slice(month: dt.date, county: str) -> sa.ColumnElement[bool]:
    """The issues of one slice, as an index range on (origin, created_at)."""
    c = t.issue.c
    origin = (
        in_subtree(c.origin_region_code, county)
        if len(county) == COUNTY_LENGTH
        else c.origin_region_code == county
    )
    return sa.and_(
        origin, c.created_at >= midnight(month), c.created_at < midnight(_next_month(month))
    )


def _selection(slices: Sequence[Slice]) -> sa.ColumnElement[bool]:
    c = t.issue.c
    if len(slices) <= RANGE_SLICES:
        return sa.or_(*(_in_slice(m, k) for m, k in slices))
    months, counties = _arrays(slices)
    wanted = sa.select(
        sa.func.unnest(months).label("m"), sa.func.unnest(counties).label("k")
    ).subquery()
    return sa.tuple_(slice_month(c.created_at), slice_county(c.origin_region_code)).in_(
        sa.select(wanted.c.m, wanted.c.k)
    )


def _arrays(slices: Sequence[Slice]) -> tuple[Any, Any]:
    months = sa.cast(sa.literal([m for m, _ in slices], sa.ARRAY(sa.Date)), sa.ARRAY(sa.Date))
    counties = sa.cast(sa.literal([k for _, k in slices], sa.ARRAY(sa.Text)), sa.ARRAY(sa.Text))
    return months, counties


async def recompute(conn: AsyncConnection, slices: Sequence[Slice]) -> None:
    """Replace the rollup rows of these slices with figures computed from the issues."""
    if not slices:
        return
    r, c = t.issue_rollup.c, t.issue.c
    months, counties = _arrays(slices)
    await conn.execute(
        t.issue_rollup.delete().where(
            sa.tuple_(r.month, r.county_code).in_(
                sa.select(sa.func.unnest(months), sa.func.unnest(counties))
            )
        )
    )
    selection = _selection(slices)
    keys: list[sa.Label[Any]] = [
        slice_month(c.created_at).label("month"),
        slice_county(c.origin_region_code).label("county_code"),
    ]
    marginals = marginals_statement(
        [selection], sa.func.left(c.origin_region_code, 9), None, keys
    ).subquery("m")
    m = marginals.c
    columns = ["month", "county_code", "dimension", "value", "name_zh", "name_en", *STORED_COLUMNS]
    await conn.execute(
        t.issue_rollup.insert().from_select(
            columns,
            sa.select(
                m.month,
                m.county_code,
                m.dimension,
                sa.func.coalesce(m.value, ""),
                m.name_zh,
                m.name_en,
                *(m[n] for n in STORED_COLUMNS),
            ),
        )
    )
    await _stamp(conn, months, counties)
    # Tags: live issues per tag (merged duplicates count in their primary only).
    tag = sa.func.unnest(c.tags).label("tag")
    tagged = sa.select(*keys, tag).where(selection, c.state != MERGED).subquery("tagged")
    g = tagged.c
    await conn.execute(
        t.issue_rollup.insert().from_select(
            ["month", "county_code", "dimension", "value", "total"],
            sa.select(
                g.month, g.county_code, sa.literal(Dimension.TAG), g.tag, sa.func.count()
            ).group_by(g.month, g.county_code, g.tag),
        )
    )


async def _stamp(conn: AsyncConnection, months: Any, counties: Any) -> None:
    """A new generation for the recomputed slices (one for the whole refresh)."""
    g = t.issue_rollup_slice.c
    stamped = pg_insert(t.issue_rollup_slice).from_select(
        ["month", "county_code", "generation"],
        sa.select(
            sa.func.unnest(months),
            sa.func.unnest(counties),
            sa.select(t.ROLLUP_GENERATION.next_value()).scalar_subquery(),
        ),
    )
    await conn.execute(
        stamped.on_conflict_do_update(
            index_elements=[g.county_code, g.month],
            set_={"generation": stamped.excluded.generation},
        )
    )


@dataclass(frozen=True, slots=True)
class Scope:
    """The slices a reader needs: a region's subtree over a range of months."""

    region: str
    first_month: dt.date
    end_month: dt.date  # exclusive

    def where(self) -> sa.ColumnElement[bool]:
        d = t.issue_rollup_dirty.c
        return sa.and_(
            in_subtree(d.county_code, self.region),
            d.month >= self.first_month,
            d.month < self.end_month,
        )


@dataclass(frozen=True, slots=True)
class SliceState:
    """Whether some slice of a scope awaits its refresh, and the largest generation of its
    slices (``None``: none was ever refreshed). While neither changes, no write has reached
    the scope's slices: a write leaves a dirty mark until a refresh, and a refresh raises
    the generation."""

    dirty: bool
    generation: int | None


def state_function(scope: Scope | None = None) -> sa.TableValuedAlias:
    """``closedloop_rollup_state`` of the scope: one row ``(dirty, generation)``. A
    SECURITY DEFINER function (migration 0019): any role may ask, with or without a caller
    scope, and none needs a privilege on the tables. Read it on the primary. Without a
    scope: its arguments as the bound parameters ``state_values`` fills."""
    if scope is None:
        args: Any = (
            sa.bindparam("state_low", type_=sa.Text),
            sa.bindparam("state_high", type_=sa.Text),
            sa.bindparam("state_first", type_=sa.Date),
            sa.bindparam("state_end", type_=sa.Date),
        )
    else:
        args = tuple(state_values(scope).values())
    return sa.func.closedloop_rollup_state(*args).table_valued("dirty", "generation")


def state_values(scope: Scope) -> dict[str, Any]:
    return {
        "state_low": scope.region,
        "state_high": subtree_upper_bound(scope.region),
        "state_first": scope.first_month,
        "state_end": scope.end_month,
    }


def slice_state(row: Any) -> SliceState:
    return SliceState(bool(row["dirty"]), row["generation"])


async def state_on(conn: AsyncConnection | driver.Reader, scope: Scope) -> SliceState:
    """The scope's state (``state_function``), in the caller's transaction."""
    state = state_function(scope)
    (row,) = await driver.rows(conn, sa.select(state.c.dirty, state.c.generation))
    return slice_state(row)


async def check(db: Database, scope: Scope) -> SliceState:
    """The scope's state, on the primary, in a transaction of its own."""
    async with db.read_reference() as conn:
        return await state_on(conn, scope)


async def pending(conn: AsyncConnection, scope: Scope | None = None) -> bool:
    """Whether some slice (of ``scope``) awaits its refresh (cheap: the dirty table is
    small, the sweeper empties it)."""
    dirty = sa.select(t.issue_rollup_dirty.c.month)
    if scope is not None:
        dirty = dirty.where(scope.where())
    return bool(await conn.scalar(sa.select(sa.exists(dirty))))


async def refresh_on(conn: AsyncConnection, scope: Scope | None = None) -> int:
    """Recompute the dirty slices (of ``scope``) in ``conn``'s transaction (the system
    role's, or the owner's); returns how many. The caller commits."""
    slices = await take(conn, scope)
    await recompute(conn, slices)
    return len(slices)


async def take(conn: AsyncConnection, scope: Scope | None = None) -> list[Slice]:
    """Take the dirty marks (of ``scope``) under the refresh lock, in ``conn``'s
    transaction; the caller recomputes those slices before it commits."""
    await conn.execute(_LOCK)
    d = t.issue_rollup_dirty.c
    taking = t.issue_rollup_dirty.delete().returning(d.month, d.county_code)
    if scope is not None:
        taking = taking.where(scope.where())
    return sorted({(row.month, row.county_code) for row in await conn.execute(taking)})


async def refresh(db: Database, scope: Scope | None = None) -> int:
    """Recompute the dirty slices (of ``scope``: a reader refreshes only what it reads) in
    a transaction of the system role: the slices sum issues whoever may read them, and only
    the system writes them (a reader passes nothing but the slices' range). Call it holding
    no other connection: a reader that waited for a second connection while holding one
    could starve the pool."""
    async with db.system_transaction() as conn:
        if not await pending(conn, scope):
            return 0
    async with db.system_transaction() as conn:
        count = await refresh_on(conn, scope)
        await conn.commit()
    return count


async def mark_all(conn: AsyncConnection) -> None:
    """Mark every slice that has issues dirty (after a bulk load that skipped triggers)."""
    c = t.issue.c
    await conn.execute(
        t.issue_rollup_dirty.insert().from_select(
            ["month", "county_code"],
            sa.select(slice_month(c.created_at), slice_county(c.origin_region_code)).distinct(),
        )
    )


def read_statement(
    region: str, child_length: int, period: Period, trend: Sequence[Period]
) -> sa.CompoundSelect[Any]:
    """Rows ``(dimension, value, name_zh, name_en, *figures)`` for a region: the period's
    marginals (TOTAL, STATE, TIER, BOARD, DEPARTMENT, TAG), its children (CHILD: towns
    from the county's own rows, counties or cities from the slices' codes) and the monthly
    trend (MONTH, the month's first day)."""
    r = t.issue_rollup.c
    sums = [sa.func.sum(r[n]).label(n) for n in STORED_COLUMNS]
    in_region = in_subtree(r.county_code, region)
    in_period = sa.and_(r.month >= period.start, r.month < period.end)
    county = len(region) == COUNTY_LENGTH
    kept = [
        Dimension.TOTAL,
        Dimension.STATE,
        Dimension.TIER,
        Dimension.BOARD,
        Dimension.DEPARTMENT,
        Dimension.TAG,
        *([Dimension.CHILD] if county else []),
    ]
    parts: list[Any] = [
        sa.select(
            r.dimension,
            r.value,
            sa.func.min(r.name_zh).label("name_zh"),
            sa.func.min(r.name_en).label("name_en"),
            *sums,
        )
        .where(in_region, in_period, r.dimension.in_(kept))
        .group_by(r.dimension, r.value)
    ]
    if not county:
        child = sa.func.left(r.county_code, child_length)
        parts.append(
            sa.select(sa.literal(Dimension.CHILD), child, sa.null(), sa.null(), *sums)
            .where(in_region, in_period, r.dimension == Dimension.TOTAL)
            .group_by(child)
        )
    month_text = sa.cast(r.month, sa.Text)
    parts.append(
        sa.select(sa.literal(Dimension.MONTH), month_text, sa.null(), sa.null(), *sums)
        .where(
            in_region,
            r.month >= trend[0].start,
            r.month < trend[-1].end,
            r.dimension == Dimension.TOTAL,
        )
        .group_by(month_text)
    )
    return sa.union_all(*parts)
