"""Attribution: which issues count for which target, and the scoring ``Counters``, in SQL.

Every rule below has a test in ``tests/api/test_evaluation_attribution.py``.

Population (both kinds of target)
  A1. MERGED duplicates never count. The primary they were merged into is an ordinary
      issue and counts once, however many duplicates it absorbed.
  A2. Issues settled in their original channel (handling level ORIGINAL_CHANNEL, taken in
      already CLOSED) count like any other resolved, unrated issue: they are in the issue
      library and were resolved.

Department target (department D of region R, catalog key K), period P
  A3. The issues whose *current* assignment is D itself, or a board of R whose
      ``lead_department_key`` is K (e.g. the IP and REGISTRATION boards count for
      MARKET_REGULATION), and whose (latest) assignment time ``assigned_at`` falls in P.
      A board led by the reform office (GENERAL, FALLBACK) counts for no department. An
      issue handed back, escalated or delegated in time loses its board/department and
      leaves the count; a re-assignment moves it to the new unit and to the period of the
      new assignment. (Boards and departments are only ever set for units of the holding
      region, so the query walks the holding-region index.)
  A3a. An issue D let a time limit run out on (a custody span of D's unit was charged with
      a lapse, ``closedloop.domain.custody`` C3) counts for D even when another unit holds
      it now: in its total and its handled issues, and, once resolved, in its issues
      resolved after the limit (not in its resolved issues: D did not resolve it), in the
      period D received it (the span's start).
  A3b. A rating is the rating of the unit that made the resolution rated (``issue_rating``):
      under a scheme that counts every rated resolution, a resolution D made and the
      enterprise rated stays D's rating after the issue moved on (in the period of that
      resolution; D's ratings of one issue together, in the period of the first).

Region target (region G, a child of the peer group's region), period P
  A4. The issues originating in G's subtree (``origin_region_code`` starts with G) and
      created in P, wherever they are held now. An issue escalated to the parent still
      counts for G; one delegated down from the parent to G does not (it originates
      elsewhere).

Counters (``closedloop.domain.scoring.Counters``), the same for both kinds unless noted
  total              the issues of the population
  proactive          of which from a proactive channel (``issue.proactive``, the channel's
                     flag at intake)
  handled            of the total, all but REJECTED and ROUTED_OUT: an issue still
                     SUBMITTED counts, it is waiting on the target
  resolved           state RESOLVED or CLOSED; a reopened issue is not resolved until it is
                     resolved again
  overdue_resolved   resolved issues charged with a lapsed time limit (the custody ledger,
                     ``lapsed_limits > 0``, rule C5):
                     A5 (department D) on a span of D's unit, whoever resolved the issue;
                     A6 (region G) on a span of a holder inside G's subtree (at the
                     assignment or the reply stage, at G or one of its towns), even when a
                     later holder replied in time; lateness at an ancestor after an
                     escalation is not G's.
  recurred           of the resolved, ``issue.recurred`` (a later issue repeats it)
  ratings            by grade, as the scheme counts them (``RatingCount``): every rated
                     resolution (``issue_rating``, reopening keeps them; for a region
                     target their counts on the issue, ``issue.ratings_<grade>``) or only
                     the last rating of each resolved issue (``issue.rating``)
  unrated_resolved   of the resolved, ``rating IS NULL``: the current resolution is unrated,
                     a good rating per the scheme (未作评价的默认为好评); also the issues still
                     inside the rating window
  responded_on_time  assigned within the assignment limit (``assigned_at`` set and not
                     ``assign_overdue``), or resolved in time by the center itself without
                     an assignment

Every statement runs in the caller's transaction (row-level security) *and* carries the
application's own scope predicate (``issue_visibility``); all periods of a history are
counted by one statement, bucketed with ``width_bucket`` over the periods' bounds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from closedloop.authz.roles import Principal
from closedloop.db import tables as t
from closedloop.domain.issues import IssueState
from closedloop.domain.periods import Period
from closedloop.domain.schemes import BASE_COUNTERS, RatingCount
from closedloop.domain.scoring import Counters
from closedloop.services.evaluation.targets import PeerGroup, TargetKind
from closedloop.tenancy.scope import in_subtree, issue_visibility

S = IssueState
RESOLVED_STATES = (S.RESOLVED.value, S.CLOSED.value)
NOT_HANDLED_STATES = (S.REJECTED.value, S.ROUTED_OUT.value)
MERGED = S.MERGED.value

BASE_COUNTER_COLUMNS = tuple(BASE_COUNTERS)
RATING_COLUMNS = t.RATING_COLUMNS
COUNTER_COLUMNS = t.COUNTER_COLUMNS


def responded_in_time(c: Any) -> ColumnElement[bool]:
    """Assigned within the assignment limit, or resolved in time without an assignment."""
    return sa.or_(
        sa.and_(c.assigned_at.is_not(None), sa.not_(c.assign_overdue)),
        sa.and_(c.assigned_at.is_(None), c.resolved_at.is_not(None), sa.not_(c.overdue)),
    )


def counter_columns(
    c: Any,
    overdue: ColumnElement[bool],
    *,
    live: ColumnElement[bool] | None = None,
    responded: ColumnElement[bool] | None = None,
    weight: Any = None,
    ratings: Mapping[str, Any] | None = None,
) -> list[sa.Label[Any]]:
    """The aggregates behind ``Counters`` over rows with the issue's columns ``c``.

    ``overdue`` decides who is charged with a lapse (A5/A6); ``live`` restricts every counter
    when the rows still contain MERGED duplicates (the dashboard counts those apart).
    ``weight`` names a count column when the rows are already grouped (the dashboard groups
    issues by their facts first, so that each issue feeds one aggregate, not twenty).
    ``ratings``: per grade, a column with each row's count of ratings of that grade (every
    rated resolution); without it, the current rating of each resolved issue.
    """

    def count(*conds: ColumnElement[bool]) -> ColumnElement[Any]:
        parts = [x for x in (live, *conds) if x is not None]
        agg = sa.func.count() if weight is None else sa.func.coalesce(sa.func.sum(weight), 0)
        if not parts:
            return agg
        if weight is None:
            return sa.func.count().filter(sa.and_(*parts))
        return sa.func.coalesce(sa.func.sum(weight).filter(sa.and_(*parts)), 0)

    resolved = c.state.in_(RESOLVED_STATES)
    columns = [
        count().label("total"),
        count(c.proactive).label("proactive"),
        count(c.state.not_in(NOT_HANDLED_STATES)).label("handled"),
        count(resolved).label("resolved"),
        count(resolved, overdue).label("overdue_resolved"),
        count(resolved, c.recurred).label("recurred"),
        count(responded if responded is not None else responded_in_time(c)).label(
            "responded_on_time"
        ),
        count(resolved, c.rating.is_(None)).label("unrated_resolved"),
    ]
    if ratings is None:
        columns += [
            count(resolved, c.rating == grade).label(name) for grade, name in RATING_COLUMNS.items()
        ]
    else:
        columns += [
            sa.func.coalesce(sa.func.sum(ratings[grade]), 0).label(name)
            for grade, name in RATING_COLUMNS.items()
        ]
    return columns


def rating_counts_of(issue_id: Any, unit: ColumnElement[bool] | None = None) -> Any:
    """The ratings on record of one issue (``issue_id``, correlated: a lateral subquery),
    counted by grade, and the first of the resolutions rated (``first_resolved_at``);
    ``unit``: only those of the resolutions a unit made."""
    r = t.issue_rating.c
    return (
        sa.select(
            sa.func.min(r.resolved_at).label("first_resolved_at"),
            *(sa.func.count().filter(r.grade == g).label(g) for g in RATING_COLUMNS),
        )
        .where(r.issue_id == issue_id, *([] if unit is None else [unit]))
        .correlate_except(t.issue_rating)
        .lateral("rated")
    )


def counters_from(m: Mapping[Any, Any]) -> Counters:
    """``Counters`` from a row's mapping carrying ``COUNTER_COLUMNS`` (ints, or sums)."""
    ratings = {grade: int(m[name]) for grade, name in RATING_COLUMNS.items() if m[name]}
    return Counters(
        **{name: int(m[name] or 0) for name in BASE_COUNTER_COLUMNS},
        ratings=ratings,
    )


