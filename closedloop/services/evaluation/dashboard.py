"""The cockpit (驾驶舱) of a region for a period.

Population: the issues originating in the region's subtree and created in the period
(Beijing time), the same population a region is scored on, so a region's dashboard and its
row in its parent's dashboard agree, and the children's figures add up to the parent's
(``totals`` = Σ ``children`` + ``local``, the issues of enterprises registered at the region
itself). MERGED duplicates are counted apart (``merged``) and in no other figure.

Figures describe, scores judge: the dashboard's overdue count is the issue's own flag
(resolved after its limit, wherever the lateness happened) so it adds up across levels;
region *scores* blame lateness on the holder (``attribution`` A6). Satisfaction uses the
default scheme's satisfied grades and counts unrated resolved issues as good.

Lights are evaluated at the request's clock: open issues of the population whose running
limit is past two thirds (yellow) or past due (red).

Where the figures come from:

- a county, a city or the province, for whole months: the monthly rollup
  (``rollup``: a few thousand pre-summed rows, refreshed first if issues changed), plus
  the lights counted live over the lit issues only;
- a town, or a period that is not whole months: live, one aggregate statement over the
  population (``figures.marginals_statement``), one for the top tags, one for the trend.

Either way, two statements for the red/black lists, the region's children from reference
data, and the same number of statements whatever the region's size. A test checks that
both sources give the same dashboard.

What the rollup serves is kept and shared (``dashboard_cache``), the lists with it:
computed once for every caller with the same scope while no write reaches its slices (an
issue, a list entry, the account that added one) and no light changes, and once for all
the callers asking at the same moment. A kept dashboard costs one statement, outside any
transaction: the region, its children and its slices' state.
"""

from __future__ import annotations

import datetime as dt
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.enforcer import can_on_region
from closedloop.authz.roles import Action, Principal
from closedloop.db import driver
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.db.replicas import Freshness
from closedloop.domain.issues import IssueState
from closedloop.domain.periods import Period
from closedloop.domain.regions import RegionLevel
from closedloop.domain.schemes import DEFAULT_SCHEME, load_scheme
from closedloop.domain.scoring import Counters, rate_of, round_half_up
from closedloop.services import tenancy
from closedloop.services.evaluation import rollup
from closedloop.services.evaluation.attribution import counters_from, instant_bucket
from closedloop.services.evaluation.dashboard_cache import Keeper, Kept
from closedloop.services.evaluation.figures import (
    STORED_COLUMNS,
    Dimension,
    figure_columns,
    grouped_facts,
    lights_change_statement,
    lights_statement,
    marginals_statement,
)
from closedloop.services.evaluation.record_queries import ListEntryRow, list_heads
from closedloop.services.evaluation.scores import readable_region_on
from closedloop.services.evaluation.targets import CHILD_CODE_LENGTH, ListKind
from closedloop.services.issues.queries import scope_key
from closedloop.services.learning.tags import top_tags
from closedloop.services.tenancy import RegionRecord
from closedloop.tenancy.scope import in_subtree, issue_visibility

TOP_TAGS = 10
TREND_MONTHS = 12
LIST_LIMIT = 50
LISTS = (ListKind.RED, ListKind.BLACK)


