"""The dashboard's figures of a set of issues, in SQL: one statement gives the marginals by
child region, state, holding tier, board key and department key, and the total.

Used twice with the same definitions: live over the issues of a population (a town's
dashboard, a period that is not whole months, the lights), and per (month, county) slice
to fill the rollup (``closedloop.services.evaluation.rollup``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.selectable import LateralFromClause

from closedloop.db import tables as t
from closedloop.db import time_limits
from closedloop.domain.issues import Light
from closedloop.domain.regions import RegionLevel
from closedloop.services.evaluation.attribution import (
    MERGED,
    counter_columns,
    responded_in_time,
)

TIER_OF_LENGTH = {2: RegionLevel.PROVINCE, 4: RegionLevel.CITY, 6: RegionLevel.COUNTY}
# Counted per issue (``rows`` includes MERGED duplicates, every other counter excludes them).
STORED_COLUMNS = t.ROLLUP_COUNTERS
LIGHT_COLUMNS = ("yellow", "red")


class Dimension:
    TOTAL = "TOTAL"
    CHILD = "CHILD"
    STATE = "STATE"
    TIER = "TIER"
    BOARD = "BOARD"
    DEPARTMENT = "DEPARTMENT"
    TAG = "TAG"
    MONTH = "MONTH"


def tier_of(holding: Any) -> sa.ColumnElement[str]:
    """The holding region's level, from its code length."""
    return sa.case(
        *((sa.func.length(holding) == n, level.value) for n, level in TIER_OF_LENGTH.items()),
        else_=RegionLevel.TOWN.value,
    )


def facts(c: Any, now: dt.datetime | None) -> list[Any]:
    """What the figures need to know of one issue: few values each, so that grouping the
    issues by them first leaves few rows, and every issue feeds a single count. The light
    depends on the clock (``now``); without one, no lights are counted."""
    columns = [
        c.state,
        c.proactive,
        c.overdue,
        c.recurred,
        c.rating,
        responded_in_time(c).label("responded"),
    ]
    if now is not None:
        columns.append(time_limits.lit_light(c, now).label("light"))
    return columns


def figure_columns(f: Any, lights: bool) -> list[Any]:
    """Figures over rows already grouped by their facts (``f.n`` issues each)."""
    live = f.state != MERGED
    is_open = f.state.in_(time_limits.OPEN_VALUES)

    def total(*conds: sa.ColumnElement[bool]) -> Any:
        return sa.func.coalesce(sa.func.sum(f.n).filter(*conds), 0) if conds else sa.func.sum(f.n)

    columns = [
        *counter_columns(f, f.overdue, live=live, responded=f.responded, weight=f.n),
        total().label("rows"),
        total(f.state == MERGED).label("merged"),
        total(live, is_open).label("open"),
    ]
    if lights:
        columns += [
            total(f.light == Light.YELLOW.value).label("yellow"),
            total(f.light == Light.RED.value).label("red"),
        ]
    return columns


def grouped_facts(
    where: Sequence[sa.ColumnElement[bool]], dimensions: Sequence[Any], now: dt.datetime | None
) -> sa.Subquery:
    columns = [*dimensions, *facts(t.issue.c, now)]
    return (
        sa.select(*columns, sa.func.count().label("n"))
        .where(*where)
        .group_by(*(sa.literal_column(str(n + 1)) for n in range(len(columns))))
        .subquery("facts")
    )


def marginals_statement(
    where: Sequence[sa.ColumnElement[bool]],
    child: sa.ColumnElement[str],
    now: dt.datetime | None,
    keys: Sequence[sa.Label[Any]] = (),
) -> sa.Select[Any]:
    """Rows ``(*keys, dimension, value, name_zh, name_en, *figures)``: for every ``keys``
    group, the issues matching ``where`` by child region (``child``), state, holding tier,
    board key and department key, and their total (``value`` NULL)."""
    c = t.issue.c
    grouped = grouped_facts(
        where,
        [
            *keys,
            child.label("child"),
            tier_of(c.holding_region_code).label("tier"),
            c.board_id,
            c.department_id,
        ],
        now,
    )
    f = grouped.c
    kept = [f[k.name] for k in keys]
    sets = (f.child, f.state, f.tier, f.board_id, f.department_id)
    agg = (
        sa.select(
            *kept,
            *(sa.func.grouping(x).label(f"g_{x.name}") for x in sets),
            *sets,
            *figure_columns(f, lights=now is not None),
        )
        .group_by(*kept, sa.func.grouping_sets(*sets, sa.text("()")))
        .cte("agg")
    )
    summed = (*STORED_COLUMNS, *(LIGHT_COLUMNS if now is not None else ()))
    return _named(agg, summed, [k.name for k in keys])


