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

Cost, whatever the region's size: one aggregate statement over the population (GROUPING
SETS: total, child region, state, holding tier, board, department, with the units' keys
joined onto the aggregated rows, not onto the issues), one for the top tags, one for the
monthly trend, two for the red/black lists, and the region's children from reference data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.roles import Action, Principal
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.issues import OPEN_STATES, IssueState
from closedloop.domain.periods import Period
from closedloop.domain.regions import RegionLevel
from closedloop.domain.schemes import DEFAULT_SCHEME, load_scheme
from closedloop.domain.scoring import Counters, rate_of, round_half_up
from closedloop.services import tenancy
from closedloop.services.evaluation.attribution import (
    COUNTER_COLUMNS,
    MERGED,
    counter_columns,
    counters_from,
    instant_bucket,
    responded_in_time,
)
from closedloop.services.evaluation.records import ListEntryRow, list_entries
from closedloop.services.evaluation.scores import readable_region
from closedloop.services.evaluation.targets import CHILD_CODE_LENGTH, ListKind
from closedloop.services.learning.tags import top_tags
from closedloop.services.tenancy import RegionRecord
from closedloop.tenancy.scope import in_subtree, issue_visibility

TOP_TAGS = 10
TREND_MONTHS = 12
LIST_LIMIT = 50
EXTRA_COLUMNS = ("rows", "merged", "open", "yellow", "red")
TIER_OF_LENGTH = {2: RegionLevel.PROVINCE, 4: RegionLevel.CITY, 6: RegionLevel.COUNTY}


@dataclass(frozen=True, slots=True)
class Figures:
    counters: Counters = field(default_factory=Counters)
    open: int = 0
    merged: int = 0
    yellow: int = 0
    red: int = 0

    @property
    def total(self) -> int:
        return self.counters.total

    def good_ratings(self) -> int:
        return self.counters.good_ratings(_satisfied())

    def resolution_rate(self) -> Decimal | None:
        return _rate(self.counters.resolved, self.counters.handled)

    def satisfaction_rate(self) -> Decimal | None:
        return _rate(self.good_ratings(), self.counters.resolved)

    def overdue_rate(self) -> Decimal | None:
        return _rate(self.counters.overdue_resolved, self.counters.handled)

    def recurrence_rate(self) -> Decimal | None:
        return _rate(self.counters.recurred, self.counters.resolved)

    def proactive_rate(self) -> Decimal | None:
        return _rate(self.counters.proactive, self.counters.total)


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


@dataclass(frozen=True, slots=True)
class Dashboard:
    region: RegionRecord
    period: Period
    as_of: dt.datetime
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


def _figures(row: Any) -> Figures:
    m = row._mapping
    return Figures(
        counters=counters_from(row),
        open=int(m["open"] or 0),
        merged=int(m["merged"] or 0),
        yellow=int(m["yellow"] or 0),
        red=int(m["red"] or 0),
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


LIGHT_YELLOW, LIGHT_RED = "YELLOW", "RED"


def _facts(c: Any, now: dt.datetime) -> list[Any]:
    """What the figures need to know of one issue: few values each, so that grouping the
    issues by them first leaves few rows, and every issue feeds a single count."""
    open_states = [s.value for s in OPEN_STATES]
    light = sa.case(
        (
            sa.and_(c.state.in_(open_states), c.clock_kind.is_not(None), c.due_at <= now),
            LIGHT_RED,
        ),
        (
            sa.and_(c.state.in_(open_states), c.clock_kind.is_not(None), c.warn_at <= now),
            LIGHT_YELLOW,
        ),
        else_=None,
    )
    return [
        c.state,
        c.proactive,
        c.overdue,
        c.recurred,
        c.rating,
        responded_in_time(c).label("responded"),
        light.label("light"),
    ]


def _figure_columns(f: Any) -> list[Any]:
    """Figures over rows already grouped by their facts (``f.n`` issues each)."""
    live = f.state != MERGED
    is_open = f.state.in_([s.value for s in OPEN_STATES])

    def total(*conds: sa.ColumnElement[bool]) -> Any:
        return sa.func.coalesce(sa.func.sum(f.n).filter(*conds), 0) if conds else sa.func.sum(f.n)

    return [
        *counter_columns(f, f.overdue, live=live, responded=f.responded, weight=f.n),
        total().label("rows"),
        total(f.state == MERGED).label("merged"),
        total(live, is_open).label("open"),
        total(f.light == LIGHT_YELLOW).label("yellow"),
        total(f.light == LIGHT_RED).label("red"),
    ]


def _grouped_facts(
    principal: Principal,
    region: str,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    dimensions: list[Any],
    name: str,
) -> sa.Subquery:
    c = t.issue.c
    columns = [*dimensions, *_facts(c, now)]
    return (
        sa.select(*columns, sa.func.count().label("n"))
        .where(*_population(principal, region, start, end))
        .group_by(*(sa.literal_column(str(n + 1)) for n in range(len(columns))))
        .subquery(name)
    )


def _main_statement(
    principal: Principal, region: RegionRecord, period: Period, now: dt.datetime
) -> sa.Select[Any]:
    c = t.issue.c
    child_length = CHILD_CODE_LENGTH.get(len(region.code), len(region.code))
    tier = sa.case(
        *(
            (sa.func.length(c.holding_region_code) == n, level.value)
            for n, level in TIER_OF_LENGTH.items()
        ),
        else_=RegionLevel.TOWN.value,
    )
    facts = _grouped_facts(
        principal,
        region.code,
        period.start_at,
        period.end_at,
        now,
        [
            sa.func.substr(c.origin_region_code, 1, child_length).label("child"),
            tier.label("tier"),
            c.board_id,
            c.department_id,
        ],
        "facts",
    )
    f = facts.c
    sets = (f.child, f.state, f.tier, f.board_id, f.department_id)
    agg = (
        sa.select(
            *(sa.func.grouping(x).label(f"g_{x.name}") for x in sets),
            *sets,
            *_figure_columns(f),
        )
        .group_by(sa.func.grouping_sets(*sets, sa.text("()")))
        .cte("agg")
    )
    a = agg.c
    b, d = t.board.alias("b"), t.department.alias("d")
    dimension = sa.case(
        (a.g_child == 0, "CHILD"),
        (a.g_state == 0, "STATE"),
        (a.g_tier == 0, "TIER"),
        (a.g_board_id == 0, "BOARD"),
        (a.g_department_id == 0, "DEPARTMENT"),
        else_="TOTAL",
    )
    value = sa.case(
        (a.g_child == 0, a.child),
        (a.g_state == 0, a.state),
        (a.g_tier == 0, a.tier),
        (a.g_board_id == 0, b.c.key),
        (a.g_department_id == 0, d.c.key),
        else_=None,
    )
    # Units are re-aggregated by key after the issues are aggregated by unit id: the join
    # touches a few thousand aggregated rows, never the issues.
    return (
        sa.select(
            dimension.label("dimension"),
            value.label("value"),
            sa.func.min(sa.func.coalesce(b.c.name_zh, d.c.name_zh)).label("name_zh"),
            sa.func.min(sa.func.coalesce(b.c.name_en, d.c.name_en)).label("name_en"),
            *(sa.func.sum(a[n]).label(n) for n in (*COUNTER_COLUMNS, *EXTRA_COLUMNS)),
        )
        .select_from(agg.outerjoin(b, b.c.id == a.board_id).outerjoin(d, d.c.id == a.department_id))
        .group_by(sa.text("1, 2"))
    )


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
) -> tuple[tuple[Period, Figures], ...]:
    c = t.issue.c
    facts = _grouped_facts(
        principal,
        region,
        months[0].start_at,
        months[-1].end_at,
        now,
        [instant_bucket(c.created_at, months).label("bucket")],
        "facts",
    )
    rows = await conn.execute(
        sa.select(facts.c.bucket, *_figure_columns(facts.c)).group_by(facts.c.bucket)
    )
    found = {row.bucket: _figures(row) for row in rows}
    return tuple((m, found.get(n + 1, Figures())) for n, m in enumerate(months))