@dataclass(frozen=True, slots=True)
class Figures:
    counters: Counters = field(default_factory=Counters)
    open: int = 0
    merged: int = 0
    yellow: int = 0
    red: int = 0
    # Good ratings and the five rates, worked out once: a kept dashboard serves the same
    # figures to many requests, and exact rates cost a few microseconds each.
    _derived: tuple[Any, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        c = self.counters
        good = c.good_ratings(_satisfied())
        derived = (
            good,
            _rate(c.resolved, c.handled),
            _rate(good, c.resolved),
            _rate(c.overdue_resolved, c.handled),
            _rate(c.recurred, c.resolved),
            _rate(c.proactive, c.total),
        )
        object.__setattr__(self, "_derived", derived)

    @property
    def total(self) -> int:
        return self.counters.total

    def good_ratings(self) -> int:
        good: int = self._derived[0]
        return good

    def resolution_rate(self) -> Decimal | None:
        rate: Decimal | None = self._derived[1]
        return rate

    def satisfaction_rate(self) -> Decimal | None:
        rate: Decimal | None = self._derived[2]
        return rate

    def overdue_rate(self) -> Decimal | None:
        rate: Decimal | None = self._derived[3]
        return rate

    def recurrence_rate(self) -> Decimal | None:
        rate: Decimal | None = self._derived[4]
        return rate

    def proactive_rate(self) -> Decimal | None:
        rate: Decimal | None = self._derived[5]
        return rate


def _satisfied() -> frozenset[str]:
    return load_scheme(DEFAULT_SCHEME).satisfied_grades


def _rate(numerator: int, denominator: int) -> Decimal | None:
    exact = rate_of(numerator, denominator)
    return None if exact is None else round_half_up(exact)


@dataclass(frozen=True, slots=True)
class UnitFigures:
    """A board or department key across the region's subtree (all TALENT boards, …)."""

    key: str
    name_zh: str
    name_en: str
    figures: Figures


Row = Mapping[Any, Any]
Marginals = dict[str, dict[str | None, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Body:
    """Everything a dashboard shows but its region records, ready to serve: what the
    issues sum to, and the red/black lists. A kept dashboard is this."""

    totals: Figures
    local: Figures
    children: Mapping[str, Figures]  # by child region code
    by_state: tuple[tuple[IssueState, int], ...]
    by_tier: tuple[tuple[RegionLevel, Figures], ...]
    boards: tuple[UnitFigures, ...]
    departments: tuple[UnitFigures, ...]
    top_tags: tuple[tuple[str, int], ...]
    trend: tuple[tuple[Period, Figures], ...]
    lists: Mapping[ListKind, tuple[list[ListEntryRow], int]]  # newest entries, how many
    freshness: Freshness


@dataclass(frozen=True, slots=True)
class Dashboard:
    region: RegionRecord
    period: Period
    as_of: dt.datetime
    freshness: Freshness  # the primary, or a replica and how old its data is
    totals: Figures
    local: Figures
    children: tuple[tuple[RegionRecord, Figures], ...]
    by_state: tuple[tuple[IssueState, int], ...]
    by_tier: tuple[tuple[RegionLevel, Figures], ...]
    boards: tuple[UnitFigures, ...]
    departments: tuple[UnitFigures, ...]
    top_tags: tuple[tuple[str, int], ...]
    red_list: tuple[ListEntryRow, ...]
    black_list: tuple[ListEntryRow, ...]
    list_counts: Mapping[ListKind, int]
    trend: tuple[tuple[Period, Figures], ...]
    # The kept answer this dashboard was made of (``None``: computed for this request):
    # dashboards made of the same kept answer, region, children and period are the same
    # but for ``as_of`` (and the freshness that says it), which lets a caller keep what it
    # derives from them.
    kept: Body | None = field(default=None, compare=False)


def _figures(m: Row) -> Figures:
    return Figures(
        counters=counters_from(m),
        open=int(m["open"] or 0),
        merged=int(m["merged"] or 0),
        yellow=int(m.get("yellow") or 0),
        red=int(m.get("red") or 0),
    )


def _population(
    principal: Principal, region: str, start: dt.datetime, end: dt.datetime
) -> list[sa.ColumnElement[bool]]:
    c = t.issue.c
    return [
        in_subtree(c.origin_region_code, region),
        c.created_at >= start,
        c.created_at < end,
        issue_visibility(principal),
    ]


def _child(region: RegionRecord) -> sa.ColumnElement[str]:
    length = CHILD_CODE_LENGTH.get(len(region.code), len(region.code))
    return sa.func.left(t.issue.c.origin_region_code, length)


def trend_months(period: Period) -> tuple[Period, ...]:
    """The months of the period, extended back to twelve when the period is shorter."""
    months = list(period.months())
    while len(months) < TREND_MONTHS:
        months.insert(0, months[0].previous())
    return tuple(months)


async def _trend(
    conn: AsyncConnection,
    principal: Principal,
    region: str,
    months: Sequence[Period],
    now: dt.datetime,
) -> dict[Period, Figures]:
    c = t.issue.c
    facts = grouped_facts(
        _population(principal, region, months[0].start_at, months[-1].end_at),
        [instant_bucket(c.created_at, months).label("bucket")],
        now,
    )
    rows = await conn.execute(
        sa.select(facts.c.bucket, *figure_columns(facts.c, lights=True)).group_by(facts.c.bucket)
    )
    return {months[row.bucket - 1]: _figures(row._mapping) for row in rows}


def _by_dimension(rows: Any) -> Marginals:
    by: Marginals = {}
    for row in rows:
        m = dict(row._mapping)
        by.setdefault(m["dimension"], {})[m["value"] or None] = m
    return by


async def _live(
    conn: AsyncConnection,
    principal: Principal,
    region: RegionRecord,
    period: Period,
    months: Sequence[Period],
    now: dt.datetime,
) -> tuple[Marginals, dict[Period, Figures], list[tuple[str, int]]]:
    """The figures aggregated from the issues themselves."""
    where = _population(principal, region.code, period.start_at, period.end_at)
    rows = await conn.execute(marginals_statement(where, _child(region), now))
    # The learning library's ranking (merged duplicates count in their primary only).
    tags = await top_tags(conn, principal, region.code, period.start_at, period.end_at, TOP_TAGS)
    trend = await _trend(conn, principal, region.code, months, now)
    return _by_dimension(rows), trend, [(x.tag, x.count) for x in tags]


async def _rolled_up(
    conn: AsyncConnection,
    principal: Principal,
    region: RegionRecord,
    period: Period,
    months: Sequence[Period],
    now: dt.datetime,
) -> tuple[Marginals, dict[Period, Figures], list[tuple[str, int]]]:
    """The figures read from the monthly rollup, plus the lights, which depend on the
    clock: counted live over the lit issues only (open, past their yellow mark)."""
    child_length = CHILD_CODE_LENGTH.get(len(region.code), len(region.code))
    by = _by_dimension(
        await conn.execute(rollup.read_statement(region.code, child_length, period, months))
    )
    c = t.issue.c
    lights = lights_statement(
        _trend_population(principal, region, months),
        _child(region),
        now,
        instant_bucket(c.created_at, months),
        period.start_at,
    )
    month_of = {str(n + 1): m.start.isoformat() for n, m in enumerate(months)}
    for row in await conn.execute(lights):
        m = row._mapping
        dimension, value = m["dimension"], m["value"]
        if dimension == Dimension.MONTH:
            value = month_of[value]
        target = by.setdefault(dimension, {}).setdefault(value, _empty(m))
        target["yellow"], target["red"] = m["yellow"], m["red"]
    starts = {m.start.isoformat(): m for m in months}
    trend = {starts[v]: _figures(m) for v, m in by.pop(Dimension.MONTH, {}).items() if v}
    tags = sorted(
        ((tag, int(m["total"])) for tag, m in by.pop(Dimension.TAG, {}).items() if tag),
        key=lambda x: (-x[1], x[0]),
    )
    return by, trend, tags[:TOP_TAGS]


def _trend_population(
    principal: Principal, region: RegionRecord, months: Sequence[Period]
) -> list[sa.ColumnElement[bool]]:
    return _population(principal, region.code, months[0].start_at, months[-1].end_at)


def _slices(region: str, months: Sequence[Period]) -> rollup.Scope:
    """The rollup slices a dashboard reads (its lights' issues lie in them too)."""
    return rollup.Scope(region, months[0].start, months[-1].end)


def _body(
    by: Marginals,
    trend: Mapping[Period, Figures],
    tags: Sequence[tuple[str, int]],
    months: Sequence[Period],
    lists: Mapping[ListKind, tuple[list[ListEntryRow], int]],
    freshness: Freshness,
) -> Body:
    states = by.get(Dimension.STATE, {})
    tiers = by.get(Dimension.TIER, {})

    def units(dimension: str) -> tuple[UnitFigures, ...]:
        found = [
            UnitFigures(key, m["name_zh"] or key, m["name_en"] or key, _figures(m))
            for key, m in by.get(dimension, {}).items()
            if key is not None
        ]
        found.sort(key=lambda u: (-u.figures.total, u.key))
        return tuple(found)

    return Body(
        totals=_figures(by[Dimension.TOTAL][None]) if by.get(Dimension.TOTAL) else Figures(),
        local=Figures(),  # set per region by ``dashboard`` (the region's own child row)
        children={code: _figures(m) for code, m in by.get(Dimension.CHILD, {}).items() if code},
        by_state=tuple(
            (state, int(states[state.value]["rows"]) if state.value in states else 0)
            for state in IssueState
        ),
        by_tier=tuple(
            (level, _figures(tiers[level.value]) if level.value in tiers else Figures())
            for level in RegionLevel
        ),
        boards=units(Dimension.BOARD),
        departments=units(Dimension.DEPARTMENT),
        top_tags=tuple(tags),
        trend=tuple((m, trend.get(m, Figures())) for m in months),
        lists=lists,
        freshness=freshness,
    )


async def _kept_body(
    db: Database,
    principal: Principal,
    region: RegionRecord,
    period: Period,
    months: Sequence[Period],
    now: dt.datetime,
    state: rollup.SliceState,
    since: float,
) -> tuple[Body, dt.datetime]:
    """The rollup's figures, the lights and the lists, kept while exact
    (``dashboard_cache``; ``state``: the slices' state the caller began to read at
    ``since``), and the instant its lights are counted at."""
    scope = _slices(region.code, months)
    key = (region.code, period, scope_key(principal))

    async def compute(checking: Callable[[], None]) -> Kept[Body]:
        # Written issues first reach the slices this dashboard reads; then their state,
        # before anything is read (a write after it shows in the next check).
        await rollup.refresh(db, scope)
        checking()
        computed = await rollup.check(db, scope)
        # A replica serves this dashboard only once it has replayed that state.
        after = await db.primary_position()
        async with db.read_tolerant(principal, after=after) as (conn, freshness):
            by, trend, tags = await _rolled_up(conn, principal, region, period, months, now)
            change = await conn.scalar(
                lights_change_statement(_trend_population(principal, region, months), now)
            )
            lists = await list_heads(conn, region.code, period, LISTS, LIST_LIMIT)
        body = _body(by, trend, tags, months, lists, freshness)
        return Kept(body, computed, now, change)

    kept = await _keeper(db).get(key, state, since, now, compute)
    return kept.value, max(now, kept.computed_at)


def _kept_frame() -> driver.Template:
    """What a kept dashboard reads at every request, in one statement: its slices' state
    (one row, whatever else) and the region and its children."""
    state = rollup.state_function()
    family = tenancy.family_statement(sa.bindparam("region", type_=sa.Text)).subquery("family")
    return driver.Template(
        sa.select(state.c.dirty, state.c.generation, family)
        .select_from(state.outerjoin(family, sa.true()))
        .order_by(family.c.part, family.c.code)
    )


_KEPT_FRAME = _kept_frame()

_keepers: weakref.WeakKeyDictionary[Database, Keeper[Body]] = weakref.WeakKeyDictionary()


def _keeper(db: Database) -> Keeper[Body]:
    """The dashboards kept for one database (a process may serve several in tests)."""
    found = _keepers.get(db)
    if found is None:
        found = _keepers[db] = Keeper("dashboards")
    return found


def _empty(m: Row) -> dict[str, Any]:
    """A marginal that only lit issues have (its issues' other figures were all zero)."""
    return {**{n: 0 for n in STORED_COLUMNS}, "name_zh": m["name_zh"], "name_en": m["name_en"]}


async def dashboard(
    db: Database,
    principal: Principal,
    region_code: str,
    period: Period,
    now: dt.datetime,
    *,
    live: bool = False,
) -> Dashboard | None:
    """The dashboard, or ``None`` when the region is unknown or outside the caller's scope.
    ``live`` aggregates the issues themselves even where the rollup could answer (to
    verify it; the figures are the same)."""
    months = trend_months(period)
    kept: Body | None = None
    if not live and rollup.serves(region_code, period):
        # Scope first, at every request: a region out of scope is not there, kept or not.
        if not can_on_region(principal, Action.DASHBOARD_READ, region_code):
            return None
        # The hot path of a kept dashboard: one statement alone (no transaction, no scope:
        # reference rows and the SECURITY DEFINER state), the region, its children and its
        # slices' state.
        since = time.monotonic()
        values = rollup.state_values(_slices(region_code, months))
        rows = await db.fetch_alone(_KEPT_FRAME, region=region_code, **values)
        found, children = tenancy.family_of(rows)
        if found is None:
            return None
        region = found
        body, as_of = await _kept_body(
            db, principal, region, period, months, now, rollup.slice_state(rows[0]), since
        )
        kept = body
    else:
        async with db.reader(principal) as ref:
            found = await readable_region_on(ref, principal, region_code, Action.DASHBOARD_READ)
            if found is None:
                return None
            region = found
            children = (await tenancy.children_of(ref, [region.code])).get(region.code, [])
        async with db.read_tolerant(principal) as (conn, freshness):
            by, trend, tags = await _live(conn, principal, region, period, months, now)
            lists = await list_heads(conn, region.code, period, LISTS, LIST_LIMIT)
        body, as_of = _body(by, trend, tags, months, lists, freshness), now
    (red, red_count), (black, black_count) = body.lists[ListKind.RED], body.lists[ListKind.BLACK]
    return Dashboard(
        region=region,
        period=period,
        as_of=as_of,
        freshness=body.freshness,
        totals=body.totals,
        local=body.children.get(region.code, Figures()),
        children=tuple((child, body.children.get(child.code, Figures())) for child in children),
        by_state=body.by_state,
        by_tier=body.by_tier,
        boards=body.boards,
        departments=body.departments,
        top_tags=body.top_tags,
        red_list=tuple(red),
        black_list=tuple(black),
        list_counts={ListKind.RED: red_count, ListKind.BLACK: black_count},
        trend=body.trend,
        kept=kept,
    )