def _named(
    agg: sa.CTE, summed: Sequence[str], keys: Sequence[str], first: Sequence[Any] = ()
) -> sa.Select[Any]:
    """Rows ``(*keys, dimension, value, name_zh, name_en, *summed)`` from an aggregate over
    grouping sets whose ``g_*`` columns tell which set a row belongs to (``first``: extra
    ``(condition, dimension, value)`` cases tried before the usual ones)."""
    a = agg.c
    b = _unit(t.board, a.board_id, a.g_board_id, "b")
    d = _unit(t.department, a.department_id, a.g_department_id, "d")
    dimension = sa.case(
        *((cond, dim) for cond, dim, _ in first),
        (a.g_child == 0, Dimension.CHILD),
        (a.g_state == 0, Dimension.STATE),
        (a.g_tier == 0, Dimension.TIER),
        (a.g_board_id == 0, Dimension.BOARD),
        (a.g_department_id == 0, Dimension.DEPARTMENT),
        else_=Dimension.TOTAL,
    )
    value = sa.case(
        *((cond, val) for cond, _, val in first),
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
            *(a[k] for k in keys),
            dimension.label("dimension"),
            value.label("value"),
            sa.func.min(sa.func.coalesce(b.c.name_zh, d.c.name_zh)).label("name_zh"),
            sa.func.min(sa.func.coalesce(b.c.name_en, d.c.name_en)).label("name_en"),
            *(sa.func.sum(a[n]).label(n) for n in summed),
        )
        .select_from(agg.outerjoin(b, sa.true()).outerjoin(d, sa.true()))
        .group_by(*(sa.literal_column(str(n + 1)) for n in range(len(keys) + 2)))
    )


def _unit(table: sa.Table, unit_id: Any, grouping: Any, name: str) -> LateralFromClause:
    """The board or department of an aggregated row of its grouping set (``grouping`` 0),
    looked up by its id: only the units the figures name are read. As a plain join the
    planner may hash the whole unit table instead (the national tree: 491,733 boards and
    715,248 departments for a few thousand rows; bench/RESULTS.md, "The whole country");
    LIMIT keeps the lateral from being pulled up into such a join."""
    return (
        sa.select(table.c.key, table.c.name_zh, table.c.name_en)
        .where(grouping == 0, table.c.id == unit_id)
        .limit(1)
        .lateral(name)
    )


def lights_statement(
    where: Sequence[sa.ColumnElement[bool]],
    child: sa.ColumnElement[str],
    now: dt.datetime,
    bucket: sa.ColumnElement[int],
    period_start: dt.datetime,
) -> sa.Select[Any]:
    """The yellow and red lights at ``now`` of the issues matching ``where`` (a range of
    months, ``bucket`` numbering them): rows ``(dimension, value, name_zh, name_en, yellow,
    red)`` per month (MONTH, the bucket number) and, for the issues created from
    ``period_start`` on, per child, state, tier, board, department and in total. One scan
    of the lit issues (open, past their yellow mark) only: few and varied, so they are
    not grouped by their facts first."""
    c = t.issue.c
    grouped = (
        sa.select(
            bucket.label("bucket"),
            (c.created_at >= period_start).label("in_period"),
            child.label("child"),
            c.state,
            tier_of(c.holding_region_code).label("tier"),
            c.board_id,
            c.department_id,
            time_limits.red(c, now).label("is_red"),
        )
        .where(*where, time_limits.lit(c, now))
        .subquery("lit")
    )
    f = grouped.c
    sets = (f.child, f.state, f.tier, f.board_id, f.department_id)
    agg = (
        sa.select(
            sa.func.grouping(f.bucket).label("g_bucket"),
            *(sa.func.grouping(x).label(f"g_{x.name}") for x in sets),
            f.bucket,
            f.in_period,
            *sets,
            sa.func.count().filter(sa.not_(f.is_red)).label("yellow"),
            sa.func.count().filter(f.is_red).label("red"),
        )
        .group_by(
            sa.func.grouping_sets(
                sa.tuple_(f.bucket),
                *(sa.tuple_(f.in_period, x) for x in sets),
                sa.tuple_(f.in_period),
            )
        )
        .cte("agg")
    )
    a = agg.c
    month = (a.g_bucket == 0, Dimension.MONTH, sa.cast(a.bucket, sa.Text))
    return _named(agg, LIGHT_COLUMNS, [], [month]).where(
        sa.or_(a.g_bucket == 0, a.in_period.is_(True))
    )


def lights_change_statement(
    where: Sequence[sa.ColumnElement[bool]], now: dt.datetime
) -> sa.Select[dt.datetime]:
    """When the first light of the open issues matching ``where`` changes after ``now``
    (NULL: none will): until then ``lights_statement`` answers as at ``now``. An
    index-only scan of the running clocks, like the lights."""
    c = t.issue.c
    return sa.select(sa.func.min(time_limits.next_light_change(c, now))).where(
        *where, time_limits.open_and_running(c)
    )