def check_contiguous(periods: Sequence[Period]) -> None:
    if not periods:
        raise ValueError("at least one period")
    for before, after in pairwise(periods):
        if before.end != after.start:
            raise ValueError("periods must follow each other without gaps")


def instant_bucket(column: Any, periods: Sequence[Period]) -> ColumnElement[int]:
    """1 + the index of the period holding the instant (``width_bucket`` over the bounds)."""
    bounds = [p.start_at for p in periods] + [periods[-1].end_at]
    return sa.func.width_bucket(column, sa.literal(bounds, pg.ARRAY(sa.DateTime(timezone=True))))


def date_bucket(column: Any, periods: Sequence[Period]) -> ColumnElement[int]:
    """1 + the index of the period holding the date."""
    bounds = [p.start for p in periods] + [periods[-1].end]
    return sa.func.width_bucket(column, sa.literal(bounds, pg.ARRAY(sa.Date())))


async def group_counters(
    conn: AsyncConnection,
    principal: Principal,
    group: PeerGroup,
    periods: Sequence[Period],
    rating_count: RatingCount = RatingCount.LAST_PER_ISSUE,
) -> list[dict[str, Counters]]:
    """For each period (in order), the counters of every target of the group that has
    issues, by target key; targets without issues are absent (all counters 0).
    ``rating_count``: how the scheme counts ratings."""
    check_contiguous(periods)
    if not group.targets:
        return [{} for _ in periods]
    every = rating_count is RatingCount.EVERY_RESOLUTION
    if group.kind is TargetKind.REGION:
        rows = await conn.execute(_region_statement(principal, group, periods, every))
        key_of: dict[Any, str] = {x.key: x.key for x in group.targets}
    else:
        rows = await conn.execute(_department_statement(principal, group, periods, every))
        key_of = {x.department_id: x.key for x in group.targets}
    out: list[dict[str, Counters]] = [{} for _ in periods]
    for row in rows:
        key = key_of.get(row.target)
        if key is not None and 1 <= row.bucket <= len(periods):
            out[row.bucket - 1][key] = counters_from(row._mapping)
    return out