async def dashboard(
    db: Database, principal: Principal, region_code: str, period: Period, now: dt.datetime
) -> Dashboard | None:
    """The dashboard, or ``None`` when the region is unknown or outside the caller's scope."""
    region = await readable_region(db, principal, region_code, Action.DASHBOARD_READ)
    if region is None:
        return None
    async with db.read_reference() as ref:
        children = (await tenancy.children_of(ref, [region.code])).get(region.code, [])
    months = trend_months(period)
    async with db.read(principal) as conn:
        rows = (await conn.execute(_main_statement(principal, region, period, now))).all()
        # The learning library's ranking (merged duplicates count in their primary only).
        tags = await top_tags(
            conn, principal, region.code, period.start_at, period.end_at, TOP_TAGS
        )
        trend = await _trend(conn, principal, region.code, months, now)
        red, counts = await list_entries(conn, region.code, period, ListKind.RED, LIST_LIMIT)
        black, black_counts = await list_entries(
            conn, region.code, period, ListKind.BLACK, LIST_LIMIT
        )
    by: dict[str, dict[str | None, Any]] = {}
    for row in rows:
        by.setdefault(row.dimension, {})[row.value] = row
    totals = _figures(by["TOTAL"][None]) if by.get("TOTAL") else Figures()
    child_rows = by.get("CHILD", {})
    local = child_rows.get(region.code)
    states = by.get("STATE", {})
    tiers = by.get("TIER", {})

    def units(dimension: str) -> tuple[UnitFigures, ...]:
        found = [
            UnitFigures(key, row.name_zh or key, row.name_en or key, _figures(row))
            for key, row in by.get(dimension, {}).items()
            if key is not None
        ]
        found.sort(key=lambda u: (-u.figures.total, u.key))
        return tuple(found)

    return Dashboard(
        region=region,
        period=period,
        as_of=now,
        totals=totals,
        local=_figures(local) if local is not None else Figures(),
        children=tuple(
            (child, _figures(child_rows[child.code]) if child.code in child_rows else Figures())
            for child in children
        ),
        by_state=tuple(
            (
                state,
                int(states[state.value].rows) if state.value in states else 0,
            )
            for state in IssueState
        ),
        by_tier=tuple(
            (level, _figures(tiers[level.value]) if level.value in tiers else Figures())
            for level in RegionLevel
        ),
        boards=units("BOARD"),
        departments=units("DEPARTMENT"),
        top_tags=tuple((x.tag, x.count) for x in tags),
        red_list=tuple(red),
        black_list=tuple(black),
        list_counts={
            ListKind.RED: counts.get(ListKind.RED, 0),
            ListKind.BLACK: black_counts.get(ListKind.BLACK, 0),
        },
        trend=trend,
    )