def _region_statement(
    principal: Principal, group: PeerGroup, periods: Sequence[Period], every: bool
) -> sa.Select[*tuple[Any, ...]]:
    length = group.child_length
    assert length is not None  # a group with targets has children
    c = t.issue.c
    target = sa.func.substr(c.origin_region_code, 1, length)
    k = t.issue_custody.c
    # A6: charged when a holder inside the target's subtree let a limit lapse.
    charged = (
        sa.exists()
        .where(
            k.issue_id == c.id,
            k.lapsed_limits > 0,
            sa.func.starts_with(k.region_code, target),
        )
        .correlate(t.issue)
    )
    bucket = instant_bucket(c.created_at, periods)
    # Every rating of the issue, whoever made the resolution: their counts on its own row
    # (kept by a trigger on issue_rating, migration 0030). Probing issue_rating instead
    # checked every rating's policy against its issue: half the statement at 1M issues.
    ratings = {g: c[n] for g, n in t.ISSUE_RATING_COUNTS.items()} if every else None
    return (
        sa.select(
            bucket.label("bucket"),
            target.label("target"),
            *counter_columns(c, charged, ratings=ratings),
        )
        .select_from(t.issue)
        .where(
            # The subtree's regions below the group's own (its issues belong to none of its
            # children), region by region: the origin is a region (a foreign key), and the
            # index is then read from each region's first issue of the periods to its last,
            # where one range over the subtree read every issue of it since the first (2
            # years at 1M issues).
            c.origin_region_code.in_(
                sa.select(t.region.c.code).where(
                    in_subtree(t.region.c.code, group.region.code),
                    sa.func.length(t.region.c.code) >= length,
                )
            ),
            c.created_at >= periods[0].start_at,
            c.created_at < periods[-1].end_at,
            c.state != MERGED,
            issue_visibility(principal),
        )
        .group_by(sa.text("1, 2"))
    )


def _department_statement(
    principal: Principal, group: PeerGroup, periods: Sequence[Period], every: bool
) -> sa.Select[*tuple[Any, ...]]:
    """Rows (bucket, target, counters) summed over three kinds of booking: the unit holding
    the issue now (A3), a unit charged with a lapse that no longer holds it (A3a), and a
    unit whose rated resolution the issue has left behind (A3b, every rated resolution)."""
    c = t.issue.c
    k = t.issue_custody.c
    r = t.issue_rating.c
    department_ids = [x.department_id for x in group.targets if x.department_id is not None]
    board_ids = list(group.led_boards)

    def unit(board: Any, department: Any) -> ColumnElement[Any]:
        led: ColumnElement[Any] = (
            sa.case(dict(group.led_boards), value=board) if group.led_boards else sa.null()
        )
        return sa.func.coalesce(department, led)

    def ours(board: Any, department: Any) -> ColumnElement[bool]:
        return sa.or_(department.in_(department_ids), board.in_(board_ids))

    current = unit(c.board_id, c.department_id)
    resolved = c.state.in_(RESOLVED_STATES)
    first, last = periods[0].start_at, periods[-1].end_at
    scope = (c.state != MERGED, issue_visibility(principal))

    def one(cond: ColumnElement[bool]) -> ColumnElement[int]:
        return sa.case((cond, 1), else_=0)

    zero = sa.literal(0)
    names = (*BASE_COUNTER_COLUMNS, *RATING_COLUMNS.values())

    # A3: the unit holding it now; A5: charged when a span of that unit had a lapse.
    charged_here = (
        sa.exists()
        .where(
            k.issue_id == c.id, k.lapsed_limits > 0, unit(k.board_id, k.department_id) == current
        )
        .correlate(t.issue)
    )
    if every:
        rated = rating_counts_of(c.id, unit(r.board_id, r.department_id) == current)
        held_source: Any = t.issue.join(rated, sa.true())
        held_ratings: dict[str, ColumnElement[Any]] = {g: rated.c[g] for g in RATING_COLUMNS}
    else:
        held_source = t.issue
        held_ratings = {g: one(sa.and_(resolved, c.rating == g)) for g in RATING_COLUMNS}
    held = (
        sa.select(
            instant_bucket(c.assigned_at, periods).label("bucket"),
            current.label("target"),
            sa.literal(1).label("total"),
            one(c.proactive).label("proactive"),
            one(c.state.not_in(NOT_HANDLED_STATES)).label("handled"),
            one(resolved).label("resolved"),
            one(sa.and_(resolved, charged_here)).label("overdue_resolved"),
            one(sa.and_(resolved, c.recurred)).label("recurred"),
            one(responded_in_time(c)).label("responded_on_time"),
            one(sa.and_(resolved, c.rating.is_(None))).label("unrated_resolved"),
            *(held_ratings[g].label(name) for g, name in RATING_COLUMNS.items()),
        )
        .select_from(held_source)
        .where(
            c.holding_region_code == group.region.code,
            ours(c.board_id, c.department_id),
            c.assigned_at >= first,
            c.assigned_at < last,
            *scope,
        )
    )

    # A3a: charged with a lapse, no longer holding it.
    lapsed = (
        sa.select(
            k.issue_id,
            unit(k.board_id, k.department_id).label("unit"),
            sa.func.min(k.started_at).label("received_at"),
        )
        .where(k.lapsed_limits > 0, ours(k.board_id, k.department_id))
        .group_by(sa.text("1, 2"))
        .subquery("lapsed")
    )
    l_ = lapsed.c
    elsewhere = sa.or_(current.is_(None), current != l_.unit)
    charged = (
        sa.select(
            instant_bucket(l_.received_at, periods).label("bucket"),
            l_.unit.label("target"),
            sa.literal(1).label("total"),
            zero.label("proactive"),
            one(c.state.not_in(NOT_HANDLED_STATES)).label("handled"),
            zero.label("resolved"),
            one(resolved).label("overdue_resolved"),
            *(
                zero.label(n)
                for n in names
                if n not in {"total", "proactive", "handled", "resolved", "overdue_resolved"}
            ),
        )
        .select_from(lapsed.join(t.issue, c.id == l_.issue_id))
        .where(l_.received_at >= first, l_.received_at < last, elsewhere, *scope)
    )
    parts: list[Any] = [held, charged]

    if every:
        # A3b: ratings of a unit's resolutions the issue has left behind, booked in the period
        # of the unit's first rated resolution of it. Found from the ratings made in the
        # periods (not from all of the units' ratings, grouped first): each (issue, unit)
        # found counts all of its ratings, and is left out when its first one came before
        # the periods (booked then).
        rated_then = (
            sa.select(r.issue_id, unit(r.board_id, r.department_id).label("unit"))
            .where(ours(r.board_id, r.department_id), r.resolved_at >= first, r.resolved_at < last)
            .distinct()
            .subquery("rated_then")
        )
        f = rated_then.c
        left = rating_counts_of(
            c.id,
            sa.and_(ours(r.board_id, r.department_id), unit(r.board_id, r.department_id) == f.unit),
        )
        parts.append(
            sa.select(
                instant_bucket(left.c.first_resolved_at, periods).label("bucket"),
                f.unit.label("target"),
                *(zero.label(n) for n in BASE_COUNTER_COLUMNS),
                *(left.c[g].label(name) for g, name in RATING_COLUMNS.items()),
            )
            .select_from(rated_then.join(t.issue, c.id == f.issue_id).join(left, sa.true()))
            .where(
                left.c.first_resolved_at >= first,
                sa.or_(current.is_(None), current != f.unit),
                *scope,
            )
        )
    booked = sa.union_all(*parts).subquery("booked")
    b = booked.c
    return sa.select(b.bucket, b.target, *(sa.func.sum(b[n]).label(n) for n in names)).group_by(
        b.bucket, b.target
    )
